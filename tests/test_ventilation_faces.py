"""A face's auxiliary fans on soft tags under a manual clock (issue 12): the switchover on
a trip and on a silent stop, the daily switchover test passed and failed, the fan-power
interlock, holding on bad data, adoption after a restart, and the gate's refusals.

No network: ``Soft.plc`` plays the face's PLC after each scan (a fan runs while it is
commanded, healthy and remote; a trip clears its command, as the HIL's PLC does), and the
soft writer records every write in order.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import string
import time
from pathlib import Path
from typing import Any

import pytest

from fixedsite import systems
from fixedsite.clock import ManualClock
from fixedsite.gate import Command, CommandGate, Decision
from fixedsite.io import SoftWriter
from fixedsite.sequences.ventilation import doors, faces
from fixedsite.sequences.ventilation.config import (
    AuxFanEq,
    Face,
    VentilationControl,
    VentilationSystem,
)
from fixedsite.sequences.ventilation.equipment import AUX_FAN
from fixedsite.sequences.ventilation.faces import (
    FACE_COMMANDS,
    FACE_TAGS,
    FaceControl,
    FaceHandler,
    next_local,
)
from fixedsite.tags import Quality, TagStore
from fixedsite.texts import translate

S = "vent"
FACE = Face(fans=["aux11", "aux12"], proven_s=300.0, switchover_s=30.0)
CTL = VentilationControl(fans=["fan1", "fan2"], shaft_sensor="shaft",
                         nominal_airflow_m3s=150.0, faces={"face1": FACE},
                         aux_test_at="08:00")
T0 = time.mktime((2026, 3, 2, 7, 0, 0, 0, 0, -1))      # 07:00 local time


class Historian:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, str, dict[str, Any]]] = []

    def event(self, t: float, kind: str, source: str, text: str,
              data: dict[str, Any] | None = None) -> None:
        self.events.append((t, kind, source, text, data or {}))


class Soft:
    def __init__(self, running: tuple[str, ...] = ("aux11",)) -> None:
        self.clock = ManualClock(T0)
        self.store = TagStore(self.clock)
        self.writer = SoftWriter(self.store)
        self.gate = CommandGate(self.clock)
        self.dead: set[str] = set()          # fans that do not run when told
        for fan in FACE.fans:
            for sig in AUX_FAN:
                self.store.define(f"{S}.{fan}.{sig}")
            on = fan in running
            self.set(fan, run_cmd=on, running=on, local=False, fault_code=0)
        self.fc = FaceControl(S, "face1", FACE, CTL, self.store, self.writer, self.clock)
        self.fc.historian = self.historian = Historian()
        self.gate.register(self.fc.path, FaceHandler(self.fc),
                           {c.action: c.role for c in FACE_COMMANDS})

    def set(self, fan: str, **values: object) -> None:
        for k, v in values.items():
            self.store.set(f"{S}.{fan}.{k}", v)

    def v(self, fan: str, sig: str) -> Any:
        return self.store.value(f"{S}.{fan}.{sig}")

    def plc(self) -> None:
        """The face's PLC: a fan runs while commanded, healthy, remote and not dead."""
        if not all(self.store[p].good for p in self.fc.inputs):
            return
        for fan in FACE.fans:
            if self.v(fan, "local"):
                continue
            run = bool(self.v(fan, "run_cmd")) and self.v(fan, "fault_code") == 0 and \
                fan not in self.dead
            self.set(fan, running=run)

    def trip(self, fan: str) -> None:
        self.set(fan, fault_code=1, run_cmd=False, running=False)

    async def scan(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)
        await self.fc.scan()
        self.plc()

    def take_writes(self) -> list[tuple[str, object]]:
        w, self.writer.writes[:] = list(self.writer.writes), []
        return [(p.removeprefix(f"{S}."), v) for p, v in w]

    def tag(self, name: str) -> Any:
        return self.store.value(f"{S}.face1.{name}")

    async def cmd(self, action: str, role: str | None = "operator",
                  user: str = "op1") -> Decision:
        return await self.gate.submit(Command(f"{S}.face1", action, "operator", user,
                                              role=role))


async def steady(s: Soft) -> None:
    await s.scan()
    assert s.take_writes() == []


async def test_adopts_the_running_working_fan_writing_nothing() -> None:
    s = Soft()
    await steady(s)
    await s.scan()
    assert s.take_writes() == []
    assert (s.tag("state"), s.tag("working"), s.tag("ventilated"), s.tag("power_lockout")) \
        == ("running", "aux11", True, False)


async def test_adopts_a_running_standby_as_the_working_fan() -> None:
    s = Soft(running=("aux12",))
    await steady(s)
    await s.scan()
    assert s.take_writes() == []
    assert s.tag("working") == "aux12" and s.tag("power_lockout") is False


async def test_both_running_after_a_restart_the_standby_goes_back_to_standing_by() -> None:
    """A handover cut short by a restart: the configured working fan stays on line."""
    s = Soft(running=("aux11", "aux12"))
    await steady(s)                            # adoption itself writes nothing
    assert s.tag("working") == "aux11"
    await s.scan()
    assert s.take_writes() == [("aux12.run_cmd", False)]
    await s.scan()
    assert s.take_writes() == [] and s.v("aux12", "running") is False
    assert s.tag("power_lockout") is False


async def test_trip_switches_over_and_power_lockout_waits_for_proven_air() -> None:
    s = Soft()
    await steady(s)
    s.trip("aux11")
    await s.scan()
    assert s.take_writes() == [("aux12.run_cmd", True)]   # the PLC cleared aux11's
    assert s.tag("state") == "switching_over"
    assert s.tag("ventilated") is False and s.tag("power_lockout") is True
    await s.scan()
    assert s.tag("working") == "aux12" and s.tag("state") == "running"
    assert s.tag("switchover") == ("07:00:02: aux11 tripped (code 1: motor overload); "
                                   "aux12 started and ran in 1 s")
    assert s.tag("ventilated") is True and s.tag("power_lockout") is True
    await s.scan(298.0)                        # air proven for 298 s of 300
    assert s.tag("power_lockout") is True
    await s.scan(2.0)
    assert s.tag("power_lockout") is False
    assert s.take_writes() == []
    ev = s.historian.events[-1]
    assert ev[1:3] == ("ventilation", "vent.face1")
    assert ev[4] == {"face": "face1", "what": "aux_switchover", "ok": True,
                     "from": "aux11", "to": "aux12", "took_s": 1.0}


async def test_air_lost_again_before_proven_restarts_the_proving() -> None:
    s = Soft()
    await steady(s)
    s.trip("aux11")
    await s.scan()
    await s.scan(200.0)
    assert s.take_writes() == [("aux12.run_cmd", True)]
    s.set("aux11", fault_code=0)               # reset at the panel
    s.trip("aux12")
    await s.scan()
    assert s.take_writes() == [("aux11.run_cmd", True)]
    assert s.tag("power_lockout") is True
    await s.scan()                             # aux11 seen running: proving from here
    await s.scan(299.0)
    assert s.tag("power_lockout") is True
    await s.scan(2.0)
    assert s.tag("power_lockout") is False


async def test_silent_stop_switches_over_and_holds_the_stopped_fan() -> None:
    s = Soft()
    await steady(s)
    s.set("aux11", running=False)              # no trip, no LOCAL, command still there
    s.dead.add("aux11")
    await s.scan()
    assert s.take_writes() == [("aux11.run_cmd", False), ("aux12.run_cmd", True)]
    await s.scan()
    assert s.tag("switchover") == ("07:00:02: aux11 stopped without a command; aux12 "
                                   "started and ran in 1 s")
    # aux12 trips later: aux11 is held (not trusted to run again by itself): no air
    s.dead.clear()
    s.trip("aux12")
    await s.scan()
    assert s.take_writes() == []
    assert s.tag("state") == "no_air" and s.tag("power_lockout") is True
    assert s.tag("switchover") == (
        "07:00:04: aux12 tripped (code 1: motor overload); no fan to start: aux11 did not "
        "run when last asked; reset the face to try it again")
    await s.scan()
    assert s.take_writes() == []               # said once, nothing tried
    d = await s.cmd("reset")
    assert d and d.reason == "face1: fans reset and free to start"
    assert s.take_writes() == [("aux12.fault_code", 0)]
    await s.scan()
    assert s.take_writes() == [("aux11.run_cmd", True)]
    await s.scan()
    assert s.tag("working") == "aux11" and s.tag("ventilated") is True


async def test_standby_that_does_not_run_is_withdrawn_and_recorded() -> None:
    s = Soft()
    await steady(s)
    s.dead.add("aux12")
    s.trip("aux11")
    await s.scan()
    assert s.take_writes() == [("aux12.run_cmd", True)]
    await s.scan(29.0)
    assert s.tag("state") == "switching_over"
    await s.scan(1.5)
    assert s.take_writes() == [("aux12.run_cmd", False)]
    assert s.tag("state") == "no_air"
    assert s.tag("switchover") == ("07:00:02: aux11 tripped (code 1: motor overload); no "
                                   "air: aux12 did not run within 30 s")
    await s.scan()
    assert s.take_writes() == []


async def test_daily_test_passes_without_the_air_stopping() -> None:
    s = Soft()
    await steady(s)
    await s.scan(3600.0 - 2)                   # 07:59:59
    assert s.take_writes() == []
    await s.scan(1.0)                          # 08:00:00
    assert s.take_writes() == [("aux12.run_cmd", True)]
    assert s.tag("state") == "testing"
    await s.scan()
    assert s.take_writes() == [("aux11.run_cmd", False)]
    await s.scan()
    assert s.tag("aux_test") == "08:00:00: passed: aux12 ran in 1 s and took over from aux11"
    assert s.tag("aux_test_ok") is True and s.tag("working") == "aux12"
    assert s.tag("power_lockout") is False     # never without air
    ev = s.historian.events[-1]
    assert ev[4]["what"] == "aux_test" and ev[4]["ok"] is True
    assert ev[4]["face"] == "face1" and ev[4]["by"] == "the daily test"
    # the next one is tomorrow at 08:00, from aux12 back to aux11
    await s.scan(86400.0 - 4)
    assert s.take_writes() == []
    await s.scan(2.0)
    assert s.take_writes() == [("aux11.run_cmd", True)]


async def test_daily_test_fails_when_the_standby_does_not_start() -> None:
    s = Soft()
    await steady(s)
    s.dead.add("aux12")
    await s.scan(3600.0 - 1)
    assert s.take_writes() == [("aux12.run_cmd", True)]
    await s.scan(30.5)
    assert s.take_writes() == [("aux12.run_cmd", False)]   # aux11 never told to stop
    assert s.tag("aux_test") == ("08:00:00: failed: aux12 did not run within 30 s; aux11 "
                                 "kept running")
    assert s.tag("aux_test_ok") is False
    assert s.tag("working") == "aux11" and s.v("aux11", "running") is True
    assert s.tag("power_lockout") is False
    assert s.historian.events[-1][4]["ok"] is False


async def test_daily_test_not_run_with_the_standby_in_local_is_a_failed_test() -> None:
    s = Soft()
    await steady(s)
    s.set("aux12", local=True)
    await s.scan(3600.0 - 1)
    assert s.take_writes() == []
    assert s.tag("aux_test") == "08:00:00: failed: not run: aux12 is in LOCAL at its panel"
    assert s.tag("aux_test_ok") is False


async def test_working_fan_tripping_during_the_test_leaves_the_standby_on() -> None:
    s = Soft()
    await steady(s)
    d = await s.cmd("test", role="engineer", user="eng1")
    assert d and d.reason == "aux12 starting; aux11 stops once it runs"
    assert s.take_writes() == [("aux12.run_cmd", True)]
    s.dead.add("aux12")                        # slow to start
    s.trip("aux11")
    await s.scan()
    assert s.tag("aux_test") == ("07:00:01: failed: aux11 tripped (code 1: motor overload) "
                                 "during the handover")
    assert s.tag("state") == "switching_over"   # a failover now, aux12 already asked
    s.dead.clear()
    s.plc()
    await s.scan()
    assert s.tag("working") == "aux12" and s.tag("state") == "running"
    assert s.take_writes() == []


async def test_operator_switchover_is_recorded_with_who_asked() -> None:
    s = Soft()
    await steady(s)
    assert await s.cmd("switchover")
    s.plc()
    await s.scan()
    assert s.tag("state") == "switching_over"
    await s.scan()
    assert s.take_writes() == [("aux12.run_cmd", True), ("aux11.run_cmd", False)]
    assert s.tag("working") == "aux12" and s.tag("state") == "running"
    assert s.tag("switchover") == ("07:00:01: switchover asked by op1: aux12 ran in 1 s "
                                   "and took over from aux11")


@pytest.mark.parametrize("setup, action, role, reason", [
    ({"aux12": {"fault_code": 1}}, "switchover", "operator",
     "aux12 tripped (code 1: motor overload)"),
    ({"aux12": {"local": True}}, "switchover", "operator", "aux12 is in LOCAL at its panel"),
    ({"aux11": {"running": False, "run_cmd": False}, "aux12": {"local": True}}, "switchover",
     "operator", "aux11 is not running: nothing to hand over"),
    ({"aux12": {"running": True}}, "switchover", "operator", "aux12 is already running"),
    ({}, "test", "operator", "op1 (operator) may not test: it needs the engineer role"),
    ({}, "start", None, "face1 takes no 'start' command"),
    ({}, "reset", "operator", "face1: no auxiliary fan is tripped or held"),
])
async def test_face_commands_refused_with_a_reason(setup: dict[str, dict[str, object]],
                                                   action: str, role: str | None,
                                                   reason: str) -> None:
    s = Soft()
    await steady(s)
    for fan, values in setup.items():
        s.set(fan, **values)
    d = await s.cmd(action, role=role)
    assert not d and d.reason == reason
    assert s.take_writes() == []


async def test_a_second_switchover_is_refused_while_one_is_under_way() -> None:
    s = Soft()
    await steady(s)
    s.dead.add("aux12")
    assert await s.cmd("switchover")
    d = await s.cmd("test", role="engineer")
    assert not d and d.reason == "face1: a switchover or test is under way"


async def test_silent_plc_holds_and_shows_the_tags_no_better() -> None:
    s = Soft()
    await steady(s)
    tags = [s.store[f"{S}.aux11.{sig}"] for sig in AUX_FAN] + \
        [s.store[f"{S}.aux12.{sig}"] for sig in AUX_FAN]
    s.store.mark(tags, Quality.BAD, "comm_fail")
    s.clock.advance(3600.0)                     # the test falls due while silent
    await s.scan()
    await s.scan(60.0)
    assert s.take_writes() == []
    for name in ("state", "working", "ventilated", "power_lockout"):
        tag = s.store[f"{S}.face1.{name}"]
        assert tag.quality is Quality.BAD and tag.reason == "comm_fail"
    assert s.store[f"{S}.face1.ventilated"].value is True      # kept, shown as bad
    for action, role in (("switchover", "operator"), ("test", "engineer")):
        d = await s.cmd(action, role=role)
        assert not d and d.reason == ("face1: its auxiliary fans' state is unknown (no good "
                                      "data from their PLC); no command until it answers")
    # the PLC answers again: aux11 had tripped meanwhile; now the control acts
    s.trip("aux11")
    for sig in ("running", "local"):
        s.set("aux12", **{sig: False})
    s.set("aux12", run_cmd=False, fault_code=0)
    s.set("aux11", local=False)
    await s.scan()
    assert s.take_writes() == [("aux12.run_cmd", True)]
    assert s.store[f"{S}.face1.state"].quality is Quality.GOOD


async def test_no_fan_running_at_the_controller_s_start_starts_the_working_one() -> None:
    s = Soft(running=())
    await steady(s)                            # adopted: nothing written on adoption
    assert s.tag("power_lockout") is True
    await s.scan()
    assert s.take_writes() == [("aux11.run_cmd", True)]
    await s.scan()
    assert s.tag("switchover") == ("07:00:02: no auxiliary fan running when the controller "
                                   "took over; aux11 started and ran in 1 s")
    assert s.tag("power_lockout") is True      # air not yet proven for 300 s


def test_next_local_time_of_day() -> None:
    assert time.localtime(next_local(T0, "08:00"))[3:5] == (8, 0)
    assert next_local(T0, "08:00") - T0 == pytest.approx(3600.0, abs=3600.0)
    later = next_local(T0 + 3600.0, "08:00")   # at 08:00 exactly: the next day's
    assert 82800.0 <= later - (T0 + 3600.0) <= 90000.0


# --- what the lead declares ----------------------------------------------------------------
def test_published_tags_and_every_said_text_has_its_chinese() -> None:
    system = VentilationSystem(kind="ventilation", control=CTL, equipment={
        f: AuxFanEq(type="aux_fan", plc="aux1", face="face1") for f in FACE.fans})
    pub = faces.published(S, system)
    assert pub["vent.face1.power_lockout"] == "bool"
    assert pub["vent.face1.aux_test"] == "text" and len(pub) == len(FACE_TAGS)
    tree = ast.parse(Path(faces.__file__).read_text(encoding="utf-8"))
    said = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", "") == "say" and n.args
            and isinstance(n.args[0], ast.Constant)}
    assert len(said) > 25
    assert sorted(said - set(faces.TEXTS)) == []


def _fields(template: str) -> list[str]:
    return [f for _l, f, _s, _c in string.Formatter().parse(template) if f is not None]


def test_texts_read_back_to_their_templates_in_the_catalogue() -> None:
    """As tests/test_texts.py does for the installed catalogue, for these modules' texts
    merged into ventilation's (as the lead will): same fields, no English left, and each
    text read back to the Chinese of the template that made it."""
    spec = systems.get("ventilation")
    mine = {**doors.TEXTS, **faces.TEXTS}
    merged = dataclasses.replace(spec, texts={**spec.texts, **mine},
                                 text_ids=spec.text_ids | doors.IDS | faces.IDS)
    systems.register(merged)
    try:
        for template, zh in mine.items():
            assert sorted(_fields(zh)) == sorted(_fields(template)), template
            words = re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", "", zh))
            assert [w for w in words if w not in ("PLC", "min")] == [], template
            if "{" not in template:
                continue
            args = {f: f"x{i}_{f}" for i, f in enumerate(_fields(template))}
            text = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", template).format(**args)
            want = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", zh).format(**args)
            assert translate(text, "zh_CN") == want, template
    finally:
        systems.register(spec)
