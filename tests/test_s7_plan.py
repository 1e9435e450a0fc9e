"""Coalescing S7 reads, and the plan read from a real snap7 server and decoded."""

from __future__ import annotations

import asyncio
import struct

import pytest
from conftest import free_port
from snap7 import AsyncClient, Server
from snap7.type import Area, SrvArea
from snap7.util import (
    set_bool,
    set_byte,
    set_dint,
    set_dword,
    set_int,
    set_real,
    set_sint,
    set_word,
)

from fixedsite.drivers.s7_codec import Scaling, decoder, parse_address
from fixedsite.drivers.s7_plan import MAX_READ_BYTES, S7Block, max_read_bytes, plan_reads


def plan(addrs: list[str], max_gap: int = 64,
         max_bytes: int = MAX_READ_BYTES) -> list[S7Block[str]]:
    return plan_reads(((a, parse_address(a)) for a in addrs), max_gap, max_bytes)


def shape(blocks: list[S7Block[str]]) -> list[tuple[str, int, int, int]]:
    return [(b.area, b.db, b.start, b.size) for b in blocks]


def test_read_budget_from_the_pdu() -> None:
    assert MAX_READ_BYTES == max_read_bytes(480) == 462   # 480 - (12 + 2 + 4)
    assert max_read_bytes(240) == 222                     # an S7-1200
    with pytest.raises(ValueError, match="cannot carry"):
        max_read_bytes(20)


def test_contiguous_and_near_addresses_share_a_read() -> None:
    blocks = plan(["DB10.DBW0", "DB10.DBD2:REAL", "DB10.DBX6.0", "DB10.DBX6.7",
                   "DB10.DBB6", "DB10.DBW40", "DB10.DBX20.3"])
    assert shape(blocks) == [("DB", 10, 0, 42)]
    assert blocks[0].parts == [(0, 7), (20, 1), (40, 2)]
    pos = {k: p for p, _, k in blocks[0].items}
    assert pos == {"DB10.DBW0": 0, "DB10.DBD2:REAL": 2, "DB10.DBX6.0": 6, "DB10.DBX6.7": 6,
                   "DB10.DBB6": 6, "DB10.DBX20.3": 20, "DB10.DBW40": 40}


def test_a_gap_wider_than_max_gap_starts_a_new_read() -> None:
    assert shape(plan(["MW0", "MW100"], max_gap=97)) == [("M", 0, 0, 2), ("M", 0, 100, 2)]
    assert shape(plan(["MW0", "MW100"], max_gap=98)) == [("M", 0, 0, 102)]
    assert shape(plan(["MW0", "MW100"], max_gap=0)) == [("M", 0, 0, 2), ("M", 0, 100, 2)]
    assert shape(plan(["MW0", "MW2"], max_gap=0)) == [("M", 0, 0, 4)]


def test_no_read_exceeds_the_pdu_budget() -> None:
    blocks = plan([f"DB1.DBW{i}" for i in range(0, 600, 2)])
    assert [b.size for b in blocks] == [462, 138]
    assert [b.start for b in blocks] == [0, 462]
    # a REAL that would straddle the limit starts the next block whole
    blocks = plan(["DB1.DBB0", "DB1.DBD460:REAL"], max_gap=500)
    assert shape(blocks) == [("DB", 1, 0, 1), ("DB", 1, 460, 4)]
    # a smaller PDU (S7-1200: 240) gives smaller blocks
    blocks = plan([f"MD{i}:REAL" for i in range(0, 400, 4)], max_bytes=max_read_bytes(240))
    assert [b.size for b in blocks] == [220, 180]


def test_areas_and_dbs_never_mix() -> None:
    blocks = plan(["DB2.DBW0", "DB1.DBW0", "MW0", "IW0", "QW0", "DB1.DBW2", "I0.1"])
    assert shape(blocks) == [("DB", 1, 0, 4), ("DB", 2, 0, 2), ("I", 0, 0, 2),
                             ("M", 0, 0, 2), ("Q", 0, 0, 2)]
    assert [b.area_code for b in blocks] == [0x84, 0x84, 0x81, 0x83, 0x82]


def test_split_reads_only_what_was_asked() -> None:
    (block,) = plan(["DB5.DBW0", "DB5.DBD10:REAL", "DB5.DBX30.1", "DB5.DBX30.2"])
    parts = block.split()
    assert [(b.start, b.size) for b in parts] == [(0, 2), (10, 4), (30, 1)]
    assert [[(p, k) for p, _, k in b.items] for b in parts] == [
        [(0, "DB5.DBW0")], [(0, "DB5.DBD10:REAL")], [(0, "DB5.DBX30.1"), (0, "DB5.DBX30.2")]]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold a 4-byte value"):
        plan(["MW0"], max_bytes=3)
    with pytest.raises(ValueError, match="negative"):
        plan(["MW0"], max_gap=-1)


async def test_planned_blocks_read_from_a_snap7_server_decode_to_what_was_set() -> None:
    """The library packs the data (snap7.util), the codec decodes it: every type, every
    area, a DB larger than one PDU, one snap7 client round trip per planned block."""
    db10, db11 = bytearray(600), bytearray(16)
    mk, pe, pa = bytearray(64), bytearray(16), bytearray(16)
    expected: dict[str, object] = {}

    def put(text: str, setter, value, *args) -> None:  # type: ignore[no-untyped-def]
        a = parse_address(text)
        buf = {"DB": db10 if a.db == 10 else db11, "M": mk, "I": pe, "Q": pa}[a.area]
        setter(buf, a.offset, *args, value)
        expected[text] = value

    put("DB10.DBX4.3", set_bool, True, 3)
    put("DB10.DBX4.4", set_bool, False, 4)
    put("DB10.DBX4.5", set_bool, True, 5)
    put("DB10.DBB5", set_byte, 200)
    put("DB10.DBB7:SINT", set_sint, -100)
    put("DB10.DBW8", set_int, -12345)
    put("DB10.DBW10:WORD", set_word, 54321)
    put("DB10.DBD12", set_dint, -2_000_000_000)
    put("DB10.DBD16:DWORD", set_dword, 4_000_000_000)
    put("DB10.DBD20:REAL", set_real, 3.25)
    put("DB10.DBD470:REAL", set_real, -1.5e-3)   # past one PDU: a second block
    put("DB10.DBW596", set_int, 32767)           # the last word of the DB
    put("DB11.DBD0:REAL", set_real, 1013.25)
    put("M20.1", set_bool, True, 1)
    put("MW22", set_int, -7)
    put("MD40:REAL", set_real, 0.5)
    put("I0.3", set_bool, True, 3)
    put("IW4", set_int, 1200)
    put("Q1.0", set_bool, True, 0)
    put("QD8:REAL", set_real, -42.0)
    set_bool(db10, 4, 6, True)    # a neighbour bit nobody asked for: must not leak
    expected = {k: pytest.approx(v, rel=1e-6) if isinstance(v, float) else v
                for k, v in expected.items()}
    scaled = parse_address("DB10.DBW8")           # the same INT as a scaled value
    scaling = Scaling(scale=0.01, offset=100.0)

    points = [(t, parse_address(t)) for t in expected] + [("scaled", scaled)]
    port = free_port()                 # fresh each run: the server sets SO_REUSEPORT
    server = Server(log=False)
    server.register_area(SrvArea.DB, 10, db10)
    server.register_area(SrvArea.DB, 11, db11)
    server.register_area(SrvArea.MK, 0, mk)
    server.register_area(SrvArea.PE, 0, pe)
    server.register_area(SrvArea.PA, 0, pa)
    server.start_to("127.0.0.1", port)
    client = AsyncClient()
    try:
        await asyncio.wait_for(client.connect("127.0.0.1", 0, 1, port), 5)
        assert client.pdu_length == 480
        blocks = plan_reads(points, max_bytes=max_read_bytes(client.pdu_length))
        assert shape(blocks) == [("DB", 10, 4, 20), ("DB", 10, 470, 4), ("DB", 10, 596, 2),
                                 ("DB", 11, 0, 4), ("I", 0, 0, 6), ("M", 0, 20, 24),
                                 ("Q", 0, 1, 11)]
        got: dict[str, object] = {}
        for b in blocks:
            if b.area == "DB":
                data = await asyncio.wait_for(client.db_read(b.db, b.start, b.size), 5)
            else:
                data = await asyncio.wait_for(
                    client.read_area(Area(b.area_code), b.db, b.start, b.size), 5)
            assert len(data) == b.size
            for pos, addr, key in b.items:
                sc = scaling if key == "scaled" else Scaling()
                got[key] = decoder(addr, sc)(data, pos)
        scaled_value = got.pop("scaled")
        assert got == expected
        assert scaled_value == pytest.approx(-12345 * 0.01 + 100.0)
        assert struct.unpack(">h", db10[8:10])[0] == -12345   # the server's bytes untouched
    finally:
        await asyncio.wait_for(client.disconnect(), 5)   # before stop: stop waits on clients
        server.stop()
        server.destroy()
