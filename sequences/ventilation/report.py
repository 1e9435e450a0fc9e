"""Ventilation's lines of the monthly report (``SystemSpec.report``): every changeover with
its dip, every failover with its time, the reversal drills, and the faces' daily auxiliary
fan tests, from the records the sequences kept as historian events (kind "ventilation").
The fans' run hours, starts and energy by tariff period are the report's own rows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fixedsite.config import SiteConfig
from fixedsite.sequences.ventilation.config import VentilationSystem


def _when(t: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(t))


def lines(cfg: SiteConfig, sname: str, system: VentilationSystem,
          events: Sequence[dict[str, Any]], t0: float, t1: float) -> list[str]:
    mine = [e for e in events if e["kind"] == "ventilation"
            and str(e["source"]).startswith(f"{sname}.") and isinstance(e["data"], dict)]
    by: dict[str, list[dict[str, Any]]] = {}
    for e in mine:
        by.setdefault(str(e["data"].get("what", "")), []).append(e)
    c = system.control
    out = []
    cos = by.get("changeover", [])
    if cos:
        worst = min(float(e["data"]["min_pct"]) for e in cos)
        below = sum(1 for e in cos if float(e["data"]["min_pct"]) < c.changeover_min_pct)
        out.append(f"changeovers: {len(cos)}, lowest air {worst:.1f} % of nominal, "
                   f"{below} below {c.changeover_min_pct:.0f} %")
        out += [f"  {_when(e['t'])}  to {e['data']['fan']}: {e['data']['took_s']:.0f} s, "
                f"lowest {e['data']['min_pct']:.1f} %, {e['data']['below_s']:.0f} s below, "
                f"{e['data']['deficit_m3']:.0f} m3 not delivered" for e in cos]
    else:
        out.append("changeovers: none")
    fos = by.get("failover", [])
    if fos:
        slowest = max(float(e["data"]["took_s"]) for e in fos)
        late = sum(1 for e in fos if float(e["data"]["took_s"]) > c.failover_within_s)
        out.append(f"failovers: {len(fos)}, slowest {slowest:.0f} s (limit "
                   f"{c.failover_within_s:.0f} s), {late} late")
        out += [f"  {_when(e['t'])}  to {e['data']['fan']}: air in {e['data']['took_s']:.0f} "
                f"s, lowest {e['data']['min_pct']:.1f} %" for e in fos]
    else:
        out.append("failovers: none")
    for e in by.get("reversal", []):
        ok = float(e["data"]["pct"]) >= c.reversal_min_pct and \
            float(e["data"]["took_s"]) <= c.reversal_within_s
        out.append(f"reversal drill {_when(e['t'])} on {e['data']['fan']}: "
                   f"{e['data']['pct']:.0f} % reversed in {e['data']['took_s']:.0f} s "
                   f"({'meets' if ok else 'FAILS'} {c.reversal_min_pct:.0f} % within "
                   f"{c.reversal_within_s:.0f} s)")
    for face in c.faces:
        tests = [e for e in by.get("aux_test", []) if e["data"].get("face") == face]
        passed = sum(1 for e in tests if e["data"].get("ok"))
        days = max(1, round((min(t1, time.time()) - t0) / 86400))
        out.append(f"{face} daily auxiliary fan tests: {passed} passed, "
                   f"{len(tests) - passed} failed, {days - len(tests) if days > len(tests) else 0}"
                   " days without a test")
    return out
