"""Every long-running task of the controller, watched: one that ends is logged, alarmed
and restarted, and the tags it fed go bad instead of freezing at their last good value.

A driver's poll task that died used to leave its PLC's tags GOOD and frozen, its heartbeat
stopped, and nobody told. Here each task runs inside a keeper: when the task returns or
raises (anything but the controller's own stop), the keeper logs it with its traceback,
lists it in ``controller.tasks.failed`` (``controller.tasks.ok`` false raises the built-in
alarm), calls the task's ``on_failure`` (a driver marks its PLC's tags bad there), and
starts it again after a back-off. The task counts as healthy again only once its new run
has lasted ``HEALTHY_AFTER_S``, so a task that dies at every start keeps its alarm
standing instead of chattering.

Restart back-off is wall time, not plant time: it paces a failing piece of software, not
the plant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fixedsite.health import health_tags
from fixedsite.tags import LOGIC_ERROR, Quality, Tag, TagStore

log = logging.getLogger(__name__)

BACKOFF_START_S, BACKOFF_MAX_S = 0.1, 5.0
HEALTHY_AFTER_S = 2.0          # wall seconds a restarted task must last to count as healthy
STOP_TIMEOUT_S = 3.0

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    def __init__(self, store: TagStore) -> None:
        self.store = store
        self.tags = health_tags(store, "tasks")
        self.restarts = 0
        self._failed: dict[str, str] = {}
        self._keepers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._publish()

    @property
    def failed(self) -> dict[str, str]:
        """Tasks that ended and are being restarted, with why."""
        return dict(self._failed)

    def start(self, name: str, factory: TaskFactory,
              on_failure: Callable[[str], None] | None = None) -> None:
        """Run ``factory()`` as a supervised task called ``name`` until ``stop``."""
        self._keepers.append(asyncio.create_task(self._keep(name, factory, on_failure),
                                                 name=f"keep-{name}"))

    def winding_down(self) -> None:
        """From now on a task that ends is not restarted: the controller is stopping and
        closes what they use (a driver's link) before it cancels them."""
        self._stopping = True

    async def stop(self) -> list[str]:
        """Cancel every task; returns the names of those that did not end in time."""
        self._stopping = True
        for k in self._keepers:
            k.cancel()
        pending: set[asyncio.Task[None]] = set()
        if self._keepers:
            _, pending = await asyncio.wait(self._keepers, timeout=STOP_TIMEOUT_S)
        self._keepers.clear()
        return sorted(t.get_name().removeprefix("keep-") for t in pending)

    async def _keep(self, name: str, factory: TaskFactory,
                    on_failure: Callable[[str], None] | None) -> None:
        backoff = BACKOFF_START_S
        while not self._stopping:
            task = asyncio.create_task(factory(), name=name)
            try:
                if name in self._failed:
                    done, _ = await asyncio.wait({task}, timeout=HEALTHY_AFTER_S)
                    if not done:
                        self._failed.pop(name, None)
                        backoff = BACKOFF_START_S
                        self._publish()
                        log.warning("task %s running again", name)
                await task
                if self._stopping:
                    return                # its link closed under it: that is the stop
                why = "ended by itself"
                log.error("task %s %s", name, why)
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    task.cancel()
                    raise               # the keeper itself is being stopped
                why = "cancelled by something other than the controller's stop"
                log.error("task %s %s", name, why)
            except Exception as e:
                why = _describe(e)
                log.exception("task %s failed", name)
            if self._stopping:
                return
            self.restarts += 1
            self._failed[name] = why
            self._publish()
            if on_failure is not None:
                try:
                    on_failure(why)
                except Exception:
                    log.exception("clean-up after task %s failed", name)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _publish(self) -> None:
        t, update = self.tags, self.store.update
        update(t["ok"], not self._failed)
        update(t["failed"], "; ".join(f"{n}: {w}" for n, w in sorted(self._failed.items())))
        update(t["restarts"], self.restarts)


def _describe(e: BaseException) -> str:
    """The error that ended a task, out of any TaskGroup's exception group around it."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e}"


class ScanHealth:
    """Which parts of the scan raised on their last pass (``controller.scan.*``): a part
    that raises fails alone, and says so, while the others go on."""

    def __init__(self, store: TagStore) -> None:
        self.store = store
        self.tags = health_tags(store, "scan")
        self.errors = 0
        self._failing: dict[str, str] = {}
        self._publish()

    def failed(self, part: str, error: Exception, fed: list[Tag]) -> None:
        """``fed``: the tags that part publishes; they go bad, not stale-but-good."""
        self.errors += 1
        first = part not in self._failing
        self._failing[part] = _describe(error)
        if first:
            log.error("scan of %s failed; the other parts go on", part, exc_info=error)
        self.store.mark(fed, Quality.BAD, LOGIC_ERROR)
        self._publish()

    def passed(self, part: str, fed: list[Tag]) -> None:
        if part not in self._failing:
            return
        del self._failing[part]
        log.warning("scan of %s passes again", part)
        # a part publishes on change only: what it published before is its state again
        for tag in fed:
            if tag.reason == LOGIC_ERROR:
                self.store.update(tag, tag.value, Quality.GOOD, "")
        self._publish()

    def _publish(self) -> None:
        t, update = self.tags, self.store.update
        update(t["ok"], not self._failing)
        update(t["failed"], "; ".join(f"{n}: {w}" for n, w in sorted(self._failing.items())))
        update(t["errors"], self.errors)
