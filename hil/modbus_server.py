"""Thin glue: serve a PLC's register image over Modbus TCP with pymodbus.

The emulated PLC owns four plain lists (coils, discrete inputs, holding and input
registers). Each scan, the glue copies what a master may write (coils, holding
registers) into the PLC, lets it scan, and copies back everything the PLC changed. Only
changed points are written back, so a master's write that lands between two scans is
not overwritten with a stale image.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fixedsite.hil.listen import check_port_free

log = logging.getLogger(__name__)

FC_COILS, FC_DI, FC_HR, FC_IR = 1, 2, 3, 4


class Image(Protocol):
    coils: list[bool]
    di: list[bool]
    hr: list[int]
    ir: list[int]


class ImageServer:
    def __init__(self, image: Image, host: str, port: int, device_id: int = 1) -> None:
        self.image = image
        self.host, self.port, self.device_id = host, port, device_id
        self._server: ModbusTcpServer | None = None
        self._seen_coils = list(image.coils)
        self._seen_hr = list(image.hr)
        self._pushed_ir: list[int] = []
        self._pushed_di: list[bool] = []

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        img = self.image
        # input tables are not flagged read-only: no Modbus function can write them, and
        # the PLC side needs async_setValues on them.
        dev = SimDevice(id=self.device_id, simdata=(
            [SimData(0, count=len(img.coils), values=False, datatype=DataType.BITS)],
            [SimData(0, count=len(img.di), values=False, datatype=DataType.BITS)],
            [SimData(0, count=len(img.hr), values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=len(img.ir), values=0, datatype=DataType.REGISTERS)]))
        check_port_free(self.host, self.port, "Modbus server")
        server = ModbusTcpServer(dev, address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError:        # pymodbus keeps the socket's reason to its log
            raise OSError(f"Modbus server: cannot listen on {self.host}:{self.port}") \
                from None
        self._server = server
        await self._put(FC_COILS, img.coils)
        await self._put(FC_HR, img.hr)
        await self._put(FC_IR, img.ir)
        await self._put(FC_DI, img.di)
        self._pushed_ir, self._pushed_di = list(img.ir), list(img.di)
        self._seen_coils, self._seen_hr = list(img.coils), list(img.hr)
        log.info("Modbus server on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def pull(self) -> None:
        """Masters' writes (coils, holding registers) into the PLC image."""
        if self._server is None:
            return
        coils = await self._server.async_getValues(self.device_id, FC_COILS, 0,
                                                   len(self.image.coils))
        hr = await self._server.async_getValues(self.device_id, FC_HR, 0, len(self.image.hr))
        self.image.coils[:] = [bool(b) for b in coils][:len(self.image.coils)]
        self.image.hr[:] = list(hr)
        self._seen_coils, self._seen_hr = list(self.image.coils), list(self.image.hr)

    async def push(self) -> None:
        """The PLC's outputs, and whatever it changed in the writable tables, to the server."""
        if self._server is None:
            return
        img = self.image
        # only the runs that changed since the last push: a substation gateway's input
        # table is a thousand registers that mostly hold still between two scans, and the
        # simulator's datastore checks every register it is given (the HIL's core went
        # there at x60)
        for fc, table, pushed in ((FC_IR, img.ir, self._pushed_ir),
                                  (FC_DI, img.di, self._pushed_di)):
            if table == pushed:         # the usual case, compared at C speed
                continue
            for start, values in changed_runs(table, pushed):
                await self._server.async_setValues(self.device_id, fc, start, values)
                pushed[start:start + len(values)] = values
        for i, (now, seen) in enumerate(zip(img.coils, self._seen_coils, strict=True)):
            if now != seen:
                await self._server.async_setValues(self.device_id, FC_COILS, i, [now])
        for i, (now, seen) in enumerate(zip(img.hr, self._seen_hr, strict=True)):
            if now != seen:
                await self._server.async_setValues(self.device_id, FC_HR, i, [now])

    async def _put(self, fc: int, values: list[bool] | list[int]) -> None:
        assert self._server is not None
        await self._server.async_setValues(self.device_id, fc, 0, list(values))


def changed_runs(now: list[int] | list[bool], before: list[int] | list[bool],
                 join_gap: int = 8) -> list[tuple[int, list]]:
    """(start, values) of each stretch where ``now`` differs from ``before``; stretches
    closer than ``join_gap`` go as one write (a request costs more than a few registers)."""
    runs: list[tuple[int, list]] = []
    i, n = 0, len(now)
    while i < n:
        if now[i] == before[i]:
            i += 1
            continue
        j = end = i + 1
        while j < n and j - end < join_gap:
            if now[j] != before[j]:
                end = j + 1
            j += 1
        runs.append((i, list(now[i:end])))
        i = end
    return runs

