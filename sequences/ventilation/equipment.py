"""A ventilation system's equipment types and the signals each declares by name, the tags
the controller derives for them, and their words."""

from __future__ import annotations

from fixedsite.equipment import SignalDef, flag, number

FAN: dict[str, SignalDef] = {
    "running": flag("motor running (drive feedback)", required=True),
    "ready": flag("drive ready: supply on, no trip, permissive for a start", required=True),
    "local": flag("field selector in LOCAL: remote commands are ignored by the PLC",
                  required=True),
    "fault_code": number("", "PLC trip code, 0 = healthy; writing 0 asks the PLC to reset",
                         required=True, writable=True),
    "mode": number("", "remote mode held in the PLC: 1 remote-manual, 2 remote-auto",
                   required=True, writable=True),
    "run_cmd": flag("run the fan (the drive ramps to the speed set-point)", required=True,
                    writable=True),
    "speed_sp": number("%", "speed set-point of the drive", required=True, writable=True),
    "speed": number("%", "actual speed", required=True),
    "reverse_cmd": flag("run reversed (reversal of the mine's air)", writable=True),
    "reversed": flag("running in reverse"),
    "airflow": number("m3/s", "airflow through this fan's duct", required=True),
    "static_pressure": number("Pa", "fan static pressure"),
    "current": number("A", "motor current"),
    "voltage": number("kV", "supply voltage"),
    "power": number("kW", "motor active power"),
    "energy": number("kWh", "motor energy counter"),
    "bearing_temp": number("degC", "bearing temperature"),
    "vibration": number("mm/s", "bearing vibration velocity"),
    "run_hours": number("h", "motor run-hour counter"),
    "starts": number("", "motor start counter"),
}

DAMPER: dict[str, SignalDef] = {
    "open_cmd": flag("1 drives the damper open, 0 closed", required=True, writable=True),
    "opened": flag("open limit switch", required=True),
    "closed": flag("closed limit switch", required=True),
    "position": number("%", "damper position, 0 closed"),
    "fault": flag("actuator fault (travel timeout)"),
}

AIR_SENSOR: dict[str, SignalDef] = {
    "airflow": number("m3/s", "airflow"),
    "velocity": number("m/s", "air velocity"),
    "pressure": number("Pa", "pressure difference (negative: suction)"),
    "temperature": number("degC", "air temperature"),
    "humidity": number("%", "relative humidity"),
}

DOOR: dict[str, SignalDef] = {
    "open_cmd": flag("1 open the door (after the warning), 0 close it", required=True,
                     writable=True),
    "opened": flag("open limit switch", required=True),
    "closed": flag("closed limit switch", required=True),
    "warning": flag("horn and light on: the door is about to move or moving"),
    "obstructed": flag("something in the door's way: it stopped and reversed"),
    "refused": flag("the PLC refused to open it: another door of its airlock is not closed"),
    "fault": flag("actuator fault (travel timeout)"),
}

WINDOW: dict[str, SignalDef] = {
    "position_sp": number("%", "opening set-point, 0 shut", required=True, writable=True),
    "position": number("%", "opening, 0 shut", required=True),
    "fault": flag("actuator fault (travel timeout)"),
}

AUX_FAN: dict[str, SignalDef] = {
    "run_cmd": flag("run the auxiliary fan", required=True, writable=True),
    "running": flag("motor running", required=True),
    "local": flag("field selector in LOCAL", required=True),
    "fault_code": number("", "PLC trip code, 0 = healthy; writing 0 asks for a reset",
                         required=True, writable=True),
    "airflow": number("m3/s", "air delivered to the face"),
    "current": number("A", "motor current"),
    "run_hours": number("h", "motor run-hour counter"),
}

PLC_STATUS: dict[str, SignalDef] = {
    "fallback": flag("PLC has lost the controller's heartbeat: it holds the fans as they "
                     "are", required=True),
    "heartbeat_echo": number("", "last heartbeat value the PLC received"),
}

TYPES: dict[str, dict[str, SignalDef]] = {
    "fan": FAN, "damper": DAMPER, "air_sensor": AIR_SENSOR, "door": DOOR, "window": WINDOW,
    "aux_fan": AUX_FAN, "plc_status": PLC_STATUS,
}

MODE_REMOTE_MANUAL = 1
MODE_REMOTE_AUTO = 2
MODE_WORDS = ["not set", "remote-manual", "remote-auto"]

# trip codes the fan PLC reports (and the HIL's PLC raises)
FAULT_WORDS = {1: "motor overload", 2: "drive (VFD) fault", 3: "vibration high",
               4: "bearing temperature high", 5: "damper fault"}
