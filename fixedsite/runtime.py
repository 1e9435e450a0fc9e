"""The controller: config in, drivers, sequences and the gate wired and running.

Data flows one way (PLC -> driver -> tag store -> sequences -> gate -> driver write);
this module only builds the pieces from the config and runs their tasks. Stopping the
controller stops *the controller*: drivers close, the PLCs' watchdogs take over, and no
pump is stopped because software went away.
"""

from __future__ import annotations

import asyncio
import logging

from fixedsite.alarms import AlarmEngine, build_defs
from fixedsite.alarms.handler import AlarmHandler
from fixedsite.audit import AuditLog
from fixedsite.clock import Clock
from fixedsite.config import PumpEq, SiteConfig, SumpEq
from fixedsite.drivers.modbus import ModbusDriver, Point
from fixedsite.drivers.modbus_codec import Scaling
from fixedsite.gate import CommandGate
from fixedsite.historian import Historian, Recorder
from fixedsite.io import WriteResult
from fixedsite.report import ALIVE_EVERY_S, ALIVE_GAP_S
from fixedsite.sequences.drainage import PumpHandler, PumpSequence
from fixedsite.sequences.drainage_level import LevelControl, SumpLevel
from fixedsite.sequences.drainage_planner import Planner, link_relay
from fixedsite.tags import TagMeta, TagStore
from fixedsite.uplink import Uplink

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 3.0


class Router:
    """A Writer that sends each write to the driver of the signal's PLC."""

    def __init__(self, drivers: dict[str, ModbusDriver]) -> None:
        self._by_path = {path: d for d in drivers.values() for path in d.points}

    async def write(self, path: str, value: float | bool) -> WriteResult:
        driver = self._by_path.get(path)
        if driver is None:
            return WriteResult(False, reason=f"{path} is not mapped to any PLC")
        return await driver.write(path, value)


class Controller:
    def __init__(self, cfg: SiteConfig, clock: Clock, audit: AuditLog | None = None,
                 historian: Historian | None = None, uplink: Uplink | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.audit = audit
        self.historian = historian
        self.uplink = uplink
        self.store = TagStore(clock)
        points: dict[str, list[Point]] = {name: [] for name in cfg.plcs}
        for sig in cfg.signals():
            m, spec, plc = sig.map, sig.spec, cfg.plcs[sig.plc]
            low, high = m.range if m.range else (None, None)
            tag = self.store.define(sig.path, TagMeta(m.unit or spec.unit, low, high,
                                                      spec.writable, spec.description,
                                                      spec.kind))
            points[sig.plc].append(Point(tag, sig.address, Scaling(m.scale, m.offset),
                                         m.word_order or plc.word_order,
                                         m.period_s or plc.poll_period_s))
        stale = cfg.controller.stale_after_periods
        self.drivers = {name: ModbusDriver(name, plc, self.store, clock, points[name], stale)
                        for name, plc in cfg.plcs.items()}
        self.writer = Router(self.drivers)
        self.gate = CommandGate(clock, audit=audit)
        self.pumps: dict[str, PumpSequence] = {}
        self.levels: list[LevelControl] = []
        self.planners: list[Planner] = []
        for sname, system in cfg.systems.items():
            ctl = system.control
            sump = system.equipment[ctl.sump]
            assert isinstance(sump, SumpEq)
            level = SumpLevel(sname, ctl.sump, sump, ctl, self.store)
            seqs = []
            for pname in ctl.pumps:
                eq = system.equipment[pname]
                assert isinstance(eq, PumpEq)
                seq = PumpSequence(sname, pname, eq.valve, ctl, self.store, self.writer, clock)
                self.pumps[seq.path] = seq
                self.gate.register(seq.path, PumpHandler(seq, level.update))
                seqs.append(seq)
            lc = LevelControl(sname, ctl, level, seqs, self.gate, self.store, clock)
            self.levels.append(lc)
            if system.plan is not None and cfg.tariff is not None:
                lc.planner = Planner(sname, system, cfg.tariff, seqs, self.store, clock)
                self.planners.append(lc.planner)
        link_relay(self.planners)
        self.alarms = AlarmEngine(build_defs(cfg), self.store, clock)
        self.gate.register("alarms", AlarmHandler(self.alarms))
        if historian is not None:
            Recorder(self.store, historian)
            self.alarms.sinks.append(lambda e: historian.event(
                e.t, "alarm", e.alarm, f"{e.what}: {e.text}",
                {"priority": e.priority, "area": e.area, "user": e.user,
                 "comment": e.comment}))
            self.gate.sinks.append(lambda r: historian.event(
                r.t, "command", r.command.target, f"{r.command.action}: "
                f"{'done' if r.decision.accepted else 'refused'} {r.decision.reason}",
                {"source": r.command.source, "user": r.command.user,
                 "params": r.command.params}))
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.scans = 0

    def record_config(self, digest: str, source: str) -> None:
        """Audit the config the controller runs on, when it differs from the last one."""
        if self.audit is None:
            return
        last = self.audit.last_of("config")
        if last is not None and last["result"] == digest:
            return
        self.audit.append(ts=self.clock.now(), kind="config", actor="controller",
                          source="startup", target=self.cfg.site.id,
                          action="changed" if last else "first", params={"file": source},
                          decision="accepted", result=digest)

    def _seed_planners(self) -> None:
        if self.historian is not None:
            for pl in self.planners:
                n = pl.seed_from(self.historian)
                log.info("%s planner: %d steps of measured inflow from the historian",
                         pl.name, n)

    async def start(self) -> None:
        self._seed_planners()
        for name, d in self.drivers.items():
            self._tasks.append(asyncio.create_task(d.run(), name=f"driver-{name}"))
        self._tasks.append(asyncio.create_task(self._scan_loop(), name="scan"))
        if self.historian is not None:
            self._tasks.append(asyncio.create_task(self._history_loop(), name="history"))
        if self.uplink is not None:
            self._tasks.append(asyncio.create_task(self.uplink.run(), name="uplink"))

    async def stop(self) -> None:
        # transitions' AsyncMachine swallows a CancelledError that lands inside a trigger,
        # so the scan loop also watches a flag; no task may keep the controller alive.
        self._stopping = True
        for d in self.drivers.values():
            await d.close()
        for t in self._tasks:
            t.cancel()
        _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
        for t in pending:
            log.error("task %s did not stop within %.0f s", t.get_name(), STOP_TIMEOUT_S)
        self._tasks.clear()

    async def scan(self) -> None:
        """One pass of every sequence and every level control."""
        for seq in self.pumps.values():
            await seq.scan()
        for lc in self.levels:
            await lc.scan()
        self.alarms.tick()
        self.scans += 1

    async def _history_loop(self) -> None:
        assert self.historian is not None
        st = self.cfg.storage
        day = 86400.0
        last_prune = last_alive = 0.0
        while not self._stopping:
            await asyncio.sleep(st.flush_s)
            now = self.clock.now()
            if now - last_alive >= ALIVE_EVERY_S:    # the report's measure of our uptime
                last_alive = now
                # under acceleration a loop turn spans more simulated time than a minute
                promise = max(ALIVE_GAP_S, 3 * st.flush_s * self.clock.scale)
                self.historian.event(now, "controller", self.cfg.site.id, "alive",
                                     {"next_by": now + promise})
            try:
                await self.historian.flush_async()
                now = self.clock.now()
                if now - last_prune > day:
                    last_prune = now
                    await asyncio.to_thread(self.historian.prune, now,
                                            st.keep_monitoring_days * day,
                                            st.keep_run_records_days * day)
            except Exception:          # a full disk must not stop supervision
                log.exception("history write failed; will retry")

    async def _scan_loop(self) -> None:
        period = self.cfg.controller.scan_period_s
        while not self._stopping:
            try:
                await self.scan()
            except Exception:          # a bug in one scan must not end supervision
                log.exception("scan failed; continuing")
            await asyncio.sleep(max(period / self.clock.scale, 0.005))
