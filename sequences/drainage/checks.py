"""The config rules of a drainage system across its entries (the registry's ``check``,
``check_site``, ``published`` and ``ranges`` for kind "drainage")."""

from __future__ import annotations

from collections.abc import Mapping

from fixedsite.config import SignalMap, SiteConfig, key_path
from fixedsite.sequences.drainage.config import (
    ROOM_KEYS,
    BoreholeEq,
    DrainageSystem,
    HilDrainage,
    InflowMeterEq,
    LevelSensorEq,
    PumpEq,
    SumpEq,
)
from fixedsite.sequences.drainage.equipment import DERIVED, HYDROLOGY_SIGNALS, PLAN_SIGNALS

Problems = list[tuple[str, str]]

# What the controller's own per-equipment tags (equipment.DERIVED) carry.
DERIVED_KINDS: dict[str, dict[str, str]] = {
    "pump": {"state": "text", "fault_reason": "text"},
    "sump": {"level": "number", "volume": "number", "fill": "number",
             "sensor_disagree": "bool"},
}
CONTROL_KINDS = {"demand": "number", "status": "text"}


def check(cfg: SiteConfig, sname: str, system: DrainageSystem) -> Problems:
    problems: Problems = []
    for ename, eq in system.equipment.items():
        base = f"systems.{sname}.equipment.{ename}"
        if isinstance(eq, PumpEq):
            v = system.equipment.get(eq.valve)
            if v is None or v.type != "valve":
                problems.append((f"{base}.valve", f"{eq.valve!r} is not a valve of system "
                                 f"{sname!r}"))
        if isinstance(eq, SumpEq):
            for i, s in enumerate(eq.sensors):
                if getattr(system.equipment.get(s), "type", None) != "level_sensor":
                    problems.append((f"{base}.sensors.{i}", f"{s!r} is not a level sensor "
                                     f"of system {sname!r}"))
            curve = eq.volume_curve
            if any(b[0] <= a[0] or b[1] <= a[1] for a, b in zip(curve, curve[1:],
                                                                   strict=False)):
                problems.append((f"{base}.volume_curve", "levels and volumes must both "
                                 "rise from point to point"))
            if curve[0][0] < 0 or curve[0][1] < 0:
                problems.append((f"{base}.volume_curve.0", "levels are metres above the "
                                 "sump floor and volumes what it holds: neither below 0"))
    _check_drainage(sname, system, problems)
    return problems


def check_site(cfg: SiteConfig) -> Problems:
    problems: Problems = []
    _check_relay(cfg, problems)
    _check_hil(cfg, problems)
    if cfg.tariff is None and any(s.kind == "drainage" and s.plan is not None
                                  for s in cfg.systems.values()):
        problems.append(("tariff", "a pump plan needs the electricity tariff"))
    return problems


def published(sname: str, system: DrainageSystem) -> dict[str, str]:
    """The tags the controller derives for this system, with their kinds."""
    kinds = {f"{sname}.control.{sig}": k for sig, k in CONTROL_KINDS.items()}
    if system.plan is not None:
        kinds |= {f"{sname}.plan.{sig}": "text" if unit is None else "number"
                  for sig, (unit, _) in PLAN_SIGNALS.items()}
    for ename, eq in system.equipment.items():
        kinds |= {f"{sname}.{ename}.{sig}": DERIVED_KINDS.get(eq.type, {}).get(sig, "")
                  for sig in DERIVED.get(eq.type, ())}
    if system.hydrology is not None:
        kinds |= {f"{sname}.hydrology.{sig}": kind
                  for sig, (kind, _, _) in HYDROLOGY_SIGNALS.items()}
        kinds |= {f"{sname}.{p}.standby": "text" for p in system.control.pumps}
    return kinds


def ranges(sname: str, system: DrainageSystem, mapped: Mapping[str, tuple[float, float, str]]
           ) -> dict[str, tuple[float, float, str]]:
    """A sump's voted level can show what every one of its transmitters can show, since
    with one transmitter bad the other alone gives the level."""
    out: dict[str, tuple[float, float, str]] = {}
    for ename, eq in system.equipment.items():
        if not isinstance(eq, SumpEq):
            continue
        spans = [mapped[p] for s in eq.sensors if (p := f"{sname}.{s}.level") in mapped]
        if spans:
            lo, hi = max(s[0] for s in spans), min(s[1] for s in spans)
            where = next(s[2] for s in spans if s[1] == hi)
            out[f"{sname}.{ename}.level"] = (lo, hi, where)
    return out


def _check_drainage(sname: str, system: DrainageSystem, problems: Problems) -> None:
    c = system.control
    base = f"systems.{sname}.control"
    sump = system.equipment.get(c.sump)
    if not isinstance(sump, SumpEq):
        problems.append((f"{base}.sump", f"{c.sump!r} is not a sump of system {sname!r}"))
    else:
        _check_transmitters(sname, system, sump, problems)
    for i, p in enumerate(c.pumps):
        if not isinstance(system.equipment.get(p), PumpEq):
            problems.append((f"{base}.pumps.{i}", f"{p!r} is not a pump of system {sname!r}"))
    if len(set(c.pumps)) != len(c.pumps):
        problems.append((f"{base}.pumps", "a pump is listed twice"))
    if len(c.start_levels_m) != len(c.stop_levels_m):
        problems.append((f"{base}.stop_levels_m", f"{len(c.stop_levels_m)} stop levels for "
                         f"{len(c.start_levels_m)} start levels; expected one per stage"))
    for i, (start, stop) in enumerate(zip(c.start_levels_m, c.stop_levels_m, strict=False)):
        if start <= stop:
            problems.append((f"{base}.start_levels_m.{i}", f"start level {start} m is not "
                             f"above its stop level {stop} m"))
    for name in ("start_levels_m", "stop_levels_m"):
        levels = getattr(c, name)
        if levels != sorted(levels):
            problems.append((f"{base}.{name}", "stages must rise: stage 2 above stage 1"))
    if len(c.start_levels_m) > len(c.pumps):
        problems.append((f"{base}.start_levels_m", f"{len(c.start_levels_m)} stages but only "
                         f"{len(c.pumps)} pumps"))
    if c.high_high_m <= max(c.start_levels_m):
        problems.append((f"{base}.high_high_m", f"{c.high_high_m} m is not above the last "
                         f"start level {max(c.start_levels_m)} m"))
    if c.low_low_m >= min(c.stop_levels_m):
        problems.append((f"{base}.low_low_m", f"{c.low_low_m} m is not below the first "
                         f"stop level {min(c.stop_levels_m)} m"))
    lo, hi = c.normal_band_m
    if not lo < hi:
        problems.append((f"{base}.normal_band_m", "expected [low, high] with low < high"))
    if isinstance(sump, SumpEq):
        top = sump.volume_curve[-1][0]
        if c.high_high_m >= top:
            problems.append((f"{base}.high_high_m", f"{c.high_high_m} m is at or above the "
                             f"top of the sump's volume curve ({top} m)"))
    if system.plan is not None:
        _check_plan(sname, system, problems)
    if system.hydrology is not None:
        _check_hydrology(sname, system, problems)


def _check_hydrology(sname: str, system: DrainageSystem, problems: Problems) -> None:
    """The linkage reads what it names, has a threshold for what it reads, and lowers the
    levels no further than the room can go without running a pump towards dry."""
    h, c = system.hydrology, system.control
    assert h is not None
    base = f"systems.{sname}.hydrology"
    if not h.boreholes and not h.inflow_meters:
        problems.append((base, "names no borehole and no inflow meter: expected at least "
                         "one in boreholes or inflow_meters"))
    levels = pressures = False
    for i, b in enumerate(h.boreholes):
        eq = system.equipment.get(b)
        if not isinstance(eq, BoreholeEq):
            problems.append((f"{base}.boreholes.{i}", f"{b!r} is not a borehole of system "
                             f"{sname!r}"))
            continue
        if not {"water_level", "water_pressure"} & set(eq.signals):
            problems.append((f"systems.{sname}.equipment.{b}.signals", "a borehole the "
                             "linkage reads maps water_level, water_pressure or both"))
        levels |= "water_level" in eq.signals
        pressures |= "water_pressure" in eq.signals
    for i, m in enumerate(h.inflow_meters):
        if not isinstance(system.equipment.get(m), InflowMeterEq):
            problems.append((f"{base}.inflow_meters.{i}", f"{m!r} is not an inflow meter of "
                             f"system {sname!r}"))
    for key, read, what in (("rise_m", levels, "a borehole's water_level"),
                            ("rise_mpa", pressures, "a borehole's water_pressure"),
                            ("inflow_m3h", bool(h.inflow_meters), "an inflow meter")):
        pair = getattr(h, key)
        if read and pair is None:
            problems.append((f"{base}.{key}", f"{what} is read but has no thresholds: "
                             "expected [watch, alert]"))
        elif pair is not None and not read:
            problems.append((f"{base}.{key}", f"thresholds for {what}, but the linkage "
                             "reads none"))
        if pair is not None and not pair[0] < pair[1]:
            problems.append((f"{base}.{key}", f"watch {pair[0]:g} is not below alert "
                             f"{pair[1]:g}: expected [watch, alert], watch lower"))
    watch, alert = h.lower_m
    if watch > alert:
        problems.append((f"{base}.lower_m", f"watch lowers {watch:g} m, more than alert "
                         f"{alert:g} m: expected [watch, alert], alert the deeper"))
    room = min(c.start_levels_m) - (c.low_low_m + h.dry_margin_m)
    if alert >= room:
        problems.append((f"{base}.lower_m", f"alert lowers {alert:g} m: the first start "
                         f"level ({min(c.start_levels_m):g} m) would come within "
                         f"dry_margin_m ({h.dry_margin_m:g} m) of low-low "
                         f"({c.low_low_m:g} m); expected below {room:.2f} m"))
    if h.suspend_plan_inflow_m3h is not None and not h.inflow_meters:
        problems.append((f"{base}.suspend_plan_inflow_m3h", "needs an inflow meter to "
                         "read the inflow from: add one to inflow_meters"))


def _check_transmitters(sname: str, system: DrainageSystem, sump: SumpEq,
                        problems: Problems) -> None:
    """Each level transmitter alone must be able to show high-high and low-low: with the
    other one bad it is the only level there is, and a reading pinned at the top of its
    range is an over-range fault, not a level."""
    c = system.control
    for s in sump.sensors:
        eq = system.equipment.get(s)
        entry = eq.signals.get("level") if isinstance(eq, LevelSensorEq) else None
        if not isinstance(entry, SignalMap) or entry.range is None:
            continue
        lo, hi = entry.range
        key = key_path("systems", sname, "equipment", s, "signals", "level", "range")
        if hi <= c.high_high_m:
            problems.append((key, f"top {hi:g} m is at or below the sump's high-high level "
                             f"({c.high_high_m:g} m): this transmitter could never show "
                             "high-high"))
        if lo >= c.low_low_m:
            problems.append((key, f"bottom {lo:g} m is at or above the sump's low-low level "
                             f"({c.low_low_m:g} m): this transmitter could never show "
                             "low-low"))


def _check_plan(sname: str, system: DrainageSystem, problems: Problems) -> None:
    """The plan works inside the normal band, above the dry-running limit; the reserve
    above the band belongs to the level control."""
    c, p = system.control, system.plan
    assert p is not None
    key = f"systems.{sname}.plan.band_m"
    lo, hi = p.band_m
    if not lo < hi:
        problems.append((key, "expected [low, high] with low < high"))
    elif lo <= c.low_low_m or lo < c.normal_band_m[0]:
        problems.append((key, f"low {lo} m must be above low-low ({c.low_low_m} m) and "
                         f"inside the normal band {list(c.normal_band_m)}"))
    elif hi > c.normal_band_m[1]:
        problems.append((key, f"high {hi} m is above the normal band's top "
                         f"({c.normal_band_m[1]} m): the reserve belongs to level control"))
    if p.step_s * 2 > p.horizon_h * 3600:
        problems.append((f"systems.{sname}.plan.horizon_h", "the horizon must span at "
                         "least two steps"))


def _check_relay(cfg: SiteConfig, problems: Problems) -> None:
    """A relay chain ends at a room that discharges to the surface, and rooms are planned
    jointly: a planned room cannot feed an unplanned one (it would plan blind to whether
    the upper sump can take its water), and both plan on the same steps."""
    for sname, system in cfg.systems.items():
        if system.kind != "drainage":
            continue
        key, up = f"systems.{sname}.discharges_into", system.discharges_into
        if up is None:
            continue
        rooms = sorted(n for n, s in cfg.systems.items() if s.kind == "drainage")
        if up not in rooms:
            problems.append((key, f"unknown system {up!r}; expected a drainage system: "
                             f"{rooms}"))
            continue
        seen, at = {sname}, up
        while at is not None and at in cfg.systems:
            if at in seen:
                problems.append((key, f"relay pumping goes round in a circle through "
                                 f"{at!r}"))
                break
            seen.add(at)
            at = getattr(cfg.systems[at], "discharges_into", None)
        upper = cfg.systems[up].plan
        if system.plan is not None and upper is None:
            problems.append((key, f"this room has a plan, {up!r} has none: rooms in relay "
                             "are planned together, so give both a [plan] or neither"))
        elif system.plan is not None and upper is not None and (
                system.plan.step_s, system.plan.horizon_h) != (upper.step_s,
                                                               upper.horizon_h):
            problems.append((f"systems.{sname}.plan.step_s", f"rooms in relay are planned "
                             f"together: step_s and horizon_h must equal {up!r}'s"))


def _check_hil(cfg: SiteConfig, problems: Problems) -> None:
    systems: dict[tuple[str, bool], int] = {}
    for i, h in enumerate(cfg.hil.drainage):
        base = f"hil.drainage.{i}"
        station = h.hydrology is not None
        if (h.system, station) in systems:
            problems.append((f"{base}.system", f"system {h.system!r} is already simulated "
                             f"by hil.drainage.{systems[h.system, station]}"))
        systems.setdefault((h.system, station), i)
        if h.system not in cfg.systems:
            problems.append((f"{base}.system", f"unknown system {h.system!r}"))
        if h.plc not in cfg.plcs:
            problems.append((f"{base}.plc", f"unknown PLC {h.plc!r}"))
        if station:
            _check_hil_station(cfg, h, base, problems)
            continue
        missing = [k for k in ROOM_KEYS if getattr(h, k) is None]
        for k in missing:
            problems.append((f"{base}.{k}", "required for a pump room (an entry without "
                             "[hydrology])"))
        if missing:
            continue
        assert h.float_low_m and h.float_high_m and h.float_highhigh_m
        if not h.float_low_m < h.float_high_m < h.float_highhigh_m:
            problems.append((f"{base}.float_high_m", "float switches must rise: low < high "
                             "< high-high"))
        if (h.max_inflow_m3h or 0) < (h.normal_inflow_m3h or 0):
            problems.append((f"{base}.max_inflow_m3h", "below the normal inflow"))
    stations = {h.system for h in cfg.hil.drainage if h.hydrology is not None}
    rooms = {h.system for h in cfg.hil.drainage if h.hydrology is None}
    for i, h in enumerate(cfg.hil.drainage):
        if h.hydrology is not None and h.system in stations - rooms:
            problems.append((f"hil.drainage.{i}.system", f"no simulated pump room of "
                             f"{h.system!r} for its station's water to reach"))


def _check_hil_station(cfg: SiteConfig, h: HilDrainage, base: str,
                       problems: Problems) -> None:
    """A station simulates boreholes and an inflow meter the system names, and nothing of
    a pump room."""
    assert h.hydrology is not None
    for k in sorted(h.model_fields_set - {"system", "plc", "hydrology", "seed"}):
        problems.append((f"{base}.{k}", "a hydrological station has no pump room: "
                         "drop it (the station's figures go in [hydrology])"))
    system = cfg.systems.get(h.system)
    if system is None or system.kind != "drainage":
        return
    hy = h.hydrology
    for j, b in enumerate(hy.boreholes):
        if not isinstance(system.equipment.get(b.name), BoreholeEq):
            problems.append((f"{base}.hydrology.boreholes.{j}.name", f"{b.name!r} is not a "
                             f"borehole of system {h.system!r}"))
    if not isinstance(system.equipment.get(hy.inflow_meter), InflowMeterEq):
        problems.append((f"{base}.hydrology.inflow_meter", f"{hy.inflow_meter!r} is not an "
                         f"inflow meter of system {h.system!r}"))
