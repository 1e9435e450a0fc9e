"""``fixedsite hil``: the simulated site, run alone for a test engineer, and driven from
another shell (``fixedsite hil inject …``).

Kept apart from ``cli.py`` because the HIL's own commands (its register map, faults,
scenarios, its plant kept across runs) are the test engineer's, not the operator's.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixedsite.cli import _clock, _status_until, _until_signalled
from fixedsite.cli_args import DEMO_DEFAULT, CliError, command
from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, load

if TYPE_CHECKING:
    from fixedsite.hil.site import HilSite


def add_plant_options(s: argparse.ArgumentParser) -> None:
    """Options of every command that runs the simulated plant (hil, demo)."""
    s.add_argument("--fresh", action="store_true",
                   help="start the simulated plant from the config's initial state instead "
                        "of where the last run left it (hil-state.json in the storage dir)")
    s.add_argument("--scenario", type=Path, metavar="FILE",
                   help="a scenario file (TOML, [[at]] t = s, inject = ..., target = ...): "
                        "faults at set simulated times from the start; see "
                        "configs/scenario-link-cut.toml")


def add_hil_options(s: argparse.ArgumentParser) -> None:
    """The options only ``fixedsite hil`` takes (beside run's and demo's common ones), and
    its actions on a HIL already running."""
    s.add_argument("--list-tags", action="store_true",
                   help="print the simulated PLCs' register maps (address, tag as the config "
                        "names it, type, scale, unit, range, meaning, read/write) and exit")
    s.add_argument("--csv", type=Path, metavar="FILE",
                   help="write the register maps as CSV to FILE ('-': standard output) and "
                        "exit, for the PLC programmer")
    add_plant_options(s)
    sub = s.add_subparsers(dest="hil_action", metavar="[ACTION]", required=False,
                           title="actions on a HIL running in another shell (fixedsite hil "
                                 "or fixedsite demo, same config)")
    i = command(sub, "inject", "inject a fault into a running HIL: a PLC's link or "
                                "heartbeat, and each simulated plant's own (--list)")
    i.add_argument("fault", nargs="?",
                   help="the fault: link, heartbeat-deaf, and the plants' own (--list "
                        "shows every one this config's HIL takes)")
    i.add_argument("target", nargs="?",
                   help="what it hits, named as in the config: a PLC, a system, or a "
                        "piece of equipment (system.name where two systems have one)")
    i.add_argument("args", nargs="*",
                   help="on / off, down / up, or a number, as --list shows")
    i.add_argument("--list", action="store_true",
                   help="show every fault, what it takes and the names it can hit, and exit")
    i.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                   help=f"the site config of the running HIL {DEMO_DEFAULT}")
    t = command(sub, "status", "the running HIL's plants, links and faults")
    t.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                   help=f"the site config of the running HIL {DEMO_DEFAULT}")


def cmd_hil(args: argparse.Namespace) -> int:
    from fixedsite.hil.unit import HilKindError

    try:
        return _cmd_hil(args)
    except HilKindError as e:       # a plug-in's HIL that is missing or broken: one line
        raise CliError(str(e)) from None


def _cmd_hil(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    action = getattr(args, "hil_action", None)
    if action == "inject":
        return _inject(cfg, args)
    if action == "status":
        return _status(cfg)
    if args.list_tags or args.csv is not None:
        return _list_tags(cfg, args.csv)
    from fixedsite.hil.scenario import load as load_scenario

    scenario = load_scenario(args.scenario, cfg) if args.scenario else ()
    cfg, clock = _clock(cfg, args)

    async def body(stop: asyncio.Event) -> None:
        site = await start_site(cfg, clock, args, scenario)
        print(f"HIL running (scale x{clock.scale:g}, clock anchor {clock.anchor:.3f}); "
              f"'fixedsite hil inject' drives it; Ctrl-C stops", flush=True)
        shown = 0

        def render() -> str:
            nonlocal shown
            lines = [f"t+{t - site.t0:.0f} s  {by}: {what}"
                     for t, what, by in site.injected[shown:]]
            shown = len(site.injected)
            for u in site.units:
                link = "" if u.server.running else "LINK DOWN  "
                lines.append(f"{u.system}: {link}{site.status_of(u)['text']}")
            return "\n".join(lines)
        try:
            await _status_until(stop, render, args.every, live=False)
        finally:
            await site.stop()
            if site.state_file is not None:
                print(f"plant state saved to {site.state_file}", flush=True)
    asyncio.run(_until_signalled(body))
    return 0


async def start_site(cfg: SiteConfig, clock: ScaledClock, args: argparse.Namespace,
                     scenario: Sequence[object] | None = None) -> HilSite:
    """The HIL as ``fixedsite hil`` and ``fixedsite demo`` run it: with its control socket,
    its plant restored (unless --fresh) and saved on stop, and --scenario's faults."""
    from fixedsite.hil.control import HilError
    from fixedsite.hil.scenario import Step
    from fixedsite.hil.scenario import load as load_scenario
    from fixedsite.hil.site import HilSite, control_path, state_path
    from fixedsite.hil.unit import HilKindError

    try:
        if scenario is None:
            path = getattr(args, "scenario", None)
            scenario = load_scenario(path, cfg) if path else ()
        steps = [s for s in scenario if isinstance(s, Step)]
        site = HilSite(cfg, clock, control=control_path(cfg), state=state_path(cfg),
                       fresh=bool(getattr(args, "fresh", False)), scenario=steps)
        await site.start()
    except (HilError, HilKindError) as e:
        raise CliError(str(e)) from None
    if site.state_note:
        print(site.state_note, flush=True)
    if steps:
        print(f"scenario: {len(steps)} steps, the last at t={steps[-1].t:g} s", flush=True)
    return site


# --- driving a running HIL -----------------------------------------------------------------
def _ask(cfg: SiteConfig, message: dict[str, object]) -> dict[str, object]:
    from fixedsite.hil.control import NoHil, request
    from fixedsite.hil.site import control_path

    try:
        answer = request(control_path(cfg), message)
    except NoHil as e:
        raise CliError(f"{e}; start one with 'fixedsite hil' (or 'fixedsite demo')") \
            from None
    except TimeoutError:
        raise CliError(f"the HIL at {control_path(cfg)} did not answer in time") from None
    if not answer.get("ok"):
        raise CliError(str(answer.get("error", "refused, no reason given")))
    return answer


def _inject(cfg: SiteConfig, args: argparse.Namespace) -> int:
    from fixedsite.hil.faults import InjectError, parse, targets, variants

    if args.list:
        names = targets(cfg)
        print("fixedsite hil inject FAULT TARGET [ARGS]   (on a HIL running this config)")
        for name, by_kind in variants(cfg).items():
            for f in by_kind.values():
                print(f"  {name:<15} {f.kind.upper():<7} {f.args:<17} {f.help}")
        print("targets:")
        for kind, items in names.items():
            print(f"  {kind:<7} {', '.join(items)}")
        return 0
    if args.fault is None:
        raise CliError("inject: which fault? ('fixedsite hil inject --list' shows them)")
    try:
        parse(cfg, args.fault, args.target, args.args)   # refused here, HIL or not
    except InjectError as e:
        raise CliError(f"inject: {e}") from None
    answer = _ask(cfg, {"op": "inject", "fault": args.fault, "target": args.target,
                        "args": args.args})
    print(answer["result"])
    return 0


def _status(cfg: SiteConfig) -> int:
    answer = _ask(cfg, {"op": "status"})
    units = answer["units"]
    assert isinstance(units, list)
    print(f"HIL at t+{answer['t']:.0f} simulated s")
    for u in units:
        print(f"{u['system']}: {u['plc']} link {u['link']}  {u['text']}")
    return 0


# --- the register map ----------------------------------------------------------------------
def _list_tags(cfg: SiteConfig, csv_path: Path | None) -> int:
    from fixedsite.hil.register_map import CSV_COLUMNS, map_rows
    from fixedsite.hil.servers import served

    rows = map_rows(cfg)
    if csv_path is not None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        if str(csv_path) == "-":
            sys.stdout.write(buf.getvalue())
        else:
            csv_path.write_text(buf.getvalue(), encoding="utf-8")
            print(f"{len(rows)} points written to {csv_path}")
        return 0
    plc = None
    aw = max([13] + [len(r["address"]) for r in rows])   # S7 notation runs longer
    for r in rows:
        if r["plc"] != plc:
            plc = r["plc"]
            p = cfg.plcs[plc]
            where = served(p.protocol).where(p)
            print(f"{'' if plc == rows[0]['plc'] else chr(10)}# {r['system']}: PLC {plc} "
                  f"({p.host}:{p.port}, {where}); value = raw x scale")
            print(f"{'address':<{aw}} {'tag':<35} {'type':<7} {'scale':>5} {'unit':<5} "
                  f"{'range':<11} {'R/W':<3} meaning")
        rng = f"{r['range_min']}..{r['range_max']}" if r["range_min"] else ""
        print(f"{r['address']:<{aw}} {r['tag']:<35} {r['type']:<7} {r['scale']:>5} "
              f"{r['unit']:<5} {rng:<11} {r['access']:<3} {r['meaning']}")
    return 0
