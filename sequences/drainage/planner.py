"""The planner at work in the controller: measure inflow, forecast, plan, hand the level
control its number of pumps, publish the plan; re-plan every step and on any surprise.

The plan only says how many pumps; the level control chooses which (duty rotation,
rest times), commands them through the gate, and overrides the plan whenever the level
leaves the plan's band (see ``LevelControl``). A plan past its third step, or a
planner that fails, leaves the level control on its own staged rule: planning can only
ever make pumping cheaper, never less safe.

Rooms in relay (a lower room pumping into this one) are planned together by the planner
of the room at the top of the chain, the *lead*: it gathers every feeding room's state,
solves them as one program and hands each its part. A fed room meters its own inflow
without what is relayed into it, since the plan adds that from the lower room's pumps.

The solve runs in a worker thread so the scan never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import numpy as np

from fixedsite.clock import Clock
from fixedsite.config import TariffConfig
from fixedsite.historian import Historian
from fixedsite.sequences.drainage.config import DrainageSystem, PumpEq, SumpEq
from fixedsite.sequences.drainage.equipment import PLAN_SIGNALS
from fixedsite.sequences.drainage.forecast import (
    InflowForecast,
    InflowMeter,
    inflows_from_samples,
)
from fixedsite.sequences.drainage.plan import (
    Plan,
    Room,
    level_only,
    plan,
    pumped,
    slot_starts,
)
from fixedsite.sequences.drainage.pump import PumpSequence
from fixedsite.tags import STALE, Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)


@dataclass
class PlanView:
    """What the level control reads: pumps per step from ``t0``; stale after ``valid_s``."""

    t0: float
    step_s: float
    pumps: np.ndarray
    valid_until: float

    def now(self, t: float) -> int | None:
        i = int((t - self.t0) // self.step_s)
        if t > self.valid_until or not 0 <= i < len(self.pumps):
            return None
        return int(self.pumps[i])


class Planner:
    def __init__(self, system: str, cfg: DrainageSystem, tariff: TariffConfig,
                 pumps: list[PumpSequence], store: TagStore, clock: Clock) -> None:
        assert cfg.plan is not None
        self.name, self.cfg, self.p, self.tariff = system, cfg, cfg.plan, tariff
        self.pumps, self.store, self.clock = pumps, store, clock
        sump = cfg.equipment[cfg.control.sump]
        assert isinstance(sump, SumpEq)
        curve = np.asarray(sump.volume_curve, dtype=float)
        self.levels, self.volumes = curve[:, 0], curve[:, 1]
        self.rated = [eq.rated_flow_m3h for n in cfg.control.pumps
                      if isinstance(eq := cfg.equipment[n], PumpEq)]
        self.power = [eq.rated_power_kw for n in cfg.control.pumps
                      if isinstance(eq := cfg.equipment[n], PumpEq)]
        self.steps = int(round(self.p.horizon_h * 3600 / self.p.step_s))
        self.forecast = InflowForecast(self.p.step_s, z=self.p.z)
        self.meter = InflowMeter(self.p.step_s)
        self.flow_by_n: dict[int, float] = {}          # measured total flow, n pumps on
        self.view: PlanView | None = None
        self.last: Plan | None = None
        self.last_room: Room | None = None     # what the last plan was made from
        self.baseline_cost = 0.0
        self.replans = 0
        self.solve_times: deque[float] = deque(maxlen=2000)
        self._due = True
        self.available = -1
        self.running_n = 0
        self._changed_at = -1e12
        self._last_dir = "up"
        self._task: asyncio.Task[None] | None = None
        self.fixed = False           # a plan given from outside: measure, never re-plan
        self.lowered_m = 0.0         # the band lowered by the hydrological linkage
        self.lead: Planner | None = None       # plans this room with its own (relay)
        self.feeders: list[Planner] = []       # rooms pumping into this one, planned here
        self.volume: float | None = None       # at the last tick
        # the start price at which the last plan kept the starts cap: the next plan starts
        # from it, so a re-plan seldom solves twice (halved while the cap is slack)
        self.start_price = 0.0
        self._last_plan_at, self._planned_from, self._margin0 = -1e12, 0.0, 0.0
        # benchmarks: solve in the scan under this context (a held clock), not a thread
        self.inline: Callable[[], AbstractContextManager[None]] | None = None
        self.tags = {sig: store.define(f"{system}.plan.{sig}", TagMeta(
            unit=unit or "", kind="text" if unit is None else "number", description=desc))
            for sig, (unit, desc) in PLAN_SIGNALS.items()}

    # --- measuring, once a scan ----------------------------------------------------------
    def tick(self, volume: float | None) -> None:
        now = self.clock.now()
        running = [p for p in self.pumps if p.active]
        pumped = self.outflow()
        relays = [f.outflow() for f in self.feeders]
        n = len(running)
        if n != self.running_n:
            self._last_dir = "up" if n > self.running_n else "down"
            self.running_n, self._changed_at = n, now
        elif n and pumped is not None and all(p.state == "running" for p in running):
            old = self.flow_by_n.get(n)
            self.flow_by_n[n] = pumped if old is None else 0.98 * old + 0.02 * pumped
        available = sum(1 for p in self.pumps if p.mode == "remote-auto"
                        and p.state != "fault" and p.data_good)
        if available != self.available:
            if self.available >= 0:
                log.info("%s: %d pumps available (was %d): re-planning", self.name,
                         available, self.available)
            self.available, self._due = available, True
        self.volume = volume
        if volume is None:      # the plan stands on a level no longer measured: uncertain
            self._hold(Quality.UNCERTAIN)
            return
        self._hold(Quality.GOOD)
        if pumped is None or None in relays:
            # inflow = volume change + outflow: with an outflow unknown, no step is metered
            # (the part-step is dropped, not filled in with a guess)
            self.meter.reset()
            step = None
        else:
            step = self.meter.feed(now, volume, pumped - sum(q for q in relays if q is not None))
        if step is not None:
            t0, inflow = step
            fc = self.forecast.forecast(t0, 1)
            if inflow > fc.high[0] * 1.2 + 20.0 and self.forecast.samples > 4:
                log.info("%s: inflow %.0f m3/h above the forecast band (%.0f): re-planning",
                         self.name, inflow, fc.high[0])
            self.forecast.update(t0, inflow)
            self._due = True
        elif self._off_course(volume, now):
            log.info("%s: sump volume %.0f m3 off the plan's course: re-planning",
                     self.name, volume)
            self._due = True
        if self.fixed:
            return
        if self.lead is not None:             # planned with the room it pumps into
            if self._due:
                self._due, top = False, self.top()
                # the lead re-plans on its own step too: one plan for both, not two
                top._due |= now - top._last_plan_at > self.p.step_s / 10
            return
        if self._due and self.inline is not None:
            self._due = False
            with self.inline():
                self.replan_inline(volume, now)
        elif self._due and (self._task is None or self._task.done()):
            self._due = False
            self._task = asyncio.get_running_loop().create_task(self._replan(volume, now))

    def band(self) -> tuple[float, float]:
        """The band the plan works in: the config's, lowered with the level control's
        stages while the hydrological readiness is raised (its bottom kept where the
        lowered stop levels may go, its top at least a tenth of a metre above it)."""
        lo, hi = self.p.band_m
        if self.lowered_m <= 0.0:
            return lo, hi
        c = self.cfg.control
        floor = c.low_low_m + (self.cfg.hydrology.dry_margin_m if self.cfg.hydrology
                               else 0.15)
        lo2 = max(lo - self.lowered_m, min(lo, floor))
        return lo2, max(hi - self.lowered_m, lo2 + 0.1)

    def replan(self) -> None:
        """Plan again at the next tick (the band or the pumps' state changed)."""
        self.top()._due = True
        self._due = True

    def _hold(self, quality: Quality) -> None:
        """Mark the published plan uncertain while it cannot be checked against the
        level, and good again once it can (values kept: an old plan, not a wrong one)."""
        reason = "" if quality is Quality.GOOD else STALE
        for tag in self.tags.values():
            if tag.value is not None and tag.quality is not quality and \
                    tag.quality is not Quality.BAD:
                self.store.update(tag, tag.value, quality, reason)

    def outflow(self) -> float | None:
        """m3/h this room's running pumps deliver now (into the room above, in relay); None
        while a running pump's flow meter reads no good value: its flow is unknown, not
        zero. A pump without a flow meter counts at its rated flow."""
        total = 0.0
        for p, rated in zip(self.pumps, self.rated, strict=True):
            if not p.active:
                continue
            if not p.mapped("flow"):
                total += rated
                continue
            q = p.v("flow")
            if q is None:
                return None
            total += float(q)
        return total

    def top(self) -> Planner:
        return self if self.lead is None else self.lead.top()

    def chain(self) -> list[Planner]:
        """This planner and every room that pumps into it, directly or through others."""
        return [self] + [q for f in self.feeders for q in f.chain()]

    def _off_course(self, volume: float, now: float) -> bool:
        """A surprise inside a step (a surge, a pump that gives less): the volume has left
        the plan's expected course by more than its margin. At most every third of a
        step, so a noisy level does not keep the solver busy."""
        last = self.last
        if last is None or now - self._last_plan_at < self.p.step_s / 3:
            return False
        rp = last.rooms[self.name]
        i = int((now - last.t0) // last.step_s)
        if not 0 <= i < len(rp.volume):
            return False
        before = rp.volume[i - 1] if i > 0 else self._planned_from
        frac = (now - last.t0 - i * last.step_s) / last.step_s
        expected = before + frac * (rp.volume[i] - before)
        lo, hi = self.band()
        return abs(volume - expected) > self._margin0 + 0.05 * (self.v(hi) - self.v(lo))

    def flows(self) -> list[float]:
        """Marginal flow of the k-th pump on: measured where it has been, else rated."""
        out, prev = [], 0.0
        for k in range(1, len(self.rated) + 1):
            total = self.flow_by_n.get(k)
            out.append(total - prev if total is not None and total > prev
                       else self.rated[k - 1])
            prev = total if total is not None else prev + self.rated[k - 1]
        return out

    def room(self, volume: float, now: float) -> tuple[Room, np.ndarray]:
        p = self.p
        t0 = now - now % p.step_s
        fc = self.forecast.forecast(t0, self.steps)
        lo, hi = self.band()
        if self.forecast.samples == 0:                      # nothing measured yet
            fc.inflow[:] = fc.low[:] = fc.high[:] = sum(self.rated) * 0.3
            fc.margin[:] = 0.1 * (self.v(hi) - self.v(lo))
        prices = np.array([self.tariff.at(t0 + i * p.step_s + 1).price
                           for i in range(self.steps)])
        since = int((now - self._changed_at) // p.step_s)
        room = Room(self.name, volume, self.v(lo), self.v(hi), fc.inflow,
                    fc.margin, self.flows(), self.power, max(0, self.available),
                    running=self.running_n, last_change=self._last_dir,
                    since_change_steps=since, max_on=p.max_pumps, max_kw=p.max_kw,
                    max_discharge=p.max_discharge_m3h,
                    min_run_steps=max(1, int(np.ceil(p.min_run_s / p.step_s))),
                    min_rest_steps=max(1, int(np.ceil(p.min_rest_s / p.step_s))),
                    start_cost=max(p.start_cost, self.start_price),
                    max_starts=max(1, round(p.max_starts_per_day * p.horizon_h / 24)))
        return room, prices

    def v(self, level: float) -> float:
        return float(np.interp(level, self.levels, self.volumes))

    def level(self, volume: np.ndarray) -> np.ndarray:
        return np.interp(volume, self.volumes, self.levels)

    def rooms(self, volume: float, now: float) -> tuple[list[Room], np.ndarray]:
        """Every room of the chain as the plan sees it, this one first. A feeding room
        whose level is not known is left out, its forecast inflow counted as flowing on
        into this one (over a day a room pumps out what flows in)."""
        room, prices = self.room(volume, now)
        rooms = {self.name: room}
        for pl in self.chain()[1:]:
            above = pl.lead
            while above is not None and above.name not in rooms:
                above = above.lead                 # the room above was left out too
            assert above is not None
            if pl.volume is None:
                up = rooms[above.name]
                up.inflow = up.inflow + pl.room(0.0, now)[0].inflow
                continue
            rooms[pl.name], _ = pl.room(pl.volume, now)
            rooms[pl.name].into = above.name
        return list(rooms.values()), prices

    async def _replan(self, volume: float, now: float) -> None:
        rooms, prices = self.rooms(volume, now)
        try:
            result = await asyncio.to_thread(plan, rooms, prices, self.p.step_s,
                                             now - now % self.p.step_s)
        except Exception:
            log.exception("%s: planning failed; level control alone", self.name)
            for pl in self.chain():
                pl.store.update(pl.tags["status"], say("planning failed: level control alone"))
            return
        self._adopt_all(rooms, prices, result, now)

    def replan_inline(self, volume: float, now: float) -> None:
        """Solve in the caller's thread (benchmarks with a held clock)."""
        rooms, prices = self.rooms(volume, now)
        self._adopt_all(rooms, prices, plan(rooms, prices, self.p.step_s,
                                            now - now % self.p.step_s), now)

    def _adopt_all(self, rooms: list[Room], prices: np.ndarray, result: Plan,
                   now: float) -> None:
        """Each room of the chain takes its part; the lowest first, so each room's
        level-only baseline receives what the level rule below would pump into it."""
        planners = {pl.name: pl for pl in self.chain()}
        base_out: dict[str, np.ndarray] = {}
        for room in reversed(rooms):
            fed = sum((base_out[r.name] for r in rooms if r.into == room.name),
                      np.zeros(len(prices)))
            base_out[room.name] = planners[room.name]._adopt(room, prices, result, now, fed)

    def _adopt(self, room: Room, prices: np.ndarray, result: Plan, now: float,
               relayed: np.ndarray) -> np.ndarray:
        """Take this room's part of a plan; returns what level control alone would pump
        out of the room (m3/h per step), for the baseline of the room above."""
        rp = result.rooms[self.name]
        t0 = now - now % self.p.step_s
        self.last, self.last_room, self.replans = result, room, self.replans + 1
        self._last_plan_at, self._planned_from = now, room.volume0
        self._margin0 = float(room.margin[min(4, len(room.margin) - 1)])
        self.solve_times.append(result.solve_s)
        slack = max(slot_starts(rp.pumps, room.running), default=0) <= room.max_starts - 2 \
            if room.max_starts is not None else True
        self.start_price = rp.start_cost / 2 if slack else rp.start_cost
        # the plan covers the step in progress from its start
        self.view = PlanView(t0, self.p.step_s, rp.pumps, t0 + 3 * self.p.step_s)
        c = self.cfg.control
        alone = replace(room, inflow=room.inflow + relayed)
        base = level_only(alone, [self.v(x) for x in c.start_levels_m],
                          [self.v(x) for x in c.stop_levels_m], self.p.step_s)
        self.baseline_cost = baseline_cost(alone, base, rp.volume[-1], prices, self.p.step_s)
        up = self.store.update
        up(self.tags["pumps"], float(rp.pumps[0]))
        parts = [result.status, say("{n} pumps available", n=room.available)]
        if rp.outside_m3 > 0:
            parts.append(say("band cannot hold: {m3:.0f} m3 over", m3=rp.outside_m3))
        up(self.tags["status"], "; ".join(parts))       # each part read back on its own
        up(self.tags["cost"], round(rp.cost, 1))
        up(self.tags["baseline_cost"], round(self.baseline_cost, 1))
        up(self.tags["saving_pct"], round(100 * (1 - rp.cost / self.baseline_cost), 1)
           if self.baseline_cost > 0 else 0.0)
        up(self.tags["solve_s"], round(result.solve_s, 3))
        up(self.tags["schedule"], "".join(str(int(n)) for n in rp.pumps))
        up(self.tags["expected_level"], ",".join(f"{x:.2f}" for x in self.level(rp.volume)))
        up(self.tags["inflow"], round(float(room.inflow[0]), 1))
        up(self.tags["inflow_high"], round(float(self.forecast.forecast(t0, 1).high[0]), 1))
        return pumped(alone, base)

    def seed(self, history: list[tuple[float, float]]) -> None:
        """Past inflow steps so the first plan is not blind."""
        for t, q in history:
            self.forecast.update(t, q)

    def seed_from(self, h: Historian, days: float = 7.0) -> int:
        """A week of measured inflow from the historian, so a restart plans at once."""
        now, c = self.clock.now(), self.cfg.control
        t0 = now - days * 86400
        flows = [h.samples(f"{self.name}.{p}.flow", t0, now) for p in c.pumps]
        for f in self.feeders:                  # what they relayed in is not our inflow
            flows += [[(t, -q) for t, q in h.samples(f"{f.name}.{p}.flow", t0, now)]
                      for p in f.cfg.control.pumps]
        steps = inflows_from_samples(h.samples(f"{self.name}.{c.sump}.volume", t0, now),
                                     flows, t0, now, self.p.step_s)
        self.seed(steps)
        return len(steps)


def link_relay(planners: list[Planner]) -> None:
    """Planners of rooms in relay into their chains: each fed room is planned by the
    planner of the room it discharges into."""
    by_name = {pl.name: pl for pl in planners}
    for pl in planners:
        up = by_name.get(pl.cfg.discharges_into or "")
        if up is not None:
            pl.lead = up
            up.feeders.append(pl)


def baseline_cost(room: Room, pumps: np.ndarray, plan_end_m3: float, prices: np.ndarray,
                  step_s: float) -> float:
    """What level control alone would pay over the horizon, made comparable with a plan
    that ends at ``plan_end_m3``: water it leaves in (or takes out of) the sump beyond the
    plan's end is charged (credited) at the horizon's average cost of pumping a m3."""
    h = step_s / 3600.0
    n = np.minimum(pumps, room.available)
    kw = np.concatenate([[0.0], np.cumsum(room.powers)])[n]
    cost = float((kw * h * prices).sum())
    end = room.volume0 + float(np.sum((room.inflow - pumped(room, n)) * h))
    per_m3 = float(np.mean(prices)) * float(np.mean(room.powers)) / float(np.mean(room.flows))
    return cost + (end - plan_end_m3) * per_m3
