"""Where a hoist's PLC keeps each signal: the controller's side of the register map the
PLC programmer hands over, in S7 notation.

Each hoist has its own S7 PLC (a CPU of the winder's control), laid out as the HIL's
image is served over S7 (``hil/s7_image.py``: holding registers in DB1, input registers
in DB2, coils in M, discrete inputs in I). The config's equipment get these maps unless
it maps a signal otherwise; the HIL's PLC (``hil/hoist/plc.py``) encodes its own
registers from its own constants, and a test holds the two to the same addresses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    space: str            # "coil", "di", "hr", "ir" of the image
    index: int
    kind: str = ""        # "", "int16", "uint32", "float32", or ".<bit>"
    scale: float = 1.0
    unit: str = ""

    def address(self) -> str:
        """The point in S7 notation (the image as hil/s7_image.py serves it)."""
        if self.space == "coil":
            return f"M{self.index // 8}.{self.index % 8}"
        if self.space == "di":
            return f"I{self.index // 8}.{self.index % 8}"
        db = 1 if self.space == "hr" else 2
        if self.kind.startswith("."):
            b = int(self.kind[1:])
            return f"DB{db}.DBX{2 * self.index + (1 if b < 8 else 0)}.{b % 8}"
        if self.kind in ("float32", "uint32"):
            return f"DB{db}.DBD{2 * self.index}:{'REAL' if self.kind == 'float32' else 'DWORD'}"
        return f"DB{db}.DBW{2 * self.index}:{'INT' if self.kind == 'int16' else 'WORD'}"


# the hoist PLC's image (hil/hoist/plc.py keeps its own copy of these numbers)
HOIST = {
    "trip_cmd": Point("coil", 1), "brake_test_cmd": Point("coil", 2),
    "mode": Point("hr", 10), "fault_code": Point("hr", 11),
    "running": Point("ir", 10, ".0"), "at_loading": Point("ir", 10, ".1"),
    "at_dump": Point("ir", 10, ".2"), "brake_test_ok": Point("ir", 10, ".3"),
    "brake_applied": Point("ir", 10, ".4"), "local": Point("ir", 10, ".5"),
    "access_closed": Point("ir", 10, ".6"), "fallback": Point("ir", 10, ".7"),
    "plc_state": Point("ir", 11),
    "position": Point("ir", 12, "float32", unit="m"),
    "speed": Point("ir", 14, "float32", unit="m/s"),
    "speed_ref": Point("ir", 16, "float32", unit="m/s"),
    "current": Point("ir", 18, "", 0.1, "A"),
    "voltage": Point("ir", 19, "", 0.01, "kV"),
    "power": Point("ir", 20, "int16", 1.0, "kW"),
    "brake_gap": Point("ir", 21, "", 0.01, "mm"),
    "skip_load": Point("ir", 22, "float32", unit="t"),
    "trips": Point("ir", 24, "uint32"),
    "energy": Point("ir", 26, "uint32", unit="kWh"),
    "run_hours": Point("ir", 28, "uint32", 0.1, "h"),
    "starts": Point("ir", 30),
    "hv_current": Point("ir", 31, "", 0.1, "A"),
    "lv_voltage": Point("ir", 32, "", 1.0, "V"),
}
LOADING = {
    "feeder_cmd": Point("coil", 8), "chute_cmd": Point("coil", 9),
    "cutoff": Point("hr", 12, "float32", unit="t"),
    "feeder_running": Point("ir", 40, ".0"), "chute_open": Point("ir", 40, ".1"),
    "hopper_weight": Point("ir", 42, "float32", unit="t"),
    "ore_bin_level": Point("ir", 44, "", 0.1, "%"),
}
SURFACE = {"bin_level": Point("ir", 46, "", 0.1, "%")}
ROPE = {
    "damage": Point("ir", 50, ".0"), "monitor_ok": Point("ir", 50, ".1"),
    "loss_of_section": Point("ir", 51, "", 0.01, "%"),
    **{f"tension{k}": Point("ir", 51 + k, "", 0.01, "kN") for k in range(1, 5)},
}
# the PLC's own state (ir 11)
PLC_STATES = ["at loading", "hoisting", "dumping", "returning", "stopped", "tripped"]
TRIP_CODES = {1: "overspeed", 2: "overwind", 3: "slack rope", 4: "overload",
              5: "deceleration supervision", 6: "brake shoe gap", 7: "depth indicator failure",
              8: "motor overcurrent"}
MODE_MANUAL, MODE_AUTO = 1, 2


def _entry(pt: Point) -> str | dict[str, object]:
    if pt.scale == 1.0 and not pt.unit:
        return pt.address()
    e: dict[str, object] = {"address": pt.address(), "scale": pt.scale}
    if pt.unit:
        e["unit"] = pt.unit
    return e


def table(points: dict[str, Point]) -> dict[str, str | dict[str, object]]:
    """A ``signals`` table as a config would write it."""
    return {name: _entry(pt) for name, pt in points.items()}
