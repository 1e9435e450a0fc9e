"""Snapshots of the console's main screens in both languages, on fixed data.

The client is filled by hand (no server), so every run draws the same screen; a change in
layout, wording or colour shows up as an SVG diff. After an intended change:
``.venv/bin/python -m pytest tests/test_console_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixedsite.console.app import make_console
from fixedsite.console.client import AlarmRow, SiteClient, Value

T0 = 1_790_000_000.0


def fixed_client(lang: str) -> SiteClient:
    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    c.connected = True
    v: dict[str, Any] = {"comm.drain1.online": True, "drainage.sump.level": 1.734,
                         "drainage.sump.fill": 37.2, "drainage.control.status": "demand 2 (plan)",
                         "drainage.plc1.fallback": False,
                         "controller.availability.fault_h": 1.2,
                         "controller.availability.sensors_ok_pct": 98.5}
    for i in range(1, 5):
        on = i <= 2
        v |= {f"drainage.pump{i}.run_cmd": on, f"drainage.pump{i}.running": on,
              f"drainage.pump{i}.state": "running" if on else "stopped",
              f"drainage.pump{i}.mode": 2.0 if i != 4 else 1.0,
              f"drainage.pump{i}.local": False,
              f"drainage.pump{i}.flow": 281.0 if on else 0.0,
              f"drainage.pump{i}.current": 36.5 if on else 0.0,
              f"drainage.pump{i}.bearing_temp": 57.1 if on else 24.0,
              f"drainage.pump{i}.stator_temp": 61.3 if on else 24.0,
              f"drainage.pump{i}.run_hours": 100.0 * i}
    c.values = {k: Value(x, True, ts=T0 - 5) for k, x in v.items()}
    c.values["drainage.pump3.state"] = Value("fault", True)
    # not good: dimmed, with the reason and how long ago (2 min 10 s)
    c.values["drainage.pump3.bearing_temp"] = Value(24.0, False, why="comm_fail",
                                                    ts=T0 - 130)
    c.kinds = {"drainage": "drainage", "drainage.sump": "sump"} | {
        f"drainage.pump{i}": "pump" for i in range(1, 5)}         # as site.Kinds answers
    c.site_now = T0
    c.role = "operator"
    zh = lang == "zh_CN"
    c.names = {f"drainage.pump{i}": f"{i}号主排水泵" if zh else f"Main pump {i}"
               for i in range(1, 5)} | {"drainage": "-350 m 水平主排水" if zh else
                                        "Main drainage, -350 m level"}
    c.alarms = {"drainage.pump3.FAULT": AlarmRow(
        "drainage.pump3.FAULT", "Main pump 3 fault", 2, "active", T0 - 300,
        text_zh="3号主排水泵 故障", detail="PLC trip 1: motor overload relay tripped"),
        "drainage.sump.level.H": AlarmRow(
            "drainage.sump.level.H", "Main sump level H (2.2)", 2, "acked", T0 - 3600,
            acked=T0 - 3000, acked_by="li", text_zh="主水仓水位 高限（2.2）")}
    return c


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("screen", ["1", "2", "3", "5"])
def test_screen(snap_compare: Any, lang: str, screen: str, size: tuple[int, int]) -> None:
    """80x24 is the smallest terminal a console must work in: nothing cut off there."""
    app = make_console(fixed_client(lang), lang, "演示矿井" if lang == "zh_CN" else "Demo mine")
    assert snap_compare(app, press=[screen], terminal_size=size)


def test_the_drainage_view_finds_rooms_and_pumps_by_kind_whatever_they_are_called() -> None:
    """A site may call its pumps anything (``main_a``, ``P-101``): the view takes them from
    ``site.Kinds``, in the config's order, never from the word "pump" in a tag name."""
    from types import SimpleNamespace

    from fixedsite.console.drainage import all_pumps, pumps, rooms

    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    c.kinds = {"site": "site", "west": "drainage", "west.P-102": "pump",
               "west.P-101": "pump", "west.well": "sump", "drainage": "drainage",
               "drainage.main_a": "pump", "fans": "ventilation", "fans.pump9": "fan"}
    c.values = {"west.P-102.run_cmd": Value(True, True), "fans.pump9.run_cmd": Value(1, True)}
    app = SimpleNamespace(client=c)
    assert rooms(app) == ["drainage", "west"]                 # the main room first
    assert pumps(app, "west") == ["P-102", "P-101"]           # as configured, not sorted
    assert all_pumps(app) == ["drainage.main_a", "west.P-102", "west.P-101"]


def test_without_site_kinds_the_drainage_view_still_finds_its_rooms() -> None:
    """An older server does not answer site.Kinds: the rooms and pumps are taken from the
    tags served (a level control's status, pumps' run commands), never an empty screen;
    with Kinds, a sump called ``well`` is read where it is."""
    from types import SimpleNamespace

    from fixedsite.console.drainage import overview, pumps, rooms

    c = fixed_client("en")
    c.kinds = {}
    app = SimpleNamespace(client=c)
    assert rooms(app) == ["drainage"] and pumps(app, "drainage") == [
        "pump1", "pump2", "pump3", "pump4"]
    c.kinds = {"west": "drainage", "west.well": "sump", "west.p1": "pump",
               "west.plcA": "plc_status"}
    c.values = {"west.well.level": Value(1.25, True), "west.control.status": Value("ok", True),
                "west.plcA.fallback": Value(True, True)}
    shown: list[str] = []
    app = SimpleNamespace(client=c, t=lambda k: k, v=c.values.get,
                          fv=lambda path, unit="", digits=1, text=None: shown.append(path)
                          or f"<{path}>")
    app.t.text = str
    lines = overview(app)
    assert "west.well.level" in shown and "west.plcA.fallback" not in shown   # trusted: banner
    assert any("fallback" in line and "west" in line for line in lines), lines


def test_a_console_has_a_view_for_each_kind_of_system_its_site_has() -> None:
    """A drainage-only site shows no empty ventilation view, and its keys (2 drainage,
    3 alarms) do not move because another plug-in is installed."""
    c = fixed_client("en")                                 # kinds: drainage only
    app = make_console(c, "en", "Demo mine")
    assert [v.view for v in app.VIEWS] == ["drainage"]
    keys = {k: a for k, a, _d, _v in app.KEYS}
    assert keys["2"] == "show('drainage')" and keys["3"] == "show('alarms')"
    c.kinds = c.kinds | {"vent": "ventilation"}
    both = make_console(c, "en", "Demo mine")
    assert [v.view for v in both.VIEWS] == ["drainage", "ventilation"]
    assert {k: a for k, a, _d, _v in both.KEYS}["3"] == "show('ventilation')"
