"""The base every config model is built on, apart from the models themselves so that a
protocol or a system can declare its own section without importing the site config (which
is assembled from their registries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PositiveFloat, field_validator, model_validator

# No level, limit, scale, curve point, delay, flow or price of a plant is smaller than this
# (but 0) or larger than its inverse: such a number is a typo, and it overflows or divides
# by zero somewhere downstream (the HIL's pump curves square a rated flow).
TINY, HUGE = 1e-9, 1e9


def floats(v: Any) -> Iterator[float]:
    if isinstance(v, float):
        yield v
    elif isinstance(v, tuple | list):
        for x in v:
            yield from floats(x)


class Model(BaseModel):
    # allow_inf_nan=False: every float of the schema (levels, limits, scales, curve points,
    # ranges, delays, periods, flows, prices) must be finite; TOML's nan and inf are refused
    # here once rather than field by field; _plausible bounds their size the same way
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _plausible(cls, v: Any) -> Any:
        for x in floats(v):
            if x != 0 and not TINY <= abs(x) <= HUGE:
                raise ValueError(f"{x:g} is no plausible quantity here; expected 0 or a size "
                                 f"between {TINY:g} and {HUGE:g}")
        return v


class SignalMap(Model):
    """Where a signal is in its PLC and how its raw value becomes engineering units; the
    address's notation belongs to the PLC's protocol (drivers/registry.py)."""

    address: str
    unit: str | None = None
    range: tuple[float, float] | None = None
    scale: float = 1.0
    offset: float = 0.0
    word_order: Literal["big", "little"] | None = None
    period_s: PositiveFloat | None = None


SignalEntry = str | SignalMap


class EquipmentBase(Model):
    """What every equipment of every system has: its PLC, names for people, and its
    signals mapped to addresses; a system's equipment types add ``type`` and their own."""

    plc: str
    name: str = ""          # for people, in English; the id stands in when empty
    name_zh: str = ""       # the same in Chinese; the English (then the id) when empty
    signals: dict[str, SignalEntry] = {}


class ProfiledEquipment(EquipmentBase):
    """Equipment whose signals follow its PLC's profile (a relay's window, a compressor's
    slot): ``profile`` gives the whole map from the entry's own keys, or None when they
    do not say (the model then names what is missing); a ``signals`` table in the config
    overrides single entries."""

    @classmethod
    def profile(cls, data: dict[str, Any]) -> dict[str, Any] | None:
        return None

    @model_validator(mode="before")
    @classmethod
    def _profiled(cls, data: Any) -> Any:
        if isinstance(data, dict) and (mapped := cls.profile(data)) is not None:
            return {**data, "signals": {**mapped, **(data.get("signals") or {})}}
        return data
