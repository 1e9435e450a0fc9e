"""The pump plan shown to people: what ``fixedsite plan`` prints.

It plans as the controller would, from the same config, the same history and the same
clock: the controller's time (``site_now``: its [clock] with the anchor it was started
with, else the history's latest record), the forecast seeded from the site's historian
when there is one (else from ``--inflow``), the level now the last one stored (else
``--level``). Per step: the tariff period, the pumps the plan runs, the level expected at
the step's end and the forecast inflow; then the plan's cost against level control alone
on the same forecast, and, where the two end the horizon at different levels or the plan
costs more, why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from fixedsite.clock import ManualClock, ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.historian import Historian
from fixedsite.report import ALIVE_GAP_S
from fixedsite.sequences.drainage.plan import Plan, level_only, pumped
from fixedsite.sequences.drainage.planner import Planner, link_relay
from fixedsite.tags import TagStore


@dataclass
class Baseline:
    """Level control alone over the plan's horizon, in the parts the plan's comparison
    adds up (``sequences.drainage.planner.baseline_cost``): what it pays for pumping,
    where it leaves the sump, and what a m3 left in (or taken out) beyond the plan's end is
    counted at."""

    pumped_cost: float
    end_m3: float
    per_m3: float


@dataclass
class Shown:
    planner: Planner
    plan: Plan
    level0: float
    seeded_steps: int
    baseline: Baseline | None = None
    level_at: float | None = None      # when the level now was stored (None: given/assumed)


def make_plans(cfg: SiteConfig, history: Historian | None, level_m: float | None,
               running: int, inflow_m3h: float | None,
               now: float | None = None) -> list[Shown]:
    """One plan per system that has a ``plan`` section (rooms in relay solved together).
    ``level_m``, ``running`` and ``inflow_m3h`` are of the room at the top of a chain; a
    room feeding it starts from its own last stored level, else from the middle of its
    band, with no pump running."""
    assert cfg.tariff is not None
    clock = ManualClock(time.time() if now is None else now)
    store = TagStore(clock)
    planners, levels, seeded = [], {}, {}
    stored_at: dict[str, float | None] = {}
    for name, system in cfg.systems.items():
        if system.kind != "drainage" or system.plan is None:
            continue                     # (another kind of system has no pump plan)
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
            level, stored_at[name] = (last[-1][1], last[-1][0]) if last else (None, None)
        levels[name] = level if level is not None else sum(system.plan.band_m) / 2
        pl.volume = pl.v(levels[name])
    link_relay(planners)
    now = clock.now()
    for pl in planners:
        if pl.lead is None:
            pl.replan_inline(pl.v(levels[pl.name]), now)
    bases = baselines(planners)
    out = []
    for pl in planners:
        assert pl.last is not None
        out.append(Shown(pl, pl.last, levels[pl.name], seeded[pl.name], bases.get(pl.name),
                         stored_at.get(pl.name)))
    return out


def baselines(planners: list[Planner]) -> dict[str, Baseline]:
    """Level control alone per room, each fed by what level control alone below it would
    pump up (as the planner compares, lowest room first), taken apart so that a reader can
    see how much of the comparison is water left in the sump at the horizon's end."""
    out: dict[str, Baseline] = {}

    def visit(pl: Planner) -> np.ndarray:
        room, result = pl.last_room, pl.last
        assert room is not None and result is not None
        fed = sum((visit(f) for f in pl.feeders if f.last_room is not None),
                  np.zeros(len(room.inflow)))
        alone = replace(room, inflow=room.inflow + fed)
        c, h = pl.cfg.control, pl.p.step_s / 3600.0
        base = level_only(alone, [pl.v(x) for x in c.start_levels_m],
                          [pl.v(x) for x in c.stop_levels_m], pl.p.step_s)
        n = np.minimum(base, alone.available)
        kw = np.concatenate([[0.0], np.cumsum(alone.powers)])[n]
        out[pl.name] = Baseline(
            float((kw * h * result.prices).sum()),
            alone.volume0 + float(np.sum((alone.inflow - pumped(alone, n)) * h)),
            float(np.mean(result.prices)) * float(np.mean(alone.powers))
            / float(np.mean(alone.flows)))
        return pumped(alone, base)
    for pl in planners:
        if pl.lead is None and pl.last_room is not None:
            visit(pl)
    return out


def latest_record(history: Historian) -> tuple[float | None, float | None]:
    """The history's latest sample or event, and the time by which the controller writing
    it promised its next "alive" (None: it made no promise)."""
    db = history.db
    t = max((r[0] for r in db.execute("SELECT max(t) FROM samples UNION ALL "
                                      "SELECT max(t) FROM events") if r[0] is not None),
            default=None)
    alive = history.events_between((t or 0.0) - 86400, (t or 0.0) + 1, "controller")
    promise = alive[-1]["data"].get("next_by") if alive else None
    return t, float(promise) if isinstance(promise, (int, float)) else None


def site_now(cfg: SiteConfig, history: Historian | None, anchor: float | None
             ) -> tuple[float, str]:
    """The controller's time, and one line saying where it came from.

    A site that runs its clock accelerated or from an origin has a time this process
    cannot read off the wall: with the anchor the controller was started with it is
    worked out as the controller does; without it the history's latest record is the
    best witness of the controller's time (it is when the controller last wrote)."""
    c = cfg.clock
    if anchor is not None:
        now = ScaledClock(c.scale, origin=c.origin_epoch(), anchor=anchor).now()
        return now, (f"clock: the site's [clock] (x{c.scale:g}) from --clock-anchor "
                     f"{anchor:.3f}: {_when(now)}")
    started = _controller_clock(history) if history is not None else None
    if started is not None:
        scale, origin, anchor0 = started
        now = ScaledClock(scale, origin=origin, anchor=anchor0).now()
        return now, (f"clock: the running controller's (x{scale:g}, as it recorded at its "
                     f"start): {_when(now)}")
    if c.scale == 1.0 and c.origin is None:
        now = time.time()
        return now, f"clock: this computer's, as the site runs in real time: {_when(now)}"
    last = latest_record(history)[0] if history is not None else None
    if last is not None:
        return last, (f"clock: the history's latest record, {_when(last)}: the site's clock "
                      f"runs x{c.scale:g} from a start this command is not told "
                      "(--clock-anchor gives it)")
    now = time.time()
    return now, (f"clock: this computer's, {_when(now)}: the site's runs x{c.scale:g} "
                 "and there is no history to read it from")


def _controller_clock(history: Historian) -> tuple[float, float, float] | None:
    """(scale, origin, anchor) of the controller writing this history, if its last
    lifecycle event is a start that recorded its clock (and no stop came after)."""
    last, _ = latest_record(history)
    if last is None:
        return None
    events = history.events_between(0.0, last + 1, "lifecycle")
    if not events or events[-1]["text"] != "started":
        return None
    clock = events[-1]["data"].get("clock")
    try:
        scale, anchor = float(clock["scale"]), float(clock["anchor"])
        origin = float(clock["origin"])
    except (TypeError, KeyError, ValueError):
        return None
    return scale, origin, anchor


def history_note(history: Historian | None, now: float) -> str | None:
    """One line when the history is not a running controller's (None when it is)."""
    if history is None:
        return None
    last, promise = latest_record(history)
    if last is None:
        return "history: empty: forecast from --inflow, level from --level"
    life = history.events_between(last - 86400 * 366, last + 1, "lifecycle")
    if life and life[-1]["text"] == "stopped":
        return (f"history: its controller stopped at {_when(life[-1]['t'])}: the level "
                "now and the forecast are of then")
    due = promise if promise is not None else last + ALIVE_GAP_S
    if now <= due:
        return None
    return (f"history: nothing recorded since {_when(last)} ({_age(now - last)} before the "
            "plan's start), so no controller is writing it: the level now and the "
            "forecast are of then")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _age(s: float) -> str:
    m = int(abs(s) // 60)
    return f"{m // 1440} d {m // 60 % 24} h" if m >= 1440 else \
        f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def _hil_inflow(cfg: SiteConfig, system: str) -> float:
    for h in cfg.hil.drainage:
        if h.system == system and h.hydrology is None:
            return h.normal_inflow_m3h or 0.0
    return 0.0


def as_text(cfg: SiteConfig, shown: Shown) -> str:
    assert cfg.tariff is not None
    pl, p = shown.planner, shown.plan
    rp = p.rooms[pl.name]
    levels = pl.level(rp.volume)
    room = pl.last_room
    assert room is not None
    source = f"{shown.seeded_steps} measured steps from the historian" if \
        shown.seeded_steps else "an assumed constant inflow (no measured inflow in the history)"
    stored = f" (stored {_when(shown.level_at)})" if shown.level_at is not None and \
        p.t0 - shown.level_at > 2 * p.step_s else ""
    lines = [f"Pump plan for {pl.name} from {time.strftime('%Y-%m-%d %H:%M', time.localtime(p.t0))}"
             f", {p.step_s / 60:.0f}-minute steps; level now {shown.level0:.2f} m{stored}, "
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
    if shown.baseline is not None:
        lines += _why(pl, shown.baseline, float(rp.volume[-1]), rp.cost, base, saving,
                      rp.outside_m3)
    lines.append(f"expected level {float(np.min(levels)):.2f}-{float(np.max(levels)):.2f} m;"
                 f" {p.status}; solved in {p.solve_s:.2f} s")
    return "\n".join(lines)


def _why(pl: Planner, b: Baseline, plan_end_m3: float, cost: float, base: float,
         saving: float, outside_m3: float) -> list[str]:
    """The comparison taken apart where it needs reading: water the plan leaves in the sump
    (or takes out) beyond level control's end is counted into level control's figure at
    the horizon's average cost of pumping a m3; and a plan that costs more says why."""
    lines = []
    more = plan_end_m3 - b.end_m3            # > 0: the plan ends fuller
    end_plan, end_base = (float(x) for x in pl.level(np.array([plan_end_m3, b.end_m3])))
    worth = abs(more) * b.per_m3
    if abs(more) >= 0.5 and (saving < 0 or worth >= 0.01 * base):
        lines.append(
            f"  at the end of the {pl.p.horizon_h:g} h: plan {end_plan:.2f} m, level control "
            f"alone {end_base:.2f} m: the plan leaves {abs(more):,.0f} m3 "
            f"{'more' if more > 0 else 'less'} in the sump, worth {worth:,.0f} CNY at "
            f"{b.per_m3:.2f} CNY/m3 (the horizon's average cost of pumping a m3); level "
            f"control's {base:,.0f} CNY is its {b.pumped_cost:,.0f} CNY pumped "
            f"{'-' if more > 0 else '+'} that")
    if saving >= 0:
        return lines
    extra = cost - base
    top = pl.p.band_m[1]
    if more < -0.5:
        above = f", above the band's {top:g} m" if end_base > top else ""
        why = (f"it pumps {-more:,.0f} m3 more within them (level control alone ends at "
               f"{end_base:.2f} m{above}), at {b.per_m3 + extra / -more:.2f} CNY/m3 in the "
               f"hours it must run in, while they are counted at the average "
               f"{b.per_m3:.2f} CNY/m3")
    elif outside_m3 > 0:
        why = (f"the forecast is more than the band can hold ({outside_m3:,.0f} m3 over): "
               "the plan runs what it must to stay in it, level control alone lets it rise")
    elif more > 0.5:
        why = (f"the {more:,.0f} m3 it leaves in the sump are counted at the average "
               f"{b.per_m3:.2f} CNY/m3, though it leaves them for cheaper hours after the "
               "horizon")
    else:
        why = ("it keeps the level inside the band with a margin for the forecast's "
               "uncertainty and within the starts a pump may make a day; level control "
               "alone does neither")
    lines.append(f"  saving {saving:.1f} %: the plan costs {extra:,.0f} CNY more than level "
                 f"control alone over the {pl.p.horizon_h:g} h, as {why}")
    return lines
