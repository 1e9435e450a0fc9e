"""The controller: config in, drivers, sequences and the gate wired and running.

Data flows one way (PLC -> driver -> tag store -> sequences -> gate -> driver write);
this module only builds the pieces from the config and runs their tasks. Stopping the
controller stops *the controller*: drivers close, the PLCs' watchdogs take over, and no
pump is stopped because software went away.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fixedsite import systems
from fixedsite.alarms import AlarmEngine, build_defs
from fixedsite.alarms.handler import AlarmHandler
from fixedsite.audit import AuditError, AuditLog
from fixedsite.availability_live import AvailabilityTracker
from fixedsite.clock import Clock, ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.drivers.protocol import Driver, Mapped
from fixedsite.drivers.registry import spec
from fixedsite.gate import CommandGate
from fixedsite.historian import Historian, Recorder
from fixedsite.io import WriteResult
from fixedsite.report import ALIVE_EVERY_S, ALIVE_GAP_S
from fixedsite.supervisor import ScanHealth, Supervisor
from fixedsite.systems import BuildContext
from fixedsite.tags import TagMeta, TagStore
from fixedsite.texts import say
from fixedsite.uplink import Uplink

log = logging.getLogger(__name__)

# Wall seconds a part of the scan may take before it counts as stuck: longer than any
# honest pass (a start's verified writes are each bounded by the PLC's time-out).
STEP_TIMEOUT_S = 30.0



class Router:
    """A Writer that sends each write to the driver of the signal's PLC."""

    def __init__(self, drivers: dict[str, Driver]) -> None:
        self._by_path = {path: d for d in drivers.values() for path in d.points}

    async def write(self, path: str, value: float | bool) -> WriteResult:
        driver = self._by_path.get(path)
        if driver is None:
            return WriteResult(False, reason=say("{path} is not mapped to any PLC", path=path))
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
        mapped: dict[str, list[Mapped]] = {name: [] for name in cfg.plcs}
        for sig in cfg.signals():
            m, spec_ = sig.map, sig.spec
            low, high = m.range if m.range else (None, None)
            tag = self.store.define(sig.path, TagMeta(m.unit or spec_.unit, low, high,
                                                      spec_.writable, spec_.description,
                                                      spec_.kind))
            mapped[sig.plc].append(Mapped(tag, sig.address, m))
        stale = cfg.controller.stale_after_periods
        self.drivers: dict[str, Driver] = {
            name: spec(plc).make_driver(name, plc, self.store, clock, mapped[name], stale)
            for name, plc in cfg.plcs.items()}
        self.writer = Router(self.drivers)
        # Level control at high-high must not wait on a full disk: automatic commands still
        # act when the audit log fails (recorded in the gate's records and the history,
        # marked NOT AUDITED, with the audit alarm standing); an operator's are refused.
        self.gate = CommandGate(clock, audit=audit,
                                unaudited_sources=("auto", "planner", "failover"))
        # every system through its plug-in (fixedsite/systems.py): sequences behind the
        # gate, controls, planners; the scan's parts each fail alone
        self._build = BuildContext(cfg, self.store, clock, self.writer, self.gate, log)
        self.systems: dict[str, Any] = {}
        by_kind: dict[str, list[Any]] = {}
        for sname, system in cfg.systems.items():
            spec_ = systems.get(system.kind)
            self._build.group = sname
            try:
                built = spec_.load(spec_.build)(self._build, sname, system)
            except Exception as e:
                raise systems.BuildError(f"system {sname!r} ({system.kind}) could not be "
                                         f"built: {type(e).__name__}: {e}") from e
            self.systems[sname] = built
            by_kind.setdefault(system.kind, []).append(built)
        for kind, built_list in by_kind.items():
            spec_ = systems.get(kind)
            if spec_.link is not None:
                spec_.load(spec_.link)(self._build, built_list)
        self.sequences = self._build.sequences     # by tag path: what commands address
        self.commands = self._build.commands       # what each of them takes (OPC UA)
        # each system scans in its own supervised task, the alarm timers in theirs: one
        # that raises or hangs holds up neither the others nor the alarms
        self._groups = self._build.groups
        self.alarms = AlarmEngine(build_defs(cfg), self.store, clock)
        self.gate.register("alarms", AlarmHandler(self.alarms))
        self._groups["alarms"] = [("alarms", self._tick_alarms, [])]
        # month-to-date fault hours and sensors in working order (controller.availability.*)
        self.availability = AvailabilityTracker(cfg, self.store, clock,
                                                [a.d for a in self.alarms.alarms.values()])
        self.alarms.sinks.append(self.availability.on_alarm)
        self.step_timeout_s = STEP_TIMEOUT_S
        self.supervisor = Supervisor(self.store)
        self.scan_health = ScanHealth(self.store)
        if historian is not None:
            Recorder(self.store, historian)
            self.alarms.sinks.append(lambda e: historian.event(
                e.t, "alarm", e.alarm,
                f"{e.what}: {e.text}" + (f": {e.detail}" if e.detail else ""),
                {"priority": e.priority, "area": e.area, "user": e.user,
                 "comment": e.comment}))
            self.gate.sinks.append(lambda r: historian.event(
                r.t, "command", r.command.target, f"{r.command.action}: "
                f"{'done' if r.decision.accepted else 'refused'} {r.decision.reason}",
                {"source": r.command.source, "user": r.command.user,
                 "params": r.command.params}))
        self._stopping = False
        self.scans = 0

    def record_config(self, digest: str, source: str) -> None:
        """Audit the config the controller runs on, when it differs from the last one."""
        if self.audit is None:
            return
        last = self.audit.last_of("config")
        if last is not None and last["result"] == digest:
            return
        try:
            self.audit.append(ts=self.clock.now(), kind="config", actor="controller",
                              source="startup", target=self.cfg.site.id,
                              action="changed" if last else "first",
                              params={"file": source}, decision="accepted", result=digest)
        except AuditError as e:   # supervise all the same; the audit alarm says it
            log.error("config change not audited: %s", e)

    def _lifecycle(self, what: str) -> None:
        """A planned start or stop is an event in the history, not an alarm. A start
        records the clock, so ``fixedsite plan`` beside it runs on the same time."""
        if self.historian is not None:
            c = self.clock
            data = {"clock": {"scale": c.scale, "origin": c.origin, "anchor": c.anchor}} \
                if what == "started" and isinstance(c, ScaledClock) else None
            self.historian.event(c.now(), "lifecycle", self.cfg.site.id, what, data)
        log.info("controller %s", what)

    async def start(self) -> None:
        for part in (self.audit, self.historian, self.uplink):
            if part is not None:            # its controller.<part>.* tags, alarmed
                part.publish_health(self.store)
        for fn in self._build.starts:          # e.g. a planner seeded from the history
            fn(self.historian)
        self._lifecycle("started")
        sup = self.supervisor
        for name, d in self.drivers.items():
            sup.start(f"driver-{name}", d.run,
                      on_failure=lambda why, d=d: d.mark_offline(f"driver task failed: {why}"))
        for group in self._groups:
            sup.start(f"scan-{group}", lambda g=group: self._scan_loop(g))  # type: ignore[misc]
        self.availability.running_since = self.clock.now()
        sup.start("availability", lambda: self.availability.run(self.historian))
        if self.historian is not None:
            sup.start("history", self._history_loop)
        if self.uplink is not None:
            sup.start("uplink", self.uplink.run)

    async def stop(self) -> None:
        # transitions' AsyncMachine swallows a CancelledError that lands inside a trigger,
        # so the scan loop also watches a flag; no task may keep the controller alive.
        self._stopping = True
        self.supervisor.winding_down()
        # a planned stop: the links we close ourselves are not lost communication
        self.alarms.close()
        self._lifecycle("stopped")
        for d in self.drivers.values():
            await d.close()
        for name in await self.supervisor.stop():
            log.error("task %s did not stop in time", name)

    async def scan(self) -> None:
        """One pass of every system's parts and the alarm timers (what the live loops do
        each period, each system in its own task)."""
        for group in self._groups:
            await self.scan_group(group)
        self.scans += 1

    async def scan_group(self, group: str) -> None:
        """One pass of a system's parts in order; a part that raises fails alone (its tags
        go bad, ``controller.scan.ok`` says so) and the others go on. A part still running
        after ``step_timeout_s`` is reported stuck the same way, but never cancelled: a
        sequence cut inside a transition would have moved its state without writing its
        commands (transitions swallows the cancel), so it is waited for, alarmed, while
        the other systems and the alarms scan on in their own tasks."""
        health = self.scan_health
        for name, step, fed in self._groups[group]:
            task = asyncio.ensure_future(step())
            try:
                done, _ = await asyncio.wait({task}, timeout=self.step_timeout_s)
                if not done:
                    health.failed(name, TimeoutError(
                        f"still running after {self.step_timeout_s:g} s: stuck"), fed)
                    await asyncio.shield(task)      # our own cancel must not reach it
                task.result()
            except asyncio.CancelledError:
                # the controller stops: what it cut short is adopted at the next start
                # (a sequence finds its step from the plant), as after a crash
                task.cancel()
                raise
            except Exception as e:
                health.failed(name, e, fed)
            else:
                health.passed(name, fed)

    async def _tick_alarms(self) -> None:
        self.alarms.tick()

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

    async def _scan_loop(self, group: str) -> None:
        period = self.cfg.controller.scan_period_s
        while not self._stopping:
            await self.scan_group(group)
            if group == "alarms":
                self.scans += 1
            await asyncio.sleep(max(period / self.clock.scale, 0.005))
