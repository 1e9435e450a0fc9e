"""The config rules of a ventilation system across its entries (the registry's ``check``
and ``check_site`` for kind "ventilation"): what each name refers to must exist and be of
the right type, a fan's curve must be a curve, an airlock needs two doors, the network
must name its fans, windows and sensors."""

from __future__ import annotations

from collections import Counter

from fixedsite.config import SiteConfig
from fixedsite.sequences.ventilation.config import (
    AirSensorEq,
    AuxFanEq,
    DamperEq,
    DoorEq,
    FanEq,
    VentilationSystem,
    WindowEq,
)

Problems = list[tuple[str, str]]


def _is(system: VentilationSystem, name: str | None, kind: type, word: str, sname: str,
        where: str, problems: Problems) -> None:
    if name is not None and not isinstance(system.equipment.get(name), kind):
        problems.append((where, f"{name!r} is not {word} of system {sname!r}"))


def check(cfg: SiteConfig, sname: str, system: VentilationSystem) -> Problems:
    problems: Problems = []
    eqs, c = system.equipment, system.control
    for ename, eq in eqs.items():
        base = f"systems.{sname}.equipment.{ename}"
        if isinstance(eq, FanEq):
            _is(system, eq.inlet_damper, DamperEq, "a damper", sname, f"{base}.inlet_damper",
                problems)
            _is(system, eq.outlet_damper, DamperEq, "a damper", sname,
                f"{base}.outlet_damper", problems)
            if eq.inlet_damper == eq.outlet_damper:
                problems.append((f"{base}.outlet_damper", "the same damper as the inlet"))
            q = [p[0] for p in eq.curve]
            if q[0] < 0 or any(b <= a for a, b in zip(q, q[1:], strict=False)):
                problems.append((f"{base}.curve", "flows must rise from point to point, "
                                 "from 0 or more"))
            if any(p[1] < 0 for p in eq.curve):
                problems.append((f"{base}.curve", "a fan's static pressure is not below 0 "
                                 "on its curve"))
        if isinstance(eq, AuxFanEq) and eq.face not in c.faces:
            problems.append((f"{base}.face", f"{eq.face!r} is not a face of "
                             f"systems.{sname}.control.faces"))
    cbase = f"systems.{sname}.control"
    for i, f in enumerate(c.fans):
        _is(system, f, FanEq, "a main fan", sname, f"{cbase}.fans.{i}", problems)
    if len(set(c.fans)) != len(c.fans):
        problems.append((f"{cbase}.fans", "the working and the standby fan are the same"))
    _is(system, c.shaft_sensor, AirSensorEq, "an air sensor", sname, f"{cbase}.shaft_sensor",
        problems)
    for face, spec in c.faces.items():
        for i, f in enumerate(spec.fans):
            eq = eqs.get(f)
            if not isinstance(eq, AuxFanEq):
                problems.append((f"{cbase}.faces.{face}.fans.{i}",
                                 f"{f!r} is not an auxiliary fan of system {sname!r}"))
            elif eq.face != face:
                problems.append((f"{cbase}.faces.{face}.fans.{i}",
                                 f"{f!r} serves face {eq.face!r}, not {face!r}"))
        if len(set(spec.fans)) != len(spec.fans):
            problems.append((f"{cbase}.faces.{face}.fans", "the working and the standby fan "
                             "are the same"))
    for ename, eq in eqs.items():
        base = f"systems.{sname}.equipment.{ename}"
        if isinstance(eq, DoorEq) and c.door_timeout_s <= eq.warn_s + eq.travel_s:
            problems.append((f"{cbase}.door_timeout_s", f"{c.door_timeout_s:g} s is not more "
                             f"than {ename}'s warning and travel ({eq.warn_s:g} + "
                             f"{eq.travel_s:g} s): every move would time out"))
        if isinstance(eq, WindowEq) and c.window_timeout_s < eq.travel_s:
            problems.append((f"{cbase}.window_timeout_s", f"{c.window_timeout_s:g} s is less "
                             f"than {ename}'s full travel ({eq.travel_s:g} s)"))
    for face in c.faces:
        if face in eqs or face in ("station", "control"):
            problems.append((f"{cbase}.faces.{face}", f"{face!r} is also the name of "
                             "equipment or of the station: their tags would collide"))
    locks = Counter(eq.airlock for eq in eqs.values() if isinstance(eq, DoorEq))
    for ename, eq in eqs.items():
        if isinstance(eq, DoorEq) and locks[eq.airlock] < 2:
            problems.append((f"systems.{sname}.equipment.{ename}.airlock",
                             f"airlock {eq.airlock!r} has one door; an airlock is two or "
                             "more doors, of which only one may be open"))
    _check_network(sname, system, problems)
    return problems


def _check_network(sname: str, system: VentilationSystem, problems: Problems) -> None:
    net = system.network
    base = f"systems.{sname}.network"
    if net is None:
        return
    junctions = {j for b in net.branches.values() for j in (b.start, b.end)}
    if net.surface not in junctions:
        problems.append((f"{base}.surface", f"no branch starts or ends at {net.surface!r}"))
    fans_in = Counter(b.fan for b in net.branches.values() if b.fan is not None)
    for bname, b in net.branches.items():
        w = f"{base}.branches.{bname}"
        if b.start == b.end:
            problems.append((f"{w}.end", "a branch joins two different junctions"))
        _is(system, b.fan, FanEq, "a main fan", sname, f"{w}.fan", problems)
        _is(system, b.regulator, WindowEq, "a regulating window", sname, f"{w}.regulator",
            problems)
        if b.fan is not None and fans_in[b.fan] > 1:
            problems.append((f"{w}.fan", f"fan {b.fan!r} is in more than one branch"))
        if b.fixed_m3s is not None and b.fan is not None:
            problems.append((f"{w}.fixed_m3s", "a fan's branch is not held to a quantity: "
                             "its fan sets it"))
    for f in system.control.fans:
        if f not in fans_in:
            problems.append((f"{base}.branches", f"main fan {f!r} is in no branch"))
    for uname, u in net.users.items():
        w = f"{base}.users.{uname}"
        if u.branch not in net.branches:
            problems.append((f"{w}.branch", f"unknown branch {u.branch!r}"))
        elif u.min_velocity_ms > 0 and net.branches[u.branch].area_m2 is None:
            problems.append((f"{w}.min_velocity_ms", f"branch {u.branch!r} has no area_m2 "
                             "to turn a velocity into air"))
    for ename, eq in system.equipment.items():
        if isinstance(eq, AirSensorEq) and eq.branch is not None and \
                eq.branch not in net.branches:
            problems.append((f"systems.{sname}.equipment.{ename}.branch",
                             f"unknown branch {eq.branch!r} of {base}"))


def check_site(cfg: SiteConfig) -> Problems:
    """Each [[hil.ventilation]] simulates a ventilation system's PLC, or one of its faces'."""
    problems: Problems = []
    for i, h in enumerate(getattr(cfg.hil, "ventilation", [])):
        base = f"hil.ventilation.{i}"
        system = cfg.systems.get(h.system)
        if not isinstance(system, VentilationSystem):
            problems.append((f"{base}.system", f"{h.system!r} is not a ventilation system"))
        elif h.face is not None and h.face not in system.control.faces:
            problems.append((f"{base}.face", f"{h.face!r} is not a face of system "
                             f"{h.system!r}"))
        if h.plc not in cfg.plcs:
            problems.append((f"{base}.plc", f"unknown PLC {h.plc!r}"))
    return problems
