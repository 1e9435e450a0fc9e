"""Modbus TCP driver: poll groups into the tag store, verified writes out of it.

One connection per PLC, one asyncio task per poll period on it, every request
serialised by the connection's lock (a PLC answers one request at a time anyway, and a
write's read-back must not interleave with a poll). The connection is supervised here,
not inside pymodbus: on loss every tag of the PLC turns bad with ``comm_fail`` at once,
the loss is logged once, and reconnection backs off exponentially until the recovery,
which is logged once too.
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

from fixedsite.clock import Clock
from fixedsite.config import PlcConfig
from fixedsite.drivers.modbus_codec import (
    Address,
    Decoder,
    Scaling,
    WordOrder,
    decoder,
    encode_registers,
    parse_address,
)
from fixedsite.drivers.modbus_plan import Block, plan_reads
from fixedsite.io import WriteResult
from fixedsite.tags import COMM_FAIL, MALFORMED, STALE, Quality, Tag, TagMeta, TagStore

log = logging.getLogger(__name__)

MIN_POLL_REAL_S = 0.01       # never poll one group more often than this, whatever the scale
BACKOFF_START_S = 0.1
TIMEOUTS_BEFORE_LOSS = 2     # consecutive request time-outs that mean the link is gone
ILLEGAL_ADDRESS = 2
_READ = {"hr": "read_holding_registers", "ir": "read_input_registers",
         "coil": "read_coils", "di": "read_discrete_inputs"}


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


class _Group:
    def __init__(self, period: float, blocks: list[Block[Point]]) -> None:
        self.period = period
        self.blocks = blocks
        self.last: dict[int, Sequence[int] | Sequence[bool]] = {}
        self.last_ok: dict[int, float] = {}


class ModbusDriver:
    def __init__(self, name: str, cfg: PlcConfig, store: TagStore, clock: Clock,
                 points: list[Point], stale_after_periods: float = 3.0,
                 min_poll_s: float = MIN_POLL_REAL_S) -> None:
        self.name = name
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.points = {p.tag.path: p for p in points}
        self.stale_after = stale_after_periods
        self.min_poll_s = min_poll_s
        by_period: dict[float, list[tuple[Point, Address]]] = {}
        for p in points:
            by_period.setdefault(p.period, []).append((p, p.addr))
        self.groups = [_Group(per, plan_reads(((pt, a) for pt, a in items), cfg.max_gap))
                       for per, items in sorted(by_period.items())]
        self.heartbeat = parse_address(cfg.heartbeat) if cfg.heartbeat else None
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._timeouts = 0
        self._closing = False
        self._lost = False
        self._hb = 0
        self.requests = 0
        self.tag_reads = 0
        self.online_tag = self._diag("online", TagMeta(description="link to the PLC is up",
                                                       kind="bool"))
        self.errors_tag = self._diag("errors", TagMeta(description="requests that failed"))
        self.error_tag = self._diag("last_error", TagMeta(description="last failure",
                                                          kind="text"))
        # online stays "not yet read" until the first attempt ends, so a starting
        # controller does not raise a communication alarm before it has even tried
        store.update(self.errors_tag, 0)
        store.update(self.error_tag, "")

    def _diag(self, signal: str, meta: TagMeta) -> Tag:
        path = f"comm.{self.name}.{signal}"
        return self.store[path] if path in self.store else self.store.define(path, meta)

    @property
    def online(self) -> bool:
        return bool(self.online_tag.value)

    def block_count(self) -> int:
        return sum(len(g.blocks) for g in self.groups)

    # --- connection supervision -------------------------------------------------------
    async def run(self) -> None:
        backoff = BACKOFF_START_S
        reason = "not connected yet"
        # a flag as well as cancellation: Python 3.11's wait_for (inside pymodbus) can
        # swallow a cancel that races a completing connect
        while not self._closing:
            client = AsyncModbusTcpClient(self.cfg.host, port=self.cfg.port,
                                          timeout=self.cfg.timeout_s, retries=0,
                                          reconnect_delay=0)
            try:
                connected = await client.connect()
            except Exception as e:        # name resolution, refused: all mean "not now"
                connected, reason = False, str(e)
            if not connected:
                client.close()
                self._offline(reason if reason else "connect failed")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.cfg.backoff_max_s)
                reason = "connection refused or timed out"
                continue
            backoff = BACKOFF_START_S
            self._client, self._timeouts = client, 0
            log.log(logging.WARNING if self._lost else logging.INFO, "%s: %s %s:%d", self.name,
                    "link restored to" if self._lost else "connected to", self.cfg.host,
                    self.cfg.port)
            self._lost = False
            self.store.update(self.online_tag, True)
            try:
                async with asyncio.TaskGroup() as tg:
                    for g in self.groups:
                        tg.create_task(self._poll(g))
                    if self.heartbeat is not None:
                        tg.create_task(self._beat())
            except* CommLost as eg:
                reason = str(eg.exceptions[0])
            finally:
                self._client = None
                client.close()
            self._offline(reason)
            await asyncio.sleep(backoff)

    def _offline(self, reason: str) -> None:
        """Every tag of the PLC bad at once; the loss logged once, not at every retry."""
        if self._closing:
            reason = "driver closed"
        elif self.online_tag.value:
            log.warning("%s: link lost: %s", self.name, reason)
            self._lost = True
        if self.error_tag.value != reason:
            self.store.update(self.error_tag, reason)
        self.store.update(self.online_tag, False)
        self.store.mark((p.tag for p in self.points.values()), Quality.BAD, COMM_FAIL)
        for g in self.groups:
            g.last.clear()

    def _count_error(self, reason: str) -> None:
        self.store.update(self.errors_tag, (self.errors_tag.value or 0) + 1)
        self.store.update(self.error_tag, reason)

    # --- requests ------------------------------------------------------------------------
    async def _request(self, fn: str, *args: Any, **kw: Any) -> Any:
        client = self._client
        if client is None:
            raise CommLost("not connected")
        async with self._lock:
            self.requests += 1
            try:
                rr = await getattr(client, fn)(*args, device_id=self.cfg.device_id, **kw)
            except ConnectionException as e:
                raise CommLost(f"connection dropped: {e}") from None
            except ModbusIOException as e:
                self._timeouts += 1
                if self._timeouts >= TIMEOUTS_BEFORE_LOSS or not client.connected:
                    raise CommLost(f"no reply: {e}") from None
                raise
        self._timeouts = 0
        if rr.isError():
            raise PlcError(getattr(rr, "exception_code", 0))
        return rr

    async def _read(self, table: str, start: int, count: int) -> list[int] | list[bool]:
        return _values(await self._request(_READ[table], start, count=count), table, start,
                       count)

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
        failed = False
        for block in list(g.blocks):
            try:
                # _read inlined: one coroutine layer less on the hottest path
                data = _values(await self._request(_READ[block.table], block.start,
                                                   count=block.count),
                               block.table, block.start, block.count)
            except PlcError as e:
                if e.code == ILLEGAL_ADDRESS and len(block.parts) > 1:
                    log.warning("%s: %s:%d+%d has holes the PLC refuses; reading its %d "
                                "parts apart", self.name, block.table, block.start,
                                block.count, len(block.parts))
                    i = g.blocks.index(block)
                    g.blocks[i:i + 1] = block.split()
                    continue
                failed = True
                self._bad_block(g, block, f"plc_exception_{e.code}")
                continue
            except (ModbusIOException, ModbusException, ValueError) as e:
                failed = True
                self._bad_block(g, block, MALFORMED if not isinstance(e, ModbusIOException)
                                else STALE, str(e))
                continue
            self._apply(g, block, data, self.clock.now())
            self.tag_reads += len(block.items)
        if failed:                 # a block read this cycle is fresh by definition
            self._check_stale(g)

    def _bad_block(self, g: _Group, block: Block[Point], reason: str,
                   detail: str = "") -> None:
        self._count_error(f"{block.table}:{block.start}+{block.count}: {detail or reason}")
        quality = Quality.UNCERTAIN if reason == STALE else Quality.BAD
        if reason != STALE:
            self.store.mark((pt.tag for _, _, pt in block.items), quality, reason)
            g.last.pop(id(block), None)

    def _apply(self, g: _Group, block: Block[Point], data: list[int] | list[bool],
               now: float) -> None:
        key = id(block)
        prev = g.last.get(key)
        g.last_ok[key] = now
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
                self._count_error(f"{pt.tag.path}: {e}")
                continue
            update(pt.tag, value, Quality.GOOD, "", now)

    def _check_stale(self, g: _Group) -> None:
        # late by a few periods, and by more than a scheduling hiccup of wall time
        limit = self.clock.now() - self.clock.guard_timeout(self.stale_after * g.period)
        for block in g.blocks:
            t = g.last_ok.get(id(block))
            if t is not None and t < limit:
                self.store.mark((pt.tag for _, _, pt in block.items
                                 if pt.tag.quality is Quality.GOOD), Quality.UNCERTAIN, STALE)
                g.last.pop(id(block), None)

    async def _beat(self) -> None:
        assert self.heartbeat is not None
        while True:
            self._hb = (self._hb + 1) % 65536
            try:
                await self._request("write_register", self.heartbeat.index, self._hb)
            except (PlcError, ModbusIOException) as e:
                self._count_error(f"heartbeat: {e}")
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
            return WriteResult(False, reason=f"{COMM_FAIL}: {e}")
        except PlcError as e:
            return WriteResult(False, reason=f"PLC refused the write (exception {e.code})")
        except (ModbusIOException, ModbusException) as e:
            return WriteResult(False, reason=f"no verified reply: {e}")
        readback = pt.decode(got, 0)
        if a.bit is not None:
            ok = bool(readback) == bool(value)
        else:
            ok = [int(x) for x in got] == [int(x) for x in want]
        self.store.update(pt.tag, readback, Quality.GOOD, "")
        if not ok:
            return WriteResult(False, readback, f"read-back {readback!r} differs from the "
                                                f"{value!r} written")
        return WriteResult(True, readback)

    async def close(self) -> None:
        self._closing = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _values(rr: Any, table: str, start: int, count: int) -> list[int] | list[bool]:
    data: list[int] | list[bool] = rr.bits[:count] if table in ("coil", "di") else rr.registers
    if len(data) != count:
        raise ModbusException(f"asked {count} values at {table}:{start}, got {len(data)}")
    return data
