"""A protection relay (综保) as its substation's gateway serves it: a 200-register window
laid out as ``layout.py`` (the HIL's own copy of ``docs/power.md``), the commands the
controller writes into it, and what the relay reports.

The relay's behaviour towards the controller, as ``docs/power.md`` says a real one acts:

* ``breaker_cmd`` 1 open / 2 close acts once, on the change to it, and is left as written
  until the controller writes 0. A close is refused (``refused`` set, SOE "close refused"
  with the reason as its value: ``layout.REFUSE_*``) while the trip is latched, the bay's
  earthing switch is closed, its disconnector is between positions, the closing spring is
  not charged or the bay is in local; an open only in local. ``refused`` holds until the
  refused command is withdrawn (0);
* ``trip_code`` holds the cause of the last protection trip; the controller's 0 resets
  it unless the relay is still picked up (then the code is written back), anything else
  written is put back;
* ``group_sp`` 1 or 2 takes effect at the next scan (``group_active``, SOE "group
  changed"); any other value is ignored;
* ``disconnector_cmd`` moves the disconnector only with the breaker open;
  ``earthing_cmd`` closes the earthing switch only with the outgoing side dead and the
  bay isolated (breaker or disconnector open), and opens it only with the door locked;
  ``door_unlock_cmd`` 1 unlocks the door only with the bay earthed and dead (else
  refused), 0 locks it;
* subscriptions ``block_src0..3`` (relay numbers) report ``link<i>_ok``, ``_age_ms``
  (ms since the last message, 65535 never heard) and ``_latency_ms`` (x0.1 ms).

What happens in the network (trips, breaker movements) is the plant's (``plant.py``); the
relay holds its latches, counters, SOE ring and disturbance record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fixedsite.hil.packing import f32, i16, u16, u32
from fixedsite.hil.power import layout as L

if TYPE_CHECKING:
    from fixedsite.hil.power.plant import Plant

NEVER = 65535


class Window:
    """A relay's registers inside its gateway's image, by signal name."""

    def __init__(self, hr: list[int], ir: list[int], base: int) -> None:
        self.hr, self.ir, self.base = hr, ir, base

    def get(self, name: str) -> int:
        return self.hr[self.base + L.HR[name].offset]

    def set(self, name: str, value: int) -> None:
        self.hr[self.base + L.HR[name].offset] = u16(value)

    def put(self, name: str, value: float) -> None:
        reg = L.IR[name]
        i = self.base + reg.offset
        if reg.type == "float32":
            self.ir[i:i + 2] = f32(value)
        elif reg.type == "uint32":
            self.ir[i:i + 2] = u32(value)
        elif reg.type == "int16":
            self.ir[i] = i16(value)
        else:
            self.ir[i] = u16(value)

    def word(self, offset: int, bits: dict[int, bool]) -> None:
        self.ir[self.base + offset] = sum(1 << b for b, on in bits.items() if on)


@dataclass
class Record:
    """The disturbance record of the relay's last trip."""

    seq: int = 0
    t_ms: int = 0                 # inception, epoch ms
    clear_ms: int = NEVER
    type: int = 0
    pre: list[float] = field(default_factory=lambda: [0.0] * 12)   # ia ib ic ua ub uc, deg x6
    flt: list[float] = field(default_factory=lambda: [0.0] * 12)


@dataclass
class RelayState:
    """What the relay keeps (saved with the plant): latches, counters, its SOE ring."""

    trip_code: int = 0
    group: int = 1
    bf_operated: bool = False
    soe_seq: int = 0
    soe: list[list[int]] = field(default_factory=lambda: [[0, 0, 0, 0, 0] for _ in
                                                          range(L.SOE_DEPTH)])
    record: Record = field(default_factory=Record)
    energy_kwh: float = 0.0
    energy_kvarh: float = 0.0
    seen: dict[str, int] = field(default_factory=lambda: {k: 0 for k in COMMANDS})
    refused: dict[str, bool] = field(default_factory=lambda: {k: False for k in COMMANDS})
    link_ok: list[bool | None] = field(default_factory=lambda: [None] * L.SUBS)  # None:
    link_src: list[int] = field(default_factory=lambda: [0] * L.SUBS)   # never heard yet


COMMANDS = ("breaker_cmd", "disconnector_cmd", "earthing_cmd", "door_unlock_cmd")


class Relay:
    """One breaker's relay: its window, its state, and the protection flags the plant
    sets while a fault plays (picked up, blocked)."""

    def __init__(self, breaker: str, relay_no: int, window: Window, incomer: bool) -> None:
        self.breaker, self.relay_no, self.win = breaker, relay_no, window
        self.incomer = incomer
        self.served = False           # in a gateway the HIL serves
        self.st = RelayState()
        self.picked = False
        self.latched = False          # the plant latched a trip: into the image next scan
        self.blocks = 0
        self.uv = False
        self.pending: list[tuple[int, int, int]] = []      # (t_ms, code, value) to record

    # ---- the SOE ring ---------------------------------------------------------------------
    def soe(self, t_ms: int, code: int, value: float = 0) -> None:
        self.pending.append((t_ms, code, max(0, min(65535, round(value)))))

    def flush(self) -> None:
        """The records gathered since the last scan into the ring, in time order."""
        for t_ms, code, value in sorted(self.pending, key=lambda e: e[0]):
            st = self.st
            st.soe_seq = st.soe_seq % 65535 + 1
            st.soe[(st.soe_seq - 1) % L.SOE_DEPTH] = [st.soe_seq, code, t_ms // 1000,
                                                      t_ms % 1000, value]
        self.pending.clear()

    # ---- settings --------------------------------------------------------------------------
    def settings(self) -> dict[str, int]:
        """Every setting register as written (both groups, subscriptions, ttl)."""
        out = {f"g{g}_{f}": self.win.get(f"g{g}_{f}") for g in L.GROUP_AT for f in L.GROUP}
        out |= {f"block_src{i}": self.win.get(f"block_src{i}") for i in range(L.SUBS)}
        out["link_ttl_ms"] = self.win.get("link_ttl_ms")
        return out

    def sources(self) -> list[int]:
        return [self.win.get(f"block_src{i}") for i in range(L.SUBS)]

    # ---- the controller's writes ----------------------------------------------------------
    def commands(self, plant: Plant, t: int) -> None:
        """Act on what the controller wrote since the last scan."""
        w, st = self.win, self.st
        sp = w.get("group_sp")
        if sp in (1, 2) and sp != st.group:
            st.group = sp
            self.soe(t, L.GROUP_CHANGED, sp)
        code = w.get("trip_code")
        if self.latched:              # set by the plant since the last scan: it wins
            self.latched = False
            w.set("trip_code", st.trip_code)
        elif code != st.trip_code:
            if code == 0 and not self.picked:
                st.trip_code, st.bf_operated = 0, False
            else:
                w.set("trip_code", st.trip_code)
        for name in COMMANDS:
            v = w.get(name)
            if v == st.seen[name]:
                continue
            st.seen[name] = v
            st.refused[name] = False
            if v != 0 or name == "door_unlock_cmd":
                st.refused[name] = not self._act(plant, t, name, v)

    def _act(self, plant: Plant, t: int, name: str, v: int) -> bool:
        """One command; False when refused."""
        bay = plant.bays[self.breaker]
        if name == "breaker_cmd":
            if v == L.CMD_OPEN:
                if bay.local:
                    return False
                if bay.closed:
                    self.soe(t, L.OPEN_CMD)
                    plant.command_open(self.breaker, t)
                return True
            if v != L.CMD_CLOSE:
                return False
            why = (L.REFUSE_TRIP if self.st.trip_code else
                   L.REFUSE_EARTH if bay.earth_closed else
                   L.REFUSE_DISC if bay.disc_moving else
                   L.REFUSE_SPRING if not bay.spring_charged else
                   L.REFUSE_LOCAL if bay.local else 0)
            if why:
                self.soe(t, L.CLOSE_REFUSED, why)
                return False
            if not bay.closed:
                self.soe(t, L.CLOSE_CMD)
                plant.command_close(self.breaker, t)
            return True
        if name == "disconnector_cmd":
            if v not in (L.CMD_OPEN, L.CMD_CLOSE) or not bay.has_disc or bay.closed \
                    or bay.disc_moving or bay.local:
                return False
            plant.move_disconnector(self.breaker, t, v == L.CMD_CLOSE)
            return True
        if name == "earthing_cmd":
            if v not in (L.CMD_OPEN, L.CMD_CLOSE) or not bay.has_earth or bay.local \
                    or bay.earth_moving:
                return False
            if v == L.CMD_CLOSE:
                if plant.outgoing_live(self.breaker) or (bay.closed and bay.disc_closed):
                    return False
            elif bay.door_unlocked:
                return False
            plant.move_earthing(self.breaker, t, v == L.CMD_CLOSE)
            return True
        # the door
        if v == 0:
            bay.door_unlocked = False
            return True
        if v != 1 or not bay.earth_closed or plant.outgoing_live(self.breaker):
            return False
        bay.door_unlocked = True
        return True

    # ---- what the relay reports ------------------------------------------------------------
    def publish(self, plant: Plant, t: int, silent: bool = False) -> None:
        """The window's input registers from the plant at ``t`` (epoch ms)."""
        links = plant.links_of(self, t)
        self.flush()
        if silent:
            return
        w, st = self.win, self.st
        bay = plant.bays[self.breaker]
        m = plant.measure(self.breaker)
        w.word(0, {0: bay.closed, 1: not bay.closed, 2: self.picked, 3: self.blocks > 0,
                   4: st.trip_code != 0, 5: st.bf_operated, 6: bay.healthy, 7: bay.local,
                   8: bay.spring_charged, 9: bay.disc_closed,
                   10: bay.has_disc and bay.disc_open, 11: bay.earth_closed,
                   12: bay.door_unlocked, 13: plant.outgoing_live(self.breaker),
                   14: any(st.refused.values()), 15: self.uv})
        w.put("group_active", st.group)
        for k, name in enumerate(("ia", "ib", "ic")):
            w.put(name, m.i[k])
        for k, name in enumerate(("uab", "ubc", "uca")):
            w.put(name, m.u_kv[k])
        w.put("p_kw", m.p_kw)
        w.put("q_kvar", m.q_kvar)
        w.put("pf", m.pf)
        w.put("freq_hz", m.freq_hz)
        w.put("thd_u_pct", m.thd_pct)
        w.put("unbalance_u_pct", m.unbalance_pct)
        w.put("energy", math.floor(st.energy_kwh))
        w.put("energy_kvarh", math.floor(st.energy_kvarh))
        w.put("op_count", bay.op_count)
        w.put("last_open_ms", bay.last_open_ms)
        w.put("last_close_ms", bay.last_close_ms)
        w.word(33, {i: ok for i, (ok, _, _) in enumerate(links)})
        for i, (_, age, lat) in enumerate(links):
            w.put(f"link{i}_age_ms", age)
            w.put(f"link{i}_latency_ms", lat)
        w.put("soe_seq", st.soe_seq)
        for r, (seq, code, s, ms, value) in enumerate(st.soe):
            w.put(f"soe{r}_seq", seq)
            w.put(f"soe{r}_code", code)
            w.put(f"soe{r}_s", s)
            w.put(f"soe{r}_ms", ms)
            w.put(f"soe{r}_value", value)
        rec = st.record
        w.put("rec_seq", rec.seq)
        w.put("rec_s", rec.t_ms // 1000)
        w.put("rec_ms", rec.t_ms % 1000)
        w.put("rec_clear_ms", rec.clear_ms)
        w.put("rec_type", rec.type)
        names = ("ia", "ib", "ic", "ua", "ub", "uc")
        for k, n in enumerate(names):
            w.put(f"pre_{n}", rec.pre[k])
            w.put(f"pre_{n}_deg", rec.pre[6 + k] * 10)
            w.put(f"flt_{n}", rec.flt[k])
            w.put(f"flt_{n}_deg", rec.flt[6 + k] * 10)


def snapshot(r: Relay) -> dict[str, Any]:
    st = r.st
    return {"trip_code": st.trip_code, "group": st.group, "bf_operated": st.bf_operated,
            "soe_seq": st.soe_seq, "soe": [list(x) for x in st.soe],
            "record": {"seq": st.record.seq, "t_ms": st.record.t_ms,
                       "clear_ms": st.record.clear_ms, "type": st.record.type,
                       "pre": list(st.record.pre), "flt": list(st.record.flt)},
            "energy_kwh": st.energy_kwh, "energy_kvarh": st.energy_kvarh,
            "seen": dict(st.seen), "refused": dict(st.refused), "link_ok": list(st.link_ok),
            "link_src": list(st.link_src)}
