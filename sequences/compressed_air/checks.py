"""The config rules of a compressed-air system across its entries (the registry's
``check``, ``check_site`` and ``published`` for kind "compressed_air")."""

from __future__ import annotations

from collections import Counter

from fixedsite.config import SiteConfig
from fixedsite.sequences.compressed_air.config import (
    CompressedAirSystem,
    CompressorEq,
    CoolingEq,
    StationEq,
    WaterPumpEq,
)

Problems = list[tuple[str, str]]

CONTROL_KINDS = {"status": "text", "lead": "text", "loaded": "number",
                 "expected_idle_s": "number", "specific_power": "number",
                 "demand": "number", "needed": "number",
                 "in_band_pct": "number"}
DERIVED_KINDS = {"compressor": {"state": "text", "fault_reason": "text",
                                "specific_power": "number"},
                 "cooling": {"state": "text", "proven": "bool", "duty_pump": "text",
                             "status": "text"}}


def check(cfg: SiteConfig, sname: str, system: CompressedAirSystem) -> Problems:
    problems: Problems = []
    c, eqs, top = system.control, system.equipment, f"systems.{sname}"
    station = eqs.get(c.station)
    if not isinstance(station, StationEq):
        problems.append((f"{top}.control.station", f"{c.station!r} is not a station of "
                         f"{top}.equipment"))
    cooling = eqs.get(c.cooling) if c.cooling else None
    if c.cooling is not None and not isinstance(cooling, CoolingEq):
        problems.append((f"{top}.control.cooling", f"{c.cooling!r} is not a cooling "
                         f"circuit of {top}.equipment"))
    for i, n in enumerate(c.compressors):
        e = eqs.get(n)
        if not isinstance(e, CompressorEq):
            problems.append((f"{top}.control.compressors.{i}", f"{n!r} is not a compressor "
                             f"of {top}.equipment"))
        elif e.water_cooled and c.cooling is None:
            problems.append((f"{top}.control.cooling", f"{n!r} is water-cooled: the "
                             "station needs its cooling circuit (control.cooling)"))
    for n in sorted(set(n for n, e in eqs.items() if isinstance(e, CompressorEq))
                    - set(c.compressors)):
        problems.append((f"{top}.control.compressors", f"compressor {n!r} is not in the "
                         "lead/lag list"))
    for n, k in Counter(c.compressors).items():
        if k > 1:
            problems.append((f"{top}.control.compressors", f"{n!r} is listed {k} times"))
    if isinstance(cooling, CoolingEq):
        for i, p in enumerate(cooling.pumps):
            if not isinstance(eqs.get(p), WaterPumpEq):
                problems.append((f"{top}.equipment.{c.cooling}.pumps.{i}", f"{p!r} is not "
                                 f"a water_pump of {top}.equipment"))
    plc = station.plc if isinstance(station, StationEq) else None
    for kind, cls in (("compressor", CompressorEq), ("water_pump", WaterPumpEq)):
        slots: dict[int, str] = {}
        for n, e in eqs.items():
            if not isinstance(e, cls):
                continue
            if plc is not None and e.plc != plc:
                problems.append((f"{top}.equipment.{n}.plc", f"expected the station's PLC "
                                 f"{plc!r}, got {e.plc!r}"))
            if e.slot in slots:
                problems.append((f"{top}.equipment.{n}.slot", f"{kind} slot {e.slot} is "
                                 f"already {slots[e.slot]!r}'s"))
            slots[e.slot] = n
    return problems


def check_site(cfg: SiteConfig) -> Problems:
    problems: Problems = []
    for i, h in enumerate(getattr(cfg.hil, "compressed_air", None) or []):
        system = cfg.systems.get(h.system)
        if not isinstance(system, CompressedAirSystem):
            continue                           # the core's check names it
        station = system.equipment.get(system.control.station)
        if isinstance(station, StationEq) and station.plc != h.plc:
            problems.append((f"hil.compressed_air.{i}.plc", f"expected the station's PLC "
                             f"{station.plc!r}, got {h.plc!r}"))
        n = sum(isinstance(e, CompressorEq) for e in system.equipment.values())
        if len(h.local_bands_mpa) != n:
            problems.append((f"hil.compressed_air.{i}.local_bands_mpa", f"expected one "
                             f"[load, unload] band per compressor ({n}), got "
                             f"{len(h.local_bands_mpa)}"))
        for j, (lo, hi) in enumerate(h.local_bands_mpa):
            if not lo < hi:
                problems.append((f"hil.compressed_air.{i}.local_bands_mpa.{j}", "expected "
                                 f"[load below, unload above] with load < unload, got "
                                 f"[{lo:g}, {hi:g}]"))
    return problems


def published(sname: str, system: CompressedAirSystem) -> dict[str, str]:
    """The tags the controller derives for this system, with their kinds."""
    kinds = {f"{sname}.control.{sig}": k for sig, k in CONTROL_KINDS.items()}
    for n, e in system.equipment.items():
        kinds |= {f"{sname}.{n}.{sig}": k for sig, k in DERIVED_KINDS.get(e.type, {}).items()}
    return kinds
