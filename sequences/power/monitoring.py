"""Power quality per bus against the national limits, and early warnings per breaker.

Quality (``[systems.X.quality]``, defaults from GB/T 12325 voltage deviation ±7 % at
20 kV and below, GB/T 15945 frequency ±0.2 Hz, GB/T 15543 unbalance 2 %, GB/T 14549 THD
4 % at 6/10 kV): each bus is measured by a relay on it (the first whose voltages read
good). A figure the relay does not give is "not measured", never 0; a dead bus is
"dead", not out of limits.

Early warnings, before a trip or a failure to open: a feeder's current near its pickup or
rising towards it (a straight line fitted over ``trend_window_s``; warned when it would
reach the pickup within an hour), a breaker's opening time drifting over its nominal, its
operation count near the mechanism's life.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from fixedsite.clock import Clock
from fixedsite.sequences.power.config import BreakerEq, PowerSystem, Quality
from fixedsite.tags import Quality as Q
from fixedsite.tags import Tag, TagMeta, TagStore
from fixedsite.texts import say

DEAD_PCT = 30.0             # below this share of nominal a bus is dead, not out of limits
HORIZON_S = 3600.0          # a rising current warned when it would reach the pickup within
OPS_WARN = 0.9              # of the mechanism's life

BUS_FIGURES = {"voltage_dev_pct": "%", "frequency_dev_hz": "Hz", "unbalance_pct": "%",
               "thd_u_pct": "%"}


@dataclass(frozen=True)
class BusReading:
    u_kv: list[float | None]          # uab, ubc, uca
    freq_hz: float | None
    unbalance_pct: float | None
    thd_pct: float | None


def judge_bus(r: BusReading, nominal_kv: float, freq_nominal: float, q: Quality
              ) -> tuple[dict[str, float | None], str]:
    """The bus's figures and its verdict in words ("ok", "dead", "not measured", or what
    is out and by how much)."""
    us = [u for u in r.u_kv if u is not None]
    if not us:
        return dict.fromkeys(BUS_FIGURES), say("not measured")
    u = sum(us) / len(us)
    if u < nominal_kv * DEAD_PCT / 100:
        return dict.fromkeys(BUS_FIGURES), say("dead")
    dev = 100.0 * (u - nominal_kv) / nominal_kv
    fdev = None if r.freq_hz is None else r.freq_hz - freq_nominal
    figs = {"voltage_dev_pct": dev, "frequency_dev_hz": fdev,
            "unbalance_pct": r.unbalance_pct, "thd_u_pct": r.thd_pct}
    out = []
    lo, hi = q.voltage_dev_pct
    if not lo <= dev <= hi:
        out.append(say("voltage {dev:+.1f} % outside {lo:+.0f}..{hi:+.0f} %", dev=dev, lo=lo,
                       hi=hi))
    if fdev is not None and abs(fdev) > q.frequency_dev_hz:
        out.append(say("frequency {dev:+.2f} Hz outside ±{lim:.1f} Hz", dev=fdev,
                       lim=q.frequency_dev_hz))
    if r.unbalance_pct is not None and r.unbalance_pct > q.unbalance_pct:
        out.append(say("unbalance {v:.1f} % over {lim:.0f} %", v=r.unbalance_pct,
                       lim=q.unbalance_pct))
    if r.thd_pct is not None and r.thd_pct > q.thd_u_pct:
        out.append(say("THD {v:.1f} % over {lim:.0f} %", v=r.thd_pct, lim=q.thd_u_pct))
    return figs, "; ".join(out) if out else say("ok")


def time_to_reach(ts: list[float], amps: list[float], limit: float) -> float | None:
    """Seconds until a straight line fitted to (ts, amps) reaches ``limit`` (None: not
    rising, or too few points to say)."""
    if len(ts) < 5 or ts[-1] - ts[0] <= 0:
        return None
    slope, icpt = np.polyfit(np.asarray(ts) - ts[-1], np.asarray(amps), 1)
    if slope <= 0:
        return None
    return max(0.0, float((limit - icpt) / slope))


def breaker_warning(amps: float | None, pickup: float | None, eta_s: float | None,
                    open_ms: float | None, nominal_open_ms: float, ops: float | None,
                    max_ops: int, q: Quality) -> str:
    out = []
    if amps is not None and pickup:
        pct = 100.0 * amps / pickup
        if pct >= q.current_warn_pct:
            out.append(say("current {pct:.0f} % of its pickup", pct=pct))
        elif eta_s is not None and eta_s <= HORIZON_S and pct >= q.trend_from_pct:
            out.append(say("current rising: reaches its pickup in about {m:.0f} min",
                           m=eta_s / 60))
    if open_ms is not None and 0 < open_ms < 65535 and \
            open_ms > nominal_open_ms + q.opening_drift_ms:
        out.append(say("opening time {ms:.0f} ms over its nominal {nom:.0f} ms", ms=open_ms,
                       nom=nominal_open_ms))
    if ops is not None and ops >= OPS_WARN * max_ops:
        out.append(say("{n:.0f} operations of its {life} mechanical life", n=ops,
                       life=max_ops))
    return "; ".join(out)


class Monitoring:
    """The scan part: each bus's quality figures, each breaker's warning."""

    def __init__(self, sname: str, system: PowerSystem, store: TagStore,
                 clock: Clock) -> None:
        self.sname, self.system, self.store, self.clock = sname, system, store, clock
        self.path = f"{sname}.monitoring"
        self.q = system.quality
        self.brks = {b: e for b, e in system.equipment.items() if isinstance(e, BreakerEq)}
        self.on_bus = {bus: [b for b, e in self.brks.items() if e.bus == bus]
                       for bus in system.network.buses}
        self.bus_tags: dict[str, dict[str, Tag]] = {}
        for bus in system.network.buses:
            tags = {f: store.define(f"{sname}.{bus}.{f}", TagMeta(unit=u, description=f))
                    for f, u in BUS_FIGURES.items()}
            tags["quality"] = store.define(f"{sname}.{bus}.quality", TagMeta(
                kind="text", description="power quality against the limits: ok, dead, not "
                "measured, or what is out"))
            self.bus_tags[bus] = tags
        self.warn = {b: store.define(f"{sname}.{b}.warning", TagMeta(
            kind="text", description="early warning (current near pickup or rising to it, "
            "opening time drifting, operations near the mechanism's life); empty: none"))
            for b in self.brks}
        self.history: dict[str, deque[tuple[float, float]]] = {b: deque() for b in self.brks}

    @property
    def published(self) -> list[Tag]:
        return [t for tags in self.bus_tags.values() for t in tags.values()] + \
            list(self.warn.values())

    def v(self, b: str, sig: str) -> float | None:
        p = f"{self.sname}.{b}.{sig}"
        if p not in self.store:
            return None
        x = self.store.value(p)
        return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None

    async def scan(self) -> None:
        net = self.system.network
        for bus, tags in self.bus_tags.items():
            reader = next((b for b in self.on_bus[bus] if self.v(b, "uab") is not None), None)
            if reader is None:
                for t in tags.values():
                    self.store.update(t, t.value, Q.UNCERTAIN, "not_yet_read")
                continue
            r = BusReading([self.v(reader, s) for s in ("uab", "ubc", "uca")],
                           self.v(reader, "freq_hz"), self.v(reader, "unbalance_u_pct"),
                           self.v(reader, "thd_u_pct"))
            figs, verdict = judge_bus(r, net.buses[bus].voltage_kv, net.frequency_hz, self.q)
            for f, x in figs.items():
                if x is None:
                    self.store.update(tags[f], tags[f].value, Q.UNCERTAIN, "not measured")
                else:
                    self.store.update(tags[f], round(x, 3))
            self.store.update(tags["quality"], verdict)
        now = self.clock.now()
        for b, eq in self.brks.items():
            phases = [x for x in (self.v(b, s) for s in ("ia", "ib", "ic")) if x is not None]
            amps = max(phases) if phases else None
            hist = self.history[b]
            if amps is not None and (not hist or now > hist[-1][0]):
                hist.append((now, amps))
            while hist and (hist[0][0] < now - self.q.trend_window_s or hist[0][0] > now):
                hist.popleft()                       # old, or from before a clock jump back
            pickup = self.v(b, "g1_pickup_a")
            eta = time_to_reach([t for t, _ in hist], [a for _, a in hist], pickup) \
                if pickup else None
            text = breaker_warning(amps, pickup, eta, self.v(b, "last_open_ms"),
                                   eq.opening_ms, self.v(b, "op_count"), eq.max_operations,
                                   self.q)
            self.store.update(self.warn[b], text)


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    out = {f"{sname}.{bus}.{f}": "number" for bus in system.network.buses
           for f in BUS_FIGURES}
    out |= {f"{sname}.{bus}.quality": "text" for bus in system.network.buses}
    out |= {f"{sname}.{b}.warning": "text" for b, e in system.equipment.items()
            if isinstance(e, BreakerEq)}
    return out


TEXTS: dict[str, str] = {
    "not measured": "未测量", "dead": "失电", "ok": "正常",
    "voltage {dev:+.1f} % outside {lo:+.0f}..{hi:+.0f} %":
        "电压偏差 {dev:+.1f} % 超出 {lo:+.0f}..{hi:+.0f} %",
    "frequency {dev:+.2f} Hz outside ±{lim:.1f} Hz": "频率偏差 {dev:+.2f} Hz 超出 ±{lim:.1f} Hz",
    "unbalance {v:.1f} % over {lim:.0f} %": "三相不平衡度 {v:.1f} % 超过 {lim:.0f} %",
    "THD {v:.1f} % over {lim:.0f} %": "电压总谐波畸变率 {v:.1f} % 超过 {lim:.0f} %",
    "current {pct:.0f} % of its pickup": "电流达到启动值的 {pct:.0f} %",
    "current rising: reaches its pickup in about {m:.0f} min":
        "电流持续上升：约 {m:.0f} 分钟后达到启动值",
    "opening time {ms:.0f} ms over its nominal {nom:.0f} ms":
        "分闸时间 {ms:.0f} ms 超过额定 {nom:.0f} ms",
    "{n:.0f} operations of its {life} mechanical life": "已操作 {n:.0f} 次（机械寿命 {life} 次）",
}
