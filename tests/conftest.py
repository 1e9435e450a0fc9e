"""Shared fixtures: configs on free loopback ports, the HIL site, the controller."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from fixedsite.cli import main
from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.demo_config import (  # noqa: F401 - re-exported for the tests
    DEMO_TEXT,
    demo_config,
    demo_text,
    free_port,
)
from fixedsite.hil.site import HilSite
from fixedsite.runtime import Controller


def fill_sqlite(db: sqlite3.Connection) -> None:
    """What a full disk looks like to SQLite: the database may not grow past the pages it
    has, and their free room is used up, so the next write fails "database or disk is
    full" for real."""
    db.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    with contextlib.suppress(sqlite3.OperationalError):
        while True:
            db.execute("INSERT INTO filler VALUES (zeroblob(100))")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``fixedsite argv`` in process: (exit code, stdout, stderr). argparse's own
    refusals end in SystemExit, as they do from the shell."""
    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "site.toml") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p
    return write


class Rig:
    """A HIL site and a controller on one clock, started and stopped together."""

    def __init__(self, cfg: SiteConfig, clock: ScaledClock) -> None:
        self.cfg, self.clock = cfg, clock
        self.site = HilSite(cfg, clock)
        self.ctl: Controller | None = None

    @property
    def plant(self):  # type: ignore[no-untyped-def]
        return self.site.unit("drainage").plant

    @property
    def plc(self):  # type: ignore[no-untyped-def]
        return self.site.unit("drainage").plc

    async def start_controller(self) -> Controller:
        self.ctl = Controller(self.cfg, self.clock)
        await self.ctl.start()
        return self.ctl

    async def stop_controller(self) -> None:
        if self.ctl is not None:
            await self.ctl.stop()
            self.ctl = None

    async def run_for(self, sim_s: float, check: Callable[[], None] | None = None) -> None:
        """Let simulated time pass, calling ``check`` after every PLC scan."""
        end = self.clock.now() + sim_s
        while self.clock.now() < end:
            await self.site.scanned()
            if check is not None:
                check()

    async def until(self, predicate: Callable[[], bool], sim_s: float, what: str) -> None:
        end = self.clock.now() + sim_s
        while not predicate():
            if self.clock.now() > end:
                raise AssertionError(f"not within {sim_s:.0f} simulated s: {what}")
            await self.site.scanned()

    async def inject(self, fault: str, target: str, *args: str) -> str:
        """A fault as ``fixedsite hil inject`` gives it, resolved against the config."""
        from fixedsite.hil import faults

        return await self.site.inject(faults.parse(self.cfg, fault, target, list(args)))


def site_config(text: str, tmp: Path, name: str) -> SiteConfig:
    """A site's config text with its storage in ``tmp``, parsed."""
    import re
    import tomllib

    from fixedsite.config import parse

    return parse(tomllib.loads(re.sub(r'(?m)^dir = ".*"', f'dir = "{tmp}"', text)), name)


@contextlib.asynccontextmanager
async def started(cfg: SiteConfig, scale: float) -> AsyncIterator[Rig]:
    """A rig whose HIL site runs, stopped with its controller at the end."""
    r = Rig(cfg, ScaledClock(scale))
    await r.site.start()
    try:
        yield r
    finally:
        await r.stop_controller()
        await r.site.stop()


@pytest_asyncio.fixture
async def rig_factory() -> AsyncIterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(scale: float = 600.0, plan: bool = False, origin: float | None = None,
             relay: bool = False, **replace: str) -> Rig:
        """``origin`` starts the simulated clock at that epoch (a test about the time of day
        must not depend on the hour CI happens to run it)."""
        cfg = demo_config(free_port(), scale, plan, relay, **replace)
        rig = Rig(cfg, ScaledClock(scale, origin=origin))
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.stop_controller()
        await rig.site.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true a skip is a failure: CI installs everything the suite needs."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true":
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run everything: {report.longrepr}"
