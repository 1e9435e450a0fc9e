"""Where the fault was and whether the protection cleared it selectively (pure).

Given the merged SOE of one disturbance (``soe.merge``), the topology and the breakers'
states, the fault is located by the pickups along the supply paths: fault current flows
from the supply through every breaker on the path to the fault and through no other, so
the picked-up relays form one chain, and the faulted section is the one just downstream
of the chain's last (most downstream) breaker. A bus is faulted when its incomer picked
up and none of its feeders did; a cable when its feeder at the sending end did and the
incomer at the far end did not.

The breaker that should have cleared it (``nearest``) is that last picked-up breaker: the
supply-side breaker bounding the section. The breakers that opened *on protection* are
the ones whose relay tripped (fast, instantaneous, backup, or a breaker-failure trip it
received) and then reported "breaker opened"; a breaker opened by a command, or by its
undervoltage release as the voltage dipped (load shedding, by design), does not count.
The verdict:

- ``selective``: the nearest breaker opened, and no other;
- ``overtrip`` (越级跳闸): a breaker other than the nearest opened on protection while the
  nearest would have been enough, also when the nearest opened too;
- ``breaker failure backup``: the nearest relay tripped but its breaker did not open, and
  the breaker just upstream of it cleared the fault (by the breaker-failure trip, or its
  own backup stage): correct behaviour, not an overtrip;
- ``not cleared``: a relay tripped but no breaker opened on protection;
- ``no trip``: relays picked up and dropped off, nothing tripped (a transient);
- ``not located``: the events do not say where (no pickup on a live path, pickups on two
  separate paths: two faults, or a relay picking up without fault current), with why.

The states the location reasons on are the ones *before* the disturbance: the states
given (as read when it ended) with each breaker's first position event in the window
undone (a breaker whose first event is "breaker opened" was closed). The clearing time
runs from the first pickup to the last protection opening.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fixedsite.sequences.power import profile
from fixedsite.sequences.power.soe import OWN_TRIPS, PICKUP, TRIPS, SoeRecord, merge
from fixedsite.sequences.power.topology import Topology
from fixedsite.texts import say

OPENED = profile.SOE["breaker opened"]
CLOSED = profile.SOE["breaker closed"]
FAILED = profile.SOE["breaker failed to open"]
OPEN_CMD = profile.SOE["open command"]
UNDERVOLTAGE = profile.SOE["undervoltage"]
VERDICTS = ("selective", "overtrip", "breaker failure backup", "not cleared", "no trip",
            "not located")

IDS = frozenset({"breakers"})          # a comma list of breaker ids: never translated
TEXTS: dict[str, str] = {
    "selective": "选择性动作", "overtrip": "越级跳闸",
    "breaker failure backup": "断路器失灵后备动作", "not cleared": "故障未切除",
    "no trip": "未跳闸", "not located": "未定位",
    "three-phase": "三相短路", "phase-to-phase": "两相短路",
    "Fault on {section}: cleared by {breaker} alone in {ms} ms (selective)":
        "{section} 故障：由 {breaker} 单独切除，用时 {ms} ms（选择性动作）",
    "Fault on {section}: overtrip, {breakers} opened where {breaker} was enough "
    "(cleared in {ms} ms)":
        "{section} 故障：越级跳闸，{breakers} 跳开，本应由 {breaker} 切除（用时 {ms} ms）",
    "Fault on {section}: {breaker} failed to open, {breakers} cleared it as breaker-failure "
    "backup in {ms} ms":
        "{section} 故障：{breaker} 拒动，由 {breakers} 失灵后备切除，用时 {ms} ms",
    "Fault on {section}: {breakers} tripped but no breaker opened":
        "{section} 故障：{breakers} 保护跳闸但无断路器跳开",
    "Disturbance at {section}: relays picked up and dropped off, nothing tripped":
        "{section} 扰动：保护启动后返回，未跳闸",
    "Fault not located: {why}": "故障未能定位：{why}",
    "no relay picked up": "无保护装置启动",
    "no relay on a live path picked up": "带电路径上无保护装置启动",
    "pickups on separate paths ({breakers})": "启动的保护分处不同路径（{breakers}）",
    "{breaker} picked up but carried no current as the network was run, ignored":
        "{breaker} 启动但按当时运行方式不通过电流，已忽略",
    "state of {breaker} before the fault not known, taken as normally run":
        "{breaker} 故障前状态未知，按正常运行方式处理",
}


@dataclass(frozen=True)
class FaultReport:
    """What one disturbance was, where, and how the protection did."""

    verdict: str                       # VERDICTS
    started_at: float                  # epoch s of the first pickup (the relays' clock)
    events: tuple[SoeRecord, ...] = ()
    section: str = ""                  # the faulted bus, cable or load ("" not located)
    nearest: str = ""                  # the breaker that should have cleared it
    opened: tuple[str, ...] = ()       # opened on protection, in time order
    clearing_ms: float | None = None   # first pickup to the last protection opening
    reason: str = ""                   # why not located
    fault_type: str = ""               # "three-phase", "phase-to-phase", "" (not known)
    picked: tuple[str, ...] = ()       # relays that picked up (or tripped on their own)
    tripped: tuple[str, ...] = ()      # relays that sent a trip to their breaker
    failed: tuple[str, ...] = ()       # tripped, and the breaker did not open
    needless: tuple[str, ...] = ()     # opened on protection though not the nearest
    shed: tuple[str, ...] = ()         # opened by their undervoltage release
    warnings: tuple[str, ...] = ()
    records: tuple[str, ...] = field(default=(), compare=False)   # COMTRADE .cfg paths

    @property
    def located(self) -> bool:
        return self.verdict != "not located"

    @property
    def summary(self) -> str:
        """The report in one text for people (English; the console translates it)."""
        return "; ".join([self._main(), *([self.fault_type] if self.fault_type else []),
                          *self.warnings])

    def _main(self) -> str:
        ms = "?" if self.clearing_ms is None else f"{self.clearing_ms:.0f}"
        others = ",".join(self.needless)
        if self.verdict == "selective":
            return say("Fault on {section}: cleared by {breaker} alone in {ms} ms "
                       "(selective)", section=self.section, breaker=self.nearest, ms=ms)
        if self.verdict == "overtrip":
            return say("Fault on {section}: overtrip, {breakers} opened where {breaker} was "
                       "enough (cleared in {ms} ms)", section=self.section, breakers=others,
                       breaker=self.nearest, ms=ms)
        if self.verdict == "breaker failure backup":
            return say("Fault on {section}: {breaker} failed to open, {breakers} cleared it "
                       "as breaker-failure backup in {ms} ms", section=self.section,
                       breaker=self.nearest, breakers=others, ms=ms)
        if self.verdict == "not cleared":
            return say("Fault on {section}: {breakers} tripped but no breaker opened",
                       section=self.section, breakers=",".join(self.tripped))
        if self.verdict == "no trip":
            return say("Disturbance at {section}: relays picked up and dropped off, nothing "
                       "tripped", section=self.section)
        return say("Fault not located: {why}", why=self.reason)

    def as_dict(self) -> dict[str, Any]:
        """For the historian's event: plain values only."""
        return {"verdict": self.verdict, "section": self.section, "nearest": self.nearest,
                "opened": list(self.opened), "clearing_ms": self.clearing_ms,
                "started_at": self.started_at, "reason": self.reason,
                "fault_type": self.fault_type, "picked": list(self.picked),
                "tripped": list(self.tripped), "failed": list(self.failed),
                "needless": list(self.needless), "shed": list(self.shed),
                "warnings": list(self.warnings), "records": list(self.records),
                "events": [[e.breaker, e.seq, e.name, round(e.t, 3), e.value]
                           for e in self.events]}


def states_before(closed: Mapping[str, bool | None], events: Iterable[SoeRecord]
                  ) -> dict[str, bool | None]:
    """The breakers' states before the window: ``closed`` (as read at its end) with each
    breaker's first position event undone."""
    out = dict(closed)
    seen: set[str] = set()
    for e in merge(events):
        if e.breaker in seen or e.code not in (OPENED, CLOSED):
            continue
        seen.add(e.breaker)
        out[e.breaker] = e.code == OPENED
    return out


def _unique(xs: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(xs))


def openings(events: list[SoeRecord]) -> tuple[dict[str, float], dict[str, float]]:
    """Breakers opened on protection and by undervoltage: breaker -> time opened. An
    opening counts for the cause its relay recorded last before it (a trip, the
    undervoltage release, or an open command, which makes it no protection opening)."""
    cause: dict[str, str] = {}
    prot: dict[str, float] = {}
    shed: dict[str, float] = {}
    for e in events:
        if e.code in TRIPS:
            cause[e.breaker] = "trip"
        elif e.code == UNDERVOLTAGE:
            cause.setdefault(e.breaker, "uv")
        elif e.code == OPEN_CMD:
            cause[e.breaker] = "command"
        elif e.code == OPENED:
            c = cause.pop(e.breaker, "")
            if c == "trip":
                prot.setdefault(e.breaker, e.t)
            elif c == "uv":
                shed.setdefault(e.breaker, e.t)
    return prot, shed


def locate(events: Iterable[SoeRecord], topo: Topology, closed: Mapping[str, bool | None],
           fault_type: str = "", warnings: Iterable[str] = ()) -> FaultReport:
    """The report of one disturbance from its events (any order; merged here)."""
    ev = merge(events)
    warn = list(warnings)
    faulty = [e for e in ev if e.code == PICKUP or e.code in OWN_TRIPS]
    started = (faulty or ev)[0].t if ev else 0.0
    picked = _unique(e.breaker for e in faulty if e.breaker in topo.breakers)
    tripped = _unique(e.breaker for e in ev if e.code in TRIPS)
    prot, shed = openings(ev)
    opened = tuple(sorted(prot, key=lambda b: prot[b]))
    failed = tuple(b for b in tripped if b not in prot)
    clearing = round((max(prot.values()) - started) * 1000.0, 1) if prot else None
    base = dict(started_at=started, events=tuple(ev), opened=opened, clearing_ms=clearing,
                fault_type=fault_type, picked=picked, tripped=tripped, failed=failed,
                shed=tuple(sorted(shed, key=lambda b: shed[b])))

    def not_located(why: str) -> FaultReport:
        return FaultReport("not located", reason=why, warnings=tuple(warn), **base)

    if not picked:
        return not_located(say("no relay picked up"))
    before = states_before(closed, ev)
    normal = topo.normal()
    state: dict[str, bool] = {}
    for b in topo.breakers:
        v = before.get(b)
        if v is None:
            v = normal[b]
            if b in picked or b in tripped:
                warn.append(say("state of {breaker} before the fault not known, taken as "
                                "normally run", breaker=b))
        state[b] = bool(v)
    fs = topo.feeds(state)

    def down(b: str) -> str | None:
        """The node ``b`` feeds, as the network was run (None: it carried nothing)."""
        bus, feeds = topo.breakers[b]
        for n in (feeds, bus):
            if n in fs and b in fs[n].breakers:
                return n
        return None

    live = [b for b in picked if down(b) is not None]
    for b in picked:
        if b not in live:
            warn.append(say("{breaker} picked up but carried no current as the network was "
                            "run, ignored", breaker=b))
    if not live:
        return not_located(say("no relay on a live path picked up"))
    paths = {b: fs[down(b) or ""].breakers for b in live}
    leaves = [b for b in live if not any(q != b and b in paths[q] for q in live)]
    if len(leaves) > 1:
        return not_located(say("pickups on separate paths ({breakers})",
                               breakers=",".join(sorted(leaves))))
    nearest = leaves[0]
    section = down(nearest) or ""
    path = paths[nearest]
    needless = tuple(b for b in opened if b != nearest)
    above = path[-2] if len(path) > 1 else None
    if not tripped and not opened:
        verdict = "no trip"
    elif not opened:
        verdict = "not cleared"
    elif opened == (nearest,):
        verdict = "selective"
    elif nearest in failed and above is not None and needless == (above,):
        verdict = "breaker failure backup"
    else:
        verdict = "overtrip"
    return FaultReport(verdict, section=section, nearest=nearest, needless=needless,
                       warnings=tuple(warn), **base)
