"""One power system's simulated plant, shared by all of its substation gateways: the
breaker bays, the supplies, the blocking links, the faults, and the clock they move on.

Time is kept in epoch milliseconds (the HIL clock's): things happen at their own
millisecond whatever the scan period, through one queue of timed actions (a breaker
opening 45 ms after its command, a disconnector arriving 3 s after it set off). A fault
on an energised section (injected, or a section closed onto while faulted, or an earthed
section energised) starts an *episode*: ``protection.simulate`` plays it at 1 ms from the
relays' settings in force, and its records, trips and breaker openings are put on the
queue at their times. A change the episode did not foresee (a command carried out, a
fault injected or cleared, a supply lost) ends it: the relays still picked up drop off
and a new episode starts from what the network now is.

What the relays measure between faults is ``meters.py``'s (the load flow, cached per
state, with the loads' slow variation on top); their registers are ``relay.py``'s.
"""

from __future__ import annotations

import cmath
import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fixedsite.hil.power import layout as L
from fixedsite.hil.power import protection
from fixedsite.hil.power.meters import Meas, Meters
from fixedsite.hil.power.network import Fault, Feed, Flow, Network, ShortCircuit, State
from fixedsite.hil.power.relay import NEVER, Relay
from fixedsite.sequences.power.config import BreakerEq, PowerSystem

SPRING_S = 5.0               # the closing spring recharges after a close
DISC_S = 3.0                 # a motor-operated disconnector's travel
EARTH_S = 1.0                # an earthing switch's travel
UV_TRIP_MS = 500             # an incomer's loss-of-voltage trip
UV_PU = 0.7                  # below this a relay's bus is undervoltage
PICKUP_MS = 20.0             # relays' pickup time (the config's protection.pickup_ms wins)
GOOSE_PERIOD_MS = 1000       # a GOOSE publisher's heartbeat at rest (IEC 61850 T0)
WIRED_PERIOD_MS = 10         # a wired input is supervised continuously
DEFAULT_TTL_MS = 2000
SLOW_MS = 40.0               # a slow link's latency unless the injection says
BREAKER_TOL_MS = 3.0         # a commanded breaker's opening / closing time varies by this
LOST_AT_START = -1           # a link restored as lost: lost long before the first scan


@dataclass
class Bay:
    """A breaker bay: breaker, disconnector, earthing switch, door and their states."""

    bus: str
    feeds: str
    substation: str
    opening_ms: float
    closing_ms: float
    has_disc: bool
    has_earth: bool
    closed: bool = True
    disc_closed: bool = True
    disc_moving: bool = False
    earth_closed: bool = False
    earth_moving: bool = False
    door_unlocked: bool = False
    spring_charged: bool = True
    stuck: bool = False
    healthy: bool = True
    local: bool = False
    op_count: int = 0
    last_open_ms: int = 0
    last_close_ms: int = 0

    @property
    def disc_open(self) -> bool:
        return not self.disc_closed and not self.disc_moving

    @property
    def conducting(self) -> bool:
        return self.closed and (self.disc_closed or not self.has_disc)


@dataclass
class LinkState:
    lost_at: int | None = None       # epoch ms of the last message before the loss
    slow_ms: float | None = None


@dataclass
class _Episode:
    n: int
    t0: int
    faults: list[Fault]
    flow: Flow
    sc: ShortCircuit | None
    end: int = 0


@dataclass(order=True)
class _Due:
    t: int
    seq: int
    act: Callable[[], None] = field(compare=False)
    episode: int | None = field(default=None, compare=False)


class Plant:
    """The shared plant of one power system."""

    def __init__(self, system: PowerSystem, seed: int = 1, noise_pct: float = 1.0) -> None:
        self.system = system
        self.net = Network(system)
        nw = system.network
        self.bays: dict[str, Bay] = {}
        self.relay_no: dict[int, str] = {}
        for b, eq in system.equipment.items():
            if isinstance(eq, BreakerEq):
                sub = nw.buses[eq.bus].substation if eq.bus in nw.buses else ""
                self.bays[b] = Bay(eq.bus, eq.feeds, sub, eq.opening_ms, eq.closing_ms,
                                   eq.disconnector, eq.earthing, closed=not eq.normally_open)
                self.relay_no[eq.relay_no] = b
        self.relays: dict[str, Relay] = {}
        self.links = {lid: LinkState() for lid in nw.links}
        self.link_of = {(lk.source, lk.target): lid for lid, lk in nw.links.items()}
        self.live = set(nw.sources)
        self.faults: dict[str, Fault] = {}
        self.fire: dict[str, bool] = {}
        self.fire_fault: dict[str, bool] = {}
        self.rng = random.Random(seed)
        self.meters = Meters(system, self.rng, noise_pct)
        self.pickup_ms = float(getattr(system.protection, "pickup_ms", PICKUP_MS))
        self.t: int | None = None
        self._q: list[_Due] = []
        self._seq = 0
        self._episodes = 0
        self.episode: _Episode | None = None
        self.fed: list[Fault] = []           # faults energised now
        self._uv_gen: dict[str, int] = {b: 0 for b in self.bays}
        self._meas: dict[str, Meas] = {}

    # ---- time --------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Before the first scan (idempotent): time starts, undervoltage flags are set as
        the network is, a fault still fed (a restored state) plays."""
        if self.t is not None:
            return
        self.t = round(now * 1000)
        for ls in self.links.values():
            if ls.lost_at == LOST_AT_START:
                ls.lost_at = self.t - 10 * NEVER
        live = self.state_feed().energised
        for b, r in self.relays.items():
            r.uv = self.bays[b].bus not in live
        self.changed(self.t)
        self._measure_all()

    def advance(self, now: float) -> None:
        """Move to ``now`` (epoch s) once, whichever gateway asks first this scan."""
        if self.t is None:
            self.start(now)
        assert self.t is not None
        target = round(now * 1000)
        if target <= self.t:
            return
        dt = (target - self.t) / 1000.0
        self.run_until(target)
        self.t = target
        self._continuous(dt)
        self._measure_all()
        for r in self.relays.values():
            if not r.served:                  # no gateway reads it: keep its ring, not a
                r.flush()                     # backlog

    def run_until(self, target: int) -> None:
        while self._q and self._q[0].t <= target:
            due = heapq.heappop(self._q)
            if due.episode is not None and (self.episode is None
                                            or self.episode.n != due.episode):
                continue
            self.t = max(self.t or due.t, due.t)
            due.act()

    def at(self, t: int, act: Callable[[], None], episode: int | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._q, _Due(t, self._seq, act, episode))

    # ---- the network's state -------------------------------------------------------------------
    def state(self) -> State:
        return State(frozenset(b for b, bay in self.bays.items() if bay.conducting),
                     frozenset(self.live))

    def state_feed(self) -> Feed:
        return self.net.feed(self.state())

    def outgoing_live(self, breaker: str) -> bool:
        return self.bays[breaker].feeds in self.state_feed().energised

    def all_faults(self) -> list[Fault]:
        """The injected faults and every earthed bay's outgoing side (an earthing switch on
        a section that is energised is a bolted three-phase fault)."""
        out = list(self.faults.values())
        nw = self.system.network
        for bay in self.bays.values():
            if bay.earth_closed and bay.feeds not in self.faults:
                frac = 0.0
                if bay.feeds in nw.lines and nw.lines[bay.feeds].to_bus == bay.bus:
                    frac = 1.0
                out.append(Fault(bay.feeds, "3ph", frac))
        return out

    def changed(self, t: int, by_episode: bool = False) -> None:
        """After anything that changes what is energised or faulted."""
        feed = self.state_feed()
        self.fed = [f for f in self.all_faults() if f.node in feed.energised]
        for b, r in self.relays.items():
            self._undervoltage(t, b, r, self.bays[b].bus not in feed.energised)
        if by_episode:
            return
        if self.episode is not None:
            self._abort(t)
        if self.fed:
            self._play(t)

    # ---- faults: episodes ------------------------------------------------------------------------
    def _settings(self) -> dict[str, protection.Settings]:
        out = {}
        for b, r in self.relays.items():
            if self.bays[b].healthy:
                out[b] = protection.from_registers(r.settings(), r.st.group, self.relay_no)
        return out

    def _latencies(self) -> dict[tuple[str, str], float | None]:
        nw = self.system.network
        out: dict[tuple[str, str], float | None] = {}
        for lid, lk in nw.links.items():
            ls = self.links[lid]
            out[(lk.source, lk.target)] = None if ls.lost_at is not None else \
                ls.slow_ms if ls.slow_ms is not None else lk.latency_ms
        return out

    def _play(self, t0: int) -> None:
        state = self.state()
        faults = list(self.fed)
        self._episodes += 1
        ep = _Episode(self._episodes, t0, faults, self.net.flow(state),
                      self.net.short_circuit(state, faults[0]))
        self.episode = ep

        def currents(closed: frozenset[str]) -> dict[str, float]:
            return self.net.currents(State(closed, state.live), faults)
        out = protection.simulate(
            self._settings(), currents, state.closed, links=self._latencies(),
            opening_ms={b: bay.opening_ms for b, bay in self.bays.items()},
            stuck={b for b, bay in self.bays.items() if bay.stuck},
            pickup_ms=self.pickup_ms, seed=self.rng.randrange(2**31))
        for e in out.events:
            self.at(t0 + e.t_ms, lambda e=e: self._apply(ep, e, out), ep.n)
        ep.end = t0 + max((e.t_ms for e in out.events), default=0)
        if not out.events:                    # nothing picks up: the fault stays fed
            self.episode = None

    def _apply(self, ep: _Episode, e: protection.Event, out: protection.Outcome) -> None:
        t = ep.t0 + e.t_ms
        r = self.relays[e.breaker]
        r.soe(t, e.code, e.value)
        if e.code == L.PICKUP:
            r.picked = True
        elif e.code == L.DROP_OFF:
            r.picked = False
        elif e.code == L.BLOCK_IN:
            r.blocks += 1
        elif e.code == L.BLOCK_OUT:
            r.blocks = max(0, r.blocks - 1)
        elif e.code in (L.TRIP_FAST, L.TRIP_INST, L.TRIP_BACKUP, L.BF_RECEIVED):
            self.latch(r, out.trips[e.breaker][1])
            self._record(ep, e.breaker)
        elif e.code == L.BF_SENT:
            r.st.bf_operated = True
        elif e.code == L.OPENED:
            bay = self.bays[e.breaker]
            bay.closed = False
            bay.op_count += 1
            bay.last_open_ms = t - (ep.t0 + out.trips[e.breaker][0])
            r.st.record.clear_ms = min(NEVER, t - ep.t0)
            self.changed(t, by_episode=True)
        if t >= ep.end and self.episode is ep:
            self.episode = None

    def _abort(self, t: int) -> None:
        """The episode's future is void: what is still picked up drops off now."""
        self.episode = None
        for r in self.relays.values():
            if r.picked:
                r.soe(t, L.DROP_OFF, 0)
            r.picked, r.blocks = False, 0

    def latch(self, r: Relay, code: int) -> None:
        """A trip's cause latched; the relay puts it into its gateway's image at its own
        scan (another gateway may be the one stepping the plant)."""
        r.st.trip_code = code
        r.latched = True

    def _record(self, ep: _Episode, b: str) -> None:
        """The relay's disturbance record: phasors before (load flow) and during (short
        circuit) the fault."""
        r, bay = self.relays[b], self.bays[b]
        fl = ep.flow.breakers.get(b)
        ia = fl.i if fl is not None else 0j
        ua = ep.flow.voltages.get(bay.bus, 0j)
        rot = (1, cmath.rect(1, -2 * math.pi / 3), cmath.rect(1, 2 * math.pi / 3))
        pre = [ia * k for k in rot] + [ua * k for k in rot]
        sc = ep.sc
        if sc is not None and b in sc.breakers:
            fi = list(sc.breakers[b])
        else:
            fi = [0j, 0j, 0j]
        ratios = sc.voltages.get(bay.bus, (0j, 0j, 0j)) if sc is not None else (0j,) * 3
        flt = fi + [ua * x for x in ratios]
        rec = r.st.record
        rec.seq = rec.seq % 65535 + 1
        rec.t_ms, rec.clear_ms = ep.t0, NEVER
        rec.type = L.FAULT_2PH if ep.faults[0].kind == "2ph" else L.FAULT_3PH
        rec.pre = [abs(x) for x in pre] + [_deg(x) for x in pre]
        rec.flt = [abs(x) for x in flt] + [_deg(x) for x in flt]

    # ---- undervoltage ----------------------------------------------------------------------
    def _undervoltage(self, t: int, b: str, r: Relay, dead: bool) -> None:
        if dead == r.uv:
            return
        r.uv = dead
        self._uv_gen[b] += 1
        if not dead or not r.incomer:
            return
        r.soe(t, L.UNDERVOLTAGE, 0)
        gen = self._uv_gen[b]

        def trip() -> None:
            bay = self.bays[b]
            if self._uv_gen[b] != gen or not bay.closed or not bay.healthy:
                return
            self.latch(r, L.TRIP_CODE_UV)
            self._open(b, t + UV_TRIP_MS, commanded=False)
        self.at(t + UV_TRIP_MS, trip)

    # ---- breakers, disconnectors, earthing switches ---------------------------------------
    def _vary(self, ms: float) -> int:
        return max(1, round(ms + BREAKER_TOL_MS * self.rng.uniform(-1, 1)))

    def _open(self, b: str, t: int, commanded: bool = True) -> None:
        bay, r = self.bays[b], self.relays[b]
        took = self._vary(bay.opening_ms)
        if bay.stuck:
            self.at(t + took, lambda: r.soe(t + took, L.FAILED_TO_OPEN, 0))
            return

        def done() -> None:
            if not bay.closed:
                return
            amps = self.measure(b).i[0]
            bay.closed = False
            bay.op_count += 1
            bay.last_open_ms = took
            r.soe(t + took, L.OPENED, amps)
            self.changed(t + took)
        self.at(t + took, done)

    def command_open(self, b: str, t: int) -> None:
        self._open(b, t)

    def command_close(self, b: str, t: int) -> None:
        bay, r = self.bays[b], self.relays[b]
        took = self._vary(bay.closing_ms)

        def done() -> None:
            if bay.closed or bay.earth_closed:
                return
            bay.closed = True
            bay.spring_charged = False
            bay.last_close_ms = took
            r.soe(t + took, L.CLOSED, 0)
            self.at(t + took + round(SPRING_S * 1000),
                    lambda: setattr(bay, "spring_charged", True))
            self.changed(t + took)
        self.at(t + took, done)

    def move_disconnector(self, b: str, t: int, close: bool) -> None:
        bay, r = self.bays[b], self.relays[b]
        if bay.disc_closed == close:
            return
        bay.disc_moving, bay.disc_closed = True, False
        end = t + round(DISC_S * 1000)

        def done() -> None:
            bay.disc_moving, bay.disc_closed = False, close
            r.soe(end, L.DISC_CLOSED if close else L.DISC_OPENED)
            self.changed(end)
        self.at(end, done)

    def move_earthing(self, b: str, t: int, close: bool) -> None:
        bay, r = self.bays[b], self.relays[b]
        if bay.earth_closed == close:
            return
        bay.earth_moving = True
        end = t + round(EARTH_S * 1000)

        def done() -> None:
            bay.earth_moving, bay.earth_closed = False, close
            r.soe(end, L.EARTH_CLOSED if close else L.EARTH_OPENED)
            self.changed(end)
        self.at(end, done)

    # ---- links ----------------------------------------------------------------------------
    def links_of(self, r: Relay, t: int) -> list[tuple[bool, int, int]]:
        """Each subscription's (ok, age ms, latency x0.1 ms) at ``t``; a change of health
        is recorded at the moment it happened."""
        nw = self.system.network
        ttl = r.win.get("link_ttl_ms") or DEFAULT_TTL_MS
        out: list[tuple[bool, int, int]] = []
        for i, no in enumerate(r.sources()):
            if r.st.link_src[i] != no:                 # a new subscription: not heard yet
                r.st.link_src[i], r.st.link_ok[i] = no, None
            src = self.relay_no.get(no)
            lid = self.link_of.get((src, r.breaker)) if src else None
            if lid is None:
                out.append((False, NEVER, 0))
                continue
            lk, ls = nw.links[lid], self.links[lid]
            period = WIRED_PERIOD_MS if lk.medium == "wired" else \
                max(1, min(GOOSE_PERIOD_MS, ttl // 2))
            phase = (no * 37 + r.relay_no * 11) % period
            heard = t if ls.lost_at is None else min(t, ls.lost_at)
            last = heard - (heard - phase) % period
            age = t - last
            ok = age <= ttl
            if r.st.link_ok[i] is True and not ok:
                r.soe(min(t, last + ttl + 1), L.LINK_LOST, i)
            elif r.st.link_ok[i] is False and ok:
                r.soe(t, L.LINK_RESTORED, i)
            if ok or r.st.link_ok[i] is not None:
                r.st.link_ok[i] = ok
            lat = ls.slow_ms if ls.slow_ms is not None else lk.latency_ms
            jitter = 0.0 if lk.medium == "wired" else self.rng.uniform(-0.2, 0.2)
            out.append((ok, min(NEVER, age), max(0, round((lat + jitter) * 10))))
        return out

    # ---- measurements ------------------------------------------------------------------------
    def _continuous(self, dt: float) -> None:
        """Loads and frequency move on; the energy counters integrate over ``dt`` s."""
        self.meters.step(dt)
        for b, r in self.relays.items():
            m = self._meas.get(b)
            if m is not None:
                r.st.energy_kwh += max(0.0, m.p_kw) * dt / 3600
                r.st.energy_kvarh += abs(m.q_kvar) * dt / 3600

    def measure(self, b: str) -> Meas:
        return self._meas.get(b, Meas())

    def _measure_all(self) -> None:
        self._meas = self.meters.read(self.net, self.state(), self.bays, self.fed)


def _deg(z: complex) -> float:
    return math.degrees(cmath.phase(z)) if abs(z) > 1e-9 else 0.0
