"""A compressor station in the HIL: its plant and PLC built from the site config, its
faults, its status line, its register map named as the config names the equipment, and
its state. ``HIL`` is what the compressed-air plug-in declares (``SystemSpec.hil_kind``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.compressed_air import state
from fixedsite.hil.compressed_air.plant import (
    AirPlant,
    Compressor,
    CompressorSpec,
    Cooling,
    Demand,
)
from fixedsite.hil.compressed_air.plc import ST_LOADED, AirPlc, points, register_map
from fixedsite.hil.faults import Fault, InjectError, Injection, Taken, number
from fixedsite.hil.unit import HilKind, HilUnit, Point
from fixedsite.sequences.compressed_air.config import (
    CompressedAirSystem,
    CompressorEq,
    HilCompressedAir,
)


def _leak(args: Sequence[object]) -> Taken:
    if len(args) != 1:
        raise InjectError("leak takes one number, m3/min of free air (0: repaired)")
    return {"number": number(args[0], "m3/min", 0, 1000)}


FAULTS: dict[str, Fault] = {
    "cw-pump-trip": Fault("water_pump", "[on|off]", "the cooling-water pump's motor "
                          "protection trips it (off: the cause is gone; the controller "
                          "must still reset it)", word="trip"),
    "flow-switch-stuck": Fault("system", "[on|off]", "the cooling-water flow switch "
                               "freezes at its present reading", word="flow switch stuck"),
    "overheat": Fault("compressor", "[on|off]", "the air end runs hot (a fouled oil "
                      "cooler): the discharge temperature climbs to the 120 degC trip",
                      word="overheat"),
    "oil-low": Fault("compressor", "[on|off]", "the oil pressure falls (filter, pump): "
                     "the PLC trips the machine after 5 s under 0.15 MPa", word="oil low"),
    "leak": Fault("system", "M3MIN", "a burst hose or open valve underground: this much "
                  "more demand from now (0: repaired)", take=_leak,
                  tell=lambda i: f"{i.target}: leak {i.number:g} m3/min"),
    "upstream-lost": Fault("system", "[on|off]", "the station's upstream breaker opens: "
                           "every machine stops without a trip (off: supply back)",
                           word="upstream supply lost"),
    "local": Fault("compressor", "[on|off]", "the compressor's field selector to LOCAL: "
                   "the PLC ignores remote commands (off: back to remote)", word="local"),
}


def _system(cfg: SiteConfig, h: HilCompressedAir) -> CompressedAirSystem:
    system = cfg.systems[h.system]
    assert isinstance(system, CompressedAirSystem)
    return system


def items(cfg: SiteConfig, h: HilCompressedAir) -> dict[str, list[str]]:
    """Compressors and cooling-water pumps in slot order (the PLC's numbering)."""
    eqs = _system(cfg, h).equipment
    comps = sorted((n for n, e in eqs.items() if isinstance(e, CompressorEq)),
                   key=lambda n: eqs[n].slot)            # type: ignore[union-attr]
    pumps = sorted((n for n, e in eqs.items() if e.type == "water_pump"),
                   key=lambda n: eqs[n].slot)            # type: ignore[union-attr]
    return {"compressor": comps, "water_pump": pumps}


class AirUnit(HilUnit):
    """One compressor station: its plant, its PLC and (set by the site) its server."""

    def __init__(self, site: SiteConfig, h: HilCompressedAir, plant: AirPlant, plc: AirPlc,
                 clock: ScaledClock) -> None:
        self.site, self.cfg, self.plant, self.plc, self.clock = site, h, plant, plc, clock
        self.items = items(site, h)

    def first_scan(self, now: float) -> None:
        self.plc.scan(now, 0.0)

    def advance(self, now: float, dt: float) -> None:
        self.plant.step(now - dt, dt)
        self.plc.scan(now, dt)

    def inject(self, inj: Injection, now: float) -> None:
        f, i, on = inj.fault, inj.item, inj.on
        if f == "cw-pump-trip":
            self.plc.inject_pump_trip(i, on)
        elif f == "flow-switch-stuck":
            cool = self.plant.cooling
            cool.switch_stuck = cool.switch() if on else None
        elif f == "overheat":
            self.plant.compressors[i].overheat = on
        elif f == "oil-low":
            self.plant.compressors[i].oil_low = on
        elif f == "leak":
            self.plant.demand.step_m3min = inj.number
        elif f == "upstream-lost":
            self.plant.supply_ok = not on
        elif f == "local":
            self.plc.set_local(i, on)
        else:                                 # FAULTS and this method disagree: a bug
            raise InjectError(f"fault {f!r} is listed but not implemented")

    def heartbeat_deaf(self, on: bool) -> None:
        self.plc.inject_heartbeat_deaf(on)

    def status(self) -> dict[str, Any]:
        p, plc = self.plant, self.plc
        words = "  ".join(
            f"{n}:{['off', 'start', 'unl', 'LOAD', 'stop', 'TRIP'][plc.state[k]]}"
            f"{' LOCAL' if plc.local[k] else ''}"
            for k, n in enumerate(self.items["compressor"]))
        pumps = "".join("R" if on else ("T" if f else "-")
                        for on, f in zip(p.cooling.pumps_on, plc.pump_fault, strict=True))
        return {"pressure_mpa": p.pressure, "demand_m3min": p.out_flow,
                "loaded": sum(s == ST_LOADED for s in plc.state), "fallback": plc.fallback,
                "text": f"{p.pressure:.3f} MPa  demand {p.out_flow:.0f} m3/min  "
                        f"cooling {pumps}{'' if p.cooling.flowing else ' NO FLOW'}"
                        f"{'' if p.supply_ok else '  NO SUPPLY'}"
                        f"{'  FALLBACK' if plc.fallback else ''}  {words}"}

    def brief(self) -> str:
        return f"{self.plant.pressure:.3f} MPa"

    def register_map(self) -> list[tuple[str, str]]:
        return register_map(len(self.plant.compressors), len(self.plant.cooling.pumps_on))

    def points(self) -> list[tuple[str, Point]]:
        h, system = self.cfg, _system(self.site, self.cfg)
        ctl = system.control
        who = {"station.0": ctl.station, "plc.0": ctl.station} | \
            ({"cooling.0": ctl.cooling} if ctl.cooling else {}) | \
            {f"compressor.{i}": n for i, n in enumerate(self.items["compressor"])} | \
            {f"water_pump.{j}": n for j, n in enumerate(self.items["water_pump"])}
        out = []
        for p in points(len(self.items["compressor"]), len(self.items["water_pump"])):
            if p.role == "plc.0" and p.signal == "heartbeat":
                out.append((f"plcs.{h.plc}.heartbeat", p))
            elif p.role in who:
                out.append((f"{h.system}.{who[p.role]}.{p.signal}", p))
        return out

    def layout(self) -> dict[str, Any]:
        return {"system": self.cfg.system, "plc": self.cfg.plc,
                "compressors": self.items["compressor"], "pumps": self.items["water_pump"]}

    def snapshot(self) -> dict[str, Any]:
        return state.snapshot(self.plant, self.plc)

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        return state.restore(self.plant, self.plc, saved, where)


def build_one(cfg: SiteConfig, h: HilCompressedAir, clock: ScaledClock) -> AirUnit:
    system = _system(cfg, h)
    names = items(cfg, h)
    # the demand draws from its own generator: two runs on one seed (the bench's project
    # and baseline) see the same mine whatever else of the plant draws
    demand_rng, plant_rng = np.random.default_rng(h.seed), np.random.default_rng(h.seed + 1)
    comps = []
    for n in names["compressor"]:
        e = system.equipment[n]
        assert isinstance(e, CompressorEq)
        comps.append(Compressor(CompressorSpec(e.rated_flow_m3min, e.rated_kw,
                                               e.rated_pressure_mpa, e.unloaded_pct,
                                               e.rated_current_a, e.water_cooled)))
    m = len(names["water_pump"])
    plant = AirPlant(comps, Demand(h.mean_demand_m3min, h.daily_swing, h.noise,
                                   h.bursts_per_h, h.leak_share, demand_rng),
                     Cooling([False] * m, [False] * m), h.volume_m3,
                     h.initial_pressure_mpa, rng=plant_rng)
    plc = AirPlc(plant, clock.silence_timeout(h.watchdog_s), list(h.local_bands_mpa),
                 h.local_run_on_s, initial_mode=2 if h.initial_mode == "auto" else 1)
    return AirUnit(cfg, h, plant, plc, clock)


def build(cfg: SiteConfig, entries: list[HilCompressedAir],
          clock: ScaledClock) -> list[HilUnit]:
    return [build_one(cfg, h, clock) for h in entries]


HIL = HilKind(faults=FAULTS, words={"compressor": "compressor",
                                    "water_pump": "cooling-water pump"},
              items=items, build=build)
