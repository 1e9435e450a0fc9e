"""A simulated PLC's watch on the controller's heartbeat.

Every PLC the HIL emulates keeps one: the heartbeat register unchanged for its watchdog
time puts the PLC on its own logic (floats, pressure switches, the fans held as they
are), and a change of it hands control back. ``deaf`` is the fault where the PLC stops
seeing the heartbeat while its link stays up.
"""

from __future__ import annotations


class Watchdog:
    """The controller's heartbeat, watched: unchanged for ``watchdog_s``, fallback."""

    def __init__(self, watchdog_s: float) -> None:
        self.watchdog_s = watchdog_s
        self.fallback = False
        self.deaf = False
        self.last: int | None = None
        self.since: float | None = None

    def scan(self, hb_now: int, now: float) -> str | None:
        """One PLC scan: "fallback" or "remote" when the PLC changes hands, else None."""
        hb = self.last if self.deaf and self.last is not None else hb_now
        if self.since is None or hb != self.last:
            back = self.last is not None and hb != self.last and self.fallback
            self.last, self.since = hb, now
            if back:
                self.fallback = False
                return "remote"
        elif not self.fallback and now - self.since > self.watchdog_s:
            self.fallback = True
            return "fallback"
        return None
