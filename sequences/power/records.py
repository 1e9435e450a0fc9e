"""After a trip: the disturbance gathered, located, judged and kept as COMTRADE records.

``FaultRecorder`` is the run-time part (one per power system). Each scan it takes the new
SOE records of every relay (``soe.SoeCollector``, which it owns and scans itself) and:

1. **gathering**: a pickup, a trip, a breaker-failure record opens a disturbance window;
   every record read while it is open (and not older than ``PRE_S`` before the first)
   goes into it. It closes when no new record has come for ``QUIET_S`` and no relay
   reports itself picked up (``picked_up``), or after ``MAX_WINDOW_S`` whatever the relays
   say (a relay stuck picked up cannot hold the report back for ever).
2. **located** / **not located**: ``locate.locate`` over the window's events, on the
   breakers' states as read at its close (undone to before the fault by the events). The
   report is published at once and handed to the listeners (``on_fault``: restoration),
   which need not wait for the records; a transient that tripped nothing ("no trip") is
   published and kept, not handed on (there is nothing to isolate or restore).
3. **records**: for each relay that tripped, its disturbance record (``rec_*``) is read
   once its inception falls within the window and its ``rec_seq`` is not one already used
   (the relay writes it when its breaker opens; it may come after the SOE), until
   ``REC_WAIT_S`` has passed. Each record becomes one COMTRADE pair
   ``<storage dir>/<restoration.records>/<YYYYmmdd_HHMMSS_mmm>_<breaker>.cfg/.dat`` (the
   time of the first pickup, local), the waveform reconstructed from the relay's phasors
   (``comtrade.py`` says how). A disk that is full or a directory that cannot be written
   costs the files, never the report: the error is published in ``.record_error`` and
   the historian's event, and the scan goes on.
4. The final report (with the fault type from the records and the files' paths) is
   published and kept as a historian event of kind "power" (source ``<system>.fault``).

Published (``<system>.fault.*``): ``state`` (none, gathering, located, not located),
``section``, ``verdict``, ``nearest``, ``opened`` (comma list), ``clearing_ms``,
``record`` (path of the first .cfg), ``record_error``, ``summary`` (text), ``at`` (the
first pickup, local time text); and the collector's ``<system>.soe.lost``, ``.soe.gap``.
The last report's values stay while the next disturbance is gathered; only ``state``
says it is. A restart of the controller starts with state "none".
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fixedsite.clock import Clock
from fixedsite.sequences.power import comtrade, profile
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.locate import FaultReport, locate, states_before
from fixedsite.sequences.power.soe import FAULT_CODES, SoeCollector, SoeRecord
from fixedsite.sequences.power.timing import Waits
from fixedsite.sequences.power.topology import Topology
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

# what opens a disturbance: protection (a breaker that did not answer an operator's or
# restoration's command is no fault; one that did not answer a trip follows the trip)
TRIGGERS = FAULT_CODES - {profile.SOE["breaker failed to open"]}

log = logging.getLogger(__name__)

QUIET_S = 1.0               # no new record and no relay picked up this long: it is over
MAX_WINDOW_S = 30.0         # a disturbance is closed after this, whatever the relays say
PRE_S = 1.0                 # records this much older than the first pickup still belong
REC_WAIT_S = 10.0           # a tripped relay's disturbance record is awaited this long
REC_SLACK_S = 1.0           # a record's inception may lie this far outside the window
STATES = ("none", "gathering", "located", "not located")

# <system>.fault.<name>: (kind, description)
FAULT_TAGS: dict[str, tuple[str, str]] = {
    "state": ("text", "fault analysis: none, gathering, located, not located"),
    "section": ("text", "the faulted section of the last fault (bus, cable or load)"),
    "verdict": ("text", "the last fault: selective, overtrip, breaker failure backup, not "
                "cleared, no trip, not located"),
    "nearest": ("text", "the breaker that should have cleared the last fault"),
    "opened": ("text", "the breakers opened on protection by the last fault (comma list)"),
    "clearing_ms": ("number", "the last fault: first pickup to the last protection "
                    "opening, ms"),
    "record": ("text", "the last fault's first COMTRADE .cfg file"),
    "record_error": ("text", "why the last fault's records were not written (empty if "
                     "they were)"),
    "summary": ("text", "the last fault in words"),
    "at": ("text", "the last fault's first pickup, local time"),
}

TEXTS: dict[str, str] = {
    "gathering": "收集中", "located": "已定位", "no breaker opened": "无断路器跳开",
    "fault record not written: {why}": "故障录波文件未写入：{why}",
    "no disturbance record of {breaker} for this fault within {s} s":
        "{s} s 内未读到 {breaker} 本次故障的录波数据",
    "events of {breakers} could not be read": "{breakers} 的事件记录无法读取",
    "the disturbance was still going after {s} s, closed without waiting for its end":
        "扰动持续超过 {s} s，未等其结束即截止记录",
}


@dataclass
class _Window:
    opened: float                       # project clock
    last_new: float
    events: list[SoeRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Job:
    """A located fault whose relays' records are being read."""

    report: FaultReport
    before: dict[str, bool | None]
    deadline: float
    ended_at: float                     # the window's last event (relay clock)
    waiting: list[str]
    got: dict[str, tuple[comtrade.RelayRecord, dict[str, comtrade.Phasor] | None]] = \
        field(default_factory=dict)


def time_text(t: float, fmt: str = "%Y-%m-%d %H:%M:%S.") -> str:
    """Epoch ``t`` as local ``YYYY-mm-dd HH:MM:SS.mmm`` (to the ms the relays keep)."""
    s, ms = divmod(round(t * 1000), 1000)
    return time.strftime(fmt, time.localtime(s)) + f"{ms:03d}"


def file_stem(t: float, breaker: str) -> str:
    """``YYYYmmdd_HHMMSS_mmm_<breaker>`` (local time), ASCII."""
    return time_text(t, "%Y%m%d_%H%M%S_") + "_" + comtrade.ascii_id(breaker).replace(" ", "_")


class FaultRecorder:
    """The fault analysis of one power system (see the module's docstring)."""

    def __init__(self, sname: str, system: PowerSystem, store: TagStore, clock: Clock,
                 storage_dir: Path | str, soe: SoeCollector | None = None,
                 waits: Waits | None = None) -> None:
        self.sname, self.system, self.store, self.clock = sname, system, store, clock
        w = waits or Waits()
        # a relay is heard once a poll: the quiet, the cap and the wait for records are
        # never shorter than the polls that bring them (timing.py)
        self.quiet_s = w.at_least(QUIET_S, 1.5)
        self.max_window_s = w.at_least(MAX_WINDOW_S, 4)
        self.rec_wait_s = w.at_least(REC_WAIT_S, 3)
        self.path = f"{sname}.fault"
        self.topo = Topology(system)
        self.soe = soe or SoeCollector(sname, system, store, clock)
        self.dir = Path(storage_dir) / system.restoration.records
        self.on_fault: list[Callable[[FaultReport], None]] = []
        self.historian: Any = None          # set when the controller starts
        self.report: FaultReport | None = None   # the last one, final once recorded
        self.window: _Window | None = None
        self.jobs: list[_Job] = []
        self.rec_used: dict[str, int] = {}
        self.breakers = [b for b, eq in system.equipment.items() if isinstance(eq, BreakerEq)]
        self.tags: dict[str, Tag] = {
            name: store.define(f"{self.path}.{name}", TagMeta(kind=kind, description=what))
            for name, (kind, what) in FAULT_TAGS.items()}
        for name, (kind, _) in FAULT_TAGS.items():
            if kind == "text":
                store.update(self.tags[name], "none" if name == "state" else "")

    @property
    def published(self) -> list[Tag]:
        return [*self.tags.values(), *self.soe.published]

    # ---- reading tags --------------------------------------------------------------------
    def v(self, breaker: str, signal: str) -> Any:
        tag = self.store.get(f"{self.sname}.{breaker}.{signal}")
        return tag.value if tag is not None and tag.quality is Quality.GOOD else None

    def closed(self, breaker: str) -> bool | None:
        c, o = self.v(breaker, "breaker_closed"), self.v(breaker, "breaker_open")
        if c is None or o is None or bool(c) == bool(o):
            return None
        return bool(c)

    def _any_picked_up(self) -> bool:
        return any(self.v(b, "picked_up") is True for b in self.breakers)

    def _set(self, name: str, value: Any) -> None:
        self.store.update(self.tags[name], value)

    # ---- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        recs = await self.soe.scan()
        gaps = [g.text for g in self.soe.last_gaps]
        now = self.clock.now()
        w = self.window
        if w is None:
            first = next((r for r in recs if r.code in TRIGGERS), None)
            if first is not None:
                w = self.window = _Window(now, now, warnings=gaps)
                w.events = [r for r in recs if r.t >= first.t - PRE_S]
                self._set("state", "gathering")
        elif recs or gaps:
            w.events += recs
            w.warnings += gaps
            w.last_new = now if recs else w.last_new
        if w is not None and self._over(w, now):
            self.window = None
            self._close(w, now)
        for job in list(self.jobs):
            self._progress(job, now)
            if not job.waiting or now >= job.deadline:
                self.jobs.remove(job)
                await self._finish(job)

    def _over(self, w: _Window, now: float) -> bool:
        if now - w.opened >= self.max_window_s:
            w.warnings.append(say("the disturbance was still going after {s} s, closed "
                                  "without waiting for its end", s=f"{self.max_window_s:.0f}"))
            return True
        return now - w.last_new >= self.quiet_s and not self._any_picked_up()

    def _close(self, w: _Window, now: float) -> None:
        if self.soe.unreadable:
            w.warnings.append(say("events of {breakers} could not be read",
                                  breakers=",".join(sorted(self.soe.unreadable))))
        closed = {b: self.closed(b) for b in self.breakers}
        report = locate(w.events, self.topo, closed, warnings=dict.fromkeys(w.warnings))
        if not report.picked and not report.tripped:
            # events of switching alone (an operator's or restoration's command, a breaker
            # that did not answer one): no fault, and the last fault's report stays shown
            log.info("%s: switching events, no protection picked up: not a fault", self.path)
            return
        self.report = report
        self._publish(report)
        self._set("record", "")
        self._set("record_error", "")
        log.warning("%s: %s", self.path, report.summary)
        for fn in self.on_fault if report.verdict != "no trip" else ():
            try:
                fn(report)
            except Exception:
                log.exception("fault listener %s failed", getattr(fn, "__qualname__", fn))
        ended = max((e.t for e in report.events), default=report.started_at)
        self.jobs.append(_Job(report, states_before(closed, report.events),
                              now + self.rec_wait_s, ended, list(report.tripped)))

    def _publish(self, r: FaultReport) -> None:
        self._set("state", "located" if r.located else "not located")
        self._set("section", r.section)
        self._set("verdict", r.verdict)
        self._set("nearest", r.nearest)
        self._set("opened", ",".join(r.opened))
        if r.clearing_ms is None:
            self.store.update(self.tags["clearing_ms"], None, Quality.BAD, "no breaker opened")
        else:
            self._set("clearing_ms", float(r.clearing_ms))
        self._set("summary", r.summary)
        self._set("at", time_text(r.started_at))

    # ---- the relays' disturbance records -------------------------------------------------
    def _progress(self, job: _Job, now: float) -> None:
        for b in list(job.waiting):
            got = self._read_record(b, job.report.started_at - REC_SLACK_S,
                                    job.ended_at + REC_SLACK_S)
            if got is not None:
                job.got[b] = got
                job.waiting.remove(b)
                self.rec_used[b] = got[0].seq

    def _read_record(self, b: str, t0: float, t1: float
                     ) -> tuple[comtrade.RelayRecord, dict[str, comtrade.Phasor] | None] | None:
        """The relay's record if it is this fault's and every field is good, with the
        voltages it measures now (the post-fault state) when they are good."""
        names = ["rec_seq", "rec_s", "rec_ms", "rec_clear_ms", "rec_type"]
        for n in profile.PHASOR_NAMES:
            names += [f"pre_{n}", f"pre_{n}_deg", f"flt_{n}", f"flt_{n}_deg"]
        vals = {n: self.v(b, n) for n in names}
        if any(x is None for x in vals.values()):
            return None
        try:
            seq = int(vals["rec_seq"])
            t = int(vals["rec_s"]) + int(vals["rec_ms"]) / 1000.0
            pre = {n: comtrade.Phasor(float(vals[f"pre_{n}"]), float(vals[f"pre_{n}_deg"]))
                   for n in profile.PHASOR_NAMES}
            flt = {n: comtrade.Phasor(float(vals[f"flt_{n}"]), float(vals[f"flt_{n}_deg"]))
                   for n in profile.PHASOR_NAMES}
            rec = comtrade.RelayRecord(b, seq, t, float(vals["rec_clear_ms"]),
                                       int(vals["rec_type"]), pre, flt)
        except (TypeError, ValueError):
            return None
        if self.rec_used.get(b) == seq or not t0 <= t <= t1:
            return None
        lines = [self.v(b, s) for s in ("uab", "ubc", "uca")]
        post = None
        if all(isinstance(x, int | float) for x in lines):
            u = sum(float(x) for x in lines) / 3 / math.sqrt(3)   # balanced, phase to earth
            post = {n: comtrade.Phasor(u, pre[n].deg) for n in ("ua", "ub", "uc")}
        return rec, post

    def _recording(self, job: _Job, b: str, rec: comtrade.RelayRecord,
                   post: dict[str, comtrade.Phasor] | None) -> comtrade.Recording:
        eq = self.system.equipment[b]
        assert isinstance(eq, BreakerEq)
        bus = self.system.network.buses[eq.bus]
        fault_ms: float | None = None
        if not 0 < rec.clear_ms < 65535:       # the relay does not say: the SOE does
            r = job.report
            fault_ms = max(0.0, (r.clearing_ms or 0.0) - (rec.t - r.started_at) * 1000.0)
        return comtrade.reconstruct(
            rec, station=f"{self.sname} {bus.substation}", device=f"{b} relay {eq.relay_no}",
            frequency=self.system.network.frequency_hz, fault_ms=fault_ms, post_u=post,
            events=job.report.events, closed_before=job.before.get(b) is not False,
            ct=(eq.ct_primary_a, 1.0), vt=(bus.voltage_kv, 0.1))

    async def _finish(self, job: _Job) -> None:
        r = job.report
        warnings = list(r.warnings)
        for b in job.waiting:
            warnings.append(say("no disturbance record of {breaker} for this fault within "
                                "{s} s", breaker=b, s=f"{self.rec_wait_s:.0f}"))
        order = [b for b in (r.nearest, *r.tripped) if b in job.got]
        kind = next((job.got[b][0].fault_type_name for b in order
                     if job.got[b][0].fault_type_name not in ("", "none")), "")
        paths: list[str] = []
        error = ""
        for b in dict.fromkeys(order):
            rec, post = job.got[b]
            cfg = self.dir / f"{file_stem(r.started_at, b)}.cfg"
            try:
                recording = self._recording(job, b, rec, post)
                await asyncio.to_thread(comtrade.write, recording, cfg)
            except Exception as e:          # a full disk, a path under a file, junk data
                why = (e.strerror if isinstance(e, OSError) else None) or str(e)
                error = say("fault record not written: {why}", why=f"{cfg}: {why}")
                log.error("%s", error, exc_info=not isinstance(e, OSError))
                break
            paths.append(str(cfg.absolute()))
        final = replace(r, fault_type=kind, records=tuple(paths), warnings=tuple(warnings))
        if self.report is r:
            self.report = final
            self._publish(final)
            self._set("record", paths[0] if paths else "")
            self._set("record_error", error)
        data = final.as_dict() | {"record_error": error}
        if self.historian is not None:
            try:
                self.historian.event(self.clock.now(), "power", self.path, final.summary, data)
            except Exception:
                log.exception("fault report not given to the historian")


def published(sname: str) -> dict[str, str]:
    """The tags a recorder publishes: path -> kind (for the system's ``published``)."""
    out = {f"{sname}.fault.{n}": kind for n, (kind, _) in FAULT_TAGS.items()}
    return out | {f"{sname}.soe.lost": "number", f"{sname}.soe.gap": "text"}
