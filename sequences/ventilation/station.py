"""The main fan station: two fans on one shaft, one on line, one standby.

One ``transitions`` machine for the pair, because a changeover is one act on both fans:
the standby is run up against its shut outlet damper while the working fan still carries
the mine, the outlet dampers are crossed over (the standby's opening while the working
fan's close), then the old fan is run down; the air never stops (DOMAIN.md §4). The order
is the fan PLC's interlock order: inlet damper open, drive run, outlet damper open (the
PLC opens an outlet only behind a running drive and shuts it when the drive stops, so
air never short-circuits through a stopped fan). The same machine does a
one-key start, the automatic failover when the fan on line trips or its air falls below
the minimum, and the reversal drill.

The safe state of a mine fan is not "all off": a step that fails leaves the fan that
carries the air running, and takes back only what the failed step did to the other one
(its run command off, its dampers shut so the air does not short-circuit through it).

Every changeover, failover and reversal is measured on the shaft's airflow and kept as a
record: the tags ``<system>.station.*`` (historised like any tag) and the log.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from transitions.extensions.asyncio import AsyncMachine

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.ventilation.config import FanEq, VentilationSystem
from fixedsite.sequences.ventilation.equipment import FAULT_WORDS
from fixedsite.systems import CommandArg, CommandSpec
from fixedsite.tags import Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

STARTING = ["opening_dampers", "running_up", "proving"]
CHANGEOVER = ["co_starting", "co_crossing", "co_stopping"]
REVERSAL = ["rev_down", "rev_up", "reversed", "res_down", "res_up"]
STATES = ["stopped", *STARTING, "running", *CHANGEOVER, "failover", "stopping", *REVERSAL,
          "fault"]
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "start", "source": "stopped", "dest": "opening_dampers"},
    {"trigger": "step", "source": "opening_dampers", "dest": "running_up",
     "conditions": "fb_inlet_open"},
    {"trigger": "step", "source": "running_up", "dest": "proving", "conditions": "fb_running"},
    {"trigger": "step", "source": "proving", "dest": "running", "conditions": "fb_air"},
    {"trigger": "changeover", "source": "running", "dest": "co_starting"},
    {"trigger": "step", "source": "co_starting", "dest": "co_crossing",
     "conditions": "fb_standby_up"},
    {"trigger": "step", "source": "co_crossing", "dest": "co_stopping",
     "conditions": "fb_crossed"},
    {"trigger": "step", "source": "co_stopping", "dest": "running",
     "conditions": "fb_old_stopped", "before": "_swap"},
    {"trigger": "failover", "source": ["running", *CHANGEOVER, "proving"],
     "dest": "failover", "before": "_swap"},     # from here "A" is the standby taking over
    {"trigger": "step", "source": "failover", "dest": "running",
     "conditions": "fb_air_delivered"},
    {"trigger": "stop", "source": ["running", *STARTING, "reversed"], "dest": "stopping"},
    {"trigger": "step", "source": "stopping", "dest": "stopped", "conditions": "fb_stopped"},
    {"trigger": "reverse", "source": "running", "dest": "rev_down"},
    {"trigger": "step", "source": "rev_down", "dest": "rev_up", "conditions": "fb_stopped"},
    {"trigger": "step", "source": "rev_up", "dest": "reversed", "conditions": "fb_reversed"},
    {"trigger": "restore", "source": "reversed", "dest": "res_down"},
    {"trigger": "step", "source": "res_down", "dest": "res_up", "conditions": "fb_stopped"},
    {"trigger": "step", "source": "res_up", "dest": "proving", "conditions": "fb_running"},
    {"trigger": "fail", "source": [s for s in STATES if s != "fault"], "dest": "fault"},
    {"trigger": "reset", "source": "fault", "dest": "stopped", "conditions": "fb_none_running"},
    {"trigger": "reset", "source": "fault", "dest": "running", "conditions": "fb_running"},
]
STEPPING = {t["source"] for t in TRANSITIONS if t["trigger"] == "step"}
# what each state writes on entry: "A." is the fan on line (or being started), "B." the
# other; "din"/"dout" its dampers. In order: air first, then what takes air away.
ENTRY_WRITES: dict[str, list[tuple[str, Any]]] = {
    "opening_dampers": [("A.din.open_cmd", True)],
    "running_up": [("A.reverse_cmd", False), ("A.speed_sp", "run"), ("A.run_cmd", True),
                   ("A.dout.open_cmd", True)],
    "co_starting": [("B.din.open_cmd", True), ("B.reverse_cmd", False),
                    ("B.speed_sp", "run"), ("B.run_cmd", True)],
    # the working fan's outlet is closed only once the standby's is proven open (the scan
    # does it): closed together, a standby outlet that sticks shut would cut the air
    "co_crossing": [("B.dout.open_cmd", True)],
    "co_stopping": [("A.run_cmd", False)],
    "failover": [("A.din.open_cmd", True), ("A.reverse_cmd", False), ("A.speed_sp", "run"),
                 ("A.run_cmd", True), ("A.dout.open_cmd", True),
                 ("B.run_cmd", False), ("B.dout.open_cmd", False)],
    "stopping": [("A.run_cmd", False)],
    "rev_down": [("A.run_cmd", False)],
    "rev_up": [("A.reverse_cmd", True), ("A.run_cmd", True)],
    "res_down": [("A.run_cmd", False)],
    "res_up": [("A.reverse_cmd", False), ("A.run_cmd", True)],
}
FAN_INPUTS = ("running", "ready", "local", "fault_code", "speed", "din.opened", "din.closed",
              "dout.opened", "dout.closed")
MEASURED = set(CHANGEOVER) | {"failover"}
# what the station publishes as <system>.station.<name>: (kind, description)
STATION_TAGS: dict[str, tuple[str, str]] = {
    "state": ("text", "the station's sequence"),
    "fault_reason": ("text", "why the sequence faulted (empty if not)"),
    "on_line": ("text", "the main fan carrying the mine's air"),
    "status": ("text", "what the station is doing, in words"),
    "last_changeover": ("text", "the last changeover, measured"),
    "changeover_min_pct": ("number", "lowest shaft airflow in the last changeover, % of "
                           "nominal"),
    "last_failover": ("text", "the last failover, measured"),
    "failover_s": ("number", "the last failover: trip to standby delivering air, s"),
    "last_reversal": ("text", "the last reversal drill, measured"),
    "reversal_s": ("number", "the last reversal: command to reversed air at its minimum, s"),
    "reversal_pct": ("number", "reversed airflow in the last reversal, % of normal"),
    "airflow_pct": ("number", "the shaft's airflow, % of nominal (negative: reversed); no "
                    "better than the shaft's air station"),
}
STOPPED_SPEED_PCT = 5.0
REVERSAL_SETTLE_S = 60.0       # the drill's reversed air is taken this long after the minimum


@dataclass
class Record:
    """The shaft's airflow through one changeover, failover or reversal."""

    what: str
    start: float
    reference: float                  # the airflow just before, m3/s
    nominal: float
    threshold_pct: float
    min_flow: float = math.inf
    below_s: float = 0.0
    deficit_m3: float = 0.0
    end: float | None = None
    last: float | None = None

    def sample(self, t: float, flow: float | None) -> None:
        if flow is None:
            return
        if self.last is not None:
            dt = t - self.last
            if flow < self.nominal * self.threshold_pct / 100:
                self.below_s += dt
            self.deficit_m3 += max(0.0, self.reference - flow) * dt
        self.last = t
        self.min_flow = min(self.min_flow, flow)

    @property
    def min_pct(self) -> float:
        return 100 * self.min_flow / self.nominal if math.isfinite(self.min_flow) else math.nan


class FanStation:
    """The main fans of one ventilation system, and the records of what they did."""

    state: str

    def __init__(self, system: str, cfg: VentilationSystem, store: TagStore, writer: Writer,
                 clock: Clock) -> None:
        self.system, self.cfg, self.ctl = system, cfg, cfg.control
        self.path = f"{system}.station"
        self.store, self.writer, self.clock = store, writer, clock
        self.fans = list(self.ctl.fans)
        self.on_line = self.fans[0]       # "A": on line, or the one being started
        c = self.ctl
        self.timeouts = {"opening_dampers": c.damper_timeout_s, "running_up": c.start_timeout_s,
                         "proving": c.proven_timeout_s, "co_starting": c.proven_timeout_s,
                         "co_crossing": c.damper_timeout_s, "co_stopping": c.stop_timeout_s,
                         "failover": max(c.failover_within_s, c.proven_timeout_s),
                         "stopping": c.stop_timeout_s, "rev_down": c.stop_timeout_s,
                         "rev_up": c.reversal_within_s, "res_down": c.stop_timeout_s,
                         "res_up": c.start_timeout_s}
        self.entered = clock.now()
        self.adopted = False
        self.historian: Any = None        # set when the controller starts: records go there
        self.fault_reason = ""
        self.record: Record | None = None
        self._low_since: float | None = None
        self._write_error = ""
        self._reversal_t0: float | None = None
        self._settle_until: float | None = None   # the drill's settled air, taken then
        self._rev_took = 0.0
        self._rev_best = 0.0

        t = {name: store.define(f"{self.path}.{name}", TagMeta(kind=kind, description=what))
             for name, (kind, what) in STATION_TAGS.items()}
        self.state_tag, self.reason_tag, self.on_line_tag = t["state"], t["fault_reason"], \
            t["on_line"]
        self.status_tag, self.co_tag, self.co_min_tag = t["status"], t["last_changeover"], \
            t["changeover_min_pct"]
        self.fo_tag, self.fo_s_tag = t["last_failover"], t["failover_s"]
        self.rev_tag, self.rev_s_tag, self.rev_pct_tag = t["last_reversal"], t["reversal_s"], \
            t["reversal_pct"]
        self.pct_tag = t["airflow_pct"]
        self.machine = AsyncMachine(model=self, states=STATES, transitions=TRANSITIONS,
                                    initial="stopped", auto_transitions=False,
                                    after_state_change="_entered",
                                    ignore_invalid_triggers=True)

    # --- names ------------------------------------------------------------------------------
    @property
    def other(self) -> str:
        return self.fans[1] if self.on_line == self.fans[0] else self.fans[0]

    def sig(self, name: str) -> str:
        """``A.run_cmd`` (fan on line), ``B.din.opened`` (the other's inlet damper), or a
        plain ``fan1.speed`` / ``shaft.airflow``."""
        who, _, rest = name.partition(".")
        fan = {"A": self.on_line, "B": self.other}.get(who)
        if fan is None:
            return f"{self.system}.{name}"
        eq = self.cfg.equipment[fan]
        assert isinstance(eq, FanEq)
        part, _, sig = rest.partition(".")
        if part == "din":
            return f"{self.system}.{eq.inlet_damper}.{sig}"
        if part == "dout":
            return f"{self.system}.{eq.outlet_damper}.{sig}"
        return f"{self.system}.{fan}.{rest}"

    def v(self, name: str, default: Any = None) -> Any:
        tag = self.store.get(self.sig(name))
        return default if tag is None or tag.quality is not Quality.GOOD else tag.value

    @property
    def inputs(self) -> list[str]:
        return [self.sig(f"{w}.{s}") for w in "AB" for s in FAN_INPUTS] + \
            [self.sig(f"{self.ctl.shaft_sensor}.airflow")]

    @property
    def data_good(self) -> bool:
        return all(self.store[p].quality is Quality.GOOD for p in self.inputs
                   if p in self.store)

    def airflow(self) -> float | None:
        return self.v(f"{self.ctl.shaft_sensor}.airflow")

    def pct(self, flow: float | None) -> float | None:
        return None if flow is None else 100 * flow / self.ctl.nominal_airflow_m3s

    # --- conditions (named in TRANSITIONS) ---------------------------------------------------
    def fb_inlet_open(self) -> bool:
        return bool(self.v("A.din.opened"))

    def fb_dampers_open(self) -> bool:
        return bool(self.v("A.din.opened")) and bool(self.v("A.dout.opened"))

    def fb_running(self) -> bool:
        return bool(self.v("A.running"))

    def fb_air(self) -> bool:
        """The fan on line at speed and the shaft's air above the minimum."""
        flow, speed = self.airflow(), self.v("A.speed")
        return bool(self.v("A.running")) and flow is not None and speed is not None and \
            speed >= 0.9 * self.fan_eq("A").run_speed_pct and \
            flow >= self.ctl.nominal_airflow_m3s * self.ctl.min_airflow_pct / 100

    def fb_air_delivered(self) -> bool:
        """A failover is done when the mine has its minimum air again from the standby,
        not when the drive has finished its ramp (DOMAIN.md §1.1: the standby delivering)."""
        low = self.ctl.nominal_airflow_m3s * self.ctl.min_airflow_pct / 100
        own, shaft = self.v("A.airflow"), self.airflow()    # its own duct: not the air
        return bool(self.v("A.running")) and own is not None and shaft is not None and \
            own >= low and shaft >= low                      # the tripped fan coasts on

    def fb_standby_up(self) -> bool:
        speed = self.v("B.speed")
        return bool(self.v("B.running")) and speed is not None and \
            speed >= 0.9 * self.fan_eq("B").run_speed_pct

    def fb_crossed(self) -> bool:
        return bool(self.v("B.dout.opened")) and bool(self.v("A.dout.closed"))

    def fb_old_stopped(self) -> bool:
        return not self.v("A.running", True)

    def fb_stopped(self) -> bool:
        speed = self.v("A.speed")
        return not self.v("A.running", True) and speed is not None and \
            speed <= STOPPED_SPEED_PCT

    def fb_reversed(self) -> bool:
        flow = self.airflow()
        return bool(self.v("A.reversed")) and flow is not None and \
            abs(flow) >= self.ctl.nominal_airflow_m3s * self.ctl.reversal_min_pct / 100

    def fb_none_running(self) -> bool:
        return not self.v("A.running", True) and not self.v("B.running", True)

    def fan_eq(self, who: str) -> FanEq:
        eq = self.cfg.equipment[self.on_line if who == "A" else self.other]
        assert isinstance(eq, FanEq)
        return eq

    # --- state entry -----------------------------------------------------------------------
    async def _entered(self) -> None:
        now = self.entered = self.clock.now()
        self.store.update(self.state_tag, self.state)
        self.store.update(self.on_line_tag, self.on_line)
        if self.state in MEASURED and self.record is None:
            self._begin_record("changeover" if self.state in CHANGEOVER else "failover", now)
        if self.state == "running" and self.record is not None:
            self._end_record(now)
        if self.state == "rev_down":
            self._reversal_t0 = now
        if self.state == "reversed" and self._reversal_t0 is not None:
            self._reversal_done(now)
        if self.state != "reversed" and self._settle_until is not None:
            self._settle_until = now              # left reversed early: kept as it stood
            self._settle(now)
        for sig, value in ENTRY_WRITES.get(self.state, []):
            if value == "run":
                value = self.fan_eq(sig[0]).run_speed_pct
            res = await self.writer.write(self.sig(sig), value)
            if not res.ok and self.state != "fault":
                self._write_error = say("{signal}={value} not confirmed: {why}",
                                        signal=self.sig(sig), value=value, why=res.reason)
                return
        self._status()

    def _swap(self) -> None:
        self.on_line = self.other

    def _status(self, extra: str = "") -> None:
        words = {"stopped": say("main fans stopped"), "running": say("{fan} on line",
                                                                     fan=self.on_line)}
        text = words.get(self.state, say("{fan}: {step}", fan=self.on_line, step=self.state))
        self.store.update(self.status_tag, f"{text}; {extra}" if extra else text)

    # --- records ----------------------------------------------------------------------------
    def _begin_record(self, what: str, now: float) -> None:
        flow = self.airflow()
        ref = flow if flow is not None and flow > 0 else self.ctl.nominal_airflow_m3s
        if what == "failover":              # the air the mine had before the trip
            ref = max(ref, self.ctl.nominal_airflow_m3s)
        self.record = Record(what, now, ref, self.ctl.nominal_airflow_m3s,
                             self.ctl.changeover_min_pct)
        self.record.sample(now, flow)

    def _end_record(self, now: float) -> None:
        r, self.record = self.record, None
        assert r is not None
        r.sample(now, self.airflow())
        r.end = now
        took = now - r.start
        data = {"what": r.what, "fan": self.on_line, "took_s": round(took, 1),
                "min_pct": round(r.min_pct, 2), "below_s": round(r.below_s, 1),
                "deficit_m3": round(r.deficit_m3, 1)}
        if r.what == "changeover":
            text = say("changeover to {fan} in {s:.0f} s: lowest {pct:.1f} % of nominal, "
                       "{below:.0f} s below {th:.0f} %, {deficit:.0f} m3 of air not delivered",
                       fan=self.on_line, s=took, pct=r.min_pct, below=r.below_s,
                       th=r.threshold_pct, deficit=r.deficit_m3)
            self.store.update(self.co_tag, text)
            self.store.update(self.co_min_tag, round(r.min_pct, 2))
        else:
            text = say("failover to {fan}: air delivered {s:.0f} s after the trip (limit "
                       "{limit:.0f} s); lowest {pct:.1f} % of nominal, {deficit:.0f} m3 not "
                       "delivered", fan=self.on_line, s=took, limit=self.ctl.failover_within_s,
                       pct=r.min_pct, deficit=r.deficit_m3)
            self.store.update(self.fo_tag, text)
            self.store.update(self.fo_s_tag, round(took, 1))
        self._keep(now, text, data)

    def _reversal_done(self, now: float) -> None:
        """The reversed air has reached the minimum: the time is the drill's; its air is
        taken once it has settled (REVERSAL_SETTLE_S later), not at the crossing."""
        self._rev_took = now - (self._reversal_t0 or now)
        self._rev_best = self.pct(abs(self.airflow() or 0.0)) or 0.0
        self._reversal_t0 = None
        self._settle_until = now + REVERSAL_SETTLE_S
        self.store.update(self.rev_s_tag, round(self._rev_took, 1))
        self.store.update(self.rev_pct_tag, round(self._rev_best, 1))

    def _settle(self, now: float) -> None:
        pct = self.pct(abs(self.airflow() or 0.0))
        if pct is not None:
            self._rev_best = max(self._rev_best, pct)
            self.store.update(self.rev_pct_tag, round(self._rev_best, 1))
        if self._settle_until is None or now < self._settle_until:
            return
        self._settle_until = None
        took, pct = self._rev_took, self._rev_best
        text = say("reversal drill on {fan}: reversed air at {reached:.0f} % after {s:.0f} s, "
                   "settled at {pct:.0f} % of nominal (rules: at least {min:.0f} % within "
                   "{limit:.0f} s)", fan=self.on_line, pct=pct, s=took,
                   reached=self.ctl.reversal_min_pct, min=self.ctl.reversal_min_pct,
                   limit=self.ctl.reversal_within_s)
        self.store.update(self.rev_tag, text)
        self._keep(now, text, {"what": "reversal", "fan": self.on_line,
                               "took_s": round(took, 1), "pct": round(pct, 1)})

    def _keep(self, now: float, text: str, data: dict[str, Any]) -> None:
        """A record for the monthly report and the drill book: the log, and the historian
        as an event of kind "ventilation" (the tags hold only the last one)."""
        log.warning("%s: %s", self.path, text)
        if self.historian is not None:
            self.historian.event(now, "ventilation", self.path, text, data)

    # --- the scan ---------------------------------------------------------------------------
    async def scan(self) -> None:
        shaft = self.store.get(self.sig(f"{self.ctl.shaft_sensor}.airflow"))
        if shaft is not None and isinstance(shaft.value, int | float):
            self.store.update(self.pct_tag, round(100 * shaft.value /
                                                  self.ctl.nominal_airflow_m3s, 1),
                              shaft.quality, shaft.reason)
        if not self.data_good:                 # never act on data we do not trust
            for tag in (self.state_tag, self.on_line_tag, self.status_tag):
                if tag.value is not None:
                    self.store.derive(tag, self.inputs)
            return
        for tag in (self.state_tag, self.on_line_tag, self.status_tag, self.reason_tag):
            if tag.quality is not Quality.GOOD and tag.value is not None:
                self.store.update(tag, tag.value)
        now = self.clock.now()
        if not self.adopted:
            await self._adopt()
            return
        if self._write_error:
            err, self._write_error = self._write_error, ""
            await self._fail(err)
            return
        if self.record is not None:
            self.record.sample(now, self.airflow())
        if await self._lost_air(now):
            return
        if self.state in ("co_starting", "co_crossing") and self.v("B.fault_code"):
            code = int(self.v("B.fault_code"))
            await self._fail(say("standby {fan} tripped during the changeover: {cause}",
                                 fan=self.other, cause=FAULT_WORDS.get(
                                     code, say("trip code {code}", code=code))))
            return
        if self.state == "co_crossing" and self.v("B.dout.opened") and \
                self.v("A.dout.open_cmd") is not False:
            res = await self.writer.write(self.sig("A.dout.open_cmd"), False)
            if not res.ok:
                await self._fail(say("{signal}={value} not confirmed: {why}",
                                     signal=self.sig("A.dout.open_cmd"), value=False,
                                     why=res.reason))
                return
        if self.state == "reversed" and self._settle_until is not None:
            self._settle(now)
        if self.state in STEPPING:
            await self.step()
        limit = self.timeouts.get(self.state)
        if limit is not None and now - self.entered > self.clock.guard_timeout(limit):
            await self._fail(say("{step} not complete within {limit:.0f} s",
                                 step=self.state, limit=limit))

    async def _lost_air(self, now: float) -> bool:
        """The fan on line tripped, stopped by itself, or the air fell below the minimum
        for longer than the delay: hand the mine to the standby if it can take it."""
        if self.state not in ("running", "proving", *CHANGEOVER):
            self._low_since = None
            return False
        code = self.v("A.fault_code")
        why = ""
        if code:
            why = say("{fan} tripped: {cause}", fan=self.on_line,
                      cause=FAULT_WORDS.get(int(code), say("trip code {code}", code=code)))
        elif self.state != "proving" and self.state != "co_stopping" and \
                not self.v("A.running"):
            why = say("{fan} stopped without a command", fan=self.on_line)
        else:
            pct = self.pct(self.airflow())
            low = pct is not None and pct < self.ctl.min_airflow_pct and \
                self.state == "running"
            if not low:
                self._low_since = None
            elif self._low_since is None:
                self._low_since = now
            elif now - self._low_since >= self.ctl.low_airflow_delay_s:
                why = say("shaft airflow {pct:.0f} % of nominal, below {min:.0f} %",
                          pct=pct, min=self.ctl.min_airflow_pct)
        if not why:
            return False
        refusal = self._standby_refusal()
        if refusal:
            if self.state != "fault":
                await self._fail(say("{why}; no failover: {refusal}", why=why,
                                     refusal=refusal))
            return True
        log.warning("%s: failover: %s", self.path, why)
        self.record = None                 # a failover is measured on its own
        self._low_since = None
        self._status(why)
        await self.failover()
        self._status(why)
        return True

    def _standby_refusal(self) -> str:
        """Why the standby cannot take the mine's air, or "" if it can."""
        other = self.other
        if self.v("B.local"):
            return say("{fan} is in LOCAL", fan=other)
        if self.v("B.fault_code"):
            return say("{fan} is tripped", fan=other)
        if not self.v("B.ready"):
            return say("{fan} is not ready", fan=other)
        return ""

    async def _fail(self, reason: str) -> None:
        """A step that did not complete: the fan carrying the air keeps running; what the
        step did to the other one is taken back."""
        prev = self.state
        self.fault_reason = reason
        self.store.update(self.reason_tag, reason)
        log.warning("%s: fault in %s: %s", self.path, prev, reason)
        await self.fail()
        undo: list[tuple[str, Any]] = []
        if prev in ("co_starting", "co_crossing"):
            undo = [("A.dout.open_cmd", True), ("B.dout.open_cmd", False), ("B.run_cmd", False)]
        elif prev == "failover":
            undo = []                        # both tried: leave the standby trying
        elif prev in ("opening_dampers", "running_up"):
            undo = [("A.run_cmd", False), ("A.dout.open_cmd", False)]   # (the PLC keeps a
            # run command it cannot yet obey: a start that timed out must take it back)
        for sig, value in undo:
            await self.writer.write(self.sig(sig), value)
        self._status(reason)

    async def _adopt(self) -> None:
        """First good scan after a (re)start: take the fans as they are, write nothing. The
        fan running with its dampers open is on line; one running reversed is a reversal
        left standing."""
        self.adopted = True
        running = [f for f in self.fans if self.store.value(f"{self.system}.{f}.running")]
        state = "stopped"
        if running:
            self.on_line = running[0]
            for f in running:                # prefer the one whose dampers are open
                self.on_line = f
                if self.fb_dampers_open():
                    break
            state = "reversed" if self.v("A.reversed") else "running"
        self.machine.set_state(state)
        self.entered = self.clock.now()
        self.store.update(self.state_tag, state)
        self.store.update(self.on_line_tag, self.on_line)
        self.store.update(self.reason_tag, "")
        self._status(say("both main fans running: finish or undo the changeover")
                     if len(running) > 1 else "")
        log.info("%s: adopted %s with %s on line", self.path, state, self.on_line)


STATION_COMMANDS = (
    CommandSpec("Start", "start", "operator", "one-key start of the main fans: dampers "
                "opened, the drive run up, the air proven; answers whether it was done and "
                "why", (CommandArg("fan", "string", 'which main fan to start (empty: the '
                                   'first), e.g. ""'),)),
    CommandSpec("Changeover", "changeover", "operator", "planned changeover to the standby "
                "fan without stopping the air (standby run up, dampers crossed, the old fan "
                "run down); measured and recorded"),
    CommandSpec("Stop", "stop", "engineer", "stop the main fan: the mine's air stops; needs "
                "the engineer role and confirm = \"STOP\"", (CommandArg(
                    "confirm", "string", 'type STOP to confirm, e.g. "STOP"'),)),
    CommandSpec("Reverse", "reverse", "engineer", "reverse the mine's air (drill or "
                "emergency): the fan run down and up reversed; measured; needs confirm = "
                "\"REVERSE\"", (CommandArg("confirm", "string",
                                           'type REVERSE to confirm, e.g. "REVERSE"'),)),
    CommandSpec("Restore", "restore", "engineer", "end a reversal: the fan run down and up "
                "forward again"),
    CommandSpec("Reset", "reset", "operator", "reset the station's sequence after a fault "
                "(the fans' own trips are reset at their PLC)"),
)


class StationHandler:
    """The gate's view of the station: its interlocks, then the sequence."""

    def __init__(self, st: FanStation) -> None:
        self.st = st

    def check(self, cmd: Command) -> str | None:
        st, a = self.st, cmd.action
        if not st.data_good:
            return say("main fans' state unknown (no good data from their PLC); no command "
                       "until it answers")
        if a == "reset":
            return None if st.state == "fault" else say("the station is not faulted")
        if st.state == "fault":
            return say("the station is faulted ({why}); reset it first", why=st.fault_reason)
        if a == "start":
            fan = cmd.params.get("fan") or st.fans[0]
            if fan not in st.fans:
                return say("{fan} is not a main fan of this shaft (they are {fans})",
                           fan=repr(fan), fans=", ".join(st.fans))
            if st.state != "stopped":
                return say("the main fans are not stopped ({state})", state=st.state)
            return self._can_run(fan)
        if a == "changeover":
            if st.state != "running":
                return say("a changeover starts from a fan running on line, not {state}",
                           state=st.state)
            return self._can_run(st.other)
        if a in ("stop", "reverse"):
            word = a.upper()
            if cmd.params.get("confirm") != word:
                return say("not confirmed: {action} needs confirm = {word}", action=a,
                           word=repr(word))
            if a == "reverse" and st.state != "running":
                return say("a reversal starts from a fan running on line, not {state}",
                           state=st.state)
            if a == "stop" and st.state not in ("running", "reversed", *STARTING):
                return say("nothing to stop ({state})", state=st.state)
            return None
        if a == "restore":
            return None if st.state == "reversed" else say("the air is not reversed")
        return say("the station takes no {action} command", action=repr(a))

    def _can_run(self, fan: str) -> str | None:
        st = self.st
        prefix = "A" if fan == st.on_line else "B"
        if st.v(f"{prefix}.local"):
            return say("{fan} is in LOCAL at the field panel", fan=fan)
        if st.v(f"{prefix}.fault_code"):
            return say("{fan} is tripped; reset it first", fan=fan)
        if not st.v(f"{prefix}.ready"):
            return say("{fan} is not ready (supply, drive or permissive)", fan=fan)
        return None

    async def execute(self, cmd: Command) -> Decision:
        st, a = self.st, cmd.action
        if a == "start":
            st.on_line = cmd.params.get("fan") or st.fans[0]
            await st.start()
        elif a == "changeover":
            await st.changeover()
        elif a == "stop":
            await st.stop()
        elif a == "reverse":
            await st.reverse()
        elif a == "restore":
            await st.restore()
        elif a == "reset":
            if not st.v("A.running") and st.v("B.running"):
                st.on_line = st.other            # the fan that carries the air is on line
            await st.reset()
            if st.state == "fault":
                return Decision(False, say("still faulted: a fan is running without the "
                                           "sequence knowing which; clear it first"))
        if st._write_error:                              # noqa: SLF001 - its own step
            err, st._write_error = st._write_error, ""   # noqa: SLF001
            await st._fail(err)                          # noqa: SLF001
            return Decision(False, err)
        return Decision(True, say("now {state} (commands read back)", state=st.state))
