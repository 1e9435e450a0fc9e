"""Alarm system performance figures (ISA-18.2 section 16, EEMUA 191).

Targets, for the figures below: about 1 annunciation per 10 minutes per console (2 at
most), under 1 % of 10-minute periods in flood (more than 10 alarms), no chattering
alarms (3 or more activations within a minute), few standing alarms (active over 24 h),
the ten most frequent alarms well under half of all, and a priority split near
5 % high / 15 % medium / 80 % low.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from fixedsite.alarms.engine import CHATTER_COUNT, CHATTER_WINDOW_S, Alarm, AlarmEvent

PERIOD_S = 600.0
FLOOD = 10
STANDING_S = 24 * 3600.0


@dataclass(frozen=True)
class Figures:
    window_s: float
    annunciated: int
    per_10_min: float
    peak_10_min: int
    flood_periods: int
    periods: int
    flood_pct: float
    chattering: list[str]
    standing: list[str]
    top10_share_pct: float
    by_priority_pct: dict[int, float]


def figures(events: Iterable[AlarmEvent], alarms: Iterable[Alarm], now: float,
            window_s: float) -> Figures:
    start = now - window_s
    active = sorted((e for e in events if e.what == "active" and start <= e.t <= now),
                    key=lambda e: e.t)
    periods = max(1, int(window_s // PERIOD_S))
    buckets = Counter(min(periods - 1, int((e.t - start) // PERIOD_S)) for e in active)
    flood = sum(1 for n in buckets.values() if n > FLOOD)
    by_alarm: dict[str, list[float]] = {}
    for e in active:
        by_alarm.setdefault(e.alarm, []).append(e.t)
    chattering = sorted(a for a, ts in by_alarm.items()
                        if any(ts[i + CHATTER_COUNT - 1] - ts[i] <= CHATTER_WINDOW_S
                               for i in range(len(ts) - CHATTER_COUNT + 1)))
    standing = sorted(a.d.id for a in alarms
                      if a.active_since is not None and now - a.active_since >= STANDING_S)
    counts = Counter(e.alarm for e in active)
    top10 = sum(n for _, n in counts.most_common(10))
    prio = Counter(e.priority for e in active)
    n = len(active)
    return Figures(window_s, n, n / periods, max(buckets.values(), default=0), flood,
                   periods, 100.0 * flood / periods, chattering, standing,
                   100.0 * top10 / n if n else 0.0,
                   {p: (100.0 * prio[p] / n if n else 0.0) for p in (1, 2, 3, 4)})
