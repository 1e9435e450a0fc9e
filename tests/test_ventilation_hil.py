"""The HIL ventilation plant and its S7 PLCs (issue 12, item 1), over real S7 sockets.

configs/ventilation-site.toml is served on free loopback ports by the HIL (snap7 server)
and read and written with python-snap7's own client (``AsyncClient`` for reads, ``Client``
for the BIT writes AsyncClient lacks) and ``snap7.util``'s getters, never the project's
driver or codec: the PLC's packing must be right against a third party. Every address is
the one the config gives the signal, so the test also checks the config against the map.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import Rig, cli, free_port
from scipy.optimize import fsolve
from snap7 import AsyncClient, Client
from snap7.type import Area, WordLen
from snap7.util import get_bool, get_int, get_real, get_word

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, load, parse
from fixedsite.drivers.s7_codec import parse_address
from fixedsite.hil import faults as inject
from fixedsite.hil import state as plant_state
from fixedsite.hil.demo_config import config_text
from fixedsite.hil.site import HilSite
from fixedsite.hil.ventilation import plc as vplc
from fixedsite.hil.ventilation.plant import R_CLOSED
from fixedsite.sequences.ventilation import equipment
from fixedsite.sequences.ventilation.network import FanCurve, solve

ROOT = Path(__file__).resolve().parent.parent
VENT = ROOT / "configs" / "ventilation-site.toml"
CALL_S = 3.0
SCALE = 100.0


def vent_text(tmp_path: Path, **replace: str) -> str:
    text = config_text(VENT)
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text)
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {SCALE}", text)
    text = text.replace('dir = "var/ventilation"', f'dir = "{tmp_path}"')
    for key, value in replace.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, key
    return text


def vent_config(tmp_path: Path, **replace: str) -> SiteConfig:
    return parse(tomllib.loads(vent_text(tmp_path, **replace)), "vent-test.toml")


class Plc:
    """One HIL PLC as a foreign S7 master sees it, addressed as the config names it."""

    def __init__(self, cfg: SiteConfig, plc: str) -> None:
        self.cfg, self.port = cfg, cfg.plcs[plc].port
        self.addr = {s.path: str(s.address) for s in cfg.signals() if s.plc == plc}
        self.scale = {s.path: s.map.scale for s in cfg.signals() if s.plc == plc}
        self.client: AsyncClient | None = None
        self.beat = 0

    async def connect(self) -> None:
        self.client = AsyncClient()
        await asyncio.wait_for(self.client.connect("127.0.0.1", 0, 1, self.port), CALL_S)

    async def read(self, path: str) -> float | bool:
        a = parse_address(self.addr[path])
        assert self.client is not None
        if a.area == "DB":
            raw = await asyncio.wait_for(self.client.db_read(a.db, a.offset, 4), CALL_S)
        else:
            area = {"M": Area.MK, "I": Area.PE}[a.area]
            raw = await asyncio.wait_for(self.client.read_area(area, 0, a.offset, 1), CALL_S)
        if a.bit is not None:
            return get_bool(raw, 0, a.bit)
        value = {"REAL": lambda: get_real(raw, 0), "INT": lambda: get_int(raw, 0),
                 "WORD": lambda: get_word(raw, 0),
                 "DWORD": lambda: struct.unpack(">I", bytes(raw[:4]))[0]}[a.dtype]()
        return float(value) * self.scale[path]

    def write_bit(self, path: str, on: bool) -> None:
        a = parse_address(self.addr[path])
        assert a.area == "M" and a.bit is not None
        c = Client()
        c.connect("127.0.0.1", 0, 1, self.port)
        try:
            c.write_area(Area.MK, 0, a.offset * 8 + a.bit, bytearray([int(on)]),
                         word_len=WordLen.Bit)
        finally:
            c.disconnect()

    async def write_word(self, address: str, value: int) -> None:
        a = parse_address(address)
        assert self.client is not None and a.area == "DB"
        await asyncio.wait_for(self.client.db_write(a.db, a.offset,
                                                    bytearray(struct.pack(">H", value))),
                               CALL_S)

    async def heartbeat(self) -> None:
        self.beat = (self.beat + 1) % 65536
        await self.write_word(self.cfg.plcs["vent1"].heartbeat or "", self.beat)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.disconnect()


class Vent:
    """The site, a master per PLC, and a controller's heartbeat that can be stopped."""

    def __init__(self, cfg: SiteConfig) -> None:
        self.cfg = cfg
        self.rig = Rig(cfg, ScaledClock(SCALE))
        self.site: HilSite = self.rig.site
        self.plcs = {name: Plc(cfg, name) for name in cfg.plcs}
        self.beating = True
        self._hb: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.site.start()
        for p in self.plcs.values():
            await p.connect()
        self._hb = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            if self.beating:
                for p in self.plcs.values():
                    await p.heartbeat()
            await asyncio.sleep(0.05)        # the controller's period, wall time

    async def stop(self) -> None:
        if self._hb is not None:
            self._hb.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._hb
        for p in self.plcs.values():
            await p.close()
        await self.site.stop()

    @property
    def vent(self) -> Plc:
        return self.plcs["vent1"]

    def watchdog_wait(self) -> float:
        """Sim seconds within which a PLC must fall back once the heartbeat stops: its
        watchdog as the clock floors a peer's silence, plus a scan's slack."""
        watchdog = max(h.watchdog_s for h in self.cfg.hil.ventilation)
        return self.rig.clock.silence_timeout(watchdog) + 20

    async def until(self, what: str, sim_s: float, check) -> None:  # type: ignore[no-untyped-def]
        """Wait, reading over S7 after each scan, until ``await check()`` is true."""
        end = self.rig.clock.now() + sim_s
        while not await check():
            if self.rig.clock.now() > end:
                raise AssertionError(f"not within {sim_s:.0f} simulated s: {what}")
            await self.site.scanned()

    async def inject(self, fault: str, target: str, *args: str) -> str:
        return await self.site.inject(inject.parse(self.cfg, fault, target, list(args)))


@pytest_asyncio.fixture
async def make(tmp_path: Path) -> AsyncIterator:  # type: ignore[type-arg]
    made: list[Vent] = []

    async def _make(**replace: str) -> Vent:
        v = Vent(vent_config(tmp_path, **replace))
        await v.start()
        made.append(v)
        return v
    yield _make
    for v in made:
        await v.stop()


def _nodal_steady_state(cfg: SiteConfig) -> dict[str, float]:
    """The network's flows with fan 1 at full speed, its dampers open, fan 2 standing by
    (outlet shut): solved on the junction pressures (a formulation the HIL does not use)."""
    net = cfg.systems["ventilation"].network
    fan = cfg.systems["ventilation"].equipment["fan1"]
    qs, ps = zip(*fan.curve, strict=True)
    names = list(net.branches)
    nodes = sorted({n for b in net.branches.values() for n in (b.start, b.end)} - {"surface"})

    def flow(name: str, p: dict[str, float]) -> float:
        b = net.branches[name]
        r = b.resistance + (R_CLOSED if b.fan == "fan2" else 0.0)
        drop = p.get(b.start, 0.0) - p.get(b.end, 0.0)
        if b.fan == "fan1":                     # fan pressure = R Q|Q| - drop, on the curve
            return float(fsolve(lambda q: __import__("numpy").interp(
                q[0], qs, ps) + drop - r * q[0] * abs(q[0]), [150.0])[0])
        return (1 if drop >= 0 else -1) * (abs(drop) / r) ** 0.5

    def balance(x):  # type: ignore[no-untyped-def]
        p = dict(zip(nodes, x, strict=True))
        out = []
        for n in nodes:
            out.append(sum(flow(k, p) for k in names if net.branches[k].end == n)
                       - sum(flow(k, p) for k in names if net.branches[k].start == n))
        return out
    x = fsolve(balance, [-500.0] * len(nodes), xtol=1e-12)
    p = dict(zip(nodes, x, strict=True))
    return {k: flow(k, p) for k in names}


# --- the plant: a fan's run-up and the network's steady state -------------------------------

async def test_a_fan_runs_up_and_the_shaft_airflow_settles_at_the_networks_solution(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make(initial='"stopped"')
    plc = v.vent
    assert not await plc.read("ventilation.fan1.running")
    assert abs(await plc.read("ventilation.as_shaft.airflow")) < 2.0
    # the order the PLC asks: inlet open, then run (refused before), then outlet
    plc.write_bit("ventilation.fan1.run_cmd", True)
    await v.rig.run_for(10)
    assert not await plc.read("ventilation.fan1.running")       # inlet still shut
    plc.write_bit("ventilation.fan1.run_cmd", False)
    await plc.write_word(plc.addr["ventilation.fan1.speed_sp"], 1000)
    plc.write_bit("ventilation.fan1_inlet.open_cmd", True)
    await v.until("inlet open", 60, lambda: plc.read("ventilation.fan1_inlet.opened"))
    plc.write_bit("ventilation.fan1.run_cmd", True)
    plc.write_bit("ventilation.fan1_outlet.open_cmd", True)
    seen: list[tuple[float, float]] = []

    async def at_speed() -> bool:
        speed = float(await plc.read("ventilation.fan1.speed"))
        seen.append((speed, float(await plc.read("ventilation.as_shaft.airflow"))))
        return speed >= 99.9
    await v.until("fan 1 at full speed", 120, at_speed)
    # the air followed the run-up: rising with the speed, not there at once
    mid = [q for s, q in seen if 40 <= s <= 60]
    assert mid and all(40 < q < 100 for q in mid), seen
    await v.rig.run_for(60)
    shaft = float(await plc.read("ventilation.as_shaft.airflow"))
    face1 = float(await plc.read("ventilation.as_face1.airflow"))
    nodal = _nodal_steady_state(v.cfg)
    assert shaft == pytest.approx(nodal["return"], rel=0.005)
    assert face1 == pytest.approx(nodal["face1_in"], rel=0.005)
    # and the project's static solver on the same network (issue 12: within 2 %)
    system = v.cfg.systems["ventilation"]
    sol = solve(system.network, {"fan1": FanCurve.from_eq(system.equipment["fan1"]),
                                 "fan2": FanCurve.from_eq(system.equipment["fan2"],
                                                          running=False)})
    assert shaft == pytest.approx(sol.flow["return"], rel=0.02)
    assert face1 == pytest.approx(sol.flow["face1_in"], rel=0.02)
    assert float(await plc.read("ventilation.as_shaft.pressure")) < -2000   # suction
    assert 400 < float(await plc.read("ventilation.fan1.power")) < 630
    assert float(await plc.read("ventilation.fan1.starts")) == 1


# --- protections ------------------------------------------------------------------------------

async def test_a_fan_trips_on_vibration_and_the_code_holds_until_reset_with_the_cause_gone(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    plc = v.vent
    assert await plc.read("ventilation.fan1.running")
    assert float(await plc.read("ventilation.fan1.fault_code")) == 0
    assert await v.inject("fan-trip", "fan1") == "ventilation.fan1: trip on"
    await v.until("fan 1 tripped", 30,
                  lambda: _eq(plc.read("ventilation.fan1.fault_code"), vplc.FAULT_VIBRATION))
    assert not await plc.read("ventilation.fan1.running")
    assert not await plc.read("ventilation.fan1.run_cmd")       # the command cleared
    assert not await plc.read("ventilation.fan1.ready")
    assert float(await plc.read("ventilation.fan1.vibration")) >= vplc.VIB_TRIP
    # a reset with the cause there is refused: the code comes back
    await plc.write_word(plc.addr["ventilation.fan1.fault_code"], 0)
    await v.rig.run_for(10)
    assert float(await plc.read("ventilation.fan1.fault_code")) == vplc.FAULT_VIBRATION
    await v.inject("fan-trip", "fan1", "off")
    await v.rig.run_for(5)
    assert float(await plc.read("ventilation.fan1.fault_code")) == vplc.FAULT_VIBRATION
    await plc.write_word(plc.addr["ventilation.fan1.fault_code"], 0)
    await v.until("reset taken", 20, lambda: plc.read("ventilation.fan1.ready"))
    await v.rig.run_for(5)
    assert float(await plc.read("ventilation.fan1.fault_code")) == 0
    assert not await plc.read("ventilation.fan1.running")       # no restart by itself
    assert vplc.FAULT_WORDS == equipment.FAULT_WORDS


async def _eq(aw, value: float) -> bool:  # type: ignore[no-untyped-def]
    return bool(float(await aw) == value)


# --- doors and windows --------------------------------------------------------------------------

async def test_a_door_warns_before_it_moves_and_the_airlock_refuses_its_partner(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    plc, clock = v.vent, v.rig.clock
    warn_s = v.cfg.systems["ventilation"].equipment["door11"].warn_s
    plc.write_bit("ventilation.door11.open_cmd", True)
    await v.until("horn and light", 10, lambda: plc.read("ventilation.door11.warning"))
    t0 = clock.now()
    moved_at: list[float] = []

    async def opened() -> bool:
        if not await plc.read("ventilation.door11.closed") and not moved_at:
            moved_at.append(clock.now())
        return bool(await plc.read("ventilation.door11.opened"))
    await v.until("door 11 open", 30, opened)
    assert moved_at[0] - t0 >= warn_s - 1.5          # a scan's grain: ~1 simulated s
    # its partner may not open while it is open: refused, stays shut
    plc.write_bit("ventilation.door12.open_cmd", True)
    await v.until("door 12 refused", 10, lambda: _refused(plc, "door12"))
    await v.rig.run_for(15)
    assert await plc.read("ventilation.door12.closed")
    assert not await plc.read("ventilation.door12.warning")
    # ... and not later by itself once door 11 is shut: the command must be given again
    plc.write_bit("ventilation.door11.open_cmd", False)
    await v.until("door 11 shut", 30, lambda: plc.read("ventilation.door11.closed"))
    await v.rig.run_for(12)
    assert await plc.read("ventilation.door12.closed")
    plc.write_bit("ventilation.door12.open_cmd", False)
    await v.until("refusal withdrawn", 10, lambda: _not(_refused(plc, "door12")))
    plc.write_bit("ventilation.door12.open_cmd", True)
    await v.until("door 12 open", 30, lambda: plc.read("ventilation.door12.opened"))


async def _refused(plc: Plc, door: str) -> bool:
    """The refused bit: in the PLC's map beside the door's declared signals."""
    r = vplc.IR_DOOR + {"door11": 0, "door12": 1, "door21": 2, "door22": 3}[door]
    a = parse_address(__import__("fixedsite.hil.s7_image", fromlist=["siemens"]).siemens(
        f"ir:{r}.{vplc.B_REFUSED}"))
    assert plc.client is not None
    raw = await asyncio.wait_for(plc.client.db_read(a.db, a.offset, 1), CALL_S)
    return get_bool(raw, 0, a.bit or 0)


async def _not(aw) -> bool:  # type: ignore[no-untyped-def]
    return not await aw


async def test_an_obstructed_door_stops_and_goes_back_then_closes_once_clear(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    plc = v.vent
    plc.write_bit("ventilation.door21.open_cmd", True)
    await v.until("door 21 open", 30, lambda: plc.read("ventilation.door21.opened"))
    await v.inject("door-obstructed", "door21")
    plc.write_bit("ventilation.door21.open_cmd", False)
    await v.until("obstructed", 30, lambda: plc.read("ventilation.door21.obstructed"))
    await v.until("back open", 30, lambda: plc.read("ventilation.door21.opened"))
    await v.rig.run_for(15)
    assert await plc.read("ventilation.door21.opened")          # no retry while blocked
    await v.inject("door-obstructed", "door21", "off")
    await v.until("closed once clear", 30, lambda: plc.read("ventilation.door21.closed"))
    assert not await plc.read("ventilation.door21.obstructed")


async def test_a_window_follows_its_set_point_and_the_air_follows_the_window(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    plc = v.vent
    before = float(await plc.read("ventilation.as_face1.airflow"))
    await plc.write_word(plc.addr["ventilation.window1.position_sp"], 150)   # 15 %
    await v.until("window at 15 %", 30,
                  lambda: _near(plc.read("ventilation.window1.position"), 15.0, 0.2))
    await v.rig.run_for(10)
    after = float(await plc.read("ventilation.as_face1.airflow"))
    system = v.cfg.systems["ventilation"]
    sol = solve(system.network, {"fan1": FanCurve.from_eq(system.equipment["fan1"]),
                                 "fan2": FanCurve.from_eq(system.equipment["fan2"],
                                                          running=False)},
                {"window1": 15.0})
    assert after < 0.8 * before
    assert after == pytest.approx(sol.flow["face1_in"], rel=0.02)


async def _near(aw, value: float, tol: float) -> bool:  # type: ignore[no-untyped-def]
    return abs(float(await aw) - value) <= tol


# --- the watchdog ------------------------------------------------------------------------------

async def test_the_running_fan_keeps_running_when_the_heartbeat_stops(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    plc = v.vent
    speed = float(await plc.read("ventilation.fan1.speed"))
    assert speed > 99 and not await plc.read("ventilation.plc_vent.fallback")
    v.beating = False
    # the PLC's watchdog (10 s) is floored at 1 s wall, as any peer's silence is
    await v.until("fallback", v.watchdog_wait(),
                  lambda: plc.read("ventilation.plc_vent.fallback"))
    plc.write_bit("ventilation.fan1.run_cmd", False)     # a stale write: not obeyed
    await v.rig.run_for(60)
    assert await plc.read("ventilation.fan1.running")
    assert float(await plc.read("ventilation.fan1.speed")) == pytest.approx(speed, abs=0.2)
    assert await plc.read("ventilation.fan1.run_cmd")    # tracked: bumpless return
    assert float(await plc.read("ventilation.as_shaft.airflow")) > 140
    v.beating = True
    await v.until("controller back", 30, lambda: _not(plc.read("ventilation.plc_vent."
                                                              "fallback")))
    await v.rig.run_for(10)
    assert await plc.read("ventilation.fan1.running")


# --- a face's auxiliary fans on their own PLC ------------------------------------------------

async def test_each_face_has_its_auxiliary_fans_on_its_own_plc_and_no_switchover_by_itself(
        make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    aux1, aux2 = v.plcs["aux1"], v.plcs["aux2"]
    assert aux1.port != aux2.port != v.vent.port
    for p, face in ((aux1, "aux1"), (aux2, "aux2")):
        assert await p.read(f"ventilation.{face}1.running")
        assert float(await p.read(f"ventilation.{face}1.airflow")) == pytest.approx(8, rel=0.01)
        assert not await p.read(f"ventilation.{face}2.running")
    assert await v.inject("aux-trip", "aux11") == "ventilation.aux11: trip on"
    await v.until("aux11 tripped", 20, lambda: _eq(aux1.read("ventilation.aux11.fault_code"),
                                                   1))
    await v.rig.run_for(20)
    assert not await aux1.read("ventilation.aux11.running")
    assert not await aux1.read("ventilation.aux12.running")      # the controller's to start
    assert await aux2.read("ventilation.aux21.running")          # the other face untouched
    aux1.write_bit("ventilation.aux12.run_cmd", True)
    await v.until("aux12 delivering", 20,
                  lambda: _near(aux1.read("ventilation.aux12.airflow"), 8.0, 0.1))
    await aux1.write_word(aux1.addr["ventilation.aux11.fault_code"], 0)
    await v.rig.run_for(5)
    assert float(await aux1.read("ventilation.aux11.fault_code")) == 1   # cause still there
    await v.inject("aux-trip", "aux11", "off")
    await aux1.write_word(aux1.addr["ventilation.aux11.fault_code"], 0)
    await v.rig.run_for(5)
    assert float(await aux1.read("ventilation.aux11.fault_code")) == 0
    with pytest.raises(inject.InjectError, match="unknown auxiliary fan 'fan1'"):
        inject.parse(v.cfg, "aux-trip", "fan1")
    # heartbeat lost: the running auxiliary fan keeps running
    v.beating = False
    await v.until("aux1 fallback", v.watchdog_wait(),
                  lambda: aux1.read("ventilation.plc_aux1.fallback"))
    await v.rig.run_for(30)
    assert await aux1.read("ventilation.aux12.running")


# --- state across runs -------------------------------------------------------------------------

async def test_the_plant_and_plcs_are_saved_and_restored(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    v = await make()
    plc = v.vent
    await v.inject("vfd-fault", "fan1")
    await v.until("VFD trip", 20, lambda: _eq(plc.read("ventilation.fan1.fault_code"), 2))
    await plc.write_word(plc.addr["ventilation.window2.position_sp"], 500)
    await v.until("window 2 at 50 %", 30,
                  lambda: _near(plc.read("ventilation.window2.position"), 50.0, 0.2))
    energy = v.site.units[0].station.fans[0].energy
    path = tmp_path / "hil-state.json"
    plant_state.save(path, plant_state.snapshot(v.site.units, "ventilation", 0.0))
    cfg = vent_config(tmp_path)
    site = HilSite(cfg, ScaledClock(SCALE), state=path)
    await site.start()
    try:
        assert "restored" in site.state_note
        st, p = site.units[0].station, site.units[0].plc
        assert p.fault[0] == 2 and st.fans[0].vfd_fault and st.fans[0].energy == energy
        assert st.windows[1].position == pytest.approx(0.5, abs=0.002)
        assert len(site.units) == 3 and site.units[1].aux.fans[0].motor_on
    finally:
        await site.stop()
    # a doctored value is refused with its key, nothing half restored
    text = path.read_text(encoding="utf-8").replace('"phase": 0', '"phase": 9', 1)
    path.write_text(text, encoding="utf-8")
    site = HilSite(cfg, ScaledClock(SCALE), state=path)
    await site.start()
    try:
        assert "plc.doors.0.phase: no such phase" in site.state_note
        assert site.units[0].plc.fault[0] == 0
    finally:
        await site.stop()


# --- the map ---------------------------------------------------------------------------------

def test_list_tags_prints_the_siemens_addresses_the_config_gives(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "hil", "--list-tags", "--config", str(VENT))
    assert rc == 0, err
    rows = {line.split()[1]: line.split()[0] for line in out.splitlines()
            if line and not line.startswith(("#", "address"))}
    assert rows["plcs.vent1.heartbeat"] == "DB1.DBW0:WORD"
    assert rows["ventilation.fan1.run_cmd"] == "M0.0"
    assert rows["ventilation.as_shaft.airflow"] == "DB2.DBD200:REAL"
    assert rows["ventilation.door11.refused"] == "DB2.DBX101.5"
    assert rows["ventilation.aux21.run_cmd"] == "M0.0"
    cfg = load(VENT)
    for s in cfg.signals():                  # every configured signal where the PLC has it
        assert rows[s.path] == str(s.address), s.path
    assert "# ventilation: PLC aux2" in out
