"""The simulated site: plants and PLCs built from a site config, served on loopback.

One loop steps every plant in simulated time and scans every PLC. The HIL knows nothing
of the controller: it reads the site config only for what is physically there (sump
curve, pump ratings, valve travel) and its own ``[hil]`` section (inflow, floats,
watchdog), and is reached only through its Modbus servers, as a real PLC would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil import state as plant_state
from fixedsite.hil.control import (
    FAULTS,
    SOCKET_NAME,
    ControlServer,
    InjectError,
    Injection,
    parse,
    targets,
    unit_names,
)
from fixedsite.hil.drainage.plant import DrainagePlant, Inflow, PumpSpec, Sump
from fixedsite.hil.drainage.plc import DrainagePlc, register_map
from fixedsite.hil.modbus_server import ImageServer
from fixedsite.hil.s7_image import S7ImageServer
from fixedsite.hil.scenario import Step
from fixedsite.sequences.drainage.config import HilDrainage, PumpEq, SumpEq, ValveEq

log = logging.getLogger(__name__)

STATE_EVERY_S = 30.0     # wall seconds between saves of the plant state while running


def control_path(cfg: SiteConfig) -> Path:
    """Where a HIL run for ``cfg`` listens for ``fixedsite hil inject``."""
    return cfg.storage_dir() / SOCKET_NAME


def state_path(cfg: SiteConfig) -> Path:
    """Where a HIL run for ``cfg`` keeps its plant between runs."""
    return cfg.storage_dir() / plant_state.STATE_NAME

SCAN_FLOOR_S = 0.005     # wall time between PLC scans, at most 200 scans a second
SCAN_SIM_S = 1.0         # aim for one scan per simulated second
SCAN_CEIL_S = 0.1


@dataclass
class DrainageUnit:
    """One pump room: its plant, its PLC and the server in front of it."""

    cfg: HilDrainage
    plant: DrainagePlant
    plc: DrainagePlc
    server: ImageServer | S7ImageServer


def build_drainage(cfg: SiteConfig, h: HilDrainage, clock: ScaledClock) -> DrainageUnit:
    system = cfg.systems[h.system]
    ctl = system.control
    sump_eq = system.equipment[ctl.sump]
    assert isinstance(sump_eq, SumpEq)
    specs, travels = [], []
    for name in ctl.pumps:
        pump = system.equipment[name]
        assert isinstance(pump, PumpEq)
        valve = system.equipment[pump.valve]
        assert isinstance(valve, ValveEq)
        specs.append(PumpSpec(pump.rated_flow_m3h, pump.rated_head_m, pump.rated_power_kw,
                              pump.rated_current_a, pump.efficiency, h.static_head_m,
                              h.priming_s, h.prime_hold_s))
        travels.append(valve.travel_s)
    plant = DrainagePlant(
        Sump(sump_eq.volume_curve, h.initial_level_m),
        Inflow(h.normal_inflow_m3h, h.daily_swing, h.noise, h.seed),
        specs, travels, len(sump_eq.sensors),
        (h.float_low_m, h.float_high_m, h.float_highhigh_m), seed=h.seed)
    plc = DrainagePlc(plant, clock.guard_timeout(h.watchdog_s), len(sump_eq.sensors),
                      initial_mode=2 if h.initial_mode == "remote-auto" else 1)
    p = cfg.plcs[h.plc]
    server: ImageServer | S7ImageServer
    if p.protocol == "s7":      # the same PLC image, laid out in S7 memory (hil/s7_image.py)
        server = S7ImageServer(plc, p.host, p.port,
                               register_map(len(ctl.pumps), len(sump_eq.sensors)))
    else:
        server = ImageServer(plc, p.host, p.port, p.device_id)
    return DrainageUnit(h, plant, plc, server)


class HilSite:
    """Every simulated pump room of a config, stepped on one clock.

    Built bare (``HilSite(cfg, clock)``, as tests and benches do) it is only the plant and
    its Modbus servers. A run for people adds, each optional: ``control``, the socket that
    ``fixedsite hil inject`` talks to; ``state``, the file the plant is restored from
    (unless ``fresh``) and saved to; ``scenario``, faults at set times from the start."""

    def __init__(self, cfg: SiteConfig, clock: ScaledClock, *, control: Path | None = None,
                 state: Path | None = None, fresh: bool = False,
                 scenario: Sequence[Step] = ()) -> None:
        self.cfg = cfg
        self.clock = clock
        self.names = unit_names(cfg)
        self.units = self._build()
        self._task: asyncio.Task[None] | None = None
        self.scans = 0
        self._scanned = asyncio.Event()
        self._lock = asyncio.Lock()         # a scan and a link going down never interleave
        self._control = ControlServer(control, self.handle) if control is not None else None
        self.state_file = state
        self.fresh = fresh
        self.state_note = ""                # one line: restored, fresh, or why fresh
        self.scenario = sorted(scenario, key=lambda s: s.t)
        self._next_step = 0
        self.t0 = 0.0                       # sim time of start(): scenario times count from it
        self.injected: list[tuple[float, str, str]] = []   # (sim time, what, by whom)
        self._saved_wall = 0.0

    def _build(self) -> list[DrainageUnit]:
        units = [build_drainage(self.cfg, h, self.clock) for h in self.cfg.hil.drainage]
        rooms = {u.cfg.system: u.plant for u in units}
        for u in units:                          # relay: a lower room's pumps fill this sump
            up = self.cfg.systems[u.cfg.system].discharges_into
            if up is not None and up in rooms:
                rooms[up].feeders.append(u.plant)
        return units

    @property
    def drainage(self) -> DrainageUnit:
        return self.units[0]

    async def start(self) -> None:
        if self._control is not None:     # first: a second HIL on this storage is refused
            await self._control.start()   # before it restores or binds anything
        try:
            self._restore()
            now = self.t0 = self.clock.now()
            for u in self.units:
                u.plc.scan(now, 0.0)      # a PLC serves its inputs only after its first scan
                await u.server.start()
        except BaseException:
            await self._stop_servers()
            raise
        self._saved_wall = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="hil-site")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.save_state()
        await self._stop_servers()

    async def _stop_servers(self) -> None:
        if self._control is not None:
            await self._control.stop()
        for u in self.units:
            await u.server.stop()

    # --- the plant kept across runs ------------------------------------------------------
    def _restore(self) -> None:
        path = self.state_file
        if path is None:
            return
        if self.fresh:
            self.state_note = f"plant started fresh (--fresh); its state goes to {path}"
            return
        if not path.exists():
            self.state_note = f"plant started fresh: no saved state at {path} yet"
            return
        try:
            plant_state.restore(plant_state.read(path), self.units, self.names)
        except plant_state.StateError as e:
            self.units = self._build()       # nothing half-restored is kept
            self.state_note = f"{path}: {e}; plant started fresh"
            log.info("%s", self.state_note)        # the command that started us prints it
            return
        levels = ", ".join(f"{u.cfg.system} {u.plant.sump.level:.2f} m" for u in self.units)
        self.state_note = f"plant state restored from {path} ({levels})"

    def save_state(self) -> None:
        """Save the plant now (on stop, and every STATE_EVERY_S while running); a disk
        that refuses is logged, never raised into the plant's loop."""
        if self.state_file is None:
            return
        try:
            plant_state.save(self.state_file, plant_state.snapshot(
                self.units, self.names, self.cfg.site.id, self.clock.now()))
        except (OSError, ValueError) as e:
            log.warning("cannot save the HIL's plant state to %s: %s", self.state_file, e)
        self._saved_wall = time.monotonic()

    # --- faults -------------------------------------------------------------------------
    async def inject(self, inj: Injection, by: str = "control") -> str:
        """Apply a fault already checked against the config; the answer says what changed."""
        u = self.units[inj.unit]
        f, i, on = inj.fault, inj.item, inj.on
        if f == "pump-trip":
            u.plc.inject_trip(i, on)
        elif f == "valve-stuck":
            u.plc.inject_valve_stuck(i, on)
        elif f == "sensor-stuck":
            u.plc.inject_sensor_stuck(i, on)
        elif f == "sensor-drift":
            sensor = u.plant.sensors[i]
            sensor.drift_m_per_h = inj.number
            if inj.number == 0.0:
                sensor.offset_m = 0.0
        elif f == "inflow-surge":
            now = self.clock.now()
            u.plant.inflow.surges.append((now, now + inj.duration_s, inj.number))
        elif f == "local":
            u.plc.set_local(i, on)
        elif f == "link":
            async with self._lock:
                if on and not u.server.running:
                    await u.server.start()
                elif not on and u.server.running:
                    await u.server.stop()
        elif f == "heartbeat-deaf":
            u.plc.inject_heartbeat_deaf(on)
        else:                                 # FAULTS and this method disagree: a bug
            raise InjectError(f"fault {f!r} is listed but not implemented")
        what = inj.describe()
        self.injected.append((self.clock.now(), what, by))
        log.info("HIL %s: %s", by, what)
        return what

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request of the control channel (see ``hil/control.py``)."""
        op = request.get("op")
        if op == "inject":
            inj = parse(self.cfg, request.get("fault"), request.get("target"),
                        request.get("args", []))
            return {"ok": True, "result": await self.inject(inj)}
        if op == "list":
            return {"ok": True, "faults": {k: {"target": v.kind, "args": v.args,
                                               "help": v.help} for k, v in FAULTS.items()},
                    "targets": targets(self.cfg)}
        if op == "status":
            return {"ok": True, "t": self.clock.now() - self.t0, "units": [
                {"system": u.cfg.system, "plc": u.cfg.plc, "level_m": u.plant.sump.level,
                 "link": "up" if u.server.running else "down", "fallback": u.plc.fallback,
                 "pumps": {n: {"running": p.motor_on, "flow_m3h": p.flow,
                               "fault": u.plc.fault[k], "local": u.plc.local[k],
                               "run_hours": p.run_hours}
                           for k, (n, p) in enumerate(zip(names.pumps, u.plant.pumps,
                                                          strict=True))}}
                for u, names in zip(self.units, self.names, strict=True)]}
        raise InjectError(f"unknown op {op!r} (inject, list or status)")

    async def scanned(self) -> None:
        """Wait for the next completed PLC scan."""
        self._scanned.clear()
        await self._scanned.wait()

    def unit(self, system: str) -> DrainageUnit:
        return next(u for u in self.units if u.cfg.system == system)

    def surge(self, unit: int, start_in_s: float, duration_s: float, m3h: float) -> None:
        t0 = self.clock.now() + start_in_s
        self.units[unit].plant.inflow.surges.append((t0, t0 + duration_s, m3h))

    async def _run(self) -> None:
        period = min(max(SCAN_SIM_S / self.clock.scale, SCAN_FLOOR_S), SCAN_CEIL_S)
        last = self.clock.now()
        while True:
            await asyncio.sleep(period)
            now = self.clock.now()
            dt, last = now - last, now
            async with self._lock:
                for u in self.units:
                    await u.server.pull()
                    u.plant.step(now - dt, dt)
                    u.plc.scan(now, dt)
                    await u.server.push()
            await self._scenario_due(now)
            if self.state_file is not None and \
                    time.monotonic() - self._saved_wall > STATE_EVERY_S:
                self.save_state()
            self.scans += 1
            self._scanned.set()

    async def _scenario_due(self, now: float) -> None:
        while self._next_step < len(self.scenario) and \
                self.scenario[self._next_step].t <= now - self.t0:
            step = self.scenario[self._next_step]
            self._next_step += 1
            try:
                await self.inject(step.injection, by=f"scenario t={step.t:g}")
            except Exception:             # one step failing is logged, the run goes on
                log.exception("scenario step at t=%g", step.t)
