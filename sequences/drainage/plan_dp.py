"""One pump room's plan by dynamic programming on a 0.5 m3 volume grid (the cost to go
interpolated between cells), in about 0.3 s for 4 pumps over 96 steps.

Why not the MILP for one room: the volume chain makes HiGHS's relaxation loose (it runs
fractional pumps) and prices are flat inside a tariff period, so many schedules tie and
branch-and-bound cannot prune: a 24-step problem still had a 3.5 % gap after 3 s here.
The DP has no such trouble: its state is the volume (grid), the number of pumps on, and
the direction and age of the last change of that number.

That last pair is enough for per-pump minimum run and rest. The plan counts pumps in
ordered slots, last in first out: a decrease stops the slot the last increase started
(which physical pump fills a slot is the level control's duty rotation). So a decrease
needs the last change to be a decrease or at least ``min_run`` steps old, and an
increase needs the last change to be an increase or at least ``min_rest`` steps old.
Starts are priced (``Room.start_cost``); ``plan.plan`` raises that price until
a cap on starts holds.
"""

from __future__ import annotations

import numpy as np

from fixedsite.sequences.drainage.plan_model import PENALTY, Room, margins, pumped

UP, DOWN = 0, 1


def solve_room(room: Room, prices: np.ndarray, step_s: float, grid_m3: float = 0.5
               ) -> np.ndarray:
    """Pumps on per step minimising energy cost + start cost + band penalties."""
    start_cost = room.start_cost
    T, h = len(prices), step_s / 3600.0
    K = min(room.available, len(room.flows))
    caps = [k for k in range(K + 1)
            if (room.max_on is None or k <= room.max_on)
            and (room.max_kw is None or sum(room.powers[:k]) <= room.max_kw + 1e-9)
            and (room.max_discharge is None or sum(room.flows[:k])
                 <= room.max_discharge + 1e-9)]
    n_max = max(caps)
    D = max(room.min_run_steps, room.min_rest_steps, 1)
    margin = margins(room)
    q_max = max(float(np.max(room.inflow)), 1.0) * h
    pad = 3 * q_max + sum(room.flows[:K]) * h
    v0 = min(room.volume0, room.v_low) - pad
    N = int(np.ceil((max(room.volume0, room.v_high) + pad - v0) / grid_m3)) + 1
    vol = v0 + np.arange(N) * grid_m3
    out_flow = pumped(room, np.arange(n_max + 1))
    power = np.concatenate([[0.0], np.cumsum(room.powers[:n_max])])
    v_end = room.volume0 if room.v_end is None else room.v_end
    v_end = max(v_end, room.v_low + margin[-1])
    # J[i, n, dir, d]: cost to go from the end of the current step
    J = np.broadcast_to((PENALTY * np.maximum(0.0, vol - v_end))[:, None, None, None],
                        (N, n_max + 1, 2, D + 1)).copy()
    policy = np.zeros((T, N, n_max + 1, 2, D + 1), dtype=np.int8)
    d_next = np.minimum(np.arange(D + 1) + 1, D)
    ok_down = np.zeros((2, D + 1), dtype=bool)
    ok_down[DOWN, :] = True
    ok_down[UP, room.min_run_steps:] = True
    ok_up = np.zeros((2, D + 1), dtype=bool)
    ok_up[UP, :] = True
    ok_up[DOWN, room.min_rest_steps:] = True
    for t in range(T - 1, -1, -1):
        lo, hi = room.v_low + margin[t], room.v_high - margin[t]
        # value of choosing n' this step, seen from the start volume index i
        arrive: dict[int, np.ndarray] = {}
        # the cost to go with its edge cells repeated, so that a shifted slice (a view)
        # reads it after a step's volume change instead of a gather by index
        deltas = (room.inflow[t] - out_flow) * h
        P = int(np.ceil(np.max(np.abs(deltas)) / grid_m3)) + 2
        Jp = np.concatenate([np.repeat(J[:1], P, axis=0), J, np.repeat(J[-1:], P, axis=0)])
        for n2 in range(n_max + 1):
            # the step's volume change is rarely a whole number of grid cells: the cost to
            # go is interpolated between the two cells around it, so no rounding drifts
            delta = deltas[n2]
            shift = int(np.floor(delta / grid_m3))
            frac = delta / grid_m3 - shift
            at = P + shift
            v_new = vol + delta
            stage = prices[t] * h * power[n2] + PENALTY * (
                np.maximum(0.0, v_new - hi) + np.maximum(0.0, lo - v_new)
                + np.maximum(0.0, vol[0] - v_new) + np.maximum(0.0, v_new - vol[-1]))
            arrive[n2] = ((1 - frac) * Jp[at:at + N, n2] + frac * Jp[at + 1:at + 1 + N, n2]
                          + stage[:, None, None])                   # (N, 2, D+1)
        new = np.empty_like(J)
        cand = np.empty((n_max + 1, N, 2, D + 1))
        for n in range(n_max + 1):
            for n2 in range(n_max + 1):
                if n2 == n:
                    cand[n2] = arrive[n2][:, :, d_next]
                elif n2 < n:
                    cand[n2] = np.where(ok_down, arrive[n2][:, DOWN, 1][:, None, None],
                                        np.inf)
                else:
                    cand[n2] = np.where(ok_up, arrive[n2][:, UP, 1][:, None, None]
                                        + start_cost * (n2 - n), np.inf)
            policy[t, :, n] = np.argmin(cand, axis=0)   # ties: the fewest pumps
            new[:, n] = cand.min(axis=0)
        J = new
    return _follow(room, policy, vol, grid_m3, h, out_flow, D)


def _follow(room: Room, policy: np.ndarray, vol: np.ndarray, grid: float, h: float,
            out_flow: np.ndarray, D: int) -> np.ndarray:
    """Run the policy forward from the room's state now, on its exact volumes."""
    T = policy.shape[0]
    n = min(room.running, policy.shape[2] - 1)
    direction = DOWN if room.last_change == "down" else UP
    d = min(room.since_change_steps, D)
    v = room.volume0
    pumps = np.zeros(T, dtype=int)
    for t in range(T):
        i = int(np.clip(round((v - vol[0]) / grid), 0, len(vol) - 1))
        n2 = int(policy[t, i, n, direction, d])
        if n2 == n:
            d = min(d + 1, D)
        else:
            direction, d = (UP if n2 > n else DOWN), 1
        n = n2
        pumps[t] = n
        v += (room.inflow[t] - out_flow[n]) * h
    return pumps
