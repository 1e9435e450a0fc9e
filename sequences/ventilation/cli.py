"""The verbs a ventilation system adds to ``fixedsite`` (the registry's ``cli``):
``fixedsite ventilation solve``, the airflow in every airway of the configured network
with the main fans as they would run, and the user points short of air.

It answers the question an engineer asks before changing anything underground (which fan,
what speed, which window how far open): it solves the config's ``[network]``, not the
plant's measurements, so it runs without a controller, a PLC or a history."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fixedsite.cli_args import CliError, command, config_option, finite
from fixedsite.config import load


def _names(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected fan names separated by "
                                         "commas (e.g. fan1,fan2), or none")
    return names


def _pct(text: str) -> float:
    x = finite(text)
    if not 0 < x <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed in % above 0 up to 100")
    return x


def _window(text: str) -> tuple[str, float]:
    name, sep, pos = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PCT, e.g. window1=40")
    x = finite(pos)
    if not 0 <= x <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: an opening is 0 to 100 %")
    return name.strip(), x


def add_verbs(sub: Any) -> None:
    v = command(sub, "ventilation", "solve the ventilation network: airflow in every "
                                     "airway, fans' duty, the user points short of air")
    v.add_argument("action", choices=["solve"], help="what to do")
    config_option(v)
    v.add_argument("--system", metavar="NAME",
                   help="the ventilation system (default: the config's only one)")
    v.add_argument("--fans", type=_names, metavar="F1,F2",
                   help="the main fans that run, or none (default: the first of the "
                        "control's fans; the others stopped with their dampers shut)")
    v.add_argument("--speed", type=_pct, metavar="PCT",
                   help="speed of the running fans, %% (default: each fan's "
                        "run_speed_pct)")
    v.add_argument("--reversed", action="store_true",
                   help="the running fans reversed (reversal of the mine's air)")
    v.add_argument("--window", type=_window, action="append", metavar="NAME=PCT",
                   help="a regulating window's opening, %%; repeat for more (default: "
                        "every window fully open)")
    v.set_defaults(run=cmd_solve)


def cmd_solve(args: argparse.Namespace) -> int:
    from fixedsite.sequences.ventilation.config import FanEq
    from fixedsite.sequences.ventilation.network import (
        FanCurve,
        NetworkError,
        NotConverged,
        needs,
        solve,
    )
    from fixedsite.sequences.ventilation.network_text import report

    cfg = load(args.config)
    vent = {n: s for n, s in cfg.systems.items() if s.kind == "ventilation"}
    if args.system is not None:
        if args.system not in cfg.systems:
            raise CliError(f"--system {args.system}: no such system in {args.config} "
                           f"(systems: {', '.join(cfg.systems)})")
        if args.system not in vent:
            raise CliError(f"--system {args.system}: a {cfg.systems[args.system].kind} "
                           "system, not ventilation")
        name = args.system
    elif len(vent) == 1:
        name = next(iter(vent))
    elif not vent:
        raise CliError(f"{args.config}: no ventilation system")
    else:
        raise CliError(f"{args.config}: ventilation systems {', '.join(vent)}: say which "
                       "with --system")
    system = vent[name]
    if system.network is None:
        raise CliError(f"{args.config}: system {name!r} has no [systems.{name}.network]: "
                       "nothing to solve")
    net = system.network
    in_net = [b.fan for b in net.branches.values() if b.fan is not None]
    running = args.fans if args.fans is not None else system.control.fans[:1]
    for f in running:
        if f not in in_net:
            raise CliError(f"--fans: {f!r} is in no branch of system {name!r}'s network "
                           f"(fans there: {', '.join(in_net) or 'none'})")
    fans = {}
    for f in in_net:
        eq = system.equipment.get(f)
        if not isinstance(eq, FanEq):
            raise CliError(f"systems.{name}.network: fan {f!r} is not a main fan of the "
                           "system's equipment (type = \"fan\")")
        fans[f] = FanCurve.from_eq(eq, args.speed, running=f in running,
                                   reversed=args.reversed)
    regulators = dict(args.window or [])
    try:
        need = needs(net)
        sol = solve(net, fans, regulators)
    except NotConverged as e:
        print(report(system, e.solution, need))
        print(f"fixedsite ventilation solve: {e}", file=sys.stderr)
        return 1
    except NetworkError as e:
        raise CliError(f"system {name!r}: {e}") from None
    print(report(system, sol, need))
    return 0
