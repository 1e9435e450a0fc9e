"""The monthly report: per equipment run hours, starts, energy by tariff period, alarms;
and the availability figures: the supervisory system's fault hours per system and for the
site (the evaluation standard asks < 10 h a month) and the share of sensors in working
order (it asks > 95 %).

Everything comes from the historian: counters (run hours, starts, energy) as the rise over
the month, energy split by the tariff period in force when each increment was metered,
alarm counts from alarm events, and the availability figures as ``fixedsite.availability``
works them out (the same computation as the controller's live ``controller.availability.*``):
fault time as the union of the spans in which the controller was not running, a PLC link
was lost or a PLC ran on its fallback, or a sequence stood in fault.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from fixedsite import availability as av
from fixedsite import systems
from fixedsite.alarms.engine import AlarmEvent
from fixedsite.alarms.kpi import Figures, figures
from fixedsite.alarms.model import build_defs
from fixedsite.availability import ALIVE_EVERY_S, ALIVE_GAP_S, month_span
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


__all__ = ["ALIVE_EVERY_S", "ALIVE_GAP_S", "month_span"]     # where they were first


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
    availability: av.Figures | None = None


def tier(tariff: TariffConfig, period: TariffPeriod) -> str:
    """The report column a period's energy goes to: a line of the utility's bill.

    The bill lists kWh per price tier (critical, peak, flat, valley), whatever hours and
    months each tier covers, and an energy accountant checks the report against it; so
    the periods a tariff names alike (the demo's summer and winter "peak") share one
    column. A name used at two prices is two lines of the bill: its price joins the name.
    """
    prices = {p.price for p in tariff.periods if p.name == period.name}
    return period.name if len(prices) == 1 else f"{period.name}_{period.price:g}"


def _rise(samples: list[tuple[float, float]]) -> float:
    """Rise of a counter over the samples, tolerating a counter reset to zero."""
    total = 0.0
    for (_, a), (_, b) in zip(samples, samples[1:], strict=False):
        total += b - a if b >= a else b
    return total


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
    month = [e for e in events if t0 <= float(e["t"]) < t1]  # type: ignore[arg-type]
    sc = av.scope(cfg, build_defs(cfg))
    # the history may run ahead of the wall clock (a HIL's accelerated time): its last
    # record is "now" then
    now = min(t1, max([time.time()] + [float(e["t"]) for e in month]))  # type: ignore[arg-type]
    samples = {p: h.samples_with_quality(p, t0, t1) for p in sc.sensors}
    avail = av.figures(sc, events, samples, t0, t1, now, stuck_after_s=av.stuck_after(cfg))
    sections = []
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
    return Report(title, t0, t1, rows, periods, avail.fault_h(), len(alarm_events), kpi,
                  sections, avail)


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
    if r.availability is not None:
        lines += ["", "availability:", *(f"  {line}" for line in availability_lines(
            r.availability))]
    for heading, body in r.sections:
        lines += ["", f"{heading}:", *(f"  {line}" for line in body)]
    return "\n".join(lines)


def _verdict_h(h: float) -> str:
    return "within" if h < av.FAULT_TARGET_H else "OVER"


def _verdict_pct(pct: float | None) -> str:
    if pct is None:
        return "no sensors"
    return "within" if pct > av.SENSORS_TARGET_PCT else "UNDER"


def availability_lines(f: av.Figures) -> list[str]:
    """Per system and for the site: fault hours against < 10 h with their causes, sensors in
    working order against > 95 %, and the worst sensors by name."""
    width = max([len(s) for s in f.systems] + [len(av.SITE)])
    head = f"{'':<{width}}  {'fault h':>8}  {'< 10 h':<6}  {'sensors ok':>16}  " \
        f"{'> 95 %':<10}  fault time by cause"
    out = [head]
    for system in (*f.systems, av.SITE):
        fault = f.fault_h(system)
        ok = f.sensors_ok_pct(system)
        n = len(f.sensors_of(system))
        causes = ", ".join(f"{c} {h:.2f} h" for c, h in f.faults.cause_hours(system).items()
                           if h > 0)
        shown = "--" if ok is None else f"{ok:.1f}% of {n}"
        out.append(f"{system:<{width}}  {fault:>8.2f}  {_verdict_h(fault):<6}  {shown:>16}  "
                   f"{_verdict_pct(ok):<10}  {causes}".rstrip())
    bad = av.worst(f.sensors.values())
    if bad:
        out.append("sensors least in working order:")
        out += [f"  {s.path}: {s.ok_pct:.1f}% ({s.why()})" for s in bad]
    return out


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
    f = r.availability
    if f is not None:
        for system in (*f.systems, av.SITE):
            ok = f.sensors_ok_pct(system)
            w.writerow(["availability", system, f"{f.fault_h(system):.2f}",
                        _verdict_h(f.fault_h(system)), "" if ok is None else f"{ok:.2f}",
                        _verdict_pct(ok), len(f.sensors_of(system))])
        for s in av.worst(f.sensors.values()):
            w.writerow(["sensor", s.path, f"{s.ok_pct:.2f}", f"{s.bad_s / 3600:.2f}",
                        f"{s.out_of_range_s / 3600:.2f}", f"{s.stuck_s / 3600:.2f}"])
    w.writerow(["fault_hours", f"{r.fault_hours:.2f}"])
    return out.getvalue()
