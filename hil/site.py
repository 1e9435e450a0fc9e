"""The simulated site: plants and PLCs built from a site config, served on loopback.

One loop steps every plant in simulated time and scans every PLC. The HIL knows nothing
of the controller: it reads the site config only for what is physically there (a sump's
curve, pump ratings, valve travel) and its own ``[hil]`` section (inflow, floats,
watchdog), and is reached only through its PLCs' servers, as a real PLC would be. It
knows no kind of plant either: each ``[[hil.<kind>]]`` is built into units by that
system's ``HilKind`` (``hil/unit.py``) and served by its PLC's protocol
(``hil/servers.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil import state as plant_state
from fixedsite.hil.control import SOCKET_NAME, ControlServer
from fixedsite.hil.faults import InjectError, Injection, faults, parse, targets
from fixedsite.hil.scenario import Step
from fixedsite.hil.servers import served
from fixedsite.hil.unit import HilUnit, kinds

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


class HilSite:
    """Every simulated plant of a config, stepped on one clock.

    Built bare (``HilSite(cfg, clock)``, as tests and benches do) it is only the plants and
    their PLCs' servers. A run for people adds, each optional: ``control``, the socket that
    ``fixedsite hil inject`` talks to; ``state``, the file the plant is restored from
    (unless ``fresh``) and saved to; ``scenario``, faults at set times from the start."""

    def __init__(self, cfg: SiteConfig, clock: ScaledClock, *, control: Path | None = None,
                 state: Path | None = None, fresh: bool = False,
                 scenario: Sequence[Step] = ()) -> None:
        self.cfg = cfg
        self.clock = clock
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

    def _build(self) -> list[HilUnit]:
        units: list[HilUnit] = []
        for _, hk, entries in kinds(self.cfg):
            units += hk.build(self.cfg, entries, self.clock)
        for u in units:
            p = self.cfg.plcs[u.cfg.plc]
            u.server = served(p.protocol).serve(u.plc, p, u.register_map())
        return units

    async def start(self) -> None:
        if self._control is not None:     # first: a second HIL on this storage is refused
            await self._control.start()   # before it restores or binds anything
        try:
            self._restore()
            now = self.t0 = self.clock.now()
            for u in self.units:
                u.first_scan(now)         # a PLC serves its inputs only after its first scan
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
            plant_state.restore(plant_state.read(path), self.units)
        except plant_state.StateError as e:
            self.units = self._build()       # nothing half-restored is kept
            self.state_note = f"{path}: {e}; plant started fresh"
            log.info("%s", self.state_note)        # the command that started us prints it
            return
        brief = ", ".join(f"{u.system} {u.brief()}" for u in self.units)
        self.state_note = f"plant state restored from {path} ({brief})"

    def save_state(self) -> None:
        """Save the plant now (on stop, and every STATE_EVERY_S while running); a disk
        that refuses is logged, never raised into the plant's loop."""
        if self.state_file is None:
            return
        try:
            plant_state.save(self.state_file, plant_state.snapshot(
                self.units, self.cfg.site.id, self.clock.now()))
        except (OSError, ValueError) as e:
            log.warning("cannot save the HIL's plant state to %s: %s", self.state_file, e)
        self._saved_wall = time.monotonic()

    # --- faults -------------------------------------------------------------------------
    async def inject(self, inj: Injection, by: str = "control") -> str:
        """Apply a fault already checked against the config; the answer says what changed."""
        u = self.units[inj.unit]
        if inj.fault == "link":
            async with self._lock:
                if inj.on and not u.server.running:
                    await u.server.start()
                elif not inj.on and u.server.running:
                    await u.server.stop()
        elif inj.fault == "heartbeat-deaf":
            u.heartbeat_deaf(inj.on)
        else:
            u.inject(inj, self.clock.now())
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
                                               "help": v.help}
                                           for k, v in faults(self.cfg).items()},
                    "targets": targets(self.cfg)}
        if op == "status":
            return {"ok": True, "t": self.clock.now() - self.t0, "units": [
                {"system": u.system, "plc": u.cfg.plc,
                 "link": "up" if u.server.running else "down"} | u.status()
                for u in self.units]}
        raise InjectError(f"unknown op {op!r} (inject, list or status)")

    async def scanned(self) -> None:
        """Wait for the next completed PLC scan."""
        self._scanned.clear()
        await self._scanned.wait()

    def unit(self, system: str) -> HilUnit:
        """The unit that simulates ``system`` (as the config names it)."""
        return next(u for u in self.units if u.system == system)

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
                    u.advance(now, dt)
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
