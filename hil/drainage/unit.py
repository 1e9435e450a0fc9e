"""A pump room in the HIL: its plant and PLC built from the site config, its faults, its
status line, its register map named as the config names the equipment, and its state.

``HIL`` is what the drainage plug-in declares (``SystemSpec.hil_kind``); the site knows a
pump room only through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.drainage import hydrology, state
from fixedsite.hil.drainage.plant import DrainagePlant, Inflow, PumpSpec, Sump
from fixedsite.hil.drainage.plc import DrainagePlc, points, register_map
from fixedsite.hil.faults import Fault, InjectError, Injection, Taken, number
from fixedsite.hil.unit import HilKind, HilUnit, Point
from fixedsite.sequences.drainage.config import (
    HilDrainage,
    HilHydrology,
    PlcStatusEq,
    PumpEq,
    SumpEq,
    ValveEq,
)

SURGE_DEFAULT_S = 3600.0
INRUSH_LEAD_S = 2700.0           # first borehole rise to water in the sump: 45 minutes
INRUSH_PEAK_M3H = 500.0


def _drift(args: Sequence[object]) -> Taken:
    if len(args) != 1:
        raise InjectError("sensor-drift takes one number, m/h (0 stops the drift)")
    return {"number": number(args[0], "m/h", -10, 10)}


def _surge(args: Sequence[object]) -> Taken:
    if not 1 <= len(args) <= 2:
        raise InjectError("inflow-surge takes m3/h and, optionally, a duration in s")
    m3h = number(args[0], "m3/h", 0, 100_000)
    duration = number(args[1], "duration s", 1, 1e7) if len(args) > 1 else SURGE_DEFAULT_S
    return {"number": m3h, "duration_s": duration}


def _inrush(args: Sequence[object]) -> Taken:
    if len(args) > 2:
        raise InjectError("inrush-precursor takes, optionally, a lead in s and a peak in m3/h")
    lead = number(args[0], "lead s", 60, 1e6) if args else INRUSH_LEAD_S
    peak = number(args[1], "peak m3/h", 0, 100_000) if len(args) > 1 else INRUSH_PEAK_M3H
    return {"number": peak, "duration_s": lead}


FAULTS: dict[str, Fault] = {
    "pump-trip": Fault("pump", "[on|off]", "the motor's overload relay trips the pump (off: "
                       "the cause is gone; the controller must still reset the fault)",
                       word="trip"),
    "valve-stuck": Fault("valve", "[on|off]", "the discharge valve's actuator stops where "
                         "it is", word="stuck"),
    "sensor-stuck": Fault("sensor", "[on|off]", "the level transmitter freezes at its "
                          "present reading", word="stuck"),
    "sensor-drift": Fault("sensor", "M_PER_H", "the transmitter's reading drifts by this "
                          "many m an hour from now (0: drift and offset gone)", take=_drift,
                          tell=lambda i: f"{i.target}: drift {i.number:g} m/h"),
    "inflow-surge": Fault("system", "M3H [DURATION_S]", "this much more inflow into the "
                          "system's sump from now, for DURATION_S simulated s (default 3600)",
                          take=_surge, tell=lambda i: f"{i.target}: inflow +{i.number:g} "
                                                      f"m3/h for {i.duration_s:g} s"),
    "local": Fault("pump", "[on|off]", "the pump's field selector to LOCAL: the PLC ignores "
                   "remote commands (off: back to remote)", word="local"),
    "prime-fail": Fault("pump", "[on|off]", "the pump's vacuum priming fails: its casing "
                        "does not fill (off: priming works again)", word="prime fail"),
    "inrush-precursor": Fault(
        "inflow_meter", "[LEAD_S] [PEAK_M3H]", "a water inrush at the zone this meter gauges: "
        "the boreholes rise first, the zone's inflow rises to PEAK_M3H more (default "
        f"{INRUSH_PEAK_M3H:g}), and that water reaches the sump LEAD_S simulated s after the "
        f"first rise (default {INRUSH_LEAD_S:g})", take=_inrush,
        tell=lambda i: f"{i.target}: inrush precursor, +{i.number:g} m3/h reaching the sump "
                       f"in {i.duration_s:g} s"),
}


def items(cfg: SiteConfig, h: HilDrainage) -> dict[str, list[str]]:
    if h.hydrology is not None:
        return {"borehole": [b.name for b in h.hydrology.boreholes],
                "inflow_meter": [h.hydrology.inflow_meter]}
    system = cfg.systems[h.system]
    pumps = list(system.control.pumps)
    valves = [eq.valve for p in pumps if isinstance(eq := system.equipment[p], PumpEq)]
    sump = system.equipment[system.control.sump]
    sensors = list(sump.sensors) if isinstance(sump, SumpEq) else []
    return {"pump": pumps, "valve": valves, "sensor": sensors}


class DrainageUnit(HilUnit):
    """One pump room: its plant, its PLC and (set by the site) the server in front of it."""

    def __init__(self, site: SiteConfig, h: HilDrainage, plant: DrainagePlant,
                 plc: DrainagePlc, clock: ScaledClock) -> None:
        self.site, self.cfg, self.plant, self.plc, self.clock = site, h, plant, plc, clock
        self.items = items(site, h)

    def first_scan(self, now: float) -> None:
        self.plc.scan(now, 0.0)

    def advance(self, now: float, dt: float) -> None:
        self.plant.step(now - dt, dt)
        self.plc.scan(now, dt)

    def surge(self, start_in_s: float, duration_s: float, m3h: float) -> None:
        """``m3h`` more inflow from ``start_in_s`` simulated s from now, for ``duration_s``."""
        t0 = self.clock.now() + start_in_s
        self.plant.inflow.surges.append((t0, t0 + duration_s, m3h))

    def inject(self, inj: Injection, now: float) -> None:
        f, i, on = inj.fault, inj.item, inj.on
        if f == "pump-trip":
            self.plc.inject_trip(i, on)
        elif f == "valve-stuck":
            self.plc.inject_valve_stuck(i, on)
        elif f == "sensor-stuck":
            self.plc.inject_sensor_stuck(i, on)
        elif f == "sensor-drift":
            sensor = self.plant.sensors[i]
            sensor.drift_m_per_h = inj.number
            if inj.number == 0.0:
                sensor.offset_m = 0.0
        elif f == "inflow-surge":
            self.surge(0.0, inj.duration_s, inj.number)
        elif f == "local":
            self.plc.set_local(i, on)
        elif f == "prime-fail":
            self.plant.pumps[i].prime_fail = on
        else:                                 # FAULTS and this method disagree: a bug
            raise InjectError(f"fault {f!r} is listed but not implemented")

    def heartbeat_deaf(self, on: bool) -> None:
        self.plc.inject_heartbeat_deaf(on)

    def status(self) -> dict[str, Any]:
        plant, plc = self.plant, self.plc
        pumps = {n: {"running": p.motor_on, "flow_m3h": p.flow, "fault": plc.fault[k],
                     "local": plc.local[k], "run_hours": p.run_hours}
                 for k, (n, p) in enumerate(zip(self.items["pump"], plant.pumps, strict=True))}
        words = "  ".join(f"{n}:{'run' if p['running'] else 'off'}"
                          f"{' TRIP' if p['fault'] else ''}{' LOCAL' if p['local'] else ''}"
                          for n, p in pumps.items())
        return {"level_m": plant.sump.level, "fallback": plc.fallback, "pumps": pumps,
                "text": f"level {plant.sump.level:.2f} m  inflow {plant.inflow_now:.0f} "
                        f"m3/h{'  FALLBACK' if plc.fallback else ''}  {words}"}

    def brief(self) -> str:
        return f"{self.plant.sump.level:.2f} m"

    def register_map(self) -> list[tuple[str, str]]:
        return register_map(len(self.plant.pumps), len(self.plant.sensors))

    def points(self) -> list[tuple[str, Point]]:
        h, system = self.cfg, self.site.systems[self.cfg.system]
        sump = system.equipment[system.control.sump]
        top = sump.volume_curve[-1][0] if isinstance(sump, SumpEq) else 5.0
        status = next((n for n, eq in system.equipment.items()
                       if isinstance(eq, PlcStatusEq) and eq.plc == h.plc), None)
        pumps, valves, sensors = self.items["pump"], self.items["valve"], self.items["sensor"]
        rated = [getattr(system.equipment[p], "rated_flow_m3h", 280.0) for p in pumps]
        who = {"sump.0": system.control.sump} | \
            {f"pump.{i}": p for i, p in enumerate(pumps)} | \
            {f"valve.{i}": v for i, v in enumerate(valves)} | \
            {f"sensor.{j}": s for j, s in enumerate(sensors)}
        out = []
        for p in points(len(pumps), len(sensors), top, round(2.5 * max(rated, default=280.0))):
            if p.role == "plc.0" and (status is None or p.signal == "heartbeat"):
                tag = f"plcs.{h.plc}.{p.signal}"      # where the config names it
            else:
                tag = f"{h.system}.{status if p.role == 'plc.0' else who[p.role]}.{p.signal}"
            out.append((tag, p))
        return out

    def layout(self) -> dict[str, Any]:
        return {"system": self.cfg.system, "plc": self.cfg.plc, "pumps": self.items["pump"],
                "valves": self.items["valve"], "sensors": self.items["sensor"]}

    def snapshot(self) -> dict[str, Any]:
        return state.snapshot(self.plant, self.plc)

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        return state.restore(self.plant, self.plc, saved, where)


class StationUnit(HilUnit):
    """The hydrological monitoring station of a system: its boreholes, its zone's meter,
    and the PLC they are read through."""

    def __init__(self, site: SiteConfig, h: HilDrainage, hy: HilHydrology,
                 clock: ScaledClock) -> None:
        self.site, self.cfg, self.hy, self.clock = site, h, hy, clock
        self.items = items(site, h)
        self.station = hydrology.HydroStation(
            [hydrology.Borehole(b.level_m, b.pressure_mpa, b.share) for b in hy.boreholes],
            hy.zone_inflow_m3h, hy.rise_m, hy.inrush_hold_s, hy.noise_m, hy.noise_mpa,
            hy.noise_m3h, h.seed)
        self.plc = hydrology.HydroPlc(self.station)

    def first_scan(self, now: float) -> None:
        self.plc.scan(now)

    def advance(self, now: float, dt: float) -> None:
        self.plc.scan(now)

    def inject(self, inj: Injection, now: float) -> None:
        if inj.fault != "inrush-precursor":      # FAULTS and this method disagree: a bug
            raise InjectError(f"fault {inj.fault!r} is listed but not implemented")
        self.station.precursors.append(hydrology.Precursor(
            now, inj.duration_s, inj.number, self.hy.inrush_hold_s))

    def heartbeat_deaf(self, on: bool) -> None:
        raise InjectError(f"{self.cfg.plc}: the hydrological station keeps no watchdog "
                          "(it commands nothing)")

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        boreholes, inflow = self.station.read(now)
        return {"inflow_m3h": inflow, "to_sump_m3h": self.station.to_sump(now),
                "boreholes": {b.name: {"level_m": lv, "pressure_mpa": pr} for b, (lv, pr)
                              in zip(self.hy.boreholes, boreholes, strict=True)},
                "text": f"zone inflow {inflow:.0f} m3/h, +{self.station.to_sump(now):.0f} "
                        "m3/h reaching the sump  " + "  ".join(
                            f"{b.name}:{lv:.2f} m" for b, (lv, _) in
                            zip(self.hy.boreholes, boreholes, strict=True))}

    def brief(self) -> str:
        return f"{self.station.zone(self.clock.now()):.0f} m3/h"

    def register_map(self) -> list[tuple[str, str]]:
        return [(f"{p.role}.{p.signal}", p.address)
                for p in hydrology.points(len(self.hy.boreholes))]

    def points(self) -> list[tuple[str, Point]]:
        who = {f"borehole.{j}": b.name for j, b in enumerate(self.hy.boreholes)} | \
            {"meter.0": self.hy.inflow_meter}
        return [(f"{self.cfg.system}.{who[p.role]}.{p.signal}", p)
                for p in hydrology.points(len(self.hy.boreholes))]

    def layout(self) -> dict[str, Any]:
        return {"system": self.cfg.system, "plc": self.cfg.plc,
                "boreholes": self.items["borehole"], "inflow_meter": self.items["inflow_meter"]}

    def snapshot(self) -> dict[str, Any]:
        return hydrology.snapshot(self.station)

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        return hydrology.restore(self.station, saved, where)


def build_one(cfg: SiteConfig, h: HilDrainage, clock: ScaledClock) -> DrainageUnit:
    system = cfg.systems[h.system]
    ctl = system.control
    sump_eq = system.equipment[ctl.sump]
    assert isinstance(sump_eq, SumpEq)
    assert h.normal_inflow_m3h is not None and h.static_head_m is not None
    assert h.float_low_m is not None and h.float_high_m is not None and \
        h.float_highhigh_m is not None          # drainage's checks refuse a room without
    specs, travels = [], []
    for name in ctl.pumps:
        pump = system.equipment[name]
        assert isinstance(pump, PumpEq)
        valve = system.equipment[pump.valve]
        assert isinstance(valve, ValveEq)
        specs.append(PumpSpec(pump.rated_flow_m3h, pump.rated_head_m, pump.rated_power_kw,
                              pump.rated_current_a, pump.efficiency, h.static_head_m,
                              h.priming_s, h.prime_hold_s))
        travels.append(valve.travel_s)
    plant = DrainagePlant(
        Sump(sump_eq.volume_curve, h.initial_level_m),
        Inflow(h.normal_inflow_m3h, h.daily_swing, h.noise, h.seed),
        specs, travels, len(sump_eq.sensors),
        (h.float_low_m, h.float_high_m, h.float_highhigh_m), seed=h.seed)
    plc = DrainagePlc(plant, clock.silence_timeout(h.watchdog_s), len(sump_eq.sensors),
                      initial_mode=2 if h.initial_mode == "remote-auto" else 1)
    return DrainageUnit(cfg, h, plant, plc, clock)


def build(cfg: SiteConfig, entries: list[HilDrainage], clock: ScaledClock) -> list[HilUnit]:
    """Every pump room, and the relay between them: a lower room's pumps fill the sump of
    the room it discharges into."""
    units: list[HilUnit] = [build_one(cfg, h, clock) if h.hydrology is None else
                            StationUnit(cfg, h, h.hydrology, clock) for h in entries]
    rooms = {u.cfg.system: u.plant for u in units if isinstance(u, DrainageUnit)}
    for u in units:
        if isinstance(u, StationUnit):     # its zone's water runs down to the room's sump
            if u.cfg.system in rooms:
                rooms[u.cfg.system].extra.append(u.station.to_sump)
            continue
        assert isinstance(u, DrainageUnit)
        up = cfg.systems[u.cfg.system].discharges_into
        if up is not None and up in rooms:
            rooms[up].feeders.append(u.plant)
    return units


HIL = HilKind(faults=FAULTS, words={"pump": "pump", "valve": "valve",
                                    "sensor": "level sensor", "borehole": "borehole",
                                    "inflow_meter": "inflow meter"},
              items=items, build=build)
