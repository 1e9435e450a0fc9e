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
from dataclasses import dataclass

from fixedsite.clock import ScaledClock
from fixedsite.config import HilDrainage, PumpEq, SiteConfig, SumpEq, ValveEq
from fixedsite.hil.drainage import DrainagePlant, Inflow, PumpSpec, Sump
from fixedsite.hil.drainage_plc import DrainagePlc
from fixedsite.hil.modbus_server import ImageServer

log = logging.getLogger(__name__)

SCAN_FLOOR_S = 0.005     # wall time between PLC scans, at most 200 scans a second
SCAN_SIM_S = 1.0         # aim for one scan per simulated second
SCAN_CEIL_S = 0.1


@dataclass
class DrainageUnit:
    """One pump room: its plant, its PLC and the server in front of it."""

    cfg: HilDrainage
    plant: DrainagePlant
    plc: DrainagePlc
    server: ImageServer


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
    return DrainageUnit(h, plant, plc, ImageServer(plc, p.host, p.port, p.device_id))


class HilSite:
    def __init__(self, cfg: SiteConfig, clock: ScaledClock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.units = [build_drainage(cfg, h, clock) for h in cfg.hil.drainage]
        rooms = {u.cfg.system: u.plant for u in self.units}
        for u in self.units:                     # relay: a lower room's pumps fill this sump
            up = cfg.systems[u.cfg.system].discharges_into
            if up is not None and up in rooms:
                rooms[up].feeders.append(u.plant)
        self._task: asyncio.Task[None] | None = None
        self.scans = 0
        self._scanned = asyncio.Event()

    @property
    def drainage(self) -> DrainageUnit:
        return self.units[0]

    async def start(self) -> None:
        now = self.clock.now()
        for u in self.units:
            u.plc.scan(now, 0.0)          # a PLC serves its inputs only after its first scan
            await u.server.start()
        self._task = asyncio.create_task(self._run(), name="hil-site")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for u in self.units:
            await u.server.stop()

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
            for u in self.units:
                await u.server.pull()
                u.plant.step(now - dt, dt)
                u.plc.scan(now, dt)
                await u.server.push()
            self.scans += 1
            self._scanned.set()
