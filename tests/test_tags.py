"""Tag store: quality, range checks, change-only notification, waiting on a condition."""

from __future__ import annotations

import asyncio

import pytest

from fixedsite.clock import ManualClock, ScaledClock
from fixedsite.tags import OUT_OF_RANGE, Quality, TagMeta, TagStore


def test_new_tag_is_bad_until_read() -> None:
    store = TagStore(ManualClock())
    tag = store.define("drainage.pump1.flow")
    assert tag.quality is Quality.BAD and tag.reason == "not_yet_read"
    assert store.value("drainage.pump1.flow", "n/a") == "n/a"


def test_out_of_range_is_bad_and_keeps_the_value_visible() -> None:
    store = TagStore(ManualClock())
    tag = store.define("drainage.lt1.level", TagMeta("m", 0.0, 5.0))
    store.update(tag, 12.0)
    assert tag.quality is Quality.BAD and tag.reason == OUT_OF_RANGE and tag.value == 12.0
    store.update(tag, 1.2)
    assert tag.good


def test_nan_is_a_bad_reading() -> None:
    store = TagStore(ManualClock())
    tag = store.define("drainage.pump1.flow")
    store.update(tag, float("nan"))
    assert tag.quality is Quality.BAD and tag.reason == "malformed_reply"


def test_listeners_hear_changes_only() -> None:
    clock = ManualClock(50.0)
    store = TagStore(clock)
    tag = store.define("a.b.c")
    seen: list[tuple[object, Quality, float]] = []
    unsubscribe = store.subscribe(lambda t: seen.append((t.value, t.quality, t.ts)), "a.b.*")
    store.update(tag, 1)
    clock.advance(1)
    store.update(tag, 1)                         # same value and quality: no event
    store.mark([tag], Quality.BAD, "comm_fail")  # quality change: an event, value kept
    unsubscribe()
    store.update(tag, 2)
    assert seen == [(1, Quality.GOOD, 50.0), (1, Quality.BAD, 51.0)]


def test_paths_must_have_three_parts_and_be_unique() -> None:
    store = TagStore(ManualClock())
    with pytest.raises(ValueError):
        store.define("pump1.running")
    store.define("a.b.c")
    with pytest.raises(KeyError):
        store.define("a.b.c")


async def test_wait_for_wakes_on_the_change() -> None:
    store = TagStore(ManualClock())
    tag = store.define("a.b.c")
    waiter = asyncio.create_task(store.wait_for("a.b.c", lambda t: t.value == 3, 5))
    await asyncio.sleep(0)
    store.update(tag, 3)
    assert (await waiter).value == 3
    with pytest.raises(TimeoutError):
        await store.wait_for("a.b.c", lambda t: t.value == 4, 0.05)


def test_scaled_clocks_with_one_anchor_agree() -> None:
    a = ScaledClock(600.0)
    b = ScaledClock(600.0, anchor=a.anchor)
    assert abs(a.now() - b.now()) < 600 * 0.05
    assert a.guard_timeout(10) == pytest.approx(180.0)     # 0.3 s of wall time at x600
    assert ScaledClock(1.0).guard_timeout(10) == 10
    with pytest.raises(ValueError):
        ScaledClock(0)
