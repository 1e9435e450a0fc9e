"""The ventilation PLCs, emulated: the main fan station's and each face's auxiliary-fan
PLC, each with its register map as data, its own packing and its own protections.

They behave as the PLC programmer's spec says, independently of fixedsite (they never
borrow the drivers' codec: a byte-order bug shared by both would cancel itself out).

Main fan station (``StationPlc``), per fan:

* **start permissive**: no latched trip, drive healthy, REMOTE, and the fan's **inlet
  damper open** (limit switch). A run command without it does not start the fan (the
  command stays as written: the fan starts once the permissive is there, so a sequence
  that gives up must clear its command);
* **interlock order**: inlet damper open -> run (the drive ramps to ``speed_sp``) ->
  outlet damper open. The outlet opens only while the drive runs (a stopped fan behind
  an open outlet short-circuits the mine's air through its duct); when the drive stops,
  the PLC drives the outlet shut whatever its command. The inlet cannot be closed while
  the drive runs. A stop ramps the drive down; its output goes off at standstill;
* **reversal** only from standstill or through a stop: ``reverse_cmd`` changed while the
  fan turns makes the drive ramp to standstill, then run up the other way;
* **trips** (``fault_code``, equipment.FAULT_WORDS): 1 motor overload (current above
  115 % of rated for 10 s), 2 drive (VFD) fault, 3 vibration high (>= 7.1 mm/s for 2 s),
  4 bearing temperature high (>= 90 degC), 5 damper fault (the outlet not open within
  1.5 x its travel while running). A trip cuts the drive (the fan coasts), clears the
  run and outlet commands and shuts the outlet. It holds until the controller writes 0
  to ``fault_code`` with the cause gone (code 2: drive healthy; 3: vibration below
  4.5 mm/s; 4: bearing below 80 degC; 5: the damper fault gone); a reset refused leaves
  the code as it was;
* **heartbeat watchdog**: the controller's heartbeat unchanged for ``watchdog_s`` sets
  ``fallback``: the PLC holds everything as it is (a running fan keeps running at its
  speed, doors and windows stay), ignores the command coils and registers and makes them
  track what it holds, so the controller's return is bumpless. Protections still trip.

Air doors: a door moves only after its horn and light (``warning``) have sounded for
``warn_s``, and they stay on while it moves. **Airlock interlock**: an open command is
refused while any other door of its airlock is not closed or is about to open: the door
stays shut and ``refused`` is set, latched while the open command stays (the PLC never
opens it later by itself; the controller withdraws the command, 0, to clear it). A door
that meets an obstruction (its safety edge, after 30 % of its stroke) stops and goes
back; ``obstructed`` holds while the obstruction is there; once it is gone the door tries
again (with its warning) if the command still asks. A door that does not reach its
limit within 1.5 x its travel sets ``fault`` and stops trying until the command changes.
Regulating windows follow ``position_sp``.

Auxiliary-fan PLC (``AuxPlc``), one per face: run command per fan, overload trip (code 1)
latched until reset with the cause gone, heartbeat watchdog that holds the running fan.
On a trip of the working fan the PLC does **not** start the standby by itself: the
switchover is the controller's (its sequence records it and the daily test); the PLC's
only duty is the fan it is told to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fixedsite.hil.meter import Meter
from fixedsite.hil.packing import f32 as _f32
from fixedsite.hil.packing import i16 as _i16
from fixedsite.hil.packing import u16 as _u16
from fixedsite.hil.packing import u32 as _u32
from fixedsite.hil.unit import Point
from fixedsite.hil.ventilation.plant import AuxPlant, VentilationPlant
from fixedsite.hil.watchdog import Watchdog

# --- the main fan station's register map (the hand-over document) -------------------------
HR_HEARTBEAT = 0
HR_FAN, HR_FAN_STRIDE = 10, 10           # +0 mode, +1 fault_code, +2 speed_sp (0.1 %)
HR_WINDOW, MAX_WINDOWS = 40, 20          # position_sp (0.1 %), one register per window
COIL_FAN, COIL_FAN_STRIDE = 0, 8         # +0 run, +1 reverse, +2 inlet open, +3 outlet open
COIL_DOOR, MAX_DOORS = 16, 30            # open_cmd, one coil per door
DI_FALLBACK = 0
IR_PLC = 0                               # +0 status word (bit 0 fallback), +1 hb echo
IR_FAN, IR_FAN_STRIDE = 10, 20
IR_DOOR = 50                             # one status word per door
IR_WINDOW, IR_WINDOW_STRIDE, MAX_WINDOW_WORDS = 80, 2, 10   # +0 position, +1 status
IR_SENSOR, IR_SENSOR_STRIDE = 100, 10
N_FANS = 2

# fan status word (IR_FAN + 0)
B_RUNNING, B_READY, B_LOCAL, B_REVERSED = range(4)
# damper status words (IR_FAN + 1 inlet, + 2 outlet)
B_D_OPENED, B_D_CLOSED, B_D_FAULT = range(3)
# door status word
B_OPENED, B_CLOSED, B_WARNING, B_OBSTRUCTED, B_FAULT, B_REFUSED = range(6)
# window status word
B_W_FAULT = 0

FAULT_OVERLOAD, FAULT_VFD, FAULT_VIBRATION, FAULT_BEARING, FAULT_DAMPER = 1, 2, 3, 4, 5
VIB_TRIP, VIB_RESET, VIB_TRIP_S = 7.1, 4.5, 2.0           # mm/s (ISO 10816 zone D)
BEARING_TRIP, BEARING_RESET = 90.0, 80.0                  # degC
OVERLOAD, OVERLOAD_S = 1.15, 10.0                         # x rated current, s
OBSTACLE_AT = 0.3                                         # of the stroke
FAULT_WORDS = {FAULT_OVERLOAD: "motor overload", FAULT_VFD: "drive (VFD) fault",
               FAULT_VIBRATION: "vibration high", FAULT_BEARING: "bearing temperature high",
               FAULT_DAMPER: "damper fault"}

FAULT_MEANING = (f"0 healthy, {FAULT_OVERLOAD} motor overload, {FAULT_VFD} drive (VFD) "
                 f"fault, {FAULT_VIBRATION} vibration high, {FAULT_BEARING} bearing "
                 f"temperature high, {FAULT_DAMPER} damper fault; write 0 to reset "
                 "(refused while the cause persists)")
MODE_MEANING = "1 remote-manual, 2 remote-auto (held for the controller)"

# --- an auxiliary-fan PLC's register map ----------------------------------------------------
HR_AUX, HR_AUX_STRIDE = 10, 10           # +0 fault_code
COIL_AUX, COIL_AUX_STRIDE = 0, 8         # +0 run_cmd
IR_AUX, IR_AUX_STRIDE = 10, 10
B_AUX_RUNNING, B_AUX_LOCAL = range(2)
AUX_FAULT_MEANING = f"0 healthy, {FAULT_OVERLOAD} motor overload; write 0 to reset " \
    "(refused while the cause persists)"


def _plc_points() -> list[Point]:
    return [Point("plc.0", "heartbeat", f"hr:{HR_HEARTBEAT}", "uint16",
                  meaning="controller writes a changing value; unchanged for the watchdog "
                          "time, the PLC holds the plant as it is", writable=True),
            Point("plc.0", "fallback", f"di:{DI_FALLBACK}", "bool",
                  meaning="1 heartbeat lost: the PLC holds the fans as they are and tracks "
                          "the commands; 0 controller in charge"),
            Point("plc.0", "heartbeat_echo", f"ir:{IR_PLC + 1}", "uint16",
                  meaning="the last heartbeat value the PLC received")]


def station_points(n_doors: int, n_windows: int, n_sensors: int,
                   flow_max: float = 300.0, pressure_max: float = 5000.0) -> list[Point]:
    """Every point of a main fan station PLC, in map order: the one table the register
    map, ``--list-tags`` and the config's addresses are made from."""
    if n_doors > MAX_DOORS or n_windows > min(MAX_WINDOWS, MAX_WINDOW_WORDS):
        raise ValueError(f"a fan station PLC has room for {MAX_DOORS} doors and "
                         f"{MAX_WINDOW_WORDS} windows ({n_doors} and {n_windows} given)")
    out = _plc_points()
    for i in range(N_FANS):
        h, r, c = HR_FAN + HR_FAN_STRIDE * i, IR_FAN + IR_FAN_STRIDE * i, \
            COIL_FAN + COIL_FAN_STRIDE * i
        fan, inlet, outlet = f"fan.{i}", f"damper.{2 * i}", f"damper.{2 * i + 1}"

        def bit(role: str, signal: str, reg: int, b: int, meaning: str) -> Point:
            return Point(role, signal, f"ir:{reg}.{b}", "bool", meaning=meaning)
        out += [
            Point(fan, "mode", f"hr:{h}", "uint16", meaning=MODE_MEANING, writable=True),
            Point(fan, "fault_code", f"hr:{h + 1}", "uint16", meaning=FAULT_MEANING,
                  writable=True),
            Point(fan, "speed_sp", f"hr:{h + 2}", "uint16", 0.1, "%", (0.0, 100.0),
                  "drive speed set-point (clamped to the drive's minimum while running)",
                  writable=True),
            Point(fan, "run_cmd", f"coil:{c}", "bool", meaning="1 run (refused unless "
                  "ready and the inlet damper open), 0 ramp down and stop", writable=True),
            Point(fan, "reverse_cmd", f"coil:{c + 1}", "bool", meaning="1 run reversed; "
                  "changed while turning, the drive stops first", writable=True),
            Point(inlet, "open_cmd", f"coil:{c + 2}", "bool", meaning="1 open the inlet "
                  "damper, 0 close it (held open while the drive runs)", writable=True),
            Point(outlet, "open_cmd", f"coil:{c + 3}", "bool", meaning="1 open the outlet "
                  "damper (only while the drive runs), 0 close it", writable=True),
            bit(fan, "running", r, B_RUNNING, "1 drive output on (motor powered)"),
            bit(fan, "ready", r, B_READY, "1 no trip, drive healthy, REMOTE"),
            bit(fan, "local", r, B_LOCAL, "1 field selector in LOCAL: remote ignored"),
            bit(fan, "reversed", r, B_REVERSED, "1 turning in reverse"),
            bit(inlet, "opened", r + 1, B_D_OPENED, "1 open limit switch"),
            bit(inlet, "closed", r + 1, B_D_CLOSED, "1 closed limit switch"),
            bit(inlet, "fault", r + 1, B_D_FAULT, "1 actuator fault (travel timeout)"),
            bit(outlet, "opened", r + 2, B_D_OPENED, "1 open limit switch"),
            bit(outlet, "closed", r + 2, B_D_CLOSED, "1 closed limit switch"),
            bit(outlet, "fault", r + 2, B_D_FAULT, "1 actuator fault (travel timeout)"),
            Point(fan, "speed", f"ir:{r + 3}", "uint16", 0.1, "%", (0.0, 100.0),
                  "actual speed"),
            Point(fan, "airflow", f"ir:{r + 4}:float32", "float32", unit="m3/s",
                  range=(-flow_max, flow_max), meaning="airflow through the fan's duct "
                  "(negative: reversed, or drawn in through a stopped fan)"),
            Point(fan, "static_pressure", f"ir:{r + 6}:float32", "float32", unit="Pa",
                  range=(-pressure_max, pressure_max), meaning="fan static pressure"),
            Point(fan, "current", f"ir:{r + 8}", "uint16", 0.1, "A", (0.0, 500.0),
                  "motor current"),
            Point(fan, "voltage", f"ir:{r + 9}", "uint16", 0.01, "kV", (0.0, 12.0),
                  "supply voltage"),
            Point(fan, "power", f"ir:{r + 10}", "uint16", 0.1, "kW", (0.0, 2000.0),
                  "motor active power"),
            Point(fan, "energy", f"ir:{r + 11}:uint32", "uint32", 1.0, "kWh", None,
                  "motor energy counter"),
            Point(fan, "bearing_temp", f"ir:{r + 13}:int16", "int16", 0.1, "degC",
                  (-20.0, 150.0), "bearing temperature"),
            Point(fan, "vibration", f"ir:{r + 14}", "uint16", 0.01, "mm/s", (0.0, 50.0),
                  "bearing vibration velocity"),
            Point(fan, "run_hours", f"ir:{r + 15}:uint32", "uint32", 0.1, "h", None,
                  "motor run-hour counter"),
            Point(fan, "starts", f"ir:{r + 17}", "uint16", meaning="motor start counter"),
            Point(inlet, "position", f"ir:{r + 18}", "uint16", 0.1, "%", (0.0, 100.0),
                  "inlet damper position, 0 closed"),
            Point(outlet, "position", f"ir:{r + 19}", "uint16", 0.1, "%", (0.0, 100.0),
                  "outlet damper position, 0 closed")]
    for j in range(n_doors):
        door, r = f"door.{j}", IR_DOOR + j
        out += [Point(door, "open_cmd", f"coil:{COIL_DOOR + j}", "bool", meaning="1 open "
                      "(after the warning; refused while another door of its airlock is "
                      "not closed), 0 close", writable=True)]
        for signal, b, meaning in [
                ("opened", B_OPENED, "1 open limit switch"),
                ("closed", B_CLOSED, "1 closed limit switch"),
                ("warning", B_WARNING, "1 horn and light: about to move or moving"),
                ("obstructed", B_OBSTRUCTED, "1 obstruction: the door stopped and went "
                 "back"),
                ("fault", B_FAULT, "1 actuator fault (travel timeout)"),
                ("refused", B_REFUSED, "1 open refused: another door of its airlock is "
                 "not closed (held while the open command stays)")]:
            out.append(Point(door, signal, f"ir:{r}.{b}", "bool", meaning=meaning))
    for j in range(n_windows):
        win, r = f"window.{j}", IR_WINDOW + IR_WINDOW_STRIDE * j
        out += [Point(win, "position_sp", f"hr:{HR_WINDOW + j}", "uint16", 0.1, "%",
                      (0.0, 100.0), "opening set-point, 0 shut", writable=True),
                Point(win, "position", f"ir:{r}", "uint16", 0.1, "%", (0.0, 100.0),
                      "opening, 0 shut"),
                Point(win, "fault", f"ir:{r + 1}.{B_W_FAULT}", "bool",
                      meaning="1 actuator fault (travel timeout)")]
    for j in range(n_sensors):
        s, r = f"sensor.{j}", IR_SENSOR + IR_SENSOR_STRIDE * j
        out += [Point(s, "airflow", f"ir:{r}:float32", "float32", unit="m3/s",
                      range=(-flow_max, flow_max), meaning="airflow (negative: reversed)"),
                Point(s, "velocity", f"ir:{r + 2}:float32", "float32", unit="m/s",
                      range=(-30.0, 30.0), meaning="air velocity (0 where no area is known)"),
                Point(s, "pressure", f"ir:{r + 4}:float32", "float32", unit="Pa",
                      range=(-pressure_max, pressure_max),
                      meaning="pressure against the surface (negative: suction)"),
                Point(s, "temperature", f"ir:{r + 6}:int16", "int16", 0.1, "degC",
                      (-20.0, 60.0), "air temperature"),
                Point(s, "humidity", f"ir:{r + 7}", "uint16", 0.1, "%", (0.0, 100.0),
                      "relative humidity")]
    return out


def aux_points(n_fans: int, flow_max: float = 20.0) -> list[Point]:
    """Every point of a face's auxiliary-fan PLC, in map order."""
    out = _plc_points()
    for i in range(n_fans):
        h, r, c = HR_AUX + HR_AUX_STRIDE * i, IR_AUX + IR_AUX_STRIDE * i, \
            COIL_AUX + COIL_AUX_STRIDE * i
        fan = f"aux_fan.{i}"
        out += [
            Point(fan, "fault_code", f"hr:{h}", "uint16", meaning=AUX_FAULT_MEANING,
                  writable=True),
            Point(fan, "run_cmd", f"coil:{c}", "bool", meaning="1 run, 0 stop (the PLC "
                  "never starts the standby by itself)", writable=True),
            Point(fan, "running", f"ir:{r}.{B_AUX_RUNNING}", "bool",
                  meaning="1 motor running (contactor feedback)"),
            Point(fan, "local", f"ir:{r}.{B_AUX_LOCAL}", "bool",
                  meaning="1 field selector in LOCAL: remote ignored"),
            Point(fan, "airflow", f"ir:{r + 1}:float32", "float32", unit="m3/s",
                  range=(0.0, flow_max), meaning="air this fan delivers to the face"),
            Point(fan, "current", f"ir:{r + 3}", "uint16", 0.1, "A", (0.0, 500.0),
                  "motor current"),
            Point(fan, "run_hours", f"ir:{r + 4}:uint32", "uint32", 0.1, "h", None,
                  "motor run-hour counter"),
            Point(fan, "starts", f"ir:{r + 6}", "uint16", meaning="motor start counter")]
    return out


def register_map(points: list[Point]) -> list[tuple[str, str]]:
    """(role.index.signal, address) of every point, in the PLC's own numbering."""
    return [(f"{p.role}.{p.signal}", p.address) for p in points]


@dataclass
class Event:
    t: float
    what: str        # "start", "stop", "trip", "reset", "fallback", "remote", "refused", ...
    who: str         # "fan.0", "door.1", "plc"
    why: str = ""


def _watch(wd: Watchdog, hb: int, now: float, events: list[Event]) -> None:
    change = wd.scan(hb, now)
    if change == "remote":
        events.append(Event(now, "remote", "plc", "heartbeat back"))
    elif change == "fallback":
        events.append(Event(now, "fallback", "plc", "controller heartbeat lost"))


# door control phases
IDLE, WARN, MOVE, BACK = 0, 1, 2, 3


@dataclass
class DoorCtl:
    """What the PLC keeps of one door's control."""

    goal: bool = False         # accepted command: True open
    phase: int = IDLE
    timer: float = 0.0
    start: float = 0.0         # position the present move started from
    refused: bool = False
    obstructed: bool = False
    fault: bool = False


@dataclass
class StationPlc:
    plant: VentilationPlant
    watchdog_s: float
    airlocks: list[list[int]]              # door indices of each airlock
    warn_s: list[float]                    # per door
    min_speed: list[float]                 # per fan, fraction
    rated_current: list[float]             # per fan, A
    coils: list[bool] = field(default_factory=list)
    di: list[bool] = field(default_factory=list)
    hr: list[int] = field(default_factory=list)
    ir: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    meter: Meter = field(default_factory=Meter, repr=False)   # transmitters' noise

    def __post_init__(self) -> None:
        p = self.plant
        nd, nw, ns = len(p.doors), len(p.windows), len(p.sensors)
        station_points(nd, nw, ns)            # refuses what does not fit the map
        self.coils = [False] * (COIL_DOOR + max(nd, 1))
        self.di = [False] * 8
        self.hr = [0] * (HR_WINDOW + max(nw, 1))
        self.ir = [0] * (IR_SENSOR + IR_SENSOR_STRIDE * ns)
        self.fault = [0] * N_FANS
        self.local = [False] * N_FANS
        self.vib_s = [0.0] * N_FANS
        self.over_s = [0.0] * N_FANS
        self.damper_lag = [[0.0, 0.0] for _ in range(N_FANS)]
        self.window_lag = [0.0] * nw
        self.doors = [DoorCtl() for _ in range(nd)]
        self.partners = [[k for group in self.airlocks if j in group for k in group if k != j]
                         for j in range(nd)]
        self.wd = Watchdog(self.watchdog_s)
        for i in range(N_FANS):
            self.hr[HR_FAN + HR_FAN_STRIDE * i] = 2
        for j, w in enumerate(p.windows):
            self.hr[HR_WINDOW + j] = _u16(w.target * 1000)

    @property
    def fallback(self) -> bool:
        return self.wd.fallback

    def inject_heartbeat_deaf(self, on: bool = True) -> None:
        self.wd.deaf = on

    def put_running(self, i: int, speed: float) -> None:
        """Fan ``i`` on line as the plant starts (dampers open, drive at ``speed``), its
        commands written as a controller would have left them."""
        f = self.plant.fans[i]
        inlet, outlet = self.plant.dampers[i]
        f.drive_on = f.was_on = True
        f.speed = f.speed_sp = speed
        inlet.position = inlet.target = outlet.position = outlet.target = 1.0
        c = COIL_FAN + COIL_FAN_STRIDE * i
        self.coils[c] = self.coils[c + 2] = self.coils[c + 3] = True
        self.hr[HR_FAN + HR_FAN_STRIDE * i + 2] = _u16(speed * 1000)

    def put_standby(self, i: int) -> None:
        """Fan ``i`` standing by: inlet open, outlet shut, so a start needs no damper."""
        inlet = self.plant.dampers[i][0]
        inlet.position = inlet.target = 1.0
        self.coils[COIL_FAN + COIL_FAN_STRIDE * i + 2] = True

    # --- one PLC scan -------------------------------------------------------------------
    def scan(self, now: float, dt: float) -> None:
        _watch(self.wd, self.hr[HR_HEARTBEAT], now, self.events)
        self.meter.tick(now)
        for i in range(N_FANS):
            self._fan(i, now, dt)
        for j in range(len(self.plant.doors)):
            self._door(j, now, dt)
        for j in range(len(self.plant.windows)):
            self._window(j, dt)
        self._publish()

    def _cause_gone(self, i: int) -> bool:
        f = self.plant.fans[i]
        code = self.fault[i]
        if code == FAULT_VFD:
            return not f.vfd_fault
        if code == FAULT_VIBRATION:
            return f.vibration < VIB_RESET
        if code == FAULT_BEARING:
            return f.bearing_c < BEARING_RESET
        if code == FAULT_DAMPER:
            return not self._damper_fault(i, 1)
        return True

    def _damper_fault(self, i: int, k: int) -> bool:
        d = self.plant.dampers[i][k]
        return self.damper_lag[i][k] > 1.5 * d.travel_s

    def _fan(self, i: int, now: float, dt: float) -> None:
        f = self.plant.fans[i]
        inlet, outlet = self.plant.dampers[i]
        h, c = HR_FAN + HR_FAN_STRIDE * i, COIL_FAN + COIL_FAN_STRIDE * i
        rated = self.rated_current[i]
        # protections
        self.vib_s[i] = self.vib_s[i] + dt if f.vibration >= VIB_TRIP else 0.0
        self.over_s[i] = self.over_s[i] + dt if f.current >= OVERLOAD * rated else 0.0
        if self.fault[i] == 0:
            if f.vfd_fault:
                self._trip(i, now, FAULT_VFD)
            elif self.vib_s[i] >= VIB_TRIP_S:
                self._trip(i, now, FAULT_VIBRATION)
            elif f.bearing_c >= BEARING_TRIP:
                self._trip(i, now, FAULT_BEARING)
            elif self.over_s[i] >= OVERLOAD_S:
                self._trip(i, now, FAULT_OVERLOAD)
            elif f.drive_on and self._damper_fault(i, 1):
                self._trip(i, now, FAULT_DAMPER)
        # reset: the controller writes 0; refused (rewritten) while the cause persists
        if self.fault[i] and self.hr[h + 1] == 0 and not self.fallback and self._cause_gone(i):
            self.events.append(Event(now, "reset", f"fan.{i}"))
            self.fault[i] = 0
        self.hr[h + 1] = self.fault[i]
        remote = not self.fallback and not self.local[i]
        if remote:
            run, rev = self.coils[c], self.coils[c + 1]
            open_in, open_out = self.coils[c + 2], self.coils[c + 3]
            sp = self.hr[h + 2] / 1000.0
        else:                                 # fallback or local: hold what runs
            run = f.drive_on and f.speed_sp > 0.0
            rev, sp = f.reverse, f.speed_sp
            open_in, open_out = inlet.target > 0.5, outlet.target > 0.5
        if self.fault[i]:
            run = open_out = False
            self.coils[c] = self.coils[c + 3] = False
        ready = self.fault[i] == 0 and not f.vfd_fault and not self.local[i]
        if run and not f.drive_on and not (ready and inlet.opened):
            run = False                       # start permissive missing
        if run:
            if not f.drive_on:
                self.events.append(Event(now, "start", f"fan.{i}",
                                         "remote" if remote else "held"))
            f.drive_on = True
            f.speed_sp = min(max(sp, self.min_speed[i]), 1.0)
        elif f.drive_on:                      # ramp down; output off at standstill
            f.speed_sp = 0.0
            if f.speed <= 0.005:
                f.drive_on = False
                self.events.append(Event(now, "stop", f"fan.{i}"))
        f.reverse = rev
        if f.drive_on:
            open_in = True                    # never run against a shut inlet
        else:
            open_out = False                  # a stopped fan's duct is shut
        inlet.target = 1.0 if open_in else 0.0
        outlet.target = 1.0 if open_out else 0.0
        for k, d in enumerate((inlet, outlet)):
            moving = abs(d.target - d.position) > 0.005
            self.damper_lag[i][k] = self.damper_lag[i][k] + dt if moving else 0.0
        if not remote:                        # command tracking: bumpless hand-back
            self.coils[c], self.coils[c + 1] = run, rev
            self.coils[c + 2], self.coils[c + 3] = open_in, open_out
            self.hr[h + 2] = _u16(f.speed_sp * 1000)

    def _trip(self, i: int, now: float, code: int) -> None:
        self.fault[i] = code
        f = self.plant.fans[i]
        f.drive_on = False                    # the drive's output cut: the fan coasts
        f.speed_sp = 0.0
        self.plant.dampers[i][1].target = 0.0
        c = COIL_FAN + COIL_FAN_STRIDE * i
        self.coils[c] = self.coils[c + 3] = False
        self.events.append(Event(now, "trip", f"fan.{i}", FAULT_WORDS.get(code, str(code))))

    def _engaged(self, k: int) -> bool:
        """A door that is not closed, or is about to open."""
        return not self.plant.doors[k].closed or self.doors[k].goal

    def _door(self, j: int, now: float, dt: float) -> None:
        d, ctl = self.plant.doors[j], self.doors[j]
        want = self.coils[COIL_DOOR + j] if not self.fallback else ctl.goal
        if not want:
            ctl.refused = False
        if ctl.obstructed and not d.obstacle:
            ctl.obstructed = False
        if want != ctl.goal and ctl.phase == IDLE and not ctl.obstructed:
            if want and any(self._engaged(k) for k in self.partners[j]):
                if not ctl.refused:
                    ctl.refused = True
                    self.events.append(Event(now, "refused", f"door.{j}",
                                             "another door of its airlock is not closed"))
            elif not ctl.refused:
                ctl.goal, ctl.phase, ctl.timer, ctl.fault = want, WARN, 0.0, False
        if ctl.phase == IDLE:
            d.target = d.position
            return
        ctl.timer += dt
        goal_pos = 1.0 if ctl.goal else 0.0
        if ctl.phase == WARN:
            d.target = d.position
            if ctl.timer >= self.warn_s[j]:
                ctl.phase, ctl.timer, ctl.start = MOVE, 0.0, d.position
                d.target = goal_pos
        elif ctl.phase == MOVE:
            if d.obstacle and abs(d.position - ctl.start) >= OBSTACLE_AT:
                ctl.obstructed = True
                ctl.goal = not ctl.goal
                ctl.phase, ctl.timer = BACK, 0.0
                d.target = ctl.start
                self.events.append(Event(now, "obstructed", f"door.{j}"))
            elif abs(d.position - goal_pos) <= 0.005:
                ctl.phase = IDLE
            elif ctl.timer > 1.5 * d.travel_s:
                ctl.fault, ctl.phase = True, IDLE
                d.target = d.position
                self.events.append(Event(now, "fault", f"door.{j}", "travel timeout"))
        elif ctl.phase == BACK:
            if abs(d.position - d.target) <= 0.005:
                ctl.phase = IDLE
            elif ctl.timer > 1.5 * d.travel_s:
                ctl.fault, ctl.phase = True, IDLE
                d.target = d.position

    def _window(self, j: int, dt: float) -> None:
        w = self.plant.windows[j]
        if self.fallback:
            self.hr[HR_WINDOW + j] = _u16(w.target * 1000)
        else:
            w.target = min(max(self.hr[HR_WINDOW + j] / 1000.0, 0.0), 1.0)
        moving = abs(w.target - w.position) > 0.005
        self.window_lag[j] = self.window_lag[j] + dt if moving else 0.0

    def _publish(self) -> None:
        plant, ir = self.plant, self.ir
        ir[IR_PLC] = int(self.fallback)
        ir[IR_PLC + 1] = self.hr[HR_HEARTBEAT]
        self.di[DI_FALLBACK] = self.fallback
        for i, f in enumerate(plant.fans):
            r = IR_FAN + IR_FAN_STRIDE * i
            ready = self.fault[i] == 0 and not f.vfd_fault and not self.local[i]
            ir[r] = (f.drive_on << B_RUNNING | ready << B_READY | self.local[i] << B_LOCAL
                     | (f.turning_reversed and f.speed > 0.0) << B_REVERSED)
            for k, d in enumerate(plant.dampers[i]):
                ir[r + 1 + k] = (d.opened << B_D_OPENED | d.closed << B_D_CLOSED
                                 | self._damper_fault(i, k) << B_D_FAULT)
            ir[r + 3] = _u16(f.speed * 1000)
            m = self.meter                                  # the transmitters' noise
            ir[r + 4: r + 6] = _f32(m.read(f.flow, 0.003))
            ir[r + 6: r + 8] = _f32(m.read(f.pressure, 0.003))
            ir[r + 8] = _u16(m.read(f.current, 0.003) * 10)
            ir[r + 9] = _u16(m.read(f.voltage, 0.002) * 100)
            ir[r + 10] = _u16(m.read(f.power, 0.003) * 10)
            ir[r + 11: r + 13] = _u32(f.energy)
            ir[r + 13] = _i16(m.read(f.bearing_c, absolute=0.1) * 10)
            ir[r + 14] = _u16(f.vibration * 100)
            ir[r + 15: r + 17] = _u32(f.run_hours * 10)
            ir[r + 17] = _u16(f.starts)
            ir[r + 18] = _u16(plant.dampers[i][0].position * 1000)
            ir[r + 19] = _u16(plant.dampers[i][1].position * 1000)
        for j, (d, ctl) in enumerate(zip(plant.doors, self.doors, strict=True)):
            ir[IR_DOOR + j] = (d.opened << B_OPENED | d.closed << B_CLOSED
                               | (ctl.phase != IDLE) << B_WARNING
                               | ctl.obstructed << B_OBSTRUCTED | ctl.fault << B_FAULT
                               | ctl.refused << B_REFUSED)
        for j, w in enumerate(plant.windows):
            r = IR_WINDOW + IR_WINDOW_STRIDE * j
            ir[r] = _u16(w.position * 1000)
            ir[r + 1] = int(self.window_lag[j] > 1.5 * w.travel_s) << B_W_FAULT
        for j in range(len(plant.sensors)):
            q, v, p, t, rh = plant.read_sensor(j)
            r = IR_SENSOR + IR_SENSOR_STRIDE * j
            ir[r: r + 2] = _f32(q)
            ir[r + 2: r + 4] = _f32(0.0 if v != v else v)
            ir[r + 4: r + 6] = _f32(p)
            ir[r + 6] = _i16(t * 10)
            ir[r + 7] = _u16(rh * 10)


@dataclass
class AuxPlc:
    plant: AuxPlant
    watchdog_s: float
    coils: list[bool] = field(default_factory=list)
    di: list[bool] = field(default_factory=list)
    hr: list[int] = field(default_factory=list)
    ir: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    meter: Meter = field(default_factory=Meter, repr=False)   # transmitters' noise

    def __post_init__(self) -> None:
        n = len(self.plant.fans)
        self.coils = [False] * (COIL_AUX + COIL_AUX_STRIDE * n)
        self.di = [False] * 8
        self.hr = [0] * (HR_AUX + HR_AUX_STRIDE * n)
        self.ir = [0] * (IR_AUX + IR_AUX_STRIDE * n)
        self.fault = [0] * n
        self.local = [False] * n
        self.wd = Watchdog(self.watchdog_s)

    @property
    def fallback(self) -> bool:
        return self.wd.fallback

    def inject_heartbeat_deaf(self, on: bool = True) -> None:
        self.wd.deaf = on

    def put_running(self, i: int) -> None:
        f = self.plant.fans[i]
        f.motor_on, f.speed, f.since_start = True, 1.0, 60.0
        f.flow = self.plant.specs[i].rated_flow
        self.coils[COIL_AUX + COIL_AUX_STRIDE * i] = True

    def scan(self, now: float, dt: float) -> None:
        _watch(self.wd, self.hr[HR_HEARTBEAT], now, self.events)
        self.meter.tick(now)
        for i, f in enumerate(self.plant.fans):
            h, c = HR_AUX + HR_AUX_STRIDE * i, COIL_AUX + COIL_AUX_STRIDE * i
            if self.fault[i] == 0 and f.motor_on and f.overload:
                self.fault[i] = FAULT_OVERLOAD
                f.motor_on = False
                self.coils[c] = False
                self.events.append(Event(now, "trip", f"aux_fan.{i}", "motor overload"))
            if self.fault[i] and self.hr[h] == 0 and not self.fallback and not f.overload:
                self.fault[i] = 0
                self.events.append(Event(now, "reset", f"aux_fan.{i}"))
            self.hr[h] = self.fault[i]
            remote = not self.fallback and not self.local[i]
            run = self.coils[c] if remote else f.motor_on
            if self.fault[i] or f.overload:
                run = False
                self.coils[c] = False
            if run != f.motor_on:
                self.events.append(Event(now, "start" if run else "stop", f"aux_fan.{i}"))
            f.motor_on = run
            if not remote:
                self.coils[c] = run
        self.ir[IR_PLC] = int(self.fallback)
        self.ir[IR_PLC + 1] = self.hr[HR_HEARTBEAT]
        self.di[DI_FALLBACK] = self.fallback
        for i, f in enumerate(self.plant.fans):
            r = IR_AUX + IR_AUX_STRIDE * i
            self.ir[r] = f.motor_on << B_AUX_RUNNING | self.local[i] << B_AUX_LOCAL
            self.ir[r + 1: r + 3] = _f32(self.meter.read(f.flow, 0.003))
            self.ir[r + 3] = _u16(self.meter.read(f.current, 0.003) * 10)
            self.ir[r + 4: r + 6] = _u32(f.run_hours * 10)
            self.ir[r + 6] = _u16(f.starts)
