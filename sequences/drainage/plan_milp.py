"""Several pump rooms planned together (relay pumping) as one mixed-integer program.

Pumps of a room are interchangeable, so the model has ordered *slots*, not named pumps:
slot k runs only if slot k-1 does (no symmetric duplicates for the solver to wade
through), and slot k's marginal flow and power are those of the k-th pump running.
Minimum run and rest are in the tight (Rajan-Takriti) form; starts are capped per slot.
The volume of a room counts what the rooms below pump into it, so one program keeps the
upper sump from flooding because the lower one pumped into it in the wrong hour.

HiGHS (``scipy.optimize.milp``) proves optimality slowly on this structure (flat prices
inside a tariff period make many schedules tie) and, on two rooms over 96 steps, finds no
schedule inside the band within a minute. So the controller plans relay room by room
(``plan.plan``), and this program serves as the yardstick: its dual bound says
how far from the best possible that plan can be.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array, csr_array

from fixedsite.sequences.drainage.plan_model import (
    PENALTY,
    Plan,
    Room,
    RoomPlan,
    expected_volume,
    margins,
)


def solve_rooms(rooms: list[Room], prices: np.ndarray, step_s: float = 900.0, t0: float = 0.0,
                time_limit_s: float = 10.0) -> Plan:
    """Solve the horizon for all rooms at once; ``prices`` CNY/kWh per step."""
    started = time.perf_counter()
    T, h = len(prices), step_s / 3600.0
    m = _Model(rooms, T)
    c = np.zeros(m.n)
    for r, room in enumerate(rooms):
        for k in range(m.K[r]):
            c[m.x(r, k, 0):m.x(r, k, 0) + T] = prices * h * room.powers[k]
            c[m.s(r, k, 0):m.s(r, k, 0) + T] = 1e-3          # no needless starts
        c[m.u(r, 0):m.u(r, 0) + T] = PENALTY
        c[m.d(r, 0):m.d(r, 0) + T] = PENALTY
    rows = _Rows(m.n)
    for r, room in enumerate(rooms):
        _room_rows(rows, m, r, room, rooms, T, h)
    A, lb, ub = rows.build()
    res = milp(c, constraints=LinearConstraint(A, lb, ub), integrality=m.integrality,
               bounds=Bounds(m.lo, m.hi), options={"time_limit": time_limit_s,
                                               "mip_rel_gap": 1e-3})
    if res.x is None:
        raise RuntimeError(f"pump plan not solved: {res.message}")
    x = np.round(res.x[:m.n_x]).astype(int)
    out: dict[str, RoomPlan] = {}
    for r, room in enumerate(rooms):
        on = np.array([[x[m.x(r, k, t)] for t in range(T)] for k in range(m.K[r])])
        pumps = on.sum(axis=0) if m.K[r] else np.zeros(T, dtype=int)
        kw = np.array([sum(room.powers[k] * on[k, t] for k in range(m.K[r]))
                       for t in range(T)])
        out[room.name] = RoomPlan(room.name, pumps, np.zeros(T), float((kw * h).sum()),
                                  float((kw * h * prices).sum()),
                                  float(res.x[m.u(r, 0):m.u(r, 0) + T].sum()
                                        + res.x[m.d(r, 0):m.d(r, 0) + T].sum()))
    for room in rooms:                  # expected volumes, upper rooms see relay inflow
        out[room.name].volume = expected_volume(room, out, rooms, h)
    cost = sum(p.cost for p in out.values())
    return Plan(t0, step_s, prices, out, cost, res.message, time.perf_counter() - started,
                getattr(res, "mip_dual_bound", None))


class _Model:
    """Variable layout: x (on) per room/slot/step, s (start) and w (stop) likewise, then
    per room and step the volume v and the slacks u (above the band) and d (below)."""

    def __init__(self, rooms: list[Room], T: int) -> None:
        self.T = T
        self.K = [min(r.available, len(r.flows)) for r in rooms]
        self.off_x = np.concatenate([[0], np.cumsum([k * T for k in self.K])]).astype(int)
        self.n_x = int(self.off_x[-1])
        R = len(rooms)
        self.off_v = 3 * self.n_x
        self.n = 3 * self.n_x + 3 * R * T
        self.integrality = np.zeros(self.n)
        self.integrality[:self.n_x] = 1
        self.lo = np.zeros(self.n)
        self.hi = np.ones(self.n)
        self.hi[self.off_v:] = np.inf
        self.lo[self.off_v:self.off_v + R * T] = -np.inf        # volumes: free

    def x(self, r: int, k: int, t: int) -> int:
        return int(self.off_x[r]) + k * self.T + t

    def s(self, r: int, k: int, t: int) -> int:
        return self.n_x + self.x(r, k, t)

    def w(self, r: int, k: int, t: int) -> int:
        return 2 * self.n_x + self.x(r, k, t)

    def v(self, r: int, t: int) -> int:
        return self.off_v + r * self.T + t

    def u(self, r: int, t: int) -> int:
        return self.off_v + (len(self.K) + 2 * r) * self.T + t

    def d(self, r: int, t: int) -> int:
        return self.off_v + (len(self.K) + 2 * r + 1) * self.T + t


class _Rows:
    def __init__(self, n: int) -> None:
        self.n = n
        self.i: list[int] = []
        self.j: list[int] = []
        self.v: list[float] = []
        self.lb: list[float] = []
        self.ub: list[float] = []

    def add(self, cols: list[int], vals: list[float], lb: float, ub: float) -> None:
        row = len(self.lb)
        self.i += [row] * len(cols)
        self.j += cols
        self.v += vals
        self.lb.append(lb)
        self.ub.append(ub)

    def build(self) -> tuple[csr_array, np.ndarray, np.ndarray]:
        A = coo_array((self.v, (self.i, self.j)), shape=(len(self.lb), self.n)).tocsr()
        return A, np.array(self.lb), np.array(self.ub)


def _room_rows(rows: _Rows, m: _Model, r: int, room: Room, rooms: list[Room], T: int,
               h: float) -> None:
    K, inf = m.K[r], np.inf
    held_on, held_off = [0] * (K + 1), [0] * (K + 1)   # the last change's minimum carries
    if room.last_change == "up" and 0 < room.running <= K:
        held_on[room.running - 1] = max(0, room.min_run_steps - room.since_change_steps)
    elif room.last_change == "down":
        held_off[room.running] = max(0, room.min_rest_steps - room.since_change_steps)
    for k in range(K):
        prev_on = 1.0 if k < room.running else 0.0
        for t in range(T):
            x, s, w = m.x(r, k, t), m.s(r, k, t), m.w(r, k, t)
            if k > 0:                                   # ordered slots
                rows.add([x, m.x(r, k - 1, t)], [1, -1], -inf, 0)
            # x_t - x_{t-1} = start_t - stop_t
            if t == 0:
                rows.add([x, s, w], [1, -1, 1], prev_on, prev_on)
            else:
                rows.add([x, m.x(r, k, t - 1), s, w], [1, -1, -1, 1], 0, 0)
            if t < held_on[k]:
                rows.add([x], [1], 1, 1)
            if t < held_off[k]:
                rows.add([x], [1], 0, 0)
            # minimum run and rest in the tight (Rajan-Takriti) form: a start in the
            # last min_run steps means on now; a stop in the last min_rest means off
            up = list(range(max(0, t - room.min_run_steps + 1), t + 1))
            rows.add([m.s(r, k, i) for i in up] + [x], [1.0] * len(up) + [-1.0], -inf, 0)
            down = list(range(max(0, t - room.min_rest_steps + 1), t + 1))
            rows.add([m.w(r, k, i) for i in down] + [x], [1.0] * len(down) + [1.0], -inf, 1)
        if room.max_starts is not None:
            rows.add([m.s(r, k, t) for t in range(T)], [1.0] * T, -inf, room.max_starts)
    for t in range(T):
        cols = [m.x(r, k, t) for k in range(K)]
        if room.max_on is not None and K:
            rows.add(cols, [1.0] * K, -inf, room.max_on)
        if room.max_kw is not None and K:
            rows.add(cols, [float(p) for p in room.powers[:K]], -inf, room.max_kw)
        if room.max_discharge is not None and K:
            rows.add(cols, [float(q) for q in room.flows[:K]], -inf, room.max_discharge)
    # volume at the end of step t: V_t = V_{t-1} + h (inflow + relay in - out)
    feeders = [(i, o) for i, o in enumerate(rooms) if o.into == room.name]
    margin = margins(room)
    v_end = room.volume0 if room.v_end is None else room.v_end
    for t in range(T):
        cols, vals = [m.v(r, t)], [1.0]
        if t > 0:
            cols.append(m.v(r, t - 1))
            vals.append(-1.0)
        for k in range(K):
            cols.append(m.x(r, k, t))
            vals.append(room.flows[k] * h)
        for i, other in feeders:
            for k in range(m.K[i]):
                cols.append(m.x(i, k, t))
                vals.append(-other.flows[k] * h)
        rhs = float(room.inflow[t]) * h + (room.volume0 if t == 0 else 0.0)
        rows.add(cols, vals, rhs, rhs)
        rows.add([m.v(r, t), m.u(r, t)], [1.0, -1.0], -inf, room.v_high - margin[t])
        rows.add([m.v(r, t), m.d(r, t)], [1.0, 1.0], room.v_low + margin[t], inf)
    rows.add([m.v(r, T - 1), m.u(r, T - 1)], [1.0, -1.0], -inf,
             max(v_end, room.v_low + margin[T - 1]))
