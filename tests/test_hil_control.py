"""The HIL a test engineer can drive (issue 10, item 8): faults injected from another shell
through the HIL's control socket, scenario files on the HIL's clock, the plant kept across
restarts, and the register map as the PLC programmer needs it. Real HIL, real sockets, the
real pymodbus client; the command line as a user calls it."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import cli, demo_text, free_port
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from fixedsite.cli_hil import start_site
from fixedsite.clock import ScaledClock
from fixedsite.config import ConfigError, SiteConfig, load
from fixedsite.hil.control import SOCKET_NAME
from fixedsite.hil.scenario import load as load_scenario
from fixedsite.hil.site import HilSite, state_path

WALL_DEADLINE_S = 10.0


def write_site(tmp_path: Path, scale: float = 600.0, relay: bool = False,
               **replace: str) -> Path:
    """The demo config on free ports, its storage in tmp_path (the socket and the plant
    state live there)."""
    text = demo_text(free_port(), scale, relay=relay, **replace)
    path = tmp_path / "site.toml"
    path.write_text(text + f'\n[storage]\ndir = "{tmp_path}/var"\n', encoding="utf-8")
    return path


@dataclass
class Hil:
    config: Path
    cfg: SiteConfig
    site: HilSite

    @property
    def port(self) -> int:
        return self.cfg.plcs["drain1"].port

    async def until(self, predicate: Callable[[], bool | Awaitable[bool]], what: str,
                    wall_s: float = WALL_DEADLINE_S) -> None:
        """Wait, scan by scan, for ``predicate``; fail with ``what`` past the deadline."""
        end = time.monotonic() + wall_s
        while True:
            got = predicate()
            if not isinstance(got, bool):
                got = await got
            if got:
                return
            if time.monotonic() > end:
                raise AssertionError(f"not within {wall_s:g} s: {what}")
            await self.site.scanned()

    async def inject(self, capsys: pytest.CaptureFixture[str], *argv: str
                     ) -> tuple[int, str, str]:
        """``fixedsite hil inject`` from another "shell": a thread, so the HIL's loop runs."""
        return await asyncio.to_thread(cli, capsys, "hil", "--config", str(self.config),
                                       "inject", *argv)


async def start_hil(config: Path, fresh: bool = True, scenario: Path | None = None) -> Hil:
    cfg = load(config)
    site = await start_site(cfg, ScaledClock(cfg.clock.scale), argparse.Namespace(
        fresh=fresh, scenario=scenario))
    return Hil(config, cfg, site)


@pytest_asyncio.fixture
async def hil(tmp_path: Path) -> AsyncIterator[Hil]:
    # a watchdog the test never trips: the PLC obeys remote commands without a heartbeat
    h = await start_hil(write_site(tmp_path, watchdog_s="1e6"))
    yield h
    await h.site.stop()


async def modbus(port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0,
                                  reconnect_delay=0)
    assert await client.connect(), f"no Modbus server on {port}"
    return client


async def ir(client: AsyncModbusTcpClient, address: int, count: int = 1) -> list[int]:
    rr = await client.read_input_registers(address, count=count, device_id=1)
    assert not rr.isError(), rr
    return list(rr.registers)


def f32(words: list[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", *words))[0])


# --- injection from another shell ----------------------------------------------------------
async def test_inject_from_the_command_line_reaches_the_plc_registers(
        hil: Hil, capsys: pytest.CaptureFixture[str]) -> None:
    client = await modbus(hil.port)
    try:
        # pump2 (PLC pump index 1): its status word is ir:40, its fault code hr:21
        rc, out, err = await hil.inject(capsys, "local", "pump2", "on")
        assert (rc, err) == (0, "") and out.strip() == "drainage.pump2: local on"
        await hil.until(lambda: _bit(client, 40, 2, True), "pump2's local bit on the wire")
        rc, out, _ = await hil.inject(capsys, "local", "drainage.pump2", "off")
        assert rc == 0
        await hil.until(lambda: _bit(client, 40, 2, False), "pump2 back to remote")

        # start pump1 over Modbus as a controller would, then trip it from the shell
        await client.write_coil(0, True, device_id=1)                 # prime
        await hil.until(lambda: _bit(client, 20, 1, True), "pump1 primed")
        await client.write_coils(0, [False, True, True], device_id=1)   # run, open valve
        await hil.until(lambda: _bit(client, 20, 0, True), "pump1 running")
        rc, out, _ = await hil.inject(capsys, "pump-trip", "pump1")
        assert rc == 0 and out.strip() == "drainage.pump1: trip on"
        await hil.until(lambda: _hr(client, 11, 1), "fault code 1 (overload) in hr:11")
        assert not await _bit(client, 20, 0, True), "a tripped pump does not run"
        assert [e.what for e in hil.site.unit("drainage").plc.events][-1] == "trip"
    finally:
        client.close()


async def _bit(client: AsyncModbusTcpClient, reg: int, bit: int, want: bool) -> bool:
    return bool((await ir(client, reg))[0] >> bit & 1) is want


async def _hr(client: AsyncModbusTcpClient, reg: int, want: int) -> bool:
    rr = await client.read_holding_registers(reg, count=1, device_id=1)
    return not rr.isError() and rr.registers[0] == want


async def test_every_fault_reaches_the_plant(hil: Hil,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plant, plc = hil.site.unit("drainage").plant, hil.site.unit("drainage").plc
    client = await modbus(hil.port)
    try:
        assert (await hil.inject(capsys, "valve-stuck", "valve3"))[0] == 0
        assert plant.valves[2].stuck
        assert (await hil.inject(capsys, "sensor-stuck", "lt2"))[0] == 0
        assert plant.sensors[1].stuck_at == pytest.approx(plant.sump.level, abs=0.01)
        assert (await hil.inject(capsys, "heartbeat-deaf", "drain1"))[0] == 0
        assert plc.heartbeat_deaf
        # lt1 drifts up 10 m an hour: after 6 simulated minutes it reads ~1 m high
        start = hil.site.clock.now()
        rc, out, _ = await hil.inject(capsys, "sensor-drift", "lt1", "10")
        assert rc == 0 and out.strip() == "drainage.lt1: drift 10 m/h"
        await hil.until(lambda: hil.site.clock.now() - start > 360, "6 simulated minutes")
        lt1, lt2 = f32(await ir(client, 0, 2)), plant.sump.level
        assert 0.8 < lt1 - lt2 < 1.3, (lt1, lt2)
        rc, out, _ = await hil.inject(capsys, "inflow-surge", "drainage", "900", "600")
        assert rc == 0 and out.strip() == "drainage: inflow +900 m3/h for 600 s"
        await hil.until(lambda: plant.inflow_now > 1000, "the surge in the inflow")
        rc, out, _ = await hil.inject(capsys, "sensor-drift", "lt1", "0")
        assert rc == 0 and plant.sensors[0].offset_m == 0.0
    finally:
        client.close()
    whats = [w for _, w, by in hil.site.injected if by == "control"]
    assert whats[0] == "drainage.valve3: stuck on" and len(whats) == 6


async def test_refusals_are_one_clear_line(hil: Hil,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for argv, words in [(["pump-trip", "pump9"], "unknown pump 'pump9'"),
                        (["flood", "pump1"], "unknown fault 'flood'"),
                        (["sensor-drift", "lt1", "fast"], "expected a number"),
                        (["local", "pump1", "maybe"], "expected on or off"),
                        (["link", "drain1"], "say up or down"),
                        (["link", "drain7", "down"], "unknown PLC 'drain7'")]:
        rc, out, err = await hil.inject(capsys, *argv)
        assert rc == 2 and out == "", argv
        assert err.count("\n") == 1 and err.startswith("fixedsite hil: ") and words in err, \
            (argv, err)
    assert hil.site.injected == []


async def test_pump1_is_ambiguous_where_two_rooms_have_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = await start_hil(write_site(tmp_path, relay=True))
    try:
        rc, _, err = await h.inject(capsys, "pump-trip", "pump1")
        assert rc == 2 and "say drainage.pump1 or lower.pump1" in err
        rc, out, _ = await h.inject(capsys, "pump-trip", "lower.pump1")
        assert rc == 0 and out.strip() == "lower.pump1: trip on"
        assert h.site.unit("lower").plc.trip_injected == [True, False, False]
        rc, out, _ = await h.inject(capsys, "--list")
        assert rc == 0 and "lower.lt2" in out and "pump-trip" in out and "link" in out
    finally:
        await h.site.stop()


async def test_junk_on_the_socket_is_answered_and_the_hil_runs_on(hil: Hil) -> None:
    path = hil.cfg.storage_dir() / SOCKET_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    junk = [b"\xff\xfe not text", b"not json", b"[1, 2]", b'{"op": "explode"}',
            b'{"op": "inject", "fault": "pump-trip", "target": 7}',
            b'{"op": "inject", "fault": "inflow-surge", "target": "drainage", '
            b'"args": [1e400]}',
            b'{"op": "inject", "fault": "local", "target": "pump1", "args": "on"}',
            b'{"op": "inject", "fault": ["pump-trip"], "target": "pump1"}',
            b"[" * 50_000,                                    # nested past the recursion
            b'{"op": "inject", "fault": "inflow-surge", "target": "drainage", '
            b'"args": [1' + b"0" * 400 + b']}']                # an int no float holds
    try:
        for line in junk:
            writer.write(line + b"\n")
            await writer.drain()
            answer = json.loads(await reader.readline())
            assert answer["ok"] is False and answer["error"], line
        writer.write(b'{"op": "inject", "fault": "local", "target": "pump1", '
                     b'"args": ["on"]}\n')
        await writer.drain()
        assert json.loads(await reader.readline()) == {"ok": True,
                                                       "result": "drainage.pump1: local on"}
        writer.write(b"x" * 70_000 + b"\n")          # past the line limit: refused, closed
        await writer.drain()
        answer = json.loads(await reader.readline())
        assert answer["ok"] is False and "longer than" in answer["error"]
    finally:
        writer.close()
    scans = hil.site.scans
    await hil.until(lambda: hil.site.scans > scans + 3, "the HIL still scanning")
    assert hil.site.unit("drainage").plc.local[0]


async def test_no_hil_running_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = write_site(tmp_path)
    rc, out, err = cli(capsys, "hil", "--config", str(config), "inject", "pump-trip", "pump1")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "no HIL is running for this config" in err
    rc, _, err = cli(capsys, "hil", "status", "--config", str(config))
    assert rc == 2 and "no HIL is running" in err


async def test_a_second_hil_on_the_same_storage_is_refused(hil: Hil) -> None:
    from fixedsite.cli import CliError

    with pytest.raises(CliError, match="another HIL is running"):
        await start_hil(hil.config)
    assert hil.site.unit("drainage").server.running


async def test_link_down_stops_answering_and_up_restores(
        hil: Hil, capsys: pytest.CaptureFixture[str]) -> None:
    client = await modbus(hil.port)
    await ir(client, 0, 2)
    rc, out, _ = await hil.inject(capsys, "link", "drain1", "down")
    assert rc == 0 and out.strip() == "drain1: link down"
    try:                                  # the open connection is dropped
        rr = await client.read_input_registers(0, count=2, device_id=1)
        answered = not rr.isError()
    except ModbusException:
        answered = False
    assert not answered, "a PLC whose link is down still answers"
    client.close()
    refused = AsyncModbusTcpClient("127.0.0.1", port=hil.port, timeout=1, retries=0,
                                   reconnect_delay=0)
    assert not await refused.connect(), "a PLC whose link is down accepts connections"
    refused.close()
    rc, out, _ = await asyncio.to_thread(cli, capsys, "hil", "status", "--config",
                                         str(hil.config))
    assert rc == 0 and "drain1 link down" in out
    # the plant goes on while the link is down
    scans = hil.site.scans
    await hil.until(lambda: hil.site.scans > scans + 3, "the plant stepping")
    rc, out, _ = await hil.inject(capsys, "link", "drain1", "up")
    assert rc == 0 and out.strip() == "drain1: link up"
    client = await modbus(hil.port)
    try:
        level = f32(await ir(client, 0, 2))
        assert abs(level - hil.site.unit("drainage").plant.sump.level) < 0.05
    finally:
        client.close()


# --- scenarios ------------------------------------------------------------------------------
SCENARIO = """
description = "pump2 to local, the link cut for ten minutes"
[[at]]
t = 1200
inject = "link"
target = "drain1"
args = ["down"]
[[at]]
t = 600
inject = "local"
target = "pump2"
[[at]]
t = 1800
inject = "link"
target = "drain1"
args = "up"
"""


async def test_scenario_injects_at_its_times_on_the_hil_clock(tmp_path: Path) -> None:
    scenario = tmp_path / "cut.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    h = await start_hil(write_site(tmp_path, scale=3000.0), scenario=scenario)
    site = h.site
    seen_down_at: list[float] = []
    try:
        assert not site.unit("drainage").plc.local[1] and site.unit("drainage").server.running

        def watch() -> bool:
            if not site.unit("drainage").server.running and not seen_down_at:
                seen_down_at.append(site.clock.now() - site.t0)
            return len(site.injected) == 3
        await h.until(watch, "the scenario's three steps")
        await h.until(lambda: site.unit("drainage").server.running, "the link back up")
    finally:
        await site.stop()
    got = [(round(t - site.t0), what, by) for t, what, by in site.injected]
    assert [w for _, w, _ in got] == ["drainage.pump2: local on", "drain1: link down",
                                      "drain1: link up"]
    assert [b for _, _, b in got] == ["scenario t=600", "scenario t=1200", "scenario t=1800"]
    for (t, _, _), due in zip(got, (600, 1200, 1800), strict=True):
        assert due <= t < due + 120, got           # at its time, to a few scans
    assert site.unit("drainage").plc.local[1]
    assert seen_down_at and 1200 <= seen_down_at[0] < 1800


@pytest.mark.parametrize("text, problem", [
    ("[[at]]\ninject = 'local'\ntarget = 'pump1'\n", "at.0.t: missing"),
    ("[[at]]\nt = -5\ninject = 'local'\ntarget = 'pump1'\n", "at.0.t: expected simulated "
                                                            "seconds >= 0"),
    ("[[at]]\nt = 1\ninject = 'local'\ntarget = 'pump1'\n[[at]]\nt = 2\ninject = 'flood'\n"
     "target = 'pump1'\n", "at.1.inject: unknown fault 'flood'"),
    ("[[at]]\nt = 1\ninject = 'pump-trip'\ntarget = 'pump9'\n", "at.0.target: unknown pump "
                                                               "'pump9'"),
    ("[[at]]\nt = 1\ninject = 'sensor-drift'\ntarget = 'lt1'\nargs = ['x']\n",
     "at.0.args: m/h: expected a number"),
    ("[[at]]\nt = 1\ninject = 'local'\ntarget = 'pump1'\nwhen = 3\n", "at.0.when: unknown key"),
    ("at = 3\n", "at: missing; expected [[at]] tables"),
    ("[[at]]\nt = 1\ninject = ['link']\ntarget = 'drain1'\n", "at.0.inject: unknown fault"),
    ("[[at]]\nt = 1\ninject = {a = 1}\ntarget = 'drain1'\n", "at.0.inject: unknown fault"),
    ("[[at]\nt = 1", "not valid TOML"),
])
def test_a_bad_scenario_is_refused_with_its_key_path_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str) -> None:
    config = write_site(tmp_path)
    scenario = tmp_path / "bad.toml"
    scenario.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_scenario(scenario, load(config))
    assert f"{scenario}: {problem}" in str(e.value)
    rc, out, err = cli(capsys, "hil", "--config", str(config), "--scenario", str(scenario))
    assert rc == 2 and out == "" and f"{scenario}: {problem}" in err
    assert not (tmp_path / "var" / SOCKET_NAME).exists(), "the HIL started"


def test_the_sample_scenario_is_valid() -> None:
    from fixedsite.config import DEMO_CONFIG

    sample = DEMO_CONFIG.parent / "scenario-link-cut.toml"
    steps = load_scenario(sample, load(DEMO_CONFIG))
    assert [s.injection.fault for s in steps][:2] == ["link", "link"]
    assert steps == sorted(steps, key=lambda s: s.t)


# --- the plant kept across restarts ----------------------------------------------------------
async def test_plant_state_survives_a_restart_unless_fresh(tmp_path: Path) -> None:
    # above the high float, no controller: the PLC's fallback runs a pump; level and run
    # hours move
    config = write_site(tmp_path, scale=3000.0, initial_level_m="2.3")
    h = await start_hil(config, fresh=False)
    pumps = h.site.unit("drainage").plant.pumps
    await h.until(lambda: pumps[0].run_hours > 0.2, "pump1 running a while", wall_s=20)
    await h.site.stop()
    saved = (h.site.unit("drainage").plant.sump.level, pumps[0].run_hours, pumps[0].energy,
             pumps[0].starts, h.site.unit("drainage").plc.fallback)
    assert abs(saved[0] - 2.3) > 0.01 and saved[2] > 0
    assert state_path(h.cfg).is_file()

    again = await start_hil(config, fresh=False)
    try:
        unit = again.site.unit("drainage")
        assert "restored" in again.site.state_note
        assert unit.plant.sump.level == pytest.approx(saved[0], abs=1e-9)
        p = unit.plant.pumps[0]
        assert (p.run_hours, p.energy, p.starts, unit.plc.fallback) == saved[1:]
        assert p.motor_on, "the running pump runs on"
        client = await modbus(again.port)
        try:                                      # and the wire says so, not the initial
            assert f32(await ir(client, 0, 2)) == pytest.approx(saved[0], abs=0.02)
            words = await ir(client, 33, 2)
            assert (words[0] << 16 | words[1]) == round(saved[1] * 10)
        finally:
            client.close()
        await again.until(lambda: p.run_hours > saved[1] + 0.01, "run hours counting on")
    finally:
        await again.site.stop()

    fresh = await start_hil(config, fresh=True)
    try:
        assert "fresh" in fresh.site.state_note
        assert fresh.site.unit("drainage").plant.sump.level == pytest.approx(2.3)
        assert fresh.site.unit("drainage").plant.pumps[0].run_hours == 0.0
    finally:
        await fresh.site.stop()


@pytest.mark.parametrize("content, words", [
    (b"\x00\x01garbage", "not a HIL state file (not JSON"),
    (b'{"users": []}', "no fixedsite-hil-state marker"),
    (b'{"format": "fixedsite-hil-state", "version": 99}', "another version"),
])
async def test_a_corrupt_or_foreign_state_file_starts_fresh_with_one_line(
        tmp_path: Path, content: bytes, words: str) -> None:
    config = write_site(tmp_path, initial_level_m="1.7")
    cfg = load(config)
    state_path(cfg).parent.mkdir(parents=True)
    state_path(cfg).write_bytes(content)
    h = await start_hil(config, fresh=False)
    try:
        note = h.site.state_note
        assert words in note and "started fresh" in note and "\n" not in note
        assert h.site.unit("drainage").plant.sump.level == pytest.approx(1.7)
    finally:
        await h.site.stop()


async def test_a_state_from_another_layout_or_with_a_bad_value_is_refused(
        tmp_path: Path) -> None:
    config = write_site(tmp_path, initial_level_m="1.7")
    h = await start_hil(config, fresh=True)
    h.site.unit("drainage").plant.pumps[1].run_hours = 123.0
    await h.site.stop()
    path = state_path(h.cfg)
    good = path.read_text(encoding="utf-8")
    # pump4 taken out of the room: a state for four pumps does not fit three
    config.write_text(config.read_text(encoding="utf-8").replace(
        'pumps = ["pump1", "pump2", "pump3", "pump4"]', 'pumps = ["pump1", "pump2", "pump3"]'),
        encoding="utf-8")
    three = await start_hil(config, fresh=False)
    try:
        note = three.site.state_note
        assert "another plant layout" in note and "drainage: 4 pumps" in note
        assert "drainage: 3 pumps" in note and "started fresh" in note
        assert [p.run_hours for p in three.site.unit("drainage").plant.pumps] == [0.0] * 3
    finally:
        await three.site.stop()
    # a value that is no value: refused as a whole, nothing of it restored
    data = json.loads(good)
    data["units"][0]["pumps"][0]["run_hours"] = "lots"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'pumps = ["pump1", "pump2", "pump3"]', 'pumps = ["pump1", "pump2", "pump3", "pump4"]'),
        encoding="utf-8")
    path.write_text(json.dumps(data), encoding="utf-8")
    bad = await start_hil(config, fresh=False)
    try:
        assert "units.0.pumps.0.run_hours: not a number" in bad.site.state_note
        assert bad.site.unit("drainage").plant.pumps[1].run_hours == 0.0
    finally:
        await bad.site.stop()


# --- the register map ------------------------------------------------------------------------
def test_list_tags_names_equipment_as_the_config_does_with_scale_and_meanings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_site(tmp_path, relay=True)
    rc, out, _ = cli(capsys, "hil", "--config", str(config), "--list-tags")
    assert rc == 0
    assert "pump.0" not in out and "valve.0" not in out and "sensor.0" not in out
    lines = {line.split()[1]: line for line in out.splitlines()
             if line and not line.startswith(("#", "address"))}
    assert "1 remote-manual, 2 remote-auto" in lines["drainage.pump1.mode"]
    assert "R/W" in lines["drainage.pump1.mode"]
    assert "1 motor overload, 2 dry running" in lines["lower.pump3.fault_code"]
    assert lines["drainage.pump1.discharge_pressure"].split()[2:6] == ["uint16", "0.001",
                                                                      "MPa", "0..6"]
    assert lines["lower.lt2.level"].split()[:2] == ["ir:2:float32", "lower.lt2.level"]
    assert "plcs.drain1.heartbeat" in lines


def test_csv_map_for_the_plc_programmer_agrees_with_the_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_site(tmp_path, relay=True)
    target = tmp_path / "map.csv"
    rc, out, _ = cli(capsys, "hil", "--config", str(config), "--csv", str(target))
    assert rc == 0 and str(target) in out
    with target.open(encoding="utf-8", newline="") as f:
        rows = {r["tag"]: r for r in csv.DictReader(f)}
    p = rows["drainage.pump1.discharge_pressure"]
    assert (p["address"], p["modbus"], p["type"], p["scale"], p["unit"], p["range_min"],
            p["range_max"], p["access"]) == ("ir:23", "30024", "uint16", "0.001", "MPa", "0",
                                             "6", "R")
    assert rows["drainage.pump2.mode"]["modbus"] == "40021"
    assert rows["drainage.pump2.mode"]["access"] == "R/W"
    assert rows["drainage.valve1.opened"]["modbus"] == "30021 bit 3"
    assert rows["lower.pump1.run_hours"]["scale"] == "0.1"
    assert "2 remote-auto" in rows["lower.pump1.mode"]["meaning"]
    # every address the config maps is the HIL's, under the same name
    cfg = load(config)
    mapped = {s.path: str(s.address) for s in cfg.signals()}
    assert {t: r["address"] for t, r in rows.items() if t in mapped} == mapped
    rc, out, _ = cli(capsys, "hil", "--config", str(config), "--csv", "-")
    assert rc == 0 and out.splitlines()[0].startswith("system,plc,address,modbus,tag")
