"""The ``fixedsite`` command line: one subcommand per job (``build_parser``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fixedsite import systems
from fixedsite.cli_args import (
    CliError,
    Help,
    command,
    config_option,
    count,
    database,
    finite,
    month,
    positive,
    scale,
)
from fixedsite.clock import ScaledClock
from fixedsite.config import ConfigError, SiteConfig, load
from fixedsite.drivers.registry import PROTOCOLS
from fixedsite.users import UserError

SIGPIPE_EXIT = 141      # what a shell reports for a writer whose reader went away


def _clock(cfg: SiteConfig, args: argparse.Namespace) -> tuple[SiteConfig, ScaledClock]:
    """The clock of this run, and the config as run: a ``--scale`` given on the command
    line is the config's scale from here on, so what is derived from the scale at build
    time (an alarm's delay counted in poll rounds) follows the clock that runs."""
    scale = args.scale if getattr(args, "scale", None) else cfg.clock.scale
    if scale != cfg.clock.scale:
        cfg = cfg.model_copy(update={"clock": cfg.clock.model_copy(update={"scale": scale})})
    return cfg, ScaledClock(scale, origin=cfg.clock.origin_epoch(),
                            anchor=getattr(args, "clock_anchor", None))


async def _until_signalled(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``body`` until SIGINT or SIGTERM, then let it clean up."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:    # nohup keeps its meaning
        loop.add_signal_handler(signal.SIGHUP, stop.set)          # else: its terminal closed
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
    cfg, clock = _clock(cfg, args)

    hil = None

    async def body(stop: asyncio.Event) -> None:
        nonlocal hil
        # Whatever fails on the way up (a port taken, a disk refusing) stops what was
        # already started, in reverse order: the HIL saves its plant and frees its socket,
        # the records flush and close. Never a half-started site left behind.
        async with contextlib.AsyncExitStack() as started:
            from fixedsite.audit import AuditLog
            from fixedsite.historian import Historian

            audit = AuditLog(cfg.storage_dir() / "audit.db")
            started.callback(audit.close)
            history = Historian(cfg.storage_dir() / "history.db", cfg.storage.deadband_pct,
                                cfg.storage.max_interval_s,
                                max_buffered=cfg.storage.max_buffered)
            started.callback(history.close)
            ctl = Controller(cfg, clock, audit=audit, historian=history)
            if cfg.uplink is not None:
                from fixedsite.uplink import Uplink

                u = cfg.uplink
                ctl.uplink = Uplink(ctl.store, cfg.site.id, u.url,
                                    cfg.storage_dir() / "uplink.db", u.token, u.org,
                                    u.bucket, u.batch, max_queue=u.max_queue)
                started.callback(ctl.uplink.close)
            ctl.record_config(digest, str(args.config))
            if with_hil:        # after the build: a system that cannot be built starts nothing
                from fixedsite.hil_process import HilProcess, hil_argv

                hil = HilProcess(cfg, hil_argv(Path(args.config), clock, args.fresh,
                                               args.scenario, args.verbose),
                                 cfg.storage_dir() / "hil.log")
                started.push_async_callback(hil.stop)
                if not await hil.start(stop):
                    return                 # Ctrl-C while it started: nothing else begun
                hil.watch(stop)
            from fixedsite.notify import Notifications

            # [notify]: alarms to people; closed after the controller has stopped its tasks
            notifications = Notifications.attach(ctl)
            if notifications is not None:
                started.push_async_callback(notifications.stop)
            running = False

            async def stop_controller() -> None:   # after the server below: it reads ctl
                if running:                        # (a controller never started is not
                    await ctl.stop()               # recorded as stopped)
            started.push_async_callback(stop_controller)
            northbound = None
            if cfg.opcua is not None:         # first: its start-up blocks the loop a while
                from fixedsite.northbound import Northbound
                from fixedsite.users import UserStore

                northbound = Northbound(ctl, UserStore(cfg.storage_dir() / "users.json"),
                                        cfg.opcua, cfg.storage_dir() / "pki")
                started.push_async_callback(northbound.stop)
                await northbound.start()
            if notifications is not None:
                await notifications.start()
            running = True
            await ctl.start()
            if with_hil and northbound is not None and sys.stdout.isatty() and not args.plain:
                # under the full-screen console the log goes to a file (storage dir)
                _console_logging(cfg.storage_dir())
                await _demo_console(cfg, northbound, args.lang, stop)
            else:
                await _status_until(stop, lambda: render(ctl), args.every,
                                    live=sys.stdout.isatty() and not args.plain)
        if hil is not None and (hil.died or hil.unclean):
            raise CliError(hil.died or hil.unclean or "")
        with contextlib.suppress(OSError):          # a terminal hung up (SIGHUP) is gone
            print("stopped cleanly; the PLCs' watchdogs now hold the plant", flush=True)
    asyncio.run(_until_signalled(body))
    return 0


async def _demo_console(cfg: SiteConfig, northbound: Any, lang: str | None,
                        stop: asyncio.Event) -> None:
    """The demo's console, logged in as a 'demo' engineer whose password is new each run.

    A process of its own on the demo's terminal: decoding and drawing a site's worth of
    values is a core's third, which the controller's loop cannot spare. It ends when the
    operator quits it, or is stopped when the demo is; a console that fails is the demo's
    failure, said with where its log is. The password goes over a pipe, not in the
    environment (which other users' ``ps e`` can read)."""
    import secrets

    from fixedsite.console.i18n import pick_lang
    from fixedsite.hil_process import parent_watch, stop_child
    from fixedsite.users import UserStore

    users = UserStore(cfg.storage_dir() / "users.json")
    password = secrets.token_urlsafe(16)
    if any(u.name == "demo" for u in users.list()):
        users.passwd("demo", password)
    else:
        users.add("demo", "engineer", password)
    pki = cfg.storage_dir() / "console-pki"
    read_end, write_end = os.pipe()
    argv = [sys.executable, "-m", "fixedsite", "console", "--url", northbound.cfg.endpoint,
            "--user", "demo", "--lang", pick_lang(lang, cfg.site.lang),
            "--pki", str(pki), "--password-fd", str(read_end)]
    try:
        proc = await asyncio.create_subprocess_exec(*argv, pass_fds=(read_end,),
                                                    preexec_fn=parent_watch())
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    # a console dead before it read: its exit code below says why, not a broken pipe
    with contextlib.suppress(BrokenPipeError), os.fdopen(write_end, "w",
                                                           encoding="utf-8") as f:
        f.write(password + "\n")
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopped, asyncio.create_task(proc.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        by_us = proc.returncode is None
        await stop_child(proc, "the console", 10.0)
    if not by_us and proc.returncode != 0:
        raise CliError(f"the console ended with code {proc.returncode} (its log: "
                       f"{pki / CONSOLE_LOG})")


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
    log = database(db, "audit", AuditLog)
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
    h = database(db, "history", Historian)
    try:
        report = build(cfg, h, *month_span(year, month))
    except sqlite3.DatabaseError as e:
        h.close()
        raise CliError(f"{db}: not a history database ({e})") from None
    h.close()
    print(as_csv(report) if args.csv else as_text(report), end="\n" if not args.csv else "")
    return 0


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
    if args.password_fd is not None:         # the demo's pipe (cli._demo_console)
        with os.fdopen(args.password_fd, encoding="utf-8") as f:
            password = f.readline().rstrip("\n")
    else:
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
        app = make_console(client, lang, args.url)
        loop = asyncio.get_running_loop()
        # stopped from outside (the demo ending, the terminal closed): leave the way a
        # quit does, so the terminal is given back out of the full-screen mode
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, app.exit)
        try:
            await app.run_async()
        finally:
            await client.close()
    asyncio.run(body())
    return 0


def _password_fd(text: str) -> int:
    """A pipe the demo hands its console (never 0-2: the console needs its terminal)."""
    try:
        fd = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a file descriptor: {text!r}") from None
    if fd < 3:
        raise argparse.ArgumentTypeError(f"expected a descriptor of 3 or more, got {fd}")
    return fd


DESCRIPTION = ("fixedsite: supervisory control of a mine's fixed installations "
               "(controller, simulated site, operator console, records). "
               "'fixedsite COMMAND --help' shows a command's options.")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fixedsite", description=DESCRIPTION,
                                formatter_class=Help)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log at INFO (otherwise warnings and errors only)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")
    c = command(sub, "check-config", "validate a site config, print every problem, exit")
    c.add_argument("file", type=Path, help="the site config (TOML) to check")
    for name, line in (("run", "run the controller against the site's PLCs"),
                       ("hil", "run the simulated site (HIL) alone, for a controller "
                               "started apart"),
                       ("demo", "run the simulated site (in a process of its own), the "
                                "controller and the console")):
        s = command(sub, name, line)
        config_option(s)
        s.add_argument("--scale", type=scale,
                       help="time acceleration, simulated s per wall s (default: the "
                            "config's [clock] scale)")
        s.add_argument("--clock-anchor", type=finite, metavar="EPOCH_S",
                       help="wall time (epoch s) at which simulated time starts; give the "
                            "HIL's value to a separately started controller (default: now)")
        s.add_argument("--every", type=positive, default=1.0, metavar="S",
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
    a = command(sub, "audit", "check the audit log's hash chain or show its last commands")
    a.add_argument("action", choices=["verify", "tail"],
                   help="verify: check the hash chain; tail: show the last commands")
    config_option(a)
    a.add_argument("--db", type=Path, metavar="FILE",
                   help="the audit database (default: audit.db in the config's storage dir)")
    a.add_argument("--last", type=count(1), default=20, metavar="N",
                   help="how many commands tail shows")
    r = command(sub, "report", "monthly run hours, starts, energy by tariff period, "
                                "alarms, fault time")
    config_option(r)
    r.add_argument("--db", type=Path, metavar="FILE",
                   help="the history database (default: history.db in the config's "
                        "storage dir)")
    r.add_argument("--month", type=month, metavar="YYYY-MM",
                   help="the month to report (default: this month)")
    r.add_argument("--csv", action="store_true", help="CSV instead of a text table")
    from fixedsite.notify.cli import add as add_alarms
    add_alarms(sub)                                  # alarms handling / note / notifications
    for spec in systems.registered().values():      # a system's own verbs (plan, ...)
        add = systems.optional(spec, spec.cli, "command-line verbs")
        if add is not None:
            add(sub)
    k = command(sub, "console", "the operator console, an OPC UA client of a controller")
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
    k.add_argument("--password-fd", type=_password_fd, metavar="FD",
                   help="read the password from this open file descriptor (3 or more; a "
                        "pipe, as 'fixedsite demo' hands it to its console) instead")
    u = command(sub, "user", "remote-operation users: add, passwd, remove, list")
    u.add_argument("action", choices=["add", "passwd", "remove", "list"],
                   help="what to do")
    u.add_argument("name", nargs="?", help="the user (all but list)")
    u.add_argument("--role", choices=["viewer", "operator", "engineer", "admin"],
                   default="viewer", help="the role a new user gets")
    config_option(u)
    u.add_argument("--file", type=Path, metavar="FILE",
                   help="the users file (default: users.json in the config's storage dir)")
    u.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (for scripts)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for spec in PROTOCOLS.values():
        for name in spec.noisy_loggers:
            logging.getLogger(name).setLevel(logging.CRITICAL)
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
    except (CliError, systems.BuildError) as e:
        if args.verbose and isinstance(e, systems.BuildError):
            logging.getLogger("fixedsite").exception("fixedsite %s", args.command)
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
    if hasattr(args, "run"):                     # a verb a system brings
        return int(args.run(args))
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
