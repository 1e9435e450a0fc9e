"""A plain-text live status, until the operator console exists: one block per system."""

from __future__ import annotations

import time

from fixedsite.runtime import Controller
from fixedsite.tags import Quality


def _fmt(store_tag_value: object, unit: str = "", nd: int = 1) -> str:
    if store_tag_value is None:
        return "--"
    if isinstance(store_tag_value, float):
        return f"{store_tag_value:.{nd}f}{unit}"
    return f"{store_tag_value}{unit}"


def render(ctl: Controller) -> str:
    s = ctl.store
    sim = time.strftime("%Y-%m-%d %H:%M", time.localtime(ctl.clock.now()))
    lines = [f"fixedsite  {ctl.cfg.site.name}   sim {sim}  x{ctl.clock.scale:g}"]
    for name, d in ctl.drivers.items():
        state = "online" if d.online else f"OFFLINE ({d.error_tag.value or 'connecting'})"
        lines.append(f"  PLC {name:<8} {state}  requests {d.requests}")
    for sname in ctl.cfg.systems:
        system = ctl.cfg.systems[sname]
        lvl = s[f"{sname}.{system.control.sump}.level"]
        q = "" if lvl.quality is Quality.GOOD else f" [{lvl.quality.name.lower()}:{lvl.reason}]"
        fill = s.value(f"{sname}.{system.control.sump}.fill")
        band = system.control.normal_band_m
        lines.append(f"  {system.name or sname}: sump {_fmt(lvl.value, ' m', 2)}{q} "
                     f"(band {band[0]}-{band[1]} m)  fill {_fmt(fill, ' %')}  "
                     f"{s.value(f'{sname}.control.status', '')}")
        for ename, eq in system.equipment.items():
            if eq.type == "plc_status" and s.value(f"{sname}.{ename}.fallback"):
                lines.append(f"  !! {ename}: PLC runs the pumps on its float switches "
                             "(controller heartbeat lost)")
        for p in system.control.pumps:
            seq = ctl.sequences[f"{sname}.{p}"]
            flow = s.value(f"{sname}.{p}.flow")
            cur = s.value(f"{sname}.{p}.current")
            hours = s.value(f"{sname}.{p}.run_hours")
            extra = f"  ({seq.fault_reason})" if seq.state == "fault" else ""
            lines.append(f"    {p:<6} {seq.state:<13} {seq.mode:<13} flow {_fmt(flow, '', 0):>4}"
                         f" m3/h  I {_fmt(cur, ' A')}  {_fmt(hours, ' h')}{extra}")
    return "\n".join(lines)
