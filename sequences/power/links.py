"""Blocking-link supervision: a relay whose fast stage can no longer be blocked falls back.

A relay's fast stage is selective only while the pickups of the relays below it reach it
in time. Each configured link is judged from its target relay's subscription registers,
in the slot whose ``block_src<i>`` holds the source's relay number (read live: a relay that
does not subscribe to the source gets no block from it, whatever the config says):

- ``lost``: the relay says the link is not ok, or nothing has arrived for longer than the
  time allowed to live, or the relay does not subscribe to the source at all;
- ``slow``: the measured latency exceeds what the fast stage leaves for it
  (``fast_delay_ms - pickup_ms - link_margin_ms``): the block would come too late;
- ``unknown``: the relay's data is not good; nothing is decided on it;
- ``ok`` otherwise.

A lost or slow link switches its target relay to settings group 2 (the fallback: the fast
stage off, the time-graded backup as before) at once. The relay stays there while any of
its links is unhealthy, and goes back to group 1 only when all of them have been ok for
``HOLD_S`` together, and not while it is picked up (a fault being cleared finishes on the
group it started with). The hold keeps a flapping link (a GOOSE subscriber that drops
a message now and then, a wired input that bounces) from toggling the group with every
flap: each switch is an SOE record, an audit record and a moment the relay changes its
timers; 10 s is several times a GOOSE time allowed to live (2 s) and far below anything an
operator would notice, and a link healthy for that long has proved itself.

Each switch goes through the command gate as an automatic command (source ``auto``,
target ``<system>.links``, action ``group``, params breaker, group and why): the gate
records its intent and outcome in the audit log (and the historian takes its record), and
an automatic command still acts when the audit log cannot be written, because the
fallback protects more than the record does. The write of ``group_sp`` is verified by
read-back, then by ``group_active`` within ``CONFIRM_S``; a relay that refuses, or does
not follow, is tried again after a pause growing from ``RETRY_S`` to ``RETRY_MAX_S``, and
``<breaker>.group_error`` says why meanwhile (the lead's alarm).

Restart: the first good scan of a relay adopts the group in force and writes nothing it
need not; a relay found in group 2 with healthy links returns after the hold. A group
changed by someone else is adopted the same way. Decisions wait while the relay's
settings are being written (``<breaker>.settings`` "writing" or "unknown", when that tag
exists): its groups are not yet what the scheme computes.

Published: ``<system>.<link>.state`` (ok, lost, slow, unknown), ``<system>.<breaker>.fallback``
(group 2 in force, as the relay reports) and ``<system>.<breaker>.group_error`` (text, ""
when none), for every breaker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fixedsite.clock import Clock
from fixedsite.gate import Command, CommandGate, Decision
from fixedsite.io import Writer
from fixedsite.sequences.power import profile
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.scheme import Scheme, engineer
from fixedsite.sequences.power.timing import Waits
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

HOLD_S = 10.0               # all links ok this long before a relay returns to group 1
# a subscription just written has not been heard yet: it is judged only after a time allowed
# to live and a poll more (judged at once, every link of a relay fresh from the factory
# would read lost and raise its alarm at each commissioning)
FIRST_HEARD_S = 1.0
NEVER = 65535               # a subscription's age before its first message
CONFIRM_S = 2.0             # group_active must follow a written group_sp within this
RETRY_S, RETRY_MAX_S = 2.0, 60.0
STATES = ("ok", "lost", "slow", "unknown")
NORMAL, FALLBACK = 1, 2


@dataclass
class _Link:
    lid: str
    source: str
    target: str
    source_no: int
    ttl_ms: float               # the target relay's time allowed to live (the scheme's)
    allowed_ms: float           # the latency its fast stage leaves
    tag: Tag
    state: str = "unknown"
    why: str = ""
    subscribed_at: float | None = None   # when the relay was first seen subscribing to it


@dataclass
class _Relay:
    breaker: str
    links: list[_Link]          # the links its fast stage relies on
    fallback: Tag
    error: Tag
    adopted: bool = False
    seen: object = None         # group_active at the last scan
    want: int = NORMAL
    ok_since: float | None = None
    asked: int | None = None    # the group written, waiting for group_active
    asked_at: float = 0.0
    failures: int = 0
    retry_at: float = 0.0
    why: str = ""               # what the last decision was made on (for the audit)


class LinkSupervisor:
    """Every blocking link of one power system, and the groups of the relays they serve."""

    def __init__(self, sname: str, system: PowerSystem, store: TagStore, writer: Writer,
                 clock: Clock, gate: CommandGate | None = None,
                 scheme: Scheme | None = None, waits: Waits | None = None) -> None:
        self.sname, self.store, self.writer, self.clock = sname, store, writer, clock
        w = waits or Waits()          # never judged before a poll could bring it (timing.py)
        self.first_heard_s = w.at_least(FIRST_HEARD_S, 2)
        self.confirm_s = w.at_least(CONFIRM_S, 2)
        self.gate = gate
        self.path = f"{sname}.links"
        self.handler = LinkHandler(self)
        scheme = scheme or engineer(system)
        prot = system.protection
        eqs = {b: e for b, e in system.equipment.items() if isinstance(e, BreakerEq)}
        self.links: dict[str, _Link] = {}
        for lid, lk in system.network.links.items():
            if lk.source not in eqs or lk.target not in eqs:
                continue                                  # the config check names it
            tgt = scheme.relays[lk.target]
            self.links[lid] = _Link(
                lid, lk.source, lk.target, eqs[lk.source].relay_no, float(tgt.link_ttl_ms),
                tgt.groups[NORMAL].fast_delay_ms - prot.pickup_ms - prot.link_margin_ms,
                store.define(f"{sname}.{lid}.state", TagMeta(
                    kind="text", description="the blocking link: ok, lost, slow or "
                    "unknown")))
        self.relays: dict[str, _Relay] = {}
        for b in eqs:
            relied = [self.links[lid] for lid in scheme.relays[b].links if lid in self.links]
            self.relays[b] = _Relay(b, relied, store.define(
                f"{sname}.{b}.fallback", TagMeta(
                    kind="bool", description="the relay runs on settings group 2 (fallback: "
                    "fast stage off) as it reports")),
                store.define(f"{sname}.{b}.group_error", TagMeta(
                    kind="text", description="why the relay's settings group could not be "
                    "switched (empty when nothing is wrong)")))

    @property
    def published(self) -> list[Tag]:
        return [lk.tag for lk in self.links.values()] + [
            t for r in self.relays.values() for t in (r.fallback, r.error)]

    def sig(self, breaker: str, signal: str) -> str:
        return f"{self.sname}.{breaker}.{signal}"

    def v(self, breaker: str, signal: str) -> object:
        return self.store.value(self.sig(breaker, signal))

    # --- link states ---------------------------------------------------------------------
    def _judge(self, lk: _Link) -> tuple[str, str, list[str]]:
        """The link's state, why, and the signals it was read from."""
        subs = [self.sig(lk.target, f"block_src{i}") for i in range(profile.SUBSCRIPTIONS)]
        if self.store.worst(subs)[0] is not Quality.GOOD:
            return "unknown", "", subs
        setting = self.store.get(self.sig(lk.target, "settings"))
        if setting is not None and (not setting.good or setting.value in ("writing",
                                                                           "unknown")):
            lk.subscribed_at = None
            return "unknown", "", subs                # its subscriptions are being written
        slots = [i for i, p in enumerate(subs) if self.store.value(p) == lk.source_no]
        if not slots:
            lk.subscribed_at = None
            return "lost", say("{link}: the relay of {target} does not subscribe to "
                               "{source}", link=lk.lid, target=lk.target,
                               source=lk.source), subs
        i = slots[0]
        now = self.clock.now()
        if lk.subscribed_at is None:
            lk.subscribed_at = now
        used = [*subs, *(self.sig(lk.target, f"link{i}_{s}") for s in
                         ("ok", "age_ms", "latency_ms"))]
        if self.store.worst(used)[0] is not Quality.GOOD:
            return "unknown", "", used
        ok, age, lat = (self.v(lk.target, f"link{i}_{s}") for s in ("ok", "age_ms",
                                                                       "latency_ms"))
        if ok is not True and age == NEVER and lk.state == "unknown" and \
                now - lk.subscribed_at < lk.ttl_ms / 1000.0 + self.first_heard_s:
            return "unknown", "", used                # never heard yet since subscribed
        if ok is not True:
            return "lost", say("{link}: its relay reports it down", link=lk.lid), used
        if not isinstance(age, int | float) or age > lk.ttl_ms:
            return "lost", say("{link}: nothing heard for {age} ms (allowed {ttl:.0f} ms)",
                               link=lk.lid, age=age, ttl=lk.ttl_ms), used
        if not isinstance(lat, int | float) or lat > lk.allowed_ms:
            return "slow", say("{link}: latency {latency} ms over the {allowed:.0f} ms its "
                               "fast stage allows", link=lk.lid, latency=lat,
                               allowed=lk.allowed_ms), used
        return "ok", "", used

    def _states(self) -> None:
        for lk in self.links.values():
            state, why, used = self._judge(lk)
            if state != lk.state:
                log.log(logging.WARNING if state in ("lost", "slow") else logging.INFO,
                        "%s: %s %s -> %s %s", self.path, lk.lid, lk.state, state, why)
            lk.state, lk.why = state, why
            if state == "unknown":
                q, reason = self.store.worst(used)
                if q is Quality.GOOD:            # read well, not judged yet
                    q, reason = Quality.UNCERTAIN, "not_yet_read"
                self.store.update(lk.tag, state, q, reason)
            else:
                self.store.update(lk.tag, state)

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        self._states()
        for r in self.relays.values():
            active = self.sig(r.breaker, "group_active")
            q, why = self.store.worst([active])
            g = self.store.value(active)
            if q is Quality.GOOD:
                self.store.update(r.fallback, g == FALLBACK)
            else:
                self.store.update(r.fallback, bool(r.fallback.value), q, why)
            if not r.links:
                if r.error.value is None:
                    self.store.update(r.error, "")
                continue
            await self._relay(r)

    def _settled(self, b: str) -> bool:
        tag = self.store.get(self.sig(b, "settings"))
        return tag is None or (tag.good and tag.value not in ("writing", "unknown"))

    async def _relay(self, r: _Relay) -> None:
        b, now = r.breaker, self.clock.now()
        sp, active = self.v(b, "group_sp"), self.v(b, "group_active")
        if sp is None or active is None or not self._settled(b):
            r.adopted, r.asked = False, None          # adopt again once it reads good
            if r.error.value is None:
                self.store.update(r.error, "")
            return
        outside = r.adopted and r.asked is None and active != r.seen and active != r.want
        if not r.adopted or outside:
            if outside:
                log.warning("%s: %s changed to group %s outside the supervision; adopted",
                            self.path, b, active)
            r.adopted, r.want = True, FALLBACK if active == FALLBACK else NORMAL
            r.ok_since = now if r.want == FALLBACK else None
            r.failures, r.retry_at = 0, 0.0
            self.store.update(r.error, "")
        r.seen = active
        bad = [lk for lk in r.links if lk.state in ("lost", "slow")]
        if bad:
            r.ok_since = None
            if r.want != FALLBACK:
                r.want, r.failures, r.retry_at = FALLBACK, 0, 0.0
            r.why = "; ".join(lk.why for lk in bad)
        elif all(lk.state == "ok" for lk in r.links):
            r.ok_since = now if r.ok_since is None else r.ok_since
            if r.want == FALLBACK and now - r.ok_since >= HOLD_S and \
                    self.v(b, "picked_up") is False:
                r.want, r.failures, r.retry_at = NORMAL, 0, 0.0
            r.why = say("the links of {breaker} healthy for {s:.0f} s", breaker=b,
                        s=now - r.ok_since)
        else:
            r.ok_since = None                          # unknown: hold as it is
        if active == r.want and sp == r.want:
            if r.asked is not None:
                log.info("%s: %s now in group %d", self.path, b, r.want)
            r.asked, r.failures = None, 0
            if r.error.value != "":
                self.store.update(r.error, "")
            return
        if r.asked == r.want and sp == r.want:
            if now - r.asked_at <= self.clock.guard_timeout(self.confirm_s):
                return                                 # written: waiting for the relay
            self._failed(r, say("the relay still reports group {got} {s:.0f} s after group "
                                "{group} was written", got=active, s=now - r.asked_at,
                                group=r.want))
            return
        if now < r.retry_at:
            return
        await self._switch(r, r.want, r.why)

    async def _switch(self, r: _Relay, group: int, why: str) -> None:
        cmd = Command(self.path, "group", source="auto",
                      params={"breaker": r.breaker, "group": group, "why": why})
        decision = await (self.gate.submit(cmd) if self.gate is not None else
                          self.handler.execute(cmd))
        if decision.accepted:
            r.asked, r.asked_at = group, self.clock.now()
        else:
            self._failed(r, decision.reason)

    def _failed(self, r: _Relay, why: str) -> None:
        r.asked = None
        r.failures += 1
        pause = min(RETRY_MAX_S, RETRY_S * 2 ** (r.failures - 1))
        r.retry_at = self.clock.now() + pause
        text = say("{breaker}: group {group} not taken: {why}; next try in {s:.0f} s",
                   breaker=r.breaker, group=r.want, why=why, s=pause)
        log.warning("%s: %s", self.path, text)
        self.store.update(r.error, text)

    async def write_group(self, breaker: str, group: int) -> Decision:
        res = await self.writer.write(self.sig(breaker, "group_sp"), group)
        if not res.ok:
            return Decision(False, say("{signal}={value} not confirmed: {why}",
                                       signal="group_sp", value=group, why=res.reason))
        return Decision(True, say("{breaker}: group {group} written and read back",
                                  breaker=breaker, group=group))


class LinkHandler:
    """The gate's view of the supervision: the group switches it makes itself (``auto``),
    none offered to people (the relays' groups follow their links' health)."""

    def __init__(self, sup: LinkSupervisor) -> None:
        self.sup = sup

    def check(self, cmd: Command) -> str | None:
        b, g = cmd.params.get("breaker"), cmd.params.get("group")
        if cmd.action != "group" or cmd.source != "auto":
            return say("the settings groups follow the blocking links' health: switched by "
                       "the link supervision only")
        if b not in self.sup.relays or not self.sup.relays[b].links:
            return say("{breaker} has no blocking links to supervise", breaker=str(b))
        if g not in (NORMAL, FALLBACK):
            return say("a settings group is 1 or 2; got {got}", got=repr(g))
        return None

    async def execute(self, cmd: Command) -> Decision:
        return await self.sup.write_group(str(cmd.params["breaker"]), int(cmd.params["group"]))


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    """The tags the supervision publishes, with their kinds."""
    out = {f"{sname}.{lid}.state": "text" for lid in system.network.links}
    for b, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            out[f"{sname}.{b}.fallback"] = "bool"
            out[f"{sname}.{b}.group_error"] = "text"
    return out


TEXTS: dict[str, str] = {
    "ok": "正常", "lost": "中断", "slow": "延时超限", "group": "切换整定值组",
    "{link}: the relay of {target} does not subscribe to {source}":
        "{link}：{target} 的保护装置未订阅 {source}",
    "{link}: its relay reports it down": "{link}：保护装置报告该链路中断",
    "{link}: nothing heard for {age} ms (allowed {ttl:.0f} ms)":
        "{link}：{age} ms 未收到报文（允许 {ttl:.0f} ms）",
    "{link}: latency {latency} ms over the {allowed:.0f} ms its fast stage allows":
        "{link}：传输延时 {latency} ms，超过快速段允许的 {allowed:.0f} ms",
    "the links of {breaker} healthy for {s:.0f} s": "{breaker} 的闭锁链路已正常 {s:.0f} s",
    "the relay still reports group {got} {s:.0f} s after group {group} was written":
        "写入第 {group} 组 {s:.0f} s 后保护装置仍报告第 {got} 组",
    "{breaker}: group {group} not taken: {why}; next try in {s:.0f} s":
        "{breaker}：未切换到第 {group} 组：{why}；{s:.0f} s 后重试",
    "{signal}={value} not confirmed: {why}": "{signal}={value} 写入未确认：{why}",
    "{breaker}: group {group} written and read back": "{breaker}：第 {group} 组已写入并回读确认",
    "the settings groups follow the blocking links' health: switched by the link "
    "supervision only": "整定值组随闭锁链路状态切换：仅由链路监视切换",
    "{breaker} has no blocking links to supervise": "{breaker} 没有需要监视的闭锁链路",
    "a settings group is 1 or 2; got {got}": "整定值组只能是 1 或 2；收到 {got}",
}
IDS = frozenset({"link", "target", "source", "breaker", "signal"})
