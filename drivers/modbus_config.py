"""Modbus TCP as a protocol of the registry: its ``[plcs.X]`` table and what the core
needs to know of its addresses, without importing pymodbus (``check-config`` runs on
the config alone; the driver is imported when a controller makes one)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat

from fixedsite.drivers.modbus_codec import Address, parse_address
from fixedsite.drivers.protocol import ProtocolSpec
from fixedsite.schema import Model, SignalMap


class ModbusPlc(Model):
    protocol: Literal["modbus"]
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=255)
    word_order: Literal["big", "little"] = "big"
    poll_period_s: PositiveFloat = 1.0
    timeout_s: PositiveFloat = 1.0
    max_gap: int = Field(default=32, ge=0, le=124)
    heartbeat: str | None = None
    heartbeat_period_s: PositiveFloat = 1.0
    backoff_max_s: PositiveFloat = 5.0


def _heartbeat_problem(addr: Address, text: str) -> str | None:
    if addr.table != "hr" or addr.width != 1 or addr.bit is not None:
        return (f"{text!r}: the heartbeat is a 16-bit counter the controller writes with "
                "write_register; expected a holding register such as 'hr:0'")
    return None


def _signal_problems(m: SignalMap) -> list[tuple[str, str]]:
    return []


SPEC = ProtocolSpec(
    name="modbus", config=ModbusPlc, parse_address=parse_address,
    driver="fixedsite.drivers.modbus:from_config",
    heartbeat_problem=_heartbeat_problem,
    endpoint=lambda c: (c.host, c.port, c.device_id),
    signal_problems=_signal_problems, read_only_hint="expected hr: or coil:",
    noisy_loggers=("pymodbus",))
