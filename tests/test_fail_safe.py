"""The controller keeps control when a part of it fails (issue 9, section A).

HIL PLC on real Modbus TCP, the real controller; each fault is one that was seen to stop
supervision silently: a raising tag listener, a dying task, an unmapped optional signal,
one raising sequence, a restart in the middle of a pump's start, a planned stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

import pytest
from conftest import DEMO_TEXT, Rig, fill_sqlite, free_port

from fixedsite.clock import ScaledClock
from fixedsite.config import parse
from fixedsite.gate import Command
from fixedsite.hil.drainage.plc import COIL_PUMP, COIL_PUMP_STRIDE
from fixedsite.historian import Historian
from fixedsite.runtime import Controller
from fixedsite.tags import COMM_FAIL, LOGIC_ERROR, Quality, Tag


def _values_of(ctl: Controller, path: str) -> list[object]:
    seen: list[object] = []
    ctl.store.subscribe(lambda t: seen.append(t.value), path)
    return seen


async def test_a_raising_listener_costs_only_itself(rig_factory: Callable[..., Rig],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    rig = rig_factory(scale=60.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    await ctl.store.wait_for("comm.drain1.online", lambda t: t.value is True, 10)

    def broken(tag: Tag) -> None:
        raise TypeError("'<' not supported between instances of 'str' and 'float'")

    ctl.store.subscribe(broken)                  # hears every tag, fails on every one
    echoes = _values_of(ctl, "drainage.plc1.heartbeat_echo")
    levels = _values_of(ctl, "drainage.lt1.level")
    await rig.run_for(120)                       # two simulated minutes
    # the driver kept polling and beating: the PLC saw fresh heartbeats, we saw them back
    assert len(set(echoes)) >= 10, echoes
    assert len(set(levels)) >= 10
    assert ctl.store["drainage.lt1.level"].quality is Quality.GOOD
    assert ctl.store.value("controller.tasks.ok") is True
    assert not rig.plc.fallback
    assert ctl.store.listener_errors > 100
    logged = [r for r in caplog.records if "tag listener" in r.getMessage()]
    assert 1 <= len(logged) <= 6, "logged at powers of ten, not at every update"


async def test_a_dead_task_is_alarmed_restarted_and_its_tags_go_bad(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=60.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    level = "drainage.lt1.level"
    await ctl.store.wait_for(level, lambda t: t.quality is Quality.GOOD, 10)
    driver = ctl.drivers["drain1"]
    real_poll = driver.poll_group
    calls = 0

    async def poll_once_then_crash(g: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("bug in the poll")
        await real_poll(g)  # type: ignore[arg-type]

    driver.poll_group = poll_once_then_crash  # type: ignore[method-assign]
    qualities = []
    ctl.store.subscribe(lambda t: qualities.append((t.quality, t.reason)), level)
    await ctl.store.wait_for("controller.tasks.ok", lambda t: t.value is False, 10)
    assert "driver-drain1" in ctl.store.value("controller.tasks.failed")
    assert "bug in the poll" in ctl.store.value("controller.tasks.failed")
    alarm = ctl.alarms.alarms["controller.tasks.FAILED"]
    assert alarm.state == "unack_active"
    # the PLC's tags went bad instead of freezing at GOOD ...
    assert (Quality.BAD, COMM_FAIL) in qualities
    # ... and the restarted task brings them back; the task counts as healthy again
    await ctl.store.wait_for(level, lambda t: t.quality is Quality.GOOD, 10)
    await ctl.store.wait_for("controller.tasks.ok", lambda t: t.value is True, 10)
    assert ctl.store.value("controller.tasks.restarts") == 1
    assert alarm.state == "unack_rtn"            # the operator still sees that it happened


def _without_optional_signals(port: int) -> str:
    """The demo with no pump flow meter, no run-hour counter, no valve fault bit: all
    optional, so check-config accepts it (and the alarms on the flows go with them)."""
    text = re.sub(r"(?ms)^# ---- relay pumping:.*?^# ---- end of the lower pump room[^\n]*\n",
                  "", DEMO_TEXT)
    text = re.sub(r"(?ms)^\[systems\.drainage\.plan\]\n.*?(?=^\[)", "", text)
    text = re.sub(r"(?m)^(flow|run_hours|fault) = .*\n", "", text)
    text = re.sub(r"(?ms)^\[\[alarms\]\]\nkind = \"limit\"\ntag = \"drainage\.pump\d\.flow\""
                  r".*?(?=^\[\[|\Z)", "", text)
    text = re.sub(r"(?m)^port = \d+", f"port = {port}", text, count=1)
    text = re.sub(r"(?m)^initial_level_m = [0-9.]+", "initial_level_m = 1.7", text, count=1)
    text = re.sub(r"(?m)^endpoint = .*$", f'endpoint = "opc.tcp://127.0.0.1:{free_port()}/"',
                  text)
    return text


async def test_unmapped_optional_signals_are_absent_not_errors() -> None:
    import tomllib

    from fixedsite.hil.site import HilSite

    cfg = parse(tomllib.loads(_without_optional_signals(free_port())), "no-options.toml")
    assert "drainage.pump1.flow" not in {s.path for s in cfg.signals()}
    rig = Rig(cfg, ScaledClock(600.0))
    try:
        await rig.site.start()
        ctl = await rig.start_controller()
        await rig.until(lambda: any(s.state == "running" for s in ctl.sequences.values()), 1800,
                        "a pump started and proved by its open valve")
        assert ctl.store.value("controller.scan.ok") is True
        assert ctl.scan_health.errors == 0
        # duty rotation without counters: the hours this controller saw each pump run
        running = next(s for s in ctl.sequences.values() if s.state == "running")
        await rig.run_for(600)
        assert running.run_hours() > 0.1
    finally:
        await rig.stop_controller()
        await rig.site.stop()
        assert isinstance(rig.site, HilSite)


async def test_one_failing_sequence_fails_alone(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=600.0, initial_level_m="2.56")
    await rig.site.start()
    ctl = Controller(rig.cfg, rig.clock)
    broken = ctl.sequences["drainage.pump1"]

    async def raising_scan() -> None:
        raise KeyError("drainage.pump1.flow")

    broken.scan = raising_scan  # type: ignore[method-assign]
    # the part's own list of the tags it feeds is what goes bad
    ctl._groups["drainage"] = [(n, broken.scan if n == broken.path else s, f)
                               for n, s, f in ctl._groups["drainage"]]
    rig.ctl = ctl
    await ctl.start()
    await rig.until(lambda: ctl.alarms.alarms["drainage.sump.level.HH"].state
                    == "unack_active", 1800, "the high-high alarm, with one sequence broken")
    await rig.until(lambda: sum(p.motor_on for p in rig.plant.pumps[1:]) >= 2, 1800,
                    "the other pumps started")
    assert ctl.store.value("controller.scan.ok") is False
    assert "drainage.pump1: KeyError" in ctl.store["controller.scan.failed"].value
    assert ctl.alarms.alarms["controller.scan.FAILED"].state == "unack_active"
    state = ctl.store["drainage.pump1.state"]
    assert state.quality is Quality.BAD and state.reason == LOGIC_ERROR
    assert ctl.store["drainage.sump.level"].quality is not Quality.BAD


async def test_a_restart_inside_a_start_opens_the_valve(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=60.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    seq = ctl.sequences["drainage.pump1"]
    await rig.until(lambda: seq.adopted, 60, "pump1 adopted")
    assert await ctl.gate.submit(Command(seq.path, "set_mode", "operator", "op",
                                         {"mode": "remote-manual"}))
    router, real_write = ctl.writer, ctl.writer.write
    died = asyncio.Event()

    async def dies_before_opening(path: str, value: float | bool):  # type: ignore[no-untyped-def]
        if seq.state == "opening_valve":
            died.set()
            await asyncio.Event().wait()           # the controller is gone mid-step
        return await real_write(path, value)

    router.write = dies_before_opening  # type: ignore[method-assign]
    start = asyncio.create_task(ctl.gate.submit(Command(seq.path, "start", "operator", "op")))
    await asyncio.wait_for(died.wait(), 30)
    await rig.stop_controller()
    start.cancel()
    coils = rig.plc.coils
    assert rig.plant.pumps[0].motor_on and coils[0] and not coils[2], \
        "motor running, priming pump on, valve not commanded: the state the restart finds"
    ctl = await rig.start_controller()
    again = ctl.sequences["drainage.pump1"]
    await rig.until(lambda: again.state == "running", 300, "pump1 running after the restart")
    assert rig.plant.valves[0].opened and rig.plant.pumps[0].flow > 100
    assert not rig.plc.coils[0], "priming pump off"
    assert again.fault_reason == ""


async def test_a_planned_stop_and_start_raise_no_alarm(rig_factory: Callable[..., Rig],
                                                      tmp_path) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(scale=60.0)
    await rig.site.start()
    await rig.run_for(60)                           # no controller yet: the PLC falls back
    assert rig.plc.fallback
    h = Historian(tmp_path / "history.db")
    ctl = rig.ctl = Controller(rig.cfg, rig.clock, historian=h)
    await ctl.start()
    await rig.until(lambda: not rig.plc.fallback, 120, "the PLC back on our heartbeat")
    await rig.run_for(120)
    await rig.stop_controller()
    h.flush()
    alarms = [e for e in ctl.alarms.events if e.what == "active"]
    assert alarms == [], [(e.alarm, e.text) for e in alarms]
    kinds = [(e["kind"], e["text"]) for e in h.events_between(0, 2e10)]
    assert ("lifecycle", "started") in kinds and ("lifecycle", "stopped") in kinds
    assert not any(e["kind"] == "alarm" for e in h.events_between(0, 2e10))
    h.close()


async def test_a_fallback_that_lasts_is_still_an_alarm(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=60.0)
    await rig.site.start()
    ctl = await rig.start_controller()
    await rig.until(lambda: ctl.store.value("drainage.plc1.fallback") is False, 120,
                    "the PLC on our heartbeat")
    rig.plc.inject_heartbeat_deaf()                 # link up, heartbeat lost on the way
    await rig.until(lambda: ctl.alarms.alarms["drainage.plc1.FALLBACK"].state
                    == "unack_active", 600, "the fallback alarm")
    assert ctl.store.value("comm.drain1.online") is True


async def test_the_planner_is_handed_the_voted_volume_never_zero(
        rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(scale=60.0, plan=True, initial_level_m="1.2")
    await rig.site.start()
    ctl = await rig.start_controller()
    planner = ctl.systems["drainage"].planner
    level = ctl.store["drainage.sump.level"]
    await ctl.store.wait_for(level.path, lambda t: t.quality is Quality.GOOD, 10)
    rig.plant.sensors[1].stuck_at = 9.0            # transmitter 2 over its 0-4 m range
    await ctl.store.wait_for(level.path, lambda t: t.reason == "one_sensor_bad", 10)
    await rig.run_for(10)
    want = ctl.systems["drainage"].level.volume(level.value)
    assert planner.volume is not None and abs(planner.volume - want) < 1.0, \
        (planner.volume, want)
    assert planner.volume > 500                    # ~780 m3 at 1.2 m, not 0
    # both bad: no number at all, and the planner holds
    rig.plant.sensors[0].stuck_at = 9.0
    await ctl.store.wait_for(level.path, lambda t: t.quality is Quality.BAD, 10)
    await rig.run_for(10)
    assert planner.volume is None
    assert ctl.store.value("drainage.control.status") == "holding: sump level unknown"


async def test_full_disks_are_alarmed_and_high_high_still_pumps(
        rig_factory: Callable[..., Rig], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """History and audit on a full disk: both alarmed through the controller's own health
    tags; an operator's command is refused, level control at high-high still acts (its
    command kept in the history's memory and the gate's records, marked not audited)."""
    from fixedsite.audit import AuditError, AuditLog

    rig = rig_factory(scale=600.0, initial_level_m="2.3")
    await rig.site.start()
    h, audit = Historian(tmp_path / "history.db"), AuditLog(tmp_path / "audit.db")
    ctl = rig.ctl = Controller(rig.cfg, rig.clock, audit=audit, historian=h)
    fill_sqlite(h.db)
    fill_sqlite(audit._db)
    with contextlib.suppress(AuditError):          # and the audit table's own pages
        for i in range(100_000):
            audit.append(ts=0.0, kind="test", actor="t", source="t", target="t",
                         action=f"fill {i}")
    await ctl.start()
    await rig.until(lambda: ctl.alarms.alarms["controller.historian.FAILED"].state
                    == "unack_active", 4000, "the history alarm")
    assert "full" in str(ctl.store.value("controller.historian.error"))
    seq = ctl.sequences["drainage.pump1"]
    await rig.until(lambda: seq.adopted, 60, "pump1 adopted")
    refused = await ctl.gate.submit(Command(seq.path, "set_mode", "operator", "op",
                                            {"mode": "remote-manual"}, role="engineer"))
    assert not refused and "audit log cannot be written" in refused.reason
    assert ctl.alarms.alarms["controller.audit.FAILED"].state == "unack_active"
    rig.site.units[0].surge(0, 3600, 900.0)
    await rig.until(lambda: rig.plant.sump.level >= 2.5 and
                    sum(p.motor_on for p in rig.plant.pumps) >= 3, 3600,
                    "high-high, pumps started without the audit log")
    auto = [r for r in ctl.gate.records if r.command.source == "auto"
            and r.decision.accepted]
    assert auto and all("NOT AUDITED" in r.decision.reason for r in auto)


async def test_a_task_ending_while_the_controller_winds_down_is_not_restarted(
        caplog: pytest.LogCaptureFixture) -> None:
    """Stopping closes a driver's link before its task is cancelled, so the task ends by
    itself first: that is the stop, not a failure to restart and alarm."""
    from fixedsite.clock import ManualClock
    from fixedsite.supervisor import Supervisor
    from fixedsite.tags import TagStore

    store = TagStore(ManualClock())
    sup = Supervisor(store)
    closed, ended = asyncio.Event(), asyncio.Event()

    async def driver_like() -> None:
        await closed.wait()               # the link closed under it: run() returns
        ended.set()

    sup.start("driver-x", driver_like)
    await asyncio.sleep(0)
    sup.winding_down()
    closed.set()
    await asyncio.wait_for(ended.wait(), 5)
    assert await sup.stop() == []
    assert sup.restarts == 0 and store.value("controller.tasks.ok") is True
    assert not [r for r in caplog.records if r.name == "fixedsite.supervisor"]


async def test_a_stray_cancellation_of_a_task_is_a_failure_not_the_end() -> None:
    from fixedsite.clock import ManualClock
    from fixedsite.supervisor import Supervisor
    from fixedsite.tags import TagStore

    store = TagStore(ManualClock())
    sup = Supervisor(store)
    runs = 0
    second = asyncio.Event()

    async def cancelled_by_a_library() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise asyncio.CancelledError      # e.g. a wait_for inside a client library
        second.set()
        await asyncio.Event().wait()

    sup.start("x", cancelled_by_a_library)
    await asyncio.wait_for(second.wait(), 5)
    assert sup.restarts == 1
    assert await sup.stop() == []


async def test_a_part_slower_than_the_step_timeout_is_never_cut_half_way(
        rig_factory: Callable[..., Rig]) -> None:
    """A PLC slow to confirm each write makes level control's start outlast the step
    time-out. It is reported stuck, never cancelled: cancelled, transitions moved the pump
    to priming without writing prime_cmd (found by review), and the start was recorded as
    read back."""
    rig = rig_factory(scale=60.0, initial_level_m="1.6")     # above the first start level
    await rig.site.start()
    ctl = Controller(rig.cfg, rig.clock)
    ctl.step_timeout_s = 0.05
    router, real_write = ctl.writer, ctl.writer.write

    async def slow(path: str, value: float | bool):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.2)          # the fault injected: each write outlasts the step
        return await real_write(path, value)

    router.write = slow  # type: ignore[method-assign]
    rig.ctl = ctl
    stuck: list[str] = []
    await ctl.start()
    try:
        def primed_as_commanded() -> bool:
            stuck.append(str(ctl.store.value("controller.scan.failed") or ""))
            return any(seq.state in ("priming", "starting") and
                       rig.plc.coils[COIL_PUMP + COIL_PUMP_STRIDE * i]
                       for i, seq in enumerate(ctl.sequences.values()))
        await rig.until(primed_as_commanded, 600, "a pump priming with prime_cmd written")
        assert any("drainage.control: TimeoutError: still running after 0.05 s: stuck" in f
                   for f in stuck), stuck[-5:]
        start = next(r for r in ctl.gate.records if r.command.action == "start")
        assert start.decision.accepted and "read back" in start.decision.reason
        seq = ctl.sequences[start.command.target]
        i = list(ctl.sequences).index(seq.path)
        assert rig.plc.coils[COIL_PUMP + COIL_PUMP_STRIDE * i], "prime_cmd at the PLC"
    finally:
        await rig.stop_controller()
