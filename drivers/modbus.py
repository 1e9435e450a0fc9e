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
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import DecodePDU, ModbusPDU

from fixedsite.clock import Clock
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
from fixedsite.drivers.polling import MIN_POLL_REAL_S, Group, PollingDriver
from fixedsite.drivers.protocol import Mapped
from fixedsite.io import WriteResult
from fixedsite.tags import COMM_FAIL, MALFORMED, STALE, Quality, Tag, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

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


class ModbusDriver(PollingDriver[Block[Point]]):
    def __init__(self, name: str, cfg: ModbusPlc, store: TagStore, clock: Clock,
                 points: list[Point], stale_after_periods: float = 3.0,
                 min_poll_s: float = MIN_POLL_REAL_S) -> None:
        super().__init__(name, cfg, store, clock, points, stale_after_periods, min_poll_s)
        for g in self.groups:
            self.set_blocks(g, plan_reads(g.items, cfg.max_gap))
        self.heartbeat = parse_address(cfg.heartbeat) if cfg.heartbeat else None
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._timeouts = 0

    def where(self, block: Block[Point]) -> str:
        return f"{block.table}:{block.start}+{block.count}"

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
    async def poll_group(self, g: Group[Block[Point]]) -> None:
        for block in list(g.blocks):
            try:
                # _read inlined: one coroutine layer less on the hottest path
                data = _values(await self._request(_READ[block.table], block.start,
                                                   count=block.count),
                               block.table, block.start, block.count)
            except PlcError as e:
                if e.code == ILLEGAL_ADDRESS and len(block.parts) > 1:
                    self.split(g, block, "has holes the PLC refuses")
                    continue
                self.bad_block(g, block, f"plc_exception_{e.code}",
                               why=say("every read refused: PLC exception {code}", code=e.code))
                continue
            except ModbusIOException:               # one time-out: the watchdog judges
                self.bad_block(g, block, STALE, f"no reply within {self.cfg.timeout_s:g} s")
                continue
            except (MalformedReply, ModbusException, ValueError) as e:
                self.bad_block(g, block, MALFORMED, str(e),
                               why=say("every reply malformed: {why}", why=e))
                continue
            self._apply(g, block, data, self.delivered(g, block))

    def _apply(self, g: Group[Block[Point]], block: Block[Point], data: list[int] | list[bool],
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

    beat_errors = (PlcError, MalformedReply, ModbusIOException)

    async def write_heartbeat(self, count: int) -> None:
        assert self.heartbeat is not None
        await self._request("write_register", self.heartbeat.index, count)

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
        return self.verdict(pt, value, readback, ok)

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
