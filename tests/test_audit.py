"""The audit log's hash chain: tampering, deleting, reordering and cutting are caught."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fixedsite.audit import AuditError, AuditLog, verify
from fixedsite.clock import ManualClock
from fixedsite.gate import Command, CommandGate, Decision
from fixedsite.tags import TagStore


def filled(tmp_path: Path, n: int = 6) -> Path:
    log = AuditLog(tmp_path / "audit.db")
    for i in range(n):
        log.append(ts=1000.0 + i, kind="command", actor="op1", source="operator",
                   target=f"drainage.pump{i % 4 + 1}", action="start", params={"i": i},
                   decision="accepted", result="now priming")
    log.close()
    return tmp_path / "audit.db"


def sql(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def test_intact_chain_verifies(tmp_path: Path) -> None:
    v = verify(filled(tmp_path))       # the genesis record and six commands
    assert v.ok and v.records == 7 and v.message == "7 records, chain intact"


def test_altered_record_is_caught(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "UPDATE audit SET actor = 'nobody' WHERE seq = 4")
    v = verify(db)
    assert not v.ok and v.first_bad == 4 and "altered" in v.message


def test_deleted_record_is_caught(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit WHERE seq = 3")
    v = verify(db)
    assert not v.ok and v.first_bad == 3 and "record 3 is missing" in v.message


def test_reordered_records_are_caught(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "UPDATE audit SET seq = -1 WHERE seq = 2", "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -1")
    v = verify(db)
    assert not v.ok and v.first_bad == 2


def test_rewritten_chain_without_the_key_is_caught(tmp_path: Path) -> None:
    """Recomputing plain SHA-256 hashes does not help a forger: the chain is keyed."""
    import hashlib
    import json
    db = filled(tmp_path, 3)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    prev = "0" * 64
    for r in rows:
        fields = list(r[:11])
        fields[3] = "forger"
        h = hashlib.sha256(json.dumps([prev, *fields]).encode()).hexdigest()
        con.execute("UPDATE audit SET actor='forger', prev_hash=?, hash=? WHERE seq=?",
                    (prev, h, r[0]))
        prev = h
    con.commit()
    con.close()
    v = verify(db)
    assert not v.ok and v.first_bad == 1


def test_cut_tail_is_caught_by_the_head_kept_apart(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit WHERE seq >= 5")
    v = verify(db)
    assert not v.ok and "records 5..7 are missing" in v.message and v.first_bad == 5


def test_missing_key_is_reported(tmp_path: Path) -> None:
    db = filled(tmp_path)
    (tmp_path / "audit.db.key").unlink()
    v = verify(db)
    assert not v.ok and "key file is missing" in v.message


def test_appending_after_reopen_continues_the_chain(tmp_path: Path) -> None:
    db = filled(tmp_path, 2)
    log = AuditLog(db)
    assert log.append(ts=5.0, kind="config", actor="controller", source="startup",
                      target="demo", action="first") == 4
    log.close()
    assert verify(db).ok


class _Refuser:
    def check(self, cmd: Command) -> str | None:
        return "pump1 is in LOCAL at the field panel"

    async def execute(self, cmd: Command) -> Decision:
        raise AssertionError("never executed")


async def test_gate_records_every_decision(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    gate = CommandGate(ManualClock(123.0), audit=log)
    gate.register("drainage.pump1", _Refuser())
    await gate.submit(Command("drainage.pump1", "start", "operator", "zhang"))
    await gate.submit(Command("drainage.pump7", "stop", "auto"))
    rows = [r for r in log.tail() if r["kind"] == "command"]
    assert [(r["actor"], r["target"], r["decision"]) for r in rows] == [
        ("zhang", "drainage.pump1", "refused"), ("auto", "drainage.pump7", "refused")]
    assert rows[0]["reason"] == "pump1 is in LOCAL at the field panel"
    assert rows[0]["ts"] == 123.0
    log.close()


@pytest.mark.parametrize("tamper, code", [(False, 0), (True, 1)])
def test_cli_verify(tmp_path: Path, tamper: bool, code: int) -> None:
    db = filled(tmp_path)
    if tamper:
        sql(db, "UPDATE audit SET reason = 'x' WHERE seq = 2")
    r = subprocess.run([sys.executable, "-m", "fixedsite", "audit", "verify", "--db", str(db)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == code
    assert ("OK: 7 records" in r.stdout) if not tamper else ("BROKEN: record 2 was altered"
                                                             in r.stdout)


def _append(log: AuditLog, i: int = 0) -> int:
    return log.append(ts=2000.0 + i, kind="command", actor="op2", source="operator",
                      target="drainage.pump1", action="stop", params={"i": i},
                      decision="accepted", result="stopped")


def test_a_new_log_starts_with_its_genesis_record(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    assert [(r["seq"], r["kind"]) for r in log.tail()] == [(1, "genesis")]
    log.close()
    assert verify(tmp_path / "audit.db").ok


def test_cut_tail_then_an_append_by_the_controller_is_caught(tmp_path: Path) -> None:
    """Cut the last records, then let a controller open the log and append: the head kept
    apart still names the cut records, so the log is broken and takes nothing more."""
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit WHERE seq >= 6")
    log = AuditLog(db)
    assert not log.ok and "records 6..7 are missing" in log.error
    with pytest.raises(AuditError, match="tampered"):
        _append(log)
    log.close()
    v = verify(db)
    assert not v.ok and v.first_bad == 6 and "records 6..7 are missing" in v.message


def test_emptied_log_without_its_head_is_broken(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit")
    (tmp_path / "audit.db.head").unlink()
    v = verify(db)
    assert not v.ok and "no genesis record" in v.message and v.first_bad == 1
    log = AuditLog(db)                         # the key is there: this log was started
    assert not log.ok and "no genesis record" in log.error
    with pytest.raises(AuditError):
        _append(log)
    log.close()
    assert not verify(db).ok


def test_a_log_whose_first_records_were_deleted_is_broken(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit WHERE seq <= 2")
    v = verify(db)
    assert not v.ok and v.first_bad == 1
    assert not AuditLog(db).ok


@pytest.mark.parametrize("signed", [False, True])
def test_head_rewritten_from_the_database_is_caught(tmp_path: Path, signed: bool) -> None:
    """Cut the tail and rewrite the head from the database's own last hash: without the
    key the head cannot be signed (an old-style two-field head, or a made-up signature)."""
    import hashlib
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit WHERE seq >= 5")
    con = sqlite3.connect(db)
    seq, digest = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                              ).fetchone()
    con.close()
    fake = hashlib.sha256(f"head {seq} {digest}".encode()).hexdigest()
    (tmp_path / "audit.db.head").write_text(f"{seq} {digest}" + (f" {fake}" if signed
                                                                  else "") + "\n")
    v = verify(db)
    assert not v.ok and "head file is missing or not signed" in v.message
    log = AuditLog(db)
    assert not log.ok and "not signed" in log.error
    with pytest.raises(AuditError):
        _append(log)
    log.close()


def test_tampering_under_a_running_log_stops_its_appends(tmp_path: Path) -> None:
    db = filled(tmp_path)
    log = AuditLog(db)
    assert log.ok and _append(log) == 8
    sql(db, "DELETE FROM audit WHERE seq = 8")          # cut while the controller runs
    with pytest.raises(AuditError, match="records were removed or rewritten"):
        _append(log, 1)
    assert not log.ok
    log.close()
    assert not verify(db).ok


def test_head_changed_under_a_running_log_stops_its_appends(tmp_path: Path) -> None:
    db = filled(tmp_path)
    log = AuditLog(db)
    (tmp_path / "audit.db.head").unlink()
    with pytest.raises(AuditError, match="head file was changed or removed"):
        _append(log)
    log.close()


def test_database_removed_under_a_running_log_is_not_written_silently(
        tmp_path: Path) -> None:
    db = filled(tmp_path)
    log = AuditLog(db)
    db.unlink()
    with pytest.raises(AuditError, match="removed or replaced"):
        _append(log)
    log.close()


def test_a_full_disk_refuses_records_and_health_says_so(tmp_path: Path) -> None:
    """SQLite really refuses (the database may not grow past its pages); the log says
    so in controller.audit.*, and writes again once there is room."""
    store = TagStore(ManualClock(0.0))
    log = AuditLog(tmp_path / "audit.db")
    log.publish_health(store)
    assert store.value("controller.audit.ok") is True
    assert store.value("controller.audit.error") == ""
    pages = log._db.execute("PRAGMA page_count").fetchone()[0]
    log._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(AuditError, match="database or disk is full"):
        for i in range(10_000):
            _append(log, i)
    assert store.value("controller.audit.ok") is False
    assert "database or disk is full" in store.value("controller.audit.error")
    written = log.tail(1)[0]["seq"]
    log._db.execute("PRAGMA max_page_count = 1073741823")
    assert _append(log, 99) == written + 1
    assert store.value("controller.audit.ok") is True
    log.close()
    assert verify(tmp_path / "audit.db").ok


def test_a_tampered_log_found_at_open_is_reported_in_health(tmp_path: Path) -> None:
    db = filled(tmp_path)
    sql(db, "DELETE FROM audit WHERE seq = 7")
    store = TagStore(ManualClock(0.0))
    log = AuditLog(db)
    log.publish_health(store)
    assert store.value("controller.audit.ok") is False
    assert "tampered" in store.value("controller.audit.error")
    log.close()


def test_verify_a_missing_database_says_so(tmp_path: Path) -> None:
    v = verify(tmp_path / "nope.db")
    assert not v.ok and v.missing and v.message == f"no audit database at {tmp_path}/nope.db"
    assert not (tmp_path / "nope.db").exists()


def test_verify_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = filled(tmp_path)
    db.write_bytes(b"not a database at all" * 100)
    v = verify(db)
    assert not v.ok and "not a readable audit database" in v.message


def test_a_head_left_one_behind_by_a_crash_is_accepted(tmp_path: Path) -> None:
    """The head is written after its record: a crash between the two leaves it one
    behind. Nobody without the key can make that happen on purpose, so it is no
    tampering; the next append brings the head up to date."""
    from fixedsite.audit import _write_head
    db = filled(tmp_path)
    key = bytes.fromhex((tmp_path / "audit.db.key").read_text())
    con = sqlite3.connect(db)
    seq, digest = con.execute("SELECT seq, hash FROM audit WHERE seq = 6").fetchone()
    con.close()
    _write_head(tmp_path / "audit.db.head", key, seq, digest)
    assert verify(db).ok
    log = AuditLog(db)
    assert log.ok and _append(log) == 8
    log.close()
    assert verify(db).ok and (tmp_path / "audit.db.head").read_text().startswith("8 ")


def test_a_log_that_is_not_a_database_refuses_records_without_a_traceback(
        tmp_path: Path) -> None:
    (tmp_path / "audit.db").write_bytes(b"this is no database " * 200)
    log = AuditLog(tmp_path / "audit.db")
    assert not log.ok and "not a readable audit database" in log.error
    assert log.tail() == [] and log.last_of("config") is None
    with pytest.raises(AuditError, match="not a readable audit database"):
        _append(log)
    log.close()
