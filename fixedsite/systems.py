"""The system registry: what the core asks of a kind of plant, so that it never names one.

A system (drainage, ventilation, power, compressed air, hoist, or a test's toy) is one
``SystemSpec``. The core finds the installed ones through the ``fixedsite.systems`` entry
point group (``pyproject.toml``), and a test or an integrator may ``register`` one more at
run time. Config, checks, runtime and alarms take everything system-shaped from here:
the model of ``[systems.X]`` (chosen by ``kind``), its equipment types and their signals,
its cross-entry checks, the tags the controller publishes for it, its built-in alarms and
how its sequences and controls are built into a controller.

The parts that are loaded late (``build``) are named as ``"module:function"`` and imported
when a controller is made, so reading a config loads no sequence code.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

from fixedsite.equipment import Enumeration, SignalDef
from fixedsite.schema import Model

log = logging.getLogger(__name__)

Problems = list[tuple[str, str]]
GROUP = "fixedsite.systems"


class BuildError(RuntimeError):
    """A system's plug-in raised while the controller built it: which system, and why.
    Nothing of the controller runs; the command that made it says so in one line."""


@dataclass(frozen=True)
class CommandArg:
    """One typed argument of an equipment command, as a foreign client reads it."""

    name: str
    type: Literal["string", "double", "bool"]
    description: str                   # with an example value
    choices: tuple[str, ...] = ()      # a string argument that takes only these


@dataclass(frozen=True)
class CommandSpec:
    """A command an equipment type takes: the gate's action, the least role that may give
    it, and how it is offered (OPC UA method name, description, arguments)."""

    method: str                        # "Start"
    action: str                        # "start", as the gate and the audit log know it
    role: str                          # users.ROLES
    description: str
    args: tuple[CommandArg, ...] = ()


@dataclass(frozen=True)
class SystemSpec:
    kind: str                                        # the value of ``kind`` in [systems.X]
    config: type[Model]                              # that table's model
    # equipment type -> its signals by name (the table's equipment carry ``type``)
    equipment: Mapping[str, Mapping[str, SignalDef]]
    # "module:function" of the builder: (BuildContext, name, system config) -> the built
    # system, whatever the system's own code keeps (the controller holds it in ``systems``)
    build: str
    # equipment type -> the commands its sequence takes (through the gate, over OPC UA)
    commands: Mapping[str, tuple[CommandSpec, ...]] = field(default_factory=dict)
    # problems of one system's table across its entries: (key path, message)
    check: Callable[[Any, str, Any], Problems] = lambda cfg, name, system: []
    # problems across every system of this kind (a relay between rooms, HIL units)
    check_site: Callable[[Any], Problems] = lambda cfg: []
    # tags the controller publishes for one system (not read from a PLC): path -> kind
    published: Callable[[str, Any], Mapping[str, str]] = lambda name, system: {}
    # what else of a system a client should know by kind, beside its equipment (a fan
    # station, a working face): id -> kind, served by site.Kinds
    objects: Callable[[str, Any], Mapping[str, str]] = lambda name, system: {}
    # engineering ranges of published tags: path -> (low, high, key path of the range),
    # given those of the mapped signals
    ranges: Callable[[str, Any, Mapping[str, tuple[float, float, str]]],
                     Mapping[str, tuple[float, float, str]]] = lambda name, system, mapped: {}
    # the built-in alarms of one system (fixedsite.alarms.model.AlarmDef)
    alarms: Callable[[Any, str, Any], list[Any]] = lambda cfg, name, system: []
    # "module:function" run once after every system is built: (BuildContext, [built]) of
    # this kind, for what ties systems of a kind together (rooms in relay)
    link: str | None = None
    # equipment type -> its signals served as words (a mode, a sequence's state)
    enums: Mapping[str, Mapping[str, Enumeration]] = field(default_factory=dict)
    # sub-folders the controller publishes under a system ("control": "level control")
    folders: Mapping[str, str] = field(default_factory=dict)
    # texts for people this kind composes with fixedsite.texts.say: English -> Chinese,
    # and the placeholders among them that hold ids (never translated)
    texts: Mapping[str, str] = field(default_factory=dict)
    text_ids: frozenset[str] = frozenset()
    # "module:function": (controller, name, system config) -> lines of the plain-text status
    status: str | None = None
    # "module:function": (site config, name, system config, the month's events, t0, t1) ->
    # its lines of the monthly report (changeovers, drills, tests: what its sequences kept
    # as historian events); the machines' counters are the report's own rows
    report: str | None = None
    # "module:attribute" of its console view (fixedsite.console.screens.ScreenSpec)
    console: str | None = None
    # where its view comes among the console's number keys (lower first; ties by kind):
    # an operator's muscle memory must not move when another system is installed
    console_order: int = 100
    # "module:function": (argparse subparsers) -> None, adds this kind's own verbs, each
    # with ``set_defaults(run=function(args) -> exit code)``
    cli: str | None = None
    # the model of one [[hil.<kind>]] entry, if the HIL can simulate this kind (at least
    # ``system`` and ``plc``), and "module:attribute" of its fixedsite.hil.unit.HilKind:
    # its faults, its items and how its units are built (loaded only when a HIL runs)
    hil: type[Model] | None = None
    hil_kind: str | None = None

    def load(self, ref: str) -> Callable[..., Any]:
        module, _, func = ref.partition(":")
        fn: Callable[..., Any] = getattr(importlib.import_module(module), func)
        return fn


ScanStep = tuple[str, Callable[[], Awaitable[None]], list[Any]]


@dataclass
class BuildContext:
    """What a system's builder gets from the controller: the shared parts to wire its
    sequences to, and the places to put what it makes (its scan steps, the sequences
    commands are addressed to, what to do when the controller starts)."""

    cfg: Any                     # SiteConfig
    store: Any                   # TagStore
    clock: Any                   # Clock
    writer: Any                  # the Writer that routes a signal to its PLC's driver
    gate: Any                    # CommandGate
    log: logging.Logger
    group: str = ""              # the system being built: its steps scan in its own task
    groups: dict[str, list[ScanStep]] = field(default_factory=dict)
    sequences: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, tuple[CommandSpec, ...]] = field(default_factory=dict)
    starts: list[Callable[[Any], None]] = field(default_factory=list)

    def scan(self, name: str, step: Callable[[], Awaitable[None]], fed: list[Any]) -> None:
        """A part of the scan, run in order with the other parts of its system: it fails
        alone, and the tags it feeds go bad if it raises or hangs."""
        self.groups.setdefault(self.group, []).append((name, step, fed))

    def sequence(self, path: str, seq: Any, handler: Any, commands: tuple[CommandSpec, ...],
                 step: Callable[[], Awaitable[None]], fed: list[Any]) -> None:
        """An equipment's sequence: ``commands`` to ``path`` go to ``handler`` through the
        gate (each needing its role), and ``step`` is its part of the scan."""
        self.sequences[path] = seq
        self.commands[path] = commands
        self.gate.register(path, handler, {c.action: c.role for c in commands})
        self.scan(path, step, fed)

    def on_start(self, fn: Callable[[Any], None]) -> None:
        """Run when the controller starts, with its historian (or None)."""
        self.starts.append(fn)


_registry: dict[str, SystemSpec] = {}
broken: dict[str, str] = {}        # entry point name -> why it did not load
_loaded = False
_listeners: list[Callable[[], None]] = []


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=GROUP):
        # a plug-in that cannot load is not dropped in silence: the config's "unknown
        # system kind" names it and why (``broken``), and the log has the traceback
        try:
            spec = ep.load()
            _check(spec, f"entry point {ep.name} = {ep.value}")
        except Exception as e:
            log.exception("system plug-in %s (%s) does not load", ep.name, ep.value)
            broken[ep.name] = f"{type(e).__name__}: {e}"
            continue
        _registry.setdefault(spec.kind, spec)


def _check(spec: object, where: str) -> None:
    """A spec the registry can use: a SystemSpec whose config model pydantic can build."""
    if not isinstance(spec, SystemSpec):
        raise TypeError(f"{where} is not a SystemSpec")
    try:
        spec.config.model_rebuild()
    except Exception as e:
        raise TypeError(f"system {spec.kind!r}: its config model "
                        f"{spec.config.__name__} cannot be built: {e}") from e
    from fixedsite.users import ROLES  # a typo would make every such command an error

    bad = sorted({c.role for cmds in spec.commands.values() for c in cmds} - set(ROLES))
    if bad:
        raise TypeError(f"system {spec.kind!r}: commands need roles {bad} that do not "
                        f"exist; roles are {', '.join(ROLES)}")
    if spec.hil is not None and not {"system", "plc"} <= set(spec.hil.model_fields):
        raise TypeError(f"system {spec.kind!r}: its HIL model {spec.hil.__name__} lacks "
                        "system or plc (every simulated plant names both)")


def optional(spec: SystemSpec, ref: str | None, what: str) -> Any:
    """A part of a plug-in that only one verb or screen needs (its CLI verbs, its console
    view, its status lines): loaded on its own, so that one that does not load costs only
    itself, logged, and not every other verb, screen or system."""
    if ref is None:
        return None
    try:
        return spec.load(ref)
    except Exception:
        log.exception("system %s: its %s (%s) does not load; left out", spec.kind, what, ref)
        return None


def registered() -> Mapping[str, SystemSpec]:
    """Every system this installation knows, by kind."""
    _discover()
    return _registry


def get(kind: str) -> SystemSpec:
    return registered()[kind]


def register(spec: SystemSpec) -> None:
    """Add a system at run time (a test's toy, an integrator's plant); the config schema
    is rebuilt to accept its tables."""
    _discover()
    _check(spec, f"system {getattr(spec, 'kind', spec)!r}")
    _registry[spec.kind] = spec
    for fn in _listeners:
        fn()


def unregister(kind: str) -> None:
    _registry.pop(kind, None)
    for fn in _listeners:
        fn()


def on_change(fn: Callable[[], None]) -> None:
    _listeners.append(fn)


def equipment_types() -> Iterator[str]:
    for spec in registered().values():
        yield from spec.equipment
