"""A hoist in the HIL: its plant and S7 PLC built from the site config, its faults, its
status line, its register map named as the config names the equipment, and its state.
``HIL`` is what the hoist plug-in declares (``SystemSpec.hil_kind``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.faults import Fault, InjectError, Injection, Taken, number
from fixedsite.hil.hoist import state
from fixedsite.hil.hoist.plant import (
    Conveyance,
    HoistPlant,
    Loading,
    Ropes,
    SurfaceBin,
    WinderSpec,
)
from fixedsite.hil.hoist.plc import PROTECTIONS, HoistPlc, points, register_map
from fixedsite.hil.unit import HilKind, HilUnit, Point
from fixedsite.sequences.hoist.config import HilHoist, HoistSystem, WinderEq


def _drift(args: Sequence[object]) -> Taken:
    if len(args) != 1:
        raise InjectError("weigh-drift takes one number, t/h (0: drift and offset gone)")
    return {"number": number(args[0], "t/h", -100, 100)}


def _protection(args: Sequence[object]) -> Taken:
    if len(args) not in (1, 2) or str(args[0]) not in PROTECTIONS:
        raise InjectError(f"protection-trip takes one of {', '.join(PROTECTIONS)} "
                          "[on|off]")
    on = len(args) == 1 or str(args[1]).lower() != "off"
    return {"number": float(PROTECTIONS.index(str(args[0])) + 1), "on": on}


FAULTS: dict[str, Fault] = {
    "protection-trip": Fault("system", "CAUSE [on|off]", "the hoist's PLC trips on this "
                             "protection (" + ", ".join(PROTECTIONS) + "); off: the cause "
                             "is gone, the controller must still reset", take=_protection,
                             tell=lambda i: f"{i.target}: protection "
                                            f"{PROTECTIONS[int(i.number) - 1]} "
                                            f"{'on' if i.on else 'off'}"),
    "weigh-drift": Fault("system", "T_PER_H", "the weigh hopper's load cell drifts by this "
                         "much an hour from now", take=_drift,
                         tell=lambda i: f"{i.target}: weigh cell drift {i.number:g} t/h"),
    "feeder-runs-on": Fault("system", "[on|off]", "the feeder does not stop when commanded "
                            "off", word="feeder runs on"),
    "bin-level-stuck": Fault("system", "[on|off]", "the underground ore bin's level sensor "
                             "freezes at its reading", word="bin level stuck"),
    "rope-damage": Fault("system", "[on|off]", "the rope monitor signals broken wires and "
                         "loss of section", word="rope damage"),
    "rope-monitor-fault": Fault("system", "[on|off]", "the rope monitor itself is out of "
                                "order (its healthy signal drops)", word="rope monitor fault"),
    "access-open": Fault("system", "[on|off]", "the winder room's access door is open",
                         word="access open"),
    "local": Fault("system", "[on|off]", "the winder's desk takes LOCAL control",
                   word="local"),
}


def _system(cfg: SiteConfig, h: HilHoist) -> HoistSystem:
    system = cfg.systems[h.system]
    assert isinstance(system, HoistSystem)
    return system


def items(cfg: SiteConfig, h: HilHoist) -> dict[str, list[str]]:
    return {}


class HoistUnit(HilUnit):
    def __init__(self, site: SiteConfig, h: HilHoist, plant: HoistPlant, plc: HoistPlc,
                 clock: ScaledClock) -> None:
        self.site, self.cfg, self.plant, self.plc, self.clock = site, h, plant, plc, clock
        self.items = {}

    def first_scan(self, now: float) -> None:
        self.plc.scan(now, 0.0)

    def advance(self, now: float, dt: float) -> None:
        # the winder's motion in steps short enough for its end positions at any scale
        n = max(1, int(dt / 0.1 + 0.999))
        for k in range(n):
            self.plc.scan(now - dt + (k + 1) * dt / n, dt / n)

    def inject(self, inj: Injection, now: float) -> None:
        f, on, p = inj.fault, inj.on, self.plant
        if f == "protection-trip":
            cause = PROTECTIONS[int(inj.number) - 1]
            setter = {"overspeed": "overspeed", "deceleration": "decel_fail",
                      "depth": "depth_fail"}.get(cause)
            if setter is not None:
                setattr(p, setter, on)
            elif cause == "slack-rope":
                p.ropes.slack = on
            elif cause == "brake-gap":
                p.brake_gap_mm = 2.6 if on else 1.2
            else:                              # overwind, overload, overcurrent: as told
                self.plc.trip_injected = int(inj.number) if on else 0
        elif f == "weigh-drift":
            p.loading.drift_tph = inj.number
            if inj.number == 0.0:
                p.loading.offset_t = 0.0
        elif f == "feeder-runs-on":
            p.loading.feeder_stuck = on
        elif f == "bin-level-stuck":
            p.loading.level_stuck_at = p.loading.level_pct() if on else None
        elif f == "rope-damage":
            p.ropes.damaged = on
        elif f == "rope-monitor-fault":
            p.ropes.monitor_failed = on
        elif f == "access-open":
            self.plc.access_closed = not on
        elif f == "local":
            self.plc.local = on
        else:
            raise InjectError(f"fault {f!r} is listed but not implemented")

    def heartbeat_deaf(self, on: bool) -> None:
        self.plc.wd.deaf = on

    def status(self) -> dict[str, Any]:
        c, plc, ld = self.plant.cage, self.plc, self.plant.loading
        words = ["at loading", "hoisting", "dumping", "returning", "stopped", "TRIPPED"]
        return {"x": c.x, "v": c.v, "state": plc.state, "trips": plc.trips,
                "text": f"{words[plc.state]}{f' ({plc.fault})' if plc.fault else ''}  "
                        f"x {c.x:6.1f} m  v {c.v:5.2f} m/s  skip {c.load_t:5.2f} t  hopper "
                        f"{ld.hopper_t:5.2f} t  bin {ld.level_pct():4.1f} %  surface "
                        f"{self.plant.surface.level_pct():4.1f} %  trips {plc.trips}"
                        f"{'  FALLBACK' if plc.fallback else ''}"}

    def brief(self) -> str:
        return f"{self.plant.cage.x:.1f} m"

    def register_map(self) -> list[tuple[str, str]]:
        return register_map()

    def points(self) -> list[tuple[str, Point]]:
        h, system = self.cfg, _system(self.site, self.cfg)
        c = system.control
        who = {"winder.0": c.winder, "plc.0": c.winder, "loading.0": c.loading,
               "surface.0": c.surface_bin, "rope.0": c.rope_monitor}
        out = []
        for p in points():
            if p.role == "plc.0":
                out.append((f"plcs.{h.plc}.heartbeat", p))
            else:
                out.append((f"{h.system}.{who[p.role]}.{p.signal}", p))
        return out

    def layout(self) -> dict[str, Any]:
        return {"system": self.cfg.system, "plc": self.cfg.plc}

    def snapshot(self) -> dict[str, Any]:
        return state.snapshot(self.plant, self.plc)

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        return state.restore(self.plant, self.plc, saved, where)


def build_one(cfg: SiteConfig, h: HilHoist, clock: ScaledClock) -> HoistUnit:
    system = _system(cfg, h)
    w = system.equipment[system.control.winder]
    assert isinstance(w, WinderEq)
    spec = WinderSpec(w.depth_m, w.max_speed_mps, w.accel_mps2, w.creep_mps, w.payload_t,
                      w.rated_kw, w.rated_current_a, w.ropes)
    feed_rng, plant_rng = np.random.default_rng(h.seed), np.random.default_rng(h.seed + 1)
    plant = HoistPlant(
        Conveyance(spec),
        Loading(h.bin_capacity_t * h.initial_bin_pct / 100, h.bin_capacity_t,
                h.ore_inflow_tph, h.feed_tps, h.fall_s, h.weigh_noise_t, feed_rng),
        SurfaceBin(h.surface_capacity_t * h.initial_surface_pct / 100, h.surface_capacity_t,
                   h.surface_draw_tph),
        Ropes(w.ropes), plant_rng)
    plc = HoistPlc(plant, clock.silence_timeout(h.watchdog_s), h.dump_s, h.charge_s,
                   initial_mode=2 if h.initial_mode == "auto" else 1)
    return HoistUnit(cfg, h, plant, plc, clock)


def build(cfg: SiteConfig, entries: list[HilHoist], clock: ScaledClock) -> list[HilUnit]:
    return [build_one(cfg, h, clock) for h in entries]


HIL = HilKind(faults=FAULTS, words={}, items=items, build=build)
