"""Poll throughput: the fixedsite Modbus driver against a naive poller and the wire limit.

A HIL site of 10 Modbus TCP servers (a separate process, as PLCs would be) with 200
tags each (2,000 in all: uint16 and scaled int16 registers, float32 pairs, bits inside
status words, coils); each server changes half its registers every 50 ms (spread over
the period, ``--change-s``), so the driver decodes real changes. Three pollers run one
after another in this process against the same servers, each with one connection per
server, all servers at once; raw and fixedsite alternate for ``--rounds`` rounds:

* naive: one request per tag (bare pymodbus client);
* raw bulk: the bare pymodbus client reading exactly the driver's coalesced blocks and
  decoding nothing: the wire limit for this map;
* fixedsite: the real driver's poll loop flat out (decode, quality, tag store updates).

Prints tags per second, CPU seconds per 1,000 tag reads and the ratios; the last line
is ``RESULT tags_per_s=... vs_raw=... vs_naive=... cpu_s_per_1k=...``.

Run: ``.venv/bin/python bench/poll.py [--seconds 4] [--servers 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import random
import socket
import time
from collections.abc import Awaitable, Callable

from pymodbus.client import AsyncModbusTcpClient

from fixedsite.clock import ScaledClock
from fixedsite.drivers.modbus import ModbusDriver, Point
from fixedsite.drivers.modbus_codec import Scaling, parse_address
from fixedsite.drivers.modbus_config import ModbusPlc as PlcConfig
from fixedsite.drivers.modbus_plan import plan_reads
from fixedsite.tags import TagMeta, TagStore

HR_WORDS = 190      # 100 single registers, 40 float32 pairs, 10 status words
N_COILS = 20


def tag_map() -> list[tuple[str, float]]:
    """200 (address, scale) per server."""
    tags = [(f"hr:{i}", 1.0) for i in range(50)]
    tags += [(f"hr:{i}:int16", 0.1) for i in range(50, 100)]
    tags += [(f"hr:{100 + 2 * i}:float32", 1.0) for i in range(40)]
    tags += [(f"hr:{180 + i // 4}.{i % 4}", 1.0) for i in range(40)]
    tags += [(f"coil:{i}", 1.0) for i in range(N_COILS)]
    return tags


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _serve(ports: list[int], ready: mp.connection.Connection, stop: mp.Event,  # type: ignore[name-defined]
           change_s: float) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def main() -> None:
        servers = []
        for port in ports:
            dev = SimDevice(id=1, simdata=(
                [SimData(0, count=N_COILS, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=HR_WORDS, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]))
            srv = ModbusTcpServer(dev, address=("127.0.0.1", port))
            await srv.serve_forever(background=True)
            servers.append(srv)
        ready.send(True)
        rng = random.Random(1)
        while not stop.is_set():
            if change_s <= 0:
                await asyncio.sleep(0.1)
                continue
            for srv in servers:        # half the registers move, like noisy analog inputs
                start = rng.randrange(0, HR_WORDS // 2)
                await srv.async_setValues(1, 16, start, [rng.randrange(0, 65536)
                                                         for _ in range(HR_WORDS // 2)])
                await asyncio.sleep(change_s / len(servers))   # spread: no load bursts
        for srv in servers:
            await srv.shutdown()

    asyncio.run(main())


async def _timed(seconds: float, per_server: list[Callable[[], Awaitable[int]]]) -> tuple[
        float, float, int]:
    """Run each server's loop body until time is up; (wall s, cpu s, tag reads)."""
    count = 0
    deadline = time.perf_counter() + seconds

    async def loop(body: Callable[[], Awaitable[int]]) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            n = await body()          # not "count += await ...": that reads count first
            count += n

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop(b) for b in per_server))
    return time.perf_counter() - t0, time.process_time() - cpu0, count


async def _clients(ports: list[int]) -> list[AsyncModbusTcpClient]:
    clients = [AsyncModbusTcpClient("127.0.0.1", port=p, timeout=2, retries=0,
                                    reconnect_delay=0) for p in ports]
    for c in clients:
        assert await c.connect()
    return clients


async def run(seconds: float, n_servers: int, rounds: int, change_s: float) -> None:
    ports = _free_ports(n_servers)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(ports, child, stop, change_s),
                       daemon=True)
    proc.start()
    assert parent.poll(30) and parent.recv()
    tags = tag_map()
    addrs = [parse_address(a) for a, _ in tags]
    n_tags = len(tags) * n_servers
    blocks = plan_reads(((a, a) for a in addrs), 32)
    fn = {"hr": "read_holding_registers", "coil": "read_coils"}
    results: dict[str, list[tuple[float, float, int]]] = {"naive": [], "raw": [],
                                                          "fixedsite": []}

    def reader(c: AsyncModbusTcpClient, reqs: list[tuple[str, int, int]]
               ) -> Callable[[], Awaitable[int]]:
        async def body() -> int:
            for name, start, count in reqs:
                await getattr(c, name)(start, count=count, device_id=1)
            return len(addrs)
        return body

    async def bare(reqs: list[tuple[str, int, int]]) -> tuple[float, float, int]:
        clients = await _clients(ports)
        try:
            return await _timed(seconds, [reader(c, reqs) for c in clients])
        finally:
            for c in clients:
                c.close()

    async def driver() -> tuple[float, float, int]:
        """The real driver's own poll loop, flat out (no minimum poll interval)."""
        clock = ScaledClock(1.0)
        store = TagStore(clock)
        drivers = []
        for k, port in enumerate(ports):
            cfg = PlcConfig(protocol="modbus", port=port, poll_period_s=0.001, timeout_s=2)
            points = [Point(store.define(f"bench.plc{k}.t{i}", TagMeta()), a, Scaling(s),
                            "big", 0.001) for i, (a, (_, s)) in enumerate(zip(addrs, tags,
                                                                               strict=True))]
            drivers.append(ModbusDriver(f"plc{k}", cfg, store, clock, points, min_poll_s=0.0))
        tasks = [asyncio.create_task(d.run()) for d in drivers]
        try:
            for d in drivers:
                await store.wait_for(d.online_tag.path, lambda t: t.value is True, 10)
            reads0 = sum(d.tag_reads for d in drivers)
            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            return (time.perf_counter() - t0, time.process_time() - cpu0,
                    sum(d.tag_reads for d in drivers) - reads0)
        finally:
            for d in drivers:
                await d.close()
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=5)

    naive = [(fn[a.table], a.index, a.width) for a in addrs]
    bulk = [(fn[b.table], b.start, b.count) for b in blocks]
    try:
        results["naive"].append(await bare(naive))
        for _ in range(rounds):            # alternate, so drift favours neither
            results["raw"].append(await bare(bulk))
            results["fixedsite"].append(await driver())
    finally:
        stop.set()
        proc.join(10)

    print(f"{n_servers} servers x {len(tags)} tags = {n_tags} tags; {len(blocks)} coalesced "
          f"reads per server per cycle (vs {len(addrs)} naive); {seconds:g} s a round")
    print(f"{'poller':<10} {'tags/s':>10} {'CPU s/1k tags':>14}  per round (tags/s)")
    rate, cpu_1k = {}, {}
    for name, runs in results.items():
        wall, cpu, count = (sum(r[i] for r in runs) for i in range(3))
        rate[name], cpu_1k[name] = count / wall, cpu / count * 1000
        rounds_txt = " ".join(f"{r[2] / r[0]:.0f}" for r in runs)
        print(f"{name:<10} {rate[name]:>10.0f} {cpu_1k[name]:>14.5f}  {rounds_txt}")
    # each driver round against the raw round just before it, so that slow drifts of the
    # host (the other tenant, the server's own load) cancel; the median of those ratios
    pairs = sorted((f[2] / f[0]) / (r[2] / r[0])
                   for r, f in zip(results["raw"], results["fixedsite"], strict=True))
    mid = len(pairs) // 2
    vs_raw = pairs[mid] if len(pairs) % 2 else (pairs[mid - 1] + pairs[mid]) / 2
    print("fixedsite / raw, paired rounds: " + " ".join(f"{p:.2f}" for p in pairs))
    vs_naive = rate["fixedsite"] / rate["naive"]
    print(f"fixedsite / raw bulk = {vs_raw:.2f} (median; target >= 0.90); fixedsite / naive = "
          f"{vs_naive:.1f} (target >= 20)")
    print(f"RESULT tags_per_s={rate['fixedsite']:.0f} vs_raw={vs_raw:.2f} "
          f"vs_naive={vs_naive:.1f} cpu_s_per_1k={cpu_1k['fixedsite']:.5f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--change-s", type=float, default=0.05,
                    help="the servers change half their registers this often (0: never)")
    args = ap.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    asyncio.run(run(args.seconds, args.servers, args.rounds, args.change_s))


if __name__ == "__main__":
    main()
