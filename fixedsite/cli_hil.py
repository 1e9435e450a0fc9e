"""``fixedsite hil``: the simulated site, run alone for a test engineer.

Kept apart from ``cli.py`` because the HIL's own commands (its register map, and later
driving a running HIL from another shell) are the test engineer's, not the operator's.
"""

from __future__ import annotations

import argparse
import asyncio

from fixedsite.cli import _clock, _status_until, _until_signalled
from fixedsite.config import load


def add_hil_options(s: argparse.ArgumentParser) -> None:
    """The options only ``fixedsite hil`` takes (beside run's and demo's common ones)."""
    s.add_argument("--list-tags", action="store_true",
                   help="print the simulated PLCs' register maps and exit")


def cmd_hil(args: argparse.Namespace) -> int:
    from fixedsite.hil.drainage_plc import register_map
    from fixedsite.hil.site import HilSite

    cfg = load(args.config)
    if args.list_tags:
        for h in cfg.hil.drainage:
            sump = cfg.systems[h.system].equipment[cfg.systems[h.system].control.sump]
            n_sensors = len(getattr(sump, "sensors", []))
            print(f"# {h.system} PLC {h.plc} ({cfg.plcs[h.plc].host}:{cfg.plcs[h.plc].port})")
            for name, addr in register_map(len(cfg.systems[h.system].control.pumps),
                                           n_sensors):
                print(f"{addr:<18} {name}")
        return 0
    clock = _clock(cfg, args)

    async def body(stop: asyncio.Event) -> None:
        site = HilSite(cfg, clock)
        await site.start()
        print(f"HIL running (scale x{clock.scale:g}, clock anchor {clock.anchor:.3f}); "
              "Ctrl-C stops", flush=True)

        def render() -> str:
            lines = []
            for u in site.units:
                pumps = " ".join(f"P{i + 1}:{'run' if p.motor_on else 'off'}/{p.flow:.0f}"
                                 for i, p in enumerate(u.plant.pumps))
                mode = "FALLBACK" if u.plc.fallback else "remote"
                lines.append(f"{u.cfg.system}: level {u.plant.sump.level:.2f} m  inflow "
                             f"{u.plant.inflow_now:.0f} m3/h  PLC {mode}  {pumps}")
            return "\n".join(lines)
        try:
            await _status_until(stop, render, args.every, live=False)
        finally:
            await site.stop()
    asyncio.run(_until_signalled(body))
    return 0
