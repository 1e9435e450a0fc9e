"""The simulated PLCs' register maps as the PLC programmer reads them: every point with
its address in its PLC's protocol's notation, the tag the config gives it, type, scale,
range, meaning and who writes it (``fixedsite hil --list-tags`` and its CSV)."""

from __future__ import annotations

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.servers import served
from fixedsite.hil.site import HilSite

CSV_COLUMNS = ["system", "plc", "address", "modbus", "tag", "type", "scale", "unit",
               "range_min", "range_max", "meaning", "access"]


def map_rows(cfg: SiteConfig) -> list[dict[str, str]]:
    """The simulated PLCs' points, one row each, equipment named as the config names it
    (the ``modbus`` column: the 5-digit reference, for a PLC served over Modbus)."""
    rows = []
    for u in HilSite(cfg, ScaledClock(1.0)).units:    # built, never started: no socket
        notation = served(cfg.plcs[u.cfg.plc].protocol).notation
        for tag, p in u.points():
            address, ref, dtype = notation(p, tag)
            rows.append({"system": u.system, "plc": u.cfg.plc, "address": address,
                         "modbus": ref, "tag": tag, "type": dtype,
                         "scale": f"{p.scale:g}", "unit": p.unit,
                         "range_min": "" if p.range is None else f"{p.range[0]:g}",
                         "range_max": "" if p.range is None else f"{p.range[1]:g}",
                         "meaning": p.meaning, "access": "R/W" if p.writable else "R"})
    return rows
