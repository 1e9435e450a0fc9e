"""A pump room linked to the mine's hydrological monitoring: readiness raised before the
water arrives.

A water inrush announces itself: the aquifer's pressure rises in the observation boreholes
and the water-bearing zone gives more water, tens of minutes before the extra water has
run down the drains into the sump. The room uses that lead to make room:

* **readiness** ``normal`` / ``watch`` / ``alert`` from ``[watch, alert]`` thresholds on
  each borehole's rise over its own baseline (level in m, pressure in MPa) and on each
  zone's measured inflow. A threshold must hold ``on_delay_s`` to raise readiness; every
  reading must stay under ``release`` of the thresholds of the level for ``hold_s`` to lower
  it, so a noisy reading near a threshold does not make the pumps chatter. A borehole's
  baseline follows it slowly (``baseline_h``) only while readiness is normal and the
  borehole is quiet, so it cannot climb along with a precursor.
* raised readiness **lowers the start and stop levels** (``lower_m``: by watch / alert),
  so the level control keeps more of the sump empty; a stop level never goes below low-low
  plus ``dry_margin_m``, and high-high still starts every pump. A plan's band is lowered
  with them.
* raised readiness **checks the standby pumps**: each stopped pump is held primed through
  the gate (``prime_standby``) and must show primed within ``prime_check_s``, its discharge
  valve closed, readable and not faulted, no trip, and be in remote-auto; one that is not
  is published ``standby not ready: why`` and alarmed.
* above ``suspend_plan_inflow_m3h`` the **peak-valley plan is suspended**: the level rule
  alone decides, whatever the tariff, until the inflow has stayed under ``release`` of it
  for ``hold_s``.
* **fail-safe**: a hydrological reading that is not good (its PLC silent, a bad value) is
  a reading that cannot tell us all is well: readiness is held at watch at least, the plan
  is suspended if its inflow threshold cannot be read, and ``data_lost`` is alarmed.

Every change is announced in ``<system>.hydrology.status`` (and the level control's
status), logged, and kept by the historian like any tag; priming commands go through the
gate and its audit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fixedsite.clock import Clock
from fixedsite.gate import Command, CommandGate
from fixedsite.sequences.drainage.config import DrainageHydrology, DrainageSystem
from fixedsite.sequences.drainage.equipment import HYDROLOGY_SIGNALS
from fixedsite.sequences.drainage.level import LevelControl
from fixedsite.sequences.drainage.pump import PumpSequence
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

NORMAL, WATCH, ALERT = 0, 1, 2


@dataclass
class Reading:
    """One hydrological signal: a borehole's level or pressure (with a baseline) or a
    zone's inflow (absolute)."""

    path: str
    name: str              # the equipment, for people
    what: str              # "level", "pressure", "inflow"
    thresholds: tuple[float, float] | None
    baseline: float | None = None

    def excess(self, value: float) -> float:
        """What is compared with the thresholds: a rise over the baseline, or the value."""
        if self.what == "inflow":
            return value
        return value - (self.baseline if self.baseline is not None else value)


def level_of(excess: float, thresholds: tuple[float, float] | None, scale: float = 1.0
             ) -> int:
    """The readiness ``excess`` calls for against ``thresholds`` scaled by ``scale``."""
    if thresholds is None:
        return NORMAL
    watch, alert = thresholds
    return ALERT if excess >= alert * scale else WATCH if excess >= watch * scale else NORMAL


class Hydrology:
    """The linkage of one pump room; scanned before its level control."""

    def __init__(self, system: str, cfg: DrainageSystem, control: LevelControl,
                 gate: CommandGate, store: TagStore, clock: Clock) -> None:
        assert cfg.hydrology is not None
        self.system, self.h, self.cfg = system, cfg.hydrology, cfg
        self.control, self.gate, self.store, self.clock = control, gate, store, clock
        self.readings = readings(system, cfg, cfg.hydrology)
        self.level = NORMAL
        self.suspended = False
        self.data_lost = False
        self._lost_since: float | None = None
        self._raise_since: float | None = None
        self._lower_since: float | None = None
        self._resume_since: float | None = None
        self._suspended_q: float | None = None     # the inflow the plan was set aside at
        self._last: float | None = None
        self._why = ""
        self._primed_at: dict[str, float] = {}       # pump -> when we asked it primed
        self.tags = {sig: store.define(f"{system}.hydrology.{sig}", TagMeta(
            unit=unit, kind=kind, description=desc))
            for sig, (kind, unit, desc) in HYDROLOGY_SIGNALS.items()}
        self.standby = {p.name: store.define(f"{p.path}.standby", TagMeta(
            kind="text", description="whether the pump is ready as a standby while the "
            "hydrological readiness is raised")) for p in control.pumps}
        control.dry_margin_m = self.h.dry_margin_m

    def published(self) -> list[Tag]:
        return [*self.tags.values(), *self.standby.values()]

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        dt = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        wanted, held, why, lost, inflow = self._assess(dt)
        self._lost(lost, now)
        if self.data_lost:
            wanted, held = max(wanted, WATCH), max(held, WATCH)
            why = why or say("hydrological data lost: {what}", what=", ".join(lost))
        before = self.level
        self._step(wanted, held, why, now)
        self._plan(inflow, lost, now)
        lowered = self.h.lower_m[self.level - 1] if self.level else 0.0
        if self.control.lowered_m != lowered:
            self.control.lowered_m = lowered
            if self.control.planner is not None:
                self.control.planner.lowered_m = lowered
                self.control.planner.replan()
        ready, unready = await self._standby(now)
        up = self.store.update
        up(self.tags["readiness"], self.level)
        up(self.tags["data_lost"], self.data_lost)
        up(self.tags["lowered_m"], round(lowered, 3))
        up(self.tags["plan_suspended"], self.suspended)
        up(self.tags["standby_ready"], ready)
        up(self.tags["status"], self._status(lowered, unready))
        if self.level != before:
            (log.warning if self.level > before else log.info)(
                "%s hydrology: %s", self.system, self.tags["status"].value)

    def _assess(self, dt: float) -> tuple[int, int, str, list[str], float | None]:
        """(the readiness the readings call for, the readiness they still hold with the
        release applied, why, the readings not good, the highest good inflow)."""
        wanted, held, why = NORMAL, NORMAL, ""
        lost: list[str] = []
        rises: dict[str, float] = {}
        inflow: float | None = None
        tau = self.h.baseline_h * 3600.0
        for r in self.readings:
            tag = self.store.get(r.path)
            if tag is None or tag.quality is not Quality.GOOD or \
                    not isinstance(tag.value, int | float):
                lost.append(r.path)
                continue
            value = float(tag.value)
            if r.what != "inflow" and r.baseline is None:
                r.baseline = value
            x = r.excess(value)
            if r.what == "inflow":
                inflow = value if inflow is None else max(inflow, value)
            else:
                rises[r.what] = max(rises.get(r.what, x), x)
                quiet = level_of(x, r.thresholds, self.h.release) == NORMAL
                if self.level == NORMAL and quiet and r.baseline is not None:
                    r.baseline += (value - r.baseline) * min(1.0, dt / tau)
            lvl = level_of(x, r.thresholds)
            if lvl > wanted:
                wanted, why = lvl, self._reason(r, x)
            held = max(held, level_of(x, r.thresholds, self.h.release))
        self.store.update(self.tags["rise_m"], round(rises.get("level", 0.0), 3),
                          *self.store.worst([r.path for r in self.readings
                                             if r.what == "level"]))
        self.store.update(self.tags["rise_mpa"], round(rises.get("pressure", 0.0), 4),
                          *self.store.worst([r.path for r in self.readings
                                             if r.what == "pressure"]))
        paths = [r.path for r in self.readings if r.what == "inflow"]
        if paths:
            self.store.update(self.tags["inflow"], round(inflow or 0.0, 1),
                              *self.store.worst(paths))
        return wanted, held, why, lost, inflow

    @staticmethod
    def _reason(r: Reading, x: float) -> str:
        if r.what == "level":
            return say("{name} water level {rise:.2f} m over its baseline",
                       name=r.name, rise=x)
        if r.what == "pressure":
            return say("{name} water pressure {rise:.3f} MPa over its baseline",
                       name=r.name, rise=x)
        return say("{name} inflow {q:.0f} m3/h", name=r.name, q=x)

    def _lost(self, lost: list[str], now: float) -> None:
        """Data lost once a reading has not been good for the on-delay (never judged in
        less than the wall floor of a peer's silence: a busy host is not a dead PLC)."""
        if not lost:
            self._lost_since, self.data_lost = None, False
            return
        if self._lost_since is None:
            self._lost_since = now
        if now - self._lost_since >= self.clock.silence_timeout(self.h.on_delay_s):
            self.data_lost = True

    def _step(self, wanted: int, held: int, why: str, now: float) -> None:
        """Raise after the on-delay (data lost: at once, its own delay is behind it); lower
        to what the readings still hold once they have held it ``hold_s``."""
        if wanted > self.level:
            self._raise_since = self._raise_since if self._raise_since is not None else now
            if self.data_lost and wanted == WATCH or \
                    now - self._raise_since >= self.h.on_delay_s:
                self.level, self._why, self._raise_since = wanted, why, None
        else:
            self._raise_since = None
        if held < self.level:
            self._lower_since = self._lower_since if self._lower_since is not None else now
            if now - self._lower_since >= self.h.hold_s:
                self.level, self._lower_since = held, None
                self._why = say("readings under the alert thresholds for {h:.1f} h",
                                h=self.h.hold_s / 3600) if held else ""
        else:
            self._lower_since = None

    def _plan(self, inflow: float | None, lost: list[str], now: float) -> None:
        """Suspend the plan above the set inflow (or with the inflow unknown); resume once
        it has stayed under ``release`` of it for ``hold_s``."""
        limit = self.h.suspend_plan_inflow_m3h
        if limit is None or self.control.planner is None:
            return
        meters = [r.path for r in self.readings if r.what == "inflow"]
        unknown = self.data_lost and any(p in lost for p in meters)
        if unknown or (inflow is not None and inflow >= limit):
            if not self.suspended or (unknown and self._suspended_q is not None):
                self._suspended_q = None if unknown else inflow   # what it was set aside at
                log.warning("%s hydrology: peak-valley plan suspended (inflow %s m3/h)",
                            self.system, "unknown" if unknown else f"{inflow:.0f}")
            self.suspended, self._resume_since = True, None
        elif self.suspended and (inflow is None or inflow < limit * self.h.release):
            self._resume_since = self._resume_since if self._resume_since is not None \
                else now
            if now - self._resume_since >= self.h.hold_s:
                self.suspended, self._resume_since = False, None
                log.info("%s hydrology: peak-valley plan resumed", self.system)
        else:
            self._resume_since = None
        self.control.plan_suspended = self.suspended

    # --- standby pumps ---------------------------------------------------------------------
    async def _standby(self, now: float) -> tuple[int, list[str]]:
        """Each stopped pump checked (and held primed) while readiness is raised; released
        when it is normal again. Returns (ready, the texts of those not ready)."""
        ready, unready = 0, []
        for p in self.control.pumps:
            text, why = await self._check(p, now)
            self.store.update(self.standby[p.name], text)
            if text == say("standby ready"):
                ready += 1
            elif why:
                unready.append(say("{pump} not ready as standby: {why}", pump=p.name,
                                   why=why))
        return ready, unready

    async def _check(self, p: PumpSequence, now: float) -> tuple[str, str]:
        """(what the pump's standby tag says, why it is not ready or "")."""
        if self.level == NORMAL or p.active or p.state == "stopping":
            if self.level == NORMAL and p.name in self._primed_at:
                if p.state == "stopped":
                    await self._prime(p, False)
                else:                    # its sequence took the priming over
                    self._primed_at.pop(p.name, None)
            return say("standby not checked"), ""

        def no(why: str) -> tuple[str, str]:
            return say("standby not ready: {why}", why=why), why
        if not p.data_good:
            return no(say("no good data from its PLC"))
        if p.state == "fault" or p.v("fault_code"):
            return no(p.fault_reason or say("PLC trip"))
        if p.mode != "remote-auto":
            return no(say("in {mode}: automatic control cannot start it", mode=p.mode))
        if p.mapped("valve.fault") and p.v("valve.fault") is not False:
            return no(say("discharge valve reports a fault") if p.v("valve.fault")
                      else say("discharge valve's fault signal unreadable"))
        if p.mapped("valve.position") and p.v("valve.position") is None:
            return no(say("discharge valve position unreadable"))
        if not p.v("valve.closed"):
            return no(say("discharge valve not closed"))
        primed = bool(p.v("primed"))
        if self.h.prime_standby and not p.v("prime_cmd") and (
                now - self._primed_at.get(p.name, -1e18) >= self.h.prime_check_s):
            await self._prime(p, True)
        if primed:
            return say("standby ready"), ""
        if not self.h.prime_standby:
            return no(say("casing not primed"))
        asked = self._primed_at.get(p.name)
        if asked is None or now - asked < self.clock.guard_timeout(self.h.prime_check_s):
            return say("standby priming"), ""
        return no(say("casing not primed"))

    async def _prime(self, p: PumpSequence, on: bool) -> None:
        d = await self.gate.submit(Command(p.path, "prime", "auto", params={"on": on}))
        if on:
            self._primed_at[p.name] = self.clock.now()
        elif d.accepted or p.active:
            self._primed_at.pop(p.name, None)

    # --- what is said ------------------------------------------------------------------------
    def _status(self, lowered: float, unready: list[str]) -> str:
        parts = [say("readiness normal") if self.level == NORMAL else
                 say("readiness watch: {why}", why=self._why) if self.level == WATCH else
                 say("readiness alert: {why}", why=self._why)]
        if lowered:
            parts.append(say("start and stop levels lowered {m:.2f} m", m=lowered))
        if self.suspended:
            q = self._suspended_q
            parts.append(say("plan suspended: inflow {q:.0f} m3/h", q=q)
                         if q is not None else say("plan suspended: inflow unknown"))
        if self.level != NORMAL:
            ready = int(self.tags["standby_ready"].value or 0)
            parts.append(say("{n} standby pumps ready", n=ready))
        return "; ".join(parts + unready)


def readings(system: str, cfg: DrainageSystem, h: DrainageHydrology) -> list[Reading]:
    """Every signal the linkage reads, as the config maps them."""
    out = []
    for b in h.boreholes:
        eq = cfg.equipment[b]
        name = eq.name or b
        if "water_level" in eq.signals:
            out.append(Reading(f"{system}.{b}.water_level", name, "level", h.rise_m))
        if "water_pressure" in eq.signals:
            out.append(Reading(f"{system}.{b}.water_pressure", name, "pressure", h.rise_mpa))
    for m in h.inflow_meters:
        eq = cfg.equipment[m]
        out.append(Reading(f"{system}.{m}.inflow", eq.name or m, "inflow", h.inflow_m3h))
    return out
