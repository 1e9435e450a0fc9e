"""Automatic sump level control: staged pumps, high-high override, duty rotation.

Stage k asks for k pumps at ``start_levels_m[k-1]`` and gives one up at
``stop_levels_m[k-1]``; at high-high every available pump runs whatever else is
asked, and at low-low none may. The pump started next is the available one with the
fewest run hours that has rested long enough; the pump stopped first is the one with
the most. A pump that trips stops counting, so the next one is started on the next
scan. Every start and stop goes through the command gate as source "auto", so a pump
in remote-manual or local is never touched, and keeps the pacing (minimum run, minimum
rest, starts in 24 h; the plan's when there is one): only high-high (start) and the
approach of low-low (stop: half-way from the first stop level down, since a stop pumps on
while the valve closes) override it, and their commands say so. The status tag says
when the pacing holds a start or a stop back.

The sump level is voted from its transmitters: with two good ones that disagree the
higher is used (pumping a little early is safe; running dry is guarded by the PLC).
With none good the control holds and says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fixedsite.clock import Clock
from fixedsite.gate import Command, CommandGate, Record
from fixedsite.sequences.drainage.config import DrainageControl, DrainagePlan, SumpEq
from fixedsite.sequences.drainage.pump import DAY_S, PumpSequence

if TYPE_CHECKING:
    from fixedsite.sequences.drainage.planner import Planner
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

ADOPT_WAIT_S = 60.0
STAGE_GAP_M = 0.1          # a lowered start level stays this far above its stop level


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
            # no sensor good: why (comm_fail for a PLC that is down says more than "none")
            _q, why = self.store.worst(self.sensors)
            self.store.mark([self.level_tag, self.volume_tag, self.fill_tag], Quality.BAD,
                            why or "no_good_sensor")
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
                 clock: Clock, plan: DrainagePlan | None = None) -> None:
        self.ctl, self.level, self.pumps = ctl, level, pumps
        self.gate, self.store, self.clock = gate, store, clock
        self.demand: int | None = None
        self._waiting_since: float | None = None
        self.planner: Planner | None = None
        self.override = False
        self.mode = say("level rule")
        self.pacing = Pacing.of(ctl, plan)
        # set by the hydrological linkage (hydrology.py): start and stop levels lowered by
        # lowered_m (stops kept dry_margin_m above low-low), the plan set aside
        self.lowered_m = 0.0
        self.dry_margin_m = 0.15
        self.plan_suspended = False
        self.demand_tag = store.define(f"{system}.control.demand")
        self.status_tag = store.define(f"{system}.control.status", TagMeta(kind="text"))

    def published(self) -> list[Tag]:
        """The tags this control's own decisions publish: bad if its scan fails. The voted
        level is not among them: it is a measurement, and marking it bad would blind the
        high-high alarm to a fault in the logic after it."""
        return [self.demand_tag, self.status_tag]

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
        if planner is not None and self.plan_suspended:
            self.mode = say("level rule: plan suspended (hydrology)")
            return staged
        if planner is None or plan_n is None:
            self.mode = say("level rule") if planner is None else say("level rule (no fresh plan)")
            return staged
        lo, hi = planner.band()
        release = planner.p.override_release_m
        self.override = level >= hi or (self.override and level > hi - release)
        if self.override or level >= self.ctl.high_high_m:
            self.mode = say("level rule: above the plan's band")
            return max(plan_n, staged)
        if level <= lo or level <= self.ctl.low_low_m:
            self.mode = say("level rule: below the plan's band")
            return min(plan_n, staged)
        self.mode = say("plan")
        return plan_n

    def stages(self) -> tuple[list[float], list[float]]:
        """The start and stop levels in force: the config's, or lowered by the hydrological
        linkage to keep more of the sump empty. A lowered stop stays ``dry_margin_m`` above
        low-low (a pump must not be run towards dry running), and a start stays above its
        stop, so a stage never starts and stops on the same level."""
        c, d = self.ctl, self.lowered_m
        if d <= 0.0:
            return list(c.start_levels_m), list(c.stop_levels_m)
        floor = c.low_low_m + self.dry_margin_m
        stops = [max(s - d, min(s, floor)) for s in c.stop_levels_m]
        starts = [max(s - d, stop + STAGE_GAP_M) for s, stop in zip(c.start_levels_m, stops,
                                                                        strict=False)]
        return starts, stops

    def _staged(self, level: float, current: int) -> int:
        c = self.ctl
        want = current
        starts, stops = self.stages()
        for k, start in enumerate(starts):
            if level >= start:
                want = max(want, k + 1)
        for k, stop in enumerate(stops):
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
            try:                    # an optimisation failing leaves the level rule in charge
                self.planner.tick(None if level is None else self.level.volume(level))
            except Exception:
                log.exception("%s planner failed; the level rule goes on", self.demand_tag.path)
        if level is None:
            self.store.update(self.status_tag, say("holding: sump level unknown"))
            self.store.derive(self.demand_tag, [self.level.level_tag.path])
            return
        if self.demand is None and not self._everyone_adopted():
            self.store.update(self.status_tag, say("starting: reading every pump's state"))
            return
        running = [p for p in self.pumps if p.active]
        if self.demand is None:                  # bumpless: start from what runs
            self.demand = len(running)
        self.demand = self._want(level, self.demand)
        # the demand is no better than the level and the pump states it was read from
        self.store.update(self.demand_tag, self.demand, *self.store.worst(
            [self.level.level_tag.path] + [p.state_tag.path for p in self.pumps]))
        hh = level >= self.ctl.high_high_m
        status = say("high-high: all available pumps") if hh else \
            say("demand {n} ({mode})", n=self.demand, mode=self.mode)
        if self.lowered_m > 0.0:
            status += "; " + say("levels lowered {m:.2f} m (hydrology)", m=self.lowered_m)
        if len(running) < self.demand:
            status = await self._start_next(level, len(running), auto, hh, status)
        elif len(running) > self.demand:
            status = await self._stop_next(level, auto, status)
        self.store.update(self.status_tag, status)

    async def _start_next(self, level: float, running: int, auto: list[PumpSequence],
                          hh: bool, status: str) -> str:
        """The rested pump with the fewest starts in the last 24 h, then the fewest hours
        (by hours alone the same pump took every start until its cap held it, idle pumps
        beside it); at high-high every available pump, those within their limits first,
        and a command that breaks one says it overrode."""
        now, pc = self.clock.now(), self.pacing
        stopped = sorted((p for p in auto if p.state == "stopped"),
                         key=lambda p: (p.starts_today(now), p.run_hours()))
        ready = [p for p in stopped if self._may_start(p, now)]
        todo = (ready + [p for p in stopped if p not in ready] if hh else ready[:1]
                )[:self.demand - running]
        for p in todo:
            params: dict[str, object] = {"level_m": round(level, 3)}
            if p not in ready:
                params["override"] = say("high-high: min rest / starts cap")
            await self.gate.submit(Command(p.path, "start", "auto", params=params))
        if not todo and stopped:
            # the pump that will be free first: what the operator waits for
            p = min(stopped, key=lambda q: self._free_at(q, now))
            if p.starts_today(now) >= pc.max_starts_per_day:
                why = say("{pump} has had {n} starts in 24 h", pump=p.name, n=pc.max_starts_per_day)
            else:
                why = say("{pump} rests until {hhmm}", pump=p.name,
                          hhmm=_hhmm(p.last_stop + pc.min_rest_s))
            status += "; " + say("start held: {why}", why=why)
        return status

    async def _stop_next(self, level: float, auto: list[PumpSequence], status: str) -> str:
        """The pump with the most hours among those that have run their minimum; at low-low
        any, and the command says it overrode."""
        now = self.clock.now()
        active = sorted((p for p in auto if p.active), key=lambda p: -p.run_hours())
        ripe = [p for p in active if now - p.last_start >= self.pacing.min_run_s]
        # A stop takes the valve's travel, pumping all the while: the minimum run yields
        # half-way from the first stop level down to low-low, so the sump never reaches it.
        c = self.ctl
        near_ll = level <= c.low_low_m + 0.5 * (min(c.stop_levels_m) - c.low_low_m)
        pick = (ripe or active) if near_ll else ripe
        if pick:
            params: dict[str, object] = {"level_m": round(level, 3)}
            if pick[0] not in ripe:
                params["override"] = say("near low-low: min run")
            await self.gate.submit(Command(pick[0].path, "stop", "auto", params=params))
        elif active:
            until = min(p.last_start for p in active) + self.pacing.min_run_s
            status += "; " + say("stop held: minimum run until {hhmm}", hhmm=_hhmm(until))
        return status

    def _free_at(self, p: PumpSequence, now: float) -> float:
        """When ``p`` may start again: its rest over and a start left in its 24 h."""
        pc = self.pacing
        recent = sorted(t for t in p.starts if t > now - DAY_S)
        over = len(recent) - pc.max_starts_per_day
        capped_until = recent[over] + DAY_S if over >= 0 else now
        return max(p.last_stop + pc.min_rest_s, capped_until)

    def _may_start(self, p: PumpSequence, now: float) -> bool:
        pc = self.pacing
        return now - p.last_stop >= pc.min_rest_s and \
            p.starts_today(now) < pc.max_starts_per_day


@dataclass(frozen=True)
class Pacing:
    """How often a pump may be started and stopped automatically: a plan's own figures
    when it plans (it schedules within them), else the control's."""

    min_run_s: float
    min_rest_s: float
    max_starts_per_day: int

    @staticmethod
    def of(ctl: DrainageControl, plan: DrainagePlan | None) -> Pacing:
        src: DrainageControl | DrainagePlan = plan if plan is not None else ctl
        return Pacing(src.min_run_s, src.min_rest_s, src.max_starts_per_day)


def _hhmm(t: float) -> str:
    return time.strftime("%H:%M", time.localtime(t))


def automatic_pacing(records: Iterable[Record]) -> dict[str, float]:
    """The shortest run and rest between accepted automatic commands, per the gate's
    records; commands forced by a hard limit are counted apart (``forced``), since they
    may break the pacing by design. What a bench or a test checks the pacing against."""
    last: dict[str, tuple[str, float]] = {}
    runs, rests, forced = [], [], 0
    for r in records:
        c = r.command
        if c.source == "operator" or c.action not in ("start", "stop") or \
                not r.decision.accepted or r.decision.reason.startswith("already"):
            continue
        if "override" in c.params:
            forced += 1
            last.pop(c.target, None)
            continue
        prev = last.get(c.target)
        if prev is not None and prev[0] != c.action:
            (runs if c.action == "stop" else rests).append(r.t - prev[1])
        last[c.target] = (c.action, r.t)
    inf = float("inf")
    return {"shortest_run_s": min(runs, default=inf), "shortest_rest_s": min(rests, default=inf),
            "runs": len(runs), "rests": len(rests), "forced": forced}
