"""Historian speed: 30 days of one tag at 1 s, written through the historian, then trended.

Writes 2,592,000 samples of a noisy level signal (every sample outside the deadband, so
every one is stored) through ``Historian.record`` and ``flush`` in 10,000-sample batches,
then asks for the whole 30 days in 1,000 buckets (min/max/avg each), as a trend screen
would, and for the last hour at full resolution. The baseline in the same run is the
same 30-day query answered from the raw rows, as a historian without rollups would.

Run: ``.venv/bin/python bench/history.py [--days 30]``; the last line is
``RESULT query_ms=... write_points_per_s=...``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from fixedsite.historian import Historian
from fixedsite.tags import Quality


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    args = ap.parse_args()
    n = int(args.days * 86400)
    t0 = 1_790_000_000.0
    with tempfile.TemporaryDirectory() as tmp:
        h = Historian(Path(tmp) / "history.db", deadband_pct=0.0, max_interval_s=1.0)
        start = time.perf_counter()
        for i in range(n):
            v = 1.5 + 0.5 * math.sin(i / 3600.0) + (i * 7919 % 1000) / 1e5
            h.record("drainage.sump.level", t0 + i, v, Quality.GOOD, span=5.0)
            if i % 10_000 == 9_999:
                h.flush()
        h.flush()
        write_s = time.perf_counter() - start
        size_mb = (Path(tmp) / "history.db").stat().st_size / 1e6

        def timed(fn, repeat: int = 5) -> tuple[float, int]:  # type: ignore[no-untyped-def]
            ms = []
            for _ in range(repeat):
                s = time.perf_counter()
                out = fn()
                ms.append((time.perf_counter() - s) * 1000)
            return statistics.median(ms), len(out)

        q_ms, nb = timed(lambda: h.query("drainage.sump.level", t0, t0 + n, 1000))
        hour_ms, nh = timed(lambda: h.query("drainage.sump.level", t0 + n - 3600, t0 + n,
                                            3600))
        raw_ms, nr = timed(lambda: h.db.execute(
            "SELECT CAST((t - ?) / ? AS INTEGER) AS b, min(v), max(v), avg(v) FROM samples "
            "WHERE tag = 1 AND t >= ? AND t < ? GROUP BY b", (t0, n / 1000, t0, t0 + n)
        ).fetchall(), repeat=2)
        h.close()
    print(f"wrote {n:,} samples in {write_s:.1f} s = {n / write_s:,.0f} points/s "
          f"(database {size_mb:.0f} MB)")
    print(f"{args.days:g} days in 1000 buckets: {q_ms:.1f} ms ({nb} buckets, from the "
          f"1-minute rollup; target < 200 ms)")
    print(f"same query over the raw rows (baseline): {raw_ms:.0f} ms ({nr} buckets), "
          f"{raw_ms / q_ms:.0f}x slower")
    print(f"last hour at 1 s: {hour_ms:.1f} ms ({nh} buckets, raw rows)")
    print(f"RESULT query_ms={q_ms:.1f} write_points_per_s={n / write_s:.0f}")


if __name__ == "__main__":
    main()
