"""The verbs a pump room adds to ``fixedsite`` (the registry's ``cli``): ``plan``, the
peak-valley plan for the next day and its cost against level control alone, and
``diagram``, the pump sequence as a Mermaid state diagram."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from fixedsite import cli_args
from fixedsite.cli_args import (
    CliError,
    DatabaseBusy,
    command,
    config_option,
    count,
    database,
    finite,
    non_negative,
)
from fixedsite.config import SiteConfig, load


def add_verbs(sub: Any) -> None:
    command(sub, "diagram", "print the pump sequence as a Mermaid state diagram"
            ).set_defaults(run=cmd_diagram)
    n = command(sub, "plan", "the pump plan for the next 24 h and its cost against level "
                              "control alone")
    config_option(n)
    n.add_argument("--db", type=Path, metavar="FILE",
                   help="the history database: its inflow, level and clock (default: "
                        "history.db in the config's storage dir; none: --inflow)")
    n.add_argument("--level", type=finite, metavar="M",
                   help="sump level now, m (default: the last stored, else the middle of "
                        "the band)")
    n.add_argument("--running", type=count(0), default=0, metavar="N",
                   help="pumps running now")
    n.add_argument("--clock-anchor", type=finite, metavar="EPOCH_S",
                   help="the anchor the controller was started with, for the site's "
                        "[clock] (default: the controller's clock as its history records "
                        "it, else the history's latest record)")
    n.add_argument("--inflow", type=non_negative, metavar="M3H",
                   help="inflow m3/h to assume when there is no history (default: the "
                        "HIL's normal inflow)")
    n.set_defaults(run=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from fixedsite.report import HistoryReader
    from fixedsite.sequences.drainage.plan_text import (
        as_text,
        history_note,
        make_plans,
        site_now,
    )

    cfg = load(args.config)
    if cfg.tariff is None or not any(s.kind == "drainage" and s.plan
                                     for s in cfg.systems.values()):
        print(f"{args.config}: no system has a [systems.<name>.plan] section and a tariff",
              file=sys.stderr)
        return 2
    _check_plan_args(cfg, args)
    db = Path(args.db or cfg.storage_dir() / "history.db")
    without = ("forecast from --inflow (else the HIL's normal inflow), level from --level "
               "(else the band's middle)")
    history, note = None, f"history: none at {db}: {without}"
    if db.exists():                       # optional: a plan can be made without it
        try:
            history = database(db, "history",
                               lambda p: HistoryReader(p, cli_args.BUSY_TIMEOUT_S))
            note = None
        except DatabaseBusy as e:
            note = f"history: {e}: planning without it: {without}"
    try:
        now, clock_note = site_now(cfg, history, args.clock_anchor)
        note = note or history_note(history, now)
        print(clock_note)
        if note:
            print(note)
        for shown in make_plans(cfg, history, args.level, args.running, args.inflow, now):
            print(as_text(cfg, shown))
    except sqlite3.DatabaseError as e:
        raise CliError(f"{db}: not a history database ({e})") from None
    finally:
        if history is not None:
            history.close()
    return 0


def _check_plan_args(cfg: SiteConfig, args: argparse.Namespace) -> None:
    """--running and --level describe the room at the top of each relay chain: no more
    pumps than it has, no level its sump's curve and transmitters cannot show."""
    from fixedsite.config_checks import tag_ranges
    from fixedsite.sequences.drainage.config import SumpEq

    ranges = tag_ranges(cfg)
    for name, system in cfg.systems.items():
        if system.kind != "drainage" or system.plan is None or \
                system.discharges_into is not None:
            continue
        ctl = system.control
        if args.running > len(ctl.pumps):
            raise CliError(f"--running {args.running}: system {name!r} has "
                           f"{len(ctl.pumps)} pumps")
        sump = system.equipment[ctl.sump]
        if args.level is None or not isinstance(sump, SumpEq):
            continue
        lo, hi = sump.volume_curve[0][0], sump.volume_curve[-1][0]
        if (r := ranges.get(f"{name}.{ctl.sump}.level")) is not None:
            lo, hi = max(lo, r[0]), min(hi, r[1])
        if not lo <= args.level <= hi:
            raise CliError(f"--level {args.level:g}: outside what the sump "
                           f"'{name}.{ctl.sump}' can show: {lo:g} to {hi:g} m (its volume "
                           "curve and level transmitters)")


def cmd_diagram(args: argparse.Namespace) -> int:
    from fixedsite.sequences.drainage.pump import PumpSequence
    print(PumpSequence.diagram())
    return 0
