"""A power system's equipment types and their signals, from the relay and substation
profiles (``profile.py``): every holding register is a signal the controller writes."""

from __future__ import annotations

from fixedsite.equipment import SignalDef, flag, number
from fixedsite.sequences.power import profile

_REQUIRED = {"breaker_cmd", "breaker_closed", "breaker_open", "group_sp", "group_active",
             "trip_code", "soe_seq", "ia", "uab"}


def _table(points: dict[str, profile.Point], required: set[str]) -> dict[str, SignalDef]:
    out: dict[str, SignalDef] = {}
    for name, pt in points.items():
        writable = pt.table == "hr"
        desc = name.replace("_", " ")
        out[name] = (flag(desc, name in required, writable) if pt.dtype == "bool" else
                     number(pt.unit, desc, name in required, writable))
    return out


BREAKER: dict[str, SignalDef] = _table(profile.RELAY, _REQUIRED)
SUBSTATION: dict[str, SignalDef] = _table(profile.SUBSTATION, {"fire"})

TYPES: dict[str, dict[str, SignalDef]] = {"breaker": BREAKER, "substation": SUBSTATION}
