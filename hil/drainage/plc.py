"""The drainage PLC, emulated: its register map, its interlocks, its watchdog.

This is what the controller talks to, and it behaves as the PLC programmer's spec says,
independently of fixedsite: it encodes its own registers (it never borrows the drivers'
codec, so a byte-order bug cannot cancel itself out) and it keeps its own protections,
because the PLC is the last line of safety:

* no motor start unless the pump is primed; no start on an active trip;
* stop on dry running (no flow with the valve open, or lost prime while running);
* the discharge valve is closed before the motor stops (against water hammer);
* a trip clears the run, prime and open commands, and holds until the controller writes
  0 to the fault register while the cause is gone;
* heartbeat watchdog: when the controller's heartbeat stops changing, the PLC takes over
  on its float switches (high starts a pump, high-high starts all, low stops all) and
  makes the command coils track what runs, so the controller's return is bumpless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fixedsite.hil.drainage.plant import DrainagePlant
from fixedsite.hil.meter import Meter
from fixedsite.hil.packing import f32 as _f32
from fixedsite.hil.packing import i16 as _i16
from fixedsite.hil.packing import u16 as _u16
from fixedsite.hil.packing import u32 as _u32
from fixedsite.hil.unit import Point

# --- register map (the hand-over document) ---------------------------------------
HR_HEARTBEAT = 0
HR_PUMP, HR_PUMP_STRIDE = 10, 10          # +0 mode, +1 fault_code
IR_LEVEL = 0                              # float32 per level sensor, 2 registers each
IR_PLC = 8                                # +0 status word (bit 0 fallback), +1 hb echo
IR_PUMP, IR_PUMP_STRIDE = 20, 20
COIL_PUMP, COIL_PUMP_STRIDE = 0, 8        # +0 prime_cmd, +1 run_cmd, +2 valve open_cmd
DI_FLOAT_LOW, DI_FLOAT_HIGH, DI_FLOAT_HH, DI_FALLBACK = 0, 1, 2, 3

# pump status word bits (IR_PUMP + 0)
B_RUNNING, B_PRIMED, B_LOCAL, B_V_OPENED, B_V_CLOSED, B_V_FAULT, B_PRIMING = range(7)
# fault codes
FAULT_OVERLOAD, FAULT_DRY_RUN = 1, 2


FAULT_MEANING = f"0 healthy, {FAULT_OVERLOAD} motor overload, {FAULT_DRY_RUN} dry running; " \
    "write 0 to reset (refused while the cause persists)"
MODE_MEANING = "1 remote-manual, 2 remote-auto (0 or other: not set, commands refused); " \
    "LOCAL is the field selector, status bit local"


def points(n_pumps: int, n_sensors: int, sump_top_m: float = 5.0,
           flow_max_m3h: float = 700.0) -> list[Point]:
    """Every point of a drainage PLC with ``n_pumps`` and ``n_sensors``, in map order: the
    one table ``register_map``, ``--list-tags`` and its CSV are made from."""
    out = [Point("plc.0", "heartbeat", f"hr:{HR_HEARTBEAT}", "uint16",
                 meaning="controller writes a changing value; unchanged for the watchdog "
                         "time, the PLC falls back to its float switches", writable=True),
           Point("plc.0", "fallback", f"di:{DI_FALLBACK}", "bool",
                 meaning="1 PLC runs the pumps on its float switches (heartbeat lost), "
                         "0 controller in charge"),
           Point("plc.0", "heartbeat_echo", f"ir:{IR_PLC + 1}", "uint16",
                 meaning="the last heartbeat value the PLC received"),
           Point("sump.0", "float_low", f"di:{DI_FLOAT_LOW}", "bool",
                 meaning="1 level below the low float: no pump may run"),
           Point("sump.0", "float_high", f"di:{DI_FLOAT_HIGH}", "bool",
                 meaning="1 level at or above the high float"),
           Point("sump.0", "float_highhigh", f"di:{DI_FLOAT_HH}", "bool",
                 meaning="1 level at or above the high-high float")]
    for j in range(n_sensors):
        out.append(Point(f"sensor.{j}", "level", f"ir:{IR_LEVEL + 2 * j}:float32", "float32",
                         unit="m", range=(0.0, sump_top_m),
                         meaning="water level above the sump floor"))
    for i in range(n_pumps):
        h, r, c = HR_PUMP + HR_PUMP_STRIDE * i, IR_PUMP + IR_PUMP_STRIDE * i, \
            COIL_PUMP + COIL_PUMP_STRIDE * i
        pump, valve = f"pump.{i}", f"valve.{i}"

        def bit(role: str, signal: str, b: int, meaning: str, r: int = r) -> Point:
            return Point(role, signal, f"ir:{r}.{b}", "bool", meaning=meaning)
        out += [
            Point(pump, "mode", f"hr:{h}", "uint16", meaning=MODE_MEANING, writable=True),
            Point(pump, "fault_code", f"hr:{h + 1}", "uint16", meaning=FAULT_MEANING,
                  writable=True),
            Point(pump, "prime_cmd", f"coil:{c}", "bool",
                  meaning="1 run the vacuum priming pump", writable=True),
            Point(pump, "run_cmd", f"coil:{c + 1}", "bool",
                  meaning="1 run the main motor (refused unless primed)", writable=True),
            Point(valve, "open_cmd", f"coil:{c + 2}", "bool",
                  meaning="1 drive the discharge valve open, 0 closed", writable=True),
            bit(pump, "running", B_RUNNING, "1 motor running (contactor feedback)"),
            bit(pump, "primed", B_PRIMED, "1 casing full, priming complete"),
            bit(pump, "local", B_LOCAL, "1 field selector in LOCAL: remote commands ignored"),
            bit(valve, "opened", B_V_OPENED, "1 open limit switch"),
            bit(valve, "closed", B_V_CLOSED, "1 closed limit switch"),
            bit(valve, "fault", B_V_FAULT, "1 actuator fault (travel timeout)"),
            Point(pump, "flow", f"ir:{r + 1}:float32", "float32", unit="m3/h",
                  range=(0.0, flow_max_m3h), meaning="discharge flow"),
            Point(pump, "discharge_pressure", f"ir:{r + 3}", "uint16", 0.001, "MPa",
                  (0.0, 6.0), "discharge pressure"),
            Point(pump, "suction_vacuum", f"ir:{r + 4}", "uint16", 0.1, "kPa", (0.0, 100.0),
                  "suction vacuum"),
            Point(pump, "current", f"ir:{r + 5}", "uint16", 0.1, "A", (0.0, 400.0),
                  "motor current"),
            Point(pump, "voltage", f"ir:{r + 6}", "uint16", 0.01, "kV", (0.0, 8.0),
                  "supply voltage"),
            Point(pump, "power", f"ir:{r + 7}", "uint16", 0.1, "kW", (0.0, 1000.0),
                  "motor active power"),
            Point(pump, "energy", f"ir:{r + 8}:uint32", "uint32", 1.0, "kWh", None,
                  "motor energy counter, high word first"),
            Point(pump, "bearing_temp", f"ir:{r + 10}:int16", "int16", 0.1, "degC",
                  (-20.0, 150.0), "bearing temperature"),
            Point(pump, "stator_temp", f"ir:{r + 11}:int16", "int16", 0.1, "degC",
                  (-20.0, 200.0), "stator winding temperature"),
            Point(valve, "position", f"ir:{r + 12}", "uint16", 0.1, "%", (0.0, 100.0),
                  "valve position, 0 closed"),
            Point(pump, "run_hours", f"ir:{r + 13}:uint32", "uint32", 0.1, "h", None,
                  "motor run-hour counter, high word first"),
            Point(pump, "starts", f"ir:{r + 15}", "uint16", meaning="motor start counter")]
    return out


def register_map(n_pumps: int, n_sensors: int) -> list[tuple[str, str]]:
    """(role.index.signal, address) for every point, in the PLC's own numbering."""
    return [(f"{p.role}.{p.signal}", p.address) for p in points(n_pumps, n_sensors)]


@dataclass
class Event:
    t: float
    pump: int
    what: str        # "start", "stop", "trip", "fallback", "remote"
    why: str = ""


@dataclass
class DrainagePlc:
    plant: DrainagePlant
    watchdog_s: float
    n_sensors: int
    initial_mode: int = 1                     # 1 remote-manual, 2 remote-auto
    coils: list[bool] = field(default_factory=list)
    di: list[bool] = field(default_factory=list)
    hr: list[int] = field(default_factory=list)
    ir: list[int] = field(default_factory=list)
    fallback: bool = False
    events: list[Event] = field(default_factory=list)
    meter: Meter = field(default_factory=Meter, repr=False)   # transmitters' noise

    def __post_init__(self) -> None:
        n = len(self.plant.pumps)
        self.coils = [False] * (COIL_PUMP + COIL_PUMP_STRIDE * n)
        self.di = [False] * 16
        self.hr = [0] * (HR_PUMP + HR_PUMP_STRIDE * n)
        self.ir = [0] * (IR_PUMP + IR_PUMP_STRIDE * n)
        self.fault = [0] * n
        self.trip_injected = [False] * n
        self.local = [False] * n
        self._stop_hold = [0.0] * n
        self._valve_lag = [0.0] * n
        self._last_hb: int | None = None
        self._hb_time: float | None = None
        self._demand = 0
        self.heartbeat_deaf = False
        for i in range(n):
            self.hr[HR_PUMP + HR_PUMP_STRIDE * i] = self.initial_mode

    # --- fault injection ---------------------------------------------------------
    def inject_trip(self, i: int, on: bool = True) -> None:
        self.trip_injected[i] = on

    def inject_valve_stuck(self, i: int, on: bool = True) -> None:
        self.plant.valves[i].stuck = on

    def inject_sensor_stuck(self, j: int, on: bool = True) -> None:
        self.plant.sensors[j].stuck_at = self.plant.sump.level if on else None

    def inject_heartbeat_deaf(self, on: bool = True) -> None:
        """The PLC stops seeing the controller's heartbeat while the link stays up (a
        broken heartbeat path): its watchdog must fall back, and the controller alarm."""
        self.heartbeat_deaf = on

    def set_local(self, i: int, on: bool) -> None:
        self.local[i] = on

    # --- one PLC scan --------------------------------------------------------------
    def scan(self, now: float, dt: float) -> None:
        self._watchdog(now)
        self.meter.tick(now)
        low, high, hh = self.plant.floats()
        self._fallback_demand(low, high, hh)
        for i in range(len(self.plant.pumps)):
            self._pump(i, now, dt, low)
        self._publish(low, high, hh)

    def _watchdog(self, now: float) -> None:
        hb = self._last_hb if self.heartbeat_deaf and self._last_hb is not None \
            else self.hr[HR_HEARTBEAT]
        if self._hb_time is None or hb != self._last_hb:
            if self._last_hb is not None and hb != self._last_hb and self.fallback:
                self.fallback = False
                self.events.append(Event(now, -1, "remote", "heartbeat back"))
            self._last_hb, self._hb_time = hb, now
        elif not self.fallback and now - self._hb_time > self.watchdog_s:
            self.fallback = True
            self._demand = sum(p.motor_on for p in self.plant.pumps)
            self.events.append(Event(now, -1, "fallback", "controller heartbeat lost"))

    def _fallback_demand(self, low: bool, high: bool, hh: bool) -> None:
        if not self.fallback:
            return
        n = len(self.plant.pumps)
        if hh:
            self._demand = n
        elif high:
            self._demand = max(self._demand, 1)
        if low:
            self._demand = 0

    def _fallback_wants(self) -> list[bool]:
        """Which pumps the float logic runs: running ones first, then in order."""
        healthy = [i for i in range(len(self.plant.pumps))
                   if self.fault[i] == 0 and not self.local[i]]
        order = sorted(healthy, key=lambda i: (not self.plant.pumps[i].motor_on, i))
        chosen = set(order[:self._demand])
        return [i in chosen for i in range(len(self.plant.pumps))]

    def _pump(self, i: int, now: float, dt: float, low: bool) -> None:
        p, v = self.plant.pumps[i], self.plant.valves[i]
        c = COIL_PUMP + COIL_PUMP_STRIDE * i
        h = HR_PUMP + HR_PUMP_STRIDE * i
        # trips
        if self.fault[i] == 0 and p.motor_on:
            if self.trip_injected[i]:
                self._trip(i, now, FAULT_OVERLOAD, "motor overload relay")
            elif p.dry_s > 20.0 or (p.speed > 0.9 and not p.primed):
                self._trip(i, now, FAULT_DRY_RUN, "dry running")
        # reset: the controller writes 0; refused (rewritten) while the cause persists
        if self.fault[i] and self.hr[h + 1] == 0 and not self.trip_injected[i]:
            self.fault[i] = 0
        self.hr[h + 1] = self.fault[i]
        remote = not self.fallback and not self.local[i]
        if remote:
            prime, run, open_ = self.coils[c], self.coils[c + 1], self.coils[c + 2]
        elif self.fallback and not self.local[i]:
            want = self._fallback_wants()[i]
            prime = want and not p.primed and not p.motor_on
            run = want and (p.primed or p.motor_on)
            open_ = want and p.motor_on and p.speed > 0.9
        else:                                     # local: the field panel holds it
            prime, run, open_ = p.priming, p.motor_on, v.target > 0.5
        # interlocks, whoever commands
        if self.fault[i] or low:                 # and the latches go: no restart by itself
            prime = run = open_ = False
            self.coils[c] = self.coils[c + 1] = self.coils[c + 2] = False
        if run and not p.motor_on and not p.primed:
            run = False                          # no start unless primed
        if p.motor_on and not run:               # stopping: valve closed first
            self._stop_hold[i] += dt
            if not v.closed and self._stop_hold[i] < 1.5 * v.travel_s and not self.fault[i]:
                run, open_ = True, False
        else:
            self._stop_hold[i] = 0.0
        if p.motor_on != run:
            self.events.append(Event(now, i, "start" if run else "stop",
                                     "remote" if remote else "fallback" if self.fallback
                                     else "local"))
        p.motor_on = run
        p.priming = prime and not run
        v.target = 1.0 if open_ else 0.0
        moving = abs(v.target - v.position) > 0.005
        self._valve_lag[i] = self._valve_lag[i] + dt if moving else 0.0
        if not remote:                            # command tracking: bumpless hand-back
            self.coils[c], self.coils[c + 1], self.coils[c + 2] = p.priming, run, open_

    def _trip(self, i: int, now: float, code: int, why: str) -> None:
        self.fault[i] = code
        self.plant.pumps[i].motor_on = False
        c = COIL_PUMP + COIL_PUMP_STRIDE * i
        self.coils[c] = self.coils[c + 1] = self.coils[c + 2] = False
        self.events.append(Event(now, i, "trip", why))

    def _publish(self, low: bool, high: bool, hh: bool) -> None:
        plant, ir = self.plant, self.ir
        level = plant.sump.level
        for j in range(self.n_sensors):
            ir[IR_LEVEL + 2 * j: IR_LEVEL + 2 * j + 2] = _f32(plant.sensors[j].read(
                level, plant.rng))
        ir[IR_PLC] = int(self.fallback)
        ir[IR_PLC + 1] = self.hr[HR_HEARTBEAT]
        self.di[DI_FLOAT_LOW], self.di[DI_FLOAT_HIGH], self.di[DI_FLOAT_HH] = low, high, hh
        self.di[DI_FALLBACK] = self.fallback
        for i, (p, v) in enumerate(zip(plant.pumps, plant.valves, strict=True)):
            r = IR_PUMP + IR_PUMP_STRIDE * i
            valve_fault = self._valve_lag[i] > 1.5 * v.travel_s
            word = (p.motor_on << B_RUNNING | p.primed << B_PRIMED | self.local[i] << B_LOCAL
                    | v.opened << B_V_OPENED | v.closed << B_V_CLOSED
                    | valve_fault << B_V_FAULT | p.priming << B_PRIMING)
            ir[r] = word
            ir[r + 1: r + 3] = _f32(p.flow)
            m = self.meter                                  # the transmitters' noise
            ir[r + 3] = _u16(m.read(p.head, 0.003) * 9.81)  # kPa -> scaled 0.001 MPa
            ir[r + 4] = _u16(m.read(p.vacuum, 0.005) * 10)  # 0.1 kPa
            ir[r + 5] = _u16(m.read(p.current, 0.003) * 10)     # 0.1 A
            ir[r + 6] = _u16(m.read(p.voltage, 0.002) * 100)    # 0.01 kV
            ir[r + 7] = _u16(m.read(p.power, 0.003) * 10)       # 0.1 kW
            ir[r + 8: r + 10] = _u32(p.energy)              # kWh
            ir[r + 10] = _i16(m.read(p.bearing_c, absolute=0.1) * 10)   # 0.1 degC
            ir[r + 11] = _i16(m.read(p.stator_c, absolute=0.1) * 10)
            ir[r + 12] = _u16(v.position * 1000)            # 0.1 %
            ir[r + 13: r + 15] = _u32(p.run_hours * 10)     # 0.1 h
            ir[r + 15] = _u16(p.starts)
