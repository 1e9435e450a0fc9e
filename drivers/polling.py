"""What every polling driver does the same way, whatever its protocol: poll groups by
period, one read block per request, freshness per block reported to the ``Link``, a block
the PLC refuses in one piece split into its parts for good, a refused block's tags bad with
the PLC's own reason, the whole PLC bad on loss. A protocol's driver subclasses
``PollingDriver`` and brings only its wire work: connecting, reading a block, writing a
value, and what its replies mean (``drivers/modbus.py``, ``drivers/s7.py``).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

from fixedsite.clock import Clock
from fixedsite.drivers.link import Link, Source
from fixedsite.io import WriteResult
from fixedsite.tags import STALE, Quality, Tag, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

MIN_POLL_REAL_S = 0.01       # never poll one group more often than this, whatever the scale


class Block(Protocol):
    """A protocol's read block: its points as (offset in the reply, address, point)."""

    items: list[Any]
    parts: list[Any]

    def split(self) -> list[Any]: ...


B = TypeVar("B", bound=Block)


class Group(Generic[B]):
    """The points polled at one period, as blocks, with what each block last read."""

    def __init__(self, period: float, items: list[Any], blocks: list[B] | None = None) -> None:
        self.period = period
        self.items = items
        self.blocks: list[B] = blocks or []
        self.last: dict[int, Any] = {}
        self.fresh: dict[int, Source] = {}


class PollingDriver(ABC, Generic[B]):
    def __init__(self, name: str, cfg: Any, store: TagStore, clock: Clock, points: Iterable[Any],
                 stale_after_periods: float, min_poll_s: float) -> None:
        self.name = name
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.points = {p.tag.path: p for p in points}
        self.min_poll_s = min_poll_s
        by_period: dict[float, list[Any]] = {}
        for p in self.points.values():
            by_period.setdefault(p.period, []).append((p, p.addr))
        self.groups: list[Group[B]] = [Group(per, items)
                                       for per, items in sorted(by_period.items())]
        tags: list[Tag] = [p.tag for p in self.points.values()]
        self.link = Link(name, store, clock, tags, cfg.backoff_max_s, stale_after_periods,
                         on_offline=self._forget_all)
        self.requests = 0
        self.tag_reads = 0
        self.online_tag = self.link.online_tag
        self.errors_tag = self.link.errors_tag
        self.error_tag = self.link.error_tag

    # --- what each protocol brings ------------------------------------------------------
    @abstractmethod
    def where(self, block: B) -> str:
        """A block for the log and last_error ("hr:100+20", "DB10.DBB0+64")."""

    @abstractmethod
    async def poll_group(self, g: Group[B]) -> None:
        """Read each block of ``g`` once; report each with ``delivered`` or ``bad_block``."""

    @abstractmethod
    async def write_heartbeat(self, count: int) -> None:
        """Write the 16-bit heartbeat counter; a refusal raises one of ``beat_errors``."""

    beat_errors: tuple[type[Exception], ...] = ()

    def verdict(self, pt: Any, value: float | bool, readback: Any, ok: bool,
                bad_reason: str = "") -> WriteResult:
        """A write's outcome from its read-back: the tag takes what the PLC holds (bad with
        ``bad_reason`` if that is no value), and a difference is said in the result."""
        if bad_reason:
            self.store.update(pt.tag, pt.tag.value, Quality.BAD, bad_reason)
        else:
            self.store.update(pt.tag, readback, Quality.GOOD, "")
        if not ok:
            return WriteResult(False, readback, say(
                "read-back {got} differs from the value written {want}", got=repr(readback),
                want=repr(value)))
        return WriteResult(True, readback)

    # --- blocks ------------------------------------------------------------------------------
    def set_blocks(self, g: Group[B], blocks: list[B]) -> None:
        """(Re)place a group's blocks, each watched for freshness by the link."""
        for src in g.fresh.values():
            self.link.drop(src)
        g.fresh.clear()
        g.last.clear()
        g.blocks = blocks
        for block in blocks:
            self._watch(g, block)

    def _watch(self, g: Group[B], block: B) -> None:
        key = id(block)
        g.fresh[key] = self.link.source([pt.tag for _, _, pt in block.items], g.period,
                                        lambda: g.last.pop(key, None))

    def _forget_all(self) -> None:
        for g in self.groups:
            g.last.clear()

    def split(self, g: Group[B], block: B, why: str) -> None:
        """A block with holes the PLC refuses as a whole: its parts are read apart from
        now on."""
        log.warning("%s: %s %s; reading its %d parts apart", self.name, self.where(block),
                    why, len(block.parts))
        i = g.blocks.index(block)
        parts = block.split()
        g.blocks[i:i + 1] = parts
        self.link.drop(g.fresh.pop(id(block)))
        g.last.pop(id(block), None)
        for part in parts:
            self._watch(g, part)

    def bad_block(self, g: Group[B], block: B, reason: str, detail: str = "",
                  why: str = "") -> None:
        """A read of ``block`` failed: counted; its tags bad with ``reason`` unless it was
        one time-out (``STALE``: the link's watchdog judges that)."""
        self.link.failed(f"{self.where(block)}: {detail or reason}", why)
        if reason != STALE:
            self.store.mark((pt.tag for _, _, pt in block.items), Quality.BAD, reason)
            g.last.pop(id(block), None)

    def delivered(self, g: Group[B], block: B) -> float:
        """A read of ``block`` delivered data: the block and the link are fresh. Returns
        the time to stamp its values with."""
        now = self.clock.now()
        g.fresh[id(block)].last_ok = now
        link = self.link
        if link.up:
            link.last_good = now
        else:
            link.answered(now)
        self.tag_reads += len(block.items)
        return now

    # --- the link --------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.link.up

    def block_count(self) -> int:
        return sum(len(g.blocks) for g in self.groups)

    def mark_offline(self, reason: str) -> None:
        """Every tag of this PLC bad (``comm_fail``), online False, ``reason`` as the last
        error: for the link's loss, and for whoever supervises the driver's task when that
        task has died, so the tags it fed go bad instead of freezing at their last value."""
        self.link.mark_offline(reason)

    # --- the heartbeat ---------------------------------------------------------------------
    async def _beat(self) -> None:
        """A counter the PLC program watches to know the controller is alive; it falls back
        to its own control when the counter stops (hil/drainage/plc.py, the real PLC)."""
        count = 0
        while True:
            count = (count + 1) % 65536
            try:
                await self.write_heartbeat(count)
                if not self.groups and not self.link.up:    # nothing else to hear from
                    self.link.answered(self.clock.now())
            except self.beat_errors as e:
                self.link.failed(f"heartbeat {self.cfg.heartbeat}: {e}")
            await asyncio.sleep(max(self.cfg.heartbeat_period_s / self.clock.scale,
                                    MIN_POLL_REAL_S))

    # --- polling ---------------------------------------------------------------------------
    async def _poll(self, g: Group[B]) -> None:
        nxt = self.clock.now()
        while True:
            await self.poll_group(g)
            nxt += g.period
            now = self.clock.now()
            if nxt < now - g.period:            # overran by a whole period: resynchronise
                nxt = now
            delay = max((nxt - now) / self.clock.scale, self.min_poll_s)
            if delay > 0:        # (a benchmark polls flat out: the reads yield anyway)
                await asyncio.sleep(delay)

    async def poll_once(self) -> None:
        """Read every block of every group once (the benchmark's unit of work)."""
        for g in self.groups:
            await self.poll_group(g)
