"""The command gate: every command, from any source, passes here or nowhere.

An operator's click, the level control, a failover or the planner all say the same
thing to the gate: "source S asks equipment E to do A". The equipment's handler checks
mode and interlocks and answers with a reason when it refuses; an accepted command is
executed (written and verified by read-back) by the handler. Every decision is recorded
with who asked, what, why it was refused or how it ended.

Audit before acting: an accepted command is first recorded in the audit log as an
``intent``, then executed, then its outcome is recorded as a ``command`` record naming
the intent. A command whose intent cannot be recorded (the audit log is full, unwritable
or was found tampered with) is refused with that reason and never reaches the PLC: an
action nobody can account for afterwards is worse than an action not taken. The refusal
still reaches the gate's records and sinks (the historian), and ``controller.audit.ok``
raises the alarm.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fixedsite.audit import AuditLog
from fixedsite.clock import Clock
from fixedsite.texts import say
from fixedsite.users import ROLES, rank

log = logging.getLogger(__name__)

SOURCES = ("operator", "auto", "planner", "failover")


# The least role an operator needs for the alarm actions (users.ROLES order); an
# equipment's actions bring their roles when their handler is registered (its system's
# CommandSpec); an action found in neither needs admin. Automatic sources act on the
# controller's own authority.
ROLE_FOR = {"ack": "operator", "shelve": "engineer", "unshelve": "engineer",
            "out_of_service": "engineer"}


@dataclass(frozen=True)
class Command:
    target: str                 # equipment path, "<system>.<equipment>"
    action: str                 # one of the equipment's CommandSpec actions
    source: str = "operator"
    user: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    role: str | None = None     # a remote user's role; None: a trusted local caller


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.accepted


@dataclass(frozen=True)
class Record:
    t: float
    command: Command
    decision: Decision


class Handler(Protocol):
    def check(self, cmd: Command) -> str | None:
        """None if the command may go ahead, else the reason it may not."""

    async def execute(self, cmd: Command) -> Decision: ...


class CommandGate:
    """``unaudited_sources``: sources whose commands still execute when the audit log
    cannot be written, for a site that ranks keeping the sump from overflowing above
    the record (say ``("auto", "failover")``: level control at high-high). Such a
    command is still in ``records`` and the sinks (the historian), its reason saying it
    was not audited. Empty by default: no command is executed unrecorded."""

    def __init__(self, clock: Clock, keep: int = 1000, audit: AuditLog | None = None,
                 unaudited_sources: tuple[str, ...] = ()) -> None:
        self.clock = clock
        self.audit = audit
        self.unaudited_sources = frozenset(unaudited_sources)
        self._handlers: dict[str, Handler] = {}
        self._roles: dict[str, dict[str, str]] = {}
        self.records: deque[Record] = deque(maxlen=keep)
        self.sinks: list[Callable[[Record], None]] = []

    def register(self, target: str, handler: Handler,
                 roles: Mapping[str, str] | None = None) -> None:
        """Commands to ``target`` go to ``handler``; ``roles``: the least role each of its
        actions needs from a remote user."""
        self._handlers[target] = handler
        self._roles[target] = dict(roles or {})

    @property
    def targets(self) -> list[str]:
        return sorted(self._handlers)

    async def submit(self, cmd: Command) -> Decision:
        asked = self.clock.now()     # a record's time is when it was asked, not answered
        refusal = self._check(cmd)
        if refusal is not None:
            decision = refusal
            self._audit(cmd, decision)
        else:
            handler = self._handlers[cmd.target]
            unaudited = ""
            try:
                intent = self._audit(cmd, None)
            except Exception as e:     # AuditError, or a log broken in a way not foreseen
                intent, unaudited = None, say("audit log cannot be written: {why}", why=e)
            if unaudited and cmd.source not in self.unaudited_sources:
                decision = Decision(False, unaudited)
                self._audit(cmd, decision)    # if the failure has passed, the refusal stays
            else:
                try:
                    decision = await handler.execute(cmd)
                except BaseException as e:
                    self._audit(cmd, Decision(False, say("failed: {why}", why=repr(e))), intent)
                    raise
                if unaudited:
                    decision = Decision(decision.accepted, say(
                        "{reason} (NOT AUDITED: {why})", reason=decision.reason, why=unaudited))
                else:
                    self._audit(cmd, decision, intent)
        record = Record(asked, cmd, decision)
        self.records.append(record)
        for sink in self.sinks:
            sink(record)
        who = f"{cmd.source}:{cmd.user}" if cmd.user else cmd.source
        if decision.accepted:
            log.info("%s %s %s: done %s", who, cmd.action, cmd.target, decision.reason)
        else:
            log.warning("%s %s %s: refused: %s", who, cmd.action, cmd.target,
                        decision.reason)
        return decision

    def _audit(self, cmd: Command, decision: Decision | None,
               intent: int | None = None) -> int | None:
        """Record an intent (``decision`` None: the error propagates, for the caller must
        then not act), or a refusal or an outcome (an error is logged: what was decided
        or done stands, and ``controller.audit.ok`` already says the log is failing).
        Returns the record's number."""
        if self.audit is None:
            return None
        params = {**cmd.params, "role": cmd.role} if cmd.role else dict(cmd.params)
        if intent is not None:
            params["intent"] = intent
        if decision is None:
            return self.audit.append(ts=self.clock.now(), kind="intent",
                                     actor=cmd.user or cmd.source, source=cmd.source,
                                     target=cmd.target, action=cmd.action, params=params,
                                     decision="accepted", result="executing")
        try:
            return self.audit.append(ts=self.clock.now(), kind="command",
                                     actor=cmd.user or cmd.source, source=cmd.source,
                                     target=cmd.target, action=cmd.action, params=params,
                                     decision="accepted" if decision.accepted else "refused",
                                     reason="" if decision.accepted else decision.reason,
                                     result=decision.reason if decision.accepted else "")
        except Exception as e:
            # a refusal, or the outcome of what was already done (its intent is recorded):
            # nothing more to hold back; the log and controller.audit.ok say it
            log.error("%s %s: not audited: %s", cmd.action, cmd.target, e)
            return None

    def _check(self, cmd: Command) -> Decision | None:
        """The refusal, if the command may not go ahead (nothing is executed here)."""
        if cmd.source not in SOURCES:
            return Decision(False, say("unknown command source {source}", source=repr(cmd.source)))
        if cmd.source == "operator" and cmd.role is not None:
            need = self._roles.get(cmd.target, {}).get(cmd.action) or \
                ROLE_FOR.get(cmd.action, "admin")
            if cmd.role not in ROLES or rank(cmd.role) < rank(need):
                return Decision(False, say("{user} ({role}) may not {action}: it needs the "
                                           "{need} role", user=cmd.user or "this user",
                                           role=cmd.role, action=cmd.action, need=need))
        handler = self._handlers.get(cmd.target)
        if handler is None:
            return Decision(False, say("no equipment {target} takes commands",
                                       target=repr(cmd.target)))
        reason = handler.check(cmd)
        if reason is not None:
            return Decision(False, reason)
        return None
