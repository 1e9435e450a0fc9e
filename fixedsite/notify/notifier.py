"""Alarms to people: routing, the on-call rota, escalation, flood digests, closed loop.

The alarm engine's events drive it (``AlarmEngine.sinks``); the project clock times the
escalation, so a test at x100 or on a manual clock escalates exactly as a site would. An
annunciated alarm that a route takes opens an *episode*: the people on duty are told at
once; while nobody acknowledges, each escalation step tells the next one (backup, shift
leader, the mine's dispatcher; a role the shift lacks passes to the next one up). An
acknowledgement from anywhere (the console, the message's one-time link) closes the
episode and stops the escalation; so does shelving or taking the alarm out of service.
Past ``flood.count`` annunciations in the window, alarms below P1 are held and go out as
one digest per window (a P1 is never held). At a shift change the incoming duty man is
told what stands unacknowledged. Everything is written to the outbox before delivery is
tried, so nothing said is lost to a channel down or a restart; the outbox is the record
of who was told what, when, by which channel. A message's acknowledgement link is minted
when it is sent (``LINK`` stands in for it in the record): no usable token is ever on disk.
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

from fixedsite.alarms.engine import UNACK_ACTIVE, UNACK_RTN, AlarmEngine, AlarmEvent
from fixedsite.clock import Clock
from fixedsite.gate import Command, CommandGate
from fixedsite.notify import messages
from fixedsite.notify.config import NotifyConfig, Route, on_duty, zone
from fixedsite.notify.outbox import Episode, Message, Outbox, episode_key
from fixedsite.tags import Quality

log = logging.getLogger(__name__)

CLOSE = {"ack": "acked", "shelve": "shelved", "oos": "out_of_service"}
# after a restart, how long (simulated s, never under the wall floor for a silent peer) an
# episode left open waits for its alarm to be read again before it is judged
RESUME_GRACE_S = 60.0
# what a message's record holds where the sent text has the person's one-time link
LINK = "{ack_link}"
# who answers when a role is missing from the shift: the next one up
ROLE_ORDER = ("duty", "backup", "leader", "dispatcher")


@dataclass
class Open:
    """An episode in memory: what the messages need beside what the outbox keeps."""
    ep: Episode
    item: messages.Item
    route: Route
    told: set[str] = field(default_factory=set)
    resumed_at: float | None = None    # left open by a stopped controller: since when
    unconfirmed: bool = False          # ... and escalating past the grace meanwhile


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
        self.tz = messages.ZONE = zone(n)
        self.open: dict[str, Open] = {}
        self.recent: deque[float] = deque()
        self.held: list[Open] = []
        self.last_digest: float | None = None
        self.held_since = 0.0
        self._via: dict[str, str] = {}
        self._minted: dict[int, str] = {}
        self.duty: tuple[str, ...] | None = tuple(self.people("duty", clock.now()))
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
        for o in self.open.values():
            if o.ep.alarm == ev.alarm:   # a restart re-raised what we were escalating
                if o.resumed_at is not None:
                    o.resumed_at = None
                    self.record(now, ev.alarm, "notification resumed after restart",
                                {"episode": o.ep.key})
                return
        raised = ev.raised if ev.raised is not None else ev.t
        key = base = episode_key(ev.alarm, raised)
        k = 1
        while self.outbox.episode(key) is not None:   # unshelved: a new episode
            key, k = f"{base}#{k}", k + 1
        ep = Episode(key, ev.alarm, ev.priority, raised, now, 0, idx, "", None, "", "", None)
        self.outbox.open_episode(ep)
        self.outbox.update_episode(ep.key, first_sent=now)
        o = Open(ep, messages.Item(ev.priority, ev.text, ev.text_zh, raised), route)
        self.open[ep.key] = o
        self.recent.append(now)
        self._trim(now)
        # ISA-18.2: a flood is held and digested, but a P1 is never held back
        if ev.priority > 1 and (len(self.recent) > self.n.flood.count or self.held):
            if not self.held:
                self.held_since = now
            self.held.append(o)
            return
        self._tell([o], "duty", step="first")

    def _trim(self, now: float) -> None:
        window = self.n.flood.window_min * 60.0
        while self.recent and now - self.recent[0] > window:
            self.recent.popleft()

    def _close(self, alarm: str, why: str, t: float, user: str, via: str | None = None
               ) -> None:
        for key, o in list(self.open.items()):
            if o.ep.alarm != alarm:
                continue
            how = via or self._via.get(alarm) or ("console" if why == "acked" else "")
            fields: dict[str, Any] = {"closed": why}
            if why == "acked":
                fields |= {"acked_at": t, "acked_by": user, "acked_via": how}
            self.outbox.update_episode(key, **fields)
            del self.open[key]
            self.held = [h for h in self.held if h.ep.key != key]
            self.record(t, alarm, f"notification closed: {why}" +
                        (f" by {user} via {how}" if why == "acked" else ""),
                        {"episode": key, "user": user, "via": how})

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
                was_held = any(h.ep.key == key for h in self.held)
                self.held = [h for h in self.held if h.ep.key != key]
                if o.told and not was_held:
                    self._send(sorted(o.told), [o], "rtn", lambda person, lang, link, o=o:
                               messages.returned(lang, self.site, o.item), links=False)

    # --- time: escalation, digests, handover -----------------------------------------
    def tick(self) -> None:
        try:
            self._tick()
        except Exception:
            log.exception("notification tick failed")

    def _tick(self) -> None:
        if self.outbox.pending:          # the disk refused writes: try them again
            self.outbox.flush()
        now = self.clock.now()
        self._trim(now)
        window = self.n.flood.window_min * 60.0
        flooding = len(self.recent) > self.n.flood.count
        # a flood comes in a burst (a power dip trips a room): gather it, then one digest
        # per window while it lasts; escalation of what it holds runs from the digest
        if self.held and now - self.held_since >= self.n.flood.gather_s and (
                self.last_digest is None or now - self.last_digest >= window
                or not flooding):
            held, self.held = self.held, []
            self.last_digest = now
            for o in held:
                o.ep.first_sent = now
                self.outbox.update_episode(o.ep.key, first_sent=now)
            self._tell(held, "duty", step="digest" if flooding else "batch",
                       n=len(self.recent) if flooding else len(held))
        self._judge_resumed(now)
        esc = self.n.escalation
        due: dict[str, list[Open]] = {}
        for o in list(self.open.values()):
            if not o.route.escalate or o.ep.step >= len(esc.chain) or o in self.held or \
                    (o.resumed_at is not None and not o.unconfirmed):   # restart: judged
                continue
            start = o.ep.first_sent if o.ep.first_sent is not None else o.ep.raised
            if now - start >= esc.after_min[o.ep.step] * 60.0:
                due.setdefault(esc.chain[o.ep.step], []).append(o)
                o.ep.step += 1
                self.outbox.update_episode(o.ep.key, step=o.ep.step)
        for role, items in due.items():
            self._tell(items, role, step=f"escalation:{role}")
        self._handover(now)

    def _judge_resumed(self, now: float) -> None:
        """An episode a stopped controller left open is over once its alarm, read again,
        is normal (its condition gone, or suppressed by design); judged every tick until
        then. Past the grace its escalation goes on meanwhile: not knowing is no reason
        to stop telling people."""
        grace = self.clock.silence_timeout(RESUME_GRACE_S)
        for key, o in list(self.open.items()):
            if o.resumed_at is None:
                continue
            a = self.engine.alarms.get(o.ep.alarm)
            if now - o.resumed_at >= grace and a is not None and a.state == "normal" and \
                    not a.input_bad and a.pending is None and self.engine_read(a):
                self.outbox.update_episode(key, closed="returned")
                del self.open[key]
                self.record(now, o.ep.alarm, "notification closed: returned while the "
                            "controller was stopped", {"episode": key})
            elif now - o.resumed_at >= grace and not o.unconfirmed:
                o.unconfirmed = True
                self.record(now, o.ep.alarm, "notification resumed after restart: alarm "
                            "not read back as normal, escalation goes on", {"episode": key})

    def engine_read(self, a: Any) -> bool:
        """Whether the alarm's input has a good value now (read since the start)."""
        tag = self.engine.store.get(a.d.tag)
        return tag is not None and tag.quality is Quality.GOOD

    def _handover(self, now: float) -> None:
        """The incoming duty men hear what stands unacknowledged when the duty changes
        hands (not when only a shift's name changes)."""
        duty = tuple(self.people("duty", now))
        if self.duty is not None and duty != self.duty:
            standing = [o for o in self.open.values() if o not in self.held]
            if standing:
                self._tell(standing, "duty", step="handover", n=len(standing))
        self.duty = duty

    # --- who, and the messages -------------------------------------------------------
    def _shift(self, t: float) -> Any:
        lt = datetime.datetime.fromtimestamp(t, self.tz)
        return on_duty(self.n, lt.isoweekday(), lt.hour + lt.minute / 60 + lt.second / 3600)

    def people(self, role: str, t: float) -> list[str]:
        return self.answering(role, t)[0]

    def answering(self, role: str, t: float) -> tuple[list[str], str]:
        """(who, in which role) answers for ``role`` now: a role the shift lacks passes to
        the next one up, the dispatcher last (and for a time nobody is rostered)."""
        shift = self._shift(t)
        for r in ROLE_ORDER[ROLE_ORDER.index(role):]:
            if r == "dispatcher" or shift is None:
                return [self.n.dispatcher], "dispatcher"
            who = getattr(shift, r)
            who = list(who) if isinstance(who, list) else [who] if who else []
            if who:
                return who, r
        return [self.n.dispatcher], "dispatcher"

    def _tell(self, items: list[Open], role: str, step: str, n: int = 0) -> None:
        now = self.clock.now()
        esc = self.n.escalation
        people, role = self.answering(role, now)
        if step != "first" and step not in ("digest", "batch"):
            # a role passed up to someone already told (no backup, no leader: the
            # dispatcher): he is not told the same again
            people = [p for p in people if not all(p in o.told for o in items)]
            if not people:
                self.record(now, items[0].ep.alarm, f"{step}: everyone it reaches was told "
                            "already", {"episodes": [o.ep.key for o in items]})
                return
        kind = {"digest": "flood", "handover": "handover", "batch": "batch"}.get(step,
                                                                              "pending")
        if len(items) == 1 and step in ("first", "batch") or \
                len(items) == 1 and step.startswith("escalation"):
            o = items[0]
            k = o.ep.step      # the next step's time and who, for the message
            nxt = (esc.after_min[k] - (esc.after_min[k - 1] if k else 0.0), esc.chain[k]) \
                if o.route.escalate and k < len(esc.chain) else None
            escalated = esc.after_min[k - 1] if step.startswith("escalation") else None

            def compose(person: str, lang: str, link: str | None) -> tuple[str, str]:
                who = ", ".join(self._name(p, lang) for p in self.people(nxt[1], now)) \
                    if nxt else ""
                return messages.alarm(lang, self.site, o.item, self._name(person, lang),
                                      role, link, escalated, nxt[0] if nxt else None, who)
        else:
            def compose(person: str, lang: str, link: str | None) -> tuple[str, str]:
                return messages.digest(lang, self.site, [o.item for o in items],
                                       n or len(items), self.n.flood.window_min,
                                       self._name(person, lang), role, link, kind=kind)
        self._send(people, items, step, compose)

    def _send(self, people: list[str], items: list[Open], step: str,
              compose: Callable[[str, str, str | None], tuple[str, str]],
              links: bool = True) -> None:
        """Queue one message per person per personal channel of the items' routes and one
        per group channel; a person the routes cannot reach is recorded and tried on the
        routes' fallback channel."""
        now = self.clock.now()
        keys = [o.ep.key for o in items]
        prio = min(o.item.priority for o in items)
        routes = list({id(o.route): o.route for o in items}.values())
        channels = list(dict.fromkeys(c for r in routes for c in r.channels))
        fallbacks = [r.fallback for r in routes if r.fallback]
        groups: set[str] = set()
        for person in people:
            p = self.n.people[person]
            lang = p.lang or self.lang
            reached = False
            for channel in channels:
                ch = self.n.channels[channel]
                addr = p.contacts.get(channel, "") if ch.personal else ""
                if ch.personal and not addr:
                    continue
                if not ch.personal:
                    if channel in groups:
                        reached = True
                        continue
                    groups.add(channel)
                # a group robot's room carries no personal link: whoever reads it there
                # answers from his own message or the console, under his own name
                title, body = compose(person, lang, LINK if links and ch.personal else None)
                self._queue(now, channel, person, addr, keys, step, prio, title, body)
                reached = True
            if not reached:
                self.record(now, keys[0].split("@")[0], f"{person} could not be told: no "
                            f"address on {', '.join(channels)}", {"episodes": keys})
                for channel in fallbacks:
                    addr = p.contacts.get(channel, "")
                    if self.n.channels[channel].personal and addr:
                        title, body = compose(person, lang, LINK if links else None)
                        self._queue(now, channel, person, addr, keys, step, prio, title,
                                    body)
                        reached = True
                        break
            if reached:
                for o in items:
                    o.told.add(person)

    def _queue(self, now: float, channel: str, person: str, addr: str, keys: list[str],
               step: str, prio: int, title: str, body: str) -> None:
        mid = self.outbox.queue(now, channel, person, addr, keys, step, prio, title, body)
        self.record(now, keys[0].split("@")[0], f"queued for {person} by {channel}",
                    {"message": mid, "step": step, "episodes": keys})
        self.wake(channel)
        if prio == 1 and self.failing(channel):
            self.fall_back(mid)

    def _name(self, person: str, lang: str) -> str:
        p = self.n.people[person]
        return p.name_zh if lang == "zh_CN" and p.name_zh else p.name

    def mint_link(self, m: Message) -> str:
        """A fresh one-time link for ``m``'s person and episodes, made as it is sent: the
        record keeps ``LINK`` in its place and only the token's hash."""
        if m.id in self._minted:        # a retry sends the link its first attempt had
            return self._minted[m.id]
        now = self.clock.now()
        token = secrets.token_urlsafe(16)
        self.outbox.add_token(token, m.episodes, m.person, now,
                              now + self.n.ack.link_ttl_h * 3600)
        link = self._minted[m.id] = f"{self.n.ack.public_url.rstrip('/')}/ack/{token}"
        return link

    def fall_back(self, mid: int) -> None:
        """A P1 message on a failing channel also goes by its route's second channel."""
        m = self.outbox.get(mid)
        if m is None or m.priority != 1 or m.fallback_of is not None or \
                self.outbox.has_fallback(mid):
            return
        ep = self.outbox.episode(m.episodes[0]) if m.episodes else None
        if ep is None or not 0 <= ep.route < len(self.n.routes):
            return                      # a route since removed from the config
        route = self.n.routes[ep.route]
        if not route.fallback or route.fallback == m.channel or \
                m.person not in self.n.people:
            return
        ch = self.n.channels[route.fallback]
        addr = self.n.people[m.person].contacts.get(route.fallback, "") if ch.personal else ""
        if ch.personal and not addr:
            return
        now = self.clock.now()
        body = m.body if ch.personal else "\n".join(     # a group room: no personal link
            line for line in m.body.splitlines() if LINK not in line)
        fid = self.outbox.queue(now, route.fallback, m.person, addr, m.episodes, m.step,
                                m.priority, m.title, body, fallback_of=mid)
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
        expiring, bound to the person it was sent to. It is spent only once the
        acknowledgement took (a refusal, a full audit log, leaves it for another try)."""
        found = self.outbox.token(token)
        now = self.clock.now()
        if found is None:
            return False, "unknown"
        keys, person, expires, used_at, _ = found
        if used_at is not None:
            return False, "used"
        if now > expires:
            return False, "expired"
        done: list[str] = []
        refused: list[str] = []
        episodes = [e for k in keys if (e := self.outbox.episode(k)) is not None]
        for ep in episodes:
            if ep.closed or ep.key not in self.open:
                continue
            self._via[ep.alarm] = how
            try:
                decision = await self.gate.submit(Command(
                    "alarms", "ack", source="operator", user=person, role="operator",
                    params={"id": ep.alarm, "comment": f"acknowledged by {how}"
                            + (f": {note}" if note else "")}))
            finally:
                self._via.pop(ep.alarm, None)
            a = self.engine.alarms.get(ep.alarm)
            if decision.accepted:
                done.append(ep.alarm)
            elif a is not None and a.state not in (UNACK_ACTIVE, UNACK_RTN) and a.acked_by:
                # acknowledged meanwhile, by someone else: the loop is closed by them
                self._close(ep.alarm, "acked", a.acked_at or now, a.acked_by, "console")
            else:
                refused.append(decision.reason or "refused")
        if note:
            for ep in episodes:
                if ep.alarm in done:
                    self.outbox.add_note(ep.alarm, ep.key, now, person, note[:2000])
        if refused:        # not all of them: the link stays, for the rest, and says so
            return False, "refused: " + "; ".join(dict.fromkeys(refused)) + \
                (f" (acknowledged: {', '.join(done)})" if done else "")
        if not self.outbox.use_token(token, now, how):
            return False, "used"
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
            route = self.n.routes[ep.route] if 0 <= ep.route < len(self.n.routes) else None
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
