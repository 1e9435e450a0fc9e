"""The cooling-water circuit of the water-cooled compressors: pumps run and proven.

The circuit is wanted while a water-cooled compressor runs or the station asks for one;
the working pump (the first healthy one in the config's order) is run and the flow is
*proven* when the flow switch has read flow for ``cooling_prove_s``. Flow lost while
proven (a pump tripped, a valve shut, a switch that says so) is *lost*: the station
unloads the water-cooled machines at once and stops them after ``cooling_stop_s``; the
circuit switches to the next healthy pump; nothing water-cooled starts or loads again
until the flow is proven anew. A pump that is commanded and does not run (tripped, no
flow within twice the proving time, a command not read back) is left for the next one,
said so, and stays given up on until an operator resets it (a shut valve must not swap
the duty back and forth). Pumps stop when no water-cooled machine has run for
``RUN_ON_S``. A controller that starts takes the circuit as it finds it (the pump that
runs stays the duty pump, nothing is written on the first scan); a water-cooled machine
found running without proven flow for the proving time is a loss, whatever was seen
before.
"""

from __future__ import annotations

import logging
from typing import Any

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.compressed_air.config import AirControl, CoolingEq
from fixedsite.tags import Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

RUN_ON_S = 300.0            # the water keeps flowing this long after the last machine stops
STATES = ["off", "starting", "proven", "lost", "unknown"]


class CoolingWater:
    def __init__(self, sname: str, name: str, eq: CoolingEq, ctl: AirControl,
                 store: TagStore, writer: Writer, clock: Clock) -> None:
        self.sname, self.name, self.eq, self.ctl = sname, name, eq, ctl
        self.path = f"{sname}.{name}"
        self.store, self.writer, self.clock = store, writer, clock
        self.state_tag = store.define(f"{self.path}.state", TagMeta(
            kind="text", description="off, starting, proven, lost or unknown"))
        self.proven_tag = store.define(f"{self.path}.proven", TagMeta(
            kind="bool", description="cooling-water flow proven: water-cooled machines may "
            "start and load"))
        self.pump_tag = store.define(f"{self.path}.duty_pump", TagMeta(
            kind="text", description="the pump the circuit runs on"))
        self.status_tag = store.define(f"{self.path}.status", TagMeta(
            kind="text", description="what the circuit is doing and why"))
        self._inputs = [f"{self.path}.flow_switch"] + [
            f"{sname}.{p}.{s}" for p in eq.pumps for s in ("running", "tripped", "run_cmd")]
        self.duty: str | None = None
        self.wanted = False                  # set by the station each scan
        self._flow_since: float | None = None
        self._cmd_since: float | None = None
        self._idle_since: float | None = None
        self.lost_at: float | None = None
        self.state = "unknown"
        # pumps given up on (tripped, no flow, not commandable) until an operator resets
        # them: a shut valve must not swap the duty back and forth for ever
        self.failed: set[str] = set()
        self.implausible = False             # the switch says flow with no pump running
        self.cooled_running = False          # set by the station: a water-cooled one runs
        self._noflow_since: float | None = None
        self._adopted = False
        self._no_pump = ""

    @property
    def published(self) -> list[Any]:
        return [self.state_tag, self.proven_tag, self.pump_tag, self.status_tag]

    def v(self, eq: str, signal: str) -> Any:
        return self.store.value(f"{self.sname}.{eq}.{signal}")

    def inputs(self) -> list[str]:
        return self._inputs

    def proven(self) -> bool | None:
        """Proven, not, or None when its data are not good."""
        return None if self.state == "unknown" else self.state == "proven"

    async def scan(self) -> None:
        now = self.clock.now()
        q, why = self.store.worst(self.inputs())
        if q is not Quality.GOOD:
            self._set("unknown", say("no good data ({why})", why=why), q)
            self._flow_since = None
            return
        flow = bool(self.v(self.name, "flow_switch"))
        running = [p for p in self.eq.pumps if self.v(p, "running")]
        # water does not flow with every pump stopped: a switch stuck at "flow" would hide
        # the loss the PLC's trip then finds at 120 degC
        self.implausible = flow and not running
        flow = flow and not self.implausible
        if flow:
            self._flow_since = self._flow_since if self._flow_since is not None else now
        else:
            self._flow_since = None
            self._noflow_since = self._noflow_since if self._noflow_since is not None else now
        if flow:
            self._noflow_since = None
        if not self._adopted:
            # the first good scan after a start takes the circuit as it is: the pump that
            # runs (or is commanded) stays the duty pump, nothing is written
            self._adopted = True
            self.duty = next((p for p in self.eq.pumps if self.v(p, "run_cmd")),
                             running[0] if running else None)
            self._cmd_since = now if self.duty is not None else None
            if self.duty is not None:
                self.store.update(self.pump_tag, self.duty)
        elif self.wanted:
            self._idle_since = None
            await self._run(now, flow)
        else:
            self._idle_since = self._idle_since if self._idle_since is not None else now
            if now - self._idle_since >= RUN_ON_S:
                await self._stop_all()
                self.duty, self.lost_at = None, None
                self._set("off", say("no water-cooled machine running"))
                return
        proven = self._flow_since is not None and \
            now - self._flow_since >= self.ctl.cooling_prove_s
        # lost: flow gone after it was proven, or a water-cooled machine running without
        # proven flow for the proving time (a restart, a blip: no history needed)
        unproven_running = self.cooled_running and self._noflow_since is not None and \
            now - self._noflow_since >= self.ctl.cooling_prove_s
        if proven:
            if self.state != "proven":
                log.info("%s: cooling-water flow proven on %s", self.path, self.duty)
            self.lost_at = None
            self._set("proven", say("flow proven on {pump}", pump=self.duty or "?"))
        elif self.state == "proven" or self.lost_at is not None or unproven_running:
            if self.lost_at is None:
                self.lost_at = now
                log.warning("%s: cooling-water flow lost", self.path)
            self._set("lost", say("flow switch reads flow with no pump running: taken as "
                                  "lost {s:.0f} s ago", s=now - self.lost_at)
                      if self.implausible else self._no_pump or say(
                          "flow lost {s:.0f} s ago", s=now - self.lost_at))
        elif self.wanted:
            self._set("starting", self._no_pump or say("proving flow on {pump}",
                                                       pump=self.duty or "?"))
        else:
            self._set("off", say("run-on after the last machine stopped"))

    async def _run(self, now: float, flow: bool) -> None:
        self._no_pump = ""
        if self.duty is not None:
            tripped = bool(self.v(self.duty, "tripped"))
            dry = self._cmd_since is not None and not flow and \
                now - self._cmd_since > 2 * self.ctl.cooling_prove_s
            if tripped or dry:
                log.warning("%s: pump %s %s; changing over", self.path, self.duty,
                            "tripped" if tripped else "gives no flow")
                self.failed.add(self.duty)
                await self._write(self.duty, False)
                self.duty = None
        if self.duty is None:
            healthy = [p for p in self.eq.pumps if p not in self.failed
                       and not self.v(p, "tripped")]
            if not healthy:
                self._no_pump = say("no healthy cooling-water pump")
                return
            self.duty, self._cmd_since = healthy[0], now
            self.store.update(self.pump_tag, self.duty)
        if not self.v(self.duty, "run_cmd") and not await self._write(self.duty, True):
            self.failed.add(self.duty)          # a pump that cannot be commanded is no duty
            self.duty = None
            return
        for p in self.eq.pumps:              # one pump at a time
            if p != self.duty and self.v(p, "run_cmd"):
                await self._write(p, False)

    async def _stop_all(self) -> None:
        for p in self.eq.pumps:
            if self.v(p, "run_cmd"):
                await self._write(p, False)

    async def _write(self, pump: str, on: bool) -> bool:
        res = await self.writer.write(f"{self.sname}.{pump}.run_cmd", on)
        if not res.ok:
            log.warning("%s: %s run_cmd=%s not confirmed: %s", self.path, pump, on,
                        res.reason)
        return res.ok

    def _set(self, state: str, text: str, q: Quality = Quality.GOOD) -> None:
        self.state = state
        self.store.update(self.state_tag, state, q)
        self.store.update(self.proven_tag, state == "proven", q)
        self.store.update(self.status_tag, text, q)


class PumpHandler:
    """The gate's view of a cooling-water pump: Reset, when it is tripped."""

    def __init__(self, cw: CoolingWater, pump: str) -> None:
        self.cw, self.pump = cw, pump

    def check(self, cmd: Command) -> str | None:
        if cmd.action != "reset":
            return say("{pump} takes no {action} command", pump=self.pump,
                       action=repr(cmd.action))
        tripped = self.cw.v(self.pump, "tripped")
        if tripped is None:
            return say("{pump} state unknown (no good data from its PLC)", pump=self.pump)
        return None if tripped or self.pump in self.cw.failed else \
            say("{pump} is not tripped", pump=self.pump)

    async def execute(self, cmd: Command) -> Decision:
        if not self.cw.v(self.pump, "tripped"):          # given up on for no flow
            self.cw.failed.discard(self.pump)
            return Decision(True, say("{pump} reset", pump=self.pump))
        res = await self.cw.writer.write(f"{self.cw.sname}.{self.pump}.fault_code", 0)
        if not res.ok:
            return Decision(False, say("{signal}={value} not confirmed: {why}",
                                       signal="fault_code", value=0, why=res.reason))
        self.cw.failed.discard(self.pump)
        return Decision(True, say("{pump} reset", pump=self.pump))
