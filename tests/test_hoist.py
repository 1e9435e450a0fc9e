"""Hoisting end to end over real S7 sockets (issue 14): two skip hoists, each on its own
simulated S7 PLC (configs/hoist-site.toml on free ports), and a controller with the S7
driver. The PLC does motion and protection; the supervisor loads quantitatively (the
PLC's cut-off at the target less the in-flight it learns), runs the automatic cycle
linked to the bins, refuses a second load into a loaded skip and an over-weight load,
checks the permissives before every trip, shows a protection trip with its cause and
never overrides it, and keeps each trip's payload, currents and speed deviation."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from conftest import Rig, site_config, started

from fixedsite.clock import ScaledClock
from fixedsite.config import ConfigError, SiteConfig, parse
from fixedsite.gate import Command
from fixedsite.hil.demo_config import hoist_text
from fixedsite.runtime import Controller

SCALE = 40.0
H = "hoist1"


def hoist_config(tmp: Path, scale: float = SCALE) -> SiteConfig:
    return site_config(hoist_text(scale=scale), tmp, "hoist-test.toml")


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with started(hoist_config(tmp_path), SCALE) as r:
        yield r


def v(ctl: Controller, path: str) -> Any:
    return ctl.store.value(f"{H}.{path}")


def unit(rig: Rig, system: str = H) -> Any:
    return next(u for u in rig.site.units if u.cfg.system == system)


async def inject(rig: Rig, fault: str, target: str, *args: str) -> None:
    await rig.inject(fault, target, *args)


def cmd(action: str, role: str = "operator", target: str = f"{H}.cycle",
        **params: Any) -> Command:
    return Command(target, action, "operator", "op1", params, role=role)


async def cycling(rig: Rig) -> Controller:
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "cycle.state") not in (None, "unknown"), 60,
                    "the hoist seen")
    done = await ctl.gate.submit(cmd("start_cycle"))
    assert done, done.reason
    return ctl


# --- config and register map ----------------------------------------------------------------

def test_the_hil_plc_and_the_configs_profile_agree_on_every_address(tmp_path: Path) -> None:
    from fixedsite.hil.hoist.unit import build
    from fixedsite.hil.servers import served

    cfg = hoist_config(tmp_path)
    for u in build(cfg, list(cfg.hil.hoist), ScaledClock(1.0)):
        system = cfg.systems[u.cfg.system]
        notation = served("s7").notation
        checked = 0
        for tag, p in u.points():
            address, _, kind = notation(p, tag)
            s7 = address if kind == "BOOL" or ":" in address else f"{address}:{kind}"
            if tag.startswith("plcs."):
                assert cfg.plcs[u.cfg.plc].heartbeat == s7
                continue
            _, eq, sig = tag.split(".")
            entry = system.equipment[eq].signals[sig]
            mapped = entry if isinstance(entry, str) else entry.address
            assert mapped == s7, (tag, mapped, s7)
            assert (1.0 if isinstance(entry, str) else entry.scale) == pytest.approx(p.scale)
            checked += 1
        assert checked == sum(len(e.signals) for e in system.equipment.values())


@pytest.mark.parametrize("old, new, key, words", [
    ("creep_mps = 0.5\npayload_t = 20", "creep_mps = 2.5\npayload_t = 20",
     "equipment.winder.creep_mps", "reaches its end at 2 m/s at most; got 2.5"),
    ("target_t = 19.0", "target_t = 21.0", "control.target_t",
     "expected at most the rated payload 20 t, got 21"),
    ('system = "hoist2"\nplc = "hoist2"', 'system = "hoist2"\nplc = "hoist1"',
     "hil.hoist.1.plc", "expected the winder's PLC 'hoist2', got 'hoist1'"),
    ('rope_monitor = "ropes"\ntarget_t = 19.0', 'rope_monitor = "winder"\ntarget_t = 19.0',
     "control.rope_monitor", "'winder' is not a rope monitor"),
])
def test_each_rule_names_the_key_and_what_was_expected(old: str, new: str, key: str,
                                                        words: str) -> None:
    text = hoist_text()
    assert old in text, old
    with pytest.raises(ConfigError) as e:
        parse(tomllib.loads(text.replace(old, new, 1)), "hoist.toml")
    assert any(key in k and words in m for k, m in e.value.problems), e.value.problems


# --- the cycle over the wire --------------------------------------------------------------

async def test_the_cycle_loads_to_the_target_hoists_dumps_and_keeps_each_trip(
        rig: Rig) -> None:
    ctl = await cycling(rig)
    u = unit(rig)
    surface0 = u.plant.surface.t
    await rig.until(lambda: u.plc.trips >= 4, 1200, "two round trips")
    target = ctl.cfg.systems[H].control.target_t
    assert abs(v(ctl, "cycle.last_load_t") - target) / target < 0.03
    assert 0 < v(ctl, "cycle.inflight_t") < 2.0
    assert v(ctl, "cycle.payload_t") == pytest.approx(target, rel=0.05)
    assert 0 < v(ctl, "cycle.rms_current") < v(ctl, "cycle.peak_current")
    assert v(ctl, "cycle.samples") > 20 and v(ctl, "cycle.speed_dev") < 1.0   # on profile
    assert 0 < v(ctl, "cycle.rope_spread_pct") < 10  # four ropes sharing the load
    assert v(ctl, "cycle.tonnage_hour") >= target
    assert u.plant.surface.t > surface0             # ore arrived at the surface
    assert u.plc.fault == 0
    # the second hoist, on its own PLC, ran beside it when started
    assert await ctl.gate.submit(cmd("start_cycle", target="hoist2.cycle"))
    await rig.until(lambda: unit(rig, "hoist2").plc.trips >= 2, 600, "hoist2 cycling")


async def test_a_second_load_into_a_loaded_skip_is_refused_and_alarmed(rig: Rig) -> None:
    u = unit(rig)
    u.plant.cage.load_t = 8.0                          # a load nobody hoisted
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "cycle.state") not in (None, "unknown"), 60, "seen")
    # by hand, in remote-manual: refused at the gate
    assert await ctl.gate.submit(cmd("set_mode", "engineer", target=f"{H}.cycle",
                                     mode="remote-manual"))
    await rig.until(lambda: v(ctl, "winder.mode") == 1, 60, "manual read back")
    no = await ctl.gate.submit(cmd("load"))
    assert not no and re.fullmatch(r"second load refused: the skip holds (7\.9|8\.\d) t already",
                                   no.reason), no.reason
    # the cycle, in remote-auto, hoists the loaded skip and never loads onto it
    assert await ctl.gate.submit(cmd("set_mode", "engineer", mode="remote-auto"))
    await rig.until(lambda: v(ctl, "winder.mode") == 2, 60, "auto read back")
    u.plant.surface.t = 0.95 * u.plant.surface.cap   # held at the station: bin full
    assert await ctl.gate.submit(cmd("start_cycle"))
    hopper0 = u.plant.loading.hopper_t
    await rig.until(lambda: "surface bin" in (v(ctl, "cycle.status") or ""), 60,
                    "waiting to hoist the loaded skip")
    await rig.run_for(30)
    assert not u.plant.loading.feeding and u.plant.loading.hopper_t == hopper0
    assert await ctl.gate.submit(cmd("stop_cycle"))
    assert await ctl.gate.submit(cmd("set_mode", "engineer", mode="remote-manual"))
    await rig.until(lambda: v(ctl, "winder.mode") == 1, 60, "manual again")
    # and a load that finds the skip loaded when it is weighed is refused and alarmed
    u.plant.cage.load_t = 0.0
    await rig.until(lambda: v(ctl, "winder.skip_load") < 0.5, 30, "the skip read empty")
    assert await ctl.gate.submit(cmd("load"))
    await rig.until(lambda: v(ctl, "cycle.state") == "loading", 30, "loading")
    u.plant.cage.load_t = 6.0                          # something fell in meanwhile
    await rig.until(lambda: v(ctl, "cycle.state") == "refused", 120, "refused")
    m = re.fullmatch(r"second load refused: the skip holds ([\d.]+) t already",
                     v(ctl, "cycle.refusal"))
    assert m and abs(float(m.group(1)) - 6.0) <= 0.2, v(ctl, "cycle.refusal")
    await rig.until(lambda: ctl.alarms.alarms[f"{H}.cycle.REFUSED"].state != "normal", 60,
                    "the refusal alarmed")
    assert u.plant.cage.load_t == pytest.approx(6.0)  # the chute never opened


async def test_a_feeder_that_runs_on_is_refused_and_no_over_weight_load_reaches_the_skip(
        rig: Rig) -> None:
    ctl = await cycling(rig)
    u = unit(rig)
    await inject(rig, "feeder-runs-on", H)
    await rig.until(lambda: v(ctl, "cycle.state") == "refused", 600, "refused")
    assert v(ctl, "cycle.refusal").startswith(("feeder does not stop",
                                               "over-weight load refused"))
    await rig.run_for(60)
    assert u.plant.cage.load_t < 0.5                  # the chute stayed shut
    assert u.plc.trips == 0 and u.plant.cage.x < 1.0  # and nothing was hoisted
    assert v(ctl, "cycle.refusals") >= 1


async def test_the_cycle_waits_on_the_bins_and_resumes_by_itself(rig: Rig) -> None:
    u = unit(rig)
    u.plant.surface.t = 0.95 * u.plant.surface.cap     # full
    ctl = await cycling(rig)
    await rig.until(lambda: v(ctl, "cycle.state") == "paused"
                    and "surface bin" in v(ctl, "cycle.status"), 600, "hoisting paused")
    x = u.plant.cage.x
    await rig.run_for(60)
    assert u.plant.cage.x == pytest.approx(x)          # loaded, waiting at the station
    u.plant.surface.t = 0.5 * u.plant.surface.cap
    await rig.until(lambda: v(ctl, "cycle.state") == "hoisting", 120, "hoisting again")
    # the ore bin empty: no load until it fills to the resume level
    await rig.until(lambda: u.plc.trips >= 2, 600, "back at the loading station")
    u.plant.loading.bin_t = 0.05 * u.plant.loading.bin_cap
    await rig.until(lambda: v(ctl, "cycle.state") == "paused"
                    and "ore bin" in v(ctl, "cycle.status"), 300, "loading paused")
    assert not u.plant.loading.feeding
    u.plant.loading.bin_t = 0.4 * u.plant.loading.bin_cap
    await rig.until(lambda: v(ctl, "cycle.state") == "loading", 120, "loading again")


async def test_a_protection_trip_is_shown_with_its_cause_and_never_overridden(
        rig: Rig) -> None:
    ctl = await cycling(rig)
    u = unit(rig)
    await rig.until(lambda: u.plc.state == 1 and u.plant.cage.v > 5, 600, "at speed")
    await inject(rig, "protection-trip", H, "overspeed")
    await rig.until(lambda: v(ctl, "cycle.state") == "tripped", 60, "tripped")
    assert v(ctl, "cycle.status") == "PLC trip 1: overspeed"
    await rig.until(lambda: ctl.alarms.alarms[f"{H}.winder.TRIP"].state != "normal", 60,
                    "P1 alarm")
    assert ctl.alarms.alarms[f"{H}.winder.TRIP"].d.priority == 1
    # the cause persists: the PLC keeps its trip whatever is written (the write may read
    # back 0 or the code the PLC rewrote: either way the trip stays)
    await ctl.gate.submit(cmd("reset"))
    await rig.run_for(20)
    assert u.plc.fault == 1 and v(ctl, "cycle.state") == "tripped"
    assert not u.plc.coils[1]                          # no trip command while tripped
    await inject(rig, "protection-trip", H, "overspeed", "off")
    assert await ctl.gate.submit(cmd("reset"))
    await rig.until(lambda: v(ctl, "cycle.state") != "tripped", 60, "reset read back")
    assert u.plc.fault == 0


async def test_the_permissives_hold_a_trip_until_each_is_back(rig: Rig) -> None:
    u = unit(rig)
    u.plc.brake_ok = False
    await inject(rig, "rope-damage", H)
    ctl = await cycling(rig)
    await rig.until(lambda: v(ctl, "cycle.status") == "rope monitor signals damage", 600,
                    "held for the ropes")
    assert u.plant.cage.x < 1.0 and u.plc.brake_ok   # a brake test was asked and passed
    await inject(rig, "rope-damage", H, "off")
    await inject(rig, "rope-monitor-fault", H)         # a monitor out of order is no monitor
    await rig.run_for(30)
    assert v(ctl, "cycle.status") == "rope monitor signals damage" and u.plc.state == 0
    await inject(rig, "rope-monitor-fault", H, "off")
    await inject(rig, "access-open", H)
    await rig.until(lambda: v(ctl, "cycle.status") == "winder room access open", 120,
                    "held for the door")
    await inject(rig, "access-open", H, "off")
    await rig.until(lambda: v(ctl, "cycle.state") == "hoisting", 120, "hoisting")


async def test_manual_commands_need_remote_manual_and_the_right_role(rig: Rig) -> None:
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "cycle.state") not in (None, "unknown"), 60, "seen")
    auto = await ctl.gate.submit(cmd("trip"))
    assert not auto and auto.reason == "the hoist is in remote-auto; switch it to " \
        "remote-manual first"
    role = await ctl.gate.submit(cmd("set_mode", "operator", mode="remote-manual"))
    assert not role and "engineer" in role.reason
    assert await ctl.gate.submit(cmd("set_mode", "engineer", mode="remote-manual"))
    await rig.until(lambda: v(ctl, "winder.mode") == 1, 60, "manual read back")
    cycle = await ctl.gate.submit(cmd("start_cycle"))
    assert not cycle and "needs remote-auto" in cycle.reason
    unit(rig).plc.brake_ok = False
    await rig.run_for(5)
    brake = await ctl.gate.submit(cmd("trip"))
    assert not brake and brake.reason == "brake test not passed"
    assert await ctl.gate.submit(cmd("brake_test"))
    await rig.until(lambda: v(ctl, "winder.brake_test_ok") is True, 60, "brake tested")
    trip = await ctl.gate.submit(cmd("trip"))
    assert trip, trip.reason
    await rig.until(lambda: unit(rig).plc.state == 2, 300, "at the dump")


async def test_without_the_controller_the_plc_finishes_its_trip_and_starts_no_other(
        rig: Rig) -> None:
    ctl = await cycling(rig)
    u = unit(rig)
    await rig.until(lambda: u.plc.state == 1, 600, "hoisting")
    await inject(rig, "heartbeat-deaf", "hoist1")
    await rig.until(lambda: u.plc.state == 2, 300, "the trip finished at the dump")
    await rig.until(lambda: u.plc.fallback, 300, "the PLC's watchdog")
    await rig.run_for(120)
    assert u.plc.state == 2 and u.plant.cage.x > 590   # no return without the controller
    no = await ctl.gate.submit(cmd("stop_cycle"))
    assert not no and "lost the controller's heartbeat" in no.reason


def test_the_monthly_report_counts_trips_tonnage_and_protection_cuts(tmp_path: Path) -> None:
    from fixedsite.sequences.hoist.report import lines

    cfg = hoist_config(tmp_path)
    trip = {"payload_t": 19.1, "peak_a": 231.0, "rms_a": 150.0, "speed_dev": 0.12,
            "took_s": 80.0}
    events = [{"t": float(k), "kind": "hoist", "source": f"{H}.cycle", "text": "trip",
               "data": trip | {"payload_t": 19.1 + k / 10}} for k in range(3)]
    events += [{"t": 9.0, "kind": "hoist", "source": f"{H}.cycle", "text": "trip cut",
                "data": trip}, {"t": 9.0, "kind": "hoist", "source": "hoist2.cycle",
                                "text": "trip", "data": trip}]
    out = lines(cfg, H, cfg.systems[H], events, 0.0, 36000.0)
    assert out == ["Main shaft skip hoist: 3 trips, 58 t hoisted (5.8 t/h over the month), "
                   "1 cut by a protection",
                   "  payload mean 19.20 t, heaviest 19.30 t; peak current 231 A; largest "
                   "speed deviation 0.12 m/s"]
    assert lines(cfg, H, cfg.systems[H], [], 0.0, 1.0) == [
        "Main shaft skip hoist: no trips this month"]


async def test_a_slack_rope_trips_the_plc_and_the_tensions_apart_are_alarmed(
        rig: Rig) -> None:
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "cycle.state") not in (None, "unknown"), 60, "seen")
    await inject(rig, "protection-trip", H, "slack-rope")
    await rig.until(lambda: v(ctl, "cycle.status") == "PLC trip 3: slack rope", 60,
                    "the PLC's trip")
    await rig.until(lambda: ctl.alarms.alarms[f"{H}.ropes.SPREAD"].state != "normal", 60,
                    "tensions apart")
    assert v(ctl, "cycle.rope_spread_pct") > 50


async def test_a_hopper_holding_ore_is_not_taken_as_the_tare(rig: Rig) -> None:
    """Ore left in the hopper (a restart mid-load, a refusal not cleared) would pass
    unweighed on top of the next load: the load is refused until the hopper is empty."""
    u = unit(rig)
    u.plant.loading.hopper_t = 10.0
    ctl = await cycling(rig)
    await rig.until(lambda: v(ctl, "cycle.state") == "refused", 120, "refused")
    assert v(ctl, "cycle.refusal").startswith("the hopper is not empty: 10.")
    assert not u.plant.loading.feeding and u.plant.cage.load_t < 0.5
    # the crew empties it; the reset clears the refusal and the cycle goes on
    u.plant.loading.hopper_t = 0.0
    await rig.run_for(5)
    assert await ctl.gate.submit(cmd("reset"))
    await rig.until(lambda: v(ctl, "cycle.state") == "loading", 120, "loading")


async def test_a_stop_mid_load_is_not_weighed_as_a_load(rig: Rig) -> None:
    ctl = await cycling(rig)
    u = unit(rig)
    await rig.until(lambda: v(ctl, "cycle.state") == "loading"
                    and u.plant.loading.hopper_t > 3, 300, "half a load")
    inflight = v(ctl, "cycle.inflight_t")
    assert await ctl.gate.submit(cmd("stop_cycle"))
    await rig.run_for(30)
    assert u.plant.cage.load_t < 0.5                 # nothing charged into the skip
    assert v(ctl, "cycle.inflight_t") == inflight     # nothing learnt from it
    assert not u.plc.coils[1]                         # and no trip left latched


async def test_the_return_waits_for_its_permissives_too(rig: Rig) -> None:
    ctl = await cycling(rig)
    u = unit(rig)
    await rig.until(lambda: u.plc.state == 1, 600, "hoisting")
    await inject(rig, "access-open", H)
    await rig.until(lambda: u.plc.state == 2 and u.plant.cage.load_t < 0.5, 300,
                    "dumped at the top")
    await rig.run_for(30)
    assert u.plc.state == 2 and not u.plc.coils[1]     # no return with the door open
    assert v(ctl, "cycle.status") == "winder room access open"
    await inject(rig, "access-open", H, "off")
    await rig.until(lambda: u.plc.state == 3, 60, "returning")
