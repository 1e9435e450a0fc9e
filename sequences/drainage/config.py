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


Equipment = Annotated[PumpEq | ValveEq | SumpEq | LevelSensorEq | PlcStatusEq,
                      Field(discriminator="type")]


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


class HilDrainage(Model):
    system: str
    plc: str
    normal_inflow_m3h: PositiveFloat
    max_inflow_m3h: PositiveFloat
    daily_swing: float = Field(default=0.15, ge=0, lt=1)
    noise: float = Field(default=0.05, ge=0, lt=1)
    initial_level_m: float = Field(default=1.2, ge=0)
    static_head_m: PositiveFloat
    priming_s: PositiveFloat = 40.0
    prime_hold_s: PositiveFloat = 1800.0
    watchdog_s: PositiveFloat = 10.0
    initial_mode: Literal["remote-manual", "remote-auto"] = "remote-auto"
    float_low_m: PositiveFloat
    float_high_m: PositiveFloat
    float_highhigh_m: PositiveFloat
    seed: int = Field(default=1, ge=0)    # numpy's generators take no negative seed
