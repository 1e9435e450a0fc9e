"""The protection scheme engineered from the config: pure, no tags, no I/O.

Reverse interlocking: a relay's fast stage trips after ``fast_delay_ms`` unless a relay
directly downstream of it has picked up (its *block sources*, subscribed over the
config's blocking links); every relay also has a definite-time backup stage graded from
the lowest level up. From the topology and the network's figures this module works out,
per breaker:

- its **block sources**: the closed relays directly downstream of it, in the normal
  configuration and in every transfer (a normally open breaker closed with one incomer
  open), so the bus tie blocks whichever incomer feeds it. A normally open breaker (the
  tie, a standby incomer) gets none and no fast stage: the side it feeds depends on the
  supply in force, and both sides' feeders would need more subscriptions than a relay has;
  its backup is graded above the feeders of both sides instead;
- **pickup** = ``pickup_factor`` x the largest load current through it in any of those
  configurations, checked against ``sensitivity`` with the least two-phase fault at the
  far end of its zone (IEC 60909 with the simple source model: Z_Q = c Un^2 / S"kQ, the
  cables' impedance at 20 degC, c = 1.1 for maximum and 1.0 for minimum currents);
- **fast stage** on in group 1 when every block source comes over a configured link (or
  when it has none: nothing downstream to wait for); off in group 2, the fallback the link
  supervision switches to when a link is lost (group 2 is computed for every relay, so any
  one can be switched; one without block sources keeps its fast stage there);
- **backup** ``lowest_backup_s`` + ``grading_margin_s`` per level of relays below it, the
  same in both groups; the instantaneous stage only where it has reach (its pickup, 1.3 x
  the largest fault beyond its zone, below the least fault where it stands);
- ``link_ttl_ms`` from its links, ``block_src0..3`` the relay numbers of its sources.

``check`` reports what would let a fault trip more than its nearest breaker (a missing
link, a margin too short, a fast stage faster than its block can arrive), what the
supplier would refuse (backup beyond ``source_max_s`` at an incomer) and, given the
settings read from the relays, every one that differs from the computed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from fixedsite.sequences.power import profile
from fixedsite.sequences.power.config import BreakerEq, Link, PowerSystem
from fixedsite.sequences.power.topology import Closed, Feed, Topology
from fixedsite.texts import say

MIN_MARGIN_S = 0.3          # grading margin per level (DOMAIN.md §3: 0.3-0.5 s)
TIMING_MS = 100.0           # beyond the break time: both relays' timer tolerance, overshoot
C_MAX, C_MIN = 1.1, 1.0     # IEC 60909 voltage factors, medium voltage
KREL_INST = 1.3             # instantaneous pickup over the largest fault beyond its zone
MIN_PICKUP_CT = 0.1         # pickup floor, x CT primary (a bay with no load behind it)
DEFAULT_TTL_MS = float(Link.model_fields["ttl_ms"].default)
REG_MAX = 65535             # a uint16 register
ERROR, WARNING = "error", "warning"
SETTINGS = tuple([f"g{g}_{f}" for g in profile.GROUP_BASE for f in profile.GROUP_FIELDS]
                 + [f"block_src{i}" for i in range(profile.SUBSCRIPTIONS)]
                 + ["link_ttl_ms"])


@dataclass(frozen=True)
class Problem:
    """``where``: a key path under the system's table (``network.links``,
    ``protection.grading_margin_s``, ``equipment.Q111``) or ``<breaker>.<signal>``."""

    where: str
    message: str
    severity: str = ERROR


@dataclass(frozen=True)
class Group:
    """One settings group, field for field as ``profile.GROUP_FIELDS``."""

    pickup_a: int
    fast_enabled: int
    fast_delay_ms: int
    backup_pickup_a: int
    backup_delay_ms: int
    inst_enabled: int
    inst_pickup_a: int
    inst_delay_ms: int
    bf_delay_ms: int


@dataclass(frozen=True)
class Relay:
    """The scheme of one breaker's relay."""

    breaker: str
    relay_no: int
    level: int                        # topology.level: 1 next to a supply
    height: int                       # levels of relays below it (0: none)
    normally_open: bool
    below: tuple[str, ...]            # relays directly downstream in any configuration
    block_sources: tuple[str, ...]    # the ones it subscribes to, by relay_no
    links: tuple[str, ...]            # the link carrying each block source
    load_a: float                     # largest load current through it
    fault_min_a: float                # least 2-phase fault at the far end of its zone
    fault_beyond_a: float             # largest 3-phase fault just beyond its zone
    groups: Mapping[int, Group]
    link_ttl_ms: int
    upstream: tuple[str, ...] = ()    # relays directly upstream in any configuration
    block_src: tuple[int, ...] = ()   # the relay numbers of ``block_sources``


@dataclass(frozen=True)
class Scheme:
    relays: dict[str, Relay]
    needed: dict[tuple[str, str], str | None]   # (source, target) -> its link (None: none)
    problems: tuple[Problem, ...]               # found while engineering it


def register_values(relay: Relay) -> dict[str, int]:
    """The relay's settings as its registers take them: every signal of ``SETTINGS``."""
    out: dict[str, int] = {}
    for g, grp in relay.groups.items():
        for f in profile.GROUP_FIELDS:
            out[f"g{g}_{f}"] = int(getattr(grp, f))
    for i in range(profile.SUBSCRIPTIONS):
        out[f"block_src{i}"] = relay.block_src[i] if i < len(relay.block_src) else 0
    out["link_ttl_ms"] = relay.link_ttl_ms
    return out


# ------------------------------------------------------------------------------------------
# the network: configurations, who is below whom, loads and fault currents
# ------------------------------------------------------------------------------------------
def _upstream_node(top: Topology, b: str, fs: Mapping[str, Feed]) -> str | None:
    """The side ``b`` is fed from (None: dead)."""
    bus, feeds = top.breakers[b]
    if bus in fs and b not in fs[bus].breakers:
        return bus
    if feeds in fs and b not in fs[feeds].breakers:
        return feeds
    return None


def configurations(top: Topology) -> tuple[list[dict[str, bool]], list[Problem]]:
    """The normal configuration and each transfer (a normally open breaker closed, one
    incomer open) that feeds every breaker from the side it is normally fed from; a
    transfer that would feed some breaker backwards is not engineered (a warning)."""
    normal = top.normal()
    base = top.feeds(normal)
    side = {b: _upstream_node(top, b, base) for b in top.breakers}
    incomers = sorted(b for b, (_, f) in top.breakers.items()
                      if top.kind.get(f) == "source" and normal[b])
    out, problems = [normal], []
    for t in sorted(b for b, c in normal.items() if not c):
        for i in incomers:
            c = normal | {t: True, i: False}
            fs = top.feeds(c)
            back = [b for b in top.breakers if b != t and c[b] and side[b] is not None
                    and _upstream_node(top, b, fs) not in (None, side[b])]
            if back:
                problems.append(Problem(f"equipment.{t}", say(
                    "closing {breaker} with {target} open would feed {others} from the "
                    "other side: that transfer is not engineered", breaker=t, target=i,
                    others=", ".join(sorted(back))), WARNING))
            elif _upstream_node(top, t, fs) is not None:
                out.append(c)
    return out, problems


def _impedances(top: Topology, closed: Closed) -> dict[str, tuple[str, complex]]:
    """Each energised node's supply and the cables' impedance from it (ohm); a cable's
    is that of its far end, the worst place for a fault on it."""
    net = top.system.network
    adj: dict[str, list[str]] = {}
    edges = list(top.fixed) + [e for b, e in top.breakers.items() if closed.get(b, False)]
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    out: dict[str, tuple[str, complex]] = {s: (s, 0j) for s in net.sources}
    queue = deque(net.sources)
    while queue:
        node = queue.popleft()
        src, z = out[node]
        for nxt in adj.get(node, ()):
            if nxt in out:
                continue
            ln = net.lines.get(nxt)
            dz = complex(ln.r_ohm_per_km, ln.x_ohm_per_km) * ln.length_km if ln else 0j
            out[nxt] = (src, z + dz)
            queue.append(nxt)
    return out


def _fault_a(system: PowerSystem, source: str, z_lines: complex, maximum: bool) -> float:
    """IEC 60909 initial short-circuit current, A: three-phase for the maximum, two-phase
    for the minimum, from the source's short-circuit power and the cables."""
    s = system.network.sources[source]
    un = system.network.buses[s.bus].voltage_kv if s.bus in system.network.buses else \
        s.voltage_kv
    c = C_MAX if maximum else C_MIN
    zq = c * un * un / (s.s_sc_max_mva if maximum else s.s_sc_min_mva)
    rx = s.rx_max if maximum else s.rx_min
    xq = zq / math.sqrt(1 + rx * rx)
    z = abs(complex(rx * xq, xq) + z_lines)
    ka = c * un / (math.sqrt(3) * z) if maximum else c * un / (2 * z)
    return ka * 1000.0


def _load_kva(system: PowerSystem, load: str) -> complex:
    ld = system.network.loads[load]
    return complex(ld.p_kw, ld.p_kw * math.tan(math.acos(ld.pf)))


@dataclass
class _Seen:
    """What the configurations show of one breaker."""

    below: set[str]
    load_kva: float = 0.0
    fault_min: float = math.inf
    beyond: float = 0.0
    near_min: float = math.inf


def _survey(system: PowerSystem, top: Topology, configs: list[dict[str, bool]]
            ) -> dict[str, _Seen]:
    seen = {b: _Seen(set()) for b in top.breakers}
    for c in configs:
        fs = top.feeds(c)
        zs = _impedances(top, c)
        zone: dict[str, list[str]] = {}
        kva: dict[str, complex] = {}
        for n, f in fs.items():
            if top.kind[n] == "source" or not f.breakers:
                continue
            zone.setdefault(f.breakers[-1], []).append(n)
            if top.kind[n] == "load":
                for b in f.breakers:
                    kva[b] = kva.get(b, 0j) + _load_kva(system, n)
        for b in top.breakers:
            if not c.get(b, False):
                continue
            s = seen[b]
            s.load_kva = max(s.load_kva, abs(kva.get(b, 0j)))
            for n in zone.get(b, ()):
                if n in zs:
                    s.fault_min = min(s.fault_min, _fault_a(system, *zs[n], maximum=False))
            up = _upstream_node(top, b, fs)
            if up is None:
                continue
            if up in zs:
                s.near_min = min(s.near_min, _fault_a(system, *zs[up], maximum=False))
            path = fs[up].breakers
            if path:
                parent = seen[path[-1]]
                parent.below.add(b)
                if up in zs:
                    parent.beyond = max(parent.beyond, _fault_a(system, *zs[up], maximum=True))
    return seen


def _heights(seen: Mapping[str, _Seen], problems: list[Problem]) -> dict[str, int]:
    out: dict[str, int] = {}

    def h(b: str, trail: tuple[str, ...]) -> int:
        if b in out:
            return out[b]
        if b in trail:
            problems.append(Problem(f"equipment.{b}", say(
                "relays {others} block each other in a loop: the network is not radial",
                others=", ".join(trail[trail.index(b):]))))
            return 0
        out[b] = max((h(c, (*trail, b)) + 1 for c in seen[b].below), default=0)
        return out[b]
    for b in seen:
        h(b, ())
    return out


# ------------------------------------------------------------------------------------------
# the scheme
# ------------------------------------------------------------------------------------------
def _links_by_pair(system: PowerSystem, problems: list[Problem]) -> dict[tuple[str, str], str]:
    pairs: dict[tuple[str, str], list[str]] = {}
    for lid, lk in system.network.links.items():
        pairs.setdefault((lk.source, lk.target), []).append(lid)
    for (s, t), ids in pairs.items():
        if len(ids) > 1:
            problems.append(Problem(f"network.links.{ids[1]}", say(
                "links {others} all carry the block of {source} to {target}: {link} is used",
                others=", ".join(ids), source=s, target=t, link=ids[0]), WARNING))
    return {k: v[0] for k, v in pairs.items()}


def engineer(system: PowerSystem, top: Topology | None = None) -> Scheme:
    """The scheme of every breaker's relay, and the problems found making it."""
    top = top or Topology(system)
    prot = system.protection
    configs, problems = configurations(top)
    seen = _survey(system, top, configs)
    heights = _heights(seen, problems)
    by_pair = _links_by_pair(system, problems)
    eqs = {b: e for b, e in system.equipment.items() if isinstance(e, BreakerEq)}
    ups: dict[str, list[str]] = {b: [] for b in eqs}
    for b, s in seen.items():
        for c in s.below:
            ups[c].append(b)
    needed: dict[tuple[str, str], str | None] = {}
    relays: dict[str, Relay] = {}
    for b, eq in eqs.items():
        s = seen[b]
        below = tuple(sorted(s.below, key=lambda x: (eqs[x].relay_no, x)))
        sources = () if eq.normally_open else below
        fast_ok = True
        for src in sources:
            needed[(src, b)] = by_pair.get((src, b))
            if needed[(src, b)] is None:
                fast_ok = False
                problems.append(Problem("network.links", say(
                    "{breaker} needs the block of {source}, but no link of the network "
                    "carries it: its fast stage is left off", breaker=b, source=src)))
        carried = tuple(x for x in sources if needed[(x, b)] is not None)
        if len(carried) > profile.SUBSCRIPTIONS:
            fast_ok = False
            problems.append(Problem(f"equipment.{b}", say(
                "{breaker} has {n} block sources ({others}); a relay subscribes to at most "
                "{most}: its fast stage is left off", breaker=b, n=len(carried),
                others=", ".join(carried), most=profile.SUBSCRIPTIONS)))
            carried = carried[:profile.SUBSCRIPTIONS]
        links = tuple(by_pair[(x, b)] for x in carried)
        ttls = sorted({system.network.links[lk].ttl_ms for lk in links})
        if len(ttls) > 1:
            problems.append(Problem(f"equipment.{b}", say(
                "the links to {breaker} allow {ttls} ms to live; its relay takes one: "
                "{ttl:.0f} ms is used", breaker=b, ttls="/".join(f"{t:g}" for t in ttls),
                ttl=ttls[0]), WARNING))
        bus_kv = system.network.buses[eq.bus].voltage_kv if eq.bus in system.network.buses \
            else 10.0
        load_a = s.load_kva / (math.sqrt(3) * bus_kv)
        pickup = math.ceil(max(prot.pickup_factor * load_a, MIN_PICKUP_CT * eq.ct_primary_a))
        inst = math.ceil(KREL_INST * s.beyond) if s.beyond else 0
        inst_on = int(bool(below) and 0 < inst < s.near_min)
        for what, val in (("g1_pickup_a", pickup), ("g1_inst_pickup_a", inst)):
            if val > REG_MAX:
                problems.append(Problem(f"equipment.{b}", say(
                    "{breaker}: {signal} of {amps} A does not fit its register (at most "
                    "65535 A)", breaker=b, signal=what, amps=val)))
        pickup, inst = min(pickup, REG_MAX), min(inst, REG_MAX) if inst_on else 0
        backup_ms = round(1000 * (prot.lowest_backup_s + prot.grading_margin_s * heights[b]))
        g1 = Group(pickup_a=pickup, fast_enabled=int(fast_ok and not eq.normally_open),
                   fast_delay_ms=round(prot.fast_delay_ms), backup_pickup_a=pickup,
                   backup_delay_ms=min(backup_ms, REG_MAX), inst_enabled=inst_on,
                   inst_pickup_a=inst, inst_delay_ms=0, bf_delay_ms=round(prot.bf_delay_ms))
        g2 = Group(**{**g1.__dict__, "fast_enabled": 0 if carried else g1.fast_enabled})
        relay = Relay(breaker=b, relay_no=eq.relay_no, level=top.level(b), height=heights[b],
                      normally_open=eq.normally_open, below=below, block_sources=carried,
                      links=links, load_a=load_a,
                      fault_min_a=s.fault_min if math.isfinite(s.fault_min) else 0.0,
                      fault_beyond_a=s.beyond, groups={1: g1, 2: g2},
                      link_ttl_ms=round(min(ttls) if ttls else DEFAULT_TTL_MS),
                      upstream=tuple(sorted(ups[b])),
                      block_src=tuple(eqs[x].relay_no for x in carried))
        relays[b] = relay
    for (src, tgt), lid in by_pair.items():
        if (src, tgt) not in needed:
            problems.append(Problem(f"network.links.{lid}", say(
                "link {link} ({source} to {target}) is needed by no relay: the first is not "
                "directly downstream of the second in any configuration", link=lid,
                source=src, target=tgt), WARNING))
    return Scheme(relays, needed, tuple(problems))


# ------------------------------------------------------------------------------------------
# the check
# ------------------------------------------------------------------------------------------
Actual = Mapping[str, Mapping[str, float | int | bool | None]]


def _number(v: object) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int | float) and math.isfinite(v):
        return round(v)
    return None


def check(system: PowerSystem, actual: Actual | None = None,
          scheme: Scheme | None = None) -> list[Problem]:
    """What would let a fault trip more than its nearest breaker, or what the supplier
    would refuse, in the scheme computed from ``system``; given ``actual`` (the settings
    read from the relays: breaker -> signal -> value), margins and fast stages are judged
    on the relays' own settings, and every setting that differs is reported."""
    scheme = scheme or engineer(system)
    prot, net = system.protection, system.network
    computed = {b: register_values(r) for b, r in scheme.relays.items()}
    problems = list(scheme.problems)
    read = actual or {}

    def eff(b: str, signal: str) -> int:
        got = _number(read.get(b, {}).get(signal))
        return computed[b][signal] if got is None else got

    def where(b: str, signal: str, config_key: str) -> str:
        return f"{b}.{signal}" if _number(read.get(b, {}).get(signal)) is not None and \
            _number(read[b][signal]) != computed[b][signal] else config_key

    need_s = max(MIN_MARGIN_S, (prot.breaker_break_ms + TIMING_MS) / 1000.0)
    for b, r in scheme.relays.items():
        for c in r.below:
            done: set[tuple[int, int]] = set()
            for g in profile.GROUP_BASE:
                sig = f"g{g}_backup_delay_ms"
                up, down = eff(b, sig), eff(c, sig)
                if (up, down) in done:
                    continue
                done.add((up, down))
                margin = (up - down) / 1000.0
                if margin < need_s - 1e-9:
                    at = where(b, sig, where(c, sig, "protection.grading_margin_s"))
                    problems.append(Problem(at, say(
                        "grading margin {margin:.2f} s between {downstream} and {upstream} "
                        "(group {group}) is under {need:.2f} s, the breaker's break time "
                        "included", margin=margin, downstream=c, upstream=b, group=g,
                        need=need_s)))
        if not r.upstream and top_feeds_source(system, b):
            for g in sorted({g for g in profile.GROUP_BASE
                             if eff(b, f"g{g}_backup_delay_ms") > 1000 * prot.source_max_s}):
                t = eff(b, f"g{g}_backup_delay_ms") / 1000.0
                problems.append(Problem(where(b, f"g{g}_backup_delay_ms",
                                              f"equipment.{b}"), say(
                    "{breaker}'s backup stage at {delay:.2f} s (group {group}) exceeds the "
                    "supplier's limit of {limit:.2f} s at the incomer", breaker=b, delay=t,
                    group=g, limit=prot.source_max_s), WARNING))
                break
        pickup = eff(b, "g1_pickup_a")
        if r.fault_min_a > 0 and pickup > 0 and r.fault_min_a / pickup < prot.sensitivity:
            problems.append(Problem(where(b, "g1_pickup_a", f"equipment.{b}"), say(
                "{breaker}'s pickup {amps} A is not sensitive enough: the least fault at the "
                "far end of its zone is {fault:.0f} A, {ratio:.2f} times it (at least "
                "{need:.2f} wanted)", breaker=b, amps=pickup, fault=r.fault_min_a,
                ratio=r.fault_min_a / pickup, need=prot.sensitivity)))
    for (src, tgt), lid in scheme.needed.items():
        if lid is None:
            continue
        lk = net.links[lid]
        need_ms = prot.pickup_ms + lk.latency_ms + prot.link_margin_ms
        for g in profile.GROUP_BASE:
            delay = eff(tgt, f"g{g}_fast_delay_ms")
            if eff(tgt, f"g{g}_fast_enabled") and delay < need_ms:
                problems.append(Problem(where(tgt, f"g{g}_fast_delay_ms",
                                              "protection.fast_delay_ms"), say(
                    "{breaker}'s fast stage at {delay} ms (group {group}) is too short for "
                    "link {link}: the block of {source} arrives after {need:.0f} ms (pickup "
                    "{pickup:.0f} ms, link {latency:g} ms, margin {margin:.0f} ms)",
                    breaker=tgt, delay=delay, group=g, link=lid, source=src, need=need_ms,
                    pickup=prot.pickup_ms, latency=lk.latency_ms,
                    margin=prot.link_margin_ms)))
                break
    if prot.bf_delay_ms <= prot.breaker_break_ms:
        problems.append(Problem("protection.bf_delay_ms", say(
            "the breaker-failure delay of {delay:.0f} ms is not longer than a breaker's break "
            "time of {brk:.0f} ms: upstream relays would trip while a breaker still breaks",
            delay=prot.bf_delay_ms, brk=prot.breaker_break_ms)))
    if actual is not None:
        problems += differences(computed, actual)
    return problems


def top_feeds_source(system: PowerSystem, breaker: str) -> bool:
    """Whether ``breaker`` connects its bus to a supply: an incomer."""
    eq = system.equipment[breaker]
    return isinstance(eq, BreakerEq) and eq.feeds in system.network.sources


def differences(computed: Mapping[str, Mapping[str, int]], actual: Actual) -> list[Problem]:
    """Every setting read from a relay that is not the computed one (and what was not
    read at all)."""
    out: list[Problem] = []
    for b, want in computed.items():
        got = actual.get(b)
        if got is None:
            out.append(Problem(f"equipment.{b}", say(
                "{breaker}: no settings read from its relay", breaker=b), WARNING))
            continue
        for sig, value in want.items():
            v = _number(got.get(sig))
            if v is None:
                out.append(Problem(f"{b}.{sig}", say("{breaker}: {signal} not read",
                                                     breaker=b, signal=sig), WARNING))
            elif v != value:
                out.append(Problem(f"{b}.{sig}", say(
                    "{breaker}: {signal} reads {got}, the scheme computes {want}", breaker=b,
                    signal=sig, got=v, want=value)))
    return out


def differing(want: Mapping[str, int], got: Mapping[str, object]) -> list[str]:
    """The signals whose value read (``got``) is not the computed one (``want``)."""
    return [s for s, v in want.items() if _number(got.get(s)) != v]


TEXTS: dict[str, str] = {
    "closing {breaker} with {target} open would feed {others} from the other side: that "
    "transfer is not engineered":
        "{target} 断开时合上 {breaker} 将从另一侧向 {others} 供电：该转供方式未纳入整定",
    "relays {others} block each other in a loop: the network is not radial":
        "保护装置 {others} 形成闭锁环路：网络不是辐射状",
    "links {others} all carry the block of {source} to {target}: {link} is used":
        "链路 {others} 都把 {source} 的闭锁信号送往 {target}：采用 {link}",
    "{breaker} needs the block of {source}, but no link of the network carries it: its "
    "fast stage is left off":
        "{breaker} 需要 {source} 的闭锁信号，但网络中没有承载它的链路：其快速段退出",
    "{breaker} has {n} block sources ({others}); a relay subscribes to at most {most}: "
    "its fast stage is left off":
        "{breaker} 有 {n} 个闭锁源（{others}）；保护装置最多订阅 {most} 个：其快速段退出",
    "the links to {breaker} allow {ttls} ms to live; its relay takes one: {ttl:.0f} ms is "
    "used": "送往 {breaker} 的链路存活时间为 {ttls} ms；装置只能设一个：采用 {ttl:.0f} ms",
    "{breaker}: {signal} of {amps} A does not fit its register (at most 65535 A)":
        "{breaker}：{signal} 为 {amps} A，超出寄存器范围（最大 65535 A）",
    "link {link} ({source} to {target}) is needed by no relay: the first is not directly "
    "downstream of the second in any configuration":
        "链路 {link}（{source} 至 {target}）无保护需要：任何运行方式下前者都不是后者的直接下级",
    "grading margin {margin:.2f} s between {downstream} and {upstream} (group {group}) is "
    "under {need:.2f} s, the breaker's break time included":
        "{downstream} 与 {upstream} 之间的级差 {margin:.2f} s（第 {group} 组）小于 "
        "{need:.2f} s（含断路器开断时间）",
    "{breaker}'s backup stage at {delay:.2f} s (group {group}) exceeds the supplier's "
    "limit of {limit:.2f} s at the incomer":
        "{breaker} 的后备段 {delay:.2f} s（第 {group} 组）超过上级电源对进线的限值 "
        "{limit:.2f} s",
    "{breaker}'s pickup {amps} A is not sensitive enough: the least fault at the far end "
    "of its zone is {fault:.0f} A, {ratio:.2f} times it (at least {need:.2f} wanted)":
        "{breaker} 的启动电流 {amps} A 灵敏度不足：保护区末端最小短路电流 {fault:.0f} A，"
        "仅为其 {ratio:.2f} 倍（要求至少 {need:.2f} 倍）",
    "{breaker}'s fast stage at {delay} ms (group {group}) is too short for link {link}: "
    "the block of {source} arrives after {need:.0f} ms (pickup {pickup:.0f} ms, link "
    "{latency:g} ms, margin {margin:.0f} ms)":
        "{breaker} 的快速段 {delay} ms（第 {group} 组）对链路 {link} 过短：{source} 的闭锁"
        "信号 {need:.0f} ms 后才到达（启动 {pickup:.0f} ms，链路 {latency:g} ms，裕度 "
        "{margin:.0f} ms）",
    "the breaker-failure delay of {delay:.0f} ms is not longer than a breaker's break "
    "time of {brk:.0f} ms: upstream relays would trip while a breaker still breaks":
        "失灵保护延时 {delay:.0f} ms 不大于断路器开断时间 {brk:.0f} ms：断路器尚在开断时"
        "上级保护就会跳闸",
    "{breaker}: no settings read from its relay": "{breaker}：未读到其保护装置的整定值",
    "{breaker}: {signal} not read": "{breaker}：{signal} 未读到",
    "{breaker}: {signal} reads {got}, the scheme computes {want}":
        "{breaker}：{signal} 读得 {got}，方案计算值为 {want}",
}
IDS = frozenset({"breaker", "target", "source", "link", "signal", "downstream", "upstream"})
