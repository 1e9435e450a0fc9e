"""The HIL power network and its protection, without sockets (issue 13, Deliver item 1).

``hil/power/network.py`` is checked against an independent pandapower model of the same
config, built here the plain way (no breakers at all: supplies on their buses, ideal
connections), so a mistake in how the HIL lays the network out (a switch at the wrong
end, a load on the wrong bus, the tiny switch impedance) shows as a difference.
``hil/power/protection.py`` is played on the demo network's fault currents with settings
written here as plain dicts, as ``bench/power.py`` gives them.
"""

from __future__ import annotations

import cmath
import math
import random
import time
from pathlib import Path
from typing import Any

import pandapower as pp
import pandapower.shortcircuit as sc
import pytest

from fixedsite.config import load
from fixedsite.hil.power import layout as L
from fixedsite.hil.power import protection as P
from fixedsite.hil.power.network import Fault, Network, NetworkError, State
from fixedsite.sequences.power import profile
from fixedsite.sequences.power.config import PowerSystem

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "configs" / "power-site.toml"

# the backup stage graded 0.3 s a level from the lowest up (the demo's four levels)
BACKUP_MS = {"Q511": 300, "Q512": 300, "Q211": 300, "Q311": 300, "Q312": 300, "Q411": 300,
             "Q412": 300, "Q113": 300, "Q123": 300, "Q501": 600, "Q301": 600, "Q401": 600,
             "Q212": 900, "Q112": 900, "Q121": 900, "Q201": 1200, "Q111": 1500,
             "Q100": 1800, "Q101": 2100, "Q102": 2100}


@pytest.fixture(scope="module")
def system() -> PowerSystem:
    s = load(SITE).systems["power"]
    assert isinstance(s, PowerSystem)
    return s


@pytest.fixture(scope="module")
def net(system: PowerSystem) -> Network:
    return Network(system)


def settings(system: PowerSystem, group: dict[str, int] | None = None) -> dict[str, Any]:
    """Each relay's settings as plain dicts: pickup 300 A (500 A at the incomers, above
    their load), fast stage 100 ms blocked by the config's links in group 1, off in group
    2 where the relay has block sources; backup graded; breaker failure 150 ms."""
    out: dict[str, Any] = {}
    for b, g in BACKUP_MS.items():
        sources = [lk.source for lk in system.network.links.values() if lk.target == b]
        pickup = 500 if b in ("Q101", "Q102") else 300
        fallback = (group or {}).get(b, 1) == 2
        out[b] = {"pickup_a": pickup, "fast_enabled": not (fallback and sources)
                  and b != "Q100", "fast_delay_ms": 100, "backup_pickup_a": pickup,
                  "backup_delay_ms": g, "bf_delay_ms": 150, "sources": sources}
    return out


def links(system: PowerSystem, lost: str = "", slow: tuple[str, float] | None = None
          ) -> dict[tuple[str, str], float | None]:
    out: dict[tuple[str, str], float | None] = {}
    for lid, lk in system.network.links.items():
        lat: float | None = lk.latency_ms
        if lid == lost:
            lat = None
        elif slow and lid == slow[0]:
            lat = slow[1]
        out[(lk.source, lk.target)] = lat
    return out


def play(system: PowerSystem, net: Network, fault: Fault, seed: int = 1,
         **kw: Any) -> P.Outcome:
    state = net.normal()
    group = kw.pop("group", None)
    return P.simulate(settings(system, group), lambda c: net.currents(State(c, state.live),
                                                                       [fault]),
                      state.closed, links=kw.pop("links", links(system)),
                      opening_ms={b: system.equipment[b].opening_ms for b in BACKUP_MS},
                      seed=seed, **kw)


def independent(system: PowerSystem, split: tuple[str, float] | None = None
                ) -> tuple[Any, dict[str, int]]:
    """The normal network in pandapower without any breaker: every normally closed one
    an ideal connection, the normally open tie left out."""
    nw = system.network
    net = pp.create_empty_network(f_hz=nw.frequency_hz)
    bus = {b: pp.create_bus(net, vn_kv=x.voltage_kv) for b, x in nw.buses.items()}
    for sid, s in nw.sources.items():
        vn = nw.buses[s.bus].voltage_kv
        pp.create_ext_grid(net, bus[s.bus], vm_pu=s.voltage_kv / vn, s_sc_max_mva=s.s_sc_max_mva,
                           s_sc_min_mva=s.s_sc_min_mva, rx_max=s.rx_max, rx_min=s.rx_min,
                           name=sid)
    for lid, ln in nw.lines.items():
        par = {"r_ohm_per_km": ln.r_ohm_per_km, "x_ohm_per_km": ln.x_ohm_per_km,
               "c_nf_per_km": ln.c_nf_per_km, "max_i_ka": ln.max_i_a / 1000}
        if split and split[0] == lid:
            mid = bus[f"{lid}@"] = pp.create_bus(net, vn_kv=nw.buses[ln.from_bus].voltage_kv)
            pp.create_line_from_parameters(net, bus[ln.from_bus], mid, name=f"{lid}.a",
                                           length_km=ln.length_km * split[1], **par)
            pp.create_line_from_parameters(net, mid, bus[ln.to_bus], name=f"{lid}.b",
                                           length_km=ln.length_km * (1 - split[1]), **par)
        else:
            pp.create_line_from_parameters(net, bus[ln.from_bus], bus[ln.to_bus], name=lid,
                                           length_km=ln.length_km, **par)
    for lid, ld in nw.loads.items():
        q = ld.p_kw * math.tan(math.acos(ld.pf))
        pp.create_load(net, bus[ld.bus], p_mw=ld.p_kw / 1000, q_mvar=q / 1000, name=lid)
    return net, bus


def run_sc(net: Any, at: int, kind: str) -> float:
    """calc_sc at one bus: its initial short-circuit current, A."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sc.calc_sc(net, bus=at, fault=kind, case="max", branch_results=True)
    return float(net.res_bus_sc.at[at, "ikss_ka"]) * 1000


# --- the network against an independent pandapower run ---------------------------------------

def test_the_load_flow_of_every_breaker_agrees_with_an_independent_pandapower_run(
        system: PowerSystem, net: Network) -> None:
    ref, bus = independent(system)
    pp.runpp(ref, numba=False)
    flow = net.flow(net.normal())
    nw = system.network
    vm = {b: float(ref.res_bus.at[i, "vm_pu"]) * nw.buses[b].voltage_kv for b, i in bus.items()}
    for b, u in vm.items():
        assert flow.u_ll_kv(b) == pytest.approx(u, rel=0.01), b
    line_of = {str(n): i for i, n in ref.line.name.items()}
    load_of = {str(n): i for i, n in ref.load.name.items()}
    grid_of = {str(n): i for i, n in ref.ext_grid.name.items()}
    checked = 0
    for b, (at, feeds) in net.graph.breakers.items():
        got = flow.breakers[b]
        if system.equipment[b].normally_open:
            assert got.i_a == 0.0
            continue
        if feeds in line_of:
            li = line_of[feeds]
            side = "from" if nw.lines[feeds].from_bus == at else "to"
            want_i = float(ref.res_line.at[li, f"i_{side}_ka"]) * 1000
            p, q = (float(ref.res_line.at[li, f"p_{side}_mw"]),
                    float(ref.res_line.at[li, f"q_{side}_mvar"]))
        elif feeds in load_of:
            p, q = float(ref.res_load.at[load_of[feeds], "p_mw"]), \
                float(ref.res_load.at[load_of[feeds], "q_mvar"])
            want_i = math.hypot(p, q) / (math.sqrt(3) * vm[at]) * 1000
        else:
            g = grid_of[feeds]
            p, q = float(ref.res_ext_grid.at[g, "p_mw"]), float(ref.res_ext_grid.at[g, "q_mvar"])
            want_i = math.hypot(p, q) / (math.sqrt(3) * vm[at]) * 1000
        assert got.i_a == pytest.approx(want_i, rel=0.01), b
        assert got.p_kw == pytest.approx(abs(p) * 1000, rel=0.01), b
        assert abs(got.q_kvar) == pytest.approx(abs(q) * 1000, rel=0.01), b
        checked += 1
    assert checked == 19


@pytest.mark.parametrize("where", ["C1", "C2", "D1", "D3", "F1", "shearer1", "pumps_a",
                                   ("L_F1", 0.3), ("L_D2", 0.9)])
@pytest.mark.parametrize("kind", ["3ph", "2ph"])
def test_fault_currents_through_each_breaker_equal_pandapowers_calc_sc(
        system: PowerSystem, net: Network, where: Any, kind: str) -> None:
    node, frac = where if isinstance(where, tuple) else (where, 0.0)
    nw = system.network
    split = (node, frac) if node in nw.lines else None
    ref, bus = independent(system, split)
    at = bus[f"{node}@"] if split else bus[node if node in nw.buses else nw.loads[node].bus]
    want = run_sc(ref, at, kind)
    state = net.normal()
    got = net.short_circuit(state, Fault(node, kind, frac))
    assert got.ikss_a == pytest.approx(want, rel=0.01)
    # radial with the tie open: every breaker between the supply and the fault carries all
    # of it, every other none
    path = net.feed(state).path[node]
    assert path, node
    for b in net.graph.breakers:
        assert got.amps(b) == pytest.approx(want if b in path else 0.0, rel=0.01, abs=1.0), b


def test_voltages_during_a_fault_are_pandapowers_and_a_dead_section_gets_nothing(
        system: PowerSystem, net: Network) -> None:
    ref, bus = independent(system)
    run_sc(ref, bus["D1"], "3ph")
    li = next(i for i, n in ref.line.name.items() if n == "L_D1")
    state = net.normal()
    got = net.short_circuit(state, Fault("D1", "3ph"))
    # C1 at the cable's sending end keeps this much of its voltage (IEC 60909: c Un before)
    assert abs(got.voltages["C1"][0]) == pytest.approx(
        float(ref.res_line_sc.at[li, "vm_from_pu"]) / 1.1, rel=0.01)
    assert abs(got.voltages["D1"][0]) < 1e-6
    assert abs(got.voltages["C2"][0]) == pytest.approx(1.0, rel=1e-3)    # the other supply
    # two-phase: the faulted phases meet at half the voltage, phase a is untouched
    two = net.short_circuit(state, Fault("D1", "2ph"))
    ua, ub, uc = two.voltages["D1"]
    assert abs(ua) == pytest.approx(1.0) and abs(ub) == pytest.approx(0.5)
    assert abs(uc) == pytest.approx(0.5)
    assert two.amps("Q201") == pytest.approx(got.amps("Q201") * math.sqrt(3) / 2, rel=0.01)
    # a part of the network cut off (Q501 open) changes nothing on the way to the fault;
    # the same current flows through every breaker on it, in the same direction
    cut = State(state.closed - {"Q501"}, state.live)
    end = Fault("L_F1", "3ph", 1.0)
    a, b = net.short_circuit(cut, end), net.short_circuit(state, end)
    for node in ("C1", "D1", "C2", "D2"):
        assert abs(a.voltages[node][0]) == pytest.approx(abs(b.voltages[node][0]), rel=1e-3)
    for x in (a, b):
        ref_deg = math.degrees(cmath.phase(x.breakers["Q212"][0]))
        for brk in ("Q101", "Q111", "Q201"):
            deg = math.degrees(cmath.phase(x.breakers[brk][0]))
            assert abs((deg - ref_deg + 180) % 360 - 180) < 1.0, brk
    # Q212 open: face 1's bus is fed from nowhere, a fault on it carries no current
    dead = State(state.closed - {"Q212"}, state.live)
    assert net.short_circuit(dead, Fault("F1", "3ph")).ikss_a == 0.0
    assert net.currents(dead, [Fault("F1", "3ph")]) == {}
    with pytest.raises(NetworkError, match="no node"):
        net.short_circuit(state, Fault("nowhere"))
    with pytest.raises(NetworkError, match="fault type"):
        net.short_circuit(state, Fault("D1", "1ph"))


# --- protection ------------------------------------------------------------------------------

def test_a_face_feeder_fault_is_cleared_by_its_breaker_alone_within_200_ms_in_order(
        system: PowerSystem, net: Network) -> None:
    out = play(system, net, Fault("L_F1", "3ph", 0.5))
    assert set(out.opened) == {"Q212"} and out.trips == {"Q212": (out.trips["Q212"][0],
                                                                  L.TRIP_CODE_FAST)}
    assert out.cleared_ms is not None and out.cleared_ms < 200
    assert out.cleared_ms == out.opened["Q212"]
    seen = [(e.breaker, e.code) for e in out.events]
    t = {(e.breaker, e.code): e.t_ms for e in out.events}
    # the relays between the supply and the fault pick up; the ones below it do not
    assert {b for b, c in seen if c == L.PICKUP} == {"Q101", "Q111", "Q201", "Q212"}
    # each upstream relay was blocked before its fast stage could run out
    for up in ("Q201", "Q111", "Q101"):
        assert t[(up, L.BLOCK_IN)] < t[(up, L.PICKUP)] + 100
        assert (up, L.DROP_OFF) in t and t[(up, L.DROP_OFF)] == out.opened["Q212"]
    assert t[("Q212", L.PICKUP)] < t[("Q212", L.TRIP_FAST)] < t[("Q212", L.OPENED)]
    assert [e.t_ms for e in out.events] == sorted(e.t_ms for e in out.events)
    # the SOE carries the fault current the relay measured
    i = next(e.value for e in out.events if e.breaker == "Q212" and e.code == L.PICKUP)
    assert i == round(net.short_circuit(net.normal(), Fault("L_F1", "3ph", 0.5)).amps("Q212"))


@pytest.mark.parametrize(("bus", "incomer"), [("D1", "Q201"), ("C1", "Q101"), ("F1", "Q501"),
                                              ("D3", "Q401")])
def test_a_bus_fault_is_cleared_by_the_bus_incomer(system: PowerSystem, net: Network,
                                                   bus: str, incomer: str) -> None:
    out = play(system, net, Fault(bus, "2ph"))
    assert set(out.opened) == {incomer}
    assert out.cleared_ms is not None and out.cleared_ms < 200


def test_a_lost_link_with_the_fast_stage_overtrips_and_group_2_is_selective(
        system: PowerSystem, net: Network) -> None:
    f = Fault("L_F1", "3ph", 0.5)
    lost = links(system, lost="Q212_Q201")
    over = play(system, net, f, links=lost)
    assert set(over.opened) == {"Q212", "Q201"}                # the level above went too
    assert over.trips["Q201"][1] == L.TRIP_CODE_FAST
    assert not any(e.breaker == "Q201" and e.code == L.BLOCK_IN for e in over.events)
    fallback = play(system, net, f, links=lost, group={"Q201": 2})
    assert set(fallback.opened) == {"Q212"}
    # a slow link whose block comes after the fast stage has run out: overtrip as well
    slow = play(system, net, f, links=links(system, slow=("Q212_Q201", 150.0)))
    assert "Q201" in slow.opened
    # ... and one that is merely slower than nominal still blocks in time
    assert set(play(system, net, f, links=links(system, slow=("Q212_Q201", 40.0))).opened) \
        == {"Q212"}


def test_a_stuck_breaker_makes_its_relay_trip_the_upstream_breaker(
        system: PowerSystem, net: Network) -> None:
    out = play(system, net, Fault("L_F1", "2ph", 0.2), stuck={"Q212"})
    assert set(out.opened) == {"Q201"} and out.bf == {"Q212"}
    assert out.trips["Q212"][1] == L.TRIP_CODE_FAST
    assert out.trips["Q201"][1] == L.TRIP_CODE_BF
    codes = [(e.breaker, e.code) for e in out.events]
    assert codes.index(("Q212", L.FAILED_TO_OPEN)) < codes.index(("Q212", L.BF_SENT)) \
        < codes.index(("Q201", L.BF_RECEIVED)) < codes.index(("Q201", L.OPENED))
    t = {(e.breaker, e.code): e.t_ms for e in out.events}
    assert 140 <= t[("Q212", L.BF_SENT)] - out.trips["Q212"][0] <= 165     # 150 ms +- tol
    assert out.cleared_ms == out.opened["Q201"] < 400
    # its BF delay off: only the upstream backup stage is left, 1.2 s
    s = settings(system)
    s["Q212"]["bf_delay_ms"] = 0
    state = net.normal()
    late = P.simulate(s, lambda c: net.currents(State(c, state.live),
                                                [Fault("L_F1", "2ph", 0.2)]),
                      state.closed, links=links(system), stuck={"Q212"})
    assert set(late.opened) == {"Q201"} and late.trips["Q201"][1] == L.TRIP_CODE_BACKUP
    assert 1150 < late.trips["Q201"][0] < 1250


def test_timing_tolerance_makes_a_tight_grading_overtrip_and_a_proper_one_never(
        system: PowerSystem, net: Network) -> None:
    f = Fault("shearer1", "3ph")
    state = net.normal()

    def grading(margin_ms: int, seed: int) -> set[str]:
        s = {b: {"pickup_a": 300, "backup_pickup_a": 300, "backup_delay_ms": 300 + i *
                 margin_ms, "bf_delay_ms": 0}
             for i, b in enumerate(("Q511", "Q501", "Q212", "Q201", "Q111", "Q101"))}
        out = P.simulate(s, lambda c: net.currents(State(c, state.live), [f]), state.closed,
                         seed=seed)
        return set(out.opened)
    tight = [grading(45, seed) for seed in range(40)]
    assert any(o != {"Q511"} for o in tight)           # 45 ms margin, 45 ms breakers
    assert any(o == {"Q511"} for o in tight)
    assert all(grading(300, seed) == {"Q511"} for seed in range(40))
    assert grading(45, 7) == grading(45, 7)             # the same seed, the same outcome
    exact = P.simulate({"Q511": {"pickup_a": 300, "backup_pickup_a": 300,
                                 "backup_delay_ms": 300}},
                       lambda c: net.currents(State(c, state.live), [f]), state.closed,
                       opening_ms=45, tolerance=P.EXACT, pickup_ms=20)
    assert exact.opened == {"Q511": 20 + 300 + 45}


def test_relays_without_settings_or_below_pickup_do_nothing_and_bad_settings_are_refused(
        system: PowerSystem, net: Network) -> None:
    state = net.normal()
    f = Fault("L_F1", "3ph")
    out = P.simulate({}, lambda c: net.currents(State(c, state.live), [f]), state.closed)
    assert out.events == [] and out.cleared_ms is None and out.opened == {}
    high = P.simulate({"Q212": {"pickup_a": 60000, "backup_pickup_a": 60000,
                                "backup_delay_ms": 100}},
                      lambda c: net.currents(State(c, state.live), [f]), state.closed)
    assert high.events == [] and high.picked == set()
    dead = P.simulate(settings(system), lambda c: net.currents(State(c, state.live), [f]),
                      state.closed - {"Q212"})
    assert dead.events == [] and dead.cleared_ms == 0
    with pytest.raises(ValueError, match="unknown relay settings: pickup"):
        P.simulate({"Q212": {"pickup": 100}}, lambda c: {}, state.closed)
    values = {"g2_pickup_a": 300, "g2_fast_enabled": 1, "g2_fast_delay_ms": 100,
              "block_src0": 18, "block_src1": 99}
    s = P.from_registers(values, 2, {18: "Q501"})
    assert s.pickup_a == 300 and s.fast_enabled and s.sources == ("Q501",)


def test_a_thousand_faults_run_in_seconds(system: PowerSystem, net: Network) -> None:
    """bench/power.py's loop: random places, types, stuck breakers and lost links."""
    rng = random.Random(13)
    places = [n for n, k in net.graph.kind.items() if k != "source"]
    lids = list(system.network.links)
    s = settings(system)
    state = net.normal()
    start = time.perf_counter()
    selective = 0
    for i in range(1000):
        f = Fault(rng.choice(places), rng.choice(("3ph", "2ph")), rng.choice((0.2, 0.5, 0.8)))
        lk = links(system, lost=rng.choice(lids) if rng.random() < 0.1 else "")
        stuck = {rng.choice(list(s))} if rng.random() < 0.1 else set()
        out = P.simulate(s, lambda c, f=f: net.currents(State(c, state.live), [f]),
                         state.closed, links=lk, stuck=stuck, seed=i)
        selective += len(out.opened) == 1
    took = time.perf_counter() - start
    assert selective > 800
    assert took < 30, f"1000 faults took {took:.1f} s"


def test_the_codes_are_the_controllers() -> None:
    assert L.SOE_WORDS == profile.SOE_CODES
    assert L.TRIP_WORDS == profile.TRIP_CODES
    assert L.FAULT_WORDS == profile.FAULT_TYPES
