"""The operator console (Textual): overview, drainage, alarms, command log, trends.

High-performance HMI habits (ISA-101): grey when normal, colour only for abnormal (alarm
priorities, a lost link, a PLC on its fallback), every value with its unit, a value that
is not good shown with "?" rather than as if it were fresh, nothing that blinks. The
screens repaint at most twice a second, whatever the rate of changes, so a busy site
does not slow the keyboard. Keys 1-5 switch screens; the bottom line shows only the keys
of the screen in front (click them or press them). Drainage: s start, x stop, m mode,
r reset the selected pump (each through a dialog that shows the interlock state).
Alarms: a acknowledge with a comment, h shelve for a time with a reason, u unshelve,
f filter (text, or P1-P4 for a priority and above). Trends: Enter picks a tag, [ ]
change the window. q quits.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ContentSwitcher, DataTable, Static

from fixedsite.console.client import SiteClient
from fixedsite.console.dialogs import Ask, Choose, Confirm
from fixedsite.console.display import PRIORITY_STYLE, fmt
from fixedsite.console.i18n import T
from fixedsite.console.trends import TrendView

# key, action, footer word, the screen it belongs to (None: every screen)
KEYS = [("1", "show('overview')", "overview", None), ("2", "show('drainage')", "drainage", None),
        ("3", "show('alarms')", "alarms", None), ("4", "show('events')", "events", None),
        ("5", "show('trends')", "trends", None),
        ("s", "command('start')", "start", "drainage"),
        ("x", "command('stop')", "stop", "drainage"), ("m", "mode", "mode", "drainage"),
        ("r", "command('reset')", "reset", "drainage"),
        ("a", "ack", "ack", "alarms"), ("h", "shelve", "shelve", "alarms"),
        ("u", "unshelve", "unshelve", "alarms"), ("f", "filter", "filter", "alarms"),
        ("left_square_bracket", "shorter", "shorter", "trends"),
        ("right_square_bracket", "longer", "longer", "trends"),
        ("q", "quit", "quit", None)]
SCREEN_OF = {a.split("(")[0]: v for _k, a, _d, v in KEYS if v is not None}
SHOWN_AS = {"left_square_bracket": "[", "right_square_bracket": "]"}
FOCUS_ON = {"drainage": "pumps", "alarms": "alarm-list", "events": "events",
            "trends": "trend-tags"}
IN_MARKUP = {"left_square_bracket": "\\[", "right_square_bracket": "]"}


def bindings(t: T) -> list[Binding]:
    return [Binding(k, a, t(d), key_display=SHOWN_AS.get(k)) for k, a, d, _v in KEYS]


class Console(App[None]):
    CSS = """
    Screen { background: #1e1e1e; color: #c8c8c8; }
    #status { height: 1; background: #2d2d2d; }
    #views { height: 1fr; }
    #message { height: 1; background: #2d2d2d; }
    DataTable { height: 1fr; }
    #alarm-filter { height: 1; padding: 0 1; }
    #keys { height: 1; background: #2d2d2d; }
    """
    BINDINGS = bindings(T("en"))

    def __init__(self, client: SiteClient, lang: str, title: str = "fixedsite") -> None:
        super().__init__()
        self.client, self.t, self.site_title = client, T(lang), title
        self.alarm_filter = ""
        self._dirty = True
        client.on_change = self._mark_dirty

    def _mark_dirty(self) -> None:
        self._dirty = True

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(id="status")
        with ContentSwitcher(initial="overview", id="views"):
            yield Static(id="overview")
            with Vertical(id="drainage"):
                yield Static(id="sump")
                pumps: DataTable[str] = DataTable(id="pumps", cursor_type="row")
                pumps.add_column(t("pump"))
                pumps.add_column(t("state"), width=14)
                pumps.add_column(t("mode"), width=8)
                pumps.add_columns(f"{t('flow')} m3/h", f"{t('current')} A",
                                  f"{t('bearing')} °C", f"{t('stator')} °C", t("hours"))
                yield pumps
            with Vertical(id="alarms"):
                yield Static(id="alarm-filter")
                alarms: DataTable[str] = DataTable(id="alarm-list", cursor_type="row")
                alarms.add_columns(t("priority"), t("alarm"), t("state"))
                yield alarms
            events: DataTable[str] = DataTable(id="events", cursor_type="row")
            events.add_columns(t("time"), t("who"), t("command"), t("target"), t("outcome"),
                               t("reason"))
            yield events
            yield TrendView(self.client, t, id="trends")
        yield Static(id="message")
        yield Static(id="keys")

    def on_mount(self) -> None:
        self.title = self.site_title
        self._key_bar()
        self.set_interval(0.5, self._refresh)
        self.set_interval(2.0, self._refresh_slow)
        self._refresh()
        self.call_after_refresh(self._freeze_heap)

    def _freeze_heap(self) -> None:
        """Everything built so far lives as long as the console: move it out of the
        collector's sight, so a full collection scans only what is new (without this a
        full collection here pauses the keyboard 70-140 ms every few dozen key presses)."""
        gc.collect()
        gc.freeze()

    def view(self) -> str:
        return self.query_one("#views", ContentSwitcher).current or ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A screen's keys work, and show in the footer, only on that screen."""
        screen = SCREEN_OF.get(action)
        return screen is None or screen == self.view()

    async def _refresh_slow(self) -> None:
        """What is read from the server on demand, only while its screen is shown."""
        if self.view() == "events":
            rows = await self.client.recent_commands(50)
            table = self.query_one("#events", DataTable)
            table.clear()
            for i, (ts, who, action, target, outcome, reason) in enumerate(rows):
                when = time.strftime("%m-%d %H:%M:%S", time.localtime(float(ts)))
                mark = outcome if outcome == "done" else f"[yellow]{outcome}[/]"
                table.add_row(when, who, action, target, mark, reason, key=str(i))
        elif self.view() == "trends":
            await self.query_one(TrendView).reload()

    def _key_bar(self) -> None:
        """The keys of the screen in front, each clickable. Our own line, not Textual's
        Footer: the Footer rebuilds its widgets on every change of keys and, in Textual
        8.2, never frees the old ones (Textualize/textual#6666), which a console left
        running for months cannot afford."""
        view = self.view()
        words = [f"[@click=app.{b.action}][b]{IN_MARKUP.get(b.key, b.key)}[/b] "
                 f"{b.description}[/]"
                 for b, (_k, _a, _d, screen) in zip(self.BINDINGS, KEYS, strict=True)
                 if isinstance(b, Binding) and screen in (None, view)]
        self.query_one("#keys", Static).update(" " + "  ".join(words))

    async def action_show(self, view: str) -> None:
        self.query_one("#views", ContentSwitcher).current = view
        self._key_bar()
        table = FOCUS_ON.get(view)          # the arrows move in the screen's own table
        if table:
            self.query_one(f"#{table}", DataTable).focus()
        self._dirty = True
        self._refresh()
        await self._refresh_slow()

    # --- reading the model ---------------------------------------------------------------
    def v(self, path: str) -> Any:
        return self.client.values.get(path)

    def pumps(self, room: str = "drainage") -> list[str]:
        return sorted({p.split(".")[1] for p in self.client.values
                       if p.startswith(f"{room}.pump") and p.endswith(".run_cmd")})

    def rooms(self) -> list[str]:
        """Pump rooms on the server, the main one (``drainage``) first."""
        found = {p.split(".")[0] for p in self.client.values if p.endswith(".control.status")}
        return sorted(found, key=lambda r: (r != "drainage", r))

    def _refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        t, c = self.t, self.client
        counts = {p: 0 for p in (1, 2, 3, 4)}
        for row in c.alarms.values():
            if not row.shelved:
                counts[row.priority] = counts.get(row.priority, 0) + 1
        link = t("connected") if c.connected else f"[bold white on red] {t('disconnected')} " \
                                                  f"[/] {c.error}"
        alarm_text = "  ".join(f"[{PRIORITY_STYLE[p]}] P{p} {n} [/]" if n else f"P{p} 0"
                               for p, n in counts.items())
        self.query_one("#status", Static).update(f" {self.site_title}   {link}   "
                                                 f"{t('active_alarms')}: {alarm_text}")
        # only the screen in front is redrawn: the others catch up when shown
        {"overview": self._overview, "drainage": self._drainage, "alarms": self._alarms,
         "trends": self.query_one(TrendView).show_tags}.get(self.view(), lambda: None)()

    def _overview(self) -> None:
        t = self.t
        lines = []
        for path in sorted(p for p in self.client.values if p.endswith(".online")):
            plc = path.split(".")[1]
            up = self.client.values[path]
            state = t("online") if up.value and up.good else f"[red]{t('offline')}[/]"
            lines.append(f"{t('plc')} {plc}: {state}")
        for room in self.rooms():                 # the main room, then rooms relaying to it
            fb = self.v(f"{room}.plc1.fallback")
            if fb and fb.value:
                lines.append(f"[bold white on red] {t('fallback')} [/] {room}")
            level = fmt(self.v(f"{room}.sump.level"), " m", 2)
            title = t("drainage") if room == "drainage" else f"{t('drainage')} ({room})"
            lines.append(f"{title}: {t('sump_level')} {level}   "
                         f"{fmt(self.v(f'{room}.control.status'))}")
            pumps = self.pumps(room)
            running = sum(1 for p in pumps if (x := self.v(f"{room}.{p}.running")) and x.value)
            lines.append(f"  {t('pump')}: {running}/{len(pumps)}")
        self.query_one("#overview", Static).update("\n".join(lines))

    def all_pumps(self) -> list[str]:
        """Every pump of every room as its path (``room.pump``), the main room's first."""
        return [f"{room}.{p}" for room in self.rooms() for p in self.pumps(room)]

    @staticmethod
    def shown(path: str) -> str:
        """A pump's name for people: ``pump1`` in the main room, ``lower.pump1`` elsewhere."""
        return path.removeprefix("drainage.")

    def _mode(self, path: str) -> str:
        """Local (the selector at the pump), else the PLC's mode register, in words."""
        local, mode = self.v(f"{path}.local"), self.v(f"{path}.mode")
        if local and local.value:
            return self.t("local")
        if mode is None or not isinstance(mode.value, float):
            return "?"
        word = self.t(f"mode.{int(mode.value)}")
        return word + ("" if mode.good and not mode.stale else "?")

    def _state(self, path: str) -> str:
        v = self.v(f"{path}.state")
        if v is None:
            return "--"
        word = self.t(f"st.{v.value}")
        return word + ("" if v.good and not v.stale else "?")

    def _drainage(self) -> None:
        t = self.t
        lines = []
        for room in self.rooms():
            plan = ""
            if self.v(f"{room}.plan.pumps") is not None:
                plan = (f"   {t('plan')}: {fmt(self.v(f'{room}.plan.pumps'), '', 0)} "
                        f"{t('pumps_now')}, {t('saving')} "
                        f"{fmt(self.v(f'{room}.plan.saving_pct'), ' %', 1)}   "
                        f"{fmt(self.v(f'{room}.control.status'))}")
            lines.append(("" if room == "drainage" else f"{room}: ")
                         + f"{t('sump_level')}: {fmt(self.v(f'{room}.sump.level'), ' m', 2)}   "
                         f"{fmt(self.v(f'{room}.sump.fill'), ' %', 1)}{plan}")
        self.query_one("#sump", Static).update("\n".join(lines))
        table = self.query_one("#pumps", DataTable)
        for path in self.all_pumps():
            state = self._state(path)
            if (x := self.v(f"{path}.state")) is not None and x.value == "fault":
                state = f"[bold white on red]{state}[/]"
            row = [self.shown(path), state, self._mode(path),
                   fmt(self.v(f"{path}.flow"), "", 0), fmt(self.v(f"{path}.current")),
                   fmt(self.v(f"{path}.bearing_temp")), fmt(self.v(f"{path}.stator_temp")),
                   fmt(self.v(f"{path}.run_hours"))]
            if path in table.rows:
                for col, value in zip(table.columns, row, strict=True):
                    table.update_cell(path, col, value)
            else:
                table.add_row(*row, key=path)

    def _shown_alarms(self) -> list[Any]:
        """Standing alarms by priority then newest, shelved ones last; the filter is text
        in the id or message, or P1-P4 for that priority and above."""
        f = self.alarm_filter.strip()
        rows = list(self.client.alarms.values())
        if len(f) == 2 and f[0] in "pP" and f[1] in "1234":
            rows = [r for r in rows if r.priority <= int(f[1])]
        elif f:
            rows = [r for r in rows if f.lower() in f"{r.id} {r.text}".lower()]
        return sorted(rows, key=lambda r: (r.shelved, r.priority, -r.t))

    def _alarms(self) -> None:
        t = self.t
        rows = self._shown_alarms()
        shown = f"{t('filter')}: {self.alarm_filter}   " if self.alarm_filter else ""
        self.query_one("#alarm-filter", Static).update(
            f"{shown}{len(rows)}/{len(self.client.alarms)}")
        table = self.query_one("#alarm-list", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in rows:
            if r.shelved:
                table.add_row(f"[dim] {r.priority} [/]", f"[dim]{r.text}[/]",
                              f"[dim]{t('shelved')}[/]", key=r.id)
            else:
                style = PRIORITY_STYLE.get(r.priority, "")
                table.add_row(f"[{style}] {r.priority} [/]", r.text, t(r.state), key=r.id)
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))

    # --- commands --------------------------------------------------------------------------
    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def say(self, text: str) -> None:
        self.query_one("#message", Static).update(text)

    async def _call(self, target: str, method: str, *args: Any) -> None:
        done, why = await self.client.call(target, method, *args)
        self.say(f"{self.t('done') if done else self.t('refused')}: {why}")

    def _pump_state(self, path: str) -> str:
        """The interlock state a command dialog shows before the operator confirms."""
        t, room = self.t, path.split(".")[0]
        reason = self.v(f"{path}.fault_reason")
        return (f"{t('interlocks')}: {t('state')} {self._state(path)}, "
                f"{t('mode')} {self._mode(path)}, "
                f"{t('sump_level')} {fmt(self.v(f'{room}.sump.level'), ' m', 2)}"
                + (f"\n{reason.value}" if reason and reason.value else ""))

    def action_command(self, action: str) -> None:
        pump = self._selected("pumps")
        if pump is None:
            return

        async def go(ok: bool | None) -> None:
            if ok:
                await self._call(pump, action.capitalize())
        self.push_screen(Confirm(f"{self.t(action)} {self.shown(pump)}?\n"
                                 f"{self._pump_state(pump)}"), go)

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
                                f"{self._pump_state(pump)}",
                                options), go)

    def action_ack(self) -> None:
        alarm = self._selected("alarm-list")
        if alarm is None:
            return

        async def go(answer: list[str] | None) -> None:
            if answer is not None:
                await self._call("alarms", "Acknowledge", alarm, answer[0])
        self.push_screen(Ask(f"{self.t('ack')} {alarm}", [(self.t("comment"), "")]), go)

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
                self.say(f"{self.t('refused')}: {answer[0]!r} - {self.t('minutes')}?")
                return
            await self._call("alarms", "Shelve", alarm, minutes * 60.0, answer[1])
        self.push_screen(Ask(f"{self.t('shelve')} {alarm}", [(self.t("minutes"), "60"),
                                                              (self.t("reason"), "")]), go)

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
        self.push_screen(Ask(self.t("filter_help"), [(self.t("filter"), self.alarm_filter)]),
                         go)

    async def action_shorter(self) -> None:
        await self.query_one(TrendView).widen(-1)

    async def action_longer(self) -> None:
        await self.query_one(TrendView).widen(1)

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "trend-tags":
            await self.query_one(TrendView).pick(str(event.row_key.value))


def make_console(client: SiteClient, lang: str, title: str) -> Console:
    """A console whose footer names its keys in the operator's language."""
    cls = type(f"Console_{lang}", (Console,), {"BINDINGS": bindings(T(lang))})
    return cls(client, lang, title)  # type: ignore[no-any-return]
