"""Inflow measured from volume and pump flows, and its forecast, on plain numbers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fixedsite.config import DEMO_CONFIG, load
from fixedsite.sequences.drainage.forecast import (
    InflowForecast,
    InflowMeter,
    inflows_from_samples,
)

STEP = 900.0
T0 = 1_795_000_000.0 - 1_795_000_000.0 % 86400          # a UTC midnight


def shifts(t: np.ndarray) -> np.ndarray:
    hour = (t % 86400) / 3600
    return 400 * (1 + 0.2 * np.sin(2 * np.pi * (hour - 8) / 24))


def test_meter_recovers_inflow_from_volume_and_pumped_flow() -> None:
    meter = InflowMeter(STEP)
    done = []
    v = 1000.0
    for s in range(0, 3 * 900 + 1, 10):                    # a scan every 10 s
        t = T0 + s
        pumped = 280.0 if (s // 900) % 2 else 0.0           # a pump on every other step
        if s:
            v += (350.0 - pumped) * 10 / 3600
        out = meter.feed(t, v, pumped)
        if out:
            done.append(out)
    assert [t - T0 for t, _ in done] == [0, 900, 1800]
    assert [q for _, q in done] == pytest.approx([350.0] * 3, abs=4.0)


def test_inflow_from_stored_samples_matches_the_truth() -> None:
    # volume stored every minute; the pump's flow on change only (held between samples)
    t = np.arange(T0, T0 + 6 * 3600 + 1, 60.0)
    inflow = 300.0
    flow = np.where(((t - T0) // 3600) % 2 == 1, 280.0, 0.0)
    v = 800 + np.concatenate([[0], np.cumsum((inflow - flow[:-1]) * 60 / 3600)])
    changes = [(float(a), float(b)) for i, (a, b) in enumerate(zip(t, flow, strict=True))
               if i == 0 or flow[i] != flow[i - 1]]
    steps = inflows_from_samples(list(zip(t, v, strict=True)), [changes], T0, t[-1], STEP)
    assert len(steps) == 24
    assert [q for _, q in steps] == pytest.approx([inflow] * 24, abs=1.0)


def test_forecast_learns_the_daily_shape_and_a_band_that_covers() -> None:
    rng = np.random.default_rng(3)
    f = InflowForecast(STEP)
    steps = np.arange(T0 - 14 * 86400, T0, STEP)
    truth = shifts(steps + STEP / 2) * (1 + 0.05 * rng.standard_normal(len(steps)))
    for t, q in zip(steps, truth, strict=True):
        f.update(float(t), float(q))
    fc = f.forecast(T0, 96)
    future = np.arange(T0, T0 + 86400, STEP)
    ideal = shifts(future + STEP / 2)
    assert np.abs(fc.inflow - ideal).mean() / ideal.mean() < 0.05
    actual = ideal * (1 + 0.05 * rng.standard_normal(96))
    inside = np.mean((actual >= fc.low) & (actual <= fc.high))
    assert inside > 0.8                                    # a 90 % band, roughly
    assert np.all(np.diff(fc.margin[:8]) > 0)              # margins grow, then settle
    assert fc.margin[-1] == pytest.approx(fc.margin[40], rel=0.5)


def test_a_week_of_wrong_history_is_outgrown_within_hours() -> None:
    f = InflowForecast(STEP)
    for i in range(7 * 96):
        f.update(T0 - 7 * 86400 + i * STEP, 40.0)
    for i in range(12):                                    # three hours of the truth
        f.update(T0 + i * STEP, 400.0)
    assert f.forecast(T0 + 12 * STEP, 1).inflow[0] > 0.7 * 400


def test_fixedsite_plan_prints_the_day_and_its_saving(tmp_path: object) -> None:
    r = subprocess.run([sys.executable, "-m", "fixedsite", "plan", "--db", "/nonexistent.db",
                        "--level", "1.3"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    sections = r.stdout.split("Pump plan for ")[1:]
    assert [sec.split()[0] for sec in sections] == ["drainage", "lower"]   # relay: both
    cfg = load(DEMO_CONFIG)
    for sec in sections:
        lines = sec.splitlines()
        plan = cfg.systems[lines[0].split()[0]].plan
        assert plan is not None
        rows = [ln for ln in lines if ln[:2].isdigit() and ":" in ln[:5]]
        assert len(rows) == 96
        assert {ln.split()[1] for ln in rows} <= {"valley", "flat", "peak", "critical"}
        levels = [float(ln.split()[3]) for ln in rows]
        assert plan.band_m[0] <= min(levels) and max(levels) <= plan.band_m[1], lines[0]
        summary = next(ln for ln in lines if ln.startswith("plan: "))
        saving = float(summary.rsplit("saving", 1)[1].strip(" %"))
        assert saving > 5.0, summary
