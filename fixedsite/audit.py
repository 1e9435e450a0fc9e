"""The audit log: every command and config change, in a hash chain that shows tampering.

Each record carries the HMAC-SHA256 of its own fields and of the previous record's
hash, so altering, deleting or reordering a record breaks the chain at that point. The
key lives in a file beside the database (mode 0600), so someone who can edit the
database alone cannot rewrite the chain to match. The chain's head (last sequence
number and hash) is also written to a separate file after every append, so cutting
records off the tail, which leaves a perfectly valid shorter chain, is caught too.

This answers the mining records rules (records "not susceptible to alteration", run
records tamper-evident) and IEC 62443 SR 2.8 (who, what, when, result, for every
command). ``fixedsite audit verify`` reports the first broken or missing record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
FIELDS = ("seq", "ts", "kind", "actor", "source", "target", "action", "params", "decision",
          "reason", "result")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
    source TEXT NOT NULL, target TEXT NOT NULL, action TEXT NOT NULL, params TEXT NOT NULL,
    decision TEXT NOT NULL, reason TEXT NOT NULL, result TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
"""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    records: int
    message: str
    first_bad: int | None = None


class AuditLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.head_path = self.path.with_suffix(self.path.suffix + ".head")
        self._key = _key(self.path.with_suffix(self.path.suffix + ".key"))
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq, self._hash = (row[0], row[1]) if row else (0, GENESIS)

    def close(self) -> None:
        self._db.close()

    def append(self, *, ts: float, kind: str, actor: str, source: str, target: str,
               action: str, params: dict[str, Any] | None = None, decision: str = "",
               reason: str = "", result: str = "") -> int:
        """Add one record; returns its sequence number."""
        with self._lock:
            rec = {"seq": self._seq + 1, "ts": round(ts, 6), "kind": kind, "actor": actor,
                   "source": source, "target": target, "action": action,
                   "params": json.dumps(params or {}, sort_keys=True, ensure_ascii=False),
                   "decision": decision, "reason": reason, "result": result}
            digest = _digest(self._key, self._hash, rec)
            self._db.execute(f"INSERT INTO audit ({', '.join(FIELDS)}, prev_hash, hash) "
                             f"VALUES ({', '.join('?' * (len(FIELDS) + 2))})",
                             [rec[f] for f in FIELDS] + [self._hash, digest])
            self._seq, self._hash = rec["seq"], digest
            _write_head(self.head_path, self._seq, digest)
            return int(rec["seq"])

    def tail(self, n: int = 20) -> list[dict[str, Any]]:
        cur = self._db.execute(f"SELECT {', '.join(FIELDS)} FROM audit ORDER BY seq DESC "
                               "LIMIT ?", (n,))
        return [dict(zip(FIELDS, row, strict=True)) for row in reversed(cur.fetchall())]

    def last_of(self, kind: str) -> dict[str, Any] | None:
        row = self._db.execute(f"SELECT {', '.join(FIELDS)} FROM audit WHERE kind = ? "
                               "ORDER BY seq DESC LIMIT 1", (kind,)).fetchone()
        return dict(zip(FIELDS, row, strict=True)) if row else None

    def verify(self) -> Verdict:
        return verify(self.path)


def verify(path: str | Path) -> Verdict:
    """Walk the chain from the start; the first record that does not fit is reported."""
    path = Path(path)
    if not path.exists():
        return Verdict(False, 0, f"{path}: no audit database")
    key = _key(path.with_suffix(path.suffix + ".key"), create=False)
    if key is None:
        return Verdict(False, 0, f"{path}: its key file is missing; the chain cannot be "
                                 "checked")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM audit "
                          "ORDER BY rowid").fetchall()
    finally:
        db.close()
    prev, expect_seq = GENESIS, 1
    for row in rows:
        rec = dict(zip(FIELDS, row[:len(FIELDS)], strict=True))
        seq = rec["seq"]
        if seq != expect_seq:
            what = "missing" if seq > expect_seq else "out of order"
            return Verdict(False, expect_seq - 1, f"record {expect_seq} is {what} (found "
                           f"{seq} after {expect_seq - 1})", expect_seq)
        if row[-2] != prev:
            return Verdict(False, seq - 1, f"record {seq} does not follow record {seq - 1}: "
                           "a record was removed, reordered or rewritten", seq)
        if not hmac.compare_digest(_digest(key, prev, rec), row[-1]):
            return Verdict(False, seq - 1, f"record {seq} was altered: its content does not "
                           "match its hash", seq)
        prev, expect_seq = row[-1], seq + 1
    count = expect_seq - 1
    head = _read_head(path.with_suffix(path.suffix + ".head"))
    if head is None:
        return Verdict(count == 0, count, "no head file" if count else "empty log")
    head_seq, head_hash = head
    if head_seq > count:
        return Verdict(False, count, f"records {count + 1}..{head_seq} are missing: the tail "
                       "was cut off", count + 1)
    if head_seq == count and head_hash != prev:
        return Verdict(False, count, f"record {count} differs from the head kept apart",
                       count)
    return Verdict(True, count, f"{count} records, chain intact")


def _digest(key: bytes, prev: str, rec: dict[str, Any]) -> str:
    body = json.dumps([prev] + [rec[f] for f in FIELDS], ensure_ascii=False,
                      separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _key(path: Path, create: bool = True) -> bytes | None:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        return None
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def _write_head(path: Path, seq: int, digest: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{seq} {digest}\n")
    os.replace(tmp, path)


def _read_head(path: Path) -> tuple[int, str] | None:
    try:
        seq, digest = path.read_text().split()
    except (OSError, ValueError):
        return None
    return int(seq), digest
