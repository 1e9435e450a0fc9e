"""Modbus address notation and value codec, as pure functions.

No sockets here: parsing ``hr:100:float32``, packing a float into two registers in the
PLC's word order, pulling bit 3 out of a status word. Kept apart from the driver so it
can be tested exhaustively and so the byte-level rules live in one place.

Notation: ``TABLE:INDEX[.BIT][:TYPE]`` with TABLE one of ``hr`` (holding register),
``ir`` (input register), ``coil``, ``di`` (discrete input); TYPE one of ``int16``,
``uint16`` (default for registers), ``int32``, ``uint32``, ``float32``; ``.BIT``
(0-15) picks one bit of a register and makes the value a bool.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from fixedsite.drivers.scaling import Scaling

WordOrder = Literal["big", "little"]

REGISTER_TABLES = ("hr", "ir")
BIT_TABLES = ("coil", "di")
WRITABLE_TABLES = ("hr", "coil")
TYPES = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
_STRUCT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
_RE = re.compile(r"^(hr|ir|coil|di):(\d+)(?:\.(\d+))?(?::([a-z0-9]+))?$")

MAX_READ_REGISTERS = 125   # Modbus application protocol v1.1b3, function 03/04
MAX_READ_BITS = 2000       # function 01/02


@dataclass(frozen=True, slots=True)
class Address:
    table: str
    index: int
    dtype: str = "uint16"      # "bool" for coils, discrete inputs and register bits
    bit: int | None = None

    @property
    def width(self) -> int:
        """Registers (or bits) this address occupies."""
        return 1 if self.dtype == "bool" else TYPES[self.dtype]

    @property
    def is_bit_table(self) -> bool:
        return self.table in BIT_TABLES

    @property
    def writable(self) -> bool:
        return self.table in WRITABLE_TABLES

    @property
    def end(self) -> int:
        return self.index + self.width

    # the neutral view the config checks use for every protocol (drivers/protocol.py)
    @property
    def space(self) -> str:
        return self.table

    @property
    def start(self) -> int:
        return self.index

    def __str__(self) -> str:
        s = f"{self.table}:{self.index}"
        if self.bit is not None:
            return f"{s}.{self.bit}"
        if self.table in REGISTER_TABLES and self.dtype != "uint16":
            s += f":{self.dtype}"
        return s


def parse_address(text: str) -> Address:
    """Parse the notation; ValueError says what was wrong and what is expected."""
    m = _RE.match(text.strip().lower())
    if not m:
        raise ValueError(
            f"{text!r} is not a Modbus address; expected TABLE:INDEX[.BIT][:TYPE] with "
            "TABLE hr|ir|coil|di, e.g. 'hr:100', 'ir:4:float32', 'hr:7.3', 'coil:2'")
    table, index_s, bit_s, dtype = m.groups()
    index = int(index_s)
    if index > 65535:
        raise ValueError(f"{text!r}: index {index} is outside 0..65535")
    if table in BIT_TABLES:
        if bit_s is not None or (dtype not in (None, "bool")):
            raise ValueError(f"{text!r}: {table} addresses are single bits; no .BIT or type")
        return Address(table, index, "bool")
    if bit_s is not None:
        bit = int(bit_s)
        if bit > 15:
            raise ValueError(f"{text!r}: bit {bit} is outside 0..15")
        if dtype not in (None, "bool"):
            raise ValueError(f"{text!r}: a register bit is a bool; drop ':{dtype}'")
        return Address(table, index, "bool", bit)
    dtype = dtype or "uint16"
    if dtype not in TYPES:
        raise ValueError(f"{text!r}: unknown type {dtype!r}; expected one of "
                         + ", ".join(TYPES))
    if index + TYPES[dtype] > 65536:
        raise ValueError(f"{text!r}: runs past register 65535")
    return Address(table, index, dtype)


def decode_registers(words: Sequence[int], dtype: str, word_order: WordOrder) -> int | float:
    """Registers as received (one or two 16-bit words) to a number."""
    if len(words) == 2 and word_order == "little":
        words = (words[1], words[0])
    raw = b"".join(w.to_bytes(2, "big") for w in words)
    return struct.unpack(_STRUCT[dtype], raw)[0]  # type: ignore[no-any-return]


def encode_registers(value: float, dtype: str, word_order: WordOrder) -> list[int]:
    """A number to the registers to send; ValueError if it does not fit the type."""
    if dtype == "float32":
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value} cannot be written to a PLC")
        raw = struct.pack(">f", float(value))
    else:
        iv = round(value)
        if iv != value:
            raise ValueError(f"{value} is not a whole number for {dtype}")
        try:
            raw = struct.pack(_STRUCT[dtype], iv)
        except struct.error:
            raise ValueError(f"{value} does not fit {dtype}") from None
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    if len(words) == 2 and word_order == "little":
        words.reverse()
    return words


Decoder = Callable[[Sequence[int] | Sequence[bool], int], "int | float | bool"]


def decoder(addr: Address, scaling: Scaling, word_order: WordOrder) -> Decoder:
    """A specialised function ``(data, offset) -> value`` for one point.

    Built once per point, so the poll loop does no dispatch on type, bit or word order
    for each value it decodes.
    """
    if addr.table in BIT_TABLES:
        return lambda d, o: bool(d[o])
    if addr.bit is not None:
        mask = 1 << addr.bit
        return lambda d, o: bool(int(d[o]) & mask)
    k, b = scaling.scale, scaling.offset
    plain = k == 1.0 and b == 0.0
    if addr.dtype == "uint16":
        return (lambda d, o: int(d[o])) if plain else (lambda d, o: int(d[o]) * k + b)
    if addr.dtype == "int16":
        def i16(d: Sequence[int] | Sequence[bool], o: int) -> int | float:
            v = int(d[o])
            v = v - 65536 if v >= 32768 else v
            return v if plain else v * k + b
        return i16
    unpack = struct.Struct(_STRUCT[addr.dtype]).unpack
    pack = struct.Struct(">HH").pack
    hi_first = word_order == "big"

    def wide(d: Sequence[int] | Sequence[bool], o: int) -> int | float:
        hi, lo = (int(d[o]), int(d[o + 1])) if hi_first else (int(d[o + 1]), int(d[o]))
        v = unpack(pack(hi, lo))[0]
        return v if plain else v * k + b
    return wide


# Function codes the driver sends, and the length of a well-formed reply PDU to each
# (``None``: a read reply, whose length its byte count says).
READ_FUNCTIONS = {"coil": 1, "di": 2, "hr": 3, "ir": 4}
_REPLY_LEN: dict[int, int | None] = {1: None, 2: None, 3: None, 4: None, 5: 5, 6: 5, 16: 5,
                                     22: 7}


def reply_problem(pdu: bytes) -> str | None:
    """What is wrong with a reply PDU (function code first), or None if it is well formed.

    Checked before any value is taken from it: a byte count that does not match the
    bytes that follow is a lying PLC (or a broken gateway), and its data is not data.
    """
    if not pdu:
        return "empty reply"
    fc = pdu[0]
    if fc & 0x80:
        if fc & 0x7F not in _REPLY_LEN or len(pdu) != 2:
            return f"malformed exception reply {pdu[:8].hex(' ')}"
        return None
    if fc not in _REPLY_LEN:
        return f"reply with function code {fc}, which the driver never sends"
    want = _REPLY_LEN[fc]
    if want is None:
        if len(pdu) < 2 or pdu[1] != len(pdu) - 2:
            said = pdu[1] if len(pdu) > 1 else "no"
            return f"function {fc} reply says byte count {said}, {len(pdu) - 2} bytes follow"
        if fc in (3, 4) and pdu[1] % 2:
            return f"function {fc} reply has an odd byte count {pdu[1]}"
        return None
    if len(pdu) != want:
        return f"function {fc} reply is {len(pdu)} bytes long, not {want}"
    return None
