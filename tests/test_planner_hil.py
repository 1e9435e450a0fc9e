"""The pump planner in the running controller, against the HIL over real Modbus TCP.

What must hold whatever the plan: the level control's hard limits win (a surge beyond the
forecast, a forecast wildly wrong), a trip is planned around, and in ordinary days the
pumping moves into the cheap hours without the sump leaving its band.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from conftest import Rig

from fixedsite.hil.drainage.plant import DrainagePlant
from fixedsite.sequences.drainage.level import automatic_pacing

DAY = 86400.0
# a November day from the start of its evening peak, whatever the hour CI runs the test
PEAK_STARTS = time.mktime((2026, 11, 3, 16, 0, 0, 0, 0, -1))


def energy_by_period(rig: Rig, plant: DrainagePlant | None = None
                     ) -> Callable[[], dict[str, float]]:
    """A check for ``run_for`` that books every scan's pump energy (of the main room, or of
    ``plant``) to its tariff period."""
    tariff = rig.cfg.tariff
    assert tariff is not None
    pumps = (plant or rig.plant).pumps
    booked: dict[str, float] = {}
    last = [sum(p.energy for p in pumps)]

    def check() -> dict[str, float]:
        e = sum(p.energy for p in pumps)
        name = tariff.at(rig.clock.now()).name
        booked[name] = booked.get(name, 0.0) + e - last[0]
        last[0] = e
        return booked
    return check


async def test_a_planned_day_pumps_in_the_valley_and_keeps_the_band(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1440.0, plan=True, origin=PEAK_STARTS)
    await rig.site.start()
    ctl = await rig.start_controller()
    # At 1440x a half-second solve would cost 12 plant minutes, which at real speed it
    # does not: the clock stands still while the planner solves (in the scan).
    ctl.systems["drainage"].planner.inline = rig.clock.held
    book = energy_by_period(rig)
    await rig.run_for(DAY, lambda: None if book() else None)
    booked = book()
    total = sum(booked.values())
    hours = {"valley": 10, "peak": 7, "flat": 7}             # November, demo tariff
    assert booked["valley"] / total > 1.15 * hours["valley"] / 24, booked
    assert booked["peak"] / total < 0.9 * hours["peak"] / 24, booked
    band = rig.cfg.systems["drainage"].control.normal_band_m
    assert band[0] <= rig.plant.min_level and rig.plant.max_level <= band[1]
    planner = ctl.systems["drainage"].planner
    assert planner.replans >= 60                            # every 15-min step, about
    schedule = ctl.store.value("drainage.plan.schedule")
    assert isinstance(schedule, str) and len(schedule) == 96
    assert max(int(c) for c in schedule) <= 3               # the max-demand cap
    assert "optimal" in str(ctl.store.value("drainage.plan.status"))
    # no short cycling: every automatic start and stop kept the plan's pacing
    pace = automatic_pacing(ctl.gate.records)
    plan = rig.cfg.systems["drainage"].plan
    assert plan is not None and pace["runs"] >= 3 and pace["rests"] >= 3, pace
    assert pace["shortest_run_s"] >= plan.min_run_s, pace
    assert pace["shortest_rest_s"] >= plan.min_rest_s, pace
    for seq in ctl.sequences.values():
        assert seq.starts_today(rig.clock.now()) <= plan.max_starts_per_day


async def test_a_surge_beyond_the_forecast_is_met_by_the_level_rule(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1440.0, plan=True, origin=PEAK_STARTS)
    await rig.site.start()
    ctl = await rig.start_controller()
    ctl.systems["drainage"].planner.inline = rig.clock.held                  # see the planned day
    await rig.run_for(3 * 3600)          # the planner has learnt a bit, rests in the peak
    await rig.until(lambda: rig.plant.sump.level >= 1.75, 4 * 3600, "the sump filling")
    rig.site.units[0].surge(0, 4 * 3600, 500.0)                    # 900 m3/h, 4 h, unforecast
    statuses: set[str] = set()
    running = [0]

    def check() -> None:
        statuses.add(str(ctl.store.value("drainage.control.status")))
        running[0] = max(running[0], sum(p.motor_on for p in rig.plant.pumps))
    await rig.run_for(6 * 3600, check)
    hh = rig.cfg.systems["drainage"].control.high_high_m
    assert rig.plant.max_level < hh, f"{rig.plant.max_level:.2f} m reached high-high"
    assert rig.plant.sump.overflowed_m3 == 0.0
    assert running[0] >= 3
    assert any("above the plan's band" in s for s in statuses), statuses


async def test_a_wildly_wrong_forecast_cannot_flood_the_sump(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1440.0, plan=True, initial_level_m="1.9")
    await rig.site.start()
    assert rig.cfg.systems["drainage"].plan is not None
    ctl = await rig.start_controller()
    planner = ctl.systems["drainage"].planner
    now = rig.clock.now()
    step = planner.p.step_s
    # a week of history saying 20 m3/h flows in: the truth is twenty times that
    planner.seed([(now - 7 * DAY + i * step, 20.0) for i in range(int(7 * DAY / step))])
    await rig.run_for(8 * 3600)
    band = rig.cfg.systems["drainage"].control.normal_band_m
    assert rig.plant.max_level <= band[1] + 0.15, f"{rig.plant.max_level:.2f} m"
    assert rig.plant.sump.overflowed_m3 == 0.0
    # and the forecast has learnt better within those hours
    assert planner.forecast.forecast(rig.clock.now(), 1).inflow[0] > 200.0


async def test_a_trip_is_planned_around(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1440.0, plan=True, initial_level_m="1.6")
    await rig.site.start()
    ctl = await rig.start_controller()
    await rig.until(lambda: any(p.motor_on and p.flow > 100 for p in rig.plant.pumps),
                    4 * 3600, "a planned pump running")
    first = next(i for i, p in enumerate(rig.plant.pumps) if p.motor_on)
    rig.plc.inject_trip(first)
    await rig.until(lambda: "3 pumps available" in str(ctl.store.value(
        "drainage.plan.status")), 3 * 3600, "a plan made for three pumps")
    await rig.run_for(6 * 3600)
    assert not rig.plant.pumps[first].motor_on               # not restarted behind anyone
    assert rig.plant.max_level <= rig.cfg.systems["drainage"].control.normal_band_m[1]


async def test_relay_rooms_are_planned_together_and_neither_sump_leaves_its_band(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1440.0, plan=True, relay=True, origin=PEAK_STARTS)
    await rig.site.start()
    ctl = await rig.start_controller()
    upper, lower = ctl.systems["drainage"].planner, ctl.systems["lower"].planner
    assert (upper.name, lower.name, lower.lead) == ("drainage", "lower", upper)
    upper.inline = rig.clock.held
    low_plant = rig.site.unit("lower").plant
    metered: list[float] = []                    # what the main planner measures flowing in
    update = upper.forecast.update
    upper.forecast.update = lambda t, q: (metered.append(q), update(t, q))[1]  # type: ignore[method-assign]
    own, relay, last = [0.0], [0.0], [rig.clock.now()]

    def check() -> None:
        now = rig.clock.now()
        own[0] += rig.plant.inflow_now * (now - last[0])
        relay[0] += low_plant.pumped() * (now - last[0])
        last[0] = now
    await rig.run_for(DAY / 2, check)            # the evening peak and the night's valley
    own_mean, relay_mean = own[0] / (DAY / 2), relay[0] / (DAY / 2)
    assert relay_mean > 40.0                                 # the lower room pumped up
    # the main room's forecast is of its own inflow: the relay is planned, not forecast
    assert abs(float(np.mean(metered)) - own_mean) < 0.25 * relay_mean, (
        np.mean(metered), own_mean, relay_mean)
    for name, plant in (("drainage", rig.plant), ("lower", low_plant)):
        band = rig.cfg.systems[name].control.normal_band_m
        assert band[0] <= plant.min_level and plant.max_level <= band[1], (
            name, plant.min_level, plant.max_level)
        assert plant.sump.overflowed_m3 == 0.0
    # the lower room really pumped into the main sump, on plans made by the main planner
    assert lower.replans >= 40 and lower.replans >= upper.replans - 2
    assert "relay" in str(ctl.store.value("lower.plan.status"))
    schedule = str(ctl.store.value("lower.plan.schedule"))
    assert len(schedule) == 96 and max(int(c) for c in schedule) <= 2   # its own cap


async def test_a_demo_day_keeps_every_pumps_minimum_run_and_rest(
        rig_factory: Callable[..., Rig]) -> None:
    """The demo as it runs (both rooms, plans solved in a worker thread while the plant
    goes on): level rule and plan take turns, and no automatic command may short-cycle a
    pump (seen before: a start stopped two minutes later)."""
    rig = rig_factory(scale=1440.0, plan=True, relay=True, origin=PEAK_STARTS)
    await rig.site.start()
    ctl = await rig.start_controller()
    await rig.run_for(DAY)
    pace = automatic_pacing(ctl.gate.records)
    plan = rig.cfg.systems["drainage"].plan
    assert plan is not None and pace["runs"] >= 5, pace
    assert pace["shortest_run_s"] >= plan.min_run_s, pace
    assert pace["shortest_rest_s"] >= plan.min_rest_s, pace
    now = rig.clock.now()
    for seq in ctl.sequences.values():
        assert seq.starts_today(now) <= plan.max_starts_per_day, seq.path
    for sname in ("drainage", "lower"):
        band = rig.cfg.systems[sname].control.normal_band_m
        unit = rig.site.unit(sname).plant
        assert unit.sump.overflowed_m3 == 0.0
        assert band[0] - 0.05 <= unit.min_level and unit.max_level <= band[1] + 0.05, sname
