"""Switching tickets (操作票) and the gate's dispatch commands.

A ticket is a list of switching steps with an id and its author: prepared (from steps or
from the text an operator writes, "open Q111; open Q111.disconnector; close
Q111.earthing"), checked step by step against the five-prevention interlocks on the
state each step would leave (``interlocks.simulate``), and executed by the one
``switching.Executor`` of its system, which checks every step again on the live plant
before it writes it.

The gate's view: each breaker bay (``<system>.<breaker>``) takes ``Open``, ``Close``,
``OpenDisconnector``, ``CloseDisconnector``, ``Earth``, ``Unearth``, ``UnlockDoor``,
``LockDoor`` (each a one-step ticket; the operator types the device id again as
``confirm``; refused with the interlock's reason before anything is written) and
``Reset`` (the relay's trip latch); the system's ``<system>.ticket`` takes ``Prepare``,
``Check``, ``Execute`` and ``Abort``.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fixedsite.gate import Command, Decision
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.interlocks import (
    ACTIONS,
    PlantState,
    Step,
    check,
    confirm,
    simulate,
)
from fixedsite.sequences.power.topology import Topology
from fixedsite.systems import CommandArg, CommandSpec
from fixedsite.texts import say

if TYPE_CHECKING:
    from fixedsite.sequences.power.switching import Executor

MAX_STEPS = 64
MAX_TEXT = 4000
_serial = itertools.count(1)


class TicketError(ValueError):
    """A ticket that cannot be made or started; ``str()`` is the reason for people."""


@dataclass(frozen=True)
class Verdict:
    """One step's check: ``reason`` None if the interlocks allow it on the state the
    earlier steps leave."""

    n: int                      # 1-based
    step: Step
    reason: str | None

    def text(self, total: int) -> str:
        if self.reason is None:
            return say("{n}/{total}: {step}: allowed", n=self.n, total=total,
                       step=self.step.text())
        return say("{n}/{total}: {step}: REFUSED: {why}", n=self.n, total=total,
                   step=self.step.text(), why=self.reason)


@dataclass
class Ticket:
    id: str
    author: str
    steps: tuple[Step, ...]
    created: float = 0.0
    why: str = ""
    source: str = "operator"
    verdicts: list[Verdict] = field(default_factory=list)
    checked_at: float | None = None
    checked_by: str = ""

    def check(self, state: PlantState, topo: Topology, system: PowerSystem,
              by: str = "", now: float | None = None) -> list[Verdict]:
        """Every step on the state the ones before it leave; the checking stops at the
        first step refused (what follows it would be checked on a state never reached)."""
        out: list[Verdict] = []
        for n, step in enumerate(self.steps, 1):
            reason = check(step, state, topo, system)
            out.append(Verdict(n, step, reason))
            if reason is not None:
                break
            state = simulate(step, state, topo)
        self.verdicts, self.checked_by = out, by
        self.checked_at = now
        return out

    @property
    def passed(self) -> bool:
        return len(self.verdicts) == len(self.steps) and \
            all(v.reason is None for v in self.verdicts)

    @property
    def refused(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.reason is not None), None)

    def text(self) -> str:
        """The steps as the operator writes them (``parse`` reads it back)."""
        return "; ".join(s.text() for s in self.steps)

    def report(self) -> str:
        """The check's verdicts, one per step, for the operator ("; " between them: the
        console translates them one by one)."""
        total = len(self.steps)
        lines = [v.text(total) for v in self.verdicts]
        if self.refused is not None and len(self.verdicts) < total:
            lines.append(say("steps {n} to {total} not checked", n=len(self.verdicts) + 1,
                             total=total))
        return "; ".join(lines)

    def record(self) -> dict[str, Any]:
        """What the historian keeps of it (beside the executor's results)."""
        return {"id": self.id, "author": self.author, "source": self.source, "why": self.why,
                "created": self.created, "steps": [s.text() for s in self.steps],
                "checked_by": self.checked_by, "checked_at": self.checked_at}


def new_id(now: float) -> str:
    """Unique in this controller's life and readable: the minute prepared and a serial."""
    return time.strftime("T%Y%m%d-%H%M%S", time.localtime(now)) + f"-{next(_serial)}"


def prepare(steps: Sequence[Step], author: str, *, now: float = 0.0, why: str = "",
            source: str = "operator") -> Ticket:
    """A new ticket of ``steps`` (not checked yet)."""
    steps = tuple(steps)
    if not steps:
        raise TicketError(say("a ticket needs at least one step"))
    if len(steps) > MAX_STEPS:
        raise TicketError(say("a ticket has at most {n} steps", n=MAX_STEPS))
    if not all(isinstance(s, Step) for s in steps):
        raise TicketError(say("a ticket's steps are switching steps"))
    return Ticket(new_id(now), author, steps, now, why, source)


# ------------------------------------------------------------------------------------------
# the operator's text
# ------------------------------------------------------------------------------------------
# the words of a step, in English and as the Chinese console writes it ("合上 Q111 接地开关")
_PARTS = {"": "breaker", "breaker": "breaker", "disconnector": "disconnector",
          "earthing": "earthing", "earthing switch": "earthing", "door": "door",
          "bay door": "door", "断路器": "breaker", "开关": "breaker",
          "隔离开关": "disconnector", "刀闸": "disconnector", "接地开关": "earthing",
          "接地刀闸": "earthing", "接地": "earthing", "柜门": "door"}
_ACTIONS = {"open": "open", "close": "close", "unlock": "unlock", "lock": "lock",
            "断开": "open", "拉开": "open", "分": "open", "合上": "close", "合": "close",
            "解锁": "unlock", "锁闭": "lock", "闭锁": "lock"}


def parse(text: str, system: PowerSystem) -> list[Step]:
    """Steps from "open Q111; open Q111.disconnector; close Q111.earthing; unlock
    Q111.door" (one per ';' or line; the part after a dot or a space, the breaker if
    none; Chinese words as the console shows a step, "拉开 Q111 隔离开关", are read too,
    so ``Ticket.text()`` in either language reads back the same). Refused with the step
    and why."""
    if not isinstance(text, str) or not text.strip():
        raise TicketError(say("a ticket needs at least one step"))
    if len(text) > MAX_TEXT:
        raise TicketError(say("a ticket's text is at most {n} characters", n=MAX_TEXT))
    items = [i.strip() for i in re.split(r"[;；\n]", text) if i.strip()]
    if not items:
        raise TicketError(say("a ticket needs at least one step"))
    if len(items) > MAX_STEPS:
        raise TicketError(say("a ticket has at most {n} steps", n=MAX_STEPS))
    bays = {n for n, eq in system.equipment.items() if isinstance(eq, BreakerEq)}
    steps = []
    for n, item in enumerate(items, 1):
        words = item.split()
        action = _ACTIONS.get(words[0].lower())
        if action is None or len(words) < 2:
            raise TicketError(say("step {n} ({text}): write an action (open, close, unlock, "
                                  "lock) and a device, e.g. close Q111.earthing", n=n,
                                  text=repr(item)))
        device, _, part = words[1].partition(".")
        part = " ".join([part, *words[2:]]).strip().lower()
        if device not in bays:
            raise TicketError(say("step {n} ({text}): no breaker bay {device} in this "
                                  "network", n=n, text=repr(item), device=repr(device)))
        if part not in _PARTS:
            raise TicketError(say("step {n} ({text}): a bay's parts are breaker, "
                                  "disconnector, earthing, door", n=n, text=repr(item)))
        kind = _PARTS[part]
        if action not in ACTIONS[kind]:
            raise TicketError(say("step {n} ({text}): a door is unlocked or locked, a "
                                  "breaker, disconnector or earthing switch opened or "
                                  "closed", n=n, text=repr(item)))
        eq = system.equipment[device]
        assert isinstance(eq, BreakerEq)
        if (kind == "disconnector" and not eq.disconnector) or \
                (kind == "earthing" and not eq.earthing):
            raise TicketError(say("step {n} ({text}): {device} has no such part", n=n,
                                  text=repr(item), device=device))
        steps.append(Step(device, kind, action))     # type: ignore[arg-type]
    return steps


# ------------------------------------------------------------------------------------------
# the gate: a breaker bay's commands
# ------------------------------------------------------------------------------------------
_NEEDS = "; needs the operator role"
_CONFIRM = (CommandArg("confirm", "string", "the device id typed again, e.g. Q111; the "
                       "command is refused if it differs"),)
_ONE_STEP = ("; a one-step switching ticket, checked against the five-prevention "
             "interlocks (refused with the reason before anything is written), written, "
             "read back and proven by the relay's feedback")
BREAKER_COMMANDS = (
    CommandSpec("Open", "open", "operator", "open the breaker" + _ONE_STEP + _NEEDS,
                _CONFIRM),
    CommandSpec("Close", "close", "operator", "close the breaker (refused onto an earthed "
                "or faulted section and while its trip is latched)" + _ONE_STEP + _NEEDS,
                _CONFIRM),
    CommandSpec("OpenDisconnector", "open_disconnector", "operator", "open the bay's "
                "disconnector (only with its breaker open)" + _ONE_STEP + _NEEDS, _CONFIRM),
    CommandSpec("CloseDisconnector", "close_disconnector", "operator", "close the bay's "
                "disconnector (only with its breaker open and its earthing switch open)"
                + _ONE_STEP + _NEEDS, _CONFIRM),
    CommandSpec("Earth", "earth", "operator", "close the bay's earthing switch (only with "
                "the outgoing side dead and isolated, the disconnector open)" + _ONE_STEP
                + _NEEDS, _CONFIRM),
    CommandSpec("Unearth", "unearth", "operator", "open the bay's earthing switch (only "
                "with the bay door locked)" + _ONE_STEP + _NEEDS, _CONFIRM),
    CommandSpec("UnlockDoor", "unlock_door", "operator", "unlock the bay's door (only with "
                "the bay earthed and dead)" + _ONE_STEP + _NEEDS, _CONFIRM),
    CommandSpec("LockDoor", "lock_door", "operator", "lock the bay's door" + _ONE_STEP
                + _NEEDS, _CONFIRM),
    CommandSpec("Reset", "reset", "operator", "reset the relay's trip latch (the relay "
                "refuses while it still picks up); answers whether it was done and why"
                + _NEEDS),
)
# a bay command's step
BAY_STEPS: dict[str, tuple[str, str]] = {
    "open": ("breaker", "open"), "close": ("breaker", "close"),
    "open_disconnector": ("disconnector", "open"),
    "close_disconnector": ("disconnector", "close"),
    "earth": ("earthing", "close"), "unearth": ("earthing", "open"),
    "unlock_door": ("door", "unlock"), "lock_door": ("door", "lock"),
}


class BreakerHandler:
    """The gate's view of one breaker bay: its commands become one-step tickets."""

    def __init__(self, executor: Executor, device: str) -> None:
        self.ex = executor
        self.device = device

    def step(self, action: str) -> Step:
        part, act = BAY_STEPS[action]
        return Step(self.device, part, act)          # type: ignore[arg-type]

    def check(self, cmd: Command) -> str | None:
        dev = self.device
        if cmd.action == "reset":
            code = self.ex.value(dev, "trip_code")
            if code is None:
                return say("{device}: no good data from its relay, no reset until it "
                           "answers", device=dev)
            return None if code else say("{device}: no trip latched", device=dev)
        if cmd.action not in BAY_STEPS:
            return say("{device} takes no {action} command", device=dev,
                       action=repr(cmd.action))
        why = confirm(dev, cmd.params.get("confirm"))
        if why is None:
            why = self.ex.busy()
        return why if why is not None else self.ex.check_now(self.step(cmd.action))

    async def execute(self, cmd: Command) -> Decision:
        if cmd.action == "reset":
            why = await self.ex.reset_trip(self.device)
            return Decision(why is None, why or say("{device}: trip latch reset (read back)",
                                                    device=self.device))
        step = self.step(cmd.action)
        try:
            ticket = self.ex.start([step], say("operator command {method}",
                                               method=cmd.action), cmd.source, cmd.user)
        except TicketError as e:
            return Decision(False, str(e))
        return Decision(True, say("ticket {id} started: {step}", id=ticket.id,
                                  step=step.text()))


# ------------------------------------------------------------------------------------------
# the gate: the system's ticket desk
# ------------------------------------------------------------------------------------------
TICKET_COMMANDS = (
    CommandSpec("Prepare", "prepare", "operator", "prepare a switching ticket (操作票) from "
                "its steps; it replaces the one prepared before; answers its id" + _NEEDS,
                (CommandArg("steps", "string", "the steps, one per ';': open, close, unlock "
                            "or lock and a device, its part after a dot (the breaker if "
                            "none), e.g. open Q111; open Q111.disconnector; close "
                            "Q111.earthing; unlock Q111.door"),)),
    CommandSpec("Check", "check", "operator", "check the prepared ticket step by step "
                "against the five-prevention interlocks on the state each step leaves; "
                "answers each step's verdict" + _NEEDS),
    CommandSpec("Execute", "execute", "operator", "execute the prepared and checked ticket "
                "step by step, each checked again on the live plant, written, read back and "
                "proven by its feedback; stops at the first step that fails and leaves the "
                "plant as it is (no rollback)" + _NEEDS,
                (CommandArg("id", "string", "the prepared ticket's id typed again, e.g. "
                            "T20250101-083000-1"),)),
    CommandSpec("Abort", "abort", "operator", "stop the running ticket before its next "
                "step (a command standing is withdrawn; nothing is rolled back)" + _NEEDS),
)


class TicketHandler:
    """The gate's view of ``<system>.ticket``: the prepared ticket and the executor."""

    def __init__(self, executor: Executor) -> None:
        self.ex = executor
        self.prepared: Ticket | None = None

    def check(self, cmd: Command) -> str | None:
        a, t = cmd.action, self.prepared
        if a == "prepare":
            try:
                parse(cmd.params.get("steps"), self.ex.system)     # type: ignore[arg-type]
            except TicketError as e:
                return str(e)
            return None
        if a == "abort":
            return None if self.ex.busy() else say("no ticket is running")
        if a not in ("check", "execute"):
            return say("the ticket desk takes no {action} command", action=repr(a))
        if t is None:
            return say("no ticket prepared")
        if a == "check":
            return None
        typed = cmd.params.get("id")
        if not isinstance(typed, str) or typed.strip() != t.id:
            return say("not confirmed: type the prepared ticket's id {id} again to execute "
                       "it (got {typed})", id=t.id, typed=repr(typed if typed is not None
                                                              else ""))
        if not t.passed:
            return say("ticket {id} has not passed its check: check it first", id=t.id)
        return self.ex.busy()

    async def execute(self, cmd: Command) -> Decision:
        a, now = cmd.action, self.ex.clock.now()
        if a == "prepare":
            steps = parse(cmd.params["steps"], self.ex.system)
            self.prepared = prepare(steps, cmd.user or cmd.source, now=now,
                                    why=str(cmd.params.get("why", "")), source=cmd.source)
            return Decision(True, say("ticket {id} prepared: {what}", id=self.prepared.id,
                                      what=self.prepared.text()))
        if a == "abort":
            why = await self.ex.abort(cmd.user or cmd.source)
            return Decision(why is None, why or say("ticket aborted: the plant is left as "
                                                    "it is (no rollback)"))
        t = self.prepared
        assert t is not None                       # check() refused it otherwise
        if a == "check":
            t.check(self.ex.snapshot(), self.ex.topo, self.ex.system,
                    by=cmd.user or cmd.source, now=now)
            head = say("ticket {id} passes its check", id=t.id) if t.passed else \
                say("ticket {id} would be refused at step {n}", id=t.id,
                    n=t.refused.n if t.refused else 0)
            return Decision(t.passed, head + "; " + t.report())
        try:
            self.ex.run(t)
        except TicketError as e:
            return Decision(False, str(e))
        self.prepared = None
        return Decision(True, say("ticket {id} executing", id=t.id))


TEXTS: dict[str, str] = {
    "{n}/{total}: {step}: allowed": "{n}/{total}：{step}：允许",
    "{n}/{total}: {step}: REFUSED: {why}": "{n}/{total}：{step}：拒绝：{why}",
    "steps {n} to {total} not checked": "第 {n} 至 {total} 步未检查",
    "a ticket needs at least one step": "操作票至少需要一个步骤",
    "a ticket has at most {n} steps": "操作票最多 {n} 步",
    "a ticket's steps are switching steps": "操作票的步骤须为倒闸操作步骤",
    "a ticket's text is at most {n} characters": "操作票文本最多 {n} 个字符",
    "step {n} ({text}): write an action (open, close, unlock, lock) and a device, e.g. "
    "close Q111.earthing": "第 {n} 步（{text}）：请写出操作（断开、拉开、合上、解锁、锁闭）"
    "和设备，例如：合上 Q111 接地开关",
    "step {n} ({text}): no breaker bay {device} in this network":
        "第 {n} 步（{text}）：本网络中没有开关柜 {device}",
    "step {n} ({text}): a bay's parts are breaker, disconnector, earthing, door":
        "第 {n} 步（{text}）：开关柜的部件为断路器、隔离开关、接地开关、柜门",
    "step {n} ({text}): a door is unlocked or locked, a breaker, disconnector or earthing "
    "switch opened or closed": "第 {n} 步（{text}）：柜门只能解锁或锁闭，断路器、隔离开关、"
    "接地开关只能分或合",
    "step {n} ({text}): {device} has no such part": "第 {n} 步（{text}）：{device} 没有该部件",
    "{device}: no good data from its relay, no reset until it answers":
        "{device}：保护装置数据无效，恢复通信前不能复归",
    "{device}: no trip latched": "{device}：没有未复归的跳闸",
    "{device} takes no {action} command": "{device} 不接受 {action} 命令",
    "operator command {method}": "操作员命令 {method}",
    "ticket {id} started: {step}": "操作票 {id} 已开始：{step}",
    "{device}: trip latch reset (read back)": "{device}：跳闸已复归（已回读确认）",
    "no ticket is running": "没有正在执行的操作票",
    "the ticket desk takes no {action} command": "操作票不接受 {action} 命令",
    "no ticket prepared": "没有已填写的操作票",
    "not confirmed: type the prepared ticket's id {id} again to execute it (got {typed})":
        "未确认：执行须再次输入操作票编号 {id}（输入的是 {typed}）",
    "ticket {id} has not passed its check: check it first": "操作票 {id} 未通过审核：请先审核",
    "ticket {id} prepared: {what}": "操作票 {id} 已填写：{what}",
    "ticket aborted: the plant is left as it is (no rollback)":
        "操作票已中止：设备保持现状（不回退）",
    "ticket {id} passes its check": "操作票 {id} 审核通过",
    "ticket {id} would be refused at step {n}": "操作票 {id} 将在第 {n} 步被拒绝",
    "ticket {id} executing": "操作票 {id} 正在执行",
}
IDS = frozenset({"device", "id", "method"})
