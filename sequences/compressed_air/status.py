"""A compressor station's block of the plain-text status (the registry's ``status``)."""

from __future__ import annotations

from typing import Any

from fixedsite.sequences.compressed_air.config import CompressedAirSystem
from fixedsite.status import fmt


def status(ctl: Any, sname: str, system: CompressedAirSystem) -> list[str]:
    s, c = ctl.store, system.control
    st = f"{sname}.{c.station}"
    lines = [f"  {system.name or sname}: {fmt(s.value(f'{st}.pressure'), ' MPa', 3)} "
             f"(band {c.band_mpa[0]:.2f}-{c.band_mpa[1]:.2f})  delivery "
             f"{fmt(s.value(f'{st}.air_flow'), ' m3/min', 0)}  "
             f"{fmt(s.value(f'{sname}.control.specific_power'), ' kW/(m3/min)', 2)}  "
             f"{s.value(f'{sname}.control.status', '')}"]
    if s.value(f"{st}.fallback"):
        lines.append("  !! PLC runs the compressors on its own pressure switches "
                     "(controller heartbeat lost)")
    if s.value(f"{st}.supply_ok") is False:
        lines.append("  !! upstream supply lost: compressors stopped, not tripped")
    if c.cooling is not None:
        lines.append(f"    cooling: {s.value(f'{sname}.{c.cooling}.state', '?')}  "
                     f"{s.value(f'{sname}.{c.cooling}.status', '')}")
    for n in c.compressors:
        p = f"{sname}.{n}"
        why = s.value(f"{p}.fault_reason", "")
        lines.append(f"    {n:<6} {s.value(f'{p}.state', '?'):<10} "
                     f"{fmt(s.value(f'{p}.discharge_temp'), ' C', 0):>6}  "
                     f"{fmt(s.value(f'{p}.power'), ' kW', 0):>7}  "
                     f"{fmt(s.value(f'{p}.run_hours'), ' h', 0)}"
                     f"{'  (' + why + ')' if why else ''}")
    return lines
