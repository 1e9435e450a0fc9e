"""One compressor as the supervisor sees and commands it.

Its state is read, never guessed: the PLC runs the machine (start unloaded, load, unload,
run down, trips); the supervisor derives a state for people and for the station control
(``unknown`` without good data, ``local``, ``no supply`` when its upstream supply is lost
(stopped, not tripped), ``tripped`` with the PLC's cause, else the PLC's own state), and
asks through commands: Start, Stop, Load, Unload, Reset, SetMode. Each write is verified
by read-back. In remote-auto only the station control commands it; in remote-manual only
an operator does. A start is refused without its permissives: supply, no trip, cooling
water proven for a water-cooled machine, the motor's starts per hour.

Specific power (kW per m3/min) is tracked while loaded from its own power and flow,
averaged over the loaded time of the last hour.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.compressed_air.config import CompressorEq
from fixedsite.sequences.compressed_air.equipment import STATES
from fixedsite.sequences.compressed_air.profile import (
    MODE_AUTO,
    MODE_MANUAL,
    PLC_STATES,
    RESET_BELOW_C,
    TRIP_CODES,
    TRIP_TEMP,
    TRIP_WATER,
)
from fixedsite.tags import Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

INPUTS = ("running", "loaded", "local", "no_supply", "plc_state", "fault_code", "mode")
MODES = {"remote-manual": MODE_MANUAL, "remote-auto": MODE_AUTO}
HOUR_S = 3600.0
SP_WINDOW_S = 3600.0

class Compressor:
    """One compressor: its derived state, its commands, its figures."""

    def __init__(self, sname: str, name: str, eq: CompressorEq, store: TagStore,
                 writer: Writer, clock: Clock,
                 cooling_ok: Callable[[], bool | None], fallback_path: str) -> None:
        self.sname, self.name, self.eq = sname, name, eq
        self.path = f"{sname}.{name}"
        self._inputs = [f"{self.path}.{s}" for s in INPUTS]     # what its state is read from
        self.store, self.writer, self.clock = store, writer, clock
        self.cooling_ok = cooling_ok          # () -> proven, False, or None (not known)
        self.fallback_path = fallback_path    # the station PLC's "on its own switches"
        self.state_tag = store.define(f"{self.path}.state", TagMeta(
            kind="text", description="the compressor as the supervisor sees it: "
            + ", ".join(STATES)))
        self.reason_tag = store.define(f"{self.path}.fault_reason", TagMeta(
            kind="text", description="why it is tripped or stopped by the supervisor"))
        self.sp_tag = store.define(f"{self.path}.specific_power", TagMeta(
            unit="kW/(m3/min)", description="power per free-air delivery while loaded, "
            "the last hour's loaded time"))
        self._starts: deque[float] = deque()   # when the PLC's start counter rose
        self._last_count: float | None = None
        self._sp: deque[tuple[float, float, float, float]] = deque()  # t, dt, kWs, m3
        self._last: float | None = None
        self.started_at: float | None = None

    @property
    def published(self) -> list[Any]:
        return [self.state_tag, self.reason_tag, self.sp_tag]

    def sig(self, signal: str) -> str:
        return f"{self.path}.{signal}"

    def v(self, signal: str) -> Any:
        return self.store.value(self.sig(signal))

    @property
    def data_good(self) -> bool:
        return self.store.worst(self._inputs)[0] is Quality.GOOD

    @property
    def state(self) -> str:
        v = self.state_tag.value
        return v if isinstance(v, str) and v in STATES else "unknown"

    @property
    def mode(self) -> str:
        m = self.v("mode")
        return {MODE_MANUAL: "remote-manual", MODE_AUTO: "remote-auto"}.get(
            int(m) if isinstance(m, int | float) else -1, "not set")

    def _count_starts(self, now: float) -> None:
        """The motor's starts from the PLC's own counter: the PLC's fallback and a local
        start count against the motor as the supervisor's do."""
        n = self.v("starts")
        if isinstance(n, int | float):
            if self._last_count is not None and n > self._last_count:
                self._starts.extend([now] * min(int(n - self._last_count), 10))
            self._last_count = n

    def starts_last_hour(self) -> int:
        now = self.clock.now()
        while self._starts and now - self._starts[0] > HOUR_S:
            self._starts.popleft()
        return len(self._starts)

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        q, why = self.store.worst(self._inputs)
        if q is not Quality.GOOD:
            self._set("unknown", say("no good data from its PLC ({why})", why=why), now, q)
            return
        code = int(self.v("fault_code") or 0)
        plc_state = int(self.v("plc_state") or 0)
        if self.v("local"):
            self._set("local", "", now)
        elif self.v("no_supply"):
            self._set("no supply", say("upstream supply lost: stopped, not tripped"), now)
        elif code:
            self._set("tripped", say("PLC trip {code}: {cause}", code=code, cause=say(
                TRIP_CODES.get(code, "unknown cause"))), now)
        else:
            word = PLC_STATES[plc_state] if 0 <= plc_state < len(PLC_STATES) else "unknown"
            self._set(word if word in STATES else "unknown", "", now)
        self._specific_power(now)

    def _set(self, state: str, reason: str, now: float, q: Quality = Quality.GOOD) -> None:
        if state != self.state:
            if state == "starting" or (state in ("unloaded", "loaded")
                                       and self.state in ("stopped", "unknown")
                                       and self.started_at is None):
                self.started_at = now
            if state in ("stopped", "tripped", "no supply"):
                self.started_at = None
            if state == "tripped":
                log.warning("%s tripped: %s", self.path, reason)
        self.store.update(self.state_tag, state, q,
                          "" if q is Quality.GOOD else reason)
        self.store.update(self.reason_tag, reason, q)

    def _specific_power(self, now: float) -> None:
        dt = 0.0 if self._last is None else now - self._last
        self._last = now
        kw, flow = self.v("power"), self.v("flow")
        if self.state == "loaded" and isinstance(kw, int | float) and \
                isinstance(flow, int | float) and flow > 0 and 0 < dt < 600:
            self._sp.append((now, dt, kw * dt, flow / 60 * dt))
        while self._sp and now - self._sp[0][0] > SP_WINDOW_S:
            self._sp.popleft()
        air = sum(s[3] for s in self._sp)
        if air > 0:
            self.store.update(self.sp_tag, round(sum(s[2] for s in self._sp) / 60 / air, 2))
        elif self.sp_tag.value is not None:
            self.store.update(self.sp_tag, self.sp_tag.value, Quality.UNCERTAIN,
                              say("not loaded in the last hour"))
        self._count_starts(now)

    # --- commands --------------------------------------------------------------------------
    def refuse_start(self) -> str | None:
        """Why this compressor may not start now, or None."""
        if self.state == "tripped":
            return say("{compressor} is tripped ({why}); reset it first",
                       compressor=self.name, why=self.reason_tag.value)
        if self.state == "no supply" or self.v("no_supply"):
            return say("{compressor}: its upstream supply is lost", compressor=self.name)
        if self.state not in ("stopped",):
            return say("{compressor} is {state}, not stopped", compressor=self.name,
                       state=say(self.state))
        if self.eq.water_cooled:
            ok = self.cooling_ok()
            if ok is None:
                return say("cooling water not known (no good data): {compressor} is "
                           "water-cooled", compressor=self.name)
            if not ok:
                return say("cooling water not proven: {compressor} is water-cooled",
                           compressor=self.name)
        if self.starts_last_hour() >= self.eq.max_starts_per_hour:
            return say("{compressor}: {n} starts in the last hour, the motor's limit",
                       compressor=self.name, n=self.starts_last_hour())
        return None

    def refuse_reset(self) -> str | None:
        """Why the PLC would keep the trip now, or None: its reset rules known here."""
        if self.state != "tripped":
            return say("{compressor} is not tripped", compressor=self.name)
        code, temp = self.v("fault_code"), self.v("discharge_temp")
        if code == TRIP_TEMP and (not isinstance(temp, int | float) or temp >= RESET_BELOW_C):
            return say("{compressor}: discharge {t} degC: the PLC keeps the trip until under "
                       "{limit:.0f} degC", compressor=self.name, limit=RESET_BELOW_C,
                       t=f"{temp:.0f}" if isinstance(temp, int | float) else "?")
        if code == TRIP_WATER and self.cooling_ok() is not True:
            return say("{compressor}: cooling water not proven: the PLC keeps the trip",
                       compressor=self.name)
        return None

    async def write(self, signal: str, value: float | bool) -> str | None:
        res = await self.writer.write(self.sig(signal), value)
        if res.ok:
            return None
        return say("{signal}={value} not confirmed: {why}", signal=signal, value=value,
                   why=res.reason)

    async def start(self) -> Decision:
        if (why := await self.write("run_cmd", True)) is not None:
            return Decision(False, why)
        return Decision(True, say("{compressor} starting", compressor=self.name))

    async def stop(self) -> Decision:
        why = await self.write("load_cmd", False) or await self.write("run_cmd", False)
        return Decision(why is None, why or say("{compressor} stopping",
                                                compressor=self.name))

    async def load(self, on: bool) -> Decision:
        why = await self.write("load_cmd", on)
        return Decision(why is None, why or (say("{compressor} loading", compressor=self.name)
                                             if on else say("{compressor} unloading",
                                                            compressor=self.name)))


class CompressorHandler:
    """The gate's view of a compressor: mode and permissive checks, then the write."""

    def __init__(self, c: Compressor) -> None:
        self.c = c

    def check(self, cmd: Command) -> str | None:
        c = self.c
        if not c.data_good:
            return say("{compressor} state unknown (no good data from its PLC); no command "
                       "until it answers", compressor=c.name)
        if c.state == "local":
            return say("{compressor} is in LOCAL at the field panel", compressor=c.name)
        if c.store.value(c.fallback_path) is not False:
            # its coils track what the PLC runs: a write would read back and then be lost
            return say("{compressor}: its PLC runs on its own pressure switches (controller "
                       "heartbeat lost); no command until it answers the controller again",
                       compressor=c.name)
        if cmd.action == "set_mode":
            if cmd.params.get("mode") not in MODES:
                return say("unknown mode {mode}; expected one of {modes}",
                           mode=repr(cmd.params.get("mode")), modes=", ".join(MODES))
            return None
        if cmd.action not in ("start", "stop", "load", "unload", "reset"):
            return say("{compressor} takes no {action} command", compressor=c.name,
                       action=repr(cmd.action))
        if cmd.source == "failover" and cmd.action in ("unload", "stop") and \
                c.mode in ("remote-auto", "remote-manual"):
            return None                      # protective: cooling water lost
        automatic = cmd.source != "operator"
        if automatic and c.mode != "remote-auto":
            return say("{compressor} is in {mode}; automatic commands are not accepted",
                       compressor=c.name, mode=say(c.mode))
        if not automatic and c.mode != "remote-manual":
            return say("{compressor} is in {mode}; switch it to remote-manual first",
                       compressor=c.name, mode=say(c.mode))
        if cmd.action == "reset":
            return c.refuse_reset()
        if cmd.action == "start":
            return c.refuse_start()
        if cmd.action == "load":
            if c.state not in ("unloaded", "loaded"):
                return say("{compressor} is {state}: only a running machine loads",
                           compressor=c.name, state=say(c.state))
            if c.eq.water_cooled and c.cooling_ok() is not True:
                return say("cooling water not proven: {compressor} is water-cooled",
                           compressor=c.name)
        return None

    async def execute(self, cmd: Command) -> Decision:
        c = self.c
        if cmd.action == "set_mode":
            why = await c.write("mode", MODES[cmd.params["mode"]])
            return Decision(why is None, why or say("{compressor} in {mode}", compressor=c.name,
                                                    mode=say(cmd.params["mode"])))
        if cmd.action == "reset":
            why = await c.write("fault_code", 0)
            return Decision(why is None, why or say("{compressor} reset", compressor=c.name))
        if cmd.action == "start":
            return await c.start()
        if cmd.action == "stop":
            return await c.stop()
        return await c.load(cmd.action == "load")
