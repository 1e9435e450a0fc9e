"""The console's ventilation screen (issue 12, item 4): on a hand-filled client in both
languages (what it shows, what its keys say before anything is sent), and end to end on
the ventilation HIL over S7 with the controller, its OPC UA server and the console driven
by Textual's pilot (a changeover confirmed ends on fan2; a reversal asked by an operator
is refused with the reason shown)."""

from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
from conftest import Rig, free_port
from test_console import foreign_words, text, until, visible_text
from textual.widgets import ContentSwitcher, DataTable, Input

import fixedsite.console.app as console_app
from fixedsite import systems
from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, parse
from fixedsite.console.client import SiteClient, Value
from fixedsite.hil.demo_config import config_text
from fixedsite.northbound import Northbound
from fixedsite.users import UserStore

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "configs" / "ventilation-site.toml"
SCREEN_REF = "fixedsite.console.ventilation:SCREEN"
T0 = 1_790_000_000.0
# on a Chinese screen: the user (an id), SI units and the keys are not English words
UNITS_AND_KEYS = {"li", "Pa", "mm/s", "v", "e", "o", "k", "w", "i", "STOP", "REVERSE"}


@pytest.fixture
def console() -> Iterator[ModuleType]:
    """The console app with the ventilation screen registered: by its SPEC, else (before
    sequences/ventilation/system.py names it) registered here and put back afterwards."""
    before = systems.get("ventilation")
    if before.console == SCREEN_REF:
        yield console_app
        return
    systems.register(dataclasses.replace(before, console=SCREEN_REF))
    try:
        yield importlib.reload(console_app)
    finally:
        systems.register(before)
        importlib.reload(console_app)


def view_key(app: Any) -> str:
    """The number key of the ventilation view (after the overview, among the site's)."""
    views = [s.view for s in getattr(app, "VIEWS", None) or console_app.SCREENS]
    return str(views.index("ventilation") + 2)


# --- a hand-filled client ---------------------------------------------------------------------
def fixed_client(lang: str, role: str = "operator") -> SiteClient:
    """A ventilation system whose ids are not the demo's: found by kind, never by name."""
    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    c.connected = True
    s = "vs"
    v: dict[str, Any] = {
        "comm.vent1.online": True,
        f"{s}.station.state": "running", f"{s}.station.on_line": "fan_a",
        f"{s}.station.status": "fan_a on line", f"{s}.station.fault_reason": "",
        f"{s}.station.airflow_pct": 101.4,
        f"{s}.station.changeover_min_pct": 91.25, f"{s}.station.failover_s": 34.0,
        f"{s}.station.last_changeover": "changeover to fan_a in 212 s: lowest 91.2 % of "
        "nominal, 0 s below 80 %, 120 m3 of air not delivered",
        f"{s}.station.last_failover": "", f"{s}.station.last_reversal": "",
        f"{s}.plc_s.fallback": False,
        f"{s}.q_shaft.airflow": 147.1, f"{s}.q_shaft.pressure": -2650.0,
        f"{s}.q_shaft.temperature": 18.2,
        f"{s}.q_face.airflow": 40.2,
        f"{s}.D1.state": "closed", f"{s}.D1.opened": False, f"{s}.D1.closed": True,
        f"{s}.D1.warning": False, f"{s}.D1.obstructed": False, f"{s}.D1.refused": False,
        f"{s}.D1.fault": False, f"{s}.D1.fault_reason": "",
        f"{s}.D2.state": "fault", f"{s}.D2.opened": False, f"{s}.D2.closed": False,
        f"{s}.D2.warning": True, f"{s}.D2.obstructed": True, f"{s}.D2.refused": False,
        f"{s}.D2.fault": False,
        f"{s}.D2.fault_reason": "D2 obstructed while closing: the PLC took it back",
        f"{s}.win_1.state": "moving", f"{s}.win_1.position": 31.0, f"{s}.win_1.position_sp": 45.0,
        f"{s}.win_1.fault": False,
        f"{s}.n_face.state": "running", f"{s}.n_face.working": "X1",
        f"{s}.n_face.ventilated": True, f"{s}.n_face.power_lockout": False,
        f"{s}.s_face.state": "no_air", f"{s}.s_face.working": "Y1",
        f"{s}.s_face.ventilated": False, f"{s}.s_face.power_lockout": True,
    }
    for fan, on in (("fan_a", True), ("fan_b", False)):
        p = f"{s}.{fan}"
        v |= {f"{p}.running": on, f"{p}.ready": True, f"{p}.local": not on,
              f"{p}.fault_code": 0, f"{p}.speed_sp": 100.0, f"{p}.speed": 100.0 if on else 0.0,
              f"{p}.reversed": False, f"{p}.airflow": 147.3 if on else 0.0,
              f"{p}.static_pressure": 2712.0 if on else 0.0, f"{p}.power": 512.0 if on else 0.0,
              f"{p}.bearing_temp": 61.0 if on else 22.0, f"{p}.vibration": 2.31 if on else 0.0}
    for fan, on, code in (("X1", True, 0), ("X2", False, 0), ("Y1", False, 1),
                          ("Y2", False, 0)):
        p = f"{s}.{fan}"
        v |= {f"{p}.running": on, f"{p}.run_cmd": on, f"{p}.local": False,
              f"{p}.fault_code": code, f"{p}.airflow": 7.9 if on else 0.0}
    c.values = {k: Value(x, True, ts=T0 - 5) for k, x in v.items()}
    # not good: dimmed, with the reason and how long ago (2 min 10 s), never blank
    c.values[f"{s}.fan_a.bearing_temp"] = Value(61.0, False, why="comm_fail", ts=T0 - 130)
    c.kinds = {"site": "site", s: "ventilation", f"{s}.fan_a": "fan", f"{s}.fan_b": "fan",
               f"{s}.fan_a_in": "damper", f"{s}.plc_s": "plc_status", f"{s}.q_shaft": "air_sensor",
               f"{s}.q_face": "air_sensor", f"{s}.D1": "door", f"{s}.D2": "door",
               f"{s}.win_1": "window", f"{s}.X1": "aux_fan", f"{s}.X2": "aux_fan",
               f"{s}.Y1": "aux_fan", f"{s}.Y2": "aux_fan"}
    c.site_now = T0
    c.role = role
    zh = lang == "zh_CN"
    c.names = {s: "矿井主通风" if zh else "Main ventilation",
               f"{s}.fan_a": "1号主通风机" if zh else "Main fan 1",
               f"{s}.fan_b": "2号主通风机" if zh else "Main fan 2",
               f"{s}.q_shaft": "回风井测风站" if zh else "Return shaft air station"}
    return c


async def test_the_ventilation_view_in_english(console: ModuleType) -> None:
    app = console.make_console(fixed_client("en"), "en", "Demo mine")
    async with app.run_test(size=(120, 36)) as pilot:
        over = text(app, "#overview")
        assert "Main ventilation: Main fan 1 on line, shaft air 147.1 m3/s (101 % of " \
               "nominal)" in over, over
        assert re.search(r"TRIPPED .* Y1", over) and re.search(r"POWER LOCKOUT .* s_face", over)
        assert "Faces: 1/2 ventilated" in over
        await pilot.press(view_key(app))
        assert app.query_one("#views", ContentSwitcher).current == "ventilation"
        head = text(app, "#vent-head")
        assert "Main ventilation: fan_a on line" in head
        assert "Return shaft air station: 147.1 m3/s (101 % of nominal)  -2650 Pa" in head
        assert "Changeover lowest 91.2 %" in head and "Failover 34 s" in head
        table = app.query_one("#vent-eq", DataTable)
        await until(pilot, lambda: table.row_count == 11, "every row")
        cell = {str(k.value): [str(c) for c in table.get_row(k)] for k in table.rows}
        # main fans, faces, their auxiliary fans, doors, windows (no damper, no sensor)
        assert list(cell) == ["vs.fan_a", "vs.fan_b", "vs.n_face", "vs.s_face", "vs.X1", "vs.X2",
                              "vs.Y1", "vs.Y2", "vs.D1", "vs.D2", "vs.win_1"]
        assert cell["vs.fan_a"][:4] == ["Main fan 1", "on line", "100", "147.3"]
        assert "⟂ comm lost 00:02:10" in cell["vs.fan_a"][6]           # dimmed, never blank
        assert cell["vs.fan_b"][1] == "standby, LOCAL"
        assert "TRIPPED: trip code 1" in cell["vs.Y1"][1]
        assert cell["vs.X1"][1] == "running (working)"
        assert "POWER LOCKOUT" in cell["vs.s_face"][1]
        assert "FAULT (warning, obstructed)" in cell["vs.D2"][1]
        assert cell["vs.win_1"][1].startswith("moving → 45.0 %") and cell["vs.win_1"][2] == "31.0"
        # a changeover the gate would refuse (the standby in LOCAL): said, not offered
        await pilot.press("c")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the changeover dialog")
        shown = str(app.screen.query_one("#info-text").render())
        assert "Changeover from Main fan 1 to Main fan 2" in shown
        assert "REFUSED" in shown and "Main fan 2 is in LOCAL at the field panel" in shown
        assert "Main fan 2: standby, LOCAL" in shown                     # the interlocks
        await pilot.press("escape")
        # a reversal as an operator: the role, before any typing
        await pilot.press("v")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the reverse dialog")
        shown = str(app.screen.query_one("#info-text").render())
        assert "Reverse needs the engineer role; you are operator." in shown, shown
        await pilot.press("escape")
        await pilot.press("i")                                       # the records in full
        await until(pilot, lambda: len(app.screen_stack) == 2, "the records")
        shown = str(app.screen.query_one("#info-text").render())
        assert "120 m3 of air not delivered" in shown and "Failover: none yet" in shown
        await pilot.press("escape")


async def test_keys_on_doors_and_windows_before_anything_is_sent(console: ModuleType) -> None:
    """An engineer's keys: a door's open shows the other doors first; a window's set takes
    only 0-100 %; a typed stop needs the word (else nothing is sent). The client has no
    server: a command that were sent would answer "disconnected"."""
    app = console.make_console(fixed_client("en", "engineer"), "en", "Demo mine")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press(view_key(app))
        table = app.query_one("#vent-eq", DataTable)
        await until(pilot, lambda: "vs.D1" in table.rows, "the doors")
        table.move_cursor(row=table.get_row_index("vs.D1"))
        await pilot.press("o")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the open dialog")
        shown = str(app.screen.query_one("#confirm-text").render())
        assert "Open door D1?" in shown and "Interlocks: closed" in shown
        assert "D2: FAULT (warning, obstructed)" in shown                 # its partner
        await pilot.press("n")
        table.move_cursor(row=table.get_row_index("vs.D2"))
        await pilot.press("o")                                          # faulted: reset first
        await until(pilot, lambda: len(app.screen_stack) == 2, "the refusal")
        shown = str(app.screen.query_one("#info-text").render())
        assert "D2 obstructed while closing" in shown and "reset it first" in shown
        await pilot.press("escape")
        table.move_cursor(row=table.get_row_index("vs.win_1"))
        await pilot.press("w")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the window dialog")
        field = app.screen.query_one(Input)
        assert field.value == "45.0"                                   # its set-point
        field.value = "140"
        await pilot.press("enter")
        await until(pilot, lambda: "from 0 to 100" in text(app, "#message"), "refused here")
        assert "disconnected" not in text(app, "#message")              # nothing was sent
        table.move_cursor(row=table.get_row_index("vs.fan_a"))
        await pilot.press("x")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the stop dialog")
        assert "Type STOP" in str(app.screen.query_one("#ask-title").render())
        app.screen.query_one(Input).value = "stp"
        await pilot.press("enter")
        await until(pilot, lambda: "not confirmed: type STOP" in text(app, "#message"),
                    "a mistyped word sends nothing")
        await pilot.press("o")                             # not a door: said what to pick
        await until(pilot, lambda: "Pick an air door" in text(app, "#message"), "the hint")


async def test_the_ventilation_view_in_chinese_has_no_english(console: ModuleType) -> None:
    app = console.make_console(fixed_client("zh_CN"), "zh_CN", "演示矿井")
    async with app.run_test(size=(120, 36)) as pilot:
        over = text(app, "#overview")
        assert "矿井主通风: 1号主通风机 主用运行, 风井风量 147.1 m3/s (101 % 额定)" in over, over
        assert [w for w in foreign_words(visible_text(app)) if w not in UNITS_AND_KEYS] == []
        await pilot.press(view_key(app))
        table = app.query_one("#vent-eq", DataTable)
        await until(pilot, lambda: table.row_count == 11, "every row")
        shown = visible_text(app)
        assert "备用, 就地" in shown and "风电闭锁断电" in shown and "跳闸" in shown
        assert [w for w in foreign_words(shown) if w not in UNITS_AND_KEYS] == [], shown
        for key in ("c", "v", "i"):
            await pilot.press(key)
            await until(pilot, lambda: len(app.screen_stack) == 2, f"the dialog of {key}")
            shown = visible_text(app)
            assert [w for w in foreign_words(shown) if w not in UNITS_AND_KEYS] == [], shown
            await pilot.press("escape")


def test_without_site_kinds_the_view_finds_its_equipment_by_signals() -> None:
    """An older server does not answer site.Kinds: systems by their station, each type
    by the signals it declares (a main fan is not taken for an auxiliary one)."""
    from types import SimpleNamespace

    from fixedsite.console.ventilation import faces, of, shaft_sensor, systems_of

    c = fixed_client("en")
    c.kinds = {}
    app = SimpleNamespace(client=c, v=c.values.get)
    assert systems_of(app) == ["vs"]
    assert of(app, "vs", "fan") == ["fan_a", "fan_b"]
    assert of(app, "vs", "aux_fan") == ["X1", "X2", "Y1", "Y2"]
    assert of(app, "vs", "door") == ["D1", "D2"] and of(app, "vs", "window") == ["win_1"]
    assert of(app, "vs", "air_sensor") == ["q_face", "q_shaft"]
    assert faces(app, "vs") == ["n_face", "s_face"]
    assert shaft_sensor(app, "vs") == "q_shaft"                    # it carries the most air


# --- end to end -------------------------------------------------------------------------------
SCALE = 120.0


def vent_config(tmp: Path) -> SiteConfig:
    """configs/ventilation-site.toml on free ports, with an OPC UA endpoint."""
    text_ = config_text(SITE)
    text_ = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text_)
    text_ = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {SCALE}", text_)
    text_ = re.sub(r'(?m)^dir = ".*"', f'dir = "{tmp}"', text_)
    text_ += f'\n[opcua]\nendpoint = "opc.tcp://127.0.0.1:{free_port()}/fixedsite/"\n'
    return parse(tomllib.loads(text_), "ventilation-console-test.toml")


class Env:
    def __init__(self, rig: Rig, nb: Northbound) -> None:
        self.rig, self.nb = rig, nb

    async def login(self, user: str) -> SiteClient:
        c = SiteClient(self.nb.cfg.endpoint, user, f"{user}-password",
                       self.rig.cfg.storage_dir() / f"pki-{user}")
        await c.connect()
        return c


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cfg = vent_config(tmp_path)
    assert cfg.opcua is not None
    rig = Rig(cfg, ScaledClock(SCALE))
    await rig.site.start()
    users = UserStore(tmp_path / "users.json")
    users.add("eng", "engineer", "eng-password")
    users.add("op", "operator", "op-password")
    ctl = await rig.start_controller()
    nb = Northbound(ctl, users, cfg.opcua, tmp_path / "pki")
    await nb.start()
    try:
        await rig.until(lambda: ctl.store.value("ventilation.station.state") == "running",
                        120, "fan1 adopted on line")
        yield Env(rig, nb)
    finally:
        await nb.stop()
        await rig.stop_controller()
        await rig.site.stop()


async def test_a_changeover_from_the_console_ends_on_fan2_and_an_operator_cannot_reverse(
        console: ModuleType, env: Env) -> None:
    ctl = env.rig.ctl
    assert ctl is not None
    client = await env.login("eng")
    try:
        app = console.make_console(client, "en", "ventilation")
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: "Main fan 1 on line" in text(app, "#overview"),
                        lambda: text(app, "#overview"))
            # the view by its action, not its key: on a busy process the pilot waits up
            # to 2 s after each key (the keys are the hand-filled tests' above)
            await app.run_action("show('ventilation')")
            table = app.query_one("#vent-eq", DataTable)
            await until(pilot, lambda: "ventilation.fan1" in table.rows, "the fans")

            def fan1() -> list[str]:
                return [str(c) for c in table.get_row("ventilation.fan1")]
            await until(pilot, lambda: fan1()[1] == "on line" and float(fan1()[3]) > 100,
                        lambda: f"fan1 on line with its air: {fan1()}")
            await pilot.press("c")
            await until(pilot, lambda: len(app.screen_stack) == 2, "the changeover dialog")
            shown = str(app.screen.query_one("#confirm-text").render())
            assert "Changeover from Main fan 1 to Main fan 2" in shown, shown
            await pilot.press("y")
            await until(pilot, lambda: "Done" in text(app, "#message"),
                        lambda: text(app, "#message"))
            await env.rig.until(lambda: ctl.store.value("ventilation.station.on_line")
                                == "fan2" and ctl.store.value("ventilation.station.state")
                                == "running", 900, "changeover to fan2")
            await until(pilot, lambda: [str(c) for c in table.get_row(
                "ventilation.fan2")][1] == "on line", "fan2 shown on line", tries=100)
            assert fan1()[1] == "standby"
            assert "Changeover lowest" in text(app, "#vent-head")
            assert [(r.command.action, r.command.user, r.decision.accepted)
                    for r in ctl.gate.records] == [("changeover", "eng", True)]
    finally:
        await client.close()
    client = await env.login("op")
    try:
        assert client.role == "operator"
        app = console.make_console(client, "en", "ventilation")
        async with app.run_test(size=(120, 36)) as pilot:
            await app.run_action("show('ventilation')")
            await pilot.press("v")
            await until(pilot, lambda: len(app.screen_stack) == 2, "the reverse dialog")
            shown = str(app.screen.query_one("#info-text").render())
            assert "REVERSE the mine's air" in shown
            assert "Reverse needs the engineer role; you are operator." in shown, shown
            await pilot.press("enter")
            assert len(app.screen_stack) == 1
        assert [r.command.action for r in ctl.gate.records] == ["changeover"]   # none sent
        # and the gate agrees: a reversal sent as this operator is refused, with the reason
        ok, why = await client.call("ventilation.station", "Reverse", "REVERSE")
        assert not ok and "engineer" in why, why
    finally:
        await client.close()
