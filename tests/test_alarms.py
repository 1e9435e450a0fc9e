"""Alarm engine on soft tags under a manual clock, then over the HIL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import Rig

from fixedsite.alarms.engine import (
    ACK_ACTIVE,
    NORMAL,
    UNACK_ACTIVE,
    UNACK_RTN,
    Alarm,
    AlarmEngine,
    AlarmEvent,
)
from fixedsite.alarms.kpi import figures
from fixedsite.alarms.model import _expand
from fixedsite.clock import ManualClock
from fixedsite.config import AlarmEntry
from fixedsite.gate import Command
from fixedsite.tags import COMM_FAIL, Quality, TagStore


def engine(*entries: AlarmEntry) -> tuple[AlarmEngine, TagStore, ManualClock]:
    clock = ManualClock(0.0)
    store = TagStore(clock)
    for e in entries:
        for path in (e.tag, e.enable_when):
            if path and path not in store:
                store.define(path)
    eng = AlarmEngine([d for e in entries for d in _expand(e)], store, clock)
    return eng, store, clock


LEVEL = AlarmEntry(kind="limit", tag="d.sump.level", text="Sump", priority=1, hh=2.5, h=2.2,
                   deadband=0.05, on_delay_s=10, off_delay_s=30)


def step(store: TagStore, clock: ManualClock, eng: AlarmEngine, value: float,
         dt: float = 1.0) -> None:
    clock.advance(dt)
    store.set("d.sump.level", value)
    eng.tick()


def test_limit_with_on_delay_deadband_and_off_delay() -> None:
    eng, store, clock = engine(LEVEL)
    h = eng.alarms["d.sump.level.H"]
    step(store, clock, eng, 2.25)
    assert h.state == NORMAL                       # on-delay running
    step(store, clock, eng, 2.25, 11)
    assert h.state == UNACK_ACTIVE and h.d.priority == 2
    step(store, clock, eng, 2.17)                  # below H, inside the deadband
    step(store, clock, eng, 2.17, 40)
    assert h.state == UNACK_ACTIVE
    step(store, clock, eng, 2.1)                   # clear of the deadband: off-delay
    assert h.state == UNACK_ACTIVE
    step(store, clock, eng, 2.1, 31)
    assert h.state == UNACK_RTN
    assert eng.acknowledge("d.sump.level.H", "li", "pump 3 started") is None
    assert h.state == NORMAL
    assert [e.what for e in eng.events] == ["active", "rtn", "ack"]
    assert eng.events[-1].user == "li" and eng.events[-1].comment == "pump 3 started"


def test_a_fleeting_excursion_never_annunciates() -> None:
    eng, store, clock = engine(LEVEL)
    step(store, clock, eng, 2.3)
    step(store, clock, eng, 2.0, 5)
    step(store, clock, eng, 2.0, 20)
    assert list(eng.events) == []


def test_ack_while_active_then_clear() -> None:
    eng, store, clock = engine(LEVEL)
    step(store, clock, eng, 2.6, 0)
    step(store, clock, eng, 2.6, 11)
    hh = eng.alarms["d.sump.level.HH"]
    assert hh.state == UNACK_ACTIVE
    assert eng.counts_by_priority() == {1: 1, 2: 1, 3: 0, 4: 0}
    assert eng.counts_by_area() == {"d": {1: 1, 2: 1, 3: 0, 4: 0}}
    assert eng.acknowledge(hh.d.id, "li") is None
    assert hh.state == ACK_ACTIVE
    assert "not waiting" in (eng.acknowledge(hh.d.id, "li") or "")
    step(store, clock, eng, 1.0)
    step(store, clock, eng, 1.0, 31)
    assert hh.state == NORMAL
    assert [e.what for e in eng.events if e.alarm == hh.d.id] == ["active", "ack", "clear"]


def test_shelving_expires_and_reannunciates() -> None:
    eng, store, clock = engine(LEVEL)
    assert "comment" in (eng.shelve("d.sump.level.H", "li", 600, "") or "")
    assert eng.shelve("d.sump.level.H", "li", 600, "sensor work") is None
    step(store, clock, eng, 2.3, 0)
    step(store, clock, eng, 2.3, 11)
    h = eng.alarms["d.sump.level.H"]
    assert h.state == UNACK_ACTIVE and h not in eng.standing()
    assert [e.what for e in eng.events if e.alarm == h.d.id] == ["shelve"]
    step(store, clock, eng, 2.3, 600)
    assert [e.what for e in eng.events if e.alarm == h.d.id] == ["shelve", "unshelve",
                                                                  "active"]
    assert h in eng.standing()


def test_suppressed_by_design_when_the_plc_is_down_or_the_pump_stopped() -> None:
    low_flow = AlarmEntry(kind="limit", tag="d.p1.flow", text="low flow", l=150.0,
                          enable_when="d.p1.running")
    eng, store, clock = engine(LEVEL, low_flow)
    store.set("d.p1.running", False)
    store.set("d.p1.flow", 0.0)
    eng.tick()
    assert eng.alarms["d.p1.flow.L"].state == NORMAL and eng.alarms["d.p1.flow.L"].suppressed
    store.set("d.p1.running", True)
    eng.tick()
    assert eng.alarms["d.p1.flow.L"].state == UNACK_ACTIVE
    store.mark([store["d.sump.level"]], Quality.BAD, COMM_FAIL)
    clock.advance(100)
    eng.tick()
    assert all(e.alarm.startswith("d.p1") for e in eng.events)


def test_quality_and_rate_alarms() -> None:
    q = AlarmEntry(kind="quality", tag="d.lt1.level", text="LT1", after_s=60)
    r = AlarmEntry(kind="rate", tag="d.sump.level", text="rising", rate_per_min=0.02)
    eng, store, clock = engine(q, r)
    store.set("d.lt1.level", 9.0, Quality.BAD, "out_of_range")
    clock.advance(59)
    eng.tick()
    assert eng.alarms["d.lt1.level.BAD"].state == NORMAL
    clock.advance(2)
    eng.tick()
    assert eng.alarms["d.lt1.level.BAD"].state == UNACK_ACTIVE
    for i in range(6):                              # 0.05 m a minute
        step(store, clock, eng, 1.0 + 0.05 * i, 60)
    assert eng.alarms["d.sump.level.ROC"].state == UNACK_ACTIVE


def test_figures_flood_chatter_and_top10() -> None:
    ev = [AlarmEvent(t, f"a{i % 12}", "active", 1 + i % 4, "d", "x")
          for i, t in enumerate(range(0, 3600, 30))]          # 120 in an hour
    ev += [AlarmEvent(4000 + t, "chatty", "active", 4, "d", "x") for t in (0, 20, 40)]
    f = figures(ev, [], now=7200, window_s=7200)
    assert f.annunciated == 123 and f.periods == 12
    assert f.per_10_min == pytest.approx(123 / 12)
    assert f.flood_periods == 6 and f.peak_10_min == 20     # 20 per 10 min for an hour
    assert f.chattering == ["chatty"]
    assert f.top10_share_pct == pytest.approx(100 * (10 * 10) / 123)
    assert sum(f.by_priority_pct.values()) == pytest.approx(100)


async def test_trip_raises_the_pump_fault_alarm_with_its_reason(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=600.0, initial_level_m="1.7")
    await rig.site.start()
    ctl = await rig.start_controller()
    await rig.until(lambda: any(p.flow > 100 for p in rig.plant.pumps), 1800, "a pump on")
    first = next(i for i, p in enumerate(rig.plant.pumps) if p.motor_on)
    rig.plc.inject_trip(first)
    alarm = ctl.alarms.alarms[f"drainage.pump{first + 1}.FAULT"]
    await rig.until(lambda: alarm.state == UNACK_ACTIVE, 600, "the fault alarm")
    assert "overload" in alarm.message
    d = await ctl.gate.submit(Command("alarms", "ack", "operator", "wang",
                                      {"id": alarm.d.id, "comment": "electrician called"}))
    assert d.accepted and alarm.state == ACK_ACTIVE
    d = await ctl.gate.submit(Command("alarms", "ack", "auto", "", {"id": alarm.d.id}))
    assert not d.accepted and "named operator" in d.reason


async def test_plc_outage_raises_one_comm_alarm_and_nothing_else(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=300.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    await ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    before = len(ctl.alarms.events)
    await rig.site.unit("drainage").server.stop()
    comm = ctl.alarms.alarms["comm.drain1.LOST"]
    await ctl.store.wait_for("comm.drain1.online", lambda t: t.value is False, 10)
    await rig.run_for(600)                         # ten simulated minutes without the PLC
    new = [e for e in list(ctl.alarms.events)[before:] if e.what == "active"]
    assert [e.alarm for e in new] == ["comm.drain1.LOST"], new
    assert comm.state == UNACK_ACTIVE and "PLC drain1" in comm.message


def test_a_bad_input_holds_a_standing_alarm_and_its_return_is_seen() -> None:
    eng, store, clock = engine(LEVEL)
    hh = eng.alarms["d.sump.level.HH"]
    step(store, clock, eng, 2.6)
    step(store, clock, eng, 2.6, 11)
    assert hh.state == UNACK_ACTIVE
    # the transmitter goes over range: no evidence the water went down
    clock.advance(5)
    store.set("d.sump.level", 9.0, Quality.BAD, "out_of_range")
    clock.advance(100)
    eng.tick()
    assert hh.state == UNACK_ACTIVE and hh in eng.standing()
    assert hh.input_bad == "out_of_range"
    assert [e.what for e in eng.events if e.alarm == hh.d.id] == ["active"]
    # acknowledged while held, it stays active until a good value clears it
    assert eng.acknowledge(hh.d.id, "op1") is None
    step(store, clock, eng, 2.0)
    step(store, clock, eng, 2.0, 31)
    assert hh.state == NORMAL and hh.input_bad == ""
    assert [e.what for e in eng.events if e.alarm == hh.d.id] == ["active", "ack", "clear"]


def test_an_unacknowledged_alarm_is_not_erased_by_a_bad_input() -> None:
    eng, store, clock = engine(LEVEL)
    hh = eng.alarms["d.sump.level.HH"]
    step(store, clock, eng, 2.6)
    step(store, clock, eng, 2.6, 11)
    step(store, clock, eng, 2.0)
    step(store, clock, eng, 2.0, 31)
    assert hh.state == UNACK_RTN
    store.set("d.sump.level", 2.0, Quality.BAD, "malformed_reply")
    clock.advance(60)
    eng.tick()
    assert hh.state == UNACK_RTN and hh in eng.standing(), "still waiting for its ack"


def test_a_plc_that_is_down_holds_a_standing_alarm_and_raises_no_new_one() -> None:
    eng, store, clock = engine(LEVEL)
    hh, h = eng.alarms["d.sump.level.HH"], eng.alarms["d.sump.level.H"]
    step(store, clock, eng, 2.3)
    step(store, clock, eng, 2.3, 11)
    assert h.state == UNACK_ACTIVE and hh.state == NORMAL
    store.mark([store["d.sump.level"]], Quality.BAD, COMM_FAIL)
    clock.advance(60)
    eng.tick()
    assert h.state == UNACK_ACTIVE and not h.suppressed
    assert hh.state == NORMAL and hh.suppressed


def _low_flow_standing() -> tuple[AlarmEngine, TagStore, Alarm]:
    """A running pump's low-flow alarm (enabled while it runs), active and unacknowledged."""
    low_flow = AlarmEntry(kind="limit", tag="d.p1.flow", text="low flow", l=150.0,
                          enable_when="d.p1.running")
    eng, store, _ = engine(low_flow)
    store.set("d.p1.running", True)
    store.set("d.p1.flow", 10.0)
    eng.tick()
    return eng, store, eng.alarms["d.p1.flow.L"]


def test_an_alarm_disabled_by_design_returns_to_normal_as_an_event() -> None:
    eng, store, a = _low_flow_standing()
    assert a.state == UNACK_ACTIVE
    store.set("d.p1.running", False)               # the pump stopped: no low-flow alarm
    eng.tick()
    assert a.state == UNACK_RTN and a in eng.standing()
    assert [e.what for e in eng.events] == ["active", "rtn"]


def test_a_bad_enabling_input_holds_a_standing_alarm() -> None:
    eng, store, a = _low_flow_standing()
    store.set("d.p1.running", True, Quality.BAD, "malformed_reply")
    eng.tick()
    assert a.state == UNACK_ACTIVE and "malformed_reply" in a.input_bad
