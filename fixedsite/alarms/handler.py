"""Alarm actions as gate commands, so acknowledging and shelving are checked and audited.

``Command("alarms", "ack", params={"id": ..., "comment": ...})``; also ``shelve``
(``duration_s``, ``comment``), ``unshelve``, ``out_of_service`` (``on``, ``comment``).

Every parameter is checked here, whatever the source, before the engine sees it: a
missing, wrong-typed or non-finite value is refused with a reason. Shelving is
time-limited (ISA-18.2: a shelved alarm must come back by itself): more than 0 and at
most ``MAX_SHELVE_S``, one 8-hour shift, so an alarm shelved by one shift is back for
the next; shelving longer is taking it out of service, a separate, engineered act.
"""

from __future__ import annotations

import math
from typing import Any

from fixedsite.alarms.engine import AlarmEngine
from fixedsite.gate import Command, Decision
from fixedsite.texts import say

ACTIONS = ("ack", "shelve", "unshelve", "out_of_service")
MAX_SHELVE_S = 8 * 3600.0
ACTION_DONE = {"ack": "acknowledged {alarm}", "shelve": "shelved {alarm}",
               "unshelve": "unshelved {alarm}", "out_of_service": "{alarm} out of service"}


def _params(cmd: Command) -> str | None:
    """Why the command's parameters cannot be used, or None."""
    p: dict[str, Any] = cmd.params
    if not isinstance(p.get("comment", ""), str):
        return f"{cmd.action}: the comment must be text"
    if cmd.action == "shelve":
        d = p.get("duration_s")
        if not isinstance(d, int | float) or isinstance(d, bool):
            return f"shelve: the duration must be a number of seconds, not {d!r}"[:200]
        if not math.isfinite(d) or d <= 0:
            return f"shelve: the duration must be more than 0 s and finite, not {d}"
        if d > MAX_SHELVE_S:
            return (f"shelve: at most {MAX_SHELVE_S:.0f} s ({MAX_SHELVE_S / 3600:g} h), "
                    f"not {d:g}; for longer take the alarm out of service")
    if cmd.action == "out_of_service" and not isinstance(p.get("on", True), bool):
        return "out_of_service: 'on' must be true or false"
    return None


class AlarmHandler:
    def __init__(self, engine: AlarmEngine) -> None:
        self.engine = engine

    def check(self, cmd: Command) -> str | None:
        if cmd.action not in ACTIONS:
            return f"alarms take no {cmd.action!r} command; expected one of " + \
                ", ".join(ACTIONS)
        if cmd.source != "operator" or not cmd.user:
            return say("alarm actions are taken by a named operator")
        alarm = cmd.params.get("id")
        if not isinstance(alarm, str) or alarm not in self.engine.alarms:
            return say("no alarm {alarm}", alarm=repr(alarm)[:200])
        return _params(cmd)

    async def execute(self, cmd: Command) -> Decision:
        e, p, user = self.engine, cmd.params, cmd.user
        comment = str(p.get("comment", ""))
        if cmd.action == "ack":
            why = e.acknowledge(p["id"], user, comment)
        elif cmd.action == "shelve":
            why = e.shelve(p["id"], user, float(p["duration_s"]), comment)
        elif cmd.action == "unshelve":
            why = e.unshelve(p["id"], user)
        else:
            e.set_out_of_service(p["id"], user, bool(p.get("on", True)), comment)
            why = None
        return Decision(why is None, why or say(ACTION_DONE[cmd.action], alarm=p["id"]))
