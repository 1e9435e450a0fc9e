"""The peak-valley pump planner: how many pumps to run in each step of the next 24 h.

Cheapest energy first, never the sump's safety: the plan keeps each sump's volume inside
its normal band narrowed by the forecast's uncertainty (band limits are soft, with a
penalty far above any energy price, so a surge the band cannot hold still gets a plan
that pumps all it can, and says how much it overflows); the hard level control (the
staged start levels, high-high) still overrides any plan at run time. Per step a cap on
pumps, on kW (the maximum-demand charge) and on discharge (water treatment); per pump
minimum run and rest; at the horizon's end the volume may not exceed the volume now, so
cost is not pushed into tomorrow.

One room: the exact dynamic program (``drainage_plan_dp``). Rooms in relay: one mixed-
integer program over all of them (``drainage_plan_milp``), under a time limit.
"""

from __future__ import annotations

import time

import numpy as np

from fixedsite.sequences.drainage_plan_dp import solve_room
from fixedsite.sequences.drainage_plan_milp import solve_rooms
from fixedsite.sequences.drainage_plan_model import (
    Plan,
    Room,
    RoomPlan,
    expected_volume,
    margins,
    pumped,
)

__all__ = ["Plan", "Room", "RoomPlan", "level_only", "plan", "pumped"]


def plan(rooms: list[Room], prices: np.ndarray, step_s: float = 900.0, t0: float = 0.0,
         time_limit_s: float = 5.0) -> Plan:
    """The cheapest safe plan for these rooms; ``prices`` CNY/kWh per step."""
    if len(rooms) > 1:
        return solve_rooms(rooms, prices, step_s, t0, time_limit_s)
    started = time.perf_counter()
    room, h = rooms[0], step_s / 3600.0
    pumps = solve_room(room, prices, step_s)
    if room.max_starts is not None:       # the cap by pricing starts up until it holds
        base = room.start_cost
        for _ in range(6):
            if max(slot_starts(pumps, room.running), default=0) <= room.max_starts:
                break
            room.start_cost = max(4 * room.start_cost, 10.0)
            pumps = solve_room(room, prices, step_s)
        room.start_cost = base
    rp = RoomPlan(room.name, pumps, np.zeros(len(prices)), 0.0, 0.0, 0.0)
    rp.volume = expected_volume(room, {room.name: rp}, rooms, h)
    kw = np.concatenate([[0.0], np.cumsum(room.powers)])[pumps]
    rp.kwh, rp.cost = float((kw * h).sum()), float((kw * h * prices).sum())
    margin = margins(room)
    rp.outside_m3 = float(np.maximum(0.0, rp.volume - (room.v_high - margin)).sum()
                          + np.maximum(0.0, room.v_low + margin - rp.volume).sum())
    return Plan(t0, step_s, prices, {room.name: rp}, rp.cost, "optimal (DP, 0.5 m3 grid)",
                time.perf_counter() - started)


def slot_starts(pumps: np.ndarray, running: int) -> list[int]:
    """Starts of each pump slot (the k-th pump on) over the plan."""
    prev = np.concatenate([[running], pumps[:-1]])
    return [int(np.sum((pumps >= k) & (prev < k))) for k in range(1, int(pumps.max(
        initial=0)) + 1)]


def level_only(room: Room, start_v: list[float], stop_v: list[float], step_s: float,
               substeps: int = 15) -> np.ndarray:
    """Pumps per step under the staged level rule (start at start_v[k], stop at stop_v[k])
    on the same forecast, simulated finer than the plan: what the plan is compared with."""
    h = step_s / 3600.0 / substeps
    v, n = room.volume0, room.running
    out = np.zeros(len(room.inflow), dtype=int)
    for t, q_in in enumerate(room.inflow):
        for _ in range(substeps):
            while n < min(len(start_v), room.available) and v >= start_v[n]:
                n += 1
            while n > 0 and v <= stop_v[n - 1]:
                n -= 1
            v += (q_in - float(pumped(room, np.array([n]))[0])) * h
        out[t] = n
    return out
