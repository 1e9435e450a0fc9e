"""How values look on every screen (ISA-101): units always, '?' on anything not fresh."""

from __future__ import annotations

from typing import Any

PRIORITY_STYLE = {1: "bold white on red", 2: "bold black on yellow", 3: "yellow", 4: "cyan"}


def fmt(v: Any, unit: str = "", nd: int = 1) -> str:
    """A value for display: '?' marks one that is not good or not fresh."""
    if v is None:
        return "--"
    mark = "" if v.good and not v.stale else "?"
    x = v.value
    if isinstance(x, bool):
        text = "1" if x else "0"
    elif isinstance(x, float):
        text = f"{x:.{nd}f}"
    else:
        text = str(x)
    return f"{text}{unit}{mark}"
