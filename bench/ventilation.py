"""Ventilation on the HIL: planned changeovers, trips at random phases, a reversal drill,
and the network solver's time.

The HIL's fan station and faces (configs/ventilation-site.toml on free ports) and the
real controller in this process, talking S7 over loopback sockets as in
tests/test_ventilation_site.py. In order:

1. ``--changeovers`` planned changeovers (fan1 -> fan2 -> fan1 ...), each commanded a
   random delay (seeded) after the fan on line came on line. Per changeover: the lowest
   shaft airflow as the station recorded it (``station.changeover_min_pct``, from the
   polled air station) and as the bench saw it in the plant (the return shaft's branch
   flow after every PLC scan, so nothing between two polls is missed), the time below
   the threshold, the deficit (m3 of air not delivered) and the duration.
2. ``--trips`` trips (``fan-trip`` on the fan on line: vibration high, the PLC trips it)
   at random phases (seeded, stratified: ``trip_plan``): 60 % a delay after the fan came
   on line, half of them soon (2-200 s, log-uniform: the spare still coasting down from
   its own trip, which the failover then catches turning), half later (200-600 s: the
   spare at rest); 40 % in the middle of a changeover, the delay after the command spread
   over the changeover's length measured in part 1, so each of its steps (standby run
   up, dampers crossing, old fan run down) is hit. Per trip: the station's state when the
   trip was injected (its phase), the failover time from the injection to the station
   back in "running" with the standby delivering air (bench, simulated s) and the
   station's own ``failover_s`` (from its detection of the trip), and the lowest air. A
   fan tripped while already running down at the end of a changeover may stop before its
   trip comes: the changeover then finishes and no failover is needed (said, not counted
   as a failover). The tripped fan's cause is then removed and its trip reset
   (fault_code written 0 over S7, as the operator's reset would), so it stands by.
3. One reversal drill (engineer, confirmed) and the restore.
4. The solver: the 49-branch example network (configs/ventilation-network.toml), timed
   as bench/ventilation_solve.py times its normal state.

Simulated time runs ``--scale`` times real time. The plant's physics does not depend on
it: hil/ventilation/plant.py integrates the air network in sub-steps of at most
MAX_STEP_S (0.25 s) whatever the length of a PLC scan, so a faster clock only makes the
PLC scan (one a simulated second while the host keeps up) and the controller's polls
coarser in wall time, never the air. The default 100 is the largest scale at which the
clock's wall-time floor on time-outs (``ScaledClock.guard_timeout``: 0.3 s wall) leaves
every station time-out as configured (the shortest, start_timeout_s, is 30 s = 0.3 s x
100); above it a faulting step would be judged later than the config says.

An event that does not end well (a changeover that faults, dips below its threshold or
does not finish; a failover later than 60 s or none) is printed with its reason and
counted; the station is then put back (trips reset, sequence reset, a fan started) and
the bench goes on. Exit code 0 regardless: a bench is not a test.

Run: ``.venv/bin/python bench/ventilation.py [--quick] [--changeovers 20] [--trips 20]
[--scale 100] [--seed 12]``; ``--quick`` is 3 + 3 events. Last line: ``RESULT
changeover_min_airflow_pct=... failover_s_max=... reversal_s=... reversal_pct=...
solve_ms=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import re
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, parse
from fixedsite.gate import Command, Decision
from fixedsite.hil import faults as hil_faults
from fixedsite.hil.demo_config import config_text, free_port
from fixedsite.hil.site import HilSite
from fixedsite.runtime import Controller
from fixedsite.sequences.ventilation.network import FanCurve, solve
from fixedsite.sequences.ventilation.network_config import Network

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "configs" / "ventilation-site.toml"
NETWORK = ROOT / "configs" / "ventilation-network.toml"
# the main fans' curve bench/ventilation_solve.py solves that network with (m3/s, Pa at
# rated speed): an axial fan for about 200 m3/s
CURVE = ((60.0, 3400.0), (110.0, 3250.0), (160.0, 2900.0), (200.0, 2350.0),
         (230.0, 1700.0), (250.0, 1000.0))
SYSTEM = "ventilation"
CHANGEOVER_LIMIT_S = 900.0      # a changeover not done by then has failed
FAILOVER_LIMIT_S = 300.0        # no failover by then: failed (beyond 60 s is late anyway)
SOON_DELAY_S = (2.0, 200.0)     # after the fan came on line, log-uniform: the spare
LATE_DELAY_S = (200.0, 600.0)   # still coasting after its own trip; then steady, uniform
CHANGEOVER_DELAY_S = (5.0, 240.0)


def site_config(tmp: Path, scale: float) -> SiteConfig:
    """configs/ventilation-site.toml on free ports, this scale, storage in ``tmp``."""
    text = config_text(SITE)
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text)
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {scale}", text)
    text = re.sub(r'(?m)^dir = ".*"', f'dir = "{tmp}"', text)
    return parse(tomllib.loads(text), "ventilation-bench.toml")


@dataclass
class Air:
    """The shaft's airflow through one event, after every PLC scan: the plant's own (the
    return branch, where the air station sits) and what the controller last polled."""

    nominal: float
    threshold_pct: float
    reference: float
    plant_min: float = math.inf
    polled_min: float = math.inf
    below_s: float = 0.0
    deficit_m3: float = 0.0
    last_t: float | None = None

    def sample(self, t: float, plant: float, polled: float | None) -> None:
        if self.last_t is not None:
            dt = t - self.last_t
            if plant < self.nominal * self.threshold_pct / 100:
                self.below_s += dt
            self.deficit_m3 += max(0.0, self.reference - plant) * dt
        self.last_t = t
        self.plant_min = min(self.plant_min, plant)
        if polled is not None:
            self.polled_min = min(self.polled_min, polled)

    def pct(self, q: float) -> float:
        return 100 * q / self.nominal if math.isfinite(q) else math.nan


@dataclass
class Event:
    kind: str                       # "changeover", "trip", "trip mid-changeover"
    n: int
    ok: bool = True
    why: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


class Records:
    """Where the station keeps its records (duck-typed as the historian it hands them to
    when there is one): every changeover, failover and reversal, each once."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, dict[str, Any]]] = []

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        self.rows.append((t, text, dict(data or {})))

    def since(self, t0: float, what: str) -> dict[str, Any] | None:
        """The station's last record of ``what`` made at or after ``t0``."""
        got = [d | {"text": text} for t, text, d in self.rows
               if t >= t0 and d.get("what") == what]
        return got[-1] if got else None


class Bench:
    """The HIL, the controller and the waits, on one clock."""

    def __init__(self, cfg: SiteConfig, scale: float, seed: int) -> None:
        self.cfg, self.clock = cfg, ScaledClock(scale)
        self.site = HilSite(cfg, self.clock)
        self.ctl: Controller | None = None
        self.rng = random.Random(seed)
        vent = cfg.systems[SYSTEM]
        self.control = vent.control
        self.nominal = float(self.control.nominal_airflow_m3s)
        self.air: Air | None = None
        self.on_line_at = 0.0
        self.writes_refused = 0

    # --- plumbing --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.site.start()
        self.ctl = Controller(self.cfg, self.clock)
        await self.ctl.start()
        self.records = Records()
        self.ctl.systems[SYSTEM].station.historian = self.records
        unit: Any = self.site.unit(SYSTEM)
        self.plant = unit.station
        shaft = self.control.shaft_sensor
        self.shaft_branch = self.plant.sensors[unit.items["sensor"].index(shaft)].branch

    async def stop(self) -> None:
        if self.ctl is not None:
            await self.ctl.stop()
        await self.site.stop()

    def v(self, path: str) -> Any:
        assert self.ctl is not None
        return self.ctl.store.value(f"{SYSTEM}.{path}")

    @property
    def state(self) -> str:
        return str(self.v("station.state"))

    @property
    def on_line(self) -> str:
        return str(self.v("station.on_line"))

    def other(self, fan: str) -> str:
        a, b = self.control.fans[:2]
        return b if fan == a else a

    def shaft_flow(self) -> float:
        return self.plant.branch_airflow(self.shaft_branch)

    async def scan(self) -> None:
        await self.site.scanned()
        if self.air is not None:
            self.air.sample(self.clock.now(), self.shaft_flow(),
                            self.v(f"{self.control.shaft_sensor}.airflow"))

    async def until(self, predicate: Callable[[], bool], sim_s: float) -> bool:
        end = self.clock.now() + sim_s
        while not predicate():
            if self.clock.now() > end:
                return False
            await self.scan()
        return True

    async def run_for(self, sim_s: float) -> None:
        end = self.clock.now() + sim_s
        while self.clock.now() < end:
            await self.scan()

    async def command(self, action: str, **params: Any) -> Decision:
        assert self.ctl is not None
        return await self.ctl.gate.submit(Command(f"{SYSTEM}.station", action, "operator",
                                                  "bench", params, role="engineer"))

    def running(self) -> bool:
        return self.state == "running"

    async def inject(self, fault: str, target: str, *args: str) -> None:
        await self.site.inject(hil_faults.parse(self.cfg, fault, target, list(args)))

    async def reset_trip(self, fan: str, within_s: float = 180.0) -> bool:
        """The cause gone, the trip reset by writing 0 to its code over S7 (again every
        few seconds while the PLC still refuses); True once the fan reads healthy."""
        assert self.ctl is not None
        await self.inject("fan-trip", fan, "off")
        end = self.clock.now() + within_s
        while self.clock.now() < end:
            if self.v(f"{fan}.fault_code") == 0 and self.v(f"{fan}.ready"):
                return True
            res = await self.ctl.writer.write(f"{SYSTEM}.{fan}.fault_code", 0)
            if not res.ok:
                self.writes_refused += 1
            await self.until(lambda: self.v(f"{fan}.fault_code") == 0, 5.0)
        return self.v(f"{fan}.fault_code") == 0

    async def settled(self, within_s: float = 600.0) -> str:
        """The station running on one fan with the other healthy and standing by; "" or
        why not. Puts it back after a failed event: trips reset, the sequence reset, a fan
        started if none runs."""
        end = self.clock.now() + within_s
        while self.clock.now() < end:
            for fan in self.control.fans:
                if self.v(f"{fan}.fault_code"):
                    if not await self.reset_trip(fan):
                        return f"{fan}'s trip does not reset (code " \
                               f"{self.v(f'{fan}.fault_code')})"
            if self.state == "fault":
                d = await self.command("reset")
                if not d.accepted:
                    await self.run_for(5.0)
                    continue
            if self.state == "stopped":
                await self.command("start", fan="")
            # the spare healthy and standing by; it may still be coasting down after its
            # trip: a trip then is a phase of its own (the failover catches it turning)
            spare = self.other(self.on_line)
            if self.running() and self.v(f"{self.on_line}.running") and \
                    self.v(f"{spare}.ready") and not self.v(f"{spare}.running"):
                return ""
            await self.run_for(2.0)
        return f"not back to running within {within_s:.0f} s (state {self.state}, on " \
               f"line {self.on_line})"

    async def came_on_line(self) -> None:
        """Wait for the station running and note when the fan on line got there."""
        await self.until(self.running, 600.0)
        self.on_line_at = self.clock.now()

    # --- events ------------------------------------------------------------------------
    async def changeover(self, n: int) -> Event:
        ev = Event("changeover", n)
        delay = self.rng.uniform(*CHANGEOVER_DELAY_S)
        await self.run_for(max(0.0, self.on_line_at + delay - self.clock.now()))
        old = self.on_line
        new = self.other(old)
        q0 = self.shaft_flow()
        self.air = Air(self.nominal, float(self.control.changeover_min_pct), q0)
        self.air.sample(self.clock.now(), q0, self.v(f"{self.control.shaft_sensor}.airflow"))
        t0 = self.clock.now()
        d = await self.command("changeover")
        if not d.accepted:
            self.air = None
            ev.ok, ev.why = False, f"refused: {d.reason}"
            return ev
        done = await self.until(lambda: self.state == "fault" or (
            self.running() and self.on_line == new), CHANGEOVER_LIMIT_S)
        took = self.clock.now() - t0
        air, self.air = self.air, None
        rec = self.records.since(t0, "changeover")
        recorded = rec["min_pct"] if rec else None
        ev.figures = {"from": old, "to": new, "delay_s": delay, "took_s": took,
                      "threshold_pct": self.control.changeover_min_pct,
                      "plant_min_pct": air.pct(air.plant_min),
                      "polled_min_pct": air.pct(air.polled_min),
                      "station_min_pct": recorded, "below_s": air.below_s,
                      "deficit_m3": air.deficit_m3,
                      "station_below_s": rec["below_s"] if rec else None,
                      "station_deficit_m3": rec["deficit_m3"] if rec else None}
        th = float(self.control.changeover_min_pct)
        if self.state == "fault":
            ev.ok, ev.why = False, f"faulted: {self.v('station.fault_reason')}"
        elif not done:
            ev.ok, ev.why = False, f"not done within {CHANGEOVER_LIMIT_S:.0f} s (state " \
                                   f"{self.state})"
        elif min(air.pct(air.plant_min), recorded if recorded is not None else math.inf) < th:
            ev.ok, ev.why = False, f"air dipped below {th:.0f} % of nominal"
        self.on_line_at = self.clock.now()
        return ev

    async def trip(self, n: int, mid: bool, delay: float) -> Event:
        """A trip of the fan on line ``delay`` after it came on line, or (``mid``) that
        long after a changeover was commanded."""
        ev = Event("trip mid-changeover" if mid else "trip", n)
        if not mid:
            await self.run_for(max(0.0, self.on_line_at + delay - self.clock.now()))
            since = self.clock.now() - self.on_line_at
        else:
            # the changeover as in part 1 (standby from rest), so its length is ``span``'s
            spare = self.other(self.on_line)
            await self.run_for(max(0.0, self.on_line_at + 20.0 - self.clock.now()))
            await self.until(lambda: (self.v(f"{spare}.speed") or 0) <= 1.0, 900.0)
            d = await self.command("changeover")
            if not d.accepted:
                ev.ok, ev.why = False, f"changeover refused: {d.reason}"
                return ev
            t_cmd = self.clock.now()
            await self.run_for(delay)
            since = self.clock.now() - t_cmd
        phase, fan = self.state, self.on_line
        spare = self.other(fan)
        carrying = "+".join(f for f in self.control.fans if self.v(f"{f}.running") and
                            self.v(f"{self.cfg.systems[SYSTEM].equipment[f].outlet_damper}"
                                   ".closed") is False) or "none"
        spare_speed = self.v(f"{spare}.speed")
        q0 = self.shaft_flow()
        self.air = Air(self.nominal, float(self.control.min_airflow_pct),
                       max(q0, self.nominal))
        t0 = self.clock.now()
        await self.inject("fan-trip", fan)
        # done: the air on the other fan, by a failover, or by the changeover finishing
        # first (the fan tripped was already running down, its drive off before its
        # vibration trip came: nothing to fail over)
        done = await self.until(lambda: self.state == "fault" or (
            self.running() and self.on_line == spare and (
                self.records.since(t0, "failover") is not None or
                self.records.since(t0, "changeover") is not None)), FAILOVER_LIMIT_S)
        took = self.clock.now() - t0
        air, self.air = self.air, None
        rec = self.records.since(t0, "failover")
        if done and rec is None and self.state != "fault":
            ev.why = "no failover needed: the changeover finished first"
        ev.figures = {"fan": fan, "to": spare, "phase": phase, "after_s": since,
                      "carrying": carrying, "spare_speed": spare_speed,
                      "failover_s": took if rec else None, "ended_s": took,
                      "station_failover_s": rec["took_s"] if rec else None,
                      "station_min_pct": rec["min_pct"] if rec else None,
                      "plant_min_pct": air.pct(air.plant_min),
                      "polled_min_pct": air.pct(air.polled_min), "deficit_m3": air.deficit_m3,
                      "code": self.v(f"{fan}.fault_code")}
        limit = float(self.control.failover_within_s)
        if self.state == "fault":
            ev.ok, ev.why = False, f"faulted: {self.v('station.fault_reason')}"
        elif not done:
            ev.ok, ev.why = False, f"no failover within {FAILOVER_LIMIT_S:.0f} s (state " \
                                   f"{self.state}, on line {self.on_line})"
        elif rec is not None and took > limit:
            ev.ok, ev.why = False, f"failover took {took:.1f} s > {limit:.0f} s"
        self.on_line_at = self.clock.now()
        back = await self.reset_trip(fan)
        if not back and ev.ok:
            ev.ok, ev.why = False, f"{fan}'s trip would not reset"
        return ev

    async def reversal(self) -> dict[str, Any]:
        """One drill: reversed, held a minute, restored."""
        await self.run_for(60.0)
        normal = self.shaft_flow()
        fan = self.on_line
        t0 = self.clock.now()
        d = await self.command("reverse", confirm="REVERSE")
        out: dict[str, Any] = {"fan": fan, "ok": d.accepted, "why": d.reason,
                               "normal_m3s": normal}
        if not d.accepted:
            return out
        limit = float(self.control.reversal_within_s)
        reached = await self.until(lambda: self.state in ("reversed", "fault"), limit + 120)
        out["bench_s"] = self.clock.now() - t0
        out["reached"] = reached and self.state == "reversed"
        out["station_s"] = self.v("station.reversal_s")
        out["station_pct"] = self.v("station.reversal_pct")
        out["at_reached_pct"] = 100 * -self.shaft_flow() / normal
        if not out["reached"]:
            out["ok"] = False
            out["why"] = f"not reversed within {limit + 120:.0f} s: state {self.state} " \
                         f"{self.v('station.fault_reason') or ''}"
            return out
        await self.run_for(60.0)
        out["settled_pct"] = 100 * -self.shaft_flow() / normal
        out["settled_nominal_pct"] = 100 * -self.shaft_flow() / self.nominal
        t1 = self.clock.now()
        d = await self.command("restore")
        if not d.accepted:
            out["ok"], out["why"] = False, f"restore refused: {d.reason}"
            return out
        back = await self.until(lambda: self.state in ("running", "fault"), 900.0)
        out["restore_s"] = self.clock.now() - t1
        out["restored_pct"] = 100 * self.shaft_flow() / self.nominal
        if not back or self.state != "running":
            out["ok"], out["why"] = False, f"restore: state {self.state} " \
                                           f"{self.v('station.fault_reason') or ''}"
        return out


def fmt(x: Any, spec: str = ".1f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec)


def print_event(ev: Event) -> None:
    f = ev.figures
    tail = ("ok" + (f" ({ev.why})" if ev.why else "")) if ev.ok else f"FAILED: {ev.why}"
    if ev.kind == "changeover":
        print(f"changeover {ev.n:2d} {f.get('from', '?')}->{f.get('to', '?')}: "
              f"{fmt(f.get('delay_s'), '.0f')} s after on line, took "
              f"{fmt(f.get('took_s'), '.0f')} s; lowest air {fmt(f.get('plant_min_pct'))} % "
              f"(plant, every scan) / {fmt(f.get('polled_min_pct'))} % (polled) / station "
              f"record {fmt(f.get('station_min_pct'))} %; {fmt(f.get('below_s'), '.0f')} s "
              f"below {fmt(f.get('threshold_pct'), 'g')} %, deficit "
              f"{fmt(f.get('deficit_m3'), '.0f')} m3; {tail}", flush=True)
    else:
        where = "s after on line" if ev.kind == "trip" else "s after the changeover command"
        print(f"{ev.kind:<19} {ev.n:2d} {f.get('fan', '?')} in {f.get('phase', '?'):<11} "
              f"({fmt(f.get('after_s'), '.0f')} {where}; running, outlet open: "
              f"{f.get('carrying', '?')}; {f.get('to', '?')} at "
              f"{fmt(f.get('spare_speed'), '.0f')} %): "
              + (f"{f.get('to', '?')} delivering after" if f.get("failover_s") is not None
                 else "ended after")
              + f" {fmt(f.get('ended_s'))} s (station: "
              f"{fmt(f.get('station_failover_s'))} s); lowest air "
              f"{fmt(f.get('plant_min_pct'))} % (plant) / {fmt(f.get('polled_min_pct'))} % "
              f"(polled), deficit {fmt(f.get('deficit_m3'), '.0f')} m3; {tail}", flush=True)


def trip_plan(rng: random.Random, n: int, span: float) -> list[tuple[bool, float]]:
    """(mid-changeover?, delay s) for ``n`` trips: 40 % mid-changeover, their delays over
    ``span`` (the changeover's length); of the rest half soon after the fan came on line
    (log-uniform), half later (uniform). Within each kind the delays are stratified (one in
    each equal slice, random inside it) so a few events still cover the whole range."""
    def strata(k: int, lo: float, hi: float, f: Callable[[float], float] = lambda x: x,
               inv: Callable[[float], float] = lambda x: x) -> list[float]:
        a, b = f(lo), f(hi)
        return [inv(a + (b - a) * (i + rng.random()) / k) for i in range(k)]
    n_mid = max(1, round(0.4 * n)) if n else 0
    n_soon = math.ceil((n - n_mid) / 2)
    plan = [(True, d) for d in strata(n_mid, 0.0, span)]
    plan += [(False, d) for d in strata(n_soon, *SOON_DELAY_S, math.log, math.exp)]
    plan += [(False, d) for d in strata(n - n_mid - n_soon, *LATE_DELAY_S)]
    rng.shuffle(plan)
    return plan


def pctl(xs: list[float], p: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def solve_ms(n: int) -> tuple[float, float, int, float, int]:
    """Median and p99 ms of ``n`` solves of the example network from nothing (fan1 at
    full speed, fan2 stopped with its dampers shut, windows open); iterations, residual,
    branches."""
    raw = tomllib.loads(NETWORK.read_text())
    net = Network.model_validate(raw["systems"]["ventilation"]["network"])
    fans = {"fan1": FanCurve(CURVE), "fan2": FanCurve(CURVE, speed_frac=0.0)}
    sol = solve(net, fans, {})                   # warm: imports, caches
    times = []
    for _ in range(n):
        t = time.perf_counter()
        sol = solve(net, fans, {})
        times.append((time.perf_counter() - t) * 1000.0)
    return (statistics.median(times), pctl(times, 99), sol.iterations, sol.residual_pa,
            len(net.branches))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vent-bench-") as tmp:
        cfg = site_config(Path(tmp), args.scale)
        b = Bench(cfg, args.scale, args.seed)
        wall0 = time.perf_counter()
        await b.start()
        try:
            return await events(b, args, wall0)
        finally:
            await b.stop()


async def events(b: Bench, args: argparse.Namespace, wall0: float) -> dict[str, Any]:
    t_sim0 = b.clock.now()
    if not await b.until(lambda: b.running() and b.v(f"{b.on_line}.running"), 300.0):
        raise SystemExit(f"the station was not adopted running within 300 s (state "
                         f"{b.state})")
    b.on_line_at = b.clock.now()
    print(f"scale {args.scale:g}: the station adopted running on {b.on_line}, "
          f"{b.shaft_flow():.1f} m3/s ({100 * b.shaft_flow() / b.nominal:.1f} % of nominal "
          f"{b.nominal:g} m3/s)", flush=True)
    results: list[Event] = []
    for i in range(1, args.changeovers + 1):
        ev = await b.changeover(i)
        print_event(ev)
        results.append(ev)
        if not ev.ok and (why := await b.settled()):
            print(f"  could not put the station back: {why}; stopping here", flush=True)
            break
    co_times = [e.figures["took_s"] for e in results if e.ok]
    span = statistics.median(co_times) if co_times else 150.0
    plan = trip_plan(b.rng, args.trips, span)
    n_mid = sum(mid for mid, _ in plan)
    n_soon = sum(not mid and d < SOON_DELAY_S[1] for mid, d in plan)
    print(f"trips: {n_soon} soon after the fan came on line ({SOON_DELAY_S[0]:g}-"
          f"{SOON_DELAY_S[1]:g} s, log-uniform), {args.trips - n_mid - n_soon} later "
          f"({LATE_DELAY_S[0]:g}-{LATE_DELAY_S[1]:g} s), {n_mid} mid-changeover (delays "
          f"spread over the median changeover, {span:.0f} s); each kind's delays "
          "stratified, the order shuffled", flush=True)
    if why := await b.settled():
        print(f"  the station is not ready for trips: {why}", flush=True)
    b.on_line_at = min(b.on_line_at, b.clock.now())
    for i, (mid, delay) in enumerate(plan, start=1):
        ev = await b.trip(i, mid, delay)
        print_event(ev)
        results.append(ev)
        if why := await b.settled():
            print(f"  could not put the station back: {why}; stopping here", flush=True)
            break
        if not ev.ok:
            b.on_line_at = b.clock.now()
    rev = await b.reversal()
    print(f"reversal drill on {rev['fan']}: "
          + (f"reversed after {fmt(rev.get('bench_s'))} s (station: "
             f"{fmt(rev.get('station_s'))} s), {fmt(rev.get('at_reached_pct'))} % of the "
             f"normal {rev['normal_m3s']:.1f} m3/s then (station: "
             f"{fmt(rev.get('station_pct'))} % of nominal), {fmt(rev.get('settled_pct'))} % "
             f"of normal ({fmt(rev.get('settled_nominal_pct'))} % of nominal) a minute "
             f"later; restored in {fmt(rev.get('restore_s'))} s to "
             f"{fmt(rev.get('restored_pct'))} % of nominal"
             if "bench_s" in rev else "")
          + ("; ok" if rev["ok"] else f"; FAILED: {rev['why']}"), flush=True)
    sim_s = b.clock.now() - t_sim0
    wall = time.perf_counter() - wall0
    print(f"simulated {sim_s:.0f} s in {wall:.0f} s wall (x{sim_s / wall:.0f} achieved, "
          f"scale {args.scale:g}); {b.writes_refused} reset writes not confirmed (the PLC "
          "refusing while the cause persisted)", flush=True)
    return {"events": results, "reversal": rev,
            "threshold": float(b.control.changeover_min_pct),
            "limit": float(b.control.failover_within_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changeovers", type=int, default=20)
    ap.add_argument("--trips", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 changeovers and 3 trips")
    ap.add_argument("--scale", type=float, default=100.0,
                    help="simulated seconds per wall second (default 100)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--solves", type=int, default=200)
    args = ap.parse_args()
    if args.quick:
        args.changeovers, args.trips = 3, 3
    if args.changeovers < 0 or args.trips < 0 or not 0 < args.scale <= 1000:
        ap.error("counts must be >= 0 and the scale above 0 up to 1000")
    logging.basicConfig(level=logging.ERROR)
    for noisy in ("transitions", "snap7", "fixedsite"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    out = asyncio.run(run(args))
    evs: list[Event] = out["events"]
    rev = out["reversal"]
    cos = [e for e in evs if e.kind == "changeover"]
    trips = [e for e in evs if e.kind != "changeover"]
    med, p99, iters, resid, nb = solve_ms(args.solves)
    print(f"solver: {nb}-branch network ({NETWORK.name}), {args.solves} solves from "
          f"nothing: median {med:.2f} ms, p99 {p99:.2f} ms, {iters} Newton iterations, "
          f"residual {resid:.1e} Pa")

    def lowest(e: Event) -> float:
        xs = [e.figures.get(k) for k in ("plant_min_pct", "polled_min_pct",
                                         "station_min_pct")]
        return min((x for x in xs if isinstance(x, int | float) and math.isfinite(x)),
                   default=math.nan)
    co_min = min((lowest(e) for e in cos if "plant_min_pct" in e.figures), default=math.nan)
    fo = [e.figures["failover_s"] for e in trips if e.figures.get("failover_s") is not None]
    own = [e.figures["station_failover_s"] for e in trips
           if e.figures.get("station_failover_s") is not None]
    phases: dict[str, int] = {}
    for e in trips:
        key = str(e.figures.get("phase", "?"))
        if e.kind == "trip" or key == "running":
            coasting = (e.figures.get("spare_speed") or 0) > 5
            key += f" (spare {'still coasting' if coasting else 'at rest'})"
        if e.kind != "trip" and key.startswith("running"):
            key += " after the changeover"
        if e.figures.get("failover_s") is None and "ended_s" in e.figures and e.ok:
            key += " (no failover needed)"
        phases[key] = phases.get(key, 0) + 1
    failed = [e for e in evs if not e.ok]
    took = [e.figures["took_s"] for e in cos if "took_s" in e.figures]
    print("--- summary")
    print(f"changeovers: {len(cos)} run, {sum(not e.ok for e in cos)} failed; lowest air "
          f"{fmt(co_min, '.2f')} % of nominal (worst of the plant every scan, the polled "
          f"reading and the station's record; threshold {out['threshold']:g} %); "
          f"duration median {fmt(pctl(took, 50), '.0f')} s, max "
          f"{fmt(max(took, default=math.nan), '.0f')} s")
    print(f"trips: {len(trips)} run, {sum(not e.ok for e in trips)} failed; phases hit: "
          + ", ".join(f"{k} x{v}" for k, v in sorted(phases.items())))
    print(f"failover (trip injected -> station running with air), {len(fo)} failovers: "
          f"p50 {fmt(pctl(fo, 50))} "
          f"s, max {fmt(max(fo, default=math.nan))} s; the station's own failover_s p50 "
          f"{fmt(pctl(own, 50))} s, max {fmt(max(own, default=math.nan))} s (limit "
          f"{out['limit']:g} s)")
    print(f"reversal: {fmt(rev.get('bench_s'))} s to reversed (station "
          f"{fmt(rev.get('station_s'))} s), {fmt(rev.get('settled_pct'))} % of normal "
          f"airflow reversed (station {fmt(rev.get('station_pct'))} % of nominal; rules: "
          f">= 40 % within 600 s); {'ok' if rev['ok'] else 'FAILED: ' + str(rev['why'])}")
    n_failed = len(failed) + (0 if rev["ok"] else 1)
    print(f"failed: {n_failed} of {len(evs) + 1} events"
          + "".join(f"\n  {e.kind} {e.n}: {e.why}" for e in failed)
          + ("" if rev["ok"] else f"\n  reversal: {rev['why']}"))
    print(f"RESULT changeover_min_airflow_pct={fmt(co_min, '.2f')} "
          f"failover_s_max={fmt(max(fo, default=math.nan))} "
          f"reversal_s={fmt(rev.get('bench_s'))} reversal_pct={fmt(rev.get('settled_pct'))} "
          f"solve_ms={med:.2f} failed={n_failed}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
