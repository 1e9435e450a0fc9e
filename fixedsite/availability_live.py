"""The availability figures live: ``controller.availability.*`` month to date, for the
screens and any OPC UA client, the same computation as the monthly report's
(``fixedsite.availability``).

At start the month so far is read from the history (a restart must not zero the figures:
the time the controller was down is exactly what they are about); from then on the alarm
events the engine raises are added as they come, and each sensor's time is counted from
the tag store at every turn. Per system ``controller.availability.<system>_fault_h`` and
``<system>_sensors_ok_pct``; for the site ``fault_h``, ``sensors_ok_pct`` and ``worst``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from fixedsite import availability as av
from fixedsite.health import health_tags
from fixedsite.tags import NOT_READ, Quality, Tag, TagMeta, TagStore

log = logging.getLogger(__name__)

PERIOD_S = 60.0          # simulated seconds between two turns
MIN_WALL_S = 0.5         # ...and never more often than this in wall time (an accelerated clock)
RELEVANT_KINDS = ("alarm", "controller", "lifecycle")


def alarm_event(e: Any) -> dict[str, Any]:
    """An engine's AlarmEvent as the historian keeps it (``Controller``'s alarm sink)."""
    return {"t": e.t, "kind": "alarm", "source": e.alarm,
            "text": f"{e.what}: {e.text}" + (f": {e.detail}" if e.detail else ""),
            "data": {"priority": e.priority, "area": e.area}}


class AvailabilityTracker:
    """Keeps ``controller.availability.*`` true; ``run`` is its supervised task."""

    def __init__(self, cfg: Any, store: TagStore, clock: Any, defs: Iterable[Any],
                 stuck_after_s: float | None = None) -> None:
        self.cfg, self.store, self.clock = cfg, store, clock
        self.defs = list(defs)
        self.sc = av.scope(cfg, self.defs)
        self.stuck_after_s = av.stuck_after(cfg) if stuck_after_s is None else stuck_after_s
        self.tags = health_tags(store, "availability")
        # per system its fault time, and its sensors' share where it has sensors
        self.per_system: dict[str, tuple[Tag, Tag | None]] = {}
        with_sensors = {s.system for s in self.sc.sensors.values()}
        for s in self.sc.systems:
            self.per_system[s] = (
                self._define(f"{s}_fault_h", "h", f"fault time of the supervisory system for "
                             f"{s} this month (controller down, its PLCs lost or on fallback, "
                             "its sequences in fault): the standard asks < 10 h"),
                self._define(f"{s}_sensors_ok_pct", "%", f"share of {s}'s sensor time this "
                             "month in working order: the standard asks > 95 %")
                if s in with_sensors else None)
        self.running_since: float | None = None
        self.seeded = False
        self._history: list[dict[str, Any]] = []        # relevant events before our start
        self._live: list[dict[str, Any]] = []           # alarm events since
        self._base: dict[str, av.SensorTime] = {}       # sensor time before our start
        self._now: dict[str, av.SensorTime] = {}        # sensor time since
        self._month = (0.0, 0.0)
        self._last_turn: float | None = None
        self._count_sensors = True
        self.figures: av.Figures | None = None

    def _define(self, sig: str, unit: str, desc: str) -> Tag:
        path = f"controller.availability.{sig}"
        return self.store[path] if path in self.store else self.store.define(
            path, TagMeta(unit=unit, description=desc, kind="number"))

    # --- feeding ------------------------------------------------------------------------
    def on_alarm(self, e: Any) -> None:
        """The alarm engine's sink: a transition as it happens."""
        if e.what in ("active", "rtn", "clear"):
            self._live.append(alarm_event(e))

    def seed(self, historian: Any | None, now: float) -> None:
        """The month so far from the history, up to our start."""
        self.running_since = now if self.running_since is None else self.running_since
        t0, t1 = av.month_of(now)
        self._month = (t0, t1)
        self._base, self._history = {}, []
        if historian is not None:
            try:
                f = av.from_history(self.cfg, self.defs, historian, t0, t1, now,
                                    self.running_since, self.stuck_after_s)
                self._base = f.sensors
                self._history = [e for e in historian.events_between(
                    t0 - 31 * 86400, self.running_since) if e["kind"] in RELEVANT_KINDS]
            except Exception:        # no history: the figures start from our start
                log.exception("availability: the month so far could not be read from "
                              "the history; counting from now")
        # our own start ends what stood at a crash (the engine raises it again)
        self._history.append({"t": self.running_since, "kind": "lifecycle",
                              "source": "availability", "text": "started", "data": {}})
        self._last_turn = self.running_since
        self.seeded = True

    # --- a turn -------------------------------------------------------------------------
    def turn(self, now: float) -> av.Figures:
        """Count the sensors' time since the last turn and publish the month so far."""
        if not self.seeded:
            self.seed(None, now)
        t0, t1 = self._month
        if now >= t1:                          # a new month: its figures start at zero
            t0, t1 = self._month = av.month_of(now)
            self._base, self._now = {}, {}
            self._last_turn = max(t0, self._last_turn or t0)
        last = self._last_turn if self._last_turn is not None else now
        dt = max(0.0, now - last) if self._count_sensors else 0.0
        self._count_sensors = True
        self._last_turn = now
        for path, sensor in self.sc.sensors.items():
            st = self._now.setdefault(path, av.SensorTime(path))
            tag = self.store.get(path)
            if tag is None or dt <= 0:
                continue
            since = now - tag.ts if tag.ts else 0.0
            status = av.sensor_status(sensor, tag.value, tag.quality, since,
                                      self.stuck_after_s) if tag.ts else "bad"
            st.observed_s += dt
            if status == "bad":
                st.bad_s += dt
            elif status == "out_of_range":
                st.out_of_range_s += dt
            elif status == "stuck":
                st.stuck_s += min(dt, since - self.stuck_after_s)
        faults = av.fault_spans(self.sc, self._history + self._live, t0, t1, now,
                                self.running_since)
        times = {}
        for path in self.sc.sensors:
            st = av.SensorTime(path)
            for part in (self._base.get(path), self._now.get(path)):
                if part is not None:
                    st.add(part)
            times[path] = st
        f = av.Figures(t0, t1, self.sc.systems, faults, times,
                       {p: s.system for p, s in self.sc.sensors.items()})
        self.figures = f
        self._publish(f)
        return f

    def _publish(self, f: av.Figures) -> None:
        update = self.store.update
        update(self.tags["fault_h"], round(f.fault_h(), 3))
        _put_pct(self.store, self.tags["sensors_ok_pct"], f.sensors_ok_pct())
        update(self.tags["worst"], "; ".join(
            f"{s.path} {s.ok_pct:.1f}%" for s in av.worst(f.sensors.values())
            if s.ok_pct is not None))
        for system, (fault, ok) in self.per_system.items():
            update(fault, round(f.fault_h(system), 3))
            if ok is not None:
                _put_pct(self.store, ok, f.sensors_ok_pct(system))

    async def run(self, historian: Any | None = None) -> None:
        """Seed from the history (off the loop: a month of samples), then a turn every
        ``PERIOD_S`` of plant time."""
        if not self.seeded:
            now = self.clock.now()
            if historian is not None:
                await asyncio.to_thread(self.seed, historian, now)
            else:
                self.seed(None, now)
            # the first turn publishes the month so far and counts no sensor time: at a
            # start the PLCs have not been read yet, which would show as a sensor share of 0
            self._count_sensors = False
        while True:
            self.turn(self.clock.now())
            await asyncio.sleep(max(PERIOD_S / self.clock.scale, MIN_WALL_S))


def _put_pct(store: TagStore, tag: Tag, v: float | None) -> None:
    """A share, or no value (not read yet) while no sensor time has been observed: a
    figure of nothing is no 100 %."""
    if v is None:
        store.update(tag, None, Quality.BAD, NOT_READ)
    else:
        store.update(tag, round(v, 2))
