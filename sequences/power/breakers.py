"""Each breaker's state in one word, and the network's structure as tags.

A remote client (the console, a SCADA upstream) does not read the site config, so the
structure it needs to draw a single-line view is served as text tags: the bus a breaker
is on, what it feeds, its level, the substation of each bus. The state word is derived
from the relay's position contacts and its trip latch, no better than the worst of them:
both contacts at once (or neither) is "moving", the latch wins over "open".
"""

from __future__ import annotations

from typing import Any

from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.topology import Topology
from fixedsite.tags import Quality, Tag, TagMeta, TagStore

STATES = ["unknown", "closed", "open", "tripped", "moving"]
INPUTS = ("breaker_closed", "breaker_open", "trip_code")


def state_word(closed: Any, opened: Any, trip_code: Any) -> str:
    """The breaker's state from its contacts and latch (None: not known)."""
    if closed is None or opened is None:
        return "unknown"
    if closed and not opened:
        return "closed"
    if opened and not closed:
        return "tripped" if trip_code not in (None, 0, 0.0) else "open"
    return "moving"


def structure(sname: str, system: PowerSystem) -> dict[str, str | float]:
    """The static tags: path -> value."""
    topo = Topology(system)
    out: dict[str, str | float] = {}
    for b, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            out[f"{sname}.{b}.bus"] = eq.bus
            out[f"{sname}.{b}.feeds"] = eq.feeds
            out[f"{sname}.{b}.level"] = float(topo.level(b))
    for bus, spec in system.network.buses.items():
        out[f"{sname}.{bus}.substation"] = spec.substation
    return out


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    out = {p: ("number" if isinstance(v, float) else "text")
           for p, v in structure(sname, system).items()}
    for b, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            out[f"{sname}.{b}.state"] = "text"
    return out


class BreakerStates:
    """The scan part that keeps every breaker's state word."""

    def __init__(self, sname: str, system: PowerSystem, store: TagStore) -> None:
        self.store = store
        self.path = f"{sname}.breakers"
        self.tags: dict[str, Tag] = {}
        for b, eq in system.equipment.items():
            if isinstance(eq, BreakerEq):
                self.tags[f"{sname}.{b}"] = store.define(f"{sname}.{b}.state", TagMeta(
                    kind="text", description="the breaker: closed, open, tripped (open "
                    "with its protection trip latched), moving, unknown"))
        for p, v in structure(sname, system).items():
            tag = store.define(p, TagMeta(kind="number" if isinstance(v, float) else "text",
                                          description="the network's structure (static)"))
            store.update(tag, v)

    @property
    def published(self) -> list[Tag]:
        return list(self.tags.values())

    async def scan(self) -> None:
        for base, tag in self.tags.items():
            vals = [self.store.value(f"{base}.{s}") for s in INPUTS]
            word = state_word(*vals)
            q, why = self.store.worst(f"{base}.{s}" for s in INPUTS)
            if word == "unknown" or q is not Quality.GOOD:
                # keep the last word known, marked, so a screen shows what it was
                self.store.update(tag, tag.value if tag.value is not None else "unknown",
                                  q if q is not Quality.GOOD else Quality.UNCERTAIN,
                                  why or "not_yet_read")
            else:
                self.store.update(tag, word)
