"""Driving a running HIL from outside: the faults a test engineer can inject, and the small
local channel they arrive by.

A fault is named as the test engineer reads it in the config (``pump1``, ``valve2``,
``lt1``, ``drain1``, ``drainage``), never by the PLC's internal numbering. A request is
resolved against the config first (``parse``: unknown equipment, unknown fault or a bad
value is refused with a reason), so a scenario file is checked before anything starts by
the same code that checks a request from another shell.

The channel is a Unix socket in the storage dir (``hil.sock``, mode 0600: only the user
running the HIL may drive it), one JSON object a line each way. Whatever arrives, the
answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a bad request never
reaches the plant and never stops the HIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixedsite.config import SiteConfig
from fixedsite.sequences.drainage.config import PumpEq, SumpEq

log = logging.getLogger(__name__)

SOCKET_NAME = "hil.sock"
MAX_LINE = 64 * 1024          # a request longer than this is refused, not buffered
SUN_PATH_MAX = 107            # bytes of a Unix socket path (Linux: 108 with the NUL)


class InjectError(ValueError):
    """A request that cannot be applied: the message says why, in one line; ``key`` says
    which part of the request is wrong (inject, target or args)."""

    def __init__(self, message: str, key: str = "args") -> None:
        super().__init__(message)
        self.key = key


class HilError(RuntimeError):
    """The control channel cannot be opened (another HIL runs here, a path too long)."""


class NoHil(ConnectionError):
    """Nobody answers on the control socket: no HIL is running for this config."""


@dataclass(frozen=True)
class Fault:
    kind: str        # what the target names: pump, valve, sensor, system, plc
    args: str        # what follows the target, as --list shows it
    help: str


FAULTS: dict[str, Fault] = {
    "pump-trip": Fault("pump", "[on|off]", "the motor's overload relay trips the pump (off: "
                       "the cause is gone; the controller must still reset the fault)"),
    "valve-stuck": Fault("valve", "[on|off]", "the discharge valve's actuator stops where "
                         "it is"),
    "sensor-stuck": Fault("sensor", "[on|off]", "the level transmitter freezes at its "
                          "present reading"),
    "sensor-drift": Fault("sensor", "M_PER_H", "the transmitter's reading drifts by this "
                          "many m an hour from now (0: drift and offset gone)"),
    "inflow-surge": Fault("system", "M3H [DURATION_S]", "this much more inflow into the "
                          "system's sump from now, for DURATION_S simulated s (default 3600)"),
    "local": Fault("pump", "[on|off]", "the pump's field selector to LOCAL: the PLC ignores "
                   "remote commands (off: back to remote)"),
    "link": Fault("plc", "down|up", "the PLC's server (Modbus or S7) stops (connections refused, "
                  "open ones dropped) or comes back"),
    "heartbeat-deaf": Fault("plc", "[on|off]", "the PLC stops seeing the controller's "
                            "heartbeat while the link stays up"),
}
KIND_WORDS = {"pump": "pump", "valve": "valve", "sensor": "level sensor",
              "system": "system", "plc": "PLC"}
SURGE_DEFAULT_S = 3600.0


@dataclass(frozen=True)
class Injection:
    """A fault resolved against the config: which HIL unit, which item in it, what value."""

    fault: str
    unit: int                 # index into HilSite.units
    item: int                 # pump / valve / sensor index in the unit; -1 for system, plc
    target: str               # as the config names it: "drainage.pump1", "drain1"
    on: bool = True
    number: float = 0.0       # sensor-drift m/h, inflow-surge m3/h
    duration_s: float = 0.0   # inflow-surge

    def describe(self) -> str:
        """One line saying what was done, for the answer, the status and the log."""
        f = self.fault
        if f == "sensor-drift":
            return f"{self.target}: drift {self.number:g} m/h"
        if f == "inflow-surge":
            return f"{self.target}: inflow +{self.number:g} m3/h for {self.duration_s:g} s"
        if f == "link":
            return f"{self.target}: link {'down' if not self.on else 'up'}"
        word = {"pump-trip": "trip", "valve-stuck": "stuck", "sensor-stuck": "stuck",
                "local": "local", "heartbeat-deaf": "heartbeat deaf"}[f]
        return f"{self.target}: {word} {'on' if self.on else 'off'}"


@dataclass(frozen=True)
class UnitNames:
    """What a HIL unit's items are called in the config, in the PLC's order."""

    system: str
    plc: str
    pumps: list[str]
    valves: list[str]
    sensors: list[str]


def unit_names(cfg: SiteConfig) -> list[UnitNames]:
    out = []
    for h in cfg.hil.drainage:
        system = cfg.systems[h.system]
        pumps = list(system.control.pumps)
        valves = [eq.valve for p in pumps if isinstance(eq := system.equipment[p], PumpEq)]
        sump = system.equipment[system.control.sump]
        sensors = list(sump.sensors) if isinstance(sump, SumpEq) else []
        out.append(UnitNames(h.system, h.plc, pumps, valves, sensors))
    return out


def targets(cfg: SiteConfig) -> dict[str, list[str]]:
    """Every name each kind of fault can be aimed at, as ``--list`` shows them."""
    units = unit_names(cfg)
    return {"pump": [f"{u.system}.{p}" for u in units for p in u.pumps],
            "valve": [f"{u.system}.{v}" for u in units for v in u.valves],
            "sensor": [f"{u.system}.{s}" for u in units for s in u.sensors],
            "system": [u.system for u in units],
            "plc": [u.plc for u in units]}


def _resolve(cfg: SiteConfig, kind: str, target: object) -> tuple[int, int, str]:
    """(unit, item, canonical name) for ``target``; a bare equipment name is taken when
    only one system has it (the demo's two rooms both have a pump1: say which)."""
    if not isinstance(target, str) or not target:
        raise InjectError(f"a {KIND_WORDS[kind]} is needed (one of: "
                          f"{', '.join(targets(cfg)[kind])})", "target")
    units = unit_names(cfg)
    if kind in ("system", "plc"):
        for i, u in enumerate(units):
            if target in (u.system, u.plc):
                return i, -1, u.system if kind == "system" else u.plc
        raise InjectError(f"unknown {KIND_WORDS[kind]} {target!r} (the HIL's: "
                          f"{', '.join(targets(cfg)[kind])})", "target")
    system, _, name = target.rpartition(".")
    found = []
    for i, u in enumerate(units):
        items = {"pump": u.pumps, "valve": u.valves, "sensor": u.sensors}[kind]
        if system in ("", u.system) and name in items:
            found.append((i, items.index(name), f"{u.system}.{name}"))
    if len(found) == 1:
        return found[0]
    if found:
        raise InjectError(f"{target!r} is in more than one system: say "
                          f"{' or '.join(f[2] for f in found)}", "target")
    raise InjectError(f"unknown {KIND_WORDS[kind]} {target!r} (the HIL's: "
                      f"{', '.join(targets(cfg)[kind])})", "target")


def _switch(args: Sequence[object], words: tuple[str, str] = ("on", "off"),
            default: bool | None = True) -> bool:
    if not args:
        if default is None:
            raise InjectError(f"say {words[0]} or {words[1]}")
        return default
    if len(args) > 1 or str(args[0]).lower() not in words:
        raise InjectError(f"expected {words[0]} or {words[1]}, got "
                          f"{' '.join(map(str, args))!r}")
    return str(args[0]).lower() == words[0]


def _number(value: object, what: str, lo: float, hi: float) -> float:
    try:
        x = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        x = math.nan
    if not math.isfinite(x) or not lo <= x <= hi:
        raise InjectError(f"{what}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return x


def parse(cfg: SiteConfig, fault: object, target: object,
          args: Sequence[object] = ()) -> Injection:
    """A request checked against the config, or InjectError saying what is wrong."""
    if not isinstance(fault, str) or fault not in FAULTS:
        raise InjectError(f"unknown fault {fault!r} (one of: {', '.join(FAULTS)})", "inject")
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise InjectError(f"args: expected a list, got {args!r}")
    kind = FAULTS[fault].kind
    unit, item, name = _resolve(cfg, kind, target)
    if fault == "sensor-drift":
        if len(args) != 1:
            raise InjectError("sensor-drift takes one number, m/h (0 stops the drift)")
        return Injection(fault, unit, item, name, number=_number(args[0], "m/h", -10, 10))
    if fault == "inflow-surge":
        if not 1 <= len(args) <= 2:
            raise InjectError("inflow-surge takes m3/h and, optionally, a duration in s")
        m3h = _number(args[0], "m3/h", 0, 100_000)
        duration = _number(args[1], "duration s", 1, 1e7) if len(args) > 1 else \
            SURGE_DEFAULT_S
        return Injection(fault, unit, item, name, number=m3h, duration_s=duration)
    if fault == "link":
        return Injection(fault, unit, item, name, on=_switch(args, ("up", "down"), None))
    return Injection(fault, unit, item, name, on=_switch(args))


# --- the channel ------------------------------------------------------------------------
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    """The HIL's end of the channel: a Unix socket answering JSON lines with ``handle``."""

    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = Path(path)
        self.handle = handle
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        path = self.path
        if len(os.fsencode(path.absolute())) > SUN_PATH_MAX:
            raise HilError(f"control socket path too long for a Unix socket ({path}); "
                           "give [storage] dir a shorter path")
        path.parent.mkdir(parents=True, exist_ok=True)
        _claim(path)
        # bound in a fresh 0700 directory, made 0600 and only then moved into place: no
        # moment where another user could connect to it
        tmp = Path(tempfile.mkdtemp(prefix=".hil-", dir=path.parent))
        try:
            self._server = await asyncio.start_unix_server(self._client, path=tmp / "s",
                                                           limit=MAX_LINE)
            os.chmod(tmp / "s", 0o600)
            os.replace(tmp / "s", path)
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(tmp)
        log.info("HIL control socket at %s", path)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        self._server = None

    async def _client(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as e:
                    if not e.partial.strip():
                        return
                    line = e.partial                  # a last request without its newline
                except asyncio.LimitOverrunError:
                    await _send(writer, {"ok": False, "error": f"request longer than "
                                                               f"{MAX_LINE} bytes"})
                    return
                if not line.strip():
                    continue
                await _send(writer, await self._answer(line))
        except (ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            return {"ok": False, "error": f"not a JSON line: {type(e).__name__}"
                                          f"{': ' + str(e) if str(e) else ''}"[:300]}
        if not isinstance(request, dict):
            return {"ok": False, "error": "expected a JSON object such as "
                                          '{"op": "inject", "fault": ..., "target": ...}'}
        try:
            return await self.handle(request)
        except InjectError as e:
            return {"ok": False, "error": str(e)}
        except Exception as e:       # the plant keeps running whatever one request did
            log.exception("HIL control request %r", request)
            return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}


async def _send(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
    writer.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
    await writer.drain()


def _claim(path: Path) -> None:
    """Make way for our socket: a live HIL's socket is refused, a dead one's removed."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise HilError(f"{path} exists and is not a socket; move it away")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)        # left by a HIL that did not stop cleanly
            return
    raise HilError(f"another HIL is running with this storage dir (control socket {path})")


def request(path: Path, message: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a running HIL and return its answer; NoHil when none runs."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NoHil(f"no HIL is running for this config (nothing answers on {path})") \
                from e
        s.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        answer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        answer = None
    if not isinstance(answer, dict):
        raise NoHil(f"{path} answered {data[:80]!r}, not a HIL's answer")
    return answer
