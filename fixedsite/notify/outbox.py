"""The notification record and queue on disk (``notify.db``, SQLite, WAL).

One row per message, from queued to delivered (or failed, and why): it is at once the
queue that survives a channel down or a restart, and the record of who was told what,
by which channel, when. Episodes (an alarm from raised to acknowledged) carry the
escalation's progress, so a controller restarted half-way goes on where it was instead
of waking the duty man again; one-time acknowledgement tokens are kept as hashes only.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    def close(self) -> None:
        self.db.close()

    # --- messages --------------------------------------------------------------------
    def queue(self, created: float, channel: str, person: str, addr: str,
              episodes: list[str], step: str, priority: int, title: str, body: str,
              fallback_of: int | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO messages(created, channel, person, addr, episodes, step, priority,"
            " title, body, fallback_of) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (created, channel, person, addr, json.dumps(episodes), step, priority, title,
             body, fallback_of))
        return int(cur.lastrowid or 0)

    def head(self, channel: str) -> Message | None:
        """The oldest message still to go on ``channel``: delivery keeps their order."""
        row = self.db.execute("SELECT * FROM messages WHERE channel=? AND status='queued' "
                              "ORDER BY id LIMIT 1", (channel,)).fetchone()
        return _message(row) if row else None

    def queued(self, channel: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM messages WHERE channel=? AND "
                                   "status='queued'", (channel,)).fetchone()[0])

    def sent(self, mid: int, t: float, late: bool) -> None:
        self.db.execute("UPDATE messages SET status='sent', sent_at=?, late=?, "
                        "attempts=attempts+1 WHERE id=?", (t, int(late), mid))

    def attempt_failed(self, mid: int, why: str) -> None:
        self.db.execute("UPDATE messages SET attempts=attempts+1, last_error=? WHERE id=?",
                        (why[:500], mid))

    def give_up(self, mid: int, why: str) -> None:
        self.db.execute("UPDATE messages SET status='failed', last_error=? WHERE id=?",
                        (why[:500], mid))

    def has_fallback(self, mid: int) -> bool:
        return self.db.execute("SELECT 1 FROM messages WHERE fallback_of=?",
                               (mid,)).fetchone() is not None

    def get(self, mid: int) -> Message | None:
        row = self.db.execute("SELECT * FROM messages WHERE id=?", (mid,)).fetchone()
        return _message(row) if row else None

    def messages(self, t0: float = float("-inf"), t1: float = float("inf"),
                 episode: str | None = None) -> list[Message]:
        rows = self.db.execute("SELECT * FROM messages WHERE created>=? AND created<? "
                               "ORDER BY id", (t0, t1)).fetchall()
        out = [_message(r) for r in rows]
        return [m for m in out if episode is None or episode in m.episodes]

    # --- episodes --------------------------------------------------------------------
    def open_episode(self, e: Episode) -> None:
        self.db.execute("INSERT OR IGNORE INTO episodes(key, alarm, priority, raised, step,"
                        " route) VALUES (?,?,?,?,?,?)",
                        (e.key, e.alarm, e.priority, e.raised, e.step, e.route))

    def episode(self, key: str) -> Episode | None:
        row = self.db.execute("SELECT * FROM episodes WHERE key=?", (key,)).fetchone()
        return Episode(*row) if row else None

    def open_episodes(self) -> list[Episode]:
        return [Episode(*r) for r in self.db.execute(
            "SELECT * FROM episodes WHERE closed='' ORDER BY raised")]

    def episodes_between(self, t0: float, t1: float) -> list[Episode]:
        return [Episode(*r) for r in self.db.execute(
            "SELECT * FROM episodes WHERE raised>=? AND raised<? ORDER BY raised", (t0, t1))]

    def update_episode(self, key: str, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE episodes SET {cols} WHERE key=?", (*fields.values(), key))

    # --- one-time acknowledgement tokens ----------------------------------------------
    def add_token(self, token: str, episodes: list[str], person: str, created: float,
                  expires: float) -> None:
        self.db.execute("INSERT INTO tokens(hash, episodes, person, created, expires) "
                        "VALUES (?,?,?,?,?)",
                        (token_hash(token), json.dumps(episodes), person, created, expires))

    def token(self, token: str) -> tuple[list[str], str, float, float | None, str] | None:
        """(episodes, person, expires, used_at, used_how) of a token, None if unknown."""
        row = self.db.execute("SELECT episodes, person, expires, used_at, used_how FROM "
                              "tokens WHERE hash=?", (token_hash(token),)).fetchone()
        return (json.loads(row[0]), row[1], row[2], row[3], row[4]) if row else None

    def use_token(self, token: str, t: float, how: str) -> bool:
        """Spend a token once: False if it was spent already (a second click)."""
        cur = self.db.execute("UPDATE tokens SET used_at=?, used_how=? WHERE hash=? AND "
                              "used_at IS NULL", (t, how, token_hash(token)))
        return cur.rowcount == 1

    # --- handling notes ---------------------------------------------------------------
    def add_note(self, alarm: str, episode: str, t: float, person: str, text: str) -> None:
        self.db.execute("INSERT INTO notes(alarm, episode, t, person, text) VALUES "
                        "(?,?,?,?,?)", (alarm, episode, t, person, text))

    def notes(self, alarm: str | None = None) -> list[tuple[str, str, float, str, str]]:
        q = "SELECT alarm, episode, t, person, text FROM notes"
        rows = self.db.execute(q + (" WHERE alarm=?" if alarm else "") + " ORDER BY t",
                               (alarm,) if alarm else ()).fetchall()
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _message(row: tuple[Any, ...]) -> Message:
    (mid, created, channel, person, addr, episodes, step, priority, title, body, status,
     attempts, last_error, sent_at, late, fallback_of) = row
    return Message(mid, created, channel, person, addr, json.loads(episodes), step, priority,
                   title, body, status, attempts, last_error, sent_at, bool(late),
                   fallback_of)
