"""Audit before acting: the gate records a command's intent before it is executed, and a
command whose intent cannot be recorded is refused and never reaches the PLC."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Rig

from fixedsite.audit import AuditLog, verify
from fixedsite.clock import ManualClock
from fixedsite.gate import Command, CommandGate, Decision, Record
from fixedsite.hil.drainage.plc import COIL_PUMP, COIL_PUMP_STRIDE, HR_PUMP, HR_PUMP_STRIDE
from fixedsite.runtime import Controller


def fill_disk(log: AuditLog) -> None:
    """Let the audit database grow no more and use up what room is left, so SQLite itself
    refuses the next record ("database or disk is full")."""
    pages = log._db.execute("PRAGMA page_count").fetchone()[0]
    log._db.execute(f"PRAGMA max_page_count = {pages}")
    while True:
        try:
            log.append(ts=0.0, kind="x", actor="", source="", target="", action="")
        except Exception:
            return


class _Writer:
    """A handler whose execute looks at the audit log first: the intent must be there."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self.seen: list[dict[str, object]] = []

    def check(self, cmd: Command) -> str | None:
        return None

    async def execute(self, cmd: Command) -> Decision:
        self.seen.append(self.log.tail(1)[0])
        return Decision(True, "now priming")


async def test_intent_is_recorded_before_execution_and_outcome_after(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    gate = CommandGate(ManualClock(50.0), audit=log)
    handler = _Writer(log)
    gate.register("drainage.pump1", handler)
    assert await gate.submit(Command("drainage.pump1", "start", "operator", "zhang"))
    intent = handler.seen[0]
    assert (intent["kind"], intent["actor"], intent["action"], intent["result"]) == (
        "intent", "zhang", "start", "executing")
    last = log.tail(1)[0]
    assert (last["kind"], last["decision"], last["result"]) == ("command", "accepted",
                                                                "now priming")
    assert f'"intent": {intent["seq"]}' in str(last["params"])
    log.close()
    assert verify(tmp_path / "audit.db").ok


async def test_refused_when_the_audit_cannot_be_written_records_and_sinks_kept(
        tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    gate = CommandGate(ManualClock(50.0), audit=log)
    handler = _Writer(log)
    gate.register("drainage.pump1", handler)
    heard: list[Record] = []
    gate.sinks.append(heard.append)
    fill_disk(log)
    d = await gate.submit(Command("drainage.pump1", "start", "operator", "zhang"))
    assert not d.accepted
    assert d.reason.startswith("audit log cannot be written: ")
    assert "database or disk is full" in d.reason
    assert handler.seen == []                               # never executed
    assert [r.decision for r in gate.records] == [d] and [r.decision for r in heard] == [d]
    # a refusal at check time on a failing log: still refused, still in records and sinks
    d2 = await gate.submit(Command("drainage.pump9", "start", "operator", "zhang"))
    assert not d2.accepted and "no equipment" in d2.reason and len(heard) == 2
    log.close()


async def test_no_command_reaches_the_plc_when_the_audit_cannot_be_written(
        rig_factory: Callable[..., Rig], tmp_path: Path) -> None:
    """Over Modbus: with the audit store full an operator's start and mode change are
    refused with the reason and the PLC's command coils and mode register do not move;
    once the store has room again the same start reaches the PLC, intent first."""
    rig = rig_factory(scale=60.0, initial_level_m="0.9")
    await rig.site.start()
    log = AuditLog(tmp_path / "audit.db")
    ctl = rig.ctl = Controller(rig.cfg, rig.clock, audit=log)
    log.publish_health(ctl.store)
    await ctl.start()
    pump = 3                                                   # drainage.pump4
    coils = slice(COIL_PUMP + COIL_PUMP_STRIDE * pump, COIL_PUMP + COIL_PUMP_STRIDE * pump + 3)
    mode_reg = HR_PUMP + HR_PUMP_STRIDE * pump
    await rig.until(lambda: ctl.store["drainage.pump4.state"].value == "stopped", 600,
                    "pump4 adopted as stopped")
    manual = Command("drainage.pump4", "set_mode", "operator", "li",
                     {"mode": "remote-manual"}, "engineer")
    assert await ctl.gate.submit(manual)                       # the log takes records
    await rig.until(lambda: rig.plc.hr[mode_reg] == 1, 60, "remote-manual at the PLC")
    assert rig.plc.coils[coils] == [False] * 3
    fill_disk(log)
    start = Command("drainage.pump4", "start", "operator", "li", role="operator")
    mode = Command("drainage.pump4", "set_mode", "operator", "li", {"mode": "remote-auto"},
                   "engineer")
    for cmd in (start, mode):
        d = await ctl.gate.submit(cmd)
        assert not d.accepted and d.reason.startswith("audit log cannot be written: ")
    assert ctl.store.value("controller.audit.ok") is False
    assert "database or disk is full" in ctl.store.value("controller.audit.error")
    await rig.run_for(60)                                      # what the PLC does meanwhile
    assert rig.plc.coils[coils] == [False] * 3 and rig.plc.hr[mode_reg] == 1
    assert not [e for e in rig.plc.events if e.pump == pump]
    assert ctl.sequences["drainage.pump4"].state == "stopped"
    assert [r.decision.accepted for r in ctl.gate.records] == [True, False, False]
    log._db.execute("PRAGMA max_page_count = 1073741823")     # room again
    assert await ctl.gate.submit(start)
    assert ctl.store.value("controller.audit.ok") is True
    await rig.until(lambda: rig.plc.coils[coils][0], 60, "the prime command at the PLC")
    kinds = [(r["kind"], r["action"]) for r in log.tail(2)]
    assert kinds == [("intent", "start"), ("command", "start")]


async def test_sources_allowed_to_act_unaudited_still_leave_a_record(tmp_path: Path) -> None:
    """A site may let level control act on a full audit disk (a flood is worse than an
    unaudited start); operators are refused all the same, and the gate's records say
    which automatic command went unaudited."""
    log = AuditLog(tmp_path / "audit.db")
    gate = CommandGate(ManualClock(50.0), audit=log, unaudited_sources=("auto",))
    handler = _Writer(log)
    gate.register("drainage.pump1", handler)
    fill_disk(log)
    auto = await gate.submit(Command("drainage.pump1", "start", "auto"))
    assert auto.accepted and "NOT AUDITED: audit log cannot be written" in auto.reason
    assert len(handler.seen) == 1
    op = await gate.submit(Command("drainage.pump1", "start", "operator", "zhang"))
    assert not op.accepted and len(handler.seen) == 1
    assert [r.decision for r in gate.records] == [auto, op]
    log.close()
