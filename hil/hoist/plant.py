"""A skip hoist's plant: the conveyance in the shaft, the winder's motor, the ropes, the
ore bin and weigh hopper at the loading station, the surface bin at the dump.

The skip moves along ``x`` from the loading station (0) to the dump (``depth``); the
drive follows the PLC's speed reference (accelerate, constant, decelerate, creep). The
motor's power is the net rope pull (the load against a counterweight of the skip and
half the payload) times speed, plus the inertia of everything moving. Material leaves
the feeder and reaches the weigh hopper ``fall_s`` later: what is in flight when the
feeder stops still arrives (the in-flight a quantitative loading must learn). The weigh
cell reads the hopper with noise and, as a fault, a drift.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

G = 9.81
MOVING_T = 60.0          # skip, counterweight, ropes, sheaves: what accelerates, t
SKIP_T = 12.0


@dataclass
class WinderSpec:
    depth: float
    vmax: float
    accel: float
    creep: float
    payload: float
    rated_kw: float
    rated_a: float
    ropes: int


@dataclass
class Conveyance:
    spec: WinderSpec
    x: float = 0.0
    v: float = 0.0
    load_t: float = 0.0              # in the skip
    energy_kwh: float = 0.0
    power_kw: float = 0.0
    run_hours: float = 0.0

    def move(self, dt: float, v_cmd: float, a_max: float) -> None:
        """Speed towards ``v_cmd`` at no more than ``a_max``; position integrated."""
        dv = max(-a_max * dt, min(a_max * dt, v_cmd - self.v))
        v0, self.v = self.v, self.v + dv
        self.x += (v0 + self.v) / 2 * dt
        acc = dv / dt if dt > 0 else 0.0
        net_t = self.load_t - self.spec.payload / 2          # against the counterweight
        pull = net_t * 1000 * G * (1 if self.v >= 0 else -1) + MOVING_T * 1000 * acc
        self.power_kw = pull * self.v / 1000 / 0.92 if abs(self.v) > 1e-6 else 0.0
        self.energy_kwh += max(self.power_kw, 0.0) * dt / 3600
        if abs(self.v) > 1e-6:
            self.run_hours += dt / 3600

    @property
    def current_a(self) -> float:
        return abs(self.power_kw) / (math.sqrt(3) * 6.0 * 0.9) if self.power_kw else 12.0


@dataclass
class Loading:
    """The ore bin, its feeder and the weigh hopper."""

    bin_t: float
    bin_cap: float
    inflow_tph: float
    feed_tps: float
    fall_s: float
    noise_t: float
    rng: np.random.Generator
    hopper_t: float = 0.0
    feeding: bool = False
    feeder_stuck: bool = False        # fault: the feeder does not stop
    drift_tph: float = 0.0            # fault: the weigh cell drifts
    offset_t: float = 0.0
    level_stuck_at: float | None = None
    in_flight: deque[tuple[float, float]] = field(default_factory=deque)

    def step(self, t: float, dt: float) -> None:
        self.bin_t = min(self.bin_cap, self.bin_t + self.inflow_tph * dt / 3600)
        if (self.feeding or self.feeder_stuck) and self.bin_t > 0:
            q = min(self.feed_tps * dt, self.bin_t)
            self.bin_t -= q
            self.in_flight.append((t + self.fall_s, q))
        while self.in_flight and self.in_flight[0][0] <= t:
            self.hopper_t += self.in_flight.popleft()[1]
        self.offset_t += self.drift_tph * dt / 3600

    @property
    def flying_t(self) -> float:
        return sum(q for _, q in self.in_flight)

    def weight(self) -> float:
        return self.hopper_t + self.offset_t + float(self.rng.normal(0, self.noise_t))

    def level_pct(self) -> float:
        if self.level_stuck_at is not None:
            return self.level_stuck_at
        return 100 * self.bin_t / self.bin_cap


@dataclass
class SurfaceBin:
    t: float
    cap: float
    draw_tph: float
    level_stuck_at: float | None = None

    def step(self, dt: float) -> None:
        self.t = max(0.0, self.t - self.draw_tph * dt / 3600)

    def level_pct(self) -> float:
        if self.level_stuck_at is not None:
            return self.level_stuck_at
        return min(100.0, 100 * self.t / self.cap)


@dataclass
class Ropes:
    n: int
    damaged: bool = False
    slack: bool = False
    monitor_failed: bool = False      # fault: the rope monitor itself is out of order

    def tensions_kn(self, load_t: float, acc: float, rng: np.random.Generator) -> list[float]:
        each = (SKIP_T + load_t) * G * (1 + acc / G) / self.n
        out = [each * (1 + float(rng.normal(0, 0.01))) for _ in range(self.n)]
        if self.slack:
            out[0] = 0.1 * each
        return out


@dataclass
class HoistPlant:
    cage: Conveyance
    loading: Loading
    surface: SurfaceBin
    ropes: Ropes
    rng: np.random.Generator
    overspeed: bool = False           # fault: the drive runs 20 % over its reference
    decel_fail: bool = False          # fault: the drive does not follow a deceleration
    brake_gap_mm: float = 1.2
    depth_fail: bool = False          # fault: the second depth encoder disagrees
    acc: float = 0.0

    def step(self, t: float, dt: float, v_ref: float, a_max: float) -> None:
        v_cmd = v_ref * (1.2 if self.overspeed else 1.0)
        if self.decel_fail and abs(v_cmd) < abs(self.cage.v):
            v_cmd = self.cage.v                      # holds its speed: no deceleration
        v0 = self.cage.v
        self.cage.move(dt, v_cmd, a_max)
        self.acc = (self.cage.v - v0) / dt if dt > 0 else 0.0
        self.loading.step(t, dt)
        self.surface.step(dt)

    def encoder2(self) -> float:
        """The second depth encoder (the PLC compares the two)."""
        return self.cage.x + (5.0 if self.depth_fail else 0.0)
