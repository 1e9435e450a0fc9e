"""What a signal of an equipment type is, and the controller's own tags.

Sequences read and write only signal names, never addresses, so the same logic drives a
Modbus or an S7 PLC, real or simulated. Each system declares its equipment types as
tables of ``SignalDef`` (which names exist, which must be mapped, which are commands
written by the controller, what kind of value each carries); a site config maps each
signal of each equipment to an address on its PLC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["bool", "number"]


@dataclass(frozen=True, slots=True)
class SignalDef:
    kind: Kind
    unit: str = ""
    required: bool = False
    writable: bool = False
    description: str = ""


def flag(desc: str, required: bool = False, writable: bool = False) -> SignalDef:
    return SignalDef("bool", "", required, writable, desc)


def number(unit: str, desc: str, required: bool = False, writable: bool = False) -> SignalDef:
    return SignalDef("number", unit, required, writable, desc)


@dataclass(frozen=True)
class Enumeration:
    """A tag whose values are words (a mode, a sequence's state): index == value. OPC UA
    serves it as a MultiStateDiscreteType, the console shows the words."""

    words: list[str]
    description: str

    def code(self, value: Any) -> int | None:
        """The value's code, None if it has none (then it is not served as a reading)."""
        if isinstance(value, str):
            return self.words.index(value) if value in self.words else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if value != int(value) or not 0 <= value < 2 ** 32:
            return None
        return int(value)

    def unknown(self) -> int:
        return self.words.index("unknown") if "unknown" in self.words else 0


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
    # fixedsite/availability_live.py, month to date (per system beside these:
    # <system>_fault_h and <system>_sensors_ok_pct)
    "availability": {
        "fault_h": ("number", "h", "fault time of the supervisory system this month "
                    "(controller down, PLC links lost or on fallback, sequences in fault): "
                    "the evaluation standard asks < 10 h"),
        "sensors_ok_pct": ("number", "%", "share of sensor time this month in working order "
                           "(good, within range, not stuck): the standard asks > 95 %"),
        "worst": ("text", "", "the sensors least in working order this month"),
    },
}
