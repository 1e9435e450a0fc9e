"""A power system's block of the plain-text status (the registry's ``status``): what is
open or tripped, the last fault and its verdict, restoration, links not healthy, fires."""

from __future__ import annotations

from typing import Any

from fixedsite.sequences.power.config import BreakerEq, PowerSystem, SubstationEq


def status(ctl: Any, sname: str, system: PowerSystem) -> list[str]:
    s = ctl.store

    def v(path: str) -> Any:
        return s.value(f"{sname}.{path}") if f"{sname}.{path}" in s else None
    states: dict[str, list[str]] = {}
    for b, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            states.setdefault(str(v(f"{b}.state") or "unknown"), []).append(b)
    counts = ", ".join(f"{len(bs)} {st}" for st, bs in sorted(states.items()))
    lines = [f"  {system.name or sname}: breakers {counts}"]
    for st in ("tripped", "open", "unknown", "moving"):
        if states.get(st):
            lines.append(f"    {st}: {', '.join(states[st])}")
    if v("fault.state") not in (None, "none"):
        lines.append(f"    last fault: {v('fault.at') or ''} {v('fault.summary') or ''}")
    if v("restore.state") not in (None, "idle"):
        lines.append(f"    restoration: {v('restore.state')}: {v('restore.status') or ''}")
    bad = [lk for lk in system.network.links if v(f"{lk}.state") in ("lost", "slow")]
    if bad:
        lines.append(f"  !! blocking links not healthy (fallback group): {', '.join(bad)}")
    for n, eq in system.equipment.items():
        if isinstance(eq, SubstationEq) and v(f"{n}.fire"):
            lines.append(f"  !! FIRE: {eq.name or n}")
    return lines
