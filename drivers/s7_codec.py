"""Siemens S7 address notation and value codec, as pure functions.

No sockets and no snap7 here: parsing ``DB10.DBD8:REAL``, packing an INT big-endian as
the CPU stores it, pulling bit 3 out of a byte. Kept apart from the driver so the byte
rules live in one place and can be tested exhaustively, and so ``check-config`` can
explain a bad address without the client library.

Notation (STEP 7 / TIA Portal, English mnemonics, case-insensitive)::

    DB<n>.DBX<byte>.<bit>   BOOL        M<byte>.<bit>   I<byte>.<bit>   Q<byte>.<bit>
    DB<n>.DBB<byte>         BYTE        MB<byte>        IB<byte>        QB<byte>
    DB<n>.DBW<byte>         INT         MW<byte>        IW<byte>        QW<byte>
    DB<n>.DBD<byte>         DINT        MD<byte>        ID<byte>        QD<byte>

followed by an optional ``:TYPE`` that must fit the size letter: ``B`` takes BYTE, SINT
(USINT = BYTE); ``W`` takes INT, WORD (UINT = WORD); ``D`` takes DINT, DWORD, REAL
(UDINT = DWORD); a bit takes only BOOL. S7 stores every multi-byte value big-endian,
so there is no word-order option as there is for Modbus.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from fixedsite.drivers.scaling import Scaling

__all__ = ["AREAS", "AREA_CODES", "S7Address", "Scaling", "TYPES", "WRITABLE_AREAS",
           "decode", "decoder", "encode", "parse_address"]

AREAS = ("DB", "M", "I", "Q")
WRITABLE_AREAS = ("DB", "M", "Q")   # I is the process image of the inputs: the PLC owns it
# The area byte of an S7 read/write request (snap7's ``Area`` enum has the same values;
# kept as numbers so this module needs no snap7). I = PE, Q = PA, M = MK.
AREA_CODES = {"I": 0x81, "Q": 0x82, "M": 0x83, "DB": 0x84}

# type -> (width in bytes, struct format or None for BOOL)
TYPES: dict[str, tuple[int, str | None]] = {
    "BOOL": (1, None), "BYTE": (1, ">B"), "SINT": (1, ">b"),
    "INT": (2, ">h"), "WORD": (2, ">H"),
    "DINT": (4, ">i"), "DWORD": (4, ">I"), "REAL": (4, ">f"),
}
_BY_SIZE = {"X": ("BOOL",), "B": ("BYTE", "SINT"), "W": ("INT", "WORD"),
            "D": ("DINT", "DWORD", "REAL")}
_DEFAULT = {"X": "BOOL", "B": "BYTE", "W": "INT", "D": "DINT"}
_ALIASES = {"USINT": "BYTE", "UINT": "WORD", "UDINT": "DWORD"}
_SIZE_NAME = {"X": "a bit", "B": "a byte (B)", "W": "a word (W)", "D": "a double word (D)"}
_RANGES = {"BYTE": (0, 0xFF), "SINT": (-0x80, 0x7F), "INT": (-0x8000, 0x7FFF),
           "WORD": (0, 0xFFFF), "DINT": (-0x8000_0000, 0x7FFF_FFFF),
           "DWORD": (0, 0xFFFF_FFFF)}
_FLOAT32_MAX = 3.4028234663852886e38

MAX_DB = 65535
MAX_OFFSET = 65535   # a classic (non-optimised) DB and the M/I/Q areas hold at most 64 KiB

_EXPECTED = ("expected DB<n>.DBX<byte>.<bit>, DB<n>.DBB|DBW|DBD<byte>, "
             "M|I|Q<byte>.<bit> or MB|MW|MD<byte> (likewise I, Q), with an optional "
             ":TYPE, e.g. 'DB10.DBX4.3', 'DB10.DBW6:WORD', 'MD40:REAL', 'I0.3'")
# ASCII digits only: \d alone also takes '١' (Arabic-Indic one) as a DB number
_DB_RE = re.compile(r"^DB(\d+)\.DB([XBWD])(\d+)(?:\.(\d+))?(?::([A-Z]+))?$", re.ASCII)
_MIQ_RE = re.compile(r"^([MIQ])([XBWD]?)(\d+)(?:\.(\d+))?(?::([A-Z]+))?$", re.ASCII)


@dataclass(frozen=True, slots=True)
class S7Address:
    area: str              # "DB", "M", "I" or "Q"
    db: int                # DB number; 0 for M, I, Q
    offset: int            # byte offset in the DB or area
    dtype: str             # one of TYPES
    bit: int | None = None  # 0..7 for BOOL, else None

    @property
    def width(self) -> int:
        """Bytes this address occupies (a bit occupies its byte for reading)."""
        return TYPES[self.dtype][0]

    @property
    def end(self) -> int:
        return self.offset + self.width

    # the neutral view the config checks use for every protocol (drivers/protocol.py)
    @property
    def space(self) -> str:
        return f"DB{self.db}" if self.area == "DB" else self.area

    @property
    def start(self) -> int:
        return self.offset

    @property
    def writable(self) -> bool:
        return self.area in WRITABLE_AREAS

    @property
    def area_code(self) -> int:
        return AREA_CODES[self.area]

    def __str__(self) -> str:
        """The canonical notation: parses back to an equal address."""
        size = "X" if self.bit is not None else {1: "B", 2: "W", 4: "D"}[self.width]
        if self.area == "DB":
            s = f"DB{self.db}.DB{size}{self.offset}"
        else:
            s = f"{self.area}{'' if size == 'X' else size}{self.offset}"
        if self.bit is not None:
            return f"{s}.{self.bit}"
        return s if self.dtype == _DEFAULT[size] else f"{s}:{self.dtype}"


def parse_address(text: str) -> S7Address:
    """Parse Siemens notation; ValueError says what was wrong and what is expected."""
    t = text.strip().upper().replace(" ", "")
    m = _DB_RE.match(t)
    if m:
        db_s, size, off_s, bit_s, type_s = m.groups()
        area, db = "DB", int(db_s)
        if not 1 <= db <= MAX_DB:
            raise ValueError(f"{text!r}: DB number {db} is outside 1..{MAX_DB}")
    else:
        m = _MIQ_RE.match(t)
        if not m:
            raise ValueError(f"{text!r} is not an S7 address: {_why_not(t)}; {_EXPECTED}")
        area, size, off_s, bit_s, type_s = m.groups()
        db = 0
        size = size or "X"
    offset = int(off_s)
    if size == "X":
        if bit_s is None:
            ex = f"DB{db}.DBX{offset}.0" if area == "DB" else f"{area}{offset}.0"
            raise ValueError(f"{text!r}: a bit address needs .<bit> after the byte, "
                             f"e.g. {ex!r}")
        bit = int(bit_s)
        if bit > 7:
            raise ValueError(f"{text!r}: bit {bit} is outside 0..7 (a byte has 8 bits)")
    elif bit_s is not None:
        raise ValueError(f"{text!r}: .{bit_s} picks a bit, but {_SIZE_NAME[size]} "
                         "address has none; a bit is DB<n>.DBX<byte>.<bit> or "
                         "M|I|Q<byte>.<bit>")
    else:
        bit = None
    dtype = _DEFAULT[size]
    if type_s is not None:
        dtype = _ALIASES.get(type_s, type_s)
        if dtype not in TYPES:
            raise ValueError(f"{text!r}: unknown type {type_s!r}; expected one of "
                             + ", ".join(TYPES))
        if dtype not in _BY_SIZE[size]:
            raise ValueError(f"{text!r}: {type_s} does not fit {_SIZE_NAME[size]}; "
                             f"{_SIZE_NAME[size]} takes " + _or(_BY_SIZE[size]))
    width = TYPES[dtype][0]
    if offset + width - 1 > MAX_OFFSET:
        raise ValueError(f"{text!r}: byte offset {offset} with {width} byte(s) runs past "
                         f"byte {MAX_OFFSET}")
    return S7Address(area, db, offset, dtype, bit)


def _or(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _why_not(t: str) -> str:
    """The first thing wrong with a string that matched neither pattern."""
    if t.startswith("DB"):
        if not re.match(r"^DB\d+", t):
            return "DB needs its number, as in 'DB10.'"
        return "after DB<n> comes .DBX, .DBB, .DBW or .DBD and the byte offset"
    if t[:1] in ("E", "A") or t[:2] in ("PE", "PA"):
        return "inputs and outputs use the English mnemonics I and Q (not E, A)"
    if t[:1] not in ("M", "I", "Q"):
        return "the area must be DB, M, I or Q"
    return "the size letter must be X, B, W or D and the byte a number"


def _check_value(value: float | bool, addr: S7Address) -> float | int | bool:
    if addr.dtype == "BOOL":
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise ValueError(f"{value!r} is not a bool for {addr}")
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a bool; {addr} holds {addr.dtype}")
    if addr.dtype == "REAL":
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value} cannot be written to a PLC ({addr})")
        if abs(value) > _FLOAT32_MAX:
            raise ValueError(f"{value} does not fit REAL ({addr})")
        return float(value)
    iv = round(value)
    if iv != value:
        raise ValueError(f"{value} is not a whole number for {addr.dtype} ({addr})")
    lo, hi = _RANGES[addr.dtype]
    if not lo <= iv <= hi:
        raise ValueError(f"{value} does not fit {addr.dtype} ({lo}..{hi}) at {addr}")
    return iv


def encode(value: float | bool, addr: S7Address, scaling: Scaling | None = None) -> bytes:
    """An engineering value to the bytes to write at ``addr``; ValueError if out of range.

    For BOOL the result is one byte, 0x01 or 0x00: the driver must send it with the
    BIT transport size at ``addr.offset``/``addr.bit`` so the PLC changes only that bit,
    never as a byte (that would overwrite the seven bits beside it).
    """
    raw = value if scaling is None or addr.dtype == "BOOL" else scaling.to_raw(value)
    v = _check_value(raw, addr)
    if addr.dtype == "BOOL":
        return b"\x01" if v else b"\x00"
    fmt = TYPES[addr.dtype][1]
    assert fmt is not None
    return struct.pack(fmt, v)


def decode(data: bytes | bytearray | memoryview, pos: int, addr: S7Address,
           scaling: Scaling | None = None) -> int | float | bool:
    """The value of ``addr`` whose first byte is ``data[pos]`` (scaled if asked)."""
    return decoder(addr, scaling or Scaling())(data, pos)


Buffer = bytes | bytearray | memoryview
Decoder = Callable[[Buffer, int], "int | float | bool"]


def decoder(addr: S7Address, scaling: Scaling) -> Decoder:
    """A specialised function ``(data, pos) -> value`` for one point.

    Built once per point, so the poll loop does no dispatch on type, bit or scaling for
    each value it decodes. A REAL that the PLC holds as NaN or infinity decodes as such:
    the caller decides that it is not a value.
    """
    if addr.dtype == "BOOL":
        mask = 1 << (addr.bit or 0)
        return lambda d, o: bool(d[o] & mask)
    k, b = scaling.scale, scaling.offset
    plain = k == 1.0 and b == 0.0
    if addr.dtype == "BYTE":
        return (lambda d, o: d[o]) if plain else (lambda d, o: d[o] * k + b)
    fmt = TYPES[addr.dtype][1]
    assert fmt is not None
    unpack_from = struct.Struct(fmt).unpack_from
    if plain:
        return lambda d, o: unpack_from(d, o)[0]  # type: ignore[no-any-return]
    return lambda d, o: unpack_from(d, o)[0] * k + b  # type: ignore[no-any-return]
