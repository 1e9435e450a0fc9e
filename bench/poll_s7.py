"""The S7 site of bench/poll.py: its tag map, its servers and its three pollers.

Each simulated PLC is the HIL's own S7 server (``fixedsite.hil.s7_server.S7Server``, a
snap7 Server with the HIL's memory), all of them in one worker process, as PLCs would be
other machines. 200 tags a PLC, in two DBs and M, laid out as a PLC program's DBs are:

* DB10: 60 INT scaled 0.1, 30 WORD, a 20-byte gap (read through), 20 DINT, 60 REAL;
  520 bytes, so more than one 480-byte PDU: the plan splits it in two reads;
* DB20: 16 BOOL bits, 4 BYTE (two of them scaled 0.5);
* M: 8 BOOL bits in MB0, MW2 and MW4 scaled 0.01.

That is 4 coalesced reads a cycle against 200 naive ones. Every ``change_s`` each PLC
writes new values into a random contiguous half of its fields with ``S7Memory.set``
(the HIL's packing, never the driver's codec), the PLCs spread over the period.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from snap7 import AsyncClient
from snap7.type import Area

from fixedsite.clock import ScaledClock
from fixedsite.drivers.s7 import S7Driver, S7Point
from fixedsite.drivers.s7_codec import S7Address, Scaling, parse_address
from fixedsite.drivers.s7_config import S7Plc
from fixedsite.drivers.s7_plan import MAX_READ_BYTES, S7Block, plan_reads
from fixedsite.tags import TagMeta, TagStore

# the driver's own poll task reads once on connect and then sleeps for this long, so
# that the bench's poll_once loop is the only reader (and nothing goes stale meanwhile)
DRIVER_PERIOD_S = 60.0
CONNECT_TIMEOUT_S = 5.0
_AREA = {"DB": Area.DB, "M": Area.MK, "I": Area.PE, "Q": Area.PA}


def tag_map() -> list[tuple[str, float]]:
    """200 (Siemens address, scale) per PLC."""
    tags = [(f"DB10.DBW{2 * i}", 0.1) for i in range(60)]                 # 0..119 INT
    tags += [(f"DB10.DBW{120 + 2 * i}:WORD", 1.0) for i in range(30)]     # 120..179
    tags += [(f"DB10.DBD{200 + 4 * i}", 1.0) for i in range(20)]          # 200..279 DINT
    tags += [(f"DB10.DBD{280 + 4 * i}:REAL", 1.0) for i in range(60)]     # 280..519
    tags += [(f"DB20.DBX{i // 8}.{i % 8}", 1.0) for i in range(16)]       # 0..1 BOOL
    tags += [(f"DB20.DBB{2 + i}", 0.5 if i % 2 else 1.0) for i in range(4)]   # 2..5
    tags += [(f"M0.{i}", 1.0) for i in range(8)]
    tags += [("MW2", 0.01), ("MW4", 0.01)]
    return tags


def addresses() -> list[S7Address]:
    return [parse_address(a) for a, _ in tag_map()]


def blocks() -> list[S7Block[int]]:
    """The driver's plan for this map (the S7Plc defaults, a 480-byte PDU)."""
    return plan_reads(enumerate(addresses()), S7Plc(protocol="s7").max_gap, MAX_READ_BYTES)


# --- the servers (worker process) -----------------------------------------------------

def serve(ports: list[int], ready: Any, stop: Any, change_s: float) -> None:
    """Serve one S7 PLC per port until ``stop`` is set; ``ready`` (a pipe end) is told
    True once all listen, or the error text."""
    try:
        _serve(ports, ready, stop, change_s)
    except Exception as e:      # the bench waits on ready: tell it, do not hang it
        ready.send(f"{type(e).__name__}: {e}")
        raise


def _serve(ports: list[int], ready: Any, stop: Any, change_s: float) -> None:
    from fixedsite.hil.s7_server import S7Memory, S7Server, field

    logging.getLogger("snap7").setLevel(logging.CRITICAL)
    fields = [field(f"v{i}", a) for i, (a, _) in enumerate(tag_map())]
    servers = []
    for port in ports:
        srv = S7Server(S7Memory(fields), port)
        srv.start_sync()
        servers.append(srv)
    ready.send(True)
    rng = random.Random(1)
    makers: dict[str, Callable[[], bool | int | float]] = {
        "BOOL": lambda: rng.random() < 0.5, "BYTE": lambda: rng.randrange(256),
        "INT": lambda: rng.randrange(-32768, 32768), "WORD": lambda: rng.randrange(65536),
        "DINT": lambda: rng.randrange(-2**31, 2**31),
        "REAL": lambda: round(rng.uniform(-1e4, 1e4), 3)}
    new = [makers[f.type] for f in fields]
    names = [f.name for f in fields]
    half = len(fields) // 2
    t0, tick = time.monotonic(), 0
    try:
        while not stop.is_set():
            if change_s <= 0:
                time.sleep(0.1)
                continue
            for j, srv in enumerate(servers):     # spread over the period: no bursts
                delay = t0 + tick * change_s + j * change_s / len(servers) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                start = rng.randrange(0, len(fields) - half + 1)
                mem = srv.memory
                for i in range(start, start + half):
                    mem.set(names[i], new[i]())
            tick += 1
            if time.monotonic() - (t0 + tick * change_s) > change_s:   # fell behind
                tick = int((time.monotonic() - t0) / change_s) + 1
    finally:
        for srv in servers:
            srv.stop_sync()


# --- the pollers (bench process) -------------------------------------------------------

async def connect(ports: list[int]) -> list[AsyncClient]:
    clients = []
    for port in ports:
        c = AsyncClient()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await c.connect("127.0.0.1", 0, 1, port)
        clients.append(c)
    return clients


async def disconnect(clients: list[AsyncClient]) -> None:
    for c in clients:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await c.disconnect()


Request = tuple[str, int, int, int]   # area, db, start, size


def naive_requests() -> list[Request]:
    """One read per tag: that tag's bytes (a bit's byte)."""
    return [(a.area, a.db, a.offset, a.width) for a in addresses()]


def bulk_requests() -> list[Request]:
    """Exactly the driver's coalesced blocks."""
    return [(b.area, b.db, b.start, b.size) for b in blocks()]


def reader(c: AsyncClient, reqs: list[Request], n_tags: int) -> Callable[[], Awaitable[int]]:
    """One cycle of bare ``db_read`` / ``read_area`` calls, decoding nothing; returns the
    tags it covered."""
    calls = [(c.db_read, (db, start, size)) if area == "DB"
             else (c.read_area, (_AREA[area], db, start, size))
             for area, db, start, size in reqs]

    async def body() -> int:
        for call, args in calls:
            await call(*args)
        return n_tags
    return body


async def driver_round(ports: list[int], seconds: float) -> tuple[float, float, int]:
    """The real S7Driver, one per PLC, each connected by its own ``run()``, then its
    ``poll_once`` called flat out for ``seconds``: (wall s, CPU s, tag reads)."""
    clock = ScaledClock(1.0)
    store = TagStore(clock)
    tags = tag_map()
    addrs = addresses()
    drivers = []
    for k, port in enumerate(ports):
        cfg = S7Plc(protocol="s7", port=port, poll_period_s=DRIVER_PERIOD_S, timeout_s=2)
        points = [S7Point(store.define(f"bench.s7plc{k}.t{i}", TagMeta()), a, Scaling(s),
                          DRIVER_PERIOD_S)
                  for i, (a, (_, s)) in enumerate(zip(addrs, tags, strict=True))]
        drivers.append(S7Driver(f"s7plc{k}", cfg, store, clock, points, min_poll_s=0.0))
    want = len(blocks())
    tasks = [asyncio.create_task(d.run()) for d in drivers]
    try:
        for d in drivers:
            await store.wait_for(d.online_tag.path, lambda t: t.value is True, 10)
            if d.block_count() != want:
                raise RuntimeError(f"{d.name}: the driver reads {d.block_count()} blocks, "
                                   f"the raw poller {want}: not the same bytes")
        deadline = time.perf_counter() + seconds

        async def loop(d: S7Driver) -> None:
            while time.perf_counter() < deadline:
                await d.poll_once()

        reads0 = sum(d.tag_reads for d in drivers)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(loop(d) for d in drivers))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        bad = [p.tag for d in drivers for p in d.points.values() if not p.tag.good]
        if bad:                 # a fast poller that decodes nothing right is no result
            raise RuntimeError(f"{len(bad)} tags not good after the round, e.g. "
                               f"{bad[0].path}: {bad[0].quality.name} {bad[0].reason}")
        return wall, cpu, sum(d.tag_reads for d in drivers) - reads0
    finally:
        for d in drivers:
            await d.close()
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=5)
