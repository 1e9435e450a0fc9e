"""Availability figures (issue 15, part 6): fault hours per system and for the site, and
sensors in working order, from crafted history; the live tracker seeded from the history
across a restart; and over the HIL, a PLC link cut counted for its system only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixedsite import availability as av
from fixedsite.alarms.model import build_defs
from fixedsite.availability_live import AvailabilityTracker
from fixedsite.clock import ManualClock
from fixedsite.config import DEMO_CONFIG, load
from fixedsite.historian import Historian
from fixedsite.tags import COMM_FAIL, OUT_OF_RANGE, Quality, TagMeta, TagStore

CFG = load(DEMO_CONFIG)
DEFS = build_defs(CFG)
SC = av.scope(CFG, DEFS)
T0, T1 = av.month_span(2026, 11)
H = 3600.0


def alive(t0: float, t1: float, every: float = 60.0) -> list[dict[str, Any]]:
    """The controller's "alive" events over [t0, t1)."""
    n = int((t1 - t0) // every)
    return [{"t": t0 + k * every, "kind": "controller", "source": "demo", "text": "alive",
             "data": {"next_by": t0 + k * every + 180.0}} for k in range(n)]


def alarm(t: float, source: str, what: str, text: str = "x") -> dict[str, Any]:
    return {"t": t, "kind": "alarm", "source": source, "text": f"{what}: {text}", "data": {}}


def faults(events: list[dict[str, Any]], now: float = T0 + 20 * H) -> av.Faults:
    return av.fault_spans(SC, alive(T0, now) + events, T0, T1, now)


# --- which rule applies to what ------------------------------------------------------------
def test_the_rules_are_taken_from_what_each_system_declares() -> None:
    # a pump's, a door's, a compressor's, a winder's sequence in fault; not a refused load,
    # a blocking link or power quality (kind equipment, but no sequence fault)
    for aid, system in (("drainage.pump1.FAULT", "drainage"), ("lower.pump2.FAULT", "lower"),
                        ("ventilation.door11.FAULT", "ventilation"), ("air.c1.TRIP", "air"),
                        ("hoist1.winder.TRIP", "hoist1"), ("power.restore.FAILED", "power")):
        assert SC.sequence_faults.get(aid) == system, aid
    ids = {d.id for d in DEFS}
    for aid in ("hoist1.cycle.REFUSED", "drainage.sump.level.HH", "comm.drain1.LOST"):
        assert aid not in SC.sequence_faults
    assert any(i.endswith(".LINK") for i in ids)
    assert not any(i.endswith((".LINK", ".QUALITY", ".REFUSED")) for i in SC.sequence_faults)
    assert SC.plc_systems["drain1"] == {"drainage"} and SC.plc_systems["drain2"] == {"lower"}
    # sensors: read-only numbers with a span; not counters, codes or commands
    assert "drainage.pump1.flow" in SC.sensors and "drainage.lt1.level" in SC.sensors
    for path in ("drainage.pump1.run_hours", "drainage.pump1.energy", "drainage.pump1.starts",
                 "drainage.pump1.mode", "drainage.pump1.fault_code", "drainage.pump1.running",
                 "ventilation.fan1.speed_sp"):
        assert path not in SC.sensors, path


# --- fault time -----------------------------------------------------------------------------
def test_overlapping_spans_are_counted_once() -> None:
    """A link lost 10:00-11:00 and a pump fault 10:30-11:30: 1.5 h, not 2."""
    f = faults([alarm(T0 + 10 * H, "comm.drain1.LOST", "active"),
                alarm(T0 + 10.5 * H, "drainage.pump1.FAULT", "active"),
                alarm(T0 + 11 * H, "comm.drain1.LOST", "rtn"),
                alarm(T0 + 11.5 * H, "drainage.pump1.FAULT", "rtn")])
    assert f.hours("drainage") == pytest.approx(1.5)
    assert f.hours() == pytest.approx(1.5)
    assert f.cause_hours("drainage") == pytest.approx({"plc drain1": 1.0, "sequences": 1.0})


def test_a_lost_link_counts_for_the_systems_on_that_plc_only() -> None:
    f = faults([alarm(T0 + 2 * H, "comm.drain2.LOST", "active"),
                alarm(T0 + 4 * H, "comm.drain2.LOST", "rtn"),
                # a PLC on its fallback lost our heartbeat: its systems, like a lost link
                alarm(T0 + 6 * H, "ventilation.plc_main.FALLBACK", "active"),
                alarm(T0 + 7 * H, "ventilation.plc_main.FALLBACK", "rtn")])
    assert f.hours("lower") == pytest.approx(2.0)
    assert f.hours("drainage") == 0.0 and f.hours("power") == 0.0
    assert f.hours("ventilation") == pytest.approx(1.0)
    assert f.hours() == pytest.approx(3.0)


def test_the_controller_down_counts_for_every_system() -> None:
    events = [e for e in alive(T0, T0 + 20 * H) if not T0 + 5 * H <= e["t"] < T0 + 8 * H]
    f = av.fault_spans(SC, events, T0, T1, T0 + 20 * H)
    down = (3 * H - 120.0) / H     # the last "alive" before it vouches for 3 min (+2 min)
    for system in (*SC.systems, av.SITE):
        assert f.hours(system) == pytest.approx(down), system
    assert f.cause_hours("power") == pytest.approx({"controller": down})


def test_an_alarm_standing_at_a_stop_ends_there() -> None:
    """The stop's down time is the controller's own; a restarted controller raises the
    alarm again if it still stands: never counted to the month's end."""
    now = T0 + 20 * H
    events = [e for e in alive(T0, now) if not T0 + 5 * H <= e["t"] < T0 + 6 * H] + [
        alarm(T0 + 4 * H, "drainage.pump1.FAULT", "active"),
        {"t": T0 + 5 * H, "kind": "lifecycle", "source": "demo", "text": "stopped",
         "data": {}}]
    f = av.fault_spans(SC, events, T0, T1, now)
    assert f.cause_hours("drainage")["sequences"] == pytest.approx(1.0)
    assert f.hours("drainage") < 2.0


def test_a_failing_scan_part_counts_for_its_system() -> None:
    text = "Controller logic failing"
    f = faults([alarm(T0 + H, "controller.scan.FAILED", "active",
                      f"{text}: lower.pump1: RuntimeError: boom"),
                alarm(T0 + 2 * H, "controller.scan.FAILED", "rtn", text),
                alarm(T0 + 3 * H, "controller.scan.FAILED", "active",
                      f"{text}: alarms: TimeoutError: still running"),
                alarm(T0 + 3.5 * H, "controller.scan.FAILED", "rtn", text)])
    assert f.hours("lower") == pytest.approx(1.5)
    assert f.hours("drainage") == pytest.approx(0.5)       # the alarm timers: everyone's


def test_alarms_that_are_no_fault_of_ours_count_nothing() -> None:
    f = faults([alarm(T0 + H, "drainage.sump.level.HH", "active"),
                alarm(T0 + H, "hoist1.cycle.REFUSED", "active")])
    assert f.hours() == 0.0


# --- sensors --------------------------------------------------------------------------------
LEVEL = SC.sensors["drainage.lt1.level"]          # 0..5 m
FLOW = SC.sensors["drainage.pump1.flow"]          # 0..700 m3/h
OBS = [(T0, T0 + 10 * H)]


def test_a_value_unchanged_past_the_window_is_stuck_from_the_window_on() -> None:
    samples = [(T0, 1.5, 2), (T0 + 6 * H, 1.6, 2)]          # 6 h without a change
    st = av.sensor_time(LEVEL, samples, OBS, T0 + 10 * H, stuck_after_s=4 * H)
    assert st.stuck_s == pytest.approx(2 * H)
    assert st.bad_s == 0 and st.out_of_range_s == 0
    assert st.ok_pct == pytest.approx(80.0)


def test_a_noisy_value_recorded_every_few_minutes_is_not_stuck() -> None:
    """What the historian keeps of a noisy transmitter: a sample at least every 300 s,
    sometimes the same value again (it moved and came back in between)."""
    samples = [(T0 + k * 300.0, 1.5 + 0.001 * (k % 2), 2) for k in range(120)]
    st = av.sensor_time(LEVEL, samples, OBS, T0 + 10 * H, stuck_after_s=4 * H)
    assert st.stuck_s == 0.0 and st.ok_pct == pytest.approx(100.0)


def test_a_reading_at_rest_is_not_stuck() -> None:
    """No flow through a stopped pump all day is a reading, not a frozen transmitter."""
    st = av.sensor_time(FLOW, [(T0, 0.0, 2)], OBS, T0 + 10 * H, stuck_after_s=4 * H)
    assert st.stuck_s == 0.0
    st = av.sensor_time(FLOW, [(T0, 281.0, 2)], OBS, T0 + 10 * H, stuck_after_s=4 * H)
    assert st.stuck_s == pytest.approx(6 * H)


def test_bad_quality_and_out_of_range_are_not_working_order() -> None:
    samples = [(T0, 1.5, 2), (T0 + H, 1.5, int(Quality.BAD)),      # comm lost 1 h
               (T0 + 2 * H, 1.7, 2), (T0 + 3 * H, 5.4, int(Quality.BAD)),   # over 5 m 2 h
               (T0 + 5 * H, 1.8, 2), (T0 + 5.5 * H, 1.9, 2), (T0 + 6 * H, 2.0, 2),
               (T0 + 7 * H, 2.1, 2), (T0 + 8 * H, 2.2, 2), (T0 + 9 * H, 2.3, 2)]
    st = av.sensor_time(LEVEL, samples, OBS, T0 + 10 * H, stuck_after_s=4 * H)
    assert st.bad_s == pytest.approx(H)
    assert st.out_of_range_s == pytest.approx(2 * H)
    assert st.ok_pct == pytest.approx(70.0)
    assert "out of range 2.0 h" in st.why() and "no good value 1.0 h" in st.why()


def test_only_the_time_the_controller_ran_is_counted() -> None:
    """Down time is the controller's fault already: its sensors were not observed then."""
    observed = av.up_spans(T0, T0 + 10 * H, [(T0 + 2 * H, T0 + 6 * H)])
    st = av.sensor_time(LEVEL, [(T0, 1.5, 2), (T0 + 2 * H, 1.5, 0)], observed, T0 + 10 * H)
    assert st.observed_s == pytest.approx(6 * H)
    assert st.bad_s == pytest.approx(4 * H)          # 6 h - 10 h, bad, observed


def test_the_worst_sensors_are_named_and_a_share_of_nothing_is_none() -> None:
    a = av.SensorTime("a.b.c", observed_s=100, stuck_s=50)
    b = av.SensorTime("a.b.d", observed_s=100, bad_s=10)
    c = av.SensorTime("a.b.e", observed_s=100)
    assert [s.path for s in av.worst([c, b, a])] == ["a.b.c", "a.b.d"]
    assert av.sensors_ok_pct([a, b, c]) == pytest.approx(100 * (1 - 60 / 300))
    assert av.sensors_ok_pct([]) is None


# --- the live figures, seeded from the history --------------------------------------------
def _history(path: Path, t_end: float) -> Historian:
    h = Historian(path, deadband_pct=0.0, max_interval_s=1)
    for e in alive(T0, t_end):
        h.event(e["t"], "controller", "demo", "alive", e["data"])
    h.event(T0 + 2 * H, "alarm", "comm.drain2.LOST", "active: PLC drain2: link lost")
    h.event(T0 + 4 * H, "alarm", "comm.drain2.LOST", "rtn: PLC drain2: link lost")
    h.record("drainage.lt1.level", T0, 1.5, Quality.GOOD)
    h.record("drainage.lt1.level", T0 + 3 * H, 1.6, Quality.GOOD)
    h.record("drainage.lt1.level", T0 + 5 * H, 1.6, Quality.BAD)          # bad from 5 h
    h.flush()
    return h


def _tracker(store: TagStore, clock: ManualClock) -> AvailabilityTracker:
    return AvailabilityTracker(CFG, store, clock, DEFS, stuck_after_s=4 * H)


def test_a_restart_seeds_the_month_so_far_from_the_history(tmp_path: Path) -> None:
    """The figures at start are the history's, and the down time before the start is in
    them: a restart does not zero the month."""
    start = T0 + 10 * H
    h = _history(tmp_path / "h.db", T0 + 6 * H)          # then the controller went away
    clock = ManualClock(start)
    store = TagStore(clock)
    tr = _tracker(store, clock)
    tr.running_since = start
    tr.seed(h, start)
    tr.turn(start)
    v = store.value
    # down from 2 min after the last "alive" (its promise) to the start: every system's
    down = (4 * H - 120) / H
    assert v("controller.availability.lower_fault_h") == pytest.approx(2.0 + down, abs=1e-3)
    assert v("controller.availability.drainage_fault_h") == pytest.approx(down, abs=1e-3)
    assert v("controller.availability.fault_h") == v("controller.availability.lower_fault_h")
    f = tr.figures
    assert f is not None
    level = f.sensors["drainage.lt1.level"]
    # observed while the controller ran (to 6 h + 2 min), bad from 5 h on
    assert level.observed_s == pytest.approx(6 * H + 120)
    assert level.bad_s == pytest.approx(H + 120) and level.stuck_s == 0.0
    # the live part goes on from the store: a level read good now counts as working
    tag = store.define("drainage.lt1.level", TagMeta("m", 0.0, 5.0))
    store.update(tag, 1.6)
    clock.advance(H)
    tr.turn(clock.now())
    assert tr.figures is not None
    assert tr.figures.sensors["drainage.lt1.level"].observed_s == \
        pytest.approx(level.observed_s + H)
    assert tr.figures.sensors["drainage.lt1.level"].bad_s == pytest.approx(level.bad_s)
    h.close()


def test_live_alarm_events_add_to_the_seeded_month(tmp_path: Path) -> None:
    from fixedsite.alarms.engine import AlarmEvent

    start = T0 + 10 * H
    h = _history(tmp_path / "h.db", start)
    clock = ManualClock(start)
    store = TagStore(clock)
    tr = _tracker(store, clock)
    tr.running_since = start
    tr.seed(h, start)
    tr.on_alarm(AlarmEvent(start + H, "drainage.pump2.FAULT", "active", 2, "drainage",
                           "Main pump 2 fault"))
    clock.advance(3 * H)
    tr.turn(clock.now())
    assert store.value("controller.availability.drainage_fault_h") == pytest.approx(2.0)
    assert store.value("controller.availability.lower_fault_h") == pytest.approx(2.0)
    assert store.value("controller.availability.ventilation_fault_h") == 0.0
    h.close()


def test_stuck_and_out_of_range_live(tmp_path: Path) -> None:
    clock = ManualClock(T0 + H)
    store = TagStore(clock)
    level = store.define("drainage.lt1.level", TagMeta("m", 0.0, 5.0))
    flow = store.define("drainage.pump1.flow", TagMeta("m3/h", 0.0, 700.0))
    tr = _tracker(store, clock)
    tr.running_since = clock.now()
    tr.seed(None, clock.now())
    store.update(level, 1.5)
    store.update(flow, 800.0)                         # the store marks it bad out_of_range
    assert flow.reason == OUT_OF_RANGE
    for _ in range(6 * 60):
        clock.advance(60.0)
        tr.turn(clock.now())
    f = tr.figures
    assert f is not None
    assert f.sensors["drainage.lt1.level"].stuck_s == pytest.approx(2 * H)
    assert f.sensors["drainage.pump1.flow"].out_of_range_s == pytest.approx(6 * H)
    store.update(level, 1.5, Quality.BAD, COMM_FAIL)
    clock.advance(60.0)
    tr.turn(clock.now())
    assert tr.figures.sensors["drainage.lt1.level"].bad_s == pytest.approx(60.0)
    worst = str(store["controller.availability.worst"].value)
    assert worst.startswith("drainage.pump1.flow 0.0%")


# --- over the HIL ---------------------------------------------------------------------------
async def test_a_plc_link_cut_in_a_hil_run_counts_for_its_system_only(rig_factory: Any
                                                                       ) -> None:
    """drain2 (the lower pump room's PLC) goes down: the lower room's fault hours rise,
    the main room's (drain1) stay as they were."""
    rig = rig_factory(scale=600.0, relay=True)
    await rig.site.start()
    ctl = await rig.start_controller()
    store = ctl.store
    await rig.until(lambda: store.value("comm.drain2.online") is True
                    and store.value("comm.drain1.online") is True, 600, "both PLCs online")
    await rig.until(lambda: store.value("controller.availability.fault_h") is not None,
                    600, "the first figures")
    main_before = store.value("controller.availability.drainage_fault_h")
    assert store.value("controller.availability.lower_fault_h") == 0.0
    await rig.inject("link", "drain2", "down")
    await rig.until(lambda: (store.value("controller.availability.lower_fault_h") or 0) >= 0.5,
                    4 * 3600, "the lower room's fault time past half an hour")
    assert store.value("controller.availability.drainage_fault_h") == main_before
    assert store.value("controller.availability.fault_h") >= \
        store.value("controller.availability.lower_fault_h")
