"""The tag store: the one current image of plant state.

Every signal of every equipment is a tag ``system.equipment.signal`` with a value, a
quality and a source timestamp. Drivers write tags, everything else reads them or
subscribes to their changes; nothing keeps its own copy of plant state, so there is one
answer to "what do we believe about pump 2 right now, and how sure are we".
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from fixedsite.clock import Clock

log = logging.getLogger(__name__)


class Quality(IntEnum):
    """Ordered so that ``min()`` of several qualities is the worst of them."""

    BAD = 0
    UNCERTAIN = 1
    GOOD = 2


# Reasons, kept as plain strings so they can be shown and logged as they are.
COMM_FAIL = "comm_fail"
STALE = "stale"
OUT_OF_RANGE = "out_of_range"
MALFORMED = "malformed_reply"
NOT_READ = "not_yet_read"
SENSOR_FAULT = "sensor_fault"
LOGIC_ERROR = "logic_error"        # the controller's own logic that feeds the tag raised


@dataclass(frozen=True, slots=True)
class TagMeta:
    unit: str = ""
    low: float | None = None
    high: float | None = None
    writable: bool = False
    description: str = ""
    kind: str = "number"        # number | bool | text: what a value of it is, even before one
    ranged: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranged", self.low is not None or self.high is not None)


class Tag:
    __slots__ = ("path", "meta", "value", "quality", "reason", "ts")

    def __init__(self, path: str, meta: TagMeta) -> None:
        self.path = path
        self.meta = meta
        self.value: Any = None
        self.quality = Quality.BAD
        self.reason = NOT_READ
        self.ts = 0.0

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD

    def __repr__(self) -> str:
        q = self.quality.name.lower() + (f"/{self.reason}" if self.reason else "")
        return f"<Tag {self.path}={self.value!r} {q} @{self.ts:.1f}>"


Listener = Callable[[Tag], None]


class TagStore:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tags: dict[str, Tag] = {}
        self._listeners: list[tuple[Callable[[str], object] | None, Listener]] = []
        self.listener_errors = 0

    # -- definition ---------------------------------------------------------------
    def define(self, path: str, meta: TagMeta | None = None) -> Tag:
        if path in self._tags:
            raise KeyError(f"tag {path!r} defined twice")
        if path.count(".") < 2:
            raise ValueError(f"tag path {path!r} is not system.equipment.signal")
        tag = Tag(path, meta or TagMeta())
        self._tags[path] = tag
        return tag

    def __contains__(self, path: str) -> bool:
        return path in self._tags

    def __getitem__(self, path: str) -> Tag:
        try:
            return self._tags[path]
        except KeyError:
            raise KeyError(f"unknown tag {path!r}") from None

    def get(self, path: str) -> Tag | None:
        return self._tags.get(path)

    def paths(self, pattern: str = "*") -> list[str]:
        return [p for p in self._tags if fnmatch.fnmatchcase(p, pattern)]

    def worst(self, paths: Iterable[str]) -> tuple[Quality, str]:
        """The worst quality of these tags and its reason: what a figure derived from
        them may claim (a pump state read from a dead PLC is no better than the PLC)."""
        worst, reason = Quality.GOOD, ""
        for path in paths:
            tag = self._tags[path]
            if tag.quality < worst:
                worst, reason = tag.quality, tag.reason
        return worst, reason

    def derive(self, tag: Tag, inputs: Iterable[str]) -> None:
        """Give ``tag`` (keeping its value) the worst quality of ``inputs``."""
        quality, reason = self.worst(inputs)
        if tag.quality is not quality or tag.reason != reason:
            self.update(tag, tag.value, quality, reason)

    def value(self, path: str, default: Any = None) -> Any:
        """The value if its quality is good, else ``default``: the safe way to decide on it."""
        tag = self._tags[path]
        return tag.value if tag.quality is Quality.GOOD else default

    # -- updates --------------------------------------------------------------------
    def update(self, tag: Tag, value: Any, quality: Quality = Quality.GOOD,
               reason: str = "", ts: float | None = None) -> bool:
        """Set a tag; listeners hear of it only if value, quality or reason changed."""
        meta = tag.meta
        if quality is Quality.GOOD and value.__class__ is float and value != value:
            quality, reason = Quality.BAD, MALFORMED      # a NaN from the PLC is no reading
        elif quality is Quality.GOOD and meta.ranged and value.__class__ is not bool and \
                isinstance(value, int | float):
            if (meta.low is not None and value < meta.low) or (
                    meta.high is not None and value > meta.high):
                quality, reason = Quality.BAD, OUT_OF_RANGE
        if value == tag.value and quality is tag.quality and reason == tag.reason:
            return False
        tag.value = value
        tag.quality = quality
        tag.reason = reason
        tag.ts = self.clock.now() if ts is None else ts
        for match, listener in self._listeners:
            if match is None or match(tag.path):
                try:
                    listener(tag)
                except Exception:
                    self._listener_failed(listener, tag)
        return True

    def _listener_failed(self, listener: Listener, tag: Tag) -> None:
        """Listeners run inside whoever updates the tag (a driver's poll task): one that
        raises must cost that listener its update, never the driver its task, or the
        PLC's tags would freeze at GOOD. Logged with the traceback the first time and
        then at every power of ten, so a listener failing every poll cannot flood the log."""
        self.listener_errors += 1
        n = self.listener_errors
        if str(n).rstrip("0") == "1":
            log.exception("tag listener %s failed on %s (%d listener errors so far); the "
                          "update went on to the other listeners",
                          getattr(listener, "__qualname__", listener), tag.path, n)

    def set(self, path: str, value: Any, quality: Quality = Quality.GOOD,
            reason: str = "") -> bool:
        return self.update(self[path], value, quality, reason)

    def mark(self, tags: Iterable[Tag], quality: Quality, reason: str) -> None:
        """Change the quality of many tags, keeping their last value (shown as stale/bad)."""
        for tag in tags:
            if tag.quality is not quality or tag.reason != reason:
                self.update(tag, tag.value, quality, reason)

    # -- subscriptions -------------------------------------------------------------
    def subscribe(self, listener: Listener, pattern: str | None = None) -> Callable[[], None]:
        """Call ``listener(tag)`` on every change of a tag matching ``pattern``."""
        match = None if pattern is None else re.compile(fnmatch.translate(pattern)).match
        entry = (match, listener)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry)

    async def wait_for(self, path: str, predicate: Callable[[Tag], bool],
                       within_s: float) -> Tag:
        """Wait (wall seconds) until the tag satisfies ``predicate``; TimeoutError otherwise."""
        tag = self[path]
        if predicate(tag):
            return tag
        fut: asyncio.Future[Tag] = asyncio.get_running_loop().create_future()

        def check(t: Tag) -> None:
            if not fut.done() and predicate(t):
                fut.set_result(t)

        unsubscribe = self.subscribe(check, path)
        try:
            return await asyncio.wait_for(fut, within_s)
        finally:
            unsubscribe()
