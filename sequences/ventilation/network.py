"""Ventilation network solving: the airflow in every airway of the mine from its fans,
resistances, regulating windows and natural ventilation pressure, and the air each user
point needs against what it gets.

Why a solver: the rules tie air to people, diesel power, explosives and velocity at each
place that needs it, and a main fan's duty, a regulator's position or a stopped fan
changes every flow in the mine at once. The solver answers "is every face still getting
its air" before anyone moves the window, and the HIL uses it so that its sensors read
physics, not set values.

The model (the usual one of mine ventilation practice):

* an airway (``Branch``) from junction ``start`` to ``end`` loses ``Δp = R·Q·|Q|`` (square
  law, turbulent flow); a fan in it adds its curve's pressure at the branch's flow, and
  ``natural_pa`` adds a constant pressure, both counted start -> end; the sign of a flow
  is its direction start -> end;
* the atmosphere is one junction (``Network.surface``): every opening to the surface ends
  there, so the network is closed and each junction's pressure is reported relative to it;
* junction pressures make every loop's pressure changes sum to zero (Kirchhoff's second
  law) and flows balance at every junction (the first law).

Method: Newton's method on the loop equations. A spanning tree of low-resistance airways
is chosen; each other branch (a chord: the high-resistance ones, the fans, the
fixed-quantity branches) closes one fundamental loop, and the loop flows are the unknowns,
so mass balance holds by construction (to rounding) and only the loops' pressure balances
are solved. The Jacobian ``C·diag(dh/dQ)·Cᵀ`` is symmetric and, for falling fan curves,
positive definite; a backtracking line search makes each step reduce the imbalance.
Where Newton stalls (fans in parallel in their stall region fold the equations: the
imbalance has a local minimum that is no answer), Hardy Cross (loop by loop, the textbook
method) sweeps from the start, and Newton finishes from where it leads
(``Solution.method`` "newton+hardy-cross"); Hardy Cross alone is there for comparison
(``method="hardy-cross"``). Every Newton step and every sweep counts as an iteration.

A fixed-quantity branch (``fixed_m3s``) is always a chord: its loop's flow is set, its
loop equation is dropped, and what is left of that loop's pressure balance is the pressure
a regulator in the branch must take up (``Solution.fixed_pa`` > 0) or a booster fan must
add (< 0).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from fixedsite.sequences.ventilation.network_config import Branch, Network, UserPoint

if TYPE_CHECKING:
    from fixedsite.sequences.ventilation.config import FanEq

# A fan's dampers shut: the fan's branch gets this resistance on top of its duct's
# (N·s²/m⁸). A good closed damper still leaks: at 3000 Pa across it this lets
# sqrt(3000/1e4) ≈ 0.55 m3/s through, about 0.4 % of a main fan's duty. Finite on purpose:
# an infinite resistance would cut the network and make its junction pressures undefined.
CLOSED_DAMPER_R = 1.0e4

# A regulating window is a thin-plate opening in its airway (the HIL's law, so that the
# HIL's sensors and the solver agree): air density, the opening's contraction, and the
# airway's cross-section where its branch gives no area_m2. Shut, it adds
# CLOSED_DAMPER_R (leakage only), as a shut damper does.
RHO = 1.2                  # kg/m3, mine air
ORIFICE_C = 0.65
REGULATOR_AREA_M2 = 8.0

# Past the curve's last point the pressure falls by the curve's largest pressure within
# this fraction of the last point's flow (a fan beyond free delivery is a resistance).
_FALL_OFF = 0.1

# Below this flow (m3/s) the Jacobian uses this flow for the square law's slope 2R|Q|:
# at Q = 0 the slope is 0 and a loop of still air (a stopped fan's loop) would make the
# Jacobian singular. Only the step is approximated there, never the residual, so the
# answer is exact.
_Q_FLOOR = 1e-4


class NetworkError(ValueError):
    """A network, fan set or regulator setting that cannot be solved, naming the branch
    (``branch``) or what else is at fault."""

    def __init__(self, message: str, branch: str | None = None) -> None:
        super().__init__(message)
        self.branch = branch


class NotConverged(NetworkError):
    """Neither Newton nor Hardy Cross balanced the loops within ``max_iter``: the
    message names the worst loop; ``solution`` is the last iterate (``converged`` False),
    for a look, never for use."""

    def __init__(self, message: str, branch: str | None, solution: Solution) -> None:
        super().__init__(message, branch)
        self.solution = solution


def _pchip_slopes(x: list[float], y: list[float]) -> list[float]:
    """Fritsch-Carlson slopes (as scipy's PCHIP): the interpolant never overshoots the
    points, so a falling curve stays falling and a fan never gains pressure between two
    points that do not show it."""
    n = len(x)
    h = [x[k + 1] - x[k] for k in range(n - 1)]
    s = [(y[k + 1] - y[k]) / h[k] for k in range(n - 1)]
    if n == 2:
        return [s[0], s[0]]
    d = [0.0] * n
    for k in range(1, n - 1):
        if s[k - 1] * s[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / s[k - 1] + w2 / s[k])

    def end(h0: float, h1: float, s0: float, s1: float) -> float:
        e = ((2 * h0 + h1) * s0 - h0 * s1) / (h0 + h1)
        if e * s0 <= 0:
            return 0.0
        if s0 * s1 <= 0 and abs(e) > 3 * abs(s0):
            return 3 * s0
        return e

    d[0] = end(h[0], h[1], s[0], s[1])
    d[-1] = end(h[-1], h[-2], s[-1], s[-2])
    return d


@dataclass(frozen=True)
class FanCurve:
    """A fan as the solver runs it: its static pressure curve at rated speed and how it
    is run now.

    ``points``: (flow m3/s, static pressure Pa) at rated speed, flows rising, at least 2.
    Between points the curve is interpolated monotonically (PCHIP: no bump the points do
    not show); below the first point the pressure is held at the first point's level
    rising along its slope (the fan resists air pushed backwards through it); past the
    last point it falls off steeply (parabolically, by the curve's largest pressure within
    10 % of the last flow), so an operating point off the curve is finite, never NaN.

    ``speed_frac`` (0..1 of rated speed) applies the fan laws: flow ~ n, pressure ~ n²
    (power ~ n³ follows, efficiency unchanged). 0 is a stopped fan: no pressure at all.

    ``reversed``: the fan drives air end -> start (反风, reversal by turning the rotor
    backwards); a reversed axial fan gives less: its forward curve with the flows x
    ``reversed_flow`` and the pressures x ``reversed_pressure`` (0.6 and 0.5, as the
    HIL's fans; the rules ask >= 40 % of normal air reversed).

    ``damper_open``: whether air can pass the fan's dampers. ``None`` (default) means open
    when running and shut when stopped, which is how a stopped standby fan stands: its
    branch then adds ``CLOSED_DAMPER_R`` to its duct's resistance. Say ``True`` with
    ``speed_frac=0`` for a stopped fan with its dampers open (the air short-circuits
    through it), ``False`` with a running fan for one run against shut dampers.

    ``efficiency``: shaft power = flow · pressure / efficiency.
    """

    points: tuple[tuple[float, float], ...]
    speed_frac: float = 1.0
    reversed: bool = False
    reversed_flow: float = 0.6
    reversed_pressure: float = 0.5
    efficiency: float = 0.82
    damper_open: bool | None = None
    _x: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _y: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _d: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _k: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pts = tuple((float(q), float(p)) for q, p in self.points)
        if len(pts) < 2:
            raise NetworkError(f"fan curve: {len(pts)} point(s); at least 2 are needed")
        for q, p in pts:
            if not (math.isfinite(q) and math.isfinite(p)) or q < 0:
                raise NetworkError(f"fan curve: point ({q:g}, {p:g}) is not a finite flow "
                                   ">= 0 and a finite pressure")
        xs = [q for q, _ in pts]
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise NetworkError(f"fan curve: flows {xs} do not rise strictly")
        for name, v, lo, hi in (("speed_frac", self.speed_frac, 0.0, 1.0),
                                ("reversed_flow", self.reversed_flow, 1e-3, 1.0),
                                ("reversed_pressure", self.reversed_pressure, 1e-3, 1.0),
                                ("efficiency", self.efficiency, 1e-3, 1.0)):
            if not (isinstance(v, int | float) and math.isfinite(v) and lo <= v <= hi):
                raise NetworkError(f"fan curve: {name} {v!r} is not in {lo:g}..{hi:g}")
        ys = [p for _, p in pts]
        pmax = max(max(abs(p) for p in ys), 1.0)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "_x", tuple(xs))
        object.__setattr__(self, "_y", tuple(ys))
        object.__setattr__(self, "_d", tuple(_pchip_slopes(xs, ys)))
        object.__setattr__(self, "_k", pmax / (_FALL_OFF * max(xs[-1], 1e-6)) ** 2)

    @classmethod
    def from_eq(cls, eq: FanEq, speed_pct: float | None = None, *, running: bool = True,
                reversed: bool = False, damper_open: bool | None = None) -> FanCurve:
        """A configured main fan (``FanEq``) at ``speed_pct`` (default its
        ``run_speed_pct``), or stopped when ``running`` is False."""
        pct = eq.run_speed_pct if speed_pct is None else speed_pct
        return cls(points=tuple(eq.curve), speed_frac=pct / 100.0 if running else 0.0,
                   reversed=reversed, efficiency=eq.efficiency, damper_open=damper_open)

    @property
    def running(self) -> bool:
        return self.speed_frac > 0

    @property
    def dampers_open(self) -> bool:
        return self.running if self.damper_open is None else self.damper_open

    def _rated(self, q: float) -> tuple[float, float]:
        """Pressure and its slope at flow ``q`` on the rated-speed curve."""
        x, y, d = self._x, self._y, self._d
        if q <= x[0]:
            s = min(d[0], 0.0)
            return y[0] + s * (q - x[0]), s
        if q >= x[-1]:
            s, u = min(d[-1], 0.0), q - x[-1]
            return y[-1] + s * u - self._k * u * u, s - 2 * self._k * u
        k = bisect.bisect_right(x, q) - 1
        h = x[k + 1] - x[k]
        t = (q - x[k]) / h
        t2, t3 = t * t, t * t * t
        p = ((2 * t3 - 3 * t2 + 1) * y[k] + (t3 - 2 * t2 + t) * h * d[k]
             + (-2 * t3 + 3 * t2) * y[k + 1] + (t3 - t2) * h * d[k + 1])
        dp = ((6 * t2 - 6 * t) * (y[k] - y[k + 1]) / h + (3 * t2 - 4 * t + 1) * d[k]
              + (3 * t2 - 2 * t) * d[k + 1])
        return p, dp

    def pressure(self, q: float) -> tuple[float, float]:
        """The pressure this fan adds to its branch in the direction start -> end when the
        branch carries ``q`` m3/s (start -> end), and its derivative d/dq: the fan laws
        and the reversal applied to the rated curve."""
        s = self.speed_frac
        if s <= 0:
            return 0.0, 0.0
        if self.reversed:
            f, k = self.reversed_flow, self.reversed_pressure
            p, dp = self._rated(-q / (s * f))
            return -k * s * s * p, k * s * dp / f
        p, dp = self._rated(q / s)
        return s * s * p, s * dp


@dataclass(frozen=True)
class FanPoint:
    """Where a fan runs: flow and pressure in its own direction of drive (end -> start
    when reversed), shaft power."""

    fan: str
    branch: str
    flow_m3s: float
    pressure_pa: float
    power_kw: float
    speed_frac: float
    reversed: bool
    dampers_open: bool


@dataclass(frozen=True)
class Solution:
    """A solved network. Flows are signed (direction start -> end); ``dp`` is the
    pressure of the branch's start junction less that of its end (a fan branch's is
    negative: the fan raises the pressure); ``pressure`` is each junction's pressure
    relative to the surface; ``resistance`` what each branch was solved with (duct, plus
    a regulator's or a shut damper's); ``fixed_pa`` per fixed-quantity branch the pressure
    a regulator there must take up (> 0) or a booster must add (< 0); ``residual_pa`` the
    largest loop imbalance left; ``method`` what found it: "newton", "newton+hardy-cross"
    (Newton stalled) or "hardy-cross" (asked for)."""

    flow: dict[str, float]
    dp: dict[str, float]
    pressure: dict[str, float]
    resistance: dict[str, float]
    velocity: dict[str, float | None]
    fans: dict[str, FanPoint]
    fixed_pa: dict[str, float]
    regulators: dict[str, float]
    residual_pa: float
    iterations: int
    converged: bool
    method: str


@dataclass
class _Topology:
    names: list[str]
    junctions: list[str]
    start: np.ndarray              # junction index per branch
    end: np.ndarray
    loops: np.ndarray              # (chords, branches) of -1/0/+1: fundamental loops
    chords: list[int]              # branch index of each loop's chord
    free: np.ndarray               # loop indices solved for
    fixed: np.ndarray              # loop indices whose flow is set
    # the tree from the surface: (child junction, branch, +1 if the branch runs
    # parent -> child), in an order where a parent comes before its children
    tree: list[tuple[int, int, int]] = field(default_factory=list)


def _topology(net: Network) -> _Topology:
    """Check the graph and choose its loops: a spanning tree grown (Kruskal) from the
    lowest-resistance airways, so the chords (one per loop) are the high-resistance
    branches, the fans and, last, the fixed-quantity branches, which must all be chords
    for their loops to be set."""
    names = list(net.branches)
    branches = list(net.branches.values())
    degree: dict[str, list[str]] = {}
    for name, b in zip(names, branches, strict=True):
        if b.start == b.end:
            raise NetworkError(f"branch {name!r} starts and ends at junction {b.start!r}",
                               name)
        for j in (b.start, b.end):
            degree.setdefault(j, []).append(name)
    if net.surface not in degree:
        raise NetworkError(f"no branch reaches the surface junction {net.surface!r}: the "
                           "network must be open to the atmosphere somewhere")
    for j, at in degree.items():
        if len(at) == 1 and j != net.surface:
            raise NetworkError(f"branch {at[0]!r}: junction {j!r} joins no other branch "
                               "(a misspelt junction? a dead end carries no air)", at[0])
    junctions = [net.surface] + sorted(j for j in degree if j != net.surface)
    index = {j: i for i, j in enumerate(junctions)}
    start = np.array([index[b.start] for b in branches])
    end = np.array([index[b.end] for b in branches])

    parent = list(range(len(junctions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(names)), key=lambda i: (branches[i].fixed_m3s is not None,
                                                     branches[i].fan is not None,
                                                     branches[i].resistance))
    tree_edges, chords = [], []
    for i in order:
        a, b = root(int(start[i])), root(int(end[i]))
        if a != b:
            parent[a] = b
            tree_edges.append(i)
        else:
            chords.append(i)
    if len(tree_edges) < len(junctions) - 1:
        top = root(0)
        cut = next(n for n, b in zip(names, branches, strict=True)
                   if root(index[b.start]) != top)
        raise NetworkError(f"branch {cut!r} is not connected to the rest of the network "
                           f"(no way from junction {net.branches[cut].start!r} to the "
                           f"surface {net.surface!r})", cut)
    for i in tree_edges:
        if branches[i].fixed_m3s is not None:
            raise NetworkError(f"fixed-quantity branch {names[i]!r} has no other way round "
                               "for its air (with the other fixed branches it cuts the "
                               "network): no regulator can hold its quantity", names[i])

    # the tree from the surface
    adj: dict[int, list[tuple[int, int, int]]] = {}
    for i in tree_edges:
        s, e = int(start[i]), int(end[i])
        adj.setdefault(s, []).append((e, i, +1))
        adj.setdefault(e, []).append((s, i, -1))
    up: dict[int, tuple[int, int, int]] = {}       # child -> (parent, branch, sign)
    depth = {0: 0}
    seq: list[tuple[int, int, int]] = []
    stack = [0]
    while stack:
        j = stack.pop()
        for k, i, sgn in adj.get(j, []):
            if k not in depth:
                depth[k] = depth[j] + 1
                up[k] = (j, i, sgn)
                seq.append((k, i, sgn))
                stack.append(k)

    # each chord's loop: the chord start -> end, then the tree back from end to start
    order_chords = sorted(chords, key=lambda i: branches[i].fixed_m3s is not None)
    loops = np.zeros((len(order_chords), len(names)))
    for row, c in enumerate(order_chords):
        loops[row, c] = 1.0
        u, v = int(end[c]), int(start[c])          # walk u -> v
        while u != v:
            if depth[u] >= depth[v]:
                p, i, sgn = up[u]
                loops[row, i] += -sgn               # child -> parent: against parent->child
                u = p
            else:
                p, i, sgn = up[v]
                loops[row, i] += sgn                # parent -> child on the way to v
                v = p
    fixed_rows = np.array([r for r, c in enumerate(order_chords)
                           if branches[c].fixed_m3s is not None], dtype=int)
    free_rows = np.array([r for r, c in enumerate(order_chords)
                          if branches[c].fixed_m3s is None], dtype=int)
    return _Topology(names, junctions, start, end, loops, order_chords, free_rows,
                     fixed_rows, seq)


def regulator_resistance(position_pct: float, area_m2: float | None) -> float:
    """What a regulating window at ``position_pct`` open adds to its branch's resistance
    (the branch's own is the airway with the window wide open).

    The window is a thin-plate opening of x = pos/100 of the airway's area A: the air
    contracts through it and loses its velocity pressure past it, which adds
    ``ρ/(2A²) · ((1 - x)/(c·x))²`` (c = 0.65): nothing wide open, rising ever faster
    as it shuts, capped at ``CLOSED_DAMPER_R`` so a shut window leaks, as a real one
    does, and stays finite. A is the branch's ``area_m2``, else ``REGULATOR_AREA_M2``.
    The same law as the HIL's (hil/ventilation/plant.py ``orifice_resistance``)."""
    x = min(max(position_pct / 100.0, 0.0), 1.0)
    if x >= 1.0:
        return 0.0
    if x <= 0.0:
        return CLOSED_DAMPER_R
    a = area_m2 or REGULATOR_AREA_M2
    return min(RHO / (2.0 * a * a) * ((1.0 - x) / (ORIFICE_C * x)) ** 2, CLOSED_DAMPER_R)


def _check(net: Network, fans: Mapping[str, FanCurve],
           regulators: Mapping[str, float]) -> None:
    fan_branches = {b.fan: n for n, b in net.branches.items() if b.fan is not None}
    if not fan_branches:
        raise NetworkError("no fan: no branch of the network has a fan, nothing drives "
                           "the air")
    for name, b in net.branches.items():
        if b.fan is not None and b.fan not in fans:
            raise NetworkError(f"branch {name!r}: fan {b.fan!r} is not among the fans "
                               f"given ({', '.join(sorted(fans)) or 'none'})", name)
        if b.fixed_m3s is not None and b.fan is not None:
            raise NetworkError(f"branch {name!r}: a fixed quantity in a fan's branch; the "
                               "fan sets its flow", name)
    for f, curve in fans.items():
        if f not in fan_branches:
            raise NetworkError(f"fan {f!r} is in no branch of the network (fans in it: "
                               f"{', '.join(sorted(fan_branches))})")
        if not isinstance(curve, FanCurve):
            raise NetworkError(f"fan {f!r}: {type(curve).__name__} is not a FanCurve",
                               fan_branches[f])
    known = {b.regulator: n for n, b in net.branches.items() if b.regulator is not None}
    for r, pos in regulators.items():
        if r not in known:
            raise NetworkError(f"regulator {r!r} is in no branch of the network "
                               f"(regulators: {', '.join(sorted(known)) or 'none'})")
        if not (isinstance(pos, int | float) and math.isfinite(pos) and 0 <= pos <= 100):
            raise NetworkError(f"branch {known[r]!r}: regulator {r!r} position {pos!r} is "
                               "not 0..100 %", known[r])


def solve(net: Network, fans: Mapping[str, FanCurve],
          regulators: Mapping[str, float] | None = None, *, tol_pa: float = 1e-6,
          max_iter: int = 100,
          method: Literal["newton", "hardy-cross"] = "newton") -> Solution:
    """The airflow in every branch of ``net`` with ``fans`` (fan name -> how it runs; every
    fan in the network must be given: a stopped one as ``speed_frac=0``) and
    ``regulators`` (regulator name -> % open; one not given is fully open).

    Newton on the loop equations, with Hardy Cross sweeps where Newton stalls
    (``method="hardy-cross"``: Hardy Cross alone, for comparison). Raises
    ``NetworkError`` naming the branch for a network it cannot solve and
    ``NotConverged`` when the loops do not balance within ``tol_pa`` in ``max_iter``
    iterations."""
    regulators = {} if regulators is None else regulators
    if not (math.isfinite(tol_pa) and tol_pa > 0) or max_iter < 1:
        raise NetworkError(f"tol_pa {tol_pa!r} must be > 0 and max_iter {max_iter!r} >= 1")
    if method not in ("newton", "hardy-cross"):
        raise NetworkError(f"method {method!r}: newton or hardy-cross")
    _check(net, fans, regulators)
    top = _topology(net)
    branches = list(net.branches.values())
    nb = len(branches)

    r = np.empty(nb)
    for i, b in enumerate(branches):
        r[i] = b.resistance
        if b.regulator is not None:
            r[i] += regulator_resistance(regulators.get(b.regulator, 100.0), b.area_m2)
        if b.fan is not None and not fans[b.fan].dampers_open:
            r[i] += CLOSED_DAMPER_R
    nvp = np.array([b.natural_pa for b in branches])
    fan_at = [(i, fans[b.fan]) for i, b in enumerate(branches) if b.fan is not None]
    fan_at = [(i, c) for i, c in fan_at if c.running]
    for row in top.free:
        on = top.loops[row] != 0
        if not np.any(r[on] > 0) and not any(on[i] for i, _ in fan_at):
            names = [top.names[i] for i in np.flatnonzero(on)]
            raise NetworkError(f"loop {' + '.join(names)} has no resistance and no running "
                               "fan: the air's way round it is undetermined",
                               top.names[top.chords[row]])

    def h(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each branch's pressure drop start -> end at flows ``q`` (less any regulator
        pressure of a fixed branch) and its derivative (floored: see _Q_FLOOR)."""
        val = r * q * np.abs(q) - nvp
        der = 2 * r * np.maximum(np.abs(q), _Q_FLOOR)
        for i, c in fan_at:
            p, dp = c.pressure(float(q[i]))
            val[i] -= p
            der[i] -= dp
        return val, der

    cf, cx = top.loops[top.free], top.loops[top.fixed]
    qx = np.array([branches[top.chords[row]].fixed_m3s for row in top.fixed], dtype=float)
    base = cx.T @ qx if len(qx) else np.zeros(nb)

    # start: the flows of a linear network (each branch's loss taken as R·Qs·Q at a typical
    # flow Qs, the fans' pressures at that flow), a few Picard steps of the linear method
    # put every loop near its answer before Newton takes over
    qs = max((c.speed_frac * c._x[-1] * 0.5 for _, c in fan_at), default=1.0)
    x = np.zeros(len(top.free))
    if len(x):
        q, mag = base.copy(), np.full(nb, qs)
        eps = 1e-9 * max(float(r.max()), 1.0)
        for _ in range(3):
            w, e = r * mag + eps, nvp.copy()
            for i, c in fan_at:            # the fan's curve as its tangent at q
                p, dp = c.pressure(float(q[i]))
                w[i] += max(-dp, 0.0)
                e[i] += p + max(-dp, 0.0) * q[i]
            x = np.linalg.solve(cf * w @ cf.T, cf @ (e - w * base))
            q = base + cf.T @ x
            mag = np.maximum(np.abs(q), _Q_FLOOR)

    def residual(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = base + cf.T @ x
        val, der = h(q)
        return cf @ val, der, q

    def newton(x: np.ndarray, budget: int) -> tuple[np.ndarray, int, bool]:
        """Newton steps with a backtracking line search on the squared imbalance, until
        converged, out of ``budget`` or stalled (no step reduces the imbalance: a fold
        of the equations, e.g. fans in parallel in their stall region, where the loop's
        Jacobian turns singular and the imbalance has a local minimum that is no root)."""
        f, der, _ = residual(x)
        n = 0
        while np.max(np.abs(f)) >= tol_pa and n < budget:
            n += 1
            jac = (cf * der) @ cf.T
            try:
                dx = -np.linalg.solve(jac, f)
            except np.linalg.LinAlgError:
                dx = -np.linalg.lstsq(jac, f, rcond=None)[0]
            merit, t = float(f @ f), 1.0
            for _ in range(30):
                f1, der1, _ = residual(x + t * dx)
                if float(f1 @ f1) <= (1 - 1e-4 * t) * merit:
                    break
                t *= 0.5
            else:
                return x, n, True
            x, f, der = x + t * dx, f1, der1
        return x, n, False

    def hardy_cross(x: np.ndarray, sweeps: int) -> tuple[np.ndarray, int]:
        """Loop by loop, each loop's flow corrected by its imbalance over its slope, the
        flows updated as it goes: slow, but its steps on one loop at a time cross a fold
        Newton stalls at."""
        x = x.copy()
        n = 0
        while n < sweeps and np.max(np.abs(residual(x)[0])) >= tol_pa:
            n += 1
            for k in range(len(x)):
                row = cf[k]
                on = row != 0
                val, dd = h(base + cf.T @ x)
                x[k] -= float(row[on] @ val[on]) / float(dd[on].sum())
        return x, n

    def worst(x: np.ndarray) -> float:
        return float(np.max(np.abs(residual(x)[0]))) if len(x) else 0.0

    # Newton from the linear start; where it stalls, Hardy Cross sweeps from the start
    # (not from the trap) and Newton again from where they lead, until the iterations
    # (Newton steps and Hardy Cross sweeps, counted alike) run out
    its, used = 0, method
    if len(x) and method == "hardy-cross":
        x, its = hardy_cross(x, max_iter)
    elif len(x):
        x0 = x.copy()
        x, its, stalled = newton(x, max_iter)
        restart, best = x0, x
        while worst(best) >= tol_pa and its < max_iter:
            used = "newton+hardy-cross"
            restart, n = hardy_cross(restart, min(10, max_iter - its))
            its += n
            xn, n, stalled = newton(restart, max_iter - its)
            its += n
            for cand in (restart, xn):
                if worst(cand) < worst(best):
                    best = cand
            if not stalled:
                restart = xn
        x = best
    f, der, q = residual(x)
    return _solution(net, top, fans, regulators, r, q, f, its, used, tol_pa, h)


def _solution(net: Network, top: _Topology, fans: Mapping[str, FanCurve],
              regulators: Mapping[str, float], r: np.ndarray, q: np.ndarray,
              f: np.ndarray, its: int, used: str, tol_pa: float, h: object) -> Solution:
    branches = list(net.branches.values())
    val, _ = h(q)  # type: ignore[operator]
    drop = val.copy()
    fixed_pa: dict[str, float] = {}
    for row in top.fixed:
        c = top.chords[row]
        p_reg = -float(top.loops[row] @ val)       # what closes this loop's balance
        drop[c] += p_reg
        fixed_pa[top.names[c]] = p_reg
    pressure = np.zeros(len(top.junctions))
    for child, i, sgn in top.tree:
        # parent -> child along the branch: p_end = p_start - drop
        pressure[child] = (pressure[int(top.start[i])] - drop[i] if sgn > 0
                           else pressure[int(top.end[i])] + drop[i])
    fan_pts: dict[str, FanPoint] = {}
    for i, b in enumerate(branches):
        if b.fan is None:
            continue
        c = fans[b.fan]
        p, _ = c.pressure(float(q[i]))
        sgn = -1.0 if c.reversed else 1.0
        flow, pres = sgn * float(q[i]), sgn * p
        power = max(flow * pres, 0.0) / c.efficiency / 1000.0 if c.running else 0.0
        fan_pts[b.fan] = FanPoint(b.fan, top.names[i], flow, pres, power, c.speed_frac,
                                  c.reversed, c.dampers_open)
    residual = float(np.max(np.abs(f))) if len(f) else 0.0
    ok = residual < tol_pa
    sol = Solution(
        flow={n: float(q[i]) for i, n in enumerate(top.names)},
        dp={n: float(drop[i]) for i, n in enumerate(top.names)},
        pressure={j: float(pressure[k]) for k, j in enumerate(top.junctions)},
        resistance={n: float(r[i]) for i, n in enumerate(top.names)},
        velocity={n: (float(q[i]) / b.area_m2 if b.area_m2 else None)
                  for i, (n, b) in enumerate(zip(top.names, branches, strict=True))},
        fans=fan_pts, fixed_pa=fixed_pa,
        regulators={b.regulator: float(regulators.get(b.regulator, 100.0))
                    for b in branches if b.regulator is not None},
        residual_pa=residual, iterations=its, converged=ok, method=used)
    if not ok:
        worst = int(np.argmax(np.abs(f)))
        chord = top.names[top.chords[top.free[worst]]]
        loop = [top.names[i] for i in np.flatnonzero(top.loops[top.free[worst]])]
        raise NotConverged(f"not converged after {its} iterations ({used}): the loop "
                           f"closed by branch {chord!r} ({' + '.join(loop)}) is "
                           f"{residual:.3g} Pa out of balance (tolerance {tol_pa:g} Pa)",
                           chord, sol)
    return sol


# --- the air each user point needs ---------------------------------------------------
def need_of(name: str, user: UserPoint, branch: Branch | None) -> tuple[float, str]:
    """A user point's need (m3/s) and the rule that sets it: the largest of people x
    per-person, diesel kW x per-kW, explosives kg x per-kg, minimum velocity x the
    branch's area, and the floor given outright."""
    if branch is None:
        raise NetworkError(f"user point {name!r}: branch {user.branch!r} is not in the "
                           "network", user.branch)
    if user.min_velocity_ms > 0 and branch.area_m2 is None:
        raise NetworkError(f"user point {name!r}: a minimum velocity needs the area_m2 of "
                           f"branch {user.branch!r}", user.branch)
    rules = [(user.people * user.per_person_m3s, "people"),
             (user.diesel_kw * user.per_kw_m3s, "diesel"),
             (user.explosives_kg * user.per_kg_m3s, "explosives"),
             (user.min_velocity_ms * (branch.area_m2 or 0.0), "velocity"),
             (user.min_m3s, "minimum")]
    return max(rules, key=lambda r: r[0])


def needs(net: Network) -> dict[str, float]:
    """The air (m3/s) each user point needs, by its rules (``need_of``)."""
    return {n: need_of(n, u, net.branches.get(u.branch))[0] for n, u in net.users.items()}


@dataclass(frozen=True)
class Shortfall:
    name: str
    need_m3s: float
    delivered_m3s: float
    branch: str


def shortfalls(net: Network, sol: Solution) -> list[Shortfall]:
    """The user points the solved network gives less air than they need. Air is counted
    whichever way it flows through the point's branch (a reversed mine still airs its
    faces)."""
    out = []
    for n, need in needs(net).items():
        u = net.users[n]
        got = abs(sol.flow[u.branch])
        if got < need * (1 - 1e-9):
            out.append(Shortfall(n, need, got, u.branch))
    return out
