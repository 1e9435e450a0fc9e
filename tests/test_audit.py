"""The audit log's hash chain: tampering, deleting, reordering and cutting are caught."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fixedsite.audit import AuditLog, verify
from fixedsite.clock import ManualClock
from fixedsite.gate import Command, CommandGate, Decision


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
    v = verify(filled(tmp_path))
    assert v.ok and v.records == 6 and v.message == "6 records, chain intact"


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
    assert not v.ok and "records 5..6 are missing" in v.message


def test_missing_key_is_reported(tmp_path: Path) -> None:
    db = filled(tmp_path)
    (tmp_path / "audit.db.key").unlink()
    v = verify(db)
    assert not v.ok and "key file is missing" in v.message


def test_appending_after_reopen_continues_the_chain(tmp_path: Path) -> None:
    db = filled(tmp_path, 2)
    log = AuditLog(db)
    assert log.append(ts=5.0, kind="config", actor="controller", source="startup",
                      target="demo", action="first") == 3
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
    rows = log.tail()
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
    assert ("OK: 6 records" in r.stdout) if not tamper else ("BROKEN: record 2 was altered"
                                                             in r.stdout)
