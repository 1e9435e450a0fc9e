"""The plain-text live status ``fixedsite run`` prints: the PLC links, then one block per
system as its plug-in writes it (fixedsite/systems.py, ``status``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fixedsite import systems

if TYPE_CHECKING:                      # the systems' blocks import fmt from here
    from fixedsite.runtime import Controller


def fmt(store_tag_value: object, unit: str = "", nd: int = 1) -> str:
    if store_tag_value is None:
        return "--"
    if isinstance(store_tag_value, float):
        return f"{store_tag_value:.{nd}f}{unit}"
    return f"{store_tag_value}{unit}"


def render(ctl: Controller) -> str:
    sim = time.strftime("%Y-%m-%d %H:%M", time.localtime(ctl.clock.now()))
    lines = [f"fixedsite  {ctl.cfg.site.name}   sim {sim}  x{ctl.clock.scale:g}"]
    for name, d in ctl.drivers.items():
        state = "online" if d.online else f"OFFLINE ({d.error_tag.value or 'connecting'})"
        lines.append(f"  PLC {name:<8} {state}  requests {d.requests}")
    for sname, system in ctl.cfg.systems.items():
        spec = systems.get(system.kind)
        block = systems.optional(spec, spec.status, "status lines")
        if block is None:
            continue
        try:              # a system's status that raises must not end the run verb
            lines += block(ctl, sname, system)
        except Exception as e:
            lines.append(f"  {sname}: status not shown ({type(e).__name__}: {e})")
    return "\n".join(lines)
