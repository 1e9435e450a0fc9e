"""The drainage pump room end to end: HIL PLC on real Modbus TCP, the real controller."""

from __future__ import annotations

from collections.abc import Callable

from conftest import Rig

from fixedsite.tags import COMM_FAIL, Quality

DAY = 86400.0


async def test_sump_stays_in_band_for_a_day_with_a_surge(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1440.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    # a 3-hour surge of +350 m3/h lands 10 h in: ~750 m3/h in all, above the design maximum
    rig.site.units[0].surge(10 * 3600, 3 * 3600, 350.0)
    band = rig.cfg.systems["drainage"].control.normal_band_m
    most_running = 0

    def check() -> None:
        nonlocal most_running
        most_running = max(most_running, sum(p.motor_on for p in rig.plant.pumps))

    await rig.run_for(DAY, check)
    lo, hi = rig.plant.min_level, rig.plant.max_level
    assert band[0] <= lo and hi <= band[1], f"level left the band: {lo:.2f}..{hi:.2f} m"
    assert rig.plant.sump.overflowed_m3 == 0.0
    assert most_running >= 3, f"the surge should have called the third stage ({lo:.2f}..{hi:.2f} m)"
    # the controller ran the plant, not the PLC's fallback
    assert not any(e.what == "fallback" for e in rig.plc.events)
    assert ctl.store.value("drainage.sump.level") is not None
    # duty rotation: every pump did some of the work
    hours = [p.run_hours for p in rig.plant.pumps]
    assert min(hours) > 0.2, f"run hours {hours}"


async def test_a_trip_starts_the_next_pump(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=600.0, initial_level_m="1.7")
    await rig.site.start()
    ctl = await rig.start_controller()
    await rig.until(lambda: sum(p.motor_on and p.flow > 100 for p in rig.plant.pumps) >= 1,
                    1800, "a pump running with flow")
    first = next(i for i, p in enumerate(rig.plant.pumps) if p.motor_on)
    running_before = {i for i, p in enumerate(rig.plant.pumps) if p.motor_on}
    rig.plc.inject_trip(first)
    await rig.until(lambda: not rig.plant.pumps[first].motor_on, 120, "the trip")
    await rig.until(lambda: any(p.motor_on and p.flow > 100 for i, p in
                                enumerate(rig.plant.pumps) if i not in running_before),
                    600, "a replacement pump running with flow")
    seq = ctl.sequences[f"drainage.pump{first + 1}"]
    assert seq.state == "fault"
    assert "overload" in seq.fault_reason
    # the tripped pump is not restarted behind the operator's back
    assert not rig.plant.pumps[first].motor_on


async def test_plc_outage_marks_tags_bad_then_recovers(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=60.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    level = ctl.store["drainage.lt1.level"]
    await ctl.store.wait_for(level.path, lambda t: t.quality is Quality.GOOD, 10)
    await rig.site.unit("drainage").server.stop()
    await ctl.store.wait_for(level.path, lambda t: t.quality is Quality.BAD, 10)
    assert level.reason == COMM_FAIL
    bad = [t for t in (ctl.store[p] for p in ctl.drivers["drain1"].points)
           if t.quality is not Quality.BAD]
    assert bad == [], "every tag of an unreachable PLC is bad"
    assert ctl.store.value("comm.drain1.online") is False
    await rig.site.unit("drainage").server.start()
    await ctl.store.wait_for(level.path, lambda t: t.quality is Quality.GOOD, 15)
    assert ctl.store.value("comm.drain1.online") is True
    assert abs(level.value - rig.plant.sump.level) < 0.05


async def test_stuck_valve_faults_the_start_and_another_pump_takes_over(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=600.0, initial_level_m="1.55")
    for i in range(4):
        rig.plc.inject_valve_stuck(i, i == 0)      # pump 1 has the fewest hours: first
    await rig.site.start()
    ctl = await rig.start_controller()
    seq = ctl.sequences["drainage.pump1"]
    await rig.until(lambda: seq.state == "fault", 1800, "pump1 start to fail on its valve")
    assert "valve open limit not reached" in seq.fault_reason
    await rig.until(lambda: any(p.flow > 100 for p in rig.plant.pumps[1:]), 1800,
                    "another pump running with flow")
    assert not rig.plant.pumps[0].motor_on, "the failed pump is left stopped"


async def test_stuck_level_sensor_is_outvoted(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=600.0, initial_level_m="1.0")
    await rig.site.start()
    ctl = await rig.start_controller()
    await ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    rig.plc.inject_sensor_stuck(0)                 # frozen at 1.0 m while water rises
    await rig.until(lambda: ctl.store.value("drainage.sump.sensor_disagree") is True,
                    4 * 3600, "the transmitters to disagree")
    level = ctl.store["drainage.sump.level"]
    assert level.quality.name == "UNCERTAIN" and level.reason == "sensor_disagree"
    # the control follows the higher, live transmitter and starts pumping
    await rig.until(lambda: any(p.motor_on for p in rig.plant.pumps), 4 * 3600,
                    "a pump started on the live transmitter")
    assert rig.plant.max_level < 1.9
