"""The verbs a power system adds to ``fixedsite`` (the registry's ``cli``):
``fixedsite power check``, the protection scheme the controller would write to the relays
(each breaker's level, block sources and the links carrying them, both settings groups)
and every problem that could let a fault trip more than its nearest breaker.

It answers before commissioning, from the config alone. ``--live`` adds what the relays
hold: their settings as a running controller reads them, over its OPC UA server (the
console's client, logged in as a user of the site; sequences may not reach a PLC's driver,
and the controller already polls every relay), each compared with the computed one.
Exit 1 when a problem is an error, 2 when the command cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
import unicodedata
from pathlib import Path
from typing import Any

from fixedsite.cli_args import CliError, command, config_option, positive
from fixedsite.config import load
from fixedsite.sequences.power.config import PowerSystem
from fixedsite.sequences.power.scheme import (
    ERROR,
    SETTINGS,
    Actual,
    Group,
    Problem,
    Relay,
    Scheme,
    check,
    engineer,
)
from fixedsite.texts import say, translate

DEFAULT_URL = "opc.tcp://127.0.0.1:48400/fixedsite/"


def add_verbs(sub: Any) -> None:
    p = command(sub, "power", "the power system's protection scheme: each relay's block "
                              "sources and settings groups, and what could make a fault "
                              "overtrip")
    p.add_argument("action", choices=["check"], help="what to do")
    config_option(p)
    p.add_argument("--system", metavar="NAME",
                   help="the power system (default: the config's only one)")
    p.add_argument("--live", action="store_true",
                   help="also compare the settings the relays hold, read through a running "
                        "controller's OPC UA server (needs --user)")
    p.add_argument("--url", default=DEFAULT_URL, help="the controller's OPC UA endpoint")
    p.add_argument("--user", help="your user name for --live; the password is asked, or "
                                  "taken from FIXEDSITE_PASSWORD")
    p.add_argument("--pki", type=Path, metavar="DIR",
                   help="where the client keeps its certificate (default: "
                        "~/.local/share/fixedsite/console)")
    p.add_argument("--wait", type=positive, default=10.0, metavar="S",
                   help="how long --live waits for every relay's settings, wall seconds")
    p.add_argument("--lang", choices=["zh_CN", "en"],
                   help="output language (default: the config's [site] lang)")
    p.set_defaults(run=cmd_check)


def _system(cfg: Any, config: Path, wanted: str | None) -> tuple[str, PowerSystem]:
    power = {n: s for n, s in cfg.systems.items() if s.kind == "power"}
    if wanted is not None:
        if wanted not in cfg.systems:
            raise CliError(f"--system {wanted}: no such system in {config} (systems: "
                           f"{', '.join(cfg.systems)})")
        if wanted not in power:
            raise CliError(f"--system {wanted}: a {cfg.systems[wanted].kind} system, not power")
        return wanted, power[wanted]
    if len(power) == 1:
        return next(iter(power.items()))
    if not power:
        raise CliError(f"{config}: no power system")
    raise CliError(f"{config}: power systems {', '.join(power)}: say which with --system")


def cmd_check(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    sname, system = _system(cfg, args.config, args.system)
    lang = args.lang or cfg.site.lang
    scheme = engineer(system)
    actual: Actual | None = None
    live_line = ""
    if args.live:
        if not args.user:
            raise CliError("--live needs --user (a user of the site's controller)")
        actual = read_live(args, sname, list(scheme.relays))
        live_line = say("settings read from {url}: {n} of {total} relays", url=args.url,
                        n=sum(1 for v in actual.values() if v), total=len(scheme.relays))
    problems = check(system, actual, scheme)
    print(render(sname, system, scheme, problems, lang, live_line))
    return 1 if any(p.severity == ERROR for p in problems) else 0


# ------------------------------------------------------------------------------------------
# the text
# ------------------------------------------------------------------------------------------
def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _group(g: int, grp: Group) -> str:
    fast = say("on after {ms} ms", ms=grp.fast_delay_ms) if grp.fast_enabled else say("off")
    inst = f"{grp.inst_pickup_a} A" if grp.inst_enabled else say("off")
    return say("group {group}: pickup {pickup} A, fast stage {fast}, backup {backup} A "
               "after {delay} ms, instantaneous {inst}, breaker failure {bf} ms", group=g,
               pickup=grp.pickup_a, fast=fast, backup=grp.backup_pickup_a,
               delay=grp.backup_delay_ms, inst=inst, bf=grp.bf_delay_ms)


def _blocked(r: Relay) -> str:
    if r.normally_open:
        return say("blocked by: none (normally open: fast stage off, backup graded above "
                   "both sides)")
    if not r.block_sources:
        return say("blocked by: nothing below it (its fast stage trips unblocked)")
    return say("blocked by: {sources}", sources=", ".join(
        f"{s} [{lk}]" for s, lk in zip(r.block_sources, r.links, strict=True)))


def render(sname: str, system: PowerSystem, scheme: Scheme, problems: list[Problem],
           lang: str = "en", live: str = "") -> str:
    """The report: the scheme per breaker from the top level down, then the problems."""
    t = lambda text: translate(text, lang)  # noqa: E731
    title = (system.name_zh if lang == "zh_CN" else "") or system.name or sname
    out = [t(say("Protection scheme of {system} ({title}): {n} relays, {links} blocking "
                 "links", system=sname, title=title, n=len(scheme.relays),
                 links=len(system.network.links)))]
    if live:
        out.append(t(live))
    for b, r in sorted(scheme.relays.items(), key=lambda x: (x[1].level, x[0])):
        out += ["", t(say("{breaker} (relay {relay}): level {level}, load up to {load:.0f} A, "
                          "least fault at the far end of its zone {fault:.0f} A", breaker=b,
                          relay=r.relay_no, level=r.level, load=r.load_a,
                          fault=r.fault_min_a)),
                "  " + t(_blocked(r))]
        out += ["  " + t(_group(g, grp)) for g, grp in sorted(r.groups.items())]
    errors = [p for p in problems if p.severity == ERROR]
    out += ["", t(say("{n} problems: {errors} errors, {warnings} warnings", n=len(problems),
                      errors=len(errors), warnings=len(problems) - len(errors)))
            if problems else t(say("no problems: every fault is cleared by its nearest "
                                   "breaker with healthy links"))]
    word = {ERROR: t(say("ERROR")), "warning": t(say("warning"))}
    pad = max((_width(w) for w in word.values()), default=0)
    for p in sorted(problems, key=lambda p: (p.severity != ERROR, p.where)):
        w = word.get(p.severity, p.severity)
        out.append(f"  {w}{' ' * (pad - _width(w))}  {p.where}: {t(p.message)}")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# --live: the relays' settings as a running controller reads them
# ------------------------------------------------------------------------------------------
def read_live(args: argparse.Namespace, sname: str, breakers: list[str]) -> Actual:
    """Each relay's settings as the controller at ``args.url`` holds them (good values
    only: a relay that does not answer the controller reads as not read)."""
    import getpass

    password = os.environ.get("FIXEDSITE_PASSWORD") or getpass.getpass(
        f"password for {args.user}: ")
    pki = args.pki or Path.home() / ".local" / "share" / "fixedsite" / "console"
    return asyncio.run(_read(args.url, args.user, password, pki, sname, breakers, args.wait))


async def _read(url: str, user: str, password: str, pki: Path, sname: str,
                breakers: list[str], wait_s: float) -> Actual:
    from fixedsite.console.client import SiteClient

    client = SiteClient(url, user, password, pki)
    changed = asyncio.Event()
    client.on_change = changed.set
    paths = [f"{sname}.{b}.{s}" for b in breakers for s in SETTINGS]
    try:
        try:
            await client.connect()
        except Exception as e:
            logging.getLogger(__name__).info("cannot connect to %s", url, exc_info=True)
            raise CliError(f"{url}: cannot read the relays' settings as {user}: "
                           f"{' '.join(str(e).split()) or type(e).__name__}") from None
        end = time.monotonic() + wait_s
        while not all(p in client.values and client.values[p].trusted for p in paths):
            left = end - time.monotonic()
            if left <= 0:
                break
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        if not any(p in client.values for p in paths):
            raise CliError(f"{url}: the controller serves no settings of system {sname!r}")
        out: dict[str, dict[str, float | int | bool | None]] = {}
        for b in breakers:
            got = {s: client.values.get(f"{sname}.{b}.{s}") for s in SETTINGS}
            out[b] = {s: v.value for s, v in got.items() if v is not None and v.trusted}
        return out
    finally:
        with contextlib.suppress(Exception):
            await client.close()


TEXTS: dict[str, str] = {
    "settings read from {url}: {n} of {total} relays":
        "整定值读自 {url}：{n}/{total} 台保护装置",
    "on after {ms} ms": "投入，{ms} ms 动作", "off": "退出",
    "group {group}: pickup {pickup} A, fast stage {fast}, backup {backup} A after {delay} "
    "ms, instantaneous {inst}, breaker failure {bf} ms":
        "第 {group} 组：启动电流 {pickup} A，快速段{fast}，后备段 {backup} A、{delay} ms，"
        "速断{inst}，失灵 {bf} ms",
    "blocked by: none (normally open: fast stage off, backup graded above both sides)":
        "闭锁源：无（常开：快速段退出，后备段按两侧整定）",
    "blocked by: nothing below it (its fast stage trips unblocked)":
        "闭锁源：下级无保护（快速段不受闭锁直接动作）",
    "blocked by: {sources}": "闭锁源：{sources}",
    "Protection scheme of {system} ({title}): {n} relays, {links} blocking links":
        "{system}（{title}）保护方案：{n} 台保护装置，{links} 条闭锁链路",
    "{breaker} (relay {relay}): level {level}, load up to {load:.0f} A, least fault at the "
    "far end of its zone {fault:.0f} A":
        "{breaker}（装置 {relay}）：第 {level} 级，最大负荷电流 {load:.0f} A，保护区末端最小"
        "短路电流 {fault:.0f} A",
    "{n} problems: {errors} errors, {warnings} warnings":
        "{n} 个问题：{errors} 个错误，{warnings} 个警告",
    "no problems: every fault is cleared by its nearest breaker with healthy links":
        "无问题：链路正常时每个故障均由最近的断路器切除",
    "ERROR": "错误", "warning": "警告",
}
IDS = frozenset({"url", "system"})
