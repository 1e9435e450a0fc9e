"""Alarms to people: routing, the on-call rota, escalation, flood digests, closed loop.

The alarm engine's events drive it (``AlarmEngine.sinks``); the project clock times the
escalation, so a test at x100 or on a manual clock escalates exactly as a site would. An
annunciated alarm that a route takes opens an *episode*: the people on duty are told at
once; while nobody acknowledges, each escalation step tells the next one (backup, shift
leader, the mine's dispatcher). An acknowledgement from anywhere (the console, the
message's one-time link) closes the episode and stops the escalation; so does shelving
or taking the alarm out of service. Past ``flood.count`` annunciations in the window,
alarms are held and go out as one digest per window. Everything is written to the
outbox before any delivery is tried, so nothing said is lost to a channel down or a
restart, and the outbox is the record of who was told what, when, by which channel.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fixedsite.alarms.engine import AlarmEngine, AlarmEvent
from fixedsite.clock import Clock
from fixedsite.gate import Command, CommandGate
from fixedsite.notify import messages
from fixedsite.notify.config import NotifyConfig, Route, on_duty
from fixedsite.notify.outbox import Episode, Message, Outbox, episode_key

log = logging.getLogger(__name__)

CLOSE = {"ack": "acked", "shelve": "shelved", "oos": "out_of_service"}
# after a restart, how long (simulated s, never under the wall floor for a silent peer) an
# episode left open waits for its alarm to come back before it counts as over
RESUME_GRACE_S = 60.0


@dataclass
class Open:
    """An episode in memory: what the messages need beside what the outbox keeps."""
    ep: Episode
    item: messages.Item
    route: Route
    told: set[str] = field(default_factory=set)
    resumed_at: float | None = None    # left open by a stopped controller: since when


class Notifier:
    def __init__(self, n: NotifyConfig, site: str, site_lang: str, outbox: Outbox,
                 clock: Clock, engine: AlarmEngine, gate: CommandGate,
                 record: Callable[[float, str, str, dict[str, Any]], None] | None = None
                 ) -> None:
        self.n, self.site, self.lang = n, site, site_lang
        self.outbox, self.clock, self.engine, self.gate = outbox, clock, engine, gate
        self.record = record or (lambda t, source, text, data: None)
        self.failing: Callable[[str], bool] = lambda channel: False   # set by delivery
        self.wake: Callable[[str], None] = lambda channel: None
        self.open: dict[str, Open] = {}
        self.recent: deque[float] = deque()
        self.held: list[Open] = []
        self.last_digest: float | None = None
        self.held_since = 0.0
        self._via: dict[str, str] = {}
        self._resume()
        engine.sinks.append(self.on_event)

    # --- alarm events ----------------------------------------------------------------
    def on_event(self, ev: AlarmEvent) -> None:
        """The engine's sink: never let a notification problem reach the alarm engine."""
        try:
            if ev.what == "active":
                self._raised(ev)
            elif ev.what in CLOSE:
                self._close(ev.alarm, CLOSE[ev.what], ev.t, ev.user)
            elif ev.what in ("rtn", "clear"):
                self._returned(ev)
        except Exception:
            log.exception("notification of %s %s failed", ev.alarm, ev.what)

    def route_of(self, alarm: str, area: str, priority: int) -> tuple[int, Route] | None:
        for i, r in enumerate(self.n.routes):
            if priority not in r.priorities:
                continue
            if r.areas and area not in r.areas:
                continue
            if r.systems and alarm.split(".", 1)[0] not in r.systems:
                continue
            return i, r
        return None

    def _raised(self, ev: AlarmEvent) -> None:
        found = self.route_of(ev.alarm, ev.area, ev.priority)
        if found is None:
            return
        idx, route = found
        now = self.clock.now()
        for o in self.open.values():       # a restart re-raised what we were escalating
            if o.ep.alarm == ev.alarm:
                o.resumed_at = None
                self.record(now, ev.alarm, "notification resumed after restart",
                            {"episode": o.ep.key})
                return
        raised = ev.raised if ev.raised is not None else ev.t
        ep = Episode(episode_key(ev.alarm, raised), ev.alarm, ev.priority, raised, now, 0,
                     idx, "", None, "", "", None)
        self.outbox.open_episode(ep)
        self.outbox.update_episode(ep.key, first_sent=now)
        o = Open(ep, messages.Item(ev.priority, ev.text, ev.text_zh, raised), route)
        self.open[ep.key] = o
        self.recent.append(now)
        window = self.n.flood.window_min * 60.0
        while self.recent and now - self.recent[0] > window:
            self.recent.popleft()
        if len(self.recent) > self.n.flood.count or self.held:
            if not self.held:
                self.held_since = now
            self.held.append(o)              # one digest for the flood (tick)
            return
        self._tell([o], "duty", step="first")

    def _close(self, alarm: str, why: str, t: float, user: str) -> None:
        for key, o in list(self.open.items()):
            if o.ep.alarm != alarm:
                continue
            via = self._via.pop(alarm, "console" if why == "acked" else "")
            fields: dict[str, Any] = {"closed": why}
            if why == "acked":
                fields |= {"acked_at": t, "acked_by": user, "acked_via": via}
            self.outbox.update_episode(key, **fields)
            del self.open[key]
            self.held = [h for h in self.held if h.ep.key != key]
            self.record(t, alarm, f"notification closed: {why}" +
                        (f" by {user} via {via}" if why == "acked" else ""),
                        {"episode": key, "user": user, "via": via})

    def _returned(self, ev: AlarmEvent) -> None:
        for key, o in list(self.open.items()):
            if o.ep.alarm != ev.alarm:
                continue
            self.outbox.update_episode(key, cleared_at=ev.t)
            # back to normal before anyone answered: the people told hear it is over,
            # and nobody further is woken for it
            if ev.what == "rtn":
                self.outbox.update_episode(key, closed="returned")
                del self.open[key]
                self.held = [h for h in self.held if h.ep.key != key]
                groups: set[str] = set()
                for person in sorted(o.told):
                    self._queue_person(person, o.route, [key], o.item.priority, "rtn",
                                       lambda lang, _link, o=o: messages.returned(
                                           lang, self.site, o.item), link=False,
                                       groups=groups)
        for ep in self.outbox.open_episodes():         # a restart's leftover: cleared
            if ep.alarm == ev.alarm and ep.key not in self.open and ev.what == "clear":
                self.outbox.update_episode(ep.key, cleared_at=ev.t)

    # --- time: escalation and digests -------------------------------------------------
    def tick(self) -> None:
        try:
            self._tick()
        except Exception:
            log.exception("notification tick failed")

    def _tick(self) -> None:
        if self.outbox.pending:          # the disk refused writes: try them again
            self.outbox.flush()
        now = self.clock.now()
        window = self.n.flood.window_min * 60.0
        while self.recent and now - self.recent[0] > window:
            self.recent.popleft()
        # a flood comes in a burst (a power dip trips a room): gather it, then one digest
        # per window while it lasts
        if self.held and now - self.held_since >= self.n.flood.gather_s and (
                self.last_digest is None or now - self.last_digest >= window
                or len(self.recent) <= self.n.flood.count):
            held, self.held = self.held, []
            self.last_digest = now
            self._tell(held, "duty", step="digest", n=len(self.recent) or len(held))
        for key, o in list(self.open.items()):
            # left open by a stopped controller, and its alarm did not come back once
            # the PLCs were read again: the condition went while we were down
            a = self.engine.alarms.get(o.ep.alarm)
            if o.resumed_at is not None and a is not None and a.state == "normal" and \
                    not a.suppressed and not a.input_bad and \
                    now - o.resumed_at >= self.clock.silence_timeout(RESUME_GRACE_S):
                self.outbox.update_episode(key, closed="returned")
                del self.open[key]
                self.record(now, o.ep.alarm, "notification closed: returned while the "
                            "controller was stopped", {"episode": key})
        esc = self.n.escalation
        due: dict[str, list[Open]] = {}
        for o in list(self.open.values()):
            if not o.route.escalate or o.ep.step >= len(esc.chain) or o in self.held or \
                    o.resumed_at is not None:      # after a restart: once it is back
                continue
            start = o.ep.first_sent if o.ep.first_sent is not None else o.ep.raised
            if now - start >= esc.after_min[o.ep.step] * 60.0:
                due.setdefault(esc.chain[o.ep.step], []).append(o)
                o.ep.step += 1
                self.outbox.update_episode(o.ep.key, step=o.ep.step)
        for role, items in due.items():
            self._tell(items, role, step=f"escalation:{role}")

    # --- who, and the messages -------------------------------------------------------
    def people(self, role: str, t: float) -> list[str]:
        if role == "dispatcher":
            return [self.n.dispatcher]
        lt = datetime.datetime.fromtimestamp(t)
        shift = on_duty(self.n, lt.isoweekday(), lt.hour + lt.minute / 60 + lt.second / 3600)
        if shift is None:
            return [self.n.dispatcher]       # nobody rostered: the dispatcher is
        if role == "duty":
            return list(shift.duty)
        who = getattr(shift, role)
        return [who] if who else []

    def _tell(self, items: list[Open], role: str, step: str, n: int = 0) -> None:
        now = self.clock.now()
        esc = self.n.escalation
        people = self.people(role, now)
        if not people:
            self.record(now, items[0].ep.alarm, f"nobody is rostered as {role}: skipped",
                        {"episodes": [o.ep.key for o in items]})
            return
        keys = [o.ep.key for o in items]
        prio = min(o.item.priority for o in items)
        by_route: dict[int, Route] = {o.ep.route: o.route for o in items}
        groups: set[str] = set()       # a group robot's room hears it once, not per person
        for person in people:
            for o in items:
                o.told.add(person)
            for route in by_route.values():
                if len(items) == 1 and step != "digest":
                    o = items[0]
                    k = o.ep.step      # the next step's time and who, for the message
                    nxt = (esc.after_min[k] - (esc.after_min[k - 1] if k else 0.0),
                           esc.chain[k]) if route.escalate and k < len(esc.chain) else None
                    escalated = esc.after_min[k - 1] if step.startswith("escalation") \
                        else None

                    def compose(lang: str, link: str | None, o: Open = o, person: str = person,
                                nxt: Any = nxt, escalated: Any = escalated
                                ) -> tuple[str, str]:
                        who = ", ".join(self._name(p, lang) for p in self.people(nxt[1], now)) \
                            if nxt else ""
                        return messages.alarm(lang, self.site, o.item, self._name(person, lang),
                                              role, link, escalated, nxt[0] if nxt else None,
                                              who)
                else:
                    def compose(lang: str, link: str | None, person: str = person
                                ) -> tuple[str, str]:
                        return messages.digest(lang, self.site, [o.item for o in items],
                                               n or len(items), self.n.flood.window_min,
                                               self._name(person, lang), role, link,
                                               flood=step == "digest")
                self._queue_person(person, route, keys, prio, step, compose, groups=groups)

    def _name(self, person: str, lang: str) -> str:
        p = self.n.people[person]
        return p.name_zh if lang == "zh_CN" and p.name_zh else p.name

    def _queue_person(self, person: str, route: Route, keys: list[str], prio: int,
                      step: str, compose: Callable[[str, str | None], tuple[str, str]],
                      link: bool = True, channels: list[str] | None = None,
                      groups: set[str] | None = None) -> None:
        now = self.clock.now()
        p = self.n.people[person]
        lang = p.lang or self.lang
        url = self._link(keys, person, now) if link else None
        title, body = compose(lang, url)
        for channel in channels if channels is not None else route.channels:
            ch = self.n.channels[channel]
            addr = p.contacts.get(channel, "") if ch.personal else ""
            if ch.personal and not addr:
                continue
            if not ch.personal and groups is not None:
                if channel in groups:
                    continue
                groups.add(channel)
            mid = self.outbox.queue(now, channel, person, addr, keys, step, prio, title, body)
            self.record(now, keys[0].split("@")[0], f"queued for {person} by {channel}",
                        {"message": mid, "step": step, "episodes": keys})
            self.wake(channel)
            if prio == 1 and self.failing(channel):
                self.fall_back(mid)

    def _link(self, keys: list[str], person: str, now: float) -> str:
        token = secrets.token_urlsafe(16)
        self.outbox.add_token(token, keys, person, now, now + self.n.ack.link_ttl_h * 3600)
        return f"{self.n.ack.public_url.rstrip('/')}/ack/{token}"

    def fall_back(self, mid: int) -> None:
        """A P1 message on a failing channel also goes by the route's second channel."""
        m = self.outbox.get(mid)
        if m is None or m.priority != 1 or m.fallback_of is not None or \
                self.outbox.has_fallback(mid):
            return
        ep = self.outbox.episode(m.episodes[0])
        route = self.n.routes[ep.route] if ep is not None else None
        if route is None or not route.fallback or route.fallback == m.channel:
            return
        ch = self.n.channels[route.fallback]
        addr = self.n.people[m.person].contacts.get(route.fallback, "") if ch.personal else ""
        if ch.personal and not addr:
            return
        now = self.clock.now()
        fid = self.outbox.queue(now, route.fallback, m.person, addr, m.episodes, m.step,
                                m.priority, m.title, m.body, fallback_of=mid)
        self.record(now, m.episodes[0].split("@")[0],
                    f"{m.channel} failing: P1 also sent by {route.fallback}",
                    {"message": fid, "fallback_of": mid})
        self.wake(route.fallback)

    def failed(self, m: Message) -> None:
        """Delivery's word that ``m`` could not go (yet)."""
        if m.priority == 1:
            self.fall_back(m.id)

    # --- acknowledgement by link -------------------------------------------------------
    async def ack_by_token(self, token: str, note: str, how: str) -> tuple[bool, str]:
        """(done, what to show the person). The token is the credential: single use,
        expiring, bound to the person it was sent to."""
        found = self.outbox.token(token)
        now = self.clock.now()
        if found is None:
            return False, "unknown"
        keys, person, expires, used_at, _ = found
        if used_at is not None:
            return False, "used"
        if now > expires:
            return False, "expired"
        if not self.outbox.use_token(token, now, how):
            return False, "used"
        done = []
        for key in keys:
            ep = self.outbox.episode(key)
            if ep is None:
                continue
            if note:
                self.outbox.add_note(ep.alarm, key, now, person, note)
            if ep.closed:
                continue
            self._via[ep.alarm] = how
            decision = await self.gate.submit(Command(
                "alarms", "ack", source="operator", user=person, role="operator",
                params={"id": ep.alarm, "comment": f"acknowledged by {how}"
                        + (f": {note}" if note else "")}))
            self._via.pop(ep.alarm, None)
            if decision.accepted:
                done.append(ep.alarm)
            else:             # already acknowledged at the console: the loop is closed
                self._close(ep.alarm, "acked", now, person)
        return True, ", ".join(done)

    def token_view(self, token: str) -> tuple[str, list[Episode]] | None:
        found = self.outbox.token(token)
        if found is None:
            return None
        keys, person, *_ = found
        return person, [e for k in keys if (e := self.outbox.episode(k)) is not None]

    # --- restart ---------------------------------------------------------------------
    def _resume(self) -> None:
        """Episodes a stopped controller left open go on from their step."""
        for ep in self.outbox.open_episodes():
            route = self.n.routes[ep.route] if ep.route < len(self.n.routes) else None
            a = self.engine.alarms.get(ep.alarm)
            if route is None or a is None:
                self.outbox.update_episode(ep.key, closed="config_changed")
                continue
            self.open[ep.key] = Open(ep, messages.Item(ep.priority, a.d.text,
                                                       a.d.text_zh, ep.raised), route,
                                     resumed_at=self.clock.now())
            for m in self.outbox.messages(episode=ep.key):
                self.open[ep.key].told.add(m.person)


async def run_ticks(notifier: Notifier, period_s: float, clock: Clock) -> None:
    """The escalation and digest timer, a task of its own."""
    while True:
        notifier.tick()
        await asyncio.sleep(max(period_s / clock.scale, 0.05))
