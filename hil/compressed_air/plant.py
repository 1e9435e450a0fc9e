"""A compressor station's plant: screw compressors, the air receiver and network, the
mine's demand, the cooling-water circuit and the intake's air.

The receiver and network are one volume ``V`` whose pressure follows the mass balance
``dp/dt = (Q_in - Q_out) * p_atm / (60 V)`` (flows in free-air m3/min). Demand is a day of
three shifts (high in the shift, low at the changes), noise, bursts (rock drills, loaders
blowing down) and leaks that rise with the pressure; a ``leak`` fault adds a step. A
compressor's power follows its state: loaded it draws its rated power, ~7 % less per
0.1 MPa under its rated pressure; unloaded ``unloaded_pct`` of it; starting, its inrush.
Its discharge temperature settles towards a loaded or unloaded value with the cooling
water flowing, and climbs past the 120 degC trip without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

P_ATM = 0.1013          # MPa
DAY_S = 86400.0


@dataclass
class CompressorSpec:
    rated_flow: float               # m3/min
    rated_kw: float
    rated_mpa: float
    unloaded_pct: float
    rated_current_a: float
    water_cooled: bool


@dataclass
class Compressor:
    spec: CompressorSpec
    motor_on: bool = False
    loaded: bool = False
    starting_s: float = 0.0         # > 0 while running up (star-delta)
    discharge_c: float = 25.0
    oil_mpa: float = 0.0
    power_kw: float = 0.0
    flow: float = 0.0
    energy_kwh: float = 0.0
    run_hours: float = 0.0
    loaded_hours: float = 0.0
    starts: int = 0
    oil_low: bool = False           # fault: the oil pump or filter
    overheat: bool = False          # fault: a fouled cooler, the air end hot

    def step(self, dt: float, p: float, cooling: bool, rng: np.random.Generator) -> None:
        s = self.spec
        if self.motor_on:
            self.run_hours += dt / 3600
            self.starting_s = max(0.0, self.starting_s - dt)
        if self.motor_on and self.loaded and self.starting_s == 0.0:
            self.loaded_hours += dt / 3600
            self.flow = s.rated_flow * (1.0 - 0.02 * max(0.0, p - s.rated_mpa) / 0.1)
            self.power_kw = s.rated_kw * (1.0 - 0.07 * (s.rated_mpa - p) / 0.1)
            target = 82.0
        elif self.motor_on:
            self.flow = 0.0
            self.power_kw = s.rated_kw * (1.4 if self.starting_s > 0 else s.unloaded_pct / 100)
            target = 68.0
        else:
            self.flow, self.power_kw, target = 0.0, 0.0, 25.0
        if self.motor_on and (self.overheat or (s.water_cooled and not cooling)):
            target = 150.0
        # the air end and its oil: a few minutes to settle
        self.discharge_c += (target - self.discharge_c) * (1 - math.exp(-dt / 180.0))
        want_oil = (0.12 if self.oil_low else 0.35 if self.loaded else 0.30) \
            if self.motor_on and self.starting_s == 0.0 else 0.0
        self.oil_mpa += (want_oil - self.oil_mpa) * (1 - math.exp(-dt / 3.0))
        self.energy_kwh += self.power_kw * dt / 3600
        if self.oil_mpa > 0:
            self.oil_mpa = max(0.0, self.oil_mpa + float(rng.normal(0, 0.003)))

    @property
    def current_a(self) -> float:
        return self.spec.rated_current_a * self.power_kw / self.spec.rated_kw


@dataclass
class Demand:
    """What the mine draws, free-air m3/min at the nominal pressure."""

    mean: float
    swing: float
    noise: float
    bursts_per_h: float
    leak_share: float
    rng: np.random.Generator
    step_m3min: float = 0.0                         # the leak fault
    bursts: list[tuple[float, float, float]] = field(default_factory=list)  # t0, t1, m3/min
    _next_burst: float | None = None
    _noise: float = 0.0

    def shift_factor(self, t: float) -> float:
        """Three eight-hour shifts from 00:00, 08:00, 16:00 local: work ramps up in the
        first hour, holds, and falls in the last; the change between is low."""
        h = (t % DAY_S) / 3600 % 8
        if h < 1.0:
            f = h
        elif h < 7.0:
            f = 1.0
        else:
            f = max(0.0, 8.0 - h) * 0.6
        return 1.0 - self.swing + 2 * self.swing * f

    def at(self, t: float, dt: float, p: float) -> float:
        if self._next_burst is None or t >= self._next_burst:
            if self._next_burst is not None and self.bursts_per_h > 0:
                size = self.mean * float(self.rng.uniform(0.15, 0.35))
                self.bursts.append((t, t + float(self.rng.uniform(120, 600)), size))
            rate = self.bursts_per_h / 3600
            self._next_burst = t + (float(self.rng.exponential(1 / rate)) if rate > 0
                                    else 1e12)
        self.bursts = [b for b in self.bursts if b[1] > t]
        # noise as a slow random walk (minutes), not white: users do not flicker
        self._noise += (-self._noise * min(1.0, dt / 300)
                        + float(self.rng.normal(0, self.noise)) * math.sqrt(min(dt, 300) / 300))
        use = self.mean * self.shift_factor(t) * (1 - self.leak_share) * (1 + self._noise)
        leak = self.mean * self.leak_share * math.sqrt((max(p, 0.0) + P_ATM) / (0.65 + P_ATM))
        users = use * min(1.0, max(p, 0.0) / 0.3)          # tools stall at low pressure
        return max(0.0, users + leak + sum(b[2] for b in self.bursts) + self.step_m3min)


@dataclass
class Cooling:
    """The cooling-water circuit: flow while a pump runs and its valves are open."""

    pumps_on: list[bool]
    pump_tripped: list[bool]
    water_c: float = 22.0
    switch_stuck: bool | None = None       # the flow switch frozen at this reading

    @property
    def flowing(self) -> bool:
        return any(on and not trip for on, trip in zip(self.pumps_on, self.pump_tripped,
                                                      strict=True))

    def switch(self) -> bool:
        return self.flowing if self.switch_stuck is None else self.switch_stuck

    def step(self, dt: float, heat_kw: float) -> None:
        target = 22.0 + (heat_kw / 60.0 if self.flowing else heat_kw / 15.0)
        self.water_c += (target - self.water_c) * (1 - math.exp(-dt / 240.0))


@dataclass
class AirPlant:
    compressors: list[Compressor]
    demand: Demand
    cooling: Cooling
    volume_m3: float
    pressure: float
    supply_ok: bool = True
    co_ppm: float = 1.5
    receiver_c: float = 30.0
    out_flow: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(1))

    @property
    def in_flow(self) -> float:
        return sum(c.flow for c in self.compressors)

    def step(self, t: float, dt: float) -> None:
        for c in self.compressors:
            if not self.supply_ok:
                c.motor_on = c.loaded = False
            c.step(dt, self.pressure, self.cooling.flowing, self.rng)
        self.out_flow = self.demand.at(t, dt, self.pressure)
        # integrate in steps short enough for the balance at any scale
        n = max(1, math.ceil(dt / 1.0))
        for _ in range(n):
            self.pressure += (self.in_flow - self.out_flow) * P_ATM / (60 * self.volume_m3) \
                * (dt / n)
            self.pressure = max(0.0, self.pressure)
        heat = sum(c.power_kw for c in self.compressors if c.spec.water_cooled) * 0.8
        self.cooling.step(dt, heat)
        hot = max((c.discharge_c for c in self.compressors if c.motor_on), default=30.0)
        self.receiver_c += (min(hot, 140.0) * 0.7 + 9.0 - self.receiver_c) * \
            (1 - math.exp(-dt / 600.0))
        self.co_ppm = max(0.0, self.co_ppm + (1.5 - self.co_ppm) * min(1.0, dt / 600)
                          + float(self.rng.normal(0, 0.05)))
