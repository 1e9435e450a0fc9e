"""Where a protection relay's signals are in its substation's gateway: one register layout
for every relay (a device profile), placed at the relay's ``base``.

Mine protection relays (综保) sit on an RS-485 bus behind the substation's communication
manager, which serves them all over one Modbus TCP endpoint, each in its own register
window. A site config therefore names a relay's window (``base``), not each of its ~150
signals; ``signals(base)`` writes the map out, and a config may still override a signal.
The HIL's relays (``hil/power/``) keep their own copy of this layout, written from the
table in ``docs/power.md``; ``tests/test_power_hil.py`` fails if the two disagree (a
layout bug may not cancel itself out).

Holding registers are what the controller writes (commands, settings), input registers
what the relay reports. Every analog value is a float32 in two registers (big-endian word
order), every counter a uint16 or uint32.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 200             # registers of one relay's window; bases are multiples of it
SOE_DEPTH = 16           # SOE records the relay keeps visible (a ring, newest at seq)
SUBSCRIPTIONS = 4        # blocking links a relay can subscribe to (GOOSE / wired inputs)
GROUP_FIELDS = ("pickup_a", "fast_enabled", "fast_delay_ms", "backup_pickup_a",
                "backup_delay_ms", "inst_enabled", "inst_pickup_a", "inst_delay_ms",
                "bf_delay_ms")
GROUP_BASE = {1: 20, 2: 40}   # settings group 1 (normal, with blocking) and 2 (fallback)
PHASOR_NAMES = ("ia", "ib", "ic", "ua", "ub", "uc")
# measurements (currents, voltages, power, quality, energy) are polled this often; the
# breakers' states, the trip latches, the links and the SOE at the gateway's poll period:
# what a fault changes is read fast, what drifts with the load is not read every 0.5 s
MEASURE_S = 30.0


@dataclass(frozen=True)
class Point:
    """One signal of the layout: table, offset from the relay's base, type, bit."""

    table: str                 # "hr" | "ir"
    offset: int
    dtype: str = "uint16"      # uint16 | int16 | uint32 | float32 | bool
    bit: int | None = None
    unit: str = ""
    scale: float = 1.0
    period_s: float | None = None      # polled this often, else at the PLC's poll period

    def address(self, base: int) -> str:
        i = base + self.offset
        if self.bit is not None:
            return f"{self.table}:{i}.{self.bit}"
        return f"{self.table}:{i}" + ("" if self.dtype == "uint16" else f":{self.dtype}")


def _layout() -> dict[str, Point]:
    p: dict[str, Point] = {
        # ---- commands and settings the controller writes (holding registers)
        "breaker_cmd": Point("hr", 0),        # 0 none, 1 open, 2 close; held until 0 written
        "group_sp": Point("hr", 1),           # settings group to use: 1 normal, 2 fallback
        "disconnector_cmd": Point("hr", 2),   # 0 none, 1 open, 2 close
        "earthing_cmd": Point("hr", 3),       # 0 none, 1 open, 2 close
        "door_unlock_cmd": Point("hr", 4),    # 1 unlock the bay's door, 0 lock it
        "trip_code": Point("hr", 5),          # cause of the latched trip; write 0 to reset
        "link_ttl_ms": Point("hr", 6, unit="ms"),   # time allowed to live of subscriptions
    }
    for i in range(SUBSCRIPTIONS):            # relay_no of each subscribed block source
        p[f"block_src{i}"] = Point("hr", 10 + i)
    for g, b in GROUP_BASE.items():
        for k, f in enumerate(GROUP_FIELDS):
            p[f"g{g}_{f}"] = Point("hr", b + k, unit="A" if f.endswith("_a") else
                                   ("ms" if f.endswith("_ms") else ""))
    # ---- what the relay reports (input registers)
    bits = ("breaker_closed", "breaker_open", "picked_up", "blocked", "tripped",
            "bf_operated", "healthy", "local", "spring_charged", "disconnector_closed",
            "disconnector_open", "earthing_closed", "door_unlocked", "line_live",
            "refused", "undervoltage")
    for b, name in enumerate(bits):
        p[name] = Point("ir", 0, "bool", bit=b)
    p["group_active"] = Point("ir", 1)
    for k, name in enumerate(("ia", "ib", "ic", "uab", "ubc", "uca", "p_kw", "q_kvar", "pf",
                              "freq_hz", "thd_u_pct", "unbalance_u_pct")):
        unit = {"ia": "A", "ib": "A", "ic": "A", "p_kw": "kW", "q_kvar": "kvar",
                "freq_hz": "Hz", "thd_u_pct": "%", "unbalance_u_pct": "%"}.get(name, "kV")
        p[name] = Point("ir", 2 + 2 * k, "float32", unit="" if name == "pf" else unit,
                        period_s=MEASURE_S)
    p["energy"] = Point("ir", 26, "uint32", unit="kWh", period_s=MEASURE_S)
    p["energy_kvarh"] = Point("ir", 28, "uint32", unit="kvarh", period_s=MEASURE_S)
    p["op_count"] = Point("ir", 30)
    p["last_open_ms"] = Point("ir", 31, unit="ms")     # measured opening time, last open
    p["last_close_ms"] = Point("ir", 32, unit="ms")
    for i in range(SUBSCRIPTIONS):
        p[f"link{i}_ok"] = Point("ir", 33, "bool", bit=i)
        p[f"link{i}_age_ms"] = Point("ir", 34 + i, unit="ms")        # 65535: never heard
        p[f"link{i}_latency_ms"] = Point("ir", 38 + i, unit="ms", scale=0.1)
    p["soe_seq"] = Point("ir", 42)            # seq of the newest record (0: none yet)
    for r in range(SOE_DEPTH):                # record r at ir 50 + 6r
        o = 50 + 6 * r
        p[f"soe{r}_seq"] = Point("ir", o)
        p[f"soe{r}_code"] = Point("ir", o + 1)
        p[f"soe{r}_s"] = Point("ir", o + 2, "uint32", unit="s")   # epoch seconds
        p[f"soe{r}_ms"] = Point("ir", o + 4, unit="ms")
        p[f"soe{r}_value"] = Point("ir", o + 5)                    # A, group, link index
    # the relay's disturbance record of its last trip (phasors before and during)
    p["rec_seq"] = Point("ir", 150)           # increments with each new record
    p["rec_s"] = Point("ir", 151, "uint32", unit="s")
    p["rec_ms"] = Point("ir", 153, unit="ms")
    p["rec_clear_ms"] = Point("ir", 154, unit="ms")     # inception to breaker open
    p["rec_type"] = Point("ir", 155)          # FAULT_TYPES
    for k, name in enumerate(PHASOR_NAMES):   # magnitudes A / kV (phase), angles 0.1 deg
        unit = "A" if name.startswith("i") else "kV"
        p[f"pre_{name}"] = Point("ir", 156 + 2 * k, "float32", unit=unit)
        p[f"pre_{name}_deg"] = Point("ir", 168 + k, "int16", unit="deg", scale=0.1)
        p[f"flt_{name}"] = Point("ir", 174 + 2 * k, "float32", unit=unit)
        p[f"flt_{name}_deg"] = Point("ir", 186 + k, "int16", unit="deg", scale=0.1)
    return p


RELAY: dict[str, Point] = _layout()

# A substation's own block at the start of its gateway (registers 0-19, below any relay):
# the controller's heartbeat, the fire detection panel, the gateway's health.
SUBSTATION: dict[str, Point] = {
    "fire": Point("ir", 0, "bool", bit=0),            # fire detector in alarm
    "fire_fault": Point("ir", 0, "bool", bit=1),      # detector loop faulty
    "gateway_ok": Point("ir", 0, "bool", bit=2),      # every relay on the bus answers
    "heartbeat_echo": Point("ir", 1),
}

# SOE event codes (the relay's, as read from soe<r>_code); value says the current in A,
# the group, or the subscription index
SOE_CODES: dict[int, str] = {
    1: "pickup", 2: "drop-off", 3: "block received", 4: "block released",
    5: "trip fast", 6: "trip instantaneous", 7: "trip backup", 8: "breaker-failure trip sent",
    9: "breaker-failure trip received", 10: "breaker opened", 11: "breaker closed",
    12: "breaker failed to open", 13: "link lost", 14: "link restored", 15: "group changed",
    16: "open command", 17: "close command", 18: "close refused", 19: "undervoltage",
    20: "disconnector opened", 21: "disconnector closed", 22: "earthing closed",
    23: "earthing opened",
}
SOE = {v: k for k, v in SOE_CODES.items()}
TRIP_CODES = {0: "none", 1: "fast stage", 2: "instantaneous", 3: "backup stage",
              4: "breaker-failure backup", 5: "undervoltage"}
FAULT_TYPES = {0: "none", 1: "three-phase", 2: "phase-to-phase"}
CMD_NONE, CMD_OPEN, CMD_CLOSE = 0, 1, 2


def _entry(pt: Point, base: int) -> str | dict[str, object]:
    if not pt.unit and pt.scale == 1.0 and pt.period_s is None:
        return pt.address(base)
    e: dict[str, object] = {"address": pt.address(base), "scale": pt.scale}
    if pt.unit:
        e["unit"] = pt.unit
    if pt.period_s is not None:
        e["period_s"] = pt.period_s
    return e


def signals(base: int) -> dict[str, str | dict[str, object]]:
    """The map of every relay signal for a relay whose window starts at ``base``, as a
    config's ``signals`` table would write it."""
    return {name: _entry(pt, base) for name, pt in RELAY.items()}


def substation_signals() -> dict[str, str | dict[str, object]]:
    return {name: _entry(pt, 0) for name, pt in SUBSTATION.items()}
