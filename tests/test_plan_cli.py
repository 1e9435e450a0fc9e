"""``fixedsite plan`` (issue 10, item 10): a negative saving explained, and a plan made on
the controller's clock and history, or a line saying what it used instead."""

from __future__ import annotations

import datetime
import re
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import demo_text, free_port

from fixedsite import cli, cli_args
from fixedsite.config import DEMO_CONFIG, load
from fixedsite.historian import Historian
from fixedsite.sequences.drainage.plan_text import make_plans
from fixedsite.tags import Quality


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)          # the demo's storage dir is relative


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        rc = cli.main(["plan", *argv])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def site(tmp_path: Path, scale: float, origin: str | None = None) -> Path:
    """The demo (both rooms, their plans) with another [clock]."""
    text = demo_text(free_port(), scale=scale, plan=True, relay=True)
    if origin is not None:
        text = text.replace(f"scale = {scale}", f'scale = {scale}\norigin = "{origin}"', 1)
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def epoch(*when: int) -> float:
    return datetime.datetime(*when).timestamp()       # type: ignore[arg-type]


def history(path: Path, t_last: float, level: float = 1.23, alive: bool = True,
            clock: dict[str, float] | None = None) -> Path:
    """What a controller leaves: the sump's level each minute for an hour up to
    ``t_last``, its "alive" events with their promise, its start."""
    h = Historian(path, deadband_pct=0.0, max_interval_s=1)
    h.event(t_last - 3600, "lifecycle", "demo", "started", {"clock": clock} if clock else {})
    for m in range(61):
        t = t_last - 3600 + 60 * m
        h.record("drainage.sump.level", t, level, Quality.GOOD)
        h.record("lower.sump.level", t, 0.9, Quality.GOOD)
        if alive:
            h.event(t, "controller", "demo", "alive", {"next_by": t + 180})
    h.close()
    return path


def header(out: str, room: str = "drainage") -> str:
    m = re.search(rf"^Pump plan for {room} from (\S+ \S+),.*level now (\S+) m", out, re.M)
    assert m, out
    return f"{m[1]} {m[2]}"


# --- a negative saving ------------------------------------------------------------------
NEGATIVE = ("--level", "0.9", "--inflow", "800", "--db", "none.db")


def test_a_negative_saving_says_why_and_what_the_water_left_is_worth(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A July evening, inflow near what three pumps can do: level control lets the sump
    rise above the band and ends 0.8 m fuller; the plan pumps that water within the day
    at evening prices. It said 'saving -3.1 %' and nothing else."""
    config = site(tmp_path, 1.0, "2026-07-10T21:00")
    rc, out, err = run(capsys, "--config", str(config), "--clock-anchor", f"{time.time()}",
                       *NEGATIVE)
    assert rc == 0, err
    assert header(out) == "2026-07-10 21:00 0.90"
    assert "saving -3.1 %" in out
    end = re.search(r"at the end of the 24 h: plan (\S+) m, level control alone (\S+) m: the "
                    r"plan leaves (\S+) m3 less in the sump, worth (\S+) CNY at (\S+) CNY/m3.*"
                    r"level control's (\S+) CNY is its (\S+) CNY pumped \+ that", out)
    assert end, out
    plan_end, base_end = float(end[1]), float(end[2])
    m3, worth, per_m3 = (float(end[i].replace(",", "")) for i in (3, 4, 5))
    base, pumped_cost = (float(end[i].replace(",", "")) for i in (6, 7))
    assert base_end > 2.1 > plan_end            # level control alone ends above the band
    assert worth == pytest.approx(m3 * per_m3, abs=1)
    assert base == pytest.approx(pumped_cost + worth, abs=1)
    why = re.search(r"saving -3\.1 %: the plan costs (\S+) CNY more than level control alone "
                    r"over the 24 h, as it pumps (\S+) m3 more within them \(level control "
                    r"alone ends at (\S+) m, above the band's 2\.1 m\), at (\S+) CNY/m3", out)
    assert why, out
    assert float(why[2].replace(",", "")) == m3 and float(why[3]) == base_end
    plan_cost = float(re.search(r"^plan: (\S+) CNY", out, re.M)[1].replace(",", ""))  # type: ignore[index]
    assert plan_cost - base == pytest.approx(float(why[1].replace(",", "")), abs=1)
    # what the plan paid a m3 for the water it took out beyond level control's
    assert float(why[4]) == pytest.approx((plan_cost - pumped_cost) / m3, abs=0.01)


def test_the_parts_add_up_to_the_planners_comparison() -> None:
    """The figures the text takes apart are the planner's: pumped + water left = baseline,
    in both rooms of the relay (the lower one fed to the upper as the planner does)."""
    cfg = load(DEMO_CONFIG)
    for hour in (6, 21):
        for shown in make_plans(cfg, None, 0.9, 0, 800, epoch(2026, 7, 10, hour, 0)):
            b, pl = shown.baseline, shown.planner
            assert b is not None
            end = float(shown.plan.rooms[pl.name].volume[-1])
            assert b.pumped_cost + (b.end_m3 - end) * b.per_m3 == \
                pytest.approx(pl.baseline_cost, rel=1e-9)


# --- the controller's clock and history ---------------------------------------------------
def test_beside_an_accelerated_controller_the_plan_starts_at_its_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo runs x60 from when it started: its history is days ahead of the wall. The
    plan used the wall clock, found no level and no inflow in its last day, and planned
    from the band's middle without saying so."""
    last = epoch(2027, 3, 5, 2, 10)
    db = history(tmp_path / "history.db", last)
    rc, out, err = run(capsys, "--db", str(db))
    assert rc == 0, err
    assert header(out) == "2027-03-05 02:00 1.23"
    assert out.splitlines()[0] == ("clock: the history's latest record, 2027-03-05 02:10: "
                                   "the site's clock runs x60 from a start this command is "
                                   "not told (--clock-anchor gives it)")
    assert not [line for line in out.splitlines() if line.startswith("history:")]


def test_the_clock_a_controller_recorded_at_its_start_is_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    origin = epoch(2027, 3, 5, 2, 0)
    anchor = time.time() - 60                    # a minute ago: 02:00 + 60 min at x60
    db = history(tmp_path / "history.db", origin + 3600 - 30, level=1.7,
                 clock={"scale": 60.0, "origin": origin, "anchor": anchor})
    rc, out, err = run(capsys, "--db", str(db))
    assert rc == 0, err
    assert out.startswith("clock: the running controller's (x60, as it recorded at its "
                          "start): 2027-03-05 03:0")
    assert header(out) == "2027-03-05 03:00 1.70"


def test_the_anchor_given_works_out_the_sites_clock(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = site(tmp_path, 60.0, "2027-03-05T02:00")
    db = history(tmp_path / "history.db", epoch(2027, 3, 5, 2, 59), level=1.6)
    rc, out, err = run(capsys, "--config", str(config), "--db", str(db),
                       "--clock-anchor", f"{time.time() - 60}")
    assert rc == 0, err
    assert header(out) == "2027-03-05 03:00 1.60"
    assert "history:" not in out


def test_a_history_no_controller_writes_any_more_is_said_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real-time site whose history stops 3 h ago: planned at the wall's time, with one
    line saying that the level and forecast are of then, and the level's age."""
    config = site(tmp_path, 1.0)
    last = time.time() - 3 * 3600
    db = history(tmp_path / "history.db", last)
    rc, out, err = run(capsys, "--config", str(config), "--db", str(db))
    assert rc == 0, err
    notes = [line for line in out.splitlines() if line.startswith("history:")]
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(last))
    assert notes == [f"history: nothing recorded since {since}"
                     " (3 h 00 min before the plan's start), so no controller is writing "
                     "it: the level now and the forecast are of then"]
    assert "level now 1.23 m (stored " in out


def test_a_stopped_controllers_history_is_said_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    last = epoch(2027, 3, 5, 2, 10)
    db = history(tmp_path / "history.db", last)
    h = Historian(db)
    h.event(last + 5, "lifecycle", "demo", "stopped")
    h.close()
    rc, out, _ = run(capsys, "--db", str(db))
    assert rc == 0
    assert "history: its controller stopped at 2027-03-05 02:10: the level now and the " \
           "forecast are of then" in out


def test_a_locked_history_is_one_line_and_the_plan_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the history locked (a rollback-journal database in an
    exclusive transaction): the plan is made without it, saying so once; it was refused
    as 'not a history database (database is locked)'."""
    db = history(tmp_path / "history.db", epoch(2027, 3, 5, 2, 10))
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(cli_args, "BUSY_TIMEOUT_S", 0.2)
    try:
        rc, out, err = run(capsys, "--db", str(db))
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert rc == 0, err
    notes = [line for line in out.splitlines() if line.startswith("history:")]
    assert notes == [f"history: {db}: locked by another process (database is locked): "
                     "planning without it: forecast from --inflow (else the HIL's normal "
                     "inflow), level from --level (else the band's middle)"]
    assert "Pump plan for drainage" in out and "Pump plan for lower" in out


def test_no_history_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--db", str(tmp_path / "none.db"))
    assert rc == 0
    assert f"history: none at {tmp_path / 'none.db'}: forecast from --inflow" in out
