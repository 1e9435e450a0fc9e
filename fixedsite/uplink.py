"""History uplink to an InfluxDB v2 write API, with an on-disk store-and-forward queue.

Every numeric tag change becomes a line-protocol point
``fixedsite,site=S,system=Y,equipment=E SIGNAL=value,SIGNAL_q=quality TIMESTAMP_MS`` and
goes first into a queue on disk (SQLite), then to the server in order, oldest first, in
batches; a batch leaves the queue only when the server has acknowledged it. So an outage
of the uplink loses nothing up to the queue's bound, and the backlog drains
in order on recovery. The control loop only appends to a list: the disk and the network
work happen in their own task and thread, so neither can block supervision. The queue is
bounded (``max_queue`` lines, the oldest dropped first); drops are counted and alarmed
through ``controller.uplink.*``.

Delivery is at least once: a batch whose acknowledgement was lost is sent again. The
project's VictoriaMetrics is started with deduplication on, so such a repeat does not
store a point twice; timestamps are the source timestamps, so a repeat is identical.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections import deque
from functools import lru_cache
from pathlib import Path

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api import WritePrecision

from fixedsite.health import Health
from fixedsite.tags import Quality, Tag, TagStore

log = logging.getLogger(__name__)


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def line(site: str, tag: Tag) -> str | None:
    """The tag's line-protocol point, or None for a value InfluxDB cannot hold."""
    v = tag.value
    if isinstance(v, bool):
        v = 1.0 if v else 0.0
    if not isinstance(v, int | float):
        return None
    head, sig = _series(site, tag.path)
    return f"{head} {sig}={float(v)!r},{sig}_q={int(tag.quality)}i {round(tag.ts * 1000)}"


@lru_cache(maxsize=1 << 18)
def _series(site: str, path: str) -> tuple[str, str]:
    """A tag's measurement and tags, escaped once per path, not per change (at 100k
    changes a second the split and escapes were half the cost of a line)."""
    system, equipment, signal = path.split(".", 2)
    return (f"fixedsite,site={_escape(site)},system={_escape(system)},"
            f"equipment={_escape(equipment)}", _escape(signal))


class DiskQueue:
    """FIFO of lines in SQLite; taken lines stay until ``ack``.

    Bounded by ``max_lines``: past it the oldest lines are deleted as new ones come in
    (``put`` returns how many). The newest history is worth more to a fleet view than the
    oldest: after a long outage the server gets the most recent ``max_lines`` points, and
    the site's own historian still holds the rest."""

    def __init__(self, path: str | Path, max_lines: int = 5_000_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_lines = max(1, max_lines)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS q (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                        " line TEXT NOT NULL)")
        self._lock = threading.Lock()
        self._n = int(self.db.execute("SELECT count(*) FROM q").fetchone()[0])

    def put(self, lines: list[str]) -> int:
        """Append ``lines`` (all or none); returns how many of the oldest were dropped to
        stay within ``max_lines``."""
        with self._lock:
            keep = lines[-self.max_lines:]
            over = max(0, self._n + len(keep) - self.max_lines)
            self.db.execute("BEGIN")
            try:
                if over:
                    self.db.execute("DELETE FROM q WHERE seq IN (SELECT seq FROM q ORDER BY "
                                    "seq LIMIT ?)", (over,))
                self.db.executemany("INSERT INTO q (line) VALUES (?)", ((x,) for x in keep))
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                raise
            self._n += len(keep) - over
            return over + len(lines) - len(keep)

    def peek(self, n: int) -> tuple[int, list[str]]:
        """The oldest ``n`` lines and the last sequence number among them."""
        with self._lock:
            rows = self.db.execute("SELECT seq, line FROM q ORDER BY seq LIMIT ?",
                                   (n,)).fetchall()
        return (rows[-1][0] if rows else 0), [r[1] for r in rows]

    def ack(self, upto: int) -> None:
        with self._lock:
            self._n -= self.db.execute("DELETE FROM q WHERE seq <= ?", (upto,)).rowcount

    def __len__(self) -> int:
        return self._n

    def close(self) -> None:
        self.db.close()


class Uplink:
    """Store-and-forward of tag changes to the history server, never blocking control.

    Bounded everywhere, and says so when it drops: the disk queue holds ``max_queue``
    lines (past it the oldest are dropped: the newest history is worth more to a fleet
    view), and the in-memory list that feeds it ``max_pending`` (it only grows while the
    queue cannot be written, e.g. the disk is full; past it the oldest are dropped).
    Every drop counts in ``dropped``. No disk or network error ends ``run``: it logs the
    first, keeps ``ok`` false with ``error`` saying why, and tries again with a back-off.
    ``ok`` is false while the server refuses our writes, the queue cannot be written, or
    the queue is full and dropping. ``publish_health`` keeps it in ``controller.uplink.*``.
    """

    def __init__(self, store: TagStore, site: str, url: str, queue_path: str | Path,
                 token: str = "fixedsite", org: str = "fixedsite", bucket: str = "fixedsite",
                 batch: int = 5000, retry_max_s: float = 30.0, max_queue: int = 5_000_000,
                 max_pending: int = 100_000) -> None:
        self.site, self.url = site, url
        self.token, self.org, self.bucket = token, org, bucket
        self.batch, self.retry_max_s = batch, retry_max_s
        self.queue = DiskQueue(queue_path, max_queue)
        self.max_pending = max(1, max_pending)
        self._pending: deque[str] = deque()
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self._problems: dict[str, str] = {}     # "server" / "disk" / "full" -> why
        self._health = Health("uplink")
        self._unsubscribe = store.subscribe(self._on_tag)
        self._wake = asyncio.Event()
        self.drained = asyncio.Event()     # set while nothing waits to be sent
        self.failing = asyncio.Event()     # set while the server does not take our writes

    # --- health ----------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return not self._problems

    @property
    def error(self) -> str:
        return "; ".join(self._problems[k] for k in ("disk", "full", "server")
                         if k in self._problems)

    def publish_health(self, store: TagStore) -> None:
        """Keep ``controller.uplink.*`` true from now on (updated by ``run``; its
        ``queued`` tag itself is not sent up, or every send would make one more)."""
        self._health.attach(store)
        self._publish()

    def _publish(self) -> None:
        self._health.publish(ok=self.ok, error=self.error, dropped=self.dropped,
                             queued=len(self.queue) + len(self._pending))

    def _problem(self, kind: str, why: str | None) -> None:
        if why is None:
            if self._problems.pop(kind, None) is not None:
                log.warning("uplink %s: %s resolved; %d points queued", self.url, kind,
                            len(self.queue))
        else:
            if kind not in self._problems:
                log.warning("uplink %s: %s", self.url, why)
            self._problems[kind] = why
        self._publish()

    def _drop(self, n: int, where: str) -> None:
        if n <= 0:
            return
        self.dropped += n
        self._problem("full", f"{where} is full: dropping the oldest points ({self.dropped} "
                              "dropped so far)")

    # --- work ------------------------------------------------------------------------------
    def _on_tag(self, tag: Tag) -> None:
        if tag.quality is Quality.BAD and tag.value is None:
            return
        if tag.path == "controller.uplink.queued":
            return
        text = line(self.site, tag)
        if text is not None:
            if len(self._pending) >= self.max_pending:     # spooling is failing: bounded
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(text)        # all the control loop ever pays
            self.drained.clear()

    async def run(self) -> None:
        backoff = 0.2
        async with InfluxDBClientAsync(url=self.url, token=self.token, org=self.org,
                                       timeout=5000) as client:
            writer = client.write_api()
            while True:
                try:
                    await self._spool()
                except Exception as e:         # the disk: the lines stay in memory (bounded)
                    self._problem("disk", self._disk_error(e))
                    spooled = False
                else:
                    self._problem("disk", None)
                    spooled = True
                try:            # what is on disk still goes, and so makes room
                    upto, lines = await asyncio.to_thread(self.queue.peek, self.batch)
                except Exception as e:
                    self._problem("disk", self._disk_error(e))
                    lines = []
                if not lines and not spooled:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_max_s)
                    continue
                if not lines:
                    if not self._pending:
                        self.drained.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.5)
                    self._wake.clear()
                    continue
                try:
                    await writer.write(bucket=self.bucket, record=lines,
                                       write_precision=WritePrecision.MS)
                except Exception as e:   # any failure: keep the batch, back off, try again
                    self.failures += 1
                    self.failing.set()
                    self._problem("server", f"the server does not take our writes: {e}")
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_max_s)
                    continue
                self.failing.clear()
                backoff = 0.2
                try:
                    await asyncio.to_thread(self.queue.ack, upto)
                except Exception as e:         # sent again later: at least once anyway
                    self._problem("disk", self._disk_error(e))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_max_s)
                    continue
                self.sent += len(lines)
                if len(self.queue) < self.queue.max_lines:
                    self._problem("full", None)
                self._problem("server", None)

    def _disk_error(self, e: Exception) -> str:
        return f"the queue {self.queue.path} cannot be written: {type(e).__name__}: {e}"

    async def _spool(self) -> None:
        if self._pending:
            lines = list(self._pending)
            self._pending.clear()
            try:
                self._drop(await asyncio.to_thread(self.queue.put, lines), "the disk queue")
            except BaseException:
                # back in front of what came meanwhile, in order, within the bound
                self._pending.extendleft(reversed(lines))
                over = len(self._pending) - self.max_pending
                for _ in range(max(0, over)):
                    self._pending.popleft()
                self.dropped += max(0, over)
                raise

    def kick(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._unsubscribe()
        if self._pending:
            try:
                self.queue.put(list(self._pending))   # what was not spooled yet is kept too
            except Exception as e:
                log.error("uplink: %d points not kept at close: %s", len(self._pending), e)
            self._pending.clear()
        self.queue.close()
