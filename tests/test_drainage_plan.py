"""The pump planner's program, on plain numbers (the controller wiring is not done yet).

Horizons here are hourly (24 steps) to keep the solver's time small; what is checked is
what any plan the solver returns must respect, not one particular optimum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fixedsite.sequences.drainage.plan import Room, level_only, plan, pumped, slot_starts
from fixedsite.sequences.drainage.plan_model import margins

HOURS = np.arange(24.0)
PRICES = np.where((HOURS < 7) | ((HOURS >= 11) & (HOURS < 14)), 0.26,
                  np.where(HOURS >= 16, 1.2025, 0.65))


def room(**kw: object) -> Room:
    args: dict[str, object] = dict(
        name="main", volume0=900.0, v_low=400.0, v_high=1560.0,
        inflow=np.full(24, 400.0), margin=np.linspace(0, 100, 24),
        flows=[280.0, 270.0, 250.0, 230.0], powers=[355.0] * 4, available=4, max_on=3,
        min_run_steps=2, min_rest_steps=1, max_starts=4)
    args.update(kw)
    return Room(**args)  # type: ignore[arg-type]


def runs(on: np.ndarray) -> list[int]:
    """Lengths of the complete runs of a 0/1 series (not the one cut by the horizon)."""
    out, n = [], 0
    for x in on:
        if x:
            n += 1
        elif n:
            out.append(n)
            n = 0
    return out


def test_plan_keeps_the_band_moves_pumping_to_the_valley_and_beats_level_control() -> None:
    r = room()
    p = plan([r], PRICES, 3600.0, time_limit_s=3)
    rp = p.rooms["main"]
    margin = margins(r)
    assert rp.outside_m3 == 0.0
    assert np.all(rp.volume <= r.v_high - margin + 1e-6)
    assert np.all(rp.volume >= r.v_low + margin - 1e-6)
    assert rp.volume[-1] <= r.volume0 + 1e-6                  # nothing left for tomorrow
    assert rp.pumps.max() <= 3
    assert np.allclose(rp.volume, r.volume0 + np.cumsum(400.0 - pumped(r, rp.pumps)))
    for k in range(1, 4):
        assert all(n >= 2 for n in runs(rp.pumps >= k))      # minimum run, per slot
    valley, peak = PRICES == PRICES.min(), PRICES == PRICES.max()
    assert rp.pumps[valley].mean() > rp.pumps[peak].mean()
    base = level_only(r, [1012.5, 1220.0, 1460.0], [540.0, 788.0, 1100.0], 3600.0)
    base_cost = float((np.array([355.0 * n for n in base]) * PRICES).sum())
    assert rp.cost < 0.95 * base_cost


def test_a_surge_the_band_cannot_hold_runs_every_pump_and_says_so() -> None:
    inflow = np.full(24, 400.0)
    inflow[2:8] = 1400.0                    # more than all pumps together
    r = room(inflow=inflow, max_on=None, available=4)
    rp = plan([r], PRICES, 3600.0, time_limit_s=3).rooms["main"]
    assert rp.outside_m3 > 0
    assert np.all(rp.pumps[3:8] == 4)


def test_relay_the_lower_room_never_floods_the_upper_one() -> None:
    upper = room(name="main", volume0=1300.0)
    lower = room(name="lower", volume0=500.0, v_low=100.0, v_high=700.0,
                 inflow=np.full(24, 150.0), margin=np.zeros(24), flows=[200.0, 190.0],
                 powers=[160.0, 160.0], available=2, max_on=2, into="main")
    p = plan([upper, lower], PRICES, 3600.0)
    up, lo = p.rooms["main"], p.rooms["lower"]
    margin = margins(upper)
    assert up.outside_m3 == 0.0 and lo.outside_m3 == 0.0
    assert np.all(up.volume <= upper.v_high - margin + 1e-6)
    relay = pumped(lower, lo.pumps)
    assert relay.sum() > 0
    expected = upper.volume0 + np.cumsum(400.0 + relay - pumped(upper, up.pumps))
    assert np.allclose(up.volume, expected)                 # the relay counted upstairs
    # room by room is close to the joint optimum: no plan can be 6 % cheaper
    exact = plan([upper, lower], PRICES, 3600.0, exact=True, time_limit_s=5.0)
    assert exact.bound is not None and p.cost <= 1.06 * exact.bound, (p.cost, exact.bound)


def test_relay_keeps_the_lower_water_below_while_the_upper_sump_is_full() -> None:
    # the upper room has one pump that cannot keep up in the early hours: whatever the
    # lower room sends then has nowhere to go, so the plan keeps it in the lower sump
    upper = room(name="main", volume0=1400.0, inflow=np.where(HOURS < 6, 300.0, 100.0),
                 flows=[280.0], powers=[355.0], available=1, max_on=1, margin=np.zeros(24))
    lower = room(name="lower", volume0=200.0, v_low=100.0, v_high=700.0,
                 inflow=np.full(24, 60.0), margin=np.zeros(24), flows=[150.0],
                 powers=[160.0], available=1, max_on=1, into="main")
    p = plan([upper, lower], PRICES, 3600.0)
    up, lo = p.rooms["main"], p.rooms["lower"]
    assert up.outside_m3 == 0.0 and lo.outside_m3 == 0.0, (up.volume, lo.volume)
    assert lo.pumps[:6].sum() == 0, lo.pumps    # cheap valley hours, but the upper is full


def test_dp_finds_the_brute_force_optimum_on_a_small_room() -> None:
    """Every schedule of 2 pumps over 8 steps, checked by hand against the DP's."""
    prices = np.array([0.26, 0.26, 1.2, 1.2, 1.2, 0.65, 0.65, 0.26])
    r = room(volume0=800.0, v_low=500.0, v_high=1000.0, inflow=np.full(8, 300.0),
             margin=np.zeros(8), flows=[280.0, 260.0], powers=[355.0, 355.0],
             available=2, max_on=None, min_run_steps=2, min_rest_steps=2)
    best = (np.inf, None)
    for seq in itertools.product(range(3), repeat=8):
        n = np.array(seq)
        v = r.volume0 + np.cumsum(300.0 - pumped(r, n))
        if v.max() > r.v_high or v.min() < r.v_low or v[-1] > r.volume0 + 1e-9:
            continue
        if not _lifo_ok(n, r.min_run_steps, r.min_rest_steps):
            continue
        cost = float((355.0 * n * prices).sum())
        best = min(best, (cost, seq), key=lambda b: b[0])
    assert best[1] is not None
    got = plan([r], prices, 3600.0).rooms["main"]
    assert got.outside_m3 == 0.0
    assert got.cost == pytest.approx(best[0])


def _lifo_ok(n: np.ndarray, run: int, rest: int) -> bool:
    """Per slot: every run (but one cut by the horizon) >= run, every rest >= rest."""
    for k in (1, 2):
        on = [bool(x >= k) for x in n]
        changes = [t for t in range(1, len(on)) if on[t] != on[t - 1]]
        if on[0]:
            changes = [0, *changes]
        for a, b in itertools.pairwise(changes):
            if b - a < (run if on[a] else rest):
                return False
    return True


def test_starts_per_pump_are_capped() -> None:
    # a noisy price curve invites many short runs; the cap holds them to two per slot
    prices = np.tile([0.26, 1.2025], 12)
    r = room(max_starts=2, min_run_steps=1, min_rest_steps=1, start_cost=0.0,
             margin=np.zeros(24))
    free = plan([room(max_starts=None, min_run_steps=1, min_rest_steps=1, start_cost=0.0,
                      margin=np.zeros(24))], prices, 3600.0).rooms["main"].pumps
    assert max(slot_starts(free, 0)) > 2                    # without the cap: more
    capped = plan([r], prices, 3600.0).rooms["main"]
    assert max(slot_starts(capped.pumps, 0)) <= 2
    assert capped.outside_m3 == 0.0
