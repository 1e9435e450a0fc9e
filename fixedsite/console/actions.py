"""What the console's command keys do: each is a dialog first, then a method call through
the controller's gate (role, mode, interlocks checked there; the answer shown as it came,
in the operator's language).

Starting or stopping a pump that level control runs (remote-auto) is refused by the gate;
rather than let the operator find that out, the dialog says so and offers what the role
allows: an engineer may switch the pump to remote-manual and start it in one step; an
operator is told who can and how.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Ask, Choose, Confirm, Info
from fixedsite.users import rank

if TYPE_CHECKING:
    from fixedsite.console.client import SiteClient
    from fixedsite.console.i18n import T


def when(t: float) -> str:
    """A site time as the alarm list shows it; empty for 'not yet'."""
    return time.strftime("%m-%d %H:%M:%S", time.localtime(t)) if t else ""


class Actions:
    """Mixed into the Console: needs ``client``, ``t``, ``v``, ``shown``, ``_state``,
    ``_mode``, ``query_one``, ``push_screen``, ``alarm_filter``, ``_refresh``."""

    client: SiteClient
    t: T
    alarm_filter: str
    _dirty: bool

    if TYPE_CHECKING:
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def v(self, path: str) -> Any: ...
        def shown(self, path: str) -> str: ...
        def _state(self, path: str) -> str: ...
        def _mode(self, path: str) -> str: ...
        def _refresh(self) -> None: ...
        def fv(self, path: str, unit: str = "", nd: int = 1) -> str: ...

    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def say(self, text: str) -> None:
        self.query_one("#message", Static).update(text)

    async def _call(self, target: str, method: str, *args: Any) -> bool:
        done, why = await self.client.call(target, method, *args)
        self.say(f"{self.t('done') if done else self.t('refused')}: {self.t.text(why)}")
        return done

    def _pump_state(self, path: str) -> str:
        """The interlock state a command dialog shows before the operator confirms."""
        t, room = self.t, path.split(".")[0]
        reason = self.v(f"{path}.fault_reason")
        return (f"{t('interlocks')}: {t('state')} {self._state(path)}, "
                f"{t('mode')} {self._mode(path)}, "
                f"{t('sump_level')} {self.fv(f'{room}.sump.level', ' m', 2)}"
                + (f"\n{t.text(str(reason.value))}" if reason and reason.value else ""))

    def _in_auto(self, path: str) -> bool:
        mode, local = self.v(f"{path}.mode"), self.v(f"{path}.local")
        return bool(mode is not None and mode.value == 2 and not (local and local.value))

    def action_command(self, action: str) -> None:
        pump = self._selected("pumps")
        if pump is None:
            return
        if action in ("start", "stop") and self._in_auto(pump):
            self._auto_pump(pump, action)
            return

        async def go(ok: bool | None) -> None:
            if ok:
                await self._call(pump, action.capitalize())
        self.push_screen(Confirm(f"{self.t(action)} {self.shown(pump)}?\n"
                                 f"{self._pump_state(pump)}", self.t("keys_yes_no")), go)

    def _auto_pump(self, pump: str, action: str) -> None:
        """A pump in remote-auto: say why the key does not simply act, and offer what the
        user's role allows (switching the mode needs an engineer)."""
        t = self.t
        head = (f"{t('auto_start_hint', pump=self.shown(pump))}\n{self._pump_state(pump)}")
        role = self.client.role
        if role and rank(role) < rank("engineer"):
            self.push_screen(Info(f"{head}\n\n{t('ask_engineer')}", t("keys_close")))
            return

        async def go(choice: str | None) -> None:
            if choice == "switch" and await self._call(pump, "SetMode", "remote-manual"):
                await self._call(pump, action.capitalize())
        self.push_screen(Choose(head, [("switch", t("switch_and_start", action=t(action)))],
                                t("keys_pick")), go)

    def action_mode(self) -> None:
        pump = self._selected("pumps")
        if pump is None:
            return
        options = [("remote-manual", self.t("remote-manual")),
                   ("remote-auto", self.t("remote-auto"))]

        async def go(mode: str | None) -> None:
            if mode is not None:
                await self._call(pump, "SetMode", mode)
        self.push_screen(Choose(f"{self.t('mode')} {self.shown(pump)}\n"
                                f"{self._pump_state(pump)}", options, self.t("keys_pick")),
                         go)

    def action_ack(self) -> None:
        alarm = self._selected("alarm-list")
        if alarm is None:
            return

        async def go(answer: list[str] | None) -> None:
            if answer is not None:
                await self._call("alarms", "Acknowledge", alarm, answer[0])
        self.push_screen(Ask(f"{self.t('ack')} {self._alarm_text(alarm)}",
                             [(self.t("comment"), "")], self.t("keys_confirm")), go)

    def _alarm_text(self, alarm: str) -> str:
        row = self.client.alarms.get(alarm)
        if row is None:
            return escape(alarm)
        return escape(row.text_zh if self.t.lang == "zh_CN" and row.text_zh else row.text)

    def action_detail(self) -> None:
        """The whole alarm: its id, times, who acknowledged, and the raw detail that the
        list leaves out so its columns stay on screen."""
        alarm = self._selected("alarm-list")
        row = self.client.alarms.get(alarm or "")
        if row is None:
            return
        t = self.t
        lines = [f"{t('alarm_detail')}: {escape(row.id)}", self._alarm_text(row.id),
                 f"P{row.priority}   {t(row.state)}" + (f"   {t('shelved')}" if row.shelved
                                                         else ""),
                 f"{t('raised')}: {when(row.t)}", f"{t('cleared')}: {when(row.cleared)}",
                 f"{t('acked_at')}: {when(row.acked)} {escape(row.acked_by)}"]
        if row.detail:
            lines.append(f"{t('detail')}: {t.text(row.detail)}")
        self.push_screen(Info("\n".join(lines), t("keys_close")))

    def action_shelve(self) -> None:
        alarm = self._selected("alarm-list")
        if alarm is None:
            return

        async def go(answer: list[str] | None) -> None:
            if answer is None:
                return
            try:
                minutes = float(answer[0])
            except ValueError:
                self.say(f"{self.t('refused')}: {escape(repr(answer[0]))} - "
                         f"{self.t('minutes')}?")
                return
            await self._call("alarms", "Shelve", alarm, minutes * 60.0, answer[1])
        self.push_screen(Ask(f"{self.t('shelve')} {self._alarm_text(alarm)}",
                             [(self.t("minutes"), "60"), (self.t("reason"), "")],
                             self.t("keys_confirm")), go)

    async def action_unshelve(self) -> None:
        alarm = self._selected("alarm-list")
        if alarm is not None:
            await self._call("alarms", "Unshelve", alarm)

    def action_filter(self) -> None:
        def go(answer: list[str] | None) -> None:
            if answer is not None:
                self.alarm_filter = answer[0].strip()
                self._dirty = True
                self._refresh()
        self.push_screen(Ask(self.t("filter_help"), [(self.t("filter"), self.alarm_filter)],
                             self.t("keys_confirm")), go)

