"""The HIL relay's register layout, written from the table in ``docs/power.md``.

This is the simulated relay's own copy. The controller has another one
(``sequences/power/profile.py``); an import-linter contract keeps the two apart and
``tests/test_power_hil.py`` compares them signal by signal, so a layout bug in one cannot
cancel itself out in the other. The offsets are spelled out as the document lists them,
not generated the way the controller generates its copy.

Offsets are from the relay's ``base`` (its 200-register window in the gateway); the
substation block sits at registers 0-19 of the gateway, below every relay.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 200                 # one relay's window in its gateway
SOE_DEPTH = 16               # SOE ring: record r at ir 50 + 6 r
SOE_BASE, SOE_STRIDE = 50, 6
SUBS = 4                     # block subscriptions (block_src0..3, link0..3)
GROUP_AT = {1: 20, 2: 40}    # first register of settings group 1 and 2
GROUP = ("pickup_a", "fast_enabled", "fast_delay_ms", "backup_pickup_a", "backup_delay_ms",
         "inst_enabled", "inst_pickup_a", "inst_delay_ms", "bf_delay_ms")


@dataclass(frozen=True)
class Reg:
    """One signal: table (hr/ir), offset from the relay's base, type, bit, unit, scale."""

    table: str
    offset: int
    type: str = "uint16"     # uint16 | int16 | uint32 | float32 | bool
    bit: int | None = None
    unit: str = ""
    scale: float = 1.0

    def address(self, base: int) -> str:
        """The config's notation: ``hr:200``, ``ir:202:float32``, ``ir:200.3``."""
        n = base + self.offset
        if self.bit is not None:
            return f"{self.table}:{n}.{self.bit}"
        return f"{self.table}:{n}" if self.type == "uint16" else f"{self.table}:{n}:{self.type}"


# ---- holding registers: what the controller writes -------------------------------------
HR: dict[str, Reg] = {
    "breaker_cmd": Reg("hr", 0),
    "group_sp": Reg("hr", 1),
    "disconnector_cmd": Reg("hr", 2),
    "earthing_cmd": Reg("hr", 3),
    "door_unlock_cmd": Reg("hr", 4),
    "trip_code": Reg("hr", 5),
    "link_ttl_ms": Reg("hr", 6, unit="ms"),
    "block_src0": Reg("hr", 10),
    "block_src1": Reg("hr", 11),
    "block_src2": Reg("hr", 12),
    "block_src3": Reg("hr", 13),
}
for _g, _at in GROUP_AT.items():
    for _k, _f in enumerate(GROUP):
        HR[f"g{_g}_{_f}"] = Reg("hr", _at + _k, unit="A" if _f.endswith("_a") else
                               "ms" if _f.endswith("_ms") else "")

# ---- input registers: what the relay reports --------------------------------------------
STATUS_BITS = ("breaker_closed", "breaker_open", "picked_up", "blocked", "tripped",
               "bf_operated", "healthy", "local", "spring_charged", "disconnector_closed",
               "disconnector_open", "earthing_closed", "door_unlocked", "line_live",
               "refused", "undervoltage")            # ir 0, bits 0..15
IR: dict[str, Reg] = {name: Reg("ir", 0, "bool", bit=b) for b, name in enumerate(STATUS_BITS)}
IR.update({
    "group_active": Reg("ir", 1),
    "ia": Reg("ir", 2, "float32", unit="A"),
    "ib": Reg("ir", 4, "float32", unit="A"),
    "ic": Reg("ir", 6, "float32", unit="A"),
    "uab": Reg("ir", 8, "float32", unit="kV"),
    "ubc": Reg("ir", 10, "float32", unit="kV"),
    "uca": Reg("ir", 12, "float32", unit="kV"),
    "p_kw": Reg("ir", 14, "float32", unit="kW"),
    "q_kvar": Reg("ir", 16, "float32", unit="kvar"),
    "pf": Reg("ir", 18, "float32"),
    "freq_hz": Reg("ir", 20, "float32", unit="Hz"),
    "thd_u_pct": Reg("ir", 22, "float32", unit="%"),
    "unbalance_u_pct": Reg("ir", 24, "float32", unit="%"),
    "energy": Reg("ir", 26, "uint32", unit="kWh"),
    "energy_kvarh": Reg("ir", 28, "uint32", unit="kvarh"),
    "op_count": Reg("ir", 30),
    "last_open_ms": Reg("ir", 31, unit="ms"),
    "last_close_ms": Reg("ir", 32, unit="ms"),
    "link0_ok": Reg("ir", 33, "bool", bit=0),
    "link1_ok": Reg("ir", 33, "bool", bit=1),
    "link2_ok": Reg("ir", 33, "bool", bit=2),
    "link3_ok": Reg("ir", 33, "bool", bit=3),
    "link0_age_ms": Reg("ir", 34, unit="ms"),
    "link1_age_ms": Reg("ir", 35, unit="ms"),
    "link2_age_ms": Reg("ir", 36, unit="ms"),
    "link3_age_ms": Reg("ir", 37, unit="ms"),
    "link0_latency_ms": Reg("ir", 38, unit="ms", scale=0.1),
    "link1_latency_ms": Reg("ir", 39, unit="ms", scale=0.1),
    "link2_latency_ms": Reg("ir", 40, unit="ms", scale=0.1),
    "link3_latency_ms": Reg("ir", 41, unit="ms", scale=0.1),
    "soe_seq": Reg("ir", 42),
})
for _r in range(SOE_DEPTH):
    _o = SOE_BASE + SOE_STRIDE * _r
    IR[f"soe{_r}_seq"] = Reg("ir", _o)
    IR[f"soe{_r}_code"] = Reg("ir", _o + 1)
    IR[f"soe{_r}_s"] = Reg("ir", _o + 2, "uint32", unit="s")
    IR[f"soe{_r}_ms"] = Reg("ir", _o + 4, unit="ms")
    IR[f"soe{_r}_value"] = Reg("ir", _o + 5)
IR.update({
    "rec_seq": Reg("ir", 150),
    "rec_s": Reg("ir", 151, "uint32", unit="s"),
    "rec_ms": Reg("ir", 153, unit="ms"),
    "rec_clear_ms": Reg("ir", 154, unit="ms"),
    "rec_type": Reg("ir", 155),
    "pre_ia": Reg("ir", 156, "float32", unit="A"),
    "pre_ib": Reg("ir", 158, "float32", unit="A"),
    "pre_ic": Reg("ir", 160, "float32", unit="A"),
    "pre_ua": Reg("ir", 162, "float32", unit="kV"),
    "pre_ub": Reg("ir", 164, "float32", unit="kV"),
    "pre_uc": Reg("ir", 166, "float32", unit="kV"),
    "pre_ia_deg": Reg("ir", 168, "int16", unit="deg", scale=0.1),
    "pre_ib_deg": Reg("ir", 169, "int16", unit="deg", scale=0.1),
    "pre_ic_deg": Reg("ir", 170, "int16", unit="deg", scale=0.1),
    "pre_ua_deg": Reg("ir", 171, "int16", unit="deg", scale=0.1),
    "pre_ub_deg": Reg("ir", 172, "int16", unit="deg", scale=0.1),
    "pre_uc_deg": Reg("ir", 173, "int16", unit="deg", scale=0.1),
    "flt_ia": Reg("ir", 174, "float32", unit="A"),
    "flt_ib": Reg("ir", 176, "float32", unit="A"),
    "flt_ic": Reg("ir", 178, "float32", unit="A"),
    "flt_ua": Reg("ir", 180, "float32", unit="kV"),
    "flt_ub": Reg("ir", 182, "float32", unit="kV"),
    "flt_uc": Reg("ir", 184, "float32", unit="kV"),
    "flt_ia_deg": Reg("ir", 186, "int16", unit="deg", scale=0.1),
    "flt_ib_deg": Reg("ir", 187, "int16", unit="deg", scale=0.1),
    "flt_ic_deg": Reg("ir", 188, "int16", unit="deg", scale=0.1),
    "flt_ua_deg": Reg("ir", 189, "int16", unit="deg", scale=0.1),
    "flt_ub_deg": Reg("ir", 190, "int16", unit="deg", scale=0.1),
    "flt_uc_deg": Reg("ir", 191, "int16", unit="deg", scale=0.1),
})

RELAY: dict[str, Reg] = {**HR, **IR}

# ---- the substation's block at the start of its gateway ------------------------------------
HR_HEARTBEAT = 0
SUBSTATION: dict[str, Reg] = {
    "fire": Reg("ir", 0, "bool", bit=0),
    "fire_fault": Reg("ir", 0, "bool", bit=1),
    "gateway_ok": Reg("ir", 0, "bool", bit=2),
    "heartbeat_echo": Reg("ir", 1),
}
SUBSTATION_WINDOW = 20

# ---- codes --------------------------------------------------------------------------------
# SOE event codes (soe<r>_code); the value is the current in A, the group, the
# subscription index, or as said beside the code
PICKUP, DROP_OFF, BLOCK_IN, BLOCK_OUT = 1, 2, 3, 4            # value A, A, subscription
TRIP_FAST, TRIP_INST, TRIP_BACKUP = 5, 6, 7                   # value A
BF_SENT, BF_RECEIVED = 8, 9                                   # value A, subscription
OPENED, CLOSED, FAILED_TO_OPEN = 10, 11, 12                   # value A interrupted, 0, A
LINK_LOST, LINK_RESTORED, GROUP_CHANGED = 13, 14, 15          # subscription, idem, group
OPEN_CMD, CLOSE_CMD, CLOSE_REFUSED = 16, 17, 18               # 0, 0, REFUSE_* reason
UNDERVOLTAGE = 19                                             # bus voltage, % of nominal
DISC_OPENED, DISC_CLOSED, EARTH_CLOSED, EARTH_OPENED = 20, 21, 22, 23
SOE_WORDS: dict[int, str] = {
    PICKUP: "pickup", DROP_OFF: "drop-off", BLOCK_IN: "block received",
    BLOCK_OUT: "block released", TRIP_FAST: "trip fast", TRIP_INST: "trip instantaneous",
    TRIP_BACKUP: "trip backup", BF_SENT: "breaker-failure trip sent",
    BF_RECEIVED: "breaker-failure trip received", OPENED: "breaker opened",
    CLOSED: "breaker closed", FAILED_TO_OPEN: "breaker failed to open",
    LINK_LOST: "link lost", LINK_RESTORED: "link restored", GROUP_CHANGED: "group changed",
    OPEN_CMD: "open command", CLOSE_CMD: "close command", CLOSE_REFUSED: "close refused",
    UNDERVOLTAGE: "undervoltage", DISC_OPENED: "disconnector opened",
    DISC_CLOSED: "disconnector closed", EARTH_CLOSED: "earthing closed",
    EARTH_OPENED: "earthing opened",
}
# why a command was refused (the value of a "close refused" record)
REFUSE_TRIP, REFUSE_EARTH, REFUSE_DISC, REFUSE_SPRING, REFUSE_LOCAL = 1, 2, 3, 4, 5
# trip_code: the latched cause of the last protection trip
TRIP_NONE, TRIP_CODE_FAST, TRIP_CODE_INST, TRIP_CODE_BACKUP, TRIP_CODE_BF, TRIP_CODE_UV = \
    0, 1, 2, 3, 4, 5
TRIP_WORDS = {TRIP_NONE: "none", TRIP_CODE_FAST: "fast stage",
              TRIP_CODE_INST: "instantaneous", TRIP_CODE_BACKUP: "backup stage",
              TRIP_CODE_BF: "breaker-failure backup", TRIP_CODE_UV: "undervoltage"}
FAULT_NONE, FAULT_3PH, FAULT_2PH = 0, 1, 2
FAULT_WORDS = {FAULT_NONE: "none", FAULT_3PH: "three-phase", FAULT_2PH: "phase-to-phase"}
CMD_NONE, CMD_OPEN, CMD_CLOSE = 0, 1, 2
