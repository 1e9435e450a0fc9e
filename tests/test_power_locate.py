"""Fault location and the selectivity verdict over crafted SOE (issue 13, after a fault),
on the demo network (configs/power.toml): S1 -> Q101 -> C1 -> Q111 -> L_D1 -> Q201 -> D1
-> Q212 -> L_F1 -> Q501 -> F1 -> Q511 (shearer); C1 -> Q112 -> L_D2 -> Q301 -> D2 -> Q311
(conveyor); S2 -> Q102 -> C2 -> Q121 -> L_D3 -> Q401 -> D3; tie Q100 normally open."""

from __future__ import annotations

import pytest
from test_power_soe import T0, demo_system

from fixedsite.sequences.power import profile
from fixedsite.sequences.power.locate import FaultReport, locate, states_before
from fixedsite.sequences.power.soe import SoeRecord
from fixedsite.sequences.power.topology import Topology
from fixedsite.texts import translate

SYSTEM = demo_system()
TOPO = Topology(SYSTEM)
LEVEL = {b: TOPO.level(b) for b in TOPO.breakers}
_seq: dict[str, int] = {}


def ev(breaker: str, what: str, ms: int, value: int = 0) -> SoeRecord:
    """``what`` happened at relay ``breaker`` ``ms`` after T0."""
    _seq[breaker] = _seq.get(breaker, 0) + 1
    t = T0 * 1000 + ms
    return SoeRecord(breaker, _seq[breaker], profile.SOE[what], t // 1000, t % 1000, value,
                     LEVEL[breaker])


def after(opened: tuple[str, ...] = ()) -> dict[str, bool | None]:
    """The breakers as read when the disturbance ended: normal, ``opened`` open."""
    return {b: (v and b not in opened) for b, v in TOPO.normal().items()}


def pickups(path: tuple[str, ...], at: int = 0, amps: int = 5000) -> list[SoeRecord]:
    """Every relay of ``path`` picks up (the downstream one first, as current builds)."""
    return [ev(b, "pickup", at + (len(path) - i - 1) // 2, amps) for i, b in enumerate(path)]


def drop_offs(path: tuple[str, ...], at: int) -> list[SoeRecord]:
    return [ev(b, "drop-off", at) for b in path]


def test_feeder_fault_cleared_by_its_own_breaker_is_selective() -> None:
    path = ("Q101", "Q111", "Q201", "Q212")           # fault on the cable to face 1
    events = [*pickups(path),
              ev("Q201", "block received", 2), ev("Q111", "block received", 3),
              ev("Q212", "trip fast", 100), ev("Q212", "breaker opened", 145),
              ev("Q311", "undervoltage", 60), ev("Q311", "breaker opened", 110),
              *drop_offs(path, 150)]
    r = locate(events[::-1], TOPO, after(("Q212", "Q311")))
    assert (r.section, r.nearest, r.verdict) == ("L_F1", "Q212", "selective")
    assert r.opened == ("Q212",) and r.needless == () and r.shed == ("Q311",)
    assert r.clearing_ms == pytest.approx(145.0)
    assert r.started_at == pytest.approx(T0 + 0.0)
    assert [e.t for e in r.events] == sorted(e.t for e in r.events)      # merged
    assert r.summary == "Fault on L_F1: cleared by Q212 alone in 145 ms (selective)"
    assert translate(r.summary, "zh_CN") == "L_F1 故障：由 Q212 单独切除，用时 145 ms（选择性动作）"


def test_bus_fault_is_the_bus_when_its_incomer_picked_up_and_no_feeder_did() -> None:
    path = ("Q101", "Q112", "Q301")                    # District 2 bus
    events = [*pickups(path), ev("Q301", "trip fast", 100), ev("Q301", "breaker opened", 150),
              *drop_offs(path, 155)]
    r = locate(events, TOPO, after(("Q301",)))
    assert (r.section, r.nearest, r.verdict, r.opened) == ("D2", "Q301", "selective",
                                                           ("Q301",))


def test_line_fault_is_the_cable_when_the_far_end_did_not_pick_up() -> None:
    path = ("Q102", "Q121")                            # the cable to district 3
    events = [*pickups(path, amps=7000), ev("Q121", "trip instantaneous", 20),
              ev("Q121", "breaker opened", 68), *drop_offs(path, 70)]
    r = locate(events, TOPO, after(("Q121",)))
    assert (r.section, r.nearest, r.verdict) == ("L_D3", "Q121", "selective")
    assert r.clearing_ms == pytest.approx(68.0)


def test_an_upstream_breaker_opening_too_is_an_overtrip() -> None:
    path = ("Q101", "Q111", "Q201", "Q212", "Q501", "Q511")   # the shearer's cable
    events = [*pickups(path), ev("Q511", "trip fast", 100), ev("Q501", "trip fast", 102),
              ev("Q511", "breaker opened", 146), ev("Q501", "breaker opened", 151),
              *drop_offs(path, 155)]
    r = locate(events, TOPO, after(("Q511", "Q501")))
    assert (r.section, r.nearest, r.verdict) == ("shearer1", "Q511", "overtrip")
    assert r.opened == ("Q511", "Q501") and r.needless == ("Q501",)
    assert r.clearing_ms == pytest.approx(151.0)
    assert r.summary == ("Fault on shearer1: overtrip, Q501 opened where Q511 was enough "
                         "(cleared in 151 ms)")
    assert translate(r.summary, "zh_CN") == (
        "shearer1 故障：越级跳闸，Q501 跳开，本应由 Q511 切除（用时 151 ms）")


def test_the_incomer_opening_instead_of_the_feeder_is_an_overtrip() -> None:
    path = ("Q101", "Q112")
    events = [*pickups(path), ev("Q101", "trip fast", 100), ev("Q101", "breaker opened", 150),
              *drop_offs(path, 152)]
    r = locate(events, TOPO, after(("Q101",)))
    assert (r.section, r.nearest, r.verdict, r.needless) == ("L_D2", "Q112", "overtrip",
                                                             ("Q101",))


def test_breaker_failure_cleared_by_the_breaker_above_is_correct_not_an_overtrip() -> None:
    path = ("Q101", "Q112", "Q301", "Q311")            # the conveyor's cable
    events = [*pickups(path), ev("Q311", "trip fast", 100),
              ev("Q311", "breaker failed to open", 200),
              ev("Q311", "breaker-failure trip sent", 250),
              ev("Q301", "breaker-failure trip received", 254),
              ev("Q301", "breaker opened", 300), *drop_offs(path, 302)]
    r = locate(events, TOPO, after(("Q301",)))
    assert (r.section, r.nearest, r.verdict) == ("conveyor2", "Q311",
                                                  "breaker failure backup")
    assert r.failed == ("Q311",) and r.opened == ("Q301",) and r.needless == ("Q301",)
    assert r.clearing_ms == pytest.approx(300.0)
    assert "Q311 failed to open, Q301 cleared it as breaker-failure backup" in r.summary
    # the same failure cleared two levels up instead: that is an overtrip
    events2 = [e for e in events if e.breaker != "Q301" or e.code == profile.SOE["pickup"]]
    events2 += [ev("Q112", "trip backup", 700), ev("Q112", "breaker opened", 745)]
    r2 = locate(events2, TOPO, after(("Q112",)))
    assert r2.verdict == "overtrip" and r2.needless == ("Q112",)


def test_pickups_on_two_separate_paths_are_not_located() -> None:
    events = [*pickups(("Q101", "Q111", "Q201", "Q211")), *pickups(("Q101", "Q112", "Q301",
                                                                      "Q311")),
              ev("Q211", "trip fast", 100), ev("Q211", "breaker opened", 140)]
    r = locate(events, TOPO, after(("Q211",)))
    assert r.verdict == "not located" and not r.located and r.section == ""
    assert r.reason == "pickups on separate paths (Q211,Q311)"
    assert r.opened == ("Q211",)                       # what happened is still reported
    assert translate(r.summary, "zh_CN") == "故障未能定位：启动的保护分处不同路径（Q211,Q311）"


def test_no_trip_not_cleared_and_no_pickup() -> None:
    path = ("Q102", "Q121", "Q401", "Q412")
    transient = [*pickups(path, amps=900), *drop_offs(path, 40)]
    r = locate(transient, TOPO, after())
    assert (r.verdict, r.section, r.clearing_ms) == ("no trip", "hoist_d3", None)
    stuck = [*pickups(path), ev("Q412", "trip fast", 100),
             ev("Q412", "breaker failed to open", 200)]
    r = locate(stuck, TOPO, after())
    assert (r.verdict, r.tripped, r.failed, r.opened) == ("not cleared", ("Q412",),
                                                          ("Q412",), ())
    r = locate([ev("Q412", "group changed", 5, 2)], TOPO, after())
    assert (r.verdict, r.reason) == ("not located", "no relay picked up")
    assert locate([], TOPO, after()).verdict == "not located"


def test_an_operators_opening_is_no_protection_opening() -> None:
    path = ("Q101", "Q111", "Q201", "Q212", "Q501", "Q512")
    events = [*pickups(path), ev("Q512", "trip fast", 100), ev("Q512", "breaker opened", 144),
              ev("Q211", "open command", 120), ev("Q211", "breaker opened", 170),
              *drop_offs(path, 150)]
    r = locate(events, TOPO, after(("Q512", "Q211")))
    assert (r.verdict, r.opened, r.section) == ("selective", ("Q512",), "belt1")


def test_states_before_undo_the_windows_position_events() -> None:
    events = [ev("Q212", "breaker opened", 145), ev("Q100", "breaker closed", 900),
              ev("Q212", "breaker closed", 1000)]
    before = states_before(after(("Q212", "Q100")) | {"Q100": True, "Q212": True}, events)
    assert before["Q212"] is True and before["Q100"] is False and before["Q101"] is True


def test_after_a_transfer_the_location_follows_the_network_as_run() -> None:
    """Supply II lost, C2 fed over the tie: a fault on C2's feeder has Q101, Q100, Q121
    picked up; the location needs the tie closed before the fault."""
    state = after(("Q102",)) | {"Q100": True}
    path = ("Q101", "Q100", "Q121")
    events = [*pickups(path), ev("Q121", "trip fast", 100), ev("Q121", "breaker opened", 150)]
    r = locate(events, TOPO, state | {"Q121": False})
    assert (r.section, r.nearest, r.verdict) == ("L_D3", "Q121", "selective")
    # the same events on the network as normally run: Q100 (open) carried nothing, and
    # Q101 and Q121 are on two supplies' paths: not located
    r = locate(events, TOPO, after(("Q121",)))
    assert (r.verdict, r.reason) == ("not located", "pickups on separate paths (Q101,Q121)")
    assert r.warnings == ("Q100 picked up but carried no current as the network was run, "
                          "ignored",)


def test_unknown_states_are_taken_as_normally_run_with_a_warning() -> None:
    path = ("Q101", "Q112", "Q301")
    events = [*pickups(path), ev("Q301", "trip fast", 100), ev("Q301", "breaker opened", 150)]
    r = locate(events, TOPO, {b: None for b in TOPO.breakers}, fault_type="three-phase")
    assert (r.section, r.verdict) == ("D2", "selective")
    assert r.warnings == tuple(f"state of {b} before the fault not known, taken as normally "
                               "run" for b in ("Q101", "Q112"))
    assert r.summary.split("; ")[1] == "three-phase"
    zh = translate(r.summary, "zh_CN")
    assert zh.startswith("D2 故障：由 Q301 单独切除") and "三相短路" in zh and \
        "Q101 故障前状态未知" in zh


def test_report_as_dict_is_plain() -> None:
    r = FaultReport("selective", T0, (ev("Q211", "pickup", 0, 800),), section="aux_fans1",
                    nearest="Q211", opened=("Q211",), clearing_ms=140.0)
    d = r.as_dict()
    assert d["events"] == [["Q211", _seq["Q211"], "pickup", float(T0), 800]]
    assert d["opened"] == ["Q211"] and d["verdict"] == "selective"
