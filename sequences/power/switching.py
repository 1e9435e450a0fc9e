"""The switching executor: one ticket at a time, step by step, scan-driven.

``start`` (or ``run`` for a prepared ticket) hands it a ticket; each scan moves it on:

- checking: every step against the interlocks on the state the steps before it leave;
  a step refused fails the ticket with nothing written;
- running, per step: the interlocks again on the live plant (it may have changed since
  the check; a refusal that lasts ``settle_s`` stops the ticket: a gateway's reading may
  lag a poll behind the step before); a part already where the step wants it is taken as
  done with nothing written; else the command is written (``breaker_cmd``,
  ``disconnector_cmd``, ``earthing_cmd`` 1 open / 2 close, ``door_unlock_cmd`` 1 unlock /
  0 lock; the writer verifies by read-back), the relay's feedback awaited within
  ``restoration.step_timeout_s``, and the command written back to 0 (the relay acts on
  the change from 0 and holds the value until then);
- a step that fails (refused on the live plant, not read back, refused by the relay, no
  feedback in time) stops the ticket there: its command is withdrawn (0 written), the
  plant is left as it is, with no automatic rollback, and the status says so. ``abort``
  does the same before the next step.

A command register found non-zero before a step (a controller that died half-way
through a step) is written back to 0 first and the command given on the next scan, so
the relay sees the change from 0. A restarted controller starts idle and writes nothing.

Each ticket's record (who, why, when, every step with its times and result, how it
ended) is kept as a historian event of kind "power" from ``<system>.ticket``; the tags
``<system>.ticket.state|step|status|id`` say what runs now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from transitions import Machine

from fixedsite.clock import Clock
from fixedsite.io import Writer
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.interlocks import PlantState, Step, check, snapshot
from fixedsite.sequences.power.ticket import (
    BREAKER_COMMANDS,
    TICKET_COMMANDS,
    BreakerHandler,
    Ticket,
    TicketError,
    TicketHandler,
    prepare,
)
from fixedsite.sequences.power.timing import Waits
from fixedsite.sequences.power.topology import Topology
from fixedsite.systems import BuildContext
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

STATES = ["idle", "checking", "running", "done", "failed", "aborted"]
FINAL = ("done", "failed", "aborted")
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "begin", "source": ["idle", *FINAL], "dest": "checking"},
    {"trigger": "checked", "source": "checking", "dest": "running"},
    {"trigger": "finish", "source": "running", "dest": "done"},
    {"trigger": "fail", "source": ["checking", "running"], "dest": "failed"},
    {"trigger": "stop", "source": ["checking", "running"], "dest": "aborted"},
]
# the command register of each part, and what each action writes
COMMAND = {"breaker": "breaker_cmd", "disconnector": "disconnector_cmd",
           "earthing": "earthing_cmd", "door": "door_unlock_cmd"}
VALUE = {"open": 1, "close": 2, "unlock": 1, "lock": 0}
SETTLE_S = 2.0
TICKET_TAGS: dict[str, str] = {
    "state": "the switching ticket executor: idle, checking, running, done, failed or "
             "aborted",
    "step": "the ticket's step in progress (or the last), e.g. 3/7: close Q111 breaker",
    "status": "what the executor does or why it stopped",
    "id": "the id of the ticket running (or the last)",
}


@dataclass
class StepResult:
    n: int                      # 1-based
    step: Step
    started: float
    ended: float
    ok: bool
    result: str                 # for people

    def record(self) -> dict[str, Any]:
        return {"n": self.n, "step": self.step.text(), "started": self.started,
                "ended": self.ended, "ok": self.ok, "result": self.result}


class Executor:
    """Runs the switching tickets of one power system, one at a time."""

    state: str

    def __init__(self, system_name: str, system: PowerSystem, store: TagStore,
                 writer: Writer, clock: Clock,
                 faulted: Callable[[], Iterable[str]] | None = None,
                 settle_s: float = SETTLE_S, waits: Waits | None = None) -> None:
        self.sname, self.system = system_name, system
        self.topo = Topology(system)
        self.store, self.writer, self.clock = store, writer, clock
        self.faulted = faulted or (lambda: ())
        w = waits or Waits()    # feedback comes with a poll, never sooner (timing.py)
        self.settle_s = w.at_least(settle_s, 1.5)
        self.step_timeout_s = w.step(system)
        self.path = f"{system_name}.ticket"
        self.historian: Any = None          # set when the controller starts
        self.ticket: Ticket | None = None
        self.results: list[StepResult] = []
        self.step_index = 0                 # 0-based index of the step in progress
        self.status = ""
        self._phase = "check"               # check | clear | wait
        self._since = clock.now()           # when the phase began
        self._refused_before = False
        self.started = clock.now()          # when the ticket running (or the last) began
        self._lock = asyncio.Lock()
        self.tags: dict[str, Tag] = {
            n: store.define(f"{self.path}.{n}", TagMeta(kind="text", description=d))
            for n, d in TICKET_TAGS.items()}
        self.machine = Machine(model=self, states=STATES, transitions=TRANSITIONS,
                               initial="idle", auto_transitions=False,
                               ignore_invalid_triggers=True)
        self._publish(say("no ticket run since the controller started"))

    # --- reading the plant ----------------------------------------------------------------
    @property
    def published(self) -> list[Tag]:
        return list(self.tags.values())

    def sig(self, device: str, signal: str) -> str:
        return f"{self.sname}.{device}.{signal}"

    def value(self, device: str, signal: str) -> Any:
        """The signal's value if it is mapped and good, else None."""
        tag = self.store.get(self.sig(device, signal))
        return None if tag is None or tag.quality is not Quality.GOOD else tag.value

    def snapshot(self) -> PlantState:
        return snapshot(self.store, self.sname, self.system, self.faulted())

    def check_now(self, step: Step) -> str | None:
        """The interlocks' verdict on ``step`` against the live plant."""
        return check(step, self.snapshot(), self.topo, self.system)

    def busy(self) -> str | None:
        """Why no ticket may start now (one runs), else None."""
        if self.state in ("checking", "running") and self.ticket is not None:
            return say("ticket {id} is {state}: one switching ticket at a time",
                       id=self.ticket.id, state=self.state)
        return None

    # --- starting and stopping ------------------------------------------------------------
    def start(self, steps: Sequence[Step], why: str, source: str, user: str = "") -> Ticket:
        """Run ``steps`` as a new ticket (``source``: operator, auto, failover, ...; ``user``
        the operator, if any); raises ``TicketError`` with the reason while another ticket
        runs or when there are no steps. The ticket is checked and executed by the scans."""
        ticket = prepare(steps, user or source, now=self.clock.now(), why=why, source=source)
        self.run(ticket)
        return ticket

    def run(self, ticket: Ticket) -> None:
        """Run a prepared ticket (checked again here, whatever its own check said)."""
        busy = self.busy()
        if busy is not None:
            raise TicketError(busy)
        self.ticket, self.results, self.step_index = ticket, [], 0
        self._phase, self._since = "check", self.clock.now()
        self.started = self._since
        self.begin()
        log.info("%s: ticket %s by %s (%s): %s", self.path, ticket.id, ticket.author,
                 ticket.why, ticket.text())
        self._publish(say("ticket {id}: checking {total} steps against the interlocks",
                          id=ticket.id, total=len(ticket.steps)))

    async def abort(self, who: str = "") -> str | None:
        """Stop the running ticket before its next step; a command standing is withdrawn,
        nothing rolled back. None if stopped, else why not (none running)."""
        async with self._lock:
            t = self.ticket
            if t is None or self.state not in ("checking", "running"):
                return say("no ticket is running")
            now = self.clock.now()
            if self.state == "running" and self._phase in ("clear", "wait"):
                step = t.steps[self.step_index]
                await self._withdraw(step)
                self.results.append(StepResult(self.step_index + 1, step, self._since, now,
                                               False, say("aborted")))
            await self._end("stop", say("ticket {id} aborted at step {n}/{total} by {who}: "
                                        "the plant is left as it is (no rollback)", id=t.id,
                                        n=self.step_index + 1, total=len(t.steps),
                                        who=who or "?"))
            return None

    async def reset_trip(self, device: str) -> str | None:
        """Reset a relay's trip latch (trip_code 0, read back); None if done, else why."""
        async with self._lock:
            res = await self.writer.write(self.sig(device, "trip_code"), 0)
        if res.ok:
            log.info("%s: trip latch reset", device)
            return None
        return say("{device}: trip latch not reset: {why} (the relay keeps it while it "
                   "still picks up)", device=device, why=res.reason)

    # --- the scan -------------------------------------------------------------------------
    async def scan(self) -> None:
        async with self._lock:
            if self.state == "checking":
                await self._check()
            elif self.state == "running":
                await self._run()

    async def _check(self) -> None:
        t = self.ticket
        assert t is not None
        t.check(self.snapshot(), self.topo, self.system, by=t.checked_by or "executor",
                now=self.clock.now())
        bad = t.refused
        if bad is not None:
            await self._end("fail", say("ticket {id} refused at step {n}/{total} ({step}): "
                                        "{why}: nothing written", id=t.id, n=bad.n,
                                        total=len(t.steps), step=bad.step.text(),
                                        why=bad.reason))
            return
        self.checked()
        self._phase, self._since = "check", self.clock.now()
        await self._run()

    def _step_text(self) -> str:
        t = self.ticket
        assert t is not None
        i = min(self.step_index, len(t.steps) - 1)
        return say("{n}/{total}: {step}", n=i + 1, total=len(t.steps),
                   step=t.steps[i].text())

    async def _run(self) -> None:
        t = self.ticket
        assert t is not None
        step = t.steps[self.step_index]
        now = self.clock.now()
        if self._phase == "check":
            await self._begin_step(step, now)
        elif self._phase == "clear":
            await self._command(step, now)
        else:
            await self._wait(step, now)

    async def _begin_step(self, step: Step, now: float) -> None:
        snap = self.snapshot()
        why = check(step, snap, self.topo, self.system)
        if why is not None:
            if now - self._since < self.settle_s:
                self._publish(say("step {step} held: {why}", step=self._step_text(),
                                  why=why))
                return
            await self._stop_at(step, now, why, withdraw=False)
            return
        if self._in_position(step):
            await self._done(step, now, say("already so: nothing written"))
            return
        cmd = COMMAND[step.part]
        standing = self.value(step.device, cmd)
        if step.part != "door" and standing not in (None, 0):
            # left standing by a controller that died half-way: back to 0 first, the
            # command on the next scan, so that the relay sees the change from 0
            res = await self.writer.write(self.sig(step.device, cmd), 0)
            if not res.ok:
                await self._stop_at(step, now, say("{signal}={value} not confirmed: {why}",
                                                   signal=cmd, value=0, why=res.reason),
                                    withdraw=False)
                return
            self._phase, self._since = "clear", now
            self._publish(say("step {step}: a command left standing cleared first",
                              step=self._step_text()))
            return
        await self._command(step, now)

    async def _command(self, step: Step, now: float) -> None:
        cmd, value = COMMAND[step.part], VALUE[step.action]
        self._refused_before = self.value(step.device, "refused") is True
        res = await self.writer.write(self.sig(step.device, cmd), value)
        if not res.ok:
            await self._stop_at(step, now, say("{signal}={value} not confirmed: {why}",
                                               signal=cmd, value=value, why=res.reason),
                                withdraw=True)
            return
        self._phase, self._since = "wait", now
        self._publish(say("step {step}: commanded (read back), waiting for its feedback",
                          step=self._step_text()))

    async def _wait(self, step: Step, now: float) -> None:
        if self._in_position(step):
            took = now - self._since
            if step.part != "door":
                cmd = COMMAND[step.part]
                res = await self.writer.write(self.sig(step.device, cmd), 0)
                if not res.ok:
                    await self._stop_at(step, now, say(
                        "done, but {signal}={value} not confirmed: {why}", signal=cmd,
                        value=0, why=res.reason), withdraw=False)
                    return
            await self._done(step, now, say("done: feedback after {s:.1f} s (command read "
                                            "back)", s=took))
            return
        if step.closes and step.part == "breaker" and not self._refused_before and \
                self.value(step.device, "refused") is True:
            await self._stop_at(step, now, say("the relay refused the close"),
                                withdraw=True)
            return
        limit = self.step_timeout_s
        if now - self._since > self.clock.guard_timeout(limit):
            bad = self.snapshot().bays[step.device].bad
            why = say("no feedback within {limit:.1f} s", limit=limit) if not bad else \
                say("no feedback within {limit:.1f} s (no good data from its relay: {why})",
                    limit=limit, why=bad)
            await self._stop_at(step, now, why, withdraw=True)

    def _in_position(self, step: Step) -> bool:
        """The relay's feedback says the part is where the step wants it."""
        d = step.device
        if step.part in ("breaker", "disconnector"):
            closed, opened = self.value(d, f"{step.part}_closed"), \
                self.value(d, f"{step.part}_open")
            if closed is None or opened is None:
                return False
            want = step.action == "close"
            return bool(closed) is want and bool(opened) is not want
        sig, want = (("earthing_closed", step.action == "close") if step.part == "earthing"
                     else ("door_unlocked", step.action == "unlock"))
        v = self.value(d, sig)
        return v is not None and bool(v) is want

    # --- ending a step and the ticket -----------------------------------------------------
    async def _done(self, step: Step, now: float, result: str) -> None:
        t = self.ticket
        assert t is not None
        self.results.append(StepResult(self.step_index + 1, step,
                                       self._since if self._phase != "check" else now, now,
                                       True, result))
        log.info("%s: ticket %s step %d/%d %s: %s", self.path, t.id, self.step_index + 1,
                 len(t.steps), step.text(), result)
        self.step_index += 1
        self._phase, self._since = "check", now
        if self.step_index >= len(t.steps):
            took = now - self.started
            await self._end("finish", say("ticket {id} done: {total} steps in {s:.1f} s",
                                          id=t.id, total=len(t.steps), s=took))
            return
        self._publish(say("now at step {step}", step=self._step_text()))

    async def _stop_at(self, step: Step, now: float, why: str, withdraw: bool) -> None:
        t = self.ticket
        assert t is not None
        if withdraw:
            await self._withdraw(step)
        self.results.append(StepResult(self.step_index + 1, step, self._since, now, False,
                                       why))
        await self._end("fail", say("ticket {id} stopped at step {n}/{total} ({step}): "
                                    "{why}: the plant is left as it is (no rollback)",
                                    id=t.id, n=self.step_index + 1, total=len(t.steps),
                                    step=step.text(), why=why))

    async def _withdraw(self, step: Step) -> None:
        """Write the step's command back to 0 (a door's unlock command stays as it is):
        a relay that did not act yet must not act later on its own."""
        if step.part == "door":
            return
        cmd = COMMAND[step.part]
        res = await self.writer.write(self.sig(step.device, cmd), 0)
        if not res.ok:
            log.error("%s: %s.%s=0 not confirmed after the step stopped: %s", self.path,
                      step.device, cmd, res.reason)

    async def _end(self, trigger: str, text: str) -> None:
        t = self.ticket
        assert t is not None
        getattr(self, trigger)()
        now = self.clock.now()
        self._publish(text)
        (log.info if self.state == "done" else log.warning)("%s: %s", self.path, text)
        if self.historian is not None:
            self.historian.event(now, "power", self.path, text, self.record())

    def record(self) -> dict[str, Any]:
        """The running (or last) ticket's record: who, why, when, each step's result."""
        t = self.ticket
        out: dict[str, Any] = t.record() if t is not None else {}
        out |= {"outcome": self.state, "status": self.status, "started": self.started,
                "ended": self.clock.now(),
                "results": [r.record() for r in self.results]}
        return out

    def _publish(self, status: str) -> None:
        self.status = status
        t = self.ticket
        self.store.update(self.tags["state"], self.state)
        self.store.update(self.tags["status"], status)
        self.store.update(self.tags["id"], t.id if t is not None else "")
        self.store.update(self.tags["step"], self._step_text() if t is not None else "")


# ------------------------------------------------------------------------------------------
# what the lead wires
# ------------------------------------------------------------------------------------------
def wire(ctx: BuildContext, sname: str, system: PowerSystem,
         faulted: Callable[[], Iterable[str]] | None = None,
         waits: Waits | None = None) -> Executor:
    """The executor behind ``<system>.ticket`` and every breaker bay's commands, its scan,
    and its records to the historian; restoration gets it to carry out its plans."""
    ex = Executor(sname, system, ctx.store, ctx.writer, ctx.clock, faulted, waits=waits)
    ctx.sequence(ex.path, ex, TicketHandler(ex), TICKET_COMMANDS, ex.scan, ex.published)
    roles = {c.action: c.role for c in BREAKER_COMMANDS}
    for name, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            path = f"{sname}.{name}"
            ctx.gate.register(path, BreakerHandler(ex, name), roles)
            ctx.commands[path] = BREAKER_COMMANDS

    def records_to(historian: Any) -> None:
        ex.historian = historian
    ctx.on_start(records_to)
    return ex


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    """The tags the executor publishes, with their kinds."""
    return {f"{sname}.ticket.{n}": "text" for n in TICKET_TAGS}


TEXTS: dict[str, str] = {
    "idle": "空闲", "checking": "审核中", "done": "完成", "failed": "失败", "aborted": "已中止",
    "no ticket run since the controller started": "控制器启动以来未执行操作票",
    "ticket {id} is {state}: one switching ticket at a time":
        "操作票 {id} {state}：同一时间只能执行一张操作票",
    "ticket {id}: checking {total} steps against the interlocks":
        "操作票 {id}：按五防闭锁审核 {total} 个步骤",
    "ticket {id} aborted at step {n}/{total} by {who}: the plant is left as it is (no "
    "rollback)": "操作票 {id} 在第 {n}/{total} 步被 {who} 中止：设备保持现状（不回退）",
    "{device}: trip latch not reset: {why} (the relay keeps it while it still picks up)":
        "{device}：跳闸未复归：{why}（保护仍在启动时保持跳闸）",
    "ticket {id} refused at step {n}/{total} ({step}): {why}: nothing written":
        "操作票 {id} 在第 {n}/{total} 步（{step}）被拒绝：{why}：未下发任何命令",
    "{n}/{total}: {step}": "{n}/{total}：{step}",
    "step {step} held: {why}": "步骤 {step} 暂停：{why}",
    "{signal}={value} not confirmed: {why}": "{signal}={value} 写入未确认：{why}",
    "step {step}: a command left standing cleared first": "步骤 {step}：先清除遗留命令",
    "step {step}: commanded (read back), waiting for its feedback":
        "步骤 {step}：已下令（已回读确认），等待位置反馈",
    "done, but {signal}={value} not confirmed: {why}":
        "已完成，但 {signal}={value} 写入未确认：{why}",
    "done: feedback after {s:.1f} s (command read back)":
        "完成：{s:.1f} s 后收到反馈（命令已回读确认）",
    "the relay refused the close": "保护装置拒绝合闸",
    "no feedback within {limit:.1f} s": "{limit:.1f} s 内无位置反馈",
    "no feedback within {limit:.1f} s (no good data from its relay: {why})":
        "{limit:.1f} s 内无位置反馈（保护装置数据无效：{why}）",
    "already so: nothing written": "已在目标位置：未下发命令",
    "ticket {id} done: {total} steps in {s:.1f} s": "操作票 {id} 完成：{total} 步，用时 {s:.1f} s",
    "now at step {step}": "正在执行步骤 {step}",
    "ticket {id} stopped at step {n}/{total} ({step}): {why}: the plant is left as it is "
    "(no rollback)": "操作票 {id} 在第 {n}/{total} 步（{step}）停止：{why}：设备保持现状（不回退）",
}
IDS = frozenset({"id", "who", "device", "signal"})
