"""Hoisting's lines of the monthly report (``SystemSpec.report``): trips made, tonnage,
the heaviest and mean payload, peak currents, and the trips cut by a protection, from
the trip records the cycle kept as historian events (kind "hoist"). Run hours, starts
and energy by tariff period are the report's own rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fixedsite.config import SiteConfig
from fixedsite.sequences.hoist.config import HoistSystem


def lines(cfg: SiteConfig, sname: str, system: HoistSystem,
          events: Sequence[dict[str, Any]], t0: float, t1: float) -> list[str]:
    mine = [e for e in events if e["kind"] == "hoist" and e["source"] == f"{sname}.cycle"
            and isinstance(e["data"], dict)]
    done = [e["data"] for e in mine if e["text"] == "trip"]
    cut = [e for e in mine if e["text"] == "trip cut"]
    if not mine:
        return [f"{system.name or sname}: no trips this month"]
    tonnes = sum(float(d.get("payload_t", 0.0)) for d in done)
    hours = max((t1 - t0) / 3600, 1e-9)
    out = [f"{system.name or sname}: {len(done)} trips, {tonnes:.0f} t hoisted "
           f"({tonnes / hours:.1f} t/h over the month), {len(cut)} cut by a protection"]
    if done:
        pay = [float(d.get("payload_t", 0.0)) for d in done]
        peak = max(float(d.get("peak_a", 0.0)) for d in done)
        dev = max(float(d.get("speed_dev", 0.0)) for d in done)
        out.append(f"  payload mean {sum(pay) / len(pay):.2f} t, heaviest {max(pay):.2f} t; "
                   f"peak current {peak:.0f} A; largest speed deviation {dev:.2f} m/s")
    return out
