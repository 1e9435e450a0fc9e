"""Ventilation network solving (issue 12, item 3): against a network solved by hand, a
mine of 49 branches checked by a different method (scipy's root on the junction
pressures), fixed-quantity branches, regulators, the air each user point needs, the bad
inputs, and the ``fixedsite ventilation solve`` verb."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import root

from fixedsite.sequences.ventilation.network import (
    CLOSED_DAMPER_R,
    REGULATOR_AREA_M2,
    FanCurve,
    NetworkError,
    NotConverged,
    Solution,
    needs,
    shortfalls,
    solve,
)
from fixedsite.sequences.ventilation.network_config import Network

# --- a network small enough to solve by hand -------------------------------------------
# surface -(R0)-> A, A -(R1)-> B and A -(R2)-> B in parallel, B -(fan)-> surface.
# A straight fan curve p = a - b·Q (PCHIP reproduces a straight line exactly); at speed s
# the fan laws make it p = s²a - s·b·Q, so the flow solves R·Q² + s·b·Q - s²·a = 0.
A_PA, B_PAS = 3000.0, 10.0
R0, R1, R2 = 0.05, 0.2, 0.4
LINE = tuple((q, A_PA - B_PAS * q) for q in (0.0, 100.0, 180.0, 250.0))


def small(**extra: dict) -> Network:
    branches = {
        "intake": {"start": "surface", "end": "A", "resistance": R0, "area_m2": 20.0},
        "left": {"start": "A", "end": "B", "resistance": R1, "area_m2": 10.0},
        "right": {"start": "A", "end": "B", "resistance": R2, "area_m2": 8.0},
        "fan": {"start": "B", "end": "surface", "resistance": 0.0, "fan": "f1"},
    }
    for name, change in extra.items():
        branches[name] = {**branches.get(name, {}), **change}
    return Network.model_validate({"branches": branches})


def quadratic(a: float, b: float, c: float) -> float:
    """The positive root of a·x² + b·x + c = 0."""
    return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


def close(x: float, y: float, rel: float = 1e-6) -> bool:
    return abs(x - y) <= rel * max(abs(y), 1.0)


@pytest.mark.parametrize("speed", [1.0, 0.8])
@pytest.mark.parametrize("method", ["newton", "hardy-cross"])
def test_small_network_matches_the_hand_solution(speed: float, method: str) -> None:
    sol = solve(small(), {"f1": FanCurve(LINE, speed_frac=speed, efficiency=0.8)},
                method=method)
    rp = 1 / (1 / math.sqrt(R1) + 1 / math.sqrt(R2)) ** 2      # the parallel pair
    r = R0 + rp
    q = quadratic(r, speed * B_PAS, -speed ** 2 * A_PA)
    q1, q2 = q * math.sqrt(rp / R1), q * math.sqrt(rp / R2)
    assert sol.converged and sol.method == method and sol.residual_pa < 1e-6
    for name, want in (("intake", q), ("left", q1), ("right", q2), ("fan", q)):
        assert close(sol.flow[name], want), (name, sol.flow[name], want)
    p_fan = speed ** 2 * A_PA - speed * B_PAS * q
    assert close(sol.pressure["A"], -R0 * q * q)
    assert close(sol.pressure["B"], -R0 * q * q - R1 * q1 * q1)
    assert close(sol.dp["fan"], -p_fan)                 # the fan raises the pressure
    assert close(sol.dp["left"], R1 * q1 * q1)
    fp = sol.fans["f1"]
    assert fp.branch == "fan" and close(fp.flow_m3s, q) and close(fp.pressure_pa, p_fan)
    assert close(fp.power_kw, q * p_fan / 0.8 / 1000)
    assert close(sol.velocity["left"], q1 / 10.0) and sol.velocity["fan"] is None


def test_fan_laws_and_reversal_on_the_curve() -> None:
    curve = ((50.0, 3400.0), (110.0, 3250.0), (160.0, 2900.0), (200.0, 2350.0))
    full, slow = FanCurve(curve), FanCurve(curve, speed_frac=0.6)
    for q, p in curve:                                  # through every point, scaled
        assert close(full.pressure(q)[0], p, 1e-12)
        assert close(slow.pressure(0.6 * q)[0], 0.36 * p, 1e-12)
    rev = FanCurve(curve, reversed=True, speed_frac=0.8)
    # drives end -> start: at 60 % of the flow, 50 % of the pressure, fan laws on top
    assert close(rev.pressure(-0.6 * 0.8 * 110.0)[0], -0.5 * 0.64 * 3250.0, 1e-12)
    # off the curve: finite, falling steeply past the last point, never NaN
    for q in (-500.0, 0.0, 1e4, 1e8):
        p, dp = full.pressure(q)
        assert math.isfinite(p) and math.isfinite(dp)
    assert full.pressure(220.0)[0] < 2350.0 - 1000.0
    assert FanCurve(curve, speed_frac=0.0).pressure(100.0) == (0.0, 0.0)
    # between points the curve never rises above its neighbours (monotone interpolation)
    qs = np.linspace(50.0, 200.0, 301)
    ps = [full.pressure(float(q))[0] for q in qs]
    assert all(b <= a + 1e-9 for a, b in zip(ps, ps[1:], strict=False))


def test_far_off_the_curve_stays_finite() -> None:
    """A mine with almost no resistance runs the fan past its last point: an answer on
    the steep fall-off, never NaN."""
    net = small(intake={"resistance": 1e-6}, left={"resistance": 1e-6},
                right={"resistance": 1e-6})
    sol = solve(net, {"f1": FanCurve(LINE)})
    assert sol.converged and sol.flow["fan"] > 250.0
    assert all(math.isfinite(v) for v in sol.flow.values())


# --- a mine of 49 branches ---------------------------------------------------------------
FAN_CURVE = ((60.0, 3400.0), (110.0, 3250.0), (160.0, 2900.0), (200.0, 2350.0),
             (230.0, 1700.0), (250.0, 1000.0))


def mine(districts: int = 4) -> Network:
    """A mine as it is described, not drawn at random: an intake shaft (with natural
    ventilation pressure), a main intake road along which districts branch off, each with
    two longwall faces in parallel and a district return with a regulator (but the
    farthest), a leaky stopping between intake and return mains at every district, a
    powder magazine held to a fixed quantity, the return main to the return shaft, its fan
    drift, and the two main fans in parallel (fan1 running, fan2 standby) to the surface."""
    b: dict[str, dict] = {
        "intake_shaft": dict(start="surface", end="IS", resistance=0.004, area_m2=28.0,
                             natural_pa=120.0),
        "return_shaft": dict(start="RS", end="FD", resistance=0.004, area_m2=25.0),
        "fan1_duct": dict(start="FD", end="surface", resistance=0.002, fan="fan1"),
        "fan2_duct": dict(start="FD", end="surface", resistance=0.002, fan="fan2"),
        "magazine": dict(start="M2", end="R2", resistance=1.0, fixed_m3s=2.0, area_m2=6.0),
    }
    users: dict[str, dict] = {"magazine": dict(branch="magazine", min_m3s=2.0)}
    prev = "IS"
    for k in range(1, districts + 1):
        m, rk = f"M{k}", f"R{k}"
        b[f"main_intake_{k}"] = dict(start=prev, end=m, resistance=0.006, area_m2=26.0)
        b[f"main_return_{k}"] = dict(start=rk, end=f"R{k + 1}" if k < districts else "RS",
                                     resistance=0.007, area_m2=26.0)
        b[f"stopping_{k}"] = dict(start=m, end=rk, resistance=20.0)
        d = f"D{k}"
        f = 1.0 + 0.1 * k                                 # farther faces are longer
        b[f"d{k}_intake"] = dict(start=m, end=f"{d}in", resistance=0.1, area_m2=14.0)
        for face, (r_gate, r_face) in (("a", (0.2, 0.5)), ("b", (0.25, 0.6))):
            b[f"d{k}{face}_intake_gate"] = dict(start=f"{d}in", end=f"{d}{face}1",
                                                resistance=r_gate * f, area_m2=12.0)
            b[f"d{k}{face}_face"] = dict(start=f"{d}{face}1", end=f"{d}{face}2",
                                         resistance=r_face * f, area_m2=10.0)
            b[f"d{k}{face}_return_gate"] = dict(start=f"{d}{face}2", end=f"{d}ret",
                                                resistance=r_gate * f, area_m2=12.0)
            users[f"face{k}{face}"] = dict(branch=f"d{k}{face}_face", people=40,
                                           explosives_kg=20.0, min_velocity_ms=0.25)
        b[f"d{k}_return"] = dict(start=f"{d}ret", end=rk, resistance=0.15, area_m2=14.0)
        if k < districts:
            b[f"d{k}_return"]["regulator"] = f"window{k}"
        prev = m
    return Network.model_validate({"branches": b, "users": users})


def main_fans(fan2: bool = False) -> dict[str, FanCurve]:
    return {"fan1": FanCurve(FAN_CURVE, speed_frac=1.0 if not fan2 else 0.0),
            "fan2": FanCurve(FAN_CURVE, speed_frac=1.0 if fan2 else 0.0)}


def window(pos: float, area: float | None) -> float:
    """A thin-plate opening's loss, written out again: ρ/2A² · ((1-x)/(0.65·x))²."""
    x, a = pos / 100.0, area or REGULATOR_AREA_M2
    if x >= 1:
        return 0.0
    return CLOSED_DAMPER_R if x <= 0 else min(
        1.2 / (2 * a * a) * ((1 - x) / (0.65 * x)) ** 2, CLOSED_DAMPER_R)


def nodal(net: Network, fans: dict[str, FanCurve], regs: dict[str, float],
          guess_pa: float, guess_q: float) -> dict[str, float]:
    """The same physics by a different method: junction pressures (and the flows of fan
    branches, whose law is implicit) as unknowns, mass balance at every junction as the
    equations, scipy's root (MINPACK's hybrid method) from a flat guess."""
    junctions = sorted({j for b in net.branches.values() for j in (b.start, b.end)}
                       - {net.surface})
    idx = {j: i for i, j in enumerate(junctions)}
    fan_br = [n for n, b in net.branches.items() if b.fan is not None]
    nj = len(junctions)

    def res(b: object) -> float:
        r = b.resistance
        if b.regulator is not None:
            r += window(regs.get(b.regulator, 100.0), b.area_m2)
        if b.fan is not None and not fans[b.fan].running:
            r += CLOSED_DAMPER_R
        return r

    def flows(x: np.ndarray) -> dict[str, float]:
        p = {net.surface: 0.0, **{j: x[i] for j, i in idx.items()}}
        out = {}
        for n, b in net.branches.items():
            if b.fixed_m3s is not None:
                out[n] = b.fixed_m3s
            elif b.fan is not None:
                out[n] = x[nj + fan_br.index(n)]
            else:
                d = p[b.start] - p[b.end] + b.natural_pa
                out[n] = math.copysign(math.sqrt(abs(d) / res(b)), d)
        return out

    def eqs(x: np.ndarray) -> np.ndarray:
        q = flows(x)
        bal = np.zeros(nj + len(fan_br))
        for n, b in net.branches.items():
            if b.start in idx:
                bal[idx[b.start]] -= q[n]
            if b.end in idx:
                bal[idx[b.end]] += q[n]
        p = {net.surface: 0.0, **{j: x[i] for j, i in idx.items()}}
        for k, n in enumerate(fan_br):
            b, qq = net.branches[n], q[n]
            bal[nj + k] = (res(b) * qq * abs(qq) - fans[b.fan].pressure(qq)[0]
                           - b.natural_pa - (p[b.start] - p[b.end])) / 1000.0
        return bal

    x0 = np.concatenate([np.full(nj, guess_pa), np.full(len(fan_br), guess_q)])
    out = root(eqs, x0, method="hybr", options={"xtol": 1e-14, "maxfev": 20000})
    assert out.success, out.message
    assert np.max(np.abs(eqs(out.x))) < 1e-9
    return flows(out.x)


def mass_balance(net: Network, sol: Solution) -> float:
    bal: dict[str, float] = {}
    for n, b in net.branches.items():
        bal[b.start] = bal.get(b.start, 0.0) - sol.flow[n]
        bal[b.end] = bal.get(b.end, 0.0) + sol.flow[n]
    return max(abs(v) for v in bal.values())


def test_mine_of_49_branches_agrees_with_a_nodal_solution() -> None:
    net = mine()
    assert len(net.branches) >= 30
    regs = {"window1": 20.0, "window2": 35.0, "window3": 60.0}
    sol = solve(net, main_fans(), regs, tol_pa=1e-6)
    assert sol.converged and sol.residual_pa < 1e-3 and sol.method == "newton"
    assert sol.iterations < 30
    assert mass_balance(net, sol) < 1e-9
    # every loop closes: each branch's drop is the difference of its junctions' pressures
    for n, b in net.branches.items():
        assert abs(sol.pressure[b.start] - sol.pressure[b.end] - sol.dp[n]) < 1e-6, n
    other = nodal(net, main_fans(), regs, guess_pa=-1000.0, guess_q=100.0)
    for n, q in other.items():
        assert close(sol.flow[n], q), (n, sol.flow[n], q)
    # a plausible mine: fan1 on its curve carrying the mine, fan2 shut (its damper leaks)
    fan1, fan2 = sol.fans["fan1"], sol.fans["fan2"]
    assert 150.0 < fan1.flow_m3s < 250.0 and fan1.power_kw > 0
    assert abs(fan2.flow_m3s) < 1.0 and fan2.power_kw == 0 and not fan2.dampers_open
    assert sol.flow["fan2_duct"] < 0                  # leaks in backwards, to fan1's intake
    # the magazine is held, and what its regulator must take up closes its loop
    assert sol.flow["magazine"] == 2.0 and sol.fixed_pa["magazine"] > 0
    # Hardy Cross, the textbook method, reaches the same answer
    hc = solve(net, main_fans(), regs, method="hardy-cross", max_iter=5000)
    for n in net.branches:
        assert close(hc.flow[n], sol.flow[n]), n


def test_changeover_to_fan2_and_a_reversal() -> None:
    net = mine()
    one, two = solve(net, main_fans()), solve(net, main_fans(fan2=True))
    assert close(one.flow["intake_shaft"], two.flow["intake_shaft"], 1e-9)  # twin fans
    both = solve(net, {"fan1": FanCurve(FAN_CURVE), "fan2": FanCurve(FAN_CURVE)})
    assert both.flow["intake_shaft"] > one.flow["intake_shaft"]
    # stopped with its dampers open: the running fan short-circuits through it
    leak = solve(net, {"fan1": FanCurve(FAN_CURVE),
                       "fan2": FanCurve(FAN_CURVE, speed_frac=0.0, damper_open=True)})
    assert leak.flow["fan2_duct"] < -50.0
    assert leak.flow["intake_shaft"] < 0.5 * one.flow["intake_shaft"]
    rev = solve(net, {"fan1": FanCurve(FAN_CURVE, reversed=True), "fan2": FanCurve(
        FAN_CURVE, speed_frac=0.0)})
    ratio = -rev.flow["intake_shaft"] / one.flow["intake_shaft"]
    assert 0.4 < ratio < 1.0                            # reversed, >= 40 % of normal
    assert rev.fans["fan1"].flow_m3s > 0 and rev.fans["fan1"].reversed


# two states of a seeded sweep of random fan speeds and windows where Newton stalls; in
# the second, Hardy Cross from where Newton stopped did not converge in 100 iterations
@pytest.mark.parametrize(("s1", "s2", "regs"), [
    (0.7, 0.75, {"window1": 100.0}),
    (0.6672462319750776, 0.915264987728469, {"window1": 50.0, "window2": 1.0,
                                             "window3": 1.0}),
])
def test_fans_in_parallel_at_a_stall_hump_fall_back_to_hardy_cross(
        s1: float, s2: float, regs: dict[str, float]) -> None:
    """Two fans in parallel, one on a humped curve near its stall dip: the loop between
    them folds (its Jacobian turns singular) and Newton's line search stalls at a
    minimum of the imbalance that is no answer; Hardy Cross sweeps from the start lead
    past it and Newton finishes. The answer satisfies every branch's law."""
    hump = ((0.0, 2000.0), (40.0, 2600.0), (70.0, 2200.0), (100.0, 2500.0),
            (160.0, 2300.0), (200.0, 1500.0), (230.0, 600.0))
    net = mine()
    fans = {"fan1": FanCurve(FAN_CURVE, speed_frac=s1), "fan2": FanCurve(hump, s2)}
    sol = solve(net, fans, regs)
    assert sol.converged and sol.method == "newton+hardy-cross" and sol.iterations <= 60
    assert sol.residual_pa < 1e-6 and mass_balance(net, sol) < 1e-9
    for n, b in net.branches.items():
        q = sol.flow[n]
        r = b.resistance + (window(regs.get(b.regulator, 100.0), b.area_m2)
                            if b.regulator else 0.0)
        fan = fans[b.fan].pressure(q)[0] if b.fan else 0.0
        law = r * q * abs(q) - fan - b.natural_pa + sol.fixed_pa.get(n, 0.0)
        assert abs(sol.pressure[b.start] - sol.pressure[b.end] - law) < 1e-5, n


# --- fixed quantity, regulators ---------------------------------------------------------
def test_fixed_quantity_branch_and_its_regulator_pressure() -> None:
    q2 = 20.0
    sol = solve(small(right={"fixed_m3s": q2}), {"f1": FanCurve(LINE)})
    # loop through the left branch: R0·(Q1+q2)² + R1·Q1² + b·(Q1+q2) - a = 0
    q1 = quadratic(R0 + R1, 2 * R0 * q2 + B_PAS, R0 * q2 * q2 + B_PAS * q2 - A_PA)
    assert sol.flow["right"] == q2 and close(sol.flow["left"], q1)
    assert close(sol.flow["fan"], q1 + q2)
    want = R1 * q1 * q1 - R2 * q2 * q2                  # what a regulator must take up
    assert close(sol.fixed_pa["right"], want) and want > 0
    assert close(sol.dp["right"], R1 * q1 * q1)         # with it, both sides drop alike
    # more than its own pressure can push: a booster is needed (negative)
    boost = solve(small(right={"fixed_m3s": 150.0}), {"f1": FanCurve(LINE)})
    assert boost.fixed_pa["right"] < 0 and boost.flow["right"] == 150.0
    # every loop held: nothing left to solve, the fan carries the sum
    both = solve(small(left={"fixed_m3s": 50.0}, right={"fixed_m3s": 20.0}),
                 {"f1": FanCurve(LINE)})
    assert both.flow["fan"] == pytest.approx(70.0) and both.iterations == 0
    assert set(both.fixed_pa) == {"left", "right"}


def test_a_closing_regulator_reduces_its_branch_flow() -> None:
    net = small(left={"regulator": "w1"})
    flows = [solve(net, {"f1": FanCurve(LINE)}, {"w1": pos}).flow["left"]
             for pos in (100, 90, 75, 50, 30, 20, 10, 5, 2, 1, 0.5, 0)]
    assert all(b < a for a, b in zip(flows, flows[1:], strict=False)), flows
    assert 0 < flows[-1] < 0.05 * flows[0]            # shut: it leaks, and stays finite
    half = solve(net, {"f1": FanCurve(LINE)}, {"w1": 50})
    want = R1 + 1.2 / (2 * 10.0 ** 2) * (0.5 / (0.65 * 0.5)) ** 2
    assert half.resistance["left"] == pytest.approx(want, rel=1e-12)
    assert half.regulators == {"w1": 50.0}
    assert solve(net, {"f1": FanCurve(LINE)}, {"w1": 0}).resistance["left"] == \
        pytest.approx(R1 + CLOSED_DAMPER_R)
    # in the mine, shutting district 1's regulator sends its air to the other districts
    m = mine()
    open_ = solve(m, main_fans(), {"window1": 100})
    shut_ = solve(m, main_fans(), {"window1": 5})
    assert shut_.flow["d1_return"] < 0.5 * open_.flow["d1_return"]
    assert shut_.flow["d4_return"] > open_.flow["d4_return"]


# --- the air each user point needs -------------------------------------------------------
def test_needs_are_the_largest_rule_and_shortfalls_named() -> None:
    net = Network.model_validate({
        "branches": small().model_dump()["branches"],
        "users": {
            "diesel": {"branch": "left", "people": 30, "diesel_kw": 100.0,
                       "explosives_kg": 12.0, "min_velocity_ms": 0.5, "min_m3s": 3.0},
            "crew": {"branch": "right", "people": 60},
            "blast": {"branch": "right", "explosives_kg": 30.0},
            "speed": {"branch": "left", "min_velocity_ms": 4.0},
            "hungry": {"branch": "right", "min_m3s": 500.0},
        }})
    need = needs(net)
    assert need["diesel"] == pytest.approx(100.0 * 4 / 60)      # diesel beats the rest
    assert need["crew"] == pytest.approx(4.0)                   # 60 people x 4 m3/min
    assert need["blast"] == pytest.approx(12.5)                 # 30 kg x 25 m3/min
    assert need["speed"] == pytest.approx(40.0)                 # 4 m/s x 10 m2
    sol = solve(net, {"f1": FanCurve(LINE)})
    short = shortfalls(net, sol)
    assert [s.name for s in short] == ["hungry"]
    s = short[0]
    assert s.branch == "right" and s.need_m3s == 500.0
    assert s.delivered_m3s == pytest.approx(sol.flow["right"])
    # the mine: every face aired by the normal fan; with the regulators nearly shut and
    # the fan slowed the near districts go short
    m = mine()
    assert shortfalls(m, solve(m, main_fans())) == []
    slow = {"fan1": FanCurve(FAN_CURVE, speed_frac=0.5), "fan2": FanCurve(FAN_CURVE, 0.0)}
    low = shortfalls(m, solve(m, slow, {"window1": 2, "window2": 2}))
    assert {s.name for s in low} >= {"face1a", "face1b", "face2a", "face2b"}


# --- bad input: a clear error naming the branch, never NaN ------------------------------
@pytest.mark.parametrize(("net", "fans", "regs", "match"), [
    (lambda: small(fan={"fan": "f9"}), {"f1": FanCurve(LINE)}, {}, "branch 'fan': fan 'f9'"),
    (small, {"f1": FanCurve(LINE), "f2": FanCurve(LINE)}, {}, "fan 'f2' is in no branch"),
    (lambda: small(fan={"fan": None}), {}, {}, "no fan"),
    (lambda: small(loose={"start": "X", "end": "Y", "resistance": 1.0},
                   back={"start": "Y", "end": "X", "resistance": 1.0}),
     {"f1": FanCurve(LINE)}, {}, "branch 'loose' is not connected"),
    (lambda: small(right={"end": "b"}), {"f1": FanCurve(LINE)}, {},
     "branch 'right': junction 'b' joins no other branch"),
    (lambda: small(odd={"start": "A", "end": "A", "resistance": 1.0}),
     {"f1": FanCurve(LINE)}, {}, "branch 'odd' starts and ends"),
    (lambda: small(left={"regulator": "w1"}), {"f1": FanCurve(LINE)}, {"w1": 120.0},
     "branch 'left': regulator 'w1' position 120"),
    (lambda: small(left={"regulator": "w1"}), {"f1": FanCurve(LINE)}, {"w1": math.nan},
     "branch 'left': regulator 'w1' position nan"),
    (small, {"f1": FanCurve(LINE)}, {"w7": 50.0}, "regulator 'w7' is in no branch"),
    (lambda: small(link={"start": "A", "end": "X", "resistance": 1.0, "fixed_m3s": 5.0},
                   xy={"start": "X", "end": "Y", "resistance": 1.0},
                   yx={"start": "Y", "end": "X", "resistance": 1.0}),
     {"f1": FanCurve(LINE)}, {}, "fixed-quantity branch 'link' has no other way round"),
    (lambda: small(fan={"fixed_m3s": 50.0}), {"f1": FanCurve(LINE)}, {},
     "branch 'fan': a fixed quantity in a fan's branch"),
    (lambda: small(left={"resistance": 0.0}, right={"resistance": 0.0}),
     {"f1": FanCurve(LINE, speed_frac=0.0)}, {}, "has no resistance and no running fan"),
    (lambda: Network.model_validate({"branches": {
        "a": {"start": "X", "end": "Y", "resistance": 1.0, "fan": "f1"},
        "b": {"start": "Y", "end": "X", "resistance": 1.0}}}),
     {"f1": FanCurve(LINE)}, {}, "no branch reaches the surface"),
])
def test_bad_networks_are_refused_by_name(net, fans, regs, match) -> None:  # noqa: ANN001
    with pytest.raises(NetworkError, match=match):
        solve(net(), fans, regs)


def test_not_converged_names_the_loop_and_keeps_numbers_finite() -> None:
    with pytest.raises(NotConverged, match="not converged after 1 iterations") as e:
        solve(mine(), main_fans(), tol_pa=1e-12, max_iter=1)
    assert e.value.branch in mine().branches
    assert not e.value.solution.converged
    assert all(math.isfinite(q) for q in e.value.solution.flow.values())
    for kwargs, match in ((dict(tol_pa=math.nan), "tol_pa nan"), (dict(max_iter=0), "max_iter 0"),
                          (dict(method="secant"), "method 'secant'")):
        with pytest.raises(NetworkError, match=match):
            solve(small(), {"f1": FanCurve(LINE)}, **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(points=((0.0, 1.0),)), "at least 2"),
    (dict(points=((0.0, 1.0), (1.0, math.nan))), "not a finite flow"),
    (dict(points=((0.0, 1.0), (-1.0, 2.0))), "not a finite flow >= 0"),
    (dict(points=((1.0, 1.0), (1.0, 2.0))), "do not rise strictly"),
    (dict(points=LINE, speed_frac=1.5), "speed_frac 1.5"),
    (dict(points=LINE, efficiency=0.0), "efficiency 0.0"),
])
def test_bad_fan_curves_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(NetworkError, match=match):
        FanCurve(**kwargs)


def test_bad_user_points_are_refused_by_name() -> None:
    base = small().model_dump()["branches"]
    lost = Network.model_validate({"branches": base, "users": {
        "u": {"branch": "nowhere", "people": 3}}})
    with pytest.raises(NetworkError, match="user point 'u': branch 'nowhere'"):
        needs(lost)
    no_area = Network.model_validate({"branches": base, "users": {
        "u": {"branch": "fan", "min_velocity_ms": 0.25}}})
    with pytest.raises(NetworkError, match="user point 'u': a minimum velocity needs the "
                                           "area_m2 of branch 'fan'"):
        needs(no_area)


def test_example_network_config_solves() -> None:
    import tomllib
    path = Path(__file__).resolve().parent.parent / "configs" / "ventilation-network.toml"
    raw = tomllib.loads(path.read_text())
    net = Network.model_validate(raw["systems"]["ventilation"]["network"])
    assert len(net.branches) >= 30
    sol = solve(net, main_fans())
    assert sol.converged and sol.residual_pa < 1e-3 and shortfalls(net, sol) == []


# --- fixedsite ventilation solve ---------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parent.parent / "configs" / "ventilation-network.toml"


def site_config(tmp: Path, network: bool = True) -> Path:
    """A site with one S7 PLC and a ventilation system: two main fans on one shaft with
    their dampers, the shaft's air sensor, three regulating windows (the required signals
    mapped, one after another in DB1 (written) and DB2 (read)), and the example network."""
    from fixedsite.sequences.ventilation.equipment import TYPES

    at = {"DB1": 2, "DB2": 0}

    def signals(kind: str) -> str:
        out = []
        for name, sig in TYPES[kind].items():
            if not sig.required:
                continue
            db = "DB1" if sig.writable else "DB2"
            o, at[db] = at[db], at[db] + 4
            out.append(f'{name} = "{db}.DBX{o}.0"' if sig.kind == "bool"
                       else f'{name} = "{db}.DBD{o}:REAL"')
        return "{ " + ", ".join(out) + " }"

    curve = ", ".join(f"[{q}, {p}]" for q, p in FAN_CURVE)
    eq = []
    for f in ("fan1", "fan2"):
        eq.append(f'''[systems.ventilation.equipment.{f}]
type = "fan"
plc = "vent1"
name = "Main fan {f[-1]}"
name_zh = "{f[-1]}号主要通风机"
inlet_damper = "{f}_in"
outlet_damper = "{f}_out"
rated_flow_m3s = 200.0
rated_pressure_pa = 2350.0
rated_power_kw = 710.0
rated_current_a = 80.0
curve = [{curve}]
efficiency = 0.8
signals = {signals("fan")}
''')
        for d in ("in", "out"):
            eq.append(f'[systems.ventilation.equipment.{f}_{d}]\ntype = "damper"\n'
                      f'plc = "vent1"\nsignals = {signals("damper")}\n')
    for k in (1, 2, 3):
        eq.append(f'[systems.ventilation.equipment.window{k}]\ntype = "window"\n'
                  f'plc = "vent1"\nsignals = {signals("window")}\n')
    text = '''[site]
id = "venttest"
name = "ventilation solve test"

[plcs.vent1]
protocol = "s7"
host = "127.0.0.1"
port = 15199
rack = 0
slot = 1

[systems.ventilation]
kind = "ventilation"
name = "Main ventilation"
name_zh = "主通风系统"

[systems.ventilation.control]
fans = ["fan1", "fan2"]
shaft_sensor = "shaft"
nominal_airflow_m3s = 200.0

[systems.ventilation.equipment.shaft]
type = "air_sensor"
plc = "vent1"
branch = "return_shaft"
signals = { airflow = "DB2.DBD400:REAL" }

''' + "\n".join(eq)
    if network:
        text += "\n" + EXAMPLE.read_text()
    path = tmp / "site.toml"
    path.write_text(text)
    return path


@pytest.fixture
def ventilation_verbs():
    """The ventilation kind with its CLI verbs registered, as before afterwards (the
    system's own SPEC may not name its ``cli`` yet)."""
    import dataclasses

    from fixedsite import systems
    from fixedsite.sequences.ventilation.config import VentilationSystem
    from fixedsite.sequences.ventilation.equipment import TYPES
    from fixedsite.systems import SystemSpec

    cli = "fixedsite.sequences.ventilation.cli:add_verbs"
    before = systems.registered().get("ventilation")
    spec = (dataclasses.replace(before, cli=cli) if before is not None else
            SystemSpec(kind="ventilation", config=VentilationSystem, equipment=TYPES,
                       build="x:y", cli=cli))
    systems.register(spec)
    yield
    if before is not None:
        systems.register(before)
    else:
        systems.unregister("ventilation")


def test_cli_solve_prints_the_network(ventilation_verbs, tmp_path, capsys) -> None:  # noqa: ANN001
    from fixedsite.cli import main

    cfg = site_config(tmp_path)
    assert main(["ventilation", "solve", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    sol = solve(mine(), main_fans())
    assert "converged 已收敛" in out and f"{sol.iterations} iterations" in out
    assert "every point gets its air 全部用风地点风量满足" in out
    fan1 = next(line for line in out.splitlines() if line.strip().startswith("fan1 "))
    assert f"{sol.fans['fan1'].flow_m3s:.2f}" in fan1 and "running 运行" in fan1
    fan2 = next(line for line in out.splitlines() if line.strip().startswith("fan2 "))
    assert "stopped 停止, dampers shut 风门关闭" in fan2
    face = next(line for line in out.splitlines() if line.strip().startswith("d1a_face "))
    assert f"{sol.flow['d1a_face']:.2f}" in face
    assert "magazine" in out and "regulator 调节风窗" in out

    # fan2 running instead, slowed, windows nearly shut: points short of air
    assert main(["ventilation", "solve", "--config", str(cfg), "--fans", "fan2",
                 "--speed", "50", "--window", "window1=2", "--window", "window2=2"]) == 0
    out = capsys.readouterr().out
    short = [line for line in out.splitlines() if "SHORT 风量不足" in line]
    slow = {"fan1": FanCurve(FAN_CURVE, 0.0), "fan2": FanCurve(FAN_CURVE, 0.5)}
    want = shortfalls(mine(), solve(mine(), slow, {"window1": 2, "window2": 2}))
    assert len(short) == len(want) > 0
    assert {line.split()[0] for line in short} == {s.name for s in want}
    assert f"{len(want)} of 9 points short of air" in out

    # reversal: both fans named, both reversed; no fan at all: still air (natural pressure)
    assert main(["ventilation", "solve", "--config", str(cfg), "--reversed"]) == 0
    out = capsys.readouterr().out
    rev = solve(mine(), {"fan1": FanCurve(FAN_CURVE, reversed=True),
                         "fan2": FanCurve(FAN_CURVE, 0.0)})
    shaft = next(line for line in out.splitlines() if line.strip().startswith("intake_shaft"))
    assert f"{rev.flow['intake_shaft']:.2f}" in shaft and rev.flow["intake_shaft"] < 0
    assert "reversed 反风" in out
    assert main(["ventilation", "solve", "--config", str(cfg), "--fans", "none"]) == 0
    out = capsys.readouterr().out
    assert out.count("stopped 停止, dampers shut 风门关闭") == 2
    # every face short; the magazine is held to its quantity, by a booster now
    assert "8 of 9 points short of air" in out and "booster needed" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--fans", "fan7"], "--fans: 'fan7' is in no branch"),
    (["--system", "nope"], "--system nope: no such system"),
    (["--window", "window9=50"], "regulator 'window9' is in no branch"),
])
def test_cli_solve_refuses_in_one_line(ventilation_verbs, tmp_path, capsys, args,  # noqa: ANN001
                                       message) -> None:
    from fixedsite.cli import main

    assert main(["ventilation", "solve", "--config", str(site_config(tmp_path)),
                 *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_cli_solve_without_a_network(ventilation_verbs, tmp_path, capsys) -> None:  # noqa: ANN001
    from fixedsite.cli import main

    cfg = site_config(tmp_path, network=False)
    assert main(["ventilation", "solve", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"fixedsite ventilation: {cfg}: system 'ventilation' has no "
                   "[systems.ventilation.network]: nothing to solve")
