"""The operator console driven by Textual's pilot against the real server and HIL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio
from conftest import Rig, free_port
from textual.widgets import ContentSwitcher, DataTable, Static

from fixedsite.config import OpcUaConfig
from fixedsite.console.app import Console, make_console
from fixedsite.console.client import SiteClient
from fixedsite.northbound import Northbound
from fixedsite.runtime import Controller
from fixedsite.users import UserStore


class Env:
    def __init__(self, rig: Rig, nb: Northbound, client: SiteClient) -> None:
        self.rig, self.nb, self.client = rig, nb, client


@pytest_asyncio.fixture
async def env(rig_factory: Callable[..., Rig], tmp_path: Path) -> AsyncIterator[Env]:
    rig = rig_factory(scale=60.0, initial_level_m="1.0")
    await rig.site.start()
    rig.ctl = Controller(rig.cfg, rig.clock)
    users = UserStore(tmp_path / "users.json")
    users.add("eng", "engineer", "eng-password")
    nb = Northbound(rig.ctl, users, OpcUaConfig(
        endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/"), tmp_path / "pki")
    await nb.start()
    await rig.ctl.start()
    await rig.ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    client = SiteClient(nb.cfg.endpoint, "eng", "eng-password", tmp_path / "console-pki")
    await client.connect()
    e = Env(rig, nb, client)
    yield e
    await client.close()
    await e.nb.stop()


def text(app: Console, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def until(pilot, predicate, what: str, tries: int = 60) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError(what)


async def test_overview_and_drainage_in_english(env: Env) -> None:
    app = Console(env.client, "en", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "Sump level 1." in text(app, "#overview"), "level shown")
        assert "PLC drain1: online" in text(app, "#overview")
        assert "connected" in text(app, "#status")
        await pilot.press("2")
        assert app.query_one("#views", ContentSwitcher).current == "drainage"
        table = app.query_one("#pumps", DataTable)
        await until(pilot, lambda: table.row_count == 4, "four pumps")
        assert str(table.get_cell_at((0, 2))) == "auto"


async def test_start_refused_in_auto_shows_the_reason_in_chinese(env: Env) -> None:
    app = make_console(env.client, "zh_CN", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        table = app.query_one("#pumps", DataTable)
        await until(pilot, lambda: table.row_count == 4, "four pumps")
        await pilot.press("s")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the confirmation dialog")
        assert "启动 pump1?" in str(app.screen.query_one("#confirm-text").render())
        await pilot.press("y")
        await until(pilot, lambda: "被拒绝" in text(app, "#message"), "the refusal")
        keys = {ab.binding.key: ab.binding.description for ab in app.active_bindings.values()}
        assert keys["s"] == "启动" and keys["q"] == "退出"          # the footer speaks Chinese
        await pilot.press("4")                                     # who did what
        events = app.query_one("#events", DataTable)
        await until(pilot, lambda: events.row_count >= 1, "the command log")
        row = [str(c) for c in events.get_row_at(0)]
        assert row[1:4] == ["eng", "start", "drainage.pump1"] and "refused" in row[4]
        assert "remote-auto" in text(app, "#message")
        assert env.rig.ctl is not None
        assert env.rig.ctl.gate.records[-1].command.user == "eng"


async def test_disconnect_marks_values_stale_and_reconnects(env: Env) -> None:
    app = Console(env.client, "en", "demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "Sump level 1." in text(app, "#overview"), "level shown")
        await env.nb.stop()
        await until(pilot, lambda: "DISCONNECTED" in text(app, "#status"), "disconnected",
                    tries=100)
        assert "?" in text(app, "#overview")                    # last values, marked
        env.nb = Northbound(env.rig.ctl, env.nb._users.store, env.nb.cfg, env.nb.pki)  # type: ignore[arg-type]
        await env.nb.start()
        await until(pilot, lambda: "DISCONNECTED" not in text(app, "#status"), "reconnected",
                    tries=200)
