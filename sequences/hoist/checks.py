"""The config rules of a hoist across its entries (the registry's ``check``,
``check_site`` and ``published`` for kind "hoist")."""

from __future__ import annotations

from fixedsite.config import SiteConfig
from fixedsite.sequences.hoist.config import (
    HoistSystem,
    LoadingEq,
    RopeMonitorEq,
    SurfaceBinEq,
    WinderEq,
)

Problems = list[tuple[str, str]]
CYCLE_KINDS = {"state": "text", "status": "text", "on": "bool", "inflight_t": "number",
               "last_load_t": "number", "last_error_pct": "number", "payload_t": "number",
               "peak_current": "number", "rms_current": "number", "speed_dev": "number",
               "tonnage_hour": "number", "tonnage_shift": "number", "refusals": "number",
               "refusal": "text", "rope_spread_pct": "number", "samples": "number"}


def check(cfg: SiteConfig, sname: str, system: HoistSystem) -> Problems:
    problems: Problems = []
    c, eqs, top = system.control, system.equipment, f"systems.{sname}"
    for key, cls, word in (("winder", WinderEq, "winder"), ("loading", LoadingEq,
                                                             "loading station"),
                           ("surface_bin", SurfaceBinEq, "surface bin"),
                           ("rope_monitor", RopeMonitorEq, "rope monitor")):
        n = getattr(c, key)
        if not isinstance(eqs.get(n), cls):
            problems.append((f"{top}.control.{key}", f"{n!r} is not a {word} of "
                             f"{top}.equipment"))
    w = eqs.get(c.winder)
    if isinstance(w, WinderEq):
        if w.max_speed_mps > 3.0 and w.creep_mps > 2.0:
            problems.append((f"{top}.equipment.{c.winder}.creep_mps", "a hoist faster than "
                             f"3 m/s reaches its end at 2 m/s at most; got {w.creep_mps:g}"))
        if c.target_t > w.payload_t:
            problems.append((f"{top}.control.target_t", f"expected at most the rated payload "
                             f"{w.payload_t:g} t, got {c.target_t:g}"))
        plcs = {e.plc for e in eqs.values()}
        if len(plcs) > 1:
            problems.append((f"{top}.equipment", "a hoist's equipment is on its own PLC; "
                             f"got {', '.join(sorted(plcs))}"))
    return problems


def check_site(cfg: SiteConfig) -> Problems:
    problems: Problems = []
    seen: dict[str, str] = {}
    for i, h in enumerate(getattr(cfg.hil, "hoist", None) or []):
        system = cfg.systems.get(h.system)
        if not isinstance(system, HoistSystem):
            continue
        w = system.equipment.get(system.control.winder)
        if isinstance(w, WinderEq) and w.plc != h.plc:
            problems.append((f"hil.hoist.{i}.plc", f"expected the winder's PLC {w.plc!r}, "
                             f"got {h.plc!r}"))
        if h.plc in seen:
            problems.append((f"hil.hoist.{i}.plc", f"PLC {h.plc!r} is already hoist "
                             f"{seen[h.plc]!r}'s: each hoist has its own"))
        seen[h.plc] = h.system
    return problems


def published(sname: str, system: HoistSystem) -> dict[str, str]:
    return {f"{sname}.cycle.{sig}": k for sig, k in CYCLE_KINDS.items()}
