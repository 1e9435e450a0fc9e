"""The HIL's simulated S7 PLC, checked over real ISO-on-TCP with snap7's own clients.

The foreign client is python-snap7's ``AsyncClient`` / ``Client`` and its ``snap7.util``
packing, never the project's driver or codec: the HIL and the driver must each be right
against a third party, or a shared byte-order bug would pass unnoticed.
"""

from __future__ import annotations

import asyncio
import math
import struct
import threading
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from snap7 import AsyncClient, Client
from snap7.error import S7Error
from snap7.type import Area, WordLen
from snap7.util import (
    get_bool,
    get_byte,
    get_dint,
    get_dword,
    get_int,
    get_real,
    get_sint,
    get_word,
    set_byte,
    set_dint,
    set_dword,
    set_int,
    set_real,
    set_sint,
    set_word,
)

from fixedsite.drivers.s7_codec import parse_address
from fixedsite.hil.s7_server import S7Field, S7Memory, S7Server, field, tags
from tests.conftest import free_port

CALL_S = 3.0   # every client call is bounded: AsyncClient's own receive timeout is 5 s

FIELDS = [
    # a DB with every type
    S7Field("run_cmd", "DB", 10, 4, "BOOL", 3),
    S7Field("plc_alive", "DB", 10, 4, "BOOL", 7),
    S7Field("mode", "DB", 10, 5, "BYTE"),
    S7Field("trim", "DB", 10, 0, "SINT"),
    S7Field("count", "DB", 10, 6, "INT"),
    S7Field("status", "DB", 10, 2, "WORD"),
    S7Field("total", "DB", 10, 8, "DINT"),
    S7Field("mask", "DB", 10, 12, "DWORD"),
    S7Field("level", "DB", 10, 16, "REAL"),
    # a second DB
    S7Field("setpoint", "DB", 20, 0, "REAL"),
    # markers
    S7Field("m_flag", "M", 0, 1, "BOOL", 0),
    S7Field("m_neigh", "M", 0, 1, "BOOL", 5),
    S7Field("m_byte", "M", 0, 5, "BYTE"),
    S7Field("m_int", "M", 0, 6, "INT"),
    S7Field("m_word", "M", 0, 8, "WORD"),
    S7Field("m_dint", "M", 0, 20, "DINT"),
    S7Field("m_dword", "M", 0, 24, "DWORD"),
    S7Field("m_real", "M", 0, 40, "REAL"),
    # inputs and outputs
    S7Field("float_hi", "I", 0, 0, "BOOL", 3),
    S7Field("i_word", "I", 0, 2, "WORD"),
    S7Field("i_real", "I", 0, 4, "REAL"),
    S7Field("pump_on", "Q", 0, 1, "BOOL", 0),
    S7Field("q_neigh", "Q", 0, 1, "BOOL", 6),
    S7Field("q_int", "Q", 0, 2, "INT"),
    S7Field("q_dword", "Q", 0, 4, "DWORD"),
]

# type -> (snap7.util getter, setter, a value to write one way, another for the other way)
CODEC: dict[str, tuple[Callable[..., object], Callable[..., object], object, object]] = {
    "BYTE": (get_byte, set_byte, 0xA5, 0x5A),
    "SINT": (get_sint, set_sint, -100, 77),
    "INT": (get_int, set_int, -12345, 31000),
    "WORD": (get_word, set_word, 0xBEEF, 0x1234),
    "DINT": (get_dint, set_dint, -2_000_000_000, 123_456_789),
    "DWORD": (get_dword, set_dword, 0xDEADBEEF, 0x0102_0304),
    "REAL": (get_real, set_real, -1.5, 1234.5),
}
AREA = {"DB": Area.DB, "M": Area.MK, "I": Area.PE, "Q": Area.PA}


@pytest_asyncio.fixture
async def plc() -> AsyncIterator[S7Server]:
    srv = S7Server(S7Memory(FIELDS), port=free_port())
    await srv.start()
    yield srv
    await srv.stop()


async def connect(srv: S7Server) -> AsyncClient:
    c = AsyncClient()
    await asyncio.wait_for(c.connect("127.0.0.1", 0, 1, srv.port), CALL_S)
    return c


async def call(aw):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(aw, CALL_S)


# -- declaration -----------------------------------------------------------------------

@pytest.mark.parametrize(("fld", "text"), [
    (S7Field("a", "DB", 10, 4, "BOOL", 3), "DB10.DBX4.3"),
    (S7Field("a", "M", 0, 1, "BOOL", 0), "M1.0"),
    (S7Field("a", "I", 0, 0, "BOOL", 3), "I0.3"),
    (S7Field("a", "Q", 0, 1, "BOOL", 0), "Q1.0"),
    (S7Field("a", "DB", 10, 5, "BYTE"), "DB10.DBB5"),
    (S7Field("a", "M", 0, 5, "BYTE"), "MB5"),
    (S7Field("a", "DB", 10, 5, "SINT"), "DB10.DBB5:SINT"),
    (S7Field("a", "DB", 10, 6, "INT"), "DB10.DBW6"),
    (S7Field("a", "M", 0, 6, "INT"), "MW6"),
    (S7Field("a", "DB", 10, 6, "WORD"), "DB10.DBW6:WORD"),
    (S7Field("a", "I", 0, 2, "WORD"), "IW2:WORD"),
    (S7Field("a", "DB", 10, 8, "DINT"), "DB10.DBD8"),
    (S7Field("a", "DB", 10, 8, "DWORD"), "DB10.DBD8:DWORD"),
    (S7Field("a", "DB", 10, 8, "REAL"), "DB10.DBD8:REAL"),
    (S7Field("a", "M", 0, 40, "REAL"), "MD40:REAL"),
    (S7Field("a", "Q", 0, 4, "DWORD"), "QD4:DWORD"),
])
def test_notation_is_siemens_canonical_and_parses_back(fld: S7Field, text: str) -> None:
    assert fld.notation == text
    assert field("a", text) == fld
    assert field("a", text.lower()) == fld
    # and the driver's parser reads it as the same place and type (checked here, in the
    # tests: the HIL itself may not import the driver)
    addr = parse_address(text)
    assert (addr.area, addr.db, addr.offset, addr.dtype, addr.bit) == (
        fld.area, fld.db, fld.offset, fld.type, fld.bit)
    assert str(addr) == text


def test_tags_lists_every_field_in_address_order() -> None:
    rows = list(tags(FIELDS))
    assert len(rows) == len(FIELDS)
    assert rows[0] == ("trim", "DB10.DBB0:SINT", "SINT")
    assert ("run_cmd", "DB10.DBX4.3", "BOOL") in rows
    assert ("m_real", "MD40:REAL", "REAL") in rows
    assert rows[-1] == ("q_dword", "QD4:DWORD", "DWORD")
    areas = [n[:2] if n.startswith("DB") else n[0] for _, n, _ in rows]
    assert areas == sorted(areas, key=["DB", "M", "I", "Q"].index)


def test_memory_is_sized_from_the_fields() -> None:
    mem = S7Memory(FIELDS, slack=8)
    assert sorted(mem.dbs) == [10, 20]
    assert len(mem.dbs[10]) == 20 + 8        # REAL at 16 ends at 20
    assert len(mem.dbs[20]) == 4 + 8
    assert len(mem.m) == 44 + 8 and len(mem.i) == 8 + 8 and len(mem.q) == 8 + 8
    assert S7Memory([]).m == bytearray(8)    # M, I, Q exist even when nothing is declared


@pytest.mark.parametrize(("args", "words"), [
    (("x", "DB", 0, 0, "INT"), "DB number 0"),
    (("x", "M", 3, 0, "INT"), "no DB number"),
    (("x", "E", 0, 0, "INT"), "area 'E'"),
    (("x", "DB", 1, 0, "LREAL"), "type 'LREAL'"),
    (("x", "DB", 1, 0, "BOOL"), "needs a bit"),
    (("x", "DB", 1, 0, "BOOL", 8), "needs a bit 0..7"),
    (("x", "DB", 1, 0, "INT", 1), "only a BOOL has a bit"),
    (("x", "DB", 1, 65534, "DINT"), "byte offset 65534"),
])
def test_bad_field_declarations_say_what_is_wrong(args: tuple, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=words):
        S7Field(*args)


def test_overlapping_or_duplicate_fields_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'a' \(DB1.DBD0\) and 'b' \(DB1.DBB2\) overlap"):
        S7Memory([S7Field("a", "DB", 1, 0, "DINT"), S7Field("b", "DB", 1, 2, "BYTE")])
    with pytest.raises(ValueError, match="overlap"):
        S7Memory([S7Field("a", "M", 0, 1, "BOOL", 2), S7Field("b", "M", 0, 1, "BOOL", 2)])
    with pytest.raises(ValueError, match="overlap"):
        S7Memory([S7Field("w", "Q", 0, 0, "WORD"), S7Field("b", "Q", 0, 1, "BOOL", 0)])
    with pytest.raises(ValueError, match="declared twice"):
        S7Memory([S7Field("a", "M", 0, 0, "BYTE"), S7Field("a", "M", 0, 4, "BYTE")])
    with pytest.raises(ValueError, match="not Siemens notation"):
        field("x", "DB10.DBW")
    # bits of one byte, and fields that touch without sharing bytes, are fine
    S7Memory([S7Field("a", "M", 0, 1, "BOOL", 0), S7Field("b", "M", 0, 1, "BOOL", 1),
              S7Field("c", "M", 0, 2, "WORD"), S7Field("d", "M", 0, 0, "BYTE")])


# -- values ----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value", "words"), [
    ("count", 40000, r"count \(DB10.DBW6\): 40000 is outside INT range -32768..32767"),
    ("count", 1.5, "not a whole number"),
    ("count", "3", "not a number"),
    ("count", True, "not a number"),
    ("mode", -1, "outside BYTE range 0..255"),
    ("trim", 128, "outside SINT range -128..127"),
    ("status", 0x10000, "outside WORD range 0..65535"),
    ("total", 2**31, "outside DINT range"),
    ("mask", -1, "outside DWORD range 0..4294967295"),
    ("level", math.nan, r"level \(DB10.DBD16:REAL\): nan does not fit REAL"),
    ("level", math.inf, "does not fit REAL"),
    ("level", 1e39, "does not fit REAL"),
    ("run_cmd", 2, r"run_cmd \(DB10.DBX4.3\): 2 is not a BOOL"),
])
def test_a_bad_value_is_refused_and_nothing_is_written(name: str, value: object,
                                                       words: str) -> None:
    mem = S7Memory(FIELDS)
    before = bytes(mem.dbs[10])
    with pytest.raises(ValueError, match=words):
        mem.set(name, value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=words):
        mem.update({name: value})  # type: ignore[dict-item]
    assert bytes(mem.dbs[10]) == before


def test_unknown_field_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no S7 field 'nope'"):
        S7Memory(FIELDS).get("nope")


def test_values_are_packed_big_endian_as_the_cpu_stores_them() -> None:
    mem = S7Memory(FIELDS)
    mem.set("count", -2)
    mem.set("total", 0x01020304)
    mem.set("level", 1.0)
    mem.set("m_word", 0xABCD)
    assert mem.read("DB", 10, 6, 2) == b"\xff\xfe"
    assert mem.read("DB", 10, 8, 4) == b"\x01\x02\x03\x04"
    assert mem.read("DB", 10, 16, 4) == b"\x3f\x80\x00\x00"
    assert mem.read("M", 0, 8, 2) == b"\xab\xcd"
    with pytest.raises(ValueError, match=r"DB10: bytes 26..29 are outside 0..27"):
        mem.read("DB", 10, 26, 4)
    with pytest.raises(ValueError, match="DB99 is not declared"):
        mem.read("DB", 99, 0, 1)


def test_a_bool_set_changes_only_its_bit() -> None:
    mem = S7Memory(FIELDS)
    mem.write("DB", 10, 4, b"\x55")          # 0101_0101: bit 3 clear, bit 7 clear
    mem.set("run_cmd", True)
    assert mem.read("DB", 10, 4, 1) == b"\x5d"   # only bit 3 set
    mem.set("plc_alive", True)
    mem.set("run_cmd", False)
    assert mem.read("DB", 10, 4, 1) == b"\xd5"
    assert mem.get("plc_alive") is True and mem.get("run_cmd") is False


def test_changes_reports_what_a_master_wrote_and_update_never_overwrites_it() -> None:
    """The Modbus glue's pull/push contract: the PLC's own writes are not reported back
    to it, and its push writes only what it changed, so a master's fresh write between
    two scans survives."""
    mem = S7Memory(FIELDS)
    mem.set("count", 5)
    mem.set("plc_alive", True)
    assert mem.changes() == {}                     # the PLC's own writes
    struct.pack_into(">h", mem.dbs[10], 6, 42)     # a master writes count
    mem.dbs[10][4] |= 0x08                         # and sets run_cmd
    # the PLC pushes its image with the old count (it has not pulled yet)
    assert mem.update({"count": 5, "plc_alive": True, "level": 2.5}) == ["level"]
    assert mem.get("count") == 42
    assert mem.changes() == {"count": 42, "run_cmd": True}
    assert mem.changes() == {}
    # a value the PLC changed is written; one it merely repeats is not
    assert mem.update({"count": 43, "level": 2.5}) == ["count"]
    assert mem.get("count") == 43
    # a REAL compares as the float32 it is stored as
    mem.set("level", 0.1)
    assert mem.update({"level": 0.1}) == []
    assert mem.changes() == {}


# -- over the wire ---------------------------------------------------------------------

def _fields_of(dtype: str) -> list[S7Field]:
    return [f for f in FIELDS if f.type == dtype]


async def test_every_type_and_area_read_and_written_by_a_foreign_client(
        plc: S7Server) -> None:
    mem = plc.memory
    c = await connect(plc)
    try:
        seen_areas: set[tuple[str, str]] = set()
        for dtype, (get, put, ours, theirs) in CODEC.items():
            for f in _fields_of(dtype):
                # packed by the HIL, read by snap7.util
                mem.set(f.name, ours)  # type: ignore[arg-type]
                data = await call(c.read_area(AREA[f.area], f.db, f.offset, f.width))
                assert get(data, 0) == ours, f.notation
                # packed by snap7.util, read by the HIL
                buf = bytearray(f.width)
                put(buf, 0, theirs)
                await call(c.write_area(AREA[f.area], f.db, f.offset, buf))
                assert mem.get(f.name) == theirs, f.notation
                assert mem.changes() == {f.name: theirs}
                seen_areas.add((f.area, dtype))
        for f in _fields_of("BOOL"):
            mem.set(f.name, True)
            data = await call(c.read_area(AREA[f.area], f.db, f.offset, 1))
            assert get_bool(data, 0, f.bit) is True and data[0] == 1 << f.bit, f.notation
            mem.set(f.name, False)
            seen_areas.add((f.area, "BOOL"))
        assert {a for a, _ in seen_areas} == {"DB", "M", "I", "Q"}
        assert {t for _, t in seen_areas} == set(CODEC) | {"BOOL"}
        # a second DB is served too, and a block that is not there is an error
        mem.set("setpoint", 3.25)
        assert get_real(await call(c.db_read(20, 0, 4)), 0) == 3.25
        with pytest.raises(S7Error):
            await call(c.db_read(99, 0, 2))
    finally:
        await c.disconnect()


def _bit_write(c: Client, f: S7Field, value: bool) -> None:
    """A BIT write as a CPU receives it: transport size BIT, start = byte * 8 + bit."""
    assert f.bit is not None
    c.write_area(AREA[f.area], f.db, f.offset * 8 + f.bit, bytearray([int(value)]),
                 word_len=WordLen.Bit)


async def test_a_bit_write_changes_only_that_bit_next_to_a_bit_the_plc_toggles(
        plc: S7Server) -> None:
    """snap7 3.3.0's Server stored the data byte (0x01) over the whole byte: bit 0 set
    instead of bit 3, and the PLC's bit 7 beside it cleared."""
    mem = plc.memory
    pairs = [("run_cmd", "plc_alive"), ("m_flag", "m_neigh"), ("pump_on", "q_neigh")]
    c = Client()
    c.connect("127.0.0.1", 0, 1, plc.port)
    try:
        for mine, plcs in pairs:
            f = mem.field(mine)
            for step in range(8):
                plc_value, client_value = step % 2 == 0, step % 3 == 0
                mem.set(plcs, plc_value)
                await asyncio.to_thread(_bit_write, c, f, client_value)
                assert mem.get(mine) is client_value, (f.notation, step)
                assert mem.get(plcs) is plc_value, (f.notation, step)
                others = [g for g in FIELDS if g.area == f.area and g.db == f.db
                          and g.offset == f.offset]
                expected = sum(1 << (g.bit or 0) for g in others if mem.get(g.name))
                assert mem.read(f.area, f.db, f.offset, 1)[0] == expected, (f.notation, step)

        # the PLC toggles its bit as fast as it can while the client writes its own
        f = mem.field("run_cmd")
        done = threading.Event()
        last = [False]

        def toggle() -> None:
            v = False
            while not done.is_set():
                v = not v
                mem.set("plc_alive", v)
                last[0] = v

        t = threading.Thread(target=toggle)
        t.start()
        try:
            for i in range(30):
                await asyncio.to_thread(_bit_write, c, f, i % 2 == 0)
                assert mem.get("run_cmd") is (i % 2 == 0)
        finally:
            done.set()
            t.join()
        assert mem.get("plc_alive") is last[0]
        assert mem.read("DB", 10, 4, 1)[0] & 0x77 == 0   # nothing else in the byte moved
    finally:
        c.disconnect()


async def test_a_bit_read_answers_that_bit_alone(plc: S7Server) -> None:
    """A CPU answers a BIT read with 0 or 1 for that bit; snap7 3.3.0's Server sent the
    whole byte, so DBX4.3 read as 0x80 (non-zero) when only the PLC's bit 7 was set: a
    read-back of a bit write would have passed whatever the client wrote."""
    mem = plc.memory
    c = Client()
    c.connect("127.0.0.1", 0, 1, plc.port)
    try:
        for mine, plcs in [("run_cmd", "plc_alive"), ("m_flag", "m_neigh"),
                           ("pump_on", "q_neigh")]:
            f = mem.field(mine)
            assert f.bit is not None

            def read_bit(f: S7Field = f) -> bytearray:
                assert f.bit is not None
                return c.read_area(AREA[f.area], f.db, f.offset * 8 + f.bit, 1,
                                   word_len=WordLen.Bit)

            mem.set(plcs, True)
            mem.set(mine, False)
            assert await asyncio.to_thread(read_bit) == b"\x00", f.notation
            mem.set(mine, True)
            mem.set(plcs, False)
            assert await asyncio.to_thread(read_bit) == b"\x01", f.notation
        # outside the area is an error, not a zero
        with pytest.raises(S7Error):
            await asyncio.to_thread(c.read_area, Area.DB, 10, 999 * 8 + 1, 1, WordLen.Bit)
    finally:
        c.disconnect()


async def test_a_write_past_the_end_of_a_block_is_refused_whole(plc: S7Server) -> None:
    """A CPU refuses a write that runs past the end of a DB and writes none of it;
    snap7 3.3.0's Server wrote the part that fit, then answered an error."""
    mem = plc.memory
    size = len(mem.dbs[20])
    mem.write("DB", 20, size - 2, b"\x11\x22")
    c = await connect(plc)
    try:
        with pytest.raises(S7Error):
            await call(c.db_write(20, size - 2, bytearray(b"\xaa\xbb\xcc\xdd")))
        with pytest.raises(S7Error):
            await call(c.db_write(20, size, bytearray(b"\xaa")))
    finally:
        await c.disconnect()
    assert mem.read("DB", 20, size - 2, 2) == b"\x11\x22"


def test_a_port_outside_1_to_65535_is_refused() -> None:
    with pytest.raises(ValueError, match="port 0 is outside 1..65535"):
        S7Server(S7Memory(FIELDS), port=0)


async def test_stop_drops_clients_at_once_and_start_again_keeps_the_data(
        plc: S7Server) -> None:
    plc.memory.set("total", 987_654)
    c = await connect(plc)
    try:
        assert get_dint(await call(c.db_read(10, 8, 4)), 0) == 987_654
        handlers = list(plc._srv.clients)      # the server's thread per client
        assert handlers
        await plc.stop()
        assert not plc.running
        # snap7's own stop() gave up on a connected client's thread after 1 s and left it
        # serving for up to 5 s more; a PLC switched off answers nobody
        assert not any(t.is_alive() for t in handlers)
        with pytest.raises((S7Error, OSError)):
            await call(c.db_read(10, 8, 4))
        await c.disconnect()
        with pytest.raises((S7Error, OSError)):
            await call(c.connect("127.0.0.1", 0, 1, plc.port))

        plc.memory.set("count", -7)      # the PLC keeps running while its CP is down
        await plc.start()
        assert plc.running
        await call(c.connect("127.0.0.1", 0, 1, plc.port))
        assert get_dint(await call(c.db_read(10, 8, 4)), 0) == 987_654
        assert get_int(await call(c.db_read(10, 6, 2)), 0) == -7
        buf = bytearray(4)
        set_dint(buf, 0, -1)
        await call(c.db_write(10, 8, buf))
        assert plc.memory.get("total") == -1
    finally:
        await c.disconnect()
    await plc.stop()
    await plc.start()                    # and once more, with no client at all
    assert plc.running


async def test_a_second_server_on_a_port_in_use_is_refused(plc: S7Server) -> None:
    other = S7Server(S7Memory([S7Field("x", "DB", 10, 0, "INT")]), port=plc.port)
    with pytest.raises(OSError, match=rf"port {plc.port} on 127.0.0.1 is already in use"):
        await other.start()
    assert not other.running
    # the first one still answers alone, with its own data
    plc.memory.set("count", 1234)
    c = await connect(plc)
    try:
        assert get_int(await call(c.db_read(10, 6, 2)), 0) == 1234
    finally:
        await c.disconnect()


def test_the_server_never_listens_on_every_interface() -> None:
    with pytest.raises(ValueError, match="never on every interface"):
        S7Server(S7Memory(FIELDS), port=free_port(), host="0.0.0.0")
