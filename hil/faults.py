"""The faults a test engineer can inject into a running HIL, resolved against the config.

A fault is named as the test engineer reads it in the config (``pump1``, ``valve2``,
``lt1``, ``drain1``, ``drainage``), never by a PLC's internal numbering. A request is
resolved here first (``parse``: unknown equipment, unknown fault or a bad value is refused
with a reason), so a scenario file is checked before anything starts by the same code
that checks a request from another shell.

Two faults belong to every simulated PLC and live here: ``link`` (its server stops or
comes back) and ``heartbeat-deaf``. The rest come from the kinds of plant the config
simulates (``fixedsite.hil.unit.HilKind.faults``, e.g. drainage's ``pump-trip``), each
aimed at the item kinds that plant has (``pump``, ``valve``, ``sensor``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fixedsite.config import SiteConfig

Taken = dict[str, Any]          # what a fault's arguments set on the Injection


class InjectError(ValueError):
    """A request that cannot be applied: the message says why, in one line; ``key`` says
    which part of the request is wrong (inject, target or args)."""

    def __init__(self, message: str, key: str = "args") -> None:
        super().__init__(message)
        self.key = key


# --- what follows the target -----------------------------------------------------------
def switch(args: Sequence[object], words: tuple[str, str] = ("on", "off"),
           default: bool | None = True) -> bool:
    if not args:
        if default is None:
            raise InjectError(f"say {words[0]} or {words[1]}")
        return default
    if len(args) > 1 or str(args[0]).lower() not in words:
        raise InjectError(f"expected {words[0]} or {words[1]}, got "
                          f"{' '.join(map(str, args))!r}")
    return str(args[0]).lower() == words[0]


def number(value: object, what: str, lo: float, hi: float) -> float:
    try:
        x = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        x = math.nan
    if not math.isfinite(x) or not lo <= x <= hi:
        raise InjectError(f"{what}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return x


def on_off(args: Sequence[object]) -> Taken:
    return {"on": switch(args)}


@dataclass(frozen=True)
class Injection:
    """A fault resolved against the config: which HIL unit, which item in it, what value."""

    fault: str
    unit: int                 # index into HilSite.units
    item: int                 # index among the unit's items of the fault's kind; -1 for a
    target: str               # system or PLC. As the config names it: "drainage.pump1"
    on: bool = True
    number: float = 0.0       # e.g. a drift in m/h, a surge in m3/h
    duration_s: float = 0.0
    what: str = ""            # one line saying what was done: answer, status, log

    def describe(self) -> str:
        return self.what


@dataclass(frozen=True)
class Fault:
    """One fault as ``--list`` shows it and ``parse`` takes it."""

    kind: str                 # what the target names: "system", "plc", or an item kind
    args: str                 # what follows the target, as --list shows it
    help: str
    word: str = ""            # an on/off fault's word in its answer: "trip on"
    take: Callable[[Sequence[object]], Taken] = on_off
    tell: Callable[[Injection], str] | None = None    # the answer, where not word on/off

    def describe(self, inj: Injection) -> str:
        if self.tell is not None:
            return self.tell(inj)
        return f"{inj.target}: {self.word} {'on' if inj.on else 'off'}"


# every simulated PLC has these, whatever plant is behind it
CORE: dict[str, Fault] = {
    "link": Fault("plc", "down|up", "the PLC's server (Modbus or S7) stops (connections "
                  "refused, open ones dropped) or comes back",
                  take=lambda a: {"on": switch(a, ("up", "down"), None)},
                  tell=lambda i: f"{i.target}: link {'down' if not i.on else 'up'}"),
    "heartbeat-deaf": Fault("plc", "[on|off]", "the PLC stops seeing the controller's "
                            "heartbeat while the link stays up", word="heartbeat deaf"),
}
CORE_WORDS = {"system": "system", "plc": "PLC"}


@dataclass(frozen=True)
class UnitItems:
    """A HIL unit as the config names it: its system, its PLC, its kind of plant and its
    items by kind (``{"pump": ["pump1", ...]}``), each in the PLC's order."""

    kind: str
    system: str
    plc: str
    items: Mapping[str, list[str]]


def units(cfg: SiteConfig) -> list[UnitItems]:
    """Every unit the HIL builds for ``cfg``, in its order, from the config alone."""
    return _table(cfg)[0]


def _table(cfg: SiteConfig) -> tuple[list[UnitItems], dict[str, dict[str, Fault]],
                                     dict[str, Mapping[str, str]]]:
    """The units; for each fault name, the Fault each kind declares under it ("*": the
    PLC's own, for every unit); each kind's words. Two kinds may both have a ``local``
    (a pump's, a fan's): each hits only its own kind's units."""
    from fixedsite.hil.unit import HilKindError, kinds

    declared = kinds(cfg)
    all_units = [UnitItems(kind, e.system, e.plc, hk.items(cfg, e))
                 for kind, hk, entries in declared for e in entries]
    table: dict[str, dict[str, Fault]] = {name: {"*": f} for name, f in CORE.items()}
    for kind, hk, _ in declared:
        for name, f in hk.faults.items():
            if name in CORE:
                raise HilKindError(f"hil.{kind}: its fault {name!r} is one every PLC has "
                                   "already; give it another name")
            table.setdefault(name, {})[kind] = f
    return all_units, table, {kind: hk.words for kind, hk, _ in declared}


def faults(cfg: SiteConfig) -> dict[str, Fault]:
    """Every fault name the HIL of ``cfg`` takes (the PLC's own first), each with the
    first kind's declaration (``variants`` has them all)."""
    return {name: next(iter(by.values())) for name, by in _table(cfg)[1].items()}


def variants(cfg: SiteConfig) -> dict[str, dict[str, Fault]]:
    """Each fault name with its declaration per kind ("*": every PLC's)."""
    return _table(cfg)[1]


def _names(all_units: list[UnitItems], kind: str) -> list[str]:
    if kind == "system":
        return list(dict.fromkeys(u.system for u in all_units))
    if kind == "plc":
        return [u.plc for u in all_units]
    return [f"{u.system}.{n}" for u in all_units for n in u.items.get(kind, [])]


def targets(cfg: SiteConfig) -> dict[str, list[str]]:
    """Every name each kind of target can be, as ``--list`` shows them."""
    all_units = units(cfg)
    kinds = list(dict.fromkeys(k for u in all_units for k in u.items))
    return {k: _names(all_units, k) for k in [*kinds, "system", "plc"]}


def _matches(hit: list[tuple[int, UnitItems]], kind: str, target: str
             ) -> list[tuple[int, int, str]]:
    """(unit, item, canonical name) of every unit in ``hit`` that ``target`` names; a
    system or PLC is its first unit (a system's faces share its name)."""
    if kind in ("system", "plc"):
        for i, u in hit:
            if target == (u.system if kind == "system" else u.plc):
                return [(i, -1, target)]
        return []
    system, _, name = target.rpartition(".")
    out = []
    for i, u in hit:
        items = u.items.get(kind, [])
        if system in ("", u.system) and name in items:
            out.append((i, items.index(name), f"{u.system}.{name}"))
    return out


def parse(cfg: SiteConfig, fault: object, target: object,
          args: Sequence[object] = ()) -> Injection:
    """A request checked against the config, or InjectError saying what is wrong. A bare
    equipment name is taken when only one system has it (the demo's two rooms both have
    a pump1: say which)."""
    all_units, table, words = _table(cfg)
    if not isinstance(fault, str) or fault not in table:
        raise InjectError(f"unknown fault {fault!r} (one of: {', '.join(table)})", "inject")
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise InjectError(f"args: expected a list, got {args!r}")
    found: list[tuple[Fault, int, int, str]] = []
    said: list[str] = []
    names: list[str] = []
    for kind, f in table[fault].items():
        hit = [(i, u) for i, u in enumerate(all_units) if kind in ("*", u.kind)]
        word = CORE_WORDS.get(f.kind) or words.get(kind, {}).get(f.kind, f.kind)
        said += [word] if word not in said else []
        names += _names([u for _, u in hit], f.kind)
        if isinstance(target, str) and target:
            found += [(f, *m) for m in _matches(hit, f.kind, target)]
    if not isinstance(target, str) or not target:
        raise InjectError(f"a {' or '.join(said)} is needed (one of: {', '.join(names)})",
                          "target")
    if len(found) > 1:
        raise InjectError(f"{target!r} is in more than one system: say "
                          f"{' or '.join(m[3] for m in found)}", "target")
    if not found:
        raise InjectError(f"unknown {' or '.join(said)} {target!r} (the HIL's: "
                          f"{', '.join(names)})", "target")
    f, unit, item, name = found[0]
    inj = Injection(fault, unit, item, name, **f.take(args))
    return replace(inj, what=f.describe(inj))
