"""Dispatch through the gate and switching tickets (issue 13) on soft tags under a manual
clock: the test's small network (``test_power_interlocks``) with a tiny relay model that
moves a bay's parts when commanded, as the relays do (acting on a command's change from
0, refusing a close while the trip is latched or the bay earthed). The soft writer
records every write in order, so each test asserts the exact commands given.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from test_power_interlocks import SYSTEM, TOPO

from fixedsite.clock import ManualClock
from fixedsite.gate import Command, CommandGate, Decision
from fixedsite.io import SoftWriter
from fixedsite.sequences.power.equipment import BREAKER
from fixedsite.sequences.power.interlocks import Step
from fixedsite.sequences.power.switching import FINAL, Executor, published, wire
from fixedsite.sequences.power.ticket import (
    BREAKER_COMMANDS,
    TICKET_COMMANDS,
    TicketError,
    parse,
    prepare,
)
from fixedsite.systems import BuildContext
from fixedsite.tags import Quality, TagStore

S = "p"
PARTS = (("breaker", "breaker_cmd"), ("disconnector", "disconnector_cmd"),
         ("earthing", "earthing_cmd"))
BAYS = [b for b, eq in SYSTEM.equipment.items() if eq.type == "breaker"]


class Relays:
    """The bays' relays: a command register's change from 0 moves its part at the next
    step (unless the bay is ``stuck``); a close is refused (``refused`` set) while the trip
    is latched, the bay is earthed or listed in ``refuse_close``; the outgoing sides' voltage
    follows the network from the supplies in ``live``."""

    def __init__(self, store: TagStore) -> None:
        self.store = store
        self.live = {"S1", "S2"}
        self.stuck: set[str] = set()
        self.refuse_close: set[str] = set()
        self.seen: dict[tuple[str, str], Any] = {}
        for b in BAYS:
            for sig in BREAKER:
                store.define(f"{S}.{b}.{sig}")
            closed = not SYSTEM.equipment[b].normally_open
            self.set(b, breaker_closed=closed, breaker_open=not closed, trip_code=0,
                     disconnector_closed=True, disconnector_open=False,
                     earthing_closed=False, door_unlocked=False, refused=False, local=False,
                     breaker_cmd=0, disconnector_cmd=0, earthing_cmd=0, door_unlock_cmd=0)
        self.step()

    def set(self, bay: str, **values: Any) -> None:
        for k, v in values.items():
            self.store.set(f"{S}.{bay}.{k}", v)

    def v(self, bay: str, sig: str) -> Any:
        return self.store[f"{S}.{bay}.{sig}"].value

    def step(self) -> None:
        for b in BAYS:
            for part, cmd in PARTS:
                now, before = self.v(b, cmd), self.seen.get((b, cmd), 0)
                self.seen[(b, cmd)] = now
                if before == 0 and now in (1, 2) and b not in self.stuck:
                    self._act(b, part, now == 2)
            if b not in self.stuck:
                self.set(b, door_unlocked=self.v(b, "door_unlock_cmd") == 1)
        conducting = {b: self.v(b, "breaker_closed") and self.v(b, "disconnector_closed")
                      for b in BAYS}
        fed = TOPO.feeds(conducting, self.live)
        for b in BAYS:
            far = TOPO.breakers[b][1]
            self.set(b, line_live=far in self.live if far in SYSTEM.network.sources
                     else far in fed)

    def _act(self, b: str, part: str, close: bool) -> None:
        if part == "breaker" and close and (self.v(b, "trip_code") or b in self.refuse_close
                                            or self.v(b, "earthing_closed")):
            self.set(b, refused=True)
            return
        if part == "earthing":
            self.set(b, earthing_closed=close)
            return
        self.set(b, **{f"{part}_closed": close, f"{part}_open": not close})


class Historian:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, str, dict[str, Any]]] = []

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        self.events.append((t, kind, source, text, data or {}))


class Soft:
    def __init__(self, faulted: tuple[str, ...] = ()) -> None:
        self.clock = ManualClock(1000.0)
        self.store = TagStore(self.clock)
        self.writer = SoftWriter(self.store)
        self.relays = Relays(self.store)
        self.gate = CommandGate(self.clock)
        self.faulted = set(faulted)
        self.ctx = BuildContext(cfg=None, store=self.store, clock=self.clock,
                                writer=self.writer, gate=self.gate,
                                log=logging.getLogger("test"), group=S)
        self.ex: Executor = wire(self.ctx, S, SYSTEM, lambda: self.faulted)
        self.hist = Historian()
        for fn in self.ctx.starts:
            fn(self.hist)

    async def scan(self, seconds: float = 0.5) -> None:
        self.clock.advance(seconds)
        self.relays.step()
        for _name, step, _fed in self.ctx.groups[S]:
            await step()

    async def to_end(self, most: int = 40) -> str:
        for _ in range(most):
            await self.scan()
            if self.ex.state in FINAL:
                return self.ex.state
        raise AssertionError(f"ticket still {self.ex.state} after {most} scans: "
                             f"{self.ex.status}")

    def take_writes(self) -> list[tuple[str, object]]:
        w, self.writer.writes[:] = list(self.writer.writes), []
        return [(p.removeprefix(f"{S}."), v) for p, v in w]

    async def cmd(self, target: str, action: str, role: str | None = "operator",
                  **params: object) -> Decision:
        return await self.gate.submit(Command(f"{S}.{target}", action, "operator", "op1",
                                              params=dict(params), role=role))

    def tag(self, name: str) -> Any:
        return self.store.value(f"{S}.ticket.{name}")


# --- one step through the gate ---------------------------------------------------------------
async def test_operator_opens_a_breaker_written_read_back_proven_and_recorded() -> None:
    s = Soft()
    assert s.tag("state") == "idle" and s.take_writes() == []
    d = await s.cmd("Q211", "open", confirm="Q211")
    assert d and d.reason.startswith("ticket T") and d.reason.endswith(
        " started: open Q211 breaker")
    tid = s.tag("id")
    assert d.reason == f"ticket {tid} started: open Q211 breaker"
    assert s.tag("state") == "checking" and s.take_writes() == []
    await s.scan()
    assert s.tag("state") == "running" and s.tag("step") == "1/1: open Q211 breaker"
    assert s.take_writes() == [("Q211.breaker_cmd", 1)]
    assert s.tag("status") == ("step 1/1: open Q211 breaker: commanded (read back), waiting "
                               "for its feedback")
    assert await s.to_end() == "done"
    assert s.take_writes() == [("Q211.breaker_cmd", 0)]
    assert s.relays.v("Q211", "breaker_open") is True
    assert s.tag("status") == f"ticket {tid} done: 1 steps in 1.0 s"
    r = s.ex.results
    assert [(x.n, x.ok, x.result) for x in r] == [
        (1, True, "done: feedback after 0.5 s (command read back)")]
    (t, kind, source, text, data) = s.hist.events[-1]
    assert (t, kind, source, text) == (1001.0, "power", "p.ticket", s.tag("status"))
    assert data["id"] == tid and data["author"] == "op1" and data["outcome"] == "done"
    assert data["why"] == "operator command open" and data["source"] == "operator"
    assert data["results"] == [{"n": 1, "step": "open Q211 breaker", "started": 1000.5,
                                "ended": 1001.0, "ok": True, "result": r[0].result}]


@pytest.mark.parametrize("typed", ["Q212", "", None, "q211", "Q211x"])
async def test_a_command_whose_confirmation_differs_is_refused_and_writes_nothing(
        typed: Any) -> None:
    s = Soft()
    params = {} if typed is None else {"confirm": typed}
    d = await s.cmd("Q211", "open", **params)
    assert not d and d.reason == (f"not confirmed: type the device id Q211 again to operate "
                                  f"it (got {typed or ''!r})")
    await s.scan()
    assert s.take_writes() == [] and s.tag("state") == "idle"


async def test_the_gate_knows_each_bays_commands_and_their_role() -> None:
    s = Soft()
    assert s.ctx.commands[f"{S}.Q111"] == BREAKER_COMMANDS
    assert s.ctx.commands[f"{S}.ticket"] == TICKET_COMMANDS
    assert [c.method for c in BREAKER_COMMANDS] == [
        "Open", "Close", "OpenDisconnector", "CloseDisconnector", "Earth", "Unearth",
        "UnlockDoor", "LockDoor", "Reset"]
    assert all(c.role == "operator" for c in BREAKER_COMMANDS + TICKET_COMMANDS)
    d = await s.cmd("Q211", "open", role="viewer", confirm="Q211")
    assert not d and d.reason == "op1 (viewer) may not open: it needs the operator role"
    d = await s.cmd("Q999", "open", role=None, confirm="Q999")
    assert not d and d.reason == "no equipment 'p.Q999' takes commands"
    d = await s.cmd("Q211", "explode", role=None, confirm="Q211")
    assert not d and d.reason == "Q211 takes no 'explode' command"
    assert published(S, SYSTEM) == {f"{S}.ticket.{n}": "text"
                                    for n in ("state", "step", "status", "id")}
    assert [t.path for t in s.ex.published] == list(published(S, SYSTEM))
    assert s.take_writes() == []


# --- each prevention refused at the gate, nothing written --------------------------------------
async def test_prevention_2_disconnector_under_load_refused_before_anything_is_written() -> None:
    s = Soft()
    d = await s.cmd("Q211", "open_disconnector", confirm="Q211")
    assert not d and d.reason == ("Q211: no disconnector moved under load: its breaker is "
                                  "not proven open")
    await s.scan()
    assert s.take_writes() == [] and s.tag("state") == "idle"


async def test_prevention_3_earthing_onto_a_section_that_can_be_fed_refused() -> None:
    s = Soft()
    s.relays.set("Q111", breaker_closed=False, breaker_open=True, disconnector_closed=False,
                 disconnector_open=True)
    s.relays.step()
    assert s.relays.v("Q111", "line_live") is False         # the cable reads dead
    d = await s.cmd("Q111", "earth", confirm="Q111")
    assert not d and d.reason == ("Q111: no earthing onto a live section: L1 can be fed "
                                  "through Q201 (not proven open)")
    s.relays.set("Q101", breaker_closed=False, breaker_open=True, disconnector_closed=False,
                 disconnector_open=True)
    s.relays.step()
    d = await s.cmd("Q101", "earth", confirm="Q101")
    assert not d and d.reason == "Q101: no earthing onto a live section: S1 reads live"
    assert s.take_writes() == []


async def test_prevention_4_closing_onto_an_earthed_section_refused() -> None:
    s = Soft()
    for b in ("Q111", "Q201"):
        s.relays.set(b, breaker_closed=False, breaker_open=True)
    s.relays.set("Q201", disconnector_closed=False, disconnector_open=True,
                 earthing_closed=True)
    s.relays.step()
    d = await s.cmd("Q111", "close", confirm="Q111")
    assert not d and d.reason == "Q111: no closing onto an earthed section: L1 is earthed at Q201"
    d = await s.cmd("Q201", "close_disconnector", confirm="Q201")
    assert not d and d.reason == ("Q201: no closing onto an earthed section: its own "
                                  "earthing switch is closed")
    assert s.take_writes() == []


async def test_prevention_5_door_of_a_live_bay_refused() -> None:
    s = Soft()
    d = await s.cmd("Q211", "unlock_door", confirm="Q211")
    assert not d and d.reason == ("Q211: no entry into a live bay: its earthing switch is "
                                  "not closed")
    assert s.take_writes() == []


async def test_close_onto_a_faulted_section_and_with_the_trip_latched_refused() -> None:
    s = Soft(faulted=("L1",))
    for b in ("Q111", "Q201"):
        s.relays.set(b, breaker_closed=False, breaker_open=True)
    s.relays.set("Q211", breaker_closed=False, breaker_open=True, trip_code=2)
    s.relays.step()
    d = await s.cmd("Q111", "close", confirm="Q111")
    assert not d and d.reason == ("Q111: would energise L1, located as faulted: it stays "
                                  "isolated until repaired")
    d = await s.cmd("Q211", "close", confirm="Q211")
    assert not d and d.reason == ("Q211: protection trip latched (instantaneous): reset it "
                                  "first")
    assert s.take_writes() == []
    # the latch reset through the gate: trip_code 0 written and read back, then the close
    assert await s.cmd("Q211", "reset")
    assert s.take_writes() == [("Q211.trip_code", 0)]
    d = await s.cmd("Q211", "reset")
    assert not d and d.reason == "Q211: no trip latched"


async def test_a_reset_the_relay_does_not_take_fails_with_its_reason() -> None:
    s = Soft()
    s.relays.set("Q211", trip_code=1)
    s.writer.refuse[f"{S}.Q211.trip_code"] = "read-back 1 differs from the value written 0"
    d = await s.cmd("Q211", "reset")
    assert not d and d.reason == ("Q211: trip latch not reset: read-back 1 differs from the "
                                  "value written 0 (the relay keeps it while it still picks up)")


async def test_bad_data_refuses_every_command_on_the_bay() -> None:
    s = Soft()
    s.store.mark([s.store[f"{S}.Q211.breaker_open"]], Quality.BAD, "comm_fail")
    for action in ("open", "close", "lock_door"):
        d = await s.cmd("Q211", action, confirm="Q211")
        assert not d and d.reason == ("Q211: no good data from its relay (comm_fail): no "
                                      "switching on data that cannot be trusted")
    s.store.mark([s.store[f"{S}.Q211.trip_code"]], Quality.BAD, "comm_fail")
    d = await s.cmd("Q211", "reset")
    assert not d and d.reason == "Q211: no good data from its relay, no reset until it answers"
    assert s.take_writes() == []


# --- tickets -----------------------------------------------------------------------------------
ISOLATE = "open Q211; open Q211.disconnector; close Q211.earthing; unlock Q211.door"


async def prepared(s: Soft, text: str) -> str:
    d = await s.cmd("ticket", "prepare", steps=text)
    assert d, d.reason
    tid = d.reason.split()[1]
    return tid


async def test_a_ticket_prepared_checked_and_executed_step_by_step() -> None:
    s = Soft()
    tid = await prepared(s, ISOLATE)
    d = await s.cmd("ticket", "execute", id=tid)
    assert not d and d.reason == f"ticket {tid} has not passed its check: check it first"
    d = await s.cmd("ticket", "check")
    assert d and d.reason == (
        f"ticket {tid} passes its check; 1/4: open Q211 breaker: allowed; 2/4: open Q211 "
        "disconnector: allowed; 3/4: close Q211 earthing switch: allowed; 4/4: unlock Q211 "
        "bay door: allowed")
    d = await s.cmd("ticket", "execute", id="T-wrong")
    assert not d and d.reason == (f"not confirmed: type the prepared ticket's id {tid} again "
                                  "to execute it (got 'T-wrong')")
    assert await s.cmd("ticket", "execute", id=tid)
    assert s.take_writes() == []
    steps = []
    while s.ex.state not in FINAL:
        await s.scan()
        steps.append(s.tag("step"))
    assert s.ex.state == "done"
    assert s.take_writes() == [
        ("Q211.breaker_cmd", 1), ("Q211.breaker_cmd", 0),
        ("Q211.disconnector_cmd", 1), ("Q211.disconnector_cmd", 0),
        ("Q211.earthing_cmd", 2), ("Q211.earthing_cmd", 0),
        ("Q211.door_unlock_cmd", 1)]                   # every write on its own device only
    assert "3/4: close Q211 earthing switch" in steps
    assert [r.ok for r in s.ex.results] == [True] * 4
    assert (s.relays.v("Q211", "earthing_closed"), s.relays.v("Q211", "door_unlocked")) == \
        (True, True)
    data = s.hist.events[-1][4]
    assert data["checked_by"] == "op1" and data["outcome"] == "done"
    assert [r["step"] for r in data["results"]] == [
        "open Q211 breaker", "open Q211 disconnector", "close Q211 earthing switch",
        "unlock Q211 bay door"]


async def test_a_ticket_check_shows_the_step_that_would_be_refused_and_execution_is_held() -> None:
    s = Soft()
    tid = await prepared(s, "open Q211; close Q211.earthing; unlock Q211.door")
    d = await s.cmd("ticket", "check")
    assert not d and d.reason == (
        f"ticket {tid} would be refused at step 2; 1/3: open Q211 breaker: allowed; 2/3: "
        "close Q211 earthing switch: REFUSED: Q211: no earthing while its disconnector is "
        "not proven open: open it first; steps 3 to 3 not checked")
    d = await s.cmd("ticket", "execute", id=tid)
    assert not d and "has not passed its check" in d.reason
    assert s.take_writes() == []


@pytest.mark.parametrize("text, why", [
    ("", "a ticket needs at least one step"),
    ("  ;\n ", "a ticket needs at least one step"),
    ("toggle Q211", "step 1 ('toggle Q211'): write an action (open, close, unlock, lock) "
                    "and a device, e.g. close Q111.earthing"),
    ("open", "step 1 ('open'): write an action (open, close, unlock, lock) and a device, "
             "e.g. close Q111.earthing"),
    ("open Q211; close Q999", "step 2 ('close Q999'): no breaker bay 'Q999' in this network"),
    ("open Q211.fuse", "step 1 ('open Q211.fuse'): a bay's parts are breaker, disconnector, "
                       "earthing, door"),
    ("open Q211.door", "step 1 ('open Q211.door'): a door is unlocked or locked, a breaker, "
                       "disconnector or earthing switch opened or closed"),
    ("close Q100.earthing", "step 1 ('close Q100.earthing'): Q100 has no such part"),
    ("open Q211;" * 65, "a ticket has at most 64 steps"),
    ("x" * 4001, "a ticket's text is at most 4000 characters"),
])
async def test_bad_ticket_text_is_refused_with_a_clear_reason(text: str, why: str) -> None:
    s = Soft()
    d = await s.cmd("ticket", "prepare", steps=text)
    assert not d and d.reason == why
    d = await s.cmd("ticket", "check")
    assert not d and d.reason == "no ticket prepared"
    d = await s.cmd("ticket", "prepare", steps=12)
    assert not d and d.reason == "a ticket needs at least one step"


def test_ticket_text_reads_back_in_both_languages() -> None:
    steps = parse(ISOLATE, SYSTEM)
    assert steps == [Step("Q211", "breaker", "open"), Step("Q211", "disconnector", "open"),
                     Step("Q211", "earthing", "close"), Step("Q211", "door", "unlock")]
    t = prepare(steps, "op1", now=1000.0)
    assert parse(t.text(), SYSTEM) == steps
    assert parse("断开 Q211 断路器；拉开 Q211 隔离开关\n合上 Q211 接地开关；解锁 Q211 柜门",
                 SYSTEM) == steps
    with pytest.raises(TicketError, match="at least one step"):
        prepare([], "op1")


async def test_a_step_whose_feedback_never_comes_fails_the_ticket_there() -> None:
    s = Soft()
    s.relays.stuck.add("Q211")
    s.ex.start(parse("open Q211; open Q211.disconnector", SYSTEM), "maintenance", "operator",
               "op1")
    await s.scan()
    assert s.take_writes() == [("Q211.breaker_cmd", 1)]
    for _ in range(20):                    # 10.0 s of step_timeout: not yet
        await s.scan()
        assert s.ex.state == "running"
    assert await s.to_end() == "failed"
    assert s.take_writes() == [("Q211.breaker_cmd", 0)]       # withdrawn; step 2 never sent
    assert s.tag("status") == (f"ticket {s.tag('id')} stopped at step 1/2 (open Q211 "
                               "breaker): no feedback within 10.0 s: the plant is left as it "
                               "is (no rollback)")
    assert [(r.n, r.ok) for r in s.ex.results] == [(1, False)]
    assert s.hist.events[-1][4]["outcome"] == "failed"


async def test_feedback_lost_to_bad_data_fails_the_step_saying_so() -> None:
    s = Soft()
    s.relays.stuck.add("Q211")                   # its gateway went silent
    s.ex.start([Step("Q211", "breaker", "open")], "maintenance", "operator")
    await s.scan()
    s.store.mark([s.store[f"{S}.Q211.breaker_open"]], Quality.BAD, "comm_fail")
    assert await s.to_end() == "failed"
    assert s.ex.results[-1].result == ("no feedback within 10.0 s (no good data from its "
                                       "relay: comm_fail)")
    assert s.take_writes() == [("Q211.breaker_cmd", 1), ("Q211.breaker_cmd", 0)]


async def test_a_command_not_read_back_fails_the_ticket_at_that_step() -> None:
    s = Soft()
    s.writer.refuse[f"{S}.Q211.disconnector_cmd"] = "read-back 0 differs from the value written 1"
    s.ex.start(parse("open Q211; open Q211.disconnector; close Q211.earthing", SYSTEM),
               "maintenance", "operator", "op1")
    assert await s.to_end() == "failed"
    assert s.take_writes() == [("Q211.breaker_cmd", 1), ("Q211.breaker_cmd", 0),
                               ("Q211.disconnector_cmd", 1), ("Q211.disconnector_cmd", 0)]
    assert s.ex.step_index == 1
    assert s.ex.results[-1].result == ("disconnector_cmd=1 not confirmed: read-back 0 differs "
                                       "from the value written 1")
    assert "stopped at step 2/3 (open Q211 disconnector)" in s.tag("status")


async def test_a_close_the_relay_refuses_fails_the_ticket() -> None:
    s = Soft()
    s.relays.set("Q211", breaker_closed=False, breaker_open=True)
    s.relays.refuse_close.add("Q211")
    s.ex.start([Step("Q211", "breaker", "close")], "restore", "auto")
    assert await s.to_end() == "failed"
    assert s.ex.results[-1].result == "the relay refused the close"
    assert s.take_writes() == [("Q211.breaker_cmd", 2), ("Q211.breaker_cmd", 0)]


async def test_the_plant_changing_after_the_check_is_caught_before_the_step() -> None:
    s = Soft()
    tid = await prepared(s, "open Q211; open Q211.disconnector")
    assert await s.cmd("ticket", "check")
    # executed; after step 1, someone closes the breaker again at the switchgear
    assert await s.cmd("ticket", "execute", id=tid)
    await s.scan()
    await s.scan()
    assert s.ex.step_index == 1 and s.take_writes() == [("Q211.breaker_cmd", 1),
                                                        ("Q211.breaker_cmd", 0)]
    s.relays.set("Q211", breaker_closed=True, breaker_open=False)
    await s.scan()
    assert s.ex.state == "running" and s.tag("status") == (
        "step 2/2: open Q211 disconnector held: Q211: no disconnector moved under load: its "
        "breaker is not proven open")
    assert await s.to_end() == "failed"
    assert s.take_writes() == []                  # the disconnector was never commanded
    assert s.tag("status") == (f"ticket {tid} stopped at step 2/2 (open Q211 disconnector): "
                               "Q211: no disconnector moved under load: its breaker is not "
                               "proven open: the plant is left as it is (no rollback)")


async def test_a_change_that_clears_within_the_settle_time_lets_the_ticket_go_on() -> None:
    s = Soft()
    s.ex.start(parse("open Q211; open Q211.disconnector", SYSTEM), "maintenance", "operator")
    await s.scan()
    await s.scan()
    s.store.mark([s.store[f"{S}.Q211.trip_code"]], Quality.UNCERTAIN, "stale")   # a lag
    await s.scan()
    assert "held: Q211: no good data from its relay (stale)" in s.tag("status")
    assert s.take_writes() == [("Q211.breaker_cmd", 1), ("Q211.breaker_cmd", 0)]
    s.relays.set("Q211", trip_code=0)            # the next poll: good again
    assert await s.to_end() == "done"


async def test_the_plant_changing_between_check_and_execute_refuses_before_any_write() -> None:
    s = Soft()
    tid = await prepared(s, "open Q211; open Q211.disconnector")
    assert await s.cmd("ticket", "check")
    s.relays.set("Q211", trip_code=1)            # irrelevant for opening: still fine
    s.store.mark([s.store[f"{S}.Q211.disconnector_open"]], Quality.BAD, "comm_fail")
    assert await s.cmd("ticket", "execute", id=tid)
    assert await s.to_end() == "failed"
    assert s.tag("status") == (f"ticket {tid} refused at step 1/2 (open Q211 breaker): Q211: "
                               "no good data from its relay (comm_fail): no switching on data "
                               "that cannot be trusted: nothing written")
    assert s.take_writes() == []


async def test_two_tickets_at_once_the_second_is_refused() -> None:
    s = Soft()
    s.relays.stuck.add("Q211")
    first = s.ex.start([Step("Q211", "breaker", "open")], "maintenance", "operator", "op1")
    await s.scan()
    with pytest.raises(TicketError, match=f"ticket {first.id} is running: one switching "
                                          "ticket at a time"):
        s.ex.start([Step("Q121", "breaker", "open")], "transfer", "auto")
    d = await s.cmd("Q121", "open", confirm="Q121")
    assert not d and d.reason == f"ticket {first.id} is running: one switching ticket at a time"
    tid = await prepared(s, "open Q121")                     # preparing the next is fine
    assert await s.cmd("ticket", "check")
    d = await s.cmd("ticket", "execute", id=tid)
    assert not d and "one switching ticket at a time" in d.reason
    assert s.take_writes() == [("Q211.breaker_cmd", 1)]
    assert s.ex.ticket is first


async def test_abort_mid_ticket_withdraws_the_command_and_runs_no_further_step() -> None:
    s = Soft()
    s.relays.stuck.add("Q211")
    s.ex.start(parse("open Q211; open Q211.disconnector", SYSTEM), "maintenance", "operator")
    await s.scan()
    assert s.take_writes() == [("Q211.breaker_cmd", 1)]
    d = await s.cmd("ticket", "abort")
    assert d and d.reason == "ticket aborted: the plant is left as it is (no rollback)"
    assert s.ex.state == "aborted" and s.take_writes() == [("Q211.breaker_cmd", 0)]
    assert s.tag("status") == (f"ticket {s.tag('id')} aborted at step 1/2 by op1: the plant "
                               "is left as it is (no rollback)")
    for _ in range(3):
        await s.scan()
    assert s.take_writes() == [] and s.ex.state == "aborted"
    assert s.hist.events[-1][4]["outcome"] == "aborted"
    assert [(r.ok, r.result) for r in s.ex.results] == [(False, "aborted")]
    d = await s.cmd("ticket", "abort")
    assert not d and d.reason == "no ticket is running"


async def test_a_step_already_done_writes_nothing() -> None:
    s = Soft()
    s.ex.start([Step("Q100", "breaker", "open")], "check tie", "auto")   # normally open
    assert await s.to_end() == "done"
    assert s.take_writes() == []
    assert s.ex.results[0].result == "already so: nothing written"


async def test_restart_half_way_a_command_left_standing_is_cleared_before_the_next() -> None:
    s = Soft()
    s.relays.set("Q211", breaker_cmd=2)           # a controller died during a close
    s.relays.step()
    await s.scan()
    await s.scan()
    assert s.take_writes() == [] and s.tag("state") == "idle"     # a restart writes nothing
    s.ex.start([Step("Q211", "breaker", "open")], "maintenance", "operator")
    await s.scan()
    assert s.take_writes() == [("Q211.breaker_cmd", 0)]
    assert s.tag("status") == "step 1/1: open Q211 breaker: a command left standing cleared first"
    assert await s.to_end() == "done"
    assert s.take_writes() == [("Q211.breaker_cmd", 1), ("Q211.breaker_cmd", 0)]
    assert s.relays.v("Q211", "breaker_open") is True


async def test_restoration_drives_the_executor_directly() -> None:
    """What restore.py does: start a plan's steps, follow state/step/results each scan."""
    s = Soft()
    s.relays.live.discard("S2")
    s.relays.set("Q102", breaker_closed=False, breaker_open=True)
    s.relays.step()
    assert s.relays.v("Q121", "line_live") is False
    ticket = s.ex.start([Step("Q100", "breaker", "close")], "transfer: supply S2 lost",
                        "auto")
    assert s.ex.state == "checking" and ticket.author == "auto"
    assert await s.to_end() == "done"
    assert s.relays.v("Q121", "line_live") is True and s.ex.step_index == 1
    assert s.hist.events[-1][4]["why"] == "transfer: supply S2 lost"
    with pytest.raises(TicketError, match="at least one step"):
        s.ex.start([], "nothing", "auto")
