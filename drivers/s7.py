"""Siemens S7 driver (ISO-on-TCP, PUT/GET): poll groups into the tag store, verified
writes out of it, over python-snap7 3.3's asyncio ``AsyncClient``.

The same shape and quality semantics as the Modbus driver (drivers/modbus.py): one
connection per PLC, one asyncio task per poll period, every request serialised by the
driver's lock so that a write's read-back never interleaves with a poll. What the link's
state *is* (online, back-off, stale and silence detection, every tag bad with
``comm_fail`` on loss) is decided by the one supervisor in drivers/link.py; this module
only opens the connection, reads blocks and writes values on the wire.

What snap7 3.3.0 does not do for us, and is done here:

* **Every call bounded.** ``AsyncClient.connect`` takes no timeout and its receive
  timeout is a fixed 5 s (``set_param(RecvTimeout)`` is stored, never used), so every
  connect, read, write and disconnect runs under ``asyncio.timeout(timeout_s)`` (not
  ``wait_for``, which costs a task per request on the hot path). A peer that
  accepts TCP and never answers is therefore judged within ``timeout_s``, not 5 s.
* **The return code of a refused read.** ``read_area`` reports a refused item only as
  text ("... (0x0a)"); the driver sends the request the library builds
  (``S7Protocol.build_read_request``) through the client's own locked exchange
  (``AsyncClient._send_receive``, which matches the reply's sequence number) and reads the
  item's return code itself, so a missing DB marks its block bad as ``s7_error_0x0a``
  and a block running past the end of a DB (``0x05``) is split into its parts.
* **A bit write that changes only that bit.** AsyncClient has no single-bit write (its
  ``db_write_bool`` reads the byte, changes the bit and writes the byte back, which
  would overwrite a bit the PLC program set in between). A BOOL goes out as one write
  request with transport size BIT at bit address ``byte * 8 + bit``
  (``S7Protocol.build_write_request(..., S7WordLen.BIT, b"\\x01")``), as a real CPU
  expects, and is verified by reading the byte back.
* **The read plan follows the negotiated PDU.** The blocks are planned for a 480-byte
  PDU (462 data bytes per read); if the PLC negotiates less (an S7-1200: 240), the
  groups are planned again for its budget on connect, so every block stays one request
  (``read_area`` would otherwise split it into several behind our back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snap7 import AsyncClient
from snap7.datatypes import S7Area, S7WordLen
from snap7.error import S7ConnectionError, S7Error, S7ProtocolError, S7TimeoutError
from snap7.s7protocol import S7Protocol

from fixedsite.clock import Clock
from fixedsite.drivers.polling import MIN_POLL_REAL_S, Group, PollingDriver
from fixedsite.drivers.protocol import Mapped
from fixedsite.drivers.s7_codec import Decoder, S7Address, Scaling, decoder, encode, parse_address
from fixedsite.drivers.s7_config import S7Plc
from fixedsite.drivers.s7_plan import MAX_READ_BYTES, S7Block, max_read_bytes, plan_reads
from fixedsite.io import WriteResult
from fixedsite.tags import COMM_FAIL, MALFORMED, STALE, Quality, Tag, TagStore
from fixedsite.texts import say

__all__ = ["CommLost", "MalformedReply", "PlcError", "S7Driver", "S7Point", "from_config"]

log = logging.getLogger(__name__)

TIMEOUTS_BEFORE_LOSS = 2     # consecutive request time-outs that mean the link is gone
OK = 0xFF                    # an item's return code: success
OUT_OF_RANGE = 0x05          # an item's return code: address out of range
_READ_AREA, _WRITE_AREA = 0x04, 0x05   # S7 function codes


@dataclass(frozen=True, slots=True)
class S7Point:
    tag: Tag
    addr: S7Address
    scaling: Scaling
    period: float
    decode: Decoder = field(init=False, repr=False, compare=False)
    real: bool = field(init=False, repr=False, compare=False)   # NaN/inf is no reading

    def __post_init__(self) -> None:
        object.__setattr__(self, "decode", decoder(self.addr, self.scaling))
        object.__setattr__(self, "real", self.addr.dtype == "REAL")


class CommLost(Exception):
    pass


class PlcError(Exception):
    """The PLC answered and refused: an item return code (0x0a: object does not exist,
    0x05: address out of range, ...) or an error in the reply's header (class << 8 |
    code, e.g. 0x8104 when PUT/GET is not enabled)."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail or f"S7 error 0x{code:02x}")
        self.code = code

    @property
    def reason(self) -> str:
        return f"s7_error_0x{self.code:02x}"


class MalformedReply(Exception):
    """A reply came, but it is not a well-formed answer to the request sent."""


class TimedOut(Exception):
    """One request got no reply within ``timeout_s``; the link is judged by the
    watchdog and by ``TIMEOUTS_BEFORE_LOSS``, not by this one."""


class S7Driver(PollingDriver[S7Block[S7Point]]):
    def __init__(self, name: str, cfg: S7Plc, store: TagStore, clock: Clock,
                 points: list[S7Point], stale_after_periods: float = 3.0,
                 min_poll_s: float = MIN_POLL_REAL_S) -> None:
        super().__init__(name, cfg, store, clock, points, stale_after_periods, min_poll_s)
        self.heartbeat = parse_address(cfg.heartbeat) if cfg.heartbeat else None
        self.budget = 0
        self._plan(MAX_READ_BYTES)
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._timeouts = 0

    def where(self, block: S7Block[S7Point]) -> str:
        return f"{_where(block)}+{block.size}"

    def _plan(self, budget: int) -> None:
        """(Re)plan every group's blocks for ``budget`` data bytes per read."""
        self.budget = budget
        for g in self.groups:
            self.set_blocks(g, plan_reads(g.items, self.cfg.max_gap, budget))

    # --- connection ---------------------------------------------------------------------
    async def run(self) -> None:
        link = self.link
        while not link.closing:
            client = AsyncClient()
            try:
                reason = await self._session(client)
            finally:
                self._client = None
                await self._drop(client)
            self.mark_offline(reason)
            await link.back_off()

    async def _session(self, client: AsyncClient) -> str:
        """One connection, from connect to loss; returns why it ended."""
        cfg, link = self.cfg, self.link
        try:
            async with asyncio.timeout(cfg.timeout_s):
                await client.connect(cfg.host, cfg.rack, cfg.slot, cfg.port)
        except TimeoutError:
            return say("{reason}: {why}", reason=say("connect failed"),
                       why=say("no reply for {s} s", s=f"{cfg.timeout_s:g}"))
        except (S7Error, OSError) as e:   # refused, reset, no route, COTP refused
            return say("{reason}: {why}", reason=say("connect failed"), why=e)
        budget = max_read_bytes(client.pdu_length)
        if budget != self.budget:
            log.info("%s: PDU %d negotiated: planning reads of at most %d bytes",
                     self.name, client.pdu_length, budget)
            self._plan(budget)
        # connected is not online: that takes a good reply (see drivers/link.py)
        self._client, self._timeouts = client, 0
        link.connected(f"{cfg.host}:{cfg.port}")
        reason = say("driver closed")      # (the tasks never end on their own)
        try:
            async with asyncio.TaskGroup() as tg:
                for g in self.groups:
                    tg.create_task(self._poll(g))
                if self.heartbeat is not None:
                    tg.create_task(self._beat())
                tg.create_task(link.watch())
        except* CommLost as eg:
            reason = str(eg.exceptions[0])
        return reason

    async def _drop(self, client: AsyncClient) -> None:
        """Close the socket, bounded: disconnect sends a COTP DR to a peer that may be
        gone or silent."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.cfg.timeout_s):
                await client.disconnect()

    # --- requests ------------------------------------------------------------------------
    async def _exchange(self, build: Callable[..., bytes], *args: Any) -> dict[str, Any]:
        """One request and its reply (matched by sequence number by snap7), within
        ``timeout_s``. A reply that says no is ``PlcError``; silence is ``TimedOut`` until
        it has lasted ``TIMEOUTS_BEFORE_LOSS`` requests, then ``CommLost``."""
        client = self._client
        if client is None:
            raise CommLost(say("not connected"))
        async with self._lock:
            self.requests += 1
            request = build(client.protocol, *args)
            try:
                # asyncio.timeout, not wait_for: no task per request on the hot path
                async with asyncio.timeout(self.cfg.timeout_s):
                    resp: dict[str, Any] = await client._send_receive(request)
            except S7ProtocolError as e:
                if e.error_code:          # an error in the reply's header: the PLC said no
                    raise PlcError(e.error_code, str(e)) from None
                raise MalformedReply(str(e)) from None
            except (TimeoutError, S7TimeoutError):
                self._timeouts += 1
                if not client.get_connected():
                    raise CommLost(say("connection dropped while waiting for a reply")) \
                        from None
                if self._timeouts >= TIMEOUTS_BEFORE_LOSS:
                    raise CommLost(f"no reply within {self.cfg.timeout_s:g} s, "
                                   f"{self._timeouts} times running") from None
                raise TimedOut(f"no reply within {self.cfg.timeout_s:g} s") from None
            except (S7ConnectionError, S7Error, OSError) as e:
                raise CommLost(say("connection dropped: {why}", why=e)) from None
        self._timeouts = 0
        return resp

    async def _read(self, area: int, db: int, start: int, size: int) -> bytes:
        resp = await self._exchange(S7Protocol.build_read_request, S7Area(area), db, start,
                                    S7WordLen.BYTE, size)
        return _read_data(resp, size)

    async def _write(self, a: S7Address, data: bytes) -> None:
        """Bytes at ``a``; a BOOL as one BIT item, so the PLC changes that bit alone."""
        if a.bit is not None:
            args: tuple[Any, ...] = (S7Area(a.area_code), a.db, a.offset * 8 + a.bit,
                                     S7WordLen.BIT, data)
        else:
            args = (S7Area(a.area_code), a.db, a.offset, S7WordLen.BYTE, data)
        _write_ack(await self._exchange(S7Protocol.build_write_request, *args))

    # --- polling -----------------------------------------------------------------------------
    async def poll_group(self, g: Group[S7Block[S7Point]]) -> None:
        for block in list(g.blocks):
            try:
                data = await self._read(block.area_code, block.db, block.start, block.size)
            except PlcError as e:
                if e.code == OUT_OF_RANGE and len(block.parts) > 1:
                    self.split(g, block, "runs past what the PLC holds")
                    continue
                self.bad_block(g, block, e.reason, str(e),
                               why=say("every read refused: S7 error {code}",
                                       code=f"0x{e.code:02x}"))
                continue
            except TimedOut as e:               # one time-out: the watchdog judges
                self.bad_block(g, block, STALE, str(e))
                continue
            except MalformedReply as e:
                self.bad_block(g, block, MALFORMED, str(e),
                               why=say("every reply malformed: {why}", why=e))
                continue
            self._apply(g, block, data, self.delivered(g, block))

    def _apply(self, g: Group[S7Block[S7Point]], block: S7Block[S7Point], data: bytes,
               now: float) -> None:
        key = id(block)
        prev = g.last.get(key)
        if prev == data:
            return                                  # nothing changed: the common case
        g.last[key] = data
        update = self.store.update
        for off, addr, pt in block.items:
            end = off + addr.width
            if prev is not None and prev[off:end] == data[off:end]:
                continue
            value = pt.decode(data, off)
            if pt.real and not math.isfinite(value):
                update(pt.tag, pt.tag.value, Quality.BAD, MALFORMED, now)
                self.link.failed(f"{pt.tag.path}: {addr} holds {value}, not a number")
                continue
            update(pt.tag, value, Quality.GOOD, "", now)

    beat_errors = (PlcError, MalformedReply, TimedOut)

    async def write_heartbeat(self, count: int) -> None:
        assert self.heartbeat is not None
        await self._write(self.heartbeat, struct.pack(">H", count))

    # --- writes ---------------------------------------------------------------------------------
    async def write(self, path: str, value: float | bool) -> WriteResult:
        """Write one signal and read it back; ok only if the PLC holds what was written."""
        pt = self.points[path]
        a = pt.addr
        if not a.writable:
            return WriteResult(False, reason=f"{a} is read-only")
        if isinstance(value, float) and not math.isfinite(value):   # before the scaling
            return WriteResult(False, reason=f"{path}: {value} cannot be written to a PLC")
        try:
            want = encode(value, a, pt.scaling)
        except (ValueError, TypeError, OverflowError) as e:
            return WriteResult(False, reason=f"{path}: {e}")
        try:
            await self._write(a, want)
            got = await self._read(a.area_code, a.db, a.offset, a.width)
        except CommLost as e:
            return WriteResult(False, reason=say("{reason}: {why}", reason=COMM_FAIL, why=e))
        except PlcError as e:
            return WriteResult(False, reason=say("PLC refused the write (S7 error {code})",
                                                code=f"0x{e.code:02x}"))
        except (TimedOut, MalformedReply) as e:
            return WriteResult(False, reason=say("no verified reply: {why}", why=e))
        readback = pt.decode(got, 0)
        if a.bit is not None:
            ok = bool(readback) == bool(want[0])
        else:
            ok = got == want
        bad = MALFORMED if pt.real and not math.isfinite(readback) else ""
        return self.verdict(pt, value, readback, ok, bad)

    async def close(self) -> None:
        self.link.closing = True
        client, self._client = self._client, None
        if client is not None:
            await self._drop(client)


def from_config(name: str, cfg: S7Plc, store: TagStore, clock: Clock,
                signals: list[Mapped], stale_after_periods: float) -> S7Driver:
    """The registry's factory (drivers/s7_config.py): a signal's own period, else its
    PLC's."""
    points = [S7Point(s.tag, s.address, Scaling(s.map.scale, s.map.offset),
                      s.map.period_s or cfg.poll_period_s) for s in signals]
    return S7Driver(name, cfg, store, clock, points, stale_after_periods)


def _where(block: S7Block[S7Point]) -> str:
    return f"DB{block.db}.{block.start}" if block.area == "DB" else f"{block.area}{block.start}"


def _read_data(resp: dict[str, Any], size: int) -> bytes:
    """The data of a one-item read reply; the item's own return code if refused."""
    item = resp.get("data") or {}
    rc = item.get("return_code")
    if rc != OK:
        if rc is None:
            raise MalformedReply("a read reply without a data item")
        raise PlcError(rc)
    params = resp.get("parameters") or {}
    if params.get("function_code") != _READ_AREA or params.get("item_count") != 1:
        raise MalformedReply(f"not a one-item read reply: {params}")
    data = item.get("data", b"")
    if len(data) != size:
        raise MalformedReply(f"asked {size} bytes, got {len(data)}")
    return data if data.__class__ is bytes else bytes(data)


def _write_ack(resp: dict[str, Any]) -> None:
    params = resp.get("parameters") or {}
    if params.get("function_code") != _WRITE_AREA or params.get("item_count") != 1:
        raise MalformedReply(f"not a one-item write reply: {params}")
    rc = (resp.get("data") or {}).get("return_code")
    if rc is None:
        raise MalformedReply("a write reply without an acknowledgement")
    if rc != OK:
        raise PlcError(rc)
