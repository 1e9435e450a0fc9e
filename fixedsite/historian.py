"""The embedded historian: one SQLite database (WAL) per site.

Numbers are stored on change, outside a deadband, and at least every ``max_interval_s``
so a flat line is still a line; booleans as 0/1. Events (alarm transitions, sequence
states, commands) are stored whole. Writes are buffered and flushed in one transaction
off the event loop, so the control loop never waits on the disk. A write that fails keeps
its batch for the next flush (bounded; see ``Historian``) and says so in
``controller.historian.*``: a full disk costs the oldest samples, never silently.

Trends over long windows must come back fast (30 days of 1 s data is 2.6 million rows
a tag): every flush also folds its samples into a one-minute rollup (min, max, sum,
count per tag and minute), and a query whose buckets are a minute or wider reads the
rollup, not the raw rows. Averages are sample averages (on-change data: a value that
sat still for an hour counts once per ``max_interval_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixedsite.health import Health, file_identity
from fixedsite.tags import Quality, Tag, TagStore

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS samples (tag INTEGER NOT NULL, t REAL NOT NULL, v REAL,
    q INTEGER NOT NULL, PRIMARY KEY (tag, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minutes (tag INTEGER NOT NULL, m INTEGER NOT NULL, lo REAL, hi REAL,
    sum REAL, n INTEGER, PRIMARY KEY (tag, m)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (t REAL NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
    text TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
"""


@dataclass(frozen=True)
class Bucket:
    t: float          # bucket start
    lo: float
    hi: float
    avg: float
    n: int


class Historian:
    """Buffers samples and events in memory and writes them in one transaction per flush.

    A flush that fails (disk full, read-only, locked, the file removed) loses nothing it
    can keep: the batch goes back to the front of the buffer, in order, and is written by
    the next flush that succeeds. The buffer is bounded by ``max_buffered`` (samples and
    events together): past it the oldest samples are dropped first and events, which are
    few and say what happened, only when there are no samples left; every drop counts in
    ``dropped``. ``ok`` and ``error`` say whether history is being written, and
    ``publish_health`` keeps them in ``controller.historian.*`` (the built-in alarm).

    A database file (or its directory) removed or replaced under a running historian
    is found at the next flush by its identity (device, inode), not written into the
    unlinked file: that flush reports it (ok false, "database file removed") and keeps
    the batch, and the next one starts a new database at the same path and writes the
    batch and an event saying so there. A new file rather than waiting for a person: the
    history before the removal is gone either way, and a site far from anyone must keep
    recording what happens from now on.
    """

    def __init__(self, path: str | Path, deadband_pct: float = 0.2,
                 max_interval_s: float = 300.0, max_buffered: int = 500_000) -> None:
        self.path = Path(path)
        self.deadband_pct = deadband_pct
        self.max_interval_s = max_interval_s
        self.max_buffered = max(1, max_buffered)
        self._lock = threading.Lock()           # the database connection
        self._buf_lock = threading.Lock()       # the buffers (the loop adds, a flush takes)
        self._last: dict[str, tuple[float, float | None]] = {}   # path -> (t, v) stored
        self._samples: deque[tuple[str, float, float | None, int]] = deque()
        self._events: deque[tuple[float, str, str, str, str]] = deque()
        self.written = 0
        self.dropped = 0
        self.ok, self.error = True, ""
        self._reopen: str = ""                  # why the next flush starts a new database
        self._health = Health("historian")
        self._loop_thread: int | None = None
        self._ident: tuple[int, int] | None = None
        self._ids: dict[str, int] = {}
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._ident = file_identity(self.path)
        self._ids = dict(db.execute("SELECT path, id FROM tags").fetchall())
        return db

    def close(self) -> None:
        self.flush()
        if self.buffered:
            log.error("history: %d samples and events not written at close: %s",
                      self.buffered, self.error)
        self.db.close()

    # --- health ----------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        return len(self._samples) + len(self._events)

    def publish_health(self, store: TagStore) -> None:
        """Keep ``controller.historian.*`` true from now on: set at every ``flush_async``
        (and every ``flush`` run on this thread, the event loop's)."""
        self._health.attach(store)
        self._loop_thread = threading.get_ident()
        self._publish()

    def _publish(self) -> None:
        self._health.publish(ok=self.ok, error=self.error, buffered=self.buffered,
                             dropped=self.dropped)

    # --- recording -------------------------------------------------------------------------
    def tag_id(self, path: str) -> int | None:
        """The tag's id in the database, once a flush has written it."""
        return self._ids.get(path)

    def record(self, path: str, t: float, value: float | None, quality: Quality,
               span: float = 0.0) -> bool:
        """Buffer one sample if it moved past the deadband or the interval ran out."""
        last = self._last.get(path)
        if last is not None and value is not None and last[1] is not None and \
                quality is Quality.GOOD:
            band = abs(span) * self.deadband_pct / 100.0
            if abs(value - last[1]) <= band and t - last[0] < self.max_interval_s:
                return False
        self._last[path] = (t, value if quality is Quality.GOOD else None)
        with self._buf_lock:
            self._samples.append((path, t, value, int(quality)))
            self._trim()
        return True

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        row = (t, kind, source, text, json.dumps(data or {}, ensure_ascii=False, default=str))
        with self._buf_lock:
            self._events.append(row)
            self._trim()

    def _trim(self) -> None:
        """Hold the buffer to ``max_buffered``: oldest samples first, then oldest events
        (the caller holds the buffer lock)."""
        over = len(self._samples) + len(self._events) - self.max_buffered
        if over <= 0:
            return
        if self.dropped == 0 or str(self.dropped).rstrip("0") == "1":
            log.error("history buffer full (%d): dropping the oldest (%d dropped so far)",
                      self.max_buffered, self.dropped + over)
        self.dropped += over
        for _ in range(min(over, len(self._samples))):
            self._samples.popleft()
            over -= 1
        for _ in range(over):
            self._events.popleft()

    def flush(self) -> int:
        """Write what is buffered in one transaction; returns the samples written.

        Never raises for a disk or database error: the batch is kept for the next flush
        and ``ok``/``error`` say why it was not written."""
        with self._buf_lock:
            samples, events = list(self._samples), list(self._events)
            self._samples.clear()
            self._events.clear()
        try:
            with self._lock:
                if self._reopen:
                    self._start_again(events, samples)
                else:
                    moved = self._moved()
                    if moved:
                        self._reopen = moved
                        raise _Moved(moved)
                if samples or events:
                    self._write(samples, events)
        except Exception as e:
            with self._buf_lock:
                self._samples.extendleft(reversed(samples))
                self._events.extendleft(reversed(events))
                self._trim()
            self._failed(str(e) if isinstance(e, _Moved) else f"{type(e).__name__}: {e}")
            if threading.get_ident() == self._loop_thread:
                self._publish()
            return 0
        self.written += len(samples)
        if not self.ok:
            log.warning("history: writing again to %s", self.path)
        self.ok, self.error = True, ""
        if threading.get_ident() == self._loop_thread:
            self._publish()
        return len(samples)

    def _failed(self, why: str) -> None:
        if self.ok or why != self.error:
            log.error("history write to %s failed, %d samples and events kept for the next "
                      "try: %s", self.path, self.buffered, why)
        self.ok, self.error = False, why

    def _moved(self) -> str:
        """Why the database we hold is no longer the file at our path, or ""."""
        ident = file_identity(self.path)
        if ident is None:
            return f"database file removed ({self.path})"
        if ident != self._ident:
            return f"database file replaced ({self.path})"
        return ""

    def _start_again(self, events: list[tuple[float, str, str, str, str]],
                     samples: list[tuple[str, float, float | None, int]]) -> None:
        """A new database at our path, after ours was removed or replaced; the batch
        about to be written goes in with an event saying what happened."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        self.db = self._open()
        self._last = {}            # the new file has none of what the deadband remembers
        t = max([e[0] for e in events] + [s[1] for s in samples], default=time.time())
        events.insert(0, (t, "controller", "historian",
                          f"history database started again: {self._reopen}; what it held "
                          "before is not in this file", "{}"))
        log.warning("history: %s; started a new database there", self._reopen)
        self._reopen = ""

    def _write(self, samples: list[tuple[str, float, float | None, int]],
               events: list[tuple[float, str, str, str, str]]) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            new: dict[str, int] = {}
            for path in {s[0] for s in samples} - self._ids.keys():
                db.execute("INSERT OR IGNORE INTO tags (path) VALUES (?)", (path,))
                new[path] = int(db.execute("SELECT id FROM tags WHERE path = ?",
                                           (path,)).fetchone()[0])
            ids = {**self._ids, **new}
            rows = [(ids[p], t, v, q) for p, t, v, q in samples]
            minutes: dict[tuple[int, int], list[float]] = {}
            for tid, t, v, q in rows:
                if v is None or q != Quality.GOOD:
                    continue
                agg = minutes.get((tid, int(t // 60)))
                if agg is None:
                    minutes[(tid, int(t // 60))] = [v, v, v, 1.0]
                else:
                    agg[0] = min(agg[0], v)
                    agg[1] = max(agg[1], v)
                    agg[2] += v
                    agg[3] += 1
            db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?)", rows)
            db.executemany(
                "INSERT INTO minutes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tag, m) DO UPDATE "
                "SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi), "
                "sum = sum + excluded.sum, n = n + excluded.n",
                [(tid, m, a[0], a[1], a[2], int(a[3])) for (tid, m), a in minutes.items()])
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        self._ids.update(new)

    async def flush_async(self) -> int:
        n = await asyncio.to_thread(self.flush)
        self._publish()
        return n

    def prune(self, now: float, keep_samples_s: float, keep_events_s: float) -> None:
        with self._lock:
            self.db.execute("DELETE FROM samples WHERE t < ?", (now - keep_samples_s,))
            self.db.execute("DELETE FROM minutes WHERE m < ?", (int((now - keep_samples_s)
                                                                    // 60),))
            self.db.execute("DELETE FROM events WHERE t < ?", (now - keep_events_s,))

    # --- queries ---------------------------------------------------------------------------
    def query(self, path: str, t0: float, t1: float, buckets: int = 500) -> list[Bucket]:
        """min/max/avg per bucket over [t0, t1): what a trend needs to draw.

        Buckets of a minute or more come from the rollup, so their edges are whole
        minutes (the first starts at the minute holding ``t0``, widths round to minutes);
        each bucket is then exact.
        """
        tid = self._ids.get(path)
        if tid is None or t1 <= t0 or buckets < 1:
            return []
        width = self.bucket_width(t0, t1, buckets)
        with self._lock:
            if width >= 60.0:
                t0 = (t0 // 60) * 60
                rows = self.db.execute(
                    "SELECT CAST((m * 60 - ?) / ? AS INTEGER) AS b, min(lo), max(hi), "
                    "sum(sum), sum(n) FROM minutes WHERE tag = ? AND m >= ? AND m < ? "
                    "GROUP BY b ORDER BY b",
                    (t0, width, tid, int(t0 // 60), int(-(-t1 // 60)))).fetchall()
            else:
                rows = self.db.execute(
                    "SELECT CAST((t - ?) / ? AS INTEGER) AS b, min(v), max(v), sum(v), "
                    "count(v) FROM samples WHERE tag = ? AND t >= ? AND t < ? AND q = 2 "
                    "GROUP BY b ORDER BY b", (t0, width, tid, t0, t1)).fetchall()
        return [Bucket(t0 + b * width, lo, hi, s / n, int(n)) for b, lo, hi, s, n in rows
                if n]

    @staticmethod
    def bucket_width(t0: float, t1: float, buckets: int) -> float:
        """The width ``query`` really uses: whole minutes once a bucket spans a minute."""
        width = (t1 - t0) / max(1, buckets)
        return max(60.0, round(width / 60) * 60) if width >= 60.0 else width

    def samples(self, path: str, t0: float, t1: float) -> list[tuple[float, float]]:
        """Good raw samples of one tag in [t0, t1), oldest first (counters for reports)."""
        tid = self._ids.get(path)
        if tid is None:
            return []
        with self._lock:
            return list(self.db.execute(
                "SELECT t, v FROM samples WHERE tag = ? AND t >= ? AND t < ? AND q = 2 "
                "ORDER BY t", (tid, t0, t1)).fetchall())

    def samples_with_quality(self, path: str, t0: float, t1: float
                             ) -> list[tuple[float, float | None, int]]:
        """Every sample of one tag in [t0, t1) whatever its quality, and the last one
        before ``t0`` (the state the span began in): what a sensor's availability is
        judged on, where ``samples`` would hide the time it had no good value."""
        tid = self._ids.get(path)
        if tid is None:
            return []
        with self._lock:
            before = self.db.execute("SELECT t, v, q FROM samples WHERE tag = ? AND t < ? "
                                     "ORDER BY t DESC LIMIT 1", (tid, t0)).fetchall()
            rows = self.db.execute("SELECT t, v, q FROM samples WHERE tag = ? AND t >= ? "
                                   "AND t < ? ORDER BY t", (tid, t0, t1)).fetchall()
        return [(float(t), v, int(q)) for t, v, q in before + rows]

    def events_between(self, t0: float, t1: float, kind: str | None = None
                       ) -> list[dict[str, Any]]:
        sql = "SELECT t, kind, source, text, data FROM events WHERE t >= ? AND t < ?"
        args: list[Any] = [t0, t1]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        with self._lock:
            rows = self.db.execute(sql + " ORDER BY t", args).fetchall()
        return [{"t": t, "kind": k, "source": s, "text": x, "data": json.loads(d)}
                for t, k, s, x, d in rows]


class _Moved(Exception):
    """The database file is not the one we opened."""


class Recorder:
    """Feeds a historian from the tag store: numbers on change, states as events."""

    def __init__(self, store: TagStore, historian: Historian) -> None:
        self.h = historian
        self._unsubscribe = store.subscribe(self._on_tag)

    def close(self) -> None:
        self._unsubscribe()

    def _on_tag(self, tag: Tag) -> None:
        v = tag.value
        if isinstance(v, bool):
            self.h.record(tag.path, tag.ts, float(v), tag.quality)
        elif isinstance(v, int | float) or v is None:
            span = (tag.meta.high - tag.meta.low) if tag.meta.ranged and \
                tag.meta.high is not None and tag.meta.low is not None else abs(v or 0.0)
            self.h.record(tag.path, tag.ts, None if v is None else float(v), tag.quality, span)
        elif tag.path.endswith(".state"):
            self.h.event(tag.ts, "sequence", tag.path.rsplit(".", 1)[0], str(v))
