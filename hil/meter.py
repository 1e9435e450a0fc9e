"""A transmitter's own noise, apart from the plant's physics: what a PLC reads is never
the exact physical value. A real 6 kV supply reads 6.00, 6.01, 5.99 kV; a stopped pump's
winding reads 20.1, 20.0 degC. Without it a steady simulated reading repeats to the last
bit, and the controller rightly calls such a sensor stuck (fixedsite/availability.py).

The noise is drawn afresh every ``hold_s`` of plant time and held in between (a
transmitter's slow wander, not white noise on every scan): enough to show a live sensor
within the controller's stuck window, without a tag change on every scan of every
accelerated test. Its own random stream, so adding it leaves the plant's sequence (and
every figure seeded from it) as it was."""

from __future__ import annotations

import numpy as np

HOLD_S = 900.0


class Meter:
    def __init__(self, seed: int = 0, hold_s: float = HOLD_S) -> None:
        self.rng = np.random.default_rng(seed + 7919)
        self.hold_s = hold_s
        self._z: list[float] = []
        self._i = 0
        self._drawn = -np.inf

    def tick(self, now: float) -> None:
        """Called once a scan before the reads: a new draw when the hold is over."""
        if now - self._drawn >= self.hold_s:
            self._drawn = now
            self._z = []
        self._i = 0

    def _next(self) -> float:
        if self._i >= len(self._z):
            self._z.append(float(self.rng.standard_normal()))
        z = self._z[self._i]
        self._i += 1
        return z

    def read(self, value: float, rel: float = 0.0, absolute: float = 0.0) -> float:
        """``value`` as a transmitter gives it: relative and absolute 1-sigma noise; a
        value at 0 (a motor stopped, no current) stays 0."""
        z_rel, z_abs = self._next(), self._next()
        if value == 0.0:
            return 0.0
        return value * (1.0 + rel * z_rel) + absolute * z_abs
