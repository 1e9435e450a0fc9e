"""The config rules of a power system across its entries (the registry's ``check``): every
name the network and the bays use must exist and be of the right kind, relay windows
must not overlap, each bay's relay must sit in its own substation's gateway, a switching
step is given time for two polls."""

from __future__ import annotations

from collections import Counter

from fixedsite.config import SiteConfig
from fixedsite.sequences.power import profile, timing
from fixedsite.sequences.power.config import BreakerEq, PowerSystem, SubstationEq

Problems = list[tuple[str, str]]


def check(cfg: SiteConfig, sname: str, system: PowerSystem) -> Problems:
    problems: Problems = []
    net, eqs = system.network, system.equipment
    top = f"systems.{sname}"
    subs = {n: e for n, e in eqs.items() if isinstance(e, SubstationEq)}
    brks = {n: e for n, e in eqs.items() if isinstance(e, BreakerEq)}
    nodes = set(net.sources) | set(net.buses) | set(net.lines) | set(net.loads)
    dup = [n for n, c in Counter([*net.sources, *net.buses, *net.lines, *net.loads]).items()
           if c > 1]
    for n in dup:
        problems.append((f"{top}.network", f"{n!r} names more than one of the network's "
                         "sources, buses, lines and loads"))
    for n in nodes & set(eqs):
        problems.append((f"{top}.network", f"{n!r} names both a part of the network and an "
                         "equipment"))

    def bus(where: str, b: str) -> None:
        if b not in net.buses:
            problems.append((where, f"{b!r} is not a bus of {top}.network.buses"))
    for sid, s in net.sources.items():
        bus(f"{top}.network.sources.{sid}.bus", s.bus)
    for bid, b in net.buses.items():
        if b.substation not in subs:
            problems.append((f"{top}.network.buses.{bid}.substation",
                             f"{b.substation!r} is not a substation of {top}.equipment"))
    for lid, ln in net.lines.items():
        bus(f"{top}.network.lines.{lid}.from_bus", ln.from_bus)
        bus(f"{top}.network.lines.{lid}.to_bus", ln.to_bus)
        if ln.from_bus == ln.to_bus:
            problems.append((f"{top}.network.lines.{lid}", "a line joins two different buses"))
    for lid, ld in net.loads.items():
        bus(f"{top}.network.loads.{lid}.bus", ld.bus)
    for kid, lk in net.links.items():
        for key in ("source", "target"):
            b = getattr(lk, key)
            if b not in brks:
                problems.append((f"{top}.network.links.{kid}.{key}",
                                 f"{b!r} is not a breaker of {top}.equipment"))
        if lk.source == lk.target:
            problems.append((f"{top}.network.links.{kid}", "a relay does not block itself"))
    windows: dict[tuple[str, int], str] = {}
    for n, e in brks.items():
        where = f"{top}.equipment.{n}"
        bus(f"{where}.bus", e.bus)
        if e.feeds not in nodes:
            problems.append((f"{where}.feeds", f"{e.feeds!r} is not a source, bus, line or "
                             f"load of {top}.network"))
        elif e.feeds == e.bus:
            problems.append((f"{where}.feeds", "a bay joins its bus to something else"))
        else:
            ends = _ends(system, e.feeds)
            if ends is not None and e.bus not in ends:
                problems.append((f"{where}.feeds", f"{e.feeds!r} does not reach bus "
                                 f"{e.bus!r} (its ends: {', '.join(sorted(ends))})"))
        if e.base % profile.WINDOW:
            problems.append((f"{where}.base", f"a relay window starts at a multiple of "
                             f"{profile.WINDOW}; got {e.base}"))
        key = (e.plc, e.base)
        if key in windows:
            problems.append((f"{where}.base", f"relay window {e.base} of PLC {e.plc!r} is "
                             f"already {windows[key]!r}'s"))
        windows[key] = n
        b = net.buses.get(e.bus)
        sub = subs.get(b.substation) if b else None
        if sub is not None and sub.plc != e.plc:
            problems.append((f"{where}.plc", f"its bus {e.bus!r} is in substation "
                             f"{b.substation!r} whose gateway is {sub.plc!r}"))  # type: ignore[union-attr]
    for no, c in Counter(e.relay_no for e in brks.values()).items():
        if c > 1:
            names = sorted(n for n, e in brks.items() if e.relay_no == no)
            problems.append((f"{top}.equipment.{names[1]}.relay_no",
                             f"relay number {no} is also {names[0]!r}'s"))
    poll = timing.slowest_poll(cfg, system)
    if system.restoration.step_timeout_s < 2 * poll:
        # a step's feedback comes with a poll: sooner than two it cannot be confirmed
        problems.append((f"{top}.restoration.step_timeout_s",
                         f"expected at least two polls of the slowest gateway "
                         f"({2 * poll:g} s, poll_period_s {poll:g}); got "
                         f"{system.restoration.step_timeout_s:g}"
                         + ("" if "step_timeout_s" in system.restoration.model_fields_set
                            else " (the default)")))
    return problems


def _ends(system: PowerSystem, node: str) -> set[str] | None:
    """The buses a source, line or load touches (None for a bus: a tie)."""
    net = system.network
    if node in net.lines:
        return {net.lines[node].from_bus, net.lines[node].to_bus}
    if node in net.sources:
        return {net.sources[node].bus}
    if node in net.loads:
        return {net.loads[node].bus}
    return None
