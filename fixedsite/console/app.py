"""The operator console (Textual): overview, a view per system, alarms, command log, trends.

High-performance HMI habits (ISA-101): grey when normal, colour only for abnormal (alarm
priorities, a lost link, a PLC on its fallback), every value with its unit, a value that
that is not good dimmed with its reason and age (``display.fmt``, the same on every
screen; a state or count derived from it likewise), nothing that blinks. The
screens repaint at most twice a second, whatever the rate of changes, so a busy site
does not slow the keyboard. Number keys switch screens (the overview, each installed
system's view from ``console/screens.py``, then alarms, commands, trends); the bottom
line shows only the keys of the screen in front (click them or press them); a system's
view brings its own keys (drainage: ``console/drainage.py``).
Alarms: a acknowledge with a comment, h shelve for a time with a reason, u unshelve,
f filter (text, or P1-P4 for a priority and above), Enter shows the whole alarm (its
detail, times and who acknowledged). Trends: Enter picks a tag, [ ] change the window.
q quits. The header names the site, the user and the role; texts the controller composed
(reasons, statuses) are shown in the console's language (``fixedsite.texts``) and
equipment by its configured name. Built for 80x24 up: the header and key lines wrap,
the tables' wide columns shrink first.
"""

from __future__ import annotations

import gc
from collections.abc import Collection
from typing import Any

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import ContentSwitcher, DataTable, Static

from fixedsite.availability import FAULT_TARGET_H, SENSORS_TARGET_PCT
from fixedsite.console.actions import Actions, when
from fixedsite.console.client import SiteClient
from fixedsite.console.display import PRIORITY_STYLE, fmt
from fixedsite.console.i18n import T
from fixedsite.console.screens import ScreenSpec, by_kind
from fixedsite.console.trends import TrendView

INSTALLED = by_kind()       # each installed system's view, its words added to the console's
Key = tuple[str, str, str, str | None]


def _keys(shown: list[ScreenSpec]) -> list[Key]:
    """(key, action, footer word, the screen it belongs to, None: every screen): the
    overview on 1, the view of each system the site has next, then alarms, commands and
    trends."""
    views = ["overview", *(s.view for s in shown), "alarms", "events", "trends"]
    keys: list[Key] = [(str(i), f"show('{v}')", v, None) for i, v in enumerate(views, 1)]
    for sc in shown:
        keys += [(k, f"screen('{sc.view}', '{name}')", word, sc.view)
                 for k, name, word in sc.keys]
    return keys + [
        ("a", "ack", "ack", "alarms"), ("h", "shelve", "shelve", "alarms"),
        ("u", "unshelve", "unshelve", "alarms"), ("f", "filter", "filter", "alarms"),
        ("left_square_bracket", "shorter", "shorter", "trends"),
        ("right_square_bracket", "longer", "longer", "trends"),
        ("backspace", "trend_drop", "trend_drop", "trends"),
        ("c", "trend_clear", "trend_clear", "trends"),
        ("q", "quit", "quit", None)]


SOURCE_WORDS = ("auto", "planner", "failover")     # who, when no person acted
SHOWN_AS = {"left_square_bracket": "[", "right_square_bracket": "]", "backspace": "⌫"}
IN_MARKUP = {"left_square_bracket": "\\[", "right_square_bracket": "]", "backspace": "⌫"}


def _screen_of(keys: list[Key]) -> dict[str, str]:
    return {a.split("(")[0]: v for _k, a, _d, v in keys if v is not None}


def _focus_on(shown: list[ScreenSpec]) -> dict[str, str]:
    return {"alarms": "alarm-list", "events": "events", "trends": "trend-tags"} | {
        s.view: s.focus for s in shown if s.focus}


def bindings(t: T, keys: list[Key]) -> list[Binding]:
    return [Binding(k, a, t(d), key_display=SHOWN_AS.get(k)) for k, a, d, _v in keys]


class Console(Actions, App[None]):
    CSS = """
    Screen { background: #1e1e1e; color: #c8c8c8; }
    #status { height: auto; max-height: 2; background: #2d2d2d; }
    #views { height: 1fr; }
    #message { height: auto; max-height: 2; background: #2d2d2d; }
    DataTable { height: 1fr; }
    #alarm-filter { height: 1; padding: 0 1; }
    #keys { height: auto; max-height: 2; background: #2d2d2d; }
    """ + "\n".join(sc.css for sc in INSTALLED.values())
    # the views of the systems this site has, and their keys: make_console picks them
    # for a site; the class itself has every installed one
    VIEWS: list[ScreenSpec] = list(INSTALLED.values())
    KEYS: list[Key] = _keys(VIEWS)
    SCREEN_OF: dict[str, str] = _screen_of(KEYS)
    FOCUS_ON: dict[str, str] = _focus_on(VIEWS)
    BINDINGS = bindings(T("en"), KEYS)

    def __init__(self, client: SiteClient, lang: str, title: str = "fixedsite") -> None:
        super().__init__()
        self.client, self.t, self.site_title = client, T(lang), title
        client.lang = lang
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
            for sc in self.VIEWS:
                with Vertical(id=sc.view):
                    yield from sc.compose(self)
            with Vertical(id="alarms"):
                yield Static(id="alarm-filter")
                alarms: DataTable[str] = DataTable(id="alarm-list", cursor_type="row")
                # the state before the text: a long text never pushes it off screen
                alarms.add_columns(t("priority"), t("state"), t("raised"), t("alarm"),
                                   t("cleared"), t("acked_at"))
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
        self.run_worker(self.client.set_lang(self.t.lang), exclusive=True, group="names")
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
        if action == "screen":
            return bool(parameters) and parameters[0] == self.view()
        screen = self.SCREEN_OF.get(action)
        return screen is None or screen == self.view()

    def action_screen(self, view: str, name: str) -> Any:
        """A key of a system's screen: that screen says what it does."""
        for sc in self.VIEWS:
            if sc.view == view:
                return sc.act(self, name)
        return None

    async def _refresh_slow(self) -> None:
        """What is read from the server on demand, only while its screen is shown."""
        if not self._widgets_up():
            return
        if self.view() == "events":
            rows = await self.client.recent_commands(50)
            table = self.query_one("#events", DataTable)
            table.clear()
            for i, (ts, who, action, target, outcome, reason) in enumerate(rows):
                word = self.t(outcome)
                mark = word if outcome == "done" else f"[yellow]{word}[/]"
                # a user is an id, never a word to translate; a source is a word
                actor = self.t.text(who) if who in SOURCE_WORDS else escape(who)
                where = self.t.text(target) if target == "alarms" else self.shown(target)
                table.add_row(when(float(ts)), actor, self.t.text(action), where, mark,
                              self.t.text(reason), key=str(i))
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
                 for b, (_k, _a, _d, screen) in zip(self.BINDINGS, self.KEYS, strict=True)
                 if isinstance(b, Binding) and screen in (None, view)]
        self.query_one("#keys", Static).update(" " + "  ".join(words))

    async def action_show(self, view: str) -> None:
        self.query_one("#views", ContentSwitcher).current = view
        self._key_bar()
        table = self.FOCUS_ON.get(view)     # the arrows move in the screen's own table
        if table:
            self.query_one(f"#{table}", DataTable).focus()
        self._dirty = True
        self._refresh()
        await self._refresh_slow()

    # --- reading the model ---------------------------------------------------------------
    def v(self, path: str) -> Any:
        return self.client.values.get(path)

    def _widgets_up(self) -> bool:
        """Whether the console's widgets are there: the app's timers outlive its screen
        while it closes (a tick then found no ``#status`` and raised into the exit)."""
        try:
            self.query_one("#status", Static)
        except NoMatches:
            return False
        return True

    def _refresh(self) -> None:
        if not self._dirty or not self._widgets_up():
            return
        self._dirty = False
        t, c = self.t, self.client
        counts = {p: 0 for p in (1, 2, 3, 4)}
        for row in c.alarms.values():
            if not row.shelved:
                counts[row.priority] = counts.get(row.priority, 0) + 1
        link = t("connected") if c.connected else f"[bold white on red] {t('disconnected')} " \
                                                  f"[/] {escape(c.error)}"
        alarm_text = " ".join(f"[{PRIORITY_STYLE[p]}] P{p} {n} [/]" if n else f"P{p} 0"
                              for p, n in counts.items())
        who = escape(c.user) + (f" ({t('role.' + c.role)})" if c.role else "")
        site = escape(c.names.get("site") or self.site_title)
        self.query_one("#status", Static).update(
            f" {site}  {t('user')}: {who}  {link}  {alarm_text}")
        # only the screen in front is redrawn: the others catch up when shown
        views = {"overview": self._overview, "alarms": self._alarms,
                 "trends": self.query_one(TrendView).show_tags}
        views |= {sc.view: (lambda sc=sc: sc.refresh(self)) for sc in self.VIEWS}
        views.get(self.view(), lambda: None)()

    def _overview(self) -> None:
        t = self.t
        lines = []
        for path in sorted(p for p in self.client.values if p.endswith(".online")):
            plc = path.split(".")[1]
            up = self.client.values[path]
            word = t("online") if up.value else f"[red]{t('offline')}[/]"
            lines.append(f"{t('plc')} {plc}: {self.fv(path, text=word)}")
        lines.append(self._availability())
        for sc in self.VIEWS:                     # each system's lines
            lines += sc.overview(self)
        self.query_one("#overview", Static).update("\n".join(lines))

    def _availability(self) -> str:
        """The month so far against the evaluation standard's targets: the supervisory
        system's fault hours (< 10 h) and its sensors in working order (> 95 %); a figure
        past its target in colour, like any abnormal value."""
        base = "controller.availability"
        fault, ok = self.v(f"{base}.fault_h"), self.v(f"{base}.sensors_ok_pct")
        h = self.fv(f"{base}.fault_h", " h", 1)
        pct = self.fv(f"{base}.sensors_ok_pct", " %", 1)
        if fault is not None and fault.good and isinstance(fault.value, int | float) \
                and fault.value >= FAULT_TARGET_H:
            h = f"[bold black on yellow] {h} [/]"
        if ok is not None and ok.good and isinstance(ok.value, int | float) \
                and ok.value <= SENSORS_TARGET_PCT:
            pct = f"[bold black on yellow] {pct} [/]"
        return self.t("availability", h=h, pct=pct)

    def shown(self, path: str) -> str:
        """Equipment for people: its configured name in the console's language, else its
        id (without the main system's prefix: ``pump1``, but ``lower.pump1``)."""
        main = self.VIEWS[0].view if self.VIEWS else ""
        return escape(self.client.names.get(path) or path.removeprefix(f"{main}."))

    def fv(self, path: str, unit: str = "", nd: int = 1, text: str | None = None) -> str:
        """A tag as every screen shows it (not good: dimmed, reason, age)."""
        return fmt(self.v(path), unit, nd, self.t, self.client.now(), text)

    def _shown_alarms(self) -> list[Any]:
        """Standing alarms by priority then newest, shelved ones last; the filter is text
        in the id or message, or P1-P4 for that priority and above."""
        f = self.alarm_filter.strip()
        rows = list(self.client.alarms.values())
        if len(f) == 2 and f[0] in "pP" and f[1] in "1234":
            rows = [r for r in rows if r.priority <= int(f[1])]
        elif f:
            rows = [r for r in rows
                    if f.lower() in f"{r.id} {r.text} {r.text_zh}".lower()]
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
            acked = escape(f"{when(r.acked)} {r.acked_by}".strip())
            cells = [t("shelved") if r.shelved else t(r.state), when(r.t),
                     self._alarm_text(r.id), when(r.cleared), acked]
            if r.shelved:
                table.add_row(f"[dim] {r.priority} [/]", *(f"[dim]{c}[/]" for c in cells),
                              key=r.id)
            else:
                style = PRIORITY_STYLE.get(r.priority, "")
                table.add_row(f"[{style}] {r.priority} [/]", *cells, key=r.id)
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))

    async def action_shorter(self) -> None:
        await self.query_one(TrendView).widen(-1)

    async def action_longer(self) -> None:
        await self.query_one(TrendView).widen(1)

    def action_trend_drop(self) -> None:
        self.query_one(TrendView).drop_last()

    def action_trend_clear(self) -> None:
        self.query_one(TrendView).clear()

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "trend-tags":
            await self.query_one(TrendView).pick(str(event.row_key.value))
        elif event.data_table.id == "alarm-list":
            self.action_detail()


def make_console(client: SiteClient, lang: str, title: str,
                 kinds: Collection[str] | None = None) -> Console:
    """A console whose footer names its keys in the operator's language, with a view for
    each kind of system the site has (``kinds``; by default what the connected server's
    ``site.Kinds`` says, or every installed kind if it has not said): a drainage-only site
    shows no empty ventilation view, and its keys do not move when a plug-in is added."""
    if kinds is None and client.kinds:
        kinds = {k for i, k in client.kinds.items() if "." not in i and i != "site"}
    shown = [sc for kind, sc in INSTALLED.items() if kinds is None or kind in kinds]
    keys = _keys(shown)
    cls = type(f"Console_{lang}", (Console,), {
        "BINDINGS": bindings(T(lang), keys), "VIEWS": shown, "KEYS": keys,
        "SCREEN_OF": _screen_of(keys), "FOCUS_ON": _focus_on(shown)})
    return cls(client, lang, title)  # type: ignore[no-any-return]
