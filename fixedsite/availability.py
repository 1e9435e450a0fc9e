"""Availability figures: the supervisory system's fault time per system and for the site
(the evaluation standard asks < 10 h a month), and the share of sensor time in working order
(it asks > 95 %). Pure functions over what the historian keeps, so the monthly report and
the controller's live figures (``availability_live``) are one computation.

The core names no system, so each rule is decided from what every system declares:

Fault time is the union of spans in which the supervisory system could not do its job:

* the controller was not running (a gap in its "alive" events, each promising the next by
  its ``next_by``): every system;
* a PLC link was lost (``comm.<plc>.LOST``) or a PLC ran on its own fallback because it
  lost our heartbeat (an alarm ``<system>.<equipment>.FALLBACK``, the equipment's PLC):
  the systems whose signals map to that PLC (``cfg.signals()``);
* a sequence stood in fault: an alarm of kind ``equipment`` (what a system declares on the
  tags its sequences derive) on a sequence's ``.state`` tag, raised by one of the fault
  words ``fault``, ``failed``, ``tripped`` (probed through the alarm's own condition): its
  system (the alarm's area). A refusal, a link or a power-quality alarm is no sequence
  fault;
* a part of the scan raised or hung (``controller.scan.FAILED``): the systems its parts
  belong to, as the alarm's detail names them (``drainage.pump1: ...``); a part of no
  system (the alarm timers) or a detail not given: every system.

An alarm still standing when the controller stopped ends at the stop (or at the next
start when the stop was a crash): while the controller is down that time is its own, and a
restarted controller raises the alarm again if the condition still stands.

A sensor is a mapped signal the controller only reads (not ``writable``), of kind
``number``, with a measuring range in the config (``range``): a transmitter's span. Counters,
codes, records and set-points have no span and are no sensor. A sensor is in working order
while its quality is good, its value lies within its range and it is not stuck. Stuck is a
value that did not change for longer than ``stuck_after_s`` (counted from the window's end,
as a live check would see it) unless it sits at rest: within ``REST_FRACTION`` of its
span from 0 or from either end of its range (no flow through a stopped pump, a valve fully
open). The historian records a moving value at least every ``max_interval_s`` (300 s by
default), so a stretch between two samples longer than the window is a value that did not
move. The share is over the time the controller was running: time it was down is its
fault time already, and nothing was observed then.
"""

from __future__ import annotations

import bisect
import calendar
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fixedsite.tags import Quality

FAULT_TARGET_H = 10.0           # hours a month, at most
SENSORS_TARGET_PCT = 95.0       # per cent of sensor time in working order, at least
# A value unchanged this long is stuck. A live transmitter's last digit moves within
# minutes (the HIL's noisy ones were recorded every <= 6 min over a 3 h run); a shift is
# long enough for a real reading to have moved, short enough to be noticed the same day.
STUCK_AFTER_S = 4 * 3600.0
REST_FRACTION = 0.01            # of the span: a reading this close to 0 or an end is at rest
FAULT_WORDS = ("fault", "failed", "tripped")
ALIVE_EVERY_S = 60.0            # the controller writes an "alive" event this often
ALIVE_GAP_S = 3 * ALIVE_EVERY_S  # ...and is counted down when the next is later than this
SITE = "site"
WORST_SHOWN = 5

Span = tuple[float, float]
Event = Mapping[str, Any]


def month_span(year: int, month: int) -> Span:
    days = calendar.monthrange(year, month)[1]
    t0 = time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1))
    return t0, t0 + days * 86400.0


def month_of(t: float) -> Span:
    """The local calendar month holding ``t``: what "this month" means on the screens."""
    lt = time.localtime(t)
    return month_span(lt.tm_year, lt.tm_mon)


@dataclass(frozen=True)
class Sensor:
    path: str
    system: str
    low: float
    high: float

    def at_rest(self, v: float) -> bool:
        band = REST_FRACTION * (self.high - self.low)
        return min(abs(v), abs(v - self.low), abs(v - self.high)) <= band

    def in_range(self, v: float) -> bool:
        return self.low <= v <= self.high


@dataclass(frozen=True)
class Scope:
    """What the rules need of a site's config, worked out once."""

    systems: tuple[str, ...]
    plc_systems: Mapping[str, frozenset[str]]       # PLC -> systems whose signals it holds
    equipment_plc: Mapping[str, str]                # "system.equipment" -> its PLC
    sequence_faults: Mapping[str, str]              # alarm id -> its system
    scan_alarm_text: str                            # controller.scan.FAILED's own text
    sensors: Mapping[str, Sensor]                   # path -> sensor


def _raised_by_fault(d: Any) -> bool:
    for word in FAULT_WORDS:
        try:
            if d.condition(word):
                return True
        except Exception:       # a condition on numbers: not a sequence's state
            return False
    return False


def scope(cfg: Any, defs: Iterable[Any]) -> Scope:
    """The site's systems, which PLCs each uses, its sequence-fault alarms among ``defs``
    (``fixedsite.alarms.model.AlarmDef``) and its sensors."""
    names = tuple(cfg.systems)
    plc_systems: dict[str, set[str]] = {plc: set() for plc in cfg.plcs}
    equipment_plc: dict[str, str] = {}
    sensors: dict[str, Sensor] = {}
    for sname, system in cfg.systems.items():
        for ename, eq in system.equipment.items():
            equipment_plc[f"{sname}.{ename}"] = eq.plc
    for sig in cfg.signals():
        system = sig.path.split(".", 1)[0]
        plc_systems.setdefault(sig.plc, set()).add(system)
        r = sig.map.range
        if sig.spec.kind == "number" and not sig.spec.writable and r is not None \
                and r[1] > r[0]:
            sensors[sig.path] = Sensor(sig.path, system, float(r[0]), float(r[1]))
    faults, scan_text = {}, ""
    for d in defs:
        if d.id == "controller.scan.FAILED":
            scan_text = d.text
        elif d.kind == "equipment" and d.tag.endswith(".state") and d.area in names \
                and _raised_by_fault(d):
            faults[d.id] = d.area
    return Scope(names, {p: frozenset(s) for p, s in plc_systems.items()}, equipment_plc,
                 faults, scan_text, sensors)


# --- fault time -----------------------------------------------------------------------------
def _what(e: Event) -> str:
    return str(e["text"]).split(":", 1)[0]


def _scan_systems(sc: Scope, e: Event) -> frozenset[str]:
    """The systems whose scan parts the scan alarm's detail names; all when it names a part
    of none (the alarm timers) or none at all."""
    text = str(e["text"])
    head = f"{_what(e)}: {sc.scan_alarm_text}: "
    if not sc.scan_alarm_text or not text.startswith(head):
        return frozenset(sc.systems)
    out = set()
    for part in text[len(head):].split("; "):
        system = part.split(":", 1)[0].split(".", 1)[0]
        if system not in sc.systems:
            return frozenset(sc.systems)
        out.add(system)
    return frozenset(out) or frozenset(sc.systems)


def _affected(sc: Scope, e: Event) -> tuple[str, frozenset[str]] | None:
    """(cause, systems) an alarm event speaks for, None if it is no fault of ours."""
    src = str(e["source"])
    if src.startswith("comm.") and src.endswith(".LOST"):
        plc = src[len("comm."):-len(".LOST")]
        return f"plc {plc}", sc.plc_systems.get(plc, frozenset())
    if src.endswith(".FALLBACK"):
        eq = src[:-len(".FALLBACK")]
        plc = sc.equipment_plc.get(eq)
        if plc is not None:
            return f"plc {plc}", sc.plc_systems.get(plc, frozenset())
        system = eq.split(".", 1)[0]
        return f"fallback {eq}", frozenset({system} & set(sc.systems))
    if src in sc.sequence_faults:
        return "sequences", frozenset({sc.sequence_faults[src]})
    if src == "controller.scan.FAILED":
        return "scan", _scan_systems(sc, e)
    return None


def down_spans(events: Iterable[Event], t0: float, t1: float, now: float,
               running_since: float | None = None) -> list[Span]:
    """When the controller was not running in [t0, t1), from its "alive" events.

    Down time counts from when the controller was first seen (not before commissioning)
    up to ``now``; ``running_since``: a controller that is running now (the live figures)
    and is down at no time after it."""
    alive_all = sorted((float(e["t"]), float((e.get("data") or {}).get("next_by") or 0.0))
                       for e in events if e["kind"] == "controller")
    if running_since is not None:
        alive_all = [(t, nb) for t, nb in alive_all if t < running_since]
    alive = [(t, nb) for t, nb in alive_all if t0 <= t < t1]
    first = alive[0][0] if alive else (running_since if running_since is not None else t1)
    start = t0 if any(t < t0 for t, _ in alive_all) else max(t0, first)
    if running_since is not None:
        end = min(t1, max(running_since, t0))
    else:
        end = min(t1, max(now, alive[-1][0] if alive else start))
    spans, cursor = [], start       # each "alive" promises the next one by its next_by
    for t, next_by in alive:
        if t > cursor:
            spans.append((cursor, min(t, end)))
        cursor = max(cursor, next_by or t + ALIVE_GAP_S)
    if end > cursor:
        spans.append((cursor, end))
    return [(a, b) for a, b in spans if b > a]


def union_hours(spans: Iterable[Span]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total / 3600.0


@dataclass
class Faults:
    """Fault spans per system (and ``SITE``: all of them), with their causes."""

    spans: dict[str, list[Span]] = field(default_factory=dict)
    causes: dict[str, dict[str, list[Span]]] = field(default_factory=dict)

    def hours(self, system: str = SITE) -> float:
        return union_hours(self.spans.get(system, []))

    def cause_hours(self, system: str) -> dict[str, float]:
        return {c: union_hours(s) for c, s in sorted(self.causes.get(system, {}).items())}


def fault_spans(sc: Scope, events: Iterable[Event], t0: float, t1: float, now: float,
                running_since: float | None = None) -> Faults:
    """Each system's fault spans in [t0, t1) from the history's events (oldest first;
    events before ``t0`` tell what stood at its start)."""
    events = list(events)
    end = min(t1, max(now, t0))
    out = Faults({s: [] for s in (*sc.systems, SITE)},
                 {s: {} for s in (*sc.systems, SITE)})

    def add(cause: str, systems: Iterable[str], a: float, b: float) -> None:
        a, b = max(a, t0), min(b, end)
        if b <= a:
            return
        for s in (*systems, SITE):
            out.spans[s].append((a, b))
            out.causes[s].setdefault(cause, []).append((a, b))

    for a, b in down_spans(events, t0, t1, now, running_since):
        add("controller", sc.systems, a, b)
    open_: dict[str, tuple[float, str, frozenset[str]]] = {}
    for e in sorted(events, key=lambda e: float(e["t"])):
        t = float(e["t"])
        if e["kind"] == "lifecycle":     # a stop (or a start after a crash) ends them all
            for a, cause, systems in open_.values():
                add(cause, systems, a, t)
            open_.clear()
            continue
        if e["kind"] != "alarm":
            continue
        what, src = _what(e), str(e["source"])
        if what == "active" and src not in open_:
            hit = _affected(sc, e)
            if hit is not None:
                open_[src] = (t, *hit)
        elif what in ("rtn", "clear") and src in open_:
            a, cause, systems = open_.pop(src)
            add(cause, systems, a, t)
    for a, cause, systems in open_.values():
        add(cause, systems, a, end)
    return out


# --- sensors --------------------------------------------------------------------------------
@dataclass
class SensorTime:
    """Seconds a sensor was observed, and not in working order by why."""

    path: str
    observed_s: float = 0.0
    bad_s: float = 0.0           # no good value (comm lost, stale, not read, malformed)
    out_of_range_s: float = 0.0
    stuck_s: float = 0.0

    @property
    def faulty_s(self) -> float:
        return min(self.observed_s, self.bad_s + self.out_of_range_s + self.stuck_s)

    @property
    def ok_pct(self) -> float | None:
        if self.observed_s <= 0:
            return None
        return 100.0 * (1.0 - self.faulty_s / self.observed_s)

    def add(self, other: SensorTime) -> None:
        self.observed_s += other.observed_s
        self.bad_s += other.bad_s
        self.out_of_range_s += other.out_of_range_s
        self.stuck_s += other.stuck_s

    def why(self) -> str:
        parts = [(self.bad_s, "no good value"), (self.out_of_range_s, "out of range"),
                 (self.stuck_s, "stuck")]
        return ", ".join(f"{w} {_duration(s)}" for s, w in parts if s > 0)


def _duration(s: float) -> str:
    """Hours to a tenth; a shorter stretch in minutes or seconds, never "0.0 h"."""
    if s >= 360:
        return f"{s / 3600:.1f} h"
    return f"{round(s / 60)} min" if s >= 60 else f"{round(s)} s"


def up_spans(t0: float, end: float, down: Sequence[Span]) -> list[Span]:
    """[t0, end) less the spans the controller was down."""
    out, cursor = [], t0
    for a, b in sorted(down):
        if a > cursor:
            out.append((cursor, min(a, end)))
        cursor = max(cursor, b)
    if end > cursor:
        out.append((cursor, end))
    return [(a, b) for a, b in out if b > a]


class _Overlap:
    """Seconds of a stretch that fall in a set of disjoint spans, by bisection."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = sorted(spans)
        self.starts = [a for a, _ in self.spans]

    def __call__(self, a: float, b: float) -> float:
        if b <= a:
            return 0.0
        i = max(0, bisect.bisect_right(self.starts, a) - 1)
        total = 0.0
        for s, e in self.spans[i:]:
            if s >= b:
                break
            total += max(0.0, min(b, e) - max(a, s))
        return total


def sensor_time(sensor: Sensor, samples: Sequence[tuple[float, float | None, int]],
                observed: Sequence[Span], end: float,
                stuck_after_s: float = STUCK_AFTER_S) -> SensorTime:
    """How long ``sensor`` was in working order within ``observed`` (the controller's
    running time), from its recorded samples (t, value, quality), oldest first; one before
    the first observed span tells its state at the start. Time before any sample is time
    it had no value (never read)."""
    over = _Overlap(observed)
    st = SensorTime(sensor.path, observed_s=sum(b - a for a, b in over.spans))
    if not over.spans:
        return st
    t_first = samples[0][0] if samples else end
    st.bad_s += over(over.spans[0][0], t_first)
    for i, (t, v, q) in enumerate(samples):
        t_next = samples[i + 1][0] if i + 1 < len(samples) else end
        if t_next <= t:
            continue
        if v is not None and not sensor.in_range(v):
            st.out_of_range_s += over(t, t_next)
        elif q != Quality.GOOD or v is None:
            st.bad_s += over(t, t_next)
        elif t_next - t > stuck_after_s and not sensor.at_rest(v):
            st.stuck_s += over(t + stuck_after_s, t_next)
    return st


def sensor_status(sensor: Sensor, value: Any, quality: Quality, since_change_s: float,
                  stuck_after_s: float = STUCK_AFTER_S) -> str:
    """"ok", "bad", "out_of_range" or "stuck": a sensor now, as the live figures see it
    (``since_change_s``: how long its tag has not changed)."""
    if isinstance(value, int | float) and not isinstance(value, bool) \
            and not sensor.in_range(float(value)):
        return "out_of_range"
    if quality is not Quality.GOOD or not isinstance(value, int | float):
        return "bad"
    if since_change_s > stuck_after_s and not sensor.at_rest(float(value)):
        return "stuck"
    return "ok"


def sensors_ok_pct(times: Iterable[SensorTime]) -> float | None:
    """The share of all sensor time in working order (None: nothing observed)."""
    observed = faulty = 0.0
    for s in times:
        observed += s.observed_s
        faulty += s.faulty_s
    return None if observed <= 0 else 100.0 * (1.0 - faulty / observed)


def worst(times: Iterable[SensorTime], n: int = WORST_SHOWN) -> list[SensorTime]:
    """The sensors least in working order, those in full order left out."""
    bad = [s for s in times if s.faulty_s > 0 and s.ok_pct is not None]
    return sorted(bad, key=lambda s: (s.ok_pct, s.path))[:n]


# --- the month from a historian -------------------------------------------------------------
@dataclass
class Figures:
    """A month's (or the month so far's) availability figures."""

    t0: float
    t1: float
    systems: tuple[str, ...]
    faults: Faults
    sensors: dict[str, SensorTime]                   # path -> its time
    sensor_system: dict[str, str]                    # path -> its system

    def fault_h(self, system: str = SITE) -> float:
        return self.faults.hours(system)

    def sensors_of(self, system: str = SITE) -> list[SensorTime]:
        return [s for p, s in self.sensors.items()
                if system == SITE or self.sensor_system[p] == system]

    def sensors_ok_pct(self, system: str = SITE) -> float | None:
        return sensors_ok_pct(self.sensors_of(system))


def figures(sc: Scope, events: Iterable[Event],
            samples: Mapping[str, Sequence[tuple[float, float | None, int]]],
            t0: float, t1: float, now: float, running_since: float | None = None,
            stuck_after_s: float = STUCK_AFTER_S) -> Figures:
    """Fault time and sensor time in [t0, min(t1, now)) from the history's events and each
    sensor's samples (``Historian.samples_with_quality``)."""
    events = list(events)
    faults = fault_spans(sc, events, t0, t1, now, running_since)
    end = min(t1, max(now, t0))
    down = [s for s in faults.causes[SITE].get("controller", [])]
    first_seen = _first_seen(events, t0, end, running_since)
    observed = up_spans(first_seen, end, down)
    times = {p: sensor_time(s, samples.get(p, ()), observed, end, stuck_after_s)
             for p, s in sc.sensors.items()}
    return Figures(t0, t1, sc.systems, faults, times,
                   {p: s.system for p, s in sc.sensors.items()})


def _first_seen(events: Sequence[Event], t0: float, end: float,
                running_since: float | None) -> float:
    """When the controller was first seen in the month: sensors are observed from then."""
    ts = [float(e["t"]) for e in events if e["kind"] in ("controller", "lifecycle")]
    if running_since is not None:
        ts.append(running_since)
    if any(t < t0 for t in ts):
        return t0
    inside = [t for t in ts if t0 <= t < end]
    return min(inside) if inside else end


def from_history(cfg: Any, defs: Iterable[Any], h: Any, t0: float, t1: float, now: float,
                 running_since: float | None = None,
                 stuck_after_s: float = STUCK_AFTER_S) -> Figures:
    """The figures of [t0, t1) as the historian ``h`` has them (up to ``now``)."""
    sc = scope(cfg, defs)
    end = min(t1, max(now, t0))
    if running_since is not None:
        end = min(end, running_since)
    events = h.events_between(t0 - 31 * 86400, end)
    samples = {p: h.samples_with_quality(p, t0, end) for p in sc.sensors}
    return figures(sc, events, samples, t0, t1, end, running_since, stuck_after_s)


def stuck_after(cfg: Any) -> float:
    """The config's stuck window where it gives one, else the default."""
    v = getattr(getattr(cfg, "controller", None), "sensor_stuck_after_s", None)
    return float(v) if isinstance(v, int | float) and v > 0 else STUCK_AFTER_S
