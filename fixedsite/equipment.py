"""Equipment types and the signals each declares by name.

Sequences read and write only these names, never addresses, so the same drainage
logic drives a Modbus or an S7 PLC, real or simulated. A site config maps each
signal of each equipment to an address on its PLC; this module says which names
exist, which must be mapped, which are commands (written by the controller) and what
kind of value each carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["bool", "number"]


@dataclass(frozen=True, slots=True)
class SignalDef:
    kind: Kind
    unit: str = ""
    required: bool = False
    writable: bool = False
    description: str = ""


def _b(desc: str, required: bool = False, writable: bool = False) -> SignalDef:
    return SignalDef("bool", "", required, writable, desc)


def _n(unit: str, desc: str, required: bool = False, writable: bool = False) -> SignalDef:
    return SignalDef("number", unit, required, writable, desc)


PUMP: dict[str, SignalDef] = {
    "running": _b("motor running (contactor feedback)", required=True),
    "primed": _b("casing full: vacuum priming complete", required=True),
    "local": _b("field selector in LOCAL: remote commands are ignored by the PLC",
                required=True),
    "fault_code": _n("", "PLC trip code, 0 = healthy; writing 0 asks the PLC to reset",
                     required=True, writable=True),
    "mode": _n("", "remote mode held in the PLC: 1 remote-manual, 2 remote-auto",
               required=True, writable=True),
    "prime_cmd": _b("run the vacuum priming pump", required=True, writable=True),
    "run_cmd": _b("run the main motor", required=True, writable=True),
    "flow": _n("m3/h", "discharge flow"),
    "discharge_pressure": _n("MPa", "discharge pressure"),
    "suction_vacuum": _n("kPa", "suction vacuum"),
    "current": _n("A", "motor current"),
    "voltage": _n("kV", "supply voltage"),
    "power": _n("kW", "motor active power"),
    "energy": _n("kWh", "motor energy counter"),
    "bearing_temp": _n("degC", "pump/motor bearing temperature"),
    "stator_temp": _n("degC", "motor stator winding temperature"),
    "run_hours": _n("h", "motor run-hour counter"),
    "starts": _n("", "motor start counter"),
}

VALVE: dict[str, SignalDef] = {
    "open_cmd": _b("1 drives the valve open, 0 drives it closed", required=True,
                   writable=True),
    "opened": _b("open limit switch", required=True),
    "closed": _b("closed limit switch", required=True),
    "position": _n("%", "valve position"),
    "fault": _b("actuator fault (overtorque, travel timeout)"),
}

SUMP: dict[str, SignalDef] = {
    "float_low": _b("low float switch: pumps must not run dry"),
    "float_high": _b("high float switch"),
    "float_highhigh": _b("high-high float switch"),
}

LEVEL_SENSOR: dict[str, SignalDef] = {
    "level": _n("m", "water level above the sump floor", required=True),
}

PLC_STATUS: dict[str, SignalDef] = {
    "fallback": _b("PLC has lost the controller's heartbeat and runs on float switches",
                   required=True),
    "heartbeat_echo": _n("", "last heartbeat value the PLC received"),
}

TYPES: dict[str, dict[str, SignalDef]] = {
    "pump": PUMP,
    "valve": VALVE,
    "sump": SUMP,
    "level_sensor": LEVEL_SENSOR,
    "plc_status": PLC_STATUS,
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


# Tags the controller publishes about itself, as controller.<part>.<signal>: (kind, unit,
# description). One table for the modules that publish them, the built-in alarms and the
# config's list of known tags. "ok" is false while that part cannot do its job.
CONTROLLER_SIGNALS: dict[str, dict[str, tuple[str, str, str]]] = {
    "historian": {
        "ok": ("bool", "", "history is being written to disk"),
        "error": ("text", "", "why the last history write failed"),
        "buffered": ("number", "", "samples and events waiting to be written"),
        "dropped": ("number", "", "samples and events lost since start (buffer full)"),
    },
    "uplink": {
        "ok": ("bool", "", "the history server takes our writes and the queue has room"),
        "error": ("text", "", "why the uplink is not delivering"),
        "queued": ("number", "", "points on disk waiting for the server"),
        "dropped": ("number", "", "points dropped since start (queue full or disk full)"),
    },
    "audit": {
        "ok": ("bool", "", "the audit log can be written; commands are refused if not"),
        "error": ("text", "", "why the last audit write failed"),
    },
    "scan": {
        "ok": ("bool", "", "every part of the scan (sequences, controls, alarms) runs"),
        "failed": ("text", "", "parts whose last scan raised, with the error"),
        "errors": ("number", "", "scan parts that raised since start"),
    },
    "tasks": {
        "ok": ("bool", "", "every long-running task of the controller is running"),
        "failed": ("text", "", "tasks that ended and are being restarted"),
        "restarts": ("number", "", "task restarts since start"),
    },
}
