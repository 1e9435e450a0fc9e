"""Where a compressor station's PLC keeps each signal: the controller's side of the
register map the PLC programmer hands over.

One station PLC (Modbus) holds the station (receiver, network, intake gas, upstream
supply), its cooling-water circuit and pumps, and up to six compressors, each in a window
of its own numbered by ``slot``. The config's equipment get these maps unless it maps a
signal otherwise, so a site writes a compressor as its slot and its ratings. The HIL's
PLC (``hil/compressed_air/plc.py``) encodes its own registers from its own constants; a
test holds the two to the same addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_COMPRESSORS, MAX_WATER_PUMPS = 6, 4
HR_COMP, HR_COMP_STRIDE = 10, 10          # +0 mode, +1 fault_code
HR_WP, HR_WP_STRIDE = 80, 2               # +0 fault_code
COIL_COMP, COIL_COMP_STRIDE = 0, 4        # +0 run_cmd, +1 load_cmd
COIL_WP = 40                              # + slot: run_cmd
DI_FALLBACK, DI_SUPPLY, DI_FLOW = 0, 1, 2
IR_STATION = 0
IR_WP = 10                                # + slot: status word
IR_COMP, IR_COMP_STRIDE = 20, 20


@dataclass(frozen=True)
class Point:
    space: str            # "coil", "di", "hr", "ir"
    offset: int
    kind: str = ""        # "", "float32", "uint32", "int16", or ".<bit>" for a bit of a word
    scale: float = 1.0
    unit: str = ""

    def address(self, base: int) -> str:
        if self.kind.startswith("."):
            return f"{self.space}:{base + self.offset}{self.kind}"
        tail = f":{self.kind}" if self.kind else ""
        return f"{self.space}:{base + self.offset}{tail}"


STATION = {
    "pressure": Point("ir", 0, "float32", unit="MPa"),
    "receiver_temp": Point("ir", 2, "int16", 0.1, "degC"),
    "co": Point("ir", 3, "", 0.1, "ppm"),
    "air_flow": Point("ir", 5, "float32", unit="m3/min"),
    "heartbeat_echo": Point("ir", 7),
    "fallback": Point("di", DI_FALLBACK),
    "supply_ok": Point("di", DI_SUPPLY),
}
COOLING = {
    "flow_switch": Point("di", DI_FLOW),
    "water_temp": Point("ir", 4, "int16", 0.1, "degC"),
}
WATER_PUMP = {          # offsets from the slot
    "run_cmd": Point("coil", COIL_WP),
    "running": Point("ir", IR_WP, ".0"),
    "tripped": Point("ir", IR_WP, ".1"),
    "fault_code": Point("hr", HR_WP),
}
COMPRESSOR = {          # offsets from the compressor's window
    "run_cmd": Point("coil", 0),
    "load_cmd": Point("coil", 1),
    "mode": Point("hr", 0),
    "fault_code": Point("hr", 1),
    "running": Point("ir", 0, ".0"),
    "loaded": Point("ir", 0, ".1"),
    "local": Point("ir", 0, ".2"),
    "no_supply": Point("ir", 0, ".3"),
    "plc_state": Point("ir", 1),
    "flow": Point("ir", 2, "float32", unit="m3/min"),
    "discharge_temp": Point("ir", 4, "int16", 0.1, "degC"),
    "oil_pressure": Point("ir", 5, "", 0.001, "MPa"),
    "current": Point("ir", 6, "", 0.1, "A"),
    "power": Point("ir", 7, "", 0.1, "kW"),
    "energy": Point("ir", 8, "uint32", unit="kWh"),
    "run_hours": Point("ir", 10, "uint32", 0.1, "h"),
    "loaded_hours": Point("ir", 12, "uint32", 0.1, "h"),
    "starts": Point("ir", 14),
    "voltage": Point("ir", 15, "", 0.01, "kV"),
}
# the PLC's own state of a compressor (ir +1)
PLC_STATES = ["stopped", "starting", "unloaded", "loaded", "stopping", "tripped"]
TRIP_CODES = {1: "discharge over-temperature", 2: "oil pressure low",
              3: "cooling water lost", 4: "motor overload", 5: "safety valve pressure"}
MODE_MANUAL, MODE_AUTO = 1, 2
# the PLC programmer's rule for a reset: a temperature trip holds until the air end is
# back under this (the controller says so before it asks, instead of a write refused)
RESET_BELOW_C = 100.0
TRIP_TEMP, TRIP_WATER = 1, 3


def _entry(pt: Point, base: int) -> str | dict[str, object]:
    if pt.scale == 1.0 and not pt.unit:
        return pt.address(base)
    e: dict[str, object] = {"address": pt.address(base), "scale": pt.scale}
    if pt.unit:
        e["unit"] = pt.unit
    return e


def table(points: dict[str, Point], base: int = 0) -> dict[str, str | dict[str, object]]:
    """A ``signals`` table as a config would write it."""
    return {name: _entry(pt, base) for name, pt in points.items()}


def compressor_signals(slot: int) -> dict[str, str | dict[str, object]]:
    out = {}
    for name, pt in COMPRESSOR.items():
        base = {"coil": COIL_COMP + COIL_COMP_STRIDE * slot,
                "hr": HR_COMP + HR_COMP_STRIDE * slot,
                "ir": IR_COMP + IR_COMP_STRIDE * slot}[pt.space]
        out[name] = _entry(pt, base)
    return out


def water_pump_signals(slot: int) -> dict[str, str | dict[str, object]]:
    return {name: _entry(pt, slot * (HR_WP_STRIDE if pt.space == "hr" else 1))
            for name, pt in WATER_PUMP.items()}
