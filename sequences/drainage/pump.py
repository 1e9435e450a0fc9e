"""Main drainage pump: start and stop sequence, its fault state, its command handler.

The sequence is a ``transitions`` state machine declared as data below, so a reviewer
reads it top to bottom and ``diagram()`` draws it. It is scan-driven like a PLC step
chain: each scan checks the feedback the current step waits for, advances, and fails
to the safe state (all commands off: the PLC closes the valve, then stops the motor)
when a step overruns its time-out. Step times are simulated seconds on the project
clock.

Bumpless restart: on its first scan with good data the sequence *adopts* the state the
plant is in (a running pump is "running"), and writes only a command that its step needs
and the PLC does not hold (a restart between two writes of a step).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from transitions.extensions.asyncio import AsyncMachine

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.drainage.config import DrainageControl
from fixedsite.sequences.drainage.equipment import (
    ACTIVE,
    MODE_REMOTE_AUTO,
    MODE_REMOTE_MANUAL,
    STATES,
)
from fixedsite.tags import Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "start", "source": "stopped", "dest": "starting", "conditions": "fb_primed"},
    {"trigger": "start", "source": "stopped", "dest": "priming"},
    {"trigger": "step", "source": "priming", "dest": "starting", "conditions": "fb_primed"},
    {"trigger": "step", "source": "starting", "dest": "opening_valve",
     "conditions": "fb_running"},
    {"trigger": "step", "source": "opening_valve", "dest": "proving_flow",
     "conditions": "fb_valve_open"},
    {"trigger": "step", "source": "proving_flow", "dest": "running",
     "conditions": "fb_flow_proven"},
    {"trigger": "step", "source": "stopping", "dest": "stopped", "conditions": "fb_stopped"},
    {"trigger": "stop", "source": ACTIVE, "dest": "stopping"},
    {"trigger": "fail", "source": [*ACTIVE, "stopped", "stopping"], "dest": "fault"},
    {"trigger": "reset", "source": "fault", "dest": "stopped", "conditions": "fb_healthy"},
]
STEPPING = {t["source"] for t in TRANSITIONS if t["trigger"] == "step"}
# what each step writes on entry (signal, value), in order
ENTRY_WRITES: dict[str, list[tuple[str, bool]]] = {
    "priming": [("prime_cmd", True)],
    "starting": [("run_cmd", True)],
    # the valve first: a restart between the two writes then leaves a state (priming on,
    # valve commanded) that only a start has, never one a stop has
    "opening_valve": [("valve.open_cmd", True), ("prime_cmd", False)],
    "stopping": [("prime_cmd", False), ("valve.open_cmd", False)],
    "fault": [("prime_cmd", False), ("valve.open_cmd", False), ("run_cmd", False)],
}
# What a state adopted after a restart must have commanded (written if it differs): the
# steps a restart can cut in two. A running pump with its valve open is left as it is.
ADOPT_WRITES: dict[str, list[tuple[str, bool]]] = {
    "stopped": [("prime_cmd", False), ("valve.open_cmd", False), ("run_cmd", False)],
    "opening_valve": [("valve.open_cmd", True), ("prime_cmd", False)],
    "stopping": ENTRY_WRITES["stopping"],
}
INPUTS = ("running", "primed", "fault_code", "local", "mode", "valve.opened", "valve.closed")
PLC_FAULTS = {1: say("motor overload relay tripped"), 2: say("dry running: PLC stopped the pump")}
DAY_S = 86400.0
MODES = {"remote-manual": MODE_REMOTE_MANUAL, "remote-auto": MODE_REMOTE_AUTO}


class PumpSequence:
    """One pump with its discharge valve."""

    state: str

    def __init__(self, system: str, name: str, valve: str, ctl: DrainageControl,
                 store: TagStore, writer: Writer, clock: Clock) -> None:
        self.system, self.name, self.valve = system, name, valve
        self.path = f"{system}.{name}"
        self.ctl = ctl
        self.store, self.writer, self.clock = store, writer, clock
        self.timeouts = {"priming": ctl.prime_timeout_s, "starting": ctl.start_timeout_s,
                         "opening_valve": ctl.valve_timeout_s,
                         "proving_flow": ctl.flow_proven_timeout_s,
                         "stopping": ctl.stop_timeout_s}
        self.entered = clock.now()
        self.last_stop = -1e18
        self.last_start = -1e18           # unknown (adopted running): counts as long ago
        self.starts: deque[float] = deque()   # motor starts seen, for the starts cap
        self._prev_state = "stopped"
        self.fault_reason = ""
        self.adopted = False
        self._write_error = ""
        self._seen_run_s = 0.0            # run time seen by this controller (no counter)
        self._last_scan: float | None = None
        self.state_tag = store.define(f"{self.path}.state", TagMeta(kind="text"))
        self.reason_tag = store.define(f"{self.path}.fault_reason", TagMeta(
            kind="text", description="why the pump's sequence faulted (empty when it has not)"))
        self.machine = AsyncMachine(model=self, states=STATES, transitions=TRANSITIONS,
                                    initial="stopped", auto_transitions=False,
                                    after_state_change="_entered", ignore_invalid_triggers=True)

    # --- signals ----------------------------------------------------------------------
    def sig(self, name: str) -> str:
        if name.startswith("valve."):
            return f"{self.system}.{self.valve}.{name[6:]}"
        return f"{self.path}.{name}"

    def mapped(self, name: str) -> bool:
        """An optional signal the config leaves unmapped is absent, not an error."""
        return self.sig(name) in self.store

    def v(self, name: str, default: Any = None) -> Any:
        """The signal's value if it is mapped and good, else ``default``."""
        tag = self.store.get(self.sig(name))
        return default if tag is None or tag.quality is not Quality.GOOD else tag.value

    @property
    def data_good(self) -> bool:
        return all(self.store[p].quality is Quality.GOOD for p in self.inputs)

    @property
    def inputs(self) -> list[str]:
        """The signals the state is read from: it is no better than the worst of them."""
        return [self.sig(s) for s in INPUTS]

    @property
    def mode(self) -> str:
        """local, remote-manual or remote-auto; "unknown" while the PLC has not told us."""
        if self.v("local"):
            return "local"
        return {MODE_REMOTE_AUTO: "remote-auto", MODE_REMOTE_MANUAL: "remote-manual"}.get(
            self.v("mode"), "unknown")

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def run_hours(self) -> float:
        """The PLC's counter (its last value while it reads bad: duty rotation is no safety
        function); without a counter, the hours this controller has seen it run."""
        tag = self.store.get(self.sig("run_hours"))
        if tag is not None and isinstance(tag.value, int | float):
            return float(tag.value)
        return self._seen_run_s / 3600.0

    # --- conditions (named in TRANSITIONS) -------------------------------------------
    def fb_primed(self) -> bool:
        return bool(self.v("primed"))

    def fb_running(self) -> bool:
        return bool(self.v("running"))

    def fb_valve_open(self) -> bool:
        return bool(self.v("valve.opened"))

    def fb_flow_proven(self) -> bool:
        if not self.mapped("flow"):
            return True                   # no flow meter: the open valve is the proof
        flow = self.v("flow")             # a bad meter proves nothing: the step waits
        return flow is not None and flow >= self.ctl.min_flow_m3h

    def fb_stopped(self) -> bool:
        return not self.v("running", True) and bool(self.v("valve.closed"))

    def fb_healthy(self) -> bool:
        return self.v("fault_code") == 0

    # --- state entry -------------------------------------------------------------------
    async def _entered(self) -> None:
        self.entered = self.clock.now()
        self.store.update(self.state_tag, self.state)
        if self.state == "stopped":
            self.last_stop = self.entered
        elif self._prev_state == "stopped" and self.state in ACTIVE:
            self._started(self.entered)
        self._prev_state = self.state
        for sig, value in ENTRY_WRITES.get(self.state, []):
            res = await self.writer.write(self.sig(sig), value)
            if not res.ok and self.state != "fault":
                self._write_error = say("{signal}={value} not confirmed: {why}", signal=sig,
                                        value=int(value), why=res.reason)
                return

    def _started(self, t: float) -> None:
        self.last_start = t
        self.starts.append(t)
        while self.starts and self.starts[0] < t - DAY_S:
            self.starts.popleft()

    def starts_today(self, now: float) -> int:
        """Motor starts in the last 24 h (rolling), ours or the PLC's."""
        return sum(1 for t in self.starts if t > now - DAY_S)

    async def fail_on_write_error(self) -> str:
        """A step's entry write that the PLC did not confirm faults the pump; its reason."""
        err, self._write_error = self._write_error, ""
        if err:
            await self._fail(err)
        return err

    async def _fail(self, reason: str) -> None:
        self.fault_reason = reason
        self.store.update(self.reason_tag, reason)
        log.warning("%s: fault: %s", self.path, reason)
        await self.fail()

    # --- the scan -------------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        if self._last_scan is not None and self.fb_running():
            self._seen_run_s += now - self._last_scan
        self._last_scan = now
        if not self.data_good:           # hold: never act on data we do not trust, and
            if self.state_tag.value is not None:    # show what is held as no better
                self.store.derive(self.state_tag, self.inputs)
                self.store.derive(self.reason_tag, self.inputs)
            return
        for tag in (self.state_tag, self.reason_tag):
            if tag.quality is not Quality.GOOD and tag.value is not None:
                self.store.update(tag, tag.value)       # its inputs are good again
        if not self.adopted:
            await self._adopt()
            return
        if await self.fail_on_write_error():
            return
        code = self.v("fault_code")
        if code and self.state != "fault":
            await self._fail(say("PLC trip {code}: {cause}", code=code,
                                  cause=PLC_FAULTS.get(code, say("unknown cause"))))
            return
        if self.state in ("running", "proving_flow", "opening_valve") and not self.fb_running():
            await self._external_stop()
            return
        if self.state == "stopped" and self.fb_running():
            log.info("%s: running without our command (fallback or local); adopted",
                     self.path)
            self._started(self.clock.now())
            self.machine.set_state("running")
            self._prev_state = "running"
            self.store.update(self.state_tag, "running")
            return
        if self.state == "stopping" and self.v("valve.closed") and self.v("run_cmd"):
            await self._write_checked("run_cmd", False)
        if self.state in STEPPING:
            await self.step()
        limit = self.timeouts.get(self.state)
        # under acceleration a step never times out in less than a blink of wall time: a
        # stalled event loop must not look like a pump that did not prime
        if limit is not None and self.clock.now() - self.entered > self.clock.guard_timeout(
                limit):
            await self._fail(say("{step} not complete within {limit:.0f} s: {why}",
                                 step=self.state.replace("_", " "), limit=limit,
                                 why=self._waiting_for()))

    async def _adopt(self) -> None:
        """First good scan after (re)start: take the plant as it is. A pump caught between
        two steps is adopted into the step it is in, and that step's own commands are
        re-asserted, because the restart may have come between two of its writes (run
        commanded, valve not yet told to open: the motor would run against a closed valve
        with the priming pump on). Only commands that differ from what the PLC holds are
        written, so a plant at rest or running steadily sees no write at all."""
        self.adopted = True
        if self.v("fault_code"):
            state = "fault"
            self.fault_reason = PLC_FAULTS.get(self.v("fault_code"), say("PLC trip"))
        elif not self.fb_running():
            state = "stopped"
        elif self.fb_valve_open():
            state = "running"
        elif self.v("prime_cmd") or self.v("valve.open_cmd"):
            state = "opening_valve"       # a start cut short: open the valve
        else:
            state = "stopping"            # a stop cut short (or the motor coasting down)
        if state in ("running", "opening_valve", "stopping"):
            self.last_start = self.clock.now()   # unknown: its minimum run counts from now
        self.machine.set_state(state)
        self._prev_state = state
        self.entered = self.clock.now()
        self.store.update(self.state_tag, state)
        self.store.update(self.reason_tag, self.fault_reason)
        log.info("%s: adopted plant state %s", self.path, state)
        if self.mode == "local":
            return         # the field panel rules it; a command left set would act later
        for sig, value in ADOPT_WRITES.get(state, []):
            if self.v(sig) is not value:
                log.warning("%s: re-asserting %s=%d for the adopted step %s", self.path,
                            sig, value, state)
                res = await self.writer.write(self.sig(sig), value)
                if not res.ok:
                    await self._fail(say("{signal}={value} not confirmed on adoption: {why}",
                                         signal=sig, value=int(value), why=res.reason))
                    return

    async def _external_stop(self) -> None:
        """The PLC stopped the pump (low float, fallback, local): follow it, clear commands."""
        log.warning("%s: stopped by the PLC, not by us", self.path)
        self.machine.set_state("stopped")
        self._prev_state = "stopped"
        self.entered = self.last_stop = self.clock.now()
        self.store.update(self.state_tag, "stopped")
        for sig, value in ENTRY_WRITES["fault"]:
            await self.writer.write(self.sig(sig), value)

    async def _write_checked(self, sig: str, value: bool) -> None:
        res = await self.writer.write(self.sig(sig), value)
        if not res.ok:
            await self._fail(say("{signal}={value} not confirmed: {why}", signal=sig,
                                 value=int(value), why=res.reason))

    def _waiting_for(self) -> str:
        if self.state == "proving_flow":
            return self._flow_text()
        return {"priming": say("casing not primed"), "starting": say("no running feedback"),
                "opening_valve": say("valve open limit not reached"),
                "stopping": say("valve not closed or motor still running")}.get(self.state, "")

    def _flow_text(self) -> str:
        tag = self.store.get(self.sig("flow"))
        if tag is None:
            return say("valve open, no flow meter")
        if tag.quality is not Quality.GOOD:
            return say("flow meter reads no good value ({reason})", reason=tag.reason)
        return say("flow {flow:.0f} m3/h below {min:.0f}", flow=tag.value,
                   min=self.ctl.min_flow_m3h)

    # --- diagram ---------------------------------------------------------------------------
    @staticmethod
    def diagram() -> str:
        """The state machine as Mermaid text, for operators and test engineers."""
        from transitions.extensions.diagrams import GraphMachine

        class _M:
            pass

        m = GraphMachine(model=_M(), states=STATES, transitions=TRANSITIONS,
                         initial="stopped", auto_transitions=False, graph_engine="mermaid",
                         show_conditions=True)
        return str(m.model.get_graph().draw(None))  # type: ignore[attr-defined]


class PumpHandler:
    """The gate's view of a pump: mode and interlock checks, then the sequence."""

    def __init__(self, seq: PumpSequence, sump_level: Any) -> None:
        self.seq = seq
        self.sump_level = sump_level         # () -> float | None

    def check(self, cmd: Command) -> str | None:
        s, name = self.seq, self.seq.name
        if not s.data_good:
            return say("{pump} state unknown (no good data from its PLC); no command until "
                       "it answers", pump=name)
        if s.mode == "local":
            return say("{pump} is in LOCAL at the field panel", pump=name)
        if s.mode == "unknown" and cmd.action != "set_mode":
            return say("{pump} mode register holds {value}; expected 1 (remote-manual) or 2 "
                       "(remote-auto): set the mode first", pump=name, value=repr(s.v("mode")))
        if cmd.action == "set_mode":
            if cmd.params.get("mode") not in MODES:
                return say("unknown mode {mode}; expected one of {modes}",
                           mode=repr(cmd.params.get("mode")), modes=", ".join(MODES))
            return None
        if cmd.action == "reset":
            return None if s.state == "fault" else say("{pump} is not faulted", pump=name)
        if cmd.action == "prime" and cmd.source != "operator":
            return self._check_prime(cmd)
        if cmd.action not in ("start", "stop"):
            return say("{pump} takes no {action} command", pump=name, action=repr(cmd.action))
        automatic = cmd.source != "operator"
        if automatic and s.mode != "remote-auto":
            return say("{pump} is in {mode}; automatic commands are not accepted", pump=name,
                       mode=s.mode)
        if not automatic and s.mode == "remote-auto":
            return say("{pump} is in remote-auto; switch it to remote-manual first", pump=name)
        if cmd.action == "stop":
            return None
        if s.state == "fault":
            return say("{pump} is faulted ({why}); reset it first", pump=name, why=s.fault_reason)
        if s.state == "stopping":
            return say("{pump} is still stopping", pump=name)
        if s.mapped("valve.fault") and s.v("valve.fault") is not False:
            return say("discharge valve {valve} reports a fault", valve=s.valve) \
                if s.v("valve.fault") else \
                say("discharge valve {valve}'s fault signal reads no good value", valve=s.valve)
        level = self.sump_level()
        if level is None:
            return say("sump level unknown: no good level sensor")
        if level <= s.ctl.low_low_m:
            return say("sump level {level:.2f} m is at or below low-low {ll} m: the pump "
                       "would run dry", level=level, ll=s.ctl.low_low_m)
        return None

    def _check_prime(self, cmd: Command) -> str | None:
        """Holding a standby pump primed (the hydrological linkage) is for a stopped pump
        in remote-auto only: a running pump's priming belongs to its sequence, and a pump
        in manual or local is the operator's."""
        s = self.seq
        if s.mode != "remote-auto":
            return say("{pump} is in {mode}; automatic commands are not accepted",
                       pump=s.name, mode=s.mode)
        if s.state != "stopped":
            return say("{pump} is not stopped: its sequence primes it", pump=s.name)
        return None

    async def execute(self, cmd: Command) -> Decision:
        s = self.seq
        if cmd.action == "prime":
            on = bool(cmd.params.get("on"))
            res = await s.writer.write(s.sig("prime_cmd"), on)
            if not res.ok:
                return Decision(False, say("{signal}={value} not confirmed: {why}",
                                           signal="prime_cmd", value=int(on), why=res.reason))
            return Decision(True, say("standby priming on (read back)") if on else
                            say("standby priming off (read back)"))
        if cmd.action == "set_mode":
            res = await s.writer.write(s.sig("mode"), MODES[cmd.params["mode"]])
            return Decision(res.ok, res.reason or say("mode {mode} (PLC read back {value})",
                                                      mode=cmd.params["mode"], value=res.value))
        if cmd.action == "reset":
            res = await s.writer.write(s.sig("fault_code"), 0)
            if not res.ok:
                return Decision(False, say("PLC keeps the trip (cause still present): {why}",
                                           why=res.reason))
            await s.reset()
            return Decision(s.state == "stopped",
                            say("reset (PLC read back fault code {value})", value=res.value)
                            if s.state == "stopped" else say("PLC still reports a fault"))
        if cmd.action == "start":
            if s.active:
                return Decision(True, say("already running or starting"))
            await s.start()
        else:
            if not s.active:
                return Decision(True, say("already stopped"))
            await s.stop()
        err = await s.fail_on_write_error()
        if err:
            return Decision(False, err)
        return Decision(True, say("now {state} (commands read back)", state=s.state))
