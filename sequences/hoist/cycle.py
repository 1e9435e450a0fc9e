"""One hoist under the supervisor: its automatic cycle, quantitative loading, bin
linkage, speed and load supervision, and its commands.

The PLC does motion and protection; the supervisor decides *when*: it loads the skip
(feeder into the weigh hopper to the target less the material in flight, the in-flight
learnt from each load; then the chute), hoists when every permissive holds and the
surface bin has room, lets the skip dump, returns it, and begins again, pausing while
the surface bin is full or the ore bin empty and resuming by itself. It refuses and
alarms a second load into a loaded skip and an over-weight load, and never overrides a
PLC protection: a trip is shown with its cause and waits for a reset.

Each trip is recorded: payload, peak and RMS motor current, the largest speed deviation
from the profile, its duration; tonnage per hour and per shift are kept, and each trip
is a historian event (kind "hoist") for the monthly report.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.hoist.config import HoistControl, WinderEq
from fixedsite.sequences.hoist.profile import MODE_AUTO, MODE_MANUAL, TRIP_CODES
from fixedsite.tags import Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

MODES = {"remote-manual": MODE_MANUAL, "remote-auto": MODE_AUTO}
SHIFT_S = 8 * 3600.0
HOUR_S = 3600.0
AT_LOADING, HOISTING, DUMPING, RETURNING, STOPPED, TRIPPED = range(6)


class Hoist:
    def __init__(self, sname: str, ctl: HoistControl, winder: WinderEq, store: TagStore,
                 writer: Writer, clock: Clock) -> None:
        self.sname, self.ctl, self.winder = sname, ctl, winder
        self.store, self.writer, self.clock = store, writer, clock
        self.path = f"{sname}.cycle"
        self.w = f"{sname}.{ctl.winder}"
        self.ld = f"{sname}.{ctl.loading}"
        self.sb = f"{sname}.{ctl.surface_bin}"
        self.rope = f"{sname}.{ctl.rope_monitor}"
        self.tags = {n: store.define(f"{self.path}.{n}", TagMeta(kind=k, unit=u,
                                                                  description=d))
                     for n, k, u, d in (
            ("state", "text", "", "the cycle: idle, loading, charging, hoisting, dumping, "
             "returning, paused, refused, tripped, manual, unknown"),
            ("status", "text", "", "what the cycle does now and why"),
            ("on", "bool", "", "the automatic cycle is on"),
            ("inflight_t", "number", "t", "the material in flight when the feeder stops, "
             "learnt"),
            ("last_load_t", "number", "t", "the last load weighed"),
            ("last_error_pct", "number", "%", "the last load against the target"),
            ("payload_t", "number", "t", "the last trip's payload"),
            ("peak_current", "number", "A", "the last trip's peak motor current"),
            ("rms_current", "number", "A", "the last trip's RMS motor current"),
            ("speed_dev", "number", "m/s", "the last trip's largest speed deviation from "
             "the profile"),
            ("tonnage_hour", "number", "t", "hoisted in the last hour"),
            ("tonnage_shift", "number", "t", "hoisted this shift"),
            ("refusals", "number", "", "loads refused (double loading, over-weight)"),
            ("refusal", "text", "", "the last refusal and why"),
            ("samples", "number", "", "current samples of the last trip's record"),
            ("rope_spread_pct", "number", "%", "the ropes' tensions apart (highest less "
             "lowest, of their mean): a rope slack or carrying more than its share"))}
        # what a scan decides on, named once (the scan asks for its worst quality each time)
        self._inputs = [f"{self.w}.{s}" for s in ("fault_code", "plc_state", "local", "fallback",
                                          "mode", "skip_load", "position", "speed",
                                          "trip_cmd")] + \
            [f"{self.ld}.{s}" for s in ("hopper_weight", "feeder_running", "chute_open",
                                        "ore_bin_level", "feeder_cmd", "chute_cmd")] + \
            [f"{self.sb}.bin_level"]
        self.cycle_on = False
        self.state = "unknown"
        self.inflight = ctl.inflight_t
        self._tare = 0.0                        # the empty hopper's reading at a load's start
        self._stop_w: float | None = None      # the cut-off the PLC stopped the feeder at
        self._stopped_at: float | None = None
        self._phase_at = 0.0
        self.loading_active = False             # a load from the feeder's start to the chute
        self.refusal: str | None = None         # held until an operator resets it
        self._tare_seen = 0.0                   # the hopper read empty after a charge
        self._brake_asked = False               # the cycle asked one brake test
        self._dev = 0.0                         # the largest speed deviation of the trip
        self._trip: dict[str, float] | None = None
        self.trips: deque[tuple[float, float]] = deque()   # (t, payload) of the shift
        self.refused = 0
        self.historian: Any = None
        self._put("on", False)
        self._put("inflight_t", round(self.inflight, 3))
        self._put("refusals", 0)

    @property
    def published(self) -> list[Any]:
        return list(self.tags.values())

    def _put(self, name: str, value: Any, q: Quality = Quality.GOOD) -> None:
        self.store.update(self.tags[name], value, q)

    def v(self, path: str) -> Any:
        return self.store.value(path)

    def inputs(self) -> list[str]:
        return self._inputs

    @property
    def mode(self) -> str:
        m = self.v(f"{self.w}.mode")
        return {MODE_MANUAL: "remote-manual", MODE_AUTO: "remote-auto"}.get(
            int(m) if isinstance(m, int | float) else -1, "not set")

    def _set(self, state: str, status: str, q: Quality = Quality.GOOD) -> None:
        if state != self.state:
            log.info("%s: %s (%s)", self.path, state, status)
        self.state = state
        self._put("state", state, q)
        self._put("status", status, q)

    async def _write(self, path: str, value: float | bool) -> str | None:
        res = await self.writer.write(path, value)
        return None if res.ok else say("{signal}={value} not confirmed: {why}",
                                       signal=path.rsplit(".", 1)[1], value=value,
                                       why=res.reason)

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        q, why = self.store.worst(self.inputs())
        if q is not Quality.GOOD:
            self._set("unknown", say("no good data from the hoist's PLC ({why})", why=why), q)
            if self.v(f"{self.ld}.feeder_cmd") is not False:
                await self._write(f"{self.ld}.feeder_cmd", False)   # no weight, no feeding
            return
        self._figures(now)
        plc = int(self.v(f"{self.w}.plc_state"))
        self._record(now, plc)
        code = int(self.v(f"{self.w}.fault_code") or 0)
        if code:
            if self.state != "tripped":
                await self._abandon()
            self._set("tripped", say("PLC trip {code}: {cause}", code=code, cause=say(
                TRIP_CODES.get(code, "unknown cause"))))
            return
        if self.v(f"{self.w}.local"):
            self._set("manual", say("LOCAL at the winder's desk"))
            return
        if self.v(f"{self.w}.fallback"):
            await self._abandon()
            self._set("paused", say("the PLC lost the controller's heartbeat: no command"))
            return
        if self.refusal is not None:                # held until an operator resets it
            self._set("refused", self.refusal)
            return
        if not self.cycle_on or self.mode != "remote-auto":
            if self.loading_active:               # a load asked by hand runs to its end
                await self._loading(now)
                return
            self._set("idle" if plc in (AT_LOADING, DUMPING) else self.state_of(plc),
                      say("automatic cycle off") if not self.cycle_on else
                      say("in {mode}: the cycle waits for remote-auto", mode=say(self.mode)))
            return
        await self._cycle(now, plc)

    @staticmethod
    def state_of(plc: int) -> str:
        return {HOISTING: "hoisting", RETURNING: "returning", DUMPING: "dumping"}.get(
            plc, "idle")

    async def _abandon(self) -> None:
        """A trip, the PLC on its own, a stop: what the cycle had asked is taken back (the
        feeder off, no trip latched to start by itself later) and a load in progress is
        not weighed as a load."""
        if self.v(f"{self.ld}.feeder_cmd"):
            await self._feeder(False)
        if self.v(f"{self.w}.trip_cmd") and int(self.v(f"{self.w}.plc_state")) in (
                AT_LOADING, DUMPING):
            await self._write(f"{self.w}.trip_cmd", False)
        self.loading_active = False
        self._stop_w = self._stopped_at = None

    async def _cycle(self, now: float, plc: int) -> None:
        c = self.ctl
        if plc == AT_LOADING:
            if self.loading_active:
                await self._loading(now)
                return
            if self.v(f"{self.w}.trip_cmd"):
                self._set("hoisting", say("waiting for the winder to start"))
                return                           # asked; the PLC starts it or clears it
            skip = float(self.v(f"{self.w}.skip_load"))
            if skip > c.empty_skip_t:                       # loaded: hoist it
                await self._hoist(skip)
                return
            level = float(self.v(f"{self.ld}.ore_bin_level"))
            if level <= c.bin_empty_pct or (self.state == "paused" and "ore bin" in
                                             str(self.tags["status"].value)
                                             and level < c.bin_resume_pct):
                self._set("paused", say("ore bin {level:.0f} %: loading waits for "
                                        "{resume:.0f} %", level=level,
                                        resume=c.bin_resume_pct))
                return
            why = await self.start_load(now)
            if why is not None and self.refusal is None:
                self._set("paused", why)
        elif plc == DUMPING:
            if self.v(f"{self.w}.trip_cmd"):
                self._set("returning", say("waiting for the winder to start"))
            elif float(self.v(f"{self.w}.skip_load")) <= c.empty_skip_t and \
                    now - self._phase_at > 1.0:
                why = self.refuse_trip(up=False)
                if why is not None:
                    self._set("paused", why)
                elif (why := await self._write(f"{self.w}.trip_cmd", True)) is None:
                    self._set("returning", say("dumped: returning"))
                else:
                    self._set("paused", why)
            else:
                self._set("dumping", say("dumping into the surface bin"))
        elif plc in (HOISTING, RETURNING):
            self._set(self.state_of(plc), say("{state}: {x:.0f} m", state=say(
                self.state_of(plc)), x=float(self.v(f"{self.w}.position"))))
            self._phase_at = now
        else:
            self._set("paused", say("the skip stopped between the ends: the operator "
                                    "decides"))

    async def _hoist(self, skip: float) -> None:
        c = self.ctl
        level = float(self.v(f"{self.sb}.bin_level"))
        if level >= c.surface_full_pct or (self.state == "paused" and "surface bin" in
                                           str(self.tags["status"].value)
                                           and level > c.surface_resume_pct):
            self._set("paused", say("surface bin {level:.0f} %: hoisting waits for "
                                    "{resume:.0f} %", level=level,
                                    resume=c.surface_resume_pct))
            return
        why = self.refuse_trip(up=True)
        if why is not None:
            if why == say("brake test not passed") and not self._brake_asked:
                # one test asked by the cycle; a failed one waits for the operator
                self._brake_asked = True
                err = await self._write(f"{self.w}.brake_test_cmd", True)
                why = err or say("brake test running")
            elif why == say("brake test not passed"):
                why = say("brake test failed: the operator decides")
            self._set("paused", why)
            return
        if (err := await self._write(f"{self.w}.trip_cmd", True)) is not None:
            self._set("paused", err)
            return
        self._set("hoisting", say("hoisting {t:.1f} t", t=skip))

    def refuse_trip(self, up: bool = True) -> str | None:
        """The remote start permissives, the first one missing (hoisting also needs room
        in the surface bin and a skip within its payload)."""
        if not self.v(f"{self.w}.brake_test_ok"):
            return say("brake test not passed")
        if self.v(f"{self.rope}.damage") or not self.v(f"{self.rope}.monitor_ok"):
            return say("rope monitor signals damage")
        if not self.v(f"{self.w}.access_closed"):
            return say("winder room access open")
        if self.v(f"{self.ld}.chute_open"):
            return say("chute open")
        if up:
            level = self.v(f"{self.sb}.bin_level")
            if not isinstance(level, int | float) or level >= self.ctl.surface_full_pct:
                return say("surface bin full")
            skip = self.v(f"{self.w}.skip_load")
            limit = self.winder.payload_t * self.ctl.overload_pct / 100
            if not isinstance(skip, int | float) or skip > limit:
                return say("skip over its payload: {t} t over {limit:.1f} t",
                           t=f"{skip:.1f}" if isinstance(skip, int | float) else "?",
                           limit=limit)
        return None

    # --- quantitative loading ------------------------------------------------------------
    async def start_load(self, now: float) -> str | None:
        c = self.ctl
        skip = float(self.v(f"{self.w}.skip_load"))
        if skip > c.empty_skip_t:
            return self._refuse(say("second load refused: the skip holds {t:.1f} t "
                                    "already", t=skip))
        if int(self.v(f"{self.w}.plc_state")) != AT_LOADING:
            return say("the skip is not at the loading station")
        if self.v(f"{self.ld}.feeder_running") or self.v(f"{self.ld}.chute_open") or \
                self.v(f"{self.ld}.chute_cmd"):
            return say("the feeder or the chute is still working")
        hopper = float(self.v(f"{self.ld}.hopper_weight"))
        if abs(hopper - self._tare_seen) > c.empty_skip_t and hopper > c.empty_skip_t:
            # the tare is an empty hopper's reading: one holding ore would let that ore
            # through unweighed on top of the load
            return self._refuse(say("the hopper is not empty: {t:.1f} t in it", t=hopper))
        # the hopper's reading now, empty, is the tare (a drifting cell is zeroed each
        # load); the PLC stops the feeder at the cut-off in its own scan
        self._tare = hopper
        cutoff = self._tare + c.target_t - self.inflight
        if (why := await self._write(f"{self.ld}.cutoff", round(cutoff, 3))) is not None:
            return why
        if (why := await self._feeder(True)) is not None:
            return why
        self._phase_at, self._stop_w = now, None
        self.loading_active = True
        self._set("loading", say("feeding to {t:.1f} t", t=c.target_t))
        return None

    async def _loading(self, now: float) -> None:
        c = self.ctl
        w = float(self.v(f"{self.ld}.hopper_weight"))
        if self.state == "charging":
            if not self.v(f"{self.ld}.chute_open") and \
                    not self.v(f"{self.ld}.chute_cmd") and now - self._phase_at > 2.0:
                self.loading_active = False
                self._tare_seen = w                # the empty hopper after the charge
                self._set("idle", say("skip loaded: {t:.2f} t",
                                      t=float(self.v(f"{self.w}.skip_load"))))
            return
        w -= self._tare
        if self._stop_w is None:
            if not self.v(f"{self.ld}.feeder_cmd"):
                cut = c.target_t - self.inflight
                if w < cut - max(0.05 * c.target_t, 2 * self.inflight):
                    # stopped well short of the cut-off: not the PLC's cut-off but an
                    # interruption; no load to weigh, nothing to learn
                    self._refuse(say("load interrupted at {t:.2f} t", t=w))
                    return
                self._stop_w, self._stopped_at = cut, now
                self._set("loading", say("feeder stopped at {t:.2f} t", t=w))
            elif now - self._phase_at > c.feed_timeout_s:
                await self._feeder(False)
                self._refuse(say("no load within {s:.0f} s (ore not flowing)",
                                 s=c.feed_timeout_s))
            return
        assert self._stopped_at is not None
        if now - self._stopped_at < c.settle_s:
            return
        if self.v(f"{self.ld}.feeder_running"):
            self._refuse(say("feeder does not stop: {t:.2f} t in the hopper", t=w))
            await self._feeder(False)
            return
        final = w
        self.inflight += c.inflight_gain * ((final - self._stop_w) - self.inflight)
        self.inflight = max(0.0, self.inflight)
        self._put("inflight_t", round(self.inflight, 3))
        self._put("last_load_t", round(final, 3))
        self._put("last_error_pct", round(100 * (final - c.target_t) / c.target_t, 2))
        self._stop_w = self._stopped_at = None
        limit = self.winder.payload_t * c.overload_pct / 100
        if final > limit:
            self._refuse(say("over-weight load refused: {t:.2f} t over {limit:.2f} t",
                             t=final, limit=limit))
            return
        skip = float(self.v(f"{self.w}.skip_load"))
        if skip > c.empty_skip_t:
            self._refuse(say("second load refused: the skip holds {t:.1f} t already",
                             t=skip))
            return
        if (why := await self._write(f"{self.ld}.chute_cmd", True)) is not None:
            self._set("paused", why)
            return
        self._phase_at = now
        self._set("charging", say("{t:.2f} t into the skip", t=final))

    async def _feeder(self, on: bool) -> str | None:
        return await self._write(f"{self.ld}.feeder_cmd", on)

    def _refuse(self, why: str) -> str:
        self.loading_active = False
        self._stop_w = self._stopped_at = None
        self.refused += 1
        self.refusal = why
        self._put("refusals", self.refused)
        self._put("refusal", why)
        log.warning("%s: %s", self.path, why)
        self._set("refused", why)
        return why

    # --- supervision -----------------------------------------------------------------------
    def _record(self, now: float, plc: int) -> None:
        """A trip's record, from what the PLC does (by the cycle or by hand): opened when
        the winder hoists, closed when the skip dumps; speed and current supervised in
        between, the return's speed too."""
        if plc == HOISTING and self._trip is None:
            self._trip = {"t0": now, "payload": float(self.v(f"{self.w}.skip_load")),
                          "peak": 0.0, "sq": 0.0, "n": 0, "dev": 0.0}
            self._brake_asked = False
        if plc in (HOISTING, RETURNING):
            i = self.v(f"{self.w}.current")
            v, ref = self.v(f"{self.w}.speed"), self.v(f"{self.w}.speed_ref")
            if isinstance(v, int | float) and isinstance(ref, int | float):
                self._dev = max(self._dev, abs(abs(v) - abs(ref)))
            t = self._trip
            if t is not None and plc == HOISTING and isinstance(i, int | float):
                t["peak"] = max(t["peak"], float(i))
                t["sq"] += float(i) ** 2
                t["n"] += 1
        if plc == DUMPING and self._trip is not None:
            self._end_trip(now, complete=True)
        elif plc == TRIPPED and self._trip is not None:
            self._end_trip(now, complete=False)

    def _end_trip(self, now: float, complete: bool) -> None:
        t, self._trip = self._trip, None
        if t is None:
            return
        rms = math.sqrt(t["sq"] / t["n"]) if t["n"] else 0.0
        self._put("payload_t", round(t["payload"], 2))
        self._put("peak_current", round(t["peak"], 1))
        self._put("rms_current", round(rms, 1))
        self._put("speed_dev", round(self._dev, 2))
        self._put("samples", t["n"])
        dev, self._dev = self._dev, 0.0
        if complete:
            self.trips.append((now, t["payload"]))
        if self.historian is not None:
            try:
                self.historian.event(now, "hoist", self.path, "trip" if complete else
                                     "trip cut", {"payload_t": round(t["payload"], 2),
                                                  "peak_a": round(t["peak"], 1),
                                                  "rms_a": round(rms, 1),
                                                  "speed_dev": round(dev, 2),
                                                  "took_s": round(now - t["t0"], 1)})
            except Exception:
                log.warning("%s: the trip's record not kept", self.path, exc_info=True)

    def _ropes(self) -> None:
        t = [self.v(f"{self.rope}.tension{k}") for k in range(1, self.winder.ropes + 1)]
        if all(isinstance(x, int | float) for x in t) and sum(t) > 0:
            mean = sum(t) / len(t)
            self._put("rope_spread_pct", round(100 * (max(t) - min(t)) / mean, 1))

    def _figures(self, now: float) -> None:
        self._ropes()
        shift0 = now - now % SHIFT_S
        while self.trips and self.trips[0][0] < min(shift0, now - HOUR_S):
            self.trips.popleft()
        self._put("tonnage_hour", round(sum(p for t, p in self.trips if t > now - HOUR_S), 1))
        self._put("tonnage_shift", round(sum(p for t, p in self.trips if t >= shift0), 1))


class HoistHandler:
    """The gate's view of a hoist."""

    def __init__(self, h: Hoist) -> None:
        self.h = h

    def check(self, cmd: Command) -> str | None:
        h = self.h
        plc, skip = h.v(f"{h.w}.plc_state"), h.v(f"{h.w}.skip_load")
        if h.state == "unknown" or not isinstance(plc, int | float) or \
                not isinstance(skip, int | float):
            return say("hoist state unknown (no good data from its PLC); no command until "
                       "it answers")
        if h.v(f"{h.w}.local"):
            return say("the hoist is in LOCAL at the winder's desk")
        if h.v(f"{h.w}.fallback"):
            return say("the hoist's PLC lost the controller's heartbeat")
        a = cmd.action
        if a == "set_mode":
            return None if cmd.params.get("mode") in MODES else say(
                "unknown mode {mode}; expected one of {modes}",
                mode=repr(cmd.params.get("mode")), modes=", ".join(MODES))
        if a == "reset":
            return None if h.state == "tripped" or h.refusal is not None else \
                say("the hoist is not tripped")
        if a in ("brake_test", "stop_cycle"):
            return None
        if a == "start_cycle":
            return None if h.mode == "remote-auto" else say(
                "the hoist is in {mode}; the automatic cycle needs remote-auto",
                mode=say(h.mode))
        if a not in ("trip", "load"):
            return say("the hoist takes no {action} command", action=repr(a))
        if h.mode != "remote-manual":
            return say("the hoist is in {mode}; switch it to remote-manual first",
                       mode=say(h.mode))
        if h.state == "tripped":
            return say("the hoist is tripped; reset it first")
        if h.refusal is not None:
            return say("a refused load waits for a reset: {why}", why=h.refusal)
        if a == "trip":
            if int(plc) not in (AT_LOADING, DUMPING):
                return say("the skip is not at an end position")
            return h.refuse_trip(up=int(plc) == AT_LOADING)
        if int(plc) != AT_LOADING:
            return say("the skip is not at the loading station")
        if skip > h.ctl.empty_skip_t:
            return say("second load refused: the skip holds {t:.1f} t already", t=skip)
        return None

    async def execute(self, cmd: Command) -> Decision:
        h, a = self.h, cmd.action
        if a == "set_mode":
            why = await h._write(f"{h.w}.mode", MODES[cmd.params["mode"]])
            return Decision(why is None, why or say("hoist in {mode}",
                                                    mode=say(cmd.params["mode"])))
        if a == "reset":
            was = h.refusal
            h.refusal = None
            h._put("refusal", "")
            if h.state != "tripped":
                return Decision(True, say("refusal cleared: {why}", why=was or ""))
            why = await h._write(f"{h.w}.fault_code", 0)
            return Decision(why is None, why or say("reset asked of the PLC"))
        if a == "brake_test":
            h._brake_asked = False
            why = await h._write(f"{h.w}.brake_test_cmd", True)
            return Decision(why is None, why or say("brake test running"))
        if a == "start_cycle":
            h.cycle_on = True
            h._put("on", True)
            return Decision(True, say("automatic cycle on"))
        if a == "stop_cycle":
            h.cycle_on = False
            h._put("on", False)
            await h._abandon()
            left = [s for s in ("feeder_cmd",) if h.v(f"{h.ld}.{s}")]
            if left:
                return Decision(False, say("automatic cycle off, but the feeder command "
                                           "does not read off"))
            return Decision(True, say("automatic cycle off: the present trip ends"))
        if a == "trip":
            why = await h._write(f"{h.w}.trip_cmd", True)
            return Decision(why is None, why or say("trip started"))
        why = await h.start_load(h.clock.now())
        return Decision(why is None, why or say("loading to {t:.1f} t", t=h.ctl.target_t))
