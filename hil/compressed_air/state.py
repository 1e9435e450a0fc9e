"""A compressor station's plant and PLC as the HIL's state file keeps them (hil/state.py
holds the file and its strict reading; this says what of a station is kept and checks it
back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fixedsite.hil.compressed_air.plant import AirPlant
from fixedsite.hil.compressed_air.plc import AirPlc
from fixedsite.hil.state import StateError, assign, get, kind, list_of, real

# what of a compressor is kept (its spec comes from the config)
KEPT = ("motor_on", "loaded", "starting_s", "discharge_c", "oil_mpa", "energy_kwh",
        "run_hours", "loaded_hours", "starts", "oil_low", "overheat")


def snapshot(plant: AirPlant, plc: AirPlc) -> dict[str, Any]:
    return {
        "pressure": plant.pressure, "supply_ok": plant.supply_ok,
        "leak_m3min": plant.demand.step_m3min,
        "compressors": [{k: getattr(c, k) for k in KEPT} for c in plant.compressors],
        "cooling": {"pumps_on": list(plant.cooling.pumps_on),
                    "water_c": plant.cooling.water_c, "switch_stuck": plant.cooling.switch_stuck},
        "plc": {"coils": list(plc.coils), "hr": list(plc.hr), "fault": list(plc.fault),
                "state": list(plc.state), "local": list(plc.local),
                "pump_fault": list(plc.pump_fault),
                "pump_trip_injected": list(plc.pump_trip_injected), "fallback": plc.fallback},
    }


def restore(plant: AirPlant, plc: AirPlc, s: Any, w: str) -> list[Callable[[], None]]:
    sets: list[Callable[[], None]] = []
    pressure = real(get(s, "pressure", w), f"{w}pressure", 0, 2.0)
    supply = kind(True, get(s, "supply_ok", w), f"{w}supply_ok")
    leak = real(get(s, "leak_m3min", w), f"{w}leak_m3min", 0, 1e4)
    comps = get(s, "compressors", w)
    if not isinstance(comps, list) or len(comps) != len(plant.compressors):
        raise StateError(f"{w}compressors: not one entry per compressor")
    for i, (c, saved) in enumerate(zip(plant.compressors, comps, strict=True)):
        values = {k: kind(getattr(c, k), get(saved, k, f"{w}compressors.{i}."),
                          f"{w}compressors.{i}.{k}") for k in KEPT}
        for k in ("energy_kwh", "run_hours", "loaded_hours", "starting_s", "oil_mpa"):
            values[k] = real(values[k], f"{w}compressors.{i}.{k}", 0)
        sets.append(lambda c=c, values=values: assign(c, **values))
    cool = get(s, "cooling", w)
    pumps_on = list_of(plant.cooling.pumps_on, get(cool, "pumps_on", f"{w}cooling."),
                       f"{w}cooling.pumps_on")
    water = real(get(cool, "water_c", f"{w}cooling."), f"{w}cooling.water_c", -50, 200)
    stuck = get(cool, "switch_stuck", f"{w}cooling.")
    if stuck is not None and not isinstance(stuck, bool):
        raise StateError(f"{w}cooling.switch_stuck: not true, false or null ({stuck!r})")
    p = get(s, "plc", w)
    coils = list_of(plc.coils, get(p, "coils", f"{w}plc."), f"{w}plc.coils")
    hr = list_of(plc.hr, get(p, "hr", f"{w}plc."), f"{w}plc.hr")
    if any(x < 0 or x > 65535 for x in hr):
        raise StateError(f"{w}plc.hr: a register out of 0..65535")
    fault = list_of(plc.fault, get(p, "fault", f"{w}plc."), f"{w}plc.fault")
    state = list_of(plc.state, get(p, "state", f"{w}plc."), f"{w}plc.state")
    if any(not 0 <= x <= 5 for x in state):
        raise StateError(f"{w}plc.state: a state out of 0..5")
    local = list_of(plc.local, get(p, "local", f"{w}plc."), f"{w}plc.local")
    pfault = list_of(plc.pump_fault, get(p, "pump_fault", f"{w}plc."), f"{w}plc.pump_fault")
    ptrip = list_of(plc.pump_trip_injected, get(p, "pump_trip_injected", f"{w}plc."),
                    f"{w}plc.pump_trip_injected")
    fallback = kind(True, get(p, "fallback", f"{w}plc."), f"{w}plc.fallback")

    def set_rest() -> None:
        plant.pressure, plant.supply_ok, plant.demand.step_m3min = pressure, supply, leak
        plant.cooling.pumps_on[:], plant.cooling.water_c = pumps_on, water
        plant.cooling.switch_stuck = stuck
        plc.coils[:], plc.hr[:], plc.fault[:], plc.state[:] = coils, hr, fault, state
        plc.local[:], plc.pump_fault[:], plc.pump_trip_injected[:] = local, pfault, ptrip
        plc.fallback = fallback
    sets.append(set_rest)
    return sets
