"""How an emulated PLC puts engineering values into its 16-bit register image: clamped to
what the register holds, two's complement for signed words, high word first for 32-bit
values. The HIL's own code, never the drivers' codec (a shared byte-order bug would pass
every test)."""

from __future__ import annotations

import struct


def u16(v: float) -> int:
    return max(0, min(65535, round(v)))


def i16(v: float) -> int:
    return struct.unpack(">H", struct.pack(">h", max(-32768, min(32767, round(v)))))[0]


def f32(v: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


def u32(v: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">I", max(0, min(2**32 - 1, round(v)))))
    return [hi, lo]
