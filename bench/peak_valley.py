"""Peak-valley pump scheduling over a week of HIL, three controllers on the same inflow.

The HIL pump room (real Modbus TCP, the real controller) replays one generated week of
inflow: a daily pattern (shifts), AR(1) noise and one unforecast surge, under the demo
tariff (Zhejiang 2026 periods, November). Three runs, each from the same start level:

- level: the staged level rule alone (the baseline);
- planner: the planner with its own forecast, seeded with the week before (generated
  by the same process, not the same numbers), re-planning every 15 minutes;
- perfect: the planner given the true inflow, solved once over the whole week (the
  perfect-information optimum), executed by the same level control.

Simulated time runs ``--scale`` times real time; while a plan is being solved it is held
(at real speed a 0.6 s solve in a 900 s step costs the plant nothing; accelerated, it
would). Costs are energy at the tariff, plus the water left in the sump at the end over
the start volume valued at the perfect run's cost of pumping a m3, so no run gains by
ending fuller; runs end at 07:00 after the last day, when the night valley has closed.
``captured`` is the share of the perfect-information saving the planner got.
Run: ``.venv/bin/python bench/peak_valley.py [--days 7] [--scale 2880]``; last line
``RESULT level_ok=1|0 captured=... saving_pct=... replan_s=... shortest_run_s=...
shortest_rest_s=... forced=...`` (the pacing over every run's automatic starts and stops;
``forced``: those a hard limit made, which may break it by design, counted apart).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from fixedsite.clock import ScaledClock  # noqa: E402
from fixedsite.gate import Record  # noqa: E402
from fixedsite.hil.demo_config import demo_config, free_port  # noqa: E402
from fixedsite.hil.site import HilSite  # noqa: E402
from fixedsite.runtime import Controller  # noqa: E402
from fixedsite.sequences.drainage.level import automatic_pacing  # noqa: E402
from fixedsite.sequences.drainage.plan import Room, plan  # noqa: E402
from fixedsite.sequences.drainage.planner import PlanView  # noqa: E402

DAY = 86400.0
SETTLE_S = 7 * 3600.0      # runs end at 07:00, the end of the night valley: every strategy
                           # has had the cheap hours to pump down before the books close
T0 = time.mktime((2026, 11, 16, 0, 0, 0, 0, 0, -1))      # a Monday, local midnight


def week_inflow(days: int, seed: int, surge_day: float | None) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Per-minute inflow (m3/h): shifts (more water on the day shift, washing at the
    change of shift), AR(1) noise with a 40-minute memory, and a 5-hour surge."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, days * DAY + 1, 60.0)
    hour = (t % DAY) / 3600
    base = 400 * (1 + 0.12 * np.sin(2 * np.pi * (hour - 8) / 24)
                  + 0.06 * np.sin(4 * np.pi * (hour - 6) / 24))
    phi = np.exp(-60 / 2400)
    ar = np.zeros(len(t))
    noise = rng.standard_normal(len(t)) * np.sqrt(1 - phi * phi) * 0.08
    for i in range(1, len(t)):
        ar[i] = phi * ar[i - 1] + noise[i]
    q = base * (1 + ar)
    if surge_day is not None:
        s0 = surge_day * DAY
        q[(t >= s0) & (t < s0 + 5 * 3600)] += 300.0
    return t, np.maximum(q, 0.0)


@dataclass
class Result:
    name: str
    cost: float = 0.0
    kwh: float = 0.0
    starts: int = 0
    lo: float = 9.0
    hi: float = 0.0
    end_m3: float = 0.0
    replans: list[float] = field(default_factory=list)
    adjusted: float = 0.0
    pace: dict[str, float] = field(default_factory=dict)   # automatic_pacing's figures


async def run(mode: str, days: int, scale: float, t: np.ndarray, q: np.ndarray,
              history: list[tuple[float, float]], initial_level: float,
              z: float | None = None) -> Result:
    cfg = demo_config(free_port(), scale, plan=(mode != "level"),
                      initial_level_m=str(initial_level))
    clock = ScaledClock(scale, origin=T0)
    site = HilSite(cfg, clock)
    site.units[0].plant.inflow.recorded = (T0 + t, q)
    await site.start()
    ctl = Controller(cfg, clock)
    records: list[Record] = []               # every command, not the gate's last 1000
    ctl.gate.sinks.append(records.append)
    plant = site.units[0].plant
    v0 = float(plant.sump.volume)
    if mode != "level":
        pl = ctl.systems["drainage"].planner
        if z is not None:                    # the forecast band's width, to try others
            pl.forecast.z = z
        pl.seed(history)
        pl.inline = clock.held
        if mode == "perfect":
            pl.fixed = True
            pl.view = perfect_view(ctl, t, q, days, v0)
    await ctl.start()
    tariff = cfg.tariff
    assert tariff is not None
    r = Result(mode)
    last_e = sum(p.energy for p in plant.pumps)
    starts0 = sum(p.starts for p in plant.pumps)
    end = T0 + days * DAY + SETTLE_S
    while clock.now() < end:
        await site.scanned()
        e = sum(p.energy for p in plant.pumps)
        r.cost += (e - last_e) * tariff.at(clock.now()).price
        r.kwh += e - last_e
        last_e = e
        level = plant.sump.level
        r.lo, r.hi = min(r.lo, level), max(r.hi, level)
    r.starts = sum(p.starts for p in plant.pumps) - starts0
    r.end_m3 = float(plant.sump.volume) - v0
    if mode == "planner":
        r.replans = list(ctl.systems["drainage"].planner.solve_times)
    r.pace = automatic_pacing(records)
    await ctl.stop()
    await site.stop()
    return r


def perfect_view(ctl: Controller, t: np.ndarray, q: np.ndarray, days: int,
                 v0: float) -> PlanView:
    """The whole week planned once on the true inflow (margin 0: nothing is uncertain)."""
    pl = ctl.systems["drainage"].planner
    step = pl.p.step_s
    edges = np.arange(0, days * DAY + SETTLE_S + 1, step)
    true = np.array([q[(t >= a) & (t < b)].mean() for a, b in zip(edges, edges[1:],
                                                                    strict=False)])
    room, _ = pl.room(v0, T0)
    room = Room(room.name, v0, room.v_low, room.v_high, true, np.zeros(len(true)),
                room.flows, room.powers, len(pl.rated), running=0,
                max_on=room.max_on, min_run_steps=room.min_run_steps,
                min_rest_steps=room.min_rest_steps, start_cost=room.start_cost)
    tariff = ctl.cfg.tariff
    assert tariff is not None
    prices = np.array([tariff.at(T0 + a + 1).price for a in edges[:-1]])
    p = plan([room], prices, step, T0)
    print(f"perfect-information plan: {len(true)} steps solved in {p.solve_s:.1f} s, "
          f"{p.rooms[room.name].cost:,.0f} CNY on paper")
    return PlanView(T0, step, p.rooms[room.name].pumps, T0 + days * DAY + SETTLE_S)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--scale", type=float, default=2880.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--z", type=float, default=None,
                    help="forecast band width in sigmas (default: the config's plan.z)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for noisy in ("pymodbus", "transitions"):      # a trigger cut short by the final stop
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    t, q = week_inflow(args.days + 1, args.seed, surge_day=min(3.6, args.days * 0.55))
    th, qh = week_inflow(7, args.seed + 100, None)            # the week before
    step = 900.0
    history = [(T0 - 7 * DAY + a, float(qh[(th >= a) & (th < a + step)].mean()))
               for a in np.arange(0, 7 * DAY, step)]
    results = {}
    for mode in ("level", "planner", "perfect"):
        started = time.perf_counter()
        results[mode] = asyncio.run(run(mode, args.days, args.scale, t, q, history, 1.3,
                                        args.z))
        print(f"{mode}: ran {args.days} simulated days in {time.perf_counter() - started:.0f}"
              f" s", flush=True)
    # water left in the sump over the start volume still has to be pumped: charged at the
    # perfect-information run's cost per m3 (the cheapest rate there is), credited if short
    best = results["perfect"]
    inflow_m3 = float(np.sum(q[t < args.days * DAY + SETTLE_S]) / 60)
    per_m3 = best.cost / max(1.0, inflow_m3 - best.end_m3)
    for r in results.values():
        r.adjusted = r.cost + r.end_m3 * per_m3
    cfg = demo_config(free_port(), 1.0)
    band = cfg.systems["drainage"].control.normal_band_m
    print(f"{'':<8} {'cost CNY':>10} {'adjusted':>10} {'kWh':>9} {'starts':>7} "
          f"{'min m':>6} {'max m':>6} {'end m3':>7} {'run s':>7} {'rest s':>7} {'forced':>6}")
    for r in results.values():
        print(f"{r.name:<8} {r.cost:>10,.0f} {r.adjusted:>10,.0f} {r.kwh:>9,.0f} "
              f"{r.starts:>7} {r.lo:>6.2f} {r.hi:>6.2f} {r.end_m3:>7.0f} "
              f"{r.pace['shortest_run_s']:>7.0f} {r.pace['shortest_rest_s']:>7.0f} "
              f"{r.pace['forced']:>6}")
    base, got, top = (results[m].adjusted for m in ("level", "planner", "perfect"))
    captured = (base - got) / (base - top) if base > top else float("nan")
    pl = results["planner"]
    level_ok = int(band[0] <= pl.lo and pl.hi <= band[1])
    replan = statistics.median(pl.replans) if pl.replans else float("nan")
    raw = (lvl_raw := results["level"].cost) - results["planner"].cost
    print(f"unadjusted: captured {raw / (lvl_raw - best.cost):.2f}")
    print(f"planner: saving {100 * (1 - got / base):.1f} % against level control, perfect "
          f"information {100 * (1 - top / base):.1f} %; captured {captured:.2f} of the "
          f"achievable saving; level {pl.lo:.2f}-{pl.hi:.2f} m (band {band[0]}-{band[1]} m); "
          f"re-plan median {replan:.2f} s, p99 {float(np.percentile(pl.replans, 99)):.2f} s, "
          f"max {max(pl.replans, default=float('nan')):.2f} s, "
          f"{sum(x >= 1.0 for x in pl.replans)} of {len(pl.replans)} re-plans took 1 s or more")
    # pacing over every run's automatic commands; those a hard limit forced, apart
    shortest_run = min(r.pace["shortest_run_s"] for r in results.values())
    shortest_rest = min(r.pace["shortest_rest_s"] for r in results.values())
    forced = sum(int(r.pace["forced"]) for r in results.values())
    print(f"RESULT level_ok={level_ok} captured={captured:.3f} "
          f"saving_pct={100 * (1 - got / base):.1f} replan_s={replan:.3f} "
          f"shortest_run_s={shortest_run:.0f} shortest_rest_s={shortest_rest:.0f} "
          f"forced={forced}")


if __name__ == "__main__":
    main()
