"""A transmitter's own noise, apart from the plant's physics: what a PLC reads is never
the exact physical value. A real 6 kV supply reads 6.00, 6.01, 5.99 kV; a stopped pump's
winding reads 20.1, 20.0 degC. Without it a steady simulated reading repeats to the last
bit, and the controller rightly calls such a sensor stuck (fixedsite/availability.py).
Its own random stream, so adding it leaves the plant's sequence (and every figure seeded
from it) as it was."""

from __future__ import annotations

import numpy as np


class Meter:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed + 7919)

    def read(self, value: float, rel: float = 0.0, absolute: float = 0.0) -> float:
        """``value`` as a transmitter gives it: relative and absolute 1-sigma noise; a
        value at 0 (a motor stopped, no current) stays 0."""
        if value == 0.0:
            return 0.0
        return value * (1.0 + rel * float(self.rng.standard_normal())) + \
            absolute * float(self.rng.standard_normal())
