"""A pump room's plant and PLC as the HIL's state file keeps them (hil/state.py holds the
file and its strict reading; this says what of a pump room is kept and checks it back)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from fixedsite.hil.drainage.plant import DrainagePlant, PumpState
from fixedsite.hil.drainage.plc import DrainagePlc
from fixedsite.hil.state import StateError, assign, get, kind, list_of, real

ADDED = frozenset({"prime_fail"})     # pump fields newer than the first state files


def snapshot(plant: DrainagePlant, plc: DrainagePlc) -> dict[str, Any]:
    return {
        "sump": {"volume": plant.sump.volume, "overflowed_m3": plant.sump.overflowed_m3,
                 "max_level": plant.max_level, "min_level": plant.min_level},
        "inflow": {"ar": plant.inflow._ar,   # noqa: SLF001 - the noise's memory
                   "now": plant.inflow_now},
        "pumps": [dataclasses.asdict(p) for p in plant.pumps],
        "valves": [{"position": v.position, "target": v.target, "stuck": v.stuck}
                   for v in plant.valves],
        "sensors": [{"stuck_at": s.stuck_at, "drift_m_per_h": s.drift_m_per_h,
                     "offset_m": s.offset_m} for s in plant.sensors],
        "plc": {"coils": list(plc.coils), "hr": list(plc.hr), "fault": list(plc.fault),
                "trip_injected": list(plc.trip_injected), "local": list(plc.local),
                "fallback": plc.fallback, "demand": plc._demand},  # noqa: SLF001
    }


def restore(plant: DrainagePlant, plc: DrainagePlc, s: Any, w: str) -> list[Callable[[], None]]:
    sets: list[Callable[[], None]] = []
    sump = get(s, "sump", w)
    volume = real(get(sump, "volume", f"{w}sump."), f"{w}sump.volume", 0,
                   plant.sump.capacity)
    over = real(get(sump, "overflowed_m3", f"{w}sump."), f"{w}sump.overflowed_m3", 0)
    hi = real(get(sump, "max_level", f"{w}sump."), f"{w}sump.max_level", 0)
    lo = real(get(sump, "min_level", f"{w}sump."), f"{w}sump.min_level", 0)
    ar = real(get(get(s, "inflow", w), "ar", f"{w}inflow."), f"{w}inflow.ar", -10, 10)
    inflow = real(get(get(s, "inflow", w), "now", f"{w}inflow."), f"{w}inflow.now", 0)

    def set_sump() -> None:
        plant.sump.volume, plant.sump.overflowed_m3 = volume, over
        plant.max_level, plant.min_level = hi, lo
        plant.inflow._ar, plant.inflow_now = ar, inflow  # noqa: SLF001
    sets.append(set_sump)
    pumps = get(s, "pumps", w)
    if not isinstance(pumps, list) or len(pumps) != len(plant.pumps):
        raise StateError(f"{w}pumps: not one entry per pump")
    for i, (p, saved) in enumerate(zip(plant.pumps, pumps, strict=True)):
        # a state saved before a field was added keeps that field's fresh value
        values = {f.name: kind(getattr(PumpState(), f.name),
                                get(saved, f.name, f"{w}pumps.{i}."), f"{w}pumps.{i}.{f.name}")
                  for f in dataclasses.fields(PumpState)
                  if f.name not in ADDED or isinstance(saved, dict) and f.name in saved}
        sets.append(lambda p=p, values=values: assign(p, **values))
    valves = get(s, "valves", w)
    if not isinstance(valves, list) or len(valves) != len(plant.valves):
        raise StateError(f"{w}valves: not one entry per valve")
    for i, (v, saved) in enumerate(zip(plant.valves, valves, strict=True)):
        pos = real(get(saved, "position", f"{w}valves.{i}."), f"{w}valves.{i}.position", 0, 1)
        tgt = real(get(saved, "target", f"{w}valves.{i}."), f"{w}valves.{i}.target", 0, 1)
        stuck = kind(True, get(saved, "stuck", f"{w}valves.{i}."), f"{w}valves.{i}.stuck")
        sets.append(lambda v=v, pos=pos, tgt=tgt, stuck=stuck: assign(v, position=pos,
                                                                     target=tgt, stuck=stuck))
    sensors = get(s, "sensors", w)
    if not isinstance(sensors, list) or len(sensors) != len(plant.sensors):
        raise StateError(f"{w}sensors: not one entry per level sensor")
    for j, (sensor, saved) in enumerate(zip(plant.sensors, sensors, strict=True)):
        where = f"{w}sensors.{j}."
        at = get(saved, "stuck_at", where)
        at = None if at is None else real(at, f"{where}stuck_at", 0)
        drift = real(get(saved, "drift_m_per_h", where), f"{where}drift_m_per_h", -10, 10)
        offset = real(get(saved, "offset_m", where), f"{where}offset_m", -1e3, 1e3)
        sets.append(lambda sensor=sensor, at=at, drift=drift, offset=offset: assign(
            sensor, stuck_at=at, drift_m_per_h=drift, offset_m=offset))
    p = get(s, "plc", w)
    coils = list_of(plc.coils, get(p, "coils", f"{w}plc."), f"{w}plc.coils")
    hr = list_of(plc.hr, get(p, "hr", f"{w}plc."), f"{w}plc.hr")
    if any(x > 65535 for x in hr):
        raise StateError(f"{w}plc.hr: a register above 65535")
    fault = list_of(plc.fault, get(p, "fault", f"{w}plc."), f"{w}plc.fault")
    trip = list_of(plc.trip_injected, get(p, "trip_injected", f"{w}plc."),
                 f"{w}plc.trip_injected")
    local = list_of(plc.local, get(p, "local", f"{w}plc."), f"{w}plc.local")
    fallback = kind(True, get(p, "fallback", f"{w}plc."), f"{w}plc.fallback")
    demand = kind(0, get(p, "demand", f"{w}plc."), f"{w}plc.demand")
    if demand > len(plant.pumps):
        raise StateError(f"{w}plc.demand: more pumps than there are ({demand})")

    def set_plc() -> None:
        plc.coils[:], plc.hr[:], plc.fault[:] = coils, hr, fault
        plc.trip_injected[:], plc.local[:] = trip, local
        plc.fallback, plc._demand = fallback, demand  # noqa: SLF001
    sets.append(set_plc)
    return sets
