"""Energy per feeder by tariff period in the monthly report (issue 13, item 7): every
breaker's relay meters its feeder's energy (``energy``, kWh), so each feeder is a row of
``fixedsite report`` with its energy split by the tariff period it was metered in."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest

from fixedsite.config import DEMO_CONFIG, parse
from fixedsite.hil.demo_config import power_text
from fixedsite.historian import Historian
from fixedsite.report import as_csv, build, month_span
from fixedsite.tags import Quality


def test_each_feeder_has_its_energy_by_tariff_period(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    demo = DEMO_CONFIG.read_text(encoding="utf-8")
    m = re.search(r"(?ms)^\[tariff\].*?(?=^# ---- northbound)", demo)
    assert m, "no tariff in the demo config"
    cfg = parse(tomllib.loads(power_text() + "\n" + m.group(0)), "power+tariff.toml")
    t0, t1 = month_span(2026, 11)
    h = Historian(tmp_path / "history.db", deadband_pct=0.0, max_interval_s=1)
    for k in range(0, 10 * 24 + 1):                  # Q111: 1,200 kWh an hour for 10 days
        h.record("power.Q111.energy", t0 + k * 3600, 50_000.0 + 1200 * k, Quality.GOOD)
    h.close()
    monkeypatch.setattr(time, "time", lambda: t1)
    h = Historian(tmp_path / "history.db")
    r = build(cfg, h, t0, t1)
    h.close()
    rows = {row.equipment: row for row in r.rows}
    assert {f"power.Q{n}" for n in (101, 111, 511)} <= set(rows)      # every feeder a row
    q111 = rows["power.Q111"]
    assert q111.energy_kwh == pytest.approx(240 * 1200)
    # the demo tariff's November day: 10 h valley, 7 h peak, 7 h flat
    assert q111.by_period == pytest.approx({"valley": 100 * 1200, "peak": 70 * 1200,
                                            "flat": 70 * 1200, "critical": 0.0})
    assert rows["power.Q101"].energy_kwh == 0.0
    assert "power.Q111" in as_csv(r)
