"""The main pump room linked to the hydrological monitoring, end to end: the HIL's pump
room and its hydrological station (each its own PLC on real Modbus TCP) and the real
controller, on an accelerated clock.

What must hold: an inrush precursor raises the readiness and the room makes room before
the water arrives (and the same event without the linkage climbs higher); the plan is set
aside above the set inflow and taken up again after; a standby pump that cannot prime is
reported and alarmed; a station that falls silent holds the readiness at watch, alarmed,
and nothing else fails; a config that cannot work is refused naming the key.
"""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from pathlib import Path

import pytest
from conftest import Rig, site_config, started

from fixedsite.config import ConfigError, SiteConfig, parse
from fixedsite.hil.demo_config import demo_text, free_port

SCALE = 1440.0
LEAD_S = 2700.0
# a November day at 16:00, the evening peak, whatever the hour CI runs the test
PEAK = time.mktime((2026, 11, 3, 16, 0, 0, 0, 0, -1))
UNLINK = re.compile(r"(?ms)^\[systems\.drainage\.hydrology\]\n.*?(?=^\[)")


def config(tmp: Path, name: str, linked: bool = True, plan: bool = False,
           **replace: str) -> SiteConfig:
    """The demo's main room with its hydrological station; ``linked=False``: the station is
    simulated and read, but the room has no ``[hydrology]`` to act on it."""
    text = demo_text(free_port(), SCALE, plan=plan, hydrology=True, **replace)
    if not linked:
        text, n = UNLINK.subn("", text)
        assert n == 1
    return site_config(text, tmp / name, f"{name}.toml")


def alarm_state(rig: Rig, alarm: str) -> str:
    assert rig.ctl is not None
    return str(rig.ctl.alarms.alarms[alarm].state)


async def ready(rig: Rig) -> None:
    """The controller running with every pump adopted and the station read."""
    ctl = await rig.start_controller()
    await rig.until(lambda: str(ctl.store.value("drainage.control.status", "")).startswith(
        "demand"), 600, "the level control deciding")
    await rig.until(lambda: ctl.store.value("drainage.wim1.inflow") is not None, 600,
                    "the station read")


async def test_an_inrush_precursor_makes_room_before_the_water_arrives(tmp_path: Path) -> None:
    """The same inrush (the boreholes rise, the zone gives 600 m3/h more, reaching the sump
    45 minutes after the first rise and for an hour) into two identical rooms, one linked,
    one not, side by side."""
    common = {"initial_level_m": "1.3", "inrush_hold_s": "3600"}
    linked = config(tmp_path, "linked", **common)
    unlinked = config(tmp_path, "unlinked", linked=False, **common)
    hh = linked.systems["drainage"].control.high_high_m
    async with started(linked, SCALE) as a, started(unlinked, SCALE) as b:
        await asyncio.gather(ready(a), ready(b))
        seen: dict[str, dict[str, float]] = {"a": {}, "b": {}}

        async def inrush(rig: Rig, key: str) -> None:
            ctl = rig.ctl
            assert ctl is not None
            got = seen[key]
            t0 = rig.clock.now()
            got |= {"inject": rig.plant.sump.level, "high": 0.0, "readiness": 0.0}
            await rig.inject("inrush-precursor", "drainage.wim1", f"{LEAD_S:g}", "600")
            got["lowered"] = 0.0

            def check() -> None:
                now, level = rig.clock.now(), rig.plant.sump.level
                got["high"] = max(got["high"], level)
                r = ctl.store.value("drainage.hydrology.readiness") \
                    if "drainage.hydrology.readiness" in ctl.store else 0
                if isinstance(r, int | float) and r > got["readiness"]:
                    got["readiness"], got[f"raised{int(r)}_s"] = r, now - t0
                if "arrival" not in got and now - t0 >= LEAD_S:
                    got["arrival"] = level
                if "(hydrology)" in str(ctl.store.value("drainage.control.status")):
                    got["lowered"] = 1.0
                if alarm_state(rig, "drainage.sump.level.HH") != "normal":
                    got["hh_alarm"] = 1.0
            await rig.run_for(LEAD_S * 1.5 + 3600 + 600, check)
        await asyncio.gather(inrush(a, "a"), inrush(b, "b"))
        la, lb = seen["a"], seen["b"]
        # linked: alert well inside the lead, the levels lowered, room made before the water
        assert la["readiness"] == 2 and la["raised2_s"] < LEAD_S / 2, la
        assert la["lowered"] == 1.0, la
        assert la["arrival"] < la["inject"] - 0.05, la
        assert alarm_state(a, "drainage.hydrology.ALERT") != "normal"
        # ... and the peak passes with no high-high and no overflow
        assert la["high"] < hh - 0.2 and "hh_alarm" not in la, la
        assert a.plant.sump.overflowed_m3 == 0.0
        # unlinked: nothing raised, the water found a fuller sump and climbed higher
        assert lb["readiness"] == 0 and lb["lowered"] == 0.0, lb
        assert lb["arrival"] > la["arrival"] + 0.15, (la, lb)
        assert lb["high"] > la["high"] + 0.3, (la, lb)
        # the standby pumps were held primed and found ready, and that was said
        ctl = a.ctl
        assert ctl is not None
        assert any(r.command.action == "prime" and r.decision.accepted
                   for r in ctl.gate.records)
        assert "standby pumps ready" in str(ctl.store.value("drainage.hydrology.status"))


async def test_the_plan_is_suspended_above_the_set_inflow_and_resumed_after(
        tmp_path: Path) -> None:
    cfg = config(tmp_path, "plan", plan=True, initial_level_m="1.2", hold_s="1800",
                 inrush_hold_s="1800")
    async with started(cfg, SCALE) as rig:
        await ready(rig)
        ctl = rig.ctl
        assert ctl is not None
        planner = ctl.systems["drainage"].planner
        planner.inline = rig.clock.held              # the clock stands still while it solves
        band = cfg.systems["drainage"].plan.band_m   # type: ignore[union-attr]
        await rig.inject("inrush-precursor", "drainage.wim1", "1800", "400")
        await rig.until(lambda: ctl.store.value("drainage.hydrology.plan_suspended") is True,
                        3600, "the plan suspended")
        assert ctl.store.value("drainage.wim1.inflow") >= 150 * 0.9
        await rig.until(lambda: "plan suspended (hydrology)" in str(
            ctl.store.value("drainage.control.status")), 600, "the level rule alone")
        assert "plan suspended: inflow" in str(ctl.store.value("drainage.hydrology.status"))
        assert planner.band()[1] < band[1]           # and its band lowered with the levels
        await rig.until(lambda: ctl.store.value("drainage.hydrology.plan_suspended") is False,
                        4 * 3600, "the plan resumed")
        assert ctl.store.value("drainage.wim1.inflow") < 150 * 0.8
        await rig.until(lambda: "plan suspended" not in str(
            ctl.store.value("drainage.control.status")), 600, "the plan in charge again")


async def test_a_standby_pump_that_does_not_prime_is_reported_not_ready(
        tmp_path: Path) -> None:
    cfg = config(tmp_path, "prime", initial_level_m="0.8")
    async with started(cfg, SCALE) as rig:
        await ready(rig)
        ctl = rig.ctl
        assert ctl is not None
        await rig.inject("prime-fail", "drainage.pump4")
        await rig.inject("inrush-precursor", "drainage.wim1", f"{LEAD_S:g}", "300")
        await rig.until(lambda: str(ctl.store.value("drainage.pump4.standby")).startswith(
            "standby not ready"), 3600, "pump4 reported not ready")
        assert "casing not primed" in str(ctl.store.value("drainage.pump4.standby"))
        await rig.until(lambda: alarm_state(rig, "drainage.pump4.NOT_READY") != "normal",
                        600, "pump4's not-ready alarm")
        assert "pump4 not ready as standby: casing not primed" in str(
            ctl.store.value("drainage.hydrology.status"))
        # the others that stand by were primed and are ready
        await rig.until(lambda: any(ctl.store.value(f"drainage.pump{i}.standby") ==
                                    "standby ready" for i in (1, 2, 3)),
                        600, "another pump ready as standby")
        assert alarm_state(rig, "drainage.pump3.NOT_READY") == "normal"


async def test_a_silent_station_holds_watch_and_is_alarmed(tmp_path: Path) -> None:
    cfg = config(tmp_path, "silent", initial_level_m="1.2", hold_s="1800")
    async with started(cfg, SCALE) as rig:
        await ready(rig)
        ctl = rig.ctl
        assert ctl is not None
        assert ctl.store.value("drainage.hydrology.readiness") == 0
        await rig.inject("link", "hydro1", "down")
        await rig.until(lambda: ctl.store.value("drainage.hydrology.data_lost") is True,
                        2 * 3600, "the data lost")
        await rig.until(lambda: ctl.store.value("drainage.hydrology.readiness") == 1, 600,
                        "readiness held at watch")
        await rig.until(lambda: alarm_state(rig, "drainage.hydrology.DATA_LOST") != "normal",
                        600, "the data-lost alarm")
        assert "hydrological data lost" in str(ctl.store.value("drainage.hydrology.status"))
        # the level control says so on its next scan
        await rig.until(lambda: "(hydrology)" in str(ctl.store.value("drainage.control.status")),
                        600, "the control's status naming the hydrology")
        # the rest of the room goes on: its own PLC read, the level controlled
        assert ctl.store.value("comm.drain1.online") is True
        assert ctl.store.value("drainage.sump.level") is not None
        await rig.run_for(1800)
        assert rig.plant.max_level < cfg.systems["drainage"].control.high_high_m
        await rig.inject("link", "hydro1", "up")
        await rig.until(lambda: ctl.store.value("drainage.hydrology.data_lost") is False,
                        3600, "the data back")
        await rig.until(lambda: ctl.store.value("drainage.hydrology.readiness") == 0,
                        2 * 3600, "readiness back to normal after the hold")
        assert ctl.store.value("drainage.hydrology.lowered_m") == 0.0


def _refused(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse(tomllib.loads(text), "hydrology.toml")
    return info.value.problems


BASE = demo_text(free_port(), SCALE, hydrology=True)


@pytest.mark.parametrize("old, new, key, words", [
    ("rise_m = [1.5, 4.0]", "rise_m = [4.0, 1.5]", "systems.drainage.hydrology.rise_m",
     "watch 4 is not below alert 1.5"),
    ('boreholes = ["bh1", "bh2"]', 'boreholes = ["bh1", "pump1"]',
     "systems.drainage.hydrology.boreholes.1", "'pump1' is not a borehole"),
    ("lower_m = [0.3, 0.6]", "lower_m = [0.3, 0.9]", "systems.drainage.hydrology.lower_m",
     "within dry_margin_m"),
    ("lower_m = [0.3, 0.6]", "lower_m = [0.5, 0.4]", "systems.drainage.hydrology.lower_m",
     "alert the deeper"),
    ("rise_mpa = [0.015, 0.04]", "", "systems.drainage.hydrology.rise_mpa",
     "water_pressure is read but has no thresholds"),
    ('inflow_meters = ["wim1"]', "inflow_meters = []",
     "systems.drainage.hydrology.suspend_plan_inflow_m3h", "needs an inflow meter"),
    ('inflow_meter = "wim1"', 'inflow_meter = "bh1"', "hil.drainage.1.hydrology.inflow_meter",
     "'bh1' is not an inflow meter"),
    ('plc = "hydro1"\nseed = 7', 'plc = "hydro1"\nseed = 7\nstatic_head_m = 100',
     "hil.drainage.1.static_head_m", "a hydrological station has no pump room"),
    ("on_delay_s = 120              #", "on_delay_s = -1 #",
     "systems.drainage.hydrology.on_delay_s", "greater than or equal to 0"),
])
def test_a_hydrology_config_that_cannot_work_is_refused_naming_the_key(
        old: str, new: str, key: str, words: str) -> None:
    assert old in BASE
    problems = _refused(BASE.replace(old, new, 1))
    hits = [m for k, m in problems if k == key]
    assert hits and any(words in m for m in hits), problems


def test_a_pump_room_entry_still_needs_its_figures() -> None:
    text = re.sub(r"(?m)^static_head_m = .*\n", "", BASE, count=1)
    problems = _refused(text)
    assert ("hil.drainage.0.static_head_m", "required for a pump room (an entry without "
            "[hydrology])") in problems


def test_the_station_is_saved_and_restored_with_its_inrush(tmp_path: Path) -> None:
    from fixedsite.clock import ManualClock
    from fixedsite.hil.drainage.unit import StationUnit, build
    from fixedsite.hil.faults import parse as parse_fault
    from fixedsite.hil.state import StateError

    cfg = config(tmp_path, "state")
    clock = ManualClock(1000.0)

    def station() -> StationUnit:
        units = build(cfg, list(cfg.hil.drainage), clock)    # type: ignore[arg-type]
        unit = units[1]
        assert isinstance(unit, StationUnit)
        return unit
    first = station()
    first.inject(parse_fault(cfg, "inrush-precursor", "wim1", ["1800", "450"]), clock.now())
    clock.advance(2400)              # the water reaches the sump from 1800 s on
    saved = first.snapshot()
    again = station()
    for put in again.restore(saved, "units.1."):
        put()
    now = clock.now()
    assert again.station.to_sump(now) == first.station.to_sump(now) > 0
    assert again.station.rise(now) == 1.0
    with pytest.raises(StateError, match="units.1.precursors.0"):
        again.restore({"precursors": [[0, 1800]]}, "units.1.")
