"""The five-prevention interlocks (issue 13, dispatch): pure rules over a snapshot of the
plant, on a small network of its own: two supplies S1, S2 on a sectioned central bus
C1 | C2 (tie Q100, normally open, no earthing switch), a cable L1 from C1 (Q111) to the
district bus D1 (Q201), the district's fans (Q211) and the central pumps (Q121)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fixedsite.clock import ManualClock
from fixedsite.sequences.power.config import PowerSystem
from fixedsite.sequences.power.equipment import BREAKER
from fixedsite.sequences.power.interlocks import (
    Bay,
    PlantState,
    Step,
    check,
    confirm,
    simulate,
    snapshot,
    would_energise,
)
from fixedsite.sequences.power.topology import Topology
from fixedsite.tags import Quality, TagStore


def _brk(plc: str, bus: str, feeds: str, base: int, no: int, **kw: Any) -> dict[str, Any]:
    return {"type": "breaker", "plc": plc, "bus": bus, "feeds": feeds, "base": base,
            "relay_no": no, **kw}


NETWORK: dict[str, Any] = {
    "kind": "power",
    "network": {
        "sources": {"S1": {"bus": "C1"}, "S2": {"bus": "C2"}},
        "buses": {"C1": {"substation": "central"}, "C2": {"substation": "central"},
                  "D1": {"substation": "district"}},
        "lines": {"L1": {"from_bus": "C1", "to_bus": "D1", "length_km": 1.2}},
        "loads": {"fans": {"bus": "D1", "p_kw": 300, "priority": 1},
                  "pumps": {"bus": "C2", "p_kw": 500, "priority": 1}},
    },
    "equipment": {
        "central": {"type": "substation", "plc": "sub_c"},
        "district": {"type": "substation", "plc": "sub_d"},
        "Q101": _brk("sub_c", "C1", "S1", 200, 1),
        "Q102": _brk("sub_c", "C2", "S2", 400, 2),
        "Q100": _brk("sub_c", "C1", "C2", 600, 3, normally_open=True, earthing=False),
        "Q111": _brk("sub_c", "C1", "L1", 800, 4),
        "Q121": _brk("sub_c", "C2", "pumps", 1000, 5),
        "Q201": _brk("sub_d", "D1", "L1", 200, 6),
        "Q211": _brk("sub_d", "D1", "fans", 400, 7),
    },
}
SYSTEM = PowerSystem.model_validate(NETWORK)
TOPO = Topology(SYSTEM)


def plant(faulted: tuple[str, ...] = (), **over: dict[str, Any]) -> PlantState:
    """The network as normally run (every breaker closed but the tie), each bay's outgoing
    side live as the network feeds it, with ``over`` the fields changed per bay; the
    voltage follows the positions unless ``line_live`` is given."""
    bays = {}
    for b, eq in SYSTEM.equipment.items():
        if eq.type != "breaker":
            continue
        bays[b] = Bay(breaker="open" if eq.normally_open else "closed",
                      disconnector="closed", earthing="open", door="locked", line_live=None,
                      trip_code=0, has_disconnector=eq.disconnector, has_earthing=eq.earthing)
        bays[b] = replace(bays[b], **{k: v for k, v in over.get(b, {}).items()
                                      if k != "line_live"})
    closed = {b: x.breaker == "closed" and x.disconnector == "closed" for b, x in bays.items()}
    fed = TOPO.feeds(closed)
    for b, x in bays.items():
        live = over.get(b, {}).get("line_live", TOPO.breakers[b][1] in fed)
        bays[b] = replace(x, line_live=live)
    return PlantState(bays, frozenset(faulted))


def verdict(device: str, part: str, action: str, state: PlantState) -> str | None:
    return check(Step(device, part, action), state, TOPO, SYSTEM)    # type: ignore[arg-type]


# the state of Q211's bay made safe to work in, step by step
FANS_ISOLATED = {"breaker": "open", "disconnector": "open"}
FANS_EARTHED = {**FANS_ISOLATED, "earthing": "closed"}


# --- steps -----------------------------------------------------------------------------------
def test_a_step_takes_only_its_parts_actions_and_says_itself() -> None:
    assert Step("Q111", "earthing", "close").text() == "close Q111 earthing switch"
    assert str(Step("Q111", "door", "unlock")) == "unlock Q111 bay door"
    with pytest.raises(ValueError, match="a door takes unlock or lock"):
        Step("Q111", "door", "open")
    with pytest.raises(ValueError, match="unknown part 'fuse'"):
        Step("Q111", "fuse", "open")      # type: ignore[arg-type]


# --- prevention 1: the right device -----------------------------------------------------------
def test_prevention_1_the_device_must_exist_have_the_part_and_be_confirmed() -> None:
    s = plant()
    assert verdict("Q999", "breaker", "open", s) == "no breaker bay Q999 in this network"
    assert verdict("central", "breaker", "open", s) == \
        "no breaker bay central in this network"           # a substation is no bay
    assert verdict("Q100", "earthing", "close", s) == "Q100 has no earthing switch"
    assert confirm("Q111", "Q111") is None and confirm("Q111", " Q111 ") is None
    assert confirm("Q111", "Q112") == ("not confirmed: type the device id Q111 again to "
                                       "operate it (got 'Q112')")
    assert confirm("Q111", None) == ("not confirmed: type the device id Q111 again to "
                                     "operate it (got '')")
    assert confirm("Q111", "q111") is not None and confirm("Q111", 111) is not None


# --- prevention 2: no disconnector under load ---------------------------------------------------
@pytest.mark.parametrize("breaker", ["closed", "between"])
def test_prevention_2_no_disconnector_moved_unless_its_breaker_is_open(breaker: str) -> None:
    s = plant(Q211={"breaker": breaker})
    for action in ("open", "close"):
        assert verdict("Q211", "disconnector", action, s) == \
            "Q211: no disconnector moved under load: its breaker is not proven open"
    assert verdict("Q211", "disconnector", "open", plant(Q211={"breaker": "open"})) is None


def test_a_stuck_breakers_disconnector_stays_put_even_with_both_sides_dead() -> None:
    # Q111 failed to open; the breaker-failure backup opened Q101: C1 and L1 are dead, yet
    # the bay's interlock holds the disconnector while the breaker is closed
    dead = plant(Q111={"breaker": "closed"}, Q101={"breaker": "open"},
                 Q201={"breaker": "open"})
    assert dead.bays["Q111"].line_live is False
    assert verdict("Q111", "disconnector", "open", dead) == \
        "Q111: no disconnector moved under load: its breaker is not proven open"
    assert verdict("Q111", "breaker", "open", dead) is None      # commanded open again


# --- prevention 3: no earthing onto a live section ---------------------------------------------
def test_prevention_3_earthing_needs_the_disconnector_open() -> None:
    s = plant(Q211={"breaker": "open"})
    assert verdict("Q211", "earthing", "close", s) == \
        "Q211: no earthing while its disconnector is not proven open: open it first"
    assert verdict("Q211", "earthing", "close", plant(Q211=FANS_ISOLATED)) is None


def test_prevention_3_no_earthing_onto_a_section_reading_live() -> None:
    # the incomer isolated, but the surface still feeds its cable
    s = plant(Q101={"breaker": "open", "disconnector": "open", "line_live": True})
    assert verdict("Q101", "earthing", "close", s) == \
        "Q101: no earthing onto a live section: S1 reads live"
    s = plant(Q101={"breaker": "open", "disconnector": "open", "line_live": False})
    assert verdict("Q101", "earthing", "close", s) is None


def test_prevention_3_no_earthing_while_a_breaker_bounding_the_section_may_feed_it() -> None:
    # Q111 isolated, the cable reads dead, but Q201 at its other end is still closed
    s = plant(Q111={"breaker": "open", "disconnector": "open"})
    assert s.bays["Q111"].line_live is False
    assert verdict("Q111", "earthing", "close", s) == ("Q111: no earthing onto a live "
                                                       "section: L1 can be fed through "
                                                       "Q201 (not proven open)")
    s = plant(Q111={"breaker": "open", "disconnector": "open"}, Q201={"breaker": "open"})
    assert verdict("Q111", "earthing", "close", s) is None
    # the far end's breaker not known: not proven open either (its bay's data is bad)
    s = plant(Q111={"breaker": "open", "disconnector": "open"},
              Q201={"breaker": None, "bad": "comm_fail"})
    assert "L1 can be fed through Q201 (not proven open)" in str(
        verdict("Q111", "earthing", "close", s))


# --- prevention 4: no closing onto an earthed section -------------------------------------------
def test_prevention_4_no_close_with_its_own_earthing_switch_closed() -> None:
    s = plant(Q211=FANS_EARTHED)
    assert verdict("Q211", "disconnector", "close", s) == \
        "Q211: no closing onto an earthed section: its own earthing switch is closed"
    s = plant(Q211={"breaker": "open", "earthing": "closed"})
    assert verdict("Q211", "breaker", "close", s) == \
        "Q211: no closing onto an earthed section: its own earthing switch is closed"


def test_prevention_4_no_close_that_would_energise_a_section_earthed_elsewhere() -> None:
    # the cable earthed at its district end; the central end's breaker may not close
    s = plant(Q201={"breaker": "open", "disconnector": "open", "earthing": "closed"},
              Q111={"breaker": "open"})
    assert verdict("Q111", "breaker", "close", s) == \
        "Q111: no closing onto an earthed section: L1 is earthed at Q201"
    # the same close with the far end unearthed is allowed
    s = plant(Q201={"breaker": "open", "disconnector": "open"}, Q111={"breaker": "open"})
    assert verdict("Q111", "breaker", "close", s) is None
    # an earthing switch that cannot be read on what the close would energise: refused
    s = plant(Q201={"breaker": "open", "earthing": None, "bad": "comm_fail"},
              Q111={"breaker": "open"})
    assert verdict("Q111", "breaker", "close", s) == \
        "Q111: would energise L1, whose earthing switch at Q201 cannot be read"


def test_prevention_4_the_bus_tie_onto_an_earthed_feeder_of_the_dead_section() -> None:
    # supply II lost and its incomer open; the pumps' cable earthed for work; closing the
    # tie would feed C2 and with it the earthed pumps' cable only if Q121 were closed
    s = plant(Q102={"breaker": "open", "line_live": False},
              Q121={"breaker": "open", "disconnector": "open", "earthing": "closed"})
    assert verdict("Q100", "breaker", "close", s) is None
    s = plant(Q102={"breaker": "open", "line_live": False},
              Q121={"breaker": "closed", "earthing": "closed"})
    assert verdict("Q100", "breaker", "close", s) == \
        "Q100: no closing onto an earthed section: pumps is earthed at Q121"


def test_a_bay_not_read_elsewhere_does_not_block_a_close_it_has_nothing_to_do_with() -> None:
    # the district gateway silent; the pumps' breaker on the other bus section may close
    bad = {"breaker": None, "disconnector": None, "earthing": None, "door": None,
           "line_live": None, "trip_code": None, "bad": "comm_fail"}
    s = plant(Q201=bad, Q211=bad, Q121={"breaker": "open"})
    assert would_energise("Q121", s, TOPO) == {"pumps"}
    assert verdict("Q121", "breaker", "close", s) is None
    # nor the bus tie between two live sections: it feeds nothing anew
    s = plant(Q201=bad, Q211=bad)
    assert would_energise("Q100", s, TOPO) == set()
    assert verdict("Q100", "breaker", "close", s) is None
    # but the cable to the silent district is what Q111 would energise: refused
    s = plant(Q201=bad, Q211=bad, Q111={"breaker": "open"})
    assert "L1" in would_energise("Q111", s, TOPO)
    assert verdict("Q111", "breaker", "close", s) == \
        "Q111: would energise L1, whose earthing switch at Q201 cannot be read"


# --- prevention 5: no entry into a live bay -----------------------------------------------------
@pytest.mark.parametrize("over, why", [
    ({}, "its earthing switch is not closed"),
    (FANS_ISOLATED, "its earthing switch is not closed"),
    ({**FANS_EARTHED, "line_live": True}, "its outgoing side reads live"),
    ({**FANS_EARTHED, "disconnector": "closed"}, "its disconnector is not open"),
])
def test_prevention_5_the_door_unlocks_only_with_the_bay_earthed_and_dead(over, why) -> None:
    s = plant(Q211=over)
    assert verdict("Q211", "door", "unlock", s) == f"Q211: no entry into a live bay: {why}"
    assert verdict("Q211", "door", "lock", s) is None


def test_prevention_5_a_bay_without_earthing_switch_never_unlocks_and_earthed_one_does() -> None:
    s = plant(Q100={"breaker": "open", "disconnector": "open"})
    assert verdict("Q100", "door", "unlock", s) == ("Q100: no entry into a live bay: the bay "
                                                    "has no earthing switch to prove it "
                                                    "earthed")
    assert verdict("Q211", "door", "unlock", plant(Q211=FANS_EARTHED)) is None


def test_an_unlocked_door_holds_every_close_and_the_unearthing() -> None:
    s = plant(Q211={**FANS_EARTHED, "door": "unlocked"})
    want = "Q211: the bay door is unlocked (someone may be inside): lock it first"
    assert verdict("Q211", "earthing", "open", s) == want
    s = plant(Q211={**FANS_ISOLATED, "door": "unlocked"})
    assert verdict("Q211", "disconnector", "close", s) == want
    assert verdict("Q211", "breaker", "open", s) is None


# --- and the rest --------------------------------------------------------------------------------
def test_no_close_onto_a_section_located_as_faulted() -> None:
    s = plant(("L1",), Q111={"breaker": "open"}, Q201={"breaker": "open"})
    assert verdict("Q111", "breaker", "close", s) == \
        "Q111: would energise L1, located as faulted: it stays isolated until repaired"
    assert verdict("Q201", "breaker", "close", s) is None      # D1 is dead: nothing fed
    assert verdict("Q211", "breaker", "open", s) is None


def test_no_breaker_close_while_its_trip_is_latched() -> None:
    s = plant(Q211={"breaker": "open", "trip_code": 3})
    assert verdict("Q211", "breaker", "close", s) == \
        "Q211: protection trip latched (backup stage): reset it first"
    s = plant(Q211={"breaker": "open", "trip_code": 99})
    assert verdict("Q211", "breaker", "close", s) == \
        "Q211: protection trip latched (code 99): reset it first"
    assert verdict("Q211", "disconnector", "open", s) is None    # isolating it is fine


def test_no_step_of_any_kind_on_a_bay_whose_data_is_bad() -> None:
    s = plant(Q211={"breaker": None, "bad": "stale"})
    for part, action in (("breaker", "open"), ("breaker", "close"), ("door", "lock")):
        assert verdict("Q211", part, action, s) == ("Q211: no good data from its relay "
                                                    "(stale): no switching on data that "
                                                    "cannot be trusted")


def test_no_remote_step_on_a_bay_switched_to_local() -> None:
    s = plant(Q211={"local": True})
    for part, action in (("breaker", "open"), ("door", "lock")):
        assert verdict("Q211", part, action, s) == ("Q211: its local/remote switch is at "
                                                    "local: no remote switching")
    assert verdict("Q121", "breaker", "open", s) is None


# --- the snapshot and the simulated state ---------------------------------------------------------
def _store() -> TagStore:
    store = TagStore(ManualClock(1000.0))
    for b, eq in SYSTEM.equipment.items():
        if eq.type == "breaker":
            for sig in BREAKER:
                store.define(f"p.{b}.{sig}")
            for k, v in {"breaker_closed": True, "breaker_open": False, "trip_code": 0,
                         "disconnector_closed": True, "disconnector_open": False,
                         "earthing_closed": False, "door_unlocked": False,
                         "line_live": True, "local": False}.items():
                store.set(f"p.{b}.{k}", v)
    return store


def test_snapshot_reads_the_relays_and_marks_a_bay_it_cannot_trust() -> None:
    store = _store()
    store.set("p.Q211.breaker_open", True)
    store.set("p.Q211.trip_code", 1)
    store.set("p.Q121.disconnector_open", True)                  # both contacts: between
    store.mark([store["p.Q201.earthing_closed"]], Quality.BAD, "comm_fail")
    store.set("p.Q100.local", True)
    s = snapshot(store, "p", SYSTEM, ["L1"])
    assert s.bays["Q100"].local and not s.bays["Q101"].local
    assert s.faulted == frozenset({"L1"})
    q211 = s.bays["Q211"]
    assert (q211.breaker, q211.trip_code, q211.bad) == ("between", 1, "")
    store.set("p.Q211.breaker_closed", False)
    assert snapshot(store, "p", SYSTEM).bays["Q211"].breaker == "open"
    assert s.bays["Q121"].disconnector == "between"
    q201 = s.bays["Q201"]
    assert q201.earthing is None and q201.bad == "comm_fail" and q201.breaker == "closed"
    q100 = s.bays["Q100"]                        # no earthing switch: never earthed
    assert q100.earthing == "open" and not q100.has_earthing
    assert s.bays["Q111"] == Bay("closed", "closed", "open", "locked", True, 0)
    store.mark([store["p.Q111.door_unlocked"]], Quality.UNCERTAIN, "stale")
    assert snapshot(store, "p", SYSTEM).bays["Q111"].bad == "stale"


def test_a_signal_not_mapped_is_not_known() -> None:
    store = TagStore(ManualClock(0.0))
    s = snapshot(store, "p", SYSTEM)
    assert s.bays["Q111"].bad == "not_mapped" and s.bays["Q111"].breaker is None
    assert verdict("Q111", "breaker", "open", s) is not None


def test_simulate_moves_the_part_and_the_voltage_follows_the_network() -> None:
    s = plant(Q111={"breaker": "open"}, Q201={"breaker": "open"})
    assert s.bays["Q111"].line_live is False
    after = simulate(Step("Q111", "breaker", "close"), s, TOPO)
    assert after.bays["Q111"].breaker == "closed"
    assert after.bays["Q111"].line_live is True and after.bays["Q201"].line_live is True
    assert after.bays["Q211"].line_live is False                   # D1 still dead
    back = simulate(Step("Q111", "breaker", "open"), after, TOPO)
    assert back.bays["Q111"].line_live is False and back.bays["Q201"].line_live is False
    # a voltage the network does not explain (a back-feed) is not simulated away
    s = plant(Q211={"breaker": "open", "line_live": True})
    after = simulate(Step("Q211", "disconnector", "open"), s, TOPO)
    assert after.bays["Q211"].line_live is True
    # nothing but the step's part changes without a topology
    assert simulate(Step("Q211", "door", "unlock"), s).bays["Q211"] == \
        replace(s.bays["Q211"], door="unlocked")
