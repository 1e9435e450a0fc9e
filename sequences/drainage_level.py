"""Automatic sump level control: staged pumps, high-high override, duty rotation.

Stage k asks for k pumps at ``start_levels_m[k-1]`` and gives one up at
``stop_levels_m[k-1]``; at high-high every available pump runs whatever else is
asked, and at low-low none may. The pump started next is the available one with the
fewest run hours that has rested long enough; the pump stopped first is the one with
the most. A pump that trips stops counting, so the next one is started on the next
scan. Every start and stop goes through the command gate as source "auto", so a pump
in remote-manual or local is never touched.

The sump level is voted from its transmitters: with two good ones that disagree the
higher is used (pumping a little early is safe; running dry is guarded by the PLC).
With none good the control holds and says so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from fixedsite.clock import Clock
from fixedsite.config import DrainageControl, SumpEq
from fixedsite.gate import Command, CommandGate
from fixedsite.sequences.drainage import PumpSequence

if TYPE_CHECKING:
    from fixedsite.sequences.drainage_planner import Planner
from fixedsite.tags import Quality, Tag, TagMeta, TagStore

log = logging.getLogger(__name__)

ADOPT_WAIT_S = 60.0


class SumpLevel:
    """The sump's level voted from its transmitters, published as ``<sys>.<sump>.level``."""

    def __init__(self, system: str, name: str, sump: SumpEq, ctl: DrainageControl,
                 store: TagStore) -> None:
        self.store = store
        self.sensors = [f"{system}.{s}.level" for s in sump.sensors]
        self.disagree_m = ctl.sensor_disagree_m
        curve = np.asarray(sump.volume_curve, dtype=float)
        self._levels, self._volumes = curve[:, 0], curve[:, 1]
        base = f"{system}.{name}"
        self.level_tag = store.define(f"{base}.level", _meta("m", "voted sump level"))
        self.volume_tag = store.define(f"{base}.volume", _meta("m3", "water in the sump"))
        self.fill_tag = store.define(f"{base}.fill", _meta("%", "share of capacity in use"))
        self.disagree_tag = store.define(f"{base}.sensor_disagree", TagMeta(kind="bool"))

    def volume(self, level: float) -> float:
        """Water in the sump at ``level`` (pass the voted level: there is no default, so
        no caller can be handed the volume of a level nobody measured)."""
        return float(np.interp(level, self._levels, self._volumes))

    def update(self) -> float | None:
        good = [self.store[p].value for p in self.sensors
                if self.store[p].quality is Quality.GOOD]
        if not good:
            self.store.mark([self.level_tag, self.volume_tag, self.fill_tag], Quality.BAD,
                            "no_good_sensor")
            return None
        level = float(max(good))
        disagree = len(good) > 1 and max(good) - min(good) > self.disagree_m
        self.store.update(self.disagree_tag, disagree)
        quality = Quality.GOOD if len(good) == len(self.sensors) and not disagree \
            else Quality.UNCERTAIN
        reason = "" if quality is Quality.GOOD else "sensor_disagree" if disagree \
            else "one_sensor_bad"
        volume = self.volume(level)
        self.store.update(self.level_tag, round(level, 4), quality, reason)
        self.store.update(self.volume_tag, round(volume, 1), quality, reason)
        self.store.update(self.fill_tag, round(100 * volume / self._volumes[-1], 2),
                          quality, reason)
        return level


def _meta(unit: str, desc: str) -> TagMeta:
    return TagMeta(unit=unit, description=desc)


class LevelControl:
    def __init__(self, system: str, ctl: DrainageControl, level: SumpLevel,
                 pumps: list[PumpSequence], gate: CommandGate, store: TagStore,
                 clock: Clock) -> None:
        self.ctl, self.level, self.pumps = ctl, level, pumps
        self.gate, self.store, self.clock = gate, store, clock
        self.demand: int | None = None
        self._waiting_since: float | None = None
        self.planner: Planner | None = None
        self.override = False
        self.mode = "level rule"
        self.demand_tag = store.define(f"{system}.control.demand")
        self.status_tag = store.define(f"{system}.control.status", TagMeta(kind="text"))

    def published(self) -> list[Tag]:
        """The tags this control (and its level vote) publishes: bad if its scan fails."""
        lv = self.level
        return [self.demand_tag, self.status_tag, lv.level_tag, lv.volume_tag, lv.fill_tag,
                lv.disagree_tag]

    def _everyone_adopted(self) -> bool:
        """Bumpless start needs every pump's state: a pump still unknown might be running,
        and counting it as stopped would make the first scan stop another. A pump whose
        PLC stays silent is given up on after ADOPT_WAIT_S."""
        if all(p.adopted for p in self.pumps):
            return True
        now = self.clock.now()
        if self._waiting_since is None:
            self._waiting_since = now
        return now - self._waiting_since >= self.clock.guard_timeout(ADOPT_WAIT_S)

    def _want(self, level: float, current: int) -> int:
        """The plan's number inside its band; outside it, or without a fresh plan, the
        staged level rule (with high-high and low-low), which always wins on safety."""
        staged = self._staged(level, current)
        planner = self.planner
        plan_n = planner.view.now(self.clock.now()) if planner and planner.view else None
        if planner is None or plan_n is None:
            self.mode = "level rule" if planner is None else "level rule (no fresh plan)"
            return staged
        lo, hi = planner.p.band_m
        release = planner.p.override_release_m
        self.override = level >= hi or (self.override and level > hi - release)
        if self.override or level >= self.ctl.high_high_m:
            self.mode = "level rule: above the plan's band"
            return max(plan_n, staged)
        if level <= lo or level <= self.ctl.low_low_m:
            self.mode = "level rule: below the plan's band"
            return min(plan_n, staged)
        self.mode = "plan"
        return plan_n

    def _staged(self, level: float, current: int) -> int:
        c = self.ctl
        want = current
        for k, start in enumerate(c.start_levels_m):
            if level >= start:
                want = max(want, k + 1)
        for k, stop in enumerate(c.stop_levels_m):
            if level <= stop:
                want = min(want, k)
        if level >= c.high_high_m:
            want = len(self.pumps)
        if level <= c.low_low_m:
            want = 0
        return want

    async def scan(self) -> None:
        level = self.level.update()
        auto = [p for p in self.pumps if p.data_good and p.adopted and p.mode == "remote-auto"]
        if self.planner is not None:
            self.planner.tick(None if level is None else self.level.volume(level))
        if level is None:
            self.store.update(self.status_tag, "holding: sump level unknown")
            return
        if self.demand is None and not self._everyone_adopted():
            self.store.update(self.status_tag, "starting: reading every pump's state")
            return
        running = [p for p in self.pumps if p.active]
        if self.demand is None:                  # bumpless: start from what runs
            self.demand = len(running)
        self.demand = self._want(level, self.demand)
        self.store.update(self.demand_tag, self.demand)
        hh = level >= self.ctl.high_high_m
        status = "high-high: all available pumps" if hh else \
            f"demand {self.demand} ({self.mode})"
        self.store.update(self.status_tag, status)
        if len(running) < self.demand:
            now = self.clock.now()
            candidates = sorted(
                (p for p in auto if p.state == "stopped"
                 and (hh or now - p.last_stop >= self.ctl.min_rest_s)),
                key=lambda p: p.run_hours())
            todo = candidates if hh else candidates[:1]
            for p in todo[:self.demand - len(running)]:
                await self.gate.submit(Command(p.path, "start", "auto",
                                               params={"level_m": round(level, 3)}))
        elif len(running) > self.demand:
            stoppable = sorted((p for p in auto if p.active), key=lambda p: -p.run_hours())
            if stoppable:
                await self.gate.submit(Command(stoppable[0].path, "stop", "auto",
                                               params={"level_m": round(level, 3)}))
