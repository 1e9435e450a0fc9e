"""The operator console driven by Textual's pilot against the real server and HIL."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import Rig, free_port
from textual.widgets import ContentSwitcher, DataTable, Input, Static

from fixedsite.alarms.engine import UNACK_ACTIVE
from fixedsite.config import OpcUaConfig
from fixedsite.console.actions import when
from fixedsite.console.app import Console, make_console
from fixedsite.console.client import SiteClient
from fixedsite.console.trends import TrendView
from fixedsite.gate import Command
from fixedsite.historian import Historian
from fixedsite.northbound import Northbound
from fixedsite.runtime import Controller
from fixedsite.users import UserStore


class Env:
    def __init__(self, rig: Rig, nb: Northbound, client: SiteClient) -> None:
        self.rig, self.nb, self.client = rig, nb, client


@contextlib.asynccontextmanager
async def site_env(rig_factory: Callable[..., Rig], tmp_path: Path, **kw: object
                   ) -> AsyncIterator[Env]:
    """HIL, controller with its historian, OPC UA server and a logged-in client."""
    rig = rig_factory(scale=60.0, initial_level_m="1.0", **kw)
    await rig.site.start()
    rig.ctl = Controller(rig.cfg, rig.clock, historian=Historian(tmp_path / "history.db"))
    users = UserStore(tmp_path / "users.json")
    users.add("eng", "engineer", "eng-password")
    nb = Northbound(rig.ctl, users, OpcUaConfig(
        endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/"), tmp_path / "pki")
    await nb.start()
    await rig.ctl.start()
    await rig.ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    client = SiteClient(nb.cfg.endpoint, "eng", "eng-password", tmp_path / "console-pki")
    await client.connect()
    try:
        yield Env(rig, nb, client)
    finally:
        await client.close()
        await nb.stop()


@pytest_asyncio.fixture
async def env(rig_factory: Callable[..., Rig], tmp_path: Path) -> AsyncIterator[Env]:
    async with site_env(rig_factory, tmp_path) as e:
        yield e


def text(app: Console, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def until(pilot, predicate, what, tries: int = 60) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``predicate`` with a deadline; through the pilot when an app runs."""
    for _ in range(tries):
        if predicate():
            return
        await (pilot.pause(0.1) if pilot is not None else asyncio.sleep(0.1))
    raise AssertionError(what() if callable(what) else what)


async def test_overview_and_drainage_in_english(env: Env) -> None:
    app = make_console(env.client, "en", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "Sump level 1." in text(app, "#overview"), "level shown")
        # at 60x a stall of the shared loop (the app's own start) can time the link out
        # for a poll; what is checked is that the overview says online once it is
        await until(pilot, lambda: "PLC drain1: online" in text(app, "#overview"),
                    lambda: text(app, "#overview"))
        assert "connected" in text(app, "#status")
        await pilot.press("2")
        assert app.query_one("#views", ContentSwitcher).current == "drainage"
        table = app.query_one("#pumps", DataTable)
        await until(pilot, lambda: table.row_count == 4, "four pumps")
        assert str(table.get_cell_at((0, 2))) == "auto"
    # closed: its timers may still tick once; a tick then finds no widgets and is quiet
    # (CI: "No nodes match '#status'" raised into a test's exit)
    app._dirty = True
    app._refresh()
    await app._refresh_slow()


async def test_start_in_auto_offers_manual_and_reasons_read_in_chinese(env: Env) -> None:
    """Starting a pump that level control runs: the dialog says so and offers to switch it
    to remote-manual and start it (the README's walk-through); a refusal reads in Chinese."""
    app = make_console(env.client, "zh_CN", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        table = app.query_one("#pumps", DataTable)
        await until(pilot, lambda: table.row_count == 4, "four pumps")
        await pilot.press("r")                    # reset a pump that is not faulted
        await until(pilot, lambda: len(app.screen_stack) == 2, "the confirmation dialog")
        assert "y / 回车 确认" in str(app.screen.query_one(".keys").render())
        await pilot.press("y")
        await until(pilot, lambda: "被拒绝" in text(app, "#message"), "the refusal")
        assert "1号主排水泵 没有故障" in text(app, "#message") or \
            "pump1 没有故障" in text(app, "#message"), text(app, "#message")
        await pilot.press("s")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the start dialog")
        dialog = str(app.screen.query_one("#choose-text").render())
        assert "远程自动" in dialog and "水位控制" in dialog
        keys = {ab.binding.key: ab.binding.description for ab in app.active_bindings.values()}
        assert keys.get("q", "退出") == "退出"
        await pilot.press("1")                    # switch to remote-manual, then start
        ctl = env.rig.ctl
        assert ctl is not None
        await until(pilot, lambda: ctl.sequences["drainage.pump1"].state != "stopped",
                    "pump1 starting", tries=100)
        actions = [(r.command.action, r.decision.accepted) for r in ctl.gate.records
                   if r.command.source == "operator"]
        assert actions[-2:] == [("set_mode", True), ("start", True)]
        assert ctl.gate.records[-1].command.user == "eng"
        await pilot.press("4")                                     # who did what
        assert "启动" not in text(app, "#keys")            # only this screen's keys shown
        events = app.query_one("#events", DataTable)
        await until(pilot, lambda: events.row_count >= 3, "the command log")
        row = [str(c) for c in events.get_row_at(0)]
        assert row[1] == "eng" and row[2] == "启动" and "完成" in row[4]


async def test_disconnect_marks_values_stale_and_reconnects(env: Env) -> None:
    app = make_console(env.client, "en", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "Sump level 1." in text(app, "#overview"), "level shown")
        await env.nb.stop()
        await until(pilot, lambda: "DISCONNECTED" in text(app, "#status"), "disconnected",
                    tries=100)
        shown = text(app, "#overview")                          # last values, marked
        assert "1.0" in shown and "⟂ no link to controller" in shown, shown
        assert "None" not in shown
        env.nb = Northbound(env.rig.ctl, env.nb.users, env.nb.cfg, env.nb.pki)  # type: ignore[arg-type]
        await env.nb.start()
        await until(pilot, lambda: "DISCONNECTED" not in text(app, "#status"), "reconnected",
                    tries=200)


async def test_trend_of_the_sump_level_comes_from_the_historian(env: Env) -> None:
    ctl = env.rig.ctl
    assert ctl is not None and ctl.historian is not None
    h = ctl.historian
    await until(None, lambda: len(h.samples("drainage.sump.level", 0, 2e9)) >= 3,
                "three level samples stored", 100)
    app = make_console(env.client, "en", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await select(pilot, app, "5", "trend-tags", "drainage.sump.level")
        await pilot.press("enter")
        trend = app.query_one(TrendView)
        await until(pilot, lambda: len(trend.buckets) >= 1, "buckets from the server")
        head = text(app, "#trend-head")
        assert "drainage.sump.level (m)" in head and "window 8 h" in head
        # each bucket (but the last, still filling) is exactly its raw samples' min/max
        width = trend.bucket_s
        assert width > 60 and width % 60 == 0      # from the minute rollup: whole minutes
        for b in trend.buckets[:-1]:
            raw = [v for _t, v in h.samples("drainage.sump.level", b.t, b.t + width)]
            assert (b.lo, b.hi) == (min(raw), max(raw))
            assert b.avg == pytest.approx(sum(raw) / len(raw))
        assert len(trend.buckets) >= 2
        runs = trend.lines("drainage.sump.level")
        for run in runs:                          # evenly spaced: gaps held, not squeezed
            assert all(b2.t - b1.t == pytest.approx(width)
                       for b1, b2 in zip(run, run[1:], strict=False))
        assert all(b in [d for run in runs for d in run] for b in trend.buckets)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: "window 1 d" in text(app, "#trend-head"), "wider window")
        keys = check_keys(app)
        assert "[" in keys and "]" in keys and "s" not in keys and "a" not in keys


async def select(pilot, app: Console, screen: str, table_id: str, key: str  # type: ignore[no-untyped-def]
                 ) -> DataTable[str]:
    """Show a screen and put its table's cursor on row ``key`` once that row is there."""
    await pilot.press(screen)
    table: DataTable[str] = app.query_one(f"#{table_id}", DataTable)
    await until(pilot, lambda: key in table.rows, f"row {key} on screen {screen}")
    table.move_cursor(row=table.get_row_index(key))
    return table


def check_keys(app: Console) -> set[str]:
    """The keys the key line offers on the screen in front."""
    return {ab.binding.key_display or ab.binding.key for ab in app.active_bindings.values()
            if app.check_action(ab.binding.action.split("(")[0], ())}



async def test_mode_change_from_the_console_is_written_and_read_back(env: Env) -> None:
    ctl = env.rig.ctl
    assert ctl is not None
    app = make_console(env.client, "zh_CN", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        table = app.query_one("#pumps", DataTable)
        await until(pilot, lambda: table.row_count == 4, "four pumps")
        table.move_cursor(row=3)
        await pilot.press("m")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the mode dialog")
        assert "联锁" in str(app.screen.query_one("#choose-text").render())
        await pilot.press("1")
        await until(pilot, lambda: "完成" in text(app, "#message"), "the mode change")
        assert ctl.store.value("drainage.pump4.mode") == 1
        await until(pilot, lambda: str(table.get_cell_at((3, 2))) == "手动", "shown in Chinese")
        await pilot.press("r")                                  # reset: not faulted
        await until(pilot, lambda: len(app.screen_stack) == 2, "the reset dialog")
        await pilot.press("n")                                  # cancelled: nothing sent
        assert len(app.screen_stack) == 1
        assert [r.command.action for r in ctl.gate.records] == ["set_mode"]


async def test_alarms_standing_before_connect_shelve_filter_unshelve(env: Env) -> None:
    rig, ctl = env.rig, env.rig.ctl
    assert ctl is not None
    for action, params in (("set_mode", {"mode": "remote-manual"}), ("start", {})):
        d = await ctl.gate.submit(Command("drainage.pump4", action, "operator", "li", params,
                                          "engineer"))
        assert d.accepted, d.reason
    rig.plc.inject_trip(3)
    await until(None, lambda: ctl.alarms.alarms["drainage.pump4.FAULT"].state == UNACK_ACTIVE,
                "the fault alarm", 200)
    late = SiteClient(env.nb.cfg.endpoint, "eng", "eng-password", env.client.pki)
    await late.connect()                     # connects after the alarm: still sees it
    try:
        assert late.alarms["drainage.pump4.FAULT"].state == "active"
        app = make_console(late, "en", "demo")
        async with app.run_test(size=(120, 36)) as pilot:
            table = await select(pilot, app, "3", "alarm-list", "drainage.pump4.FAULT")
            a = ctl.alarms.alarms["drainage.pump4.FAULT"]
            row = [str(c) for c in table.get_row("drainage.pump4.FAULT")]
            # its own raised time, not when the console heard of it; the text fixed and short
            assert row[1:4] == ["active", when(a.raised_at or 0.0), "Main pump 4 fault"]
            await pilot.press("enter")                          # the whole alarm
            await until(pilot, lambda: len(app.screen_stack) == 2, "the detail view")
            detail = str(app.screen.query_one("#info-text").render())
            assert "motor overload relay tripped" in detail and "Raised:" in detail
            await pilot.press("escape")
            await pilot.press("a")
            await until(pilot, lambda: len(app.screen_stack) == 2, "the acknowledge dialog")
            assert "Enter confirm" in str(app.screen.query_one(".keys").render())
            app.screen.query_one(Input).value = "seen"
            await pilot.press("enter")
            await until(pilot, lambda: late.alarms["drainage.pump4.FAULT"].acked_by == "eng",
                        "acknowledged by eng")
            assert a.acked_by == "eng" and a.acked_at is not None
            await until(pilot, lambda: str(table.get_row("drainage.pump4.FAULT")[5])
                        == f"{when(a.acked_at or 0.0)} eng", "the ack time and who")
            await pilot.press("h")
            await until(pilot, lambda: len(app.screen_stack) == 2, "the shelve dialog")
            # typed text is set directly: the pilot waits up to 2 s a key on a busy process
            minutes, reason = app.screen.query(Input)
            minutes.value, reason.value = "300", "repair crew on site"       # 5 h
            await pilot.press("enter")                                      # to the reason
            await pilot.press("enter")
            await until(pilot, lambda: late.alarms["drainage.pump4.FAULT"].shelved, "shelved")
            a = ctl.alarms.alarms["drainage.pump4.FAULT"]
            assert a.shelved_until is not None
            assert a.shelved_until - env.rig.clock.now() == pytest.approx(18000, abs=600)
            await until(pilot, lambda: "shelved" in str(table.get_row("drainage.pump4.FAULT")[1]),
                        "the row dimmed and marked")
            assert "P2 0" in text(app, "#status")           # shelved: not counted
            await pilot.press("f")
            app.screen.query_one(Input).value = "P1"
            await pilot.press("enter")
            await until(pilot, lambda: "drainage.pump4.FAULT" not in table.rows,
                        "P1 filter hides the P2 alarm")
            assert all(late.alarms[str(k.value)].priority == 1 for k in table.rows)
            assert "Filter: P1" in text(app, "#alarm-filter")
            await pilot.press("f")
            app.screen.query_one(Input).value = ""
            await pilot.press("enter")
            await until(pilot, lambda: "drainage.pump4.FAULT" in table.rows, "filter cleared")
            table.move_cursor(row=table.get_row_index("drainage.pump4.FAULT"))
            await pilot.press("u")
            await until(pilot, lambda: not late.alarms["drainage.pump4.FAULT"].shelved,
                        "unshelved")
            assert late.alarms["drainage.pump4.FAULT"].state == "acked"
            who = [(r.command.action, r.command.user) for r in ctl.gate.records]
            assert who[-2:] == [("shelve", "eng"), ("unshelve", "eng")]
    finally:
        await late.close()


async def test_a_relay_room_is_shown_and_commanded_beside_the_main_one(
        rig_factory: Callable[..., Rig], tmp_path: Path) -> None:
    async with site_env(rig_factory, tmp_path, relay=True) as env:
        ctl = env.rig.ctl
        assert ctl is not None
        app = make_console(env.client, "en", "demo")
        async with app.run_test(size=(120, 36)) as pilot:
            # rooms and pumps by their configured names
            await until(pilot, lambda: "Lower drainage, -550 m level: Sump level" in text(
                app, "#overview"), lambda: f"the lower room on the overview: "
                                           f"{text(app, '#overview')!r}")
            assert "PLC drain2: online" in text(app, "#overview")
            table = await select(pilot, app, "2", "pumps", "lower.pump2")
            assert table.row_count == 7
            assert "Lower drainage, -550 m level: Sump level" in text(app, "#sump")
            await pilot.press("m")
            await until(pilot, lambda: len(app.screen_stack) == 2, "the mode dialog")
            assert "mode lower pump 2" in str(app.screen.query_one("#choose-text").render()
                                              ).lower()
            await pilot.press("1")
            await until(pilot, lambda: "Done" in text(app, "#message"),
                        lambda: f"the mode change: {text(app, '#message')!r}")
            # the lower room's PLC wrote and read back, the main room's pump untouched
            assert ctl.store.value("lower.pump2.mode") == 1
            assert ctl.store.value("drainage.pump2.mode") == 2
            assert env.rig.site.unit("lower").plc.hr[20] == 1          # pump 2 mode word
            row = table.get_row_index("lower.pump2")
            await until(pilot, lambda: str(table.get_cell_at((row, 2))) == "manual",
                        "the new mode shown")
            # a longer word than the column was first sized for is shown whole
            assert table.ordered_columns[2].content_width >= len("manual")


ALLOWED = {"PLC", "Esc", "m", "h", "A", "C", "s", "kW", "min", "HH", "H", "L", "LL", "y", "n",
           "eng",                                                   # the user: an id
           "q", "a", "u", "f", "r", "x", "c"}


def foreign_words(screen_text: str) -> list[str]:
    """ASCII words on a Chinese screen that are not ids (they carry a digit, a dot or an
    underscore), units, key names or numbers."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9_.\-/]*", re.sub(r"\[/?[a-z #0-9]*\]", "",
                                                          screen_text))
    return sorted({w for w in words if w not in ALLOWED and not re.search(r"[\d._]", w)})


def visible_text(app: Console) -> str:
    out = [str(w.render()) for w in app.screen.query(Static) if w.display]
    for table in app.screen.query(DataTable):
        if not table.display:
            continue
        out += [str(c.label) for c in table.columns.values()]
        out += [str(cell) for key in table.rows for cell in table.get_row(key)]
    return "\n".join(out)


async def test_a_chinese_console_shows_no_english_words(rig_factory: Callable[..., Rig],
                                                        tmp_path: Path) -> None:
    """Every screen in zh_CN on a live site with a tripped pump, a refused command, a plan
    and standing alarms: ids, units and numbers only in ASCII (issue 10, item 3)."""
    async with site_env(rig_factory, tmp_path, plan=True) as env:
        ctl = env.rig.ctl
        assert ctl is not None
        for action, params in (("set_mode", {"mode": "remote-manual"}), ("start", {})):
            await ctl.gate.submit(Command("drainage.pump4", action, "operator", "eng", params,
                                          "engineer"))
        env.rig.plc.inject_trip(3)
        await until(None, lambda: ctl.alarms.alarms["drainage.pump4.FAULT"].state
                    == UNACK_ACTIVE, "the fault alarm", 200)
        await ctl.gate.submit(Command("drainage.pump1", "start", "operator", "eng", {},
                                      "engineer"))         # refused: remote-auto
        # a reason with markup in it (any OPC UA user can cause one) is shown as text
        await ctl.gate.submit(Command("alarms", "ack", "operator", "eng", {"id": "[/]"},
                                      "engineer"))
        app = make_console(env.client, "zh_CN", "演示矿井")
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: "1号主排水泵" in str(env.client.names.values()),
                        "the configured names")
            for key in ("1", "2", "3", "4", "5"):
                await pilot.press(key)
                await pilot.pause(0.3)
                if key == "4":
                    await until(pilot, lambda: app.query_one("#events", DataTable).row_count
                                >= 4, "the command log")
                    assert "没有报警 '\\[/]'" in visible_text(app)     # escaped, drawn
                shown = visible_text(app)
                assert foreign_words(shown) == [], (key, shown)
            await pilot.press("3")
            await pilot.press("enter")                             # an alarm's detail
            await until(pilot, lambda: len(app.screen_stack) == 2, "the detail view")
            shown = visible_text(app)
            assert foreign_words(shown) == [], shown


def test_the_age_of_a_bad_value_grows_while_nothing_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing changes on a site whose PLC fell silent: the age on screen must still grow,
    at the site's rate (here x60), whether the console's link is up or down."""
    wall = [1000.0]
    monkeypatch.setattr("fixedsite.console.client.time.monotonic", lambda: wall[0])
    c = SiteClient("opc.tcp://127.0.0.1:1/x/", "li", "-", Path("/nonexistent"))
    t0 = 1_790_000_000.0
    c.heard(t0)
    wall[0] += 3.0
    c.heard(t0 + 180.0)                      # 180 site s in 3 wall s: x60
    c.connected = True
    wall[0] += 10.0
    assert c.now() == pytest.approx(t0 + 780.0)
    c.connected = False
    wall[0] += 1.0
    assert c.now() == pytest.approx(t0 + 840.0)


async def test_a_plc_link_cut_shows_the_last_values_marked_never_blank(env: Env) -> None:
    """OPC UA sends a Bad value without its value: the console keeps the last one, dimmed
    with the reason and age, on the overview and the drainage screen alike; all clear
    again once the PLC answers (issue 10, item 1)."""
    app = make_console(env.client, "en", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "Sump level 1." in text(app, "#overview"), "level shown")
        await env.rig.site.unit("drainage").server.stop()
        await until(pilot, lambda: "Sump level 1." in text(app, "#overview")
                    and "⟂ comm lost" in text(app, "#overview"),
                    lambda: f"the level marked: {text(app, '#overview')!r}", tries=150)
        shown = text(app, "#overview")
        assert re.search(r"Sump level 1\.\d\d m ⟂ comm lost \d\d:\d\d:\d\d", shown), shown
        assert "fallback unknown" in shown
        assert re.search(r"Pump: .*\d/4 running.* ⟂ comm lost", shown), shown
        await pilot.press("2")
        table = app.query_one("#pumps", DataTable)
        await until(pilot, lambda: table.row_count == 4, "four pumps")
        state = str(table.get_cell_at((0, 1)))
        assert "stopped" in state and "⟂ comm lost" in state, state     # not "--"
        await env.rig.site.unit("drainage").server.start()
        await until(pilot, lambda: "⟂" not in text(app, "#sump"), "clear again", tries=150)
        assert "⟂" not in str(table.get_cell_at((0, 1)))
