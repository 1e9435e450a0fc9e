"""The embedded historian: on-change storage, trend queries, events, retention."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Rig

from fixedsite.clock import ManualClock
from fixedsite.historian import Historian, Recorder
from fixedsite.tags import Quality, TagMeta, TagStore


def test_deadband_and_max_interval(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.db", deadband_pct=1.0, max_interval_s=60)
    stored = [h.record("a.b.c", t, v, Quality.GOOD, span=10.0) for t, v in
              [(0, 1.0), (1, 1.05), (2, 1.2), (3, 1.25), (70, 1.25), (71, 1.25)]]
    assert stored == [True, False, True, False, True, False]   # band 0.1; 60 s interval
    assert h.record("a.b.c", 72, 1.25, Quality.BAD) is True     # quality change is kept
    h.close()


def test_trend_buckets_match_a_brute_force_answer(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.db", deadband_pct=0.0, max_interval_s=1)
    rng = random.Random(3)
    data = [(1000.0 + i, rng.uniform(0, 5)) for i in range(7200)]
    for t, v in data:
        h.record("d.s.level", t, v, Quality.GOOD)
    h.flush()
    for buckets in (12, 7200 // 30):              # 10-minute buckets (rollup), 30 s (raw)
        got = h.query("d.s.level", 1000.0, 8200.0, buckets)
        width = got[1].t - got[0].t
        assert width == 7200 / buckets
        assert sum(b.n for b in got) == len(data)
        for b in got:
            vals = [v for t, v in data if b.t <= t < b.t + width]
            assert (b.lo, b.hi, b.n) == (min(vals), max(vals), len(vals))
            assert b.avg == pytest.approx(sum(vals) / len(vals))
    h.close()


def test_events_and_retention(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.db")
    h.event(10.0, "alarm", "d.sump.level.HH", "active: Main sump level HH", {"priority": 1})
    h.event(20.0, "command", "drainage.pump1", "start: done now priming", {"user": "li"})
    h.record("a.b.c", 5.0, 1.0, Quality.GOOD)
    h.record("a.b.c", 500.0, 2.0, Quality.GOOD)
    h.flush()
    assert [e["kind"] for e in h.events_between(0, 100)] == ["alarm", "command"]
    assert h.events_between(0, 100, "command")[0]["data"] == {"user": "li"}
    h.prune(now=600.0, keep_samples_s=200.0, keep_events_s=585.0)
    assert [e["kind"] for e in h.events_between(0, 100)] == ["command"]
    assert [b.n for b in h.query("a.b.c", 0, 600, 1)] == [1]
    h.close()


def test_recorder_follows_the_tag_store(tmp_path: Path) -> None:
    clock = ManualClock(100.0)
    store = TagStore(clock)
    level = store.define("d.sump.level", TagMeta("m", 0.0, 5.0))
    state = store.define("d.pump1.state")
    h = Historian(tmp_path / "h.db", deadband_pct=1.0)
    Recorder(store, h)
    for v in [1.0, 1.01, 1.2, 1.3]:
        clock.advance(1)
        store.update(level, v)
    store.update(state, "priming")
    h.flush()
    assert [b.n for b in h.query("d.sump.level", 100, 110, 10)] == [1, 1, 1]  # 1.01 in band
    assert h.events_between(0, 1000, "sequence")[0]["text"] == "priming"
    h.close()


async def test_controller_writes_history_alarms_and_commands(
        rig_factory: Callable[..., Rig], tmp_path: Path) -> None:
    rig = rig_factory(scale=600.0, initial_level_m="1.7")
    h = Historian(tmp_path / "h.db")
    await rig.site.start()
    from fixedsite.runtime import Controller
    rig.ctl = Controller(rig.cfg, rig.clock, historian=h)
    await rig.ctl.start()
    t0 = rig.clock.now()
    await rig.until(lambda: any(p.flow > 100 for p in rig.plant.pumps), 1800, "a pump on")
    await rig.run_for(600)
    await h.flush_async()
    trend = h.query("drainage.sump.level", t0, rig.clock.now(), 20)
    assert trend and all(0.5 < b.lo <= b.hi < 2.2 for b in trend)
    commands = h.events_between(t0, rig.clock.now() + 1, "command")
    assert any(e["source"].startswith("drainage.pump") and e["text"].startswith("start")
               for e in commands)
    assert h.events_between(t0, rig.clock.now() + 1, "sequence")
