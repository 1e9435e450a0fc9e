"""Site scale, end to end: >= 100 simulated PLCs, >= 100,000 tags, through a real controller.

The PLCs (Modbus TCP, and S7 with ``--s7``) run in ``--procs`` worker processes
(``bench/site_servers.py``), 1,000 values each by default; each changes a share of its
values every poll period so that the site changes 10k, 30k and 100k values a second in
turn (``--levels``). This process is the controller, built as ``fixedsite run`` builds it:
the config generated as data and validated by ``fixedsite.config.parse`` (a ``bench``
system registered at run time, one ``block`` equipment per 100 signals), one driver per
PLC, the tag store, the alarm engine (a limit alarm on one changing tag per PLC), the
historian (SQLite, in a temporary directory) and the uplink to a VictoriaMetrics server
started here on a free loopback port.

Per level, measured over ``--seconds`` after a settling period:

* changes/s: the tag changes the pipeline carried (every numeric change becomes one uplink
  line: sent + queued + pending + dropped, before and after), not the rate asked for;
* CPU s per 100k changes: ``time.process_time`` of this process (every thread: the
  historian's and uplink's workers too) over the changes carried;
* poll lateness p99: each driver's ``poll_group`` is wrapped from outside to take the time
  each poll of each group starts; the lateness is how much more than the period passed
  since the poll before (so a driver that overran and skipped periods shows it: the
  period actually held). Also the p99 of how long one poll of a PLC's blocks takes;
* historian lag: at each commit (``Historian._write`` wrapped), how old its oldest sample
  is (flush_s = 2 s by default, so ~2 s is the design, more is a backlog);
* uplink lag: at each acknowledged batch (the queue's ``peek``/``ack`` wrapped), how old
  its oldest line is: the time from a change to VictoriaMetrics taking it; and a probe:
  the newest change of one tag at the end of the level, waited for in VictoriaMetrics
  through its export API (the data really arrived, and how late);
* RSS now and peak (MB).

Run: ``.venv/bin/python bench/site.py [--plcs 100] [--s7 10] [--seconds 15]``; ``--profile
FILE`` writes a cProfile of the last level. The first figure to compare with: Neuron
(EMQ) publishes 100k points/s at 30 % of 4 cores, poll to MQTT only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Literal

import site_servers  # bench/, beside this file

from fixedsite import systems
from fixedsite.clock import ScaledClock
from fixedsite.config import parse
from fixedsite.equipment import SignalDef
from fixedsite.hil.tsdb import BINARY
from fixedsite.hil.tsdb import VictoriaMetrics as Server
from fixedsite.historian import Historian
from fixedsite.runtime import Controller
from fixedsite.schema import EquipmentBase, Model
from fixedsite.systems import BuildContext, SystemSpec
from fixedsite.uplink import Uplink

PER_EQUIPMENT = 100          # signals of one `block` equipment


class BlockEq(EquipmentBase):
    type: Literal["block"]


class BenchSystem(Model):
    kind: Literal["bench"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, BlockEq] = {}


def build(ctx: BuildContext, name: str, cfg: BenchSystem) -> None:
    """No sequences: the bench measures the data path (drivers to uplink)."""
    return None


SPEC = SystemSpec(kind="bench", config=BenchSystem,
                  equipment={"block": {f"v{i}": SignalDef("number", "", False, False,
                                                          f"value {i}")
                                       for i in range(PER_EQUIPMENT)}},
                  build=f"{__name__}:build")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def site_config(modbus: list[int], s7: list[int], n_values: int, period: float,
                storage: Path, vm_url: str) -> dict[str, Any]:
    """The site as the TOML file would hold it (as data, for ``config.parse``)."""
    plcs: dict[str, Any] = {}
    equipment: dict[str, Any] = {}
    alarms = []
    names = [(f"m{i}", "modbus", p) for i, p in enumerate(modbus)] + \
        [(f"s{i}", "s7", p) for i, p in enumerate(s7)]
    for plc, proto, port in names:
        plcs[plc] = {"protocol": proto, "port": port, "poll_period_s": period,
                     "timeout_s": 2.0}
        for b in range(n_values // PER_EQUIPMENT):
            sigs = {}
            for j in range(PER_EQUIPMENT):
                i = b * PER_EQUIPMENT + j
                addr = f"hr:{i}" if proto == "modbus" else f"DB1.DBW{2 * i}"
                sigs[f"v{j}"] = {"address": addr,
                                 "range": [0.0, float(site_servers.VALUE_SPAN)]}
            equipment[f"{plc}b{b}"] = {"type": "block", "plc": plc, "signals": sigs}
        alarms.append({"kind": "limit", "tag": f"bench.{plc}b0.v0", "text": f"{plc} high",
                       "h": 900.0, "deadband": 10.0})
    return {"site": {"id": "bench", "name": "bench site"}, "plcs": plcs,
            "systems": {"bench": {"kind": "bench", "equipment": equipment}},
            "storage": {"dir": str(storage)}, "uplink": {"url": vm_url},
            "alarms": alarms}


# --- VictoriaMetrics, started as the uplink tests start it (fixedsite.hil.tsdb) -----------
class VictoriaMetrics(Server):
    def __init__(self, data: Path) -> None:
        super().__init__(data, free_ports(1)[0])

    async def start(self) -> None:
        if BINARY is None:
            raise SystemExit("victoria-metrics is not installed (the uplink's server)")
        await super().start()

    def newest(self, metric: str, equipment: str) -> float | None:
        """The newest timestamp (s) VictoriaMetrics holds for one series."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).read()
        q = urllib.parse.quote(f'{metric}{{equipment="{equipment}"}}')
        start = int(time.time() - 600)
        with urllib.request.urlopen(f"{self.url}/api/v1/export?match[]={q}&start={start}",
                                    timeout=5) as r:
            ts = [t for line in r.read().decode().splitlines() if line.strip()
                  for t in json.loads(line)["timestamps"]]
        return max(ts) / 1000 if ts else None

    def cpu_s(self) -> float:
        """CPU seconds VictoriaMetrics has used (its process, from /proc)."""
        return _proc_cpu(self.proc.pid) if self.proc is not None else 0.0


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _LogCounts(logging.Handler):
    """Counts the controller's log lines by kind: link losses and write failures of the
    historian and uplink are findings, not noise."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.n: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        kind = ("link down" if "link down" in msg else "link restored" if "link restored"
                in msg else "alarm" if record.name.startswith("fixedsite.alarms") else
                record.levelname.lower())
        self.n[kind] = self.n.get(kind, 0) + 1

    def take(self) -> str:
        text = ", ".join(f"{k} {v}" for k, v in sorted(self.n.items())) or "none"
        self.n = {}
        return text


def p99(xs: list[float]) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


# --- instruments, put on from outside ---------------------------------------------------------
class Probe:
    """Wraps the controller's parts to time what they do, without changing what they do."""

    def __init__(self, ctl: Controller, clock: ScaledClock) -> None:
        self.clock = clock
        self.late: list[float] = []          # poll start against schedule (s)
        self.took: list[float] = []          # one poll of a group (s)
        self.hist_lag: list[float] = []      # age of the oldest sample at its commit (s)
        self.up_lag: list[float] = []        # age of the oldest line at its ack (s)
        self.polls = 0
        for d in ctl.drivers.values():
            self._wrap_driver(d)
        if ctl.historian is not None:
            self._wrap_historian(ctl.historian)
        if ctl.uplink is not None:
            self._wrap_uplink(ctl.uplink)

    def reset(self) -> None:
        self.late, self.took, self.hist_lag, self.up_lag = [], [], [], []
        self.polls = 0

    def _wrap_driver(self, d: Any) -> None:
        inner = d.poll_group
        last: dict[int, float] = {}
        now = self.clock.now

        async def poll_group(g: Any) -> None:
            # late: how much longer than its period a poll came after the one before (a
            # driver that overran by whole periods re-anchors and skips them: those count)
            t = now()
            prev = last.get(id(g))
            if prev is not None:
                self.late.append(max(0.0, t - prev - g.period))
            last[id(g)] = t
            await inner(g)
            self.took.append(now() - t)
            self.polls += 1

        d.poll_group = poll_group

    def _wrap_historian(self, h: Historian) -> None:
        inner = h._write
        now = self.clock.now

        def _write(samples: list[Any], events: list[Any]) -> None:
            inner(samples, events)
            if samples:
                self.hist_lag.append(now() - min(s[1] for s in samples))

        h._write = _write  # type: ignore[method-assign]

    def _wrap_uplink(self, u: Uplink) -> None:
        q = u.queue
        peek, ack = q.peek, q.ack
        oldest: dict[int, float] = {}
        now = self.clock.now

        def _peek(n: int) -> tuple[int, list[str]]:
            upto, lines = peek(n)
            if lines:
                oldest[upto] = min(int(x.rsplit(" ", 1)[1]) for x in lines) / 1000
            return upto, lines

        def _ack(upto: int) -> None:
            ack(upto)
            t = oldest.pop(upto, None)
            if t is not None:
                self.up_lag.append(now() - t)

        q.peek = _peek  # type: ignore[method-assign]
        q.ack = _ack  # type: ignore[method-assign]


class Counter:
    """Counts the tag store's changes (one more listener: ~0.1 us a change)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, tag: Any) -> None:
        self.n += 1


async def vm_probe(vm: VictoriaMetrics, ctl: Controller, clock: ScaledClock,
                   wait_s: float) -> float | None:
    """Seconds from one changing tag's newest change to its point in VictoriaMetrics
    (None: not there within ``wait_s``)."""
    tag = ctl.store["bench.m0b0.v1"]
    want, t_ask = tag.ts, clock.now()
    while clock.now() - t_ask < wait_s:
        got = await asyncio.to_thread(vm.newest, "fixedsite_v1", "m0b0")
        if got is not None and got >= want - 0.0005:
            return clock.now() - want
        await asyncio.sleep(0.2)
    return None


async def run(args: argparse.Namespace) -> None:
    n_mb, n_s7, n_values, period = args.plcs, args.s7, args.values, args.period
    n_plcs = n_mb + n_s7
    work = Path(tempfile.mkdtemp(prefix="fixedsite-site-bench-"))
    # the controller logs as it would in service (alarm transitions, link episodes), to a
    # file: the cost stays in the figures, the lines stay out of the table; counted below
    log_file = Path(args.log) if args.log else work / "controller.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    counts = _LogCounts()
    logging.getLogger().addHandler(counts)
    vm = VictoriaMetrics(work / "vm")
    procs: list[Any] = []
    stop_servers: Any = None
    ctl: Controller | None = None
    try:
        await vm.start()
        ports = free_ports(n_plcs)
        mb_ports, s7_ports = ports[:n_mb], ports[n_mb:]
        groups = [(mb_ports[i::args.procs], s7_ports[i::args.procs])
                  for i in range(args.procs)]
        t = time.perf_counter()
        procs, rate, stop_servers = site_servers.start(groups, n_values, period, 0.0)
        t_servers = time.perf_counter() - t
        server_pids = [p.pid for p in procs]

        systems.register(SPEC)
        raw = site_config(mb_ports, s7_ports, n_values, period, work / "var", vm.url)
        t = time.perf_counter()
        cfg = parse(raw, "bench-site")
        t_parse = time.perf_counter() - t
        n_tags = sum(1 for _ in cfg.signals())
        clock = ScaledClock(1.0)
        st = cfg.storage
        t = time.perf_counter()
        history = None if (args.bare or args.no_historian) else Historian(
            cfg.storage_dir() / "history.db", st.deadband_pct, st.max_interval_s,
            max_buffered=st.max_buffered)
        u = cfg.uplink
        assert u is not None
        ctl = Controller(cfg, clock, historian=history)
        if not (args.bare or args.no_uplink):
            ctl.uplink = Uplink(ctl.store, cfg.site.id, u.url,
                                cfg.storage_dir() / "uplink.db", u.token, u.org, u.bucket,
                                u.batch, max_queue=u.max_queue)
        changes_seen = Counter()
        ctl.store.subscribe(changes_seen)
        t_build = time.perf_counter() - t
        probe = Probe(ctl, clock)
        t = time.perf_counter()
        await ctl.start()
        online = [d.link.online_tag.path for d in ctl.drivers.values()]
        for path in online:
            await ctl.store.wait_for(path, lambda tag: tag.value is True, 60)
        t_online = time.perf_counter() - t
        print(f"site: {n_mb} Modbus + {n_s7} S7 PLCs x {n_values} values = {n_tags} tags, "
              f"{len(cfg.alarms)} limit alarms, poll every {period:g} s; PLC servers in "
              f"{args.procs} processes; "
              + ("no historian, " if args.bare or args.no_historian else "historian, ")
              + ("no uplink" if args.bare or args.no_uplink else
                 f"uplink to VictoriaMetrics {vm.url}"))
        print(f"start-up: PLC servers {t_servers:.1f} s, config parse + checks {t_parse:.1f} s, "
              f"controller build {t_build:.1f} s, start to all {n_plcs} online "
              f"{t_online:.1f} s, RSS {rss_mb():.0f} MB")
        blocks = sum(d.block_count() for d in ctl.drivers.values())
        print(f"reads: {blocks} blocks a cycle ({blocks / period:.0f} requests/s)")
        await asyncio.sleep(3 * period)       # the first full reads flushed through
        rows = []
        uplink = ctl.uplink
        for i, level in enumerate(args.levels):
            rate.value = level
            await asyncio.sleep(max(3 * period, 3.0))      # settle at the new rate
            last = i == len(args.levels) - 1
            prof = cProfile.Profile() if (args.profile and last) else None
            probe.reset()
            counts.take()
            c0, cpu0, w0 = changes_seen.n, time.process_time(), time.perf_counter()
            srv0 = sum(_proc_cpu(p) for p in server_pids)
            vm0 = vm.cpu_s()
            if prof is not None:
                prof.enable()
            await asyncio.sleep(args.seconds)
            if prof is not None:
                prof.disable()
            wall = time.perf_counter() - w0
            cpu = time.process_time() - cpu0
            changes = changes_seen.n - c0
            srv = sum(_proc_cpu(p) for p in server_pids) - srv0
            vmc = vm.cpu_s() - vm0
            row = {
                "level": level, "changes_s": changes / wall,
                "cpu_100k": cpu / changes * 1e5 if changes else float("nan"),
                "cpu_pct": cpu / wall * 100, "late_p99": p99(probe.late) * 1000,
                "late_max": max(probe.late, default=float("nan")) * 1000,
                "took_p99": p99(probe.took) * 1000,
                "polls_s": probe.polls / wall / max(1, len(ctl.drivers)),
                "hist_lag": p99(probe.hist_lag), "hist_buf": history.buffered if history else 0,
                "up_lag": p99(probe.up_lag), "up_queued": len(uplink.queue) +
                len(uplink._pending) if uplink else 0, "rss": rss_mb(),
                "srv_pct": srv / wall * 100, "vm_pct": vmc / wall * 100,
                "load": os.getloadavg()[0], "log": counts.take()}
            rows.append(row)
            seen = None
            if uplink is not None:     # one tag's newest change, waited for in the server
                seen = await vm_probe(vm, ctl, clock, args.probe_wait)
            row["probe"] = seen
            print(f"level {level:>7,}/s: carried {row['changes_s']:,.0f}/s, CPU "
                  f"{row['cpu_pct']:.0f} % of a core, poll late p99 {row['late_p99']:.0f} ms "
                  f"(max {row['late_max']:.0f}), uplink lag p99 {row['up_lag']:.2f} s, "
                  f"probe in VM after "
                  + (f"not within {args.probe_wait:g} s" if seen is None else f"{seen:.2f} s")
                  + f"; log lines: {row['log']}", flush=True)
            if prof is not None:
                prof.dump_stats(args.profile)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        print(f"{'changes/s':>10} {'carried':>8} {'CPU s/':>7} {'CPU %':>6} {'late p99':>8} "
              f"{'poll p99':>8} {'polls/s':>7} {'hist lag':>8} {'hist buf':>8} "
              f"{'upl lag':>7} {'upl q':>7} {'probe':>6} {'RSS':>5} {'PLCs %':>6} {'VM %':>5} "
              f"{'load':>5}")
        print(f"{'asked':>10} {'per s':>8} {'100k':>7} {'1 core':>6} {'ms':>8} {'ms':>8} "
              f"{'per PLC':>7} {'p99 s':>8} {'now':>8} {'p99 s':>7} {'now':>7} {'s':>6} "
              f"{'MB':>5} {'core':>6} {'core':>5} {'1 min':>5}")
        for r in rows:
            probe_txt = "  none" if r["probe"] is None else f"{r['probe']:6.2f}"
            print(f"{r['level']:>10,} {r['changes_s']:>8,.0f} {r['cpu_100k']:>7.2f} "
                  f"{r['cpu_pct']:>6.0f} {r['late_p99']:>8.0f} {r['took_p99']:>8.0f} "
                  f"{r['polls_s']:>7.2f} {r['hist_lag']:>8.2f} {r['hist_buf']:>8,} "
                  f"{r['up_lag']:>7.2f} {r['up_queued']:>7,} {probe_txt} {r['rss']:>5.0f} "
                  f"{r['srv_pct']:>6.0f} {r['vm_pct']:>5.0f} {r['load']:>5.1f}")
        print(f"peak RSS {peak:.0f} MB; {os.cpu_count()} cores on this host, shared")
        print("compare: Neuron (EMQ) publishes 100k points/s at 30 % of 4 cores = 1.2 core-s "
              "per 100k points, poll to MQTT only (no alarms, no historian); here: "
              f"{rows[-1]['cpu_100k']:.2f} core-s per 100k changes, "
              + ("the whole pipeline" if history is not None and uplink is not None else
                 "drivers, tag store, alarms" + (", historian" if history else "")
                 + (", uplink" if uplink else "")))
        held = [r["level"] for r in rows if r["changes_s"] >= 0.95 * r["level"]
                 and r["late_p99"] < period * 1000]
        print("held (carried >= 95 % of asked, poll late p99 under a period): "
              + (f"up to {max(held):,} changes/s" if held else "no level"))
        r = rows[-1]
        print(f"RESULT cpu_s_per_100k_changes={r['cpu_100k']:.2f} "
              f"poll_late_p99_ms={r['late_p99']:.0f} uplink_lag_s={r['up_lag']:.2f} "
              f"rss_mb={r['rss']:.0f}")
    finally:
        if ctl is not None:
            await ctl.stop()
            if ctl.uplink is not None:
                ctl.uplink.close()
            if ctl.historian is not None:
                ctl.historian.close()
        if stop_servers is not None:
            stop_servers.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
        await vm.stop()
        systems.unregister("bench")
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plcs", type=int, default=100, help="Modbus PLCs")
    ap.add_argument("--s7", type=int, default=10, help="S7 PLCs")
    ap.add_argument("--values", type=int, default=1000, help="tags per PLC (x100)")
    ap.add_argument("--period", type=float, default=1.0, help="poll period, s")
    ap.add_argument("--procs", type=int, default=2, help="PLC server processes")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured per level")
    ap.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")],
                    default=[10_000, 30_000, 100_000], help="changes/s, comma-separated")
    ap.add_argument("--bare", action="store_true",
                    help="no historian and no uplink: drivers, tag store and alarms only")
    ap.add_argument("--no-historian", action="store_true", help="no historian")
    ap.add_argument("--no-uplink", action="store_true", help="no uplink")
    ap.add_argument("--probe-wait", type=float, default=15.0,
                    help="s to wait for the probe's point in VictoriaMetrics")
    ap.add_argument("--log", metavar="FILE", help="keep the controller's log here")
    ap.add_argument("--profile", metavar="FILE", help="cProfile of the last level")
    args = ap.parse_args()
    if args.values % PER_EQUIPMENT:
        ap.error(f"--values must be a multiple of {PER_EQUIPMENT}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
