"""The simulated main fan station and the mine's airways, and a face's auxiliary fans.

Physics only: no protocol and no PLC logic (that is ``plc.py``; the PLC moves the fields
marked "driven by the PLC"). Sign convention: a branch's airflow is positive from its
``start`` to its ``end`` junction; a main fan pushes air along its branch (an exhausting
fan's branch runs from the fan drift to the surface), and a reversed fan pushes it back.

Airways. The mine is a resistance network (Δp = R·Q·|Q|, N·s²/m⁸) with the fans, the
natural ventilation pressure and the regulating windows in its branches: the system's
``[network]`` when the config has one, else one equivalent branch of resistance
``rated_pressure / rated_flow²`` of fan 1 between the surface and the fan drift, and
each fan's duct beside it. The air has inertia, so it follows a fan's run-up and
run-down: per branch ``I dQ/dt = fan + natural - R Q|Q|`` summed around each loop of a
cycle basis (``Q = Cᵀq``, continuity holds by construction), integrated linearly
implicitly (one Newton step of backward Euler per sub-step) so a shut damper's huge
resistance is stable at any step. At rest the loop sums are zero: the flows are the
network's solution, nothing else.

A fan's duct holds its inlet and outlet dampers: open, they add nothing; closing, they
add the loss of an orifice ``ρ/2A² · ((1-x)/(c x))²`` up to ``R_CLOSED`` (a shut
damper's leakage: ~0.5 % of the rated flow at the rated pressure). A stopped fan behind
open dampers is a free passage, so air short-circuits through it from the surface: that
is why a changeover crosses the dampers. A regulating window adds the same orifice loss
to its branch (``window_resistance``).

Fans. The curve is static pressure against flow at rated speed; another speed n by the
fan laws (p(Q, n) = n² p(Q/n), P ~ n³). A reversed fan (rotation reversed) gives 60 % of
the flow at 50 % of the pressure of its forward curve. Efficiency is a parabola peaking
at the rated flow. The VFD ramps the speed to its set-point at ``ramp_s`` per 100 %; a
tripped motor coasts (air drag and friction). Bearing temperature is a first-order lag
towards a load-dependent value; vibration rises with speed², and a fault (a damaged
bearing, ``vib_excess``) holds the vibration monitor's reading high.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

RHO = 1.2                  # kg/m3, mine air
ORIFICE_C = 0.65           # contraction of a thin-plate opening
R_CLOSED = 1.0e4           # N s2/m8: a shut damper, door or window (leakage only)
DUCT_AREA_M2 = 10.0        # a fan duct's cross-section where the config gives none
WINDOW_AREA_M2 = 8.0       # an airway's cross-section at a window where none is given
AMBIENT_C = 20.0
SUPPLY_KV = 6.0
POWER_FACTOR = 0.9         # VFD input
MOTOR_EFF = 0.95
REVERSE_FLOW, REVERSE_PRESSURE = 0.6, 0.5
COAST_DRAG_S, COAST_FRICTION_S = 60.0, 900.0
BEARING_TAU_S = 600.0
MAX_STEP_S = 0.25          # sub-step of the air network


def orifice_resistance(opening: float, area_m2: float) -> float:
    """The loss an opening of ``opening`` (0 shut .. 1 open) adds to an airway of
    ``area_m2``: 0 wide open, ``R_CLOSED`` shut."""
    x = min(max(opening, 0.0), 1.0)
    if x >= 1.0:
        return 0.0
    if x <= 0.0:
        return R_CLOSED
    r = RHO / (2.0 * area_m2 ** 2) * ((1.0 - x) / (ORIFICE_C * x)) ** 2
    return min(r, R_CLOSED)


def window_resistance(opening: float, area_m2: float | None) -> float:
    """A regulating window's resistance at ``opening``: what the network adds to the
    branch it sits in (its config resistance is the airway with the window wide open)."""
    return orifice_resistance(opening, area_m2 or WINDOW_AREA_M2)


# --- a main fan -----------------------------------------------------------------------
@dataclass
class FanSpec:
    rated_flow: float          # m3/s
    rated_pressure: float      # Pa
    rated_power: float         # kW, motor
    rated_current: float       # A
    curve: list[tuple[float, float]]   # (m3/s, Pa) at rated speed, flow rising
    efficiency: float
    ramp_s: float              # VFD: 0 -> 100 % speed

    def __post_init__(self) -> None:
        arr = np.asarray(self.curve, dtype=float)
        self._q, self._p = arr[:, 0], arr[:, 1]
        self._tail = float((self._p[-1] - self._p[-2]) / (self._q[-1] - self._q[-2]))

    def curve_at(self, q: float) -> tuple[float, float]:
        """(pressure, slope) of the rated-speed curve at flow ``q``: flat below its first
        point, straight on past its last (the curve falls through zero: free delivery)."""
        if q <= self._q[0]:
            return float(self._p[0]), 0.0
        if q >= self._q[-1]:
            return float(self._p[-1] + self._tail * (q - self._q[-1])), self._tail
        k = int(np.searchsorted(self._q, q)) - 1
        slope = float((self._p[k + 1] - self._p[k]) / (self._q[k + 1] - self._q[k]))
        return float(self._p[k] + slope * (q - self._q[k])), slope

    def pressure(self, q: float, n: float, reversed_: bool) -> tuple[float, float]:
        """(pressure along the branch, d pressure / d flow) at flow ``q`` and speed ``n``."""
        if n <= 1e-6:
            return 0.0, 0.0
        if not reversed_:
            p, s = self.curve_at(q / n)
            return n * n * p, n * s
        p, s = self.curve_at(-q / (n * REVERSE_FLOW))
        return -REVERSE_PRESSURE * n * n * p, REVERSE_PRESSURE * n * s / REVERSE_FLOW


@dataclass
class FanState:
    # driven by the PLC
    drive_on: bool = False     # the VFD's output: the motor is powered
    speed_sp: float = 0.0      # fraction of rated speed the drive ramps to
    reverse: bool = False      # direction the drive turns the motor (changed at rest)
    # the plant's own
    speed: float = 0.0         # fraction of rated speed (always >= 0)
    turning_reversed: bool = False
    flow: float = 0.0          # m3/s along its branch
    pressure: float = 0.0      # Pa, fan static pressure (negative reversed)
    power: float = 0.0         # kW
    current: float = 0.0       # A
    voltage: float = SUPPLY_KV
    energy: float = 0.0        # kWh
    run_hours: float = 0.0
    starts: int = 0
    bearing_c: float = AMBIENT_C
    vibration: float = 0.0     # mm/s
    vib_excess: float = 0.0    # mm/s the damaged bearing adds (fault injection)
    vfd_fault: bool = False    # the drive reports a fault (fault injection)
    was_on: bool = False       # the drive's output a step ago: a start is its rising edge


def step_fan(f: FanState, s: FanSpec, dt: float) -> None:
    """The drive's ramp or the coast-down; counters."""
    if f.drive_on and not f.was_on:
        f.starts += 1
    f.was_on = f.drive_on
    if f.drive_on:
        if f.speed <= 1e-6:
            f.turning_reversed = f.reverse       # the direction is taken at rest
        rate = dt / s.ramp_s
        target = f.speed_sp if f.turning_reversed == f.reverse else 0.0
        f.speed = min(target, f.speed + rate) if target > f.speed else max(target,
                                                                             f.speed - rate)
        f.run_hours += dt / 3600.0
    else:
        f.speed = max(0.0, f.speed - dt * (f.speed ** 2 / COAST_DRAG_S
                                           + 1.0 / COAST_FRICTION_S))


def fan_outputs(f: FanState, s: FanSpec, rng: np.random.Generator, dt: float) -> None:
    """Pressure, power, current, temperatures and vibration from the speed and flow."""
    n = f.speed
    f.pressure = s.pressure(f.flow, n, f.turning_reversed)[0]
    if n > 1e-6:
        q = abs(f.flow) / (n * s.rated_flow)
        eff = s.efficiency * max(2.0 * q - q * q, 0.12) * (0.6 if f.turning_reversed else 1.0)
        air_kw = max(f.pressure * f.flow, 0.0) / 1000.0
        shaft = max(air_kw / eff, 0.15 * s.rated_power * n ** 3)
    else:
        shaft = 0.0
    f.power = shaft / MOTOR_EFF if f.drive_on else 0.0
    f.energy += f.power * dt / 3600.0
    load = f.power / s.rated_power
    f.voltage = SUPPLY_KV * (1.0 - 0.02 * load)
    if f.drive_on:
        f.current = 0.06 * s.rated_current + f.power * 1000.0 / (
            math.sqrt(3) * f.voltage * 1000.0 * POWER_FACTOR)
    else:
        f.current = 0.0
    target = AMBIENT_C + 45.0 * min(shaft / s.rated_power, 1.5) + 10.0 * n
    f.bearing_c += (target - f.bearing_c) * min(1.0, dt / BEARING_TAU_S)
    f.vibration = max(0.0, 0.3 * (n > 0.01) + 2.4 * n * n + f.vib_excess
                      + 0.04 * float(rng.standard_normal()))


# --- dampers, windows, doors: actuators that travel --------------------------------------
@dataclass
class Travel:
    """An actuator travelling to ``target`` (0 shut .. 1 open) at ``travel_s`` a full
    stroke; ``stuck`` holds it where it is."""

    travel_s: float
    position: float = 0.0
    target: float = 0.0        # driven by the PLC
    stuck: bool = False

    def step(self, dt: float) -> None:
        if self.stuck:
            return
        rate = dt / self.travel_s
        if self.target > self.position:
            self.position = min(self.target, self.position + rate)
        else:
            self.position = max(self.target, self.position - rate)

    @property
    def opened(self) -> bool:
        return self.position >= 0.995

    @property
    def closed(self) -> bool:
        return self.position <= 0.005


@dataclass
class Door(Travel):
    """An air door. ``obstacle``: something stands in its way (a fault injection): the
    door's safety edge reports it while the door moves (the PLC reverses it)."""

    obstacle: bool = False


# --- the airways ----------------------------------------------------------------------------
@dataclass
class Airway:
    name: str
    start: str
    end: str
    resistance: float          # N s2/m8, the airway with its dampers and window open
    fan: int | None = None     # index of the main fan in it
    window: int | None = None  # index of the regulating window in it
    fixed: float | None = None  # m3/s held (an ideal regulator or booster)
    natural: float = 0.0       # Pa, start -> end
    area: float | None = None  # m2


class AirNetwork:
    """The branches, a cycle basis of them and the loop flows."""

    def __init__(self, branches: list[Airway], root: str, inertia_s: float,
                 q_ref: float) -> None:
        self.branches = branches
        self.index = {b.name: k for k, b in enumerate(branches)}
        nodes = list(dict.fromkeys([root] + [n for b in branches for n in (b.start, b.end)]))
        self.nodes = nodes
        self.root = root
        self.C, self.tree = _cycle_basis(branches, nodes, root)
        r_ref = max(max((b.resistance for b in branches), default=0.0), 1e-6)
        # inertance: the air in a branch follows a step of pressure with a time constant
        # of about ``inertia_s`` at the reference flow (I = tau * dh/dQ = tau * 2 R Q)
        self.inertia = np.array([inertia_s * 2.0 * q_ref * max(b.resistance, 0.01 * r_ref)
                                 for b in branches])
        self.q = np.zeros(self.C.shape[0])          # loop flows
        self.flow = np.zeros(len(branches))         # branch flows
        self.dflow = np.zeros(len(branches))        # their rate of change, last step
        self.reg = np.zeros(len(branches))          # a fixed branch's regulator (Pa)
        self.q_floor = 0.01 * q_ref

    def step(self, dt: float, resistance: np.ndarray, source: np.ndarray,
             slope: np.ndarray) -> None:
        """One linearly implicit Euler step: ``source`` the fans' and natural pressures
        along each branch, ``slope`` their derivative with the branch's flow."""
        Q = self.flow
        kp = np.zeros(len(Q))
        for k, b in enumerate(self.branches):
            if b.fixed is not None:
                kp[k] = 20.0 * 2.0 * max(b.resistance, 1e-3) * b.fixed
                self.reg[k] += dt * kp[k] / 5.0 * (b.fixed - Q[k])
        fixed_push = np.array([self.reg[k] + kp[k] * (b.fixed - Q[k]) if b.fixed is not None
                               else 0.0 for k, b in enumerate(self.branches)])
        h = source + fixed_push - resistance * Q * np.abs(Q)
        jac = slope - kp - 2.0 * resistance * np.maximum(np.abs(Q), self.q_floor)
        C = self.C
        if C.shape[0] == 0:
            self.dflow[:] = 0.0
            return
        A = (C * self.inertia) @ C.T - dt * (C * jac) @ C.T
        dq = np.linalg.solve(A, dt * (C @ h))
        self.q = self.q + dq
        new = C.T @ self.q
        self.dflow = (new - Q) / dt
        self.flow = new

    def pressures(self, resistance: np.ndarray, source: np.ndarray) -> dict[str, float]:
        """Each junction's pressure against the root (the surface), Pa, along the tree:
        ``p_end = p_start + source - R Q|Q| - I dQ/dt`` per branch."""
        Q = self.flow
        rise = source - resistance * Q * np.abs(Q) - self.inertia * self.dflow
        p = {self.root: 0.0}
        for node, k, sign in self.tree:            # in BFS order from the root
            b = self.branches[k]
            parent = b.start if sign > 0 else b.end
            p[node] = p.get(parent, 0.0) + sign * (rise[k] + self.reg[k])
        return p


def _cycle_basis(branches: list[Airway], nodes: list[str], root: str
                 ) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Fundamental loops of a spanning tree (one per chord), as rows of +1/-1/0 over the
    branches, and the tree as (node, branch to its parent, +1 when the branch runs from
    the parent to the node) in BFS order from ``root``."""
    adj: dict[str, list[tuple[int, str]]] = {n: [] for n in nodes}
    for k, b in enumerate(branches):
        adj[b.start].append((k, b.end))
        adj[b.end].append((k, b.start))
    parent: dict[str, tuple[int, int] | None] = {}
    order: list[tuple[str, int, int]] = []
    for start in nodes:                      # every component, the root's first
        if start in parent:
            continue
        parent[start] = None
        todo = deque([start])
        while todo:
            u = todo.popleft()
            for k, v in adj[u]:
                if v not in parent:
                    sign = 1 if branches[k].start == u else -1
                    parent[v] = (k, sign)
                    order.append((v, k, sign))
                    todo.append(v)
    tree = {k for _, k, _ in order}

    def up(n: str) -> dict[int, int]:
        """Branch -> direction of travel (+1 along it) from ``n`` up to its tree's root."""
        out: dict[int, int] = {}
        while (pk := parent[n]) is not None:
            k, sign = pk
            out[k] = -sign                   # child -> parent is against a parent->child
            b = branches[k]
            n = b.start if sign > 0 else b.end
        return out

    rows = []
    for k, b in enumerate(branches):
        if k in tree:
            continue
        row = np.zeros(len(branches))
        row[k] = 1.0                         # along the chord: start -> end
        for j, d in up(b.end).items():       # end -> root
            row[j] += d
        for j, d in up(b.start).items():     # root -> start
            row[j] -= d
        rows.append(row)
    return (np.array(rows) if rows else np.zeros((0, len(branches)))), order


# --- the fan station and its mine -----------------------------------------------------------
@dataclass
class AirSensor:
    """An air station in a branch (``branch`` None: the fans' total), with a little noise;
    it can be stuck (all readings frozen) or its airflow drift."""

    branch: int | None
    area: float | None
    temperature: float
    humidity: float
    stuck_at: tuple[float, float, float, float, float] | None = None
    drift_per_h: float = 0.0     # m3/s an hour
    offset: float = 0.0          # m3/s


@dataclass
class StationSpec:
    fans: list[FanSpec]
    damper_travel_s: list[tuple[float, float]]      # per fan: inlet, outlet
    branches: list[Airway]
    root: str
    windows: list[tuple[float, float | None]]      # travel_s, area of its airway
    doors: list[tuple[float, float]]               # travel_s, warn_s (warn_s: the PLC's)
    sensors: list[AirSensor]
    inertia_s: float = 0.5
    seed: int = 1


class VentilationPlant:
    """Fans, dampers, airways, windows, doors and air sensors stepped together."""

    def __init__(self, spec: StationSpec) -> None:
        self.spec = spec
        self.fans = [FanState() for _ in spec.fans]
        self.dampers = [(Travel(i), Travel(o)) for i, o in spec.damper_travel_s]
        self.windows = [Travel(t, position=1.0, target=1.0) for t, _ in spec.windows]
        self.doors = [Door(t) for t, _ in spec.doors]
        self.sensors = spec.sensors
        self.net = AirNetwork(spec.branches, spec.root, spec.inertia_s,
                              spec.fans[0].rated_flow)
        self.fan_branch = [next(k for k, b in enumerate(spec.branches) if b.fan == i)
                           for i in range(len(spec.fans))]
        self.rng = np.random.default_rng(spec.seed + 2000)
        self._r = np.array([b.resistance for b in spec.branches])
        self._src = np.zeros(len(spec.branches))

    def resistances(self) -> np.ndarray:
        r = self._r.copy()
        for k, b in enumerate(self.spec.branches):
            if b.fan is not None:
                inlet, outlet = self.dampers[b.fan]
                r[k] += orifice_resistance(inlet.position, DUCT_AREA_M2) + \
                    orifice_resistance(outlet.position, DUCT_AREA_M2)
            if b.window is not None:
                r[k] += window_resistance(self.windows[b.window].position, b.area)
        return r

    def step(self, dt: float) -> None:
        """Advance ``dt`` seconds in sub-steps no longer than MAX_STEP_S."""
        n = max(1, math.ceil(dt / MAX_STEP_S))
        h = dt / n
        for _ in range(n):
            self._substep(h)
        for s in self.sensors:
            s.offset += s.drift_per_h * dt / 3600.0

    def _substep(self, dt: float) -> None:
        for inlet, outlet in self.dampers:
            inlet.step(dt)
            outlet.step(dt)
        for w in self.windows:
            w.step(dt)
        for d in self.doors:
            d.step(dt)
        for f, s in zip(self.fans, self.spec.fans, strict=True):
            step_fan(f, s, dt)
        src = np.array([b.natural for b in self.spec.branches])
        slope = np.zeros(len(src))
        for i, (f, s) in enumerate(zip(self.fans, self.spec.fans, strict=True)):
            k = self.fan_branch[i]
            p, dp = s.pressure(float(self.net.flow[k]), f.speed, f.turning_reversed)
            src[k] += p
            slope[k] += dp
        r = self.resistances()
        self.net.step(dt, r, src, slope)
        self._src = src
        for i, (f, s) in enumerate(zip(self.fans, self.spec.fans, strict=True)):
            f.flow = float(self.net.flow[self.fan_branch[i]])
            fan_outputs(f, s, self.rng, dt)

    # --- what the instruments see ---------------------------------------------------------
    def total_airflow(self) -> float:
        """m3/s the fans draw from the mine (a stopped fan's short circuit counts against)."""
        return float(sum(self.net.flow[k] for k in self.fan_branch))

    def branch_airflow(self, branch: int | None) -> float:
        return self.total_airflow() if branch is None else float(self.net.flow[branch])

    def branch_pressure(self, branch: int | None) -> float:
        """Pa against the surface at the branch's downstream junction (its end; the fan
        drift for the fans' total): negative on the suction side of an exhausting fan."""
        p = self.net.pressures(self.resistances(), self._src)
        if branch is None:
            b = self.spec.branches[self.fan_branch[0]]
            return p.get(b.start, 0.0)
        return p.get(self.spec.branches[branch].end, 0.0)

    def read_sensor(self, j: int) -> tuple[float, float, float, float, float]:
        """(airflow m3/s, velocity m/s or nan, pressure Pa, temperature degC, RH %)."""
        s = self.sensors[j]
        if s.stuck_at is not None:
            return s.stuck_at
        g = self.rng.standard_normal(4)
        q = self.branch_airflow(s.branch)
        q_read = q * (1.0 + 0.002 * float(g[0])) + s.offset
        v = q_read / s.area if s.area else math.nan
        p = self.branch_pressure(s.branch) + 2.0 * float(g[1])
        return (q_read, v, p, s.temperature + 0.05 * float(g[2]),
                min(100.0, s.humidity + 0.3 * float(g[3])))


# --- a face's auxiliary fans -----------------------------------------------------------------
AUX_RUNUP_S = 5.0          # direct-on-line start
AUX_COAST_S = 20.0
AUX_KV = 0.66              # the face's 660 V supply
AUX_INRUSH = 6.0


@dataclass
class AuxSpec:
    rated_flow: float          # m3/s
    rated_power: float         # kW

    @property
    def rated_current(self) -> float:
        return self.rated_power * 1000.0 / (math.sqrt(3) * AUX_KV * 1000.0 * 0.85 * 0.92)


@dataclass
class AuxFanState:
    motor_on: bool = False     # driven by the PLC
    speed: float = 0.0
    since_start: float = 0.0
    flow: float = 0.0          # m3/s to the face
    current: float = 0.0
    run_hours: float = 0.0
    starts: int = 0
    overload: bool = False     # the motor's overload relay (fault injection)


@dataclass
class AuxPlant:
    """A working face's two auxiliary fans on one duct to the face."""

    specs: list[AuxSpec]
    fans: list[AuxFanState] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.fans:
            self.fans = [AuxFanState() for _ in self.specs]

    def step(self, dt: float) -> None:
        for f, s in zip(self.fans, self.specs, strict=True):
            if f.motor_on:
                if f.speed == 0.0:
                    f.starts += 1
                    f.since_start = 0.0
                f.speed = min(1.0, f.speed + dt / AUX_RUNUP_S)
                f.since_start += dt
                f.run_hours += dt / 3600.0
            else:
                f.speed = max(0.0, f.speed - dt / AUX_COAST_S)
            f.flow = s.rated_flow * f.speed
            starting = f.motor_on and f.since_start < 0.4 * AUX_RUNUP_S
            f.current = 0.0 if not f.motor_on else s.rated_current * (
                AUX_INRUSH if starting else 0.3 + 0.6 * f.speed ** 3)

    def face_airflow(self) -> float:
        return sum(f.flow for f in self.fans)
