"""The notification record and queue on disk (``notify.db``, SQLite, WAL).

One row per message, from queued to delivered (or failed, and why): it is at once the
queue that survives a channel down or a restart, and the record of who was told what,
by which channel, when. Episodes (an alarm from raised to acknowledged) carry the
escalation's progress, so a controller restarted half-way goes on where it was instead
of waking the duty man again; one-time acknowledgement tokens are kept as hashes only.

A disk that refuses a write (full, failing) loses nothing and stops nothing: the write
waits in memory, in order, and what it changes is read from memory meanwhile (so a
message is sent once, an acknowledgement link works), until the disk takes them again;
``on_health`` says so, and the notification record's alarm is raised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY, created REAL NOT NULL, channel TEXT NOT NULL, person TEXT NOT NULL,
  addr TEXT NOT NULL, episodes TEXT NOT NULL, step TEXT NOT NULL, priority INTEGER NOT NULL,
  title TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  sent_at REAL, late INTEGER NOT NULL DEFAULT 0, fallback_of INTEGER);
CREATE INDEX IF NOT EXISTS messages_queue ON messages(channel, status, id);
CREATE TABLE IF NOT EXISTS episodes (
  key TEXT PRIMARY KEY, alarm TEXT NOT NULL, priority INTEGER NOT NULL, raised REAL NOT NULL,
  first_sent REAL, step INTEGER NOT NULL DEFAULT 0, route INTEGER NOT NULL,
  closed TEXT NOT NULL DEFAULT '', acked_at REAL, acked_by TEXT NOT NULL DEFAULT '',
  acked_via TEXT NOT NULL DEFAULT '', cleared_at REAL);
CREATE TABLE IF NOT EXISTS tokens (
  hash TEXT PRIMARY KEY, episodes TEXT NOT NULL, person TEXT NOT NULL, created REAL NOT NULL,
  expires REAL NOT NULL, used_at REAL, used_how TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS notes (
  id INTEGER PRIMARY KEY, alarm TEXT NOT NULL, episode TEXT NOT NULL, t REAL NOT NULL,
  person TEXT NOT NULL, text TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Message:
    id: int
    created: float
    channel: str
    person: str
    addr: str
    episodes: list[str]
    step: str
    priority: int
    title: str
    body: str
    status: str
    attempts: int
    last_error: str
    sent_at: float | None
    late: bool
    fallback_of: int | None


@dataclass
class Episode:
    key: str
    alarm: str
    priority: int
    raised: float
    first_sent: float | None
    step: int
    route: int
    closed: str
    acked_at: float | None
    acked_by: str
    acked_via: str
    cleared_at: float | None


def episode_key(alarm: str, raised: float) -> str:
    return f"{alarm}@{raised:.3f}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._next_id = int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM messages")
                            .fetchone()[0]) + 1
        self.pending: list[tuple[str, tuple[Any, ...]]] = []   # writes the disk refused
        self.error = ""
        self.on_health: Callable[[str], None] = lambda why: None
        # what the waiting writes change, read from here until they are on disk
        self._msgs: dict[int, Message] = {}
        self._eps: dict[str, Episode] = {}
        self._tokens: dict[str, list[Any]] = {}

    def close(self) -> None:
        self.flush()
        self.db.close()

    # --- writes that wait for the disk -------------------------------------------------
    def _write(self, sql: str, params: tuple[Any, ...]) -> bool:
        """True if on disk now; False if it waits in memory (in order)."""
        if not self.pending:
            try:
                self.db.execute(sql, params)
                return True
            except sqlite3.Error as e:
                self.pending.append((sql, params))     # queued before anyone hears of it:
                self._failed(e)                        # the alarm it raises writes too
                return False
        self.pending.append((sql, params))
        return False

    def _failed(self, e: BaseException) -> None:
        why = f"{self.path}: {e}"
        if why != self.error:
            self.error = why
            self.on_health(why)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            self._failed(e)
            return []

    def flush(self) -> bool:
        """Write what waits; True when nothing waits any more."""
        while self.pending:
            sql, params = self.pending[0]
            try:
                self.db.execute(sql, params)
            except sqlite3.IntegrityError as e:    # never going to take: not the disk
                log.error("notification record: write dropped: %s", e)
            except sqlite3.Error as e:
                self._failed(e)
                return False
            self.pending.pop(0)
        if self.error:
            self.error = ""
            self._msgs.clear()
            self._eps.clear()
            self._tokens.clear()
            self.on_health("")
        return True

    # --- messages --------------------------------------------------------------------
    def queue(self, created: float, channel: str, person: str, addr: str,
              episodes: list[str], step: str, priority: int, title: str, body: str,
              fallback_of: int | None = None) -> int:
        mid = self._next_id
        self._next_id += 1
        m = Message(mid, created, channel, person, addr, list(episodes), step, priority,
                    title, body, "queued", 0, "", None, False, fallback_of)
        if not self._write(
                "INSERT INTO messages(id, created, channel, person, addr, episodes, step, "
                "priority, title, body, fallback_of) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (mid, created, channel, person, addr, json.dumps(episodes), step, priority,
                 title, body, fallback_of)):
            self._msgs[mid] = m
        return mid

    def _overlay(self, rows: list[Any]) -> list[Message]:
        out = {r[0]: _message(r) for r in rows}
        out.update(self._msgs)
        return [out[k] for k in sorted(out)]

    def head(self, channel: str) -> Message | None:
        """The oldest message still to go on ``channel``: delivery keeps their order."""
        rows = self._rows("SELECT * FROM messages WHERE channel=? AND status='queued' "
                          "ORDER BY id LIMIT 50", (channel,))
        return next((m for m in self._overlay(rows)
                     if m.channel == channel and m.status == "queued"), None)

    def queued(self, channel: str) -> int:
        if not self._msgs:
            rows = self._rows("SELECT COUNT(*) FROM messages WHERE channel=? AND "
                              "status='queued'", (channel,))
            return int(rows[0][0]) if rows else 0
        rows = self._rows("SELECT * FROM messages WHERE channel=? AND status='queued'",
                          (channel,))
        return sum(1 for m in self._overlay(rows)
                   if m.channel == channel and m.status == "queued")

    def _update(self, mid: int, sql: str, params: tuple[Any, ...], **new: Any) -> None:
        cur = self.get(mid)
        if not self._write(sql, params) and cur is not None:
            self._msgs[mid] = replace(cur, **new)

    def sent(self, mid: int, t: float, late: bool) -> None:
        cur = self.get(mid)
        self._update(mid, "UPDATE messages SET status='sent', sent_at=?, late=?, "
                     "attempts=attempts+1 WHERE id=?", (t, int(late), mid), status="sent",
                     sent_at=t, late=late, attempts=(cur.attempts + 1) if cur else 1)

    def attempt_failed(self, mid: int, why: str) -> None:
        cur = self.get(mid)
        self._update(mid, "UPDATE messages SET attempts=attempts+1, last_error=? WHERE id=?",
                     (why[:500], mid), attempts=(cur.attempts + 1) if cur else 1,
                     last_error=why[:500])

    def give_up(self, mid: int, why: str) -> None:
        self._update(mid, "UPDATE messages SET status='failed', last_error=? WHERE id=?",
                     (why[:500], mid), status="failed", last_error=why[:500])

    def has_fallback(self, mid: int) -> bool:
        return bool(self._rows("SELECT 1 FROM messages WHERE fallback_of=?", (mid,))) or \
            any(m.fallback_of == mid for m in self._msgs.values())

    def get(self, mid: int) -> Message | None:
        if mid in self._msgs:
            return self._msgs[mid]
        rows = self._rows("SELECT * FROM messages WHERE id=?", (mid,))
        return _message(rows[0]) if rows else None

    def messages(self, t0: float = float("-inf"), t1: float = float("inf"),
                 episode: str | None = None) -> list[Message]:
        rows = self._rows("SELECT * FROM messages WHERE created>=? AND created<? ORDER BY id",
                          (t0, t1))
        return [m for m in self._overlay(rows) if t0 <= m.created < t1
                and (episode is None or episode in m.episodes)]

    # --- episodes --------------------------------------------------------------------
    def open_episode(self, e: Episode) -> None:
        if not self._write("INSERT OR IGNORE INTO episodes(key, alarm, priority, raised, "
                           "step, route) VALUES (?,?,?,?,?,?)",
                           (e.key, e.alarm, e.priority, e.raised, e.step, e.route)):
            self._eps.setdefault(e.key, replace(e))

    def episode(self, key: str) -> Episode | None:
        if key in self._eps:
            return self._eps[key]
        rows = self._rows("SELECT * FROM episodes WHERE key=?", (key,))
        return Episode(*rows[0]) if rows else None

    def _episodes(self, rows: list[Any]) -> list[Episode]:
        out = {r[0]: Episode(*r) for r in rows}
        out.update(self._eps)
        return sorted(out.values(), key=lambda e: e.raised)

    def open_episodes(self) -> list[Episode]:
        return [e for e in self._episodes(self._rows("SELECT * FROM episodes WHERE "
                                                     "closed=''")) if not e.closed]

    def episodes_between(self, t0: float, t1: float) -> list[Episode]:
        return [e for e in self._episodes(self._rows(
            "SELECT * FROM episodes WHERE raised>=? AND raised<?", (t0, t1)))
            if t0 <= e.raised < t1]

    def update_episode(self, key: str, **fields: Any) -> None:
        cur = self.episode(key)
        cols = ", ".join(f"{k}=?" for k in fields)
        if not self._write(f"UPDATE episodes SET {cols} WHERE key=?",
                           (*fields.values(), key)) and cur is not None:
            self._eps[key] = replace(cur, **fields)

    # --- one-time acknowledgement tokens ----------------------------------------------
    def add_token(self, token: str, episodes: list[str], person: str, created: float,
                  expires: float) -> None:
        h = token_hash(token)
        if not self._write("INSERT INTO tokens(hash, episodes, person, created, expires) "
                           "VALUES (?,?,?,?,?)",
                           (h, json.dumps(episodes), person, created, expires)):
            self._tokens[h] = [list(episodes), person, expires, None, ""]

    def token(self, token: str) -> tuple[list[str], str, float, float | None, str] | None:
        """(episodes, person, expires, used_at, used_how) of a token, None if unknown."""
        h = token_hash(token)
        if h in self._tokens:
            e, person, expires, used_at, how = self._tokens[h]
            return e, person, expires, used_at, how
        rows = self._rows("SELECT episodes, person, expires, used_at, used_how FROM tokens "
                          "WHERE hash=?", (h,))
        if not rows:
            return None
        row = rows[0]
        return json.loads(row[0]), row[1], row[2], row[3], row[4]

    def use_token(self, token: str, t: float, how: str) -> bool:
        """Spend a token once: False if it was spent already (a second click)."""
        found = self.token(token)
        if found is None or found[3] is not None:
            return False
        h = token_hash(token)
        if not self.pending:
            try:
                cur = self.db.execute("UPDATE tokens SET used_at=?, used_how=? WHERE hash=? "
                                      "AND used_at IS NULL", (t, how, h))
                return cur.rowcount == 1
            except sqlite3.Error as e:
                self.pending.append(("UPDATE tokens SET used_at=?, used_how=? WHERE "
                                     "hash=? AND used_at IS NULL", (t, how, h)))
                self._tokens[h] = [found[0], found[1], found[2], t, how]
                self._failed(e)
                return True
        self.pending.append(("UPDATE tokens SET used_at=?, used_how=? WHERE hash=? AND "
                             "used_at IS NULL", (t, how, h)))
        self._tokens[h] = [found[0], found[1], found[2], t, how]
        return True

    # --- handling notes ---------------------------------------------------------------
    def add_note(self, alarm: str, episode: str, t: float, person: str, text: str) -> None:
        self._write("INSERT INTO notes(alarm, episode, t, person, text) VALUES (?,?,?,?,?)",
                    (alarm, episode, t, person, text))

    def notes(self, alarm: str | None = None) -> list[tuple[str, str, float, str, str]]:
        q = "SELECT alarm, episode, t, person, text FROM notes"
        rows = self._rows(q + (" WHERE alarm=?" if alarm else "") + " ORDER BY t",
                          (alarm,) if alarm else ())
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _message(row: tuple[Any, ...]) -> Message:
    (mid, created, channel, person, addr, episodes, step, priority, title, body, status,
     attempts, last_error, sent_at, late, fallback_of) = row
    return Message(mid, created, channel, person, addr, json.loads(episodes), step, priority,
                   title, body, status, attempts, last_error, sent_at, bool(late),
                   fallback_of)
