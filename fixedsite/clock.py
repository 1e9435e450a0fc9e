"""One clock for plant and controller.

The HIL runs plant physics in simulated time that may be accelerated, and every
controller timer (scan periods, sequence step timeouts, watchdogs) must use the same
time base, or a test that runs a day of drainage in a minute would see pumps "time out"
in a tenth of a simulated second. So nothing in fixedsite calls ``time`` or
``asyncio.sleep`` directly for plant-facing timing: it asks a ``Clock``.

``sim = origin + scale * (wall - anchor)``: two processes given the same origin, anchor
and scale agree on simulated time (the HIL and a controller started separately), while
within one process the clock advances on ``time.monotonic`` so it never jumps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Protocol

# A wall-clock floor under every simulated timeout. At 1000x a 10 s sim timeout is
# 10 ms of wall time, shorter than one OS scheduling hiccup; timers that guard against a
# *dead peer* (watchdogs, comm loss) must not fire because the host was busy.
MIN_REAL_TIMEOUT_S = 0.3
# A peer across a socket (a PLC seen from the controller, the controller's heartbeat seen
# from a PLC) is called silent no sooner than this much wall time. The demo runs the HIL,
# the controller and the console as three processes on as few as two cores, where the OS
# alone holds one back a few hundred ms now and then: at x60 the 0.3 s floor raised a
# "link lost" P1 for that (measured: every few minutes). A PLC is not dead for a second.
MIN_REAL_SILENCE_S = 1.0


class Clock(Protocol):
    scale: float

    def now(self) -> float: ...

    async def sleep(self, sim_seconds: float) -> None: ...

    def guard_timeout(self, sim_seconds: float) -> float: ...

    def silence_timeout(self, sim_seconds: float) -> float: ...


class ScaledClock:
    """Real time, optionally accelerated by ``scale``."""

    def __init__(self, scale: float = 1.0, origin: float | None = None,
                 anchor: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"clock scale must be > 0, got {scale}")
        self.scale = float(scale)
        wall = time.time()
        self.anchor = wall if anchor is None else float(anchor)
        self.origin = self.anchor if origin is None else float(origin)
        self._mono0 = time.monotonic()
        self._wall_offset = wall - self.anchor

    def now(self) -> float:
        elapsed = time.monotonic() - self._mono0 + self._wall_offset
        return self.origin + self.scale * elapsed

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Simulated time does not pass while the block runs. Benchmarks only: a blocking
        computation (a plan) then costs no plant time, as at real speed it nearly would."""
        t = time.monotonic()
        try:
            yield
        finally:
            self._mono0 += time.monotonic() - t

    def real(self, sim_seconds: float) -> float:
        """Wall seconds that ``sim_seconds`` of simulated time take."""
        return sim_seconds / self.scale

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.scale)

    def guard_timeout(self, sim_seconds: float) -> float:
        """A dead-peer timeout in sim seconds, never shorter than the wall-time floor."""
        return max(sim_seconds, MIN_REAL_TIMEOUT_S * self.scale)

    def silence_timeout(self, sim_seconds: float) -> float:
        """A peer's silence in sim seconds, never shorter than ``MIN_REAL_SILENCE_S``."""
        return max(sim_seconds, MIN_REAL_SILENCE_S * self.scale)


class ManualClock:
    """A clock that moves only when told: for dry runs of logic on soft tags."""

    def __init__(self, start: float = 0.0) -> None:
        self.scale = 1.0
        self._now = float(start)
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._changed.set()
        self._changed = asyncio.Event()

    async def sleep(self, sim_seconds: float) -> None:
        until = self._now + sim_seconds
        while self._now < until:
            await self._changed.wait()

    def guard_timeout(self, sim_seconds: float) -> float:
        return sim_seconds

    def silence_timeout(self, sim_seconds: float) -> float:
        return sim_seconds


async def wait_until(clock: Clock, predicate: Callable[[], bool], sim_timeout: float,
                     step: float) -> bool:
    """Wait until ``predicate()`` holds or ``sim_timeout`` passes; returns the outcome."""
    deadline = clock.now() + sim_timeout
    while not predicate():
        if clock.now() >= deadline:
            return False
        await clock.sleep(step)
    return True
