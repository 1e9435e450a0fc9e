"""Coalescing of S7 addresses into the fewest reads the negotiated PDU allows.

A read request costs a round trip; a byte read through a gap costs one byte of the
reply. So addresses of one area (and one DB) are read in one request as long as the reply
fits the PDU, and a gap is read through while it is at most ``max_gap`` bytes.

The byte budget of one read: the reply to a one-item read-var request carries, inside
the negotiated PDU, a 12-byte S7 header (10 bytes plus error class and code, as every
ack-data has), a 2-byte parameter (function 0x04, item count) and a 4-byte data-item
header (return code, transport size, length) before the data. So a PDU of 480 bytes (what
S7-300/400/1500 CPUs and snap7's server negotiate) carries 480 - 18 = 462 data bytes,
and an S7-1200's 240 carries 222. This is the same budget python-snap7 uses to split a
larger ``read_area`` into several requests; a block within it is always one request.

A gap inside one DB or area is always readable (a DB is contiguous), unlike Modbus; but
a block that reaches past the end of a DB fails whole, so each block remembers its
contiguous parts and ``split()`` lets the driver find which address is the bad one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fixedsite.drivers.s7_codec import S7Address

K = TypeVar("K")

DEFAULT_PDU = 480
READ_OVERHEAD = 18   # S7 header 12 + parameter 2 + data-item header 4, see above
MAX_READ_BYTES = DEFAULT_PDU - READ_OVERHEAD   # 462


def max_read_bytes(pdu: int) -> int:
    """Data bytes one read request can return with this negotiated PDU length."""
    n = pdu - READ_OVERHEAD
    if n < 4:
        raise ValueError(f"a PDU of {pdu} bytes cannot carry a 4-byte value in one read")
    return n


@dataclass
class S7Block(Generic[K]):
    area: str
    db: int
    start: int
    size: int
    items: list[tuple[int, S7Address, K]] = field(default_factory=list)  # (pos, addr, key)
    parts: list[tuple[int, int]] = field(default_factory=list)           # (start, size)

    @property
    def area_code(self) -> int:
        return self.items[0][1].area_code

    def split(self) -> list[S7Block[K]]:
        """One block per contiguous part: reads no byte that nothing asked for."""
        out: list[S7Block[K]] = []
        for start, size in self.parts:
            b: S7Block[K] = S7Block(self.area, self.db, start, size, parts=[(start, size)])
            b.items = [(a.offset - start, a, k) for _, a, k in self.items
                       if start <= a.offset < start + size]
            out.append(b)
        return out


def plan_reads(items: Iterable[tuple[K, S7Address]], max_gap: int = 64,
               max_bytes: int = MAX_READ_BYTES) -> list[S7Block[K]]:
    """Blocks per (area, DB), in address order, each within ``max_bytes``."""
    if max_bytes < 4:
        raise ValueError(f"max_bytes {max_bytes} cannot hold a 4-byte value")
    if max_gap < 0:
        raise ValueError(f"max_gap {max_gap} is negative")
    by_area: dict[tuple[str, int], list[tuple[S7Address, K]]] = {}
    for key, addr in items:
        by_area.setdefault((addr.area, addr.db), []).append((addr, key))
    blocks: list[S7Block[K]] = []
    for area, db in sorted(by_area):
        entries = sorted(by_area[(area, db)], key=lambda e: (e[0].offset, e[0].end))
        cur: S7Block[K] | None = None
        for addr, key in entries:
            if cur is not None:
                end = cur.start + cur.size
                new_end = max(end, addr.end)
                if addr.offset <= end + max_gap and new_end - cur.start <= max_bytes:
                    if addr.offset > end:
                        cur.parts.append((addr.offset, addr.width))
                    else:
                        ps, pc = cur.parts[-1]
                        cur.parts[-1] = (ps, max(ps + pc, addr.end) - ps)
                    cur.size = new_end - cur.start
                    cur.items.append((addr.offset - cur.start, addr, key))
                    continue
            cur = S7Block(area, db, addr.offset, addr.width,
                          parts=[(addr.offset, addr.width)])
            cur.items.append((0, addr, key))
            blocks.append(cur)
    return blocks
