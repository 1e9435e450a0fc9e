"""A pump room's block of the plain-text status (the registry's ``status``)."""

from __future__ import annotations

from typing import Any

from fixedsite.sequences.drainage.config import DrainageSystem
from fixedsite.status import fmt
from fixedsite.tags import Quality


def status(ctl: Any, sname: str, system: DrainageSystem) -> list[str]:
    s, lines = ctl.store, []
    lvl = s[f"{sname}.{system.control.sump}.level"]
    q = "" if lvl.quality is Quality.GOOD else f" [{lvl.quality.name.lower()}:{lvl.reason}]"
    fill = s.value(f"{sname}.{system.control.sump}.fill")
    band = system.control.normal_band_m
    lines.append(f"  {system.name or sname}: sump {fmt(lvl.value, ' m', 2)}{q} "
                 f"(band {band[0]}-{band[1]} m)  fill {fmt(fill, ' %')}  "
                 f"{s.value(f'{sname}.control.status', '')}")
    if system.hydrology is not None:
        lines.append(f"    hydrology: {s.value(f'{sname}.hydrology.status', '?')}"
                     f"{'  !! data lost' if s.value(f'{sname}.hydrology.data_lost') else ''}")
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
        lines.append(f"    {p:<6} {seq.state:<13} {seq.mode:<13} flow {fmt(flow, '', 0):>4}"
                     f" m3/h  I {fmt(cur, ' A')}  {fmt(hours, ' h')}{extra}")
    return lines
