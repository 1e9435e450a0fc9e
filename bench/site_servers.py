"""The simulated PLCs of bench/site.py, run in worker processes (as a site's PLCs would be
other machines): each process serves many Modbus TCP servers (pymodbus' simulator) and
S7 servers (the HIL's snap7 server, ``fixedsite.hil.s7_server``) on loopback ports.

Every ``period`` each PLC changes its first ``k`` values, ``k`` set so that the whole site
changes ``rate`` values a second (``rate`` is shared with the bench, which moves it from
level to level). The PLCs' ticks are spread over the period, so the load has no bursts.
A changed value always differs from the one before: value ``i`` at tick ``t`` is
``(37 t + 13 i) % 1000``, an INT / uint16 in 0..999 that crosses the bench's limit
alarms now and then.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import struct
import time
from typing import Any

VALUE_SPAN = 1000        # values are 0..VALUE_SPAN-1


def values(tick: int, k: int) -> list[int]:
    return [(37 * tick + 13 * i) % VALUE_SPAN for i in range(k)]


def serve(modbus_ports: list[int], s7_ports: list[int], n_values: int, n_plcs_site: int,
          period: float, rate: Any, ready: Any, stop: Any) -> None:
    """One worker process: serve these ports until ``stop`` is set; ``rate`` (a shared
    double) is the site's changes per second; ``ready`` is a pipe end told True once every
    server listens (or the error text)."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        asyncio.run(_main(modbus_ports, s7_ports, n_values, n_plcs_site, period, rate,
                          ready, stop))
    except Exception as e:      # the bench waits on ready: tell it, do not hang it
        ready.send(f"{type(e).__name__}: {e}")
        raise


async def _main(modbus_ports: list[int], s7_ports: list[int], n_values: int,
                n_plcs_site: int, period: float, rate: Any, ready: Any, stop: Any) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    from fixedsite.hil.s7_server import S7Field, S7Memory, S7Server

    modbus = []
    for port in modbus_ports:
        dev = SimDevice(id=1, simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=n_values, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]))
        srv = ModbusTcpServer(dev, address=("127.0.0.1", port))
        await srv.serve_forever(background=True)
        modbus.append(srv)
    s7 = []
    for port in s7_ports:
        mem = S7Memory([S7Field(f"v{i}", "DB", 1, 2 * i, "INT") for i in range(n_values)])
        server = S7Server(mem, port)
        server.start_sync()
        s7.append(server)
    ready.send(True)

    plcs: list[tuple[str, Any]] = [("modbus", s) for s in modbus] + [("s7", s) for s in s7]
    t0 = time.monotonic()
    tick = 0
    try:
        while not stop.is_set():
            k = min(n_values, round(rate.value * period / n_plcs_site))
            for j, (proto, srv) in enumerate(plcs):
                due = t0 + tick * period + j * period / len(plcs)
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if k <= 0:
                    continue
                vals = values(tick, k)
                if proto == "modbus":
                    await srv.async_setValues(1, 16, 0, vals)
                else:           # the PLC program writing its DB: bytes, under its lock
                    mem = srv.memory
                    with mem.lock:
                        struct.pack_into(f">{k}h", mem.dbs[1], 0, *vals)
            tick += 1
            if time.monotonic() - (t0 + tick * period) > period:   # fell behind: skip
                tick = int((time.monotonic() - t0) / period) + 1
    finally:
        for srv in modbus:
            await srv.shutdown()
        for server in s7:
            server.stop_sync()


def start(groups: list[tuple[list[int], list[int]]], n_values: int, period: float,
          rate0: float) -> tuple[list[Any], Any, Any]:
    """Start one worker process per (modbus ports, s7 ports) group; returns (processes,
    the shared rate, the stop event) once every server listens."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    rate = ctx.Value("d", rate0, lock=False)
    n_site = sum(len(m) + len(s) for m, s in groups)
    procs, pipes = [], []
    for mb, s7 in groups:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=serve, args=(mb, s7, n_values, n_site, period, rate, child,
                                            stop), daemon=True)
        p.start()
        procs.append(p)
        pipes.append(parent)
    for pipe in pipes:
        if not pipe.poll(60):
            raise RuntimeError("a PLC server process did not start within 60 s")
        got = pipe.recv()
        if got is not True:
            raise RuntimeError(f"a PLC server process failed: {got}")
    return procs, rate, stop
