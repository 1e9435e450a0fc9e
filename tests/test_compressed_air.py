"""Compressed air end to end over real Modbus sockets (issue 14): the HIL's station
(three water-cooled screws, receiver and network, cooling water, intake CO, upstream
breaker) behind its PLC (configs/compressed-air-site.toml on free ports), and a controller
with the Modbus driver. Cooling water is proven before any start; lead/lag holds the
band; cooling lost unloads then stops the water-cooled machines and changes over to the
standby pump; a discharge over-temperature is tripped by the PLC and shown with its
cause; an upstream supply lost is shown as such, not as a trip; every refusal of the gate
says why; the PLC holds the station on its own switches when the controller is gone and
the controller takes it back bumplessly."""

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
from fixedsite.hil.demo_config import air_text
from fixedsite.runtime import Controller

SCALE = 40.0
S = "air"


def air_config(tmp: Path, scale: float = SCALE, **replace: str) -> SiteConfig:
    return site_config(air_text(scale=scale, **replace), tmp, "air-test.toml")


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with started(air_config(tmp_path), SCALE) as r:
        yield r


def v(ctl: Controller, path: str) -> Any:
    return ctl.store.value(f"{S}.{path}")


def unit(rig: Rig) -> Any:
    return rig.site.units[0]


async def inject(rig: Rig, fault: str, target: str, *args: str) -> None:
    await rig.inject(fault, target, *args)


async def settled(rig: Rig) -> Controller:
    ctl = await rig.start_controller()
    lo = rig.cfg.systems[S].control.band_mpa[0]
    await rig.until(lambda: v(ctl, "cw.state") == "proven" and v(ctl, "control.loaded") >= 1
                    and (v(ctl, "receiver.pressure") or 0) >= lo, 900,
                    "the station running, the pressure up to its band")
    return ctl


def cmd(target: str, action: str, role: str = "operator", **params: Any) -> Command:
    return Command(f"{S}.{target}", action, "operator", "op1", params, role=role)


# --- config ----------------------------------------------------------------------------

def test_the_hil_plc_and_the_configs_profile_agree_on_every_address(tmp_path: Path) -> None:
    """Two register maps written apart (the controller's profile, the PLC's own): each
    point the PLC serves is where the config says its signal is."""
    from fixedsite.hil.compressed_air.unit import build

    cfg = air_config(tmp_path)
    u = build(cfg, list(cfg.hil.compressed_air), ScaledClock(1.0))[0]
    system = cfg.systems[S]
    checked = 0
    for tag, p in u.points():
        if tag.startswith("plcs."):
            assert cfg.plcs["air1"].heartbeat == p.address
            continue
        _, eq, sig = tag.split(".")
        entry = system.equipment[eq].signals[sig]
        address = entry if isinstance(entry, str) else entry.address
        assert address == p.address, (tag, address, p.address)
        scale = 1.0 if isinstance(entry, str) else entry.scale
        assert scale == pytest.approx(p.scale), tag
        checked += 1
    assert checked == sum(len(e.signals) for e in system.equipment.values())


@pytest.mark.parametrize("old, new, key, words", [
    ("band_mpa = [0.58, 0.65]", "band_mpa = [0.70, 0.65]", "control",
     "expected [low, high] with low < high, got [0.7, 0.65]"),
    ('cooling = "cw"\n', "", "control.cooling", "'c1' is water-cooled"),
    ("slot = 2\nrated_flow", "slot = 1\nrated_flow", "equipment.c3.signals.run_cmd",
     "address 'coil:4' is already used by systems.air.equipment.c2.signals.run_cmd"),
    ('compressors = ["c1", "c2", "c3"]', 'compressors = ["c1", "c2"]', "control.compressors",
     "compressor 'c3' is not in the lead/lag list"),
    ("local_bands_mpa = [[0.62, 0.72], [0.60, 0.70], [0.58, 0.68]]",
     "local_bands_mpa = [[0.62, 0.72]]", "hil.compressed_air.0.local_bands_mpa",
     "expected one [load, unload] band per compressor (3), got 1"),
    ('pumps = ["cwp1", "cwp2"]', 'pumps = ["cwp1", "c1"]', "equipment.cw.pumps.1",
     "'c1' is not a water_pump"),
])
def test_each_rule_names_the_key_and_what_was_expected(old: str, new: str, key: str,
                                                        words: str) -> None:
    text = air_text()
    assert old in text, old
    with pytest.raises(ConfigError) as e:
        parse(tomllib.loads(text.replace(old, new, 1)), "air.toml")
    assert any(key in k and words in m for k, m in e.value.problems), e.value.problems


# --- sequences over the wire ---------------------------------------------------------------

async def test_cooling_is_proven_before_any_start_and_the_band_is_held(rig: Rig) -> None:
    ctl = await settled(rig)
    plc = unit(rig).plc
    starts = [e for e in plc.events if e.what == "start"]
    first_pump = next(e.t for e in starts if e.unit.startswith("water_pump"))
    first_comp = next(e.t for e in starts if e.unit.startswith("compressor"))
    assert first_comp - first_pump >= ctl.cfg.systems[S].control.cooling_prove_s
    assert v(ctl, "cw.duty_pump") == "cwp1"
    lo, hi = ctl.cfg.systems[S].control.band_mpa
    seen: list[float] = []
    await rig.run_for(1800, lambda: seen.append(unit(rig).plant.pressure))
    inside = sum(lo - 0.01 <= p <= hi + 0.01 for p in seen) / len(seen)
    assert inside > 0.9, inside
    assert 5.0 < v(ctl, "control.specific_power") < 8.0     # kW per m3/min of a screw
    assert v(ctl, "control.lead").startswith("c")
    # every automatic step went through the gate (and its audit)
    autos = [r for r in ctl.gate.records if r.command.source == "auto"]
    assert autos and all(r.decision.accepted for r in autos)


async def test_cooling_lost_unloads_at_once_changes_over_and_reloads_when_proven(
        rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "cw-pump-trip", "cwp1")
    await rig.until(lambda: v(ctl, "cw.state") == "lost", 60, "cooling lost")
    loaded = lambda: [m for m in ("c1", "c2", "c3") if v(ctl, f"{m}.state") == "loaded"]  # noqa: E731
    await rig.until(lambda: not loaded(), 40, "water-cooled machines unloaded at once")
    await rig.until(lambda: v(ctl, "cw.duty_pump") == "cwp2", 60, "standby pump on")
    await rig.until(lambda: v(ctl, "cw.state") == "proven", 120, "flow proven again")
    await rig.until(lambda: bool(loaded()), 300, "machines loaded again")
    assert all(int(unit(rig).plc.fault[i]) == 0 for i in range(3))     # no PLC trip
    assert ctl.alarms.alarms[f"{S}.cwp1.TRIP"].state != "normal"
    # the tripped pump is not reset by the supervisor; an operator does it
    assert unit(rig).plc.pump_fault[0] == 1
    await inject(rig, "cw-pump-trip", "cwp1", "off")
    done = await ctl.gate.submit(cmd("cwp1", "reset"))
    assert done, done.reason
    await rig.until(lambda: v(ctl, "cwp1.tripped") is False, 60, "cwp1 reset")


async def test_no_cooling_at_all_stops_the_machines_before_the_plc_trips_them(
        rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "cw-pump-trip", "cwp1")
    await inject(rig, "cw-pump-trip", "cwp2")
    await rig.until(lambda: v(ctl, "cw.state") == "lost", 60, "cooling lost")
    stop_s = ctl.cfg.systems[S].control.cooling_stop_s
    await rig.until(lambda: all(v(ctl, f"{m}.state") == "stopped" for m in ("c1", "c2", "c3")),
                    stop_s + 40, "every machine stopped")
    assert unit(rig).plc.fault == [0, 0, 0]      # the supervisor was first, not the PLC
    manual = await ctl.gate.submit(cmd("c1", "set_mode", "engineer", mode="remote-manual"))
    assert manual, manual.reason
    no = await ctl.gate.submit(cmd("c1", "start"))
    assert not no and no.reason == "cooling water not proven: c1 is water-cooled"


async def test_a_stuck_flow_switch_does_not_hide_the_loss(rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "flow-switch-stuck", "air")          # frozen at "flow"
    await inject(rig, "cw-pump-trip", "cwp1")
    await inject(rig, "cw-pump-trip", "cwp2")
    await rig.until(lambda: v(ctl, "cw.state") == "lost", 60, "loss seen through the switch")
    assert "no pump running" in v(ctl, "cw.status")
    await rig.until(lambda: all(v(ctl, f"{m}.state") == "stopped" for m in ("c1", "c2", "c3")),
                    120, "every machine stopped")


async def test_a_discharge_over_temperature_is_tripped_by_the_plc_and_shown_with_its_cause(
        rig: Rig) -> None:
    ctl = await settled(rig)
    first = next(m for m in ("c1", "c2", "c3") if v(ctl, f"{m}.state") == "loaded")
    await inject(rig, "overheat", first)
    await rig.until(lambda: ctl.alarms.alarms[f"{S}.{first}.DISCHARGE_T"].state != "normal",
                    900, "discharge temperature alarm")
    await rig.until(lambda: v(ctl, f"{first}.state") == "tripped", 900, "PLC trip")
    assert v(ctl, f"{first}.fault_reason") == "PLC trip 1: discharge over-temperature"
    trip = ctl.alarms.alarms[f"{S}.{first}.TRIP"]
    assert trip.state != "normal"
    # the station makes up with the others
    await rig.until(lambda: any(v(ctl, f"{m}.state") == "loaded" for m in ("c1", "c2", "c3")
                                if m != first), 300, "another machine loaded")
    await ctl.gate.submit(cmd(first, "set_mode", "engineer", mode="remote-manual"))
    hot = await ctl.gate.submit(cmd(first, "reset"))
    assert not hot and re.fullmatch(rf"{first}: discharge 1\d\d degC: the PLC keeps the trip "
                                    r"until under 100 degC", hot.reason), hot.reason
    await inject(rig, "overheat", first, "off")
    await rig.until(lambda: unit(rig).plant.compressors[int(first[1]) - 1].discharge_c < 95,
                    1800, "cooled down")
    ok = await ctl.gate.submit(cmd(first, "reset"))
    assert ok, ok.reason
    await rig.until(lambda: v(ctl, f"{first}.state") == "stopped", 60, "reset read back")


async def test_upstream_supply_lost_is_shown_as_such_and_the_station_restarts_after(
        rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "upstream-lost", "air")
    await rig.until(lambda: all(v(ctl, f"{m}.state") == "no supply" for m in ("c1", "c2", "c3")),
                    60, "every machine shown without supply")
    await rig.until(lambda: ctl.alarms.alarms[f"{S}.receiver.SUPPLY"].state != "normal", 60,
                    "supply alarm")
    assert all(ctl.alarms.alarms[f"{S}.{m}.TRIP"].state == "normal" for m in ("c1", "c2", "c3"))
    assert unit(rig).plc.fault == [0, 0, 0]
    await inject(rig, "upstream-lost", "air", "off")
    await rig.until(lambda: any(v(ctl, f"{m}.state") == "loaded" for m in ("c1", "c2", "c3")),
                    600, "the station back by itself")


async def test_the_gate_refuses_what_it_must_and_says_why(rig: Rig) -> None:
    ctl = await settled(rig)
    auto = await ctl.gate.submit(cmd("c1", "start"))
    assert not auto and auto.reason == "c1 is in remote-auto; switch it to remote-manual first"
    role = await ctl.gate.submit(cmd("c1", "set_mode", "operator", mode="remote-manual"))
    assert not role and "engineer" in role.reason
    bad = await ctl.gate.submit(cmd("c1", "set_mode", "engineer", mode="fast"))
    assert not bad and bad.reason.startswith("unknown mode 'fast'")
    stopped = "c3"
    assert await ctl.gate.submit(cmd(stopped, "set_mode", "engineer", mode="remote-manual"))
    await rig.until(lambda: v(ctl, f"{stopped}.mode") == 1, 60, "mode read back")
    if v(ctl, f"{stopped}.state") != "stopped":
        assert await ctl.gate.submit(cmd(stopped, "stop"))
        await rig.until(lambda: v(ctl, f"{stopped}.state") == "stopped", 60, "stopped")
    load = await ctl.gate.submit(cmd(stopped, "load"))
    assert not load and load.reason == f"{stopped} is stopped: only a running machine loads"
    reset = await ctl.gate.submit(cmd(stopped, "reset"))
    assert not reset and reset.reason == f"{stopped} is not tripped"
    await inject(rig, "local", stopped)
    await rig.until(lambda: v(ctl, f"{stopped}.state") == "local", 60, "local seen")
    local = await ctl.gate.submit(cmd(stopped, "start"))
    assert not local and local.reason == f"{stopped} is in LOCAL at the field panel"
    await inject(rig, "local", stopped, "off")
    await rig.until(lambda: v(ctl, f"{stopped}.state") == "stopped", 60, "remote again")
    started = await ctl.gate.submit(cmd(stopped, "start"))
    assert started, started.reason
    await rig.until(lambda: v(ctl, f"{stopped}.state") == "unloaded", 60, "ran up unloaded")
    assert await ctl.gate.submit(cmd(stopped, "load"))
    await rig.until(lambda: v(ctl, f"{stopped}.state") == "loaded", 60, "loaded")
    pump = await ctl.gate.submit(cmd("cwp1", "reset"))
    assert not pump and pump.reason == "cwp1 is not tripped"


async def test_the_plc_holds_the_station_without_the_controller_and_the_return_is_bumpless(
        rig: Rig) -> None:
    ctl = await settled(rig)
    await rig.stop_controller()
    plc = unit(rig).plc
    await rig.until(lambda: plc.fallback, 120, "the PLC on its own switches")
    seen: list[float] = []
    await rig.run_for(1200, lambda: seen.append(unit(rig).plant.pressure))
    assert min(seen) > 0.5, min(seen)          # held, by the staggered switches
    running = {i for i, c in enumerate(unit(rig).plant.compressors) if c.motor_on}
    assert running
    back = rig.clock.now()
    ctl = await rig.start_controller()
    await rig.until(lambda: not plc.fallback, 60, "the controller back")
    await rig.run_for(60)
    # taken over as they run: none of the running machines stopped by the return
    assert not [e for e in plc.events if e.what == "stop" and e.t >= back
                and e.unit.startswith("compressor") and int(e.unit[-1]) in running]
    assert {i for i, c in enumerate(unit(rig).plant.compressors) if c.motor_on} >= running
    assert any(v(ctl, f"{m}.state") in ("loaded", "unloaded") for m in ("c1", "c2", "c3"))


def test_the_monthly_report_sums_the_hourly_records(tmp_path: Path) -> None:
    """The lead/lag keeps each hour's energy, air and loaded time per machine; the report
    sums them to loaded hours and specific power per machine and for the station, and the
    share of time in band; other systems' and other kinds' events are not counted."""
    from fixedsite.sequences.compressed_air.report import lines

    cfg = air_config(tmp_path)
    hour = {"machines": {"c1": {"kwh": 240.0, "m3": 2520.0, "loaded_h": 1.0},
                         "c2": {"kwh": 120.0, "m3": 1000.0, "loaded_h": 0.4},
                         "c3": {"kwh": 0.0, "m3": 0.0, "loaded_h": 0.0}},
            "in_band_s": 3240.0, "seen_s": 3600.0, "from": 0.0}
    events = [{"t": 3600.0 * k, "kind": "compressed_air", "source": f"{S}.control",
               "text": "hour", "data": hour} for k in (1, 2)]
    events += [{"t": 1.0, "kind": "compressed_air", "source": "other.control", "text": "hour",
                "data": hour}, {"t": 2.0, "kind": "power", "source": f"{S}.control",
                                "text": "hour", "data": hour}]
    out = lines(cfg, S, cfg.systems[S], events, 0.0, 86400.0)
    assert out == [
        "compressed air (2 h recorded): pressure in band 0.58-0.65 MPa 90.0 % of the time",
        "  c1: loaded 2.0 h, 480 kWh, 5040 m3 of air, specific power 5.71 kW/(m3/min)",
        "  c2: loaded 0.8 h, 240 kWh, 2000 m3 of air, specific power 7.20 kW/(m3/min)",
        "  c3: loaded 0.0 h, 0 kWh, 0 m3 of air, specific power -",
        "  station: 720 kWh, 7040 m3 of air, specific power 6.14 kW/(m3/min)"]
    assert lines(cfg, S, cfg.systems[S], [], 0.0, 1.0) == [
        "compressed air: no hourly records this month"]


async def test_a_quick_restart_keeps_the_standby_pump_and_writes_nothing_at_once(
        rig: Rig) -> None:
    """The standby pump is the duty pump when the controller restarts (inside the PLC's
    watchdog): the new controller takes the circuit and the machines as they run."""
    ctl = await settled(rig)
    await inject(rig, "cw-pump-trip", "cwp1")
    await rig.until(lambda: v(ctl, "cw.duty_pump") == "cwp2" and v(ctl, "cw.state") ==
                    "proven", 300, "the standby pump on duty, flow proven")
    await inject(rig, "cw-pump-trip", "cwp1", "off")
    assert await ctl.gate.submit(cmd("cwp1", "reset"))
    await rig.until(lambda: v(ctl, "cwp1.tripped") is False, 60, "cwp1 reset")
    plc = unit(rig).plc
    running = {i for i, c in enumerate(unit(rig).plant.compressors) if c.motor_on}
    await rig.stop_controller()
    back = rig.clock.now()
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "cw.state") == "proven", 120, "flow proven again")
    await rig.run_for(60)
    assert not plc.fallback
    assert v(ctl, "cw.duty_pump") == "cwp2"
    assert unit(rig).plant.cooling.pumps_on == [False, True]
    assert not [e for e in plc.events if e.t >= back and e.what == "stop"
                and (e.unit.startswith("water_pump")
                     or (e.unit.startswith("compressor") and int(e.unit[-1]) in running))]


async def test_cooling_lost_unloads_a_machine_in_remote_manual_too(rig: Rig) -> None:
    ctl = await settled(rig)
    m = next(x for x in ("c1", "c2", "c3") if v(ctl, f"{x}.state") == "loaded")
    assert await ctl.gate.submit(cmd(m, "set_mode", "engineer", mode="remote-manual"))
    await rig.until(lambda: v(ctl, f"{m}.mode") == 1, 60, "manual read back")
    await inject(rig, "cw-pump-trip", "cwp1")
    await inject(rig, "cw-pump-trip", "cwp2")
    await rig.until(lambda: v(ctl, f"{m}.state") == "stopped", 200, "stopped, as failover")
    assert unit(rig).plc.fault == [0, 0, 0]
    acts = [r for r in ctl.gate.records if r.command.target == f"{S}.{m}"
            and r.command.source == "failover"]
    assert [r.command.action for r in acts][:2] == ["unload", "stop"]
    assert all(r.decision.accepted for r in acts)


async def test_commands_are_refused_while_the_plc_runs_its_own_switches(rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "heartbeat-deaf", "air1")
    await rig.until(lambda: v(ctl, "receiver.fallback") is True, 300, "PLC fallback seen")
    no = await ctl.gate.submit(cmd("c3", "set_mode", "engineer", mode="remote-manual"))
    assert not no and "its PLC runs on its own pressure switches" in no.reason
    await rig.run_for(30)
    assert v(ctl, "control.status") == "PLC on its own pressure switches: no step taken"
    autos = [r for r in ctl.gate.records if r.command.source == "auto"]
    n = len(autos)
    await rig.run_for(120)
    assert len([r for r in ctl.gate.records if r.command.source == "auto"]) == n
