"""A site with Modbus and S7 PLCs: the HIL's drainage PLC served over S7
(hil/s7_image.py), the mixed demo config (configs/mixed-site.toml), and the whole site
end to end with the real controller.

The foreign client for the image server is python-snap7's own (``AsyncClient`` for reads,
``Client`` for the BIT write AsyncClient lacks) with ``snap7.util``'s getters, never the
project's driver or codec: the HIL's packing must be right against a third party.
"""

from __future__ import annotations

import asyncio
import csv
import re
import struct
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import Rig, cli, free_port
from snap7 import AsyncClient, Client
from snap7.error import S7Error
from snap7.type import Area, WordLen
from snap7.util import get_bool, get_dword, get_int, get_real, get_word

from fixedsite.clock import ScaledClock
from fixedsite.config import load, parse
from fixedsite.drivers.s7_codec import parse_address
from fixedsite.hil import faults as inject
from fixedsite.hil.drainage.plc import register_map
from fixedsite.hil.modbus_server import ImageServer
from fixedsite.hil.s7_image import S7ImageServer, image_fields, siemens
from fixedsite.hil.site import HilSite
from fixedsite.tags import COMM_FAIL, Quality

ROOT = Path(__file__).resolve().parent.parent
MIXED = ROOT / "configs" / "mixed-site.toml"
DEMO = ROOT / "configs" / "demo-mine.toml"
CALL_S = 3.0     # every client call bounded: AsyncClient's own receive timeout is 5 s


# --- (a) the translator ------------------------------------------------------------------

@pytest.mark.parametrize(("image", "s7"), [
    ("hr:0", "DB1.DBW0:WORD"),                 # a register is an unsigned WORD
    ("hr:10", "DB1.DBW20:WORD"),
    ("hr:7:uint16", "DB1.DBW14:WORD"),
    ("hr:3:int16", "DB1.DBW6"),                # INT is DBW's default: no suffix
    ("hr:4:uint32", "DB1.DBD8:DWORD"),
    ("hr:4:int32", "DB1.DBD8"),                # DINT is DBD's default
    ("hr:5:float32", "DB1.DBD10:REAL"),
    ("hr:10.0", "DB1.DBX21.0"),                # a holding register's bit, low byte
    ("hr:10.12", "DB1.DBX20.4"),               # ... high byte
    ("ir:9", "DB2.DBW18:WORD"),
    ("ir:30:int16", "DB2.DBW60"),
    ("ir:28:uint32", "DB2.DBD56:DWORD"),
    ("ir:0:float32", "DB2.DBD0:REAL"),
    ("ir:21:float32", "DB2.DBD42:REAL"),
    ("ir:20.0", "DB2.DBX41.0"),                # bits 0-7: the register's second byte
    ("ir:20.3", "DB2.DBX41.3"),
    ("ir:20.7", "DB2.DBX41.7"),
    ("ir:20.8", "DB2.DBX40.0"),                # bits 8-15: its first byte
    ("ir:20.15", "DB2.DBX40.7"),
    ("coil:0", "M0.0"),
    ("coil:5", "M0.5"),
    ("coil:9", "M1.1"),
    ("coil:26", "M3.2"),
    ("di:2", "I0.2"),
    ("di:15", "I1.7"),
    (" HR:10 ", "DB1.DBW20:WORD"),             # as the config's parser takes it
])
def test_image_address_in_siemens_notation(image: str, s7: str) -> None:
    assert siemens(image) == s7
    # the driver's parser reads it as the same canonical address (the HIL may not import
    # the driver; the test may)
    assert str(parse_address(s7)) == s7


@pytest.mark.parametrize("index", [0, 1, 20, 999])
@pytest.mark.parametrize("bit", range(16))
def test_a_register_bit_is_the_bit_the_big_endian_word_holds(index: int, bit: int) -> None:
    """A register value with only bit b set, stored as the CPU stores a WORD at byte 2i,
    has exactly the S7 bit the translator names set."""
    a = parse_address(siemens(f"ir:{index}.{bit}"))
    mem = bytearray(2 * index + 2)
    struct.pack_into(">H", mem, 2 * index, 1 << bit)
    assert a.area == "DB" and a.db == 2 and a.bit is not None
    assert [(i, b) for i in range(len(mem)) for b in range(8) if mem[i] >> b & 1] == \
        [(a.offset, a.bit)]


@pytest.mark.parametrize(("bad", "words"), [
    ("hr:1.16", "outside 0..15"),
    ("coil:1.2", "one bit"),
    ("di:4:uint16", "one bit"),
    ("ir:1:float64", "unknown type"),
    ("ir:1.3:int16", "takes no :type"),
    ("xx:1", "not an image address"),
    ("hr:-1", "not an image address"),
    ("", "not an image address"),
])
def test_a_bad_image_address_says_what_is_expected(bad: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        siemens(bad)


def test_image_fields_are_the_register_map_named_as_the_plc_names_it() -> None:
    fields = {f.name: f for f in image_fields(register_map(3, 2))}
    assert len(fields) == len(register_map(3, 2))
    assert fields["sensor.1.level"].notation == "DB2.DBD4:REAL"
    assert fields["pump.0.running"].notation == "DB2.DBX41.0"
    assert fields["valve.2.open_cmd"].notation == "M2.2"
    assert fields["plc.0.fallback"].notation == "I0.3"
    with pytest.raises(ValueError, match="point 'x'.*not an image address"):
        image_fields([("x", "hr10")])


# --- (b) the image served over S7 ---------------------------------------------------------

@dataclass
class Img:
    """A PLC image as the drainage PLC keeps it (3 pumps)."""

    coils: list[bool] = field(default_factory=lambda: [False] * 24)
    di: list[bool] = field(default_factory=lambda: [False] * 16)
    hr: list[int] = field(default_factory=lambda: [0] * 40)
    ir: list[int] = field(default_factory=lambda: [0] * 80)


def words(fmt: str, v: float) -> list[int]:
    """A value in registers as the PLC packs it: big-endian, high word first."""
    raw = struct.pack(fmt, v)
    return [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[Img, S7ImageServer]]:
    img = Img()
    img.ir[0:2] = words(">f", 1.25)                    # sensor.0.level
    img.ir[2:4] = words(">f", -0.5)
    img.ir[9] = 0xBEEF                                 # heartbeat echo
    img.ir[20] = 0b10_1001 | 1 << 12                   # running, opened, fault; bit 12
    img.ir[21:23] = words(">f", 281.5)                 # pump.0.flow
    img.ir[28:30] = words(">I", 4_000_123)             # pump.0.energy
    img.ir[30] = words(">h", -123)[0]                  # pump.0.bearing_temp
    img.hr[0] = 65535
    img.hr[10] = 2
    img.coils[1] = img.coils[9] = True
    img.di[3] = img.di[9] = True
    srv = S7ImageServer(img, "127.0.0.1", free_port(), register_map(3, 2))
    await srv.start()
    try:
        yield img, srv
    finally:
        await srv.stop()


async def call(aw):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(aw, CALL_S)


async def connect(port: int) -> AsyncClient:
    c = AsyncClient()
    await call(c.connect("127.0.0.1", 0, 1, port))
    return c


def bit_write(port: int, area: Area, db: int, byte: int, bit: int, value: bool) -> None:
    """One BIT write as a CPU receives it (transport size BIT, address byte * 8 + bit)."""
    c = Client()
    c.connect("127.0.0.1", 0, 1, port)
    try:
        c.write_area(area, db, byte * 8 + bit, bytearray([int(value)]), word_len=WordLen.Bit)
    finally:
        c.disconnect()


async def test_the_image_reads_as_s7_types_at_the_mapped_places(
        served: tuple[Img, S7ImageServer]) -> None:
    img, srv = served
    c = await connect(srv.port)
    try:
        db2 = await call(c.db_read(2, 0, 160))
        assert get_real(db2, 0) == 1.25 and get_real(db2, 4) == -0.5      # DB2.DBD0:REAL
        assert get_word(db2, 18) == 0xBEEF                                 # DB2.DBW18:WORD
        assert [get_bool(db2, 41, b) for b in range(8)] == \
            [True, False, False, True, False, True, False, False]         # DB2.DBX41.x
        assert get_bool(db2, 40, 4)                                        # ir:20.12
        assert get_real(db2, 42) == 281.5                                  # DB2.DBD42:REAL
        assert get_dword(db2, 56) == 4_000_123                             # DB2.DBD56:DWORD
        assert get_int(db2, 60) == -123                                    # DB2.DBW60 (INT)
        db1 = await call(c.db_read(1, 0, 80))
        assert get_word(db1, 0) == 65535 and get_word(db1, 20) == 2
        m = await call(c.read_area(Area.MK, 0, 0, 3))
        assert list(m) == [0b10, 0b10, 0]                                  # M0.1, M1.1
        i = await call(c.read_area(Area.PE, 0, 0, 2))
        assert list(i) == [0b1000, 0b10]                                   # I0.3, I1.1
        # the memory is exactly the image: a read past its end is refused, as a CPU does
        with pytest.raises(S7Error):
            await call(c.db_read(1, 78, 4))
        with pytest.raises(S7Error):
            await call(c.db_read(2, 158, 4))
        # the PLC's next scan is served at the next push
        img.ir[0:2] = words(">f", 2.75)
        img.di[3] = False
        await srv.push()
        assert get_real(await call(c.db_read(2, 0, 4)), 0) == 2.75
        assert list(await call(c.read_area(Area.PE, 0, 0, 1))) == [0]
    finally:
        await c.disconnect()


async def test_a_masters_bit_write_to_m_lands_in_coils_with_its_neighbours_intact(
        served: tuple[Img, S7ImageServer]) -> None:
    img, srv = served
    await call(asyncio.to_thread(bit_write, srv.port, Area.MK, 0, 0, 2, True))   # M0.2
    await srv.pull()
    assert img.coils[:3] == [False, True, True] and img.coils[9] is True
    assert sum(img.coils) == 3
    await call(asyncio.to_thread(bit_write, srv.port, Area.MK, 0, 0, 1, False))  # M0.1
    await srv.pull()
    assert img.coils[:3] == [False, False, True] and sum(img.coils) == 2
    # a word write into DB1 is a holding register
    c = await connect(srv.port)
    try:
        await call(c.db_write(1, 22, bytearray(b"\x00\x07")))
        await srv.pull()
        assert img.hr[11] == 7 and img.hr[10] == 2 and img.hr[0] == 65535
    finally:
        await c.disconnect()


async def test_a_masters_fresh_write_is_never_overwritten_by_a_stale_image(
        served: tuple[Img, S7ImageServer]) -> None:
    img, srv = served
    await srv.pull()                                 # the PLC's scan begins ...
    # ... a master writes between the pull and the push of the same scan
    await call(asyncio.to_thread(bit_write, srv.port, Area.MK, 0, 0, 0, True))   # M0.0
    c = await connect(srv.port)
    try:
        await call(c.db_write(1, 40, bytearray(b"\x00\x01")))             # hr:20
        img.coils[9] = False                         # what the PLC itself changed
        img.hr[11] = 1
        await srv.push()                             # the image still holds coil 0 off
        m = await call(c.read_area(Area.MK, 0, 0, 2))
        assert list(m) == [0b11, 0]                  # master's M0.0 kept, PLC's M1.1 off
        db1 = await call(c.db_read(1, 0, 80))
        assert get_word(db1, 40) == 1 and get_word(db1, 22) == 1
        await srv.pull()                             # the next scan sees the master's write
        assert img.coils[0] is True and img.hr[20] == 1
    finally:
        await c.disconnect()


async def test_stop_and_start_serve_the_image_again(
        served: tuple[Img, S7ImageServer]) -> None:
    img, srv = served
    await srv.stop()
    assert not srv.running
    await srv.pull()                                  # stopped: the image is left alone
    await srv.push()
    img.ir[9] = 4321                                  # the PLC scans on while unreachable
    await srv.start()
    assert srv.running
    c = await connect(srv.port)
    try:
        assert get_word(await call(c.db_read(2, 18, 2)), 0) == 4321
    finally:
        await c.disconnect()


def test_an_image_without_a_register_map_is_served_register_by_register() -> None:
    srv = S7ImageServer(Img(), "127.0.0.1", free_port())
    names = {f.name: f.notation for f in srv.fields}
    assert len(names) == 40 + 80 + 24 + 16
    assert (names["hr.39"], names["ir.0"], names["coil.23"], names["di.15"]) == \
        ("DB1.DBW78:WORD", "DB2.DBW0:WORD", "M2.7", "I1.7")


def test_a_register_map_reaching_past_the_image_is_refused() -> None:
    with pytest.raises(ValueError, match="reaches past the image in DB1"):
        S7ImageServer(Img(), "127.0.0.1", free_port(), [("x", "hr:40")])
    with pytest.raises(ValueError, match="reaches past the image in M"):
        S7ImageServer(Img(), "127.0.0.1", free_port(), [("x", "coil:24")])


# --- (3) the mixed config ------------------------------------------------------------------

def _signals(doc: dict, system: str) -> Iterator[tuple[str, str]]:  # type: ignore[type-arg]
    for eq_name, eq in doc["systems"][system]["equipment"].items():
        for sig, spec in eq.get("signals", {}).items():
            addr = spec if isinstance(spec, str) else spec["address"]
            yield f"{system}.{eq_name}.{sig}", addr


def test_mixed_config_is_the_demo_with_the_lower_room_on_s7() -> None:
    demo = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    mixed = tomllib.loads(MIXED.read_text(encoding="utf-8"))
    d2 = mixed["plcs"]["drain2"]
    assert (d2["protocol"], d2["rack"], d2["slot"], d2["heartbeat"]) == \
        ("s7", 0, 1, "DB1.DBW0:WORD")
    assert d2["heartbeat"] == siemens(demo["plcs"]["drain2"]["heartbeat"])
    assert mixed["plcs"]["drain1"] == demo["plcs"]["drain1"]
    lower = dict(_signals(mixed, "lower"))
    assert lower == {path: siemens(a) for path, a in _signals(demo, "lower")}
    assert len(lower) == 76
    assert dict(_signals(mixed, "drainage")) == dict(_signals(demo, "drainage"))
    # a few by hand
    assert lower["lower.valve2.opened"] == "DB2.DBX81.3"
    assert lower["lower.pump3.flow"] == "DB2.DBD122:REAL"
    assert lower["lower.pump2.run_cmd"] == "M1.1"
    assert lower["lower.sump.float_highhigh"] == "I0.2"
    assert lower["lower.pump1.bearing_temp"] == "DB2.DBW60"


def test_check_config_passes_on_the_mixed_site(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "check-config", str(MIXED))
    assert (rc, err) == (0, "")
    assert "OK (2 PLC, 2 system" in out


def test_check_config_explains_each_bad_s7_address_with_its_key_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MIXED.read_text(encoding="utf-8")
    for old, new in [('run_cmd = "M0.1"', 'run_cmd = "DB1.DBW3.9"'),
                     ('fallback = "I0.3"', 'fallback = "MX4"'),
                     ('opened = "DB2.DBX41.3"', 'opened = "DB2.DBX41.8"'),
                     ('prime_cmd = "M1.0"', 'prime_cmd = "I7.0"'),
                     ('address = "DB2.DBD0:REAL"', 'address = "DB2.DBW0:REAL"'),
                     ('heartbeat = "DB1.DBW0:WORD"', 'heartbeat = "DB2.DBD0:REAL"')]:
        text, n = re.subn(re.escape(old), new, text, count=1)
        assert n == 1, old
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    rc, out, err = cli(capsys, "check-config", str(bad))
    assert rc == 2 and out == ""
    lines = {line.split(": ")[1]: line for line in err.splitlines()}
    key = "systems.lower.equipment."
    assert "a word (W) address has none" in lines[key + "pump1.signals.run_cmd"]
    assert "'DB1.DBW3.9'" in lines[key + "pump1.signals.run_cmd"]
    assert "needs .<bit>" in lines[key + "plc1.signals.fallback"]
    assert "'M4.0'" in lines[key + "plc1.signals.fallback"]
    assert "outside 0..7" in lines[key + "valve1.signals.opened"]
    assert "expected a DB, M or Q address" in lines[key + "pump2.signals.prime_cmd"]
    level = next(v for k, v in lines.items() if k.startswith(key + "lt1.signals.level"))
    assert "REAL does not fit a word (W)" in level
    assert "expected a word in a DB or M" in lines["plcs.drain2.heartbeat"]
    assert all(line.startswith(f"{bad}: ") for line in err.splitlines())


# --- (4) the register map in Siemens notation -----------------------------------------------

def test_list_tags_prints_the_s7_plcs_points_in_siemens_notation(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys, "hil", "--config", str(MIXED), "--list-tags")
    assert rc == 0
    assert "# lower: PLC drain2 (127.0.0.1:15102, S7, rack 0 slot 1)" in out
    assert "# drainage: PLC drain1 (127.0.0.1:15020, device 1)" in out
    lines = {line.split()[1]: line.split()[:3] for line in out.splitlines()
             if line and not line.startswith(("#", "address"))}
    assert lines["lower.pump1.run_cmd"] == ["M0.1", "lower.pump1.run_cmd", "BOOL"]
    assert lines["lower.lt2.level"] == ["DB2.DBD4:REAL", "lower.lt2.level", "REAL"]
    assert lines["lower.valve3.fault"] == ["DB2.DBX121.5", "lower.valve3.fault", "BOOL"]
    assert lines["plcs.drain2.heartbeat"] == ["DB1.DBW0:WORD", "plcs.drain2.heartbeat",
                                              "WORD"]
    assert lines["drainage.pump1.mode"] == ["hr:10", "drainage.pump1.mode", "uint16"]


def test_csv_map_of_the_mixed_site_agrees_with_its_config(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(capsys, "hil", "--config", str(MIXED), "--csv", "-")
    assert rc == 0
    rows = {r["tag"]: r for r in csv.DictReader(out.splitlines())}
    mapped = {s.path: str(s.address) for s in load(MIXED).signals()}
    assert {t: r["address"] for t, r in rows.items() if t in mapped} == mapped
    assert rows["lower.pump1.mode"]["modbus"] == ""
    assert rows["drainage.pump1.mode"]["modbus"] == "40011"


# --- (5c) the mixed site end to end ------------------------------------------------------

def mixed_text(tmp_path: Path, scale: float, **replace: str) -> str:
    """The mixed config on free loopback ports, at ``scale``, without the pump plans (the
    staged level rule is what these tests are about), its storage under ``tmp_path``;
    ``replace`` sets ``key = value`` lines inside the lower room's [[hil.drainage]]."""
    text = MIXED.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text)
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {scale}", text)
    text = re.sub(r'(?m)^endpoint = "opc\.tcp://127\.0\.0\.1:\d+',
                  f'endpoint = "opc.tcp://127.0.0.1:{free_port()}', text)
    text, n = re.subn(r"(?ms)^\[systems\.(\w+)\.plan\]\n.*?(?=^(\[|# ----))", "", text)
    assert n == 2, "no [systems.*.plan] in the mixed config"
    start = text.index('[[hil.drainage]]\nsystem = "lower"')
    end = text.index("\n\n", start)
    block = text[start:end]
    for key, value in replace.items():
        block, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", block, count=1)
        assert n == 1, f"no line '{key} = ...' in the lower room's HIL"
    text = text[:start] + block + text[end:]
    return text + f'\n[storage]\ndir = "{tmp_path / "var"}"\n'


def test_the_hil_serves_each_plc_in_its_protocol(tmp_path: Path) -> None:
    cfg = parse(tomllib.loads(mixed_text(tmp_path, 60.0)), "mixed-test.toml")
    site = HilSite(cfg, ScaledClock(60.0))
    lower, main = site.unit("lower").server, site.unit("drainage").server
    assert isinstance(lower, S7ImageServer) and isinstance(main, ImageServer)
    assert (lower.port, main.port) == (cfg.plcs["drain2"].port, cfg.plcs["drain1"].port)
    assert [f.name for f in lower.fields] == [n for n, _ in register_map(3, 2)]


async def test_mixed_site_end_to_end_over_modbus_and_s7(tmp_path: Path) -> None:
    scale = 600.0
    cfg = parse(tomllib.loads(mixed_text(tmp_path, scale, initial_level_m="1.2")),
                "mixed-test.toml")
    rig = Rig(cfg, ScaledClock(scale))
    unit = rig.site.unit("lower")
    s7 = unit.server
    assert isinstance(s7, S7ImageServer)
    await rig.site.start()
    try:
        ctl = await rig.start_controller()
        store = ctl.store
        lt1 = store["lower.lt1.level"]
        await store.wait_for(lt1.path, lambda t: t.quality is Quality.GOOD, 10)
        assert abs(lt1.value - unit.plant.sump.level) < 0.05
        # the level (1.2 m, over the first start level) starts a lower pump through S7
        await rig.until(lambda: any(p.motor_on and p.flow > 50 for p in unit.plant.pumps),
                        1800, "a lower pump started by the level control, with flow")
        k = next(i for i, p in enumerate(unit.plant.pumps) if p.motor_on)
        pump = f"lower.pump{k + 1}"
        assert store.value(f"{pump}.run_cmd") is True        # written, read back GOOD
        assert s7.memory.get(f"pump.{k}.run_cmd") is True    # M(k).1 in the PLC's memory
        assert ctl.sequences[pump].state not in ("fault", "stopped")
        await rig.until(lambda: store.value(f"{pump}.running") is True, 120,
                        f"{pump}.running read over S7")
        # the controller's heartbeat reaches the PLC over S7 (its watchdog, counting from
        # the HIL's start, may fire while the controller starts up: then it hands back)
        assert not unit.plc.fallback and unit.plc.hr[0] != 0
        assert [(e.pump, e.why) for e in unit.plc.events if e.what == "start"][0] == \
            (k, "remote")
        c = await connect(s7.port)                            # and a third party agrees
        try:
            m = await call(c.read_area(Area.MK, 0, k, 1))
            assert m[0] & 0b110 == 0b110                      # run_cmd and valve open_cmd
        finally:
            await c.disconnect()

        # the S7 PLC goes away: its tags go bad, the Modbus room carries on
        main_level = store["drainage.lt1.level"]
        # (through the HIL's own link fault, as `fixedsite hil inject link drain2 down`)
        await rig.site.inject(inject.parse(cfg, "link", "drain2", ["down"]))
        assert not s7.running
        await store.wait_for(lt1.path, lambda t: t.quality is Quality.BAD, 10)
        assert lt1.reason == COMM_FAIL
        drain2 = [store[p] for p in ctl.drivers["drain2"].points]
        assert len(drain2) == 76
        assert [t.path for t in drain2 if t.quality is not Quality.BAD] == []
        assert {t.reason for t in drain2} == {COMM_FAIL}
        assert store.value("comm.drain2.online") is False
        seen = main_level.ts
        await rig.until(lambda: main_level.ts > seen + 5, 120,
                        "the Modbus room's level read on while drain2 is down")
        assert main_level.quality is Quality.GOOD
        assert store.value("comm.drain1.online") is True

        # back: good again, same controller
        await rig.site.inject(inject.parse(cfg, "link", "drain2", ["up"]))
        assert s7.running
        await store.wait_for(lt1.path, lambda t: t.quality is Quality.GOOD, 15)
        assert store.value("comm.drain2.online") is True
        await rig.until(lambda: all(t.quality is Quality.GOOD for t in drain2), 60,
                        "every tag of drain2 good again")
        assert abs(lt1.value - unit.plant.sump.level) < 0.05
        assert rig.ctl is ctl
    finally:
        await rig.stop_controller()
        await rig.site.stop()
