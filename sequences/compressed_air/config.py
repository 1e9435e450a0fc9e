"""A compressor station's config: its ``[systems.X]`` table (``kind = "compressed_air"``),
its equipment, the station control, and its HIL plant (``[[hil.compressed_air]]``).

Pressures are gauge, in MPa, as the station's gauges and the mine's rules say them.
Equipment whose PLC window is given by ``slot`` get their signals from the profile
(``profile.py``) unless the config maps one otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, model_validator

from fixedsite.schema import Model, ProfiledEquipment
from fixedsite.sequences.compressed_air import profile


class CompressorEq(ProfiledEquipment):
    """A screw compressor in its PLC window ``slot``."""

    type: Literal["compressor"]
    slot: int = Field(ge=0, lt=profile.MAX_COMPRESSORS)
    rated_flow_m3min: PositiveFloat          # free air delivered loaded
    rated_kw: PositiveFloat                  # shaft power loaded at the rated pressure
    rated_pressure_mpa: PositiveFloat = 0.8
    unloaded_pct: float = Field(default=30.0, gt=0, lt=100)   # of rated_kw, running unloaded
    rated_current_a: PositiveFloat = 28.0
    water_cooled: bool = True                # interlocked with the cooling-water circuit
    max_starts_per_hour: int = Field(default=4, ge=1)          # the motor's thermal limit

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any] | None:
        slot = data.get("slot")
        return profile.compressor_signals(slot) if isinstance(slot, int) else None


class WaterPumpEq(ProfiledEquipment):
    type: Literal["water_pump"]
    slot: int = Field(ge=0, lt=profile.MAX_WATER_PUMPS)

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any] | None:
        slot = data.get("slot")
        return profile.water_pump_signals(slot) if isinstance(slot, int) else None


class CoolingEq(ProfiledEquipment):
    """The cooling-water circuit: its flow switch, water temperature and pumps (the first
    working, the rest standby)."""

    type: Literal["cooling"]
    pumps: list[str] = Field(min_length=1)

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.table(profile.COOLING)


class StationEq(ProfiledEquipment):
    """The station as its PLC sees it: air receiver and network, intake gas, upstream
    supply, and the PLC's own status."""

    type: Literal["station"]

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any]:
        return profile.table(profile.STATION)


Equipment = Annotated[CompressorEq | WaterPumpEq | CoolingEq | StationEq,
                      Field(discriminator="type")]


class AirControl(Model):
    """Lead/lag by a pressure band, and the limits the station is watched against."""

    station: str
    cooling: str | None = None
    compressors: list[str] = Field(min_length=1)
    band_mpa: tuple[PositiveFloat, PositiveFloat] = (0.60, 0.70)   # load below, unload above
    low_alarm_mpa: PositiveFloat = 0.50      # the network's users stall below this
    high_alarm_mpa: PositiveFloat = 0.80
    volume_m3: PositiveFloat = 40.0          # receivers and pipework: the demand estimate
    # a machine the demand does not need is stopped when the idle expected (the median of
    # the last times a stopped machine was needed again) is at least this long (an
    # unloaded screw still draws unloaded_pct of its power) ...
    stop_if_idle_s: PositiveFloat = 600.0
    # ... and in any case after this long unloaded (the run-on timer of a screw)
    max_unloaded_s: PositiveFloat = 1200.0
    demand_hold_s: PositiveFloat = 180.0     # a machine is needed if the demand of this
                                             # long ago would need it
    min_run_s: float = Field(default=300.0, ge=0)      # between a start and its stop
    step_s: PositiveFloat = 20.0             # between two load steps, one machine each
    rotate_h: PositiveFloat = 24.0           # the lead goes to the least-run machine
    start_timeout_s: PositiveFloat = 60.0    # a start to running, unloaded
    load_timeout_s: PositiveFloat = 20.0     # a load or unload to its feedback
    cooling_prove_s: PositiveFloat = 20.0    # flow seen this long: cooling proven
    cooling_stop_s: PositiveFloat = 30.0     # cooling lost: unloaded at once, stopped after
    discharge_alarm_c: PositiveFloat = 110.0    # the PLC trips a screw at 120 degC
    receiver_alarm_c: PositiveFloat = 100.0     # oil-carbon risk above 120 degC
    co_alarm_ppm: PositiveFloat = 24.0          # CO at the intake, the mine's limit
    water_temp_alarm_c: PositiveFloat = 35.0

    @model_validator(mode="after")
    def _band(self) -> AirControl:
        lo, hi = self.band_mpa
        if not lo < hi:
            raise ValueError(f"band_mpa: expected [low, high] with low < high, got "
                             f"[{lo:g}, {hi:g}]")
        if not self.low_alarm_mpa < lo:
            raise ValueError(f"low_alarm_mpa: expected below the band's low {lo:g}, got "
                             f"{self.low_alarm_mpa:g}")
        if not self.high_alarm_mpa > hi:
            raise ValueError(f"high_alarm_mpa: expected above the band's high {hi:g}, got "
                             f"{self.high_alarm_mpa:g}")
        return self


class CompressedAirSystem(Model):
    kind: Literal["compressed_air"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, Equipment]
    control: AirControl


class HilCompressedAir(Model):
    system: str
    plc: str
    volume_m3: PositiveFloat = 40.0          # receivers and pipework
    mean_demand_m3min: PositiveFloat = 60.0
    daily_swing: float = Field(default=0.35, ge=0, lt=1)
    noise: float = Field(default=0.05, ge=0, lt=1)
    bursts_per_h: float = Field(default=2.0, ge=0)     # rock drills, loaders blowing down
    leak_share: float = Field(default=0.25, ge=0, lt=1)  # of demand, rising with pressure
    initial_pressure_mpa: PositiveFloat = 0.65
    watchdog_s: PositiveFloat = 10.0
    # the PLC's own pressure switches when the controller is gone (and the bench's
    # baseline): per compressor in slot order, load below / unload above, MPa
    local_bands_mpa: list[tuple[PositiveFloat, PositiveFloat]] = Field(min_length=1)
    local_run_on_s: PositiveFloat = 600.0
    initial_mode: Literal["manual", "auto"] = "auto"
    seed: int = Field(default=1, ge=0)
