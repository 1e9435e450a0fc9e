"""The HIL's plant kept across restarts: what a real plant would still be doing after the
simulator was stopped and started again (a pump room's levels, run hours, energy counters,
modes, latched trips, a stuck valve), so a restart of the HIL does not reset the plant
while the controller's history and audit carry on. Each unit says what of it is kept
(``HilUnit.layout``, ``snapshot``, ``restore``); this module holds the file.

Saved as JSON, atomically (a temp file in the same dir, fsync, rename), on stop and every
so often while running. Read back strictly: a file that is not ours, is corrupt, or was
saved for another layout (a pump more or less, other names) is refused with one line
saying why, and the plant starts fresh; nothing in it is ever taken as a default.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fixedsite.hil.unit import HilUnit

FORMAT = "fixedsite-hil-state"
VERSION = 1
STATE_NAME = "hil-state.json"


class StateError(ValueError):
    """A state file that must not be restored: the message says why, in one line."""


def layout(units: list[HilUnit]) -> list[dict[str, Any]]:
    """What the state was saved for: a restored plant must have the same equipment."""
    return [u.layout() for u in units]


def snapshot(units: list[HilUnit], site_id: str, sim_time: float) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "site": site_id, "saved_at": time.time(),
            "sim_time": sim_time, "layout": layout(units),
            "units": [u.snapshot() for u in units]}


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` so that ``path`` holds either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- reading back, strictly ---------------------------------------------------------------
def get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise StateError(f"{where}{key}: missing")
    return d[key]


def real(x: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) \
            or not lo <= x <= hi:
        raise StateError(f"{where}: not a number in range ({x!r})")
    return float(x)


def kind(like: Any, x: Any, where: str) -> Any:
    """``x`` checked against the type of ``like``, the value a fresh plant holds."""
    if isinstance(like, bool):
        if not isinstance(x, bool):
            raise StateError(f"{where}: expected true or false ({x!r})")
        return x
    if isinstance(like, int):
        if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 2**32:
            raise StateError(f"{where}: expected a whole number >= 0 ({x!r})")
        return x
    return real(x, where)


def list_of(like: list[Any], x: Any, where: str) -> list[Any]:
    if not isinstance(x, list) or len(x) != len(like):
        raise StateError(f"{where}: expected a list of {len(like)}")
    return [kind(a, b, f"{where}.{i}") for i, (a, b) in enumerate(zip(like, x, strict=True))]


def read(path: Path) -> dict[str, Any]:
    """The file's JSON if it is a HIL state file at all (format and version)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise StateError(f"cannot read it: {e.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StateError("not a HIL state file (not JSON: corrupt or foreign)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError("not a HIL state file (no fixedsite-hil-state marker)")
    if data.get("version") != VERSION:
        raise StateError(f"saved by another version of the HIL ({data.get('version')!r}, "
                         f"this one reads {VERSION})")
    return data


def restore(data: dict[str, Any], units: list[HilUnit]) -> None:
    """Put a saved state into freshly built units, all of it or nothing: every value is
    checked before the first is set."""
    saved = data.get("layout")
    if saved != layout(units):
        raise StateError(f"saved for another plant layout ({_layout_text(saved)}; the "
                         f"config has {_layout_text(layout(units))})")
    states = get(data, "units", "")
    if not isinstance(states, list) or len(states) != len(units):
        raise StateError("units: not one entry per simulated plant")
    sets: list[Callable[[], None]] = []
    for k, (u, s) in enumerate(zip(units, states, strict=True)):
        sets += u.restore(s, f"units.{k}.")
    for apply in sets:
        apply()


def assign(obj: object, **values: Any) -> None:
    for k, v in values.items():
        setattr(obj, k, v)


def _layout_text(lay: Any) -> str:
    if not isinstance(lay, list):
        return "no layout"
    try:
        return "; ".join(f"{u['system']}: " + ", ".join(
            f"{len(v)} {k}" for k, v in u.items() if isinstance(v, list)) for u in lay)
    except (TypeError, KeyError, AttributeError):
        return "an unreadable layout"
