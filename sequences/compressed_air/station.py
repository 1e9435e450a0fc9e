"""Lead/lag of a compressor station by a pressure band.

Below the band's low edge the next machine in the lead order is loaded (an unloaded one
first, else the next stopped one is started: it runs up unloaded and is loaded on a later
step); above the high edge the last loaded machine is unloaded; one step at a time,
``step_s`` apart, each through the command gate as an "auto" command (audited, refused
with its reason like an operator's). Only machines in remote-auto take part.

Unload or stop: an unloaded screw still draws a third of its power. The control learns
how long a machine unloaded by the band stays idle before the station needs it again
(the median of the last idles); when that is at least ``stop_if_idle_s`` the machine is
stopped once its minimum run is over, else it is kept unloaded and stopped only after
``max_unloaded_s`` (the run-on timer). The lead order is the machines by run hours, least
first, re-taken every ``rotate_h``: wear is spread without the order changing under a
step.

Cooling water first: a water-cooled machine is started or loaded only with the flow
proven; with the flow lost, every water-cooled machine is unloaded at once and stopped
after ``cooling_stop_s`` unless the flow is proven again (the PLC trips it after 60 s).

The station's specific power (kW per m3/min) is the machines' power over their delivery,
the last hour; the share of time inside the band is kept since start.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from typing import Any

from fixedsite.clock import Clock
from fixedsite.gate import Command, CommandGate
from fixedsite.sequences.compressed_air.compressor import Compressor
from fixedsite.sequences.compressed_air.config import AirControl
from fixedsite.sequences.compressed_air.cooling import CoolingWater
from fixedsite.tags import Quality, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

SP_WINDOW_S = 3600.0
IDLES_KEPT = 7


class StationControl:
    def __init__(self, sname: str, ctl: AirControl, machines: list[Compressor],
                 cooling: CoolingWater | None, gate: CommandGate, store: TagStore,
                 clock: Clock) -> None:
        self.sname, self.ctl, self.machines = sname, ctl, machines
        self.cooling, self.gate, self.store, self.clock = cooling, gate, store, clock
        self.path = f"{sname}.control"
        self.order = list(machines)
        self._rotated_at: float | None = None
        self._last_step = -1e18
        self._unloaded_at: dict[str, float] = {}     # unloaded by the band, since
        self._idle_from: float | None = None          # the last unload by the band
        self.idles: deque[float] = deque(maxlen=IDLES_KEPT)
        self._in_band_s = self._seen_s = 0.0
        self._last: float | None = None
        self._sp: deque[tuple[float, float, float]] = deque()   # t, kW*dt, m3/min*dt
        t = self._tags = {n: store.define(f"{self.path}.{n}", TagMeta(
            kind=k, unit=u, description=d)) for n, k, u, d in (
            ("status", "text", "", "what the lead/lag does now and why"),
            ("lead", "text", "", "the lead order, by run hours"),
            ("loaded", "number", "", "machines loaded"),
            ("expected_idle_s", "number", "s", "how long an unloaded machine is expected "
             "to stay idle (median of the last idles)"),
            ("specific_power", "number", "kW/(m3/min)", "station power per delivery, the "
             "last hour"),
            ("in_band_pct", "number", "%", "share of time the pressure was inside the band "
             "since the controller started"))}
        self.status_tag = t["status"]

    @property
    def published(self) -> list[Any]:
        return list(self._tags.values())

    def _put(self, name: str, value: Any, q: Quality = Quality.GOOD, why: str = "") -> None:
        self.store.update(self._tags[name], value, q, why)

    def expected_idle(self) -> float | None:
        return statistics.median(self.idles) if self.idles else None

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        now = self.clock.now()
        dt = 0.0 if self._last is None else min(now - self._last, 600.0)
        self._last = now
        self._rotate(now)
        auto = [m for m in self.order if m.mode == "remote-auto" and m.data_good]
        cooling_lost = self.cooling is not None and self.cooling.lost_at is not None
        if self.cooling is not None:
            self.cooling.wanted = any(m.eq.water_cooled and m.state in (
                "starting", "unloaded", "loaded", "stopping") for m in self.machines) or \
                self._wants_start(auto)
        p = self.store.value(f"{self.sname}.{self.ctl.station}.pressure")
        self._figures(now, dt, p)
        if cooling_lost:
            await self._cooling_lost(now, auto)
        if not isinstance(p, int | float):
            self._put("status", say("pressure unknown: no step taken"))
            return
        lo, hi = self.ctl.band_mpa
        if not auto:
            self._put("status", say("no machine in remote-auto: {p:.3f} MPa", p=p))
            return
        text = await self._band(now, p, lo, hi, auto, cooling_lost)
        text2 = await self._unloaded(now, auto)
        self._put("status", "; ".join(t for t in (text, text2) if t))

    def _rotate(self, now: float) -> None:
        if self._rotated_at is not None and now - self._rotated_at < self.ctl.rotate_h * 3600:
            return
        hours = {m.name: m.v("run_hours") for m in self.machines}
        if any(not isinstance(h, int | float) for h in hours.values()):
            return                           # wait for the counters
        self.order = sorted(self.machines, key=lambda m: (hours[m.name], m.name))
        self._rotated_at = now
        self._put("lead", ", ".join(m.name for m in self.order))

    def _wants_start(self, auto: list[Compressor]) -> bool:
        """The band asks for a machine that only a start can give (cooling first)."""
        p = self.store.value(f"{self.sname}.{self.ctl.station}.pressure")
        if not isinstance(p, int | float) or p >= self.ctl.band_mpa[0]:
            return False
        return not any(m.state == "unloaded" for m in auto) and \
            any(m.state == "stopped" and m.eq.water_cooled for m in auto)

    async def _band(self, now: float, p: float, lo: float, hi: float,
                    auto: list[Compressor], cooling_lost: bool) -> str:
        if now - self._last_step < self.ctl.step_s:
            return say("in band {lo:.2f}-{hi:.2f} MPa", lo=lo, hi=hi) if lo <= p <= hi \
                else ""
        usable = [m for m in auto if not (m.eq.water_cooled and cooling_lost)]
        if p < lo:
            for m in usable:
                if m.state == "unloaded" and (not m.eq.water_cooled or self._cool()):
                    return await self._step(now, m, "load", say(
                        "{p:.3f} MPa under {lo:.2f}: loading {compressor}", p=p, lo=lo,
                        compressor=m.name))
            if any(m.state == "starting" for m in auto):
                return say("{p:.3f} MPa under {lo:.2f}: waiting for a start", p=p, lo=lo)
            for m in usable:
                if m.state == "stopped":
                    why = m.refuse_start()
                    if why is None:
                        return await self._step(now, m, "start", say(
                            "{p:.3f} MPa under {lo:.2f}: starting {compressor}", p=p, lo=lo,
                            compressor=m.name))
            return say("{p:.3f} MPa under {lo:.2f}: no machine can be added", p=p, lo=lo)
        if p > hi:
            loaded = [m for m in auto if m.state == "loaded"]
            if loaded:
                m = loaded[-1]
                self._idle_from = now
                self._unloaded_at[m.name] = now
                return await self._step(now, m, "unload", say(
                    "{p:.3f} MPa over {hi:.2f}: unloading {compressor}", p=p, hi=hi,
                    compressor=m.name))
        return say("in band {lo:.2f}-{hi:.2f} MPa", lo=lo, hi=hi)

    async def _step(self, now: float, m: Compressor, action: str, text: str) -> str:
        if action in ("load", "start") and self._idle_from is not None:
            self.idles.append(now - self._idle_from)   # the idle the last unload began
            self._idle_from = None
            e = self.expected_idle()
            self._put("expected_idle_s", round(e, 0) if e is not None else 0.0)
        if action == "load":
            self._unloaded_at.pop(m.name, None)
        done = await self.gate.submit(Command(m.path, action, "auto"))
        self._last_step = now
        if not done:
            log.warning("%s: %s %s refused: %s", self.path, action, m.name, done.reason)
            return text + " — " + say("refused: {why}", why=done.reason)
        return text

    async def _unloaded(self, now: float, auto: list[Compressor]) -> str:
        """Stop a machine that stays unloaded, sooner when long idles are expected."""
        expected = self.expected_idle()
        for m in auto:
            if m.state != "unloaded":
                self._unloaded_at.pop(m.name, None)
                continue
            since = self._unloaded_at.setdefault(m.name, now)
            ran = now - (m.started_at if m.started_at is not None else since)
            if ran < self.ctl.min_run_s:
                continue
            long_idle = expected is not None and expected >= self.ctl.stop_if_idle_s
            if long_idle or now - since >= self.ctl.max_unloaded_s:
                why = say("idle expected {s:.0f} s", s=expected) if long_idle else \
                    say("unloaded {s:.0f} s", s=now - since)
                done = await self.gate.submit(Command(m.path, "stop", "auto"))
                self._unloaded_at.pop(m.name, None)
                return say("stopping {compressor}: {why}", compressor=m.name, why=why) \
                    if done else say("stop {compressor} refused: {why}", compressor=m.name,
                                     why=done.reason)
        return ""

    async def _cooling_lost(self, now: float, auto: list[Compressor]) -> None:
        assert self.cooling is not None and self.cooling.lost_at is not None
        lost_s = now - self.cooling.lost_at
        for m in self.machines:
            if not m.eq.water_cooled or m.mode != "remote-auto":
                continue
            if m.state == "loaded":
                await self.gate.submit(Command(m.path, "unload", "auto",
                                               params={"why": say("cooling water lost")}))
            elif m.state in ("unloaded", "starting") and lost_s >= self.ctl.cooling_stop_s:
                await self.gate.submit(Command(m.path, "stop", "auto",
                                               params={"why": say("cooling water lost")}))

    def _cool(self) -> bool:
        return self.cooling is None or self.cooling.proven() is True

    def _figures(self, now: float, dt: float, p: Any) -> None:
        self._put("loaded", sum(m.state == "loaded" for m in self.machines))
        if isinstance(p, int | float) and dt > 0:
            lo, hi = self.ctl.band_mpa
            self._seen_s += dt
            self._in_band_s += dt if lo - 0.005 <= p <= hi + 0.005 else 0.0
            self._put("in_band_pct", round(100 * self._in_band_s / self._seen_s, 1))
        kw = [m.v("power") for m in self.machines]
        flow = [m.v("flow") for m in self.machines]
        if dt > 0 and all(isinstance(x, int | float) for x in kw + flow):
            self._sp.append((now, sum(kw) * dt, sum(flow) * dt))
        while self._sp and now - self._sp[0][0] > SP_WINDOW_S:
            self._sp.popleft()
        air = sum(s[2] for s in self._sp)
        if air > 0:
            self._put("specific_power", round(sum(s[1] for s in self._sp) / air, 2))
