"""The controller as a separate process: killed, the PLC falls back; restarted, no bump.

The HIL runs in the test process; the controller is the real ``fixedsite run`` in a
subprocess on the same simulated clock (same anchor and scale), killed with SIGKILL as a
crash or a power cut would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import Rig, demo_text, free_port

from fixedsite.audit import AuditLog, verify
from fixedsite.clock import ScaledClock
from fixedsite.config import load

SCALE = 1440.0


class ControllerProcess:
    def __init__(self, config: Path, anchor: float, log: Path, scale: float) -> None:
        self.config, self.anchor, self.log, self.scale = config, anchor, log, scale
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        out = open(self.log, "ab")   # noqa: ASYNC230 - a local log file, handed to the child
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fixedsite", "-v", "run", "--config", str(self.config),
            "--scale", str(self.scale), "--clock-anchor", repr(self.anchor), "--plain",
            "--every", "3600", stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 20)
        return int(self.proc.returncode or 0)


@pytest_asyncio.fixture
async def split_rig(tmp_path: Path) -> AsyncIterator[Callable[..., tuple[Rig, ControllerProcess]]]:
    made: list[tuple[Rig, ControllerProcess]] = []

    def make(scale: float = SCALE, **replace: str) -> tuple[Rig, ControllerProcess]:
        path = tmp_path / "site.toml"
        text = demo_text(free_port(), scale, **replace)
        text += f'\n[storage]\ndir = "{tmp_path / "var"}"\n'
        path.write_text(text, encoding="utf-8")
        clock = ScaledClock(scale)
        rig = Rig(load(path), clock)
        proc = ControllerProcess(path, clock.anchor, tmp_path / "controller.log", scale)
        made.append((rig, proc))
        return rig, proc

    yield make
    for rig, proc in made:
        if proc.proc is not None and proc.proc.returncode is None:
            proc.proc.kill()
            await proc.proc.wait()
        await rig.site.stop()


def _running(rig: Rig) -> set[int]:
    return {i for i, p in enumerate(rig.plant.pumps) if p.motor_on and p.flow > 100}


async def _heartbeat_moves(rig: Rig, wall_s: float = 60.0) -> None:
    """The controller process is up and writing its heartbeat. Its start-up (imports,
    the OPC UA server's certificate and address space) takes wall seconds, which are
    simulated hours at these scales, so this wait is bounded in wall time."""
    first = rig.plc.hr[0]
    async with asyncio.timeout(wall_s):
        while rig.plc.hr[0] == first:
            await rig.site.scanned()


async def test_killed_controller_plc_falls_back_and_sump_holds(
        split_rig: Callable[..., tuple[Rig, ControllerProcess]]) -> None:
    rig, proc = split_rig(initial_level_m="1.9")
    await rig.site.start()
    await proc.start()
    await _heartbeat_moves(rig)
    await rig.until(lambda: len(_running(rig)) >= 2, 3 * 3600, "two pumps running")
    await proc.kill()
    before = _running(rig)
    await rig.until(lambda: rig.plc.fallback, 1800, "PLC fallback on lost heartbeat")
    assert before <= _running(rig), "the PLC keeps running what ran when it took over"
    await rig.run_for(14 * 3600)
    hil = rig.cfg.hil.drainage[0]
    assert rig.plant.sump.overflowed_m3 == 0.0
    assert rig.plant.max_level < hil.float_highhigh_m + 0.3, rig.plant.max_level
    fallback_starts = [e for e in rig.plc.events if e.what == "start" and e.why == "fallback"]
    fallback_stops = [e for e in rig.plc.events if e.what == "stop" and e.why == "fallback"]
    assert fallback_starts and fallback_stops, "float switches ran the pumps"


async def test_restarted_controller_does_not_stop_running_pumps(
        split_rig: Callable[..., tuple[Rig, ControllerProcess]], tmp_path: Path) -> None:
    # slower time here: a restart takes seconds of wall time, and the level must stay where
    # level control would keep exactly the pumps that run (between 1.2 and 1.6 m: two)
    rig, proc = split_rig(scale=300.0, initial_level_m="1.9")
    await rig.site.start()
    await proc.start()
    await _heartbeat_moves(rig)
    await rig.until(lambda: len(_running(rig)) == 2 and 1.42 < rig.plant.sump.level < 1.55,
                    6 * 3600, "two pumps running, level between 1.42 and 1.55 m")
    before = _running(rig)
    await proc.kill()
    killed_at = rig.clock.now()
    await proc.start()
    await _heartbeat_moves(rig)
    await rig.run_for(900)                      # the new controller has adopted and scanned
    stops = [e for e in rig.plc.events if e.t >= killed_at and e.what in ("stop", "trip")]
    assert stops == [], f"bump on restart: {stops}"
    assert _running(rig) == before
    assert rig.plant.sump.level > 1.2, "the test must end before level control may stop one"
    assert await proc.terminate() == 0
    log = (tmp_path / "controller.log").read_text()
    assert "adopted plant state running" in log
    # both controller runs audited into one chain: the config once, then the commands
    verdict = verify(tmp_path / "var" / "audit.db")
    assert verdict.ok, verdict.message
    kinds = [r["kind"] for r in AuditLog(tmp_path / "var" / "audit.db").tail(1000)]
    assert kinds.count("config") == 1 and "command" in kinds


@pytest.mark.skipif(not Path("/usr/bin/mbpoll").exists() and os.environ.get("CI") != "true",
                    reason="mbpoll (Debian package) is not installed")
async def test_mbpoll_reads_the_hil_as_a_foreign_master(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=1.0)
    await rig.site.start()
    await rig.site.scanned()
    port = rig.cfg.plcs["drain1"].port
    p = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-0", "-1", "-B", "-t", "3:float",
        "-r", "0", "-c", "2", "127.0.0.1", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), 20)
    text = out.decode()
    assert p.returncode == 0, err.decode()
    values = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("[")]
    assert len(values) == 2
    for v in values:
        assert abs(v - rig.plant.sump.level) < 0.05, (v, rig.plant.sump.level)
    # and a write as a foreign master lands in the PLC: pump 1's mode register
    p = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-0", "-1", "-t", "4", "-r", "10",
        "127.0.0.1", "1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await asyncio.wait_for(p.communicate(), 20)
    assert p.returncode == 0
    await rig.until(lambda: rig.plc.hr[10] == 1, 60, "mode register written by mbpoll")
