"""The embedded historian: one SQLite database (WAL) per site.

Numbers are stored on change, outside a deadband, and at least every ``max_interval_s``
so a flat line is still a line; booleans as 0/1. Events (alarm transitions, sequence
states, commands) are stored whole. Writes are buffered and flushed in one transaction
off the event loop, so the control loop never waits on the disk.

Trends over long windows must come back fast (30 days of 1 s data is 2.6 million rows
a tag): every flush also folds its samples into a one-minute rollup (min, max, sum,
count per tag and minute), and a query whose buckets are a minute or wider reads the
rollup, not the raw rows. Averages are sample averages (on-change data: a value that
sat still for an hour counts once per ``max_interval_s``).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixedsite.tags import Quality, Tag, TagStore

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
    def __init__(self, path: str | Path, deadband_pct: float = 0.2,
                 max_interval_s: float = 300.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.deadband_pct = deadband_pct
        self.max_interval_s = max_interval_s
        self._ids = dict(self.db.execute("SELECT path, id FROM tags").fetchall())
        self._last: dict[int, tuple[float, float | None]] = {}   # tag id -> (t, v) stored
        self._samples: list[tuple[int, float, float | None, int]] = []
        self._events: list[tuple[float, str, str, str, str]] = []
        self._lock = threading.Lock()
        self.written = 0

    def close(self) -> None:
        self.flush()
        self.db.close()

    # --- recording -------------------------------------------------------------------------
    def tag_id(self, path: str) -> int:
        tid = self._ids.get(path)
        if tid is None:
            with self._lock:
                cur = self.db.execute("INSERT OR IGNORE INTO tags (path) VALUES (?)", (path,))
                tid = cur.lastrowid if cur.rowcount else self.db.execute(
                    "SELECT id FROM tags WHERE path = ?", (path,)).fetchone()[0]
            self._ids[path] = int(tid)  # type: ignore[arg-type]
        return int(tid)  # type: ignore[arg-type]

    def record(self, path: str, t: float, value: float | None, quality: Quality,
               span: float = 0.0) -> bool:
        """Buffer one sample if it moved past the deadband or the interval ran out."""
        tid = self.tag_id(path)
        last = self._last.get(tid)
        if last is not None and value is not None and last[1] is not None and \
                quality is Quality.GOOD:
            band = abs(span) * self.deadband_pct / 100.0
            if abs(value - last[1]) <= band and t - last[0] < self.max_interval_s:
                return False
        self._last[tid] = (t, value if quality is Quality.GOOD else None)
        self._samples.append((tid, t, value, int(quality)))
        return True

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        self._events.append((t, kind, source, text, json.dumps(data or {}, ensure_ascii=False)))

    def flush(self) -> int:
        """Write what is buffered in one transaction; returns the samples written."""
        samples, self._samples = self._samples, []
        events, self._events = self._events, []
        if not samples and not events:
            return 0
        minutes: dict[tuple[int, int], list[float]] = {}
        for tid, t, v, q in samples:
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
        with self._lock:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?)", samples)
            self.db.executemany(
                "INSERT INTO minutes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tag, m) DO UPDATE "
                "SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi), "
                "sum = sum + excluded.sum, n = n + excluded.n",
                [(tid, m, a[0], a[1], a[2], int(a[3])) for (tid, m), a in minutes.items()])
            self.db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
            self.db.execute("COMMIT")
        self.written += len(samples)
        return len(samples)

    async def flush_async(self) -> int:
        return await asyncio.to_thread(self.flush)

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
