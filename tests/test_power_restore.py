"""Restoration (FLISR) and supply transfer (issue 13, item 5) on the demo network
(``configs/power-site.toml``): the plans (pure), the never-close-onto-a-fault property over
every section and verdict, and the run-time restorer on soft tags under a manual clock,
with a small executor that moves the soft plant's breakers one step per scan (and, once,
the real switching executor with its interlocks)."""

from __future__ import annotations

import ast
import itertools
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixedsite.clock import ManualClock
from fixedsite.config import load
from fixedsite.sequences.power import restore, restore_plan
from fixedsite.sequences.power.config import PowerSystem
from fixedsite.sequences.power.interlocks import Step
from fixedsite.sequences.power.restore import (
    RETURN_S,
    Restorer,
    published,
)
from fixedsite.sequences.power.restore_plan import (
    VERDICT_BF,
    Fault,
    Plan,
    paralleled,
    plan_fault,
    plan_return,
    plan_supply_loss,
)
from fixedsite.sequences.power.topology import Topology
from fixedsite.tags import Quality, TagStore
from fixedsite.texts import say, translate

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = load(ROOT / "configs" / "power-site.toml").systems["power"]
assert isinstance(SYSTEM, PowerSystem)
TOPO = Topology(SYSTEM)
NORMAL = TOPO.normal()
SOURCES = list(SYSTEM.network.sources)
S = "power"


def texts(plan: Plan) -> list[str]:
    return [s.text() for s in plan.steps]


def apply(state: dict[str, bool], step: Step) -> None:
    """A step on a conducting map: a breaker moves; an opened disconnector stops its bay."""
    if step.part == "breaker" or step.action == "open":
        state[step.device] = step.action == "close"


# ------------------------------------------------------------------------------------------
# the plans
# ------------------------------------------------------------------------------------------
def test_a_district_feeder_fault_cleared_selectively_leaves_nothing_to_restore() -> None:
    plan = plan_fault(TOPO, NORMAL | {"Q311": False}, [Fault("conveyor2", "Q311", ["Q311"])])
    assert plan.refused == "" and plan.steps == []
    assert plan.lost == ("conveyor2",) and plan.loads == () and plan.priority1 == ()
    assert plan.dead == {"conveyor2": "the faulted section: isolated until repaired"}


def test_a_cable_fault_is_isolated_at_both_ends_and_what_is_beyond_it_stays_dead() -> None:
    plan = plan_fault(TOPO, NORMAL | {"Q112": False}, [Fault("L_D2", "Q112", ["Q112"])])
    assert texts(plan) == ["open Q301 breaker"]
    assert plan.steps[0].reason == "bounds the faulted section L_D2"
    assert plan.loads == () and plan.lost == ("conveyor2", "face2")
    assert plan.dead["face2"] == "fed only through the faulted section"
    assert plan.dead["L_D2"] == "the faulted section: isolated until repaired"


def test_an_overtrip_isolates_the_face_cable_and_recloses_the_central_feeder() -> None:
    state = NORMAL | {"Q111": False}
    plan = plan_fault(TOPO, state, [Fault("L_F1", "Q212", ["Q111"], "overtrip")])
    assert texts(plan) == ["open Q212 breaker", "open Q501 breaker", "close Q111 breaker"]
    assert [s.kind for s in plan.steps] == ["isolate", "isolate", "restore"]
    assert plan.steps[2].energises == ("aux_fans1",)
    assert plan.steps[2].reason == "re-energises aux_fans1"
    assert plan.loads == plan.priority1 == ("aux_fans1",)
    assert set(plan.dead) == {"L_F1", "F1", "shearer1", "belt1"}
    assert plan.text() == "open Q212 breaker; open Q501 breaker; close Q111 breaker"
    assert "1. open Q212 breaker: bounds the faulted section L_F1" in plan.explain()


def test_loads_tripped_on_undervoltage_by_the_fault_are_re_closed_too() -> None:
    state = NORMAL | {"Q111": False, "Q211": False, "Q312": False}
    plan = plan_fault(TOPO, state, [Fault("L_F1", "Q212", ["Q111"], "overtrip")],
                      reclose=["Q211", "Q312", "Q999"])
    assert texts(plan) == ["open Q212 breaker", "open Q501 breaker", "close Q111 breaker",
                           "close Q211 breaker", "close Q312 breaker"]
    assert plan.loads == ("aux_fans1", "face2") and plan.priority1 == ("aux_fans1",)
    # without being told they tripped on undervoltage, they are left for the operator
    left = plan_fault(TOPO, state, [Fault("L_F1", "Q212", ["Q111"], "overtrip")])
    assert "close Q211 breaker" not in texts(left) and left.loads == ()


def test_breaker_failure_commands_the_stuck_breaker_open_again_once_it_is_dead() -> None:
    # Q111 failed to open for a fault on its cable; the BF trip opened the incomer Q101
    state = NORMAL | {"Q101": False}
    plan = plan_fault(TOPO, state, [Fault("L_D1", "Q111", ["Q101"], VERDICT_BF)])
    assert texts(plan) == ["open Q111 breaker", "open Q201 breaker", "close Q101 breaker"]
    assert plan.steps[0].reason == ("Q111 failed to open on its trip: commanded open again "
                                    "with L_D1 dead (if it does not open, it is isolated by "
                                    "hand)")
    assert plan.loads == ("conveyor2", "face2", "pumps_a") and plan.priority1 == ("pumps_a",)
    assert plan.dead["aux_fans1"] == "fed only through the faulted section"


def test_breaker_failure_never_plans_a_disconnector_under_its_closed_breaker() -> None:
    plan = plan_fault(TOPO, NORMAL, [Fault("L_D1", "Q111", [], VERDICT_BF)])
    assert texts(plan) == ["open Q111 breaker", "open Q201 breaker"] and not plan.refused
    assert all(s.step.part == "breaker" for s in plan.steps)


def test_breaker_failure_with_the_supply_behind_dead_uses_the_tie_within_capacity() -> None:
    state = NORMAL | {"Q101": False}
    f = [Fault("L_D1", "Q111", ["Q101"], VERDICT_BF)]
    plan = plan_fault(TOPO, state, f, live=["S2"])
    assert texts(plan) == ["open Q111 breaker", "open Q201 breaker", "close Q100 breaker"]
    assert plan.tie == "Q100"
    assert plan.steps[2].reason == "bus tie: feeds C1, D2 from supply S2 (5500 kW of 7220 kW)"
    small = plan_fault(TOPO, state, f, live=["S2"], capacity_kw=3000)
    assert texts(small) == ["open Q111 breaker", "open Q201 breaker"]
    assert small.loads == ()
    assert small.dead["pumps_a"] == ("closing the tie Q100 would load supply S2 with 5500 kW, "
                                     "over its 3000 kW")


def test_a_bus_fault_keeps_the_bus_and_everything_behind_it_dead_and_says_so() -> None:
    state = NORMAL | {"Q101": False}
    plan = plan_fault(TOPO, state, [Fault("C1", "Q101", ["Q101"])])
    assert texts(plan) == ["open Q111 breaker", "open Q112 breaker", "open Q113 breaker"]
    assert all(s.kind == "isolate" for s in plan.steps) and plan.loads == ()
    assert plan.dead["C1"] == "the faulted section: isolated until repaired"
    for ld in ("pumps_a", "aux_fans1", "face2", "conveyor2", "shearer1", "belt1"):
        assert plan.dead[ld] == "fed only through the faulted section"
    assert "Q100" not in {s.step.device for s in plan.steps}     # never the tie onto it


def test_a_fault_not_located_switches_nothing() -> None:
    for f in (Fault(None, None, ["Q111"], "not located"), Fault("nowhere", "Q111", ["Q111"]),
              Fault("L_D1", "Q111", ["Q111"], "not located")):
        plan = plan_fault(TOPO, NORMAL | {"Q111": False}, [f])
        assert plan.steps == [] and plan.refused == (
            "the fault is not located: nothing is switched automatically")


def test_loss_of_supply_opens_the_dead_incomer_then_closes_the_tie_and_back() -> None:
    plan = plan_supply_loss(TOPO, NORMAL, "S1", live=["S2"])
    assert texts(plan) == ["open Q101 breaker", "close Q100 breaker"]
    assert [s.kind for s in plan.steps] == ["incomer", "tie"]
    assert plan.steps[0].reason == ("supply S1 is dead: its incomer opens before the tie "
                                    "closes (the supplies are never paralleled)")
    assert plan.priority1 == ("aux_fans1", "pumps_a")
    assert plan.loads == ("aux_fans1", "belt1", "conveyor2", "face2", "pumps_a", "shearer1")
    after = NORMAL | {"Q101": False, "Q100": True}
    assert paralleled(TOPO, after) == []
    back = plan_return(TOPO, after, "S1")
    assert texts(back) == ["open Q100 breaker", "close Q101 breaker"]   # break-before-make
    assert back.steps[0].reason == ("break-before-make: the supplies may not run in "
                                    "parallel, so C1 is dead from this step to the next")
    made = plan_return(TOPO, after, "S1", allow_parallel=True)
    assert texts(made) == ["close Q101 breaker", "open Q100 breaker"]
    assert plan_return(TOPO, after, "S1", live=["S2"]).refused == (
        "supply S1 is not live: nothing to transfer back")
    assert plan_return(TOPO, NORMAL, "S1").refused == (
        "supply S1's incomer is closed already: nothing to transfer back")


def test_the_tie_never_parallels_the_supplies() -> None:
    assert paralleled(TOPO, NORMAL) == []
    assert paralleled(TOPO, NORMAL | {"Q100": True}) == ["S1", "S2"]
    # a dead incomer is opened before the tie closes, whichever way round the loss is
    for lost, inc in (("S1", "Q101"), ("S2", "Q102")):
        plan = plan_supply_loss(TOPO, NORMAL, lost)
        assert texts(plan) == [f"open {inc} breaker", "close Q100 breaker"]
        state = dict(NORMAL)
        for s in plan.steps:
            apply(state, s.step)
            assert paralleled(TOPO, state) == []
    # a bus that was dead before the loss (its incomer open by hand) lost nothing
    assert plan_supply_loss(TOPO, NORMAL | {"Q101": False}, "S1").steps == []


def test_level_one_loads_are_re_closed_first_from_the_supply_side_out() -> None:
    # S1 lost; every feeder on C1 and the district 1 bays tripped on undervoltage
    tripped = ["Q111", "Q112", "Q113", "Q211", "Q212"]
    state = NORMAL | dict.fromkeys(tripped, False)
    plan = plan_supply_loss(TOPO, state, "S1", live=["S2"], reclose=tripped)
    assert texts(plan) == ["open Q101 breaker", "close Q100 breaker", "close Q111 breaker",
                           "close Q113 breaker", "close Q211 breaker", "close Q112 breaker",
                           "close Q212 breaker"]
    assert [s.energises for s in plan.steps[2:]] == [
        (), ("pumps_a",), ("aux_fans1",), ("conveyor2", "face2"), ("belt1", "shearer1")]
    assert plan.steps[2].reason == "re-energises D1, L_D1 on the way to the loads"


def test_a_second_fault_is_planned_with_both_sections_forbidden() -> None:
    state = NORMAL | {"Q111": False, "Q311": False}
    plan = plan_fault(TOPO, state, [Fault("L_F1", "Q212", ["Q111"], "overtrip"),
                                    Fault("conveyor2", "Q311", ["Q311"])])
    assert texts(plan) == ["open Q212 breaker", "open Q501 breaker", "close Q111 breaker"]
    assert set(plan.faulted) == {"L_F1", "conveyor2"}


# --- never close onto a fault: every section, every verdict, every set of live supplies ---
def _protection(section: str, verdict: str) -> tuple[dict[str, bool], Fault] | None:
    """The state the protection leaves, and its report: the nearest breaker is the
    bounding breaker on the supply side; an overtrip opens the one above it instead, a
    breaker failure leaves it closed and opens the ones above it."""
    fs = TOPO.feeds(NORMAL)
    path = fs[section].breakers if section in fs else ()
    if not path:
        return None
    nearest, above = path[-1], path[:-1]
    if verdict == "selective":
        return NORMAL | {nearest: False}, Fault(section, nearest, [nearest], verdict)
    if not above:
        return None
    up = above[-1]
    if verdict == "overtrip":
        return NORMAL | {up: False}, Fault(section, nearest, [up], verdict)
    return NORMAL | {up: False}, Fault(section, nearest, [up], VERDICT_BF)


def _check_never_onto_fault(state: dict[str, bool], faults: list[Fault],
                            live: list[str], **kw: Any) -> Plan:
    plan = plan_fault(TOPO, state, faults, live=live, **kw)
    forbidden = set(plan.faulted)
    now = dict(state)
    for s in plan.steps:
        apply(now, s.step)
        fed = set(TOPO.feeds(now, live))
        if s.step.closes:
            assert not fed & forbidden, (faults, s.text(), fed & forbidden)
            assert paralleled(TOPO, now) == [], (faults, s.text())
    fed = set(TOPO.feeds(now, live))
    assert set(plan.loads) <= fed                       # what it says it restores, it does
    assert set(plan.lost) - set(plan.loads) <= set(plan.dead)  # the rest is said
    return plan


SECTIONS = TOPO.sections()
LIVE_SETS = [SOURCES, ["S1"], ["S2"]]


CASES = [(sec, v) for sec, v in itertools.product(SECTIONS, ["selective", "overtrip",
                                                              VERDICT_BF])
         if _protection(sec, v) is not None]


def test_the_cases_cover_every_section_and_verdict() -> None:
    assert {sec for sec, _v in CASES} == set(SECTIONS)
    # an overtrip or a breaker failure needs a breaker above the nearest: not on C1, C2
    assert len(CASES) == 3 * len(SECTIONS) - 4


@pytest.mark.parametrize(("section", "verdict"), CASES)
def test_no_plan_ever_closes_onto_the_faulted_section(section: str, verdict: str) -> None:
    made = _protection(section, verdict)
    assert made is not None
    state, fault = made
    plans = [_check_never_onto_fault(state, [fault], live) for live in LIVE_SETS]
    # with both supplies live every healthy load that lost supply and can be reached
    # without the faulted section is restored
    assert not any(w == "no live supply can reach it" for w in plans[0].dead.values())
    for ld in plans[0].lost:
        assert ld in plans[0].loads or ld in plans[0].dead


@settings(max_examples=150, deadline=None)
@given(section=st.sampled_from(SECTIONS),
       verdict=st.sampled_from(["selective", "overtrip", VERDICT_BF]),
       extra=st.sets(st.sampled_from(sorted(TOPO.breakers)), max_size=4),
       live=st.sampled_from(LIVE_SETS), reclose=st.booleans(),
       capacity=st.sampled_from([None, 2000.0, 1e9]))
def test_never_onto_a_fault_whatever_else_is_open(section: str, verdict: str,
                                                  extra: set[str], live: list[str],
                                                  reclose: bool,
                                                  capacity: float | None) -> None:
    made = _protection(section, verdict)
    if made is None:
        return
    state, fault = made
    state = state | dict.fromkeys(extra, False)
    if fault.verdict == VERDICT_BF and fault.nearest:
        state[fault.nearest] = True                 # it failed to open: it stays closed
    # a tie closed by hand and both incomers closed is not a state we leave; keep radial
    if paralleled(TOPO, state):
        return
    _check_never_onto_fault(state, [fault], live, capacity_kw=capacity,
                            reclose=sorted(extra) if reclose else ())


# ------------------------------------------------------------------------------------------
# the texts
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mod", [restore_plan, restore])
def test_every_text_restoration_says_has_its_chinese_and_reads_back(mod: Any) -> None:
    tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
    said = {n.args[0].value for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "say"
            and n.args and isinstance(n.args[0], ast.Constant)}
    assert len(said) > 15 and said - set(mod.TEXTS) == set()
    for en, zh in mod.TEXTS.items():
        fields = sorted(f for _l, f, _s, _c in string.Formatter().parse(en) if f)
        assert sorted(f for _l, f, _s, _c in string.Formatter().parse(zh) if f) == fields
        assert re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", "", zh)) == [], zh
        if fields:   # the console reads the text back to this template
            args = {f: f"x{i}_{f}" for i, f in enumerate(fields)}
            text = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", en).format(**args)
            want = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", zh).format(**args)
            assert translate(text, "zh_CN") == want, en


def test_a_composed_status_reads_back_whole_in_chinese() -> None:
    text = ("restoration after the fault on L_F1,L_D2: level-1 loads re-energised in 3.5 s, "
            "every healthy load in 4.0 s (target 30 s); left dead: belt1,shearer1; carried "
            "out by the operator")
    assert translate(text, "zh_CN") == (
        "L_F1,L_D2 故障后恢复供电：一级负荷 3.5 s 恢复供电，全部健全负荷 4.0 s（目标 30 s）；"
        "保持停电：belt1,shearer1；由操作员执行")
    plan = plan_fault(TOPO, NORMAL | {"Q111": False},
                      [Fault("L_F1", "Q212", ["Q111"], "overtrip")])
    zh = translate(say("automatic restoration is off: the plan is proposed to the operator: "
                       "{plan}", plan=plan.explain()), "zh_CN")
    assert zh.startswith("自动恢复已关闭：方案提交操作员：1. 断开 Q212 断路器："
                         "故障区段 L_F1 的边界开关；")
    assert "3. 合上 Q111 断路器：恢复 aux_fans1 供电；" in zh
    assert "F1 保持停电：只能经故障区段供电" in zh


# ------------------------------------------------------------------------------------------
# run time: a soft plant, a small executor, the restorer
# ------------------------------------------------------------------------------------------
BAYS = sorted(TOPO.breakers)
SIGS = ("breaker_closed", "breaker_open", "disconnector_closed", "disconnector_open",
        "earthing_closed", "door_unlocked", "line_live", "trip_code", "local", "uab",
        "undervoltage", "picked_up", "refused", "breaker_cmd", "disconnector_cmd",
        "earthing_cmd", "door_unlock_cmd")


class Plant:
    """Each bay's relay: its parts where they are set; the voltages follow the network
    from the supplies in ``live``; a command register's change from 0 moves its part (for
    the real executor)."""

    def __init__(self, store: TagStore) -> None:
        self.store = store
        self.live = set(SOURCES)
        self.seen: dict[tuple[str, str], Any] = {}
        for b in BAYS:
            for sig in SIGS:
                store.define(f"{S}.{b}.{sig}")
            self.move(b, "breaker", NORMAL[b])
            self.move(b, "disconnector", True)
            self.set(b, earthing_closed=False, door_unlocked=False, trip_code=0, local=False,
                     picked_up=False, refused=False, breaker_cmd=0, disconnector_cmd=0,
                     earthing_cmd=0, door_unlock_cmd=0)
        self.settle()

    def set(self, bay: str, **values: Any) -> None:
        for k, v in values.items():
            self.store.set(f"{S}.{bay}.{k}", v)

    def v(self, bay: str, sig: str) -> Any:
        return self.store[f"{S}.{bay}.{sig}"].value

    def move(self, bay: str, part: str, close: bool) -> None:
        self.set(bay, **{f"{part}_closed": close, f"{part}_open": not close})

    def trip(self, bay: str, code: int = 1) -> None:
        self.move(bay, "breaker", False)
        self.set(bay, trip_code=code)

    def conducting(self) -> dict[str, bool]:
        return {b: bool(self.v(b, "breaker_closed") and self.v(b, "disconnector_closed"))
                for b in BAYS}

    def fed(self) -> set[str]:
        return set(TOPO.feeds(self.conducting(), self.live))

    def step(self) -> None:
        for b in BAYS:
            for part in ("breaker", "disconnector"):
                cmd = self.v(b, f"{part}_cmd")
                before = self.seen.get((b, part), 0)
                self.seen[(b, part)] = cmd
                if before == 0 and cmd in (1, 2):
                    if part == "breaker" and cmd == 2 and self.v(b, "trip_code"):
                        self.set(b, refused=True)
                    else:
                        self.move(b, part, cmd == 2)
        self.settle()

    def settle(self) -> None:
        fed = self.fed()
        for b in BAYS:
            bus, far = TOPO.breakers[b]
            live = far in self.live if far in SOURCES else far in fed
            self.set(b, line_live=live, uab=10.3 if bus in fed else 0.0,
                     undervoltage=bus not in fed)


class FakeExecutor:
    """One ticket at a time, one step per scan: the step's part moves in the plant; a
    step named in ``fail_on`` stops the ticket with that reason; a close onto a latched
    trip is refused, as the interlocks refuse it."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.state, self.status = "idle", "no ticket run"
        self.ticket: object | None = None
        self.steps: list[Step] = []
        self.i = 0
        self.tickets: list[tuple[str, str, list[str]]] = []
        self.fail_on: dict[str, str] = {}
        self.resets: list[str] = []
        self.aborts: list[str] = []
        self.hold = False                  # the ticket makes no progress

    def start(self, steps: list[Step], why: str, source: str) -> object:
        if self.state in ("checking", "running"):
            raise ValueError("ticket T-0 is running: one switching ticket at a time")
        self.ticket, self.steps, self.i = object(), list(steps), 0
        self.state, self.status = "running", f"ticket of {len(steps)} steps running"
        self.tickets.append((why, source, [s.text() for s in steps]))
        return self.ticket

    async def scan(self) -> None:
        if self.state != "running" or self.hold:
            return
        s = self.steps[self.i]
        why = self.fail_on.get(s.text())
        if why is None and s.closes and s.part == "breaker" and \
                self.plant.v(s.device, "trip_code"):
            why = "protection trip latched"
        if why is not None:
            self.state, self.status = "failed", f"stopped at {s.text()}: {why}"
            return
        self.plant.move(s.device, s.part, s.action == "close")
        self.i += 1
        if self.i == len(self.steps):
            self.state, self.status = "done", f"ticket done: {len(self.steps)} steps"

    async def abort(self, who: str = "") -> str | None:
        if self.state not in ("checking", "running"):
            return "no ticket is running"
        self.aborts.append(who)
        self.state, self.status = "aborted", "ticket aborted"
        return None

    async def reset_trip(self, device: str) -> str | None:
        self.resets.append(device)
        self.plant.set(device, trip_code=0)
        return None


class Historian:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, str, dict[str, Any]]] = []

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        self.events.append((t, kind, source, text, data or {}))


@dataclass
class Report:
    section: str | None
    nearest: str | None
    opened: list[str]
    verdict: str
    started_at: float


def with_restoration(**changes: Any) -> PowerSystem:
    return SYSTEM.model_copy(update={"restoration": SYSTEM.restoration.model_copy(
        update=changes)})


class Rig:
    def __init__(self, system: PowerSystem = SYSTEM, plant_first: Any = None) -> None:
        self.clock = ManualClock(1000.0)
        self.store = TagStore(self.clock)
        self.plant = Plant(self.store)
        if plant_first is not None:
            plant_first(self.plant)
            self.plant.settle()
        self.ex = FakeExecutor(self.plant)
        self.r = Restorer(S, system, self.store, self.clock, self.ex)
        self.hist = Historian()
        self.r.historian = self.hist
        self.fed_at: dict[str, float] = {}         # the test's own watch of each load

    async def scan(self, dt: float = 0.5) -> None:
        self.clock.advance(dt)
        self.plant.settle()
        await self.ex.scan()
        self.plant.settle()
        fed = self.plant.fed()
        for ld in SYSTEM.network.loads:
            if ld in fed:
                self.fed_at.setdefault(ld, self.clock.now())
            else:
                self.fed_at.pop(ld, None)
        await self.r.scan()

    async def until(self, what: Any, most: int = 80) -> None:
        for _ in range(most):
            await self.scan()
            if what():
                return
        raise AssertionError(f"not reached in {most} scans: {self.r.state}: {self.r.status}")

    def tag(self, name: str) -> Any:
        return self.store.value(f"{S}.restore.{name}")

    def records(self) -> list[tuple[float, str, str, str, dict[str, Any]]]:
        return [e for e in self.hist.events if e[1] == "power"]


def test_the_published_tags() -> None:
    assert published(S, SYSTEM) == {
        "power.restore.state": "text", "power.restore.status": "text",
        "power.restore.plan": "text", "power.restore.last_s": "number",
        "power.restore.priority1_s": "number"}
    rig = Rig()
    assert [t.path for t in rig.r.published] == list(published(S, SYSTEM))
    assert rig.tag("state") == "idle" and rig.tag("plan") == ""


async def test_an_overtrip_is_isolated_restored_timed_and_recorded() -> None:
    rig = Rig()
    await rig.scan()                                   # adopts
    assert rig.r.adopted and rig.ex.tickets == []
    rig.plant.trip("Q111")                             # the overtrip, at 1000.5
    t0 = rig.clock.now()
    await rig.scan()
    assert "aux_fans1" not in rig.plant.fed()
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", t0))
    await rig.until(lambda: rig.r.state in ("done", "failed"))
    assert rig.r.state == "done", rig.r.status
    assert [t[2] for t in rig.ex.tickets] == [["open Q212 breaker", "open Q501 breaker"],
                                              ["close Q111 breaker"]]
    assert rig.ex.tickets[0][:2] == ("restoration after the fault on L_F1", "restoration")
    assert rig.ex.resets == ["Q111"]                   # its latch reset before the close
    assert rig.tag("plan") == "open Q212 breaker; open Q501 breaker; close Q111 breaker"
    p1 = rig.fed_at["aux_fans1"] - t0
    assert p1 > 0 and rig.tag("priority1_s") == pytest.approx(p1)
    assert rig.tag("last_s") == pytest.approx(p1)
    assert rig.tag("status") == (
        f"restoration after the fault on L_F1: level-1 loads re-energised in {p1:.1f} s, "
        f"every healthy load in {p1:.1f} s (target 30 s); left dead: belt1,shearer1")
    (t, kind, source, text, data) = rig.records()[-1]
    assert (kind, source, text) == ("power", "power.restore", rig.tag("status"))
    assert data["outcome"] == "done" and data["by"] == "auto"
    assert data["priority1_s"] == pytest.approx(p1) and data["within_target"] is True
    assert data["steps"] == ["open Q212 breaker", "open Q501 breaker", "close Q111 breaker"]
    assert data["faults"] == [{"section": "L_F1", "nearest": "Q212", "verdict": "overtrip",
                               "opened": ["Q111"]}]
    assert rig.r.faulted() == {"L_F1"}
    # the same report again (a listener called twice) does nothing
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", t0))
    for _ in range(4):
        await rig.scan()
    assert len(rig.ex.tickets) == 2 and rig.r.state == "done"


async def test_a_selective_clearance_records_nothing_to_restore() -> None:
    rig = Rig()
    await rig.scan()
    rig.plant.trip("Q311")
    rig.r.on_fault(Report("conveyor2", "Q311", ["Q311"], "selective", rig.clock.now()))
    await rig.until(lambda: rig.r.state == "done")
    assert rig.ex.tickets == [] and rig.tag("last_s") == 0.0 and rig.tag("priority1_s") == 0.0
    assert rig.tag("status") == ("restoration after the fault on conveyor2: no healthy load "
                                 "lost supply: nothing to re-energise")


async def test_a_step_that_fails_fails_restoration_with_the_reason() -> None:
    rig = Rig()
    await rig.scan()
    rig.plant.trip("Q111")
    rig.ex.fail_on["close Q111 breaker"] = "no feedback within 5.0 s"
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", rig.clock.now()))
    await rig.until(lambda: rig.r.state in ("done", "failed"))
    assert rig.r.state == "failed"
    assert rig.tag("status") == ("restoration failed: stopped at close Q111 breaker: no "
                                 "feedback within 5.0 s")
    assert rig.records()[-1][4]["outcome"] == "failed"
    assert rig.store[f"{S}.restore.last_s"].quality is Quality.BAD      # never measured


async def test_auto_off_publishes_a_proposal_and_times_the_operator() -> None:
    rig = Rig(with_restoration(auto=False))
    await rig.scan()
    rig.plant.trip("Q111")
    t0 = rig.clock.now()
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", t0))
    await rig.until(lambda: rig.r.state == "proposal")
    assert rig.ex.tickets == [] and rig.ex.resets == []
    assert rig.tag("plan") == "open Q212 breaker; open Q501 breaker; close Q111 breaker"
    assert rig.tag("status").startswith("automatic restoration is off: the plan is proposed "
                                        "to the operator: 1. open Q212 breaker: bounds")
    for _ in range(6):
        await rig.scan()
    assert rig.r.state == "proposal" and rig.ex.tickets == []
    # the operator carries it out by hand
    for b in ("Q212", "Q501"):
        rig.plant.move(b, "breaker", False)
    await rig.scan()
    rig.plant.set("Q111", trip_code=0)
    rig.plant.move("Q111", "breaker", True)
    await rig.until(lambda: rig.r.state == "done")
    p1 = rig.fed_at["aux_fans1"] - t0
    assert rig.tag("priority1_s") == pytest.approx(p1)
    assert rig.tag("status").endswith("; carried out by the operator")
    assert rig.records()[-1][4]["by"] == "operator"


async def test_a_second_fault_while_restoring_aborts_and_replans_from_the_plant() -> None:
    rig = Rig()
    await rig.scan()
    rig.plant.trip("Q111")
    t0 = rig.clock.now()
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", t0))
    await rig.until(lambda: rig.r.state == "isolating")
    await rig.scan()                                # its first step done: Q212 open
    assert rig.plant.v("Q212", "breaker_open") and rig.plant.v("Q501", "breaker_closed")
    rig.ex.hold = True                              # the isolation is still running
    rig.plant.trip("Q112")                          # a second fault on the D2 cable
    rig.r.on_fault(Report("L_D2", "Q112", ["Q112"], "selective", rig.clock.now()))
    await rig.scan()
    assert rig.ex.aborts == ["restoration"]
    assert rig.records()[-1][3] == (
        "restoration after the fault superseded by a fault on L_D2: its ticket aborted, "
        "re-planned from the plant as it is")
    rig.ex.hold = False
    await rig.until(lambda: rig.r.state in ("done", "failed"))
    assert rig.r.state == "done", rig.r.status
    plans = [t[2] for t in rig.ex.tickets]
    assert plans[0] == ["open Q212 breaker", "open Q501 breaker"]
    # re-planned from the plant: what the aborted ticket did is not done again
    assert plans[1:] == [["open Q301 breaker", "open Q501 breaker"], ["close Q111 breaker"]]
    assert rig.r.faulted() == {"L_F1", "L_D2"}
    p1 = rig.fed_at["aux_fans1"] - t0               # timed from the first fault
    assert rig.tag("priority1_s") == pytest.approx(p1)


async def test_it_waits_for_a_running_ticket_and_fails_past_its_deadline() -> None:
    rig = Rig(with_restoration(restore_within_s=5.0))
    await rig.scan()
    rig.ex.start([Step("Q311", "breaker", "open")], "operator command open", "operator")
    rig.ex.hold = True
    rig.plant.trip("Q111")
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", rig.clock.now()))
    await rig.scan()
    assert rig.r.state == "planning"
    assert rig.tag("status") == ("waiting for the running ticket to end: ticket of 1 steps "
                                 "running")
    await rig.until(lambda: rig.r.state != "planning", most=20)
    assert rig.r.state == "failed" and len(rig.ex.tickets) == 1
    assert rig.tag("status") == (
        "restoration failed: switching was busy with another ticket for more than 5 s: "
        "restoration not started, the operator decides (ticket of 1 steps running)")


async def test_a_ticket_ending_in_time_lets_restoration_go_on() -> None:
    rig = Rig()
    await rig.scan()
    rig.ex.start([Step("Q311", "breaker", "open")], "operator command open", "operator")
    rig.ex.hold = True
    rig.plant.trip("Q111")
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", rig.clock.now()))
    for _ in range(4):
        await rig.scan()
    assert rig.r.state == "planning"
    rig.ex.hold = False
    await rig.until(lambda: rig.r.state == "done")
    assert len(rig.ex.tickets) == 3


async def test_a_junk_report_switches_nothing_and_says_why() -> None:
    rig = Rig()
    await rig.scan()

    class Junk:
        section = 42
        opened = "Q111"
    rig.r.on_fault(Junk())
    await rig.until(lambda: rig.r.state != "idle")
    await rig.scan()
    assert rig.r.state == "failed" and rig.ex.tickets == []
    assert rig.tag("status") == ("restoration failed: the fault is not located: nothing is "
                                 "switched automatically")


async def test_breaker_failure_at_run_time_opens_the_stuck_breaker_again() -> None:
    rig = Rig()
    await rig.scan()
    rig.plant.trip("Q101", code=4)                  # Q111 stuck closed; the BF trip opened Q101
    t0 = rig.clock.now()
    rig.r.on_fault(Report("L_D1", "Q111", ["Q101"], VERDICT_BF, t0))
    await rig.until(lambda: rig.r.state in ("done", "failed"))
    assert rig.r.state == "done", rig.r.status
    assert [t[2] for t in rig.ex.tickets] == [
        ["open Q111 breaker", "open Q201 breaker"], ["close Q101 breaker"]]
    assert rig.ex.resets == ["Q101"] and not rig.plant.v("Q111", "breaker_closed")
    assert rig.tag("priority1_s") == pytest.approx(rig.fed_at["pumps_a"] - t0)
    assert "L_D1" not in rig.plant.fed()


async def test_a_restart_after_a_fault_runs_nothing_again() -> None:
    def tripped(plant: Plant) -> None:
        plant.trip("Q111")
    rig = Rig(plant_first=tripped)
    for _ in range(6):
        await rig.scan()
    assert rig.r.adopted and rig.r.state == "idle" and rig.ex.tickets == []
    assert rig.tag("status") == "adopted the plant as it is: nothing re-run"


async def test_a_faulted_section_switched_in_again_is_taken_as_repaired() -> None:
    rig = Rig()
    await rig.scan()
    rig.plant.trip("Q311")
    rig.r.on_fault(Report("conveyor2", "Q311", ["Q311"], "selective", rig.clock.now()))
    await rig.until(lambda: rig.r.state == "done")
    assert rig.r.faulted() == {"conveyor2"}
    rig.plant.set("Q311", trip_code=0)
    rig.plant.move("Q311", "breaker", True)        # repaired and closed by the operator
    await rig.scan()
    assert rig.r.faulted() == set()
    rig.r.on_fault(Report("face2", "Q312", ["Q312"], "selective", rig.clock.now()))
    await rig.scan()
    assert rig.r.faulted() == {"face2"}
    assert rig.r.clear_fault("face2") and not rig.r.clear_fault("face2")
    assert rig.r.faulted() == set()


def lose(plant: Plant, source: str = "S1") -> None:
    plant.live.discard(source)


async def test_loss_of_supply_transfers_to_the_tie_then_back_break_before_make() -> None:
    rig = Rig()
    await rig.scan()
    lose(rig.plant)
    t0 = rig.clock.now()
    await rig.scan()                                   # the bus is seen dead at t0 + 0.5
    assert rig.r.state == "idle"
    await rig.until(lambda: rig.r.state == "done")
    assert [t[2] for t in rig.ex.tickets] == [["open Q101 breaker", "close Q100 breaker"]]
    assert rig.ex.tickets[0][0] == "transfer after the loss of supply S1"
    p1 = rig.fed_at["pumps_a"] - (t0 + 0.5)           # from the loss seen
    assert p1 > 0 and rig.tag("priority1_s") == pytest.approx(p1)
    assert rig.tag("status").startswith("transfer after the loss of supply S1: level-1 "
                                        "loads re-energised in")
    assert paralleled(TOPO, rig.plant.conducting()) == []
    # the supply comes back: after RETURN_S, the tie opens before the incomer closes
    rig.plant.live.add("S1")
    back_at = rig.clock.now()
    await rig.until(lambda: len(rig.ex.tickets) == 2, most=int(RETURN_S / 0.5) + 4)
    assert rig.clock.now() - back_at >= RETURN_S
    assert rig.ex.tickets[1][2] == ["open Q100 breaker", "close Q101 breaker"]
    await rig.until(lambda: rig.r.state == "done")
    assert rig.tag("status").startswith("transfer back to supply S1 in ")
    assert rig.plant.conducting() == NORMAL
    assert rig.tag("priority1_s") == pytest.approx(p1)   # the return is no restoration
    data = rig.records()[-1][4]
    assert data["what"] == "supply return" and data["dead_s"] > 0


async def test_no_transfer_while_a_fault_current_flows_or_on_data_not_good() -> None:
    rig = Rig()
    await rig.scan()
    lose(rig.plant)
    rig.plant.set("Q111", picked_up=True)
    for _ in range(6):
        await rig.scan()
    assert rig.ex.tickets == [] and rig.r.state == "idle"
    rig.plant.set("Q111", picked_up=False)
    rig.store.set(f"{S}.Q101.line_live", False, Quality.BAD, "comm_fail")
    orig = rig.plant.settle
    rig.plant.settle = lambda: (orig(), rig.store.set(        # type: ignore[method-assign]
        f"{S}.Q101.line_live", False, Quality.BAD, "comm_fail"))
    for _ in range(6):
        await rig.scan()
    assert rig.ex.tickets == [] and rig.r.state == "idle"
    rig.plant.settle = orig                                   # type: ignore[method-assign]
    await rig.until(lambda: rig.r.state == "done")
    assert rig.ex.tickets[0][2] == ["open Q101 breaker", "close Q100 breaker"]


async def test_auto_transfer_off_proposes_the_transfer() -> None:
    rig = Rig(with_restoration(auto_transfer=False))
    await rig.scan()
    lose(rig.plant)
    await rig.until(lambda: rig.r.state == "proposal")
    assert rig.tag("plan") == "open Q101 breaker; close Q100 breaker"
    for _ in range(6):
        await rig.scan()
    assert rig.ex.tickets == [] and rig.r.state == "proposal"
    assert len([e for e in rig.records() if e[4]["outcome"] == "proposed"]) == 1


async def test_a_restart_adopts_a_lost_supply_as_a_proposal_and_runs_nothing() -> None:
    rig = Rig(plant_first=lose)
    await rig.scan()
    assert rig.r.adopted
    await rig.until(lambda: rig.r.state == "proposal")
    for _ in range(6):
        await rig.scan()
    assert rig.ex.tickets == [] and rig.ex.resets == []
    assert rig.tag("plan") == "open Q101 breaker; close Q100 breaker"


async def test_no_adoption_before_the_incomers_read_good() -> None:
    rig = Rig()
    rig.store.set(f"{S}.Q102.line_live", False, Quality.BAD, "not_yet_read")
    orig = rig.plant.settle
    rig.plant.settle = lambda: (orig(), rig.store.set(        # type: ignore[method-assign]
        f"{S}.Q102.line_live", None, Quality.BAD, "not_yet_read"))
    await rig.scan()
    assert not rig.r.adopted
    assert rig.tag("status") == "waiting for good data from the incomers' relays"
    rig.plant.settle = orig                                   # type: ignore[method-assign]
    await rig.scan()
    assert rig.r.adopted and rig.tag("status") == "adopted the plant as it is: nothing re-run"


# --- the real switching executor, its interlocks and a relay model -------------------------
async def test_with_the_real_executor_an_overtrip_is_restored_through_the_interlocks() -> None:
    from fixedsite.io import SoftWriter
    from fixedsite.sequences.power.switching import Executor

    rig = Rig()
    writer = SoftWriter(rig.store)
    ex = Executor(S, SYSTEM, rig.store, writer, rig.clock, faulted=lambda: rig.r.faulted())
    rig.ex = ex                                            # type: ignore[assignment]
    rig.r.ex = ex
    await rig.scan()
    rig.plant.trip("Q111")
    t0 = rig.clock.now()
    rig.r.on_fault(Report("L_F1", "Q212", ["Q111"], "overtrip", t0))

    async def scan() -> None:
        rig.clock.advance(0.5)
        rig.plant.step()
        await ex.scan()
        rig.plant.step()
        fed = rig.plant.fed()
        if "aux_fans1" in fed:
            rig.fed_at.setdefault("aux_fans1", rig.clock.now())
        else:
            rig.fed_at.pop("aux_fans1", None)
        await rig.r.scan()
    for _ in range(60):
        await scan()
        if rig.r.state in ("done", "failed"):
            break
    assert rig.r.state == "done", rig.r.status
    assert ("power.Q111.trip_code", 0) in writer.writes        # reset before the close
    assert [(p, v) for p, v in writer.writes if p.endswith("breaker_cmd") and v] == [
        ("power.Q212.breaker_cmd", 1), ("power.Q501.breaker_cmd", 1),
        ("power.Q111.breaker_cmd", 2)]
    assert rig.tag("priority1_s") == pytest.approx(rig.fed_at["aux_fans1"] - t0)
    # the interlocks refuse an operator closing onto the faulted section
    assert ex.check_now(Step("Q212", "breaker", "close")) == (
        "Q212: would energise L_F1, located as faulted: it stays isolated until repaired")
