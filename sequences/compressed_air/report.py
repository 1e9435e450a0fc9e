"""Compressed air's lines of the monthly report (``SystemSpec.report``): per compressor
its loaded hours, energy, air delivered and specific power, and the station's, with the
share of time the pressure was in its band, from the hourly records the lead/lag kept
as historian events (kind "compressed_air"). Run hours, starts and energy by tariff
period are the report's own rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fixedsite.config import SiteConfig
from fixedsite.sequences.compressed_air.config import CompressedAirSystem


def lines(cfg: SiteConfig, sname: str, system: CompressedAirSystem,
          events: Sequence[dict[str, Any]], t0: float, t1: float) -> list[str]:
    hours = [e for e in events if e["kind"] == "compressed_air"
             and e["source"] == f"{sname}.control" and isinstance(e["data"], dict)]
    if not hours:
        return ["compressed air: no hourly records this month"]
    sums: dict[str, list[float]] = {}
    band = [0.0, 0.0]
    for e in hours:
        for m, d in (e["data"].get("machines") or {}).items():
            acc = sums.setdefault(m, [0.0, 0.0, 0.0])
            acc[0] += float(d.get("kwh", 0.0))
            acc[1] += float(d.get("m3", 0.0))
            acc[2] += float(d.get("loaded_h", 0.0))
        band[0] += float(e["data"].get("in_band_s", 0.0))
        band[1] += float(e["data"].get("seen_s", 0.0))

    def sp(kwh: float, m3: float) -> str:
        return f"{kwh / m3 * 60:.2f} kW/(m3/min)" if m3 > 0 else "-"
    out = [f"compressed air ({len(hours)} h recorded): pressure in band "
           f"{system.control.band_mpa[0]:.2f}-{system.control.band_mpa[1]:.2f} MPa "
           f"{100 * band[0] / band[1]:.1f} % of the time" if band[1] else
           f"compressed air ({len(hours)} h recorded)"]
    for m in system.control.compressors:
        kwh, m3, loaded = sums.get(m, [0.0, 0.0, 0.0])
        out.append(f"  {m}: loaded {loaded:.1f} h, {kwh:.0f} kWh, {m3:.0f} m3 of air, "
                   f"specific power {sp(kwh, m3)}")
    kwh, m3 = sum(a[0] for a in sums.values()), sum(a[1] for a in sums.values())
    out.append(f"  station: {kwh:.0f} kWh, {m3:.0f} m3 of air, specific power {sp(kwh, m3)}")
    return out
