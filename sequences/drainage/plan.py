"""The peak-valley pump planner: how many pumps to run in each step of the next 24 h.

Cheapest energy first, never the sump's safety: the plan keeps each sump's volume inside
its normal band narrowed by the forecast's uncertainty (band limits are soft, with a
penalty far above any energy price, so a surge the band cannot hold still gets a plan
that pumps all it can, and says how much it overflows); the hard level control (the
staged start levels, high-high) still overrides any plan at run time. Per step a cap on
pumps, on kW (the maximum-demand charge) and on discharge (water treatment); per pump
minimum run and rest; at the horizon's end the volume may not exceed the volume now, so
cost is not pushed into tomorrow.

Each room by the exact dynamic program (``plan_dp``); rooms in relay room by
room from the bottom up (``plan``). The one mixed-integer program over all rooms
(``plan_milp``, ``exact=True``) is the yardstick, not the controller's solver.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from fixedsite.sequences.drainage.plan_dp import solve_room
from fixedsite.sequences.drainage.plan_milp import solve_rooms
from fixedsite.sequences.drainage.plan_model import (
    Plan,
    Room,
    RoomPlan,
    expected_volume,
    margins,
    pumped,
)
from fixedsite.texts import say

RELAY_DEAR = 10.0     # CNY/kWh added to a lower room's steps in which the upper is full:
                      # several times any peak price, far below the band's penalty
RELAY_PASSES = 4      # bottom-up solves at most, each widening the lower rooms' dear steps

__all__ = ["Plan", "Room", "RoomPlan", "level_only", "plan", "pumped"]


def plan(rooms: list[Room], prices: np.ndarray, step_s: float = 900.0, t0: float = 0.0,
         exact: bool = False, time_limit_s: float = 5.0) -> Plan:
    """The cheapest safe plan for these rooms; ``prices`` CNY/kWh per step.

    Rooms in relay are solved from the bottom up, each room's DP seeing what the rooms
    below it plan to pump into it; where the upper band then cannot hold, the lower room
    is re-planned with those steps made dear and the upper one again. ``exact`` solves
    all rooms as one MILP instead: slower and under a time limit, for comparison."""
    started = time.perf_counter()
    h = step_s / 3600.0
    if exact and len(rooms) > 1:
        return solve_rooms(rooms, prices, step_s, t0, time_limit_s)
    dear = {r.name: np.zeros(len(prices), dtype=bool) for r in rooms}
    out: dict[str, RoomPlan] = {}
    for attempt in range(RELAY_PASSES):
        out = {}
        for room in _bottom_up(rooms):
            relay = sum((pumped(r, out[r.name].pumps) for r in rooms if r.into == room.name),
                        np.zeros(len(prices)))
            seen = replace(room, inflow=room.inflow + relay)
            out[room.name] = _solve_one(seen, prices + RELAY_DEAR * dear[room.name], prices,
                                        h)
        crowded = {r.name: _crowded(r, out[r.name]) for r in rooms}
        more = {r.name: crowded[r.into] & ~dear[r.name] for r in rooms if r.into}
        if attempt + 1 == RELAY_PASSES or not any(m.any() for m in more.values()):
            break                           # the same dear steps would give the same plan
        for name, m in more.items():        # keep the water below while the upper is full
            dear[name] |= m
    status = say("optimal (DP, 0.5 m3 grid)") if len(rooms) == 1 else \
        say("relay: DP per room, bottom up (0.5 m3 grid)")
    return Plan(t0, step_s, prices, out, sum(p.cost for p in out.values()), status,
                time.perf_counter() - started)


def _bottom_up(rooms: list[Room]) -> list[Room]:
    """Rooms ordered so that every room comes after the rooms that pump into it."""
    done: list[Room] = []
    while len(done) < len(rooms):
        ready = [r for r in rooms if r not in done and all(
            o in done for o in rooms if o.into == r.name)]
        if not ready:
            raise ValueError("rooms in relay go round in a circle")
        done += ready
    return done


def _crowded(room: Room, rp: RoomPlan) -> np.ndarray:
    """Steps in which water relayed in is still in this sump when it overflows the plan's
    band: from the last time the sump was below the middle of its band to each step
    over the top."""
    mid = (room.v_low + room.v_high) / 2
    out = np.zeros(len(rp.full), dtype=bool)
    low = -1
    for t, (v, full) in enumerate(zip(rp.volume, rp.full, strict=True)):
        if v <= mid:
            low = t
        if full:
            out[low + 1:t + 1] = True
    return out


def _solve_one(room: Room, priced: np.ndarray, prices: np.ndarray, h: float) -> RoomPlan:
    """One room by the DP on ``priced``, its starts capped by raising the start price until
    the cap holds; cost reported at ``prices``. ``room.inflow`` includes relay in."""
    pumps = solve_room(room, priced, h * 3600.0)
    base = room.start_cost
    if room.max_starts is not None:
        for _ in range(6):
            if max(slot_starts(pumps, room.running), default=0) <= room.max_starts:
                break
            room.start_cost = max(4 * room.start_cost, 10.0)
            pumps = solve_room(room, priced, h * 3600.0)
    used, room.start_cost = room.start_cost, base
    rp = RoomPlan(room.name, pumps, np.zeros(0), 0.0, 0.0, 0.0, start_cost=used)
    volume = rp.volume = expected_volume(room, {room.name: rp}, [room], h)
    kw = np.concatenate([[0.0], np.cumsum(room.powers)])[pumps]
    rp.kwh, rp.cost = float((kw * h).sum()), float((kw * h * prices).sum())
    margin = margins(room)
    over = np.maximum(0.0, volume - (room.v_high - margin))
    rp.outside_m3 = float(over.sum() + np.maximum(0.0, room.v_low + margin - volume).sum())
    rp.full = over > 0
    return rp


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
            while n > 0 and v <= stop_v[min(n, len(stop_v)) - 1]:
                n -= 1
            v += (q_in - float(pumped(room, np.array([n]))[0])) * h
        out[t] = n
    return out
