"""The hoist's PLC, emulated: motion and protection are the PLC's (the supervisor never
sits in them), as the mine's rules ask of a winder's control.

* **Motion**: a trip command at the loading station hoists (accelerate, constant speed,
  decelerate, creep into the dump at ``creep`` m/s, which is at most 2 m/s where the
  maximum exceeds 3 m/s); at the dump the skip discharges (``dump_s``) into the surface
  bin; a trip command there returns it. The command is held by the controller and
  cleared by the PLC at the trip's end.
* **Permissives** for a trip: brake test passed, rope monitor healthy, access to the
  winder room closed, chute closed, no trip, not in LOCAL, the controller's heartbeat.
* **Protections** (trip: emergency braking at 3 m/s2, brake applied, a code held until
  the controller writes 0 with the cause gone): overspeed over 115 % of the maximum,
  overwind 0.5 m past an end, slack rope, overload (over 110 % of the rated payload at a
  hoist's start), deceleration supervision (speed over the braking curve by 10 % and
  0.5 m/s), brake shoe gap over 2 mm, depth indicator failure (the two encoders 1 m
  apart), motor overcurrent.
* **Loading station**: the feeder runs only with ore in the bin and the chute shut; the
  chute opens only with the skip stopped at the loading station and the feeder stopped.
* **Heartbeat watchdog**: without the controller the PLC finishes the trip it is on and
  starts no other; feeder and chute are shut.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from fixedsite.hil.hoist.plant import HoistPlant
from fixedsite.hil.packing import f32, i16, u16, u32
from fixedsite.hil.unit import Point
from fixedsite.hil.watchdog import Watchdog

HR_HEARTBEAT, HR_MODE, HR_FAULT, HR_CUTOFF = 0, 10, 11, 12
COIL_TRIP, COIL_BRAKE_TEST, COIL_FEEDER, COIL_CHUTE = 1, 2, 8, 9
IR_WORD, IR_STATE, IR_POS, IR_SPEED, IR_REF, IR_I, IR_U, IR_P, IR_GAP = \
    10, 11, 12, 14, 16, 18, 19, 20, 21
IR_SKIP, IR_TRIPS, IR_ENERGY, IR_HOURS, IR_STARTS, IR_HV_I, IR_LV_U = \
    22, 24, 26, 28, 30, 31, 32
IR_LOAD_WORD, IR_HOPPER, IR_BIN, IR_SURFACE = 40, 42, 44, 46
IR_ROPE_WORD, IR_ROPE_LOS, IR_TENSION = 50, 51, 52

AT_LOADING, HOISTING, DUMPING, RETURNING, STOPPED, TRIPPED = range(6)
OVERSPEED, OVERWIND, SLACK, OVERLOAD, DECEL, BRAKE_GAP, DEPTH, OVERCURRENT = range(1, 9)
TRIP_MEANING = ("0 healthy, 1 overspeed, 2 overwind, 3 slack rope, 4 overload, "
                "5 deceleration supervision, 6 brake shoe gap, 7 depth indicator failure, "
                "8 motor overcurrent; write 0 to reset (refused while the cause persists)")
PROTECTIONS = ["overspeed", "overwind", "slack-rope", "overload", "deceleration",
               "brake-gap", "depth", "overcurrent"]     # in trip-code order
E_STOP = 3.0             # m/s2, the safety brake
CREEP_LEN = 2.0          # m of creep before each end
DRIVE_MARGIN = 1.3       # the drive's torque over what the profile's deceleration needs
BRAKE_TEST_S = 5.0


def points() -> list[Point]:
    """Every point of a hoist PLC, in map order (its own copy of the layout)."""
    w, ld, rp = "winder.0", "loading.0", "rope.0"

    def bit(role: str, signal: str, reg: int, b: int, meaning: str) -> Point:
        return Point(role, signal, f"ir:{reg}.{b}", "bool", meaning=meaning)
    return [
        Point("plc.0", "heartbeat", f"hr:{HR_HEARTBEAT}", "uint16", writable=True,
              meaning="controller writes a changing value; unchanged for the watchdog time "
                      "the PLC finishes its trip and starts no other"),
        Point(w, "trip_cmd", f"coil:{COIL_TRIP}", "bool", writable=True,
              meaning="1 make the next trip (hoist from loading, return from the dump); "
                      "cleared by the PLC at the trip's end"),
        Point(w, "brake_test_cmd", f"coil:{COIL_BRAKE_TEST}", "bool", writable=True,
              meaning="1 run the brake test at rest; cleared when done"),
        Point(w, "mode", f"hr:{HR_MODE}", "uint16", writable=True,
              meaning="1 remote-manual, 2 remote-auto (held for the controller)"),
        Point(w, "fault_code", f"hr:{HR_FAULT}", "uint16", writable=True, meaning=TRIP_MEANING),
        bit(w, "running", IR_WORD, 0, "1 moving"),
        bit(w, "at_loading", IR_WORD, 1, "1 skip at the loading station"),
        bit(w, "at_dump", IR_WORD, 2, "1 skip at the dump"),
        bit(w, "brake_test_ok", IR_WORD, 3, "1 brake test passed (this shift)"),
        bit(w, "brake_applied", IR_WORD, 4, "1 brake applied"),
        bit(w, "local", IR_WORD, 5, "1 control in LOCAL at the winder's desk"),
        bit(w, "access_closed", IR_WORD, 6, "1 winder room access closed"),
        bit(w, "fallback", IR_WORD, 7, "1 controller heartbeat lost"),
        Point(w, "plc_state", f"ir:{IR_STATE}", "uint16",
              meaning="0 at loading, 1 hoisting, 2 dumping, 3 returning, 4 stopped, "
                      "5 tripped"),
        Point(w, "position", f"ir:{IR_POS}:float32", "float32", unit="m",
              meaning="skip position from the loading station"),
        Point(w, "speed", f"ir:{IR_SPEED}:float32", "float32", unit="m/s",
              meaning="winder speed, + hoisting"),
        Point(w, "speed_ref", f"ir:{IR_REF}:float32", "float32", unit="m/s",
              meaning="the drive's speed reference (the motion profile)"),
        Point(w, "current", f"ir:{IR_I}", "uint16", 0.1, "A", (0.0, 1000.0), "motor current"),
        Point(w, "voltage", f"ir:{IR_U}", "uint16", 0.01, "kV", (0.0, 12.0), "motor voltage"),
        Point(w, "power", f"ir:{IR_P}:int16", "int16", 1.0, "kW", (-5000.0, 5000.0),
              "motor power, regenerating below 0"),
        Point(w, "brake_gap", f"ir:{IR_GAP}", "uint16", 0.01, "mm", (0.0, 10.0),
              "brake shoe gap"),
        Point(w, "skip_load", f"ir:{IR_SKIP}:float32", "float32", unit="t",
              meaning="load in the skip"),
        Point(w, "trips", f"ir:{IR_TRIPS}:uint32", "uint32", meaning="trips made"),
        Point(w, "energy", f"ir:{IR_ENERGY}:uint32", "uint32", 1.0, "kWh", None,
              "motor energy counter"),
        Point(w, "run_hours", f"ir:{IR_HOURS}:uint32", "uint32", 0.1, "h", None,
              "run-hour counter"),
        Point(w, "starts", f"ir:{IR_STARTS}", "uint16", meaning="start counter"),
        Point(w, "hv_current", f"ir:{IR_HV_I}", "uint16", 0.1, "A", (0.0, 1000.0),
              "HV cabinet incoming current"),
        Point(w, "lv_voltage", f"ir:{IR_LV_U}", "uint16", 1.0, "V", (0.0, 1000.0),
              "LV cabinet voltage"),
        Point(ld, "feeder_cmd", f"coil:{COIL_FEEDER}", "bool", writable=True,
              meaning="1 run the feeder into the weigh hopper; the PLC clears it at the "
                      "cut-off"),
        Point(ld, "cutoff", f"hr:{HR_CUTOFF}:float32", "float32", unit="t", writable=True,
              meaning="the hopper reading at which the PLC stops the feeder (0: none)"),
        Point(ld, "chute_cmd", f"coil:{COIL_CHUTE}", "bool", writable=True,
              meaning="1 open the chute: hopper into the skip"),
        bit(ld, "feeder_running", IR_LOAD_WORD, 0, "1 feeder running"),
        bit(ld, "chute_open", IR_LOAD_WORD, 1, "1 chute open"),
        Point(ld, "hopper_weight", f"ir:{IR_HOPPER}:float32", "float32", unit="t",
              meaning="weigh hopper"),
        Point(ld, "ore_bin_level", f"ir:{IR_BIN}", "uint16", 0.1, "%", (0.0, 100.0),
              "underground ore bin level"),
        Point("surface.0", "bin_level", f"ir:{IR_SURFACE}", "uint16", 0.1, "%",
              (0.0, 100.0), "surface bin level"),
        bit(rp, "damage", IR_ROPE_WORD, 0, "1 broken wires or loss of section signalled"),
        bit(rp, "monitor_ok", IR_ROPE_WORD, 1, "1 rope monitor healthy"),
        Point(rp, "loss_of_section", f"ir:{IR_ROPE_LOS}", "uint16", 0.01, "%", (0.0, 100.0),
              "largest loss of metallic section")] + [
        Point(rp, f"tension{k}", f"ir:{IR_TENSION + k - 1}", "uint16", 0.01, "kN",
              (0.0, 600.0), f"rope {k} tension") for k in range(1, 5)]


def register_map() -> list[tuple[str, str]]:
    return [(f"{p.role}.{p.signal}", p.address) for p in points()]


@dataclass
class Event:
    t: float
    what: str          # hoist, return, dump, trip, load, feeder, brake_test, fallback, remote
    why: str = ""


@dataclass
class HoistPlc:
    plant: HoistPlant
    watchdog_s: float
    dump_s: float
    charge_s: float
    initial_mode: int = 2
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.coils = [False] * 16
        self.di = [False] * 8
        self.hr = [0] * 16
        self.ir = [0] * 60
        self.hr[HR_MODE] = self.initial_mode
        self.state = AT_LOADING
        self.fault = 0
        self.local = False
        self.access_closed = True
        self.brake_ok = False
        self.trips = 0
        self.starts = 0
        self._phase_t = 0.0            # time in the present dump, charge, brake test
        self._charging = False
        self._testing = False
        self._ref = 0.0
        self._reading = 0.0
        self.wd = Watchdog(self.watchdog_s)
        self.trip_injected = 0         # fault: a protection trip of this code

    @property
    def fallback(self) -> bool:
        return self.wd.fallback

    @fallback.setter
    def fallback(self, on: bool) -> None:
        self.wd.fallback = on

    # --- the scan ----------------------------------------------------------------------
    def scan(self, now: float, dt: float) -> None:
        change = self.wd.scan(self.hr[HR_HEARTBEAT], now)
        if change:
            self.events.append(Event(now, change, "controller heartbeat"))
        ref, a_max = self._motion(now, dt)
        self.plant.step(now, dt, ref, a_max)
        self._protect(now)
        self._loading(now, dt)
        self._brake_test(now, dt)
        self._ends(now, dt)
        self._reset(now)
        self._publish(ref)

    def _permit(self) -> str | None:
        p = self.plant
        if not self.brake_ok:
            return "brake test not passed"
        if p.ropes.damaged or p.ropes.monitor_failed:
            return "rope monitor"
        if not self.access_closed:
            return "winder room access open"
        if self.coils[COIL_CHUTE] or self._charging:
            return "chute open"
        if self.fault:
            return "tripped"
        if self.local or self.fallback:
            return "not under the controller"
        return None

    def _motion(self, now: float, dt: float) -> tuple[float, float]:
        """The speed reference and the deceleration allowed this scan."""
        c = self.plant.cage
        s = c.spec
        if self.state == TRIPPED:
            return 0.0, E_STOP
        if self.state in (AT_LOADING, DUMPING) and self.coils[COIL_TRIP] and \
                not (self.state == DUMPING and self._phase_t < self.dump_s):
            why = self._permit()
            if why is None:
                if self.state == AT_LOADING and c.load_t > 1.1 * s.payload:
                    self._trip(now, OVERLOAD, f"skip {c.load_t:.1f} t")
                    return 0.0, E_STOP
                self.state = HOISTING if self.state == AT_LOADING else RETURNING
                self.starts += 1
                self.events.append(Event(now, "hoist" if self.state == HOISTING else "return"))
        if self.state not in (HOISTING, RETURNING):
            self._ref = 0.0
            return 0.0, s.accel
        up = self.state == HOISTING
        togo = (s.depth - c.x) if up else c.x
        # the reference ramps up at the rated acceleration and follows the braking curve
        # down; the drive has a margin over it (DRIVE_MARGIN) so that it keeps to the curve
        self._ref = min(self.profile(togo), self._ref + s.accel * dt)
        return (1 if up else -1) * self._ref, s.accel * DRIVE_MARGIN

    def profile(self, togo: float) -> float:
        """The speed the profile allows ``togo`` m before the end: the braking curve to
        creep speed at ``CREEP_LEN`` m, creep to the end."""
        s = self.plant.cage.spec
        if togo <= CREEP_LEN:
            return s.creep if togo > 0.02 else 0.0
        curve = math.sqrt(s.creep ** 2 + 2 * s.accel * (togo - CREEP_LEN))
        return min(s.vmax, curve)

    def _protect(self, now: float) -> None:
        if self.fault:
            return
        p, c = self.plant, self.plant.cage
        s = c.spec
        moving = self.state in (HOISTING, RETURNING)
        togo = (s.depth - c.x) if self.state == HOISTING else c.x
        if abs(c.v) > 1.15 * s.vmax:
            self._trip(now, OVERSPEED, f"{abs(c.v):.2f} m/s")
        elif c.x > s.depth + 0.5 or c.x < -0.5:
            self._trip(now, OVERWIND, f"at {c.x:.2f} m")
        elif moving and abs(c.v) > 1.1 * self.profile(max(togo, 0.0)) + 0.5:
            self._trip(now, DECEL, f"{abs(c.v):.1f} m/s {togo:.0f} m before the end")
        elif p.ropes.slack:
            self._trip(now, SLACK, "rope tension lost")
        elif p.brake_gap_mm > 2.0:
            self._trip(now, BRAKE_GAP, f"{p.brake_gap_mm:.1f} mm")
        elif abs(p.encoder2() - c.x) > 1.0:
            self._trip(now, DEPTH, "encoders disagree")
        elif c.current_a > 1.5 * s.rated_a:
            self._trip(now, OVERCURRENT, f"{c.current_a:.0f} A")
        elif self.trip_injected:
            self._trip(now, self.trip_injected, "injected")

    def _trip(self, now: float, code: int, why: str) -> None:
        self.fault, self.state = code, TRIPPED
        self.coils[COIL_TRIP] = self.coils[COIL_FEEDER] = self.coils[COIL_CHUTE] = False
        self.plant.loading.feeding = False
        self.events.append(Event(now, "trip", f"{code} {why}"))

    def _reset(self, now: float) -> None:
        if not self.fault or self.hr[HR_FAULT] != 0:
            self.hr[HR_FAULT] = self.fault
            return
        p, c = self.plant, self.plant.cage
        gone = {OVERSPEED: not p.overspeed, OVERWIND: -0.5 <= c.x <= c.spec.depth + 0.5,
                SLACK: not p.ropes.slack, DECEL: not p.decel_fail,
                BRAKE_GAP: p.brake_gap_mm <= 2.0, DEPTH: not p.depth_fail,
                OVERLOAD: c.load_t <= 1.1 * c.spec.payload}.get(self.fault, True)
        if gone and abs(c.v) < 0.01 and not self.trip_injected:
            self.events.append(Event(now, "reset", str(self.fault)))
            self.fault = 0
            self.state = AT_LOADING if c.x < 1.0 else DUMPING if c.x > c.spec.depth - 1.0 \
                else STOPPED
            self._phase_t = self.dump_s           # nothing left to dump after a reset
        self.hr[HR_FAULT] = self.fault

    def _ends(self, now: float, dt: float) -> None:
        c = self.plant.cage
        s = c.spec
        if self.state == HOISTING and c.x >= s.depth - 0.02 and abs(c.v) < 0.01:
            self.state, self._phase_t = DUMPING, 0.0
            self.coils[COIL_TRIP] = False
            self.trips += 1
            self.events.append(Event(now, "dump", f"{c.load_t:.2f} t"))
        elif self.state == RETURNING and c.x <= 0.02 and abs(c.v) < 0.01:
            self.state = AT_LOADING
            self.coils[COIL_TRIP] = False
            self.trips += 1
        if self.state == DUMPING and self._phase_t < self.dump_s:
            self._phase_t += dt
            q = min(c.load_t, c.load_t * dt / max(self.dump_s - self._phase_t + dt, dt))
            c.load_t -= q
            self.plant.surface.t += q
            if self._phase_t >= self.dump_s:
                self.plant.surface.t += c.load_t
                c.load_t = 0.0

    def _loading(self, now: float, dt: float) -> None:
        ld, c = self.plant.loading, self.plant.cage
        self._reading = ld.weight()
        remote = not self.local and not self.fallback
        if not remote:
            self.coils[COIL_FEEDER] = self.coils[COIL_CHUTE] = False
        cutoff = struct.unpack(">f", struct.pack(">HH", *self.hr[HR_CUTOFF:HR_CUTOFF + 2]))[0]
        if self.coils[COIL_FEEDER] and cutoff > 0 and self._reading >= cutoff:
            self.coils[COIL_FEEDER] = False       # the cut-off, in the PLC's own scan
        feed = self.coils[COIL_FEEDER] and not self._charging and ld.bin_t > 0 and \
            not self.fault
        if feed != ld.feeding:
            self.events.append(Event(now, "feeder", "on" if feed else "off"))
        ld.feeding = feed
        at_rest = self.state == AT_LOADING and abs(c.v) < 0.01
        if self.coils[COIL_CHUTE] and at_rest and not ld.feeding and not self._charging:
            self._charging, self._phase_t = True, 0.0
            self.events.append(Event(now, "load", f"{ld.hopper_t:.2f} t"))
        if self._charging:
            self._phase_t += dt
            q = ld.hopper_t if self._phase_t >= self.charge_s else \
                ld.hopper_t * dt / max(self.charge_s - self._phase_t + dt, dt)
            ld.hopper_t -= q
            c.load_t += q
            if self._phase_t >= self.charge_s:
                self._charging = False
                self.coils[COIL_CHUTE] = False

    def _brake_test(self, now: float, dt: float) -> None:
        c = self.plant.cage
        if self.coils[COIL_BRAKE_TEST] and not self._testing and abs(c.v) < 0.01 and \
                self.state in (AT_LOADING, DUMPING, STOPPED):
            self._testing, self._test_t = True, 0.0
        if self._testing:
            self._test_t += dt
            if self._test_t >= BRAKE_TEST_S:
                self._testing = False
                self.brake_ok = self.plant.brake_gap_mm <= 2.0
                self.coils[COIL_BRAKE_TEST] = False
                self.events.append(Event(now, "brake_test", "ok" if self.brake_ok
                                         else "failed"))

    def _publish(self, ref: float) -> None:
        p, c, ir = self.plant, self.plant.cage, self.ir
        ld = p.loading
        moving = abs(c.v) > 0.01
        ir[IR_WORD] = (int(moving) | int(self.state == AT_LOADING and not moving) << 1
                       | int(self.state == DUMPING and not moving) << 2
                       | int(self.brake_ok) << 3 | int(not moving) << 4
                       | int(self.local) << 5 | int(self.access_closed) << 6
                       | int(self.fallback) << 7)
        ir[IR_STATE] = self.state
        ir[IR_POS:IR_POS + 2] = f32(c.x)
        ir[IR_SPEED:IR_SPEED + 2] = f32(c.v)
        ir[IR_REF:IR_REF + 2] = f32(ref)
        ir[IR_I] = u16(c.current_a * 10)
        ir[IR_U] = u16(600)
        ir[IR_P] = i16(c.power_kw)
        ir[IR_GAP] = u16(p.brake_gap_mm * 100)
        ir[IR_SKIP:IR_SKIP + 2] = f32(max(0.0, c.load_t + float(p.rng.normal(0, 0.05))))
        ir[IR_TRIPS:IR_TRIPS + 2] = u32(self.trips)
        ir[IR_ENERGY:IR_ENERGY + 2] = u32(c.energy_kwh)
        ir[IR_HOURS:IR_HOURS + 2] = u32(c.run_hours * 10)
        ir[IR_STARTS] = u16(self.starts)
        ir[IR_HV_I] = u16(c.current_a * 10 + 50)
        ir[IR_LV_U] = u16(400)
        ir[IR_LOAD_WORD] = int(ld.feeding or ld.feeder_stuck) | int(self._charging) << 1
        ir[IR_HOPPER:IR_HOPPER + 2] = f32(self._reading)
        ir[IR_BIN] = u16(ld.level_pct() * 10)
        ir[IR_SURFACE] = u16(p.surface.level_pct() * 10)
        ir[IR_ROPE_WORD] = int(p.ropes.damaged) | int(not p.ropes.monitor_failed) << 1
        ir[IR_ROPE_LOS] = u16(300 if p.ropes.damaged else 20)
        for k, t in enumerate(p.ropes.tensions_kn(c.load_t, p.acc, p.rng)):
            ir[IR_TENSION + k] = u16(t * 100)
