"""Modbus TCP driver: poll groups into the tag store, verified writes out of it.

One connection per PLC, one asyncio task per poll period on it, every request
serialised by the connection's lock (a PLC answers one request at a time anyway, and a
write's read-back must not interleave with a poll). The link's state (online, back-off,
stale and silence detection, all tags bad on loss) is supervised by ``drivers/link.py``,
not inside pymodbus; this module only reads blocks and writes values on the wire.

What counts as a reply is decided here, not by pymodbus 3.16, which hands over any PDU
that decodes, whatever its function code, and raises inside the event loop's
``data_received`` (a traceback per reply, then a dropped connection) on a frame whose
byte count lies. Every reply frame is checked first (``reply_problem``): a bad one
becomes a malformed reply on a connection that stays up, and a reply to another
function is malformed too. pymodbus' own per-request error lines for time-outs and
unframeable bytes are filtered out: the driver counts each failure and logs each
episode once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import DecodePDU, ModbusPDU

from fixedsite.clock import Clock
from fixedsite.drivers.link import Link, Source
from fixedsite.drivers.modbus_codec import (
    READ_FUNCTIONS,
    Address,
    Decoder,
    Scaling,
    WordOrder,
    decoder,
    encode_registers,
    parse_address,
    reply_problem,
)
from fixedsite.drivers.modbus_config import ModbusPlc
from fixedsite.drivers.modbus_plan import Block, plan_reads
from fixedsite.drivers.protocol import Mapped
from fixedsite.io import WriteResult
from fixedsite.tags import COMM_FAIL, MALFORMED, STALE, Quality, Tag, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

MIN_POLL_REAL_S = 0.01       # never poll one group more often than this, whatever the scale
TIMEOUTS_BEFORE_LOSS = 2     # consecutive request time-outs that mean the link is gone
ILLEGAL_ADDRESS = 2
_READ = {"hr": "read_holding_registers", "ir": "read_input_registers",
         "coil": "read_coils", "di": "read_discrete_inputs"}
_FUNCTION = {_READ[t]: fc for t, fc in READ_FUNCTIONS.items()} | {
    "write_coil": 5, "write_register": 6, "write_registers": 16, "mask_write_register": 22}


class _QuietPymodbus(logging.Filter):
    """pymodbus logs an error line per timed-out request and per unframeable chunk; the
    driver counts those in ``comm.<plc>.errors`` and logs the episode once, so a silent
    or babbling PLC does not fill the log with one line per poll."""

    NOISE = ("No response received after", "Invalid Modbus protocol id")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.NOISE)


logging.getLogger("pymodbus.logging").addFilter(_QuietPymodbus())


class _Malformed(ModbusPDU):
    """Stands for a reply frame that is not what it says it is. Its function code (0)
    matches no request, so the driver never takes it for data."""

    function_code = 0

    def __init__(self, problem: str) -> None:
        super().__init__()
        self.problem = problem


class _StrictDecoder(DecodePDU):
    """The client's PDU decoder, checking each frame before pymodbus decodes it: a frame
    it would choke on comes back as ``_Malformed`` instead of an exception raised inside
    the transport (which logs a traceback and drops the connection)."""

    def __init__(self) -> None:
        super().__init__(is_server=False)

    def decode(self, frame: bytes) -> ModbusPDU | None:
        problem = reply_problem(frame)
        if problem is None:
            pdu = super().decode(frame)
            if pdu is not None:
                return pdu
            problem = f"undecodable reply {frame[:8].hex(' ')}"
        return _Malformed(problem)


@dataclass(frozen=True, slots=True)
class Point:
    tag: Tag
    addr: Address
    scaling: Scaling
    word_order: WordOrder
    period: float
    decode: Decoder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decode", decoder(self.addr, self.scaling, self.word_order))


class CommLost(Exception):
    pass


class PlcError(Exception):
    """The PLC answered with an exception response (code in ``code``)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"PLC exception response {code}")
        self.code = code


class MalformedReply(Exception):
    """A reply came, but it is not a well-formed answer to the request sent."""


class _Group:
    def __init__(self, period: float, blocks: list[Block[Point]]) -> None:
        self.period = period
        self.blocks = blocks
        self.last: dict[int, Sequence[int] | Sequence[bool]] = {}
        self.fresh: dict[int, Source] = {}


class ModbusDriver:
    def __init__(self, name: str, cfg: ModbusPlc, store: TagStore, clock: Clock,
                 points: list[Point], stale_after_periods: float = 3.0,
                 min_poll_s: float = MIN_POLL_REAL_S) -> None:
        self.name = name
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.points = {p.tag.path: p for p in points}
        self.min_poll_s = min_poll_s
        by_period: dict[float, list[tuple[Point, Address]]] = {}
        for p in points:
            by_period.setdefault(p.period, []).append((p, p.addr))
        self.groups = [_Group(per, plan_reads(((pt, a) for pt, a in items), cfg.max_gap))
                       for per, items in sorted(by_period.items())]
        self.heartbeat = parse_address(cfg.heartbeat) if cfg.heartbeat else None
        self.link = Link(name, store, clock, (p.tag for p in points), cfg.backoff_max_s,
                         stale_after_periods, on_offline=self._forget_all)
        for g in self.groups:
            for block in g.blocks:
                self._watch(g, block)
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._timeouts = 0
        self._hb = 0
        self.requests = 0
        self.tag_reads = 0
        self.online_tag = self.link.online_tag
        self.errors_tag = self.link.errors_tag
        self.error_tag = self.link.error_tag

    def _watch(self, g: _Group, block: Block[Point]) -> None:
        key = id(block)
        g.fresh[key] = self.link.source([pt.tag for _, _, pt in block.items], g.period,
                                        lambda: g.last.pop(key, None))

    def _forget_all(self) -> None:
        for g in self.groups:
            g.last.clear()

    @property
    def online(self) -> bool:
        return self.link.up

    def block_count(self) -> int:
        return sum(len(g.blocks) for g in self.groups)

    def mark_offline(self, reason: str) -> None:
        """Every tag of this PLC bad (``comm_fail``), online False, ``reason`` as the last
        error: for the link's loss, and for whoever supervises the driver's task when that
        task has died, so the tags it fed go bad instead of freezing at their last value."""
        self.link.mark_offline(reason)

    # --- connection ---------------------------------------------------------------------
    async def run(self) -> None:
        link = self.link
        reason = say("not connected yet")
        # a flag as well as cancellation: Python 3.11's wait_for (inside pymodbus) can
        # swallow a cancel that races a completing connect
        while not link.closing:
            client = AsyncModbusTcpClient(self.cfg.host, port=self.cfg.port,
                                          timeout=self.cfg.timeout_s, retries=0,
                                          reconnect_delay=0)
            client.ctx.framer.decoder = _StrictDecoder()
            try:
                connected = await client.connect()
            except Exception as e:        # name resolution, refused: all mean "not now"
                connected, reason = False, str(e)
            if not connected:
                client.close()
                self.mark_offline(reason if reason else say("connect failed"))
                await link.back_off()
                reason = say("connection refused or timed out")
                continue
            # connected is not online: that takes a good reply (see drivers/link.py)
            self._client, self._timeouts = client, 0
            link.connected(f"{self.cfg.host}:{self.cfg.port}")
            try:
                async with asyncio.TaskGroup() as tg:
                    for g in self.groups:
                        tg.create_task(self._poll(g))
                    if self.heartbeat is not None:
                        tg.create_task(self._beat())
                    tg.create_task(link.watch())
            except* CommLost as eg:
                reason = str(eg.exceptions[0])
            finally:
                self._client = None
                client.close()
            self.mark_offline(reason)
            await link.back_off()

    # --- requests ------------------------------------------------------------------------
    async def _request(self, fn: str, *args: Any, **kw: Any) -> Any:
        client = self._client
        if client is None:
            raise CommLost(say("not connected"))
        async with self._lock:
            self.requests += 1
            try:
                rr = await getattr(client, fn)(*args, device_id=self.cfg.device_id, **kw)
            except ConnectionException as e:
                raise CommLost(say("connection dropped: {why}", why=e)) from None
            except ModbusIOException:
                self._timeouts += 1
                if not client.connected:
                    raise CommLost(say("connection dropped while waiting for a reply")) from None
                if self._timeouts >= TIMEOUTS_BEFORE_LOSS:
                    junk = bytes(getattr(client.ctx, "recv_buffer", b""))
                    raise CommLost(f"unframeable bytes from the PLC: {junk[:16].hex(' ')}"
                                   if junk else f"no reply within {self.cfg.timeout_s:g} s, "
                                   f"{self._timeouts} times running") from None
                raise
        self._timeouts = 0
        fc = _FUNCTION[fn]
        if rr.function_code != fc:
            if rr.function_code == fc | 0x80:
                raise PlcError(getattr(rr, "exception_code", 0))
            raise MalformedReply(getattr(rr, "problem", "") or
                                 f"function code {rr.function_code} in reply to {fc}")
        return rr

    async def _read(self, table: str, start: int, count: int) -> list[int] | list[bool]:
        data = _values(await self._request(_READ[table], start, count=count), table, start,
                       count)
        if not self.link.up:
            self.link.answered(self.clock.now())
        return data

    # --- polling -----------------------------------------------------------------------------
    async def _poll(self, g: _Group) -> None:
        nxt = self.clock.now()
        while True:
            await self.poll_group(g)
            nxt += g.period
            now = self.clock.now()
            if nxt < now - g.period:            # overran by a whole period: resynchronise
                nxt = now
            delay = max((nxt - now) / self.clock.scale, self.min_poll_s)
            if delay > 0:        # (a benchmark polls flat out: the reads yield anyway)
                await asyncio.sleep(delay)

    async def poll_once(self) -> None:
        """Read every block of every group once (the benchmark's unit of work)."""
        for g in self.groups:
            await self.poll_group(g)

    async def poll_group(self, g: _Group) -> None:
        link = self.link
        for block in list(g.blocks):
            try:
                # _read inlined: one coroutine layer less on the hottest path
                data = _values(await self._request(_READ[block.table], block.start,
                                                   count=block.count),
                               block.table, block.start, block.count)
            except PlcError as e:
                if e.code == ILLEGAL_ADDRESS and len(block.parts) > 1:
                    self._split(g, block)
                    continue
                self._bad_block(g, block, f"plc_exception_{e.code}",
                                why=say("every read refused: PLC exception {code}", code=e.code))
                continue
            except ModbusIOException:               # one time-out: the watchdog judges
                self._bad_block(g, block, STALE, f"no reply within {self.cfg.timeout_s:g} s")
                continue
            except (MalformedReply, ModbusException, ValueError) as e:
                self._bad_block(g, block, MALFORMED, str(e),
                                why=say("every reply malformed: {why}", why=e))
                continue
            now = self.clock.now()
            g.fresh[id(block)].last_ok = now
            if link.up:
                link.last_good = now
            else:
                link.answered(now)
            self._apply(g, block, data, now)
            self.tag_reads += len(block.items)

    def _split(self, g: _Group, block: Block[Point]) -> None:
        log.warning("%s: %s:%d+%d has holes the PLC refuses; reading its %d parts apart",
                    self.name, block.table, block.start, block.count, len(block.parts))
        i = g.blocks.index(block)
        parts = block.split()
        g.blocks[i:i + 1] = parts
        self.link.drop(g.fresh.pop(id(block)))
        g.last.pop(id(block), None)
        for part in parts:
            self._watch(g, part)

    def _bad_block(self, g: _Group, block: Block[Point], reason: str,
                   detail: str = "", why: str = "") -> None:
        self.link.failed(f"{block.table}:{block.start}+{block.count}: {detail or reason}",
                         why)
        if reason != STALE:
            self.store.mark((pt.tag for _, _, pt in block.items), Quality.BAD, reason)
            g.last.pop(id(block), None)

    def _apply(self, g: _Group, block: Block[Point], data: list[int] | list[bool],
               now: float) -> None:
        key = id(block)
        prev = g.last.get(key)
        if prev == data:
            return                                  # nothing changed: the common case
        g.last[key] = data
        update = self.store.update
        for off, addr, pt in block.items:
            if prev is not None and prev[off] == data[off] and (
                    addr.width == 1 or prev[off + 1] == data[off + 1]):
                continue
            try:
                value = pt.decode(data, off)
            except (ValueError, OverflowError) as e:
                update(pt.tag, pt.tag.value, Quality.BAD, MALFORMED, now)
                self.link.failed(f"{pt.tag.path}: {e}")
                continue
            update(pt.tag, value, Quality.GOOD, "", now)

    async def _beat(self) -> None:
        assert self.heartbeat is not None
        while True:
            self._hb = (self._hb + 1) % 65536
            try:
                await self._request("write_register", self.heartbeat.index, self._hb)
                if not self.groups and not self.link.up:    # nothing else to hear from
                    self.link.answered(self.clock.now())
            except (PlcError, MalformedReply, ModbusIOException) as e:
                self.link.failed(f"heartbeat: {e}")
            await asyncio.sleep(max(self.cfg.heartbeat_period_s / self.clock.scale,
                                    MIN_POLL_REAL_S))

    # --- writes ---------------------------------------------------------------------------------
    async def write(self, path: str, value: float | bool) -> WriteResult:
        """Write one signal and read it back; ok only if the PLC holds what was written."""
        pt = self.points[path]
        a = pt.addr
        if not a.writable:
            return WriteResult(False, reason=f"{a} is read-only")
        try:
            if a.dtype == "bool":
                want: list[int] | list[bool] = [bool(value)]
            else:
                want = encode_registers(pt.scaling.to_raw(float(value)), a.dtype,
                                        pt.word_order)
        except ValueError as e:
            return WriteResult(False, reason=f"{path}: {e}")
        try:
            if a.table == "coil":
                await self._request("write_coil", a.index, bool(value))
            elif a.bit is not None:
                mask = 1 << a.bit
                await self._request("mask_write_register", address=a.index,
                                    and_mask=0xFFFF & ~mask, or_mask=mask if value else 0)
            else:
                await self._request("write_registers", a.index, list(want))
            got = await self._read(a.table, a.index, a.width)
        except CommLost as e:
            return WriteResult(False, reason=say("{reason}: {why}", reason=COMM_FAIL, why=e))
        except PlcError as e:
            return WriteResult(False, reason=say("PLC refused the write (exception {code})",
                                                code=e.code))
        except (ModbusIOException, ModbusException, MalformedReply) as e:
            return WriteResult(False, reason=say("no verified reply: {why}", why=e))
        try:                # a read-back that does not decode verifies nothing
            readback = pt.decode(got, 0)
        except (ValueError, IndexError, TypeError) as e:
            return WriteResult(False, reason=say("no verified reply: {why}", why=e))
        if a.bit is not None:
            ok = bool(readback) == bool(value)
        else:
            ok = [int(x) for x in got] == [int(x) for x in want]
        self.store.update(pt.tag, readback, Quality.GOOD, "")
        if not ok:
            return WriteResult(False, readback, say(
                "read-back {got} differs from the value written {want}", got=repr(readback),
                want=repr(value)))
        return WriteResult(True, readback)

    async def close(self) -> None:
        self.link.closing = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def from_config(name: str, cfg: ModbusPlc, store: TagStore, clock: Clock,
                signals: list[Mapped], stale_after_periods: float) -> ModbusDriver:
    """The registry's factory (drivers/modbus_config.py): a signal's own word order and
    period, else its PLC's."""
    points = [Point(s.tag, s.address, Scaling(s.map.scale, s.map.offset),
                    s.map.word_order or cfg.word_order, s.map.period_s or cfg.poll_period_s)
              for s in signals]
    return ModbusDriver(name, cfg, store, clock, points, stale_after_periods)


def _values(rr: Any, table: str, start: int, count: int) -> list[int] | list[bool]:
    data: list[int] | list[bool] = rr.bits[:count] if table in ("coil", "di") else rr.registers
    if len(data) != count:
        raise ModbusException(f"asked {count} values at {table}:{start}, got {len(data)}")
    return data
