"""What the HIL site asks of a simulated plant, so that it never names one.

A system kind the HIL can simulate declares a ``HilKind`` (``SystemSpec.hil_kind``, a
``"module:attribute"`` loaded only when a HIL runs): its faults, how its items are named
from the config, and how its units are built. A unit is one plant with its PLC; the site
steps it, serves its PLC image over the PLC's protocol, saves and restores it, injects
faults into it and asks it for its status and register map, and knows nothing else of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fixedsite import systems

if TYPE_CHECKING:
    from fixedsite.clock import ScaledClock
    from fixedsite.config import SiteConfig
    from fixedsite.hil.faults import Fault, Injection


class HilKindError(RuntimeError):
    """A kind in ``[hil]`` that the HIL cannot simulate (its plug-in lacks or breaks it)."""


@dataclass(frozen=True)
class Point:
    """One point of a PLC's register map as the PLC programmer needs it: where, what
    type, how it is scaled, what its values mean and who writes it."""

    role: str            # "pump.0", "sump.0", ...: the PLC's own numbering
    signal: str
    address: str         # the image's notation: "hr:10", "ir:20.3", "ir:21:float32"
    type: str            # bool, uint16, int16, uint32, float32
    scale: float = 1.0   # engineering value = raw x scale
    unit: str = ""
    range: tuple[float, float] | None = None
    meaning: str = ""
    writable: bool = False


class HilUnit(ABC):
    """One simulated plant and its PLC. ``plc`` holds the register image the site serves
    (four lists: ``coils``, ``di``, ``hr``, ``ir``); ``server`` is set by the site."""

    cfg: Any             # its [[hil.<kind>]] entry: at least ``system`` and ``plc``
    plc: Any
    server: Any = None
    items: Mapping[str, list[str]] = {}   # item kind -> config names, in the PLC's order
    failed: str | None = None             # why its model raised; the site no longer steps it

    @property
    def system(self) -> str:
        return str(self.cfg.system)

    @abstractmethod
    def first_scan(self, now: float) -> None:
        """The PLC's scan before it serves: a real PLC answers only after its first."""

    @abstractmethod
    def advance(self, now: float, dt: float) -> None:
        """The plant moves ``dt`` simulated seconds to ``now``, then the PLC scans."""

    @abstractmethod
    def inject(self, inj: Injection, now: float) -> None:
        """Apply one of this kind's faults (already checked against the config)."""

    @abstractmethod
    def heartbeat_deaf(self, on: bool) -> None:
        """The PLC stops seeing the controller's heartbeat while its link stays up."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """What ``fixedsite hil status`` shows of it, JSON-able; ``text`` is its line."""

    def brief(self) -> str:
        """A few words of where the plant stands (``1.20 m``), for one-line notes."""
        return str(self.status().get("text", ""))

    @abstractmethod
    def register_map(self) -> list[tuple[str, str]]:
        """(role.index.signal, address) of every point, for a server that lays the image
        out by name (S7)."""

    @abstractmethod
    def points(self) -> list[tuple[str, Point]]:
        """Every point with the tag path the config gives it, in map order."""

    # the plant kept across runs (hil/state.py holds the file)
    @abstractmethod
    def layout(self) -> dict[str, Any]:
        """What a saved state is for: it is restored only into the same equipment."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """The plant and PLC as JSON, for the state file."""

    @abstractmethod
    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        """Check ``saved`` whole and return the setters that put it in (applied only when
        every unit's state checked); StateError names the first bad key under ``where``."""


@dataclass(frozen=True)
class HilKind:
    """What the HIL needs of one system kind it can simulate."""

    faults: Mapping[str, Fault]
    words: Mapping[str, str]        # item kind -> how a message names one ("level sensor")
    # (site config, one [[hil.<kind>]] entry) -> its items by kind, from the config alone
    items: Callable[[SiteConfig, Any], dict[str, list[str]]]
    # (site config, every entry of the kind, clock) -> its units (ties between them, such
    # as rooms in relay, are made here)
    build: Callable[[SiteConfig, list[Any], ScaledClock], list[HilUnit]]


def kinds(cfg: SiteConfig) -> list[tuple[str, HilKind, list[Any]]]:
    """(kind, its HilKind, its [[hil.<kind>]] entries) for every kind ``cfg`` simulates,
    in registry order; HilKindError for one the HIL cannot run."""
    out = []
    for kind, spec in systems.registered().items():
        entries = list(getattr(cfg.hil, kind, None) or [])
        if not entries:
            continue
        if spec.hil_kind is None:
            raise HilKindError(f"hil.{kind}: the {kind} plug-in has no HIL plant")
        try:
            hk = spec.load(spec.hil_kind)
        except Exception as e:            # a missing module, a typo, a module that raises
            raise HilKindError(f"hil.{kind}: the {kind} plug-in's HIL ({spec.hil_kind}) "
                               f"does not load: {e}") from e
        if not isinstance(hk, HilKind):
            raise HilKindError(f"hil.{kind}: {spec.hil_kind} is not a HilKind")
        out.append((kind, hk, entries))
    return out
