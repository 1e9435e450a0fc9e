"""A Modbus TCP "PLC" on loopback that misbehaves on demand, byte by byte.

pymodbus' own server only sends well-formed frames, so faults on the wire are made here
from raw bytes: a PLC that accepts TCP and says nothing, answers junk, answers with the
wrong function code, lies in its byte count, or refuses every request with an exception.
``mode`` can change while a client is connected, so a test can take a good link bad and
back. Registers read back as ``value`` (all of them), and writes are acknowledged and
ignored: the tests using it are about the link, not the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Literal

Mode = Literal["good", "silent", "junk", "wrong_fc", "lying_count", "exception"]


class FaultyPlc:
    def __init__(self, port: int, mode: Mode = "good", value: int = 7,
                 exception_code: int = 2) -> None:
        self.port = port
        self.mode: Mode = mode
        self.value = value
        self.exception_code = exception_code
        self.connections = 0
        self.connect_times: list[float] = []   # event-loop time of each accepted connection
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._connected = asyncio.Condition()

    async def wait_connections(self, n: int, within_s: float) -> None:
        """Until ``n`` connections have been accepted; TimeoutError after ``within_s``."""
        async with self._connected:
            await asyncio.wait_for(self._connected.wait_for(lambda: self.connections >= n),
                                   within_s)

    async def __aenter__(self) -> FaultyPlc:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connect_times.append(asyncio.get_running_loop().time())
        self._writers.append(w)
        async with self._connected:
            self._connected.notify_all()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await r.readexactly(7)
                tid, _pid, length, unit = struct.unpack(">HHHB", head)
                pdu = await r.readexactly(length - 1)
                self.requests += 1
                reply = self.reply(pdu)
                if reply is None:
                    continue
                if self.mode == "junk":
                    w.write(reply)
                else:
                    w.write(struct.pack(">HHHB", tid, 0, len(reply) + 1, unit) + reply)
                await w.drain()

    def reply(self, pdu: bytes) -> bytes | None:
        """The reply PDU to one request PDU, as the current mode would have it."""
        fc = pdu[0]
        mode = self.mode
        if mode == "silent":
            return None
        if mode == "junk":
            return b"\x13\x37garbage, not a Modbus frame\r\n"      # not even an MBAP header
        if mode == "exception":
            return bytes([fc | 0x80, self.exception_code])
        if fc in (1, 2, 3, 4):
            _, count = struct.unpack(">HH", pdu[1:5])
            if fc in (1, 2):
                data = b"\xff" * ((count + 7) // 8) if self.value else bytes((count + 7) // 8)
            else:
                data = struct.pack(f">{count}H", *([self.value] * count))
            if mode == "wrong_fc":      # a well-formed reply, to another function
                return bytes([4 if fc == 3 else 3, len(data)]) + data
            if mode == "lying_count":   # says 200 bytes follow; the frame holds fewer
                return bytes([fc, 200]) + data
            return bytes([fc, len(data)]) + data
        if fc in (5, 6, 16):
            return pdu[:5]              # echo of address and value / quantity
        if fc == 22:
            return pdu[:7]
        return bytes([fc | 0x80, 1])     # illegal function
