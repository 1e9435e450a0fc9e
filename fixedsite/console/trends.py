"""The trends screen: numeric tags over a chosen window, drawn from the historian.

The console keeps no history of its own: it asks the controller's historian (OPC UA method
``site.History``) for min/avg/max buckets, two per column of the chart, so a 7-day
window costs the same as a 15-minute one. The chart (textual-plotext) has a time axis in
the site's local time and a value axis with the unit; each tag is its average line inside
a dimmer band from the bucket minima to the maxima. Up to ``MAX_TAGS`` tags are overlaid
in low-saturation colours (ISA-101: a trend is not an alarm, so no red, yellow or cyan);
tags in a second unit get the right-hand axis, a third unit is refused with the reason
(two scales are what an operator can still read off one chart). The head says the window
shown and, when the history does not reach back that far, from when the data starts.
Keys: Enter adds the tag under the cursor, [ and ] shorten or widen the window; the app
binds removing the last tag and clearing the chart to ``drop_last`` and ``clear``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from fixedsite.console import trend_axes as ax
from fixedsite.console.client import Bucket, Value
from fixedsite.console.display import fmt
from fixedsite.console.i18n import T

WINDOWS_S = [900.0, 3600.0, 8 * 3600.0, 24 * 3600.0, 7 * 86400.0]
MAX_TAGS = 4
# (line, band): greys and greyed blue / tan / lavender, apart from the alarm colours
COLOURS = [((200, 200, 200), (105, 105, 105)), ((130, 165, 205), (62, 80, 102)),
           ((200, 172, 130), (102, 88, 66)), ((178, 158, 210), (88, 78, 106))]

def word(t: T, key: str, **args: object) -> str:
    """The screen's words come from the console's catalogue (``i18n.TEXT``)."""
    return t(key, **args)


def window_label(seconds: float, t: T | None = None) -> str:
    """The window as the head names it: 15 min, 8 h, 7 d (in the screen's language)."""
    t = t or T("en")
    if seconds < 3600:
        return word(t, "span_min", n=f"{seconds / 60:.0f}")
    if seconds < 86400:
        return word(t, "span_h", n=f"{seconds / 3600:.0f}")
    return word(t, "span_d", n=f"{seconds / 86400:.0f}")


class TrendSource(Protocol):
    """What the trends screen reads: a ``SiteClient`` (or any source of the same data)."""

    values: dict[str, Value]
    connected: bool

    async def history(self, path: str, window_s: float, buckets: int
                      ) -> tuple[float, list[Bucket]]: ...

    async def unit(self, path: str) -> str: ...

    def now(self) -> float: ...


class TrendView(Vertical):
    DEFAULT_CSS = """
    TrendView #trend-head { height: auto; padding: 0 1; }
    TrendView #trend-plot { height: 2fr; min-height: 7; }
    TrendView #trend-tags { height: 1fr; min-height: 4; }
    """

    def __init__(self, client: TrendSource, t: T, **kw: Any) -> None:
        super().__init__(**kw)
        self.client, self.t = client, t
        self.tags: list[str] = []            # overlaid, in the order picked
        self.window = 2                      # index into WINDOWS_S: 8 h
        self.data: dict[str, tuple[float, list[Bucket]]] = {}   # path -> (width, buckets)
        self.units: dict[str, str] = {}
        self.end = 0.0                       # the window's end (site time) as last drawn
        self.note = ""                       # why the last pick was refused, until the next
        self._lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield Static(id="trend-head")
        plot = PlotextPlot(id="trend-plot")
        plot.theme = "clear"                 # the screen's own grey background and text
        yield plot
        table: DataTable[str] = DataTable(id="trend-tags", cursor_type="row")
        table.add_columns(self.t("tag"), self.t("value"))
        yield table

    def on_mount(self) -> None:
        self.draw()

    def on_resize(self) -> None:
        self.draw()                          # ticks and labels follow the chart's size

    # --- what is shown -------------------------------------------------------------------
    @property
    def tag(self) -> str | None:
        """The tag picked last (the one a single-tag chart shows)."""
        return self.tags[-1] if self.tags else None

    @property
    def buckets(self) -> list[Bucket]:
        return self.data.get(self.tag or "", (0.0, []))[1]

    @property
    def bucket_s(self) -> float:
        return self.data.get(self.tag or "", (0.0, []))[0]

    def lines(self, path: str) -> list[list[Bucket]]:
        """A tag's buckets as drawn: evenly spaced, held across on-change gaps."""
        width, buckets = self.data.get(path, (0.0, []))
        return ax.segments(buckets, width)

    def numeric_tags(self) -> list[str]:
        return sorted(p for p, v in self.client.values.items()
                      if isinstance(v.value, float) and not p.startswith("comm."))

    def show_tags(self) -> None:
        """The pick list: every numeric tag with its current value."""
        table = self.query_one("#trend-tags", DataTable)
        for path in self.numeric_tags():
            value = fmt(self.client.values.get(path), "", 2)
            if path in table.rows:
                table.update_cell(path, table.ordered_columns[1].key, value,
                                  update_width=True)
            else:
                table.add_row(path, value, key=path)

    # --- what the operator does ----------------------------------------------------------
    async def pick(self, path: str) -> None:
        """Add ``path`` to the chart (a tag already shown stays as it is). Refused, with
        the reason in the head, past ``MAX_TAGS`` or for a third unit."""
        self.note = ""
        if path not in self.units or not self.units[path]:
            unit = await self.client.unit(path)
            if unit or self.client.connected:
                self.units[path] = unit
        if path not in self.tags:
            unit = self.units.get(path, "")
            axes = self.axis_units()
            if len(self.tags) >= MAX_TAGS:
                self.note = word(self.t, "trend_full", n=MAX_TAGS)
            elif len(axes) >= 2 and unit not in axes:
                self.note = word(self.t, "trend_third_unit", tag=path, unit=unit or "-",
                                 units=", ".join(u or "-" for u in axes))
            else:
                self.tags.append(path)
        await self.reload()

    def drop_last(self) -> None:
        """Take the tag added last off the chart."""
        if self.tags:
            self.data.pop(self.tags.pop(), None)
        self.note = ""
        self.draw()

    def clear(self) -> None:
        """An empty chart, to start another comparison."""
        self.tags, self.data, self.note = [], {}, ""
        self.draw()

    async def widen(self, step: int) -> None:
        self.window = max(0, min(len(WINDOWS_S) - 1, self.window + step))
        await self.reload()

    async def reload(self) -> None:
        """Fetch every shown tag's buckets again (on a timer while the screen is shown)."""
        async with self._lock:
            plot = self.query_one("#trend-plot", PlotextPlot)
            # two buckets a column: the braille dots draw two strokes of the band a cell
            want = max(10, min(2000, 2 * (plot.size.width or 100)))
            data = {}
            for path in list(self.tags):
                if path not in self.units and self.client.connected:
                    self.units[path] = await self.client.unit(path)
                data[path] = await self.client.history(path, WINDOWS_S[self.window], want)
            self.data = {p: data[p] for p in self.tags if p in data}
            self.draw()

    # --- drawing -------------------------------------------------------------------------
    def axis_units(self) -> list[str]:
        """The units of the value axes, left first: the first tag's, then the next other."""
        units: list[str] = []
        for path in self.tags:
            unit = self.units.get(path, "")
            if unit not in units:
                units.append(unit)
        return units[:2]

    def window_end(self) -> float:
        """Now on the site's clock (the historian's), else the newest bucket's end."""
        now = self.client.now()
        if now > 0:
            return now
        ends = [b.t + w for w, bs in self.data.values() for b in bs[-1:]]
        return max(ends) if ends else time.time()

    def draw(self) -> None:
        if not self.is_mounted:
            return
        t = self.t
        window = WINDOWS_S[self.window]
        end = self.end = self.window_end()
        start = end - window
        units = self.axis_units()
        shown = [p for p in self.tags if self.data.get(p, (0, []))[1]]
        head = f"{t('window')} {window_label(window, t)}"
        firsts = [self.data[p][1][0].t for p in shown]
        if firsts and min(firsts) - start > max(60.0, *(self.data[p][0] for p in shown)):
            head += f" ({word(t, 'trend_data_from', at=ax.clock(min(firsts), window))})"
        lines = [head]
        for i, path in enumerate(self.tags):
            lines.append(self._legend(i, path, units))
        if not self.tags:
            lines.append(t("trend_pick") + "   " + word(t, "trend_add_hint", n=MAX_TAGS))
        elif not shown and not self.client.connected:
            lines.append(word(t, "trend_no_link"))     # each tag's line says no history
        if self.note:
            lines.append(f"[b]{self.note}[/b]")
        self.query_one("#trend-head", Static).update("\n".join(lines))
        self._plot(start, end, units)

    def _legend(self, i: int, path: str, units: list[str]) -> str:
        """One tag's line in the head: its colour, name, unit (and axis when there are two),
        the window's minimum and maximum and its value now."""
        t, (line, _band) = self.t, COLOURS[i % len(COLOURS)]
        unit = self.units.get(path, "")
        swatch = f"[rgb({line[0]},{line[1]},{line[2]})]━━[/]"
        text = f"{swatch} {path} ({unit or '-'})"
        if len(units) == 2:
            side = "trend_axis_left" if unit == units[0] else "trend_axis_right"
            text += f" {word(t, side)}"
        buckets = self.data.get(path, (0.0, []))[1]
        if not buckets:
            return text + f"  {t('no_history')}"
        lo, hi = min(b.lo for b in buckets), max(b.hi for b in buckets)
        integer = ax.whole(buckets)
        nd = ax.decimals(lo, hi, integer)
        u = f" {unit}" if unit else ""
        now = self.client.values.get(path)
        last = (fmt(now, u, nd, word=t, now=self.client.now()) if now is not None
                and isinstance(now.value, float) else f"{ax.number(buckets[-1].avg, nd)}{u}")
        return (f"{text}  {word(t, 'trend_min')} {ax.number(lo, nd)}"
                f"  {word(t, 'trend_max')} {ax.number(hi, nd)}  {t('last')} {last}")

    def _plot(self, start: float, end: float, units: list[str]) -> None:
        widget = self.query_one("#trend-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_figure()
        width, height = widget.size.width or 80, widget.size.height or 12
        rows = max(2, height - 4)            # frame, time labels, unit row
        sides = {u: ("left", "right")[k] for k, u in enumerate(units)}
        empty: dict[str, tuple[float, float]] = {} if units else {"left": (0.0, 1.0)}
        for side, unit in ((s, u) for u, s in sides.items()):
            tagged = [p for p in self.tags if self.units.get(p, "") == unit]
            buckets = [b for p in tagged for b in self.data.get(p, (0.0, []))[1]]
            integer = all(ax.whole(self.data[p][1]) for p in tagged
                          if self.data.get(p, (0, []))[1]) and bool(buckets)
            lo = min((b.lo for b in buckets), default=0.0)
            hi = max((b.hi for b in buckets), default=1.0)
            lim, ticks, labels = ax.value_ticks(lo, hi, rows, integer)
            if not buckets:
                empty[side] = lim
            plt.ylim(*lim, yside=side)
            plt.yticks(ticks, labels, yside=side)
            plt.ylabel(unit or "-", yside=side)
        label_w = 8 * max(1, len(units))
        ticks, labels = ax.time_ticks(start, end, max(10, width - label_w))
        plt.xlim(start, end)
        plt.xticks(ticks, labels)
        for i, path in enumerate(self.tags):
            w, _buckets = self.data.get(path, (0.0, []))
            side = sides.get(self.units.get(path, ""), "left")
            line, band = COLOURS[i % len(COLOURS)]
            for run in self.lines(path):
                xs, ys = ax.band_xy(run, w, end)
                plt.plot(xs, ys, marker="braille", color=band, yside=side)
                xs, ys = ax.avg_xy(run, w, end)
                plt.plot(xs, ys, marker="braille", color=line, yside=side)
        # plotext draws no axes without data: an axis with none gets two blank points
        for side, (lo, hi) in empty.items():
            plt.scatter([start, end], [lo, hi], marker=" ", yside=side)
        if not self.tags:
            plt.ylim(0, 1)
            plt.yticks([], [])
        widget.refresh()
