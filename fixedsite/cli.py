"""The ``fixedsite`` command line: one subcommand per job (``build_parser``)."""

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


class DatabaseBusy(CliError):
    """A database another process holds locked past ``BUSY_TIMEOUT_S``: a command that can
    do without it (plan) says so and carries on; the others stop with this line."""


BUSY_TIMEOUT_S = 2.0      # how long a reading command waits for a database held locked


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
                                                uri=True, timeout=BUSY_TIMEOUT_S)) as con:
            found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                "name = ?", (_TABLES[what],)).fetchone()
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise DatabaseBusy(f"{path}: locked by another process ({e})") from None
        raise CliError(f"{path}: not {article} {what} database ({e})") from None
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
            from fixedsite.cli_hil import start_site
            site = await start_site(cfg, clock, args)
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
                # under the full-screen console the log goes to a file (storage dir)
                _console_logging(cfg.storage_dir())
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
    from fixedsite.report import HistoryReader as Historian
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
    from fixedsite.plan_text import as_text, history_note, make_plans, site_now
    from fixedsite.report import HistoryReader

    cfg = load(args.config)
    if cfg.tariff is None or not any(s.plan for s in cfg.systems.values()):
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
            history = _database(db, "history", lambda p: HistoryReader(p, BUSY_TIMEOUT_S))
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


CONSOLE_LOG = "console.log"


def _console_logging(pki: Path) -> Path:
    """Everything logged while the console runs goes to a file beside its certificate:
    the OPC UA library warns on the terminal while it connects (a certificate without
    this host's name, the session time-out the server granted) and while it fails (the
    service fault of a refused login), which would bury the one line an operator needs,
    and anything written under the full-screen console garbles it."""
    pki.mkdir(parents=True, exist_ok=True)
    path = pki / CONSOLE_LOG
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                           "%(message)s"))
    root.addHandler(handler)
    logging.captureWarnings(True)               # a library's DeprecationWarning too
    return path


def connect_refusal(url: str, user: str, e: BaseException, log_path: Path,
                    lang: str = "en") -> str:
    """One line for a console that could not connect: what happened in words an operator
    acts on (retype the password, start the controller, check the address), not the
    library's exception."""
    from asyncua import ua

    code = getattr(e, "code", None)
    login = {ua.StatusCodes.BadUserAccessDenied, ua.StatusCodes.BadIdentityTokenRejected,
             ua.StatusCodes.BadIdentityTokenInvalid, ua.StatusCodes.BadUserSignatureInvalid}
    trust = {ua.StatusCodes.BadCertificateUntrusted, ua.StatusCodes.BadSecurityChecksFailed,
             ua.StatusCodes.BadCertificateInvalid, ua.StatusCodes.BadCertificateUriInvalid}
    zh = lang == "zh_CN"
    if code in login:
        why = (f"{user} 登录被拒绝：用户名或密码错误（或该用户已被暂时锁定）" if zh else
               f"login refused for {user}: wrong user name or password (or the user is "
               "locked out for a while)")
    elif code in trust:
        why = (f"服务器不接受本控制台的证书（请让其信任该证书；详情见 {log_path}）" if zh else
               "the server does not accept this console's certificate (ask for it to be "
               f"trusted; details in {log_path})")
    elif isinstance(e, (ConnectionError, TimeoutError, OSError)):
        cause = f"{e.__class__.__name__}: {e or 'timed out'}"
        why = (f"无应答（{cause}）；该地址上是否有控制器在运行？" if zh else
               f"no answer ({cause}); is a controller running there?")
    else:
        text = " ".join(str(e).split()) or e.__class__.__name__
        why = (f"无法以 {user} 连接：{text}（详情见 {log_path}）" if zh else
               f"cannot connect as {user}: {text} (details in {log_path})")
    return f"fixedsite console: {url}: {why}"


def cmd_console(args: argparse.Namespace) -> int:
    import getpass

    from fixedsite.console.app import make_console
    from fixedsite.console.client import SiteClient
    from fixedsite.console.i18n import pick_lang

    cfg_lang = None
    if args.config is not None:
        cfg_lang = load(args.config).site.lang
    password = os.environ.get("FIXEDSITE_PASSWORD") or getpass.getpass(
        f"password for {args.user}: ")
    pki = args.pki or Path.home() / ".local" / "share" / "fixedsite" / "console"
    log_path = _console_logging(pki)
    lang = pick_lang(args.lang, cfg_lang)

    async def body() -> None:
        client = SiteClient(args.url, args.user, password, pki)
        try:
            await client.connect()
        except Exception as e:
            logging.getLogger("fixedsite.console").warning("cannot connect to %s as %s",
                                                           args.url, args.user,
                                                           exc_info=True)
            with contextlib.suppress(Exception):
                await client.close()
            print(connect_refusal(args.url, args.user, e, log_path, lang), file=sys.stderr)
            raise SystemExit(2) from None
        try:
            await make_console(client, lang, args.url).run_async()
        finally:
            await client.close()
    asyncio.run(body())
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    from fixedsite.sequences.drainage.pump import PumpSequence
    print(PumpSequence.diagram())
    return 0


DEMO_DEFAULT = "(default: the demo config, configs/demo-mine.toml)"
DESCRIPTION = ("fixedsite: supervisory control of a mine's pumping stations (controller, "
               "simulated site, operator console, records). 'fixedsite COMMAND --help' "
               "shows a command's options.")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, so nobody has to read the code to know
    what an option is when not given; a help that already says it (a default that is
    worked out, e.g. 'from the config') is left as written, and a flag (off unless given)
    or an option with no default has nothing to name."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "(default:" in text or action.default is None or \
                action.default is False or action.default is argparse.SUPPRESS or \
                not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        # the commands' names are not counted by argparse: a long one would sit alone on
        # its line with its description under it
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            longest = max((len(a.dest) for a in action._get_subactions()), default=0)  # noqa: SLF001
            self._action_max_length = max(self._action_max_length,
                                          longest + self._current_indent + 2)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # a file name or a 'remote-auto' is never cut at its hyphen
        import textwrap
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _command(sub: Any, name: str, line: str) -> argparse.ArgumentParser:
    """A subcommand whose one line is both its entry in ``fixedsite --help`` and the
    head of its own ``--help``."""
    return sub.add_parser(name, help=line, description=line[0].upper() + line[1:] + ".",
                          formatter_class=_Help)


def _config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=DEMO_CONFIG, metavar="FILE",
                   help=f"the site config {DEMO_DEFAULT}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fixedsite", description=DESCRIPTION,
                                formatter_class=_Help)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log at INFO (otherwise warnings and errors only)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")
    c = _command(sub, "check-config", "validate a site config, print every problem, exit")
    c.add_argument("file", type=Path, help="the site config (TOML) to check")
    for name, line in (("run", "run the controller against the site's PLCs"),
                       ("hil", "run the simulated site (HIL) alone, for a controller "
                               "started apart"),
                       ("demo", "run the simulated site and the controller in one process, "
                                "with the console")):
        s = _command(sub, name, line)
        _config_option(s)
        s.add_argument("--scale", type=_scale,
                       help="time acceleration, simulated s per wall s (default: the "
                            "config's [clock] scale)")
        s.add_argument("--clock-anchor", type=_finite, metavar="EPOCH_S",
                       help="wall time (epoch s) at which simulated time starts; give the "
                            "HIL's value to a separately started controller (default: now)")
        s.add_argument("--every", type=_positive, default=1.0, metavar="S",
                       help="status period, wall seconds")
        s.add_argument("--plain", action="store_true",
                       help="plain text status (the demo otherwise opens the console)")
        s.add_argument("--lang", choices=["zh_CN", "en"],
                       help="console language (default: the config's [site] lang)")
        if name == "hil":
            from fixedsite.cli_hil import add_hil_options
            add_hil_options(s)
        if name == "demo":
            from fixedsite.cli_hil import add_plant_options
            add_plant_options(s)
    _command(sub, "diagram", "print the pump sequence as a Mermaid state diagram")
    a = _command(sub, "audit", "check the audit log's hash chain or show its last commands")
    a.add_argument("action", choices=["verify", "tail"],
                   help="verify: check the hash chain; tail: show the last commands")
    _config_option(a)
    a.add_argument("--db", type=Path, metavar="FILE",
                   help="the audit database (default: audit.db in the config's storage dir)")
    a.add_argument("--last", type=_count(1), default=20, metavar="N",
                   help="how many commands tail shows")
    r = _command(sub, "report", "monthly run hours, starts, energy by tariff period, "
                                "alarms, fault time")
    _config_option(r)
    r.add_argument("--db", type=Path, metavar="FILE",
                   help="the history database (default: history.db in the config's "
                        "storage dir)")
    r.add_argument("--month", type=_month, metavar="YYYY-MM",
                   help="the month to report (default: this month)")
    r.add_argument("--csv", action="store_true", help="CSV instead of a text table")
    n = _command(sub, "plan", "the pump plan for the next 24 h and its cost against level "
                              "control alone")
    _config_option(n)
    n.add_argument("--db", type=Path, metavar="FILE",
                   help="the history database: its inflow, level and clock (default: "
                        "history.db in the config's storage dir; none: --inflow)")
    n.add_argument("--level", type=_finite, metavar="M",
                   help="sump level now, m (default: the last stored, else the middle of "
                        "the band)")
    n.add_argument("--running", type=_count(0), default=0, metavar="N",
                   help="pumps running now")
    n.add_argument("--clock-anchor", type=_finite, metavar="EPOCH_S",
                   help="the anchor the controller was started with, for the site's "
                        "[clock] (default: the controller's clock as its history records "
                        "it, else the history's latest record)")
    n.add_argument("--inflow", type=_non_negative, metavar="M3H",
                   help="inflow m3/h to assume when there is no history (default: the "
                        "HIL's normal inflow)")
    k = _command(sub, "console", "the operator console, an OPC UA client of a controller")
    k.add_argument("--url", default="opc.tcp://127.0.0.1:48400/fixedsite/",
                   help="the controller's OPC UA endpoint")
    k.add_argument("--user", required=True, help="your user name (see 'fixedsite user'); "
                   "the password is asked, or taken from FIXEDSITE_PASSWORD")
    k.add_argument("--lang", choices=["zh_CN", "en"],
                   help="console language (default: --config's [site] lang, else the "
                        "locale)")
    k.add_argument("--config", type=Path, metavar="FILE",
                   help="take the language from this site config (default: none)")
    k.add_argument("--pki", type=Path, metavar="DIR",
                   help="where the console keeps its certificate and its log (default: "
                        "~/.local/share/fixedsite/console)")
    u = _command(sub, "user", "remote-operation users: add, passwd, remove, list")
    u.add_argument("action", choices=["add", "passwd", "remove", "list"],
                   help="what to do")
    u.add_argument("name", nargs="?", help="the user (all but list)")
    u.add_argument("--role", choices=["viewer", "operator", "engineer", "admin"],
                   default="viewer", help="the role a new user gets")
    _config_option(u)
    u.add_argument("--file", type=Path, metavar="FILE",
                   help="the users file (default: users.json in the config's storage dir)")
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
