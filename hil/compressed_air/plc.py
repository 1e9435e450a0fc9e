"""The compressor station's PLC, emulated: its register map, its protections, its own
pressure switches.

It behaves as the PLC programmer's spec says, independently of fixedsite (its own
register constants and encoding), and keeps its protections whoever commands:

* no compressor start without its upstream supply, on an active trip, or (water-cooled)
  without cooling-water flow at the flow switch; a start runs up unloaded (star-delta)
  and loads only when asked; a stop unloads first and runs down unloaded;
* trips: discharge temperature over 120 degC; oil pressure under 0.15 MPa for 5 s while
  running; cooling-water flow lost for 60 s on a water-cooled machine. A trip clears the
  run and load commands and holds until the controller writes 0 to the fault register
  while its cause is gone;
* an upstream supply lost stops every machine without a trip code (``no_supply``) and
  clears its commands: nothing restarts by itself when the supply returns;
* heartbeat watchdog: when the controller's heartbeat stops changing, the PLC runs every
  machine on its own pressure switch (load below, unload above its own band, stop after
  a run-on unloaded), the working cooling-water pump (the standby if it trips) with
  them, and makes the command coils track what runs, so the controller's return is
  bumpless. The same switches are the fixed-sequence baseline of ``bench/compressed_air.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fixedsite.hil.compressed_air.plant import AirPlant
from fixedsite.hil.packing import f32, i16, u16, u32
from fixedsite.hil.unit import Point
from fixedsite.hil.watchdog import Watchdog

HR_HEARTBEAT = 0
HR_C, HR_C_STRIDE = 10, 10            # +0 mode, +1 fault_code
HR_W, HR_W_STRIDE = 80, 2             # +0 fault_code
COIL_C, COIL_C_STRIDE = 0, 4          # +0 run_cmd, +1 load_cmd
COIL_W = 40
DI_FALLBACK, DI_SUPPLY, DI_FLOW = 0, 1, 2
IR_PRESSURE, IR_RECEIVER_T, IR_CO, IR_WATER_T, IR_AIR_FLOW, IR_HB_ECHO = 0, 2, 3, 4, 5, 7
IR_W = 10
IR_C, IR_C_STRIDE = 20, 20

ST_STOPPED, ST_STARTING, ST_UNLOADED, ST_LOADED, ST_STOPPING, ST_TRIPPED = range(6)
TRIP_TEMP, TRIP_OIL, TRIP_WATER = 1, 2, 3
TRIP_TEMP_C, OIL_LOW_MPA, OIL_LOW_S, WATER_LOST_S = 120.0, 0.15, 5.0, 60.0
START_S, RUN_DOWN_S = 10.0, 8.0
RESET_BELOW_C = 100.0                 # a temperature trip holds until the air end is under
TRIP_MEANING = (f"0 healthy, {TRIP_TEMP} discharge over-temperature (> {TRIP_TEMP_C:g} degC), "
                f"{TRIP_OIL} oil pressure low, {TRIP_WATER} cooling water lost; write 0 to "
                "reset (refused while the cause persists)")


def points(n_comp: int, n_pumps: int) -> list[Point]:
    """Every point of the station PLC, in map order: the one table ``register_map``,
    ``--list-tags`` and its CSV are made from."""
    out = [
        Point("plc.0", "heartbeat", f"hr:{HR_HEARTBEAT}", "uint16", writable=True,
              meaning="controller writes a changing value; unchanged for the watchdog "
                      "time, the PLC runs the machines on its own pressure switches"),
        Point("plc.0", "fallback", f"di:{DI_FALLBACK}", "bool",
              meaning="1 PLC on its own pressure switches (heartbeat lost)"),
        Point("plc.0", "heartbeat_echo", f"ir:{IR_HB_ECHO}", "uint16",
              meaning="the last heartbeat value the PLC received"),
        Point("station.0", "pressure", f"ir:{IR_PRESSURE}:float32", "float32", unit="MPa",
              range=(0.0, 1.0), meaning="air receiver pressure, gauge"),
        Point("station.0", "receiver_temp", f"ir:{IR_RECEIVER_T}:int16", "int16", 0.1,
              "degC", (-20.0, 200.0), "air receiver temperature"),
        Point("station.0", "co", f"ir:{IR_CO}", "uint16", 0.1, "ppm", (0.0, 500.0),
              "carbon monoxide at the intake"),
        Point("station.0", "air_flow", f"ir:{IR_AIR_FLOW}:float32", "float32",
              unit="m3/min", range=(0.0, 500.0), meaning="station delivery"),
        Point("station.0", "supply_ok", f"di:{DI_SUPPLY}", "bool",
              meaning="1 upstream breaker closed and live"),
        Point("cooling.0", "flow_switch", f"di:{DI_FLOW}", "bool",
              meaning="1 cooling-water flow"),
        Point("cooling.0", "water_temp", f"ir:{IR_WATER_T}:int16", "int16", 0.1, "degC",
              (-20.0, 100.0), "cooling-water return temperature")]
    for j in range(n_pumps):
        w = f"water_pump.{j}"
        out += [Point(w, "run_cmd", f"coil:{COIL_W + j}", "bool", writable=True,
                      meaning="1 run the cooling-water pump"),
                Point(w, "running", f"ir:{IR_W + j}.0", "bool", meaning="1 running"),
                Point(w, "tripped", f"ir:{IR_W + j}.1", "bool",
                      meaning="1 motor protection tripped"),
                Point(w, "fault_code", f"hr:{HR_W + HR_W_STRIDE * j}", "uint16",
                      writable=True, meaning="0 healthy, 1 tripped; write 0 to reset")]
    for i in range(n_comp):
        c, h, r = COIL_C + COIL_C_STRIDE * i, HR_C + HR_C_STRIDE * i, IR_C + IR_C_STRIDE * i
        k = f"compressor.{i}"
        out += [
            Point(k, "run_cmd", f"coil:{c}", "bool", writable=True,
                  meaning="1 run (starts unloaded), 0 stop (unloads, runs down)"),
            Point(k, "load_cmd", f"coil:{c + 1}", "bool", writable=True,
                  meaning="1 load, 0 unload"),
            Point(k, "mode", f"hr:{h}", "uint16", writable=True,
                  meaning="1 remote-manual, 2 remote-auto (held for the controller)"),
            Point(k, "fault_code", f"hr:{h + 1}", "uint16", writable=True,
                  meaning=TRIP_MEANING),
            Point(k, "running", f"ir:{r}.0", "bool", meaning="1 motor running"),
            Point(k, "loaded", f"ir:{r}.1", "bool", meaning="1 loaded"),
            Point(k, "local", f"ir:{r}.2", "bool", meaning="1 field selector in LOCAL"),
            Point(k, "no_supply", f"ir:{r}.3", "bool", meaning="1 upstream supply lost"),
            Point(k, "plc_state", f"ir:{r + 1}", "uint16",
                  meaning="0 stopped, 1 starting, 2 unloaded, 3 loaded, 4 stopping, "
                          "5 tripped"),
            Point(k, "flow", f"ir:{r + 2}:float32", "float32", unit="m3/min",
                  range=(0.0, 200.0), meaning="free air delivered"),
            Point(k, "discharge_temp", f"ir:{r + 4}:int16", "int16", 0.1, "degC",
                  (-20.0, 200.0), "discharge temperature"),
            Point(k, "oil_pressure", f"ir:{r + 5}", "uint16", 0.001, "MPa", (0.0, 1.0),
                  "oil pressure"),
            Point(k, "current", f"ir:{r + 6}", "uint16", 0.1, "A", (0.0, 200.0),
                  "motor current"),
            Point(k, "power", f"ir:{r + 7}", "uint16", 0.1, "kW", (0.0, 1000.0),
                  "motor active power"),
            Point(k, "energy", f"ir:{r + 8}:uint32", "uint32", 1.0, "kWh", None,
                  "energy counter, high word first"),
            Point(k, "run_hours", f"ir:{r + 10}:uint32", "uint32", 0.1, "h", None,
                  "run-hour counter"),
            Point(k, "loaded_hours", f"ir:{r + 12}:uint32", "uint32", 0.1, "h", None,
                  "loaded-hour counter"),
            Point(k, "starts", f"ir:{r + 14}", "uint16", meaning="start counter"),
            Point(k, "voltage", f"ir:{r + 15}", "uint16", 0.01, "kV", (0.0, 12.0),
                  "motor supply voltage")]
    return out


def register_map(n_comp: int, n_pumps: int) -> list[tuple[str, str]]:
    return [(f"{p.role}.{p.signal}", p.address) for p in points(n_comp, n_pumps)]


@dataclass
class Event:
    t: float
    unit: str         # "compressor.0", "water_pump.1", "plc"
    what: str         # start, stop, load, unload, trip, fallback, remote
    why: str = ""


@dataclass
class AirPlc:
    plant: AirPlant
    watchdog_s: float
    local_bands: list[tuple[float, float]]
    run_on_s: float
    initial_mode: int = 2
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, m = len(self.plant.compressors), len(self.plant.cooling.pumps_on)
        self.coils = [False] * (COIL_W + 8)
        self.di = [False] * 8
        self.hr = [0] * (HR_W + HR_W_STRIDE * max(m, 1))
        self.ir = [0] * (IR_C + IR_C_STRIDE * n)
        self.state = [ST_STOPPED] * n
        self.fault = [0] * n
        self.local = [False] * n
        self.pump_fault = [0] * m
        self.pump_trip_injected = [False] * m
        self._oil_low_s = [0.0] * n
        self._water_lost_s = [0.0] * n
        self._run_down = [0.0] * n
        self._unloaded_s = [0.0] * n
        self.wd = Watchdog(self.watchdog_s)
        for i in range(n):
            self.hr[HR_C + HR_C_STRIDE * i] = self.initial_mode

    # --- faults ----------------------------------------------------------------------
    def inject_pump_trip(self, j: int, on: bool) -> None:
        self.pump_trip_injected[j] = on

    def inject_heartbeat_deaf(self, on: bool) -> None:
        self.wd.deaf = on

    def set_local(self, i: int, on: bool) -> None:
        self.local[i] = on

    # --- one scan --------------------------------------------------------------------
    def scan(self, now: float, dt: float) -> None:
        self._watchdog(now)
        self._pumps(now)
        flow = self.plant.cooling.switch()
        for i in range(len(self.plant.compressors)):
            self._compressor(i, now, dt, flow)
        self._publish()

    def _watchdog(self, now: float) -> None:
        change = self.wd.scan(self.hr[HR_HEARTBEAT], now)
        if change == "remote":
            self.events.append(Event(now, "plc", "remote", "heartbeat back"))
        elif change == "fallback":
            self.events.append(Event(now, "plc", "fallback", "controller heartbeat lost"))

    @property
    def fallback(self) -> bool:
        return self.wd.fallback

    @fallback.setter
    def fallback(self, on: bool) -> None:
        self.wd.fallback = on

    def _pumps(self, now: float) -> None:
        cool = self.plant.cooling
        wanted = any(c.motor_on or self._local_wants(i)
                     for i, c in enumerate(self.plant.compressors) if c.spec.water_cooled)
        for j in range(len(cool.pumps_on)):
            h = HR_W + HR_W_STRIDE * j
            if self.pump_trip_injected[j] and cool.pumps_on[j] and not self.pump_fault[j]:
                self.pump_fault[j] = 1
                self.events.append(Event(now, f"water_pump.{j}", "trip", "motor protection"))
            if self.pump_fault[j] and self.hr[h] == 0 and not self.pump_trip_injected[j]:
                self.pump_fault[j] = 0
            self.hr[h] = self.pump_fault[j]
            cool.pump_tripped[j] = bool(self.pump_fault[j])
            if self.fallback:            # the working pump, the next healthy if it trips
                healthy = [k for k in range(len(cool.pumps_on)) if not self.pump_fault[k]]
                run = wanted and bool(healthy) and j == healthy[0]
                self.coils[COIL_W + j] = run
            else:
                run = self.coils[COIL_W + j]
            if self.pump_fault[j]:
                run = False
                self.coils[COIL_W + j] = False
            if run != cool.pumps_on[j]:
                self.events.append(Event(now, f"water_pump.{j}", "start" if run else "stop"))
            cool.pumps_on[j] = run

    def _local_wants(self, i: int) -> bool:
        """The PLC's own pressure switch wants compressor ``i`` (fallback only)."""
        if not self.fallback:
            return False
        lo, _ = self.local_bands[min(i, len(self.local_bands) - 1)]
        return self.plant.pressure < lo

    def _compressor(self, i: int, now: float, dt: float, flow: bool) -> None:
        c, p = self.plant.compressors[i], self.plant
        cb, h = COIL_C + COIL_C_STRIDE * i, HR_C + HR_C_STRIDE * i
        # trips, checked first, whoever commands
        if self.fault[i] == 0 and c.motor_on:
            self._oil_low_s[i] = self._oil_low_s[i] + dt \
                if c.starting_s == 0 and c.oil_mpa < OIL_LOW_MPA else 0.0
            self._water_lost_s[i] = self._water_lost_s[i] + dt \
                if c.spec.water_cooled and not flow else 0.0
            if c.discharge_c > TRIP_TEMP_C:
                self._trip(i, now, TRIP_TEMP, f"discharge {c.discharge_c:.0f} degC")
            elif self._oil_low_s[i] > OIL_LOW_S:
                self._trip(i, now, TRIP_OIL, f"oil {c.oil_mpa:.2f} MPa")
            elif self._water_lost_s[i] > WATER_LOST_S:
                self._trip(i, now, TRIP_WATER, "no cooling-water flow")
        if self.fault[i] and self.hr[h + 1] == 0 and self._cause_gone(i, flow):
            self.fault[i] = 0
            self.state[i] = ST_STOPPED
        self.hr[h + 1] = self.fault[i]
        if not p.supply_ok:                     # stopped, not tripped; nothing restarts
            if c.motor_on:
                self.events.append(Event(now, f"compressor.{i}", "stop", "supply lost"))
            c.motor_on = c.loaded = False
            self.coils[cb] = self.coils[cb + 1] = False
            self.state[i] = ST_TRIPPED if self.fault[i] else ST_STOPPED
            return
        if self.fault[i]:
            self.state[i] = ST_TRIPPED
            return
        remote = not self.fallback and not self.local[i]
        if remote:
            run, load = self.coils[cb], self.coils[cb + 1]
        elif self.local[i]:
            run, load = c.motor_on, c.loaded       # the field panel holds it
        else:
            run, load = self._fallback(i, dt)
        permit = not (c.spec.water_cooled and not flow)
        if run and not c.motor_on and not permit:
            run = load = False                    # no start without cooling water
        if not remote:
            self.coils[cb], self.coils[cb + 1] = run, load
        self._drive(i, now, dt, run, load)

    def _fallback(self, i: int, dt: float) -> tuple[bool, bool]:
        c = self.plant.compressors[i]
        lo, hi = self.local_bands[min(i, len(self.local_bands) - 1)]
        pr = self.plant.pressure
        if pr < lo:
            self._unloaded_s[i] = 0.0
            return True, True
        if not c.motor_on:
            return False, False
        load = c.loaded and pr < hi
        self._unloaded_s[i] = 0.0 if load else self._unloaded_s[i] + dt
        return self._unloaded_s[i] < self.run_on_s, load

    def _drive(self, i: int, now: float, dt: float, run: bool, load: bool) -> None:
        c, who = self.plant.compressors[i], f"compressor.{i}"
        if run and not c.motor_on:
            c.motor_on, c.loaded, c.starting_s = True, False, START_S
            c.starts += 1
            self._run_down[i] = 0.0
            self.events.append(Event(now, who, "start"))
        if not c.motor_on:
            self.state[i] = ST_STOPPED
            return
        if not run:                               # unload, run down, stop
            if c.loaded:
                self.events.append(Event(now, who, "unload"))
            c.loaded = False
            self._run_down[i] += dt
            self.state[i] = ST_STOPPING
            if self._run_down[i] >= RUN_DOWN_S:
                c.motor_on = False
                self.state[i] = ST_STOPPED
                self.events.append(Event(now, who, "stop"))
            return
        self._run_down[i] = 0.0
        if c.starting_s > 0:
            self.state[i] = ST_STARTING
            return
        if load != c.loaded:
            self.events.append(Event(now, who, "load" if load else "unload"))
        c.loaded = load
        self.state[i] = ST_LOADED if load else ST_UNLOADED

    def _cause_gone(self, i: int, flow: bool) -> bool:
        c = self.plant.compressors[i]
        return c.discharge_c < RESET_BELOW_C and not c.oil_low and \
            (flow or not c.spec.water_cooled or self.fault[i] != TRIP_WATER)

    def _trip(self, i: int, now: float, code: int, why: str) -> None:
        c = self.plant.compressors[i]
        self.fault[i] = code
        c.motor_on = c.loaded = False
        cb = COIL_C + COIL_C_STRIDE * i
        self.coils[cb] = self.coils[cb + 1] = False
        self.state[i] = ST_TRIPPED
        self._oil_low_s[i] = self._water_lost_s[i] = 0.0
        self.events.append(Event(now, f"compressor.{i}", "trip", why))

    def _publish(self) -> None:
        p, ir = self.plant, self.ir
        ir[IR_PRESSURE:IR_PRESSURE + 2] = f32(p.pressure)
        ir[IR_RECEIVER_T] = i16(p.receiver_c * 10)
        ir[IR_CO] = u16(p.co_ppm * 10)
        ir[IR_WATER_T] = i16(p.cooling.water_c * 10)
        ir[IR_AIR_FLOW:IR_AIR_FLOW + 2] = f32(p.in_flow)
        ir[IR_HB_ECHO] = self.hr[HR_HEARTBEAT]
        self.di[DI_FALLBACK], self.di[DI_SUPPLY] = self.fallback, p.supply_ok
        self.di[DI_FLOW] = p.cooling.switch()
        for j, on in enumerate(p.cooling.pumps_on):
            ir[IR_W + j] = int(on) | int(bool(self.pump_fault[j])) << 1
        volts = 6.0 if p.supply_ok else 0.0
        for i, c in enumerate(p.compressors):
            r = IR_C + IR_C_STRIDE * i
            ir[r] = (int(c.motor_on) | int(c.loaded and c.motor_on) << 1
                     | int(self.local[i]) << 2 | int(not p.supply_ok) << 3)
            ir[r + 1] = self.state[i]
            ir[r + 2:r + 4] = f32(c.flow)
            ir[r + 4] = i16(c.discharge_c * 10)
            ir[r + 5] = u16(c.oil_mpa * 1000)
            ir[r + 6] = u16(c.current_a * 10)
            ir[r + 7] = u16(c.power_kw * 10)
            ir[r + 8:r + 10] = u32(c.energy_kwh)
            ir[r + 10:r + 12] = u32(c.run_hours * 10)
            ir[r + 12:r + 14] = u32(c.loaded_hours * 10)
            ir[r + 14] = u16(c.starts)
            ir[r + 15] = u16(volts * 100)
