"""The InfluxDB uplink against a real VictoriaMetrics on loopback: outage, order, no repeats."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from conftest import fill_sqlite, free_port
from vmserver import BINARY, VictoriaMetrics

from fixedsite.clock import ManualClock
from fixedsite.tags import TagStore
from fixedsite.uplink import DiskQueue, Uplink, line

pytestmark = pytest.mark.skipif(BINARY is None and os.environ.get("CI") != "true",
                                reason="victoria-metrics (Debian package) is not installed")
T0 = 1_790_000_000.0


@pytest_asyncio.fixture
async def vm(tmp_path: Path) -> AsyncIterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path / "vm", free_port())
    await server.start()
    yield server
    await server.stop()


class Feed:
    def __init__(self, tmp_path: Path, url: str, health: bool = False, **kw: Any) -> None:
        self.clock = ManualClock(T0)
        self.store = TagStore(self.clock)
        self.level = self.store.define("drainage.sump.level")
        self.running = self.store.define("drainage.pump1.running")
        self.up = Uplink(self.store, "demo", url, tmp_path / "uplink.db", batch=50, **kw)
        if health:
            self.up.publish_health(self.store)
        self.task = asyncio.create_task(self.up.run())
        self.n = 0

    def emit(self, k: int) -> None:
        for _ in range(k):
            self.clock.advance(1.0)
            self.n += 1
            self.store.update(self.level, 1.0 + self.n / 1000)
        self.up.kick()

    async def drained(self, within_s: float = 20) -> None:
        await asyncio.wait_for(self.up.drained.wait(), within_s)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.up.close()


async def wait_points(vm: VictoriaMetrics, name: str, n: int) -> list[tuple[int, float]]:
    async with asyncio.timeout(20):                 # new series show up after ~1 s
        while True:
            got = (await vm.samples()).get(name, [])
            if len(got) >= n:
                return got
            await asyncio.sleep(0.2)  # noqa: ASYNC110 - VictoriaMetrics shows new points late


def test_line_protocol() -> None:
    store = TagStore(ManualClock(T0))
    t = store.define("drainage.pump 1.running")
    store.set("drainage.pump 1.running", True)
    assert line("demo", t) == ("fixedsite,site=demo,system=drainage,equipment=pump\\ 1 "
                               "running=1.0,running_q=2i 1790000000000")
    s = store.define("drainage.pump1.state")
    store.set("drainage.pump1.state", "running")
    assert line("demo", s) is None


async def test_points_arrive(vm: VictoriaMetrics, tmp_path: Path) -> None:
    f = Feed(tmp_path, vm.url)
    try:
        f.emit(120)
        f.store.update(f.running, True)
        f.up.kick()
        await f.drained()
        got = await wait_points(vm, "fixedsite_level{sump}", 120)
        assert [v for _, v in got] == [pytest.approx(1.0 + i / 1000) for i in range(1, 121)]
        assert got[0][0] == int((T0 + 1) * 1000)
        running = await wait_points(vm, "fixedsite_running{pump1}", 1)
        assert running[0][1] == 1.0
    finally:
        await f.close()


async def test_an_outage_loses_nothing_and_drains_in_order(vm: VictoriaMetrics,
                                                           tmp_path: Path) -> None:
    f = Feed(tmp_path, vm.url)
    try:
        f.emit(100)
        await f.drained()
        await vm.stop()                              # the uplink server goes away
        f.emit(300)
        await f.up._spool()                          # the backlog goes to disk
        assert len(f.up.queue) >= 300
        assert not f.up.drained.is_set()
        await asyncio.wait_for(f.up.failing.wait(), 10)
        await vm.start()                             # same data, same port
        f.emit(100)
        await f.drained(30)
        got = await wait_points(vm, "fixedsite_level{sump}", 500)
        ts = [t for t, _ in got]
        assert len(got) == 500 and ts == sorted(ts) and len(set(ts)) == 500
        assert [v for _, v in got] == [pytest.approx(1.0 + i / 1000) for i in range(1, 501)]
    finally:
        await f.close()


async def test_a_batch_sent_twice_is_stored_once(vm: VictoriaMetrics, tmp_path: Path) -> None:
    """An acknowledgement lost in transit makes the queue send a batch again."""
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
    from influxdb_client.client.write_api import WritePrecision

    lines = [f"fixedsite,site=demo,system=drainage,equipment=sump level={i}.5 "
             f"{int(T0 * 1000) + i * 1000}" for i in range(50)]
    async with InfluxDBClientAsync(url=vm.url, token="t", org="o") as client:
        for _ in range(2):
            await client.write_api().write(bucket="b", record=lines,
                                           write_precision=WritePrecision.MS)
    got = await wait_points(vm, "fixedsite_level{sump}", 50)
    assert len(got) == 50


def test_disk_queue_survives_a_restart(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    q.put(["a", "b", "c"])
    q.close()
    q = DiskQueue(tmp_path / "q.db")
    upto, lines = q.peek(2)
    assert lines == ["a", "b"]
    q.ack(upto)
    assert q.peek(10)[1] == ["c"] and len(q) == 1
    q.close()


def _levels(got: list[tuple[int, float]]) -> list[int]:
    """The emit numbers of the level points received (value = 1 + n / 1000)."""
    return [round((v - 1.0) * 1000) for _, v in got]


async def test_the_disk_queue_is_bounded_oldest_dropped_and_said(vm: VictoriaMetrics,
                                                                 tmp_path: Path) -> None:
    f = Feed(tmp_path, vm.url, max_queue=100)
    try:
        f.emit(50)
        await f.drained()
        await vm.stop()
        f.emit(300)
        await f.up._spool()
        assert len(f.up.queue) == 100 and f.up.dropped == 200
        assert not f.up.ok
        assert "the disk queue is full: dropping the oldest points (200 dropped" in f.up.error
        await vm.start()
        await f.drained(30)
        got = await wait_points(vm, "fixedsite_level{sump}", 150)
        assert _levels(got) == list(range(1, 51)) + list(range(251, 351))   # the newest kept
        assert f.up.ok and f.up.error == ""
    finally:
        await f.close()


def _disk_full(q: DiskQueue) -> None:
    """SQLite refuses to grow the queue's database and its free pages are used up."""
    with q._lock:
        fill_sqlite(q.db)


async def test_a_full_disk_does_not_kill_the_uplink_and_memory_stays_bounded(
        vm: VictoriaMetrics, tmp_path: Path) -> None:
    f = Feed(tmp_path, vm.url, health=True, max_pending=500, retry_max_s=0.2)
    try:
        f.emit(100)
        await f.drained()
        _disk_full(f.up.queue)
        f.emit(2000)                           # tag changes go on while the disk is full
        ok = await f.store.wait_for("controller.uplink.ok", lambda t: t.value is False, 10)
        assert ok.value is False and not f.task.done()
        error = f.store.value("controller.uplink.error")
        assert "uplink.db cannot be written" in error and "database or disk is full" in error
        assert len(f.up._pending) <= 500
        assert f.store.value("controller.uplink.dropped") >= 1500
        f.emit(200)
        assert len(f.up._pending) <= 500 and not f.task.done()
        with f.up.queue._lock:
            f.up.queue.db.execute("PRAGMA max_page_count = 1073741823")    # room again
        await f.drained(30)
        await f.store.wait_for("controller.uplink.ok", lambda t: t.value is True, 10)
        assert f.store.value("controller.uplink.error") == ""
        got = _levels(await wait_points(vm, "fixedsite_level{sump}", 500))
        assert got[:100] == list(range(1, 101))
        newest = got[100:]                     # what memory held: the newest, in order
        assert newest == list(range(2301 - len(newest), 2301)) and 450 <= len(newest) <= 500
    finally:
        await f.close()
