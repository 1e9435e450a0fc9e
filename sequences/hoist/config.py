"""A hoist's config: its ``[systems.X]`` table (``kind = "hoist"``), its equipment, its
loading and cycle control, and its HIL plant (``[[hil.hoist]]``).

One system per hoist (each on its own S7 PLC); the console shows every hoist of the site
on one screen. The equipment's signals follow the hoist PLC's profile (``profile.py``)
unless the config maps one otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, model_validator

from fixedsite.schema import Model, ProfiledEquipment
from fixedsite.sequences.hoist import profile


class WinderEq(ProfiledEquipment):
    """The winder: drum or friction, its motor and its skip."""

    type: Literal["winder"]
    depth_m: PositiveFloat                     # loading station to dump, along the shaft
    max_speed_mps: PositiveFloat = 10.0
    accel_mps2: PositiveFloat = 0.75
    creep_mps: PositiveFloat = 0.5
    payload_t: PositiveFloat = 20.0            # rated skip payload
    rated_kw: PositiveFloat = 2000.0
    rated_current_a: PositiveFloat = 220.0
    ropes: int = Field(default=4, ge=1, le=4)

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.table(profile.HOIST)


class LoadingEq(ProfiledEquipment):
    """The loading station: the ore bin above it, the feeder, the weigh hopper (measuring
    pocket) and the chute into the skip."""

    type: Literal["loading"]

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.table(profile.LOADING)


class SurfaceBinEq(ProfiledEquipment):
    type: Literal["surface_bin"]

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.table(profile.SURFACE)


class RopeMonitorEq(ProfiledEquipment):
    type: Literal["rope_monitor"]

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.table(profile.ROPE)


Equipment = Annotated[WinderEq | LoadingEq | SurfaceBinEq | RopeMonitorEq,
                      Field(discriminator="type")]


class HoistControl(Model):
    winder: str
    loading: str
    surface_bin: str
    rope_monitor: str
    target_t: PositiveFloat = 19.0              # a load, under the rated payload
    overload_pct: PositiveFloat = 105.0         # of the rated payload: refused
    empty_skip_t: PositiveFloat = 0.5           # a skip reading more is loaded already
    inflight_t: float = Field(default=0.3, ge=0)   # first guess of the material in flight
    inflight_gain: float = Field(default=0.3, gt=0, le=1)   # how fast it is learnt
    settle_s: PositiveFloat = 3.0               # the hopper read after the feeder stops
    feed_timeout_s: PositiveFloat = 120.0
    surface_full_pct: PositiveFloat = 90.0      # hoisting pauses above ...
    surface_resume_pct: PositiveFloat = 75.0    # ... and resumes below
    bin_empty_pct: PositiveFloat = 10.0         # loading pauses below ...
    bin_resume_pct: PositiveFloat = 25.0        # ... and resumes above
    trip_timeout_s: PositiveFloat = 300.0       # a trip (one way) to its end position
    rope_tension_spread_pct: PositiveFloat = 15.0   # ropes unequal by more: alarm

    @model_validator(mode="after")
    def _levels(self) -> HoistControl:
        if not self.surface_resume_pct < self.surface_full_pct:
            raise ValueError("surface_resume_pct: expected below surface_full_pct")
        if not self.bin_empty_pct < self.bin_resume_pct:
            raise ValueError("bin_resume_pct: expected above bin_empty_pct")
        return self


class HoistSystem(Model):
    kind: Literal["hoist"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, Equipment]
    control: HoistControl


class HilHoist(Model):
    system: str
    plc: str
    ore_inflow_tph: PositiveFloat = 250.0       # mining into the underground bin
    bin_capacity_t: PositiveFloat = 800.0
    surface_capacity_t: PositiveFloat = 600.0
    surface_draw_tph: PositiveFloat = 300.0     # the conveyor out of the surface bin
    feed_tps: PositiveFloat = 0.5               # the feeder into the weigh hopper, t/s
    fall_s: PositiveFloat = 0.8                 # feeder to hopper: the material in flight
    weigh_noise_t: float = Field(default=0.02, ge=0)
    dump_s: PositiveFloat = 12.0
    charge_s: PositiveFloat = 10.0              # hopper into the skip
    initial_bin_pct: float = Field(default=50.0, ge=0, le=100)
    initial_surface_pct: float = Field(default=30.0, ge=0, le=100)
    watchdog_s: PositiveFloat = 10.0
    initial_mode: Literal["manual", "auto"] = "auto"
    seed: int = Field(default=1, ge=0)
