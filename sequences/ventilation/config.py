"""A ventilation system's config: its ``[systems.X]`` table (``kind = "ventilation"``):
main fans with their dampers, air sensors, air doors in airlocks, regulating windows,
auxiliary fans per working face, the control's figures, the airway network; and its HIL
plant (``[[hil.ventilation]]``).

Figures with a rule behind them (DOMAIN.md §1.1, §4) default to the rule: a standby fan
delivering within 60 s of a trip (the regulations allow 10 min), reversal within 10 min to
at least 40 % of normal air, a changeover never below 80 % of nominal airflow.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat

from fixedsite.schema import EquipmentBase, Model
from fixedsite.sequences.ventilation.network_config import Network


class FanEq(EquipmentBase):
    """A main fan with its variable-frequency drive, in its own duct between an inlet and
    an outlet damper. ``curve``: static pressure (Pa) against flow (m3/s) at rated speed,
    flow rising; other speeds by the fan laws (Q ~ n, p ~ n², P ~ n³)."""

    type: Literal["fan"]
    inlet_damper: str
    outlet_damper: str
    rated_flow_m3s: PositiveFloat
    rated_pressure_pa: PositiveFloat
    rated_power_kw: PositiveFloat
    rated_current_a: PositiveFloat
    curve: list[tuple[float, float]] = Field(min_length=3)
    efficiency: float = Field(default=0.82, gt=0, le=1)
    ramp_s: PositiveFloat = 60.0               # VFD, 0 -> 100 % speed
    min_speed_pct: float = Field(default=30.0, gt=0, lt=100)
    run_speed_pct: float = Field(default=100.0, gt=0, le=100)   # speed set on a start


class DamperEq(EquipmentBase):
    type: Literal["damper"]
    travel_s: PositiveFloat = 30.0


class AirSensorEq(EquipmentBase):
    """A station measuring the air in one branch of the network (airflow, velocity,
    pressure, temperature, humidity: whichever are mapped)."""

    type: Literal["air_sensor"]
    branch: str | None = None                  # where it sits in [network]


class DoorEq(EquipmentBase):
    """An air door; two or more make an airlock, of which only one may be open."""

    type: Literal["door"]
    airlock: str
    travel_s: PositiveFloat = 3.0              # pneumatic doors: 2-3 s (DOMAIN.md §4)
    warn_s: PositiveFloat = 5.0                # horn and light before it moves


class WindowEq(EquipmentBase):
    """A regulating window: an opening set remotely, 0 (shut) to 100 %."""

    type: Literal["window"]
    travel_s: PositiveFloat = 10.0             # full travel; DOMAIN.md §4: <= 10 s


class AuxFanEq(EquipmentBase):
    """An auxiliary (local) fan of a working face."""

    type: Literal["aux_fan"]
    face: str
    rated_flow_m3s: PositiveFloat = 5.0
    rated_power_kw: PositiveFloat = 30.0


class PlcStatusEq(EquipmentBase):
    type: Literal["plc_status"]


Equipment = Annotated[FanEq | DamperEq | AirSensorEq | DoorEq | WindowEq | AuxFanEq |
                      PlcStatusEq, Field(discriminator="type")]


class Face(Model):
    """A working face: its auxiliary fans (working first, then standby) and the fan-power
    interlock: with its auxiliary air stopped the face is to be de-energised, and it may
    be re-energised only after the air has been proven for ``proven_s``."""

    fans: list[str] = Field(min_length=2, max_length=2)
    proven_s: PositiveFloat = 300.0
    switchover_s: PositiveFloat = 30.0         # standby running after the working one stops


class VentilationControl(Model):
    fans: list[str] = Field(min_length=2, max_length=2)     # working and standby, one shaft
    shaft_sensor: str                          # the air sensor on the total airflow
    nominal_airflow_m3s: PositiveFloat
    min_airflow_pct: float = Field(default=70.0, gt=0, lt=100)     # below: failover
    low_airflow_delay_s: PositiveFloat = 15.0
    changeover_min_pct: float = Field(default=80.0, gt=0, le=100)
    failover_within_s: PositiveFloat = 60.0
    damper_timeout_s: PositiveFloat = 90.0
    start_timeout_s: PositiveFloat = 30.0      # run command to running feedback
    proven_timeout_s: PositiveFloat = 180.0    # to airflow proven at speed
    stop_timeout_s: PositiveFloat = 180.0
    reversal_min_pct: float = Field(default=40.0, gt=0, le=100)
    reversal_within_s: PositiveFloat = 600.0
    door_timeout_s: PositiveFloat = 30.0
    window_timeout_s: PositiveFloat = 30.0
    faces: dict[str, Face] = {}
    aux_test_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class VentilationSystem(Model):
    kind: Literal["ventilation"]
    name: str = ""
    name_zh: str = ""
    equipment: dict[str, Equipment]
    control: VentilationControl
    network: Network | None = None


class HilVentilation(Model):
    """One simulated ventilation PLC: the main fan station (``face`` unset: fans,
    dampers, doors, windows, sensors and the mine's airways) or a face's auxiliary fans."""

    system: str
    plc: str
    face: str | None = None
    watchdog_s: PositiveFloat = 10.0
    natural_pa: float = 0.0                    # natural ventilation pressure of the mine
    airway_inertia: PositiveFloat = 0.5        # how fast the air follows a fan (s-scale)
    initial: Literal["stopped", "running"] = "running"   # fan 1 on line at start
    seed: int = Field(default=1, ge=0)
