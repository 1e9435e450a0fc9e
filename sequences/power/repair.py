"""Declaring a faulted section repaired: the one way a section located as faulted may be
energised again (the interlocks refuse any close onto it until then, restoration leaves
it dead). An operator says it once the crew has found and cleared the fault; the gate
audits who said it."""

from __future__ import annotations

from typing import Any

from fixedsite.gate import Command, Decision
from fixedsite.systems import CommandArg, CommandSpec
from fixedsite.texts import say

REPAIR_COMMANDS = (
    CommandSpec("Repaired", "repaired", "operator",
                "declare a section located as faulted repaired, so that it may be "
                "energised again (by an operator's switching or by restoration); needs the "
                "operator role",
                (CommandArg("section", "string", "the faulted section's id, e.g. L_F1"),)),
)


class RepairHandler:
    def __init__(self, restorer: Any) -> None:
        self.restorer = restorer

    def _faulted(self) -> list[str]:
        return list(self.restorer.faulted_sections())

    def check(self, cmd: Command) -> str | None:
        if cmd.action != "repaired":
            return say("{target} takes no {action} command", target=cmd.target,
                       action=repr(cmd.action))
        section = str(cmd.params.get("section", "")).strip()
        faulted = self._faulted()
        if section not in faulted:
            return say("{section} is not a section located as faulted (faulted: {sections})",
                       section=section or "''", sections=", ".join(faulted) or "none")
        return None

    async def execute(self, cmd: Command) -> Decision:
        section = str(cmd.params.get("section", "")).strip()
        ok = self.restorer.clear_fault(section)
        return Decision(ok, say("{section} declared repaired: it may be energised again",
                                section=section) if ok else
                        say("{section} is not a section located as faulted (faulted: "
                            "{sections})", section=section,
                            sections=", ".join(self._faulted()) or "none"))


TEXTS: dict[str, str] = {
    "{target} takes no {action} command": "{target} 不接受 {action} 命令",
    "{section} is not a section located as faulted (faulted: {sections})":
        "{section} 不是已定位的故障区段（故障区段：{sections}）",
    "{section} declared repaired: it may be energised again": "{section} 已确认修复：可以重新送电",
}
IDS = frozenset({"target", "sections"})
