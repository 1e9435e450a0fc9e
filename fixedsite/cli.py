"""``fixedsite`` command line: check-config, run, hil, demo, diagram."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import math
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import DEMO_CONFIG, ConfigError, SiteConfig, load
from fixedsite.users import UserError

SIGPIPE_EXIT = 141      # what a shell reports for a writer whose reader went away


class CliError(Exception):
    """A refusal of the arguments or files given: printed as it is, exit 2."""


# --- argument types: a bad number is refused by argparse (usage, exit 2) before anything
# --- opens a file, binds a port or starts a clock
def _finite(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return x


def _non_negative(text: str) -> float:
    x = _finite(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return x


def _positive(text: str) -> float:
    x = _finite(text)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 0")
    return x


def _scale(text: str) -> float:
    x = _positive(text)
    if x > 100_000:                   # as [clock] scale: past it a day is under a second
        raise argparse.ArgumentTypeError(f"{text!r}: time acceleration is at most 100000")
    return x


def _count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = least - 1
        if n < least:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {least}")
        return n
    return parse


def _month(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if m is None or not 1970 <= int(m[1]) <= 9999 or not 1 <= int(m[2]) <= 12:
        raise argparse.ArgumentTypeError(f"--month {text}: expected YYYY-MM, a year from "
                                         "1970 and a month 01..12")
    return int(m[1]), int(m[2])


# a table each kind of database has: a command that only reads checks for it before the
# database's own class opens the file (and would create its tables in someone else's file)
_TABLES = {"history": "samples", "audit": "audit"}


def _database(path: Path, what: str, opener: Callable[[Path], Any]) -> Any:
    """Open an existing fixedsite database, or say plainly why not (never create one
    where the user pointed at a file that is not there, nor tables in a foreign file)."""
    if not path.is_file():
        raise CliError(f"no {what} database at {path}" if not path.exists() else
                       f"{path}: not a file")
    article = "an" if what[0] in "aeiou" else "a"
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True)) as con:
            found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                "name = ?", (_TABLES[what],)).fetchone()
    except sqlite3.DatabaseError as e:
        raise CliError(f"{path}: not {article} {what} database ({e})") from None
    if found is None:
        raise CliError(f"{path}: not {article} {what} database (no {_TABLES[what]} table)")
    try:
        return opener(path)
    except sqlite3.DatabaseError as e:
        raise CliError(f"{path}: not {article} {what} database ({e})") from None


def _clock(cfg: SiteConfig, args: argparse.Namespace) -> ScaledClock:
    scale = args.scale if getattr(args, "scale", None) else cfg.clock.scale
    return ScaledClock(scale, origin=cfg.clock.origin_epoch(),
                       anchor=getattr(args, "clock_anchor", None))


async def _until_signalled(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``body`` until SIGINT or SIGTERM, then let it clean up."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await body(stop)


async def _status_until(stop: asyncio.Event, render: Callable[[], str], every_s: float,
                        live: bool) -> None:
    while not stop.is_set():
        text = render()
        if live:
            sys.stdout.write("\x1b[H\x1b[J" + text + "\n")
        else:
            sys.stdout.write(text + "\n\n")
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load(args.file)
    n = sum(1 for _ in cfg.signals())
    eq = sum(len(s.equipment) for s in cfg.systems.values())
    print(f"{args.file}: OK ({len(cfg.plcs)} PLC, {len(cfg.systems)} system, {eq} "
          f"equipment, {n} signals)")
    return 0


def cmd_run(args: argparse.Namespace, with_hil: bool = False) -> int:
    from fixedsite.runtime import Controller
    from fixedsite.status import render

    cfg = load(args.config)
    digest = hashlib.sha256(Path(args.config).read_bytes()).hexdigest()
    clock = _clock(cfg, args)

    async def body(stop: asyncio.Event) -> None:
        site = None
        if with_hil:
            from fixedsite.hil.site import HilSite
            site = HilSite(cfg, clock)
            await site.start()
        from fixedsite.audit import AuditLog
        from fixedsite.historian import Historian

        audit = AuditLog(cfg.storage_dir() / "audit.db")
        history = Historian(cfg.storage_dir() / "history.db", cfg.storage.deadband_pct,
                            cfg.storage.max_interval_s, max_buffered=cfg.storage.max_buffered)
        ctl = Controller(cfg, clock, audit=audit, historian=history)
        if cfg.uplink is not None:
            from fixedsite.uplink import Uplink

            u = cfg.uplink
            ctl.uplink = Uplink(ctl.store, cfg.site.id, u.url, cfg.storage_dir() / "uplink.db",
                                u.token, u.org, u.bucket, u.batch, max_queue=u.max_queue)
        ctl.record_config(digest, str(args.config))
        northbound = None
        if cfg.opcua is not None:             # first: its start-up blocks the loop a while
            from fixedsite.northbound import Northbound
            from fixedsite.users import UserStore

            northbound = Northbound(ctl, UserStore(cfg.storage_dir() / "users.json"),
                                    cfg.opcua, cfg.storage_dir() / "pki")
            await northbound.start()
        await ctl.start()
        try:
            if with_hil and northbound is not None and sys.stdout.isatty() and not args.plain:
                await _demo_console(cfg, northbound, args.lang)
            else:
                await _status_until(stop, lambda: render(ctl), args.every,
                                    live=sys.stdout.isatty() and not args.plain)
        finally:
            if northbound is not None:
                await northbound.stop()
            await ctl.stop()
            audit.close()
            history.close()
            if ctl.uplink is not None:
                ctl.uplink.close()
            if site is not None:
                await site.stop()
        print("stopped cleanly; the PLCs' watchdogs now hold the plant", flush=True)
    asyncio.run(_until_signalled(body))
    return 0


async def _demo_console(cfg: SiteConfig, northbound: Any, lang: str | None) -> None:
    """The demo's console, logged in as a 'demo' engineer whose password is new each run."""
    import secrets

    from fixedsite.console.app import make_console
    from fixedsite.console.client import SiteClient
    from fixedsite.console.i18n import pick_lang
    from fixedsite.users import UserStore

    users = UserStore(cfg.storage_dir() / "users.json")
    password = secrets.token_urlsafe(16)
    if any(u.name == "demo" for u in users.list()):
        users.passwd("demo", password)
    else:
        users.add("demo", "engineer", password)
    client = SiteClient(northbound.cfg.endpoint, "demo", password,
                        cfg.storage_dir() / "console-pki")
    await client.connect()
    try:
        await make_console(client, pick_lang(lang, cfg.site.lang), cfg.site.name).run_async()
    finally:
        await client.close()


def cmd_audit(args: argparse.Namespace) -> int:
    from fixedsite.audit import AuditLog, verify

    db = Path(args.db or load(args.config).storage_dir() / "audit.db")
    if not db.is_file():           # verify would call it broken, AuditLog would create it
        raise CliError(f"no audit database at {db}" if not db.exists() else
                       f"{db}: not a file")
    if args.action == "verify":
        verdict = verify(db)
        print(f"{db}: {'OK' if verdict.ok else 'BROKEN'}: {verdict.message}")
        return 0 if verdict.ok else 1
    log = _database(db, "audit", AuditLog)
    if not getattr(log, "ok", True):          # an unusable log says so instead of raising
        log.close()
        raise CliError(f"{db}: not an audit database ({log.error})")
    for r in log.tail(args.last):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["ts"]))
        outcome = r["result"] if r["decision"] == "accepted" else f"REFUSED: {r['reason']}"
        print(f"{r['seq']:>6} {when} {r['actor']:<10} {r['action']:<9} {r['target']:<18} "
              f"{outcome}")
    log.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from fixedsite.historian import Historian
    from fixedsite.report import as_csv, as_text, build, month_span

    cfg = load(args.config)
    db = Path(args.db or cfg.storage_dir() / "history.db")
    year, month = args.month or (time.localtime().tm_year, time.localtime().tm_mon)
    h = _database(db, "history", Historian)
    try:
        report = build(cfg, h, *month_span(year, month))
    except sqlite3.DatabaseError as e:
        h.close()
        raise CliError(f"{db}: not a history database ({e})") from None
    h.close()
    print(as_csv(report) if args.csv else as_text(report), end="\n" if not args.csv else "")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from fixedsite.historian import Historian
    from fixedsite.plan_text import as_text, make_plans

    cfg = load(args.config)
    if cfg.tariff is None or not any(s.plan for s in cfg.systems.values()):
        print(f"{args.config}: no system has a [systems.<name>.plan] section and a tariff",
              file=sys.stderr)
        return 2
    _check_plan_args(cfg, args)
    db = Path(args.db or cfg.storage_dir() / "history.db")
    history = _database(db, "history", Historian) if db.exists() else None   # optional
    try:
        for shown in make_plans(cfg, history, args.level, args.running, args.inflow):
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
    from fixedsite.config import SumpEq
    from fixedsite.config_checks import tag_ranges

    ranges = tag_ranges(cfg)
    for name, system in cfg.systems.items():
        if system.plan is None or system.discharges_into is not None:
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


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from fixedsite.users import UserError, UserStore

    path = args.file or load(args.config).storage_dir() / "users.json"
    try:
        store = UserStore(path)
        if args.action == "list":
            for u in store.list():
                print(f"{u.name:<20} {u.role}")
        elif args.action == "add":
            store.add(args.name, args.role, _read_password(args))
            print(f"user {args.name} added as {args.role}")
        elif args.action == "passwd":
            store.passwd(args.name, _read_password(args))
            print(f"password of {args.name} changed")
        else:
            store.remove(args.name)
            print(f"user {args.name} removed")
    except UserError as e:
        print(f"fixedsite user: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    import getpass
    import os

    from fixedsite.console.app import make_console
    from fixedsite.console.client import SiteClient
    from fixedsite.console.i18n import pick_lang

    cfg_lang = None
    if args.config is not None:
        cfg_lang = load(args.config).site.lang
    password = os.environ.get("FIXEDSITE_PASSWORD") or getpass.getpass(
        f"password for {args.user}: ")
    pki = args.pki or Path.home() / ".local" / "share" / "fixedsite" / "console"

    async def body() -> None:
        client = SiteClient(args.url, args.user, password, pki)
        try:
            await client.connect()
        except Exception as e:
            print(f"cannot connect to {args.url} as {args.user}: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        try:
            await make_console(client, pick_lang(args.lang, cfg_lang), args.url).run_async()
        finally:
            await client.close()
    asyncio.run(body())
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    from fixedsite.sequences.drainage import PumpSequence
    print(PumpSequence.diagram())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fixedsite", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check-config", help="validate a site config and exit")
    c.add_argument("file", type=Path)
    for name, helptext in (("run", "run the controller"),
                           ("hil", "run the simulated site (HIL) alone"),
                           ("demo", "HIL site and controller in one process")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--config", type=Path, default=DEMO_CONFIG)
        s.add_argument("--scale", type=_scale, help="time acceleration (overrides [clock])")
        s.add_argument("--clock-anchor", type=_finite,
                       help="wall time (epoch s) at which simulated time starts; give the "
                            "HIL's value to a separately started controller")
        s.add_argument("--every", type=_positive, default=1.0, help="status period, wall s")
        s.add_argument("--plain", action="store_true",
                       help="plain text status (the demo otherwise opens the console)")
        s.add_argument("--lang", choices=["zh_CN", "en"], help="console language")
        if name == "hil":
            from fixedsite.cli_hil import add_hil_options
            add_hil_options(s)
    sub.add_parser("diagram", help="print the pump sequence as a Mermaid state diagram")
    a = sub.add_parser("audit", help="check or show the audit log")
    a.add_argument("action", choices=["verify", "tail"])
    a.add_argument("--config", type=Path, default=DEMO_CONFIG)
    a.add_argument("--db", type=Path, help="the audit database (default: from the config)")
    a.add_argument("--last", type=_count(1), default=20)
    r = sub.add_parser("report", help="monthly run hours, starts, energy by tariff, alarms, "
                                      "fault time")
    r.add_argument("--config", type=Path, default=DEMO_CONFIG)
    r.add_argument("--db", type=Path, help="the history database (default: from the config)")
    r.add_argument("--month", type=_month, help="YYYY-MM (default: this month)")
    r.add_argument("--csv", action="store_true")
    n = sub.add_parser("plan", help="the pump plan for the next 24 h and its cost against "
                                    "level control alone")
    n.add_argument("--config", type=Path, default=DEMO_CONFIG)
    n.add_argument("--db", type=Path, help="the history database (default: from the config)")
    n.add_argument("--level", type=_finite, help="sump level now, m (default: last stored)")
    n.add_argument("--running", type=_count(0), default=0, help="pumps running now")
    n.add_argument("--inflow", type=_non_negative,
                   help="inflow m3/h to assume when there is no history")
    k = sub.add_parser("console", help="the operator console (an OPC UA client)")
    k.add_argument("--url", default="opc.tcp://127.0.0.1:48400/fixedsite/")
    k.add_argument("--user", required=True)
    k.add_argument("--lang", choices=["zh_CN", "en"])
    k.add_argument("--config", type=Path, help="take the language from this site config")
    k.add_argument("--pki", type=Path, help="where the console keeps its certificate")
    u = sub.add_parser("user", help="remote-operation users: add, passwd, remove, list")
    u.add_argument("action", choices=["add", "passwd", "remove", "list"])
    u.add_argument("name", nargs="?")
    u.add_argument("--role", choices=["viewer", "operator", "engineer", "admin"],
                   default="viewer")
    u.add_argument("--config", type=Path, default=DEMO_CONFIG)
    u.add_argument("--file", type=Path, help="the users file (default: from the config)")
    u.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (for scripts)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        rc = _dispatch(args)
        sys.stdout.flush()          # a closed pipe shows here, not at interpreter exit
        return rc
    except BrokenPipeError:
        # the reader went away (`fixedsite diagram | head`): stop quietly, as a tool
        # killed by SIGPIPE would; stdout goes to /dev/null so the exit flush is silent
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_EXIT
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    except CliError as e:
        print(f"fixedsite {args.command}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # a file or a port the command needs (storage dir not writable, port taken):
        # the message names it; -v adds where it came from
        if args.verbose:
            logging.getLogger("fixedsite").exception("fixedsite %s", args.command)
        print(f"fixedsite {args.command}: {e}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    """One command; its refusals raise ConfigError or CliError."""
    if args.command == "check-config":
        return cmd_check_config(args)
    if args.command == "hil":
        from fixedsite.cli_hil import cmd_hil
        return cmd_hil(args)
    if args.command == "diagram":
        return cmd_diagram(args)
    if args.command == "plan":
        return cmd_plan(args)
    if args.command == "audit":
        return cmd_audit(args)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "console":
        return cmd_console(args)
    if args.command == "user":
        if args.action != "list" and not args.name:
            print("fixedsite user: a user name is needed", file=sys.stderr)
            return 2
        return cmd_user(args)
    return cmd_run(args, with_hil=args.command == "demo")


if __name__ == "__main__":
    sys.exit(main())
