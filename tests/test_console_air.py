"""The console's compressed-air screen (issue 14, item 7) on a hand-filled client in
both languages: the station's pressure, delivery, specific power, cooling water and
supply; the compressor table with a trip and its cause; the dialogs say the interlock
state before anything is sent, and a machine the lead/lag runs is not commanded blindly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_console import foreign_words, text, until, visible_text
from textual.widgets import ContentSwitcher, DataTable

from fixedsite.console import app as console
from fixedsite.console.client import SiteClient, Value

T0 = 1_790_000_000.0
# units, key names and the user's id
ALLOWED = {"MPa", "kW", "kW/", "m", "min", "h", "s", "Enter", "Esc", "y", "n", "PLC", "l", "u",
           "li"}


def fixed_client(lang: str, role: str = "operator") -> SiteClient:
    """A station whose ids are not the demo's: found by kind, never by name."""
    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    c.connected = True
    s = "ca"
    v: dict[str, Any] = {
        f"{s}.rx.pressure": 0.612, f"{s}.rx.air_flow": 84.0, f"{s}.rx.supply_ok": True,
        f"{s}.rx.fallback": False, f"{s}.control.specific_power": 6.05,
        f"{s}.control.in_band_pct": 97.5, f"{s}.control.loaded": 1.0,
        f"{s}.control.status": "in band 0.60-0.68 MPa",
        f"{s}.water.state": "proven", f"{s}.water.water_temp": 27.5,
        f"{s}.water.status": "flow proven on p1",
    }
    machines = {"k1": ("loaded", 2, 0, "", 81.0, 0.35, 226.0),
                "k2": ("tripped", 1, 1, "PLC trip 1: discharge over-temperature", 121.0,
                       0.0, 0.0),
                "k3": ("stopped", 2, 0, "", 30.0, 0.0, 0.0)}
    for m, (state, mode, code, why, temp, oil, kw) in machines.items():
        p = f"{s}.{m}"
        v |= {f"{p}.state": state, f"{p}.mode": mode, f"{p}.fault_code": code,
              f"{p}.fault_reason": why, f"{p}.discharge_temp": temp, f"{p}.oil_pressure": oil,
              f"{p}.power": kw, f"{p}.run_hours": 1234.5, f"{p}.loaded_hours": 1002.0,
              f"{p}.specific_power": 6.1, f"{p}.local": False}
    c.values = {k: Value(x, True, ts=T0 - 5) for k, x in v.items()}
    c.kinds = {"site": "site", s: "compressed_air", f"{s}.k1": "compressor",
               f"{s}.k2": "compressor", f"{s}.k3": "compressor", f"{s}.rx": "station",
               f"{s}.water": "cooling", f"{s}.p1": "water_pump"}
    c.site_now = T0
    c.role = role
    zh = lang == "zh_CN"
    c.names = {s: "空压机站" if zh else "Compressor station"}
    return c


def view_key(app: Any) -> str:
    return str([sc.view for sc in app.VIEWS].index("compressed_air") + 2)


async def test_the_air_view_in_english() -> None:
    app = console.make_console(fixed_client("en"), "en", "Demo mine")
    async with app.run_test(size=(140, 40)) as pilot:
        over = text(app, "#overview")
        assert "Compressor station: 0.612 MPa  1/3 loaded" in over, over
        await pilot.press(view_key(app))
        assert app.query_one("#views", ContentSwitcher).current == "compressed_air"
        head = text(app, "#air_station")
        assert "Pressure 0.612 MPa" in head and "delivery 84 m3/min" in head, head
        assert "specific power 6.05 kW/(m3/min)" in head and "in band 97.5 %" in head
        assert "Cooling water: proven" in head and "flow proven on p1" in head
        table = app.query_one("#compressors", DataTable)
        await until(pilot, lambda: table.row_count == 3, "three compressors")
        cell = {str(k.value): [str(x) for x in table.get_row(k)] for k in table.rows}
        assert cell["ca.k1"][1] == "LOADED" and cell["ca.k1"][2] == "remote auto"
        assert "TRIPPED" in cell["ca.k2"][1] and cell["ca.k2"][3] == "121"
        # the tripped one is in remote-manual: reset asks, showing the cause
        table.move_cursor(row=1)
        await pilot.press("r")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the reset dialog")
        shown = visible_text(app)
        assert "Reset ca.k2?" in shown or "Reset k2?" in shown, shown
        assert "Cooling water proven" in shown and "supply ok" in shown
        assert "PLC trip 1: discharge over-temperature" in shown
        await pilot.press("escape")
        # one the lead/lag runs: said, and an operator is told who may switch it
        table.move_cursor(row=0)
        await pilot.press("x")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the auto hint")
        shown = visible_text(app)
        assert "is in remote auto: the lead/lag runs it." in shown
        assert "Ask an engineer" in shown
        await pilot.press("escape")


async def test_the_air_view_in_chinese_has_no_english() -> None:
    app = console.make_console(fixed_client("zh_CN"), "zh_CN", "演示矿井")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(view_key(app))
        table = app.query_one("#compressors", DataTable)
        await until(pilot, lambda: table.row_count == 3, "every row")
        shown = visible_text(app)
        assert "空压机站" in shown and "跳闸" in shown and "冷却水" in shown, shown
        assert "压力在 0.60-0.68 MPa 范围内" in shown
        words = [w for w in foreign_words(shown) if w not in ALLOWED]
        assert words == [], words
        table.move_cursor(row=1)
        await pilot.press("r")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the reset dialog")
        shown = visible_text(app)
        assert "PLC 跳闸 1：排气超温" in shown, shown
        words = [w for w in foreign_words(shown) if w not in ALLOWED]
        assert words == [], words
        await pilot.press("escape")
