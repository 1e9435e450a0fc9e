"""A drainage system's config: its ``[systems.X]`` table (``kind = "drainage"``), its
equipment, level control and plan, and its HIL plant (``[[hil.drainage]]``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat

from fixedsite.schema import EquipmentBase, Model


class PumpEq(EquipmentBase):
    type: Literal["pump"]
    valve: str
    rated_flow_m3h: PositiveFloat
    rated_head_m: PositiveFloat
    rated_power_kw: PositiveFloat
    rated_current_a: PositiveFloat
    efficiency: float = Field(default=0.78, gt=0, le=1)


class ValveEq(EquipmentBase):
    type: Literal["valve"]
    travel_s: PositiveFloat = 40.0


class SumpEq(EquipmentBase):
    type: Literal["sump"]
    sensors: list[str] = Field(min_length=1)
    volume_curve: list[tuple[float, float]] = Field(min_length=2)


class LevelSensorEq(EquipmentBase):
    type: Literal["level_sensor"]


class PlcStatusEq(EquipmentBase):
    type: Literal["plc_status"]


class BoreholeEq(EquipmentBase):
    """An observation borehole of the mine's hydrological monitoring (water level and/or
    water pressure of the aquifer it taps)."""

    type: Literal["borehole"]


class InflowMeterEq(EquipmentBase):
    """A water-inflow meter at a water-bearing zone (a weir or a flow meter in the drain)."""

    type: Literal["inflow_meter"]


Equipment = Annotated[PumpEq | ValveEq | SumpEq | LevelSensorEq | PlcStatusEq | BoreholeEq
                      | InflowMeterEq, Field(discriminator="type")]

Pair = tuple[PositiveFloat, PositiveFloat]


class DrainageHydrology(Model):
    """The room's linkage to the hydrological monitoring (absent: none). Thresholds are
    ``[watch, alert]`` pairs; a borehole's rise is over its own slowly tracked baseline."""

    boreholes: list[str] = Field(default_factory=list)
    inflow_meters: list[str] = Field(default_factory=list)
    rise_m: Pair | None = None             # borehole water level above its baseline
    rise_mpa: Pair | None = None           # borehole water pressure above its baseline
    inflow_m3h: Pair | None = None         # a zone's measured inflow
    lower_m: Pair = (0.3, 0.6)             # start and stop levels lowered by, watch / alert
    suspend_plan_inflow_m3h: PositiveFloat | None = None   # level rule alone above this
    dry_margin_m: PositiveFloat = 0.15     # a lowered stop level stays this far above low-low
    baseline_h: PositiveFloat = 24.0       # how slowly a borehole's baseline follows it
    on_delay_s: float = Field(default=120.0, ge=0)   # a reading held this long raises
    hold_s: float = Field(default=3600.0, ge=0)      # every reading released this long lowers
    release: float = Field(default=0.8, gt=0, lt=1)  # of a threshold: counts as gone below
    prime_check_s: PositiveFloat = 180.0   # a standby held priming this long must be primed
    prime_standby: bool = True             # hold the standby pumps primed while raised


class DrainageControl(Model):
    sump: str
    pumps: list[str] = Field(min_length=1)
    start_levels_m: list[float] = Field(min_length=1)
    stop_levels_m: list[float] = Field(min_length=1)
    high_high_m: PositiveFloat
    low_low_m: PositiveFloat
    normal_band_m: tuple[float, float]
    prime_timeout_s: PositiveFloat = 120.0
    start_timeout_s: PositiveFloat = 30.0
    valve_timeout_s: PositiveFloat = 90.0
    flow_proven_timeout_s: PositiveFloat = 60.0
    stop_timeout_s: PositiveFloat = 150.0
    min_flow_m3h: PositiveFloat = 50.0
    sensor_disagree_m: PositiveFloat = 0.3
    # every automatic start and stop keeps these (a plan brings its own); only a hard
    # limit (high-high, low-low) or a fault overrides them, and says so
    min_run_s: float = Field(default=900.0, ge=0)
    min_rest_s: float = Field(default=300.0, ge=0)
    max_starts_per_day: int = Field(default=12, ge=1)    # per pump, rolling 24 h


class DrainagePlan(Model):
    """Peak-valley planning of a pump room (absent: level control alone)."""

    band_m: tuple[float, float]              # where the plan may move the level
    step_s: PositiveFloat = 900.0
    horizon_h: PositiveFloat = 24.0
    max_pumps: int | None = Field(default=None, ge=1)     # at once: maximum-demand charge
    max_kw: PositiveFloat | None = None
    max_discharge_m3h: PositiveFloat | None = None        # water treatment downstream
    min_run_s: float = Field(default=1800.0, ge=0)
    min_rest_s: float = Field(default=900.0, ge=0)
    start_cost: float = Field(default=2.0, ge=0)          # CNY a start: wear, inrush
    max_starts_per_day: int = Field(default=6, ge=1)      # per pump (slot), over 24 h
    z: PositiveFloat = 1.64                               # band width of the forecast
    override_release_m: PositiveFloat = 0.1   # hysteresis of the level rule above the band


class DrainageSystem(Model):
    kind: Literal["drainage"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, Equipment]
    control: DrainageControl
    plan: DrainagePlan | None = None
    # relay pumping: the system whose sump this room's pumps discharge into
    discharges_into: str | None = None
    hydrology: DrainageHydrology | None = None


class HilBorehole(Model):
    """A simulated observation borehole: its level and pressure at rest, and how much of a
    precursor's rise reaches it (1: all)."""

    name: str
    level_m: float = 0.0
    pressure_mpa: float = Field(default=1.0, ge=0)
    share: float = Field(default=1.0, gt=0, le=1)


class HilHydrology(Model):
    """The hydrological monitoring station a ``[[hil.drainage]]`` entry simulates instead
    of a pump room: boreholes and a water-inflow meter at a water-bearing zone."""

    boreholes: list[HilBorehole] = Field(min_length=1)
    inflow_meter: str
    zone_inflow_m3h: float = Field(default=20.0, ge=0)   # what the zone gives at rest
    rise_m: PositiveFloat = 12.0          # the boreholes' rise at a precursor's full
    noise_m: float = Field(default=0.02, ge=0)
    noise_mpa: float = Field(default=0.0005, ge=0)
    noise_m3h: float = Field(default=3.0, ge=0)
    inrush_hold_s: float = Field(default=10800.0, ge=0)   # an inrush's peak lasts this long


class HilDrainage(Model):
    """A simulated pump room, or (with ``[hydrology]``) the hydrological monitoring station
    of the room's system on a PLC of its own. A room needs its inflow, static head and
    floats (drainage's checks say which is missing); a station has none of them."""

    system: str
    plc: str
    hydrology: HilHydrology | None = None
    normal_inflow_m3h: PositiveFloat | None = None
    max_inflow_m3h: PositiveFloat | None = None
    daily_swing: float = Field(default=0.15, ge=0, lt=1)
    noise: float = Field(default=0.05, ge=0, lt=1)
    initial_level_m: float = Field(default=1.2, ge=0)
    static_head_m: PositiveFloat | None = None
    priming_s: PositiveFloat = 40.0
    prime_hold_s: PositiveFloat = 1800.0
    watchdog_s: PositiveFloat = 10.0
    initial_mode: Literal["remote-manual", "remote-auto"] = "remote-auto"
    float_low_m: PositiveFloat | None = None
    float_high_m: PositiveFloat | None = None
    float_highhigh_m: PositiveFloat | None = None
    seed: int = Field(default=1, ge=0)    # numpy's generators take no negative seed


ROOM_KEYS = ("normal_inflow_m3h", "max_inflow_m3h", "static_head_m", "float_low_m",
             "float_high_m", "float_highhigh_m")


def rooms(entries: list[HilDrainage]) -> list[HilDrainage]:
    """The pump rooms among ``[[hil.drainage]]`` entries (not the hydrological stations)."""
    return [h for h in entries if h.hydrology is None]
