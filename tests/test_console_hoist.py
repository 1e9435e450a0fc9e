"""The console's hoisting screen (issue 14, item 7): every hoist on one screen (central
control of several hoists), in both languages, from a hand-filled client; the dialogs
show the permissives before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_console import foreign_words, text, until, visible_text
from textual.widgets import ContentSwitcher, DataTable

from fixedsite.console import app as console
from fixedsite.console.client import SiteClient, Value

T0 = 1_790_000_000.0
ALLOWED = {"m", "s", "t", "h", "A", "m/s", "t/h", "Enter", "Esc", "y", "n", "c", "x", "l",
           "b", "r", "li", "PLC"}


def fixed_client(lang: str) -> SiteClient:
    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    c.connected = True
    v: dict[str, Any] = {}
    for h, state, status, x, speed, skip, dmg in (
            ("ha", "hoisting", "hoisting: 312 m", 312.0, 9.98, 19.1, False),
            ("hb", "tripped", "PLC trip 2: overwind", 450.6, 0.0, 9.6, True)):
        v |= {f"{h}.cycle.state": state, f"{h}.cycle.status": status,
              f"{h}.cycle.payload_t": 19.05, f"{h}.cycle.peak_current": 231.0,
              f"{h}.cycle.rms_current": 152.0, f"{h}.cycle.tonnage_hour": 380.0,
              f"{h}.cycle.tonnage_shift": 2450.0, f"{h}.cycle.refusal": "",
              f"{h}.w.position": x, f"{h}.w.speed": speed, f"{h}.w.speed_ref": speed,
              f"{h}.w.skip_load": skip, f"{h}.w.mode": 2, f"{h}.w.brake_test_ok": True,
              f"{h}.w.access_closed": True, f"{h}.rp.damage": dmg,
              f"{h}.ld.ore_bin_level": 48.0, f"{h}.sb.bin_level": 31.0}
    c.values = {k: Value(x, True, ts=T0 - 5) for k, x in v.items()}
    c.kinds = {"site": "site", "ha": "hoist", "hb": "hoist"} | {
        f"{h}.{e}": k for h in ("ha", "hb") for e, k in (
            ("w", "winder"), ("ld", "loading"), ("sb", "surface_bin"),
            ("rp", "rope_monitor"))}
    c.site_now = T0
    c.role = "operator"
    zh = lang == "zh_CN"
    c.names = {"ha": "主井提升机" if zh else "Main hoist",
               "hb": "副井提升机" if zh else "Aux hoist"}
    return c


def view_key(app: Any) -> str:
    return str([sc.view for sc in app.VIEWS].index("hoist") + 2)


async def test_the_hoists_view_in_english() -> None:
    app = console.make_console(fixed_client("en"), "en", "Demo mine")
    async with app.run_test(size=(160, 40)) as pilot:
        over = text(app, "#overview")
        assert "Main hoist: hoisting  380 t/h" in over and "Aux hoist: TRIPPED" in over, over
        await pilot.press(view_key(app))
        assert app.query_one("#views", ContentSwitcher).current == "hoist"
        head = text(app, "#hoist_head")
        assert "Main hoist: hoisting: 312 m" in head
        assert "Aux hoist: PLC trip 2: overwind" in head and "ROPE DAMAGE" in head
        table = app.query_one("#hoists", DataTable)
        await until(pilot, lambda: table.row_count == 2, "both hoists")
        cell = {str(k.value): [str(x) for x in table.get_row(k)] for k in table.rows}
        assert cell["ha"][1] == "hoisting" and cell["ha"][3] == "312"
        assert "TRIPPED" in cell["hb"][1] and cell["hb"][7] == "231/152"
        table.move_cursor(row=1)
        await pilot.press("r")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the reset dialog")
        shown = visible_text(app)
        assert "Reset the trip of Aux hoist?" in shown, shown
        assert "ropes NOT OK" in shown and "brake test ok" in shown
        await pilot.press("escape")


async def test_the_hoists_view_in_chinese_has_no_english() -> None:
    app = console.make_console(fixed_client("zh_CN"), "zh_CN", "演示矿井")
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press(view_key(app))
        table = app.query_one("#hoists", DataTable)
        await until(pilot, lambda: table.row_count == 2, "both hoists")
        shown = visible_text(app)
        assert "PLC 跳闸 2：过卷" in shown
        assert "保护跳闸" in shown and "钢丝绳损伤" in shown and "提升中" in shown, shown
        words = [w for w in foreign_words(shown) if w not in ALLOWED]
        assert words == [], words
        table.move_cursor(row=1)
        await pilot.press("r")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the reset dialog")
        words = [w for w in foreign_words(visible_text(app)) if w not in ALLOWED]
        assert words == [], words
        await pilot.press("escape")


def test_the_views_keep_their_number_keys_whatever_else_is_installed() -> None:
    """Each system gives its place (``console_order``): the registry's own order is by
    kind, which would move drainage off key 2 when compressed air was installed."""
    from fixedsite.console.screens import by_kind

    assert list(by_kind()) == ["drainage", "power", "ventilation", "compressed_air", "hoist"]
