"""The pump plan shown to people: what ``fixedsite plan`` prints.

It plans as the controller would, from the same config and the same history: the
forecast is seeded from the site's historian when there is one (else from ``--inflow``),
the level now is the last one stored (else ``--level``). Per step: the tariff period, the
pumps the plan runs, the level expected at the step's end and the forecast inflow; then
the plan's cost against level control alone on the same forecast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.historian import Historian
from fixedsite.sequences.drainage_plan import Plan, pumped
from fixedsite.sequences.drainage_planner import Planner, link_relay
from fixedsite.tags import TagStore


@dataclass
class Shown:
    planner: Planner
    plan: Plan
    level0: float
    seeded_steps: int


def make_plans(cfg: SiteConfig, history: Historian | None, level_m: float | None,
               running: int, inflow_m3h: float | None) -> list[Shown]:
    """One plan per system that has a ``plan`` section (rooms in relay solved together).
    ``level_m``, ``running`` and ``inflow_m3h`` are of the room at the top of a chain; a
    room feeding it starts from its own last stored level, else from the middle of its
    band, with no pump running."""
    assert cfg.tariff is not None
    clock = ScaledClock(1.0)
    store = TagStore(clock)
    planners, levels, seeded = [], {}, {}
    for name, system in cfg.systems.items():
        if system.plan is None:
            continue
        pl = Planner(name, system, cfg.tariff, [], store, clock)
        top = system.discharges_into is None
        # ``running`` is the top room's, as the level is; a feeding room is shown from rest
        pl.available, pl.running_n = len(system.control.pumps), running if top else 0
        planners.append(pl)
        seeded[name] = pl.seed_from(history) if history is not None else 0
        if seeded[name] == 0:
            q = inflow_m3h if inflow_m3h is not None and top else _hil_inflow(cfg, name)
            now = clock.now()
            step = pl.p.step_s
            pl.seed([(now - 86400 + i * step, q) for i in range(int(86400 / step))])
        level = level_m if top else None
        if level is None and history is not None:
            last = history.samples(f"{name}.{system.control.sump}.level",
                                   clock.now() - 86400, clock.now() + 1)
            level = last[-1][1] if last else None
        levels[name] = level if level is not None else sum(system.plan.band_m) / 2
        pl.volume = pl.v(levels[name])
    link_relay(planners)
    now = clock.now()
    for pl in planners:
        if pl.lead is None:
            pl.replan_inline(pl.v(levels[pl.name]), now)
    out = []
    for pl in planners:
        assert pl.last is not None
        out.append(Shown(pl, pl.last, levels[pl.name], seeded[pl.name]))
    return out


def _hil_inflow(cfg: SiteConfig, system: str) -> float:
    for h in cfg.hil.drainage:
        if h.system == system:
            return h.normal_inflow_m3h
    return 0.0


def as_text(cfg: SiteConfig, shown: Shown) -> str:
    assert cfg.tariff is not None
    pl, p = shown.planner, shown.plan
    rp = p.rooms[pl.name]
    levels = pl.level(rp.volume)
    room = pl.last_room
    assert room is not None
    source = f"{shown.seeded_steps} measured steps from the historian" if \
        shown.seeded_steps else "an assumed constant inflow (no history)"
    lines = [f"Pump plan for {pl.name} from {time.strftime('%Y-%m-%d %H:%M', time.localtime(p.t0))}"
             f", {p.step_s / 60:.0f}-minute steps; level now {shown.level0:.2f} m, "
             f"band {pl.p.band_m[0]}-{pl.p.band_m[1]} m; forecast from {source}",
             f"{'time':<6} {'period':<9} {'pumps':>5} {'level m':>8} {'inflow m3/h':>12}"
             + (f" {'relayed in':>11}" if pl.feeders else "")]
    relay = sum((pumped(f.last_room, p.rooms[f.name].pumps) for f in pl.feeders
                 if f.last_room is not None and f.name in p.rooms), np.zeros(len(rp.pumps)))
    for i, n in enumerate(rp.pumps):
        t = p.t0 + i * p.step_s
        period = cfg.tariff.at(t + 1).name
        lines.append(f"{time.strftime('%H:%M', time.localtime(t)):<6} {period:<9} {n:>5} "
                     f"{levels[i]:>8.2f} {room.inflow[i]:>12.0f}"
                     + (f" {relay[i]:>11.0f}" if pl.feeders else ""))
    base = pl.baseline_cost
    saving = 100 * (1 - rp.cost / base) if base > 0 else 0.0
    lines.append(f"plan: {rp.cost:,.0f} CNY for {rp.kwh:,.0f} kWh; level control alone on the "
                 f"same forecast: {base:,.0f} CNY; saving {saving:.1f} %")
    lines.append(f"expected level {float(np.min(levels)):.2f}-{float(np.max(levels)):.2f} m;"
                 f" {p.status}; solved in {p.solve_s:.2f} s")
    return "\n".join(lines)
