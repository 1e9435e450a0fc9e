"""The embedded historian: on-change storage, trend queries, events, retention."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Rig, fill_sqlite

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


def _full(h: Historian) -> None:
    """SQLite itself refuses to grow the database (what a full disk looks like to it), and
    the free pages it has are used up."""
    fill_sqlite(h.db)


def _room(h: Historian) -> None:
    h.db.execute("PRAGMA max_page_count = 1073741823")


def test_a_failing_write_keeps_the_batch_and_the_next_flush_writes_it(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.db", deadband_pct=0.0, max_interval_s=1)
    h.record("d.s.level", 0.0, 0.5, Quality.GOOD)
    assert h.flush() == 1 and h.ok
    _full(h)
    for i in range(1, 3001):
        h.record("d.s.level", float(i), i / 1000, Quality.GOOD)
    h.event(1500.5, "alarm", "d.s.level.HH", "active")
    assert h.flush() == 0                                  # no exception, nothing lost
    assert not h.ok and "database or disk is full" in h.error
    assert h.buffered == 3001 and h.dropped == 0
    h.record("d.s.level", 3001.0, 3.001, Quality.GOOD)     # new ones queue behind
    assert h.flush() == 0 and h.buffered == 3002
    _room(h)
    assert h.flush() == 3001 and h.ok and h.error == "" and h.buffered == 0
    got = h.samples("d.s.level", 0, 4000)
    assert [t for t, _ in got] == [float(i) for i in range(3002)]
    assert [e["text"] for e in h.events_between(0, 4000)] == ["active"]
    h.close()


def test_the_buffer_is_bounded_oldest_samples_dropped_first(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.db", deadband_pct=0.0, max_interval_s=1, max_buffered=1000)
    h.record("d.s.level", 0.0, 0.0, Quality.GOOD)
    h.flush()
    _full(h)
    h.event(0.5, "alarm", "d.s.level.HH", "active")
    for i in range(1, 5001):
        h.record("d.s.level", float(i), i / 1000, Quality.GOOD)
    h.event(5000.5, "alarm", "d.s.level.HH", "cleared")
    assert h.flush() == 0 and not h.ok
    assert h.buffered == 1000 and h.dropped == 5002 - 1000
    _room(h)
    assert h.flush() == 998
    got = h.samples("d.s.level", 1, 6000)
    assert [t for t, _ in got] == [float(i) for i in range(4003, 5001)]   # the newest kept
    assert [e["text"] for e in h.events_between(0, 6000)] == ["active", "cleared"]
    h.close()


def test_a_removed_directory_is_reported_then_history_starts_again(tmp_path: Path) -> None:
    import shutil
    where = tmp_path / "var" / "demo"
    h = Historian(where / "h.db")
    h.record("d.s.level", 10.0, 1.0, Quality.GOOD)
    assert h.flush() == 1
    shutil.rmtree(tmp_path / "var")                        # someone cleans up the disk
    h.record("d.s.level", 20.0, 2.0, Quality.GOOD)
    h.event(21.0, "alarm", "d.s.level.HH", "active")
    assert h.flush() == 0
    assert not h.ok and h.error == f"database file removed ({where / 'h.db'})"
    assert not (where / "h.db").exists()                  # nothing written into the void
    assert h.flush() == 1 and h.ok                         # a new database, the batch in it
    h.close()
    again = Historian(where / "h.db")
    assert again.samples("d.s.level", 0, 100) == [(20.0, 2.0)]
    texts = [e["text"] for e in again.events_between(0, 100)]
    assert texts[0].startswith("history database started again: database file removed")
    assert texts[1:] == ["active"]
    again.close()


def test_a_replaced_database_file_is_reported(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.db")
    h.record("d.s.level", 10.0, 1.0, Quality.GOOD)
    h.flush()
    (tmp_path / "h.db").rename(tmp_path / "old.db")
    (tmp_path / "h.db").write_bytes(b"")
    h.record("d.s.level", 20.0, 2.0, Quality.GOOD)
    assert h.flush() == 0 and h.error.startswith("database file replaced")
    assert h.flush() == 1 and h.ok
    h.close()


async def test_health_tags_follow_the_writes(tmp_path: Path) -> None:
    store = TagStore(ManualClock(0.0))
    h = Historian(tmp_path / "h.db", deadband_pct=0.0, max_interval_s=1, max_buffered=1000)
    h.publish_health(store)
    assert [store.value(f"controller.historian.{s}") for s in
            ("ok", "error", "buffered", "dropped")] == [True, "", 0, 0]
    _full(h)
    for i in range(1300):
        h.record("d.s.level", float(i), float(i), Quality.GOOD)
    assert await h.flush_async() == 0
    assert store.value("controller.historian.ok") is False
    assert "database or disk is full" in store.value("controller.historian.error")
    assert store.value("controller.historian.buffered") == 1000
    assert store.value("controller.historian.dropped") == 300
    _room(h)
    assert await h.flush_async() == 1000
    assert [store.value(f"controller.historian.{s}") for s in
            ("ok", "error", "buffered", "dropped")] == [True, "", 0, 300]
    h.close()
