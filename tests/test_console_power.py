"""The console's power screen (issue 13, item 8) on a hand-filled client in both
languages: the single-line view by substation and bus, the last fault located with its
verdict and COMTRADE record, restoration, the blocking links, the fire panel, and the
breaker dialogs (what the console reads of the interlocks before anything is sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_console import foreign_words, text, until, visible_text
from textual.widgets import ContentSwitcher, DataTable

from fixedsite.console import app as console
from fixedsite.console.client import SiteClient, Value

T0 = 1_790_000_000.0
# on a Chinese screen: ids, units, the fault's time, a file name and the keys are not words
ALLOWED = {"S", "li", "Ia", "A", "U", "kV", "ms", "s", "o", "k", "r", "t", "i", "COMTRADE", "cfg"}


def fixed_client(lang: str) -> SiteClient:
    """A power system whose ids are not the demo's: found by kind and structure tags."""
    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    c.connected = True
    s = "pw"
    v: dict[str, Any] = {
        f"{s}.K1.substation": "main", f"{s}.K2.substation": "pit",
        f"{s}.fault.state": "located", f"{s}.fault.section": "M7", f"{s}.fault.verdict":
        "overtrip", f"{s}.fault.opened": "B2,B3", f"{s}.fault.clearing_ms": 172.0,
        f"{s}.fault.at": "2026-12-05 03:10:04.117",
        f"{s}.fault.record": "/var/power/records/power/20261205_031004_117_B3.cfg",
        f"{s}.fault.record_error": "", f"{s}.fault.summary": "",
        f"{s}.restore.state": "done", f"{s}.restore.last_s": 7.5,
        f"{s}.restore.status": "", f"{s}.restore.plan": "open B3 breaker; close B2 breaker",
        f"{s}.ticket.state": "idle",
        f"{s}.L23.state": "lost", f"{s}.L12.state": "ok",
        f"{s}.main.fire": False, f"{s}.pit.fire": True,
    }
    bays = {"B1": ("K1", "S", "closed", 0, 212.0), "B2": ("K1", "C9", "closed", 0, 75.0),
            "B3": ("K2", "M7", "tripped", 1, 0.0)}
    for b, (bus, feeds, state, code, ia) in bays.items():
        p = f"{s}.{b}"
        v |= {f"{p}.bus": bus, f"{p}.feeds": feeds, f"{p}.state": state,
              f"{p}.trip_code": code, f"{p}.ia": ia, f"{p}.uab": 10.31, f"{p}.group_active": 1,
              f"{p}.fallback": b == "B2", f"{p}.settings": "ok", f"{p}.local": False,
              f"{p}.earthing_closed": False, f"{p}.breaker_cmd": 0}
    c.values = {k: Value(x, True, ts=T0 - 5) for k, x in v.items()}
    c.kinds = {"site": "site", s: "power", f"{s}.B1": "breaker", f"{s}.B2": "breaker",
               f"{s}.B3": "breaker", f"{s}.main": "substation", f"{s}.pit": "substation",
               f"{s}.K1": "bus", f"{s}.K2": "bus", f"{s}.L23": "link", f"{s}.L12": "link",
               f"{s}.fault": "fault"}
    c.site_now = T0
    c.role = "operator"
    zh = lang == "zh_CN"
    c.names = {s: "供电系统" if zh else "Power supply",
               f"{s}.B3": "B3 采煤机馈线" if zh else "B3 Shearer",
               f"{s}.pit": "采区变电所" if zh else "Pit substation",
               f"{s}.main": "中央变电所" if zh else "Main substation"}
    return c


def view_key(app: Any) -> str:
    return str([sc.view for sc in app.VIEWS].index("power") + 2)


async def test_the_power_view_in_english() -> None:
    app = console.make_console(fixed_client("en"), "en", "Demo mine")
    async with app.run_test(size=(140, 40)) as pilot:
        over = text(app, "#overview")
        assert "Power supply: 2 closed, 0 open" in over and "1 TRIPPED" in over, over
        assert "FIRE: Pit substation" in over
        await pilot.press(view_key(app))
        assert app.query_one("#views", ContentSwitcher).current == "power"
        head = text(app, "#pwr-head")
        assert "section M7" in head and "OVERTRIP" in head and "opened B2,B3" in head
        assert "cleared in 172 ms" in head, head
        assert "COMTRADE record: 20261205_031004_117_B3.cfg" in head
        assert "Restoration: done  7.5 s" in head
        assert "L23 lost" in head
        table = app.query_one("#pwr-eq", DataTable)
        await until(pilot, lambda: table.row_count == 5, "two buses and three bays")
        cell = {str(k.value): [str(x) for x in table.get_row(k)] for k in table.rows}
        assert list(cell) == ["pw.K1", "pw.B1", "pw.B2", "pw.K2", "pw.B3"]
        assert "FIRE" in cell["pw.K2"][0] and "FIRE" not in cell["pw.K1"][0]
        assert cell["pw.B1"][1] == "■ closed" and cell["pw.B1"][3] == "212"
        assert "✕ TRIPPED" in cell["pw.B3"][1] and cell["pw.B3"][2] == "→ M7"
        assert "fallback group" in cell["pw.B2"][6]
        # closing a breaker whose trip is latched: said before anything is sent
        table.move_cursor(row=4)
        await pilot.press("k")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the close dialog")
        shown = str(app.screen.query_one("#info-text").render())
        assert "Close breaker B3 Shearer (B3)" in shown and "REFUSED" in shown
        assert "its trip is latched: reset it first (r)." in shown
        await pilot.press("escape")
        # opening one asks for its id typed again
        table.move_cursor(row=1)
        await pilot.press("o")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the open dialog")
        assert "Type the breaker's id B1 to confirm." in visible_text(app)
        await pilot.press("escape")


async def test_the_power_view_in_chinese_has_no_english() -> None:
    app = console.make_console(fixed_client("zh_CN"), "zh_CN", "演示矿井")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press(view_key(app))
        table = app.query_one("#pwr-eq", DataTable)
        await until(pilot, lambda: table.row_count == 5, "every row")
        shown = visible_text(app)
        assert "越级跳闸" in shown and "保护跳闸" in shown and "火警" in shown, shown
        words = [w for w in foreign_words(shown) if w not in ALLOWED and not
                 any(ch.isdigit() for ch in w) and not w.startswith(("B", "K", "M", "L", "C"))]
        assert words == [], words
        table.move_cursor(row=4)
        await pilot.press("k")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the close dialog")
        shown = visible_text(app)
        assert "保护跳闸未复归" in shown
        await pilot.press("escape")
