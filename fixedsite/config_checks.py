"""Rules across config entries, which no per-entry schema can see."""

from __future__ import annotations

from fixedsite.config import (
    DrainageSystem,
    PumpEq,
    SignalMap,
    SiteConfig,
    SumpEq,
)
from fixedsite.drivers.modbus_codec import Address, parse_address
from fixedsite.equipment import DERIVED, PLAN_SIGNALS, TYPES

Problems = list[tuple[str, str]]


def cross_check(cfg: SiteConfig) -> Problems:
    problems: Problems = []
    used: dict[str, list[tuple[Address, str]]] = {p: [] for p in cfg.plcs}
    for pname, plc in cfg.plcs.items():
        if plc.heartbeat is not None:
            _address(problems, f"plcs.{pname}.heartbeat", plc.heartbeat, used[pname],
                     writable=True)
    endpoints: dict[tuple[str, int, int], str] = {}
    for pname, plc in cfg.plcs.items():
        ep = (plc.host, plc.port, plc.device_id)
        if ep in endpoints:
            problems.append((f"plcs.{pname}.port", f"same host, port and device id as PLC "
                             f"{endpoints[ep]!r}"))
        endpoints[ep] = pname
    for sname, system in cfg.systems.items():
        _check_equipment(cfg, sname, system, used, problems)
        _check_drainage(sname, system, problems)
    _check_relay(cfg, problems)
    _check_hil(cfg, problems)
    _check_alarms(cfg, problems)
    _check_tariff(cfg, problems)
    if cfg.tariff is None and any(getattr(s, "plan", None) for s in cfg.systems.values()):
        problems.append(("tariff", "a pump plan needs the electricity tariff"))
    return problems


def _check_tariff(cfg: SiteConfig, problems: Problems) -> None:
    """Every hour of every month in exactly one period."""
    if cfg.tariff is None:
        return
    before = len(problems)
    for i, p in enumerate(cfg.tariff.periods):
        if bad := [m for m in p.months if not 1 <= m <= 12]:
            problems.append((f"tariff.periods.{i}.months", f"{bad} are not months 1..12"))
    for month in range(1, 13):
        spans = sorted((a, b, i) for i, p in enumerate(cfg.tariff.periods)
                       if month in p.months for a, b in p.hours)
        edge = 0.0
        for a, b, i in spans:
            if not 0 <= a < b <= 24:
                problems.append((f"tariff.periods.{i}.hours", f"[{a}, {b}] is not a span "
                                 "within 0..24 h"))
            elif a != edge:
                problems.append((f"tariff.periods.{i}.hours", f"hours {edge:g}..{a:g} of "
                                 f"month {month} are covered by no period" if a > edge else
                                 f"hours from {a:g} of month {month} overlap another period"))
            edge = max(edge, b)
        if edge != 24:
            problems.append(("tariff.periods", f"hours {edge:g}..24 of month {month} belong "
                             "to no period"))
        if len(problems) > before:
            return                        # one month's problems say it; not twelve times


def known_tags(cfg: SiteConfig) -> set[str]:
    """Every tag a controller on this config will have: mapped, derived and diagnostic."""
    tags = {f"comm.{p}.{s}" for p in cfg.plcs for s in ("online", "errors", "last_error")}
    for sname, system in cfg.systems.items():
        tags |= {f"{sname}.control.demand", f"{sname}.control.status"}
        if system.plan is not None:
            tags |= {f"{sname}.plan.{sig}" for sig in PLAN_SIGNALS}
        for ename, eq in system.equipment.items():
            tags |= {f"{sname}.{ename}.{sig}" for sig in eq.signals}
            tags |= {f"{sname}.{ename}.{sig}" for sig in DERIVED.get(eq.type, ())}
    return tags


def _check_alarms(cfg: SiteConfig, problems: Problems) -> None:
    tags = known_tags(cfg)
    ids: set[str] = set()
    for i, a in enumerate(cfg.alarms):
        base = f"alarms.{i}"
        if a.tag not in tags:
            problems.append((f"{base}.tag", f"no tag {a.tag!r} on this site"))
        if a.enable_when is not None and a.enable_when not in tags:
            problems.append((f"{base}.enable_when", f"no tag {a.enable_when!r} on this site"))
        limits = [(k, getattr(a, k)) for k in ("hh", "h", "l", "ll")
                  if getattr(a, k) is not None]
        if a.kind == "limit":
            if not limits:
                problems.append((base, "a limit alarm needs at least one of hh, h, l, ll"))
            values = [v for _, v in limits]
            if values != sorted(values, reverse=True) or len(set(values)) != len(values):
                problems.append((base, "limits must fall strictly: hh > h > l > ll"))
        elif limits:
            problems.append((f"{base}.{limits[0][0]}", f"limits belong to limit alarms, not "
                             f"{a.kind}"))
        if a.kind == "rate" and a.rate_per_min <= 0:
            problems.append((f"{base}.rate_per_min", "a rate alarm needs rate_per_min > 0"))
        key = f"{a.kind}:{a.tag}"
        if key in ids:
            problems.append((base, f"a second {a.kind} alarm on {a.tag}"))
        ids.add(key)


def _check_equipment(cfg: SiteConfig, sname: str, system: DrainageSystem,
                     used: dict[str, list[tuple[Address, str]]], problems: Problems) -> None:
    for ename, eq in system.equipment.items():
        base = f"systems.{sname}.equipment.{ename}"
        if eq.plc not in cfg.plcs:
            problems.append((f"{base}.plc", f"unknown PLC {eq.plc!r}; expected one of: "
                             + ", ".join(sorted(cfg.plcs))))
            continue
        defs = TYPES[eq.type]
        for sig, entry in eq.signals.items():
            key = f"{base}.signals.{sig}"
            if sig not in defs:
                problems.append((key, f"a {eq.type} has no signal {sig!r}; expected one "
                                 f"of: {', '.join(defs)}"))
                continue
            m = entry if isinstance(entry, SignalMap) else SignalMap(address=entry)
            akey = key + (".address" if isinstance(entry, SignalMap) else "")
            addr = _address(problems, akey, m.address, used[eq.plc],
                            writable=defs[sig].writable)
            if addr is not None and defs[sig].kind == "number" and addr.dtype == "bool":
                problems.append((akey, f"{sig} is a number but {m.address!r} is a single "
                                 "bit; expected a register address"))
            if m.range is not None and m.range[0] >= m.range[1]:
                problems.append((f"{key}.range", f"low {m.range[0]} is not below high "
                                 f"{m.range[1]}"))
            if m.scale == 0:
                problems.append((f"{key}.scale", "scale 0 would make every reading 0"))
        for sig, d in defs.items():
            if d.required and sig not in eq.signals:
                problems.append((f"{base}.signals", f"required signal {sig!r} of a "
                                 f"{eq.type} is not mapped"))
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


def _address(problems: Problems, key: str, text: str,
             used: list[tuple[Address, str]], writable: bool) -> Address | None:
    try:
        addr = parse_address(text)
    except ValueError as e:
        problems.append((key, str(e)))
        return None
    if writable and not addr.writable:
        problems.append((key, f"this signal is written by the controller but {addr.table}: "
                         "is read-only; expected hr: or coil:"))
    for other, okey in used:
        if other.table != addr.table:
            continue
        overlap = other.index < addr.end and addr.index < other.end
        a_bit, o_bit = addr.bit is not None, other.bit is not None
        # a status word and its bits may both be mapped; two bits clash only if the same
        if overlap and a_bit == o_bit and (not a_bit or other.bit == addr.bit):
            problems.append((key, f"address {text!r} is already used by {okey}"))
            break
    used.append((addr, key))
    return addr


def _check_drainage(sname: str, system: DrainageSystem, problems: Problems) -> None:
    c = system.control
    base = f"systems.{sname}.control"
    sump = system.equipment.get(c.sump)
    if not isinstance(sump, SumpEq):
        problems.append((f"{base}.sump", f"{c.sump!r} is not a sump of system {sname!r}"))
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
        key, up = f"systems.{sname}.discharges_into", system.discharges_into
        if up is None:
            continue
        if up not in cfg.systems:
            problems.append((key, f"unknown system {up!r}; expected one of "
                             f"{sorted(cfg.systems)}"))
            continue
        seen, at = {sname}, up
        while at is not None and at in cfg.systems:
            if at in seen:
                problems.append((key, f"relay pumping goes round in a circle through "
                                 f"{at!r}"))
                break
            seen.add(at)
            at = cfg.systems[at].discharges_into
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
    for i, h in enumerate(cfg.hil.drainage):
        base = f"hil.drainage.{i}"
        if h.system not in cfg.systems:
            problems.append((f"{base}.system", f"unknown system {h.system!r}"))
        if h.plc not in cfg.plcs:
            problems.append((f"{base}.plc", f"unknown PLC {h.plc!r}"))
        if not h.float_low_m < h.float_high_m < h.float_highhigh_m:
            problems.append((f"{base}.float_high_m", "float switches must rise: low < high "
                             "< high-high"))
        if h.max_inflow_m3h < h.normal_inflow_m3h:
            problems.append((f"{base}.max_inflow_m3h", "below the normal inflow"))
