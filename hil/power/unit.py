"""The power system in the HIL: one unit per ``[[hil.power]]`` entry (a substation's
communication manager, one Modbus endpoint for every relay of the substation), all of a
system's units on one shared plant (``plant.py``): a fault anywhere is seen by every
relay upstream of it, whichever gateway serves it. ``HIL`` is what the power plug-in
declares (``SystemSpec.hil_kind``).

A unit's items, from the config alone: its ``breaker``\\ s (the breakers on its PLC), the
``section``\\ s of its substation (its buses, the cables leaving them, the loads on them),
the blocking ``link``\\ s its relays subscribe to, the ``source``\\ s entering its buses and
its ``substation``. Faults are aimed at them by those names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.faults import Fault, InjectError, Injection, Taken, number
from fixedsite.hil.power import layout as L
from fixedsite.hil.power import network, state
from fixedsite.hil.power.plant import SLOW_MS, Plant
from fixedsite.hil.power.relay import Relay, Window
from fixedsite.hil.unit import HilKind, HilUnit, Point
from fixedsite.sequences.power.config import BreakerEq, HilPower, PowerSystem, SubstationEq

FACTORY = {"pickup_a": None, "fast_enabled": 0, "fast_delay_ms": 100,
           "backup_pickup_a": None, "backup_delay_ms": 1000, "inst_enabled": 0,
           "inst_pickup_a": 0, "inst_delay_ms": 0, "bf_delay_ms": 150}   # None: CT primary


def _fraction(args: Sequence[object]) -> Taken:
    if len(args) > 1:
        raise InjectError("a fault takes at most one number: where along a cable, 0 to 1 "
                          "from its from_bus")
    return {"number": number(args[0], "fraction", 0, 1) if args else 0.5}


def _nothing(args: Sequence[object]) -> Taken:
    if args:
        raise InjectError(f"nothing follows the section, got {' '.join(map(str, args))!r}")
    return {"on": False}


def _slow(args: Sequence[object]) -> Taken:
    if len(args) > 1:
        raise InjectError("link-slow takes one latency in ms, or off")
    if args and str(args[0]).lower() == "off":
        return {"on": False}
    return {"on": True, "number": number(args[0], "latency ms", 1, 10000) if args
            else SLOW_MS}


FAULTS: dict[str, Fault] = {
    "fault-3ph": Fault("section", "[FRACTION]", "a three-phase short circuit on the bus, "
                       "load or cable (FRACTION along it from its from_bus, 0.5 unless "
                       "given); it stays, fed or not, until fault-clear", take=_fraction,
                       tell=lambda i: f"{i.target}: three-phase fault"
                                      f"{'' if i.number == 0.5 else f' at {i.number:g}'}"),
    "fault-2ph": Fault("section", "[FRACTION]", "a phase-to-phase (b-c) short circuit, as "
                       "fault-3ph", take=_fraction,
                       tell=lambda i: f"{i.target}: phase-to-phase fault"
                                      f"{'' if i.number == 0.5 else f' at {i.number:g}'}"),
    "fault-clear": Fault("section", "", "the section's fault is repaired: it can be "
                         "energised again", take=_nothing,
                         tell=lambda i: f"{i.target}: fault cleared"),
    "breaker-stuck": Fault("breaker", "[on|off]", "the breaker's mechanism jams: it does "
                           "not open on a trip (breaker failure) or a command", word="stuck"),
    "link-lost": Fault("link", "[on|off]", "the blocking link delivers nothing (its "
                       "subscriber's age grows past the time allowed to live)", word="lost"),
    "link-slow": Fault("link", "[MS|off]", f"the blocking link's transfer time becomes MS "
                       f"({SLOW_MS:g} unless given; off: nominal again)", take=_slow,
                       tell=lambda i: f"{i.target}: " + (f"slow, {i.number:g} ms" if i.on
                                                         else "latency nominal")),
    "supply-lost": Fault("source", "[on|off]", "the supply's voltage is gone: what only it "
                         "feeds goes dead, its incomer trips on undervoltage after 0.5 s",
                         word="lost"),
    "fire": Fault("substation", "[on|off]", "the substation's fire detector in alarm",
                  word="fire"),
    "fire-loop": Fault("substation", "[on|off]", "the fire detector loop faulty",
                       word="detector loop fault"),
    "relay-fault": Fault("breaker", "[on|off]", "the relay fails (healthy off): it neither "
                         "picks up, blocks nor trips", word="relay fault"),
    "breaker-local": Fault("breaker", "[on|off]", "the bay's local/remote switch in local: "
                           "remote commands refused", word="local"),
}
WORDS = {"breaker": "breaker", "section": "section (bus, cable or load)",
         "link": "blocking link", "source": "supply", "substation": "substation"}

MEANING = {
    "breaker_cmd": "1 open, 2 close; acted on once, held until 0 is written",
    "group_sp": "settings group to use: 1 normal (with blocking), 2 fallback",
    "disconnector_cmd": "1 open, 2 close (breaker open only)",
    "earthing_cmd": "1 open, 2 close (outgoing side dead, bay isolated)",
    "door_unlock_cmd": "1 unlock the bay's door (earthed and dead only), 0 lock",
    "trip_code": "cause of the latched trip: 0 none, 1 fast, 2 instantaneous, 3 backup, "
                 "4 breaker-failure backup, 5 undervoltage; write 0 to reset (refused while "
                 "picked up)",
    "link_ttl_ms": "time allowed to live of the subscriptions",
    "soe_seq": "seq of the newest SOE record; record with seq n at r = (n - 1) % 16",
    "rec_type": "0 none, 1 three-phase, 2 phase-to-phase",
    "heartbeat": "controller writes a changing value; echoed in heartbeat_echo",
}


def items(cfg: SiteConfig, h: HilPower) -> dict[str, list[str]]:
    """What one gateway's unit holds, by kind, in config order."""
    system = cfg.systems[h.system]
    assert isinstance(system, PowerSystem)
    nw = system.network
    buses = [b for b, bus in nw.buses.items() if bus.substation == h.substation]
    breakers = [b for b, eq in system.equipment.items()
                if isinstance(eq, BreakerEq) and eq.plc == h.plc]
    return {
        "breaker": breakers,
        "section": buses + [ln for ln, x in nw.lines.items() if x.from_bus in buses]
        + [ld for ld, x in nw.loads.items() if x.bus in buses],
        "link": [lid for lid, lk in nw.links.items() if lk.target in breakers],
        "source": [s for s, x in nw.sources.items() if x.bus in buses],
        "substation": [h.substation],
    }


class Image:
    """A gateway's register image: the substation block (0-19) and its relays' windows."""

    def __init__(self, size: int) -> None:
        self.coils, self.di = [False] * 8, [False] * 8
        self.hr, self.ir = [0] * size, [0] * size


class PowerUnit(HilUnit):
    """One substation's gateway and its relays, on the system's shared plant."""

    def __init__(self, site: SiteConfig, h: HilPower, plant: Plant) -> None:
        self.site, self.cfg, self.plant = site, h, plant
        self.items = items(site, h)
        system = site.systems[h.system]
        assert isinstance(system, PowerSystem)
        sub = system.equipment.get(h.substation)
        if not isinstance(sub, SubstationEq) or sub.plc != h.plc:
            raise ValueError(f"hil.power: {h.substation!r} is not a substation on PLC "
                             f"{h.plc!r} of {h.system}")
        self.eqs: dict[str, BreakerEq] = {}
        for b in self.items["breaker"]:
            eq = system.equipment[b]
            assert isinstance(eq, BreakerEq)
            self.eqs[b] = eq
        bases = sorted(eq.base for eq in self.eqs.values())
        for a, b in zip(bases, bases[1:], strict=False):
            if b - a < L.WINDOW:
                raise ValueError(f"hil.power {h.plc}: relay windows at {a} and {b} overlap")
        size = max([L.SUBSTATION_WINDOW] + [x + L.WINDOW for x in bases])
        self.plc = Image(size)
        self.deaf = False
        for b, eq in self.eqs.items():
            win = Window(self.plc.hr, self.plc.ir, eq.base)
            factory(win, eq)
            plant.relays[b] = Relay(b, eq.relay_no, win,
                                    eq.feeds in system.network.sources)
            plant.relays[b].served = True

    # --- the HilUnit interface ---------------------------------------------------------
    def first_scan(self, now: float) -> None:
        self.plant.start(now)
        self._publish()

    def advance(self, now: float, dt: float) -> None:
        p = self.plant
        p.advance(now)
        assert p.t is not None
        for b in self.items["breaker"]:
            p.relays[b].commands(p, p.t)
        self._publish()

    def _publish(self) -> None:
        p = self.plant
        assert p.t is not None
        for b in self.items["breaker"]:
            p.relays[b].publish(p, p.t)
        sub = self.cfg.substation
        self.plc.ir[0] = (int(p.fire.get(sub, False)) | int(p.fire_fault.get(sub, False)) << 1
                          | 1 << 2)
        if not self.deaf:
            self.plc.ir[1] = self.plc.hr[L.HR_HEARTBEAT]

    def inject(self, inj: Injection, now: float) -> None:
        p = self.plant
        p.advance(now)
        t = p.t
        assert t is not None
        f, on = inj.fault, inj.on
        kind = FAULTS[f].kind if f in FAULTS else ""
        name = self.items.get(kind, [])[inj.item] if inj.item >= 0 else ""
        if f in ("fault-3ph", "fault-2ph"):
            p.faults[name] = p.net.key(network.Fault(name, f[-3:], inj.number))
        elif f == "fault-clear":
            p.faults.pop(name, None)
        elif f == "breaker-stuck":
            p.bays[name].stuck = on
            return
        elif f == "link-lost":
            ls = p.links[name]
            if on and ls.lost_at is None:
                ls.lost_at = t
            elif not on:
                ls.lost_at = None
            return
        elif f == "link-slow":
            p.links[name].slow_ms = inj.number if on else None
            return
        elif f == "supply-lost":
            (p.live.discard if on else p.live.add)(name)
        elif f == "fire":
            p.fire[name] = on
            return
        elif f == "fire-loop":
            p.fire_fault[name] = on
            return
        elif f == "relay-fault":
            p.bays[name].healthy = not on
            return
        elif f == "breaker-local":
            p.bays[name].local = on
            return
        else:                                 # FAULTS and this method disagree: a bug
            raise InjectError(f"fault {f!r} is listed but not implemented")
        p.changed(t)

    def heartbeat_deaf(self, on: bool) -> None:
        self.deaf = on

    def status(self) -> dict[str, Any]:
        p = self.plant
        breakers = {b: "closed" if p.bays[b].closed else "open" for b in self.items["breaker"]}
        faults = {s: f.kind for s, f in p.faults.items() if s in self.items["section"]}
        fire = p.fire.get(self.cfg.substation, False)
        words = "  ".join(f"{b}:{'I' if s == 'closed' else 'O'}"
                          f"{'!' if p.relays[b].st.trip_code else ''}"
                          for b, s in breakers.items())
        extra = "".join(f"  FAULT {s} {k}" for s, k in faults.items())
        return {"substation": self.cfg.substation, "breakers": breakers, "faults": faults,
                "fire": fire,
                "text": f"{self.cfg.substation}: {words}{extra}{'  FIRE' if fire else ''}"}

    def brief(self) -> str:
        closed = sum(self.plant.bays[b].closed for b in self.items["breaker"])
        return f"{closed}/{len(self.items['breaker'])} breakers closed"

    def register_map(self) -> list[tuple[str, str]]:
        return [(f"{p.role}.{p.signal}", p.address) for p in self._points()]

    def _points(self) -> list[Point]:
        out = [Point("gateway.0", "heartbeat", f"hr:{L.HR_HEARTBEAT}", "uint16",
                     meaning=MEANING["heartbeat"], writable=True)]
        for name, reg in L.SUBSTATION.items():
            out.append(Point("substation.0", name, reg.address(0), reg.type, reg.scale,
                             reg.unit))
        for k, (_, eq) in enumerate(self.eqs.items()):
            for name, reg in L.RELAY.items():
                out.append(Point(f"breaker.{k}", name, reg.address(eq.base), reg.type,
                                 reg.scale, reg.unit, meaning=MEANING.get(name, ""),
                                 writable=reg.table == "hr"))
        return out

    def points(self) -> list[tuple[str, Point]]:
        sysname = self.cfg.system
        out = []
        for p in self._points():
            role, _, k = p.role.partition(".")
            if role == "gateway":
                tag = f"plcs.{self.cfg.plc}.{p.signal}"
            elif role == "substation":
                tag = f"{sysname}.{self.cfg.substation}.{p.signal}"
            else:
                tag = f"{sysname}.{self.items['breaker'][int(k)]}.{p.signal}"
            out.append((tag, p))
        return out

    def layout(self) -> dict[str, Any]:
        return {"system": self.cfg.system, "plc": self.cfg.plc,
                "substation": self.cfg.substation,
                **{k: list(v) for k, v in self.items.items()}}

    def snapshot(self) -> dict[str, Any]:
        return state.snapshot(self)

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        return state.restore(self, saved, where)


def factory(win: Window, eq: BreakerEq) -> None:
    """A relay as delivered: both groups at a definite-time stage at the CT's primary
    current after 1 s, nothing subscribed, group 1."""
    for g in L.GROUP_AT:
        for f, v in FACTORY.items():
            win.set(f"g{g}_{f}", eq.ct_primary_a if v is None else v)
    win.set("group_sp", 1)
    win.set("link_ttl_ms", 2000)


def build(cfg: SiteConfig, entries: list[HilPower], clock: ScaledClock) -> list[HilUnit]:
    """One unit per entry, in order; one plant per system (seeded and noised by the
    system's first entry), with a relay out of the Modbus view for every breaker no
    entry serves."""
    plants: dict[str, Plant] = {}
    units: list[HilUnit] = []
    for h in entries:
        plant = plants.get(h.system)
        if plant is None:
            system = cfg.systems[h.system]
            assert isinstance(system, PowerSystem)
            plant = plants[h.system] = Plant(system, h.seed, h.load_noise_pct)
        units.append(PowerUnit(cfg, h, plant))
    for name, plant in plants.items():
        system = cfg.systems[name]
        for b, eq in system.equipment.items():
            if isinstance(eq, BreakerEq) and b not in plant.relays:
                img = Image(eq.base + L.WINDOW)
                win = Window(img.hr, img.ir, eq.base)
                factory(win, eq)
                plant.relays[b] = Relay(b, eq.relay_no, win,
                                        eq.feeds in system.network.sources)
    return units


HIL = HilKind(faults=FAULTS, words=WORDS, items=items, build=build)
