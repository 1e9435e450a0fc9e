"""A hoist's equipment types, the signals each declares by name, the commands and the
words of the tags served as enumerations."""

from __future__ import annotations

from fixedsite.equipment import Enumeration, SignalDef, flag, number
from fixedsite.sequences.hoist.profile import PLC_STATES
from fixedsite.systems import CommandArg, CommandSpec

WINDER: dict[str, SignalDef] = {
    "trip_cmd": flag("1 make the next trip; the PLC clears it at the trip's end",
                     required=True, writable=True),
    "brake_test_cmd": flag("1 run the brake test at rest", required=True, writable=True),
    "mode": number("", "1 remote-manual, 2 remote-auto", required=True, writable=True),
    "fault_code": number("", "PLC trip code, 0 healthy; writing 0 asks the PLC to reset",
                         required=True, writable=True),
    "running": flag("moving", required=True),
    "at_loading": flag("skip at the loading station", required=True),
    "at_dump": flag("skip at the dump", required=True),
    "brake_test_ok": flag("brake test passed", required=True),
    "brake_applied": flag("brake applied"),
    "local": flag("control in LOCAL at the winder's desk", required=True),
    "access_closed": flag("winder room access closed", required=True),
    "fallback": flag("the PLC lost the controller's heartbeat", required=True),
    "plc_state": number("", "0 at loading, 1 hoisting, 2 dumping, 3 returning, 4 stopped, "
                        "5 tripped", required=True),
    "position": number("m", "skip position from the loading station", required=True),
    "speed": number("m/s", "winder speed", required=True),
    "speed_ref": number("m/s", "the motion profile's speed"),
    "current": number("A", "motor current"),
    "voltage": number("kV", "motor voltage"),
    "power": number("kW", "motor power"),
    "brake_gap": number("mm", "brake shoe gap"),
    "skip_load": number("t", "load in the skip", required=True),
    "trips": number("", "trips made"),
    "energy": number("kWh", "motor energy counter"),
    "run_hours": number("h", "run-hour counter"),
    "starts": number("", "start counter"),
    "hv_current": number("A", "HV cabinet incoming current"),
    "lv_voltage": number("V", "LV cabinet voltage"),
}
LOADING: dict[str, SignalDef] = {
    "feeder_cmd": flag("1 run the feeder into the weigh hopper", required=True,
                       writable=True),
    "chute_cmd": flag("1 open the chute: hopper into the skip", required=True, writable=True),
    "cutoff": number("t", "the hopper reading at which the PLC stops the feeder (the "
                     "target less the material in flight, on the tare)", required=True,
                     writable=True),
    "feeder_running": flag("feeder running", required=True),
    "chute_open": flag("chute open", required=True),
    "hopper_weight": number("t", "weigh hopper", required=True),
    "ore_bin_level": number("%", "underground ore bin level", required=True),
}
SURFACE: dict[str, SignalDef] = {
    "bin_level": number("%", "surface bin level", required=True),
}
ROPE: dict[str, SignalDef] = {
    "damage": flag("broken wires or loss of section signalled", required=True),
    "monitor_ok": flag("rope monitor healthy", required=True),
    "loss_of_section": number("%", "largest loss of metallic section"),
    **{f"tension{k}": number("kN", f"rope {k} tension") for k in range(1, 5)},
}
TYPES: dict[str, dict[str, SignalDef]] = {"winder": WINDER, "loading": LOADING,
                                          "surface_bin": SURFACE, "rope_monitor": ROPE}

# the cycle as the supervisor runs it (cycle.py)
STATES = ["idle", "loading", "charging", "hoisting", "dumping", "returning", "paused",
          "refused", "tripped", "manual", "unknown"]
MODE_WORDS = ["not set", "remote-manual", "remote-auto"]
ENUMS = {"winder": {
    "mode": Enumeration(MODE_WORDS, "0 not set, 1 remote-manual, 2 remote-auto"),
    "plc_state": Enumeration(PLC_STATES, "the PLC's own state: " + ", ".join(
        f"{i} {w}" for i, w in enumerate(PLC_STATES)))}}

_MANUAL = "; needs the operator role and the hoist in remote-manual"
COMMANDS = (
    CommandSpec("StartCycle", "start_cycle", "operator", "run the automatic cycle (load, "
                "hoist, dump, return) linked to the bin levels; needs the hoist in "
                "remote-auto"),
    CommandSpec("StopCycle", "stop_cycle", "operator", "stop the automatic cycle at the end "
                "of the present trip"),
    CommandSpec("Trip", "trip", "operator", "make one trip (hoist from the loading station, "
                "return from the dump), every permissive checked first" + _MANUAL),
    CommandSpec("Load", "load", "operator", "load the skip quantitatively at the loading "
                "station (feeder to the target weight, then the chute)" + _MANUAL),
    CommandSpec("BrakeTest", "brake_test", "operator", "run the brake test at rest"),
    CommandSpec("Reset", "reset", "operator", "reset the PLC's protection trip (it refuses "
                "while the cause persists)"),
    CommandSpec("SetMode", "set_mode", "engineer", "set the hoist's remote mode; needs the "
                "engineer role", (CommandArg("mode", "string", 'e.g. "remote-auto"',
                                             ("remote-manual", "remote-auto")),)),
)
