"""Property: whatever is done to the demo config, ``check-config`` either refuses it with a
key path for every problem, or accepts it and a controller and a HIL site build from it.

The mutations are what a hurried engineer or an attacker does to a TOML file: values of
the wrong type, NaN and infinities, negatives and huge numbers, odd strings, deleted and
renamed keys, entries copied under odd names. A crash anywhere in between (a traceback
from the checks, the controller's constructor or the HIL's) fails the property.

Derandomized, so CI runs the same examples every time; widen ``max_examples`` and drop
``derandomize`` locally to hunt further.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import tomllib
from typing import Any

from conftest import DEMO_TEXT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixedsite.clock import ScaledClock
from fixedsite.config import ConfigError, SiteConfig, load, parse
from fixedsite.hil.site import HilSite
from fixedsite.runtime import Controller

DEMO_RAW = tomllib.loads(DEMO_TEXT)

WEIRD_NAMES = ["a.b", "", " ", "alarms", "site", "comm", "controller", "Start", "control",
               "plan", "x" * 100, "ns=2;s=x", "名字", "\x00", "-", "1", "pump1", "lt1",
               "drain1", "drainage", "lower", "sump", "valve1", "type", "signals"]

WEIRD_VALUES = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -1, -1.5, 0, 0.0,
                     2**63 - 1, -2**63, 1e308, -1e308, 5e-324, True, False, "", "nan",
                     "hr:0", "coil:0", "di:0", "ir:0:float32", "hr:65535:float32",
                     "ir:20.9", [], {}, [[]], [0], [0, 0], [[0, 0]], [[0, 0], [1, 1]],
                     [1e308, 1e308], [float("nan"), 1], {"address": "hr:500"},
                     {"address": "ir:0", "range": [0, 0]}, {"address": "hr:7", "scale": 0},
                     datetime.datetime(2026, 1, 1), datetime.time(1, 2)]),
    st.sampled_from(WEIRD_NAMES),
    st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.floats(),
    st.floats(min_value=-10, max_value=1e4),
    st.text(max_size=12),
    st.lists(st.floats(min_value=-1e3, max_value=1e3), max_size=3),
)

Path = tuple[str | int, ...]


def _paths(node: Any, at: Path = ()) -> list[Path]:
    out = [at] if at else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*at, i))
    return out


def _strings(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {s for v in node.values() for s in _strings(v)}
    if isinstance(node, list):
        return {s for v in node for s in _strings(v)}
    return {node} if isinstance(node, str) else set()


PATHS = _paths(DEMO_RAW)
# the 175 signal addresses would otherwise take most of the draws: every other entry
# (levels, limits, names, references, the plan, the tariff, the HIL) weighs four times
WEIGHTED = [p for p in PATHS if "signals" not in p] * 4 + [p for p in PATHS if "signals" in p]
# names, references and addresses of the demo itself: a mutation that points a reference
# at another real entry is the kind that passes the schema and must still be checked
CONFIG_STRINGS = sorted(_strings(DEMO_RAW) | set(WEIRD_NAMES))


def _near(x: float) -> st.SearchStrategy[Any]:
    """Plausible numbers around a config value: the ones that pass the schema and test
    the checks across entries (orderings, ranges, sizes)."""
    a = abs(x) * 2 + 1
    return st.one_of(st.sampled_from([x * 0.5, x * 2, -x, x + 1, x - 1, 0, 1, x * 10, x / 10,
                                      round(x)]),
                     st.floats(min_value=-a, max_value=a),
                     st.integers(min_value=-int(a), max_value=int(a)))


def _value_for(draw: st.DrawFn, current: Any) -> Any:
    if draw(st.integers(0, 3)) == 0:
        return draw(WEIRD_VALUES)
    if isinstance(current, bool):
        return not current
    if isinstance(current, int | float) and math.isfinite(current) and abs(current) < 1e12:
        return draw(_near(float(current)))
    if isinstance(current, str):
        return draw(st.sampled_from(CONFIG_STRINGS))
    if isinstance(current, list) and current:
        items = list(current)
        i = draw(st.integers(0, len(items) - 1))
        what = draw(st.sampled_from(["drop", "double", "reverse", "change"]))
        if what == "drop":
            items.pop(i)
        elif what == "double":
            items.insert(i, copy.deepcopy(items[i]))
        elif what == "reverse":
            items.reverse()
        else:
            items[i] = _value_for(draw, items[i])
        return items
    return draw(WEIRD_VALUES)


def _parent(raw: dict[str, Any], path: Path) -> Any:
    node: Any = raw
    for p in path[:-1]:
        node = node[p]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(DEMO_RAW)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in WEIGHTED if _reachable(raw, p)]
        path = draw(st.sampled_from(paths))
        parent, last = _parent(raw, path), path[-1]
        op = draw(st.sampled_from(["set", "set", "set", "set", "delete", "rename", "copy"]))
        if op == "set":
            parent[last] = _value_for(draw, parent[last])
        elif op == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            name = draw(st.one_of(st.sampled_from(CONFIG_STRINGS), st.text(max_size=8)))
            value = parent.pop(last) if op == "rename" else copy.deepcopy(parent[last])
            parent[name] = value
        else:
            parent.append(copy.deepcopy(parent[last]))
    return raw


def _reachable(raw: Any, path: Path) -> bool:
    node = raw
    for p in path:
        if isinstance(node, dict) and isinstance(p, str) and p in node:
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and p < len(node):
            node = node[p]
        else:
            return False
    return True


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [x for v in node.values() for x in _leaves(v)]
    if isinstance(node, list | tuple):
        return [x for v in node for x in _leaves(v)]
    return [node]


def _node_ids(ctl: Controller) -> None:
    """The OPC UA NodeIds northbound.Northbound._build would add for this controller's
    tags, folders and methods: each tag path must split into system.equipment.signal and
    no NodeId may be added twice (asyncua: BadNodeIdExists, or a pump's methods lost)."""
    ids = ["site", "alarms", "site.RecentCommands", "site.History", "alarms.Current",
           "alarms.Acknowledge", "alarms.Shelve", "alarms.Unshelve"]
    folders: set[str] = set()
    for path in sorted(ctl.store.paths()):
        parts = path.split(".", 2)
        assert len(parts) == 3, f"tag path {path!r} is not system.equipment.signal"
        system, equipment, _ = parts
        key = f"{system}.{equipment}"
        if system not in folders:
            folders.add(system)
            ids.append(system)
        if key not in folders:
            folders.add(key)
            ids.append(key)
            if key in ctl.sequences:
                ids += [f"{key}.{m}" for m in ("Start", "Stop", "Reset", "SetMode")]
        ids += [path, f"{path}.EngineeringUnits", f"{path}.EURange"]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    assert not dup, f"NodeIds added twice: {dup}"
    assert set(ctl.sequences) <= folders, "a pump without its folder loses its methods"


def _holds(raw: dict[str, Any]) -> None:
    try:
        cfg = parse(raw, "fuzz.toml")
    except ConfigError as e:
        assert e.problems, "a ConfigError with no problem in it"
        for key, message in e.problems:
            assert key, f"a problem without a key path: {message}"
            root = json.JSONDecoder().raw_decode(key)[0] if key.startswith('"') else \
                key.split(".")[0]
            assert root in raw or root in SiteConfig.model_fields, f"{key}: {message}"
            assert message
        return
    bad = [v for v in _leaves(cfg.model_dump()) if isinstance(v, float) and not math.isfinite(v)]
    assert not bad, f"accepted a non-finite number: {bad}"
    clock = ScaledClock(cfg.clock.scale)
    ctl = Controller(cfg, clock)
    _node_ids(ctl)
    site = HilSite(cfg, clock)
    now = clock.now()
    for u in site.units:              # what start() does before serving, and a step on
        u.plc.scan(now, 0.0)
        u.plant.step(now, 1.0)
        u.plc.scan(now + 1.0, 1.0)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_demo_is_refused_by_key_or_runs(raw: dict[str, Any]) -> None:
    _holds(raw)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DEMO_TEXT.encode()) - 1), st.binary(min_size=1, max_size=6))
def test_damaged_bytes_are_a_config_error_or_a_config(at: int, junk: bytes) -> None:
    """Bytes spliced into the file: a file-level problem (not UTF-8, not TOML) or keyed
    ones, never a crash."""
    import tempfile
    from pathlib import Path as FsPath

    data = DEMO_TEXT.encode()
    with tempfile.TemporaryDirectory() as d:
        path = FsPath(d) / "site.toml"
        path.write_bytes(data[:at] + junk + data[at:])
        try:
            load(path)
        except ConfigError as e:
            assert e.problems and all(m for _, m in e.problems)


def test_the_demo_itself_holds() -> None:
    """The property's baseline: the unmutated demo is accepted and builds."""
    _holds(copy.deepcopy(DEMO_RAW))
