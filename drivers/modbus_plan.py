"""Coalescing of Modbus addresses into the fewest reads the protocol allows.

A request costs a round trip; a register read through a gap costs two bytes. So near
addresses are read in one request (up to 125 registers or 2000 bits), and a gap is read
through while it is cheaper than a second request (``max_gap`` registers, or 16x that in
bits). Some PLCs answer a read that touches an unmapped address with exception 2; each
block remembers its contiguous parts so the driver can split it and stop reading the
holes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fixedsite.drivers.modbus_codec import MAX_READ_BITS, MAX_READ_REGISTERS, Address

K = TypeVar("K")


@dataclass
class Block(Generic[K]):
    table: str
    start: int
    count: int
    items: list[tuple[int, Address, K]] = field(default_factory=list)  # (offset, addr, key)
    parts: list[tuple[int, int]] = field(default_factory=list)         # (start, count)

    def split(self) -> list[Block[K]]:
        """One block per contiguous part: reads no address that nothing asked for."""
        out: list[Block[K]] = []
        for start, count in self.parts:
            b: Block[K] = Block(self.table, start, count, parts=[(start, count)])
            b.items = [(a.index - start, a, k) for _, a, k in self.items
                       if start <= a.index < start + count]
            out.append(b)
        return out


def plan_reads(items: Iterable[tuple[K, Address]], max_gap: int = 32) -> list[Block[K]]:
    by_table: dict[str, list[tuple[Address, K]]] = {}
    for key, addr in items:
        by_table.setdefault(addr.table, []).append((addr, key))
    blocks: list[Block[K]] = []
    for table in sorted(by_table):
        entries = sorted(by_table[table], key=lambda e: (e[0].index, e[0].end))
        bits = entries[0][0].is_bit_table
        limit = MAX_READ_BITS if bits else MAX_READ_REGISTERS
        gap = max_gap * 16 if bits else max_gap
        cur: Block[K] | None = None
        for addr, key in entries:
            if cur is not None:
                end = cur.start + cur.count
                if addr.index <= end + gap and max(end, addr.end) - cur.start <= limit:
                    if addr.index > end:
                        cur.parts.append((addr.index, addr.width))
                    else:
                        ps, pc = cur.parts[-1]
                        cur.parts[-1] = (ps, max(ps + pc, addr.end) - ps)
                    cur.count = max(end, addr.end) - cur.start
                    cur.items.append((addr.index - cur.start, addr, key))
                    continue
            cur = Block(table, addr.index, addr.width, parts=[(addr.index, addr.width)])
            cur.items.append((0, addr, key))
            blocks.append(cur)
    return blocks
