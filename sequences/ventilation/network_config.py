"""The mine's airways as the config gives them (``[systems.X.network]``): branches between
junctions with their resistance, the fans and regulators in them, fixed-quantity branches,
and the user points with the rules their air is computed from."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from fixedsite.schema import Model


class Branch(Model):
    """An airway from one junction to another: Δp = R·Q·|Q| (Pa, m3/s)."""

    start: str                                  # junction names; "surface" is the atmosphere
    end: str
    resistance: float = Field(ge=0)             # N·s²/m⁸ (Pa per (m3/s)²)
    fan: str | None = None                      # a main fan of the system in this branch
    regulator: str | None = None                # a regulating window in this branch
    fixed_m3s: PositiveFloat | None = None      # a branch held to this quantity
    natural_pa: float = 0.0                     # natural ventilation pressure, start->end
    area_m2: PositiveFloat | None = None        # cross-section, for air velocity


class UserPoint(Model):
    """A place that needs air (a working face, a chamber): the rules its need comes from,
    each a quantity the regulations tie air to; the need is the largest of them."""

    branch: str
    people: int = Field(default=0, ge=0)
    per_person_m3s: PositiveFloat = 4.0 / 60    # 4 m3/min a person
    diesel_kw: float = Field(default=0.0, ge=0)
    per_kw_m3s: PositiveFloat = 4.0 / 60        # 4 m3/min per kW of diesel power
    explosives_kg: float = Field(default=0.0, ge=0)
    per_kg_m3s: PositiveFloat = 25.0 / 60       # 25 m3/min per kg fired at once
    min_velocity_ms: float = Field(default=0.0, ge=0)   # needs the branch's area_m2
    min_m3s: float = Field(default=0.0, ge=0)   # a floor given outright


class Network(Model):
    branches: dict[str, Branch] = Field(min_length=1)
    users: dict[str, UserPoint] = {}
    surface: str = "surface"                    # the junction that is the atmosphere
