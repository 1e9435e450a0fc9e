"""Raw PLC value to engineering units, the same rule for every protocol."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scaling:
    """Engineering value = raw * scale + offset (a 4-20 mA card's counts to metres)."""

    scale: float = 1.0
    offset: float = 0.0

    def to_eng(self, raw: float) -> float:
        if self.scale == 1.0 and self.offset == 0.0:
            return raw
        return raw * self.scale + self.offset

    def to_raw(self, eng: float) -> float:
        if self.scale == 1.0 and self.offset == 0.0:
            return eng
        raw = (eng - self.offset) / self.scale
        return round(raw) if abs(raw - round(raw)) < 1e-6 else raw
