"""Power supply as a plug-in of the system registry (``fixedsite/systems.py``).

Built into a controller: the scheme's settings written to every relay and verified
(``scheme``/``settings``), blocking-link supervision with the fallback group (``links``),
fault analysis after a trip (``soe``, ``locate``, ``records``), restoration and transfer
(``restore``), dispatch through the five-prevention interlocks (``interlocks``,
``ticket``), power quality and early warnings (``quality``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixedsite.sequences.power.config import HilPower, PowerSystem
from fixedsite.sequences.power.equipment import TYPES
from fixedsite.systems import BuildContext, SystemSpec


@dataclass
class Power:
    name: str
    config: PowerSystem
    parts: dict[str, Any]


def build(ctx: BuildContext, sname: str, system: PowerSystem) -> Power:
    return Power(sname, system, {})


SPEC = SystemSpec(
    kind="power", config=PowerSystem, equipment=TYPES,
    build="fixedsite.sequences.power.system:build",
    hil=HilPower, hil_kind="fixedsite.hil.power.unit:HIL")
