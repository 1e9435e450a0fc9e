"""Which server puts an emulated PLC's image on the wire, by the PLC's ``protocol``, and
how that protocol writes a point's address for the PLC programmer.

Every emulated PLC keeps the same four-list image (coils, discrete inputs, holding and
input registers); this is the one place that picks a server for it, so a plant never
says which protocol its PLC speaks (the config does: ``[plcs.X] protocol``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fixedsite.hil.unit import HilKindError, Point


@dataclass(frozen=True)
class Served:
    """One protocol as the HIL serves it."""

    # (image, the [plcs.X] entry, the unit's register map) -> a server with start, stop,
    # pull, push and running
    serve: Callable[[Any, Any, list[tuple[str, str]]], Any]
    # (point, its tag) -> (address in the protocol's notation, a second reference the
    # programmer's tools show, or "", the type as the protocol names it)
    notation: Callable[[Point, str], tuple[str, str, str]]
    # the [plcs.X] entry -> where it is, for the register map's heading
    where: Callable[[Any], str]


def _modbus_server(image: Any, p: Any, register_map: list[tuple[str, str]]) -> Any:
    from fixedsite.hil.modbus_server import ImageServer

    return ImageServer(image, p.host, p.port, p.device_id)


def _s7_server(image: Any, p: Any, register_map: list[tuple[str, str]]) -> Any:
    from fixedsite.hil.s7_image import S7ImageServer  # the image laid out in S7 memory

    return S7ImageServer(image, p.host, p.port, register_map)


_MODBUS_BASE = {"coil": 1, "di": 10001, "ir": 30001, "hr": 40001}


def _modbus_notation(p: Point, tag: str) -> tuple[str, str, str]:
    """The address as configured, and the classic 5-digit reference a PLC programmer's
    tools show (hr:10 is 40011)."""
    table, _, rest = p.address.partition(":")
    offset, _, bit = rest.split(":")[0].partition(".")
    ref = f"{_MODBUS_BASE[table] + int(offset):05d}"
    return p.address, f"{ref} bit {bit}" if bit else ref, p.type


def _s7_notation(p: Point, tag: str) -> tuple[str, str, str]:
    from fixedsite.hil.s7_image import siemens
    from fixedsite.hil.s7_server import field

    address = siemens(p.address)
    return address, "", field(tag, address).type


SERVED: dict[str, Served] = {
    "modbus": Served(_modbus_server, _modbus_notation,
                     lambda p: f"device {p.device_id}"),
    "s7": Served(_s7_server, _s7_notation, lambda p: f"S7, rack {p.rack} slot {p.slot}"),
}


def served(protocol: str) -> Served:
    try:
        return SERVED[protocol]
    except KeyError:
        raise HilKindError(f"the HIL cannot serve a PLC over {protocol!r} (it serves: "
                           f"{', '.join(SERVED)})") from None
