"""Alarm actions through the gate: every parameter checked whatever the source (#9 C16)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fixedsite.alarms.engine import AlarmEngine
from fixedsite.alarms.handler import MAX_SHELVE_S, AlarmHandler
from fixedsite.alarms.model import _expand
from fixedsite.clock import ManualClock
from fixedsite.config import AlarmEntry
from fixedsite.gate import Command, CommandGate
from fixedsite.tags import TagStore

LEVEL = AlarmEntry(kind="limit", tag="d.sump.level", text="Sump", priority=1, hh=2.5, h=2.2)


@pytest.fixture
def gate() -> tuple[CommandGate, AlarmEngine]:
    clock = ManualClock(0.0)
    store = TagStore(clock)
    store.define("d.sump.level")
    eng = AlarmEngine(list(_expand(LEVEL)), store, clock)
    g = CommandGate(clock)
    g.register("alarms", AlarmHandler(eng))
    return g, eng


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("NaN", {"duration_s": math.nan}, "finite"),
    ("infinity", {"duration_s": math.inf}, "finite"),
    ("zero", {"duration_s": 0}, "more than 0"),
    ("negative", {"duration_s": -60.0}, "more than 0"),
    ("over 8 h", {"duration_s": MAX_SHELVE_S + 1}, "at most 28800 s"),
    ("string", {"duration_s": "3600"}, "number of seconds"),
    ("bool", {"duration_s": True}, "number of seconds"),
    ("missing", {}, "number of seconds"),
    ("comment not text", {"duration_s": 60.0, "comment": 5}, "comment must be text"),
]


@pytest.mark.parametrize(("what", "params", "why"), BAD, ids=[b[0] for b in BAD])
async def test_shelve_refuses_bad_durations(gate: tuple[CommandGate, AlarmEngine], what: str,
                                            params: dict[str, Any], why: str) -> None:
    g, eng = gate
    alarm = next(iter(eng.alarms))
    d = await g.submit(Command("alarms", "shelve", "operator", "li",
                               {"id": alarm, "comment": "work", **params}, "engineer"))
    assert not d.accepted and why in d.reason
    assert eng.alarms[alarm].shelved_until is None


async def test_shelve_within_the_limit_and_an_unhashable_id(
        gate: tuple[CommandGate, AlarmEngine]) -> None:
    g, eng = gate
    alarm = next(iter(eng.alarms))
    d = await g.submit(Command("alarms", "shelve", "operator", "li",
                               {"id": alarm, "duration_s": MAX_SHELVE_S, "comment": "work"},
                               "engineer"))
    assert d.accepted, d.reason
    assert eng.alarms[alarm].shelved_until == MAX_SHELVE_S
    d = await g.submit(Command("alarms", "ack", "operator", "li", {"id": [alarm]}, "operator"))
    assert not d.accepted and "no alarm" in d.reason
