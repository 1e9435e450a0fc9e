"""Site configuration: load a TOML file, validate it, refuse to start on any doubt.

Checked twice, as a safety controller must: each entry against its schema (types,
ranges, unknown keys are typos), then across entries (a pump that names an unknown PLC,
two signals on one register, a start level under its stop level). Every problem is
reported as ``FILE: key.path: what is wrong; what was expected`` and the controller does
not start with a config that has any.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    Field,
    PositiveFloat,
    ValidationError,
    create_model,
    field_validator,
)

from fixedsite import systems
from fixedsite.drivers.registry import PROTOCOLS, PlcConfig
from fixedsite.equipment import SignalDef
from fixedsite.notify.config import NotifyConfig
from fixedsite.schema import Model, SignalMap

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo-mine.toml"


SignalEntry = str | SignalMap


class ClockConfig(Model):
    scale: float = Field(default=1.0, gt=0, le=100_000)   # past it a day is under a second
    origin: str | None = None   # ISO date-time the simulated clock starts at

    @field_validator("origin")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                datetime.datetime.fromisoformat(v).timestamp()
            except (ValueError, OverflowError, OSError):
                raise ValueError(f"{v!r} is not an ISO date-time such as "
                                 "'2026-07-01T06:00'") from None
        return v

    def origin_epoch(self) -> float | None:
        """The origin as epoch seconds (local time unless the text gives a zone)."""
        return None if self.origin is None else \
            datetime.datetime.fromisoformat(self.origin).timestamp()


class ControllerConfig(Model):
    scan_period_s: PositiveFloat = 1.0
    stale_after_periods: float = Field(default=3.0, ge=1.5)
    # a sensor whose value has not changed for this long is not in working order
    # (fixedsite/availability.py): real transmitters always move a little
    sensor_stuck_after_s: float = Field(default=14400.0, ge=600.0)


class AlarmEntry(Model):
    kind: Literal["limit", "discrete", "quality", "rate"]
    tag: str
    text: str
    text_zh: str = ""       # the alarm's text on a Chinese console; the English when empty
    priority: int = Field(default=3, ge=1, le=4)
    area: str | None = None
    hh: float | None = None
    h: float | None = None
    l: float | None = None  # noqa: E741 - the ISA-18.2 name
    ll: float | None = None
    deadband: float = Field(default=0.0, ge=0)
    on_delay_s: float = Field(default=0.0, ge=0)
    off_delay_s: float = Field(default=0.0, ge=0)
    equals: bool | int | str | None = None
    after_s: PositiveFloat = 30.0
    rate_per_min: float = Field(default=0.0, ge=0)
    enable_when: str | None = None


class StorageConfig(Model):
    dir: str | None = None          # default: var/<site id>, relative to the working dir
    deadband_pct: float = Field(default=0.2, ge=0, le=50)   # of the signal's range
    max_interval_s: PositiveFloat = 300.0
    flush_s: PositiveFloat = 2.0    # wall seconds between history writes
    # samples and events held in memory while the disk refuses writes; past it the
    # oldest are dropped, counted in controller.historian.dropped and alarmed
    max_buffered: int = Field(default=500_000, ge=1000)
    keep_monitoring_days: float = Field(default=731.0, ge=730.0)  # >= 2 years
    keep_run_records_days: float = Field(default=92.0, ge=92.0)   # >= 3 months


class TariffPeriod(Model):
    name: str                                  # e.g. critical, peak, flat, valley
    price: PositiveFloat                       # CNY per kWh
    hours: list[tuple[float, float]] = Field(min_length=1)   # [start, end) in hours of day
    months: list[int] = Field(default_factory=lambda: list(range(1, 13)))  # where it applies


class TariffConfig(Model):
    source: str = ""
    periods: list[TariffPeriod] = Field(min_length=1)

    def period_at(self, hour: float, month: int) -> TariffPeriod:
        for p in self.periods:
            if month in p.months and any(a <= hour < b for a, b in p.hours):
                return p
        raise ValueError(f"no tariff period covers hour {hour} in month {month}")

    def at(self, t: float) -> TariffPeriod:
        """The period in force at epoch time ``t``, in the site's local time."""
        lt = time.localtime(t)
        return self.period_at(lt.tm_hour + lt.tm_min / 60 + lt.tm_sec / 3600, lt.tm_mon)


class UplinkConfig(Model):
    url: str = Field(pattern=r"^https?://")
    token: str = "fixedsite"
    org: str = "fixedsite"
    bucket: str = "fixedsite"
    batch: int = Field(default=5000, ge=1, le=100_000)
    # points kept on disk while the server is away (~100 bytes each); when full the oldest
    # are dropped so the newest history survives, counted and alarmed
    max_queue: int = Field(default=5_000_000, ge=1000)


class OpcUaConfig(Model):
    endpoint: str = Field(default="opc.tcp://127.0.0.1:48400/fixedsite/",
                          pattern=r"^opc\.tcp://[^/:]+:\d+(/.*)?$")
    anonymous: Literal["off", "read"] = "off"
    allow_unsecured: bool = False         # a None endpoint only when asked for, never by default
    trusted_clients_dir: str | None = None   # if set, only client certificates in it connect
    max_login_failures: int = Field(default=5, ge=1, le=100)  # in a row, per user name
    lockout_s: PositiveFloat = 900.0      # then that user is refused for this long


class InboxConfig(Model):
    """The HIL's stand-ins for the people's mail and chat (hil/inbox.py): where the
    demo's notifications arrive. Loopback only."""
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    http_port: int = Field(default=8480, ge=0, le=65535)


class SiteInfo(Model):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str
    name_zh: str = ""
    lang: Literal["zh_CN", "en"] = "zh_CN"


class SiteConfig(Model):
    site: SiteInfo
    clock: ClockConfig = ClockConfig()
    controller: ControllerConfig = ControllerConfig()
    plcs: dict[str, PlcConfig] = Field(min_length=1)
    systems: dict[str, SystemConfig]     # each by its kind's model (fixedsite/systems.py)
    hil: HilConfig = Field(default_factory=lambda: HilConfig())
    storage: StorageConfig = StorageConfig()
    alarms: list[AlarmEntry] = []
    uplink: UplinkConfig | None = None
    tariff: TariffConfig | None = None
    opcua: OpcUaConfig | None = None
    notify: NotifyConfig | None = None

    def storage_dir(self) -> Path:
        return Path(self.storage.dir or f"var/{self.site.id}")

    def signals(self) -> Iterator[Signal]:
        """Every mapped signal with its tag path, PLC and parsed address."""
        for sys_name, system in self.systems.items():
            types = systems.get(system.kind).equipment
            for eq_name, eq in system.equipment.items():
                defs = types[eq.type]
                for sig_name, entry in eq.signals.items():
                    m = entry if isinstance(entry, SignalMap) else SignalMap(address=entry)
                    proto = PROTOCOLS[self.plcs[eq.plc].protocol]
                    yield Signal(f"{sys_name}.{eq_name}.{sig_name}", eq.plc,
                                 proto.parse_address(m.address), m, defs[sig_name])


@dataclass(frozen=True, slots=True)
class Signal:
    path: str
    plc: str
    address: Any            # the PLC's protocol's own address type
    map: SignalMap
    spec: SignalDef


class ConfigError(Exception):
    """A config that must not be run; ``problems`` are (key path, message) pairs."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {k}: {m}" if k else f"{file}: {m}"
                                   for k, m in problems))


def load(path: str | Path) -> SiteConfig:
    """The config in ``path``, or ConfigError: whatever the file holds (not text, not
    UTF-8, not TOML, nested past reason), the answer is a problem list, never a crash.

    ``include = ["ventilation.toml"]`` at its top adds the tables of other files (paths
    relative to it), so a system's part can be one file used by more than one site (the
    demo and the ventilation site share ``configs/ventilation.toml``). A key set in two
    files is refused, naming both; arrays of tables (``[[hil.X]]``) are joined."""
    path = Path(path)
    name = str(path)
    raw = _read(path)
    inc = raw.pop("include", None)
    if inc is not None:
        if not isinstance(inc, list) or not all(isinstance(x, str) and x for x in inc):
            raise ConfigError(name, [("include", "expected a list of file names, relative "
                                      "to this file")])
        problems: list[tuple[str, str]] = []
        for rel in inc:
            part_path = path.parent / rel
            part = _read(part_path)
            if "include" in part:
                raise ConfigError(str(part_path), [("include", "an included file includes "
                                                    "nothing further")])
            _merge(raw, part, (), str(part_path), problems)
        if problems:
            raise ConfigError(name, problems)
    notify = raw.get("notify")
    if isinstance(notify, dict) and isinstance(notify.get("secrets_file"), str) and \
            not Path(notify["secrets_file"]).is_absolute():
        notify["secrets_file"] = str(path.parent / notify["secrets_file"])
    return parse(raw, name)


def _read(path: Path) -> dict[str, Any]:
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(name, [("", f"cannot read the file: {e.strerror}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(name, [("", f"not UTF-8 text: byte 0x{data[e.start]:02x} on line "
                                  f"{line}; a site config is a UTF-8 TOML file")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(name, [("", f"not valid TOML: {e}")]) from None
    except RecursionError:
        raise ConfigError(name, [("", "not a usable TOML file: arrays or tables nested too "
                                  "deeply")]) from None


def _merge(into: dict[str, Any], part: dict[str, Any], at: tuple[str, ...], src: str,
           problems: list[tuple[str, str]]) -> None:
    for k, v in part.items():
        mine = into.get(k)
        if k not in into:
            into[k] = v
        elif isinstance(mine, dict) and isinstance(v, dict):
            _merge(mine, v, (*at, k), src, problems)
        elif isinstance(mine, list) and isinstance(v, list) and \
                all(isinstance(x, dict) for x in (*mine, *v)):
            into[k] = [*mine, *v]
        else:
            problems.append((key_path(*at, k), f"set here and again in {src}"))


def parse(raw: dict[str, Any], name: str = "<config>") -> SiteConfig:
    _schema()
    try:
        cfg = SiteConfig.model_validate(raw)
    except ValidationError as e:
        problems = [p for err in e.errors() if (p := _pydantic_problem(err, raw)) is not None]
        # a table of a kind nobody knows is checked against no model: say only that
        unknown = [k.removesuffix("kind") for k, m in problems
                   if k.startswith("systems.") and m.startswith("unknown system kind")]
        problems = [(k, m) for k, m in problems
                    if not any(k.startswith(u) and not k.endswith(".kind") for u in unknown)]
        raise ConfigError(name, list(dict.fromkeys(problems))) from None
    except RecursionError:
        raise ConfigError(name, [("", "values nested too deeply to check")]) from None
    from fixedsite.config_checks import cross_check  # cross-entry rules live apart

    problems = cross_check(cfg)
    if problems:
        raise ConfigError(name, problems)
    return cfg


# --- the schema's system-shaped parts, from the registry ----------------------------
# [systems.X] is one model per registered kind, chosen by ``kind``; [hil] has one list
# per kind the HIL can simulate. Both are (re)built before a parse whenever the registry
# has changed (a test or an integrator may register a system at run time).
SystemConfig: Any = Model
HilConfig: Any = Model
_built_for: tuple[object, ...] | None = None


def _schema() -> None:
    global SystemConfig, HilConfig, _built_for
    specs = systems.registered()
    key = tuple((k, id(v)) for k, v in specs.items())  # a kind re-registered: rebuild
    if _built_for == key:
        return
    models = tuple(s.config for s in specs.values())
    if not models:
        SystemConfig = _NoSystem
    elif len(models) == 1:
        SystemConfig = models[0]
    else:
        SystemConfig = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
    HilConfig = create_model("HilConfig", __base__=Model, inbox=(InboxConfig | None, None),
                             **{s.kind: (list[s.hil], []) for s in specs.values()
                                if s.hil is not None})
    # the fields were resolved when the class was made: point them at the new models
    fields = SiteConfig.model_fields
    fields["systems"].annotation = dict[str, SystemConfig]  # type: ignore[valid-type]
    fields["hil"].annotation = HilConfig
    SiteConfig.model_rebuild(force=True)
    _built_for = key


class _NoSystem(Model):
    """Stands in while no system is installed: every [systems.X] is refused by kind."""

    kind: Literal["(no system is installed)"]


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key_path(*parts: object) -> str:
    """A key path as TOML would write it: a part that is not a bare key is quoted, so a
    name with a dot in it is not read as two keys."""
    return ".".join(str(p) if _PLAIN_KEY.match(str(p)) else json.dumps(str(p),
                                                                         ensure_ascii=False)
                    for p in parts)


def _raw_system(raw: Any, name: object) -> dict[str, Any] | None:
    """[systems.<name>] as the file had it, if it is a table."""
    tables = raw.get("systems") if isinstance(raw, dict) else None
    table = tables.get(name) if isinstance(tables, dict) and isinstance(name, str) else None
    return table if isinstance(table, dict) else None


def _pydantic_problem(err: Any, raw: dict[str, Any]) -> tuple[str, str] | None:
    loc = list(err["loc"])
    # a discriminated union puts the tag into the path: equipment.pump1.pump.x,
    # plcs.drain1.modbus.port, systems.drainage.drainage.control
    kinds, types = systems.registered(), set(systems.equipment_types())
    loc = [p for i, p in enumerate(loc)
           if not (p in types and i >= 2 and loc[i - 2] == "equipment")
           and not (p in PROTOCOLS and i == 2 and loc[0] == "plcs")
           and not (p in kinds and i == 2 and loc[0] == "systems")]
    if len(loc) >= 2 and loc[0] == "systems" and (
            (err["type"] in ("union_tag_invalid", "union_tag_not_found") and len(loc) == 2)
            or (err["type"] in ("literal_error", "missing") and loc[2:] == ["kind"])):
        table = _raw_system(raw, loc[1])
        got = table.get("kind") if table is not None else None
        what = "missing; this key is required" if got is None else \
            f"unknown system kind {got!r}"
        failed = "".join(f"; installed but not loadable: {n} ({why})"
                         for n, why in systems.broken.items())
        return key_path(*loc[:2], "kind"), f"{what}; expected one of: " \
            f"{', '.join(sorted(kinds)) or '(no system is installed)'}{failed}"
    # a signal is "address" or { address = ... }: pydantic answers for both members of
    # the union; keep the one the input meant (a table is a SignalMap), or one plain word
    for i in range(2, len(loc)):
        if loc[i - 2] == "signals" and loc[i] in ("str", "SignalMap"):
            got = err.get("input")
            if loc[i] == "str" and not isinstance(got, dict) and len(loc) == i + 1:
                return key_path(*loc[:i]), "expected an address such as 'hr:100' or a " \
                    f"table {{ address = ..., scale = ... }} (got {got!r})"
            if loc[i] == "str" or len(loc) == i + 1:
                return None
            loc = loc[:i] + loc[i + 1:]
            break
    key = key_path(*loc)
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return key, "unknown key (misspelt, or not valid here)"
    if kind == "missing":
        return key, "missing; this key is required"
    if kind in ("union_tag_invalid", "union_tag_not_found") and loc[:1] == ["plcs"]:
        got = err["input"].get("protocol") if isinstance(err["input"], dict) else None
        what = f"unknown protocol {got!r}" if kind == "union_tag_invalid" else \
            "missing; this key is required"
        return key_path(*loc, "protocol"), f"{what}; expected one of: " \
            f"{', '.join(sorted(PROTOCOLS))}"
    if kind == "union_tag_invalid":
        table = _raw_system(raw, loc[1]) if loc[:1] == ["systems"] else None
        got_kind = table.get("kind") if table is not None else None
        spec = kinds.get(got_kind) if isinstance(got_kind, str) else None
        known = sorted(spec.equipment if spec is not None else types)
        return key, f"unknown equipment type {err['input'].get('type')!r}; expected one " \
                    f"of: {', '.join(known)}"
    got = err.get("input")
    if not isinstance(got, dict | list):
        msg += f" (got {got!r})"
    return key, msg
