"""Air doors and regulating windows on soft tags under a manual clock (issue 12).

No network: the test plays the PLC by setting tags, and the soft writer records every
write in order, so each test asserts the exact commands the sequences gave.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fixedsite.clock import ManualClock
from fixedsite.gate import Command, CommandGate, Decision
from fixedsite.io import SoftWriter
from fixedsite.sequences.ventilation import doors
from fixedsite.sequences.ventilation.config import (
    DoorEq,
    VentilationControl,
    VentilationSystem,
    WindowEq,
)
from fixedsite.sequences.ventilation.doors import (
    DOOR_COMMANDS,
    WINDOW_COMMANDS,
    DoorHandler,
    DoorSequence,
    WindowHandler,
    WindowSequence,
    link_airlocks,
)
from fixedsite.sequences.ventilation.equipment import DOOR, WINDOW
from fixedsite.tags import Quality, TagStore

CTL = VentilationControl(fans=["fan1", "fan2"], shaft_sensor="shaft",
                         nominal_airflow_m3s=150.0, door_timeout_s=20.0,
                         window_timeout_s=20.0)
S = "vent"


class Soft:
    """Doors d1, d2 (airlock a1) and window w1 on soft tags; both doors closed, the
    window at 50 %."""

    def __init__(self) -> None:
        self.clock = ManualClock(1000.0)
        self.store = TagStore(self.clock)
        self.writer = SoftWriter(self.store)
        self.gate = CommandGate(self.clock)
        self.doors: dict[str, DoorSequence] = {}
        for d in ("d1", "d2"):
            for sig in DOOR:
                self.store.define(f"{S}.{d}.{sig}")
            self.set(d, open_cmd=False, opened=False, closed=True, warning=False,
                     obstructed=False, fault=False, refused=False)
            self.doors[d] = DoorSequence(S, d, DoorEq(type="door", plc="vent1", airlock="a1"),
                                         CTL, self.store, self.writer, self.clock)
        link_airlocks(list(self.doors.values()))
        for seq in self.doors.values():
            self.gate.register(seq.path, DoorHandler(seq),
                               {c.action: c.role for c in DOOR_COMMANDS})
        for sig in WINDOW:
            self.store.define(f"{S}.w1.{sig}")
        self.set("w1", position_sp=50.0, position=50.0, fault=False)
        self.window = WindowSequence(S, "w1", WindowEq(type="window", plc="vent1"), CTL,
                                     self.store, self.writer, self.clock)
        self.gate.register(self.window.path, WindowHandler(self.window),
                           {c.action: c.role for c in WINDOW_COMMANDS})

    def set(self, eq: str, **values: object) -> None:
        for k, v in values.items():
            self.store.set(f"{S}.{eq}.{k}", v)

    async def scan(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)
        for seq in self.doors.values():
            await seq.scan()
        await self.window.scan()

    def take_writes(self) -> list[tuple[str, object]]:
        w, self.writer.writes[:] = list(self.writer.writes), []
        return [(p.removeprefix(f"{S}."), v) for p, v in w]

    async def cmd(self, target: str, action: str, role: str | None = "operator",
                  **params: object) -> Decision:
        return await self.gate.submit(Command(f"{S}.{target}", action, "operator", "op1",
                                              params=dict(params), role=role))

    def state(self, eq: str) -> str:
        return str(self.store.value(f"{S}.{eq}.state"))

    def reason(self, eq: str) -> str:
        return str(self.store.value(f"{S}.{eq}.fault_reason"))


async def open_d1(s: Soft) -> None:
    """Plays the PLC through a whole opening of d1 (warning, travel, open limit)."""
    assert await s.cmd("d1", "open")
    assert s.take_writes() == [("d1.open_cmd", True)]
    s.set("d1", warning=True)
    await s.scan(5.0)
    assert s.state("d1") == "opening"
    s.set("d1", closed=False)
    await s.scan(1.5)
    s.set("d1", opened=True, warning=False)
    await s.scan()
    assert s.state("d1") == "open"


# --- doors ---------------------------------------------------------------------------------
async def test_door_opens_and_closes_proven_by_its_limits() -> None:
    s = Soft()
    await s.scan()
    assert s.state("d1") == "closed" and s.take_writes() == []     # adopted, wrote nothing
    await open_d1(s)
    assert s.take_writes() == []
    d = await s.cmd("d1", "close")
    assert d and s.take_writes() == [("d1.open_cmd", False)]
    assert s.state("d1") == "closing"
    s.set("d1", warning=True)
    await s.scan(5.0)
    s.set("d1", opened=False)
    await s.scan(1.5)
    assert s.state("d1") == "closing"
    s.set("d1", closed=True, warning=False)
    await s.scan()
    assert s.state("d1") == "closed" and s.reason("d1") == ""


async def test_open_refused_while_the_partner_is_not_proven_closed() -> None:
    s = Soft()
    await s.scan()
    await open_d1(s)
    d = await s.cmd("d2", "open")
    assert not d
    assert d.reason == "d1 of airlock a1 is not closed (open): d2 may not open"
    assert s.take_writes() == []
    # closed by its limit switch but still commanded open: not proven closed either
    s.set("d1", opened=False, closed=True)
    d = await s.cmd("d2", "open")
    assert not d and "d1 of airlock a1 is not closed" in d.reason
    assert s.take_writes() == []


async def test_open_refused_while_the_partner_is_opening_even_at_its_closed_limit() -> None:
    """d1 commanded open, still sounding its warning at the closed limit: the PLC would
    refuse d2 too, but the supervisor does not rely on that."""
    s = Soft()
    await s.scan()
    assert await s.cmd("d1", "open")
    s.take_writes()
    d = await s.cmd("d2", "open")
    assert not d and d.reason == "d1 of airlock a1 is not closed (opening): d2 may not open"
    assert s.take_writes() == []


async def test_open_refused_when_the_partner_reads_bad() -> None:
    s = Soft()
    await s.scan()
    s.store.mark([s.store[f"{S}.d1.closed"]], Quality.BAD, "comm_fail")
    d = await s.cmd("d2", "open")
    assert not d and d.reason == "d1 of airlock a1 reads no good data: d2 may not open"
    assert s.take_writes() == []


async def test_door_commands_refused_on_bad_data_and_state_held_no_better() -> None:
    s = Soft()
    await s.scan()
    s.store.mark([s.store[f"{S}.d1.opened"]], Quality.BAD, "comm_fail")
    await s.scan()
    st = s.store[f"{S}.d1.state"]
    assert st.value == "closed" and st.quality is Quality.BAD and st.reason == "comm_fail"
    for action in ("open", "close"):
        d = await s.cmd("d1", action)
        assert not d and d.reason == ("d1 state unknown (no good data from its PLC); no "
                                      "command until it answers")
    assert s.take_writes() == []
    s.set("d1", opened=False)
    await s.scan()
    assert s.store[f"{S}.d1.state"].quality is Quality.GOOD


async def test_door_takes_no_other_command_and_reset_needs_a_fault() -> None:
    s = Soft()
    await s.scan()
    d = await s.cmd("d1", "start")           # the gate: no role may start a door
    assert not d and d.reason == "op1 (operator) may not start: it needs the admin role"
    d = await s.cmd("d1", "start", role=None)   # a trusted local caller: the handler
    assert not d and d.reason == "d1 takes no 'start' command"
    d = await s.cmd("d1", "reset")
    assert not d and d.reason == "d1 is not faulted"


async def test_obstructed_while_opening_faults_and_withdraws_the_open() -> None:
    s = Soft()
    await s.scan()
    assert await s.cmd("d1", "open")
    s.take_writes()
    s.set("d1", warning=True)
    await s.scan(5.0)
    s.set("d1", closed=False)
    await s.scan(1.0)
    s.set("d1", obstructed=True)               # the PLC stops it and takes it back shut
    await s.scan(0.5)
    assert s.state("d1") == "fault"
    assert s.reason("d1") == "d1 obstructed while opening: the PLC took it back"
    assert s.take_writes() == [("d1.open_cmd", False)]
    d = await s.cmd("d1", "open")
    assert not d and d.reason == ("d1 is faulted (d1 obstructed while opening: the PLC "
                                  "took it back); reset it first")
    d = await s.cmd("d1", "reset")
    assert not d and d.reason == "d1 is still obstructed"
    s.set("d1", obstructed=False)
    await s.scan()
    d = await s.cmd("d1", "reset")
    assert not d and "between its limit switches" in d.reason
    s.set("d1", closed=True, warning=False)
    await s.scan()
    assert s.state("d1") == "fault"            # a fault waits for a person
    d = await s.cmd("d1", "reset")
    assert d and s.state("d1") == "closed" and s.reason("d1") == ""
    assert s.take_writes() == []               # the command already matched the door


async def test_obstructed_while_closing_holds_the_door_open() -> None:
    """Nothing closes on a person again by itself: the command follows the door back."""
    s = Soft()
    await s.scan()
    await open_d1(s)
    assert await s.cmd("d1", "close")
    assert s.take_writes() == [("d1.open_cmd", False)]
    s.set("d1", opened=False, warning=True)
    await s.scan(6.0)
    s.set("d1", obstructed=True)
    await s.scan()
    assert s.state("d1") == "fault"
    assert s.reason("d1") == "d1 obstructed while closing: the PLC took it back"
    assert s.take_writes() == [("d1.open_cmd", True)]
    s.set("d1", obstructed=False, opened=True, warning=False)
    await s.scan()
    assert await s.cmd("d1", "reset")
    assert s.state("d1") == "open" and s.take_writes() == []
    assert await s.cmd("d1", "close")
    assert s.take_writes() == [("d1.open_cmd", False)]


async def test_door_not_proven_in_time_faults_with_what_it_waited_for() -> None:
    s = Soft()
    await s.scan()
    assert await s.cmd("d1", "open")
    s.take_writes()
    s.set("d1", warning=True)
    await s.scan(10.0)
    s.set("d1", closed=False)                  # it moved off and stuck half way
    await s.scan(10.0)
    assert s.state("d1") == "opening"          # 20 s not yet over
    await s.scan(0.5)
    assert s.state("d1") == "fault"
    assert s.reason("d1") == "d1 not open within 20 s: between its limit switches"
    assert s.take_writes() == [("d1.open_cmd", False)]


async def test_door_that_never_moves_times_out_at_its_closed_limit() -> None:
    s = Soft()
    await s.scan()
    await open_d1(s)
    assert await s.cmd("d1", "close")
    s.take_writes()
    await s.scan(20.5)
    assert s.state("d1") == "fault"
    assert s.reason("d1") == "d1 not closed within 20 s: still at its open limit"
    assert s.take_writes() == []               # the close stands; nothing else to ask


async def test_plc_refusal_faults_at_once_with_the_plc_s_reason() -> None:
    s = Soft()
    await s.scan()
    assert await s.cmd("d1", "open")
    s.take_writes()
    s.set("d1", refused=True)
    await s.scan()
    assert s.state("d1") == "fault"
    assert s.reason("d1") == ("d1 not opened: the PLC refused to open it (a door of its "
                              "airlock is not closed)")
    assert s.take_writes() == [("d1.open_cmd", False)]


async def test_partner_leaving_closed_while_opening_faults_the_opening_door() -> None:
    s = Soft()
    await s.scan()
    assert await s.cmd("d1", "open")
    s.take_writes()
    s.set("d2", closed=False)                  # pushed open at the door, say
    await s.scan()
    assert s.state("d1") == "fault"
    assert s.reason("d1") == "d2 of airlock a1 is not proven closed while d1 opens"
    assert s.state("d2") == "fault"
    assert s.reason("d2") == "d2 left its closed limit without a command"
    assert s.take_writes() == [("d1.open_cmd", False)]


async def test_unconfirmed_door_command_is_a_fault() -> None:
    s = Soft()
    await s.scan()
    s.writer.refuse[f"{S}.d1.open_cmd"] = "read-back False differs from True"
    d = await s.cmd("d1", "open")
    assert not d and d.reason == ("open_cmd=1 not confirmed: read-back False differs "
                                  "from True")
    assert s.state("d1") == "fault"


async def test_restart_adopts_an_open_door_and_one_mid_travel_writing_nothing() -> None:
    s = Soft()
    s.set("d1", open_cmd=True, opened=True, closed=False)
    s.set("d2", open_cmd=False, opened=True, closed=False, warning=True)   # closing
    await s.scan()
    assert s.state("d1") == "open" and s.state("d2") == "closing"
    assert s.take_writes() == []
    s.set("d2", opened=False)
    await s.scan(3.0)
    s.set("d2", closed=True, warning=False)
    await s.scan()
    assert s.state("d2") == "closed" and s.take_writes() == []


async def test_restart_adopts_an_obstructed_door_as_faulted() -> None:
    s = Soft()
    s.set("d1", open_cmd=True, closed=False, obstructed=True)
    await s.scan()
    assert s.state("d1") == "fault"
    assert s.reason("d1") == "d1 obstructed while opening: the PLC took it back"
    assert s.take_writes() == []


# --- windows -------------------------------------------------------------------------------
async def test_window_set_and_proven_within_tolerance() -> None:
    s = Soft()
    await s.scan()
    assert s.state("w1") == "in_position" and s.take_writes() == []
    d = await s.cmd("w1", "set", position=30.0)
    assert d and d.reason == "w1 moving to 30.0 % (set-point read back)"
    assert s.take_writes() == [("w1.position_sp", 30.0)]
    assert s.state("w1") == "moving"
    s.set("w1", position=40.0)
    await s.scan(1.0)
    assert s.state("w1") == "moving"
    s.set("w1", position=31.5)                 # inside 2 %
    await s.scan(1.0)
    assert s.state("w1") == "in_position" and s.take_writes() == []


@pytest.mark.parametrize("params, got", [
    ({"position": 100.5}, "100.5"), ({"position": -1.0}, "-1.0"),
    ({"position": float("nan")}, "nan"), ({"position": float("inf")}, "inf"),
    ({"position": "45"}, "'45'"), ({"position": True}, "True"), ({}, "None"),
])
async def test_window_position_refused_outside_0_to_100(params: dict[str, object],
                                                       got: str) -> None:
    s = Soft()
    await s.scan()
    d = await s.cmd("w1", "set", **params)
    assert not d
    assert d.reason == f"a window's position is a number from 0 to 100 (%); got {got}"
    assert s.take_writes() == []


async def test_window_stuck_faults_and_stops_chasing_its_set_point() -> None:
    s = Soft()
    await s.scan()
    assert await s.cmd("w1", "set", position=80.0)
    s.take_writes()
    s.set("w1", position=57.26)
    await s.scan(10.0)
    await s.scan(10.5)
    assert s.state("w1") == "fault"
    assert s.reason("w1") == "w1 not at 80.0 % within 20 s: it stands at 57.3 %"
    assert s.take_writes() == [("w1.position_sp", 57.3)]
    d = await s.cmd("w1", "set", position=70.0)
    assert not d and d.reason.startswith("w1 is faulted (w1 not at 80.0 %")
    assert await s.cmd("w1", "reset")
    assert s.state("w1") == "in_position" and s.take_writes() == []


async def test_window_actuator_fault_and_reset_refused_while_it_stands() -> None:
    s = Soft()
    await s.scan()
    assert await s.cmd("w1", "set", position=20.0)
    s.take_writes()
    s.set("w1", position=45.0, fault=True)
    await s.scan()
    assert s.state("w1") == "fault"
    assert s.reason("w1") == "w1: the PLC reports an actuator fault (travel timeout)"
    assert s.take_writes() == [("w1.position_sp", 45.0)]
    d = await s.cmd("w1", "reset")
    assert not d and d.reason == "w1: its actuator still reports a fault"
    s.set("w1", fault=False)
    await s.scan()
    assert await s.cmd("w1", "reset")


async def test_window_refused_on_bad_data_and_adopted_moving_after_restart() -> None:
    s = Soft()
    s.set("w1", position_sp=70.0, position=52.0)    # a move under way when we restarted
    s.store.mark([s.store[f"{S}.w1.position"]], Quality.BAD, "comm_fail")
    await s.scan()
    d = await s.cmd("w1", "set", position=10.0)
    assert not d and d.reason == ("w1 state unknown (no good data from its PLC); no "
                                  "command until it answers")
    s.set("w1", position=52.0)
    await s.scan()
    assert s.state("w1") == "moving" and s.take_writes() == []
    s.set("w1", position=69.0)
    await s.scan(5.0)
    assert s.state("w1") == "in_position" and s.take_writes() == []


async def test_window_follows_a_set_point_it_did_not_write() -> None:
    s = Soft()
    await s.scan()
    s.set("w1", position_sp=20.0)              # a panel, or the PLC's fallback tracking
    await s.scan()
    assert s.state("w1") == "moving"
    await s.scan(21.0)
    assert s.state("w1") == "fault" and "not at 20.0 %" in s.reason("w1")


# --- what the lead declares ---------------------------------------------------------------
def test_published_tags_and_every_said_text_has_its_chinese() -> None:
    eqs = {"d1": DoorEq(type="door", plc="p", airlock="a"),
           "w1": WindowEq(type="window", plc="p")}
    system = VentilationSystem(kind="ventilation", equipment=eqs, control=CTL)
    assert doors.published(S, system) == {
        "vent.d1.state": "text", "vent.d1.fault_reason": "text",
        "vent.w1.state": "text", "vent.w1.fault_reason": "text"}
    tree = ast.parse(Path(doors.__file__).read_text(encoding="utf-8"))
    said = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", "") == "say" and n.args
            and isinstance(n.args[0], ast.Constant)}
    assert len(said) > 30
    assert sorted(said - set(doors.TEXTS)) == []
    assert [c.method for c in DOOR_COMMANDS] == ["Open", "Close", "Reset"]
    assert WINDOW_COMMANDS[0].args[0].type == "double"
    assert "e.g." in WINDOW_COMMANDS[0].args[0].description
