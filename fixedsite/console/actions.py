"""What the console's own command keys do (the alarm actions): each is a dialog first,
then a method call through the controller's gate (role checked there; the answer shown as
it came, in the operator's language). A system's view brings its own commands
(``console/screens.py``); they use ``selected`` and ``call`` from here."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Ask, Info

if TYPE_CHECKING:
    from fixedsite.console.client import SiteClient
    from fixedsite.console.i18n import T


def when(t: float) -> str:
    """A site time as the alarm list shows it; empty for 'not yet'."""
    return time.strftime("%m-%d %H:%M:%S", time.localtime(t)) if t else ""


class Actions:
    """Mixed into the Console: needs ``client``, ``t``, ``query_one``, ``push_screen``,
    ``alarm_filter``, ``_refresh``."""

    client: SiteClient
    t: T
    alarm_filter: str
    _dirty: bool

    if TYPE_CHECKING:
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def _refresh(self) -> None: ...

    def selected(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def say(self, text: str) -> None:
        self.query_one("#message", Static).update(text)

    async def call(self, target: str, method: str, *args: Any) -> bool:
        done, why = await self.client.call(target, method, *args)
        self.say(f"{self.t('done') if done else self.t('refused')}: {self.t.text(why)}")
        return done

    def action_ack(self) -> None:
        alarm = self.selected("alarm-list")
        if alarm is None:
            return

        async def go(answer: list[str] | None) -> None:
            if answer is not None:
                await self.call("alarms", "Acknowledge", alarm, answer[0])
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
        alarm = self.selected("alarm-list")
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
        alarm = self.selected("alarm-list")
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
            await self.call("alarms", "Shelve", alarm, minutes * 60.0, answer[1])
        self.push_screen(Ask(f"{self.t('shelve')} {self._alarm_text(alarm)}",
                             [(self.t("minutes"), "60"), (self.t("reason"), "")],
                             self.t("keys_confirm")), go)

    async def action_unshelve(self) -> None:
        alarm = self.selected("alarm-list")
        if alarm is not None:
            await self.call("alarms", "Unshelve", alarm)

    def action_filter(self) -> None:
        def go(answer: list[str] | None) -> None:
            if answer is not None:
                self.alarm_filter = answer[0].strip()
                self._dirty = True
                self._refresh()
        self.push_screen(Ask(self.t("filter_help"), [(self.t("filter"), self.alarm_filter)],
                             self.t("keys_confirm")), go)

