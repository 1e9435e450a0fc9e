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
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil import state as plant_state
from fixedsite.hil.control import SOCKET_NAME, ControlServer
from fixedsite.hil.faults import InjectError, Injection, faults, parse, targets
from fixedsite.hil.inbox import Inbox
from fixedsite.hil.scenario import Step
from fixedsite.hil.servers import served
from fixedsite.hil.unit import HilKindError, HilUnit, kinds

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
        self.inbox = _inbox(cfg)            # the people's mail and chat, simulated
        self.scenario = sorted(scenario, key=lambda s: s.t)
        self._next_step = 0
        self.t0 = 0.0                       # sim time of start(): scenario times count from it
        self.injected: list[tuple[float, str, str]] = []   # (sim time, what, by whom)
        self._saved_wall = 0.0

    def _build(self) -> list[HilUnit]:
        """Every kind's units, each checked to be its entry's: faults are aimed at a unit
        by its place (hil/faults.py) and at an item by its index among the names the
        kind's ``items`` gives, so a builder that reorders or renames would send a fault
        to the wrong plant."""
        units: list[HilUnit] = []
        for kind, hk, entries in kinds(self.cfg):
            built = list(hk.build(self.cfg, entries, self.clock))
            if len(built) != len(entries) or any(u.cfg is not e for u, e in
                                                 zip(built, entries, strict=False)):
                raise HilKindError(f"hil.{kind}: its builder must return one unit per "
                                   f"[[hil.{kind}]] entry, in their order")
            for u, e in zip(built, entries, strict=True):
                want = hk.items(self.cfg, e)
                if {k: list(v) for k, v in u.items.items()} != want:
                    raise HilKindError(f"hil.{kind}: the unit of {e.system}/{e.plc} has "
                                       f"items {dict(u.items)}, its kind names {want}")
            units += built
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
            if self.inbox is not None:
                await self.inbox.start()
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
        if self.inbox is not None:
            await self.inbox.stop()
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
        except Exception as e:          # a disk that refuses, a plant model that raises
            log.warning("cannot save the HIL's plant state to %s: %s", self.state_file, e)
        self._saved_wall = time.monotonic()

    # --- faults -------------------------------------------------------------------------
    async def inject(self, inj: Injection, by: str = "control") -> str:
        """Apply a fault already checked against the config; the answer says what changed."""
        u = self.units[inj.unit]
        if u.failed is not None:
            raise InjectError(f"{u.system}: its simulation failed ({u.failed}); restart the "
                              "HIL")
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
            # ready: every PLC's server bound and the plant running (the control socket
            # answers before, so a second HIL is refused before it binds anything)
            return {"ok": True, "pid": os.getpid(), "ready": self._task is not None,
                    "t": self.clock.now() - self.t0, "units": [
                self.status_of(u) | {"system": u.system, "plc": u.cfg.plc,
                                     "link": "up" if u.server.running else "down"}
                for u in self.units]}
        raise InjectError(f"unknown op {op!r} (inject, list or status)")

    def status_of(self, u: HilUnit) -> dict[str, Any]:
        """A unit's status, or why it has none: a model that raises here too is shown
        failed, never a traceback in the status line."""
        if u.failed is None:
            try:
                return u.status()
            except Exception as e:
                log.exception("HIL unit %s: status", u.system)
                return {"text": f"status unavailable: {type(e).__name__}: {e}"}
        return {"text": f"FAILED ({u.failed}): its PLC is stopped", "failed": u.failed}

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
                    if u.failed is None:
                        await self._step(u, now, dt)
            await self._scenario_due(now)
            if self.state_file is not None and \
                    time.monotonic() - self._saved_wall > STATE_EVERY_S:
                self.save_state()
            self.scans += 1
            self._scanned.set()

    async def _step(self, u: HilUnit, now: float, dt: float) -> None:
        """One unit's scan. A plant or PLC model that raises fails alone, as a PLC whose
        program faults goes to STOP: its server stops (the controller sees the link lost,
        never frozen values that look alive), the rest of the site steps on."""
        try:
            await u.server.pull()
            u.advance(now, dt)
            await u.server.push()
        except Exception as e:
            u.failed = f"{type(e).__name__}: {e}"
            log.exception("HIL unit %s (PLC %s) failed; its server is stopped", u.system,
                          u.cfg.plc)
            with contextlib.suppress(Exception):
                await u.server.stop()

    async def _scenario_due(self, now: float) -> None:
        while self._next_step < len(self.scenario) and \
                self.scenario[self._next_step].t <= now - self.t0:
            step = self.scenario[self._next_step]
            self._next_step += 1
            try:
                await self.inject(step.injection, by=f"scenario t={step.t:g}")
            except Exception:             # one step failing is logged, the run goes on
                log.exception("scenario step at t=%g", step.t)


def _inbox(cfg: SiteConfig) -> Inbox | None:
    """The stand-ins when the site asks for them ([hil.inbox]); they check what arrives
    with the secrets the controller's channels use, as the real services would."""
    box = cfg.hil.inbox
    if box is None:
        return None
    from fixedsite.notify.config import secret

    def get(name: str) -> str:
        return (secret(cfg.notify, name) or "") if cfg.notify is not None else ""
    return Inbox(smtp_port=box.smtp_port, http_port=box.http_port,
                 folder=cfg.storage_dir() / "inbox", dingtalk_secret=get("dingtalk_secret"),
                 sms_token=get("sms_token"), smtp_user=get("smtp_user"),
                 smtp_password=get("smtp_password"))
