"""The Modbus driver against real pymodbus servers on loopback, faults included."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from conftest import demo_config, free_port
from faulty_plc import FaultyPlc
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fixedsite.alarms.engine import AlarmEngine
from fixedsite.alarms.model import build_defs
from fixedsite.clock import ScaledClock
from fixedsite.drivers.modbus import ModbusDriver, Point
from fixedsite.drivers.modbus_codec import Scaling, parse_address, reply_problem
from fixedsite.drivers.modbus_config import ModbusPlc as PlcConfig
from fixedsite.tags import COMM_FAIL, MALFORMED, STALE, Quality, TagMeta, TagStore


def words(fmt: str, value: float) -> list[int]:
    raw = struct.pack(fmt, value)
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


class Env:
    def __init__(self) -> None:
        self.port = free_port()
        self.clock = ScaledClock(1.0)
        self.store = TagStore(self.clock)
        self.busy = False
        self.clamp: int | None = None
        self.server: ModbusTcpServer | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.drivers: list[ModbusDriver] = []

    async def action(self, fc: int, start: int, addr: int, count: int, regs: list[int],
                     values: list[int] | list[bool] | None) -> ExcCodes | None:
        if self.busy and values is None:
            return ExcCodes.DEVICE_BUSY
        if values and self.clamp is not None and fc in (6, 16) and addr == 30:
            values[0] = min(int(values[0]), self.clamp)     # the PLC limits a set-point
        return None

    async def serve(self, holes: bool = False) -> None:
        hr = ([SimData(0, count=10, values=0, datatype=DataType.REGISTERS),
               SimData(20, count=20, values=0, datatype=DataType.REGISTERS)] if holes
              else [SimData(0, count=60, values=0, datatype=DataType.REGISTERS),
                    SimData(60, count=4, values=0, datatype=DataType.REGISTERS,
                            readonly=True)])
        dev = SimDevice(id=1, action=self.action, simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)], hr,
            [SimData(0, count=40, values=0, datatype=DataType.REGISTERS)]))
        self.server = ModbusTcpServer(dev, address=("127.0.0.1", self.port))
        await self.server.serve_forever(background=True)

    def driver(self, signals: dict[str, tuple[str, float]], word_order: str = "big",
               max_gap: int = 32, plc_name: str = "plc", **plc: Any) -> ModbusDriver:
        kw: dict[str, Any] = {"poll_period_s": 0.05, "timeout_s": 0.5, "backoff_max_s": 0.5}
        cfg = PlcConfig(protocol="modbus", port=self.port, word_order=word_order,  # type: ignore[arg-type]
                        max_gap=max_gap, **(kw | plc))
        points = []
        for name, (addr, scale) in signals.items():
            tag = self.store.define(f"t.e.{name}", TagMeta(writable=True))
            points.append(Point(tag, parse_address(addr), Scaling(scale), cfg.word_order, 0.05))
        d = ModbusDriver(plc_name, cfg, self.store, self.clock, points)
        self.drivers.append(d)
        self.tasks.append(asyncio.create_task(d.run()))
        return d

    async def good(self, name: str) -> object:
        tag = await self.store.wait_for(f"t.e.{name}", lambda t: t.quality is Quality.GOOD, 5)
        return tag.value


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    e = Env()
    yield e
    for d in e.drivers:
        await d.close()
    for t in e.tasks:
        t.cancel()
    if e.tasks:
        _, pending = await asyncio.wait(e.tasks, timeout=5)
        assert not pending, "a driver task did not stop"
    if e.server is not None:
        await e.server.shutdown()


async def test_reads_are_coalesced_and_decoded(env: Env) -> None:
    await env.serve()
    srv = env.server
    assert srv is not None
    await srv.async_setValues(1, 16, 0, [7, *words(">f", 2.5)[::-1], 0, 0, 0b1000])
    await srv.async_setValues(1, 4, 10, words(">h", -123))
    await srv.async_setValues(1, 5, 3, [True])
    d = env.driver({"a": ("hr:0", 1), "f": ("hr:1:float32", 1), "bit": ("hr:5.3", 1),
                    "temp": ("ir:10:int16", 0.1), "c": ("coil:3", 1)}, word_order="little")
    assert d.block_count() == 3                          # hr, ir and coil: one read each
    assert await env.good("a") == 7
    assert await env.good("f") == 2.5
    assert await env.good("bit") is True
    assert await env.good("temp") == pytest.approx(-12.3)
    assert await env.good("c") is True


async def test_writes_are_verified_by_read_back(env: Env) -> None:
    await env.serve()
    d = env.driver({"sp": ("hr:30", 1), "c": ("coil:4", 1), "b": ("hr:31.2", 1),
                    "ro": ("hr:60", 1), "f": ("hr:40:float32", 0.01)})
    await env.good("sp")
    res = await d.write("t.e.sp", 1234)
    assert res.ok and res.value == 1234
    assert (await d.write("t.e.c", True)).ok
    assert (await d.write("t.e.b", True)).ok
    assert env.store.value("t.e.b") is True
    res = await d.write("t.e.f", 12.5)
    assert res.ok and res.value == pytest.approx(12.5)
    res = await d.write("t.e.ro", 5)
    assert not res.ok and "refused" in res.reason
    env.clamp = 100
    res = await d.write("t.e.sp", 500)
    assert not res.ok and res.value == 100 and "differs" in res.reason
    res = await d.write("t.e.sp", 70000)
    assert not res.ok and "does not fit" in res.reason


async def test_exception_replies_mark_tags_bad_and_polling_goes_on(env: Env) -> None:
    await env.serve()
    env.driver({"a": ("hr:0", 1)})
    await env.good("a")
    env.busy = True
    tag = await env.store.wait_for("t.e.a", lambda t: t.quality is Quality.BAD, 5)
    assert tag.reason == "plc_exception_6"
    env.busy = False
    await env.good("a")
    assert env.store.value("comm.plc.errors") > 0
    await env.store.wait_for("comm.plc.online", lambda t: t.value is True, 5)


async def test_a_block_over_unmapped_holes_is_split(env: Env) -> None:
    await env.serve(holes=True)
    assert env.server is not None
    await env.server.async_setValues(1, 16, 25, [42])
    d = env.driver({"a": ("hr:0", 1), "b": ("hr:25", 1)})
    assert d.block_count() == 1
    assert await env.good("b") == 42
    assert await env.good("a") == 0
    assert d.block_count() == 2


async def test_server_down_then_back(env: Env) -> None:
    await env.serve()
    d = env.driver({"a": ("hr:0", 1)})
    await env.good("a")
    assert env.server is not None
    await env.server.shutdown()
    tag = await env.store.wait_for("t.e.a", lambda t: t.quality is Quality.BAD, 5)
    assert tag.reason == COMM_FAIL
    res = await d.write("t.e.a", 1)
    assert not res.ok and COMM_FAIL in res.reason
    await env.serve()
    await env.good("a")
    assert d.online


@contextlib.asynccontextmanager
async def _garbage_server(port: int) -> AsyncIterator[None]:
    """Answers every read with a well-framed reply that carries too few registers."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        writers.append(w)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                req = await r.readexactly(12)
                pdu = bytes([3, 4, 0, 1, 0, 2])      # byte count 4: two registers
                w.write(req[0:2] + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + b"\x01"
                        + pdu)
                await w.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for w in writers:
            w.close()
        await server.wait_closed()


async def test_malformed_reply_marks_tags_bad_without_crashing(env: Env) -> None:
    async with _garbage_server(env.port):
        d = env.driver({"a": ("hr:0", 1), "b": ("hr:9", 1)})
        tag = await env.store.wait_for(
            "t.e.b", lambda t: t.quality is Quality.BAD and t.reason == MALFORMED, 5)
        assert tag.value is None
        assert "got 2" in env.store.value("comm.plc.last_error")
        seen = env.store.value("comm.plc.errors")
        # the driver keeps polling through the faults, counting each
        await env.store.wait_for("comm.plc.errors", lambda t: t.value >= seen + 5, 5)
        assert d.requests >= 6
        assert not env.tasks[0].done()
        for d in env.drivers:
            await d.close()


# --- link supervision: a PLC that accepts TCP is not yet a PLC that answers (#9 A7) -------

def record(env: Env, path: str) -> list[object]:
    """Every value the tag takes from now on (an alarm on it sees exactly these)."""
    seen: list[object] = []
    env.store.subscribe(lambda t: seen.append(t.value), path)
    return seen


async def test_a_silent_plc_is_never_online_and_is_not_hammered(env: Env) -> None:
    """TCP accepted, no reply ever: online goes False once and stays (one standing comm
    alarm, no active/clear flapping), and reconnects back off instead of every 0.1 s."""
    async with FaultyPlc(env.port, "silent") as plc:
        env.driver({"a": ("hr:0", 1)}, plc_name="drain1", timeout_s=0.05, backoff_max_s=5.0)
        online = record(env, "comm.drain1.online")      # (the driver task has not run yet)
        # the site's own comm alarm on this PLC, as the controller builds it
        defs = [d for d in build_defs(demo_config(env.port)) if d.id == "comm.drain1.LOST"]
        alarms = AlarmEngine(defs, env.store, env.clock)
        await env.store.wait_for("comm.drain1.online", lambda t: t.value is False, 5)
        await plc.wait_connections(5, 10)
        alarms.tick()
        assert online == [False]              # never True, never flapping
        assert [e.what for e in alarms.events] == ["active"]
        assert "no reply" in env.store.value("comm.drain1.last_error")
        gaps = [b - a for a, b in zip(plc.connect_times, plc.connect_times[1:], strict=False)]
        # back-off doubles from 0.1 s: the fourth wait is at least 0.8 s however busy the
        # host (the old driver reconnected every 0.1 s plus its two 0.05 s time-outs)
        assert gaps[-1] >= 0.8, gaps
        tag = env.store["t.e.a"]
        assert tag.quality is Quality.BAD and tag.reason == COMM_FAIL


async def test_online_only_after_a_good_reply_and_back_after_recovery(env: Env) -> None:
    async with FaultyPlc(env.port, "silent") as plc:
        online = record(env, "comm.plc.online")
        env.driver({"a": ("hr:0", 1)}, timeout_s=0.2)
        await env.store.wait_for("comm.plc.online", lambda t: t.value is False, 5)
        plc.mode = "good"
        assert await env.good("a") == 7
        await env.store.wait_for("comm.plc.online", lambda t: t.value is True, 5)
        assert online == [False, True]


async def test_a_reply_with_the_wrong_function_code_is_malformed(env: Env) -> None:
    """A well-formed read-input-registers reply to a read-holding-registers request is not
    the data asked for: pymodbus 3.16 hands it over as it is (it checks only the device
    and transaction ids), so the driver must."""
    async with FaultyPlc(env.port, "wrong_fc", value=99):
        values = record(env, "t.e.a")
        online = record(env, "comm.plc.online")
        env.driver({"a": ("hr:0", 1)})
        tag = await env.store.wait_for(
            "t.e.a", lambda t: t.quality is Quality.BAD and t.reason == MALFORMED, 5)
        assert 99 not in values and tag.value is None
        assert "function code 4" in env.store.value("comm.plc.last_error")
        await env.store.wait_for("comm.plc.errors", lambda t: t.value >= 3, 5)
        assert True not in online


async def test_a_lying_byte_count_is_malformed_and_logged_once(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    caplog.set_level(logging.INFO)
    async with FaultyPlc(env.port, "lying_count") as plc:
        env.driver({"a": ("hr:0", 1)})
        tag = await env.store.wait_for(
            "t.e.a", lambda t: t.quality is Quality.BAD and t.reason == MALFORMED, 5)
        await env.store.wait_for("comm.plc.errors", lambda t: t.value >= 10, 5)
        assert tag.reason == MALFORMED
        assert "byte count" in env.store.value("comm.plc.last_error")
        assert plc.connections == 1                 # the frame was bad, not the link
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noisy) <= 2, [r.getMessage() for r in noisy]


async def test_junk_on_the_wire_is_never_online(env: Env,
                                                caplog: pytest.LogCaptureFixture) -> None:
    async with FaultyPlc(env.port, "junk"):
        online = record(env, "comm.plc.online")
        env.driver({"a": ("hr:0", 1)}, timeout_s=0.1)
        await env.store.wait_for("comm.plc.errors", lambda t: t.value >= 4, 5)
        assert True not in online and online[:1] == [False]
        assert env.store["t.e.a"].quality is Quality.BAD
        assert "unframeable bytes" in env.store.value("comm.plc.last_error")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    # counted in comm.plc.errors and logged once by the driver, not a line per request
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 2


async def test_a_plc_refusing_every_read_raises_the_comm_alarm(env: Env) -> None:
    """The link answers, but no read has delivered data within the stale window: online
    goes False with the refusal as its reason, and True again on the next good reply."""
    async with FaultyPlc(env.port, "exception", exception_code=2) as plc:
        env.driver({"a": ("hr:0", 1)})
        tag = await env.store.wait_for("t.e.a", lambda t: t.quality is Quality.BAD and
                                       t.reason == "plc_exception_2", 5)
        await env.store.wait_for("comm.plc.online", lambda t: t.value is False, 5)
        assert "every read refused: PLC exception 2" in env.store.value("comm.plc.last_error")
        plc.mode = "good"
        await env.store.wait_for("comm.plc.online", lambda t: t.value is True, 5)
        assert tag.quality is Quality.GOOD and plc.connections == 1


async def test_a_silent_plc_goes_stale_on_the_clock_while_a_request_hangs(env: Env) -> None:
    """timeout_s = 30: the request in flight will not return for half a minute, but the
    tags must not stay GOOD past stale_after_periods x period (0.15 s, guarded to 0.3 s)."""
    async with FaultyPlc(env.port, "good") as plc:
        env.driver({"a": ("hr:0", 1)}, timeout_s=30.0)
        await env.good("a")
        plc.mode = "silent"
        t0 = env.clock.now()
        tag = await env.store.wait_for("t.e.a", lambda t: t.quality is not Quality.GOOD, 3)
        assert tag.quality is Quality.UNCERTAIN and tag.reason == STALE
        assert env.clock.now() - t0 < 1.5
        await env.store.wait_for("comm.plc.online", lambda t: t.value is False, 3)
        assert "no reply" in env.store.value("comm.plc.last_error")
        plc.mode = "good"          # the hanging request still waits; the next one is read
        for d in env.drivers:
            await d.close()


async def test_mark_offline_turns_every_tag_bad(env: Env) -> None:
    """What the controller's task supervisor calls when the driver's task dies."""
    async with FaultyPlc(env.port, "good"):
        d = env.driver({"a": ("hr:0", 1), "b": ("coil:2", 1)})
        await env.good("a")
        await env.good("b")
        for t in env.tasks:
            t.cancel()
        await asyncio.wait(env.tasks, timeout=5)
        d.mark_offline("driver task failed: boom")
        assert env.store.value("comm.plc.online") is False
        assert env.store.value("comm.plc.last_error") == "driver task failed: boom"
        for name in ("a", "b"):
            tag = env.store[f"t.e.{name}"]
            assert tag.quality is Quality.BAD and tag.reason == COMM_FAIL


@pytest.mark.parametrize(("pdu", "problem"), [
    (bytes([3, 4, 0, 1, 0, 2]), None),
    (bytes([1, 1, 0b101]), None),
    (bytes([0x83, 2]), None),
    (bytes([6, 0, 30, 0, 5]), None),
    (bytes([22, 0, 7, 0xFF, 0xF7, 0, 8]), None),
    (bytes([3, 200, 0, 1]), "byte count 200, 2 bytes follow"),
    (bytes([3, 2, 0, 1, 0, 2]), "byte count 2, 4 bytes follow"),   # says less than it sends
    (bytes([4, 3, 0, 1, 0]), "odd byte count"),
    (bytes([1, 2, 1]), "byte count 2, 1 bytes follow"),      # pymodbus ignores it for bits
    (bytes([3]), "byte count no"),
    (bytes([6, 0, 30]), "3 bytes long, not 5"),
    (bytes([0x83]), "malformed exception"),
    (bytes([43, 14, 1]), "function code 43"),
    (b"", "empty reply"),
])
def test_reply_frames_are_checked_before_their_data_is_taken(pdu: bytes,
                                                             problem: str | None) -> None:
    found = reply_problem(pdu)
    assert found == problem if problem is None else problem in (found or "")


async def test_a_write_answered_with_the_wrong_function_is_not_verified(env: Env) -> None:
    async with FaultyPlc(env.port, "good") as plc:
        d = env.driver({"sp": ("hr:30", 1)})
        await env.good("sp")
        plc.mode = "wrong_fc"
        res = await d.write("t.e.sp", 7)
        assert not res.ok and "no verified reply" in res.reason
