"""Lead/lag of a compressor station by a pressure band, with the demand estimated.

Below the band's low edge the next machine in the lead order is loaded (an unloaded one
first); a stopped one is started only when every running machine is loaded and the
demand exceeds what they deliver (or the pressure falls on past the band), so a dip a
loading trim machine will cover starts nothing. Above the high edge the last loaded
machine is unloaded. One step at a time, ``step_s`` apart, each through the command gate
as an "auto" command (audited, refused with its reason like an operator's). Only machines
in remote-auto take part.

The demand is estimated from the mass balance the controller can see: the machines'
delivery less what the receivers and pipework (``volume_m3``) gained,
``D = Q - 60 V (dp/dt) / p_atm``, smoothed over a minute. A machine is *needed* while the
highest demand of the last ``demand_hold_s`` would need it, the machines taken in the lead
order.

Unload or stop: an unloaded screw still draws a third of its power, a start costs wear
and the motor's starts per hour. A running machine the demand does not need is stopped
(after its minimum run) when the idle expected is long: the median of the last times a
stopped machine was needed again, at least ``stop_if_idle_s``. Otherwise, or while it is
needed (the trim machine cycling load/unload), it is kept unloaded and stopped only
after ``max_unloaded_s`` unloaded (the run-on timer). The lead order is the machines by
run hours, least first, re-taken every ``rotate_h``.

Cooling water first: a water-cooled machine is started or loaded only with the flow
proven; with the flow lost, every water-cooled machine is unloaded at once and stopped
after ``cooling_stop_s`` unless the flow is proven again (the PLC trips it after 60 s).

The station's specific power (kW per m3/min) is the machines' power over their delivery,
the last hour; the share of time inside the band is kept since start, and each hour's
energy, air and loaded time per machine go to the historian for the monthly report.
"""

from __future__ import annotations

import logging
import math
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
HOUR_S = 3600.0
P_ATM = 0.1013                  # MPa
DEMAND_TAU_S = 60.0
DEMAND_MARGIN = 1.05            # a machine is needed a little before the last one is full
RUNNING = ("starting", "unloaded", "loaded")
START_BELOW_MPA = 0.03          # under the band's low edge by this: start without waiting
SHORT_FOR_S = 60.0              # the demand over what runs this long: start


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
        self._unloaded_at: dict[str, float] = {}
        self._stopped_at: float | None = None       # the last stop of a surplus machine
        self.idles: deque[float] = deque(maxlen=IDLES_KEPT)
        self.demand: float | None = None            # m3/min, smoothed
        self._demands: deque[tuple[float, float]] = deque()
        self._prev: tuple[float, float] | None = None   # (t, p) of the last estimate
        self._short_since: float | None = None      # the demand over what runs, since
        self._began: float | None = None
        self._sent: dict[str, tuple[str, float]] = {}   # machine -> last failover command
        self._in_band_s = self._seen_s = 0.0
        self._last: float | None = None
        self._sp: deque[tuple[float, float, float]] = deque()   # t, kW*dt, m3/min*dt
        t = self._tags = {n: store.define(f"{self.path}.{n}", TagMeta(
            kind=k, unit=u, description=d)) for n, k, u, d in (
            ("status", "text", "", "what the lead/lag does now and why"),
            ("lead", "text", "", "the lead order, by run hours"),
            ("loaded", "number", "", "machines loaded"),
            ("demand", "number", "m3/min", "the mine's demand estimated from the delivery "
             "and the receivers' pressure, smoothed over a minute"),
            ("needed", "number", "", "machines the demand of the last demand_hold_s needs"),
            ("expected_idle_s", "number", "s", "how long a stopped machine is expected to "
             "stay idle (median of the last idles)"),
            ("specific_power", "number", "kW/(m3/min)", "station power per delivery, the "
             "last hour"),
            ("in_band_pct", "number", "%", "share of time the pressure was inside the band "
             "since the controller started"))}
        self.status_tag = t["status"]
        self.historian: Any = None            # set at start: the hourly records go there
        self._hour: dict[str, list[float]] = {}   # machine -> [kWh, m3, loaded s]
        self._hour_from: float | None = None
        self._hour_band = [0.0, 0.0]              # in band s, seen s

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
        if self._began is None:
            self._began = now
        auto = [m for m in self.order if m.mode == "remote-auto" and m.data_good]
        cooling_lost = self.cooling is not None and self.cooling.lost_at is not None
        p = self.store.value(f"{self.sname}.{self.ctl.station}.pressure")
        self._estimate(now, p)
        if self.cooling is not None:
            # a machine that may be running keeps its water: running by its contactor, in
            # LOCAL, or not known (a bad block of its tags while the circuit's are good)
            cooled = [m for m in self.machines if m.eq.water_cooled]
            self.cooling.cooled_running = any(m.v("running") is True for m in cooled)
            self.cooling.wanted = self.cooling.cooled_running or any(
                m.state in (*RUNNING, "stopping", "local", "unknown") for m in cooled) or \
                self._wants_start(auto, p)
        self._figures(now, dt, p)
        fallback = self.store.value(f"{self.sname}.{self.ctl.station}.fallback")
        if fallback is not False:
            # the PLC runs its own switches (its coils track what runs: a command now would
            # read back and then be lost), or its state is not known: nothing is stepped
            self._put("status", say("PLC on its own pressure switches: no step taken")
                      if fallback else say("PLC state not known: no step taken"))
            return
        if cooling_lost:
            await self._cooling_lost(now)
        if not isinstance(p, int | float):
            self._put("status", say("pressure unknown: no step taken"))
            return
        lo, hi = self.ctl.band_mpa
        if not auto:
            self._put("status", say("no machine in remote-auto: {p:.3f} MPa", p=p))
            return
        if now - self._began < self.ctl.step_s or self.demand is None:
            # a restarted controller first sees the station for a step (and the demand)
            self._put("status", say("taking the station over: watching for {s:.0f} s",
                                    s=self.ctl.step_s))
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

    # --- the demand ----------------------------------------------------------------------
    def _estimate(self, now: float, p: Any) -> None:
        flows = [m.v("flow") for m in self.machines]
        if not isinstance(p, int | float) or not all(isinstance(f, int | float) for f in flows):
            self._prev = None
            return
        if self._prev is not None and now > self._prev[0]:
            t0, p0 = self._prev
            dpdt = (p - p0) / (now - t0)
            d = max(0.0, sum(flows) - 60 * self.ctl.volume_m3 * dpdt / P_ATM)
            a = 1 - math.exp(-(now - t0) / DEMAND_TAU_S)
            self.demand = d if self.demand is None else self.demand + a * (d - self.demand)
            self._demands.append((now, self.demand))
            while self._demands and now - self._demands[0][0] > self.ctl.demand_hold_s:
                self._demands.popleft()
            self._put("demand", round(self.demand, 1))
            self._put("needed", self.needed())
        self._prev = (now, p)

    def needed(self) -> int:
        """Machines (in the lead order) the highest demand of the hold time needs."""
        if not self._demands:
            return len(self.machines)        # not known yet: nothing is surplus
        want = max(d for _, d in self._demands) * DEMAND_MARGIN
        total = 0.0
        for n, m in enumerate(self.order, start=1):
            total += m.eq.rated_flow_m3min
            if total >= want:
                return n
        return len(self.order)

    def _wants_start(self, auto: list[Compressor], p: Any) -> bool:
        """The band asks for a machine that only a start can give (cooling first)."""
        if not isinstance(p, int | float) or p >= self.ctl.band_mpa[0]:
            return False
        return not any(m.state == "unloaded" for m in auto) and \
            any(m.state == "stopped" and m.eq.water_cooled for m in auto)

    # --- the band ------------------------------------------------------------------------
    async def _band(self, now: float, p: float, lo: float, hi: float,
                    auto: list[Compressor], cooling_lost: bool) -> str:
        in_band = say("in band {lo:.2f}-{hi:.2f} MPa", lo=lo, hi=hi)
        if now - self._last_step < self.ctl.step_s:
            return in_band if lo <= p <= hi else ""
        usable = [m for m in auto if not (m.eq.water_cooled and cooling_lost)]
        if p < lo:
            for m in usable:
                if m.state == "unloaded" and (not m.eq.water_cooled or self._cool()):
                    return await self._step(now, m, "load", say(
                        "{p:.3f} MPa under {lo:.2f}: loading {compressor}", p=p, lo=lo,
                        compressor=m.name))
            if any(m.state == "starting" for m in auto):
                return say("{p:.3f} MPa under {lo:.2f}: waiting for a start", p=p, lo=lo)
            delivering = sum(m.eq.rated_flow_m3min for m in self.machines
                             if m.state == "loaded")
            if self.demand is None or self.demand > delivering:
                self._short_since = self._short_since if self._short_since is not None \
                    else now
            else:
                self._short_since = None
            # a burst the receivers ride out starts nothing: the demand over what runs for
            # a minute, or the pressure well under the band
            short = self.demand is None or p < lo - START_BELOW_MPA or (
                self._short_since is not None and now - self._short_since >= SHORT_FOR_S)
            if not short:
                return say("{p:.3f} MPa under {lo:.2f}: demand {d:.0f} m3/min within what "
                           "runs: no start", p=p, lo=lo, d=self.demand)
            for m in usable:
                if m.state == "stopped" and m.refuse_start() is None:
                    return await self._step(now, m, "start", say(
                        "{p:.3f} MPa under {lo:.2f}: starting {compressor}", p=p, lo=lo,
                        compressor=m.name))
            return say("{p:.3f} MPa under {lo:.2f}: no machine can be added", p=p, lo=lo)
        if p > hi:
            loaded = [m for m in auto if m.state == "loaded"]
            if loaded:
                m = loaded[-1]
                self._unloaded_at[m.name] = now
                return await self._step(now, m, "unload", say(
                    "{p:.3f} MPa over {hi:.2f}: unloading {compressor}", p=p, hi=hi,
                    compressor=m.name))
        return in_band

    async def _step(self, now: float, m: Compressor, action: str, text: str) -> str:
        if action == "start" and self._stopped_at is not None:
            self.idles.append(now - self._stopped_at)   # how long a stopped one was idle
            self._stopped_at = None
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
        """Stop an unloaded machine the demand does not need when a long idle is
        expected; any unloaded machine after the run-on."""
        expected = self.expected_idle()
        running = [m for m in self.order if m.state in RUNNING]
        needed = self.needed()
        for m in reversed(auto):             # the lag end of the order first
            if m.state != "unloaded":
                self._unloaded_at.pop(m.name, None)
                continue
            since = self._unloaded_at.setdefault(m.name, now)
            ran = now - (m.started_at if m.started_at is not None else since)
            if ran < self.ctl.min_run_s or now - since < self.ctl.step_s:
                continue
            surplus = len(running) > needed
            long_idle = expected is None or expected >= self.ctl.stop_if_idle_s
            if surplus and long_idle:
                why = say("not needed, idle expected {s:.0f} s", s=expected) \
                    if expected is not None else say("not needed")
            elif now - since >= self.ctl.max_unloaded_s:
                why = say("unloaded {s:.0f} s", s=now - since)
            else:
                continue
            done = await self.gate.submit(Command(m.path, "stop", "auto"))
            self._unloaded_at.pop(m.name, None)
            if done:
                self._stopped_at = now
                return say("stopping {compressor}: {why}", compressor=m.name, why=why)
            return say("stop {compressor} refused: {why}", compressor=m.name, why=done.reason)
        return ""

    async def _cooling_lost(self, now: float) -> None:
        """Every water-cooled machine in remote (auto or manual: a protective act, sent as
        "failover") unloaded at once and stopped after ``cooling_stop_s``; a command is
        sent again only if its feedback has not come within ``load_timeout_s``."""
        assert self.cooling is not None and self.cooling.lost_at is not None
        lost_s = now - self.cooling.lost_at
        for m in self.machines:
            if not m.eq.water_cooled or m.mode not in ("remote-auto", "remote-manual"):
                continue
            action = "unload" if m.state == "loaded" else "stop" if (
                m.state in ("unloaded", "starting") and lost_s >= self.ctl.cooling_stop_s) \
                else None
            if action is None:
                continue
            last = self._sent.get(m.name)
            if last is not None and last[0] == action and \
                    now - last[1] < self.ctl.load_timeout_s:
                continue                     # sent; its feedback comes with a poll
            self._sent[m.name] = (action, now)
            await self.gate.submit(Command(m.path, action, "failover",
                                           params={"why": say("cooling water lost")}))

    def _cool(self) -> bool:
        return self.cooling is None or self.cooling.proven() is True

    # --- the figures ---------------------------------------------------------------------
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
        elif self._tags["specific_power"].value is not None:
            self._put("specific_power", self._tags["specific_power"].value,
                      Quality.UNCERTAIN, say("no air delivered in the last hour"))
        self._account(now, dt, kw, flow, p)

    def _account(self, now: float, dt: float, kw: list[Any], flow: list[Any], p: Any) -> None:
        """The hour's energy, air and loaded time per machine, kept as a historian event
        (kind "compressed_air") at each hour's end: the monthly report's rows."""
        if self._hour_from is None:
            self._hour_from = now
        for m, k, f in zip(self.machines, kw, flow, strict=True):
            acc = self._hour.setdefault(m.name, [0.0, 0.0, 0.0])
            if dt > 0 and isinstance(k, int | float):
                acc[0] += k * dt / 3600
            if dt > 0 and isinstance(f, int | float):
                acc[1] += f * dt / 60
            if dt > 0 and m.state == "loaded":
                acc[2] += dt
        if dt > 0 and isinstance(p, int | float):
            lo, hi = self.ctl.band_mpa
            self._hour_band[1] += dt
            self._hour_band[0] += dt if lo - 0.005 <= p <= hi + 0.005 else 0.0
        if now - self._hour_from < HOUR_S:
            return
        if self.historian is not None:
            data = {"machines": {n: {"kwh": round(a[0], 2), "m3": round(a[1], 1),
                                     "loaded_h": round(a[2] / 3600, 4)}
                                 for n, a in self._hour.items()},
                    "in_band_s": round(self._hour_band[0], 1),
                    "seen_s": round(self._hour_band[1], 1), "from": self._hour_from}
            try:
                self.historian.event(now, "compressed_air", self.path, "hour", data)
            except Exception:           # a disk that refuses: the figures of one hour
                log.warning("%s: the hour's figures not recorded", self.path, exc_info=True)
        self._hour, self._hour_from, self._hour_band = {}, now, [0.0, 0.0]
