"""A hoist's plant and PLC as the HIL's state file keeps them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fixedsite.hil.hoist.plant import HoistPlant
from fixedsite.hil.hoist.plc import HoistPlc
from fixedsite.hil.state import StateError, get, kind, list_of, real


def snapshot(plant: HoistPlant, plc: HoistPlc) -> dict[str, Any]:
    c, ld = plant.cage, plant.loading
    return {"cage": {"x": c.x, "load_t": c.load_t, "energy_kwh": c.energy_kwh,
                     "run_hours": c.run_hours},
            "loading": {"bin_t": ld.bin_t, "hopper_t": ld.hopper_t},
            "surface_t": plant.surface.t,
            "plc": {"coils": list(plc.coils), "hr": list(plc.hr), "state": plc.state,
                    "fault": plc.fault, "brake_ok": plc.brake_ok, "trips": plc.trips,
                    "starts": plc.starts, "fallback": plc.fallback}}


def restore(plant: HoistPlant, plc: HoistPlc, s: Any, w: str) -> list[Callable[[], None]]:
    c = get(s, "cage", w)
    spec = plant.cage.spec
    x = real(get(c, "x", f"{w}cage."), f"{w}cage.x", -1.0, spec.depth + 1.0)
    load = real(get(c, "load_t", f"{w}cage."), f"{w}cage.load_t", 0, 10 * spec.payload)
    energy = real(get(c, "energy_kwh", f"{w}cage."), f"{w}cage.energy_kwh", 0)
    hours = real(get(c, "run_hours", f"{w}cage."), f"{w}cage.run_hours", 0)
    ld = get(s, "loading", w)
    bin_t = real(get(ld, "bin_t", f"{w}loading."), f"{w}loading.bin_t", 0,
                 plant.loading.bin_cap)
    hopper = real(get(ld, "hopper_t", f"{w}loading."), f"{w}loading.hopper_t", 0, 1e4)
    surface = real(get(s, "surface_t", w), f"{w}surface_t", 0, 1e6)
    p = get(s, "plc", w)
    coils = list_of(plc.coils, get(p, "coils", f"{w}plc."), f"{w}plc.coils")
    hr = list_of(plc.hr, get(p, "hr", f"{w}plc."), f"{w}plc.hr")
    if any(not 0 <= v <= 65535 for v in hr):
        raise StateError(f"{w}plc.hr: a register out of 0..65535")
    state = kind(0, get(p, "state", f"{w}plc."), f"{w}plc.state")
    fault = kind(0, get(p, "fault", f"{w}plc."), f"{w}plc.fault")
    if not 0 <= state <= 5 or not 0 <= fault <= 8:
        raise StateError(f"{w}plc: state {state} or fault {fault} out of range")
    brake = kind(True, get(p, "brake_ok", f"{w}plc."), f"{w}plc.brake_ok")
    trips = kind(0, get(p, "trips", f"{w}plc."), f"{w}plc.trips")
    starts = kind(0, get(p, "starts", f"{w}plc."), f"{w}plc.starts")
    fallback = kind(True, get(p, "fallback", f"{w}plc."), f"{w}plc.fallback")

    def put() -> None:
        cg = plant.cage
        cg.x, cg.v, cg.load_t, cg.energy_kwh, cg.run_hours = x, 0.0, load, energy, hours
        plant.loading.bin_t, plant.loading.hopper_t = bin_t, hopper
        plant.surface.t = surface
        plc.coils[:], plc.hr[:] = coils, hr
        # a trip cut by the stop is finished standing: the skip stopped where it was
        plc.state = 4 if state in (1, 3) else state
        plc.fault, plc.brake_ok, plc.trips, plc.starts = fault, brake, trips, starts
        plc.fallback = fallback
    return [put]
