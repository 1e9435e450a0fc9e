"""A ventilation system's block of the plain-text status (the registry's ``status``)."""

from __future__ import annotations

from typing import Any

from fixedsite.sequences.ventilation.config import VentilationSystem
from fixedsite.status import fmt


def status(ctl: Any, sname: str, system: VentilationSystem) -> list[str]:
    s, c = ctl.store, system.control
    flow = s.value(f"{sname}.{c.shaft_sensor}.airflow")
    pct = None if flow is None else 100 * flow / c.nominal_airflow_m3s
    lines = [f"  {system.name or sname}: shaft {fmt(flow, ' m3/s')} ({fmt(pct, ' %', 0)} of "
             f"nominal)  {s.value(f'{sname}.station.status', '')}"]
    for ename, eq in system.equipment.items():
        if eq.type == "plc_status" and s.value(f"{sname}.{ename}.fallback"):
            lines.append(f"  !! {ename}: PLC holds the fans as they are (controller "
                         "heartbeat lost)")
    for f in c.fans:
        code = s.value(f"{sname}.{f}.fault_code")
        lines.append(f"    {f:<6} {'running' if s.value(f'{sname}.{f}.running') else 'stopped':<8}"
                     f" speed {fmt(s.value(f'{sname}.{f}.speed'), ' %', 0):>6}  air "
                     f"{fmt(s.value(f'{sname}.{f}.airflow'), ' m3/s')}"
                     f"{f'  TRIP {code}' if code else ''}")
    for face, spec in c.faces.items():
        running = [a for a in spec.fans if s.value(f"{sname}.{a}.running")]
        tag = s.get(f"{sname}.{face}.power_lockout")      # (the face's control publishes it)
        lock = tag is not None and tag.value
        lines.append(f"    {face:<6} aux {', '.join(running) or 'NONE running'}"
                     f"{'  POWER LOCKOUT' if lock else ''}")
    return lines
