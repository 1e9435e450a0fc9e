"""A drainage pump room's equipment types and the signals each declares by name, and the
tags the controller derives for them."""

from __future__ import annotations

from fixedsite.equipment import Enumeration, SignalDef, flag, number

PUMP: dict[str, SignalDef] = {
    "running": flag("motor running (contactor feedback)", required=True),
    "primed": flag("casing full: vacuum priming complete", required=True),
    "local": flag("field selector in LOCAL: remote commands are ignored by the PLC",
                required=True),
    "fault_code": number("", "PLC trip code, 0 = healthy; writing 0 asks the PLC to reset",
                     required=True, writable=True),
    "mode": number("", "remote mode held in the PLC: 1 remote-manual, 2 remote-auto",
               required=True, writable=True),
    "prime_cmd": flag("run the vacuum priming pump", required=True, writable=True),
    "run_cmd": flag("run the main motor", required=True, writable=True),
    "flow": number("m3/h", "discharge flow"),
    "discharge_pressure": number("MPa", "discharge pressure"),
    "suction_vacuum": number("kPa", "suction vacuum"),
    "current": number("A", "motor current"),
    "voltage": number("kV", "supply voltage"),
    "power": number("kW", "motor active power"),
    "energy": number("kWh", "motor energy counter"),
    "bearing_temp": number("degC", "pump/motor bearing temperature"),
    "stator_temp": number("degC", "motor stator winding temperature"),
    "run_hours": number("h", "motor run-hour counter"),
    "starts": number("", "motor start counter"),
}

VALVE: dict[str, SignalDef] = {
    "open_cmd": flag("1 drives the valve open, 0 drives it closed", required=True,
                   writable=True),
    "opened": flag("open limit switch", required=True),
    "closed": flag("closed limit switch", required=True),
    "position": number("%", "valve position"),
    "fault": flag("actuator fault (overtorque, travel timeout)"),
}

SUMP: dict[str, SignalDef] = {
    "float_low": flag("low float switch: pumps must not run dry"),
    "float_high": flag("high float switch"),
    "float_highhigh": flag("high-high float switch"),
}

LEVEL_SENSOR: dict[str, SignalDef] = {
    "level": number("m", "water level above the sump floor", required=True),
}

PLC_STATUS: dict[str, SignalDef] = {
    "fallback": flag("PLC has lost the controller's heartbeat and runs on float switches",
                   required=True),
    "heartbeat_echo": number("", "last heartbeat value the PLC received"),
}

BOREHOLE: dict[str, SignalDef] = {
    "water_level": number("m", "water level in the observation borehole, above its datum"),
    "water_pressure": number("MPa", "water pressure of the aquifer the borehole taps"),
}

INFLOW_METER: dict[str, SignalDef] = {
    "inflow": number("m3/h", "water flowing from the water-bearing zone", required=True),
}

TYPES: dict[str, dict[str, SignalDef]] = {
    "pump": PUMP,
    "valve": VALVE,
    "sump": SUMP,
    "level_sensor": LEVEL_SENSOR,
    "plc_status": PLC_STATUS,
    "borehole": BOREHOLE,
    "inflow_meter": INFLOW_METER,
}

# Tags the controller itself publishes per equipment (not read from a PLC).
DERIVED: dict[str, tuple[str, ...]] = {
    "pump": ("state", "fault_reason"),
    "sump": ("level", "volume", "fill", "sensor_disagree"),
}

# Pump remote modes as held in the PLC's mode register.
MODE_REMOTE_MANUAL = 1
MODE_REMOTE_AUTO = 2


# What a drainage system's planner publishes as <system>.plan.<name>: (unit or None for
# text, description). One table for the planner and for the config's list of known tags.
PLAN_SIGNALS: dict[str, tuple[str | None, str]] = {
    "pumps": ("", "pumps the plan runs now"),
    "status": (None, "how the last plan was made"),
    "cost": ("CNY", "energy cost of the plan over its horizon"),
    "baseline_cost": ("CNY", "the same horizon under level control alone"),
    "saving_pct": ("%", "saving against level control alone"),
    "solve_s": ("s", "time the last plan took"),
    "schedule": (None, "pumps per step, from the plan's start"),
    "expected_level": (None, "expected level at each step's end, m"),
    "inflow": ("m3/h", "forecast inflow now"),
    "inflow_high": ("m3/h", "upper edge of the forecast band now"),
}


# What a drainage system's hydrological linkage publishes as <system>.hydrology.<name>:
# (kind, unit, description); and per pump <system>.<pump>.standby (text).
HYDROLOGY_SIGNALS: dict[str, tuple[str, str, str]] = {
    "readiness": ("number", "", "drainage readiness: 0 normal, 1 watch, 2 alert"),
    "status": ("text", "", "what the linkage did last and why"),
    "data_lost": ("bool", "", "a hydrological reading is not good: readiness held at watch"),
    "lowered_m": ("number", "m", "how far the start and stop levels are lowered now"),
    "plan_suspended": ("bool", "", "peak-valley plan set aside: level rule alone"),
    "inflow": ("number", "m3/h", "the highest inflow the zones' meters read"),
    "rise_m": ("number", "m", "the largest borehole water-level rise over its baseline"),
    "rise_mpa": ("number", "MPa", "the largest borehole water-pressure rise over its baseline"),
    "standby_ready": ("number", "", "stopped pumps checked ready as standby"),
}
READINESS_WORDS = ["normal", "watch", "alert"]

# A pump sequence's states (sequences/drainage/pump.py runs them)
ACTIVE = ["priming", "starting", "opening_valve", "proving_flow", "running"]
STATES = ["stopped", *ACTIVE, "stopping", "fault"]

MODE_WORDS = ["not set", "remote-manual", "remote-auto"]
assert MODE_WORDS[MODE_REMOTE_MANUAL] == "remote-manual"
assert MODE_WORDS[MODE_REMOTE_AUTO] == "remote-auto"
STATE_WORDS = [*STATES, *(["unknown"] if "unknown" not in STATES else [])]
MODE_TEXT = ("remote mode held in the PLC's register, as a number: 0 not set (no command "
             "is accepted until a mode is set), 1 remote-manual, 2 remote-auto; see "
             "EnumStrings. LOCAL at the field panel is the separate signal 'local'")
STATE_TEXT = ("the pump's start/stop sequence, as a number: "
              + ", ".join(f"{i} {w}" for i, w in enumerate(STATE_WORDS))
              + "; see EnumStrings")
# what OPC UA serves as MultiStateDiscrete (fixedsite/northbound_names.py)
ENUMS = {"pump": {"mode": Enumeration(MODE_WORDS, MODE_TEXT),
                  "state": Enumeration(STATE_WORDS, STATE_TEXT)}}
