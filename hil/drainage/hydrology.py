"""The mine's hydrological monitoring, simulated: observation boreholes and a water-inflow
meter at a water-bearing zone, on a PLC of their own, and the water they announce.

A water-inrush precursor (``inrush-precursor``) starts at ``t0``:

* the boreholes' water level and pressure rise first (a smooth step over half the lead,
  each borehole by its ``share`` of ``rise_m``; pressure is the same head in MPa);
* from half the lead the zone gives more water, rising over half the lead to ``peak``,
  held ``inrush_hold_s``, then receding over a whole lead;
* that water runs down the drains to the sump in half the lead: the sump gets the extra
  from ``t0 + lead`` on, the zone's course shifted by the transit.

So the inflow meter sees the water half a lead before the sump does, and the boreholes a
half lead before that. The station keeps no watchdog (it commands nothing), and no
protection: it only measures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fixedsite.hil.packing import f32
from fixedsite.hil.state import StateError, get, real
from fixedsite.hil.unit import Point

# --- register map (the hand-over document of the station's PLC) -----------------------
IR_BOREHOLE, IR_BOREHOLE_STRIDE = 0, 4    # +0 water level float32, +2 pressure float32
IR_METER = 100                            # inflow float32
MPA_PER_M = 1000.0 * 9.81 / 1e6           # a metre of water head in MPa


def points(n_boreholes: int, level_top_m: float = 200.0) -> list[Point]:
    """Every point of the station's PLC, in map order."""
    out = []
    for j in range(n_boreholes):
        r = IR_BOREHOLE + IR_BOREHOLE_STRIDE * j
        out += [Point(f"borehole.{j}", "water_level", f"ir:{r}:float32", "float32",
                      unit="m", range=(-level_top_m, level_top_m),
                      meaning="water level in the observation borehole, above its datum"),
                Point(f"borehole.{j}", "water_pressure", f"ir:{r + 2}:float32", "float32",
                      unit="MPa", range=(0.0, 20.0),
                      meaning="water pressure of the aquifer the borehole taps")]
    out.append(Point("meter.0", "inflow", f"ir:{IR_METER}:float32", "float32", unit="m3/h",
                     range=(0.0, 10000.0), meaning="water flowing from the water-bearing zone"))
    return out


def smooth(x: float) -> float:
    """0 before 0, 1 after 1, a smooth S between."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class Precursor:
    """One inrush: when it began, its lead (first borehole rise to water in the sump),
    the zone's extra inflow at its peak and how long the peak holds."""

    t0: float
    lead_s: float
    peak_m3h: float
    hold_s: float

    def course(self, tau: float) -> float:
        """0..1: the zone's extra water ``tau`` s after it began to rise."""
        ramp = self.lead_s / 2
        if tau <= 0.0:
            return 0.0
        if tau < ramp + self.hold_s:
            return smooth(tau / ramp)
        return 1.0 - smooth((tau - ramp - self.hold_s) / (2 * ramp))

    def zone(self, t: float) -> float:
        """m3/h more than at rest flowing from the zone at ``t``."""
        return self.peak_m3h * self.course(t - self.t0 - self.lead_s / 2)

    def sump(self, t: float) -> float:
        """m3/h more reaching the sump at ``t``: the zone's, half a lead later."""
        return self.zone(t - self.lead_s / 2)

    def rise(self, t: float) -> float:
        """0..1: how far the boreholes have risen at ``t``."""
        return self.course(t - self.t0)


@dataclass
class Borehole:
    level_m: float
    pressure_mpa: float
    share: float


@dataclass
class HydroStation:
    """The boreholes and the zone, and the water the precursors send on to the sump."""

    boreholes: list[Borehole]
    zone_m3h: float
    rise_m: float
    hold_s: float
    noise_m: float
    noise_mpa: float
    noise_m3h: float
    seed: int
    precursors: list[Precursor] = field(default_factory=list)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed + 2000)

    def rise(self, t: float) -> float:
        return min(1.0, sum(p.rise(t) for p in self.precursors))

    def zone(self, t: float) -> float:
        return self.zone_m3h + sum(p.zone(t) for p in self.precursors)

    def to_sump(self, t: float) -> float:
        """Extra m3/h reaching the room's sump at ``t`` (a pump room's extra source)."""
        return sum(p.sump(t) for p in self.precursors)

    def read(self, t: float) -> tuple[list[tuple[float, float]], float]:
        """What the instruments show at ``t``: (level m, pressure MPa) per borehole, and
        the zone's inflow in m3/h, each with its noise."""
        n = self.rng.standard_normal(2 * len(self.boreholes) + 1)
        rise = self.rise(t)
        out = []
        for j, b in enumerate(self.boreholes):
            head = rise * self.rise_m * b.share
            out.append((b.level_m + head + self.noise_m * float(n[2 * j]),
                        max(0.0, b.pressure_mpa + head * MPA_PER_M
                            + self.noise_mpa * float(n[2 * j + 1]))))
        return out, max(0.0, self.zone(t) + self.noise_m3h * float(n[-1]))


@dataclass
class HydroPlc:
    """The station's PLC: publishes what its instruments read, every scan."""

    station: HydroStation
    coils: list[bool] = field(default_factory=lambda: [False] * 8)
    di: list[bool] = field(default_factory=lambda: [False] * 8)
    hr: list[int] = field(default_factory=lambda: [0] * 8)
    ir: list[int] = field(default_factory=lambda: [0] * (IR_METER + 2))

    def scan(self, now: float) -> None:
        boreholes, inflow = self.station.read(now)
        for j, (level, pressure) in enumerate(boreholes):
            r = IR_BOREHOLE + IR_BOREHOLE_STRIDE * j
            self.ir[r:r + 2] = f32(level)
            self.ir[r + 2:r + 4] = f32(pressure)
        self.ir[IR_METER:IR_METER + 2] = f32(inflow)


def snapshot(station: HydroStation) -> dict[str, Any]:
    return {"precursors": [[p.t0, p.lead_s, p.peak_m3h, p.hold_s]
                           for p in station.precursors]}


def restore(station: HydroStation, s: Any, w: str) -> list[Callable[[], None]]:
    saved = get(s, "precursors", w)
    if not isinstance(saved, list):
        raise StateError(f"{w}precursors: expected a list")
    out = []
    for i, p in enumerate(saved):
        where = f"{w}precursors.{i}"
        if not isinstance(p, list) or len(p) != 4:
            raise StateError(f"{where}: expected [t0, lead_s, peak_m3h, hold_s]")
        t0 = real(p[0], f"{where}.t0", -1e12, 1e12)
        lead = real(p[1], f"{where}.lead_s", 1, 1e7)
        peak = real(p[2], f"{where}.peak_m3h", 0, 100_000)
        hold = real(p[3], f"{where}.hold_s", 0, 1e7)
        out.append(Precursor(t0, lead, peak, hold))

    def put() -> None:
        station.precursors[:] = out
    return [put]
