"""The power system's network in pandapower: load flow for normal operation and IEC 60909
short-circuit currents for faults, so that no figure a relay measures is hand-set.

The config's network is laid out as pandapower elements:

* a supply is an ``ext_grid`` (its short-circuit power and R/X, maximum and minimum) on a
  bus of its own when an incomer breaker connects it, else on the bus it enters;
* a bus is a bus at its ``voltage_kv``; a cable a line from its parameters;
* a load is a load (``p_kw`` at its ``pf``), on a bus of its own behind its breaker when a
  breaker feeds it;
* a breaker is a switch: a line switch at its end of the cable it feeds (a feeder), else a
  bus-bus switch (incomer, load bay, bus tie) given a tiny impedance (``Z_SWITCH_OHM``) so
  that pandapower reports the current through it instead of fusing the two buses.

Results are cached per switching state (which breakers conduct, which supplies are live):
a state's load flow is computed once (measurement noise is put on top by the caller); a
short circuit once per (state, place, type). A fault along a cable is computed on a
second network with a bus inserted at that fraction of the cable (one per place, kept).
A section no supply reaches gets no current at all, without asking pandapower.

pandapower is imported when the first result is asked for, so building a HIL unit (``--list-
tags``, a register map) does not load it.
"""

from __future__ import annotations

import cmath
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fixedsite.hil.power.graph import Feed, Graph, NetworkError, State
from fixedsite.sequences.power.config import BreakerEq, PowerSystem

__all__ = ["Fault", "Feed", "Flow", "Graph", "Network", "NetworkError", "ShortCircuit",
           "State"]

# calc_sc's branch results are "beta" and it says so at every call
logging.getLogger("pandapower.shortcircuit.calc_sc").setLevel(logging.ERROR)

Z_SWITCH_OHM = 1e-4          # a closed breaker's impedance: 0.1 mOhm, 0.01 % of a short cable
MIN_FRACTION = 0.001         # a fault "at" a cable's end: 0.1 % of its length in
CACHE_SIZE = 4096
A = cmath.rect(1.0, 2 * math.pi / 3)      # the 120 degree operator
FAULT_TYPES = ("3ph", "2ph")
C_MAX = 1.1                  # IEC 60909's voltage factor for maximum currents, medium voltage
Phasors = tuple[complex, complex, complex]
ZERO3: Phasors = (0j, 0j, 0j)


@dataclass(frozen=True)
class Fault:
    """A fault at a node: a bus, a load, a supply, or a cable at ``fraction`` of its length
    from its ``from_bus``."""

    node: str
    kind: str = "3ph"            # "3ph" | "2ph"
    fraction: float = 0.5


@dataclass(frozen=True)
class BranchFlow:
    """A breaker in the load flow, oriented in the direction it is fed (supply to load)."""

    i_a: float
    p_kw: float
    q_kvar: float
    i: complex                   # phase-a current phasor, A, in that direction

    @property
    def pf(self) -> float:
        s = math.hypot(self.p_kw, self.q_kvar)
        return abs(self.p_kw) / s if s > 1e-9 else 1.0


NO_FLOW = BranchFlow(0.0, 0.0, 0.0, 0j)


@dataclass(frozen=True)
class Flow:
    """One state's load flow: every breaker, and the voltage of every node with a bus of
    its own (phase-a phase-to-earth phasor, kV); ``energised`` the nodes a supply reaches;
    ``upstream`` the node each conducting breaker is fed from."""

    breakers: Mapping[str, BranchFlow]
    voltages: Mapping[str, complex]
    energised: frozenset[str]
    upstream: Mapping[str, str]

    def u_ll_kv(self, node: str) -> float:
        return abs(self.voltages.get(node, 0j)) * math.sqrt(3)


@dataclass(frozen=True)
class ShortCircuit:
    """A fault's initial symmetrical short-circuit current (IEC 60909, maximum case): at the
    fault (``ikss_a``), through every conducting breaker (phases a, b, c, A, oriented as
    in ``Flow``), and each energised node's phase voltages during it as ratios to the
    phase-a voltage before it (IEC 60909's equivalent source, c Un, is the "before"; a
    relay multiplies by what the load flow gave)."""

    fault: Fault
    ikss_a: float
    breakers: Mapping[str, Phasors]
    voltages: Mapping[str, Phasors]

    def amps(self, breaker: str) -> float:
        """The largest phase current through ``breaker``: what its relay measures."""
        return max((abs(x) for x in self.breakers.get(breaker, ZERO3)), default=0.0)


class _Lru(OrderedDict[Any, Any]):
    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        if len(self) > CACHE_SIZE:
            self.popitem(last=False)
        return value

    def take(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


@dataclass
class _Pp:
    """One pandapower network and where each config element is in it."""

    net: Any
    bus: dict[str, int]                     # node -> pandapower bus (buses, loads, sources)
    switch: dict[str, int]                  # breaker -> switch index
    line_end: dict[str, tuple[int, str]]    # feeder breaker -> (line index, "from"|"to")
    ext_grid: dict[str, int]                # source -> ext_grid index
    fault_bus: int | None = None            # the bus inserted along a cable
    halves: tuple[int, int] | None = None   # and the cable's two halves


class Network:
    """The config's network with its load flow and short circuits, cached by state."""

    def __init__(self, system: PowerSystem) -> None:
        self.system = system
        self.graph = Graph(system)
        self._nets: dict[str | None, _Pp] = {}
        self._flows = _Lru()
        self._scs = _Lru()
        self._feeds = _Lru()
        self.computed = {"load_flow": 0, "short_circuit": 0}   # pandapower runs, for a bench

    # ---- the state ---------------------------------------------------------------------
    def normal(self) -> State:
        """Every breaker as normally run, every supply live."""
        closed = frozenset(b for b, eq in self.system.equipment.items()
                           if isinstance(eq, BreakerEq) and not eq.normally_open)
        return State(closed, frozenset(self.system.network.sources))

    def feed(self, state: State) -> Feed:
        got = self._feeds.take(state)
        return got if got is not None else self._feeds.put(state, self.graph.feed(state))

    def energised(self, state: State) -> frozenset[str]:
        return self.feed(state).energised

    # ---- pandapower's networks ---------------------------------------------------------
    def _pp(self, split: tuple[str, float] | None = None) -> _Pp:
        """The network, or (``split``: cable, fraction) the one with a bus along that cable
        (one per cable, its two halves' lengths set for the fraction)."""
        line = split[0] if split is not None else None
        got = self._nets.get(line)
        if got is None:
            got = self._nets[line] = self._build(split)
        if split is not None and got.halves is not None:
            length = self.system.network.lines[split[0]].length_km
            got.net.line.at[got.halves[0], "length_km"] = length * split[1]
            got.net.line.at[got.halves[1], "length_km"] = length * (1 - split[1])
        return got

    def _build(self, split: tuple[str, float] | None) -> _Pp:
        import pandapower as pp

        nw = self.system.network
        net = pp.create_empty_network(f_hz=nw.frequency_hz)
        fed = {feeds for _, feeds in self.graph.breakers.values()}
        bus: dict[str, int] = {}
        for bid, b in nw.buses.items():
            bus[bid] = pp.create_bus(net, vn_kv=b.voltage_kv, name=bid)
        ext: dict[str, int] = {}
        for sid, s in nw.sources.items():
            vn = nw.buses[s.bus].voltage_kv
            bus[sid] = pp.create_bus(net, vn_kv=vn, name=sid) if sid in fed else bus[s.bus]
            ext[sid] = pp.create_ext_grid(net, bus[sid], vm_pu=s.voltage_kv / vn,
                                          s_sc_max_mva=s.s_sc_max_mva,
                                          s_sc_min_mva=s.s_sc_min_mva, rx_max=s.rx_max,
                                          rx_min=s.rx_min, name=sid)
        for lid, ld in nw.loads.items():
            if lid in fed:
                bus[lid] = pp.create_bus(net, vn_kv=nw.buses[ld.bus].voltage_kv, name=lid)
            else:
                bus[lid] = bus[ld.bus]
            q = ld.p_kw * math.tan(math.acos(ld.pf))
            pp.create_load(net, bus[lid], p_mw=ld.p_kw / 1000, q_mvar=q / 1000, name=lid)
        ends: dict[tuple[str, str], tuple[int, str]] = {}
        fault_bus, halves = None, None
        for lid, ln in nw.lines.items():
            par = {"r_ohm_per_km": ln.r_ohm_per_km, "x_ohm_per_km": ln.x_ohm_per_km,
                   "c_nf_per_km": ln.c_nf_per_km, "max_i_ka": ln.max_i_a / 1000}
            if split is not None and split[0] == lid:
                f = split[1]
                fault_bus = pp.create_bus(net, vn_kv=nw.buses[ln.from_bus].voltage_kv,
                                          name=f"{lid}@{f:g}")
                a = pp.create_line_from_parameters(net, bus[ln.from_bus], fault_bus,
                                                   length_km=ln.length_km * f, name=lid,
                                                   **par)
                b = pp.create_line_from_parameters(net, fault_bus, bus[ln.to_bus],
                                                   length_km=ln.length_km * (1 - f),
                                                   name=lid, **par)
                ends[(lid, ln.from_bus)], ends[(lid, ln.to_bus)] = (a, "from"), (b, "to")
                halves = (a, b)
            else:
                i = pp.create_line_from_parameters(net, bus[ln.from_bus], bus[ln.to_bus],
                                                   length_km=ln.length_km, name=lid, **par)
                ends[(lid, ln.from_bus)], ends[(lid, ln.to_bus)] = (i, "from"), (i, "to")
        switch: dict[str, int] = {}
        line_end: dict[str, tuple[int, str]] = {}
        for brk, (b, feeds) in self.graph.breakers.items():
            if self.graph.kind[feeds] == "line":
                line_end[brk] = ends[(feeds, b)]
                switch[brk] = pp.create_switch(net, bus[b], line_end[brk][0], et="l",
                                               closed=True, name=brk)
            else:
                switch[brk] = pp.create_switch(net, bus[b], bus[feeds], et="b", closed=True,
                                               name=brk, z_ohm=Z_SWITCH_OHM)
        return _Pp(net, bus, switch, line_end, ext, fault_bus, halves)

    def _apply(self, p: _Pp, state: State) -> None:
        net = p.net
        for brk, i in p.switch.items():
            net.switch.at[i, "closed"] = brk in state.closed
        for sid, i in p.ext_grid.items():
            net.ext_grid.at[i, "in_service"] = sid in state.live

    # ---- load flow -----------------------------------------------------------------------
    def flow(self, state: State) -> Flow:
        """The load flow of ``state`` (cached)."""
        got = self._flows.take(state)
        return got if got is not None else self._flows.put(state, self._flow(state))

    def _flow(self, state: State) -> Flow:
        import pandapower as pp

        fd = self.feed(state)
        energised, upstream = fd.energised, fd.upstream
        if not state.live & set(self.graph.sources):
            return Flow({b: NO_FLOW for b in self.graph.breakers}, {}, energised, upstream)
        p = self._pp()
        self._apply(p, state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pp.runpp(p.net, numba=False, calculate_voltage_angles=True)
        self.computed["load_flow"] += 1
        net = p.net
        volts: dict[str, complex] = {}
        for node, i in p.bus.items():
            vm, va = net.res_bus.at[i, "vm_pu"], net.res_bus.at[i, "va_degree"]
            if node in energised and math.isfinite(vm):
                vn = net.bus.at[i, "vn_kv"]
                volts[node] = cmath.rect(vm * vn / math.sqrt(3), math.radians(va))
        out: dict[str, BranchFlow] = {}
        for brk, (bus, _) in self.graph.breakers.items():
            if brk not in state.closed or bus not in volts:
                out[brk] = NO_FLOW
                continue
            if brk in p.line_end:
                li, side = p.line_end[brk]
                i_ka = net.res_line.at[li, f"i_{side}_ka"]
                s = complex(net.res_line.at[li, f"p_{side}_mw"],
                            net.res_line.at[li, f"q_{side}_mvar"])
            else:
                si = p.switch[brk]
                i_ka = net.res_switch.at[si, "i_ka"]
                s = complex(net.res_switch.at[si, "p_from_mw"],
                            net.res_switch.at[si, "q_from_mvar"])
            if not (math.isfinite(i_ka) and math.isfinite(s.real) and math.isfinite(s.imag)):
                out[brk] = NO_FLOW
                continue
            sign = -1.0 if upstream.get(brk) not in (None, bus) else 1.0
            s *= sign * 1000.0                                    # kVA, supply direction
            i_ph = (s / (3 * volts[bus])).conjugate()             # A (kVA / kV)
            out[brk] = BranchFlow(i_ka * 1000.0, s.real, s.imag,
                                  cmath.rect(i_ka * 1000.0, cmath.phase(i_ph)))
        return Flow(out, volts, energised, upstream)

    # ---- short circuit ------------------------------------------------------------------
    def key(self, fault: Fault) -> Fault:
        """The fault as the cache and pandapower take it: a known node and type, a fraction
        only along a cable (kept off its very ends)."""
        if fault.node not in self.graph.kind:
            raise NetworkError(f"no node {fault.node!r} in the network")
        if fault.kind not in FAULT_TYPES:
            raise NetworkError(f"fault type {fault.kind!r}: one of {', '.join(FAULT_TYPES)}")
        if self.graph.kind[fault.node] != "line":
            return Fault(fault.node, fault.kind, 0.0)
        f = min(max(round(float(fault.fraction), 3), MIN_FRACTION), 1 - MIN_FRACTION)
        return Fault(fault.node, fault.kind, f)

    def short_circuit(self, state: State, fault: Fault) -> ShortCircuit:
        """IEC 60909 (maximum case) for ``fault`` in ``state`` (cached); a fault no live
        supply reaches carries no current."""
        fault = self.key(fault)
        k = (state, fault)
        got = self._scs.take(k)
        return got if got is not None else self._scs.put(k, self._short_circuit(state, fault))

    def _short_circuit(self, state: State, fault: Fault) -> ShortCircuit:
        fd = self.feed(state)
        energised, upstream = fd.energised, fd.upstream
        if fault.node not in energised:
            return ShortCircuit(fault, 0.0, {}, {})
        if fault.kind == "2ph":
            return self._two_phase(state, fault, upstream)
        return self._three_phase(state, fault, upstream)

    def _calc(self, state: State, fault: Fault, kind: str) -> _Pp:
        import pandapower.shortcircuit as sc

        line = self.graph.kind[fault.node] == "line"
        p = self._pp((fault.node, fault.fraction) if line else None)
        self._apply(p, state)
        at = p.fault_bus if line else p.bus[fault.node]
        with warnings.catch_warnings():          # numpy on the rows of open branches
            warnings.simplefilter("ignore", RuntimeWarning)
            sc.calc_sc(p.net, bus=at, fault=kind, case="max", branch_results=True)
        self.computed["short_circuit"] += 1
        return p

    def _magnitudes(self, p: _Pp, state: State) -> dict[str, float]:
        """A through each conducting breaker, from the last calc_sc on ``p``."""
        net, out = p.net, {}
        for brk in self.graph.breakers:
            if brk not in state.closed:
                continue
            if brk in p.line_end:
                li, side = p.line_end[brk]
                x = net.res_line_sc.at[li, f"ikss_{side}_ka"]
            else:
                x = net.res_switch_sc.at[p.switch[brk], "ikss_ka"]
            out[brk] = float(x) * 1000.0 if math.isfinite(x) else 0.0
        return out

    def _three_phase(self, state: State, fault: Fault, upstream: Mapping[str, str]
                     ) -> ShortCircuit:
        from pandapower.pypower.idx_brch import BR_R, BR_X, F_BUS, T_BUS
        from pandapower.pypower.idx_brch_sc import (
            IKSS_ANGLE_F,
            VKSS_ANGLE_F,
            VKSS_ANGLE_T,
            VKSS_MAGN_F,
            VKSS_MAGN_T,
        )

        p = self._calc(state, fault, "3ph")
        net = p.net
        ikss = self._fault_ka(p, fault) * 1000.0
        amps = self._magnitudes(p, state)
        ppc = net._ppc
        # the switches' angles: pandapower keeps them in its branch table only, where a
        # switch is the least impedance between its two buses (rows of isolated parts of
        # the network are left out, so they are found by their buses, not their places)
        bus_lookup = net._pd2ppc_lookups["bus"]
        rows: dict[tuple[int, int], tuple[float, int]] = {}
        for k, row in enumerate(ppc["branch"]):
            pair = (int(row[F_BUS].real), int(row[T_BUS].real))
            z = abs(complex(row[BR_R].real, row[BR_X].real))
            if pair not in rows or z < rows[pair][0]:
                rows[pair] = (z, k)
        angle: dict[int, float] = {}
        for brk, si in p.switch.items():
            if brk in p.line_end or brk not in state.closed:
                continue
            fb = int(bus_lookup[net.switch.at[si, "bus"]])
            tb = int(bus_lookup[net.switch.at[si, "element"]])
            if (fb, tb) in rows:
                angle[si] = float(ppc["branch"][rows[(fb, tb)][1], IKSS_ANGLE_F].real)
            elif (tb, fb) in rows:
                angle[si] = float(ppc["branch"][rows[(tb, fb)][1], IKSS_ANGLE_F].real) + 180
        # every bus's voltage during the fault, from the ends of the branches at it
        v_ppc: dict[int, complex] = {}
        for row in ppc["branch"]:
            for bcol, mcol, acol in ((F_BUS, VKSS_MAGN_F, VKSS_ANGLE_F),
                                     (T_BUS, VKSS_MAGN_T, VKSS_ANGLE_T)):
                m, a = float(row[mcol].real), float(row[acol].real)
                if math.isfinite(m) and math.isfinite(a):
                    v_ppc.setdefault(int(row[bcol].real), cmath.rect(m, math.radians(a)))
        energised = self.energised(state)
        volts: dict[str, Phasors] = {}
        for node, i in p.bus.items():
            if node not in energised:
                continue
            v = v_ppc.get(int(bus_lookup[i]), 0j) / C_MAX       # c Un before the fault
            volts[node] = (v, v * A * A, v * A)
        out: dict[str, Phasors] = {}
        for brk, i_a in amps.items():
            if brk in p.line_end:
                li, side = p.line_end[brk]
                deg = float(net.res_line_sc.at[li, f"ikss_{side}_degree"])
            else:
                deg = angle.get(p.switch[brk], 0.0)
            if not math.isfinite(deg):
                deg = 0.0
            if upstream.get(brk) not in (None, self.graph.breakers[brk][0]):
                deg += 180.0
            ia = cmath.rect(i_a, math.radians(deg))
            out[brk] = (ia, ia * A * A, ia * A)
        return ShortCircuit(fault, ikss, out, volts)

    def _fault_ka(self, p: _Pp, fault: Fault) -> float:
        at = p.fault_bus if p.fault_bus is not None else p.bus[fault.node]
        x = float(p.net.res_bus_sc.at[at, "ikss_ka"])
        return x if math.isfinite(x) else 0.0

    def _two_phase(self, state: State, fault: Fault, upstream: Mapping[str, str]
                   ) -> ShortCircuit:
        """A b-c fault: the magnitudes are pandapower's two-phase currents; the phases and
        the voltages follow from the three-phase result by symmetrical components
        (I1 = -I2 = I3ph / 2, V1 = E (1 - d / 2), V2 = E d / 2, d = 1 - V3ph / E)."""
        three = self.short_circuit(state, Fault(fault.node, "3ph", fault.fraction))
        p = self._calc(state, fault, "2ph")
        ikss = self._fault_ka(p, fault) * 1000.0
        amps = self._magnitudes(p, state)
        out: dict[str, Phasors] = {}
        for brk, i_a in amps.items():
            ia3 = three.breakers.get(brk, ZERO3)[0]
            unit = ia3 / abs(ia3) if abs(ia3) > 0 else 1 + 0j
            ib = -1j * unit * i_a
            out[brk] = (0j, ib, -ib)
        volts: dict[str, Phasors] = {}
        for node, (v3, _, _) in three.voltages.items():
            d = 1 - v3
            v1, v2 = 1 - d / 2, d / 2
            volts[node] = (v1 + v2, A * A * v1 + A * v2, A * v1 + A * A * v2)
        return ShortCircuit(fault, ikss, out, volts)

    # ---- what protection needs -----------------------------------------------------------
    def currents(self, state: State, faults: Iterable[Fault]) -> dict[str, float]:
        """The largest phase current (A) through every conducting breaker with ``faults``
        on the network (several: the largest of each breaker's; none fed: all zero)."""
        out: dict[str, float] = {}
        for f in faults:
            sc = self.short_circuit(state, f)
            for b in sc.breakers:
                out[b] = max(out.get(b, 0.0), sc.amps(b))
        return out
