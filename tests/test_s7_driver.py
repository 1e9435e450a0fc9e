"""The S7 driver against the HIL's snap7 server on loopback, faults included.

The server side is ``fixedsite.hil.s7_server`` (snap7's Server with a CPU's bit-exact
BIT writes); what the PLC holds is set and checked through ``S7Memory``, which packs
with its own ``struct`` code, never the driver's codec. Every wait is on a condition
with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from conftest import free_port
from snap7.datatypes import S7Area
from snap7.server import Server
from snap7.type import SrvArea

from fixedsite.clock import ScaledClock
from fixedsite.drivers.protocol import Mapped
from fixedsite.drivers.s7 import S7Driver, S7Point
from fixedsite.drivers.s7_codec import Scaling, parse_address
from fixedsite.drivers.s7_config import SPEC, S7Plc
from fixedsite.hil.s7_server import S7Field, S7Memory, S7Server
from fixedsite.schema import SignalMap
from fixedsite.tags import COMM_FAIL, MALFORMED, STALE, Quality, TagMeta, TagStore

WAIT_S = 5.0

FIELDS = [
    # DB10: every type
    S7Field("run_cmd", "DB", 10, 4, "BOOL", 3),
    S7Field("plc_alive", "DB", 10, 4, "BOOL", 7),
    S7Field("mode", "DB", 10, 5, "BYTE"),
    S7Field("count", "DB", 10, 6, "INT"),
    S7Field("status", "DB", 10, 2, "WORD"),
    S7Field("total", "DB", 10, 8, "DINT"),
    S7Field("mask", "DB", 10, 12, "DWORD"),
    S7Field("level", "DB", 10, 16, "REAL"),
    S7Field("hb", "DB", 10, 20, "WORD"),
    # DB20: many INTs, for coalescing (bytes 0..199)
    *[S7Field(f"v{i}", "DB", 20, 2 * i, "INT") for i in range(100)],
    # DB30: 600 bytes, more than one read of a 480-byte PDU carries
    S7Field("first", "DB", 30, 0, "INT"),
    S7Field("mid", "DB", 30, 300, "INT"),
    S7Field("last", "DB", 30, 598, "INT"),
    # markers
    S7Field("m_flag", "M", 0, 1, "BOOL", 0),
    S7Field("m_neigh", "M", 0, 1, "BOOL", 5),
    S7Field("m_int", "M", 0, 6, "INT"),
    S7Field("m_real", "M", 0, 40, "REAL"),
    # inputs and outputs
    S7Field("float_hi", "I", 0, 0, "BOOL", 3),
    S7Field("i_word", "I", 0, 2, "WORD"),
    S7Field("pump_on", "Q", 0, 1, "BOOL", 0),
    S7Field("q_byte", "Q", 0, 3, "BYTE"),
    S7Field("q_dword", "Q", 0, 4, "DWORD"),
]


class Env:
    def __init__(self) -> None:
        self.port = free_port()
        self.clock = ScaledClock(1.0)
        self.store = TagStore(self.clock)
        self.mem = S7Memory(FIELDS)
        self.server = S7Server(self.mem, self.port)
        self.tasks: list[asyncio.Task[None]] = []
        self.drivers: list[S7Driver] = []

    def driver(self, signals: dict[str, tuple[str, float] | tuple[str, float, float]],
               plc_name: str = "s7", port: int | None = None, **plc: Any) -> S7Driver:
        kw: dict[str, Any] = {"poll_period_s": 0.05, "timeout_s": 0.5, "backoff_max_s": 0.5}
        cfg = S7Plc(protocol="s7", port=port or self.port, **(kw | plc))
        points = []
        for name, (addr, scale, *off) in signals.items():
            tag = self.store.define(f"t.e.{name}", TagMeta(writable=True))
            points.append(S7Point(tag, parse_address(addr), Scaling(scale, *off),
                                  cfg.poll_period_s))
        d = S7Driver(plc_name, cfg, self.store, self.clock, points)
        self.drivers.append(d)
        self.tasks.append(asyncio.create_task(d.run()))
        return d

    async def good(self, name: str) -> object:
        tag = await self.store.wait_for(f"t.e.{name}", lambda t: t.quality is Quality.GOOD,
                                        WAIT_S)
        return tag.value

    async def bad(self, name: str, reason: str) -> object:
        tag = await self.store.wait_for(
            f"t.e.{name}", lambda t: t.quality is Quality.BAD and t.reason == reason, WAIT_S)
        return tag.value

    async def online(self, value: bool, plc: str = "s7") -> None:
        await self.store.wait_for(f"comm.{plc}.online", lambda t: t.value is value, WAIT_S)


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    e = Env()
    await e.server.start()
    yield e
    for d in e.drivers:
        await d.close()
    for t in e.tasks:
        t.cancel()
    if e.tasks:
        _, pending = await asyncio.wait(e.tasks, timeout=5)
        assert not pending, "a driver task did not stop"
    await e.server.stop()


# --- reads ------------------------------------------------------------------------------

async def test_every_type_and_area_is_read_with_scaling(env: Env) -> None:
    m = env.mem
    m.set("run_cmd", True)
    m.set("mode", 0xA5)
    m.set("count", -1234)
    m.set("status", 0xBEEF)
    m.set("total", -70000)
    m.set("mask", 0xDEADBEEF)
    m.set("level", 2.5)
    m.set("m_flag", True)
    m.set("m_int", 523)
    m.set("m_real", -1.25)
    m.set("float_hi", True)
    m.set("i_word", 4000)
    m.set("pump_on", True)
    m.set("q_byte", 7)
    m.set("q_dword", 123456789)
    d = env.driver({
        "run_cmd": ("DB10.DBX4.3", 1), "alive": ("DB10.DBX4.7", 1),
        "mode": ("DB10.DBB5", 1), "count": ("DB10.DBW6", 0.1),
        "status": ("DB10.DBW2:WORD", 1), "total": ("DB10.DBD8", 1),
        "mask": ("DB10.DBD12:DWORD", 1), "level": ("DB10.DBD16:REAL", 2.0, 1.0),
        "m_flag": ("M1.0", 1), "m_int": ("MW6", 0.01, -1.0), "m_real": ("MD40:REAL", 1),
        "float_hi": ("I0.3", 1), "i_word": ("IW2:WORD", 0.005),
        "pump_on": ("Q1.0", 1), "q_byte": ("QB3", 10), "q_dword": ("QD4:DWORD", 1)})
    assert d.block_count() == 4                     # DB10, M, I, Q: one read each
    assert await env.good("run_cmd") is True
    assert await env.good("alive") is False
    assert await env.good("mode") == 0xA5
    assert await env.good("count") == pytest.approx(-123.4)
    assert await env.good("status") == 0xBEEF
    assert await env.good("total") == -70000
    assert await env.good("mask") == 0xDEADBEEF
    assert await env.good("level") == pytest.approx(6.0)        # 2.5 * 2 + 1
    assert await env.good("m_flag") is True
    assert await env.good("m_int") == pytest.approx(4.23)      # 523 * 0.01 - 1
    assert await env.good("m_real") == pytest.approx(-1.25)
    assert await env.good("float_hi") is True
    assert await env.good("i_word") == pytest.approx(20.0)
    assert await env.good("pump_on") is True
    assert await env.good("q_byte") == 70
    assert await env.good("q_dword") == 123456789
    await env.online(True)
    # a change in the PLC reaches the tag on the next poll
    m.set("count", 50)
    await env.store.wait_for("t.e.count", lambda t: t.value == pytest.approx(5.0), WAIT_S)


async def test_reads_are_coalesced_into_few_requests(env: Env) -> None:
    for i in range(100):
        env.mem.set(f"v{i}", i * 3 - 50)
    env.mem.set("last", 31)
    sig: dict[str, tuple[str, float] | tuple[str, float, float]] = {
        f"v{i}": (f"DB20.DBW{2 * i}", 1) for i in range(100)}
    sig |= {"first": ("DB30.DBW0", 1), "last": ("DB30.DBW598", 1)}
    # a long period: the driver's own loop polls once, then the test counts alone
    d = env.driver(sig, poll_period_s=30.0)
    # DB20 in one read; DB30's 600 bytes do not fit one (462 bytes), so two
    assert d.block_count() == 3
    for i in range(100):
        assert await env.good(f"v{i}") == i * 3 - 50
    assert await env.good("last") == 31
    r0, n0 = d.requests, d.tag_reads
    await d.poll_once()
    assert d.requests - r0 == 3                      # 102 tags, 3 requests
    assert d.tag_reads - n0 == 102


async def test_an_s7_error_on_one_block_marks_that_block_alone(env: Env) -> None:
    """A DB the PLC does not have (0x0a) marks its tags bad with the code; the others stay
    good and the link stays up. A block whose far part lies past the end of its DB
    (0x05) is split, and only the part past the end is bad."""
    env.mem.set("count", 9)
    d = env.driver({"count": ("DB10.DBW6", 1), "ghost": ("DB99.DBW0", 1),
                    "ghost2": ("DB99.DBD4:REAL", 1),
                    "last": ("DB30.DBW598", 1), "beyond": ("DB30.DBW640", 1)},
                   max_gap=64)
    assert d.block_count() == 3     # DB10, DB99, and DB30 bytes 598..642 in one block
    assert await env.good("count") == 9
    assert await env.bad("ghost", "s7_error_0x0a") is None
    assert env.store["t.e.ghost2"].reason == "s7_error_0x0a"
    assert await env.bad("beyond", "s7_error_0x05") is None
    assert await env.good("last") == 0
    assert d.block_count() == 4     # DB30 read in its two parts
    await env.online(True)
    assert env.store.value("comm.s7.errors") >= 2
    # the link is kept: the good tags go on being read, no reconnect
    env.mem.set("count", 10)
    await env.store.wait_for("t.e.count", lambda t: t.value == 10, WAIT_S)
    assert d.online


async def test_a_nan_or_infinite_real_is_bad_malformed(env: Env) -> None:
    env.mem.set("level", 1.5)
    env.mem.set("m_real", 2.0)
    env.driver({"level": ("DB10.DBD16:REAL", 1), "m_real": ("MD40:REAL", 1),
                "count": ("DB10.DBW6", 1)})
    assert await env.good("level") == 1.5
    env.mem.write("DB", 10, 16, struct.pack(">f", math.nan))
    assert await env.bad("level", MALFORMED) == 1.5         # last value kept, shown bad
    env.mem.write("M", 0, 40, struct.pack(">f", -math.inf))
    await env.bad("m_real", MALFORMED)
    assert env.store["t.e.count"].quality is Quality.GOOD
    env.mem.set("level", 3.0)
    assert await env.good("level") == 3.0


# --- writes -----------------------------------------------------------------------------

async def test_writes_are_verified_by_read_back(env: Env) -> None:
    d = env.driver({"mode": ("DB10.DBB5", 1), "count": ("DB10.DBW6", 0.1),
                    "status": ("DB10.DBW2:WORD", 1), "total": ("DB10.DBD8", 1),
                    "mask": ("DB10.DBD12:DWORD", 1), "level": ("DB10.DBD16:REAL", 0.5),
                    "run_cmd": ("DB10.DBX4.3", 1), "m_int": ("MW6", 1),
                    "m_flag": ("M1.0", 1), "q_dword": ("QD4:DWORD", 1),
                    "pump_on": ("Q1.0", 1), "i_word": ("IW2:WORD", 1),
                    "ghost": ("DB99.DBW0", 1)})
    await env.good("mode")
    cases: list[tuple[str, float | bool, str, object]] = [
        ("mode", 200, "mode", 200), ("count", -12.5, "count", -125),
        ("status", 0xFFFF, "status", 0xFFFF), ("total", -2_000_000, "total", -2_000_000),
        ("mask", 0xFFFF_FFFF, "mask", 0xFFFF_FFFF), ("level", 21.0, "level", 42.0),
        ("run_cmd", True, "run_cmd", True), ("m_int", -7, "m_int", -7),
        ("m_flag", True, "m_flag", True), ("q_dword", 77, "q_dword", 77),
        ("pump_on", True, "pump_on", True), ("pump_on", False, "pump_on", False)]
    for name, value, fld, raw in cases:
        res = await d.write(f"t.e.{name}", value)
        assert res.ok, (name, res.reason)
        assert res.value == pytest.approx(value)
        assert env.mem.get(fld) == pytest.approx(raw), name    # what the PLC holds
        assert env.store[f"t.e.{name}"].value == pytest.approx(value)
    # the inputs are the PLC's: refused before anything goes on the wire
    r0 = d.requests
    res = await d.write("t.e.i_word", 5)
    assert not res.ok and "read-only" in res.reason and d.requests == r0
    res = await d.write("t.e.count", 4000.0)               # 40000 raw: not an INT
    assert not res.ok and "does not fit" in res.reason
    assert env.mem.get("count") == -125
    res = await d.write("t.e.level", math.nan)
    assert not res.ok and "cannot be written" in res.reason
    res = await d.write("t.e.ghost", 1)                    # no DB99: the PLC says no
    assert not res.ok and "PLC refused the write (S7 error 0x" in res.reason
    assert d.online


class ClampingServer(Server):
    """snap7's Server as a PLC whose program limits a set-point: an INT written to MW6
    is stored as at most 100, before the write is acknowledged (so the read-back that
    follows always sees the clamped value)."""

    def _write_to_memory_area(self, area: S7Area, db_number: int, start: int,
                              write_data: bytearray) -> bool:
        if area == S7Area.MK and start == 6 and len(write_data) == 2:
            value = min(struct.unpack(">h", write_data)[0], 100)
            write_data = bytearray(struct.pack(">h", value))
        return bool(super()._write_to_memory_area(area, db_number, start, write_data))


async def test_a_write_the_plc_does_not_keep_is_not_verified(env: Env) -> None:
    """The read-back differs from what was written: not ok, with the value the PLC holds."""
    port = free_port()
    srv = ClampingServer(log=False)
    srv.register_area(SrvArea.MK, 0, bytearray(16))
    srv.start_to("127.0.0.1", port)
    try:
        d = env.driver({"m_int": ("MW6", 1)}, port=port)
        await env.good("m_int")
        res = await d.write("t.e.m_int", 500)
        assert not res.ok and res.value == 100 and "differs" in res.reason
        assert env.store.value("t.e.m_int") == 100
        res = await d.write("t.e.m_int", 50)
        assert res.ok and res.value == 50
        await d.close()              # a client still connected costs snap7's stop 1 s
    finally:
        await asyncio.to_thread(srv.stop)


async def test_a_bit_write_leaves_the_bits_the_plc_owns(env: Env) -> None:
    """DB10.DBX4.3 is the controller's; DB10.DBX4.7 beside it is the PLC's, which toggles
    it all the time. Each write sends one BIT item and reads it back (two requests, no
    read of the byte before), and never puts back a stale copy of the PLC's bit."""
    d = env.driver({"run_cmd": ("DB10.DBX4.3", 1)}, poll_period_s=30.0)
    await env.good("run_cmd")
    # the PLC sets its bit after the driver's last read of the byte: a driver writing
    # the byte from what it read would clear it
    env.mem.set("plc_alive", True)
    r0 = d.requests
    res = await d.write("t.e.run_cmd", True)
    assert res.ok and d.requests - r0 == 2
    assert env.mem.get("plc_alive") is True and env.mem.get("run_cmd") is True
    assert env.mem.read("DB", 10, 4, 1) == bytes([0b1000_1000])

    # now the PLC toggles its bit as fast as it can while the controller writes its own;
    # the PLC checks, each time, that its bit is as it left it
    stop = threading.Event()
    lost: list[int] = []
    flips = [0]

    def plc() -> None:
        buf, mine = env.mem.dbs[10], True
        while not stop.is_set():
            with env.mem.lock:
                if bool(buf[4] & 0x80) != mine:
                    lost.append(flips[0])
                mine = not mine
                buf[4] = buf[4] | 0x80 if mine else buf[4] & ~0x80
                flips[0] += 1

    t = threading.Thread(target=plc, daemon=True)
    t.start()
    try:
        for i in range(40):
            res = await d.write("t.e.run_cmd", i % 2 == 0)
            assert res.ok, res.reason
            assert env.mem.get("run_cmd") is (i % 2 == 0)
    finally:
        stop.set()
        await asyncio.to_thread(t.join)
    assert flips[0] > 40
    assert lost == [], f"the PLC's bit was overwritten {len(lost)} times"


async def test_heartbeat_counts_up(env: Env) -> None:
    """The counter lands in the PLC (read back here by a poll of the same word)."""
    d = env.driver({"hb": ("DB10.DBW20:WORD", 1)}, heartbeat="DB10.DBW20",
                   heartbeat_period_s=0.02)
    await env.store.wait_for("t.e.hb", lambda t: (t.value or 0) >= 5, WAIT_S)
    seen = env.mem.get("hb")
    await env.store.wait_for("t.e.hb", lambda t: t.value > seen, WAIT_S)
    assert d.online


# --- the link ---------------------------------------------------------------------------

async def test_server_stopped_then_started_again(env: Env) -> None:
    env.mem.set("count", 3)
    d = env.driver({"count": ("DB10.DBW6", 1), "m_flag": ("M1.0", 1)})
    assert await env.good("count") == 3
    await env.good("m_flag")
    await env.server.stop()
    assert await env.bad("count", COMM_FAIL) == 3
    assert env.store["t.e.m_flag"].reason == COMM_FAIL
    await env.online(False)
    assert not d.online
    res = await d.write("t.e.count", 4)
    assert not res.ok and COMM_FAIL in res.reason
    env.mem.set("count", 8)
    await env.server.start()
    # the same driver, not recreated: it reconnects with the link's back-off
    await env.store.wait_for("t.e.count", lambda t: t.quality is Quality.GOOD and
                             t.value == 8, WAIT_S)
    await env.online(True)
    assert (await d.write("t.e.count", 4)).ok and env.mem.get("count") == 4


class SilentPeer:
    """Accepts TCP, reads whatever comes and never answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._connected = asyncio.Condition()

    async def wait_connections(self, n: int, within_s: float) -> None:
        async with self._connected:
            await asyncio.wait_for(self._connected.wait_for(lambda: self.connections >= n),
                                   within_s)

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(w)
        async with self._connected:
            self._connected.notify_all()
        with contextlib.suppress(ConnectionError):
            while await r.read(4096):
                pass

    async def __aenter__(self) -> SilentPeer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()


class LoopLag:
    """The longest the event loop was late for a 10 ms tick (a controller's scan)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - t - 0.01)
            self.ticks += 1


async def test_a_peer_that_never_answers_is_offline_within_the_link_window(env: Env) -> None:
    """snap7 would wait 5 s for the COTP answer; timeout_s (0.2 s) bounds it, and the
    controller's loop is never held up."""
    port = free_port()
    lag = LoopLag()
    probe = asyncio.create_task(lag.run())
    try:
        async with SilentPeer(port) as peer:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            env.driver({"count": ("DB10.DBW6", 1)}, port=port, timeout_s=0.2,
                       backoff_max_s=0.2)
            await env.online(False)
            await env.bad("count", COMM_FAIL)
            # three connection attempts, each given up after 0.2 s: far less than one of
            # snap7's own 5 s receive time-outs
            await peer.wait_connections(3, 3.0)
            assert loop.time() - t0 < 3.0
            assert "connect failed" in env.store.value("comm.s7.last_error")
            assert "no reply" in env.store.value("comm.s7.last_error")
            for d in env.drivers:
                await d.close()
    finally:
        probe.cancel()
    assert lag.ticks > 20 and lag.worst < 0.5, (lag.ticks, lag.worst)


class Mute:
    """A TCP relay to the server that can go silent: what a PLC that hangs, or a cable
    cut behind a switch, looks like to the client (the connection stays open)."""

    def __init__(self, port: int, target: int, pdu: int | None = None) -> None:
        self.port, self.target = port, target
        self.silent = False
        self.pdu = pdu          # the PDU length the "PLC" negotiates, if not the server's
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter,
                    upstream: bool) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await r.read(4096):
                if not upstream and self.pdu is not None and _is_setup_reply(data):
                    data = data[:-2] + self.pdu.to_bytes(2, "big")
                if upstream or not self.silent:
                    w.write(data)
                    await w.drain()
        w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [w, uw]
        await asyncio.gather(self._pipe(r, uw, True), self._pipe(ur, w, False))

    async def __aenter__(self) -> Mute:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()


def _is_setup_reply(data: bytes) -> bool:
    """TPKT (4) + COTP DT (3) + S7 ack-data header (12) + setup-communication parameters
    (8), the PDU length in the last two bytes."""
    return len(data) == 27 and data[7] == 0x32 and data[8] == 3 and data[19] == 0xF0


async def test_the_read_plan_follows_the_negotiated_pdu(env: Env) -> None:
    """An S7-1200 negotiates a 240-byte PDU: 222 data bytes per read. Blocks planned for
    480 are planned again on connect, so each stays one request."""
    port = free_port()
    async with Mute(port, env.port, pdu=240):
        env.mem.set("mid", 12)
        d = env.driver({"first": ("DB30.DBW0", 1), "mid": ("DB30.DBW300", 1),
                        "last": ("DB30.DBW598", 1)}, port=port, max_gap=462,
                       poll_period_s=30.0)
        assert d.block_count() == 2            # bytes 0..302 fit 462, 598 does not
        assert await env.good("mid") == 12
        await env.good("first")
        await env.good("last")
        assert d.budget == 222 and d.block_count() == 3
        r0 = d.requests
        await d.poll_once()
        assert d.requests - r0 == 3
        for d in env.drivers:
            await d.close()


async def test_a_plc_that_goes_silent_is_stale_then_offline(env: Env) -> None:
    """Connected and answering, then silent with the connection open: each read gives up
    after timeout_s, the tags go stale on the watchdog, two time-outs running end the
    connection (every tag comm_fail), and answers again bring it back."""
    port = free_port()
    async with Mute(port, env.port) as relay:
        env.mem.set("count", 5)
        d = env.driver({"count": ("DB10.DBW6", 1)}, port=port, timeout_s=0.15)
        assert await env.good("count") == 5
        await env.online(True)
        relay.silent = True
        tag = await env.store.wait_for("t.e.count", lambda t: t.quality is not Quality.GOOD,
                                       WAIT_S)
        assert tag.quality in (Quality.UNCERTAIN, Quality.BAD)
        assert tag.reason in (STALE, COMM_FAIL)
        # two reads given up after 0.15 s each: the connection is dropped well before
        # snap7's own 5 s receive time-out would have said anything
        await env.store.wait_for("t.e.count", lambda t: t.reason == COMM_FAIL, 2.0)
        await env.online(False)
        assert "no reply" in env.store.value("comm.s7.last_error")
        relay.silent = False
        env.mem.set("count", 6)
        await env.store.wait_for("t.e.count", lambda t: t.quality is Quality.GOOD and
                                 t.value == 6, WAIT_S)
        await env.online(True)
        for d in env.drivers:
            await d.close()


async def test_mark_offline_turns_every_tag_bad(env: Env) -> None:
    """What the controller's task supervisor calls when the driver's task dies."""
    d = env.driver({"count": ("DB10.DBW6", 1), "m_flag": ("M1.0", 1)})
    await env.good("count")
    await env.good("m_flag")
    for t in env.tasks:
        t.cancel()
    await asyncio.wait(env.tasks, timeout=5)
    d.mark_offline("driver task failed: boom")
    assert env.store.value("comm.s7.online") is False
    assert env.store.value("comm.s7.last_error") == "driver task failed: boom"
    for name in ("count", "m_flag"):
        tag = env.store[f"t.e.{name}"]
        assert tag.quality is Quality.BAD and tag.reason == COMM_FAIL


async def test_from_config_takes_each_signals_period_and_scaling(env: Env) -> None:
    env.mem.set("count", 40)
    cfg = S7Plc(protocol="s7", port=env.port, poll_period_s=0.05, timeout_s=0.5)
    a = env.store.define("t.e.a", TagMeta())
    b = env.store.define("t.e.b", TagMeta())
    # through the protocol registry's own door ("fixedsite.drivers.s7:from_config")
    d = SPEC.make_driver("s7", cfg, env.store, env.clock, [
        Mapped(a, parse_address("DB10.DBW6"), SignalMap(address="DB10.DBW6", scale=0.5,
                                                        offset=1.0)),
        Mapped(b, parse_address("M1.0"), SignalMap(address="M1.0", period_s=0.2))],
        stale_after_periods=3.0)
    assert isinstance(d, S7Driver)
    env.drivers.append(d)
    env.tasks.append(asyncio.create_task(d.run()))
    assert sorted(p.period for p in d.points.values()) == [0.05, 0.2]
    assert d.block_count() == 2
    assert await env.good("a") == 21.0
    assert await env.good("b") is False
