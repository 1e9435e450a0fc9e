"""Rules across config entries, which no per-entry schema can see."""

from __future__ import annotations

import re
from typing import Any

from fixedsite import systems
from fixedsite.config import SignalMap, SiteConfig, key_path
from fixedsite.drivers.protocol import Address
from fixedsite.drivers.registry import spec
from fixedsite.equipment import CONTROLLER_SIGNALS

Problems = list[tuple[str, str]]

# A PLC, system or equipment name becomes part of tag paths (system.equipment.signal),
# OPC UA NodeIds (ns=..;s=<path>), history keys and InfluxDB tags: no dots, no spaces.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Top-level tag path prefixes and OPC UA NodeIds the controller uses itself
# (comm.<plc>.*, controller.<part>.*, the server's "site" and "alarms" objects).
RESERVED_SYSTEMS = frozenset({"comm", "controller", "alarms", "site", "notify"})
# The OPC UA methods the core puts beside the variables (site and alarm methods); a system
# adds its folders (a level control's "control") and its commands' method names.
RESERVED_EQUIPMENT = frozenset({"history", "recentcommands", "current", "acknowledge",
                                "shelve", "unshelve"})


def reserved_equipment() -> frozenset[str]:
    """Names no equipment may take: they are tag folders or method names already."""
    out = set(RESERVED_EQUIPMENT)
    for spec_ in systems.registered().values():
        out |= {f.casefold() for f in spec_.folders}
        out |= {c.method.casefold() for cmds in spec_.commands.values() for c in cmds}
    return frozenset(out)


COMM_KINDS = {"online": "bool", "errors": "number", "last_error": "text"}
# what a PLC's addresses occupy so far: (memory space, unit) -> (address, its key path)
Used = dict[tuple[str, int], list[tuple[Address, str]]]


def cross_check(cfg: SiteConfig) -> Problems:
    problems: Problems = []
    _check_names(cfg, problems)
    used: dict[str, Used] = {p: {} for p in cfg.plcs}
    for pname, plc in cfg.plcs.items():
        if plc.heartbeat is not None:
            key = f"plcs.{pname}.heartbeat"
            hb = _address(problems, key, plc.heartbeat, used[pname], writable=True,
                          plc=plc)
            why = None if hb is None else spec(plc).heartbeat_problem(hb, plc.heartbeat)
            if why is not None:
                problems.append((key, why))
    endpoints: dict[tuple[object, ...], str] = {}
    for pname, plc in cfg.plcs.items():
        ep = (plc.protocol, *spec(plc).endpoint(plc))
        if ep in endpoints:
            problems.append((f"plcs.{pname}.port", f"same host, port and device as PLC "
                             f"{endpoints[ep]!r}"))
        endpoints[ep] = pname
    for sname, system in cfg.systems.items():
        _check_equipment(cfg, sname, system, used, problems)
        problems += systems.get(system.kind).check(cfg, sname, system)
    for spec_ in systems.registered().values():
        problems += spec_.check_site(cfg)
    _check_hil(cfg, problems)
    _check_alarms(cfg, problems)
    _check_tariff(cfg, problems)
    if cfg.notify is not None:
        from fixedsite.notify.config import problems as notify_problems
        problems += notify_problems(cfg.notify)
    if cfg.opcua is not None:
        port = int(cfg.opcua.endpoint.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        if not 1 <= port <= 65535:
            problems.append(("opcua.endpoint", f"port {port} is outside 1..65535"))
    return problems


def _check_hil(cfg: SiteConfig, problems: Problems) -> None:
    """What every simulated plant shares, whatever its kind: it simulates a system of its
    own kind, and no PLC is simulated twice (two servers would fight over one port)."""
    simulated: dict[str, str] = {}
    for kind in type(cfg.hil).model_fields:
        if kind == "inbox":               # the people's stand-ins, not a plant
            continue
        for i, h in enumerate(getattr(cfg.hil, kind)):
            base = f"hil.{kind}.{i}"
            system = cfg.systems.get(h.system)
            if system is not None and system.kind != kind:
                problems.append((f"{base}.system", f"{h.system!r} is a {system.kind} "
                                 f"system, not {kind}"))
            if h.plc in simulated:
                problems.append((f"{base}.plc", f"PLC {h.plc!r} is already simulated by "
                                 f"{simulated[h.plc]}"))
            simulated.setdefault(h.plc, base)


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


def _check_names(cfg: SiteConfig, problems: Problems) -> None:
    what = ("may hold only letters, digits, _ and - (starting with a letter, at most 64): "
            "it becomes part of tag paths and OPC UA NodeIds")
    for pname in cfg.plcs:
        if not NAME.match(pname):
            problems.append((key_path("plcs", pname), f"PLC name {pname!r} {what}"))
    reserved = reserved_equipment()
    for sname, system in cfg.systems.items():
        if not NAME.match(sname):
            problems.append((key_path("systems", sname), f"system name {sname!r} {what}"))
        elif sname.casefold() in RESERVED_SYSTEMS:
            problems.append((key_path("systems", sname), f"{sname!r} is reserved for the "
                             f"controller's own tags and objects ("
                             f"{', '.join(sorted(RESERVED_SYSTEMS))}); choose another name"))
        for ename in system.equipment:
            key = key_path("systems", sname, "equipment", ename)
            if not NAME.match(ename):
                problems.append((key, f"equipment name {ename!r} {what}"))
            elif ename.casefold() in reserved:
                problems.append((key, f"{ename!r} is reserved: the controller's own tags "
                                 "and the OPC UA methods use it (" + ", ".join(
                                     sorted(reserved)) + "); choose another name"))


def tag_kinds(cfg: SiteConfig) -> dict[str, str]:
    """Every tag a controller on this config will have (mapped, derived, diagnostic, its
    own health) and the kind of its value: number, bool or text. A derived tag missing
    from the kind tables gets no kind, so no limit alarm is allowed on it."""
    kinds = {f"comm.{p}.{s}": k for p in cfg.plcs for s, k in COMM_KINDS.items()}
    kinds |= {f"controller.{part}.{sig}": spec[0]
              for part, sigs in CONTROLLER_SIGNALS.items() for sig, spec in sigs.items()}
    for sname, system in cfg.systems.items():
        spec_ = systems.get(system.kind)
        for ename, eq in system.equipment.items():
            defs = spec_.equipment[eq.type]
            kinds |= {f"{sname}.{ename}.{sig}": defs[sig].kind for sig in eq.signals
                      if sig in defs}
        kinds |= spec_.published(sname, system)
    return kinds


def known_tags(cfg: SiteConfig) -> set[str]:
    """Every tag a controller on this config will have: mapped, derived and diagnostic."""
    return set(tag_kinds(cfg))


def tag_ranges(cfg: SiteConfig) -> dict[str, tuple[float, float, str]]:
    """The values each ranged tag can show (low, high, where the range is set): a mapped
    signal its own range; a tag the controller derives what its system says it can show
    (from the ranges of what it is derived from)."""
    out: dict[str, tuple[float, float, str]] = {}
    for sname, system in cfg.systems.items():
        for ename, eq in system.equipment.items():
            for sig, entry in eq.signals.items():
                if isinstance(entry, SignalMap) and entry.range is not None:
                    out[f"{sname}.{ename}.{sig}"] = (*entry.range, key_path(
                        "systems", sname, "equipment", ename, "signals", sig, "range"))
    for sname, system in cfg.systems.items():
        out |= systems.get(system.kind).ranges(sname, system, out)
    return out


def _check_alarms(cfg: SiteConfig, problems: Problems) -> None:
    kinds = tag_kinds(cfg)
    ranges = tag_ranges(cfg)
    ids: set[str] = set()
    for i, a in enumerate(cfg.alarms):
        base = f"alarms.{i}"
        kind = kinds.get(a.tag)
        if kind is None:
            problems.append((f"{base}.tag", f"no tag {a.tag!r} on this site"))
        elif a.kind in ("limit", "rate") and kind != "number":
            problems.append((f"{base}.tag", f"a {a.kind} alarm needs a number; {a.tag!r} is "
                             f"a {kind or 'kindless'} tag (use a discrete alarm)"))
        elif a.kind == "discrete" and kind == "text" and not isinstance(a.equals, str):
            problems.append((f"{base}.equals", f"{a.tag!r} is a text tag: equals must be the "
                             "text that raises the alarm"))
        elif a.kind == "discrete" and kind == "bool" and a.equals is not None and \
                not isinstance(a.equals, bool):
            problems.append((f"{base}.equals", f"{a.tag!r} is a bool tag: equals must be true "
                             "or false"))
        elif a.kind == "discrete" and kind == "number" and isinstance(a.equals, str):
            problems.append((f"{base}.equals", f"{a.tag!r} is a number tag: equals must be a "
                             "number"))
        if a.enable_when is not None:
            ekind = kinds.get(a.enable_when)
            if ekind is None:
                problems.append((f"{base}.enable_when", f"no tag {a.enable_when!r} on this "
                                 "site"))
            elif ekind != "bool":
                problems.append((f"{base}.enable_when", f"{a.enable_when!r} is a {ekind} "
                                 "tag; the alarm is enabled while a bool tag is true"))
        limits = [(k, getattr(a, k)) for k in ("hh", "h", "l", "ll")
                  if getattr(a, k) is not None]
        if a.kind == "limit" and a.tag in ranges:
            lo, hi, where = ranges[a.tag]
            for k, v in limits:
                if (k in ("hh", "h") and v >= hi) or (k in ("l", "ll") and v <= lo):
                    problems.append((f"{base}.{k}", f"{a.tag} can never show {v:g}: its "
                                     f"range {where} is [{lo:g}, {hi:g}]"))
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


def _check_equipment(cfg: SiteConfig, sname: str, system: Any,
                     used: dict[str, Used], problems: Problems) -> None:
    for ename, eq in system.equipment.items():
        base = f"systems.{sname}.equipment.{ename}"
        if eq.plc not in cfg.plcs:
            problems.append((f"{base}.plc", f"unknown PLC {eq.plc!r}; expected one of: "
                             + ", ".join(sorted(cfg.plcs))))
            continue
        defs = systems.get(system.kind).equipment[eq.type]
        for sig, entry in eq.signals.items():
            key = f"{base}.signals.{sig}"
            if sig not in defs:
                problems.append((key, f"a {eq.type} has no signal {sig!r}; expected one "
                                 f"of: {', '.join(defs)}"))
                continue
            m = entry if isinstance(entry, SignalMap) else SignalMap(address=entry)
            akey = key + (".address" if isinstance(entry, SignalMap) else "")
            plc = cfg.plcs[eq.plc]
            addr = _address(problems, akey, m.address, used[eq.plc],
                            writable=defs[sig].writable, plc=plc)
            for sub, msg in spec(plc).signal_problems(m):
                problems.append((f"{key}.{sub}", msg))
            if addr is not None and defs[sig].kind == "number" and \
                    addr.dtype.casefold() == "bool":           # Modbus "bool", S7 "BOOL"
                problems.append((akey, f"{sig} is a number but {m.address!r} is a single "
                                 "bit; expected a word or register address"))
            if m.range is not None and m.range[0] >= m.range[1]:
                problems.append((f"{key}.range", f"low {m.range[0]} is not below high "
                                 f"{m.range[1]}"))
            if m.scale == 0:
                problems.append((f"{key}.scale", "scale 0 would make every reading 0"))
        for sig, d in defs.items():
            if d.required and sig not in eq.signals:
                problems.append((f"{base}.signals", f"required signal {sig!r} of a "
                                 f"{eq.type} is not mapped"))


def _address(problems: Problems, key: str, text: str,
             used: Used, writable: bool, plc: Any) -> Address | None:
    proto = spec(plc)
    try:
        addr: Address = proto.parse_address(text)
    except ValueError as e:
        problems.append((key, str(e)))
        return None
    if writable and not addr.writable:
        problems.append((key, f"this signal is written by the controller but {text!r} is "
                         f"read-only; {proto.read_only_hint}"))
    # each unit (register, byte, bit) of a PLC's memory -> the addresses on it: a check
    # per unit the new address covers, not against every address so far (a site of 100k
    # signals took 28 s of pairwise comparisons)
    a_bit = addr.bit is not None
    clash = next((okey for unit in range(addr.start, addr.end)
                  for other, okey in used.get((addr.space, unit), ())
                  # a status word and its bits may both be mapped; two bits clash only
                  # if they are the same bit
                  if (other.bit is not None) == a_bit and (not a_bit or other.bit == addr.bit)),
                 None)
    if clash is not None:
        problems.append((key, f"address {text!r} is already used by {clash}"))
    for unit in range(addr.start, addr.end):
        used.setdefault((addr.space, unit), []).append((addr, key))
    return addr


