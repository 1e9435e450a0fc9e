"""Ventilation network solving: how long one solve of the example mine takes.

The network is ``configs/ventilation-network.toml`` (49 branches, 36 junctions: intake
shaft, main roads, four districts of two faces, stoppings, a fixed-quantity magazine,
two main fans on one shaft), solved as ``fixedsite ventilation solve`` does: fan1 at
full speed, fan2 stopped with its dampers shut, every window open. Each solve starts
from nothing (topology, spanning tree, loops, Newton), as a controller re-solving after
a fan or window change would. Also timed: a changeover state (fan2 running), a
reversal, and windows nearly shut, so a network state that converges slowly shows.

Run: ``.venv/bin/python bench/ventilation_solve.py [--n 200]``; last line
``RESULT solve_ms=<median> iterations=<Newton steps> residual_pa=<largest loop
imbalance>``, of the normal state.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from pathlib import Path

from fixedsite.sequences.ventilation.network import FanCurve, Solution, solve
from fixedsite.sequences.ventilation.network_config import Network

NETWORK = Path(__file__).resolve().parent.parent / "configs" / "ventilation-network.toml"
# the main fans' curve (m3/s, Pa at rated speed): an axial fan for about 200 m3/s
CURVE = ((60.0, 3400.0), (110.0, 3250.0), (160.0, 2900.0), (200.0, 2350.0),
         (230.0, 1700.0), (250.0, 1000.0))


def timed(net: Network, fans: dict[str, FanCurve], regs: dict[str, float],
          n: int) -> tuple[list[float], Solution]:
    solve(net, fans, regs)                      # warm: imports, caches
    times, sol = [], None
    for _ in range(n):
        t = time.perf_counter()
        sol = solve(net, fans, regs)
        times.append((time.perf_counter() - t) * 1000.0)
    assert sol is not None
    return times, sol


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="solves per state (default 200)")
    args = ap.parse_args()
    raw = tomllib.loads(NETWORK.read_text())
    net = Network.model_validate(raw["systems"]["ventilation"]["network"])
    stopped = FanCurve(CURVE, speed_frac=0.0)
    states = {
        "normal (fan1)": ({"fan1": FanCurve(CURVE), "fan2": stopped}, {}),
        "fan2 running": ({"fan1": stopped, "fan2": FanCurve(CURVE)}, {}),
        "reversed": ({"fan1": FanCurve(CURVE, reversed=True), "fan2": stopped}, {}),
        "windows at 2 %": ({"fan1": FanCurve(CURVE), "fan2": stopped},
                           {"window1": 2.0, "window2": 2.0, "window3": 2.0}),
    }
    print(f"network: {NETWORK.name}: {len(net.branches)} branches; {args.n} solves each")
    print(f"{'state':<16} {'median ms':>10} {'p99 ms':>8} {'iter':>5} {'residual Pa':>12} "
          f"{'shaft m3/s':>11}")
    first = None
    for name, (fans, regs) in states.items():
        times, sol = timed(net, fans, regs, args.n)
        med = statistics.median(times)
        print(f"{name:<16} {med:10.2f} {pct(times, 99):8.2f} {sol.iterations:5d} "
              f"{sol.residual_pa:12.2e} {sol.flow['intake_shaft']:11.2f}")
        first = first or (med, sol)
    assert first is not None
    med, sol = first
    print(f"RESULT solve_ms={med:.2f} iterations={sol.iterations} "
          f"residual_pa={sol.residual_pa:.2e}")


if __name__ == "__main__":
    main()
