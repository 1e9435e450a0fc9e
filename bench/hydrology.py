"""Water-inrush precursors met with and without the hydrological linkage.

The demo's main pump room with its hydrological station (``configs/drainage-hydrology.toml``)
and the controller's drainage (level control, pump sequences, the linkage), the PLC
images bound to the tag store in one process (``bound.py``: no sockets, the project's
codec on every point), on a held clock: hours of plant time in seconds. Each seeded event
starts the room at a random level, lets it settle, then injects an inrush precursor
(random lead 30-60 min, random peak) and runs until the inrush has receded. The same
event runs twice, with the linkage (``[systems.drainage.hydrology]``) and without it (the
table dropped: the station is still read, nothing acts on it).

Figures per run: the highest sump level, its margin to overflow (the sump's top) and to
high-high, and the level when the extra water reaches the sump against the level when the
boreholes began to rise (negative: the room made room in the lead).
Run: ``.venv/bin/python bench/hydrology.py [--events 6] [--seed 1]``; last line
``RESULT events=N linked_min_margin_m=... unlinked_min_margin_m=...
linked_min_hh_margin_m=... unlinked_min_hh_margin_m=... linked_hh=... unlinked_hh=...
linked_overflow_m3=... unlinked_overflow_m3=... mean_gain_m=... linked_lead_drop_m=...``
(margins: the smallest over the events, to the sump's top and to high-high, where every
pump runs and so the level is held; ``*_hh``: events that reached high-high;
``mean_gain_m``: how much lower the highest level was with the linkage;
``linked_lead_drop_m``: the mean change of level during the lead, linked).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import tomllib
from dataclasses import dataclass

import numpy as np
from bound import Bound

from fixedsite.clock import ManualClock
from fixedsite.config import SiteConfig, parse
from fixedsite.gate import CommandGate
from fixedsite.hil.demo_config import demo_text
from fixedsite.hil.drainage.unit import build
from fixedsite.hil.faults import parse as parse_fault
from fixedsite.io import WriteResult
from fixedsite.systems import BuildContext, get
from fixedsite.tags import TagStore

DT, SCAN_S = 2.0, 2.0
SETTLE_S = 2 * 3600.0


class Router:
    """Writes go to the bound image that has the point."""

    def __init__(self, bounds: list[Bound]) -> None:
        self.bounds = bounds

    async def write(self, path: str, value: float | bool) -> WriteResult:
        for b in self.bounds:
            if path in b.points:
                return await b.write(path, value)
        return WriteResult(False, None, f"{path}: no such point")


def config(seed: int, start_level: float, linked: bool) -> SiteConfig:
    text = demo_text(1, scale=1.0, hydrology=True, seed=str(seed),
                     initial_level_m=f"{start_level:.2f}")
    if not linked:
        text, n = re.subn(r"(?ms)^\[systems\.drainage\.hydrology\]\n.*?(?=^\[)", "", text)
        assert n == 1
    return parse(tomllib.loads(text), "bench-hydrology.toml")


@dataclass
class Run:
    max_level: float
    at_inject: float
    at_arrival: float
    hh: bool
    overflow_m3: float
    top: float
    high_high: float


async def run(cfg: SiteConfig, lead_s: float, peak: float, after_s: float) -> Run:
    clock = ManualClock(1.79e9)
    units = build(cfg, list(cfg.hil.drainage), clock)        # type: ignore[arg-type]
    room, station = units[0], units[1]
    store = TagStore(clock)
    bounds = [Bound(u, store) for u in units]
    gate = CommandGate(clock)
    ctx = BuildContext(cfg, store, clock, Router(bounds), gate, logging.getLogger("bench"),
                       group="drainage")
    system = cfg.systems["drainage"]
    spec = get(system.kind)
    spec.load(spec.build)(ctx, "drainage", system)
    steps = [s for group in ctx.groups.values() for _, s, _ in group]
    for u in units:
        u.first_scan(clock.now())
    plant = room.plant                                       # type: ignore[attr-defined]
    inj = parse_fault(cfg, "inrush-precursor", "drainage.wim1", [str(lead_s), str(peak)])
    t_inject = clock.now() + SETTLE_S + after_s
    end = t_inject + lead_s * 2.5 + station.hy.inrush_hold_s + 3600  # type: ignore[attr-defined]
    k, injected = 0, False
    at_inject = at_arrival = float("nan")
    high, hh = 0.0, False
    ctl = system.control
    while clock.now() < end:
        k += 1
        clock.advance(DT)
        now = clock.now()
        for u in units:
            u.advance(now, DT)
        bounds[0].beat(k)
        for b in bounds:
            b.poll()
        for step in steps:
            await step()
        if not injected and now >= t_inject:
            injected, at_inject = True, plant.sump.level
            station.inject(inj, now)
        if injected:
            level = plant.sump.level
            high = max(high, level)
            hh |= level >= ctl.high_high_m
            if np.isnan(at_arrival) and now >= t_inject + lead_s:
                at_arrival = level
    sump = cfg.systems["drainage"].equipment["sump"]
    top = sump.volume_curve[-1][0]                           # type: ignore[union-attr]
    return Run(high, at_inject, at_arrival, hh, plant.sump.overflowed_m3, top,
               ctl.high_high_m)


def show(name: str, r: Run) -> None:
    print(f"  {name:<9} highest {r.max_level:5.2f} m  margin to overflow {r.top - r.max_level:5.2f}"
          f" m, to high-high {r.high_high - r.max_level:+5.2f} m  level at the first rise "
          f"{r.at_inject:4.2f} m, when the water arrives {r.at_arrival:4.2f} m"
          f"{'  HIGH-HIGH' if r.hh else ''}"
          f"{f'  OVERFLOW {r.overflow_m3:.0f} m3' if r.overflow_m3 else ''}", flush=True)


async def main_async(events: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    linked: list[Run] = []
    unlinked: list[Run] = []
    for e in range(events):
        start = float(rng.uniform(1.0, 1.8))
        lead = float(rng.uniform(1800, 3600))
        peak = float(rng.uniform(500, 700))
        after = float(rng.uniform(0, 3 * 3600))
        s = int(rng.integers(1, 10_000))
        print(f"event {e + 1}: seed {s}, start {start:.2f} m, lead {lead / 60:.0f} min, "
              f"+{peak:.0f} m3/h, {after / 3600:.1f} h after the settling", flush=True)
        for name, on, out in (("linked", True, linked), ("unlinked", False, unlinked)):
            r = await run(config(s, start, on), lead, peak, after)
            show(name, r)
            out.append(r)

    def margin(rs: list[Run]) -> float:
        return min(r.top - r.max_level for r in rs)
    gain = float(np.mean([u.max_level - lk.max_level for lk, u in zip(linked, unlinked,
                                                                     strict=True)]))
    drop = float(np.mean([r.at_arrival - r.at_inject for r in linked]))
    def to_hh(rs: list[Run]) -> float:
        return min(r.high_high - r.max_level for r in rs)
    print(f"RESULT events={events} linked_min_margin_m={margin(linked):.2f} "
          f"unlinked_min_margin_m={margin(unlinked):.2f} "
          f"linked_min_hh_margin_m={to_hh(linked):.2f} "
          f"unlinked_min_hh_margin_m={to_hh(unlinked):.2f} "
          f"linked_hh={sum(r.hh for r in linked)} unlinked_hh={sum(r.hh for r in unlinked)} "
          f"linked_overflow_m3={sum(r.overflow_m3 for r in linked):.0f} "
          f"unlinked_overflow_m3={sum(r.overflow_m3 for r in unlinked):.0f} "
          f"mean_gain_m={gain:.2f} linked_lead_drop_m={drop:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=6, help="seeded inrush events (default 6)")
    ap.add_argument("--seed", type=int, default=1, help="the events' seed (default 1)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main_async(args.events, args.seed))


if __name__ == "__main__":
    main()
