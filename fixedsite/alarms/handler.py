"""Alarm actions as gate commands, so acknowledging and shelving are checked and audited.

``Command("alarms", "ack", params={"id": ..., "comment": ...})``; also ``shelve``
(``duration_s``, ``comment``), ``unshelve``, ``out_of_service`` (``on``, ``comment``).
"""

from __future__ import annotations

from fixedsite.alarms.engine import AlarmEngine
from fixedsite.gate import Command, Decision

ACTIONS = ("ack", "shelve", "unshelve", "out_of_service")


class AlarmHandler:
    def __init__(self, engine: AlarmEngine) -> None:
        self.engine = engine

    def check(self, cmd: Command) -> str | None:
        if cmd.action not in ACTIONS:
            return f"alarms take no {cmd.action!r} command; expected one of " + \
                ", ".join(ACTIONS)
        if cmd.source != "operator" or not cmd.user:
            return "alarm actions are taken by a named operator"
        if cmd.params.get("id") not in self.engine.alarms:
            return f"no alarm {cmd.params.get('id')!r}"
        return None

    async def execute(self, cmd: Command) -> Decision:
        e, p, user = self.engine, cmd.params, cmd.user
        comment = str(p.get("comment", ""))
        if cmd.action == "ack":
            why = e.acknowledge(p["id"], user, comment)
        elif cmd.action == "shelve":
            why = e.shelve(p["id"], user, float(p.get("duration_s", 0)), comment)
        elif cmd.action == "unshelve":
            why = e.unshelve(p["id"], user)
        else:
            e.set_out_of_service(p["id"], user, bool(p.get("on", True)), comment)
            why = None
        return Decision(why is None, why or f"{cmd.action} {p['id']}")
