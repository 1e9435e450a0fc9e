"""The relays' sequences of events (SOE), gathered by seq so that none is lost or read twice.

Each relay keeps its last ``profile.SOE_DEPTH`` (16) records in a ring (docs/power.md):
``soe_seq`` is the newest record's seq (1, 2, ... 65535, then 1 again; 0 = none yet), and
the record with seq n sits in slot r = (n - 1) % 16 as ``soe<r>_seq/_code/_s/_ms/_value``.
The controller polls the ring like any other registers, so what it sees may be torn: the
``soe_seq`` register and a slot come from different reads (two poll blocks, or the relay
wrote between them). Hence the rules, all on the seq numbers alone:

- the records to read are the ones after the last seq read (``last``) up to ``soe_seq``;
- a slot whose own seq is not the one expected is not read now (torn: the slot is from an
  older or a newer turn of the ring); reading stops there, in order, and the next scan
  tries again from that record. A slot that never comes right (``TORN_LIMIT`` scans: a
  relay that writes junk) is given up as one record lost, so the relay is not stuck;
- more than 16 new records since the last read: the oldest were overwritten before they
  could be read, a gap of ``new - 16`` records lost, reported with the number;
- ``soe_seq`` gone backwards (by more than half the seq range forward, or to 0): the relay
  restarted and its ring began again; what it recorded after our last read and before its
  restart cannot be known, reported as lost without a number;
- a bad-quality ``soe_seq`` or slot: nothing is read from it now, nothing is counted as
  read, the next good scan carries on.

The first good read of a relay after the controller starts (bumpless restart) takes the
records still in the ring that are younger than ``replay_s`` on the project clock (a trip
the controller restarted in the middle of is still analysed) and marks the rest as read.

``merge`` puts every relay's records into one list by time (s + ms/1000), ties by the
relay's level (the supply side first) then the code. ``SoeCollector`` is the run-time part
that does this every scan from the tags; everything else here is pure.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fixedsite.clock import Clock
from fixedsite.sequences.power import profile
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.topology import Topology
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

SEQ_MAX = 65535             # seq runs 1..65535 and wraps to 1; 0 means "no record yet"
DEPTH = profile.SOE_DEPTH
TORN_LIMIT = 5              # scans a slot may stay torn before its record is given up
FIELDS = ("seq", "code", "s", "ms", "value")

# codes that mean a relay saw a fault or acted on one (what starts a disturbance)
PICKUP = profile.SOE["pickup"]
DROP_OFF = profile.SOE["drop-off"]
TRIPS = frozenset(profile.SOE[c] for c in ("trip fast", "trip instantaneous", "trip backup",
                                           "breaker-failure trip received"))
OWN_TRIPS = frozenset(profile.SOE[c] for c in ("trip fast", "trip instantaneous",
                                               "trip backup"))
FAULT_CODES = frozenset({PICKUP, *TRIPS, profile.SOE["breaker-failure trip sent"],
                         profile.SOE["breaker failed to open"]})

TEXTS: dict[str, str] = {
    "{breaker}: {n} event records lost (more than {depth} new since the last read)":
        "{breaker}：丢失 {n} 条事件记录（自上次读取后新增超过 {depth} 条）",
    "{breaker}: relay restarted (event seq {last} to {now}), records made before its "
    "restart may be lost":
        "{breaker}：保护装置已重启（事件序号 {last} 变为 {now}），重启前的记录可能丢失",
    "{breaker}: event record {seq} never read whole, given up":
        "{breaker}：事件记录 {seq} 始终未能完整读取，已放弃",
}


@dataclass(frozen=True, order=False)
class SoeRecord:
    """One event of one relay, as it recorded it (its own clock, 1 ms)."""

    breaker: str
    seq: int
    code: int
    s: int                      # epoch seconds of the relay's clock
    ms: int
    value: int                  # A at a pickup, the group, the subscription index
    level: int = 0              # the relay's level (1 next to a supply): for the order

    @property
    def t(self) -> float:
        return self.s + self.ms / 1000.0

    @property
    def t_ms(self) -> int:
        """The time in whole ms: exact, for ordering and differences."""
        return self.s * 1000 + self.ms

    @property
    def name(self) -> str:
        return profile.SOE_CODES.get(self.code, f"code {self.code}")

    def key(self) -> tuple[int, int, int, str, int]:
        return (self.t_ms, self.level, self.code, self.breaker, self.seq)


@dataclass(frozen=True)
class Gap:
    """Records of a relay that can no longer be read: ``lost`` of them (None: unknown)."""

    breaker: str
    lost: int | None
    text: str


@dataclass(frozen=True)
class ReadPlan:
    """What to read from a ring: the seqs in order, and what is already lost."""

    seqs: tuple[int, ...]
    lost: int | None = 0        # records overwritten before they could be read (None: unknown)
    restart: bool = False


def seq_add(seq: int, k: int) -> int:
    """``seq`` moved by ``k`` records along 1..65535 (wrapping; 0 counts as before 1)."""
    return (seq - 1 + k) % SEQ_MAX + 1


def seq_dist(last: int, now: int) -> int:
    """Records from ``last`` forward to ``now`` (0 if equal), across the wrap."""
    if last == 0:
        return now
    return (now - last) % SEQ_MAX


def plan(last: int | None, now: int, depth: int = DEPTH) -> ReadPlan:
    """The records to read when the relay says ``now`` and ``last`` was read (None: never
    read since the controller started: whatever the ring still holds)."""
    if now < 0 or now > SEQ_MAX:
        return ReadPlan(())                      # not a seq: nothing to read on it
    if last is None:
        n = min(now, depth) if now else 0
        return ReadPlan(tuple(seq_add(now, -k) for k in range(n - 1, -1, -1)))
    if now == last:
        return ReadPlan(())
    d = seq_dist(last, now)
    if now == 0 or d > SEQ_MAX // 2:             # went backwards: the relay restarted
        n = min(now, depth)
        return ReadPlan(tuple(range(now - n + 1, now + 1)), lost=None, restart=True)
    n = min(d, depth)
    return ReadPlan(tuple(seq_add(now, -k) for k in range(n - 1, -1, -1)), lost=d - n)


def seq_before(seq: int) -> int:
    """The seq just before ``seq`` (0 before the very first record)."""
    return 0 if seq == 1 else seq_add(seq, -1)


def slot(seq: int, depth: int = DEPTH) -> int:
    return (seq - 1) % depth


Reader = Callable[[str], Any]       # signal name -> value, or None when not good


def read_slot(get: Reader, breaker: str, seq: int, level: int = 0,
              depth: int = DEPTH) -> SoeRecord | None | str:
    """The record ``seq`` from its slot: the record; None when a field is not good (try
    later, no harm done); "torn" when the slot holds another seq or junk."""
    r = slot(seq, depth)
    vals = [get(f"soe{r}_{f}") for f in FIELDS]
    if any(v is None for v in vals):
        return None
    try:
        sq, code, s, ms, value = (int(round(float(v))) for v in vals)
    except (TypeError, ValueError):
        return "torn"
    if sq != seq or not 0 <= ms <= 999 or s < 0:
        return "torn"
    return SoeRecord(breaker, seq, code, s, ms, value, level)


def merge(records: Iterable[SoeRecord]) -> list[SoeRecord]:
    """One time-ordered list (ties: the relay's level, then the code)."""
    return sorted(records, key=SoeRecord.key)


@dataclass
class RelayRing:
    """What the collector remembers of one relay's ring between scans."""

    breaker: str
    level: int
    last: int | None = None          # the last seq read (None: not yet since start)
    torn_seq: int = 0
    torn_scans: int = 0
    replay_to: int | None = None     # records up to this seq were in the ring at start

    def read(self, get: Reader, depth: int = DEPTH, keep_after: float | None = None
             ) -> tuple[list[SoeRecord], list[Gap]]:
        """Read what is new (pure but for this relay's own memory). ``keep_after``: records
        found in the ring at the first read that are older than this (epoch s) are marked
        read, not returned."""
        raw = get("soe_seq")
        if raw is None:
            return [], []
        try:
            now = int(round(float(raw)))
        except (TypeError, ValueError):
            return [], []
        if self.last is None:                    # the ring as found at start; an empty
            self.replay_to = now or None         # one has nothing to replay
        p = plan(self.last, now, depth)
        gaps: list[Gap] = []
        if p.restart:
            gaps.append(Gap(self.breaker, None, say(
                "{breaker}: relay restarted (event seq {last} to {now}), records made "
                "before its restart may be lost", breaker=self.breaker, last=self.last,
                now=now)))
            self.last, self.torn_seq, self.torn_scans, self.replay_to = 0, 0, 0, None
        elif p.lost:
            self.replay_to = None
            gaps.append(Gap(self.breaker, p.lost, say(
                "{breaker}: {n} event records lost (more than {depth} new since the last "
                "read)", breaker=self.breaker, n=p.lost, depth=depth)))
        if p.seqs and self.last is not None and p.seqs[0] != seq_add(self.last, 1):
            self.last = seq_before(p.seqs[0])    # past the gap: reported, not retried
        out: list[SoeRecord] = []
        for seq in p.seqs:
            rec = read_slot(get, self.breaker, seq, self.level, depth)
            if rec is None:
                break                            # not good now: read it next scan
            if rec == "torn":
                if self.torn_seq != seq:
                    self.torn_seq, self.torn_scans = seq, 0
                self.torn_scans += 1
                if self.torn_scans < TORN_LIMIT:
                    break                        # in order: this one first, next scan
                gaps.append(Gap(self.breaker, 1, say(
                    "{breaker}: event record {seq} never read whole, given up",
                    breaker=self.breaker, seq=seq)))
                self._consumed(seq)
                continue
            assert isinstance(rec, SoeRecord)
            replaying = self.replay_to is not None
            self._consumed(seq)
            if replaying and keep_after is not None and rec.t < keep_after:
                continue
            out.append(rec)
        if self.last is None:                    # the first read took nothing
            self.last = seq_before(p.seqs[0]) if p.seqs else now
        return out, gaps

    def _consumed(self, seq: int) -> None:
        self.last = seq
        self.torn_seq, self.torn_scans = 0, 0
        if seq == self.replay_to:
            self.replay_to = None


class SoeCollector:
    """Every relay's SOE, read from the tags each scan; ``scan()`` returns what is new,
    merged. Publishes ``<system>.soe.lost`` (records lost since the controller started)
    and ``<system>.soe.gap`` (the last gap, in words; "" when none)."""

    def __init__(self, sname: str, system: PowerSystem, store: TagStore, clock: Clock,
                 replay_s: float = 30.0) -> None:
        self.sname, self.system, self.store, self.clock = sname, system, store, clock
        self.replay_s = replay_s
        topo = Topology(system)
        self.rings = {b: RelayRing(b, topo.level(b)) for b, eq in system.equipment.items()
                      if isinstance(eq, BreakerEq)}
        self.gaps: deque[Gap] = deque(maxlen=200)     # the recent gaps, oldest first
        self.last_gaps: list[Gap] = []                 # the gaps found by the last scan
        self.lost_total = 0
        self.unreadable: set[str] = set()              # relays whose soe_seq is not good
        self.path = f"{sname}.soe"
        self.lost_tag = store.define(f"{self.path}.lost", TagMeta(
            kind="number", description="SOE records lost since the controller started "
            "(overwritten in a relay's ring before they were read)"))
        self.gap_tag = store.define(f"{self.path}.gap", TagMeta(
            kind="text", description="the last SOE gap, in words (empty when none)"))
        store.update(self.lost_tag, 0.0)
        store.update(self.gap_tag, "")

    @property
    def published(self) -> list[Tag]:
        return [self.lost_tag, self.gap_tag]

    def _reader(self, b: str) -> Reader:
        def get(sig: str) -> Any:
            tag = self.store.get(f"{self.sname}.{b}.{sig}")
            return tag.value if tag is not None and tag.quality is Quality.GOOD else None
        return get

    def poll(self) -> tuple[list[SoeRecord], list[Gap]]:
        """One pass over every relay (synchronous: it only reads tags)."""
        out: list[SoeRecord] = []
        new_gaps: list[Gap] = []
        keep_after = self.clock.now() - self.replay_s
        for b, ring in self.rings.items():
            get = self._reader(b)
            if get("soe_seq") is None:
                self.unreadable.add(b)
                continue
            self.unreadable.discard(b)
            recs, gaps = ring.read(get, keep_after=keep_after)
            out += recs
            new_gaps += gaps
        for g in new_gaps:
            log.warning("%s", g.text)
            self.gaps.append(g)
            self.lost_total += g.lost or 0
        if new_gaps:
            self.store.update(self.lost_tag, float(self.lost_total))
            self.store.update(self.gap_tag, new_gaps[-1].text)
        self.last_gaps = new_gaps
        return merge(out), new_gaps

    async def scan(self) -> list[SoeRecord]:
        """The records new since the last scan, merged; the gaps it found are in
        ``last_gaps``."""
        return self.poll()[0]
