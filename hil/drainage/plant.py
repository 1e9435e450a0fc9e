"""The simulated main drainage pump room: sump, inflow, pumps, gate valves.

Physics only, as plain functions of state and time step; no protocol, no PLC logic
(that is ``drainage_plc.py``). Sizes follow the Coal Mine Safety Regulations (Art. 311,
313): the working pumps discharge 24 h of normal inflow in 20 h, and the main sump holds
about 8 h of normal inflow.

Pump model: a multistage centrifugal pump on its own discharge main. Pump curve
``H = w^2 H0 - a Q^2`` (affinity laws for the run-up), system curve
``H = H_static - level + (k + k_valve(x)) Q^2`` with the gate valve's loss rising as it
closes; efficiency a parabola peaking at the rated point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

RHO_G = 1000.0 * 9.81
AMBIENT_C = 24.0
SUPPLY_KV = 6.0
POWER_FACTOR = 0.86
MOTOR_EFF = 0.95
RUNUP_S = 6.0          # motor run-up to full speed
COASTDOWN_S = 20.0
INRUSH = 5.5           # starting current, multiples of rated
SUCTION_MIN_M = 0.35   # below this the suction bell draws air


@dataclass
class PumpSpec:
    rated_flow: float        # m3/h at the rated point
    rated_head: float        # m
    rated_power: float       # kW, motor
    rated_current: float     # A
    efficiency: float        # pump efficiency at the rated point
    static_head: float       # m, from the sump floor to the discharge outlet
    priming_s: float
    prime_hold_s: float


@dataclass
class PumpState:
    motor_on: bool = False
    speed: float = 0.0        # fraction of rated speed
    prime: float = 0.0        # 0 empty .. 1 full casing
    priming: bool = False     # vacuum pump running
    flow: float = 0.0         # m3/h
    head: float = 0.0         # m
    power: float = 0.0        # kW
    current: float = 0.0      # A
    voltage: float = SUPPLY_KV
    energy: float = 0.0       # kWh
    run_hours: float = 0.0
    starts: int = 0
    bearing_c: float = AMBIENT_C
    stator_c: float = AMBIENT_C
    since_start: float = 0.0
    vacuum: float = 0.0       # kPa
    dry_s: float = 0.0        # seconds running with no water through it
    prime_fail: bool = False  # the vacuum priming does not fill the casing (a fault)

    @property
    def primed(self) -> bool:
        return self.prime >= 0.9


@dataclass
class ValveState:
    travel_s: float
    position: float = 0.0     # 0 closed .. 1 open
    target: float = 0.0
    stuck: bool = False

    @property
    def opened(self) -> bool:
        return self.position >= 0.995

    @property
    def closed(self) -> bool:
        return self.position <= 0.005


def step_valve(v: ValveState, dt: float) -> None:
    if v.stuck:
        return
    rate = dt / v.travel_s
    v.position = min(v.target, v.position + rate) if v.target > v.position else max(
        v.target, v.position - rate)


def step_pump(p: PumpState, s: PumpSpec, valve: ValveState, level: float, dt: float) -> None:
    """Advance one pump by ``dt`` seconds at sump ``level`` (m above the floor)."""
    # speed: run-up or coast-down
    if p.motor_on:
        if p.speed == 0.0:
            p.starts += 1
            p.since_start = 0.0
        p.speed = min(1.0, p.speed + dt / RUNUP_S)
        p.since_start += dt
        p.run_hours += dt / 3600.0
    else:
        p.speed = max(0.0, p.speed - dt / COASTDOWN_S)
    # priming: the vacuum pump fills the casing while the suction bell is under water
    submerged = level > SUCTION_MIN_M
    if p.priming and not p.motor_on and submerged and not p.prime_fail:
        p.prime = min(1.0, p.prime + dt / s.priming_s)
    elif not p.motor_on:
        p.prime = max(0.0, p.prime - dt / s.prime_hold_s)   # foot valve leaks slowly
    if p.motor_on and not submerged:
        p.prime = 0.0                                       # drawing air: loses prime
    # hydraulics
    h0 = 1.13 * s.rated_head
    a = (h0 - s.rated_head) / s.rated_flow ** 2
    h_static = s.static_head - level
    k = max(s.rated_head - h_static, 0.05 * s.rated_head) / s.rated_flow ** 2
    k_valve = 0.05 * s.rated_head / s.rated_flow ** 2
    x = max(valve.position, 0.0)
    w2 = p.speed ** 2
    pumping = p.primed and p.speed > 0.0
    if pumping and x > 0.01 and w2 * h0 > h_static:
        resistance = a + k + k_valve * (1.0 / (x * x) - 1.0)
        p.flow = math.sqrt((w2 * h0 - h_static) / resistance)
    else:
        p.flow = 0.0
    p.head = (w2 * h0 - a * p.flow ** 2) if pumping else 0.0
    # power: hydraulic power over efficiency, never below the churning power
    q = p.flow / s.rated_flow
    eff = max(s.efficiency * (2.0 * q - q * q), 0.05)
    hydraulic = RHO_G * (p.flow / 3600.0) * p.head / 1000.0
    churn = (0.32 if pumping else 0.12) * s.rated_power * p.speed ** 3
    p.power = max(hydraulic / eff / MOTOR_EFF, churn) if p.speed > 0 else 0.0
    p.energy += p.power * dt / 3600.0
    i_run = p.power * 1000.0 / (math.sqrt(3) * SUPPLY_KV * 1000.0 * POWER_FACTOR * MOTOR_EFF)
    starting = p.motor_on and p.since_start < RUNUP_S * 0.6
    p.current = s.rated_current * INRUSH if starting else i_run
    p.voltage = SUPPLY_KV * (0.93 if starting else 1.0)
    p.vacuum = (30.0 + 3.0 * q) if pumping else (55.0 if p.priming else 0.0)
    p.dry_s = p.dry_s + dt if (p.motor_on and p.speed > 0.9 and p.flow < 0.05 * s.rated_flow
                               and x > 0.5) else 0.0
    # temperatures: first-order lags towards load-dependent steady values
    load = p.power / s.rated_power
    p.bearing_c += (AMBIENT_C + 38.0 * load - p.bearing_c) * min(1.0, dt / 1200.0)
    i_ratio = p.current / s.rated_current if p.motor_on else 0.0
    p.stator_c += (AMBIENT_C + 62.0 * i_ratio ** 2 - p.stator_c) * min(1.0, dt / 1800.0)


@dataclass
class Inflow:
    """Inflow with a daily swing, AR(1) noise and injectable surges (m3/h)."""

    normal: float
    daily_swing: float
    noise: float
    seed: int
    surges: list[tuple[float, float, float]] = field(default_factory=list)  # t0, t1, m3/h
    # a recorded (or generated) inflow to replay instead of the model: (times, m3/h)
    recorded: tuple[np.ndarray, np.ndarray] | None = None
    _ar: float = 0.0
    _rng: np.random.Generator | None = None

    def rate(self, t: float, dt: float) -> float:
        extra = sum(q for t0, t1, q in self.surges if t0 <= t < t1)
        if self.recorded is not None:
            return max(0.0, float(np.interp(t, *self.recorded)) + extra)
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        lt = time.localtime(t)                  # the site's day, as the tariff reads it
        hour = lt.tm_hour + lt.tm_min / 60.0 + (t % 60.0) / 3600.0
        base = self.normal * (1.0 + self.daily_swing * math.sin(2 * math.pi * (hour - 9) / 24))
        # AR(1) with a 20-minute correlation time, stationary std = noise
        phi = math.exp(-dt / 1200.0)
        self._ar = phi * self._ar + math.sqrt(1 - phi * phi) * self.noise * float(
            self._rng.standard_normal())
        return max(0.0, base * (1.0 + self._ar) + extra)


class Sump:
    """Level-volume curve of a roadway sump, interpolated (numpy)."""

    def __init__(self, curve: list[tuple[float, float]], level: float) -> None:
        arr = np.asarray(curve, dtype=float)
        self.levels, self.volumes = arr[:, 0], arr[:, 1]
        self.capacity = float(self.volumes[-1])
        self.top = float(self.levels[-1])
        self.volume = self.volume_at(level)
        self.overflowed_m3 = 0.0

    def volume_at(self, level: float) -> float:
        return float(np.interp(level, self.levels, self.volumes))

    @property
    def level(self) -> float:
        return float(np.interp(self.volume, self.volumes, self.levels))

    def step(self, inflow_m3h: float, outflow_m3h: float, dt: float) -> None:
        self.volume += (inflow_m3h - outflow_m3h) * dt / 3600.0
        if self.volume > self.capacity:
            self.overflowed_m3 += self.volume - self.capacity
            self.volume = self.capacity
        self.volume = max(self.volume, 0.0)


@dataclass
class LevelSensor:
    """A pressure-type level transmitter with a little noise; can be stuck, or drift (a
    fouled or ageing cell: an offset growing at ``drift_m_per_h``)."""

    noise_m: float = 0.003
    stuck_at: float | None = None
    drift_m_per_h: float = 0.0
    offset_m: float = 0.0

    def read(self, level: float, rng: np.random.Generator) -> float:
        if self.stuck_at is not None:
            return self.stuck_at
        return max(0.0, level + self.offset_m + self.noise_m * float(rng.standard_normal()))

    def step(self, dt: float) -> None:
        self.offset_m += self.drift_m_per_h * dt / 3600.0


class DrainagePlant:
    """Sump, inflow, pumps and valves stepped together; the PLC drives it by its fields."""

    MAX_STEP_S = 2.0

    def __init__(self, sump: Sump, inflow: Inflow, pumps: list[PumpSpec],
                 valve_travel_s: list[float], n_sensors: int, float_levels: tuple[
                     float, float, float], seed: int = 1) -> None:
        self.sump = sump
        self.inflow = inflow
        self.specs = pumps
        self.pumps = [PumpState() for _ in pumps]
        self.valves = [ValveState(travel_s=t) for t in valve_travel_s]
        self.sensors = [LevelSensor() for _ in range(n_sensors)]
        self.float_levels = float_levels
        self.inflow_now = 0.0
        self.feeders: list[DrainagePlant] = []    # rooms that pump into this sump (relay)
        # other water reaching the sump, m3/h at a time (a water-bearing zone's inrush)
        self.extra: list[Callable[[float], float]] = []
        self.max_level = sump.level
        self.min_level = sump.level
        self.rng = np.random.default_rng(seed + 1000)

    def step(self, t: float, dt: float) -> None:
        """Advance ``dt`` seconds from sim time ``t``, in sub-steps no longer than MAX_STEP_S."""
        n = max(1, math.ceil(dt / self.MAX_STEP_S))
        h = dt / n
        for i in range(n):
            level = self.sump.level
            for p, s, v in zip(self.pumps, self.specs, self.valves, strict=True):
                step_valve(v, h)
                step_pump(p, s, v, level, h)
            for sensor in self.sensors:
                sensor.step(h)
            self.inflow_now = self.inflow.rate(t + i * h, h) + sum(
                f(t + i * h) for f in self.extra)
            relayed = sum(f.pumped() for f in self.feeders)
            self.sump.step(self.inflow_now + relayed, self.pumped(), h)
            lvl = self.sump.level
            self.max_level = max(self.max_level, lvl)
            self.min_level = min(self.min_level, lvl)

    def pumped(self) -> float:
        """m3/h leaving the sump now."""
        return sum(p.flow for p in self.pumps)

    def floats(self) -> tuple[bool, bool, bool]:
        """(low, high, high-high) switches, each True when active: low below its float."""
        lvl = self.sump.level
        lo, hi, hh = self.float_levels
        return lvl < lo, lvl >= hi, lvl >= hh
