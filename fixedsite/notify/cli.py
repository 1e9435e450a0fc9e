"""``fixedsite alarms``: the closed loop read back and completed.

``handling --month YYYY-MM`` lists each P1/P2 alarm with who was told, who acknowledged
it, how and how fast, and when it cleared; ``note ALARM TEXT --user NAME`` attaches what
was done to the alarm's latest episode (the link's form does the same); ``notifications``
shows the last messages with their delivery, the record an inspector asks for.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fixedsite.cli_args import CliError, command, config_option, count, database, month


def add(sub: Any) -> None:
    a = command(sub, "alarms", "how alarms were handled: who was told, who answered, how "
                "fast; handling notes")
    a.add_argument("action", choices=["handling", "note", "notifications"],
                   help="handling: the month's P1/P2 alarms with times to acknowledge and "
                        "clear; note: attach what was done; notifications: the last "
                        "messages and their delivery")
    a.add_argument("alarm", nargs="?", help="note: the alarm id")
    a.add_argument("text", nargs="?", help="note: what was done")
    config_option(a)
    a.add_argument("--month", type=month, metavar="YYYY-MM",
                   help="handling: the month (default: this month)")
    a.add_argument("--user", help="note: who writes it")
    a.add_argument("--last", type=count(1), default=30, metavar="N",
                   help="notifications: how many")
    a.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fixedsite.config import load
    from fixedsite.notify import messages
    from fixedsite.notify.config import zone
    from fixedsite.notify.outbox import Outbox

    cfg = load(args.config)
    messages.ZONE = zone(cfg.notify) if cfg.notify is not None else None  # the mine's time
    path = cfg.storage_dir() / "notify.db"
    if args.action == "handling":
        return _handling(args, cfg, path)
    if not path.is_file():
        raise CliError(f"no notification record at {path} (is [notify] configured and has "
                       "the controller run?)")
    outbox = Outbox(path)
    try:
        if args.action == "note":
            return _note(args, outbox)
        for m in outbox.messages()[-args.last:]:
            when = messages.stamp(m.created)
            state = m.status + (" (late)" if m.late else "") + \
                (f" after {m.attempts} attempts" if m.attempts > 1 else "")
            why = f"  [{m.last_error}]" if m.status != "sent" and m.last_error else ""
            print(f"{m.id:>6} {when} {m.step:<22} {m.person:<10} {m.channel:<8} "
                  f"{state:<24} {m.title}{why}")
        return 0
    finally:
        outbox.close()


def _note(args: argparse.Namespace, outbox: Any) -> int:
    if not args.alarm or not args.text or not args.user:
        raise CliError("note needs the alarm id, the text and --user")
    eps = [e for e in outbox.episodes_between(0, float("inf")) if e.alarm == args.alarm]
    if not eps:
        raise CliError(f"no notified episode of alarm {args.alarm!r} in {outbox.path}")
    ep = eps[-1]
    outbox.add_note(ep.alarm, ep.key, time.time(), args.user, args.text[:2000])
    from fixedsite.notify.messages import stamp

    print(f"noted on {ep.alarm} raised {stamp(ep.raised)}")
    return 0


def _handling(args: argparse.Namespace, cfg: Any, path: Path) -> int:
    from fixedsite.notify.handling import as_text, episodes
    from fixedsite.notify.outbox import Outbox
    from fixedsite.report import HistoryReader, month_span

    year, mon = args.month or (time.localtime().tm_year, time.localtime().tm_mon)
    t0, t1 = month_span(year, mon)
    h = database(cfg.storage_dir() / "history.db", "history", HistoryReader)
    try:
        events = h.events_between(t0 - 31 * 86400, t1, "alarm")
    finally:
        h.close()
    outbox = Outbox(path) if path.is_file() else None
    try:
        rows = episodes(events, outbox, t0, t1)
    finally:
        if outbox is not None:
            outbox.close()
    print(as_text(f"{cfg.site.name}: alarm handling {year:04d}-{mon:02d}", rows))
    return 0
