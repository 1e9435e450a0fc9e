"""Restoration plans (FLISR) and supply transfer: pure functions of the topology and the
breakers' states, so the controller (``restore.py``), the bench and a test reason about
one plan.

A plan is an ordered list of switching steps, each with its reason, and what stays dead
and why:

- **after a located fault** (``plan_fault``): the faulted section is isolated (every
  breaker bounding it that is closed is opened; when the nearest breaker failed to open
  and the breaker-failure backup cleared the fault upstream, it is commanded open again,
  now dead: its disconnector is interlocked with it and no way out), then the healthy
  sections that lost supply are re-energised from the supply side outwards, closing only
  breakers the protection opened (or that tripped on undervoltage): the closing order
  among those that can close next is by the best load priority behind each (level-1
  loads, fans and pumps, first). No breaker is closed whose closing would energise a
  faulted section (checked on the state the close leaves, ``Topology.feeds``). When the
  normal path is gone (the supply behind a central bus section dead), the bus tie closes
  if the other supply can carry the load (see capacity below) and the supplies are not
  paralleled by it;
- **on loss of a supply** (``plan_supply_loss``): its dead incomer is opened, then the bus
  tie closed (never both incomers closed with the tie: the supplies may not be
  paralleled unless ``allow_parallel``); if the tie cannot close, the incomer stays closed
  so that the supply's return re-energises the bus by itself;
- **when it returns** (``plan_return``): transfer back. With no paralleling allowed a
  make-before-break is impossible, so it is break-before-make: the tie opens, then the
  incomer closes, and the section is dead for the moment between the two steps.

Capacity: the config has no capacity figure for a supply. The Coal Mine Safety
Regulations (煤矿安全规程) require either supply to carry the whole mine load when the
other fails, so by default a supply's capacity is the sum of every load in the network
(``SUPPLY_CAPACITY_KW`` None); a plan may be given a smaller ``capacity_kw``, and a tie
whose closing would load a supply beyond it is not closed (said in what stays dead).

The breaker-state map (``closed``) says whether each bay conducts (breaker and
disconnector closed); a bay whose state is not known should be given as conducting (the
safe side for "never energise a faulted section").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fixedsite.sequences.power.interlocks import Step
from fixedsite.sequences.power.topology import Topology
from fixedsite.texts import say

SUPPLY_CAPACITY_KW: float | None = None   # None: each supply carries the whole mine load
ALLOW_PARALLEL = False                    # the supplies never run in parallel through a tie
VERDICT_BF = "breaker failure backup"
VERDICT_NOT_LOCATED = "not located"


class FaultLike(Protocol):
    """What a plan needs of a located fault (``locate.FaultReport`` has it)."""

    @property
    def section(self) -> str | None: ...

    @property
    def nearest(self) -> str | None: ...

    @property
    def opened(self) -> Sequence[str]: ...

    @property
    def verdict(self) -> str: ...


@dataclass(frozen=True)
class Fault:
    """A fault as a plan takes it (tests, the bench): a ``FaultLike`` of its own."""

    section: str | None
    nearest: str | None = None
    opened: Sequence[str] = ()
    verdict: str = "selective"


@dataclass(frozen=True)
class PlanStep:
    """One switching step of a plan: ``kind`` isolate (cutting a faulted section off),
    incomer (opening a dead supply's incomer before the tie closes), tie (a bus tie
    closing or opening), restore (re-closing a healthy section)."""

    step: Step
    kind: str
    reason: str
    energises: tuple[str, ...] = ()        # loads this step re-energises

    def text(self) -> str:
        return self.step.text()


@dataclass
class Plan:
    what: str                                      # fault | supply loss | supply return
    steps: list[PlanStep] = field(default_factory=list)
    dead: dict[str, str] = field(default_factory=dict)   # node -> why it stays dead
    refused: str = ""                              # why nothing is switched (empty: a plan)
    lost: tuple[str, ...] = ()                     # loads that lost supply
    loads: tuple[str, ...] = ()                    # healthy loads the plan re-energises
    priority1: tuple[str, ...] = ()                # of those, the level-1 loads
    faulted: tuple[str, ...] = ()                  # nodes of the faulted sections

    @property
    def isolate(self) -> list[PlanStep]:
        return [s for s in self.steps if s.kind == "isolate"]

    @property
    def restore(self) -> list[PlanStep]:
        return [s for s in self.steps if s.kind != "isolate"]

    @property
    def tie(self) -> str | None:
        """The bus tie this plan closes, if any."""
        return next((s.step.device for s in self.steps
                     if s.kind == "tie" and s.step.action == "close"), None)

    def text(self) -> str:
        """The steps as an operator writes a ticket (``ticket.parse`` reads it back)."""
        return "; ".join(s.text() for s in self.steps)

    def explain(self) -> str:
        """Each step with its reason, then what stays dead and why (for the record)."""
        parts = [say("{n}. {step}: {why}", n=n, step=s.text(), why=s.reason)
                 for n, s in enumerate(self.steps, 1)]
        parts += [say("{node} stays dead: {why}", node=n, why=w)
                  for n, w in sorted(self.dead.items())]
        if self.refused:
            parts.insert(0, self.refused)
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------
# the network's pieces
# ------------------------------------------------------------------------------------------
def region(topo: Topology, section: str) -> set[str]:
    """The section and what is tied to it without a breaker: what a fault in it makes
    faulted (``Topology.bounding`` isolates exactly this)."""
    seen, todo = {section}, [section]
    while todo:
        n = todo.pop()
        for a, b in topo.fixed:
            for x, y in ((a, b), (b, a)):
                if x == n and y not in seen and topo.kind.get(y) != "source":
                    seen.add(y)
                    todo.append(y)
    return seen


def incomers(topo: Topology, source: str) -> list[str]:
    """The breakers that connect ``source`` to its bus."""
    return sorted(b for b, (_bus, feeds) in topo.breakers.items() if feeds == source)


def ties(topo: Topology) -> list[str]:
    """The normally open breakers between two buses (bus ties)."""
    return sorted(b for b, (bus, feeds) in topo.breakers.items()
                  if topo.kind.get(feeds) == "bus"
                  and topo.system.equipment[b].normally_open)   # type: ignore[union-attr]


def paralleled(topo: Topology, closed: Mapping[str, bool]) -> list[str]:
    """The supplies connected to each other through closed breakers (live or not: a dead
    supply may come back), empty if none are."""
    reach = {s: set(topo.feeds(closed, [s])) - {s} for s in topo.system.network.sources}
    out: set[str] = set()
    names = sorted(reach)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if reach[a] & reach[b]:
                out |= {a, b}
    return sorted(out)


def _loads(topo: Topology, nodes: Iterable[str]) -> list[str]:
    return sorted(n for n in nodes if topo.kind.get(n) == "load")


def _priority(topo: Topology, load: str) -> int:
    return topo.system.network.loads[load].priority


def _kw(topo: Topology, loads: Iterable[str]) -> float:
    return sum(topo.system.network.loads[ld].p_kw for ld in loads)


# ------------------------------------------------------------------------------------------
# the simulation a plan is made on
# ------------------------------------------------------------------------------------------
@dataclass
class _Sim:
    topo: Topology
    state: dict[str, bool]
    live: list[str]
    forbidden: set[str]                            # faulted nodes: never energised
    capacity_kw: float
    allow_parallel: bool
    steps: list[PlanStep] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)   # node -> why a tie did not

    def fed(self, state: Mapping[str, bool] | None = None) -> dict[str, str]:
        """Each energised node and its supply."""
        fs = self.topo.feeds(self.state if state is None else state, self.live)
        return {n: f.source for n, f in fs.items()}

    def do(self, device: str, part: str, action: str, kind: str, reason: str,
           energises: Iterable[str] = ()) -> None:
        self.steps.append(PlanStep(Step(device, part, action),        # type: ignore[arg-type]
                                   kind, reason, tuple(sorted(energises))))
        if part == "breaker" or action == "open":
            self.state[device] = action == "close"

    # --- re-energising ----------------------------------------------------------------
    def reenergise(self, lost: set[str], candidates: set[str], tie_ok: bool) -> None:
        """Close, one at a time, the candidate that re-energises lost nodes with the best
        load priority behind it; the tie only when no other candidate can."""
        ties_ = set(ties(self.topo)) if tie_ok else set()
        normal = candidates - ties_
        while True:
            fed = self.fed()
            missing = lost - set(fed)
            if not missing:
                return
            best = self._best_normal(normal, fed, missing)
            if best is not None:
                c, gain = best
                loads = _loads(self.topo, gain)
                self.do(c, "breaker", "close", "restore",
                        say("re-energises {nodes}", nodes=", ".join(loads))
                        if loads else say("re-energises {nodes} on the way to the loads",
                                          nodes=", ".join(sorted(gain))), loads)
                continue
            if not self._tie(ties_, fed, missing):
                return

    def _closable(self, trial: Mapping[str, bool]) -> dict[str, str] | None:
        """The nodes fed on ``trial``, None if it would energise a faulted node."""
        fed = self.fed(trial)
        return None if self.forbidden & set(fed) else fed

    def _behind(self, c: str, candidates: set[str], missing: set[str]) -> list[str]:
        """The lost loads whose supply depends on ``c`` once every candidate is closed."""
        target = dict(self.state) | {b: True for b in candidates}
        if self.forbidden & set(self.fed(target)):
            target = dict(self.state)
        target[c] = True
        with_c, without = self.fed(target), self.fed(target | {c: False})
        return _loads(self.topo, (set(with_c) - set(without)) & missing)

    def _key(self, c: str, behind: list[str]) -> tuple[int, int, str]:
        best = min((_priority(self.topo, ld) for ld in behind), default=9)
        return best, self.topo.level(c), c

    def _best_normal(self, normal: set[str], fed: Mapping[str, str],
                     missing: set[str]) -> tuple[str, set[str]] | None:
        out: tuple[tuple[int, int, str], str, set[str]] | None = None
        for c in sorted(normal):
            if self.state.get(c):
                continue
            fed2 = self._closable(self.state | {c: True})
            if fed2 is None:
                continue
            gain = (set(fed2) - set(fed)) & missing
            if not gain:
                continue
            key = self._key(c, self._behind(c, normal, missing))
            if out is None or key < out[0]:
                out = (key, c, gain)
        return None if out is None else (out[1], out[2])

    def _tie(self, ties_: set[str], fed: Mapping[str, str], missing: set[str]) -> bool:
        """Close the best tie that re-energises lost nodes (its dead side's incomers
        opened first); False if none can."""
        best: tuple[tuple[int, int, str], str, list[str], set[str], str] | None = None
        for t in sorted(ties_):
            if self.state.get(t):
                continue
            pre = self._dead_incomers(t)
            trial = dict(self.state) | {b: False for b in pre} | {t: True}
            fed2 = self._closable(trial)
            if fed2 is None:
                continue
            gain = (set(fed2) - set(fed)) & missing
            if not gain:
                continue
            src = fed2[next(iter(sorted(gain)))]
            if not self.allow_parallel and paralleled(self.topo, trial):
                why = say("closing the tie {breaker} would parallel the supplies", breaker=t)
                self.refusals |= dict.fromkeys(gain, why)
                continue
            kw = _kw(self.topo, _loads(self.topo, (n for n, s in fed2.items() if s == src)))
            if kw > self.capacity_kw:
                why = say("closing the tie {breaker} would load supply {source} with "
                          "{kw:.0f} kW, over its {cap:.0f} kW", breaker=t, source=src,
                          kw=kw, cap=self.capacity_kw)
                self.refusals |= dict.fromkeys(gain, why)
                continue
            key = self._key(t, _loads(self.topo, gain))
            if best is None or key < best[0]:
                reason = say("bus tie: feeds {nodes} from supply {source} ({kw:.0f} kW of "
                             "{cap:.0f} kW)", nodes=", ".join(sorted(
                                 n for n in gain if self.topo.kind.get(n) == "bus")),
                             source=src, kw=kw, cap=self.capacity_kw)
                best = (key, t, pre, gain, reason)
        if best is None:
            return False
        _key, t, pre, gain, reason = best
        for b in pre:
            self.do(b, "breaker", "open", "incomer", say(
                "supply {source} is dead: its incomer opens before the tie closes (the "
                "supplies are never paralleled)", source=self.topo.breakers[b][1]))
        self.do(t, "breaker", "close", "tie", reason, _loads(self.topo, gain))
        return True

    def _dead_incomers(self, tie: str) -> list[str]:
        """Closed incomers of dead supplies on the side of ``tie`` that is dead: opened
        before the tie closes, so that the supply's return cannot parallel the two."""
        a, b = self.topo.breakers[tie]
        dead_side = b if a in self.fed() else a
        comp = set(self.topo.feeds(self.state, [dead_side]))   # reached through closed bays
        return sorted(x for x, (bus, feeds) in self.topo.breakers.items()
                      if self.state.get(x) and self.topo.kind.get(feeds) == "source"
                      and feeds not in self.live and bus in comp)

    # --- what stays dead ----------------------------------------------------------------
    def dead(self, lost: set[str], opened_by_plan: set[str]) -> dict[str, str]:
        fed = self.fed()
        everything = {b: b not in opened_by_plan for b in self.topo.breakers}
        reach_live = self.topo.feeds(everything, self.live, dead=self.forbidden)
        reach_any = self.topo.feeds(everything, list(self.topo.system.network.sources),
                                    dead=self.forbidden)
        out: dict[str, str] = {}
        for n in sorted(lost - set(fed)):
            if n in self.forbidden:
                out[n] = say("the faulted section: isolated until repaired")
            elif n in self.refusals:
                out[n] = self.refusals[n]
            elif n not in reach_any:
                out[n] = say("fed only through the faulted section")
            elif n not in reach_live:
                out[n] = say("no live supply can reach it")
            else:
                stand = [b for b in reach_live[n].breakers if not self.state.get(b)]
                out[n] = say("behind {breakers}, open and not opened by the protection: "
                             "left for the operator", breakers=", ".join(stand))
        return out


def _sim(topo: Topology, closed: Mapping[str, bool], live: Iterable[str] | None,
         forbidden: set[str], capacity_kw: float | None, allow_parallel: bool) -> _Sim:
    cap = capacity_kw if capacity_kw is not None else SUPPLY_CAPACITY_KW
    if cap is None:
        cap = _kw(topo, topo.system.network.loads)
    state = {b: bool(closed.get(b, False)) for b in topo.breakers}
    srcs = list(topo.system.network.sources if live is None else live)
    return _Sim(topo, state, srcs, forbidden, cap, allow_parallel)


def _finish(plan: Plan, sim: _Sim, lost: set[str], isolated: set[str]) -> Plan:
    fed = set(sim.fed())
    plan.steps = sim.steps
    plan.dead = sim.dead(lost, isolated)
    plan.lost = tuple(_loads(sim.topo, lost))
    plan.loads = tuple(_loads(sim.topo, lost & fed))
    plan.priority1 = tuple(ld for ld in plan.loads if _priority(sim.topo, ld) == 1)
    plan.faulted = tuple(sorted(sim.forbidden))
    return plan


# ------------------------------------------------------------------------------------------
# the plans
# ------------------------------------------------------------------------------------------
def plan_fault(topo: Topology, closed: Mapping[str, bool], faults: Sequence[FaultLike], *,
               live: Iterable[str] | None = None, reclose: Iterable[str] = (),
               capacity_kw: float | None = None,
               allow_parallel: bool = ALLOW_PARALLEL) -> Plan:
    """Isolate every located fault of ``faults`` and re-energise what lost supply.

    ``closed``: each bay conducting now; ``live``: the supplies that are live (all by
    default); ``reclose``: breakers besides the faults' ``opened`` that may be closed
    again (those that tripped on undervoltage)."""
    plan = Plan("fault")
    forbidden: set[str] = set()
    for f in faults:
        if not f.section or f.section not in topo.kind or f.verdict == VERDICT_NOT_LOCATED:
            plan.refused = say("the fault is not located: nothing is switched automatically")
            return plan
        forbidden |= region(topo, f.section)
    sim = _sim(topo, closed, live, forbidden, capacity_kw, allow_parallel)
    normal = topo.normal()
    bounding = sorted({b for f in faults for b in topo.bounding(f.section or "")})
    opened = {b for f in faults for b in f.opened if b in topo.breakers}
    uv = {b for b in reclose if b in topo.breakers}
    before = dict(sim.state) | dict.fromkeys(opened | uv, True) | \
        {b: True for b in bounding if normal[b]}
    # what lost supply: fed before the fault (from any supply) and dead now
    every = list(topo.system.network.sources)
    lost = {n for n in topo.feeds(before, every) if topo.kind.get(n) != "source"} - \
        set(sim.fed())

    # isolation: a breaker that failed to open on its trip is commanded open once more,
    # now that the breaker-failure backup has made it dead (a trip coil or a latch that
    # failed once may work on the second command). Its disconnector is no way out: the
    # bay's mechanical interlock holds it while the breaker is closed, as it should. If
    # the breaker does not open, the isolation ticket fails there and nothing is re-closed:
    # the bay is for the crew to open by hand.
    stuck = {f.nearest for f in faults
             if f.verdict == VERDICT_BF and f.nearest in topo.breakers
             and sim.state.get(f.nearest)}
    for b in sorted(bounding, key=lambda x: (topo.level(x), x)):
        sec = next(f.section for f in faults if b in topo.bounding(f.section or ""))
        if b in stuck:
            sim.do(b, "breaker", "open", "isolate", say(
                "{breaker} failed to open on its trip: commanded open again with {section} "
                "dead (if it does not open, it is isolated by hand)", breaker=b,
                section=sec))
        elif sim.state.get(b):
            sim.do(b, "breaker", "open", "isolate",
                   say("bounds the faulted section {section}", section=sec))
    isolated = set(bounding)
    if forbidden & set(sim.fed()):          # cannot happen once all of them are open
        plan.refused = say("the faulted section cannot be isolated")
        return _finish(plan, sim, lost, isolated)
    candidates = (opened | uv) - isolated
    sim.reenergise(lost, candidates, tie_ok=True)
    return _finish(plan, sim, lost, isolated)


def plan_supply_loss(topo: Topology, closed: Mapping[str, bool], source: str, *,
                     live: Iterable[str] | None = None, reclose: Iterable[str] = (),
                     faulted: Iterable[str] = (), capacity_kw: float | None = None,
                     allow_parallel: bool = ALLOW_PARALLEL) -> Plan:
    """Supply ``source`` is lost: open its incomer, close the bus tie, re-close what
    tripped on undervoltage (``reclose``), level-1 loads first. ``live``: the supplies
    still live (all but ``source`` by default); ``faulted``: sections never energised."""
    plan = Plan("supply loss")
    srcs = [s for s in (topo.system.network.sources if live is None else live)
            if s != source]
    forbidden = {n for s in faulted if s in topo.kind for n in region(topo, s)}
    sim = _sim(topo, closed, srcs, forbidden, capacity_kw, allow_parallel)
    before = dict(sim.state) | {b: True for b in reclose if b in topo.breakers}
    every = list(topo.system.network.sources)
    lost = set(topo.feeds(before, every)) - set(sim.fed()) - forbidden
    lost = {n for n in lost if topo.kind.get(n) != "source"}
    sim.reenergise(lost, set(reclose), tie_ok=True)
    return _finish(plan, sim, lost, set())


def plan_return(topo: Topology, closed: Mapping[str, bool], source: str, *,
                live: Iterable[str] | None = None, faulted: Iterable[str] = (),
                allow_parallel: bool = ALLOW_PARALLEL) -> Plan:
    """Supply ``source`` is back: its bus is taken back from the tie. Break-before-make
    unless paralleling is allowed (then the incomer closes first)."""
    plan = Plan("supply return")
    srcs = list(topo.system.network.sources if live is None else live)
    forbidden = {n for s in faulted if s in topo.kind for n in region(topo, s)}
    sim = _sim(topo, closed, srcs, forbidden, None, allow_parallel)
    inc = [b for b in incomers(topo, source) if not sim.state.get(b)]
    if source not in srcs:
        plan.refused = say("supply {source} is not live: nothing to transfer back",
                           source=source)
        return plan
    if not inc:
        plan.refused = say("supply {source}'s incomer is closed already: nothing to "
                           "transfer back", source=source)
        return plan
    i = inc[0]
    bus = topo.breakers[i][0]
    fed = sim.topo.feeds(sim.state, srcs)
    tie = [b for b in (fed[bus].breakers if bus in fed else ())
           if b in ties(topo) and sim.state.get(b)]
    after = dict(sim.state) | dict.fromkeys(tie, False) | {i: True}
    if sim._closable(after) is None:
        plan.refused = say("closing {breaker} would energise a faulted section: not "
                           "transferred back", breaker=i)
        return plan
    moved = _loads(topo, set(topo.feeds(after, [source])))
    take = say("supply {source} is back: {breaker} takes {bus} back", source=source,
               breaker=i, bus=bus)
    if not tie:
        sim.do(i, "breaker", "close", "restore", take, moved)
    elif allow_parallel:
        sim.do(i, "breaker", "close", "restore", take, moved)
        for t in tie:
            sim.do(t, "breaker", "open", "tie", say("make-before-break (paralleling "
                                                   "allowed): the tie opens after"))
    else:
        for t in tie:
            sim.do(t, "breaker", "open", "tie", say(
                "break-before-make: the supplies may not run in parallel, so {bus} is dead "
                "from this step to the next", bus=bus))
        sim.do(i, "breaker", "close", "restore", take, moved)
    lost = set(moved)
    return _finish(plan, sim, lost, set())


TEXTS: dict[str, str] = {
    "supply loss": "失电", "supply return": "来电",
    "{n}. {step}: {why}": "{n}. {step}：{why}",
    "{node} stays dead: {why}": "{node} 保持停电：{why}",
    "re-energises {nodes}": "恢复 {nodes} 供电",
    "re-energises {nodes} on the way to the loads": "恢复 {nodes} 供电（通往负荷的路径）",
    "closing the tie {breaker} would parallel the supplies":
        "合上母联 {breaker} 将使两路电源并列",
    "closing the tie {breaker} would load supply {source} with {kw:.0f} kW, over its "
    "{cap:.0f} kW": "合上母联 {breaker} 将使电源 {source} 负荷达 {kw:.0f} kW，超过其 {cap:.0f} kW",
    "bus tie: feeds {nodes} from supply {source} ({kw:.0f} kW of {cap:.0f} kW)":
        "母联：由电源 {source} 向 {nodes} 供电（{kw:.0f} kW / {cap:.0f} kW）",
    "supply {source} is dead: its incomer opens before the tie closes (the supplies are "
    "never paralleled)": "电源 {source} 失电：合母联前先断开其进线（两路电源不并列）",
    "the faulted section: isolated until repaired": "故障区段：修复前保持隔离",
    "fed only through the faulted section": "只能经故障区段供电",
    "no live supply can reach it": "没有可用电源能送达",
    "behind {breakers}, open and not opened by the protection: left for the operator":
        "位于 {breakers} 之后，该开关分闸并非保护动作：留给操作员处理",
    "the fault is not located: nothing is switched automatically":
        "故障未定位：不自动进行任何操作",
    "bounds the faulted section {section}": "故障区段 {section} 的边界开关",
    "the faulted section cannot be isolated": "无法隔离故障区段",
    "{breaker} failed to open on its trip: commanded open again with {section} dead (if it "
    "does not open, it is isolated by hand)":
        "{breaker} 保护跳闸时拒动：{section} 已停电，再次遥控分闸（仍不能分闸则须就地手动隔离）",
    "supply {source} is not live: nothing to transfer back": "电源 {source} 未来电：无需倒回",
    "supply {source}'s incomer is closed already: nothing to transfer back":
        "电源 {source} 的进线已合上：无需倒回",
    "closing {breaker} would energise a faulted section: not transferred back":
        "合上 {breaker} 将使故障区段带电：不倒回",
    "supply {source} is back: {breaker} takes {bus} back":
        "电源 {source} 来电：由 {breaker} 恢复 {bus} 供电",
    "make-before-break (paralleling allowed): the tie opens after":
        "先合后断（允许并列）：随后断开母联",
    "break-before-make: the supplies may not run in parallel, so {bus} is dead from this "
    "step to the next": "先断后合：两路电源不得并列，本步至下一步之间 {bus} 停电",
}
IDS = frozenset({"breaker", "bus", "section", "source", "node"})
