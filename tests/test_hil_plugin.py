"""The HIL simulates whatever the system registry declares (issue 11, item 1: HIL units).

A toy kind of plant ("tank": a level that rises while its valve is shut) is registered at
run time with its own ``HilKind`` beside the demo's drainage. The site builds, serves,
steps, faults, reports, saves and lists it without a line naming it; its faults hit only
its own units; a kind the HIL cannot simulate is refused with its name. Real Modbus TCP.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
from conftest import demo_text, free_port
from pymodbus.client import AsyncModbusTcpClient

from fixedsite import systems
from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, parse
from fixedsite.hil import faults as hil_faults
from fixedsite.hil import state as hil_state
from fixedsite.hil.faults import Fault, InjectError, Injection
from fixedsite.hil.register_map import map_rows
from fixedsite.hil.site import HilSite
from fixedsite.hil.unit import HilKind, HilKindError, HilUnit, Point
from fixedsite.schema import EquipmentBase, Model
from fixedsite.systems import SystemSpec


class TankSystem(Model):
    kind: Literal["tank"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, EquipmentBase] = {}


class HilTank(Model):
    system: str
    plc: str
    rise_per_s: float = 1.0


class TankPlc:
    """Image: hr0 the level (counts), coil0 the valve command, di0 the valve jammed."""

    def __init__(self) -> None:
        self.coils, self.di, self.hr, self.ir = [False] * 8, [False] * 8, [0] * 4, [0] * 4
        self.deaf = False


class TankUnit(HilUnit):
    def __init__(self, h: HilTank) -> None:
        self.cfg, self.plc = h, TankPlc()
        self.items = {"valve": ["v1"]}
        self.level, self.jammed = 0.0, False

    def first_scan(self, now: float) -> None:
        self.plc.ir[0] = 1

    def advance(self, now: float, dt: float) -> None:
        if not self.plc.coils[0] or self.jammed:          # shut (or jammed shut): rises
            self.level = min(self.level + self.cfg.rise_per_s * dt, 60000.0)
        self.plc.ir[1] = round(self.level)
        self.plc.di[0] = self.jammed

    def inject(self, inj: Injection, now: float) -> None:
        assert inj.fault == "valve-jam" and inj.item == 0
        self.jammed = inj.on

    def heartbeat_deaf(self, on: bool) -> None:
        self.plc.deaf = on

    def status(self) -> dict[str, Any]:
        return {"level": self.level, "text": f"level {self.level:.0f}"
                                             f"{'  JAMMED' if self.jammed else ''}"}

    def register_map(self) -> list[tuple[str, str]]:
        return [("tank.0.level", "ir:1"), ("valve.0.open_cmd", "coil:0")]

    def points(self) -> list[tuple[str, Point]]:
        return [(f"{self.system}.tank.level", Point("tank.0", "level", "ir:1", "uint16",
                                                    unit="mm", meaning="tank level")),
                (f"{self.system}.v1.open_cmd", Point("valve.0", "open_cmd", "coil:0", "bool",
                                                     meaning="1 open", writable=True))]

    def layout(self) -> dict[str, Any]:
        return {"system": self.system, "plc": self.cfg.plc, "valves": self.items["valve"]}

    def snapshot(self) -> dict[str, Any]:
        return {"level": self.level, "jammed": self.jammed}

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        level = hil_state.real(hil_state.get(saved, "level", where), f"{where}level", 0)
        jammed = hil_state.kind(True, hil_state.get(saved, "jammed", where), f"{where}jammed")
        return [lambda: hil_state.assign(self, level=level, jammed=jammed)]


def _build(cfg: SiteConfig, entries: list[HilTank], clock: ScaledClock) -> list[HilUnit]:
    return [TankUnit(h) for h in entries]


def _items(cfg: SiteConfig, h: HilTank) -> dict[str, list[str]]:
    return {"valve": ["v1"]}


def _jam_args(args: Sequence[object]) -> dict[str, Any]:
    return {"on": hil_faults.switch(args)}


TANK_HIL = HilKind(
    faults={"valve-jam": Fault("valve", "[on|off]", "the tank's valve jams shut",
                               word="jammed", take=_jam_args)},
    words={"valve": "tank valve"}, items=_items, build=_build)
TANK = SystemSpec(kind="tank", config=TankSystem, equipment={}, build="x:y", hil=HilTank,
                  hil_kind=f"{__name__}:TANK_HIL")


@pytest.fixture
def tank() -> Iterator[None]:
    systems.register(TANK)
    try:
        yield
    finally:
        systems.unregister("tank")


def _config(tmp_path: Path, port: int) -> SiteConfig:
    return parse(tomllib.loads(_config_text(tmp_path, port)), "t.toml")


def _config_text(tmp_path: Path, port: int) -> str:
    text = demo_text(free_port(), scale=60.0) + f"""
[storage]
dir = "{tmp_path}"

[systems.t1]
kind = "tank"

[plcs.tankplc]
protocol = "modbus"
host = "127.0.0.1"
port = {port}
device_id = 1

[[hil.tank]]
system = "t1"
plc = "tankplc"
rise_per_s = 2.0
"""
    return text


async def _ir(port: int, address: int) -> int:
    c = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
    try:
        assert await c.connect()
        r = await c.read_input_registers(address, count=1, device_id=1)
        assert not r.isError(), r
        return int(r.registers[0])
    finally:
        c.close()


def test_faults_and_targets_come_from_each_kind_and_hit_only_its_units(
        tank: None, tmp_path: Path) -> None:
    cfg = _config(tmp_path, free_port())
    names = hil_faults.targets(cfg)
    assert names["valve"][-1] == "t1.v1" and "drainage.valve1" in names["valve"]
    assert names["plc"] == ["drain1", "tankplc"] and names["system"] == ["drainage", "t1"]
    assert {"pump-trip", "valve-jam", "link", "heartbeat-deaf"} <= set(hil_faults.faults(cfg))
    jam = hil_faults.parse(cfg, "valve-jam", "v1")       # only the tank has a jammable v1
    assert (jam.unit, jam.item, jam.target, jam.what) == (1, 0, "t1.v1", "t1.v1: jammed on")
    with pytest.raises(InjectError, match="unknown tank valve 'drainage.valve1'"):
        hil_faults.parse(cfg, "valve-jam", "drainage.valve1")   # drainage's valve: not its
    with pytest.raises(InjectError, match="unknown valve 't1.v1'"):
        hil_faults.parse(cfg, "valve-stuck", "t1.v1")           # drainage's fault: not the tank
    link = hil_faults.parse(cfg, "link", "tankplc", ["down"])
    assert (link.unit, link.what) == (1, "tankplc: link down")


async def test_the_site_serves_steps_faults_and_saves_a_registered_kind(
        tank: None, tmp_path: Path) -> None:
    port = free_port()
    cfg = _config(tmp_path, port)
    state = tmp_path / "hil-state.json"
    site = HilSite(cfg, ScaledClock(60.0), state=state, fresh=True)
    await site.start()
    try:
        tank_unit = site.unit("t1")
        assert isinstance(tank_unit, TankUnit)
        assert type(tank_unit.server).__name__ == "ImageServer"   # its PLC's protocol
        first = await _ir(port, 1)
        for _ in range(3):
            await site.scanned()
        assert await _ir(port, 1) > first                  # stepped, served over Modbus
        answer = await site.handle({"op": "inject", "fault": "valve-jam", "target": "v1"})
        assert answer == {"ok": True, "result": "t1.v1: jammed on"} and tank_unit.jammed
        status = await site.handle({"op": "status"})
        row = next(u for u in status["units"] if u["system"] == "t1")
        assert row["plc"] == "tankplc" and row["link"] == "up"
        assert row["text"].endswith("JAMMED") and row["level"] == tank_unit.level
        await site.handle({"op": "inject", "fault": "link", "target": "tankplc",
                           "args": ["down"]})
        assert not tank_unit.server.running and site.unit("drainage").server.running
        listed = await site.handle({"op": "list"})
        assert listed["faults"]["valve-jam"]["target"] == "valve"
    finally:
        await site.stop()
    saved = json.loads(state.read_text())
    assert saved["layout"][1] == {"system": "t1", "plc": "tankplc", "valves": ["v1"]}
    assert saved["units"][1]["jammed"] is True
    again = HilSite(cfg, ScaledClock(60.0), state=state)
    hil_state.restore(hil_state.read(state), again.units)
    restored = again.unit("t1")
    assert isinstance(restored, TankUnit)
    assert restored.jammed and restored.level == saved["units"][1]["level"] > 0
    rows = [r for r in map_rows(cfg) if r["system"] == "t1"]
    assert [(r["address"], r["modbus"], r["tag"], r["access"]) for r in rows] == [
        ("ir:1", "30002", "t1.tank.level", "R"), ("coil:0", "00001", "t1.v1.open_cmd", "R/W")]


def test_a_kind_the_hil_cannot_simulate_is_refused_by_name(tmp_path: Path) -> None:
    systems.register(SystemSpec(kind="tank", config=TankSystem, equipment={}, build="x:y",
                                hil=HilTank))                     # no hil_kind
    try:
        cfg = _config(tmp_path, free_port())
        with pytest.raises(HilKindError, match="hil.tank: the tank plug-in has no HIL"):
            HilSite(cfg, ScaledClock(60.0))
        with pytest.raises(HilKindError, match="hil.tank"):
            hil_faults.targets(cfg)
    finally:
        systems.unregister("tank")
    systems.register(SystemSpec(kind="tank", config=TankSystem, equipment={}, build="x:y",
                                hil=HilTank, hil_kind=f"{__name__}:NO_SUCH"))
    try:
        cfg = _config(tmp_path, free_port())
        with pytest.raises(HilKindError, match="does not load"):
            HilSite(cfg, ScaledClock(60.0))
    finally:
        systems.unregister("tank")


def test_a_hil_model_without_system_or_plc_is_refused_when_registered() -> None:
    bad = type("NoPlc", (Model,), {"__annotations__": {"system": str}})
    with pytest.raises(TypeError, match="lacks system or plc"):
        systems.register(SystemSpec(kind="tank", config=TankSystem, equipment={},
                                    build="x:y", hil=bad))
    assert "tank" not in systems.registered()


# --- found in review: what a plug-in can get wrong must not send a fault astray ----------
def _tank_with(**hil: Any) -> SystemSpec:
    kind = HilKind(**({"faults": TANK_HIL.faults, "words": TANK_HIL.words,
                       "items": _items, "build": _build} | hil))
    globals()["_VARIANT"] = kind
    return SystemSpec(kind="tank", config=TankSystem, equipment={}, build="x:y",
                      hil=HilTank, hil_kind=f"{__name__}:_VARIANT")


@pytest.fixture
def variant() -> Iterator[Callable[..., None]]:
    def use(**hil: Any) -> None:
        systems.unregister("tank")
        systems.register(_tank_with(**hil))
    try:
        yield use
    finally:
        systems.unregister("tank")


def test_two_kinds_may_share_a_fault_name_each_hitting_its_own_items(
        variant: Callable[..., None], tmp_path: Path) -> None:
    """Drainage's ``local`` is a pump's; a tank's ``local`` a valve's: neither reaches the
    other's items (the valve's index was taken as a pump's)."""
    variant(faults={"local": Fault("valve", "[on|off]", "the valve's selector to LOCAL",
                                   word="local", take=_jam_args)})
    cfg = _config(tmp_path, free_port())
    pump = hil_faults.parse(cfg, "local", "drainage.pump3")
    valve = hil_faults.parse(cfg, "local", "v1")
    assert (pump.unit, pump.item, pump.target) == (0, 2, "drainage.pump3")
    assert (valve.unit, valve.item, valve.target) == (1, 0, "t1.v1")
    with pytest.raises(InjectError, match="unknown pump or tank valve 'drainage.valve3'"):
        hil_faults.parse(cfg, "local", "drainage.valve3")
    assert set(hil_faults.variants(cfg)["local"]) == {"drainage", "tank"}


def test_a_kind_may_not_take_over_a_fault_every_plc_has(
        variant: Callable[..., None], tmp_path: Path) -> None:
    variant(faults={"link": Fault("valve", "[on|off]", "x")})
    cfg = _config(tmp_path, free_port())
    with pytest.raises(HilKindError, match="hil.tank: its fault 'link' is one every PLC"):
        hil_faults.parse(cfg, "link", "tankplc", ["down"])


def test_a_builder_that_reorders_or_renames_its_units_is_refused(
        variant: Callable[..., None], tmp_path: Path) -> None:
    text = _config_text(tmp_path, free_port()) + \
        '\n[systems.t2]\nkind = "tank"\n\n[plcs.tankplc2]\nprotocol = "modbus"\n' \
        f'host = "127.0.0.1"\nport = {free_port()}\ndevice_id = 1\n\n' \
        '[[hil.tank]]\nsystem = "t2"\nplc = "tankplc2"\n'
    variant(build=lambda cfg, entries, clock: [TankUnit(h) for h in reversed(entries)])
    cfg = parse(tomllib.loads(text), "t.toml")
    with pytest.raises(HilKindError, match="one unit per \\[\\[hil.tank\\]\\] entry"):
        HilSite(cfg, ScaledClock(60.0))
    variant(items=lambda cfg, h: {"valve": ["v9"]})
    cfg = parse(tomllib.loads(text), "t.toml")
    with pytest.raises(HilKindError, match="has items"):
        HilSite(cfg, ScaledClock(60.0))


class _Breaks(TankUnit):
    def advance(self, now: float, dt: float) -> None:
        if self.level > 4.0:
            raise ZeroDivisionError("the model divided by zero")
        super().advance(now, dt)


async def test_a_unit_whose_model_raises_fails_alone_with_its_plc_stopped(
        variant: Callable[..., None], tmp_path: Path) -> None:
    """A plant model that raised used to end the HIL's loop: every PLC kept answering
    with frozen values. Now that unit's server stops (link lost, as a PLC in STOP) and the
    rest of the site steps on."""
    variant(build=lambda cfg, entries, clock: [_Breaks(h) for h in entries])
    port = free_port()
    cfg = _config(tmp_path, port)
    site = HilSite(cfg, ScaledClock(60.0))
    await site.start()
    try:
        tank_unit, room = site.unit("t1"), site.unit("drainage")
        while tank_unit.failed is None:
            await site.scanned()
        assert "ZeroDivisionError" in tank_unit.failed and not tank_unit.server.running
        scans, volume = site.scans, room.plant.sump.volume
        while site.scans < scans + 3:
            await site.scanned()
        assert room.plant.sump.volume != volume and room.server.running   # the rest steps
        row = next(u for u in (await site.handle({"op": "status"}))["units"]
                   if u["system"] == "t1")
        assert row["link"] == "down" and row["text"].startswith("FAILED (ZeroDivisionError")
        with pytest.raises(InjectError, match="t1: its simulation failed"):
            await site.handle({"op": "inject", "fault": "link", "target": "tankplc",
                               "args": ["up"]})      # (the channel answers ok: false)
    finally:
        await site.stop()


def test_a_broken_plug_in_hil_is_one_line_from_the_cli(
        variant: Callable[..., None], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import cli

    systems.unregister("tank")
    systems.register(SystemSpec(kind="tank", config=TankSystem, equipment={}, build="x:y",
                                hil=HilTank, hil_kind="no.such.module:HIL"))
    config = tmp_path / "t.toml"
    config.write_text(_config_text(tmp_path, free_port()), encoding="utf-8")
    for argv in (["--list-tags"], ["inject", "--list"], ["inject", "pump-trip", "pump1"]):
        rc, _, err = cli(capsys, "hil", "--config", str(config), *argv)
        assert rc == 2 and err.startswith("fixedsite hil: hil.tank: the tank plug-in's HIL "
                                          "(no.such.module:HIL) does not load"), (argv, err)
        assert len(err.strip().splitlines()) == 1
