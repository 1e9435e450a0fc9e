"""The pure S7 codec: Siemens notation, big-endian types, bits, scaling, ranges.

snap7.util's setters and getters are the independent oracle for the byte layout: the
codec must agree with the library's own packing, byte for byte.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from snap7 import util
from snap7.type import Area

from fixedsite.drivers.s7_codec import (
    AREA_CODES,
    S7Address,
    Scaling,
    decode,
    decoder,
    encode,
    parse_address,
)


@pytest.mark.parametrize("text, expected, width", [
    ("DB10.DBX4.3", S7Address("DB", 10, 4, "BOOL", 3), 1),
    ("DB10.DBB5", S7Address("DB", 10, 5, "BYTE"), 1),
    ("DB10.DBB5:SINT", S7Address("DB", 10, 5, "SINT"), 1),
    ("DB10.DBW6", S7Address("DB", 10, 6, "INT"), 2),
    ("DB10.DBW6:WORD", S7Address("DB", 10, 6, "WORD"), 2),
    ("DB10.DBW6:UINT", S7Address("DB", 10, 6, "WORD"), 2),
    ("DB10.DBD8", S7Address("DB", 10, 8, "DINT"), 4),
    ("DB10.DBD8:DWORD", S7Address("DB", 10, 8, "DWORD"), 4),
    ("DB10.DBD8:REAL", S7Address("DB", 10, 8, "REAL"), 4),
    ("db65535.dbd65532:real", S7Address("DB", 65535, 65532, "REAL"), 4),
    ("DB1.DBX0.0:BOOL", S7Address("DB", 1, 0, "BOOL", 0), 1),
    ("M20.1", S7Address("M", 0, 20, "BOOL", 1), 1),
    ("MX20.1", S7Address("M", 0, 20, "BOOL", 1), 1),
    ("MB20", S7Address("M", 0, 20, "BYTE"), 1),
    ("MW20", S7Address("M", 0, 20, "INT"), 2),
    ("MD40:REAL", S7Address("M", 0, 40, "REAL"), 4),
    ("I0.3", S7Address("I", 0, 0, "BOOL", 3), 1),
    ("IW4", S7Address("I", 0, 4, "INT"), 2),
    ("ID8:UDINT", S7Address("I", 0, 8, "DWORD"), 4),
    ("Q1.0", S7Address("Q", 0, 1, "BOOL", 0), 1),
    ("QD8:REAL", S7Address("Q", 0, 8, "REAL"), 4),
    (" qb3 ", S7Address("Q", 0, 3, "BYTE"), 1),
])
def test_parse(text: str, expected: S7Address, width: int) -> None:
    addr = parse_address(text)
    assert addr == expected
    assert addr.width == width
    assert parse_address(str(addr)) == addr      # the canonical form parses back


@pytest.mark.parametrize("text, canonical", [
    ("db10.dbw6:int", "DB10.DBW6"), ("DB10.DBD8:REAL", "DB10.DBD8:REAL"),
    ("MX20.1", "M20.1"), ("ID8:UDINT", "ID8:DWORD"), ("q1.0:bool", "Q1.0"),
])
def test_canonical_notation(text: str, canonical: str) -> None:
    assert str(parse_address(text)) == canonical


@pytest.mark.parametrize("text, message", [
    ("DB10.DBX4.8", "'DB10.DBX4.8': bit 8 is outside 0..7"),
    ("M3.9", "bit 9 is outside 0..7"),
    ("DB0.DBW2", "'DB0.DBW2': DB number 0 is outside 1..65535"),
    ("DB65536.DBB0", "DB number 65536 is outside 1..65535"),
    ("DB1.DBB65536", "byte offset 65536 with 1 byte(s) runs past byte 65535"),
    ("DB1.DBD65533", "byte offset 65533 with 4 byte(s) runs past byte 65535"),
    ("MW65535", "runs past byte 65535"),
    ("T5", "the area must be DB, M, I or Q"),
    ("hr:100", "the area must be DB, M, I or Q"),
    ("E0.1", "English mnemonics I and Q"),
    ("AW4", "English mnemonics I and Q"),
    ("DB10", "after DB<n> comes .DBX, .DBB, .DBW or .DBD"),
    ("DB10.DBQ4", "after DB<n> comes .DBX, .DBB, .DBW or .DBD"),
    ("DBW4", "DB needs its number"),
    ("MQ4", "the size letter must be X, B, W or D"),
    ("DB10.DBW6:REAL", "REAL does not fit a word (W); a word (W) takes INT or WORD"),
    ("DB10.DBB6:INT", "INT does not fit a byte (B)"),
    ("MD40:INT", "a double word (D) takes DINT, DWORD or REAL"),
    ("DB1.DBX2.1:INT", "INT does not fit a bit; a bit takes BOOL"),
    ("MW4:FLOAT", "unknown type 'FLOAT'; expected one of BOOL, BYTE"),
    ("DB10.DBX4", "a bit address needs .<bit> after the byte, e.g. 'DB10.DBX4.0'"),
    ("M20", "e.g. 'M20.0'"),
    ("MB20.1", ".1 picks a bit, but a byte (B) address has none"),
    ("DB1.DBW2.1", "a word (W) address has none"),
    ("", "not an S7 address"),
])
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_address(text)
    assert message in str(err.value)


def test_a_malformed_address_shows_the_expected_forms() -> None:
    with pytest.raises(ValueError, match=r"expected DB<n>\.DBX<byte>\.<bit>.*'MD40:REAL'"):
        parse_address("DB10,W6")


def test_writable_areas() -> None:
    assert [parse_address(t).writable for t in ("DB1.DBW0", "MW0", "QW0", "IW0")] == [
        True, True, True, False]


def test_area_codes_are_the_protocol_areas() -> None:
    # the codec carries the numbers so it needs no snap7; they must be snap7's Area values
    assert {k: Area(v).name for k, v in AREA_CODES.items()} == {
        "I": "PE", "Q": "PA", "M": "MK", "DB": "DB"}


def test_known_layouts() -> None:
    # 3.5 is 0x40600000; S7 is big-endian throughout (no word swap as on Modbus)
    assert encode(3.5, parse_address("DB1.DBD0:REAL")) == bytes([0x40, 0x60, 0, 0])
    assert encode(-1, parse_address("MW0")) == b"\xff\xff"
    assert encode(65535, parse_address("MW0:WORD")) == b"\xff\xff"
    assert encode(65536, parse_address("MD0:DWORD")) == b"\x00\x01\x00\x00"
    assert decode(b"\x00\xff\xff", 1, parse_address("MW0")) == -1
    assert decode(b"\x00\xff\xff", 1, parse_address("MW0:WORD")) == 65535
    assert decode(b"\x80", 0, parse_address("MB0:SINT")) == -128
    assert [decode(b"\x00\x28", 1, parse_address(f"M0.{b}")) for b in range(8)] == [
        False, False, False, True, False, True, False, False]


_INT_TYPES = {"BYTE": ("MB0", util.set_byte, 0, 0xFF),
              "SINT": ("MB0:SINT", util.set_sint, -0x80, 0x7F),
              "INT": ("MW0", util.set_int, -0x8000, 0x7FFF),
              "WORD": ("MW0:WORD", util.set_word, 0, 0xFFFF),
              "DINT": ("MD0", util.set_dint, -2**31, 2**31 - 1),
              "DWORD": ("MD0:DWORD", util.set_dword, 0, 2**32 - 1)}


@given(st.sampled_from(sorted(_INT_TYPES)), st.integers(-2**32, 2**33))
def test_integer_round_trip_and_range(dtype: str, value: int) -> None:
    text, setter, lo, hi = _INT_TYPES[dtype]
    addr = parse_address(text)
    if lo <= value <= hi:
        raw = encode(value, addr)
        ref = bytearray(addr.width)
        setter(ref, 0, value)
        assert raw == bytes(ref)                       # the library packs the same bytes
        assert decode(b"\x00" + raw, 1, addr) == value
    else:
        with pytest.raises(ValueError, match=f"does not fit {dtype}"):
            encode(value, addr)


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_real_round_trip(value: float) -> None:
    addr = parse_address("DB3.DBD4:REAL")
    raw = encode(value, addr)
    ref = bytearray(4)
    util.set_real(ref, 0, value)
    assert raw == bytes(ref)
    assert decode(raw, 0, addr) == value
    assert util.get_real(bytearray(raw), 0) == value


@given(st.integers(0, 255), st.integers(0, 7))
def test_bit_decode_agrees_with_the_library(byte: int, bit: int) -> None:
    addr = parse_address(f"DB1.DBX7.{bit}")
    assert decode(bytes([byte]), 0, addr) is util.get_bool(bytearray([byte]), 0, bit)
    assert encode(util.get_bool(bytearray([byte]), 0, bit), addr) == bytes(
        [(byte >> bit) & 1])


@pytest.mark.parametrize("text, value, message", [
    ("MD0:REAL", float("nan"), "cannot be written"),
    ("MD0:REAL", float("inf"), "cannot be written"),
    ("MD0:REAL", 1e39, "does not fit REAL"),
    ("MW0", 1.5, "not a whole number for INT"),
    ("MW0", 32768, "does not fit INT (-32768..32767)"),
    ("MW0:WORD", -1, "does not fit WORD (0..65535)"),
    ("MB0", 256, "does not fit BYTE"),
    ("M0.0", 2, "not a bool"),
    ("M0.0", 0.5, "not a bool"),
    ("MW0", True, "is a bool; MW0 holds INT"),
])
def test_encode_refuses_what_does_not_fit(text: str, value: float, message: str) -> None:
    with pytest.raises(ValueError) as err:
        encode(value, parse_address(text))
    assert message in str(err.value)


def test_bool_encodes_as_one_bit_value() -> None:
    addr = parse_address("Q1.5")
    assert [encode(v, addr) for v in (True, False, 1, 0, 1.0)] == [
        b"\x01", b"\x00", b"\x01", b"\x00", b"\x01"]


@given(st.integers(-0x8000, 0x7FFF))
def test_scaling_round_trip_int(raw: int) -> None:
    addr, scaling = parse_address("DB2.DBW0"), Scaling(scale=0.01, offset=-5.0)
    eng = scaling.to_eng(raw)
    assert encode(eng, addr, scaling) == struct.pack(">h", raw)
    assert decoder(addr, scaling)(struct.pack(">h", raw), 0) == pytest.approx(eng)


def test_scaled_value_out_of_range_is_refused() -> None:
    addr, scaling = parse_address("DB2.DBW0"), Scaling(scale=0.01)
    assert encode(327.67, addr, scaling) == b"\x7f\xff"
    with pytest.raises(ValueError, match="does not fit INT"):
        encode(327.68, addr, scaling)


def test_scaling_applies_to_every_numeric_type_and_never_to_bits() -> None:
    s = Scaling(scale=2.0, offset=1.0)
    assert decode(b"\x03", 0, parse_address("MB0"), s) == 7.0
    assert decode(struct.pack(">f", 1.5), 0, parse_address("MD0:REAL"), s) == 4.0
    assert decode(b"\xff", 0, parse_address("M0.0"), s) is True
    assert encode(True, parse_address("M0.0"), s) == b"\x01"


@pytest.mark.parametrize("text", ["DB١.DBW0", "MW٢٠", "DB1.DBX٤.3"])
def test_only_ascii_digits_make_an_address(text: str) -> None:
    """A digit from another script is no DB number or offset a PLC programmer wrote."""
    with pytest.raises(ValueError, match="not an S7 address|expected"):
        parse_address(text)
