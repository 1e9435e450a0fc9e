"""The operator console (Textual): overview, drainage, alarms; commands with confirmation.

High-performance HMI habits (ISA-101): grey when normal, colour only for abnormal (alarm
priorities, a lost link, a PLC on its fallback), every value with its unit, a value that
is not good shown with "?" rather than as if it were fresh, nothing that blinks. The
screens repaint at most twice a second, whatever the rate of changes, so a busy site
does not slow the keyboard. Keys: 1 2 3 switch screens; on the drainage screen s starts
and x stops the selected pump (a dialog shows the interlock state and asks to confirm);
on the alarms screen a acknowledges the selected alarm with a comment; q quits.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Label, Static

from fixedsite.console.client import SiteClient
from fixedsite.console.i18n import T

PRIORITY_STYLE = {1: "bold white on red", 2: "bold black on yellow", 3: "yellow", 4: "cyan"}
MODE_SHORT = {1: "manual", 2: "auto"}
KEYS = [("1", "show('overview')", "overview"), ("2", "show('drainage')", "drainage"),
        ("3", "show('alarms')", "alarms"), ("4", "show('events')", "events"),
        ("s", "command('start')", "start"),
        ("x", "command('stop')", "stop"), ("a", "ack", "ack"), ("q", "quit", "quit")]


def fmt(v: Any, unit: str = "", nd: int = 1) -> str:
    """A value for display: '?' marks one that is not good or not fresh."""
    if v is None:
        return "--"
    mark = "" if v.good and not v.stale else "?"
    x = v.value
    if isinstance(x, bool):
        text = "1" if x else "0"
    elif isinstance(x, float):
        text = f"{x:.{nd}f}"
    else:
        text = str(x)
    return f"{text}{unit}{mark}"


class Dialog(ModalScreen[Any]):
    """A small centred box over the current screen."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical { width: 64; height: auto; border: round $primary; padding: 1 2;
                        background: $surface; }
    """


class Confirm(Dialog):
    BINDINGS = [Binding("y,enter", "yes", "confirm"), Binding("n,escape", "no", "cancel")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.text, id="confirm-text")
            yield Label("\\[y] / Enter   \\[n] / Esc")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class AskComment(Dialog):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(id="comment")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Console(App[None]):
    CSS = """
    Screen { background: #1e1e1e; color: #c8c8c8; }
    #status { height: 1; background: #2d2d2d; }
    #views { height: 1fr; }
    #message { height: 1; background: #2d2d2d; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [Binding(k, a, T("en")(d)) for k, a, d in KEYS]

    def __init__(self, client: SiteClient, lang: str, title: str = "fixedsite") -> None:
        super().__init__()
        self.client, self.t, self.site_title = client, T(lang), title
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
                pumps.add_columns(t("pump"), t("state"), t("mode"), f"{t('flow')} m3/h",
                                  f"{t('current')} A", f"{t('bearing')} °C",
                                  f"{t('stator')} °C", t("hours"))
                yield pumps
            alarms: DataTable[str] = DataTable(id="alarms", cursor_type="row")
            alarms.add_columns(t("priority"), t("alarm"), t("state"))
            yield alarms
            events: DataTable[str] = DataTable(id="events", cursor_type="row")
            events.add_columns(t("time"), t("who"), t("command"), t("target"), t("outcome"),
                               t("reason"))
            yield events
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.site_title
        self.set_interval(0.5, self._refresh)
        self.set_interval(2.0, self._refresh_events)
        self._refresh()

    async def _refresh_events(self) -> None:
        """The command log is read on demand, only while its screen is shown."""
        if self.query_one("#views", ContentSwitcher).current != "events":
            return
        rows = await self.client.recent_commands(50)
        table = self.query_one("#events", DataTable)
        table.clear()
        for i, (ts, who, action, target, outcome, reason) in enumerate(rows):
            when = time.strftime("%m-%d %H:%M:%S", time.localtime(float(ts)))
            mark = outcome if outcome == "done" else f"[yellow]{outcome}[/]"
            table.add_row(when, who, action, target, mark, reason, key=str(i))

    async def action_show(self, view: str) -> None:
        self.query_one("#views", ContentSwitcher).current = view
        self._dirty = True
        self._refresh()
        await self._refresh_events()

    # --- reading the model ---------------------------------------------------------------
    def v(self, path: str) -> Any:
        return self.client.values.get(path)

    def pumps(self) -> list[str]:
        return sorted({p.split(".")[1] for p in self.client.values
                       if p.startswith("drainage.pump") and p.endswith(".run_cmd")})

    def _refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        t, c = self.t, self.client
        counts = {p: 0 for p in (1, 2, 3, 4)}
        for row in c.alarms.values():
            counts[row.priority] = counts.get(row.priority, 0) + 1
        link = t("connected") if c.connected else f"[bold white on red] {t('disconnected')} " \
                                                  f"[/] {c.error}"
        alarm_text = "  ".join(f"[{PRIORITY_STYLE[p]}] P{p} {n} [/]" if n else f"P{p} 0"
                               for p, n in counts.items())
        self.query_one("#status", Static).update(f" {self.site_title}   {link}   "
                                                 f"{t('active_alarms')}: {alarm_text}")
        # only the screen in front is redrawn: the others catch up when shown
        view = self.query_one("#views", ContentSwitcher).current
        {"overview": self._overview, "drainage": self._drainage,
         "alarms": self._alarms}.get(view or "", lambda: None)()

    def _overview(self) -> None:
        t = self.t
        lines = []
        for path in sorted(p for p in self.client.values if p.endswith(".online")):
            plc = path.split(".")[1]
            up = self.client.values[path]
            state = t("online") if up.value and up.good else f"[red]{t('offline')}[/]"
            lines.append(f"{t('plc')} {plc}: {state}")
        if self.v("drainage.plc1.fallback") and self.v("drainage.plc1.fallback").value:
            lines.append(f"[bold white on red] {t('fallback')} [/]")
        level = fmt(self.v("drainage.sump.level"), " m", 2)
        lines.append(f"{t('drainage')}: {t('sump_level')} {level}   "
                     f"{fmt(self.v('drainage.control.status'))}")
        running = sum(1 for p in self.pumps() if (x := self.v(f"drainage.{p}.running"))
                      and x.value)
        lines.append(f"  {t('pump')}: {running}/{len(self.pumps())}")
        self.query_one("#overview", Static).update("\n".join(lines))

    def _drainage(self) -> None:
        t = self.t
        self.query_one("#sump", Static).update(
            f"{t('sump_level')}: {fmt(self.v('drainage.sump.level'), ' m', 2)}   "
            f"{fmt(self.v('drainage.sump.fill'), ' %', 1)}")
        table = self.query_one("#pumps", DataTable)
        for p in self.pumps():
            base = f"drainage.{p}"
            mode = self.v(f"{base}.mode")
            local = self.v(f"{base}.local")
            mode_text = "LOCAL" if local and local.value else MODE_SHORT.get(
                int(mode.value) if mode and isinstance(mode.value, float) else 0, "?")
            state = fmt(self.v(f"{base}.state"))
            if state.startswith("fault"):
                state = f"[bold white on red]{state}[/]"
            row = [p, state, mode_text, fmt(self.v(f"{base}.flow"), "", 0),
                   fmt(self.v(f"{base}.current")), fmt(self.v(f"{base}.bearing_temp")),
                   fmt(self.v(f"{base}.stator_temp")), fmt(self.v(f"{base}.run_hours"))]
            if p in table.rows:
                for col, value in zip(table.columns, row, strict=True):
                    table.update_cell(p, col, value)
            else:
                table.add_row(*row, key=p)

    def _alarms(self) -> None:
        table = self.query_one("#alarms", DataTable)
        table.clear()
        rows = sorted(self.client.alarms.values(), key=lambda r: (r.priority, -r.t))
        for r in rows:
            style = PRIORITY_STYLE.get(r.priority, "")
            table.add_row(f"[{style}] {r.priority} [/]", r.text, r.state, key=r.id)

    # --- commands --------------------------------------------------------------------------
    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def say(self, text: str) -> None:
        self.query_one("#message", Static).update(text)

    def action_command(self, action: str) -> None:
        if self.query_one("#views", ContentSwitcher).current != "drainage":
            return
        pump = self._selected("pumps")
        if pump is None:
            return
        t, base = self.t, f"drainage.{pump}"
        reason = self.v(f"{base}.fault_reason")
        text = (f"{t(action)} {pump}?\n{t('interlocks')}: {t('state')} "
                f"{fmt(self.v(f'{base}.state'))}, {t('mode')} {fmt(self.v(f'{base}.mode'), '', 0)}"
                f", {t('sump_level')} {fmt(self.v('drainage.sump.level'), ' m', 2)}"
                + (f"\n{reason.value}" if reason and reason.value else ""))

        async def go(ok: bool | None) -> None:
            if ok:
                done, why = await self.client.call(base, action.capitalize())
                self.say(f"{t('done') if done else t('refused')}: {why}")
        self.push_screen(Confirm(text), go)

    def action_ack(self) -> None:
        if self.query_one("#views", ContentSwitcher).current != "alarms":
            return
        alarm = self._selected("alarms")
        if alarm is None:
            return

        async def go(comment: str | None) -> None:
            if comment is not None:
                done, why = await self.client.call("alarms", "Acknowledge", alarm, comment)
                self.say(f"{self.t('done') if done else self.t('refused')}: {why}")
        self.push_screen(AskComment(f"{self.t('ack')} {alarm} - {self.t('comment')}:"), go)


def make_console(client: SiteClient, lang: str, title: str) -> Console:
    """A console whose footer names its keys in the operator's language."""
    t = T(lang)
    cls = type(f"Console_{lang}", (Console,),
               {"BINDINGS": [Binding(k, a, t(d)) for k, a, d in KEYS]})
    return cls(client, lang, title)  # type: ignore[no-any-return]
