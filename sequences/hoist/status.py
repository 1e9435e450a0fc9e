"""A hoist's block of the plain-text status (the registry's ``status``)."""

from __future__ import annotations

from typing import Any

from fixedsite.sequences.hoist.config import HoistSystem
from fixedsite.status import fmt


def status(ctl: Any, sname: str, system: HoistSystem) -> list[str]:
    s, c = ctl.store, system.control
    w, cyc = f"{sname}.{c.winder}", f"{sname}.cycle"
    return [f"  {system.name or sname}: {s.value(f'{cyc}.state', '?')}  "
            f"x {fmt(s.value(f'{w}.position'), ' m', 1)}  v {fmt(s.value(f'{w}.speed'), ' m/s', 2)}"
            f"  skip {fmt(s.value(f'{w}.skip_load'), ' t', 1)}  "
            f"{fmt(s.value(f'{cyc}.tonnage_hour'), ' t/h', 0)}  "
            f"{s.value(f'{cyc}.status', '')}"]
