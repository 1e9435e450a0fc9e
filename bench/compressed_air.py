"""Compressed air: a week of the mine's demand on the HIL station, the project's lead/lag
against the fixed-sequence baseline.

The HIL's station (configs/compressed-air-site.toml: three water-cooled 250 kW screws,
receivers and network, three-shift demand with bursts and pressure-dependent leaks,
cooling water) is run twice on the same seed, so both runs see the same mine:

* **project**: the controller's own sequences (sequences/compressed_air: cooling water,
  each compressor behind the command gate, the lead/lag by the pressure band with
  rotation and unload-versus-stop) with the controller's heartbeat beating;
* **baseline**: no controller at all: the PLC's watchdog puts every compressor on its own
  local pressure switch with staggered set-points (load below / unload above its own
  band, stop after a run-on unloaded: ``local_bands_mpa``, ``local_run_on_s``), the way a
  station without a supervisor runs.

For a week of simulated time in one process, the PLC's image is bound to the tag store
directly (the project's Modbus codec decodes every signal from the PLC's registers each
poll, and writes are encoded into them and read back), on a manual clock: no sockets, so
the week takes minutes, not the 100 minutes a loopback run at x100 would (the driver and
its sockets are what tests/test_compressed_air.py exercises). Poll 1 s, controller scan 2 s,
plant and PLC 1 s, as configured.

Prints per run: energy (kWh), air delivered (m3), specific power (kW per m3/min), the
share of time the pressure was inside the band (the config's ``band_mpa``, judged for both
runs alike), the mean pressure, unloaded running hours, starts per machine per day. Last
line: ``RESULT energy_saving_pct=... in_band_pct=... starts_per_day_max=...`` (the
project's figures; the baseline's in-band share is printed beside it).

Run: ``.venv/bin/python bench/compressed_air.py [--days 7] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time
import tomllib
from dataclasses import dataclass

from bound import build_system

from fixedsite.clock import ManualClock
from fixedsite.config import SiteConfig, parse
from fixedsite.hil.compressed_air.unit import build_one
from fixedsite.hil.demo_config import air_text

DAY_S = 86400.0
PLANT_DT, POLL_S, SCAN_S = 1.0, 1.0, 2.0


@dataclass
class Figures:
    energy_kwh: float
    air_m3: float
    in_band_pct: float
    mean_mpa: float
    unloaded_h: float
    starts: list[int]
    days: float

    @property
    def specific_power(self) -> float:
        return self.energy_kwh / self.air_m3 * 60 if self.air_m3 else float("nan")

    @property
    def starts_per_day_max(self) -> float:
        return max(self.starts) / self.days


async def run(cfg: SiteConfig, days: float, project: bool) -> Figures:
    clock = ManualClock(0.0)
    h = cfg.hil.compressed_air[0]
    unit = build_one(cfg, h, clock)          # type: ignore[arg-type]
    sname = h.system
    system = cfg.systems[sname]
    built, bound, _, steps = build_system(cfg, sname, unit, clock)
    lo, hi = system.control.band_mpa
    unit.first_scan(0.0)
    n = round(days * DAY_S / PLANT_DT)
    e0 = sum(c.energy_kwh for c in unit.plant.compressors)
    starts0 = [c.starts for c in unit.plant.compressors]
    air = in_band = p_sum = unloaded_s = 0.0
    warm = 3600.0                            # the first hour brings the receivers up
    for k in range(1, n + 1):
        clock.advance(PLANT_DT)
        now = clock.now()
        unit.advance(now, PLANT_DT)
        if project:
            bound.beat(k)
        if k % round(POLL_S / PLANT_DT) == 0:
            bound.poll()
        if project and k % round(SCAN_S / PLANT_DT) == 0:
            for step in steps:
                await step()
        p = unit.plant.pressure
        if now > warm:
            air += unit.plant.in_flow / 60 * PLANT_DT
            in_band += PLANT_DT if lo - 0.005 <= p <= hi + 0.005 else 0.0
            p_sum += p * PLANT_DT
            unloaded_s += PLANT_DT * sum(c.motor_on and not c.loaded
                                         for c in unit.plant.compressors)
        elif now + PLANT_DT > warm:
            e0 = sum(c.energy_kwh for c in unit.plant.compressors)
            starts0 = [c.starts for c in unit.plant.compressors]
    span = n * PLANT_DT - warm
    assert built is not None
    return Figures(sum(c.energy_kwh for c in unit.plant.compressors) - e0, air,
                   100 * in_band / span, p_sum / span, unloaded_s / 3600,
                   [c.starts - s for c, s in zip(unit.plant.compressors, starts0, strict=True)],
                   span / DAY_S)


def show(name: str, f: Figures) -> None:
    print(f"{name:<9} energy {f.energy_kwh:9.0f} kWh  air {f.air_m3:10.0f} m3  specific "
          f"power {f.specific_power:5.2f} kW/(m3/min)  in band {f.in_band_pct:5.1f} %  "
          f"mean {f.mean_mpa:.3f} MPa  unloaded {f.unloaded_h:6.1f} h  starts "
          f"{'/'.join(str(s) for s in f.starts)} ({f.starts_per_day_max:.1f}/day max)",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    ap.add_argument("--seed", type=int, default=1, help="the mine's demand (default 1)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    text = re.sub(r"(?m)^seed = \d+\n", "", air_text(scale=1.0))
    text = text.replace("local_run_on_s = 600", f"local_run_on_s = 600\nseed = {args.seed}")
    cfg = parse(tomllib.loads(text), "bench-air.toml")
    t0 = time.perf_counter()
    base = asyncio.run(run(cfg, args.days, project=False))
    show("baseline", base)
    proj = asyncio.run(run(cfg, args.days, project=True))
    show("project", proj)
    saving = 100 * (base.energy_kwh - proj.energy_kwh) / base.energy_kwh
    print(f"{args.days:g} days each, seed {args.seed}, {time.perf_counter() - t0:.0f} s wall; "
          f"baseline in band {base.in_band_pct:.1f} %, specific power "
          f"{base.specific_power:.2f} -> {proj.specific_power:.2f} kW/(m3/min)")
    print(f"RESULT energy_saving_pct={saving:.1f} in_band_pct={proj.in_band_pct:.1f} "
          f"starts_per_day_max={proj.starts_per_day_max:.1f}")


if __name__ == "__main__":
    main()
