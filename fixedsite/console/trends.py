"""The trends screen: any numeric tag over a chosen window, drawn from the historian.

The console keeps no history of its own: it asks the controller's historian (OPC UA method
``site.History``) for min/avg/max buckets, as many as the chart is wide, so a 7-day window
costs the same as a 15-minute one. The chart is grey (ISA-101: a trend is not an alarm);
the head line gives the window's minimum, maximum and the last bucket with the unit.
Keys: Enter picks the tag under the cursor, [ and ] shorten or widen the window.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from fixedsite.console.client import Bucket, SiteClient
from fixedsite.console.display import fmt
from fixedsite.console.i18n import T

WINDOWS_S = [900.0, 3600.0, 8 * 3600.0, 24 * 3600.0, 7 * 86400.0]


def window_label(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h" if seconds < 86400 else f"{seconds / 86400:.0f} d"


class TrendView(Vertical):
    DEFAULT_CSS = """
    TrendView #trend-line { height: 10; margin: 0 1; }
    TrendView #trend-line > .sparkline--max-color { color: #b4b4b4; }
    TrendView #trend-line > .sparkline--min-color { color: #5a5a5a; }
    TrendView #trend-head, TrendView #trend-axis { height: auto; padding: 0 1; }
    """

    def __init__(self, client: SiteClient, t: T, **kw: Any) -> None:
        super().__init__(**kw)
        self.client, self.t = client, t
        self.tag: str | None = None
        self.window = 2                      # index into WINDOWS_S: 8 h
        self.buckets: list[Bucket] = []
        self.bucket_s = 0.0                  # as the server used it (whole minutes if >= 1)
        self.units: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="trend-head")
        yield Sparkline([], id="trend-line")
        yield Static(id="trend-axis")
        table: DataTable[str] = DataTable(id="trend-tags", cursor_type="row")
        table.add_columns(self.t("tag"), self.t("value"))
        yield table

    def numeric_tags(self) -> list[str]:
        return sorted(p for p, v in self.client.values.items()
                      if isinstance(v.value, float) and not p.startswith("comm."))

    def show_tags(self) -> None:
        """The pick list: every numeric tag with its current value."""
        table = self.query_one("#trend-tags", DataTable)
        for path in self.numeric_tags():
            value = fmt(self.client.values.get(path), "", 2)
            if path in table.rows:
                table.update_cell(path, table.ordered_columns[1].key, value)
            else:
                table.add_row(path, value, key=path)

    async def pick(self, path: str) -> None:
        self.tag = path
        if path not in self.units:
            self.units[path] = await self.client.unit(path)
        await self.reload()

    async def widen(self, step: int) -> None:
        self.window = max(0, min(len(WINDOWS_S) - 1, self.window + step))
        await self.reload()

    async def reload(self) -> None:
        """Fetch the chosen tag's buckets again (on a timer while the screen is shown)."""
        if self.tag is None:
            self.query_one("#trend-head", Static).update(self.t("trend_pick"))
            return
        width = max(10, self.query_one("#trend-line", Sparkline).size.width or 100)
        self.bucket_s, self.buckets = await self.client.history(
            self.tag, WINDOWS_S[self.window], width)
        self.draw()

    def draw(self) -> None:
        t, unit, b = self.t, self.units.get(self.tag or "", ""), self.buckets
        span = window_label(WINDOWS_S[self.window])
        head = f"{self.tag} ({unit or '-'})   {t('window')} {span}"
        if b:
            lo, hi = min(x.lo for x in b), max(x.hi for x in b)
            head += (f"   min {lo:.2f}   max {hi:.2f}   {t('last')} {b[-1].avg:.2f}"
                     f" {unit}")
            start = time.strftime("%m-%d %H:%M", time.localtime(b[0].t))
            end = time.strftime("%m-%d %H:%M", time.localtime(b[-1].t))
            self.query_one("#trend-axis", Static).update(f"{start}  …  {end}")
        else:
            head += f"   {t('no_history')}"
            self.query_one("#trend-axis", Static).update("")
        self.query_one("#trend-head", Static).update(head)
        self.query_one("#trend-line", Sparkline).data = self.series()

    def series(self) -> list[float]:
        """One value per bucket from the first stored to the last, evenly spaced in time.
        A bucket without a sample holds the one before: the historian stores on change,
        so no sample means no move beyond its deadband."""
        out: list[float] = []
        prev = 0.0
        for x in self.buckets:
            if out and self.bucket_s > 0:
                out.extend([out[-1]] * max(0, round((x.t - prev) / self.bucket_s) - 1))
            out.append(x.avg)
            prev = x.t
        return out
