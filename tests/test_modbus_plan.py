"""Coalescing: the fewest reads within the protocol's limits."""

from __future__ import annotations

from fixedsite.drivers.modbus_codec import parse_address
from fixedsite.drivers.modbus_plan import plan_reads


def plan(addrs: list[str], max_gap: int = 32):  # type: ignore[no-untyped-def]
    return plan_reads(((a, parse_address(a)) for a in addrs), max_gap)


def test_contiguous_and_near_addresses_share_a_read() -> None:
    blocks = plan(["hr:0", "hr:1:float32", "hr:3", "hr:20", "hr:7.2", "hr:7.3"])
    assert [(b.table, b.start, b.count) for b in blocks] == [("hr", 0, 21)]
    assert blocks[0].parts == [(0, 4), (7, 1), (20, 1)]


def test_a_gap_wider_than_max_gap_starts_a_new_read() -> None:
    blocks = plan(["ir:0", "ir:50"], max_gap=10)
    assert [(b.start, b.count) for b in blocks] == [(0, 1), (50, 1)]
    assert [(b.start, b.count) for b in plan(["ir:0", "ir:50"], max_gap=49)] == [(0, 51)]


def test_no_read_exceeds_125_registers() -> None:
    blocks = plan([f"hr:{i}" for i in range(0, 300)])
    assert [b.count for b in blocks] == [125, 125, 50]
    # a float32 that would straddle the limit starts the next block whole
    blocks = plan(["hr:0", "hr:124:float32"], max_gap=124)
    assert [(b.start, b.count) for b in blocks] == [(0, 1), (124, 2)]


def test_bits_coalesce_up_to_2000() -> None:
    blocks = plan([f"coil:{i}" for i in range(0, 4500, 3)])
    assert [b.count for b in blocks] == [1999, 1999, 496]   # 0..1998, 2001..3999, 4002..4497
    assert all(b.count <= 2000 for b in blocks)


def test_tables_never_mix() -> None:
    blocks = plan(["hr:0", "ir:0", "coil:0", "di:0"])
    assert sorted(b.table for b in blocks) == ["coil", "di", "hr", "ir"]


def test_split_reads_only_what_was_asked() -> None:
    (block,) = plan(["hr:0", "hr:10:float32", "hr:30"])
    parts = block.split()
    assert [(b.start, b.count) for b in parts] == [(0, 1), (10, 2), (30, 1)]
    assert [[k for _, _, k in b.items] for b in parts] == [["hr:0"], ["hr:10:float32"],
                                                           ["hr:30"]]
    assert [b.items[0][0] for b in parts] == [0, 0, 0]
