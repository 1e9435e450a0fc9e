"""A substation gateway's part of the power plant as the HIL's state file keeps it: its
relays (latches, settings group, SOE ring, disturbance record, energy counters, the
commands last seen), its bays (breaker, disconnector, earthing switch, door, operation
count, the faults injected into them), and the faults on what the gateway's items name:
its sections, links, supplies and its substation's fire panel. The gateway's holding
registers (settings and commands as written) go with it.

Read back strictly (``hil/state.py``): every value is checked against the type and range
a fresh plant holds before the first is set. A switch caught moving is kept where it was
going from; an episode under way is not kept: a fault still fed plays again at start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fixedsite.hil.power import layout as L
from fixedsite.hil.power.network import FAULT_TYPES, Fault
from fixedsite.hil.power.plant import LOST_AT_START
from fixedsite.hil.power.relay import COMMANDS, Record, Relay, RelayState
from fixedsite.hil.power.relay import snapshot as relay_snapshot
from fixedsite.hil.state import StateError, assign, get, kind, list_of, real

if TYPE_CHECKING:
    from fixedsite.hil.power.unit import PowerUnit

BAY_FIELDS = ("closed", "disc_closed", "earth_closed", "door_unlocked", "spring_charged",
              "stuck", "healthy", "local", "op_count", "last_open_ms", "last_close_ms")


def snapshot(u: PowerUnit) -> dict[str, Any]:
    p = u.plant
    return {
        "hr": list(u.plc.hr),
        "relays": {b: relay_snapshot(p.relays[b]) for b in u.items["breaker"]},
        "bays": {b: {f: getattr(p.bays[b], f) for f in BAY_FIELDS} for b in
                 u.items["breaker"]},
        "faults": {s: {"kind": f.kind, "fraction": f.fraction}
                   for s, f in p.faults.items() if s in u.items["section"]},
        "links": {lid: {"lost": p.links[lid].lost_at is not None,
                        "slow_ms": p.links[lid].slow_ms} for lid in u.items["link"]},
        "sources": {s: s in p.live for s in u.items["source"]},
        "fire": p.fire.get(u.cfg.substation, False),
        "fire_fault": p.fire_fault.get(u.cfg.substation, False),
    }


def _relay(r: Relay, s: Any, w: str) -> RelayState:
    fresh = RelayState()
    st = RelayState()
    st.trip_code = int(real(get(s, "trip_code", w), f"{w}trip_code", 0, max(L.TRIP_WORDS)))
    st.group = int(real(get(s, "group", w), f"{w}group", 1, 2))
    st.bf_operated = kind(True, get(s, "bf_operated", w), f"{w}bf_operated")
    st.soe_seq = int(real(get(s, "soe_seq", w), f"{w}soe_seq", 0, 65535))
    ring = get(s, "soe", w)
    if not isinstance(ring, list) or len(ring) != L.SOE_DEPTH:
        raise StateError(f"{w}soe: expected {L.SOE_DEPTH} records")
    st.soe = [list_of(fresh.soe[i], x, f"{w}soe.{i}") for i, x in enumerate(ring)]
    if any(x[0] > 65535 or x[1] > 65535 or x[3] > 999 or x[4] > 65535 for x in st.soe):
        raise StateError(f"{w}soe: a field out of its register's range")
    rec = get(s, "record", w)
    wr = f"{w}record."
    st.record = Record(int(real(get(rec, "seq", wr), f"{wr}seq", 0, 65535)),
                       int(real(get(rec, "t_ms", wr), f"{wr}t_ms", 0, 2**32 * 1000.0)),
                       int(real(get(rec, "clear_ms", wr), f"{wr}clear_ms", 0, 65535)),
                       int(real(get(rec, "type", wr), f"{wr}type", 0, max(L.FAULT_WORDS))),
                       [real(x, f"{wr}pre") for x in list_of(fresh.record.pre,
                                                             get(rec, "pre", wr), f"{wr}pre")],
                       [real(x, f"{wr}flt") for x in list_of(fresh.record.flt,
                                                             get(rec, "flt", wr), f"{wr}flt")])
    st.energy_kwh = real(get(s, "energy_kwh", w), f"{w}energy_kwh", 0, 2**32)
    st.energy_kvarh = real(get(s, "energy_kvarh", w), f"{w}energy_kvarh", 0, 2**32)
    seen, refused = get(s, "seen", w), get(s, "refused", w)
    if not isinstance(seen, dict) or set(seen) != set(COMMANDS) or \
            not isinstance(refused, dict) or set(refused) != set(COMMANDS):
        raise StateError(f"{w}seen/refused: expected one entry per command")
    st.seen = {k: int(real(seen[k], f"{w}seen.{k}", 0, 65535)) for k in COMMANDS}
    st.refused = {k: kind(True, refused[k], f"{w}refused.{k}") for k in COMMANDS}
    ok = get(s, "link_ok", w)
    if not isinstance(ok, list) or len(ok) != L.SUBS:
        raise StateError(f"{w}link_ok: expected {L.SUBS}")
    st.link_ok = [None if x is None else kind(True, x, f"{w}link_ok.{i}")
                  for i, x in enumerate(ok)]
    st.link_src = [int(real(x, f"{w}link_src", 0, 65535))
                   for x in list_of(fresh.link_src, get(s, "link_src", w), f"{w}link_src")]
    return st


def restore(u: PowerUnit, s: Any, w: str) -> list[Callable[[], None]]:
    p = u.plant
    sets: list[Callable[[], None]] = []
    hr = list_of(u.plc.hr, get(s, "hr", w), f"{w}hr")
    if any(x > 65535 for x in hr):
        raise StateError(f"{w}hr: a register above 65535")
    relays, bays = get(s, "relays", w), get(s, "bays", w)
    names = list(u.items["breaker"])
    if not isinstance(relays, dict) or sorted(relays) != sorted(names) or \
            not isinstance(bays, dict) or sorted(bays) != sorted(names):
        raise StateError(f"{w}relays/bays: not one entry per breaker of the gateway")
    states = {b: _relay(p.relays[b], relays[b], f"{w}relays.{b}.") for b in names}
    bay_values = {}
    for b in names:
        wb = f"{w}bays.{b}."
        like = p.bays[b]
        bay_values[b] = {f: kind(getattr(like, f), get(bays[b], f, wb), f"{wb}{f}")
                         for f in BAY_FIELDS}
        for f in ("op_count", "last_open_ms", "last_close_ms"):
            real(bay_values[b][f], f"{wb}{f}", 0, 2**32)
    faults = get(s, "faults", w)
    if not isinstance(faults, dict) or not set(faults) <= set(u.items["section"]):
        raise StateError(f"{w}faults: a fault on a section this gateway does not have")
    fault_values = {}
    for sec, f in faults.items():
        k = get(f, "kind", f"{w}faults.{sec}.")
        if k not in FAULT_TYPES:
            raise StateError(f"{w}faults.{sec}.kind: not one of {', '.join(FAULT_TYPES)}")
        frac = real(get(f, "fraction", f"{w}faults.{sec}."), f"{w}faults.{sec}.fraction",
                    0, 1)
        fault_values[sec] = Fault(sec, k, frac)
    links = get(s, "links", w)
    if not isinstance(links, dict) or sorted(links) != sorted(u.items["link"]):
        raise StateError(f"{w}links: not one entry per link of the gateway")
    link_values = {}
    for lid, x in links.items():
        wl = f"{w}links.{lid}."
        slow = get(x, "slow_ms", wl)
        link_values[lid] = (kind(True, get(x, "lost", wl), f"{wl}lost"),
                            None if slow is None else real(slow, f"{wl}slow_ms", 0, 60000))
    sources = get(s, "sources", w)
    if not isinstance(sources, dict) or sorted(sources) != sorted(u.items["source"]):
        raise StateError(f"{w}sources: not one entry per supply of the gateway")
    live = {sid: kind(True, v, f"{w}sources.{sid}") for sid, v in sources.items()}
    fire = kind(True, get(s, "fire", w), f"{w}fire")
    fire_fault = kind(True, get(s, "fire_fault", w), f"{w}fire_fault")

    def apply() -> None:
        u.plc.hr[:] = hr
        for b in names:
            p.relays[b].st = states[b]
            assign(p.bays[b], **bay_values[b])
        for sec in u.items["section"]:
            p.faults.pop(sec, None)
        p.faults.update(fault_values)
        for lid, (lost, slow) in link_values.items():
            p.links[lid].lost_at = LOST_AT_START if lost else None
            p.links[lid].slow_ms = slow
        for sid, on in live.items():
            (p.live.add if on else p.live.discard)(sid)
        p.fire[u.cfg.substation] = fire
        p.fire_fault[u.cfg.substation] = fire_fault
    sets.append(apply)
    return sets
