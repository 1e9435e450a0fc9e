"""A power system's config: its ``[systems.X]`` table (``kind = "power"``): the 6/10 kV
network (supplies, buses, cables, loads, blocking links), the breakers with their relays,
the substations, the protection scheme's figures, restoration and power-quality limits;
and its HIL (``[[hil.power]]``, one entry per substation gateway).

Figures with a rule behind them default to the rule: a grading margin of 0.3 s per level
(DOMAIN.md §3), power-quality limits of GB/T 12325 (±7 % at 20 kV and below), GB/T 15945
(±0.2 Hz), GB/T 15543 (2 % unbalance, 4 % short-time) and GB/T 14549 (THD 4 % at 6/10 kV).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat

from fixedsite.schema import Model, ProfiledEquipment
from fixedsite.sequences.power import profile


class Source(Model):
    """An incoming supply (from the surface substation), at the point where it enters."""

    bus: str
    voltage_kv: PositiveFloat = 10.5
    s_sc_max_mva: PositiveFloat = 200.0          # short-circuit power, maximum plant
    s_sc_min_mva: PositiveFloat = 150.0          # and minimum plant
    rx_max: float = Field(default=0.1, gt=0, le=1)
    rx_min: float = Field(default=0.1, gt=0, le=1)
    name: str = ""
    name_zh: str = ""


class Bus(Model):
    """A busbar (or a bus section) of a substation."""

    substation: str                               # a ``substation`` equipment's id
    voltage_kv: PositiveFloat = 10.0
    name: str = ""
    name_zh: str = ""


class Line(Model):
    """A cable between two buses (mine cable MYJV22 3x95 by default)."""

    from_bus: str
    to_bus: str
    length_km: PositiveFloat
    r_ohm_per_km: PositiveFloat = 0.193
    x_ohm_per_km: PositiveFloat = 0.08
    c_nf_per_km: PositiveFloat = 400.0
    max_i_a: PositiveFloat = 300.0
    name: str = ""
    name_zh: str = ""


class Load(Model):
    """What a load breaker feeds: a motor group or a mobile substation. ``priority`` 1 is a
    level-1 load (main fans, main pumps, man-riding hoists: GB 50215 §12.4.2), restored
    first; 3 is what can wait."""

    bus: str
    p_kw: PositiveFloat
    pf: float = Field(default=0.85, gt=0, le=1)
    priority: int = Field(default=2, ge=1, le=3)
    name: str = ""
    name_zh: str = ""


class Link(Model):
    """A blocking link: the ``source`` relay's pickup blocks the ``target`` relay's fast
    stage (reverse interlocking), over GOOSE or a hard-wired input."""

    source: str                                   # the downstream breaker
    target: str                                   # the upstream breaker it blocks
    medium: Literal["goose", "wired"] = "goose"
    latency_ms: PositiveFloat = 4.0               # nominal transfer time
    ttl_ms: PositiveFloat = 2000.0                # GOOSE time allowed to live


class Network(Model):
    frequency_hz: PositiveFloat = 50.0
    sources: dict[str, Source] = Field(min_length=1)
    buses: dict[str, Bus] = Field(min_length=1)
    lines: dict[str, Line] = {}
    loads: dict[str, Load] = {}
    links: dict[str, Link] = {}


class BreakerEq(ProfiledEquipment):
    """A breaker bay with its protection relay. ``feeds`` says what the bay connects its
    ``bus`` to: a source (an incomer), a line (a feeder), a load, or another bus (a bus
    tie). Its relay is the window at ``base`` in its substation's gateway; the signals
    follow the relay profile (``profile.py``) unless the config maps one otherwise."""

    type: Literal["breaker"]
    bus: str
    feeds: str
    base: int = Field(ge=profile.WINDOW, le=65535 - profile.WINDOW)
    relay_no: int = Field(ge=1, le=65535)          # the relay's number in block subscriptions
    ct_primary_a: PositiveFloat = 600.0
    opening_ms: PositiveFloat = 45.0               # nominal opening time (drift is warned)
    closing_ms: PositiveFloat = 60.0
    disconnector: bool = True                      # a motor-operated disconnector in the bay
    earthing: bool = True                          # an earthing switch on the outgoing side
    normally_open: bool = False                    # a bus tie or a standby incomer
    max_operations: int = Field(default=10000, ge=1)   # vacuum breaker, mechanical life

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any] | None:
        base = data.get("base")
        return profile.signals(base) if isinstance(base, int) else None


class SubstationEq(ProfiledEquipment):
    """A substation: its gateway (one Modbus endpoint for every relay in it) and its fire
    detection panel."""

    type: Literal["substation"]
    level: int = Field(default=1, ge=0, le=9)      # 1 central, 2 district, ...

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.substation_signals()


Equipment = Annotated[BreakerEq | SubstationEq, Field(discriminator="type")]


class Protection(Model):
    """The figures the scheme is engineered from (``scheme.py``)."""

    grading_margin_s: PositiveFloat = 0.3          # between levels, time-graded stages
    fast_delay_ms: PositiveFloat = 100.0           # unblocked fast stage
    pickup_ms: PositiveFloat = 20.0                # a relay's pickup time
    link_margin_ms: PositiveFloat = 20.0           # fast delay >= pickup + link + this
    breaker_break_ms: PositiveFloat = 60.0         # worst break time a grading allows for
    bf_delay_ms: PositiveFloat = 150.0             # breaker-failure timer
    pickup_factor: float = Field(default=1.5, gt=1)    # pickup over the max load current
    sensitivity: float = Field(default=1.5, gt=1)      # min fault current over the pickup
    lowest_backup_s: PositiveFloat = 0.3           # backup delay of the lowest level
    source_max_s: PositiveFloat = 1.5              # the supplier's limit at the incomers


class Restoration(Model):
    auto: bool = True                              # FLISR after a located fault
    auto_transfer: bool = True                     # bus tie on loss of one supply
    dead_s: PositiveFloat = 0.5                    # a bus dead this long: supply lost
    step_timeout_s: PositiveFloat = 10.0           # a switching step to its feedback
    # (at least two polls of the slowest gateway: checks.py)
    restore_within_s: PositiveFloat = 30.0         # target (recorded against)
    records: str = "records/power"                 # COMTRADE files, beside the historian


class Quality(Model):
    """Power-quality limits (GB/T 12325, 15945, 15543, 14549) and early warnings."""

    voltage_dev_pct: tuple[float, float] = (-7.0, 7.0)
    frequency_dev_hz: PositiveFloat = 0.2
    unbalance_pct: PositiveFloat = 2.0
    unbalance_short_pct: PositiveFloat = 4.0
    thd_u_pct: PositiveFloat = 4.0
    current_warn_pct: float = Field(default=90.0, gt=0, lt=100)  # of the pickup, trending
    trend_window_s: PositiveFloat = 600.0
    # a rising trend is warned only from this share of the pickup: a feeder at a fifth
    # of it ramping up at a shift's start extrapolates to the pickup within the hour
    # (seen in the demo, a P4 for every face feeder each morning) and is no warning
    trend_from_pct: float = Field(default=60.0, ge=0, lt=100)
    opening_drift_ms: PositiveFloat = 10.0         # over the nominal opening time


class PowerSystem(Model):
    kind: Literal["power"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, Equipment]
    network: Network
    protection: Protection = Protection()
    restoration: Restoration = Restoration()
    quality: Quality = Quality()


class HilPower(Model):
    """One simulated substation gateway; the network behind all of a system's gateways is
    one (a fault anywhere is seen by every relay upstream of it)."""

    system: str
    plc: str
    substation: str
    seed: int = Field(default=1, ge=0)
    load_noise_pct: float = Field(default=1.0, ge=0, le=20)
