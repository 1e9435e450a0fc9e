"""The command line under bad arguments and odd files: a clear message and exit 2, never a
traceback (issue 9, item 18)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli, demo_text, free_port

FIXEDSITE = Path(sys.executable).parent / "fixedsite"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's storage dir is relative: keep any var/demo of the checkout out of it."""
    monkeypatch.chdir(tmp_path)


def test_plan_with_every_pump_running(capsys: pytest.CaptureFixture[str]) -> None:
    """4 pumps run at high-high: the main room's 4 running is a real state (3 stages)."""
    rc, out, _ = cli(capsys, "plan", "--running", "4")
    assert rc == 0
    assert "Pump plan for drainage" in out and "Pump plan for lower" in out


@pytest.mark.parametrize("argv, words", [
    (["--running", "5"], "--running 5: system 'drainage' has 4 pumps"),
    (["--running", "-1"], "not a whole number >= 0"),
    (["--level", "9"], "--level 9: outside what the sump 'drainage.sump' can show: 0 to 4 m"),
    (["--level", "-0.5"], "--level -0.5: outside what the sump"),
    (["--level", "nan"], "not a finite number"),
    (["--inflow", "-5"], "not a number >= 0"),
    (["--inflow", "inf"], "not a finite number"),
], ids=["running 5", "running -1", "level 9", "level -0.5", "level nan", "inflow -5",
        "inflow inf"])
def test_plan_refuses_what_the_site_cannot_be(argv: list[str], words: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "plan", *argv)
    assert rc == 2 and out == ""
    assert words in err


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1x", "May", "99999-01"])
def test_report_refuses_a_month_that_is_not_one(month: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "report", "--month", month)
    assert rc == 2 and f"--month {month}: expected YYYY-MM" in err


def test_report_and_plan_on_a_file_that_is_not_a_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database, just words " * 10)
    for command in ("report", "plan"):
        rc, _, err = cli(capsys, command, "--db", str(junk))
        assert rc == 2 and f"{junk}: not a history database" in err, command
    rc, _, err = cli(capsys, "audit", "tail", "--db", str(junk))
    assert rc == 2 and f"{junk}: not an audit database" in err


def test_reading_commands_leave_a_foreign_database_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit tail` on a history database, `report` on an audit one: refused, and neither
    file gains the other's tables (nor a key file appears)."""
    import sqlite3

    from fixedsite.audit import AuditLog
    from fixedsite.historian import Historian

    history, audit = tmp_path / "history.db", tmp_path / "audit.db"
    Historian(history).close()
    AuditLog(audit).close()
    before = sorted(tmp_path.iterdir())

    def tables(db: Path) -> set[str]:
        with sqlite3.connect(db) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        con.close()
        return names
    was = tables(history), tables(audit)
    rc, _, err = cli(capsys, "audit", "tail", "--db", str(history))
    assert rc == 2 and "not an audit database (no audit table)" in err
    for command in ("report", "plan"):
        rc, _, err = cli(capsys, command, "--db", str(audit))
        assert rc == 2 and "not a history database (no samples table)" in err
    assert (tables(history), tables(audit)) == was
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("action", ["verify", "tail"])
def test_audit_on_a_missing_file(action: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "nope.db"
    rc, out, err = cli(capsys, "audit", action, "--db", str(db))
    assert rc == 2 and f"no audit database at {db}" in err
    assert "BROKEN" not in out + err
    assert list(tmp_path.iterdir()) == [], "looking at a missing log created files"


def test_audit_tail_needs_a_positive_count(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "audit", "tail", "--last", "-5", "--db", str(tmp_path / "a.db"))
    assert rc == 2 and "not a whole number >= 1" in err


@pytest.mark.parametrize("argv, words", [
    (["--scale", "0"], "not a number > 0"),
    (["--scale", "nan"], "not a finite number"),
    (["--scale", "1e9"], "at most 100000"),
    (["--every", "-1"], "not a number > 0"),
    (["--clock-anchor", "nan"], "not a finite number"),
])
@pytest.mark.parametrize("command", ["hil", "run", "demo"])
def test_clock_and_status_arguments_are_checked_before_anything_starts(
        command: str, argv: list[str], words: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, command, *argv)
    assert rc == 2 and words in err


def test_run_with_storage_it_cannot_create(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An OS refusal (here a storage dir under a plain file) is one line, not a traceback."""
    (tmp_path / "afile").write_text("x")
    config = tmp_path / "site.toml"
    config.write_text(demo_text(free_port()) + f'\n[storage]\ndir = "{tmp_path}/afile/var"\n',
                      encoding="utf-8")
    rc, _, err = cli(capsys, "run", "--config", str(config), "--plain")
    assert rc == 2 and err.startswith("fixedsite run: ") and "afile" in err


def test_the_configured_clock_origin_is_used(tmp_path: Path) -> None:
    """[clock] origin was accepted and then ignored: the simulated day starts there."""
    import argparse
    import datetime

    from fixedsite.cli import _clock
    from fixedsite.config import load

    config = tmp_path / "site.toml"
    config.write_text(demo_text(free_port()).replace("scale = 60.0", 'scale = 60.0\norigin = '
                                                     '"2026-07-01T06:00"'), encoding="utf-8")
    cfg, clock = _clock(load(config), argparse.Namespace(scale=None, clock_anchor=None))
    origin = datetime.datetime(2026, 7, 1, 6, 0).timestamp()
    assert origin <= clock.now() < origin + 600
    assert cfg.clock.scale == clock.scale == 60.0
    # --scale is the config's scale for this run: what is fixed at build (an alarm's
    # delay in poll rounds) follows the clock that runs, not the file's
    cfg, clock = _clock(load(config), argparse.Namespace(scale=600.0, clock_anchor=None))
    assert cfg.clock.scale == clock.scale == 600.0
    assert cfg.clock.origin_epoch() == origin


def test_users_file_that_is_not_json(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "users.json"
    bad.write_bytes(b"\x00\x01 not json")
    rc, _, err = cli(capsys, "user", "list", "--file", str(bad))
    assert rc == 2 and f"{bad}: not a readable user file" in err


def test_diagram_into_a_closed_pipe() -> None:
    """``fixedsite diagram | head -0``: the reader is gone before we write; we stop
    quietly with the shell's code for SIGPIPE, no traceback."""
    proc = subprocess.Popen([str(FIXEDSITE), "diagram"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()                      # before the child has started up and written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_diagram_to_a_reader_still_prints() -> None:
    r = subprocess.run([str(FIXEDSITE), "diagram"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "stateDiagram" in r.stdout and r.stderr == ""


def test_a_demo_that_cannot_start_its_server_stops_what_it_started(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in review: a part failing at start (here the OPC UA port taken) left the HIL's
    control socket behind, its plant unsaved and the records open. Everything started
    before the failure is stopped, in order, and the error is one line."""
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    config = tmp_path / "site.toml"
    text = re.sub(r'(?m)^endpoint = "opc\.tcp://127\.0\.0\.1:\d+',
                  f'endpoint = "opc.tcp://127.0.0.1:{taken}', demo_text(free_port()))
    config.write_text(text + f'\n[storage]\ndir = "{tmp_path}/var"\n', encoding="utf-8")
    try:
        rc, _, err = cli(capsys, "demo", "--config", str(config), "--plain", "--fresh")
    finally:
        blocker.close()
    assert rc == 2 and err.startswith("fixedsite demo: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "var" / "hil.sock").exists()          # the HIL stopped
    assert (tmp_path / "var" / "hil-state.json").exists()        # and saved its plant
