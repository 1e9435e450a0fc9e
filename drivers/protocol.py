"""What the core asks of a protocol, so that it never names one.

A protocol is one ``ProtocolSpec`` in ``drivers/registry.py``: the model of its ``[plcs.X]``
table (selected by ``protocol = "..."``), how its addresses are written, what a heartbeat
may be, and how a driver is made from the signals mapped to that PLC. Every driver then
offers the same surface (``Driver``), and every driver reports its link's state through the
one supervisor in ``drivers/link.py``, so ``comm.<plc>.*``, back-off, staleness and
``comm_fail`` mean the same for every protocol.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fixedsite.clock import Clock
from fixedsite.drivers.link import Link
from fixedsite.io import WriteResult
from fixedsite.schema import Model, SignalMap
from fixedsite.tags import Tag, TagStore


class Address(Protocol):
    """The neutral view of a parsed address that the config checks need for every protocol:
    which memory (``space``: a Modbus table, an S7 area or DB), which units in it
    (``start`` to ``end``, registers or bytes), the bit if it is one, and whether the
    controller may write there."""

    @property
    def space(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def bit(self) -> int | None: ...
    @property
    def dtype(self) -> str: ...
    @property
    def writable(self) -> bool: ...


class Driver(Protocol):
    """One PLC's connection as the runtime, the router and the benches see it."""

    name: str
    link: Link
    points: Mapping[str, Any]        # tag path -> the driver's own point
    requests: int
    tag_reads: int

    @property
    def online(self) -> bool: ...
    async def run(self) -> None: ...
    async def poll_once(self) -> None: ...
    async def write(self, path: str, value: float | bool) -> WriteResult: ...
    async def close(self) -> None: ...
    def mark_offline(self, reason: str) -> None: ...
    def block_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Mapped:
    """One signal mapped to a PLC, as the runtime hands it to the protocol: the tag, its
    parsed address and the config entry (scale, offset, period, ...)."""

    tag: Tag
    address: Any
    map: SignalMap


DriverFactory = Callable[[str, Any, TagStore, Clock, list[Mapped], float], Driver]


@dataclass(frozen=True)
class ProtocolSpec:
    name: str                                   # the value of ``protocol`` in [plcs.X]
    config: type[Model]                         # that table's model
    parse_address: Callable[[str], Any]         # ValueError says what is expected
    # "module:function" of the DriverFactory, imported when a controller makes a driver,
    # so that reading a config loads no protocol stack (.importlinter, registry-light)
    driver: str
    # (key under the PLC's table, problem) for a heartbeat address this protocol cannot use
    heartbeat_problem: Callable[[Any, str], str | None]
    # what makes two PLC tables one device (two would fight over it)
    endpoint: Callable[[Any], tuple[object, ...]]
    # problems with a signal's table that only this protocol has: (sub-key, message)
    signal_problems: Callable[[SignalMap], list[tuple[str, str]]] = lambda m: []
    read_only_hint: str = ""                    # where a written signal may live instead
    # loggers of its library that speak for every refused connect and timed-out request
    # (the Link reports a fault once, as an alarm); the CLI keeps them to CRITICAL
    noisy_loggers: tuple[str, ...] = ()

    def make_driver(self, name: str, cfg: Any, store: TagStore, clock: Clock,
                    signals: list[Mapped], stale_after_periods: float) -> Driver:
        module, _, func = self.driver.partition(":")
        factory: DriverFactory = getattr(importlib.import_module(module), func)
        return factory(name, cfg, store, clock, signals, stale_after_periods)
