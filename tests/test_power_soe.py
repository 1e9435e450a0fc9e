"""The relays' SOE rings read by seq (issue 13, after a fault): across the wrap, with
gaps, torn slots, bad quality and relay restarts, no record lost unreported or read twice;
merged by time. ``Relay`` (a relay's ring in a tag store) is used by the recorder's tests
too."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from fixedsite.clock import ManualClock
from fixedsite.sequences.power import profile
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.soe import (
    DEPTH,
    SEQ_MAX,
    TORN_LIMIT,
    RelayRing,
    SoeCollector,
    SoeRecord,
    merge,
    plan,
    seq_add,
)
from fixedsite.tags import Quality, TagStore

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000            # the relays' epoch seconds in these tests


def demo_system() -> PowerSystem:
    """The demo network (configs/power.toml): 2 supplies, 20 breakers, 5 levels."""
    with open(ROOT / "configs" / "power.toml", "rb") as f:
        return PowerSystem.model_validate(tomllib.load(f)["systems"]["power"])


def relay_store(system: PowerSystem, clock: ManualClock, sname: str = "power") -> TagStore:
    """A tag store with every relay signal of every breaker, as the drivers would define
    them; nothing read yet (bad, not_yet_read)."""
    store = TagStore(clock)
    for b, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            for sig in profile.RELAY:
                store.define(f"{sname}.{b}.{sig}")
    return store


class Ring:
    """A relay's ring as plain values (for the pure reader): ``push`` records like the
    relay does; ``get`` answers what the controller's poll image holds."""

    def __init__(self, seq: int = 0) -> None:
        self.vals: dict[str, Any] = {"soe_seq": 0}
        for r in range(DEPTH):
            for f in ("seq", "code", "s", "ms", "value"):
                self.vals[f"soe{r}_{f}"] = 0
        self.seq = seq_add(seq, -min(seq, DEPTH)) if seq else 0
        while self.seq != seq:                  # the ring as a relay at ``seq`` holds it
            self.push(CODE["group changed"], (T0 - 3600) * 1000, 1)
        self.bad: set[str] = set()

    def push(self, code: int, t_ms: int, value: int = 0) -> int:
        self.seq = seq_add(self.seq, 1)
        r = (self.seq - 1) % DEPTH
        self.vals |= {f"soe{r}_seq": self.seq, f"soe{r}_code": code,
                      f"soe{r}_s": t_ms // 1000, f"soe{r}_ms": t_ms % 1000,
                      f"soe{r}_value": value, "soe_seq": self.seq}
        return self.seq

    def get(self, sig: str) -> Any:
        return None if sig in self.bad else self.vals[sig]


class Relay:
    """A relay's SOE ring in a tag store (good quality), written as the relay would."""

    def __init__(self, store: TagStore, breaker: str, seq: int = 0, sname: str = "power"
                 ) -> None:
        self.store, self.base, self.seq = store, f"{sname}.{breaker}", seq
        store.set(f"{self.base}.soe_seq", seq)

    def set(self, sig: str, value: Any, quality: Quality = Quality.GOOD) -> None:
        self.store.set(f"{self.base}.{sig}", value, quality, "" if quality is
                       Quality.GOOD else "comm_fail")

    def push(self, code: int | str, t: float, value: int = 0) -> int:
        c = profile.SOE[code] if isinstance(code, str) else code
        self.seq = seq_add(self.seq, 1)
        r = (self.seq - 1) % DEPTH
        t_ms = round(t * 1000)
        for f, v in (("seq", self.seq), ("code", c), ("s", t_ms // 1000),
                     ("ms", t_ms % 1000), ("value", value)):
            self.set(f"soe{r}_{f}", v)
        self.set("soe_seq", self.seq)
        return self.seq


CODE = profile.SOE


# ---- the plan: which seqs to read -------------------------------------------------------

def test_plan_reads_what_is_new_across_the_wrap_and_counts_the_lost() -> None:
    assert plan(10, 13).seqs == (11, 12, 13)
    assert plan(13, 13).seqs == ()
    wrap = plan(65530, 5)
    assert wrap.seqs == (65531, 65532, 65533, 65534, 65535, 1, 2, 3, 4, 5)
    assert wrap.lost == 0 and not wrap.restart
    gap = plan(10, 40)                       # 30 new, 16 kept by the ring
    assert gap.seqs == tuple(range(25, 41)) and gap.lost == 14
    gap_wrap = plan(65500, 20)               # 55 new across the wrap
    assert gap_wrap.lost == 55 - DEPTH and gap_wrap.seqs == tuple(range(5, 21))
    first = plan(None, 40)                   # first read: what the ring holds
    assert first.seqs == tuple(range(25, 41)) and first.lost == 0
    assert plan(None, 3).seqs == (1, 2, 3)
    assert plan(None, 0).seqs == ()


def test_plan_tells_a_restart_from_a_wrap() -> None:
    back = plan(100, 3)
    assert back.restart and back.lost is None and back.seqs == (1, 2, 3)
    assert plan(100, 0).restart and plan(100, 0).seqs == ()
    assert not plan(SEQ_MAX, 1).restart and plan(SEQ_MAX, 1).seqs == (1,)
    assert plan(5, 70000).seqs == ()          # junk: not a seq, nothing read on it


# ---- one relay's ring ------------------------------------------------------------------

def _seqs(recs: list[SoeRecord]) -> list[int]:
    return [r.seq for r in recs]


def test_ring_read_across_the_wrap_loses_nothing_and_reads_nothing_twice() -> None:
    ring = Ring(seq=65528)
    rr = RelayRing("Q201", 3)
    assert rr.read(ring.get, keep_after=T0) == ([], [])   # old records: taken as read
    assert rr.last == 65528
    pushed = [ring.push(CODE["pickup"], T0 * 1000 + k, 100 + k) for k in range(12)]
    assert pushed[-1] == 5                      # 65529..65535, then 1..5
    recs, gaps = rr.read(ring.get)
    assert _seqs(recs) == pushed and gaps == []
    assert [r.value for r in recs] == [100 + k for k in range(12)]
    assert recs[0].t == pytest.approx(T0 + 0.0) and recs[-1].ms == 11
    assert rr.read(ring.get) == ([], [])        # nothing twice
    more = [ring.push(CODE["drop-off"], T0 * 1000 + 50 + k) for k in range(3)]
    assert _seqs(rr.read(ring.get)[0]) == more == [6, 7, 8]


def test_more_than_the_ring_holds_is_a_gap_reported_with_the_number_lost() -> None:
    ring = Ring(seq=40)
    rr = RelayRing("Q111", 2, last=40)
    pushed = [ring.push(CODE["pickup"], T0 * 1000 + k) for k in range(21)]
    recs, gaps = rr.read(ring.get)
    assert _seqs(recs) == pushed[-DEPTH:]
    assert len(gaps) == 1 and gaps[0].lost == 5 and gaps[0].breaker == "Q111"
    assert "5 event records lost" in gaps[0].text
    assert rr.read(ring.get) == ([], [])


def test_a_torn_slot_is_read_again_next_scan_in_order() -> None:
    ring = Ring(seq=0)
    rr = RelayRing("Q301", 3)
    rr.read(ring.get)
    for k in range(4):
        ring.push(CODE["pickup"], T0 * 1000 + k)
    ring.vals["soe2_seq"] = 99                  # slot of seq 3 not yet rewritten in the image
    recs, gaps = rr.read(ring.get)
    assert _seqs(recs) == [1, 2] and gaps == [] and rr.last == 2
    ring.vals["soe2_seq"] = 3
    recs, gaps = rr.read(ring.get)
    assert _seqs(recs) == [3, 4] and gaps == []


def test_a_slot_that_never_comes_right_is_given_up_as_one_record_lost() -> None:
    ring = Ring(seq=0)
    rr = RelayRing("Q301", 3)
    rr.read(ring.get)
    for k in range(3):
        ring.push(CODE["pickup"], T0 * 1000 + k)
    ring.vals["soe1_ms"] = 4000                 # junk: no ms is 4000
    for _ in range(TORN_LIMIT - 1):
        recs, gaps = rr.read(ring.get)
        assert _seqs(recs) == ([1] if _ == 0 else []) and gaps == []
    recs, gaps = rr.read(ring.get)
    assert _seqs(recs) == [3]
    assert [(g.lost, g.breaker) for g in gaps] == [(1, "Q301")] and "record 2" in gaps[0].text


def test_bad_quality_reads_nothing_and_the_next_good_scan_carries_on() -> None:
    ring = Ring(seq=0)
    rr = RelayRing("Q212", 4)
    rr.read(ring.get)
    for k in range(5):
        ring.push(CODE["pickup"], T0 * 1000 + k)
    ring.bad = {"soe_seq"}
    assert rr.read(ring.get) == ([], []) and rr.last == 0
    ring.bad = {"soe3_value"}                   # seq 4's slot: its block not read
    recs, _ = rr.read(ring.get)
    assert _seqs(recs) == [1, 2, 3]
    ring.bad = set()
    assert _seqs(rr.read(ring.get)[0]) == [4, 5]


def test_a_relay_restart_is_reported_and_its_new_records_read() -> None:
    ring = Ring(seq=0)
    rr = RelayRing("Q501", 5)
    rr.read(ring.get)
    for k in range(7):
        ring.push(CODE["pickup"], T0 * 1000 + k)
    assert len(rr.read(ring.get)[0]) == 7
    ring2 = Ring(seq=0)                          # the relay restarted: its ring began again
    ring2.push(CODE["group changed"], T0 * 1000 + 100, 1)
    ring2.push(CODE["pickup"], T0 * 1000 + 200, 900)
    recs, gaps = rr.read(ring2.get)
    assert _seqs(recs) == [1, 2] and [r.code for r in recs] == [15, 1]
    assert len(gaps) == 1 and gaps[0].lost is None and "restarted" in gaps[0].text
    assert rr.read(ring2.get) == ([], [])


def test_the_first_read_replays_only_young_records() -> None:
    ring = Ring(seq=0)
    for k in range(6):
        ring.push(CODE["pickup"], (T0 + 10 * k) * 1000)
    rr = RelayRing("Q101", 1)
    recs, gaps = rr.read(ring.get, keep_after=T0 + 25)
    assert _seqs(recs) == [4, 5, 6] and gaps == [] and rr.last == 6



def test_a_ring_empty_at_start_keeps_every_record_read_later_however_late() -> None:
    """Found running the demo at x60: a relay whose ring was empty when the controller
    started stayed "replaying" for good (its replay mark was seq 0, which no record has),
    so its records were dropped whenever they were read more than the replay age after
    they were made: the tripping feeder's own pickup and trip were missing from the
    analysis, which then said "nothing tripped" at the wrong section."""
    ring = Ring(seq=0)
    rr = RelayRing("Q212", 3)
    assert rr.read(ring.get, keep_after=T0) == ([], [])
    pushed = [ring.push(CODE["pickup"], (T0 - 600) * 1000), ring.push(CODE["trip fast"],
                                                                    (T0 - 600) * 1000 + 150)]
    recs, gaps = rr.read(ring.get, keep_after=T0)       # read 10 min after they were made
    assert _seqs(recs) == pushed and gaps == []

# ---- merged by time ----------------------------------------------------------------------

def test_merge_orders_by_time_then_level_then_code() -> None:
    a = SoeRecord("Q111", 7, CODE["pickup"], T0, 5, 0, level=2)
    b = SoeRecord("Q201", 3, CODE["pickup"], T0, 5, 0, level=3)
    c = SoeRecord("Q111", 8, CODE["trip fast"], T0, 5, 0, level=2)
    d = SoeRecord("Q201", 4, CODE["breaker opened"], T0, 4, 0, level=3)
    e = SoeRecord("Q101", 1, CODE["pickup"], T0 - 1, 999, 0, level=1)
    assert merge([a, b, c, d, e]) == [e, d, a, c, b]


# ---- the collector on tags ---------------------------------------------------------------

async def test_collector_reads_every_relay_merges_and_publishes_gaps() -> None:
    clock = ManualClock(T0 + 100)
    system = demo_system()
    store = relay_store(system, clock)
    relays = {b: Relay(store, b) for b in ("Q101", "Q111", "Q201")}
    col = SoeCollector("power", system, store, clock)
    assert await col.scan() == []
    assert col.unreadable == {b for b in col.rings} - set(relays)   # never read: bad
    relays["Q201"].push("pickup", T0 + 100.010, 5200)
    relays["Q111"].push("pickup", T0 + 100.011, 5200)
    relays["Q101"].push("pickup", T0 + 100.011, 5100)
    relays["Q201"].push("trip fast", T0 + 100.110)
    got = await col.scan()
    assert [(r.breaker, r.name) for r in got] == [
        ("Q201", "pickup"), ("Q101", "pickup"), ("Q111", "pickup"), ("Q201", "trip fast")]
    assert await col.scan() == []
    assert store.value("power.soe.lost") == 0.0 and store.value("power.soe.gap") == ""
    for k in range(20):
        relays["Q111"].push("block received", T0 + 101 + k / 100, 0)
    relays["Q101"].set("soe_seq", relays["Q101"].seq, Quality.BAD)
    got = await col.scan()
    assert len(got) == DEPTH and {r.breaker for r in got} == {"Q111"}
    assert store.value("power.soe.lost") == 4.0
    assert store.value("power.soe.gap").startswith("Q111: 4 event records lost")
    assert "Q101" in col.unreadable
    relays["Q101"].set("soe_seq", relays["Q101"].seq)
    assert await col.scan() == [] and "Q101" not in col.unreadable
