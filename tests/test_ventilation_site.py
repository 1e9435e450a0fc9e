"""Ventilation end to end over real S7 sockets (issue 12, item 6): the HIL's fan station
and faces (configs/ventilation-site.toml on free ports) and a controller with the S7
driver. The main fan station changes over without the air dropping below 80 %, fails
over within 60 s of a trip, aborts a changeover whose standby trips with the working fan
still carrying the mine, and a controller killed mid-changeover leaves the air flowing."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from conftest import Rig, free_port, started

from fixedsite.config import SiteConfig, parse
from fixedsite.gate import Command
from fixedsite.hil import faults as hil_faults
from fixedsite.hil.demo_config import config_text
from fixedsite.runtime import Controller

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "configs" / "ventilation-site.toml"
SCALE = 60.0


def vent_config(tmp: Path) -> SiteConfig:
    text = config_text(SITE)
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text)
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {SCALE}", text)
    text = re.sub(r'(?m)^dir = ".*"', f'dir = "{tmp}"', text)
    return parse(tomllib.loads(text), "ventilation-test.toml")


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with started(vent_config(tmp_path), SCALE) as r:
        yield r


def v(ctl: Controller, path: str) -> Any:
    return ctl.store.value(f"ventilation.{path}")


async def running_on(rig: Rig, fan: str) -> Controller:
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "station.state") == "running" and
                    v(ctl, "station.on_line") == fan, 120, f"{fan} adopted on line")
    return ctl


async def command(ctl: Controller, action: str, **params: Any) -> Any:
    return await ctl.gate.submit(Command("ventilation.station", action, "operator", "eng",
                                         params, role="engineer"))


async def test_changeover_over_s7_keeps_the_air_above_80_pct(rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    nominal = rig.cfg.systems["ventilation"].control.nominal_airflow_m3s
    lowest = [v(ctl, "as_shaft.airflow")]

    def watch() -> None:
        lowest.append(v(ctl, "as_shaft.airflow"))
    d = await command(ctl, "changeover")
    assert d.accepted, d.reason
    await rig.until(lambda: v(ctl, "station.on_line") == "fan2" and
                    v(ctl, "station.state") == "running", 900, "changeover to fan2")
    await rig.run_for(5, watch)
    recorded = v(ctl, "station.changeover_min_pct")
    seen = min(x for x in lowest if x is not None) / nominal * 100
    assert recorded >= 80.0, v(ctl, "station.last_changeover")
    assert seen >= 75.0                       # what the test saw agrees with the record
    assert not v(ctl, "fan1.running") and v(ctl, "fan2.running")
    assert v(ctl, "fan1_outlet.closed") and v(ctl, "fan2_outlet.opened")
    unit = rig.site.unit("ventilation")
    assert unit.status()["text"]                   # the plant agrees it is on fan2's air


async def test_failover_over_s7_within_60_s_of_a_trip(rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    tripped = rig.clock.now()
    await rig.site.inject(hil_faults.parse(rig.cfg, "fan-trip", "fan1"))
    await rig.until(lambda: v(ctl, "station.on_line") == "fan2" and
                    v(ctl, "station.state") == "running", 300, "failover to fan2")
    took = rig.clock.now() - tripped
    assert took <= 60.0 + 5.0, took           # + a poll and a scan of the measurement
    assert v(ctl, "station.failover_s") <= 60.0, v(ctl, "station.last_failover")
    assert v(ctl, "fan1.fault_code") == 3 and not v(ctl, "fan1.run_cmd")
    await rig.until(lambda: ctl.alarms.alarms["ventilation.fan1.TRIP"].state == "unack_active",
                    30, "alarm ventilation.fan1.TRIP unack_active")


async def test_a_standby_tripping_mid_changeover_leaves_the_working_fan_on_line(
        rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    assert (await command(ctl, "changeover")).accepted
    await rig.until(lambda: v(ctl, "fan2.running"), 120, "standby running up")
    await rig.site.inject(hil_faults.parse(rig.cfg, "vfd-fault", "fan2"))
    await rig.until(lambda: v(ctl, "station.state") == "fault", 120, "changeover aborted")
    assert "standby fan2 tripped during the changeover" in v(ctl, "station.fault_reason")
    await rig.run_for(30)
    assert v(ctl, "fan1.running") and v(ctl, "fan1_outlet.opened")
    assert not v(ctl, "fan2.run_cmd")
    nominal = rig.cfg.systems["ventilation"].control.nominal_airflow_m3s
    assert v(ctl, "as_shaft.airflow") >= 0.9 * nominal


async def test_a_controller_killed_mid_changeover_leaves_the_air_flowing(rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    assert (await command(ctl, "changeover")).accepted
    await rig.until(lambda: v(ctl, "station.state") == "co_crossing", 300, "crossing")
    await rig.stop_controller()                  # gone between two steps
    unit: Any = rig.site.unit("ventilation")
    await rig.run_for(60)                        # the PLC's watchdog takes over
    assert unit.plc.fallback
    air = unit.status()["text"]
    ctl2 = await rig.start_controller()
    await rig.until(lambda: v(ctl2, "station.state") in ("running",), 120, "adopted")
    nominal = rig.cfg.systems["ventilation"].control.nominal_airflow_m3s
    await rig.until(lambda: (v(ctl2, "as_shaft.airflow") or 0) >= 0.8 * nominal, 60,
                    f"air flowing after the restart ({air})")
    assert v(ctl2, "station.on_line") in ("fan1", "fan2")


async def test_changeovers_and_failovers_reach_the_monthly_report(rig: Rig,
                                                                  tmp_path: Path) -> None:
    from fixedsite import report
    from fixedsite.historian import Historian

    h = Historian(tmp_path / "history.db", 0.5, 900.0)
    rig.ctl = Controller(rig.cfg, rig.clock, historian=h)
    await rig.ctl.start()
    ctl = rig.ctl
    t0 = rig.clock.now()
    await rig.until(lambda: v(ctl, "station.state") == "running", 120, "adopted")
    assert (await command(ctl, "changeover")).accepted
    await rig.until(lambda: v(ctl, "station.on_line") == "fan2" and
                    v(ctl, "station.state") == "running", 900, "changeover")
    await rig.site.inject(hil_faults.parse(rig.cfg, "fan-trip", "fan2"))
    await rig.until(lambda: v(ctl, "station.on_line") == "fan1" and
                    v(ctl, "station.state") == "running", 300, "failover")
    h.flush()
    r = report.build(rig.cfg, h, t0 - 1, rig.clock.now() + 1)
    (heading, lines), = r.sections
    assert heading == "Main ventilation"
    assert lines[0].startswith("changeovers: 1, lowest air ") and "0 below 80 %" in lines[0]
    assert "to fan2:" in lines[1]
    assert lines[2].startswith("failovers: 1, slowest ") and lines[2].endswith("0 late")
    assert "Main ventilation:" in report.as_text(r)
    assert {row.equipment for row in r.rows} >= {"ventilation.fan1", "ventilation.fan2"}


async def test_doors_over_s7_open_after_their_warning_and_the_airlock_holds(rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")

    async def door(name: str, action: str) -> Any:
        return await ctl.gate.submit(Command(f"ventilation.{name}", action, "operator",
                                             "op", {}, role="operator"))
    await rig.until(lambda: v(ctl, "door11.state") == "closed", 60, "door11 adopted closed")
    assert (await door("door11", "open")).accepted
    await rig.until(lambda: v(ctl, "door11.warning"), 30, "the warning before it moves")
    assert not v(ctl, "door11.opened")
    await rig.until(lambda: v(ctl, "door11.state") == "open", 60, "door11 open")
    refused = await door("door12", "open")
    assert not refused.accepted and "door11" in refused.reason
    assert not v(ctl, "door12.open_cmd")                 # nothing written behind a refusal
    assert (await door("door11", "close")).accepted
    await rig.until(lambda: v(ctl, "door11.state") == "closed", 60, "door11 closed")
    assert (await door("door12", "open")).accepted


async def test_a_stuck_outlet_damper_ends_the_changeover_with_the_air_kept(rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    await rig.site.inject(hil_faults.parse(rig.cfg, "damper-stuck", "fan2_outlet"))
    nominal = rig.cfg.systems["ventilation"].control.nominal_airflow_m3s
    plant: Any = rig.site.unit("ventilation")
    lowest = [v(ctl, "as_shaft.airflow")]
    assert (await command(ctl, "changeover")).accepted
    # found by the bench: the working fan's outlet was closed together with the stuck
    # one's opening and the mine's air fell to 1 %; it closes only behind a proven open one
    await rig.until(lambda: lowest.append(v(ctl, "as_shaft.airflow")) or
                    v(ctl, "station.state") == "fault", 600, "changeover aborted")
    assert min(lowest) >= 0.8 * nominal, (min(lowest), plant.status()["text"])
    # the fan PLC trips fan2 first (code 5: its outlet did not open while running)
    assert v(ctl, "station.fault_reason") == \
        "standby fan2 tripped during the changeover: damper fault"
    await rig.run_for(60, lambda: lowest.append(v(ctl, "as_shaft.airflow")))
    assert min(lowest) >= 0.8 * nominal
    assert v(ctl, "fan1.running") and v(ctl, "fan1_outlet.opened")   # fan1's air throughout
    assert not v(ctl, "fan2.run_cmd")
    assert v(ctl, "as_shaft.airflow") >= 0.9 * nominal
    await rig.until(lambda: ctl.alarms.alarms["ventilation.station.FAULT"].state == "unack_active",
                    30, "alarm ventilation.station.FAULT unack_active")


async def test_an_aux_fan_trip_switches_the_face_over_and_locks_its_power_until_proven(
        rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    await rig.until(lambda: v(ctl, "face1.ventilated") is True and
                    v(ctl, "face1.power_lockout") is False, 600, "face1 ventilated")
    await rig.site.inject(hil_faults.parse(rig.cfg, "aux-trip", "aux11"))
    await rig.until(lambda: v(ctl, "face1.power_lockout") is True, 60, "power lockout")
    await rig.until(lambda: v(ctl, "aux12.running") is True, 60, "standby aux fan running")
    locked_at = rig.clock.now()
    await rig.until(lambda: v(ctl, "face1.power_lockout") is False, 600, "lockout released")
    proven = rig.cfg.systems["ventilation"].control.faces["face1"].proven_s
    assert rig.clock.now() - locked_at >= proven - 5        # not before the air is proven
    assert v(ctl, "face1.working") == "aux12"
    await rig.until(lambda: ctl.alarms.alarms["ventilation.face1.NO_AIR"].state == "unack_rtn",
                    30, "alarm ventilation.face1.NO_AIR unack_rtn")   # to ack


async def test_an_obstructed_door_faults_with_its_reason_and_is_alarmed(rig: Rig) -> None:
    ctl = await running_on(rig, "fan1")
    await rig.until(lambda: v(ctl, "door21.state") == "closed", 60, "door21 adopted")
    await rig.site.inject(hil_faults.parse(rig.cfg, "door-obstructed", "door21"))
    d = await ctl.gate.submit(Command("ventilation.door21", "open", "operator", "op", {},
                                      role="operator"))
    assert d.accepted, d.reason
    await rig.until(lambda: v(ctl, "door21.state") == "fault", 120, "door21 fault")
    assert "obstruct" in v(ctl, "door21.fault_reason")
    assert v(ctl, "door21.open_cmd") is False                # nothing moves by itself
    await rig.until(lambda: ctl.alarms.alarms["ventilation.door21.FAULT"].state == "unack_active",
                    30, "alarm ventilation.door21.FAULT unack_active")
