"""Supervision of one PLC link, whatever protocol the driver speaks on it.

A driver knows how to open a connection, read a block and write a value; what the link's
state *is* is decided here, once for every driver:

* ``comm.<plc>.online`` means "a read has delivered data within the stale window". An
  accepted TCP connection is not an answer: online turns True only at the first good
  reply on a connection, and False when no read has delivered data for
  ``stale_after_periods`` x the slowest poll period (never shorter than the clock's
  dead-peer guard). A PLC that says nothing, answers junk or refuses every read is
  therefore one standing communication alarm, with the reason in ``last_error``, not an
  alarm that flaps with every reconnect.
* Reconnects back off from 0.1 s to ``backoff_max_s``; only a good reply resets the
  back-off, so a PLC that accepts connections and then stays silent is not hammered.
* A watchdog on the project clock marks a source's tags stale when it has not been read
  for ``stale_after_periods`` x its period, even while a request is still hanging on a
  long time-out.
* Loss of the link, or of the driver's task (``mark_offline``), turns every tag of the
  PLC bad with ``comm_fail`` at once. Each episode is logged once going down and once
  coming back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from fixedsite.clock import Clock
from fixedsite.tags import COMM_FAIL, STALE, Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.1


class Source:
    """The tags one request reads, and when it last delivered them (sim seconds)."""

    __slots__ = ("tags", "window", "last_ok", "forget")

    def __init__(self, tags: list[Tag], window: float, forget: Callable[[], None]) -> None:
        self.tags = tags
        self.window = window
        self.last_ok: float | None = None
        self.forget = forget       # the driver drops what it cached of the source's data


class Link:
    def __init__(self, name: str, store: TagStore, clock: Clock, tags: Iterable[Tag],
                 backoff_max_s: float, stale_after_periods: float,
                 on_offline: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self.store = store
        self.clock = clock
        self.tags = list(tags)
        self.backoff_max_s = backoff_max_s
        self.stale_after = stale_after_periods
        self.on_offline = on_offline
        self.sources: list[Source] = []
        self.backoff = BACKOFF_START_S
        self.up = False                   # mirrors online is True; read on the hot path
        self.last_good = float("-inf")
        self.since = float("-inf")        # when the current connection was opened
        self.why = ""                     # what the last failed read said ("" = no reply)
        self.closing = False
        self.where = ""                   # "host:port", for the log
        self._ever_up = False
        self._window = 0.0
        self.online_tag = self._diag("online", TagMeta(description="the PLC answers reads",
                                                       kind="bool"))
        self.errors_tag = self._diag("errors", TagMeta(description="requests that failed"))
        self.error_tag = self._diag("last_error", TagMeta(description="last failure",
                                                          kind="text"))
        # online stays "not yet read" until the first attempt ends, so a starting
        # controller does not raise a communication alarm before it has even tried
        store.update(self.errors_tag, 0)
        store.update(self.error_tag, "")

    def _diag(self, signal: str, meta: TagMeta) -> Tag:
        path = f"comm.{self.name}.{signal}"
        return self.store[path] if path in self.store else self.store.define(path, meta)

    # --- what the driver reads ------------------------------------------------------
    def source(self, tags: list[Tag], period: float, forget: Callable[[], None]) -> Source:
        src = Source(tags, self.clock.silence_timeout(self.stale_after * period), forget)
        self.sources.append(src)
        self._window = max(self._window, src.window)
        return src

    def drop(self, src: Source) -> None:
        self.sources.remove(src)

    @property
    def window(self) -> float:
        """Sim seconds without a good read after which the PLC counts as not answering."""
        return self._window or self.clock.silence_timeout(self.stale_after)

    # --- what the driver reports ----------------------------------------------------
    def connected(self, where: str) -> None:
        self.since, self.why, self.where = self.clock.now(), "", where

    def answered(self, now: float) -> None:
        """A read delivered data. (Callers test ``up`` first: this is the hot path.)"""
        self.last_good = now
        if self.up:
            return
        self.up, self.why, self.backoff = True, "", BACKOFF_START_S
        if self._ever_up:
            log.warning("%s: link restored (%s)", self.name, self.where)
        else:
            log.info("%s: first good reply from %s", self.name, self.where)
        self._ever_up = True
        self.store.update(self.online_tag, True)

    def failed(self, detail: str, why: str = "") -> None:
        """A request failed: counted, and remembered as what the PLC is doing (``why``,
        "" for no reply) should no read succeed for the whole window."""
        self.store.update(self.errors_tag, (self.errors_tag.value or 0) + 1)
        self.why = why
        if self.online_tag.value is not False:      # while down, last_error says why
            self.store.update(self.error_tag, detail)

    def mark_offline(self, reason: str) -> None:
        """Every tag of the PLC bad with ``comm_fail`` at once: the link is lost, or the
        task that read it has died and nothing will refresh them."""
        if self.closing:
            reason = say("driver closed")
        self._down(reason)
        self.store.mark(self.tags, Quality.BAD, COMM_FAIL)
        for src in self.sources:
            src.last_ok = None
        self.on_offline()

    def _down(self, reason: str) -> None:
        if self.online_tag.value is not False and not self.closing:
            log.warning("%s: link down: %s", self.name, reason)
        self.up = False
        if self.error_tag.value != reason:
            self.store.update(self.error_tag, reason)
        self.store.update(self.online_tag, False)

    async def back_off(self) -> None:
        """Wait before the next connection attempt; each attempt without a good reply
        doubles the wait."""
        await asyncio.sleep(self.backoff)
        self.backoff = min(self.backoff * 2, self.backoff_max_s)

    # --- the watchdog -----------------------------------------------------------------
    async def watch(self) -> None:
        """Stale and silence detection on the clock, while a connection is open."""
        tick = min((s.window for s in self.sources), default=self.window) / 4
        while True:
            await self.clock.sleep(tick)
            self.check(self.clock.now())

    def check(self, now: float) -> None:
        for src in self.sources:
            t = src.last_ok
            if t is not None and now - t > src.window:
                src.last_ok = None
                self.store.mark((tag for tag in src.tags if tag.quality is Quality.GOOD),
                                Quality.UNCERTAIN, STALE)
                src.forget()
        if now - max(self.last_good, self.since) <= self.window:
            return
        reason = self.why or say("no reply for {s} s", s=f"{self.window:g}")
        if self.online_tag.value is not False:
            self._down(reason)
        elif self.why and self.error_tag.value != reason:
            self.store.update(self.error_tag, reason)
