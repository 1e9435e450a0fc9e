"""A compressor station's equipment types, the signals each declares by name, and the
words of the tags served as enumerations."""

from __future__ import annotations

from fixedsite.equipment import Enumeration, SignalDef, flag, number
from fixedsite.sequences.compressed_air.profile import PLC_STATES
from fixedsite.systems import CommandArg, CommandSpec

COMPRESSOR: dict[str, SignalDef] = {
    "run_cmd": flag("1 run the motor (it starts unloaded), 0 stop (unloads first)",
                    required=True, writable=True),
    "load_cmd": flag("1 load (inlet valve open), 0 unload", required=True, writable=True),
    "mode": number("", "mode held in the PLC: 1 remote-manual, 2 remote-auto",
                   required=True, writable=True),
    "fault_code": number("", "PLC trip code, 0 healthy; writing 0 asks the PLC to reset",
                         required=True, writable=True),
    "running": flag("motor running (contactor feedback)", required=True),
    "loaded": flag("loaded: inlet valve open, delivering air", required=True),
    "local": flag("field selector in LOCAL: remote commands ignored", required=True),
    "no_supply": flag("its upstream supply is lost: stopped, not tripped", required=True),
    "plc_state": number("", "the PLC's own state: 0 stopped, 1 starting, 2 unloaded, "
                        "3 loaded, 4 stopping, 5 tripped", required=True),
    "flow": number("m3/min", "free air delivered"),
    "discharge_temp": number("degC", "air-end discharge temperature (screw trip 120)"),
    "oil_pressure": number("MPa", "lubricating oil pressure"),
    "current": number("A", "motor current"),
    "voltage": number("kV", "motor supply voltage"),
    "power": number("kW", "motor active power"),
    "energy": number("kWh", "motor energy counter"),
    "run_hours": number("h", "motor run-hour counter"),
    "loaded_hours": number("h", "loaded-hour counter"),
    "starts": number("", "motor start counter"),
}
WATER_PUMP: dict[str, SignalDef] = {
    "run_cmd": flag("1 run the cooling-water pump", required=True, writable=True),
    "running": flag("pump running (contactor feedback)", required=True),
    "tripped": flag("motor protection tripped", required=True),
    "fault_code": number("", "trip code, 0 healthy; writing 0 asks the PLC to reset",
                         required=True, writable=True),
}
COOLING: dict[str, SignalDef] = {
    "flow_switch": flag("cooling-water flow switch: 1 flow", required=True),
    "water_temp": number("degC", "cooling-water return temperature"),
}
STATION: dict[str, SignalDef] = {
    "pressure": number("MPa", "air receiver pressure (gauge)", required=True),
    "receiver_temp": number("degC", "air receiver temperature"),
    "co": number("ppm", "carbon monoxide at the intake"),
    "air_flow": number("m3/min", "station delivery into the network"),
    "supply_ok": flag("upstream breaker closed and live", required=True),
    "fallback": flag("PLC lost the controller's heartbeat: on its own pressure switches",
                     required=True),
    "heartbeat_echo": number("", "last heartbeat value the PLC received"),
}
TYPES: dict[str, dict[str, SignalDef]] = {
    "compressor": COMPRESSOR, "water_pump": WATER_PUMP, "cooling": COOLING,
    "station": STATION,
}

# what the controller derives per compressor (compressor.py)
STATES = ["stopped", "starting", "unloaded", "loaded", "stopping", "tripped", "no supply",
          "local", "unknown"]
MODE_WORDS = ["not set", "remote-manual", "remote-auto"]
ENUMS = {"compressor": {
    "mode": Enumeration(MODE_WORDS, "mode held in the PLC: 0 not set, 1 remote-manual, "
                        "2 remote-auto; see EnumStrings"),
    "plc_state": Enumeration(PLC_STATES, "the PLC's own state: " + ", ".join(
        f"{i} {w}" for i, w in enumerate(PLC_STATES))),
    "state": Enumeration(STATES, "the compressor as the supervisor sees it: " + ", ".join(
        f"{i} {w}" for i, w in enumerate(STATES)))}}

# the commands each type takes through the gate (compressor.py and cooling.py run them)
_MANUAL = "; needs the operator role and the compressor in remote-manual; answers " \
    "whether it was done and why"
COMMANDS = (
    CommandSpec("Start", "start", "operator", "start the compressor (it runs up unloaded)"
                + _MANUAL),
    CommandSpec("Stop", "stop", "operator", "stop the compressor (unloaded first)" + _MANUAL),
    CommandSpec("Load", "load", "operator", "load the running compressor" + _MANUAL),
    CommandSpec("Unload", "unload", "operator", "unload the compressor" + _MANUAL),
    CommandSpec("Reset", "reset", "operator", "reset the compressor's trip in its PLC (it "
                "refuses while the cause persists)" + _MANUAL),
    CommandSpec("SetMode", "set_mode", "engineer", "set the compressor's remote mode in its "
                "PLC; needs the engineer role", (CommandArg(
                    "mode", "string", 'the remote mode, e.g. "remote-auto"',
                    ("remote-manual", "remote-auto")),)),
)
PUMP_COMMANDS = (
    CommandSpec("Reset", "reset", "operator", "reset the cooling-water pump's motor "
                "protection in its PLC (refused while the cause persists); a trip is never "
                "reset by the supervisor itself"),
)
