"""The ``[notify]`` section: channels, people, the on-call rota, routes and escalation.

Channels are apprise URLs (https://github.com/caronc/apprise/wiki): DingTalk, WeCom and
Feishu group robots, e-mail, an SMS gateway's HTTP API, a generic webhook. A URL holds no
secret: a password or robot token is written ``{secret:NAME}`` and read at start from the
environment (``FIXEDSITE_SECRET_NAME``) or from ``secrets_file`` (a TOML table of
``NAME = "value"``, readable by the controller's account only). A personal channel (its
URL has ``{to}``) sends to each person's own address for it; a group channel (a robot in
the pump-room group) sends one message that names the person it is for.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from fixedsite.schema import Model

SECRET = re.compile(r"\{secret:([A-Za-z][A-Za-z0-9_]*)\}")
# robots whose URL path is the credential itself: the token must be a {secret:...}
TOKEN_IN_PATH = frozenset({"dingtalk", "wecombot", "feishu", "lark"})
ROLES = ("duty", "backup", "leader", "dispatcher")
# a query parameter or an apprise header (+Name=, -Name=) that carries a credential
SECRET_KEY = re.compile(r"(?i)(token|secret|pass|key|auth|sign)")


class Channel(Model):
    url: str = Field(min_length=4)
    name_zh: str = ""
    failing_after: PositiveInt = 3        # failed attempts in a row: its alarm raised
    timeout_s: PositiveFloat = 10.0       # one attempt, wall seconds
    retry_s: PositiveFloat = 5.0          # first retry; doubles up to retry_max_s
    retry_max_s: PositiveFloat = 120.0

    @property
    def personal(self) -> bool:
        return "{to}" in self.url


class Person(Model):
    name: str
    name_zh: str = ""
    lang: Literal["zh_CN", "en"] | None = None   # default: the site's
    contacts: dict[str, str] = {}                # channel -> this person's address on it


class Shift(Model):
    """Who answers when: ``start``-``end`` in hours of the day (end may pass midnight)."""
    shift: str
    start: float = Field(ge=0, lt=24)
    end: float = Field(gt=0, le=24)
    weekdays: list[int] = Field(default_factory=lambda: list(range(1, 8)))  # ISO 1 = Mon
    duty: list[str] = Field(min_length=1)
    backup: str | None = None
    leader: str | None = None


class Route(Model):
    """Which alarms go where: an alarm matches when every given filter matches."""
    areas: list[str] = []            # the alarm's area (empty: any)
    systems: list[str] = []          # the system its id starts with (empty: any)
    priorities: list[int] = Field(default_factory=lambda: [1, 2])
    channels: list[str] = Field(min_length=1)
    fallback: str | None = None      # for P1, when a channel of the route is failing
    escalate: bool = True


class Escalation(Model):
    """Unacknowledged ``after_min[i]`` minutes after the first message: ``chain[i]`` is
    told too (each step adds people, nobody is dropped)."""
    chain: list[Literal["backup", "leader", "dispatcher"]] = \
        Field(default_factory=lambda: ["backup", "leader", "dispatcher"])
    after_min: list[PositiveFloat] = Field(default_factory=lambda: [5.0, 10.0, 20.0])

    @model_validator(mode="after")
    def _same_length(self) -> Escalation:
        if len(self.chain) != len(self.after_min):
            raise ValueError(f"chain has {len(self.chain)} steps and after_min "
                             f"{len(self.after_min)}; expected one time per step")
        if list(self.after_min) != sorted(self.after_min):
            raise ValueError("after_min must rise step by step")
        return self


class Flood(Model):
    """ISA-18.2: more than ``count`` annunciations in ``window_min`` is a flood; then one
    digest per window, not a message per alarm."""
    count: PositiveInt = 10
    window_min: PositiveFloat = 10.0
    gather_s: float = Field(default=60.0, ge=0)   # a burst goes out as one digest


class AckEndpoint(Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=0, le=65535)    # 0: any free port (tests)
    public_url: str = Field(default="http://127.0.0.1:8470", pattern=r"^https?://")
    link_ttl_h: PositiveFloat = 24.0


class NotifyConfig(Model):
    secrets_file: str | None = None
    # the rota's hours are the mine's local time: an IANA zone (e.g. "Asia/Shanghai"),
    # so a controller on a host left in UTC still pages the shift that is on
    timezone: str | None = None
    channels: dict[str, Channel] = Field(min_length=1)
    people: dict[str, Person] = Field(min_length=1)
    rota: list[Shift] = Field(min_length=1)
    dispatcher: str
    routes: list[Route] = Field(min_length=1)
    escalation: Escalation = Escalation()
    flood: Flood = Flood()
    ack: AckEndpoint = AckEndpoint()
    late_after_s: PositiveFloat = 300.0   # delivered later than this after the alarm: late


def problems(n: NotifyConfig, base: Path | None = None) -> list[tuple[str, str]]:
    """Rules across the section: every name refers to something, every secret exists."""
    out: list[tuple[str, str]] = []
    for cname, ch in n.channels.items():
        if cname == "record" or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", cname):
            out.append((f"notify.channels.{cname}", "a channel's name is part of its tags "
                        "(notify.<name>.ok): letters, digits, _ and -, not 'record'"))
        out += [(f"notify.channels.{cname}.url", why) for why in _url_problems(ch.url)]
        for name in SECRET.findall(ch.url):
            if secret(n, name, base) is None:
                out.append((f"notify.channels.{cname}.url",
                            f"secret {name!r} is neither in the environment "
                            f"({env_name(name)}) nor in secrets_file"))
    people = set(n.people)
    for pname, p in n.people.items():
        for cname in p.contacts:
            if cname not in n.channels:
                out.append((f"notify.people.{pname}.contacts.{cname}",
                            f"no channel {cname!r}; expected one of {sorted(n.channels)}"))
    for i, s in enumerate(n.rota):
        for role in ("duty", "backup", "leader"):
            names = getattr(s, role)
            for who in names if isinstance(names, list) else [names] if names else []:
                if who not in people:
                    out.append((f"notify.rota[{i}].{role}", f"no person {who!r}; expected "
                                f"one of {sorted(people)}"))
        if s.start == s.end:
            out.append((f"notify.rota[{i}]", "start and end are the same hour"))
        if any(not 1 <= d <= 7 for d in s.weekdays):
            out.append((f"notify.rota[{i}].weekdays", "expected ISO weekdays 1 (Mon) .. 7"))
    if n.dispatcher not in people:
        out.append(("notify.dispatcher", f"no person {n.dispatcher!r}"))
    for i, r in enumerate(n.routes):
        for cname in [*r.channels, *([r.fallback] if r.fallback else [])]:
            if cname not in n.channels:
                out.append((f"notify.routes[{i}]", f"no channel {cname!r}; expected one "
                            f"of {sorted(n.channels)}"))
        if any(not 1 <= p <= 4 for p in r.priorities):
            out.append((f"notify.routes[{i}].priorities", "expected priorities 1 .. 4"))
    for minute in range(0, 24 * 60 * 7, 5):
        day, m = minute // 1440 + 1, minute % 1440
        if not on_duty(n, day, m / 60 + 1e-6):
            out.append(("notify.rota", f"nobody on duty on weekday {day} at "
                        f"{m // 60:02d}:{m % 60:02d}; expected the shifts to cover every "
                        "minute of the week"))
            break
    if n.timezone is not None:
        try:
            zone(n)
        except Exception:
            out.append(("notify.timezone", f"{n.timezone!r} is no IANA time zone; expected "
                        "e.g. 'Asia/Shanghai'"))
    for i, r in enumerate(n.routes):        # every rostered person reachable by the route
        personal = [c for c in r.channels if n.channels[c].personal] \
            if all(c in n.channels for c in r.channels) else []
        if len(personal) < len(r.channels):
            continue                         # a group channel reaches the room anyway
        rostered = {w for s in n.rota for w in [*s.duty, s.backup, s.leader] if w} | \
            {n.dispatcher}
        for who in sorted(rostered & people):
            if not any(c in n.people[who].contacts for c in personal):
                out.append((f"notify.people.{who}.contacts", f"no address on any of "
                            f"route {i}'s channels ({', '.join(personal)}): {who} would "
                            "never be told"))
    return out


def _url_problems(url: str) -> list[str]:
    shown = SECRET.sub("fsxsecret", url).replace("{to}", "x")
    parts = urlsplit(shown)
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        return [f"{url!r} is no apprise URL; expected e.g. 'mailto://...', "
                "'dingtalk://{secret:NAME}@{secret:NAME}/'"]
    if parts.password and parts.password != "fsxsecret":
        return ["a password is written in the URL; write {secret:NAME} and keep the value "
                "in the environment or the secrets file"]
    for key, value in parse_qsl(parts.query):
        if SECRET_KEY.search(key.lstrip("+-")) and value != "fsxsecret":
            return [f"{key!r} in the URL holds a secret; write {{secret:NAME}} as its value"]
    if scheme in TOKEN_IN_PATH and (parts.hostname != "fsxsecret" or (
            parts.username and parts.username != "fsxsecret")):
        return [f"the {scheme} robot's token (or secret) is written in the URL; write "
                "{secret:NAME} in its place"]
    import logging

    import apprise

    logger = logging.getLogger("apprise")       # {to} stands in as 'x': no warning for it
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        plugin = apprise.Apprise.instantiate(shown, suppress_exceptions=True)
    finally:
        logger.setLevel(level)
    if plugin is None:
        return [f"apprise cannot use {SECRET.sub('{secret}', url)!r}; see the apprise "
                "wiki for the channel's URL form"]
    return []


def env_name(name: str) -> str:
    return f"FIXEDSITE_SECRET_{name.upper()}"


def secret(n: NotifyConfig, name: str, base: Path | None = None) -> str | None:
    value = os.environ.get(env_name(name))
    if value:
        return value
    if n.secrets_file:
        path = Path(n.secrets_file)
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            table = tomllib.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        v = table.get(name)
        return v if isinstance(v, str) and v else None
    return None


def resolve(n: NotifyConfig, url: str, base: Path | None = None) -> str:
    """The URL with its secrets filled in (only ever in memory, never logged), each
    escaped, so a password with '#', '/' or '@' in it stays one value of the URL."""
    def fill(m: re.Match[str]) -> str:
        v = secret(n, m.group(1), base)
        if v is None:
            raise KeyError(f"secret {m.group(1)!r} not found ({env_name(m.group(1))})")
        return quote(v, safe="")
    return SECRET.sub(fill, url)


def on_duty(n: NotifyConfig, weekday: int, hour: float) -> Shift | None:
    """The shift in force; a shift past midnight belongs to the day it started."""
    for s in n.rota:
        if s.start < s.end:
            if weekday in s.weekdays and s.start <= hour < s.end:
                return s
        elif (weekday in s.weekdays and hour >= s.start) or \
                ((weekday - 2) % 7 + 1 in s.weekdays and hour < s.end):
            return s
    return None


def zone(n: NotifyConfig) -> ZoneInfo | None:
    """The rota's time zone; None: the host's local time."""
    return ZoneInfo(n.timezone) if n.timezone else None
