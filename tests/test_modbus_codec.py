"""The pure codec: address notation, word order, types, bits, scaling."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixedsite.drivers.modbus_codec import (
    Address,
    Scaling,
    decode_registers,
    decoder,
    encode_registers,
    parse_address,
)


@pytest.mark.parametrize("text, expected", [
    ("hr:100", Address("hr", 100, "uint16")),
    ("ir:4:float32", Address("ir", 4, "float32")),
    ("HR:7.3", Address("hr", 7, "bool", 3)),
    ("coil:2", Address("coil", 2, "bool")),
    ("di:65535", Address("di", 65535, "bool")),
    ("ir:30:int16", Address("ir", 30, "int16")),
])
def test_parse(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("xr:1", "not a Modbus address"),
    ("hr:70000", "outside 0..65535"),
    ("hr:1.16", "bit 16"),
    ("coil:3.1", "single bits"),
    ("hr:1:float64", "unknown type"),
    ("hr:65535:float32", "runs past"),
    ("hr:4.2:int16", "register bit is a bool"),
])
def test_parse_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_address(text)


def test_known_float_layouts() -> None:
    # 3.5 is 0x40600000: big word order sends the high word first
    assert encode_registers(3.5, "float32", "big") == [0x4060, 0x0000]
    assert encode_registers(3.5, "float32", "little") == [0x0000, 0x4060]
    assert decode_registers([0x0000, 0x4060], "float32", "little") == 3.5
    assert decode_registers([0xFFFF], "int16", "big") == -1
    assert decode_registers([0x0001, 0x0000], "uint32", "big") == 65536


@given(st.sampled_from(["int16", "uint16", "int32", "uint32"]),
       st.sampled_from(["big", "little"]), st.integers(-2**31, 2**32 - 1))
def test_integer_round_trip(dtype: str, order: str, value: int) -> None:
    lo, hi = {"int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1),
              "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1)}[dtype]
    if lo <= value <= hi:
        assert decode_registers(encode_registers(value, dtype, order), dtype, order) == value
    else:
        with pytest.raises(ValueError, match="does not fit"):
            encode_registers(value, dtype, order)


@given(st.floats(allow_nan=False, allow_infinity=False, width=32),
       st.sampled_from(["big", "little"]))
def test_float_round_trip(value: float, order: str) -> None:
    words = encode_registers(value, "float32", order)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_registers(words, "float32", order) == value


def test_float_cannot_be_nan() -> None:
    with pytest.raises(ValueError):
        encode_registers(float("nan"), "float32", "big")


def test_fraction_to_integer_register_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        encode_registers(1.5, "uint16", "big")


@given(st.integers(0, 65535), st.floats(0.001, 1000), st.floats(-100, 100))
def test_scaling_round_trip(raw: int, scale: float, offset: float) -> None:
    s = Scaling(scale, offset)
    assert s.to_raw(s.to_eng(raw)) == pytest.approx(raw, abs=1e-6)


def test_struct_independent_check_of_int32_word_order() -> None:
    raw = struct.pack(">i", -123456)
    hi, lo = struct.unpack(">HH", raw)
    assert encode_registers(-123456, "int32", "big") == [hi, lo]
    assert encode_registers(-123456, "int32", "little") == [lo, hi]


@given(st.sampled_from(["int16", "uint16", "int32", "uint32", "float32"]),
       st.sampled_from(["big", "little"]),
       st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2),
       st.sampled_from([(1.0, 0.0), (0.1, -5.0)]))
def test_fast_decoder_agrees_with_the_reference(dtype: str, order: str, regs: list[int],
                                                lin: tuple[float, float]) -> None:
    addr = parse_address(f"hr:0:{dtype}")
    scaling = Scaling(*lin)
    fast = decoder(addr, scaling, order)(regs, 0)
    ref = scaling.to_eng(decode_registers(regs[:addr.width], dtype, order))
    if isinstance(ref, float) and ref != ref:       # NaN patterns in float32
        assert fast != fast
    else:
        assert fast == ref


def test_bit_decoder() -> None:
    assert decoder(parse_address("hr:0.3"), Scaling(), "big")([0b1000], 0) is True
    assert decoder(parse_address("hr:0.2"), Scaling(), "big")([0b1000], 0) is False
    assert decoder(parse_address("coil:0"), Scaling(), "big")([True], 0) is True
