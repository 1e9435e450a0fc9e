"""The HIL power system over real Modbus sockets (issue 13, Deliver item 1).

configs/power-site.toml (five substation gateways, twenty relays) is served on free
loopback ports and read and written with pymodbus's own client, every value decoded here
from the address the config gives the signal (never the project's driver or codec, never
the HIL's layout): the relays' layout must be right against the controller's profile and
against an independent decoder. Settings are written as a controller would write them;
faults are injected through the same parser ``fixedsite hil inject`` uses.
"""

from __future__ import annotations

import math
import re
import struct
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pandapower as pp
import pytest
import pytest_asyncio
from conftest import cli, free_port
from pymodbus.client import AsyncModbusTcpClient
from test_power_protection import independent, run_sc, settings

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, parse
from fixedsite.hil import faults as inject
from fixedsite.hil import state as plant_state
from fixedsite.hil.demo_config import config_text
from fixedsite.hil.faults import InjectError
from fixedsite.hil.power import layout as L
from fixedsite.hil.power.plant import Plant
from fixedsite.hil.power.unit import build
from fixedsite.hil.register_map import map_rows
from fixedsite.hil.site import HilSite
from fixedsite.sequences.power import profile
from fixedsite.sequences.power.config import BreakerEq, PowerSystem

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "configs" / "power-site.toml"
SCALE = 50.0
CALL_S = 3.0


def power_text(tmp_path: Path, noise: float | None = None) -> str:
    text = config_text(SITE)
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text)
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {SCALE}", text)
    text = text.replace('dir = "var/power"', f'dir = "{tmp_path}"')
    if noise is not None:
        text = text.replace("[[hil.power]]\n", f"[[hil.power]]\nload_noise_pct = {noise}\n")
    return text


def power_config(tmp_path: Path, noise: float | None = None) -> SiteConfig:
    return parse(tomllib.loads(power_text(tmp_path, noise)), "power-test.toml")


def decode(address: str, regs: list[int]) -> Any:
    """A value from its registers as the config's address says: ``hr:5``,
    ``ir:202:float32``, ``ir:200.3`` (big-endian words, high word first)."""
    m = re.fullmatch(r"(hr|ir):(\d+)(?:\.(\d+)|:(\w+))?", address)
    assert m, address
    if m.group(3) is not None:
        return bool(regs[0] >> int(m.group(3)) & 1)
    dtype = m.group(4) or "uint16"
    if dtype == "float32":
        return struct.unpack(">f", struct.pack(">HH", regs[0], regs[1]))[0]
    if dtype == "uint32":
        return regs[0] << 16 | regs[1]
    if dtype == "int16":
        return struct.unpack(">h", struct.pack(">H", regs[0]))[0]
    return regs[0]


def where(address: str) -> tuple[str, int, int]:
    table, rest = address.split(":", 1)
    index = int(re.split(r"[.:]", rest)[0])
    return table, index, 2 if address.endswith(("float32", "uint32")) else 1


class Gateways:
    """Every gateway as a foreign Modbus master sees it, signals named as the config
    names them."""

    def __init__(self, cfg: SiteConfig) -> None:
        self.cfg = cfg
        self.sig = {s.path: (s.plc, s.map.address, s.map.scale) for s in cfg.signals()}
        self.c: dict[str, AsyncModbusTcpClient] = {}

    async def connect(self) -> None:
        for name, p in self.cfg.plcs.items():
            c = AsyncModbusTcpClient("127.0.0.1", port=p.port, timeout=CALL_S)
            assert await c.connect()
            self.c[name] = c

    def close(self) -> None:
        for c in self.c.values():
            c.close()

    async def regs(self, plc: str, table: str, index: int, count: int) -> list[int]:
        c = self.c[plc]
        fn = c.read_holding_registers if table == "hr" else c.read_input_registers
        r = await fn(index, count=count, device_id=1)
        assert not r.isError(), r
        return list(r.registers)

    async def read(self, path: str) -> Any:
        plc, address, scale = self.sig[path]
        table, index, n = where(address)
        v = decode(address, await self.regs(plc, table, index, n))
        return v * scale if scale != 1.0 and not isinstance(v, bool) else v

    async def write(self, path: str, value: int) -> None:
        plc, address, _ = self.sig[path]
        table, index, _ = where(address)
        assert table == "hr", path
        r = await self.c[plc].write_register(index, value, device_id=1)
        assert not r.isError(), r

    async def relay(self, breaker: str) -> dict[str, Any]:
        """Every signal of one relay, read window-wise (three reads)."""
        eq = self.cfg.systems["power"].equipment[breaker]
        assert isinstance(eq, BreakerEq)
        ir = await self.regs(eq.plc, "ir", eq.base, 100) + \
            await self.regs(eq.plc, "ir", eq.base + 100, 100)
        hr = await self.regs(eq.plc, "hr", eq.base, 50)
        out: dict[str, Any] = {}
        prefix = f"power.{breaker}."
        for path, (_, address, scale) in self.sig.items():
            if not path.startswith(prefix):
                continue
            table, index, n = where(address)
            image = ir if table == "ir" else hr
            v = decode(address, image[index - eq.base:index - eq.base + n])
            out[path[len(prefix):]] = v * scale if scale != 1.0 and not isinstance(v, bool) \
                else v
        return out

    async def soe(self, breaker: str) -> list[tuple[int, str, int, int]]:
        """The ring in seq order: (seq, what, epoch ms, value), oldest first."""
        r = await self.relay(breaker)
        recs = [(r[f"soe{i}_seq"], profile.SOE_CODES.get(r[f"soe{i}_code"], "?"),
                 r[f"soe{i}_s"] * 1000 + r[f"soe{i}_ms"], r[f"soe{i}_value"])
                for i in range(16) if r[f"soe{i}_seq"]]
        return sorted(recs)


class Power:
    """The site, its gateways, and the waits."""

    def __init__(self, cfg: SiteConfig, state: Path | None = None) -> None:
        self.cfg = cfg
        self.system = cfg.systems["power"]
        assert isinstance(self.system, PowerSystem)
        self.clock = ScaledClock(SCALE)
        self.site = HilSite(cfg, self.clock, state=state)
        self.gw = Gateways(cfg)

    async def start(self) -> None:
        await self.site.start()
        await self.gw.connect()

    async def stop(self) -> None:
        self.gw.close()
        await self.site.stop()

    @property
    def plant(self) -> Plant:
        return self.site.units[0].plant     # type: ignore[attr-defined, no-any-return]

    async def until(self, what: str, sim_s: float, check: Callable[[], Awaitable[Any]]
                    ) -> None:
        end = self.clock.now() + sim_s
        while not await check():
            if self.clock.now() > end:
                raise AssertionError(f"not within {sim_s:.0f} simulated s: {what}")
            await self.site.scanned()

    async def scans(self, n: int = 2) -> None:
        for _ in range(n):
            await self.site.scanned()

    async def inject(self, fault: str, target: str, *args: str) -> str:
        return await self.site.inject(inject.parse(self.cfg, fault, target, list(args)))

    async def is_(self, path: str, value: Any) -> bool:
        return bool(await self.gw.read(path) == value)

    async def setup(self, group: dict[str, int] | None = None) -> None:
        """The settings the tests' scheme computes, written as a controller writes them."""
        s = settings(self.system)
        no = {b: eq.relay_no for b, eq in self.system.equipment.items()
              if isinstance(eq, BreakerEq)}
        for b, x in s.items():
            sources = [no[src] for src in x["sources"]]
            for g in (1, 2):
                fast = x["fast_enabled"] and not (g == 2 and sources)
                vals = {"pickup_a": x["pickup_a"], "fast_enabled": int(fast),
                        "fast_delay_ms": 100, "backup_pickup_a": x["backup_pickup_a"],
                        "backup_delay_ms": x["backup_delay_ms"], "bf_delay_ms": 150}
                for f, v in vals.items():
                    await self.gw.write(f"power.{b}.g{g}_{f}", v)
            for i in range(4):
                await self.gw.write(f"power.{b}.block_src{i}",
                                    sources[i] if i < len(sources) else 0)
            await self.gw.write(f"power.{b}.link_ttl_ms", 2000)
            if group and b in group:
                await self.gw.write(f"power.{b}.group_sp", group[b])
        await self.scans()


@pytest_asyncio.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Power]]]:
    made: list[Power] = []

    async def _make(noise: float | None = None, state: Path | None = None,
                    cfg: SiteConfig | None = None) -> Power:
        p = Power(cfg or power_config(tmp_path, noise), state)
        await p.start()
        made.append(p)
        return p
    yield _make
    for p in made:
        await p.stop()


# --- the layout: the relays' copy against the controller's ------------------------------------

def test_the_relays_layout_is_the_controllers_profile_and_the_register_map(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for base in (200, 400, 1000, 65000):
        want = profile.signals(base)
        assert set(L.RELAY) == set(want)
        for name, reg in L.RELAY.items():
            entry = want[name]
            address = entry if isinstance(entry, str) else entry["address"]
            assert reg.address(base) == address, name
            scale = 1.0 if isinstance(entry, str) else entry["scale"]
            assert reg.scale == scale, name
            assert reg.unit == ("" if isinstance(entry, str) else entry.get("unit", "")), name
    sub = profile.substation_signals()
    assert {n: r.address(0) for n, r in L.SUBSTATION.items()} == sub
    assert L.WINDOW == profile.WINDOW and L.SOE_DEPTH == profile.SOE_DEPTH
    # what --list-tags lists is every configured signal at the config's address and scale
    cfg = power_config(tmp_path)
    rows = {r["tag"]: r for r in map_rows(cfg) if r["system"] == "power"}
    sigs = {s.path: s for s in cfg.signals()}
    assert set(sigs) <= set(rows)
    assert set(rows) - set(sigs) == {f"plcs.{p}.heartbeat" for p in cfg.plcs}
    for path, s in sigs.items():
        assert rows[path]["address"] == s.map.address, path
        assert float(rows[path]["scale"]) == s.map.scale, path
        assert rows[path]["plc"] == s.plc, path
    path = tmp_path / "site.toml"
    path.write_text(power_text(tmp_path), encoding="utf-8")
    rc, out, _ = cli(capsys, "hil", "--list-tags", "--config", str(path))
    assert rc == 0
    line = next(x for x in out.splitlines() if " power.Q512.soe15_value " in x)
    assert line.split()[0] == "ir:745"                       # 600 + 50 + 6 x 15 + 5


# --- measurements -------------------------------------------------------------------------

async def test_the_relays_measure_the_load_flow(make: Any) -> None:
    p = await make(noise=0)
    system = p.system
    ref, bus = independent(system)
    pp.runpp(ref, numba=False)
    nw = system.network
    vm = {b: float(ref.res_bus.at[i, "vm_pu"]) * nw.buses[b].voltage_kv for b, i in bus.items()}
    line_of = {str(n): i for i, n in ref.line.name.items()}
    load_of = {str(n): i for i, n in ref.load.name.items()}
    grid_of = {str(n): i for i, n in ref.ext_grid.name.items()}
    energy: dict[str, tuple[float, float]] = {}
    t0 = p.clock.now()
    for b, eq in system.equipment.items():
        if not isinstance(eq, BreakerEq):
            continue
        r = await p.gw.relay(b)
        energy[b] = (r["energy"], r["p_kw"])
        assert r["uab"] == pytest.approx(vm[eq.bus], rel=0.01), b
        assert r["freq_hz"] == pytest.approx(50.0, abs=1e-4), b
        assert 0 < r["thd_u_pct"] < 4 and 0 < r["unbalance_u_pct"] < 2, b
        assert r["healthy"] and r["spring_charged"] and not r["local"], b
        if eq.normally_open:
            assert r["breaker_open"] and r["ia"] == 0.0 and r["line_live"], b
            continue
        assert r["breaker_closed"] and r["line_live"] and not r["undervoltage"], b
        if eq.feeds in line_of:
            li = line_of[eq.feeds]
            side = "from" if nw.lines[eq.feeds].from_bus == eq.bus else "to"
            i = float(ref.res_line.at[li, f"i_{side}_ka"]) * 1000
            pw = abs(float(ref.res_line.at[li, f"p_{side}_mw"])) * 1000
        elif eq.feeds in load_of:
            pw = float(ref.res_load.at[load_of[eq.feeds], "p_mw"]) * 1000
            q = float(ref.res_load.at[load_of[eq.feeds], "q_mvar"]) * 1000
            i = math.hypot(pw, q) / (math.sqrt(3) * vm[eq.bus])
            assert r["q_kvar"] == pytest.approx(q, rel=0.01), b
            assert r["pf"] == pytest.approx(nw.loads[eq.feeds].pf, rel=0.01), b
        else:
            g = grid_of[eq.feeds]
            pw = float(ref.res_ext_grid.at[g, "p_mw"]) * 1000
            q = float(ref.res_ext_grid.at[g, "q_mvar"]) * 1000
            i = math.hypot(pw, q) / (math.sqrt(3) * vm[eq.bus])
        for ph in ("ia", "ib", "ic"):
            assert r[ph] == pytest.approx(i, rel=0.01), (b, ph)
        assert r["p_kw"] == pytest.approx(pw, rel=0.01), b
    # the energy counters integrate the power
    await p.scans(20)
    dt_h = (p.clock.now() - t0) / 3600
    for b in ("Q101", "Q112", "Q511"):
        kwh0, kw = energy[b]
        got = await p.gw.read(f"power.{b}.energy")
        assert got == pytest.approx(kwh0 + kw * dt_h, abs=2 + 0.1 * kw * dt_h), b


async def test_load_noise_moves_the_currents_and_keeps_the_feeders_summing_to_the_incomer(
        make: Any) -> None:
    p = await make(noise=5)
    await p.scans(30)
    seen = set()
    for _ in range(3):
        q201, q211, q212 = [await p.gw.read(f"power.{b}.p_kw")
                            for b in ("Q201", "Q211", "Q212")]
        seen.add(round(q212, 1))
        assert q201 == pytest.approx(q211 + q212, rel=0.03)
        await p.scans(10)
    assert len(seen) > 1
    f = await p.gw.read("power.Q101.freq_hz")
    assert 49.5 < f < 50.5 and f != 50.0


# --- faults: protection as the controller reads it ------------------------------------------

async def test_a_face_feeder_fault_trips_its_breaker_alone_and_stays_until_cleared(
        make: Any) -> None:
    p = await make()
    gw = p.gw
    await p.setup()
    t_inject = p.clock.now() * 1000
    assert await p.inject("fault-3ph", "L_F1", "0.4") == "power.L_F1: three-phase fault at 0.4"
    await p.until("Q212 open", 10, lambda: p.is_("power.Q212.breaker_open", True))
    await p.scans()
    for b in ("Q101", "Q111", "Q201", "Q501", "Q511", "Q102"):
        assert await gw.read(f"power.{b}.breaker_closed"), b
        assert await gw.read(f"power.{b}.trip_code") == 0, b
    assert await gw.read("power.Q212.trip_code") == L.TRIP_CODE_FAST
    assert await gw.read("power.Q212.tripped")
    soe = await gw.soe("Q212")
    assert [w for _, w, _, _ in soe] == ["pickup", "trip fast", "breaker opened", "drop-off"]
    assert [s for s, *_ in soe] == [1, 2, 3, 4]
    (_, _, t_pick, amps), (_, _, t_trip, _), (_, _, t_open, _), _ = soe
    assert 18 <= t_pick - t_inject < 500                  # the fault's inception: at once
    assert 85 <= t_trip - t_pick <= 115 and t_open - t_pick < 200
    ref, bus = independent(p.system, ("L_F1", 0.4))
    want = run_sc(ref, bus["L_F1@"], "3ph")
    assert amps == pytest.approx(want, rel=0.01)
    for up in ("Q201", "Q111", "Q101"):
        words = [w for _, w, _, _ in await gw.soe(up)]
        assert words[:1] == ["pickup"] or words[:2] == ["block received", "pickup"], up
        assert "block received" in words and "drop-off" in words, up
        assert not any(w.startswith("trip") for w in words), up
    r = await gw.relay("Q212")
    assert r["rec_seq"] == 1 and r["rec_type"] == 1 and r["rec_clear_ms"] < 200
    assert r["flt_ia"] == pytest.approx(want, rel=0.01)
    assert r["flt_ib"] == pytest.approx(want, rel=0.01)
    assert r["pre_ia"] == pytest.approx(104.0, rel=0.03) and 9 < r["pre_ua"] * 3 ** 0.5 < 11
    assert r["rec_s"] * 1000 + r["rec_ms"] <= t_pick
    assert r["flt_ua"] < 0.3 * r["pre_ua"]                  # D1: the fault is one cable away
    assert (r["flt_ia_deg"] - r["flt_ib_deg"]) % 360 == pytest.approx(120, abs=0.5)
    # a close while the trip is latched is refused, with the reason
    await gw.write("power.Q212.breaker_cmd", 2)
    await p.until("refused", 10, lambda: p.is_("power.Q212.refused", True))
    assert (await gw.soe("Q212"))[-1][1:2] == ("close refused",)
    assert (await gw.soe("Q212"))[-1][3] == L.REFUSE_TRIP
    assert await gw.read("power.Q212.breaker_cmd") == 2          # held as written
    await gw.write("power.Q212.breaker_cmd", 0)
    await gw.write("power.Q212.trip_code", 0)
    await p.until("reset", 10, lambda: p.is_("power.Q212.refused", False))
    assert await gw.read("power.Q212.trip_code") == 0
    # closed onto the fault, which is still there: it trips again
    await gw.write("power.Q212.breaker_cmd", 2)
    await p.until("tripped again", 10, lambda: p.is_("power.Q212.trip_code", 1))
    await p.until("open again", 10, lambda: p.is_("power.Q212.breaker_open", True))
    assert await gw.read("power.Q212.rec_seq") == 2
    assert await gw.read("power.Q201.breaker_closed")
    # repaired: reset, close, and it holds
    await p.inject("fault-clear", "L_F1")
    await gw.write("power.Q212.breaker_cmd", 0)
    await gw.write("power.Q212.trip_code", 0)
    await p.until("spring charged", 10, lambda: p.is_("power.Q212.spring_charged", True))
    await gw.write("power.Q212.breaker_cmd", 2)
    await p.until("closed", 10, lambda: p.is_("power.Q212.breaker_closed", True))
    await p.scans(3)
    assert await gw.read("power.Q212.breaker_closed")
    assert await gw.read("power.Q212.trip_code") == 0
    assert 50 < await gw.read("power.Q212.ia") < 200
    assert await gw.read("power.Q511.line_live")


async def test_a_lost_link_overtrips_in_group_1_and_group_2_is_selective(make: Any) -> None:
    p = await make()
    gw = p.gw
    await p.setup()
    await p.until("links up", 10, lambda: p.is_("power.Q201.link1_ok", True))
    assert await gw.read("power.Q201.link1_latency_ms") == pytest.approx(1.0)   # wired 1 ms
    assert await gw.read("power.Q201.link1_age_ms") <= 10
    assert await gw.read("power.Q111.link0_latency_ms") == pytest.approx(4.0, abs=0.25)
    assert await gw.read("power.Q111.link1_ok") is False                   # none subscribed
    assert await gw.read("power.Q111.link1_age_ms") == 65535
    await p.inject("link-lost", "Q212_Q201")
    await p.until("link lost", 10, lambda: p.is_("power.Q201.link1_ok", False))
    assert await gw.read("power.Q201.link1_age_ms") > 2000
    assert await gw.read("power.Q201.link0_ok")                           # Q211's still up
    soe = await gw.soe("Q201")
    assert soe[-1][1] == "link lost" and soe[-1][3] == 1
    await p.inject("fault-3ph", "L_F1")
    await p.until("Q201 open", 10, lambda: p.is_("power.Q201.breaker_open", True))
    assert await gw.read("power.Q212.breaker_open")                    # overtrip: both
    assert await gw.read("power.Q201.trip_code") == L.TRIP_CODE_FAST
    assert await gw.read("power.Q111.breaker_closed")
    # the fallback: group 2 at Q201, then D1 back and the faulted cable closed onto again
    await gw.write("power.Q201.group_sp", 2)
    await p.until("group 2", 10, lambda: p.is_("power.Q201.group_active", 2))
    assert (await gw.soe("Q201"))[-1][1:4:2] == ("group changed", 2)
    for b in ("Q201", "Q212"):
        await gw.write(f"power.{b}.trip_code", 0)
    await gw.write("power.Q201.breaker_cmd", 2)
    await p.until("Q201 closed", 10, lambda: p.is_("power.Q201.breaker_closed", True))
    await gw.write("power.Q212.breaker_cmd", 2)
    await p.until("Q212 tripped", 10, lambda: p.is_("power.Q212.trip_code", 1))
    await p.until("Q212 open", 10, lambda: p.is_("power.Q212.breaker_open", True))
    await p.scans(3)
    assert await gw.read("power.Q201.breaker_closed")
    assert await gw.read("power.Q201.trip_code") == 0
    # the link back: restored, recorded
    await p.inject("link-lost", "Q212_Q201", "off")
    await p.until("link back", 10, lambda: p.is_("power.Q201.link1_ok", True))
    assert (await gw.soe("Q201"))[-1][1] == "link restored"
    await p.inject("link-slow", "Q212_Q201", "25")
    await p.scans()
    assert await gw.read("power.Q201.link1_latency_ms") == pytest.approx(25.0)


async def test_a_stuck_breaker_is_backed_up_by_breaker_failure_upstream(make: Any) -> None:
    p = await make()
    gw = p.gw
    await p.setup()
    assert await p.inject("breaker-stuck", "Q212") == "power.Q212: stuck on"
    await p.inject("fault-2ph", "L_F1", "0.2")
    await p.until("Q201 open", 10, lambda: p.is_("power.Q201.breaker_open", True))
    await p.scans()
    r = await gw.relay("Q212")
    assert r["breaker_closed"] and r["trip_code"] == L.TRIP_CODE_FAST and r["bf_operated"]
    assert r["rec_type"] == 2 and r["flt_ia"] < 0.1 * r["flt_ib"]        # b-c fault
    assert await gw.read("power.Q201.trip_code") == L.TRIP_CODE_BF
    words = [w for _, w, _, _ in await gw.soe("Q212")]
    assert words[:4] == ["pickup", "trip fast", "breaker failed to open",
                         "breaker-failure trip sent"]
    q201 = await gw.soe("Q201")
    assert "breaker-failure trip received" in [w for _, w, _, _ in q201]
    t = {w: ms for _, w, ms, _ in q201}
    assert 0 < t["breaker opened"] - t["breaker-failure trip received"] < 60
    assert await gw.read("power.Q111.breaker_closed")
    # the operator's open of a stuck breaker fails too
    await gw.write("power.Q212.breaker_cmd", 1)
    await p.until("failed", 10, lambda: _last(gw, "Q212", "breaker failed to open", 2))
    assert await gw.read("power.Q212.breaker_closed")


async def _last(gw: Gateways, b: str, what: str, n: int = 1) -> bool:
    return [w for _, w, _, _ in await gw.soe(b)].count(what) >= n


# --- switching: commands, refusals, interlocks --------------------------------------------

async def test_commands_with_their_refusals_and_the_bays_interlocks(make: Any) -> None:
    p = await make()
    gw = p.gw
    q = "power.Q511."
    await gw.write(q + "disconnector_cmd", 1)                 # under load: refused
    await p.until("refused", 10, lambda: p.is_(q + "refused", True))
    assert await gw.read(q + "disconnector_closed")
    await gw.write(q + "disconnector_cmd", 0)
    await p.until("withdrawn", 10, lambda: p.is_(q + "refused", False))
    await gw.write(q + "breaker_cmd", 1)
    await p.until("open", 10, lambda: p.is_(q + "breaker_open", True))
    r = await gw.relay("Q511")
    assert r["op_count"] == 1 and 42 <= r["last_open_ms"] <= 48
    assert r["breaker_cmd"] == 1 and not r["line_live"] and r["ia"] == 0.0
    assert [w for _, w, _, _ in await gw.soe("Q511")][-2:] == ["open command", "breaker opened"]
    await gw.write(q + "breaker_cmd", 0)
    await gw.write(q + "disconnector_cmd", 1)
    await p.until("isolated", 10, lambda: p.is_(q + "disconnector_open", True))
    # earthing: the load is dead behind the open bay
    await gw.write(q + "earthing_cmd", 2)
    await p.until("earthed", 10, lambda: p.is_(q + "earthing_closed", True))
    await gw.write(q + "breaker_cmd", 2)                      # onto an earthed bay: refused
    await p.until("refused", 10, lambda: p.is_(q + "refused", True))
    assert (await gw.soe("Q511"))[-1][1::2] == ("close refused", L.REFUSE_EARTH)
    assert await gw.read(q + "breaker_open")
    await gw.write(q + "breaker_cmd", 0)
    await gw.write(q + "door_unlock_cmd", 1)
    await p.until("door", 10, lambda: p.is_(q + "door_unlocked", True))
    await gw.write(q + "earthing_cmd", 1)                     # the door is open: refused
    await p.until("refused", 10, lambda: p.is_(q + "refused", True))
    assert await gw.read(q + "earthing_closed")
    await gw.write(q + "door_unlock_cmd", 0)
    await gw.write(q + "earthing_cmd", 0)
    await p.scans()
    await gw.write(q + "earthing_cmd", 1)
    await p.until("unearthed", 10, lambda: p.is_(q + "earthing_closed", False))
    assert not await gw.read(q + "refused")
    await gw.write(q + "disconnector_cmd", 2)
    await p.until("connected", 10, lambda: p.is_(q + "disconnector_closed", True))
    await gw.write(q + "breaker_cmd", 2)
    await p.until("closed", 10, lambda: p.is_(q + "breaker_closed", True))
    assert not await gw.read(q + "spring_charged")            # recharging after the close
    assert 55 <= await gw.read(q + "last_close_ms") <= 65
    await p.until("charged", 10, lambda: p.is_(q + "spring_charged", True))
    assert await gw.read(q + "ia") > 50
    # a live outgoing side may not be earthed, nor a closed bay
    await gw.write("power.Q501.breaker_cmd", 1)
    await p.until("Q501 open", 10, lambda: p.is_("power.Q501.breaker_open", True))
    assert await gw.read("power.Q501.line_live")              # the cable, from Q212
    await gw.write("power.Q501.earthing_cmd", 2)
    await p.until("refused", 10, lambda: p.is_("power.Q501.refused", True))
    assert not await gw.read("power.Q501.earthing_closed")
    await gw.write("power.Q501.door_unlock_cmd", 1)
    await p.scans(3)
    assert not await gw.read("power.Q501.door_unlocked")
    # local: remote commands refused
    await p.inject("breaker-local", "Q512")
    await gw.write("power.Q512.breaker_cmd", 1)
    await p.until("refused", 10, lambda: p.is_("power.Q512.refused", True))
    assert await gw.read("power.Q512.local") and await gw.read("power.Q512.breaker_closed")


async def test_an_earthed_section_energised_is_a_fault_that_its_relays_clear(
        make: Any) -> None:
    p = await make()
    gw = p.gw
    await p.setup()
    await gw.write("power.Q212.breaker_cmd", 1)
    await gw.write("power.Q501.breaker_cmd", 1)
    await p.until("cable dead", 10, lambda: p.is_("power.Q501.line_live", False))
    await gw.write("power.Q501.earthing_cmd", 2)
    await p.until("earthed", 10, lambda: p.is_("power.Q501.earthing_closed", True))
    await gw.write("power.Q212.breaker_cmd", 0)
    await gw.write("power.Q212.breaker_cmd", 2)               # onto the earthed cable
    await p.until("tripped", 10, lambda: p.is_("power.Q212.trip_code", 1))
    await p.until("open", 10, lambda: p.is_("power.Q212.breaker_open", True))
    assert await gw.read("power.Q201.breaker_closed")


async def test_the_soe_ring_keeps_the_newest_sixteen_and_its_seq_wraps(make: Any) -> None:
    p = await make()
    gw = p.gw
    q = "power.Q311."
    for k in range(20):
        g = 2 if k % 2 == 0 else 1
        await gw.write(q + "group_sp", g)
        await p.until("group", 10, lambda g=g: p.is_(q + "group_active", g))
    r = await gw.relay("Q311")
    n = r["soe_seq"]
    assert n == 20
    for i in range(16):
        seq = r[f"soe{i}_seq"]
        assert n - 16 < seq <= n and (seq - 1) % 16 == i
        assert r[f"soe{i}_code"] == L.GROUP_CHANGED
        assert r[f"soe{i}_value"] == (2 if seq % 2 else 1)
    stamps = [(r[f"soe{(s - 1) % 16}_s"], r[f"soe{(s - 1) % 16}_ms"]) for s in range(n - 15,
                                                                                    n + 1)]
    assert stamps == sorted(stamps)
    p.plant.relays["Q311"].st.soe_seq = 65534       # a relay that has recorded for years
    for g in (2, 1, 2):
        await gw.write(q + "group_sp", g)
        await p.until("group", 10, lambda g=g: p.is_(q + "group_active", g))
    r = await gw.relay("Q311")
    assert r["soe_seq"] == 2
    assert (r["soe14_seq"], r["soe0_seq"], r["soe1_seq"]) == (65535, 1, 2)


async def test_a_lost_supply_trips_its_incomer_on_undervoltage_and_the_tie_restores_the_bus(
        make: Any) -> None:
    p = await make()
    gw = p.gw
    await p.inject("supply-lost", "S1")
    await p.until("Q101 open", 10, lambda: p.is_("power.Q101.breaker_open", True))
    r = await gw.relay("Q101")
    assert r["undervoltage"] and r["trip_code"] == L.TRIP_CODE_UV and not r["line_live"]
    soe = [(w, ms) for _, w, ms, _ in await gw.soe("Q101")]
    assert [w for w, _ in soe] == ["undervoltage", "breaker opened"]
    assert 540 <= soe[1][1] - soe[0][1] <= 550
    assert await gw.read("power.Q111.undervoltage")
    assert await gw.read("power.Q111.uab") == 0.0
    assert await gw.read("power.Q201.ia") == 0.0                       # D1 dead too
    assert await gw.read("power.Q121.uab") > 10                        # the other section
    await gw.write("power.Q100.breaker_cmd", 2)
    await p.until("C1 back", 10, lambda: p.is_("power.Q111.undervoltage", False))
    assert await gw.read("power.Q111.uab") > 9.5
    assert await gw.read("power.Q102.ia") > 300                         # carries both now
    await p.inject("supply-lost", "S1", "off")
    await p.until("S1 back", 10, lambda: p.is_("power.Q101.line_live", True))


async def test_the_substation_block_fire_and_heartbeat(make: Any) -> None:
    p = await make()
    gw = p.gw
    assert await gw.read("power.central.gateway_ok")
    assert not await gw.read("power.central.fire")
    await p.inject("fire", "central")
    await p.until("fire", 10, lambda: p.is_("power.central.fire", True))
    assert not await gw.read("power.district1.fire")
    await p.inject("fire-loop", "district1")
    await p.until("loop", 10, lambda: p.is_("power.district1.fire_fault", True))
    for beat in (1, 2):
        await gw.c["sub_c"].write_register(0, beat, device_id=1)
        await p.until("echo", 10, lambda beat=beat: p.is_("power.central.heartbeat_echo", beat))
    await p.site.inject(inject.parse(p.cfg, "heartbeat-deaf", "sub_c"))
    await gw.c["sub_c"].write_register(0, 3, device_id=1)
    await p.scans(3)
    assert await gw.read("power.central.heartbeat_echo") == 2
    await p.inject("relay-fault", "Q113")
    await p.until("unhealthy", 10, lambda: p.is_("power.Q113.healthy", False))


async def test_the_plant_is_kept_across_a_restart(make: Any, tmp_path: Path) -> None:
    cfg = power_config(tmp_path)
    state = tmp_path / "hil-state.json"
    p = await make(cfg=cfg, state=state)
    gw = p.gw
    await p.setup()
    await p.inject("fault-3ph", "L_F1")
    await p.until("Q212 open", 10, lambda: p.is_("power.Q212.breaker_open", True))
    await p.inject("link-lost", "Q401_Q121")
    await gw.write("power.Q412.group_sp", 2)
    await p.until("group", 10, lambda: p.is_("power.Q412.group_active", 2))
    await p.scans(5)
    before = await gw.relay("Q212")
    kwh = await gw.read("power.Q101.energy")
    await p.stop()
    assert state.exists()
    q = await make(cfg=cfg, state=state)
    assert "restored" in q.site.state_note
    await q.scans(2)
    after = await q.gw.relay("Q212")
    for k in ("breaker_open", "trip_code", "op_count", "soe_seq", "rec_seq", "rec_clear_ms",
              "g1_pickup_a", "block_src0"):
        assert after[k] == before[k], k
    assert await q.gw.read("power.Q412.group_active") == 2
    assert await q.gw.read("power.Q101.energy") >= kwh
    assert not await q.gw.read("power.Q121.link0_ok")
    # the fault is still on the cable: a reset and a close trip again
    await q.gw.write("power.Q212.trip_code", 0)
    await q.gw.write("power.Q212.breaker_cmd", 0)
    await q.gw.write("power.Q212.breaker_cmd", 2)
    await q.until("tripped", 10, lambda: q.is_("power.Q212.rec_seq", before["rec_seq"] + 1))
    await q.stop()
    # a state saved for other settings of the file is refused whole, the plant fresh
    data = plant_state.read(state)
    data["units"][1]["bays"]["Q212"]["op_count"] = -3
    plant_state.save(state, data)
    r = await make(cfg=cfg, state=state)
    assert "op_count" in r.site.state_note and "fresh" in r.site.state_note
    assert await r.gw.read("power.Q212.breaker_closed")


def test_faults_are_resolved_against_the_config(tmp_path: Path) -> None:
    cfg = power_config(tmp_path)
    names = inject.targets(cfg)
    assert "power.L_F1" in names["section"] and "power.shearer1" in names["section"]
    assert names["link"][0] == "power.Q111_Q101" and names["source"] == ["power.S1",
                                                                         "power.S2"]
    f = inject.parse(cfg, "fault-2ph", "L_D3", ["0.25"])
    assert (f.unit, f.number, f.what) == (0, 0.25, "power.L_D3: phase-to-phase fault at 0.25")
    assert inject.parse(cfg, "fault-3ph", "F1").number == 0.5
    assert inject.parse(cfg, "link-slow", "Q501_Q212").number == 40.0
    assert not inject.parse(cfg, "link-slow", "Q501_Q212", ["off"]).on
    assert inject.parse(cfg, "breaker-stuck", "Q512").unit == 4
    with pytest.raises(InjectError, match="unknown section"):
        inject.parse(cfg, "fault-3ph", "L_X")
    with pytest.raises(InjectError, match="fraction: expected a number from 0 to 1"):
        inject.parse(cfg, "fault-3ph", "L_F1", ["2"])
    with pytest.raises(InjectError, match="nothing follows"):
        inject.parse(cfg, "fault-clear", "L_F1", ["now"])
    with pytest.raises(InjectError, match="latency ms"):
        inject.parse(cfg, "link-slow", "Q501_Q212", ["fast"])
    with pytest.raises(InjectError, match="unknown breaker"):
        inject.parse(cfg, "breaker-stuck", "Q999")


# --- the plant without sockets: what is awkward to time over Modbus -------------------------

T0 = 1_700_000_000.0


def plant_units(tmp_path: Path) -> tuple[SiteConfig, list[Any]]:
    cfg = power_config(tmp_path)
    units = build(cfg, list(cfg.hil.power), ScaledClock(1.0))
    for u in units:
        u.first_scan(T0)
    return cfg, units


def step(units: list[Any], t: float) -> None:
    for u in units:
        u.advance(t, 1.0)


def test_a_trip_reset_is_refused_while_picked_up_and_junk_is_put_back(
        tmp_path: Path) -> None:
    _, units = plant_units(tmp_path)
    plant = units[4].plant
    r = plant.relays["Q511"]
    plant.latch(r, L.TRIP_CODE_BACKUP)
    step(units, T0 + 1)
    assert r.win.get("trip_code") == L.TRIP_CODE_BACKUP
    r.picked = True                              # the fault still there
    r.win.set("trip_code", 0)
    step(units, T0 + 2)
    assert r.win.get("trip_code") == L.TRIP_CODE_BACKUP
    r.picked = False
    r.win.set("trip_code", 7)
    step(units, T0 + 3)
    assert r.win.get("trip_code") == L.TRIP_CODE_BACKUP
    r.win.set("trip_code", 0)
    step(units, T0 + 4)
    assert r.win.get("trip_code") == 0 and r.st.trip_code == 0


def test_a_failed_relay_leaves_the_fault_to_the_one_above_and_an_unclearable_fault_stays_fed(
        tmp_path: Path) -> None:
    cfg, units = plant_units(tmp_path)
    plant = units[0].plant
    system = cfg.systems["power"]
    no = {b: eq.relay_no for b, eq in system.equipment.items() if isinstance(eq, BreakerEq)}
    for b, x in settings(system).items():
        w = plant.relays[b].win
        for f in ("pickup_a", "fast_delay_ms", "backup_pickup_a", "backup_delay_ms",
                  "bf_delay_ms"):
            w.set(f"g1_{f}", x[f])
        w.set("g1_fast_enabled", int(x["fast_enabled"]))
        for i, src in enumerate(x["sources"]):
            w.set(f"block_src{i}", no[src])

    def hit(fault: str, target: str, *args: str) -> None:
        inj = inject.parse(cfg, fault, target, list(args))
        units[inj.unit].inject(inj, T0 + 10)
    hit("relay-fault", "Q212")
    hit("fault-3ph", "L_F1")
    step(units, T0 + 11)
    assert not plant.bays["Q201"].closed and plant.bays["Q212"].closed
    assert plant.bays["Q111"].closed
    assert plant.relays["Q201"].st.trip_code == L.TRIP_CODE_FAST
    assert plant.relays["Q212"].win.ir[600] >> 6 & 1 == 0           # healthy bit off
    # nothing can clear it: the relays read the fault current as long as it is fed
    for r in plant.relays.values():
        for g in (1, 2):
            r.win.set(f"g{g}_pickup_a", 60000)
            r.win.set(f"g{g}_backup_pickup_a", 60000)
    hit("fault-clear", "L_F1")
    hit("fault-2ph", "D2")
    step(units, T0 + 20)
    assert plant.bays["Q301"].closed and plant.fed
    want = plant.net.short_circuit(plant.state(), plant.fed[0]).amps("Q301")
    assert want > 5000
    assert plant.measure("Q301").i[1] == pytest.approx(want, rel=1e-6)
    assert plant.measure("Q301").i[0] < 0.01 * want                  # b-c: phase a spared
