"""History uplink to an InfluxDB v2 write API, with an on-disk store-and-forward queue.

Every numeric tag change becomes a line-protocol point
``fixedsite,site=S,system=Y,equipment=E SIGNAL=value,SIGNAL_q=quality TIMESTAMP_MS`` and
goes first into a queue on disk (SQLite), then to the server in order, oldest first, in
batches; a batch leaves the queue only when the server has acknowledged it. So an outage
of the uplink loses nothing, however long (the disk is the limit), and the backlog drains
in order on recovery. The control loop only appends to a list: the disk and the network
work happen in their own task and thread, so neither can block supervision.

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
from pathlib import Path

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api import WritePrecision

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
    system, equipment, signal = tag.path.split(".", 2)
    sig = _escape(signal)
    return (f"fixedsite,site={_escape(site)},system={_escape(system)},"
            f"equipment={_escape(equipment)} {sig}={float(v)!r},{sig}_q={int(tag.quality)}i "
            f"{round(tag.ts * 1000)}")


class DiskQueue:
    """FIFO of lines in SQLite; taken lines stay until ``ack``."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS q (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                        " line TEXT NOT NULL)")
        self._lock = threading.Lock()

    def put(self, lines: list[str]) -> None:
        with self._lock:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO q (line) VALUES (?)", ((x,) for x in lines))
            self.db.execute("COMMIT")

    def peek(self, n: int) -> tuple[int, list[str]]:
        """The oldest ``n`` lines and the last sequence number among them."""
        with self._lock:
            rows = self.db.execute("SELECT seq, line FROM q ORDER BY seq LIMIT ?",
                                   (n,)).fetchall()
        return (rows[-1][0] if rows else 0), [r[1] for r in rows]

    def ack(self, upto: int) -> None:
        with self._lock:
            self.db.execute("DELETE FROM q WHERE seq <= ?", (upto,))

    def __len__(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM q").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class Uplink:
    def __init__(self, store: TagStore, site: str, url: str, queue_path: str | Path,
                 token: str = "fixedsite", org: str = "fixedsite", bucket: str = "fixedsite",
                 batch: int = 5000, retry_max_s: float = 30.0) -> None:
        self.site, self.url = site, url
        self.token, self.org, self.bucket = token, org, bucket
        self.batch, self.retry_max_s = batch, retry_max_s
        self.queue = DiskQueue(queue_path)
        self._pending: list[str] = []
        self.sent = 0
        self.failures = 0
        self._unsubscribe = store.subscribe(self._on_tag)
        self._wake = asyncio.Event()
        self.drained = asyncio.Event()     # set while nothing waits to be sent
        self.failing = asyncio.Event()     # set while the server does not take our writes

    def _on_tag(self, tag: Tag) -> None:
        if tag.quality is Quality.BAD and tag.value is None:
            return
        text = line(self.site, tag)
        if text is not None:
            self._pending.append(text)        # all the control loop ever pays
            self.drained.clear()

    async def run(self) -> None:
        backoff = 0.2
        async with InfluxDBClientAsync(url=self.url, token=self.token, org=self.org,
                                       timeout=5000) as client:
            writer = client.write_api()
            while True:
                await self._spool()
                upto, lines = await asyncio.to_thread(self.queue.peek, self.batch)
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
                    if not self.failing.is_set():
                        log.warning("uplink %s: write failed, queueing: %s", self.url, e)
                    self.failing.set()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_max_s)
                    continue
                if self.failing.is_set():
                    log.warning("uplink %s: writing again; %d points queued", self.url,
                                len(self.queue))
                self.failing.clear()
                backoff = 0.2
                await asyncio.to_thread(self.queue.ack, upto)
                self.sent += len(lines)

    async def _spool(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            await asyncio.to_thread(self.queue.put, lines)

    def kick(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._unsubscribe()
        if self._pending:
            self.queue.put(self._pending)     # what was not spooled yet is kept too
            self._pending = []
        self.queue.close()
