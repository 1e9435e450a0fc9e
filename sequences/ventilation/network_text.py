"""The solved ventilation network shown to people: what ``fixedsite ventilation solve``
prints.

Headings and verdicts are English and Chinese side by side (a Chinese ventilation
engineer reads it; a support engineer too); column heads are short symbols with units,
so the columns stay aligned whatever the language. The order follows what the reader
looks for first: whether the answer can be trusted (the convergence line), which user
points are short of air, then the fans, then every branch and junction for checking.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from fixedsite.sequences.ventilation.network import Solution, need_of

# the rule that sets a user point's need (network.need_of), for people
RULES = {"people": "people 人数", "diesel": "diesel 柴油设备",
         "explosives": "explosives 炸药量", "velocity": "min velocity 最低风速",
         "minimum": "minimum 最低风量"}
SHORT = "SHORT 风量不足"


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns: a Chinese character takes
    two, so str.ljust would push the next column out of line."""
    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - cols, 0)


def _names(system: Any, eq_id: str) -> str:
    """An equipment's names for people, after its id ('' when it has none)."""
    eq = getattr(system, "equipment", {}).get(eq_id)
    names = [n for n in (getattr(eq, "name", ""), getattr(eq, "name_zh", "")) if n]
    return " ".join(names)


def report(cfg_system: Any, solution: Solution, needs: Mapping[str, float]) -> str:
    """The text of one solved network: ``cfg_system`` is the ventilation system's config
    (its ``network`` the one solved), ``needs`` each user point's need (network.needs)."""
    net = cfg_system.network
    sol = solution
    title = " / ".join(t for t in (cfg_system.name, cfg_system.name_zh) if t)
    out = [f"Ventilation network 通风网络解算{': ' + title if title else ''}"]
    method = {"newton": "Newton 牛顿法", "hardy-cross": "Hardy Cross 哈代-克罗斯法",
              "newton+hardy-cross": "Newton with Hardy Cross 牛顿法加哈代-克罗斯法"}.get(
        sol.method, sol.method)
    verdict = "converged 已收敛" if sol.converged else "NOT CONVERGED 未收敛"
    out.append(f"{verdict}: residual 残差 {sol.residual_pa:.2e} Pa, {sol.iterations} "
               f"iterations 迭代次数, {method}; {len(sol.flow)} branches 分支, "
               f"{len(sol.pressure)} junctions 节点")

    # --- user points: what each needs, what it gets ------------------------------------
    short = 0
    if net.users:
        out += ["", "User points 用风地点",
                f"  {'point':<14} {'branch':<20} {'need m3/s':>10}  {'rule':<24} "
                f"{'got m3/s':>9}"]
        for n, u in net.users.items():
            need = needs.get(n)
            _, rule = need_of(n, u, net.branches.get(u.branch))
            got = abs(sol.flow[u.branch])
            flag = ""
            if need is not None and got < need * (1 - 1e-9):
                flag, short = f"  {SHORT} ({got - need:+.2f})", short + 1
            need_s = f"{need:10.2f}" if need is not None else f"{'-':>10}"
            out.append(f"  {n:<14} {u.branch:<20} {need_s}  {_pad(RULES.get(rule, rule), 24)} "
                       f"{got:9.2f}{flag}")
        out.append(f"  {short} of {len(net.users)} points short of air 个地点风量不足"
                   if short else "  every point gets its air 全部用风地点风量满足")

    # --- fans -------------------------------------------------------------------------
    out += ["", "Fans 主要通风机",
            f"  {'fan':<10} {'branch':<14} {'speed %':>7} {'Q m3/s':>8} {'p Pa':>8} "
            f"{'P kW':>8}  {_pad('state', 36)} name"]
    for f, fp in sol.fans.items():
        state = ("reversed 反风" if fp.reversed else "running 运行") if fp.speed_frac > 0 \
            else "stopped 停止"
        if not fp.dampers_open:
            state += ", dampers shut 风门关闭"
        elif fp.speed_frac == 0:
            state += ", dampers open 风门开启"
        out.append(f"  {f:<10} {fp.branch:<14} {fp.speed_frac * 100:7.0f} "
                   f"{fp.flow_m3s:8.2f} {fp.pressure_pa:8.0f} {fp.power_kw:8.1f}  "
                   f"{_pad(state, 36)} {_names(cfg_system, f)}".rstrip())

    if sol.fixed_pa:
        out += ["", "Fixed-quantity branches 定风量分支 (pressure to take up 需调节风压)",
                f"  {'branch':<20} {'Q m3/s':>8} {'Pa':>9}"]
        for n, p in sol.fixed_pa.items():
            how = "regulator 调节风窗" if p >= 0 else "booster needed 需辅助通风机"
            out.append(f"  {n:<20} {sol.flow[n]:8.2f} {p:9.1f}  {how}")
    if sol.regulators:
        out += ["", "Regulating windows 调节风窗",
                f"  {'window':<12} {'branch':<20} {'open %':>7} {'R N·s²/m⁸':>10}  name"]
        where = {b.regulator: n for n, b in net.branches.items() if b.regulator}
        for r, pos in sol.regulators.items():
            b = where[r]
            out.append(f"  {r:<12} {b:<20} {pos:7.0f} {sol.resistance[b]:10.4g}  "
                       f"{_names(cfg_system, r)}".rstrip())

    # --- every branch, every junction -----------------------------------------------------
    wn = max(20, *(len(n) for n in net.branches))
    we = max(18, *(len(b.start) + len(b.end) + 4 for b in net.branches.values()))
    out += ["", "Branches 分支 (Q: start -> end; Δp: start less end 始端减末端)",
            f"  {'branch':<{wn}} {'start -> end':<{we}} {'R N·s²/m⁸':>10} {'Q m3/s':>9} "
            f"{'Δp Pa':>9} {'v m/s':>6}"]
    for n, b in net.branches.items():
        v = sol.velocity[n]
        vs = f"{v:6.2f}" if v is not None else f"{'-':>6}"
        tags = [t for t in (b.fan and f"fan {b.fan}", b.regulator and f"window {b.regulator}",
                            b.fixed_m3s and "fixed") if t]
        out.append(f"  {n:<{wn}} {b.start + ' -> ' + b.end:<{we}} {sol.resistance[n]:10.4g} "
                   f"{sol.flow[n]:9.2f} {sol.dp[n]:9.1f} {vs}"
                   f"{'  ' + ', '.join(tags) if tags else ''}")
    out += ["", f"Junctions 节点压力 (Pa relative to {net.surface} 相对地面)"]
    wj = max(20, *(len(j) for j in sol.pressure))
    for j, p in sorted(sol.pressure.items(), key=lambda kv: kv[1], reverse=True):
        out.append(f"  {j:<{wj}} {p:9.1f}")
    return "\n".join(out)
