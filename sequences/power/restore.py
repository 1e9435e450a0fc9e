"""Restoration (FLISR) and supply transfer at run time: the plans of ``restore_plan.py``
carried out through the switching executor, timed and recorded.

Three events start a plan:

- a located fault (``on_fault(report)``, called by ``records.py``): the faulted section is
  isolated, then the healthy sections re-energised (``restoration.auto``);
- the loss of a supply: its incomer's relay reads the line dead (``line_live`` false) and
  the bus dead (``undervoltage`` or ``uab`` under ``DEAD_FRACTION`` of the bus voltage),
  with no relay picked up (a fault still flowing is not a lost supply) and no fault
  located on that bus, for ``restoration.dead_s``: the dead incomer opens and the bus tie
  closes (``restoration.auto_transfer``);
- that supply back: its line live for ``RETURN_S`` after a transfer this controller made:
  transfer back, break-before-make (the supplies are never paralleled).

With the flag off, the plan is published as a proposal (``<system>.restore.state``
"proposal", the steps in ``.plan`` as a ticket's text the operator can prepare); the
restoration is still timed when the operator carries it out.

A plan runs as two tickets of the executor: the isolation, then (re-planned on the plant
as the isolation left it, every trip latch of a breaker to close reset first) the
restoration. It never starts while another ticket runs: it waits, and fails with the
reason after ``restoration.restore_within_s`` (past the target an automatic restoration
is no longer the quick one it is for: the operator decides). A fault is handled once (by
its section, nearest breaker and start); a second fault while a plan runs aborts that
plan's ticket and re-plans from the plant as it is, with both sections faulted, timed
from the first fault's start.

Time is measured on the plant, not on the tickets: from the fault's inception (or the
supply's loss) to the scan that finds the last healthy level-1 load (``priority1_s``)
and every healthy load (``last_s``) fed, from the breakers' feedback and the supplies'
voltage. Each event is a historian event of kind "power" from ``<system>.restore``.

A restarted controller adopts the plant as it is: nothing is re-run, a supply found lost
at start is proposed, not transferred, and no transfer back is made for a transfer it did
not make.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fixedsite.clock import Clock
from fixedsite.sequences.power.config import PowerSystem
from fixedsite.sequences.power.interlocks import (
    PlantState,
    Step,
    conducting,
    energised,
    live_sources,
    snapshot,
)
from fixedsite.sequences.power.restore_plan import (
    ALLOW_PARALLEL,
    Fault,
    Plan,
    PlanStep,
    incomers,
    plan_fault,
    plan_return,
    plan_supply_loss,
    region,
)
from fixedsite.sequences.power.timing import Waits
from fixedsite.sequences.power.topology import Topology
from fixedsite.systems import BuildContext
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

STATES = ("idle", "planning", "isolating", "restoring", "done", "failed", "proposal")
ACTIVE = ("planning", "isolating", "restoring")
DEAD_FRACTION = 0.3        # a bus under 30 % of its rated voltage is dead
RETURN_S = 10.0            # a supply back this long before the transfer back
SETTLE_S = 2.0             # after the last step, for the feedback to show the loads fed
UNDERVOLTAGE = 5           # profile.TRIP_CODES: tripped on undervoltage, not on a fault
SOURCE = "restoration"     # the executor's ticket source
RESTORE_TAGS: dict[str, tuple[str, str]] = {
    "state": ("text", "restoration: idle, planning, isolating, restoring, done, failed, or "
                      "proposal (automatic restoration off: the plan waits for the operator)"),
    "status": ("text", "what restoration does, or why it stopped"),
    "plan": ("text", "the plan's switching steps, as a ticket's text (open Q212; close "
                     "Q111)"),
    "last_s": ("number", "the last event: fault inception (or supply loss) to every healthy "
                         "load re-energised, s"),
    "priority1_s": ("number", "the last event: fault inception (or supply loss) to the last "
                              "healthy level-1 load re-energised, s"),
}


class ExecutorLike(Protocol):
    """What restoration needs of ``switching.Executor``."""

    state: str
    status: str

    def start(self, steps: Sequence[Step], why: str, source: str) -> Any: ...

    async def abort(self, who: str = "") -> str | None: ...

    async def reset_trip(self, device: str) -> str | None: ...


@dataclass
class Event:
    """One fault, supply loss or supply return, from its start to its record."""

    what: str                          # fault | supply loss | supply return
    started: float
    auto: bool
    faults: list[Fault] = field(default_factory=list)
    source: str | None = None          # the supply lost or back
    plan: Plan | None = None
    first: Plan | None = None          # the plan as first made (published, recorded)
    ticket: Any = None
    steps: list[PlanStep] = field(default_factory=list)   # the ticket's steps
    queued: list[PlanStep] = field(default_factory=list)  # waiting for trip latches reset
    resetting: list[str] = field(default_factory=list)
    since: float = 0.0                 # its present phase began
    seen_dead: bool = False            # some planned load seen dead since the start
    p1_at: float | None = None
    all_at: float | None = None
    done_at: float | None = None       # the last ticket done
    dead_s: float = 0.0                # time some planned load was seen dead
    was_dead: bool = False
    last: float | None = None

    def sections(self) -> str:
        """The faulted sections as one word (ids joined by commas, no space: a text's
        id placeholder is one word for the console to read it back)."""
        return ",".join(f.section or "?" for f in self.faults) or "?"


class Restorer:
    """Restoration and transfer of one power system."""

    def __init__(self, system_name: str, system: PowerSystem, store: TagStore, clock: Clock,
                 executor: ExecutorLike, topo: Topology | None = None,
                 waits: Waits | None = None) -> None:
        self.sname, self.system = system_name, system
        self.store, self.clock, self.ex = store, clock, executor
        self.topo = topo or Topology(system)
        self.cfg = system.restoration
        # the loads are shown fed a poll after the last step at the earliest (timing.py)
        w = waits or Waits()
        self.settle_s, self.step_s = w.at_least(SETTLE_S, 1.5), w.step(system)
        self.allow_parallel = bool(getattr(self.cfg, "allow_parallel", ALLOW_PARALLEL))
        self.capacity_kw: float | None = getattr(self.cfg, "supply_capacity_kw", None)
        self.path = f"{system_name}.restore"
        self.historian: Any = None          # set when the controller starts
        self.state = "idle"
        self.status = ""
        self.event: Event | None = None
        self.adopted = False
        self._pending: list[Any] = []
        self._handled: set[tuple[Any, ...]] = set()
        self._faulted: dict[str, bool] = {}          # section -> seen dead since located
        self._loss_since: dict[str, float] = {}
        self._loss_seen: set[str] = set()            # losses acted on, until they clear
        self._transferred: dict[str, str] = {}       # supply -> the tie we closed for it
        self._return_since: dict[str, float] = {}
        self._fed: set[str] = set()                  # energised at the last scan
        self.tags: dict[str, Tag] = {
            n: store.define(f"{self.path}.{n}", TagMeta(
                kind=k, description=d, unit="s" if k == "number" else ""))
            for n, (k, d) in RESTORE_TAGS.items()}
        self._set("idle", say("no restoration since the controller started"))
        store.update(self.tags["plan"], "")

    @property
    def published(self) -> list[Tag]:
        return list(self.tags.values())

    # --- what others call ---------------------------------------------------------------
    def on_fault(self, report: Any) -> None:
        """A located fault (``locate.FaultReport``): handled at the next scan."""
        self._pending.append(report)

    def faulted(self) -> set[str]:
        """The nodes of the sections located faulted and not repaired yet."""
        return {n for s in self._faulted for n in region(self.topo, s)}

    def faulted_sections(self) -> list[str]:
        """The sections located faulted and not declared repaired."""
        return sorted(self._faulted)

    def clear_fault(self, section: str) -> bool:
        """The section is repaired: restoration may energise it again."""
        return self._faulted.pop(section, None) is not None

    # --- reading the plant --------------------------------------------------------------
    def _v(self, device: str, signal: str) -> Any:
        tag = self.store.get(f"{self.sname}.{device}.{signal}")
        return None if tag is None or tag.quality is not Quality.GOOD else tag.value

    def _busy(self) -> bool:
        return self.ex.state in ("checking", "running")

    def _mine(self, ev: Event) -> bool:
        """The executor's ticket is this event's (or it does not say which it runs)."""
        return ev.ticket is not None and getattr(self.ex, "ticket", ev.ticket) is ev.ticket

    def _bus_dead(self, incomer: str) -> bool:
        kv = self.system.network.buses[self.topo.breakers[incomer][0]].voltage_kv
        u = self._v(incomer, "uab")
        return self._v(incomer, "undervoltage") is True or (
            isinstance(u, int | float) and u < DEAD_FRACTION * kv)

    def _supply_dead(self, incomer: str) -> bool:
        bus = self.topo.breakers[incomer][0]
        return (self._v(incomer, "line_live") is False and self._bus_dead(incomer)
                and self._v(incomer, "trip_code") in (0, UNDERVOLTAGE)
                and bus not in self.faulted())

    def _picked_up(self) -> bool:
        return any(self._v(b, "picked_up") is True for b in self.topo.breakers)

    def _uv_tripped(self) -> list[str]:
        return sorted(b for b in self.topo.breakers
                      if self._v(b, "trip_code") == UNDERVOLTAGE)

    # --- the scan -----------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        snap = snapshot(self.store, self.sname, self.system, self.faulted())
        if not self.adopted:
            self._adopt(snap, now)
            return
        self._fed = fed = energised(snap, self.topo, surely=True)
        self._watch_faulted(fed)
        if self.event is not None and self.state in (*ACTIVE, "proposal"):
            self._measure(fed, now)
        await self._take_reports(now)
        if self.state == "planning":
            await self._planning(snap, now)
        elif self.state in ("isolating", "restoring"):
            await self._running(snap, now)
        elif self.state == "proposal":
            self._proposal(snap, now)
        if self.state not in ACTIVE:
            self._watch_supplies(now)

    def _adopt(self, snap: PlantState, now: float) -> None:
        """The first scan with the incomers' data good: take the plant as it is, write
        nothing; a supply already lost is proposed, not transferred."""
        incs = [i for s in self.system.network.sources for i in incomers(self.topo, s)]
        if any(self._v(i, "line_live") is None for i in incs):
            self._status(say("waiting for good data from the incomers' relays"))
            return
        self.adopted = True
        self._set("idle", say("adopted the plant as it is: nothing re-run"))
        for s in self.system.network.sources:
            incs = incomers(self.topo, s)
            if incs and all(self._supply_dead(i) for i in incs):
                self._loss_seen.add(s)
                self._new(Event("supply loss", now, False, source=s), now)
                return

    def _watch_faulted(self, fed: set[str]) -> None:
        """A faulted section seen dead and then energised was repaired and switched in
        (by an operator): it is no longer faulted."""
        for s, seen in list(self._faulted.items()):
            nodes = region(self.topo, s)
            if not nodes & fed:
                self._faulted[s] = True
            elif seen:
                log.warning("%s: %s energised again: taken as repaired", self.path, s)
                del self._faulted[s]

    def _measure(self, fed: set[str], now: float) -> None:
        ev = self.event
        assert ev is not None
        if ev.plan is None:
            return
        want, p1 = set(ev.plan.loads), set(ev.plan.priority1)
        if ev.was_dead and ev.last is not None:       # dead from that scan to this one
            ev.dead_s += now - ev.last
        ev.was_dead = not want <= fed
        ev.seen_dead = ev.seen_dead or ev.was_dead
        ev.last = now
        if not (ev.seen_dead or ev.done_at is not None):
            return
        if ev.p1_at is None and p1 <= fed:
            ev.p1_at = now
        if ev.all_at is None and want <= fed:
            ev.all_at = now

    # --- events -------------------------------------------------------------------------
    async def _take_reports(self, now: float) -> None:
        reports, self._pending = self._pending, []
        for r in reports:
            started = getattr(r, "started_at", None)
            started = float(started) if isinstance(started, int | float) else now
            f = _fault(r, self.topo)
            key = (f.section, f.nearest, round(started, 3))
            if key in self._handled:
                log.info("%s: fault %s already handled", self.path, key)
                continue
            self._handled.add(key)
            if f.section is None and f.opened and all(
                    self._v(b, "trip_code") == UNDERVOLTAGE for b in f.opened):
                continue                    # undervoltage trips: a supply loss, not a fault
            if f.section in self.topo.kind:        # seen dead already, or not yet
                self._faulted.setdefault(
                    f.section, not region(self.topo, f.section) & self._fed)
            ev = self.event
            if ev is not None and self.state in (*ACTIVE, "proposal"):
                await self._supersede(ev, f, started, now)
            else:
                self._new(Event("fault", started, self.cfg.auto, [f]), now)

    async def _supersede(self, ev: Event, report: Fault, started: float, now: float) -> None:
        section = report.section or "?"
        if self.state in ("isolating", "restoring") and self._busy() and self._mine(ev):
            await self.ex.abort(SOURCE)
            text = say("restoration after the {what} superseded by a fault on {section}: its "
                       "ticket aborted, re-planned from the plant as it is", what=ev.what,
                       section=section)
        else:
            text = say("restoration after the {what} superseded by a fault on {section}: "
                       "re-planned from the plant as it is", what=ev.what, section=section)
        self._keep(now, text, self._data(ev, "superseded"))
        if ev.what == "fault":
            new = Event("fault", min(ev.started, started), ev.auto, [*ev.faults, report])
        else:
            if ev.what == "supply loss":           # seen again once the fault is handled
                self._loss_seen.discard(str(ev.source))
            new = Event("fault", started, self.cfg.auto, [report])
        self._new(new, now)

    def _new(self, ev: Event, now: float) -> None:
        self.event, ev.since = ev, now
        what = say("the fault on {sections}", sections=ev.sections()) if ev.what == "fault" \
            else say("the loss of supply {source}", source=ev.source) \
            if ev.what == "supply loss" else say("supply {source} back", source=ev.source)
        self._set("planning", say("planning after {what}", what=what))

    def _watch_supplies(self, now: float) -> None:
        picked = self._picked_up()
        for s in self.system.network.sources:
            incs = incomers(self.topo, s)
            dead = bool(incs) and all(self._supply_dead(i) for i in incs)
            if not dead:
                self._loss_since.pop(s, None)
                self._loss_seen.discard(s)
            elif picked:                       # a fault current flows: not a lost supply
                self._loss_since.pop(s, None)
            else:
                since = self._loss_since.setdefault(s, now)
                if s not in self._loss_seen and now - since >= self.cfg.dead_s:
                    self._loss_seen.add(s)
                    self._transferred.pop(s, None)
                    self._new(Event("supply loss", since, self.cfg.auto_transfer,
                                    source=s), now)
                    return
        for s, tie in list(self._transferred.items()):
            incs = incomers(self.topo, s)
            tie_closed = self._v(tie, "breaker_closed")
            inc_closed = [self._v(i, "breaker_closed") for i in incs]
            if tie_closed is None or None in inc_closed:
                continue                           # not known this scan: keep waiting
            if tie_closed is False or any(inc_closed):
                del self._transferred[s]            # changed by someone else: theirs now
                self._return_since.pop(s, None)
                continue
            if all(self._v(i, "line_live") is True for i in incs):
                since = self._return_since.setdefault(s, now)
                if now - since >= RETURN_S:
                    del self._transferred[s]
                    self._return_since.pop(s, None)
                    self._new(Event("supply return", now, self.cfg.auto_transfer,
                                    source=s), now)
                    return
            else:
                self._return_since.pop(s, None)

    # --- planning and running -----------------------------------------------------------
    def _plan(self, ev: Event, snap: PlantState) -> Plan:
        closed = conducting(snap, surely=False)      # a bay not known may conduct
        live = live_sources(snap, self.topo)
        faulted = sorted(self._faulted)
        if ev.what == "fault":
            return plan_fault(self.topo, closed, ev.faults, live=live,
                              reclose=self._uv_tripped(), capacity_kw=self.capacity_kw,
                              allow_parallel=self.allow_parallel)
        assert ev.source is not None
        if ev.what == "supply loss":
            return plan_supply_loss(self.topo, closed, ev.source,
                                    live=[s for s in live if s != ev.source],
                                    reclose=self._uv_tripped(), faulted=faulted,
                                    capacity_kw=self.capacity_kw,
                                    allow_parallel=self.allow_parallel)
        return plan_return(self.topo, closed, ev.source, live=live, faulted=faulted,
                           allow_parallel=self.allow_parallel)

    async def _planning(self, snap: PlantState, now: float) -> None:
        ev = self.event
        assert ev is not None
        if self._busy():
            limit = self.cfg.restore_within_s
            if now - ev.since > limit:
                await self._fail(say("switching was busy with another ticket for more than "
                                     "{limit:.0f} s: restoration not started, the operator "
                                     "decides ({status})", limit=limit,
                                     status=self.ex.status), now)
            else:
                self._status(say("waiting for the running ticket to end: {status}",
                                 status=self.ex.status))
            return
        plan = self._plan(ev, snap)
        ev.plan = ev.first = plan
        self.store.update(self.tags["plan"], plan.text())
        if plan.refused:
            await self._fail(plan.refused, now)
            return
        if not plan.steps:
            await self._finish(now)
            return
        if not ev.auto:
            self._set("proposal", say("automatic restoration is off: the plan is proposed "
                                      "to the operator: {plan}", plan=plan.explain()))
            self._keep(now, self.status, self._data(ev, "proposed"))
            return
        if plan.isolate:
            await self._start(ev, plan.isolate, "isolating", now)
        else:
            await self._start(ev, plan.restore, "restoring", now)

    async def _start(self, ev: Event, steps: list[PlanStep], phase: str, now: float) -> None:
        """Start ``steps`` as a ticket; a breaker to close whose trip is latched has its
        latch reset first, and the ticket waits for the latches to read 0 (the executor
        refuses a close onto a latched trip)."""
        if phase == "restoring":
            latched = [s.step.device for s in steps if s.step.part == "breaker"
                       and s.step.action == "close"
                       and self._v(s.step.device, "trip_code") not in (0, None)]
            for dev in latched:
                why = await self.ex.reset_trip(dev)
                if why is not None:
                    await self._fail(why, now)
                    return
            if latched:
                ev.queued, ev.resetting, ev.since, ev.ticket = steps, latched, now, None
                self._set(phase, say("trip latches reset on {breakers}: waiting for them to "
                                     "read reset", breakers=",".join(latched)))
                return
        await self._ticket(ev, steps, phase, now)

    async def _ticket(self, ev: Event, steps: list[PlanStep], phase: str, now: float) -> None:
        ev.queued, ev.resetting = [], []
        why = say("transfer back to supply {source}", source=ev.source) \
            if ev.what == "supply return" else self._what(ev)
        try:
            ev.ticket = self.ex.start([s.step for s in steps], why, SOURCE)
        except ValueError as e:              # TicketError: busy, no steps
            await self._fail(str(e), now)
            return
        ev.steps, ev.since = steps, now
        self._set(phase, self._phase_text(phase, self.ex.status))

    def _phase_text(self, phase: str, status: str) -> str:
        if phase == "isolating":
            return say("isolating the faulted section: {status}", status=status)
        return say("restoring supply: {status}", status=status)

    async def _running(self, snap: PlantState, now: float) -> None:
        ev = self.event
        assert ev is not None and ev.plan is not None
        if ev.queued:
            if all(self._v(b, "trip_code") == 0 for b in ev.resetting):
                await self._ticket(ev, ev.queued, "restoring", now)
            elif now - ev.since > self.clock.guard_timeout(self.step_s):
                await self._fail(say("the trip latches of {breakers} do not read reset",
                                     breakers=",".join(ev.resetting)), now)
            return
        mine = self._mine(ev)
        if mine and self._busy():
            guard = (len(ev.steps) + 1) * (self.step_s + self.settle_s) + 10.0
            if now - ev.since > self.clock.guard_timeout(guard):
                await self.ex.abort(SOURCE)
                await self._fail(say("the ticket did not end within {limit:.0f} s: aborted",
                                     limit=guard), now)
                return
            self._status(self._phase_text(self.state, self.ex.status))
            return
        outcome = self.ex.state if mine else \
            ("done" if _reached(ev.steps, snap) else "failed")
        if outcome != "done":
            await self._fail(self.ex.status if mine else say(
                "another ticket replaced the restoration's before its end was seen"), now)
            return
        if self.state == "isolating":
            again = self._plan(ev, snap)
            if again.refused:
                await self._fail(again.refused, now)
                return
            if again.isolate:
                await self._fail(say("the faulted section did not stay isolated: {plan}",
                                     plan=again.text()), now)
                return
            ev.plan = again
            if again.restore:
                await self._start(ev, again.restore, "restoring", now)
            else:
                await self._finish(now)
            return
        if ev.done_at is None:
            ev.done_at = now
            self._measure(self._fed, now)
        if ev.all_at is not None or not ev.plan.loads or now - ev.done_at >= self.settle_s:
            await self._finish(now)

    def _proposal(self, snap: PlantState, now: float) -> None:
        """The operator carries the proposal out: timed and recorded when reached."""
        ev = self.event
        assert ev is not None and ev.plan is not None
        if _reached(ev.plan.steps, snap):
            ev.done_at = ev.done_at if ev.done_at is not None else now
            self._measure(self._fed, now)
            if ev.all_at is not None or now - ev.done_at >= self.settle_s:
                self._finish_now(now, by="operator")

    # --- the end ------------------------------------------------------------------------
    async def _finish(self, now: float) -> None:
        self._finish_now(now, by="auto")

    def _finish_now(self, now: float, by: str) -> None:
        ev = self.event
        assert ev is not None and ev.plan is not None
        plan = ev.plan
        p1 = (ev.p1_at if ev.p1_at is not None else now) - ev.started \
            if plan.priority1 else 0.0
        all_s = (ev.all_at if ev.all_at is not None else now) - ev.started \
            if plan.loads else 0.0
        limit = self.cfg.restore_within_s
        unseen = sorted(set(plan.loads) - self._fed)
        if ev.what == "supply return":
            took = now - ev.since
            text = say("transfer back to supply {source} in {s:.1f} s: loads dead for about "
                       "{dead:.1f} s between the steps (break-before-make)",
                       source=ev.source, s=took, dead=ev.dead_s)
        elif not plan.loads:
            text = say("{what}: no healthy load lost supply: nothing to re-energise",
                       what=self._what(ev))
        else:
            text = say("{what}: level-1 loads re-energised in {p1:.1f} s, every healthy load "
                       "in {all:.1f} s (target {limit:.0f} s)", what=self._what(ev), p1=p1,
                       all=all_s, limit=limit)
            self.store.update(self.tags["last_s"], round(all_s, 2))
            self.store.update(self.tags["priority1_s"], round(p1, 2))
        if ev.what == "fault" and not plan.loads:
            self.store.update(self.tags["last_s"], 0.0)
            self.store.update(self.tags["priority1_s"], 0.0)
        if unseen:
            text += "; " + say("not seen re-energised: {loads}", loads=",".join(unseen))
        if plan.dead:
            dead_loads = [n for n in sorted(plan.dead) if self.topo.kind.get(n) == "load"
                          and n not in plan.faulted]          # healthy, but out of reach
            if dead_loads:
                text += "; " + say("left dead: {loads}", loads=",".join(dead_loads))
        if by == "operator":
            text += "; " + say("carried out by the operator")
        if ev.what == "supply loss" and plan.tie:
            self._transferred[str(ev.source)] = plan.tie
        data = self._data(ev, "done") | {"priority1_s": round(p1, 2),
                                         "all_s": round(all_s, 2), "by": by,
                                         "within_target": all_s <= limit,
                                         "not_seen": unseen, "dead_s": round(ev.dead_s, 2)}
        self._set("done", text)
        self._keep(now, text, data)

    def _what(self, ev: Event) -> str:
        if ev.what == "fault":
            return say("restoration after the fault on {sections}", sections=ev.sections())
        return say("transfer after the loss of supply {source}", source=ev.source)

    async def _fail(self, why: str, now: float) -> None:
        ev = self.event
        text = say("restoration failed: {why}", why=why)
        self._set("failed", text)
        if ev is not None:
            self._keep(now, text, self._data(ev, "failed"))

    def _data(self, ev: Event, outcome: str) -> dict[str, Any]:
        plan = ev.first or ev.plan
        return {"what": ev.what, "outcome": outcome, "started": ev.started,
                "ended": self.clock.now(), "source": ev.source,
                "faults": [{"section": f.section, "nearest": getattr(f, "nearest", None),
                            "verdict": getattr(f, "verdict", ""),
                            "opened": list(getattr(f, "opened", ()) or ())}
                           for f in ev.faults],
                "plan": plan.explain() if plan else "",
                "steps": [s.text() for s in plan.steps] if plan else [],
                "dead": dict(plan.dead) if plan else {},
                "priority1": list(ev.plan.priority1) if ev.plan else [],
                "loads": list(ev.plan.loads) if ev.plan else [],
                "target_s": self.cfg.restore_within_s}

    def _keep(self, now: float, text: str, data: dict[str, Any]) -> None:
        """A record for the report and the bench: the log, and the historian as an event
        of kind "power" (the tags hold only the last one)."""
        log.warning("%s: %s", self.path, text)
        if self.historian is not None:
            self.historian.event(now, "power", self.path, text, data)

    def _set(self, state: str, status: str) -> None:
        self.state = state
        self.store.update(self.tags["state"], state)
        self._status(status)

    def _status(self, status: str) -> None:
        self.status = status
        self.store.update(self.tags["status"], status)


def _fault(report: Any, topo: Topology) -> Fault:
    """A fault report as a plan takes it, whatever a report holds (a field missing or of
    the wrong type reads as not located)."""
    sec, near = getattr(report, "section", None), getattr(report, "nearest", None)
    opened = getattr(report, "opened", ()) or ()
    return Fault(sec if isinstance(sec, str) else None,
                 near if isinstance(near, str) else None,
                 tuple(b for b in opened if isinstance(b, str) and b in topo.breakers)
                 if isinstance(opened, list | tuple | set | frozenset) else (),
                 str(getattr(report, "verdict", "")))


def _reached(steps: Iterable[PlanStep], snap: PlantState) -> bool:
    """Every device of ``steps`` stands where the last step on it leaves it."""
    want: dict[tuple[str, str], str] = {}
    for s in steps:
        want[(s.step.device, s.step.part)] = "closed" if s.step.action == "close" else "open"
    for (dev, part), pos in want.items():
        bay = snap.bays.get(dev)
        if bay is None or getattr(bay, part) != pos:
            return False
    return True


# ------------------------------------------------------------------------------------------
# what the lead wires
# ------------------------------------------------------------------------------------------
def wire(ctx: BuildContext, sname: str, system: PowerSystem,
         executor: ExecutorLike, waits: Waits | None = None) -> Restorer:
    """The restorer, its scan (after the executor's) and its records to the historian;
    the caller subscribes ``restorer.on_fault`` to the fault records."""
    r = Restorer(sname, system, ctx.store, ctx.clock, executor, waits=waits)
    ctx.scan(r.path, r.scan, r.published)

    def records_to(historian: Any) -> None:
        r.historian = historian
    ctx.on_start(records_to)
    return r


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    """The tags restoration publishes, with their kinds."""
    return {f"{sname}.restore.{n}": k for n, (k, _d) in RESTORE_TAGS.items()}


TEXTS: dict[str, str] = {
    "planning": "规划中", "isolating": "隔离中", "restoring": "恢复中", "proposal": "待确认方案",
    "no restoration since the controller started": "控制器启动以来未进行恢复供电",
    "waiting for good data from the incomers' relays": "等待进线保护装置数据有效",
    "adopted the plant as it is: nothing re-run": "按现场现状接管：不重新执行",
    "restoration after the {what} superseded by a fault on {section}: its ticket aborted, "
    "re-planned from the plant as it is": "{what}后的恢复被 {section} 上的新故障取代："
    "其操作票已中止，按现场现状重新规划",
    "restoration after the {what} superseded by a fault on {section}: re-planned from the "
    "plant as it is": "{what}后的恢复被 {section} 上的新故障取代：按现场现状重新规划",
    "the fault on {sections}": "{sections} 故障",
    "the loss of supply {source}": "电源 {source} 失电",
    "supply {source} back": "电源 {source} 来电",
    "planning after {what}": "{what}后规划中",
    "switching was busy with another ticket for more than {limit:.0f} s: restoration not "
    "started, the operator decides ({status})": "倒闸操作被其他操作票占用超过 {limit:.0f} s："
    "未开始恢复供电，由操作员处理（{status}）",
    "waiting for the running ticket to end: {status}": "等待正在执行的操作票结束：{status}",
    "automatic restoration is off: the plan is proposed to the operator: {plan}":
        "自动恢复已关闭：方案提交操作员：{plan}",
    "transfer back to supply {source}": "倒回电源 {source}",
    "restoration after the fault on {sections}": "{sections} 故障后恢复供电",
    "isolating the faulted section: {status}": "隔离故障区段：{status}",
    "restoring supply: {status}": "恢复供电：{status}",
    "the ticket did not end within {limit:.0f} s: aborted": "操作票 {limit:.0f} s 内未结束：已中止",
    "another ticket replaced the restoration's before its end was seen":
        "恢复供电的操作票结束前被其他操作票取代",
    "the faulted section did not stay isolated: {plan}": "故障区段未保持隔离：{plan}",
    "trip latches reset on {breakers}: waiting for them to read reset":
        "已复归 {breakers} 的跳闸：等待回读确认复归",
    "the trip latches of {breakers} do not read reset": "{breakers} 的跳闸回读未复归",
    "transfer back to supply {source} in {s:.1f} s: loads dead for about {dead:.1f} s "
    "between the steps (break-before-make)": "倒回电源 {source} 用时 {s:.1f} s："
    "两步之间负荷停电约 {dead:.1f} s（先断后合）",
    "{what}: no healthy load lost supply: nothing to re-energise":
        "{what}：无健全负荷失电：无需恢复",
    "{what}: level-1 loads re-energised in {p1:.1f} s, every healthy load in {all:.1f} s "
    "(target {limit:.0f} s)": "{what}：一级负荷 {p1:.1f} s 恢复供电，全部健全负荷 {all:.1f} s"
    "（目标 {limit:.0f} s）",
    "not seen re-energised: {loads}": "未见恢复供电：{loads}",
    "left dead: {loads}": "保持停电：{loads}",
    "carried out by the operator": "由操作员执行",
    "transfer after the loss of supply {source}": "电源 {source} 失电后切换",
    "restoration failed: {why}": "恢复供电失败：{why}",
}
IDS = frozenset({"sections", "loads", "source", "section", "breakers"})
