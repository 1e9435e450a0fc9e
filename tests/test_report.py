"""The monthly report from a historian filled with a known month."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixedsite.config import DEMO_CONFIG, load
from fixedsite.historian import Historian
from fixedsite.report import as_csv, as_text, build, month_span
from fixedsite.tags import Quality

CFG = load(DEMO_CONFIG)


def month(tmp_path: Path) -> tuple[Path, float, float]:
    t0, t1 = month_span(2026, 11)
    h = Historian(tmp_path / "history.db", deadband_pct=0.0, max_interval_s=1)
    # pump1 runs every hour of the first 10 days: 300 kWh and 1 run hour an hour
    for k in range(0, 10 * 24 + 1):
        t = t0 + k * 3600
        h.record("drainage.pump1.energy", t, 1000.0 + 300 * k, Quality.GOOD)
        h.record("drainage.pump1.run_hours", t, 50.0 + k, Quality.GOOD)
        h.record("drainage.pump1.starts", t, 7 + k // 24, Quality.GOOD)
    # alive every minute except one 2-hour hole; one PLC link lost for 30 minutes
    for m in range(0, 30 * 24 * 60):
        t = t0 + m * 60
        if not (t0 + 86400 <= t < t0 + 86400 + 7200):
            h.event(t, "controller", "demo", "alive")
    h.event(t0 + 5 * 86400, "alarm", "comm.drain1.LOST", "active: PLC drain1: no comm")
    h.event(t0 + 5 * 86400 + 1800, "alarm", "comm.drain1.LOST", "rtn: PLC drain1: no comm")
    h.event(t0 + 6 * 86400, "alarm", "drainage.pump1.FAULT", "active: Main pump 1 fault",
            {"priority": 2, "area": "drainage"})
    # the pump's sequence stood in fault for an hour: the supervisory system's fault time
    h.event(t0 + 6 * 86400 + 3600, "alarm", "drainage.pump1.FAULT", "rtn: Main pump 1 fault",
            {"priority": 2, "area": "drainage"})
    h.close()
    return tmp_path / "history.db", t0, t1


def test_month_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, t0, t1 = month(tmp_path)
    monkeypatch.setattr(time, "time", lambda: t1)
    h = Historian(db)
    r = build(CFG, h, t0, t1)
    h.close()
    p1 = next(row for row in r.rows if row.equipment == "drainage.pump1")
    assert p1.run_hours == pytest.approx(240) and p1.starts == 10
    assert p1.energy_kwh == pytest.approx(240 * 300)
    # each November day (demo tariff): 10 h valley (00-07, 11-14), 7 h peak (16-23), 7 h
    # flat; an increment is counted in the period of the hour it is metered at (its end)
    assert p1.by_period == pytest.approx({"valley": 100 * 300, "peak": 70 * 300,
                                         "flat": 70 * 300, "critical": 0.0})
    assert p1.cost == pytest.approx(10 * 300 * (10 * 0.26 + 7 * 1.2025 + 7 * 0.65))
    assert p1.alarms == 1 and r.alarms_total == 2
    # the 2 h hole, less the 3 minutes the last "alive" before it vouches for, + 0.5 h of
    # lost link + 1 h of a pump's sequence in fault
    assert r.fault_hours == pytest.approx((7200 + 60 - 180) / 3600 + 0.5 + 1.0)
    text = as_text(r)
    assert "within the 10 h" in text and "drainage.pump1" in text
    assert r.alarm_figures is not None and r.alarm_figures.annunciated == 2
    assert r.alarm_figures.by_priority_pct[2] == 50.0
    assert "per 10 min" in text
    lines = as_csv(r).splitlines()
    assert lines[0].startswith("equipment,run_hours,starts,energy_kwh,energy_valley_kwh")
    assert lines[-1].startswith("fault_hours,3.47")


def test_report_cli(tmp_path: Path) -> None:
    db, _, _ = month(tmp_path)
    r = subprocess.run([sys.executable, "-m", "fixedsite", "report", "--db", str(db),
                        "--month", "2026-11", "--csv"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "drainage.pump1,240.00,10,72000.0,30000.0" in r.stdout


def _metered(tmp_path: Path, year: int, mon: int, days: int = 3) -> tuple[Path, float, float]:
    """pump1 metering 300 kWh every hour of the month's first ``days`` days."""
    t0, t1 = month_span(year, mon)
    h = Historian(tmp_path / "history.db", deadband_pct=0.0, max_interval_s=1)
    for k in range(0, days * 24 + 1):
        h.record("drainage.pump1.energy", t0 + k * 3600, 300.0 * k, Quality.GOOD)
    h.close()
    return tmp_path / "history.db", t0, t1


def _csv_row(text: str, equipment: str) -> dict[str, str]:
    """The equipment's row by column; every column name once (a dict would hide a twin)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    assert len(set(rows[0])) == len(rows[0]), f"a column twice: {rows[0]}"
    return next(dict(zip(rows[0], r, strict=True)) for r in rows if r[0] == equipment)


@pytest.mark.parametrize("mon, hours", [
    (7, {"valley": 10, "flat": 7, "peak": 3, "critical": 4}),      # summer: 16-18, 22-23
    (11, {"valley": 10, "flat": 7, "peak": 7, "critical": 0}),     # 16-23
])
def test_two_periods_named_peak_are_one_column_on_the_bill(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mon: int,
        hours: dict[str, int]) -> None:
    """The demo tariff has two periods called "peak" (same price, other months and hours):
    one "peak" column, as on the utility's bill, and the columns add up to the energy
    metered (it showed two "peak" columns, each with all of it: 21 MWh counted twice)."""
    db, t0, t1 = _metered(tmp_path, 2026, mon)
    monkeypatch.setattr(time, "time", lambda: t1)
    h = Historian(db)
    r = build(CFG, h, t0, t1)
    h.close()
    row = _csv_row(as_csv(r), "drainage.pump1")
    columns = [c for c in row if c.startswith("energy_") and c != "energy_kwh"]
    assert columns == ["energy_valley_kwh", "energy_flat_kwh", "energy_peak_kwh",
                       "energy_critical_kwh"]
    for period, n in hours.items():
        assert float(row[f"energy_{period}_kwh"]) == pytest.approx(3 * n * 300), period
    assert sum(float(row[c]) for c in columns) == pytest.approx(float(row["energy_kwh"]))
    assert float(row["energy_kwh"]) == pytest.approx(3 * 24 * 300)
    header = as_text(r).splitlines()[1].split()
    assert header.count("peak") == 1


def test_periods_with_one_name_and_two_prices_stay_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same name at another price is another line of the bill: its own column, named
    with its price, and still nothing lost or counted twice."""
    tariff = CFG.tariff
    assert tariff is not None
    periods = [p.model_copy(update={"price": 1.5}) if p.name == "peak" and 7 in p.months
               else p for p in tariff.periods]
    cfg = CFG.model_copy(update={"tariff": tariff.model_copy(update={"periods": periods})})
    db, t0, t1 = _metered(tmp_path, 2026, 7)
    monkeypatch.setattr(time, "time", lambda: t1)
    h = Historian(db)
    r = build(cfg, h, t0, t1)
    h.close()
    row = _csv_row(as_csv(r), "drainage.pump1")
    columns = [c for c in row if c.startswith("energy_") and c != "energy_kwh"]
    assert columns == ["energy_valley_kwh", "energy_flat_kwh", "energy_peak_1.2025_kwh",
                       "energy_peak_1.5_kwh", "energy_critical_kwh"]
    assert float(row["energy_peak_1.5_kwh"]) == pytest.approx(3 * 3 * 300)
    assert float(row["energy_peak_1.2025_kwh"]) == 0.0
    assert sum(float(row[c]) for c in columns) == pytest.approx(3 * 24 * 300)
    assert float(row["cost_cny"]) == pytest.approx(
        3 * 300 * (10 * 0.26 + 7 * 0.65 + 3 * 1.5 + 4 * 1.3325))


def test_the_availability_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault hours per system and for the site against the 10 h, sensors in working order
    against 95 %, the worst sensors named with why; in the text and the CSV."""
    from fixedsite import availability as av
    from fixedsite.alarms.model import build_defs

    t0, t1 = month_span(2026, 11)
    h = Historian(tmp_path / "history.db", deadband_pct=0.0, max_interval_s=1)
    for m in range(0, 30 * 24 * 60):
        h.event(t0 + m * 60, "controller", "demo", "alive", {"next_by": t0 + m * 60 + 180})
    # the lower room's PLC lost for 12 h: its system OVER the 10 h, the main room's not
    h.event(t0 + 86400, "alarm", "comm.drain2.LOST", "active: PLC drain2: link lost")
    h.event(t0 + 86400 + 12 * 3600, "alarm", "comm.drain2.LOST", "rtn: PLC drain2: link lost")
    for path, s in av.scope(CFG, build_defs(CFG)).sensors.items():
        h.record(path, t0, s.low, Quality.GOOD)                # at rest: in working order
    # a level that moves, frozen for 10 h on day 3 (stuck after 4 h: 6 h), and a flow with
    # no good value for a day
    frozen = (t0 + 3 * 86400, t0 + 3 * 86400 + 10 * 3600)
    for k in range(0, 30 * 24 * 12):
        t = t0 + k * 300.0
        if not frozen[0] < t < frozen[1]:
            h.record("drainage.lt1.level", t, 1.5 + 0.01 * (k % 3), Quality.GOOD)
    h.record("lower.pump1.flow", t0 + 2 * 86400, 0.0, Quality.BAD)
    h.record("lower.pump1.flow", t0 + 3 * 86400, 0.0, Quality.GOOD)
    h.close()
    monkeypatch.setattr(time, "time", lambda: t1)
    h = Historian(tmp_path / "history.db")
    r = build(CFG, h, t0, t1)
    h.close()
    text = as_text(r)
    section = text.split("\navailability:\n", 1)[1].split("\n\n", 1)[0]
    rows = {line.split()[0]: line.split() for line in section.splitlines()[1:]}
    assert rows["lower"][1:3] == ["12.00", "OVER"], section
    assert rows["drainage"][1:3] == ["0.00", "within"], section
    assert rows["site"][1:3] == ["12.00", "OVER"], section
    assert "plc drain2 12.00 h" in " ".join(rows["lower"])
    assert rows["power"][3:6] == ["--", "no", "sensors"], section
    worst = section.split("sensors least in working order:\n", 1)[1].splitlines()
    assert worst[0].strip().startswith("lower.pump1.flow: 96.7% (no good value 24.0 h)")
    assert worst[1].strip().startswith("drainage.lt1.level: 99.2% (stuck 6.0 h)")
    n = len(r.availability.sensors) if r.availability else 0
    site_ok = 100 * (1 - 30 / 720 / n)                        # 30 h of n sensors' 720 h
    assert rows["site"][3:7] == [f"{site_ok:.1f}%", "of", str(n), "within"], section
    csv_rows = as_csv(r).splitlines()
    assert "availability,lower,12.00,OVER" in "\n".join(csv_rows)
    assert any(line.startswith("sensor,drainage.lt1.level,99.17,0.00,0.00,6.00")
               for line in csv_rows)
    assert csv_rows[-1] == "fault_hours,12.00"
