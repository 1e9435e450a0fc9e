"""The arithmetic of a trend chart, kept apart from the widget so it can be read and tested
on its own: tick positions an operator can read (whole minutes, hours and days of the
site's local time; round values), labels that fit the width, and the bucket series drawn
as lines (held across the gaps an on-change historian leaves, broken where it stored
nothing at all).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from fixedsite.console.client import Bucket

# The historian stores a number on change and at least every ``storage.max_interval_s``
# (300 s unless configured otherwise): a gap up to that long means "unchanged", a longer
# one means nothing was stored (controller down, value not good) and the line breaks.
HELD_S = 330.0

TIME_STEPS_S = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                2 * 86400, 7 * 86400]
DAY_S = 86400.0


def time_format(window_s: float) -> str:
    """HH:MM within a day; beyond, the date too (a week of HH:MM labels repeats itself)."""
    return "%H:%M" if window_s <= DAY_S else "%m-%d %H:%M"


def clock(t: float, window_s: float) -> str:
    """A site timestamp (Unix seconds) in local time, as the time axis writes it."""
    return time.strftime(time_format(window_s), time.localtime(t))


def time_ticks(t0: float, t1: float, width: int) -> tuple[list[float], list[str]]:
    """Ticks on whole local minutes / hours / days over [t0, t1], as many as fit in
    ``width`` columns with a gap between labels."""
    window = t1 - t0
    room = len(clock(t0, window)) + 3
    most = max(2, width // room)
    step = next((s for s in TIME_STEPS_S if window / s <= most), TIME_STEPS_S[-1])
    # aligned on the local clock (a 6 h step falls on 00:00, 06:00 ... of the site's zone)
    offset = time.localtime(t0).tm_gmtoff
    first = math.ceil((t0 + offset) / step) * step - offset
    ticks = []
    x = float(first)
    while x <= t1 + 1e-6:
        ticks.append(x)
        x += step
    return ticks, [clock(x, window) for x in ticks]


def whole(buckets: Sequence[Bucket]) -> bool:
    """True for a tag whose stored values are all whole numbers (pumps running, a count):
    its minima and maxima are samples, so they show it; averages of a bucket need not."""
    return bool(buckets) and all(float(b.lo).is_integer() and float(b.hi).is_integer()
                                 for b in buckets)


def decimals(lo: float, hi: float, integer: bool) -> int:
    """Places for a head figure: none for whole numbers, fewer for bigger numbers."""
    if integer:
        return 0
    size = max(abs(lo), abs(hi))
    return 2 if size < 100 else 1 if size < 1000 else 0


def number(x: float, nd: int) -> str:
    text = f"{x:.{nd}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _nice(raw: float, integer: bool) -> float:
    """The smallest 1, 2, 2.5, 5 x 10^k step at least ``raw`` (whole for whole numbers)."""
    if raw <= 0:
        return 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if integer and m == 2.5:
            continue
        step = m * mag
        if step >= raw * (1 - 1e-9):
            return max(1.0, round(step)) if integer else step
    return 10.0 * mag


def value_ticks(lo: float, hi: float, rows: int, integer: bool
                ) -> tuple[tuple[float, float], list[float], list[str]]:
    """Axis limits, ticks and their labels for values in [lo, hi] on ``rows`` text rows:
    round steps, about one tick every other row, integers for whole-number tags."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-9:                      # a flat line: a little room above and below
        pad = 1.0 if integer else max(abs(hi) * 0.05, 0.1)
        lo, hi = lo - pad, hi + pad
    n = max(1, rows // 2)
    step = _nice((hi - lo) / n, integer)
    first, last = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    if last - first < step:
        last = first + step
    count = round((last - first) / step)
    ticks = [first + i * step for i in range(count + 1)]
    if integer:
        nd = 0
    else:
        nd = max(0, -math.floor(math.log10(step) + 1e-9))
        nd += 0 if abs(float(number(step, nd)) - step) < step * 1e-6 else 1   # 2.5 x 10^k
    return (first, last), ticks, [number(x, nd) for x in ticks]


def segments(buckets: Sequence[Bucket], width: float) -> list[list[Bucket]]:
    """The buckets as lines to draw, evenly spaced: a gap the historian leaves because the
    value did not move holds the bucket before (lo = hi = its average); a gap longer than
    it ever leaves (``HELD_S``) breaks the line: there is no data there."""
    out: list[list[Bucket]] = []
    run: list[Bucket] = []
    for b in buckets:
        if run and width > 0:
            gap = b.t - run[-1].t
            if gap > width + HELD_S:
                out.append(run)
                run = []
            else:
                prev = run[-1]
                run.extend(Bucket(prev.t + i * width, prev.avg, prev.avg, prev.avg)
                           for i in range(1, round(gap / width)))
        run.append(b)
    if run:
        out.append(run)
    return out


def band_xy(run: Sequence[Bucket], width: float, end: float
            ) -> tuple[list[float], list[float]]:
    """The min/max band of one line as a single zig-zag: at each bucket a stroke from its
    minimum to its maximum (alternately up and down), joined to the next, so the space
    between the minima and the maxima is filled column by column."""
    xs: list[float] = []
    ys: list[float] = []
    for i, b in enumerate(run):
        x = min(b.t + width / 2, end)
        xs += [x, x]
        ys += [b.lo, b.hi] if i % 2 == 0 else [b.hi, b.lo]
    return xs, ys


def avg_xy(run: Sequence[Bucket], width: float, end: float
           ) -> tuple[list[float], list[float]]:
    """The average line, each bucket's point at its middle (the last one at most now)."""
    return [min(b.t + width / 2, end) for b in run], [b.avg for b in run]
