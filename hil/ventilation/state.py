"""A fan station's or a face's plant and PLC as the HIL's state file keeps them
(hil/state.py holds the file and its strict reading; this says what is kept and checks
it back: every value against the type and range a fresh plant holds)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from fixedsite.hil.state import StateError, assign, get, kind, list_of, real
from fixedsite.hil.ventilation.plant import AuxFanState, AuxPlant, FanState, VentilationPlant
from fixedsite.hil.ventilation.plc import BACK, IDLE, AuxPlc, DoorCtl, StationPlc

TRAVEL = ("position", "target", "stuck")


def _travel(t: Any) -> dict[str, Any]:
    return {k: getattr(t, k) for k in TRAVEL}


def snapshot_station(plant: VentilationPlant, plc: StationPlc) -> dict[str, Any]:
    return {
        "fans": [dataclasses.asdict(f) for f in plant.fans],
        "dampers": [[_travel(i), _travel(o)] for i, o in plant.dampers],
        "windows": [_travel(w) for w in plant.windows],
        "doors": [_travel(d) | {"obstacle": d.obstacle} for d in plant.doors],
        "sensors": [{"stuck_at": None if s.stuck_at is None else list(s.stuck_at),
                     "drift_per_h": s.drift_per_h, "offset": s.offset}
                    for s in plant.sensors],
        "air": {"q": [float(x) for x in plant.net.q], "reg": [float(x) for x in
                                                           plant.net.reg]},
        "plc": {"coils": list(plc.coils), "hr": list(plc.hr), "fault": list(plc.fault),
                "fallback": plc.fallback,
                "doors": [dataclasses.asdict(d) for d in plc.doors]},
    }


def _fields(like: Any, saved: Any, where: str) -> dict[str, Any]:
    return {f.name: kind(getattr(like, f.name), get(saved, f.name, where), f"{where}{f.name}")
            for f in dataclasses.fields(like)}


def _travels(objs: list[Any], saved: Any, where: str, extra: tuple[str, ...] = ()
             ) -> list[Callable[[], None]]:
    if not isinstance(saved, list) or len(saved) != len(objs):
        raise StateError(f"{where}: expected a list of {len(objs)}")
    sets: list[Callable[[], None]] = []
    for k, (o, s) in enumerate(zip(objs, saved, strict=True)):
        w = f"{where}.{k}."
        values = {"position": real(get(s, "position", w), f"{w}position", 0, 1),
                  "target": real(get(s, "target", w), f"{w}target", 0, 1),
                  "stuck": kind(True, get(s, "stuck", w), f"{w}stuck")}
        values |= {x: kind(True, get(s, x, w), f"{w}{x}") for x in extra}
        sets.append(lambda o=o, values=values: assign(o, **values))
    return sets


def _image(plc: Any, p: Any, w: str) -> tuple[list[bool], list[int], list[int], bool]:
    coils = list_of(plc.coils, get(p, "coils", w), f"{w}coils")
    hr = list_of(plc.hr, get(p, "hr", w), f"{w}hr")
    if any(x > 65535 for x in hr):
        raise StateError(f"{w}hr: a register above 65535")
    fault = list_of(plc.fault, get(p, "fault", w), f"{w}fault")
    if any(x > 5 for x in fault):
        raise StateError(f"{w}fault: a trip code the PLC does not have")
    fallback = kind(True, get(p, "fallback", w), f"{w}fallback")
    return coils, hr, fault, fallback


def restore_station(plant: VentilationPlant, plc: StationPlc, s: Any, w: str
                    ) -> list[Callable[[], None]]:
    sets: list[Callable[[], None]] = []
    fans = get(s, "fans", w)
    if not isinstance(fans, list) or len(fans) != len(plant.fans):
        raise StateError(f"{w}fans: not one entry per fan")
    for i, (f, saved) in enumerate(zip(plant.fans, fans, strict=True)):
        values = _fields(FanState(), saved, f"{w}fans.{i}.")
        for x in ("speed", "speed_sp"):
            real(values[x], f"{w}fans.{i}.{x}", 0, 1)
        sets.append(lambda f=f, values=values: assign(f, **values))
    dampers = get(s, "dampers", w)
    if not isinstance(dampers, list) or len(dampers) != len(plant.dampers):
        raise StateError(f"{w}dampers: not one pair per fan")
    for i, (pair, saved) in enumerate(zip(plant.dampers, dampers, strict=True)):
        sets += _travels(list(pair), saved, f"{w}dampers.{i}")
    sets += _travels(plant.windows, get(s, "windows", w), f"{w}windows")
    sets += _travels(plant.doors, get(s, "doors", w), f"{w}doors", ("obstacle",))
    sensors = get(s, "sensors", w)
    if not isinstance(sensors, list) or len(sensors) != len(plant.sensors):
        raise StateError(f"{w}sensors: not one entry per air sensor")
    for j, (sensor, saved) in enumerate(zip(plant.sensors, sensors, strict=True)):
        ws = f"{w}sensors.{j}."
        at = get(saved, "stuck_at", ws)
        if at is not None:
            if not isinstance(at, list) or len(at) != 5:
                raise StateError(f"{ws}stuck_at: expected 5 readings or null")
            at = tuple(real(x, f"{ws}stuck_at") for x in at)
        drift = real(get(saved, "drift_per_h", ws), f"{ws}drift_per_h", -100, 100)
        offset = real(get(saved, "offset", ws), f"{ws}offset", -1e4, 1e4)
        sets.append(lambda sensor=sensor, at=at, drift=drift, offset=offset: assign(
            sensor, stuck_at=at, drift_per_h=drift, offset=offset))
    air = get(s, "air", w)
    q = [real(x, f"{w}air.q") for x in _list(get(air, "q", f"{w}air."), len(plant.net.q),
                                            f"{w}air.q")]
    reg = [real(x, f"{w}air.reg") for x in _list(get(air, "reg", f"{w}air."),
                                                len(plant.net.reg), f"{w}air.reg")]

    def set_air() -> None:
        net = plant.net
        net.q[:] = q
        net.reg[:] = reg
        net.flow = net.C.T @ net.q if net.C.shape[0] else net.flow * 0.0
        net.dflow[:] = 0.0
        for i, f in enumerate(plant.fans):
            f.flow = float(net.flow[plant.fan_branch[i]])
    sets.append(set_air)
    p = get(s, "plc", w)
    coils, hr, fault, fallback = _image(plc, p, f"{w}plc.")
    doors = get(p, "doors", f"{w}plc.")
    if not isinstance(doors, list) or len(doors) != len(plc.doors):
        raise StateError(f"{w}plc.doors: not one entry per door")
    ctls = []
    for j, saved in enumerate(doors):
        values = _fields(DoorCtl(), saved, f"{w}plc.doors.{j}.")
        if not IDLE <= values["phase"] <= BACK:
            raise StateError(f"{w}plc.doors.{j}.phase: no such phase ({values['phase']})")
        ctls.append(DoorCtl(**values))

    def set_plc() -> None:
        plc.coils[:], plc.hr[:], plc.fault[:] = coils, hr, fault
        plc.wd.fallback = fallback
        plc.doors[:] = ctls
    sets.append(set_plc)
    return sets


def _list(x: Any, n: int, where: str) -> list[Any]:
    if not isinstance(x, list) or len(x) != n:
        raise StateError(f"{where}: expected a list of {n}")
    return x


def snapshot_aux(plant: AuxPlant, plc: AuxPlc) -> dict[str, Any]:
    return {"fans": [dataclasses.asdict(f) for f in plant.fans],
            "plc": {"coils": list(plc.coils), "hr": list(plc.hr), "fault": list(plc.fault),
                    "fallback": plc.fallback}}


def restore_aux(plant: AuxPlant, plc: AuxPlc, s: Any, w: str) -> list[Callable[[], None]]:
    sets: list[Callable[[], None]] = []
    fans = get(s, "fans", w)
    if not isinstance(fans, list) or len(fans) != len(plant.fans):
        raise StateError(f"{w}fans: not one entry per auxiliary fan")
    for i, (f, saved) in enumerate(zip(plant.fans, fans, strict=True)):
        values = _fields(AuxFanState(), saved, f"{w}fans.{i}.")
        real(values["speed"], f"{w}fans.{i}.speed", 0, 1)
        sets.append(lambda f=f, values=values: assign(f, **values))
    coils, hr, fault, fallback = _image(plc, get(s, "plc", w), f"{w}plc.")

    def set_plc() -> None:
        plc.coils[:], plc.hr[:], plc.fault[:] = coils, hr, fault
        plc.wd.fallback = fallback
    sets.append(set_plc)
    return sets
