"""The HIL's plant kept across restarts: what a real pump room would still be doing after
the simulator was stopped and started again (levels, run hours, energy counters, modes,
latched trips, a stuck valve), so a restart of the HIL does not reset the plant while the
controller's history and audit carry on.

Saved as JSON, atomically (a temp file in the same dir, fsync, rename), on stop and every
so often while running. Read back strictly: a file that is not ours, is corrupt, or was
saved for another layout (a pump more or less, other names) is refused with one line
saying why, and the plant starts fresh; nothing in it is ever taken as a default.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fixedsite.hil.drainage.plant import PumpState

if TYPE_CHECKING:
    from fixedsite.hil.site import DrainageUnit

FORMAT = "fixedsite-hil-state"
VERSION = 1
STATE_NAME = "hil-state.json"


class StateError(ValueError):
    """A state file that must not be restored: the message says why, in one line."""


def layout(units: list[DrainageUnit], names: list[Any]) -> list[dict[str, Any]]:
    """What the state was saved for: a restored plant must have the same equipment."""
    return [{"system": n.system, "plc": n.plc, "pumps": n.pumps, "valves": n.valves,
             "sensors": n.sensors} for n in names]


def snapshot(units: list[DrainageUnit], names: list[Any], site_id: str,
             sim_time: float) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for u in units:
        plant, plc = u.plant, u.plc
        out.append({
            "sump": {"volume": plant.sump.volume, "overflowed_m3": plant.sump.overflowed_m3,
                     "max_level": plant.max_level, "min_level": plant.min_level},
            "inflow": {"ar": plant.inflow._ar,   # noqa: SLF001 - the noise's memory
                       "now": plant.inflow_now},
            "pumps": [dataclasses.asdict(p) for p in plant.pumps],
            "valves": [{"position": v.position, "target": v.target, "stuck": v.stuck}
                       for v in plant.valves],
            "sensors": [{"stuck_at": s.stuck_at, "drift_m_per_h": s.drift_m_per_h,
                         "offset_m": s.offset_m} for s in plant.sensors],
            "plc": {"coils": list(plc.coils), "hr": list(plc.hr), "fault": list(plc.fault),
                    "trip_injected": list(plc.trip_injected), "local": list(plc.local),
                    "fallback": plc.fallback, "demand": plc._demand},  # noqa: SLF001
        })
    return {"format": FORMAT, "version": VERSION, "site": site_id, "saved_at": time.time(),
            "sim_time": sim_time, "layout": layout(units, names), "units": out}


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
def _get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise StateError(f"{where}{key}: missing")
    return d[key]


def _real(x: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) \
            or not lo <= x <= hi:
        raise StateError(f"{where}: not a number in range ({x!r})")
    return float(x)


def _kind(like: Any, x: Any, where: str) -> Any:
    """``x`` checked against the type of ``like``, the value a fresh plant holds."""
    if isinstance(like, bool):
        if not isinstance(x, bool):
            raise StateError(f"{where}: expected true or false ({x!r})")
        return x
    if isinstance(like, int):
        if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 2**32:
            raise StateError(f"{where}: expected a whole number >= 0 ({x!r})")
        return x
    return _real(x, where)


def _list(like: list[Any], x: Any, where: str) -> list[Any]:
    if not isinstance(x, list) or len(x) != len(like):
        raise StateError(f"{where}: expected a list of {len(like)}")
    return [_kind(a, b, f"{where}.{i}") for i, (a, b) in enumerate(zip(like, x, strict=True))]


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


def restore(data: dict[str, Any], units: list[DrainageUnit], names: list[Any]) -> None:
    """Put a saved state into freshly built units, all of it or nothing: every value is
    checked before the first is set."""
    saved = data.get("layout")
    if saved != layout(units, names):
        raise StateError(f"saved for another plant layout ({_layout_text(saved)}; the "
                         f"config has {_layout_text(layout(units, names))})")
    states = _get(data, "units", "")
    if not isinstance(states, list) or len(states) != len(units):
        raise StateError("units: not one entry per pump room")
    sets: list[Callable[[], None]] = []
    for k, (u, s) in enumerate(zip(units, states, strict=True)):
        sets += _unit(u, s, f"units.{k}.")
    for apply in sets:
        apply()


def _unit(u: DrainageUnit, s: Any, w: str) -> list[Callable[[], None]]:
    plant, plc = u.plant, u.plc
    sets: list[Callable[[], None]] = []
    sump = _get(s, "sump", w)
    volume = _real(_get(sump, "volume", f"{w}sump."), f"{w}sump.volume", 0,
                   plant.sump.capacity)
    over = _real(_get(sump, "overflowed_m3", f"{w}sump."), f"{w}sump.overflowed_m3", 0)
    hi = _real(_get(sump, "max_level", f"{w}sump."), f"{w}sump.max_level", 0)
    lo = _real(_get(sump, "min_level", f"{w}sump."), f"{w}sump.min_level", 0)
    ar = _real(_get(_get(s, "inflow", w), "ar", f"{w}inflow."), f"{w}inflow.ar", -10, 10)
    inflow = _real(_get(_get(s, "inflow", w), "now", f"{w}inflow."), f"{w}inflow.now", 0)

    def set_sump() -> None:
        plant.sump.volume, plant.sump.overflowed_m3 = volume, over
        plant.max_level, plant.min_level = hi, lo
        plant.inflow._ar, plant.inflow_now = ar, inflow  # noqa: SLF001
    sets.append(set_sump)
    pumps = _get(s, "pumps", w)
    if not isinstance(pumps, list) or len(pumps) != len(plant.pumps):
        raise StateError(f"{w}pumps: not one entry per pump")
    for i, (p, saved) in enumerate(zip(plant.pumps, pumps, strict=True)):
        values = {f.name: _kind(getattr(PumpState(), f.name),
                                _get(saved, f.name, f"{w}pumps.{i}."), f"{w}pumps.{i}.{f.name}")
                  for f in dataclasses.fields(PumpState)}
        sets.append(lambda p=p, values=values: _set(p, **values))
    valves = _get(s, "valves", w)
    if not isinstance(valves, list) or len(valves) != len(plant.valves):
        raise StateError(f"{w}valves: not one entry per valve")
    for i, (v, saved) in enumerate(zip(plant.valves, valves, strict=True)):
        pos = _real(_get(saved, "position", f"{w}valves.{i}."), f"{w}valves.{i}.position", 0, 1)
        tgt = _real(_get(saved, "target", f"{w}valves.{i}."), f"{w}valves.{i}.target", 0, 1)
        stuck = _kind(True, _get(saved, "stuck", f"{w}valves.{i}."), f"{w}valves.{i}.stuck")
        sets.append(lambda v=v, pos=pos, tgt=tgt, stuck=stuck: _set(v, position=pos,
                                                                     target=tgt, stuck=stuck))
    sensors = _get(s, "sensors", w)
    if not isinstance(sensors, list) or len(sensors) != len(plant.sensors):
        raise StateError(f"{w}sensors: not one entry per level sensor")
    for j, (sensor, saved) in enumerate(zip(plant.sensors, sensors, strict=True)):
        where = f"{w}sensors.{j}."
        at = _get(saved, "stuck_at", where)
        at = None if at is None else _real(at, f"{where}stuck_at", 0)
        drift = _real(_get(saved, "drift_m_per_h", where), f"{where}drift_m_per_h", -10, 10)
        offset = _real(_get(saved, "offset_m", where), f"{where}offset_m", -1e3, 1e3)
        sets.append(lambda sensor=sensor, at=at, drift=drift, offset=offset: _set(
            sensor, stuck_at=at, drift_m_per_h=drift, offset_m=offset))
    p = _get(s, "plc", w)
    coils = _list(plc.coils, _get(p, "coils", f"{w}plc."), f"{w}plc.coils")
    hr = _list(plc.hr, _get(p, "hr", f"{w}plc."), f"{w}plc.hr")
    if any(x > 65535 for x in hr):
        raise StateError(f"{w}plc.hr: a register above 65535")
    fault = _list(plc.fault, _get(p, "fault", f"{w}plc."), f"{w}plc.fault")
    trip = _list(plc.trip_injected, _get(p, "trip_injected", f"{w}plc."),
                 f"{w}plc.trip_injected")
    local = _list(plc.local, _get(p, "local", f"{w}plc."), f"{w}plc.local")
    fallback = _kind(True, _get(p, "fallback", f"{w}plc."), f"{w}plc.fallback")
    demand = _kind(0, _get(p, "demand", f"{w}plc."), f"{w}plc.demand")
    if demand > len(plant.pumps):
        raise StateError(f"{w}plc.demand: more pumps than there are ({demand})")

    def set_plc() -> None:
        plc.coils[:], plc.hr[:], plc.fault[:] = coils, hr, fault
        plc.trip_injected[:], plc.local[:] = trip, local
        plc.fallback, plc._demand = fallback, demand  # noqa: SLF001
    sets.append(set_plc)
    return sets


def _set(obj: object, **values: Any) -> None:
    for k, v in values.items():
        setattr(obj, k, v)


def _layout_text(lay: Any) -> str:
    if not isinstance(lay, list):
        return "no layout"
    try:
        return ", ".join(f"{u['system']}: {len(u['pumps'])} pumps" for u in lay)
    except (TypeError, KeyError):
        return "an unreadable layout"
