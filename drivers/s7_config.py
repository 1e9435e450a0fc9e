"""Siemens S7 (ISO-on-TCP, PUT/GET) as a protocol of the registry: its ``[plcs.X]`` table
and what the core needs to know of its addresses, without importing snap7."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat

from fixedsite.drivers.protocol import ProtocolSpec
from fixedsite.drivers.s7_codec import S7Address, parse_address
from fixedsite.schema import Model, SignalMap


class S7Plc(Model):
    protocol: Literal["s7"]
    host: str = "127.0.0.1"
    port: int = Field(default=102, ge=1, le=65535)
    rack: int = Field(default=0, ge=0, le=7)
    slot: int = Field(default=1, ge=0, le=31)     # S7-300: 2; S7-1200/1500: 1
    poll_period_s: PositiveFloat = 1.0
    timeout_s: PositiveFloat = 1.0                # each call's own bound (snap7's is 5 s)
    max_gap: int = Field(default=64, ge=0, le=462)  # bytes read through between two points
    heartbeat: str | None = None
    heartbeat_period_s: PositiveFloat = 1.0
    backoff_max_s: PositiveFloat = 5.0


def _heartbeat_problem(addr: S7Address, text: str) -> str | None:
    if not addr.writable or addr.dtype not in ("INT", "WORD"):
        return (f"{text!r}: the heartbeat is a 16-bit counter the controller writes; "
                "expected a word in a DB or M, such as 'DB1.DBW0' or 'MW10'")
    return None


def _signal_problems(m: SignalMap) -> list[tuple[str, str]]:
    if m.word_order is not None:
        return [("word_order", "S7 stores every value big-endian; word_order is for Modbus "
                 "PLCs only")]
    return []


SPEC = ProtocolSpec(
    name="s7", config=S7Plc, parse_address=parse_address,
    driver="fixedsite.drivers.s7:from_config",
    heartbeat_problem=_heartbeat_problem,
    endpoint=lambda c: (c.host, c.port, c.rack, c.slot),
    signal_problems=_signal_problems, read_only_hint="expected a DB, M or Q address")
