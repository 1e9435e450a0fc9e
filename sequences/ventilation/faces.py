"""A working face's auxiliary fans: one of its two kept running, the switchover on a trip,
the daily switchover test, and the fan-power interlock (风电闭锁).

The face's PLC runs the fan it is told to run and never switches over by itself: that is
this control's, scan-driven on the project clock like the drainage pump's sequence.

* **Keeping the air**: the working fan (the face's first, until a switchover makes the
  other one working) runs. When the fan that runs trips or stops without a command, its
  command is withdrawn and the other is started; it must run within the face's
  ``switchover_s``, else it is withdrawn too and held until an operator resets the face.
  A fan that stopped without a trip or LOCAL is held the same way (it is not trusted to
  run again by itself). ``<system>.<face>.switchover`` records when, why and how it ended.
* **Switchover on command and the daily test** (at ``aux_test_at``, the site's local time,
  as the drainage tariff reads it): the standby is started, proven running, and only then
  is the working fan stopped; the standby becomes the working fan. A standby that does not
  run within ``switchover_s`` is withdrawn and the working fan keeps running; the test is
  recorded passed or failed with its reason (``aux_test``, ``aux_test_ok``, and a
  historian event for the monthly report).
* **Fan-power interlock**: ``ventilated`` is true while a fan of the face runs;
  ``power_lockout`` turns true the moment none does (the face is to be de-energised) and
  false only after the air has been proven for the face's ``proven_s``. A controller
  restart with the air on does not lock the face out: the PLC kept the fan running.

Never on bad data: while any of the face's fan signals reads bad (its PLC silent), the
control holds, writes nothing, and its state, working fan, ``ventilated`` and
``power_lockout`` keep their values at the worst quality of what they are read from.
Bumpless restart: the first good scan adopts the fan that runs as the working one (a
running standby included) and writes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer, WriteResult
from fixedsite.sequences.ventilation import texts
from fixedsite.sequences.ventilation.config import Face, VentilationControl
from fixedsite.systems import CommandSpec
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

FACE_STATES = ["running", "switching_over", "testing", "no_air"]
FAN_INPUTS = ("run_cmd", "running", "local", "fault_code")
AUX_FAULTS = {1: say("motor overload")}      # the auxiliary-fan PLC's trip codes

# tag -> (kind, what it is)
FACE_TAGS: dict[str, tuple[str, str]] = {
    "state": ("text", "the face's air: running, switching_over, testing or no_air"),
    "working": ("text", "the auxiliary fan that is to run (the other is the standby)"),
    "switchover": ("text", "the last switchover of the face's auxiliary fans: when, why, "
                   "how it ended"),
    "aux_test": ("text", "the last switchover test: when, passed or failed and why"),
    "aux_test_ok": ("bool", "the last switchover test passed"),
    "ventilated": ("bool", "an auxiliary fan of the face runs"),
    "power_lockout": ("bool", "the face is to be de-energised: its auxiliary air stopped "
                      "and has not yet been proven for proven_s"),
    "fans": ("text", "the face's auxiliary fans as configured, comma-separated (a client "
             "groups them under the face)"),
}
# no better than the fan signals they are read from
DERIVED = ("state", "working", "ventilated", "power_lockout")

_NEEDS = "; answers whether it was started and why; the outcome is in the face's tags"
FACE_COMMANDS = (
    CommandSpec("Switchover", "switchover", "operator", "hand the face's air over to its "
                "standby auxiliary fan: the standby started and proven running before the "
                "working fan is stopped; needs the operator role" + _NEEDS),
    CommandSpec("Test", "test", "engineer", "run the face's switchover test now (as the "
                "daily one): recorded passed or failed; needs the engineer role" + _NEEDS),
    CommandSpec("Reset", "reset", "operator", "reset the trips of the face's auxiliary fans "
                "and let a fan held after a failed start be started again; needs the "
                "operator role; answers whether it was done and why"),
)


@dataclass
class Job:
    """A switchover under way: ``new`` being started to take over from ``old``."""

    kind: str                  # "failover" (the running fan stopped), "switchover", "test"
    new: int
    old: int
    t0: float
    why: str = ""              # failover: why the old one stopped; else who asked
    phase: str = "starting"    # switchover and test: "starting", then "stopping" the old
    t1: float = 0.0            # when the new one was seen running


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def next_local(t: float, hhmm: str) -> float:
    """The first moment after ``t`` when the site's local clock reads ``hhmm``."""
    hh, mm = (int(x) for x in hhmm.split(":"))
    lt = time.localtime(t)
    for day in (0, 1, 2):            # mktime normalises the day; 2: a DST day's gap
        at = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday + day, hh, mm, 0, 0, 0, -1))
        if at > t:
            return at
    return t + 86400.0


class FaceControl:
    """One working face's two auxiliary fans and its fan-power interlock."""

    def __init__(self, system: str, face: str, spec: Face, ctl: VentilationControl,
                 store: TagStore, writer: Writer, clock: Clock) -> None:
        self.system, self.face, self.spec, self.ctl = system, face, spec, ctl
        self.path = f"{system}.{face}"
        self.fans = list(spec.fans)
        self.store, self.writer, self.clock = store, writer, clock
        self.working = 0                  # index into fans
        self.job: Job | None = None
        self.held: set[int] = set()       # fans not started again until a reset
        self.air_since: float | None = None
        self.lockout = True
        self.next_test: float | None = None
        self.adopted = False
        self.historian: Any = None        # set when the controller starts
        self._no_air_noted = False
        self._holding = False
        self._took_over = False           # adopted with no fan running
        self.tags: dict[str, Tag] = {
            name: store.define(f"{self.path}.{name}", TagMeta(kind=kind, description=what))
            for name, (kind, what) in FACE_TAGS.items()}
        store.update(self.tags["fans"], ",".join(self.fans))

    # --- signals ---------------------------------------------------------------------
    def sig(self, i: int, name: str) -> str:
        return f"{self.system}.{self.fans[i]}.{name}"

    def v(self, i: int, name: str) -> Any:
        return self.store.value(self.sig(i, name))

    @property
    def inputs(self) -> list[str]:
        return [self.sig(i, s) for i in (0, 1) for s in FAN_INPUTS]

    @property
    def data_good(self) -> bool:
        return all(self.store[p].quality is Quality.GOOD for p in self.inputs)

    @property
    def published(self) -> list[Tag]:
        return list(self.tags.values())

    def running(self, i: int) -> bool:
        return self.v(i, "running") is True

    def tripped(self, i: int) -> bool:
        code = self.v(i, "fault_code")
        return code is not None and code != 0

    def startable(self, i: int) -> bool:
        """Not tripped and not in LOCAL: the PLC would run it if told."""
        return not self.tripped(i) and self.v(i, "local") is False

    def available(self, i: int) -> bool:
        return self.startable(i) and i not in self.held

    def why_not(self, i: int) -> str:
        """Why fan ``i`` cannot be started."""
        fan = self.fans[i]
        if self.tripped(i):
            return self._trip_text(i)
        if self.v(i, "local"):
            return say("{fan} is in LOCAL at its panel", fan=fan)
        return say("{fan} did not run when last asked; reset the face to try it again",
                   fan=fan)

    def why_stopped(self, i: int) -> str:
        fan = self.fans[i]
        if self.tripped(i):
            return self._trip_text(i)
        if self.v(i, "local"):
            return say("{fan} stopped in LOCAL", fan=fan)
        return say("{fan} stopped without a command", fan=fan)

    def _trip_text(self, i: int) -> str:
        code = self.v(i, "fault_code")
        return say("{fan} tripped (code {code}: {cause})", fan=self.fans[i], code=code,
                   cause=AUX_FAULTS.get(code, say("unknown cause")))

    # --- writes ----------------------------------------------------------------------
    async def _run(self, i: int, on: bool) -> WriteResult:
        res = await self.writer.write(self.sig(i, "run_cmd"), on)
        if not res.ok:
            log.warning("%s: %s run_cmd=%d not confirmed: %s", self.path, self.fans[i],
                        int(on), res.reason)
        return res

    async def _withdraw(self, i: int) -> None:
        """Withdraw a run command the fan does not act on (a fan in LOCAL is its panel's)."""
        if self.v(i, "run_cmd") is True and self.v(i, "local") is False:
            await self._run(i, False)

    # --- records ---------------------------------------------------------------------
    def _keep(self, now: float, tag: str, text: str, data: dict[str, Any]) -> None:
        """A record: its tag (the last one), the log and a historian event for the report."""
        self.store.update(self.tags[tag], text)
        log.warning("%s: %s", self.path, text)
        if self.historian is not None:
            self.historian.event(now, "ventilation", self.path, text,
                                 {"face": self.face, **data})

    def _finish(self, now: float, job: Job, ok: bool, why: str = "") -> None:
        new, old = self.fans[job.new], self.fans[job.old]
        took = round(now - job.t0, 1)
        ran = round(job.t1 - job.t0, 1) if job.t1 else None    # the new one seen running
        data = {"ok": ok, "from": old, "to": new, "took_s": took, "ran_s": ran,
                "by": job.why}
        if job.kind == "test":
            text = say("{hhmm}: passed: {new} ran in {s:.0f} s and took over from {old}",
                       hhmm=_hms(job.t0), new=new, s=ran, old=old) if ok else \
                say("{hhmm}: failed: {why}", hhmm=_hms(job.t0), why=why)
            self.store.update(self.tags["aux_test_ok"], ok)
            self._keep(now, "aux_test", text, {"what": "aux_test", **data, "why": why})
        else:
            text = say("{hhmm}: switchover asked by {who}: {new} ran in {s:.0f} s and took "
                       "over from {old}", hhmm=_hms(job.t0), who=job.why, new=new, s=ran,
                       old=old) if ok else \
                say("{hhmm}: switchover asked by {who} failed: {why}", hhmm=_hms(job.t0),
                    who=job.why, why=why)
            self._keep(now, "switchover", text, {"what": "aux_switchover", **data,
                                                 "why": why})
        self.job = None

    # --- the scan --------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        if not self.data_good:           # hold: act on nothing, claim nothing better
            if not self._holding:
                _q, reason = self.store.worst(self.inputs)
                # before the first reads (not_yet_read) it is the start, not news
                log.log(logging.WARNING if self.adopted else logging.INFO,
                        "%s: holding: no good data from its fans (%s)", self.path, reason)
                self._holding = True
            for name in DERIVED:
                tag = self.tags[name]
                if tag.value is not None:
                    self.store.derive(tag, self.inputs)
            return
        self._holding = False
        if not self.adopted:
            self._adopt(now)
        elif self.job is not None:
            await self._job_step(now)
        else:
            await self._keep_air(now)       # the air first; a test waits for it
            if self.job is None and self.next_test is not None and now >= self.next_test:
                self.next_test = next_local(now, self.ctl.aux_test_at)
                await self.start_swap("test", say("the daily test"))
        self._air(now)
        self._publish()

    def _adopt(self, now: float) -> None:
        """First good scan: the fan that runs is the working one (the configured working
        fan if both run); with none running, the next scan starts one. Nothing written."""
        self.adopted = True
        run = [self.running(0), self.running(1)]
        self.working = 1 if run[1] and not run[0] else 0
        self._took_over = not any(run)
        if any(run):
            self.air_since, self.lockout = now - self.spec.proven_s, False
        self.next_test = next_local(now, self.ctl.aux_test_at)
        log.info("%s: adopted: %s working, %s", self.path, self.fans[self.working],
                 "running" if run[self.working] else "no fan running")

    async def _keep_air(self, now: float) -> None:
        w, o = self.working, 1 - self.working
        for i in (w, o):
            if self.running(i):
                self.held.discard(i)
        if self.running(w):
            self._no_air_noted = False
            if self.running(o) and self.v(o, "run_cmd") is True and \
                    self.v(o, "local") is False:
                # a handover cut short (a restart between its two writes): the standby
                # goes back to standing by
                log.warning("%s: both fans run: %s stopped, %s stays the working fan",
                            self.path, self.fans[o], self.fans[w])
                await self._run(o, False)
            return
        if self.running(o):
            log.warning("%s: %s runs and %s does not: %s is the working fan", self.path,
                        self.fans[o], self.fans[w], self.fans[o])
            self.working = o
            self._no_air_noted = False
            return
        # no air: withdraw the stopped fan's command, start the other (or, if only it can
        # run, the same one: at the controller's start with nothing running)
        order = (o, w)
        if self._took_over:
            why = say("no auxiliary fan running when the controller took over")
            order = (w, o)
        else:
            why = self.why_stopped(w)
            if self.startable(w):       # stopped with no trip and no LOCAL: not trusted
                self.held.add(w)
            await self._withdraw(w)
        self._took_over = False
        cand = next((i for i in order if self.available(i)), None)
        if cand is None:
            if not self._no_air_noted:
                self._no_air_noted = True
                self._keep(now, "switchover", say(
                    "{hhmm}: {why}; no fan to start: {whynot}", hhmm=_hms(now), why=why,
                    whynot=self.why_not(o)), {"what": "aux_switchover", "ok": False,
                                              "from": self.fans[w], "to": ""})
            return
        res = await self._run(cand, True)
        self.job = Job("failover", cand, w, now, why=why)
        if not res.ok:
            await self._failover_failed(now, self.job, say(
                "{fan} run command not confirmed: {why}", fan=self.fans[cand],
                why=res.reason))

    async def _failover_failed(self, now: float, job: Job, whynot: str) -> None:
        await self._withdraw(job.new)
        self.held.add(job.new)
        self._no_air_noted = True
        self.job = None
        self._keep(now, "switchover", say("{hhmm}: {why}; no air: {whynot}",
                                          hhmm=_hms(job.t0), why=job.why, whynot=whynot),
                   {"what": "aux_switchover", "ok": False, "from": self.fans[job.old],
                    "to": self.fans[job.new], "took_s": round(now - job.t0, 1)})

    async def _job_step(self, now: float) -> None:
        j = self.job
        assert j is not None
        limit = self.spec.switchover_s
        late = now - j.t0 > self.clock.guard_timeout(limit)
        new, old = self.fans[j.new], self.fans[j.old]
        if j.kind == "failover":
            if self.running(j.new):
                self.working = j.new
                self.job = None
                took = round(now - j.t0, 1)
                self._keep(now, "switchover", say(
                    "{hhmm}: {why}; {fan} started and ran in {s:.0f} s", hhmm=_hms(j.t0),
                    why=j.why, fan=new, s=took), {"what": "aux_switchover", "ok": True,
                                                  "from": old, "to": new, "took_s": took})
            elif self.tripped(j.new):
                await self._failover_failed(now, j, self._trip_text(j.new))
            elif late:
                await self._failover_failed(now, j, say(
                    "{fan} did not run within {limit:.0f} s", fan=new, limit=limit))
            return
        if j.phase == "starting":
            if not self.running(j.old):
                # the working fan stopped under the handover: the air is the point now
                why = self.why_stopped(j.old)
                started = self.running(j.new)
                self._finish(now, j, False, say("{why} during the handover", why=why))
                if started:
                    self.working = j.new
                else:
                    self.job = Job("failover", j.new, j.old, j.t0, why=why)
                return
            if self.running(j.new):
                res = await self._run(j.old, False)
                if not res.ok:
                    self._finish(now, j, False, say("{fan} run command not confirmed: {why}",
                                                    fan=old, why=res.reason))
                    return
                j.phase, j.t1 = "stopping", now
                return
            if self.tripped(j.new) or late:
                await self._withdraw(j.new)
                why = self._trip_text(j.new) if self.tripped(j.new) else say(
                    "{fan} did not run within {limit:.0f} s", fan=new, limit=limit)
                self._finish(now, j, False, say("{why}; {fan} kept running", why=why,
                                                fan=old))
            return
        # stopping the old one, the new one proven running
        if not self.running(j.new):
            why = self.why_stopped(j.new)
            if self.running(j.old):
                await self._run(j.old, True)          # keep the old one on line
                self._finish(now, j, False, say("{why} during the handover; {fan} kept "
                                                "running", why=why, fan=old))
            else:
                self.working = j.new                  # both stopped: the air comes back
                self._finish(now, j, False, say("{why} during the handover", why=why))
            return
        if not self.running(j.old):
            self.working = j.new
            self._finish(now, j, True)
        elif now - j.t1 > self.clock.guard_timeout(limit):
            self.working = j.new
            self._finish(now, j, False, say("{fan} did not stop within {limit:.0f} s: both "
                                            "run", fan=old, limit=limit))

    def swap_blocker(self) -> str | None:
        """Why the face cannot hand over to its standby now (None: it can)."""
        w, o = self.working, 1 - self.working
        if self.job is not None:
            return say("{face}: a switchover or test is under way", face=self.face)
        if not self.running(w):
            return say("{fan} is not running: nothing to hand over", fan=self.fans[w])
        if self.running(o):
            return say("{fan} is already running", fan=self.fans[o])
        if not self.startable(o):
            return self.why_not(o)
        return None

    async def start_swap(self, kind: str, who: str) -> str:
        """Start the standby to take over (``kind`` "switchover" or "test"); the reason it
        could not be started ("" if it was). A test that cannot run is a failed test."""
        now = self.clock.now()
        w, o = self.working, 1 - self.working
        job = Job(kind, o, w, now, why=who)
        why = self.swap_blocker()
        if why is None:
            self.held.discard(o)
            res = await self._run(o, True)
            if res.ok:
                self.job = job
                return ""
            why = say("{fan} run command not confirmed: {why}", fan=self.fans[o],
                      why=res.reason)
        if kind == "test":
            self._finish(now, job, False, say("not run: {why}", why=why))
        return why

    def _air(self, now: float) -> None:
        if self.running(0) or self.running(1):
            if self.air_since is None:
                self.air_since = now
            if self.lockout and now - self.air_since >= self.spec.proven_s:
                self.lockout = False
                log.warning("%s: air proven for %.0f s: power may be restored", self.path,
                            now - self.air_since)
        else:
            self.air_since = None
            if not self.lockout:
                self.lockout = True
                log.warning("%s: no auxiliary air: the face is to be de-energised",
                            self.path)

    def _publish(self) -> None:
        ventilated = self.running(0) or self.running(1)
        if self.job is not None:
            state = "testing" if self.job.kind == "test" else "switching_over"
        else:
            state = "running" if ventilated else "no_air"
        for name, value in (("state", state), ("working", self.fans[self.working]),
                            ("ventilated", ventilated), ("power_lockout", self.lockout)):
            self.store.update(self.tags[name], value)


class FaceHandler:
    """The gate's view of a face: a switchover or a test on command, a reset of its fans."""

    def __init__(self, fc: FaceControl) -> None:
        self.fc = fc

    def check(self, cmd: Command) -> str | None:
        fc = self.fc
        if cmd.action not in ("switchover", "test", "reset"):
            return say("{face} takes no {action} command", face=fc.face,
                       action=repr(cmd.action))
        if not fc.data_good:
            return say("{face}: its auxiliary fans' state is unknown (no good data from "
                       "their PLC); no command until it answers", face=fc.face)
        if cmd.action == "reset":
            if not (fc.tripped(0) or fc.tripped(1) or fc.held):
                return say("{face}: no auxiliary fan is tripped or held", face=fc.face)
            return None
        return fc.swap_blocker()

    async def execute(self, cmd: Command) -> Decision:
        fc = self.fc
        if cmd.action == "reset":
            fc.held.clear()
            fc._no_air_noted = False
            for i in (0, 1):
                if fc.tripped(i):
                    res = await fc.writer.write(fc.sig(i, "fault_code"), 0)
                    if not res.ok:
                        return Decision(False, say("PLC keeps the trip of {fan}: {why}",
                                                   fan=fc.fans[i], why=res.reason))
            return Decision(True, say("{face}: fans reset and free to start", face=fc.face))
        who = cmd.user or cmd.source
        err = await fc.start_swap(cmd.action, who)
        if err:
            return Decision(False, err)
        job = fc.job
        assert job is not None
        return Decision(True, say("{new} starting; {old} stops once it runs",
                                  new=fc.fans[job.new], old=fc.fans[job.old]))


def published(sname: str, system: Any) -> dict[str, str]:
    """The tags the face controls publish for one ventilation system, with their kinds."""
    return {f"{sname}.{face}.{name}": kind for face in system.control.faces
            for name, (kind, _) in FACE_TAGS.items()}


IDS = texts.FACES_IDS          # (kept with ventilation's texts: read without this module)
TEXTS = texts.FACES
