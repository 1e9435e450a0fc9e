"""The monthly report: per equipment run hours, starts, energy by tariff period, alarms;
and the supervisory system's own fault hours (the evaluation standard asks < 10 h a month).

Everything comes from the historian: counters (run hours, starts, energy) as the rise over
the month, energy split by the tariff period in force when each increment was metered,
alarm counts from alarm events, and fault time as the union of the intervals in which a
PLC link was lost, a PLC ran on its fallback, or the controller was not running (a gap in
its "alive" events).
"""

from __future__ import annotations

import calendar
import csv
import io
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from fixedsite import systems
from fixedsite.alarms.engine import AlarmEvent
from fixedsite.alarms.kpi import Figures, figures
from fixedsite.config import SiteConfig, TariffConfig, TariffPeriod
from fixedsite.historian import Historian


class HistoryReader(Historian):
    """A historian opened read-only, for the commands that only read (report, plan): one
    run beside a controller takes no write lock on the controller's database and creates
    nothing in a file it was pointed at."""

    def __init__(self, path: str | Path, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s
        super().__init__(path)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True,
                             timeout=self._timeout_s, check_same_thread=False)
        self._ids = dict(db.execute("SELECT path, id FROM tags").fetchall())
        return db

    def close(self) -> None:
        self.db.close()                   # nothing to flush: it never writes


ALIVE_EVERY_S = 60.0           # the controller writes an "alive" event this often
ALIVE_GAP_S = 3 * ALIVE_EVERY_S  # ...and is counted down when the next is later than this


@dataclass
class Row:
    equipment: str
    run_hours: float = 0.0
    starts: int = 0
    energy_kwh: float = 0.0
    by_period: dict[str, float] = field(default_factory=dict)   # by ``tier``
    cost: float = 0.0
    alarms: int = 0


@dataclass
class Report:
    title: str
    t0: float
    t1: float
    rows: list[Row]
    periods: list[str]                 # the tiers, each once, in the tariff's order
    fault_hours: float
    alarms_total: int
    alarm_figures: Figures | None = None
    # each system's own section: (heading, lines), from its SystemSpec.report
    sections: list[tuple[str, list[str]]] = field(default_factory=list)


def tier(tariff: TariffConfig, period: TariffPeriod) -> str:
    """The report column a period's energy goes to: a line of the utility's bill.

    The bill lists kWh per price tier (critical, peak, flat, valley), whatever hours and
    months each tier covers, and an energy accountant checks the report against it; so
    the periods a tariff names alike (the demo's summer and winter "peak") share one
    column. A name used at two prices is two lines of the bill: its price joins the name.
    """
    prices = {p.price for p in tariff.periods if p.name == period.name}
    return period.name if len(prices) == 1 else f"{period.name}_{period.price:g}"


def month_span(year: int, month: int) -> tuple[float, float]:
    days = calendar.monthrange(year, month)[1]
    t0 = time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1))
    return t0, t0 + days * 86400.0


def _rise(samples: list[tuple[float, float]]) -> float:
    """Rise of a counter over the samples, tolerating a counter reset to zero."""
    total = 0.0
    for (_, a), (_, b) in zip(samples, samples[1:], strict=False):
        total += b - a if b >= a else b
    return total


def _intervals(events: list[dict[str, object]], ids: tuple[str, ...], t0: float,
               t1: float) -> list[tuple[float, float]]:
    out, start = [], {}
    for e in events:
        src = str(e["source"])
        if not src.endswith(ids):
            continue
        what = str(e["text"]).split(":", 1)[0]
        t = float(e["t"])  # type: ignore[arg-type]
        if what == "active" and src not in start:
            start[src] = t
        elif what in ("rtn", "clear") and src in start:
            out.append((start.pop(src), t))
    out += [(s, t1) for s in start.values()]
    return [(max(a, t0), min(b, t1)) for a, b in out if b > t0 and a < t1]


def _union_hours(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total / 3600.0


# The counters a machine's row is made of: any equipment type (a pump, a fan, a compressor,
# a hoist) whose signals include one of them has a row.
METERED = frozenset({"run_hours", "starts", "energy"})


def build(cfg: SiteConfig, h: Historian, t0: float, t1: float) -> Report:
    tariff = cfg.tariff
    periods = list(dict.fromkeys(tier(tariff, p) for p in tariff.periods)) if tariff else []
    events = h.events_between(t0 - 31 * 86400, t1)
    alarm_events = [e for e in events if e["kind"] == "alarm" and t0 <= e["t"] < t1
                    and str(e["text"]).startswith("active")]
    rows = []
    for sname, system in cfg.systems.items():
        types = systems.get(system.kind).equipment
        for ename, eq in system.equipment.items():
            if not METERED & set(types[eq.type]):       # a machine with counters: a row
                continue
            base = f"{sname}.{ename}"
            row = Row(base, alarms=sum(1 for e in alarm_events
                                       if str(e["source"]).startswith(base + ".")))
            row.run_hours = _rise(h.samples(f"{base}.run_hours", t0, t1))
            row.starts = round(_rise(h.samples(f"{base}.starts", t0, t1)))
            energy = h.samples(f"{base}.energy", t0, t1)
            row.energy_kwh = _rise(energy)
            row.by_period = dict.fromkeys(periods, 0.0)
            if tariff is not None:
                for (_, a), (tb, b) in zip(energy, energy[1:], strict=False):
                    period = tariff.at(tb)
                    inc = b - a if b >= a else b
                    row.by_period[tier(tariff, period)] += inc
                    row.cost += inc * period.price
            rows.append(row)
    spans = _intervals([e for e in events if e["kind"] == "alarm"], (".LOST", ".FALLBACK"),
                       t0, t1)
    alive_all = sorted((float(e["t"]), float(e["data"].get("next_by", 0.0)))  # type: ignore[arg-type, attr-defined]
                       for e in events if e["kind"] == "controller")
    alive = [(t, nb) for t, nb in alive_all if t0 <= t < t1]
    # down time counts from when the controller was first seen: not before commissioning
    start = t0 if any(t < t0 for t, _ in alive_all) else (alive[0][0] if alive else t1)
    end = min(t1, max(time.time(), alive[-1][0] if alive else start))
    cursor = start               # each "alive" promises the next one by its next_by
    for t, next_by in alive:
        if t > cursor:
            spans.append((cursor, t))
        cursor = max(cursor, next_by or t + ALIVE_GAP_S)
    if end > cursor:
        spans.append((cursor, end))
    sections = []
    month = [e for e in events if t0 <= float(e["t"]) < t1]  # type: ignore[arg-type]
    for sname, system in cfg.systems.items():
        spec = systems.get(system.kind)
        lines_of = systems.optional(spec, spec.report, "report lines")
        if lines_of is not None:
            sections.append((system.name or sname, lines_of(cfg, sname, system, month, t0,
                                                            t1)))
    title = f"{cfg.site.name}: {time.strftime('%Y-%m', time.localtime(t0))}"
    annunciations = [AlarmEvent(float(e["t"]), str(e["source"]), "active",  # type: ignore[arg-type]
                                int(e["data"].get("priority", 4)),  # type: ignore[attr-defined]
                                str(e["data"].get("area", "")), str(e["text"]))  # type: ignore[attr-defined]
                     for e in alarm_events]
    kpi = figures(annunciations, [], min(t1, time.time()), min(t1, time.time()) - t0)
    return Report(title, t0, t1, rows, periods, _union_hours(spans), len(alarm_events), kpi,
                  sections)


def as_text(r: Report) -> str:
    head = ["equipment", "run h", "starts", "kWh"] + [f"{p} kWh" for p in r.periods] + \
        (["cost CNY"] if r.periods else []) + ["alarms"]
    lines = [r.title, "  ".join(f"{h:>12}" if i else f"{h:<22}" for i, h in enumerate(head))]
    for row in r.rows:
        cells = [f"{row.run_hours:.1f}", str(row.starts), f"{row.energy_kwh:.0f}"] + \
            [f"{row.by_period[p]:.0f}" for p in r.periods] + \
            ([f"{row.cost:.0f}"] if r.periods else []) + [str(row.alarms)]
        lines.append(f"{row.equipment:<22}" + "".join(f"  {c:>12}" for c in cells))
    verdict = "within" if r.fault_hours < 10 else "OVER"
    lines.append(f"alarms annunciated: {r.alarms_total}")
    f = r.alarm_figures
    if f is not None and f.annunciated:
        prio = " ".join(f"P{p} {v:.0f}%" for p, v in f.by_priority_pct.items())
        lines.append(f"  per 10 min {f.per_10_min:.2f} (target ~1), peak {f.peak_10_min}, "
                     f"in flood {f.flood_pct:.1f}% of periods (target < 1%), top-10 share "
                     f"{f.top10_share_pct:.0f}%, {prio}")
        if f.chattering:
            lines.append(f"  chattering: {', '.join(f.chattering)}")
    lines.append(f"supervisory system fault time: {r.fault_hours:.2f} h ({verdict} the 10 h a "
                 "month of the evaluation standard)")
    for heading, body in r.sections:
        lines += ["", f"{heading}:", *(f"  {line}" for line in body)]
    return "\n".join(lines)


def as_csv(r: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["equipment", "run_hours", "starts", "energy_kwh",
                *[f"energy_{p}_kwh" for p in r.periods], "cost_cny", "alarms"])
    for row in r.rows:
        w.writerow([row.equipment, f"{row.run_hours:.2f}", row.starts, f"{row.energy_kwh:.1f}",
                    *[f"{row.by_period[p]:.1f}" for p in r.periods], f"{row.cost:.2f}",
                    row.alarms])
    for heading, body in r.sections:
        for line in body:
            w.writerow(["section", heading, line])
    w.writerow(["fault_hours", f"{r.fault_hours:.2f}"])
    return out.getvalue()
