"""The audit log: every command and config change, in a hash chain that shows tampering.

Each record carries the HMAC-SHA256 of its own fields and of the previous record's
hash, so altering, deleting or reordering a record breaks the chain at that point. The
key lives in a file beside the database (mode 0600), so someone who can edit the
database alone cannot rewrite the chain to match.

Three ways to erase evidence that leave a valid chain are closed too:

- cutting records off the tail: the chain's head (last sequence number and hash) is
  also kept in a separate file, signed with the key, after every append; a head that
  the database does not reach, or that is not signed by the key (rewritten from the
  database's own last hash), breaks the log;
- emptying the log: the first record of every log is a genesis record, written when
  the log and its key are made; a log without one is broken, even an empty one;
- letting the controller append after a cut: an ``AuditLog`` checks the head, the
  genesis record and the last record when it opens, and the head, the database's last
  record and the file's identity before every append. A log found tampered takes no
  more records (``append`` raises ``AuditError``), ``controller.audit.ok`` says so, and
  the command gate refuses every command, since a command it cannot record must not
  be executed. The same goes, until it recovers, for a log that cannot be written
  (disk full, read-only, removed).

Deleting the database, its head and its key all together leaves nothing to compare
with; that needs a copy kept elsewhere (the historian's command events, the uplink).

This answers the mining records rules (records "not susceptible to alteration", run
records tamper-evident) and IEC 62443 SR 2.8 (who, what, when, result, for every
command). ``fixedsite audit verify`` reports the first broken or missing record.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixedsite.health import Health, file_identity
from fixedsite.tags import TagStore

log = logging.getLogger(__name__)

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


class AuditError(Exception):
    """The audit log cannot take a record; the message says why."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    records: int
    message: str
    first_bad: int | None = None
    missing: bool = False       # no database at the path: nothing to check (not "broken")


class AuditLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.head_path = _head_path(self.path)
        key_path = _key_path(self.path)
        self._lock = threading.Lock()
        self._health = Health("audit")
        self.ok, self.error = True, ""
        self._tampered = ""
        self._needs_genesis = False
        self._ident = file_identity(self.path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._ident = file_identity(self.path)
            row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                                   ).fetchone()
        except sqlite3.Error as e:
            # the controller still runs (commands refused, the alarm up); reads see nothing
            self._db = sqlite3.connect(":memory:", check_same_thread=False,
                                       isolation_level=None)
            self._db.execute(_SCHEMA)
            self._seq, self._hash, self._head, self._key = 0, GENESIS, None, b""
            self._tampered = f"{self.path} is not a readable audit database: {e}"
            self._set(False, f"audit log unusable: {self._tampered}; no record is added")
            log.error("audit log: %s", self.error)
            return
        self._seq, self._hash = (row[0], row[1]) if row else (0, GENESIS)
        self._head: tuple[int, str] | None = None
        key = _key(key_path, create=False)
        if not key_path.exists() and row is None and not self.head_path.exists():
            # a new log: its key and its genesis record are made together, so a log whose
            # key exists but has no genesis record was emptied
            self._key = _key(key_path) or b""
            self._needs_genesis = True
            with self._lock, contextlib.suppress(AuditError):   # retried at the first append
                self._genesis()
            return
        self._key = key or b""
        problem = "its key file is missing or unreadable" if key is None else \
            self._check_open()
        if problem:
            self._tampered = problem
            self._set(False, f"audit log tampered: {problem}; no record is added to it")
            log.error("audit log %s: %s", self.path, self.error)

    def close(self) -> None:
        self._db.close()

    # --- health ----------------------------------------------------------------------------
    def publish_health(self, store: TagStore) -> None:
        """Keep ``controller.audit.ok/error`` true from now on (ok false while records
        cannot be added: commands are refused then)."""
        self._health.attach(store)
        self._publish()

    def _publish(self) -> None:
        self._health.publish(ok=self.ok, error=self.error)

    def _set(self, ok: bool, error: str) -> None:
        changed = (ok, error) != (self.ok, self.error)
        self.ok, self.error = ok, error
        if changed:
            self._publish()

    # --- writing ---------------------------------------------------------------------------
    def append(self, *, ts: float, kind: str, actor: str, source: str, target: str,
               action: str, params: dict[str, Any] | None = None, decision: str = "",
               reason: str = "", result: str = "") -> int:
        """Add one record; returns its sequence number.

        Raises ``AuditError`` when the record cannot be added (the log was tampered with,
        or the disk refuses): the caller must then not act as if it were recorded."""
        with self._lock:
            if self._tampered:
                raise AuditError(self.error)
            problem = self._check_live()
            if problem:
                self._tampered = problem
                self._set(False, f"audit log tampered: {problem}; no record is added to it")
                log.error("audit log %s: %s", self.path, self.error)
                raise AuditError(self.error)
            if self._needs_genesis:
                self._genesis()
            seq = self._append_locked(ts=ts, kind=kind, actor=actor, source=source,
                                      target=target, action=action, params=params,
                                      decision=decision, reason=reason, result=result)
        return seq

    def _genesis(self) -> None:
        """The first record of every log; stamped with wall time (when the file was made)."""
        self._append_locked(ts=time.time(), kind="genesis", actor="controller",
                            source="audit", target=self.path.name, action="created",
                            params={}, decision="", reason="", result="")
        self._needs_genesis = False

    def _append_locked(self, *, ts: float, kind: str, actor: str, source: str, target: str,
                       action: str, params: dict[str, Any] | None, decision: str,
                       reason: str, result: str) -> int:
        try:
            rec = {"seq": self._seq + 1, "ts": round(float(ts), 6), "kind": kind,
                   "actor": actor, "source": source, "target": target, "action": action,
                   "params": json.dumps(params or {}, sort_keys=True, ensure_ascii=False,
                                        default=str),
                   "decision": decision, "reason": reason, "result": result}
            digest = _digest(self._key, self._hash, rec)
            self._db.execute(f"INSERT INTO audit ({', '.join(FIELDS)}, prev_hash, hash) "
                             f"VALUES ({', '.join('?' * (len(FIELDS) + 2))})",
                             [rec[f] for f in FIELDS] + [self._hash, digest])
        except (sqlite3.Error, ValueError, TypeError) as e:
            return self._write_failed(f"{self.path} cannot be written: {e}")
        self._seq, self._hash = int(rec["seq"]), digest
        try:
            _write_head(self.head_path, self._key, self._seq, digest)
        except OSError as e:
            # the record is in the database; the head stays one behind, which open and
            # verify accept (as after a crash between the two writes)
            return self._write_failed(f"head file {self.head_path} cannot be written: {e}")
        self._head = (self._seq, digest)
        if not self.ok:
            log.warning("audit log %s: writing again", self.path)
        self._set(True, "")
        return self._seq

    def _write_failed(self, why: str) -> int:
        if self.ok:
            log.error("audit log: %s", why)
        self._set(False, why)
        raise AuditError(why)

    # --- checks ----------------------------------------------------------------------------
    def _check_open(self) -> str:
        """What is wrong with the log as found on disk, or "" (cheap: genesis, last record,
        head; ``verify`` walks the whole chain)."""
        first = self._db.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM audit "
                                 "WHERE seq = 1").fetchone()
        if first is None:
            return "no genesis record: its records were deleted"
        rec = dict(zip(FIELDS, first[:len(FIELDS)], strict=True))
        if rec["kind"] != "genesis" or first[-2] != GENESIS or not hmac.compare_digest(
                _digest(self._key, GENESIS, rec), first[-1]):
            return "record 1 is not this log's genesis record"
        last = self._db.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM audit "
                                "ORDER BY seq DESC LIMIT 1").fetchone()
        rec = dict(zip(FIELDS, last[:len(FIELDS)], strict=True))
        if not hmac.compare_digest(_digest(self._key, last[-2], rec), last[-1]):
            return f"record {rec['seq']} was altered: its content does not match its hash"
        head = _read_head(self.head_path, self._key)
        problem = _head_problem(head, self._seq, self._hash, self._hash_at)
        if problem:
            return problem
        assert head is not None
        self._head = head
        return ""

    def _hash_at(self, seq: int) -> str | None:
        row = self._db.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def _check_live(self) -> str:
        """Before an append: is the database still the file we opened, does it still end
        where we left it, and is the head file still the one we wrote?"""
        if file_identity(self.path) != self._ident:
            return f"{self.path} was removed or replaced under the running controller"
        try:
            row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                                   ).fetchone()
        except sqlite3.Error as e:
            return f"{self.path} cannot be read: {e}"
        if ((row[0], row[1]) if row else (0, GENESIS)) != (self._seq, self._hash):
            return (f"the database ends at record {row[0] if row else 0}, not at record "
                    f"{self._seq} as written: records were removed or rewritten")
        if _read_head(self.head_path, self._key) != self._head:
            return "the head file was changed or removed"
        return ""

    # --- reading ---------------------------------------------------------------------------
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
    """Walk the chain from the genesis record; the first record that does not fit is
    reported, then the head kept apart is checked against where the chain ends."""
    path = Path(path)
    if not path.is_file():
        return Verdict(False, 0, f"no audit database at {path}", missing=True)
    key = _key(_key_path(path), create=False)
    if key is None:
        return Verdict(False, 0, f"{path}: its key file is missing; the chain cannot be "
                                 "checked")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM audit "
                              "ORDER BY rowid").fetchall()
        finally:
            db.close()
    except sqlite3.Error as e:
        return Verdict(False, 0, f"{path} is not a readable audit database: {e}")
    if not rows:
        return Verdict(False, 0, "no genesis record: the log is empty, its records were "
                                 "deleted", 1)
    prev, expect_seq = GENESIS, 1
    hashes: dict[int, str] = {}
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
        if seq == 1 and rec["kind"] != "genesis":
            return Verdict(False, 0, "record 1 is not a genesis record: the log's start is "
                                     "missing", 1)
        prev, expect_seq = row[-1], seq + 1
        hashes[seq] = prev
    count = expect_seq - 1
    problem = _head_problem(_read_head(_head_path(path), key), count, prev, hashes.get)
    if problem:
        head = _read_head(_head_path(path), key)
        first_bad = count + 1 if head is not None and head[0] > count else count
        return Verdict(False, count, problem, first_bad)
    return Verdict(True, count, f"{count} records, chain intact")


def _head_problem(head: tuple[int, str] | None, seq: int, digest: str,
                  hash_at: Any) -> str:
    """What the signed head says is wrong with a chain that ends at ``seq``/``digest``.

    A head behind the chain is accepted if it matches the record it names: the head is
    written after the record, so a crash (or a failed head write) leaves it one behind,
    and without the key nobody can add records to make it so."""
    if head is None:
        return ("the head file is missing or not signed by this log's key (removed or "
                "rewritten)")
    head_seq, head_hash = head
    if head_seq > seq:
        return f"records {seq + 1}..{head_seq} are missing: the tail was cut off"
    if head_hash != (digest if head_seq == seq else hash_at(head_seq)):
        return f"record {head_seq} differs from the head kept apart"
    return ""


def _digest(key: bytes, prev: str, rec: dict[str, Any]) -> str:
    body = json.dumps([prev] + [rec[f] for f in FIELDS], ensure_ascii=False,
                      separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, f"head {seq} {digest}".encode(), hashlib.sha256).hexdigest()


def _key_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".key")


def _head_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".head")


def _key(path: Path, create: bool = True) -> bytes | None:
    if path.exists():
        try:
            return bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError):
            return None
    if not create:
        return None
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def _write_head(path: Path, key: bytes, seq: int, digest: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{seq} {digest} {_head_mac(key, seq, digest)}\n")
    os.replace(tmp, path)


def _read_head(path: Path, key: bytes) -> tuple[int, str] | None:
    """The head, if the file is there and signed by ``key``; else None."""
    try:
        seq_text, digest, mac = path.read_text().split()
        seq = int(seq_text)
    except (OSError, ValueError):
        return None
    if not hmac.compare_digest(_head_mac(key, seq, digest), mac):
        return None
    return seq, digest
