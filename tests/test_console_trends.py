"""The trends screen: a chart an operator can read (time and value axes in the site's local
time and the tag's unit, the min/max band, a window label that says when the data starts
later, whole numbers as whole numbers, several tags overlaid), driven inside a small
Textual app. The data come from a real historian (the one the controller keeps, queried
as ``site.History`` queries it), from a real ``SiteClient`` that has no link, and from the
real controller and OPC UA server."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Rig, free_port
from test_console import site_env, until
from textual.app import App, ComposeResult
from textual.widgets import Static
from textual_plotext import PlotextPlot

from fixedsite.console import trend_axes as ax
from fixedsite.console.client import Bucket, SiteClient, Value
from fixedsite.console.i18n import T
from fixedsite.console.trends import MAX_TAGS, TrendView
from fixedsite.historian import Historian
from fixedsite.tags import Quality

NOW = 1715508000.0                 # 2024-05-12 10:00:00 UTC, a Sunday
H = 3600.0


@pytest.fixture
def local_tz() -> Iterator[Callable[[str], None]]:
    """The machine's time zone for one test (labels are local time); put back after."""
    old = os.environ.get("TZ")

    def use(tz: str) -> None:
        os.environ["TZ"] = tz
        time.tzset()

    use("UTC")
    yield use
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


class HistorySource:
    """The data a trend reads, from a real historian: samples recorded and flushed as the
    controller does, buckets from ``Historian.query`` as ``site.History`` returns them."""

    def __init__(self, path: Path, units: dict[str, str]) -> None:
        self.h = Historian(path)
        self.units = units
        self.values: dict[str, Value] = {}
        self.connected = True
        self.calls: list[tuple[str, float, int]] = []

    def record(self, path: str, changes: list[tuple[float, float]]) -> None:
        """Offer the historian the tag every scan (30 s) from its first change until now,
        as the controller does: it keeps what moved, and the rest every 300 s."""
        t, value = changes[0][0], changes[0][1]
        pending = iter(changes)
        nxt = next(pending, None)
        while t < NOW:
            while nxt is not None and nxt[0] <= t:
                value = nxt[1]
                nxt = next(pending, None)
            self.h.record(path, t, value, Quality.GOOD)
            t += 30.0
        self.h.flush()
        self.values[path] = Value(value, True, ts=t)

    async def history(self, path: str, window_s: float, buckets: int
                      ) -> tuple[float, list[Bucket]]:
        self.calls.append((path, window_s, buckets))
        rows = self.h.query(path, NOW - window_s, NOW, buckets)
        return (self.h.bucket_width(NOW - window_s, NOW, buckets),
                [Bucket(r.t, r.avg, r.lo, r.hi) for r in rows])

    async def unit(self, path: str) -> str:
        return self.units.get(path, "")

    def now(self) -> float:
        return NOW


def level(t0: float, t1: float, step: float = 30.0) -> list[tuple[float, float]]:
    """A sump level filling and pumped down: 0.8 m to 1.6 m and back every 2 h."""
    out, t = [], t0
    while t < t1:
        phase = ((t - t0) % (2 * H)) / (2 * H)
        out.append((t, round(0.8 + 0.8 * (1 - abs(2 * phase - 1)), 3)))
        t += step
    return out


def pumps(t0: float, t1: float) -> list[tuple[float, float]]:
    """Pumps running: 0 .. 3, changing every 20 minutes."""
    return [(t0 + i * 1200.0 + 100.0 * (i > 0), float([1, 2, 3, 2, 0][i % 5]))
            for i in range(int((t1 - t0) // 1200))]


class TrendApp(App[None]):
    CSS = "Screen { background: #1e1e1e; color: #c8c8c8; }"

    def __init__(self, source: object, lang: str = "en") -> None:
        super().__init__()
        self.source, self.lang = source, lang

    def compose(self) -> ComposeResult:
        yield TrendView(self.source, T(self.lang), id="trends")  # type: ignore[arg-type]


def head(app: App[None]) -> str:
    return str(app.query_one("#trend-head", Static).render())


def chart(app: App[None]) -> list[str]:
    """The chart as the operator sees it, one string a row (colours dropped)."""
    return app.query_one("#trend-plot", PlotextPlot).render().plain.splitlines()


def monitor(app: App[None]):  # type: ignore[no-untyped-def]
    """What plotext was given to draw: its data sets, ticks and labels."""
    return app.query_one("#trend-plot", PlotextPlot).plt.monitor


def y_labels(app: App[None], side: int = 0) -> list[str]:
    """The value axis' labels, bottom up."""
    m = monitor(app)
    return [lab for _t, lab in sorted(zip(m.yticks[side], m.ylabels[side], strict=True))]


async def test_axes_unit_band_and_local_time(tmp_path: Path, local_tz) -> None:  # type: ignore[no-untyped-def]
    local_tz("CST-8")                                   # the site's zone: China, UTC+8
    src = HistorySource(tmp_path / "h.db", {"drainage.sump.level": "m"})
    src.record("drainage.sump.level", level(NOW - 9 * H, NOW))
    app = TrendApp(src)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.sump.level")
        await pilot.pause()
        text = head(app)
        assert "window 8 h" in text and "data from" not in text       # data reach back
        assert "drainage.sump.level (m)" in text
        assert "min 0.80  max 1.60" in text and "last 1." in text
        rows = chart(app)
        m = monitor(app)
        # the time axis spans the whole window, labelled HH:MM of the site's local time
        assert m.xlim[0] == [NOW - 8 * H, NOW]
        ticks, labels = m.xticks[0], m.xlabels[0]
        assert all(time.strftime("%H:%M", time.localtime(x)) == lab
                   for x, lab in zip(ticks, labels, strict=True))
        assert "18:00" in labels and "12:00" in labels            # 10:00 UTC is 18:00 here
        assert all(lab in rows[-2] for lab in labels), rows[-2]   # each label whole
        # the value axis: round ticks over the data, the unit written under it
        assert y_labels(app)[0] in ("0.8", "0.80") and y_labels(app)[-1] in ("1.6", "1.60")
        assert rows[-1].split() == ["m"]
        # the band: a zig-zag from each bucket's minimum to its maximum under the average
        width, buckets = view.data["drainage.sump.level"]
        band_x, band_y = m.x[0], m.y[0]
        avg_x, avg_y = m.x[1], m.y[1]
        assert len(band_x) == 2 * len(avg_x) and band_x[0] == band_x[1]
        assert avg_y[:len(buckets)] == [b.avg for b in buckets]
        assert [min(band_y[2 * i:2 * i + 2]) for i in range(len(buckets))] \
            == [b.lo for b in buckets]
        assert [max(band_y[2 * i:2 * i + 2]) for i in range(len(buckets))] \
            == [b.hi for b in buckets]
        assert any(b.hi > b.lo for b in buckets)
        assert m.color[0][0] != m.color[1][0]                 # the band dimmer than the line
        # two buckets a column asked for, from the historian's minute rollup
        assert src.calls[-1][2] == 2 * app.query_one("#trend-plot").size.width
        assert width % 60 == 0


async def test_window_label_says_when_data_start_later(tmp_path: Path, local_tz) -> None:  # type: ignore[no-untyped-def]
    src = HistorySource(tmp_path / "h.db", {"drainage.sump.level": "m"})
    src.record("drainage.sump.level", level(NOW - 7 * H - 50 * 60, NOW))  # from 02:10
    app = TrendApp(src)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.sump.level")
        await pilot.pause()
        assert "window 8 h (data from 02:10 only)" in head(app)
        assert monitor(app).xlim[0] == [NOW - 8 * H, NOW]     # the window, not the data
        assert "02:00" in monitor(app).xlabels[0]
        await view.widen(-1)                                  # 1 h: data reach back
        assert "window 1 h" in head(app) and "data from" not in head(app)
        await view.widen(+3)                                  # 7 d: dates on the axis
        first = view.buckets[0].t                             # 02:10 in its bucket
        assert NOW - 7 * H - 50 * 60 - view.bucket_s < first <= NOW - 7 * H - 50 * 60
        assert f"window 7 d (data from {ax.clock(first, 7 * 86400)} only)" in head(app)
        assert "(data from 05-12 02:" in head(app)
        labels = monitor(app).xlabels[0]
        assert labels and all(len(lab) == len("05-12 00:00") for lab in labels), labels
        assert all(lab in chart(app)[-2] for lab in labels)


async def test_whole_numbers_shown_whole(tmp_path: Path, local_tz) -> None:  # type: ignore[no-untyped-def]
    src = HistorySource(tmp_path / "h.db", {"drainage.pumps_running": ""})
    src.record("drainage.pumps_running", pumps(NOW - 24 * H, NOW))
    app = TrendApp(src, "en")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.pumps_running")
        await view.widen(+1)                           # 1 d: buckets holding two values
        await pilot.pause()
        _width, buckets = view.data["drainage.pumps_running"]
        assert any(not b.avg.is_integer() for b in buckets)   # averages are not whole
        text = head(app)
        assert "min 0  max 3  last 2" in text, text
        labels = y_labels(app)
        assert labels and all(lab.lstrip("-").isdigit() for lab in labels), labels
        assert [float(x) for x in monitor(app).yticks[0]] == \
            [float(x).__floor__() for x in monitor(app).yticks[0]]
    # a tag with fractions keeps them
    assert ax.value_ticks(0.8, 1.6, 8, False)[2] == ["0.8", "1.0", "1.2", "1.4", "1.6"]
    assert ax.value_ticks(0, 3, 20, True)[2] == ["0", "1", "2", "3"]     # never 0.5 pump


async def test_two_tags_overlaid_with_their_units(tmp_path: Path, local_tz) -> None:  # type: ignore[no-untyped-def]
    units = {"drainage.sump.level": "m", "drainage.sump.inflow": "m³/h",
             "drainage.lower.level": "m", "drainage.pump1.current": "A",
             "drainage.upper.level": "m"}
    src = HistorySource(tmp_path / "h.db", units)
    src.record("drainage.sump.level", level(NOW - 8 * H, NOW))
    src.record("drainage.sump.inflow", [(NOW - 8 * H + i * 600, 300.0 + 5 * (i % 7))
                                        for i in range(48)])
    src.record("drainage.lower.level", level(NOW - 4 * H, NOW))
    src.record("drainage.upper.level", level(NOW - 4 * H, NOW))
    app = TrendApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.sump.level")
        await view.pick("drainage.sump.inflow")               # a second tag: added
        await pilot.pause()
        assert view.tags == ["drainage.sump.level", "drainage.sump.inflow"]
        text = head(app)
        assert "drainage.sump.level (m) left axis" in text
        assert "drainage.sump.inflow (m³/h) right axis" in text
        m = monitor(app)
        assert len(m.x) == 4                                  # band and line for each
        assert [m.yside[i] for i in range(4)] == ["left", "left", "right", "right"]
        assert m.color[1][0] != m.color[3][0]                 # each its own colour
        assert chart(app)[-1].split() == ["m", "m³/h"]        # both units on their axes
        assert all(lab in chart(app)[-2] for lab in m.xlabels[0])
        assert max(len(r) for r in chart(app)) <= 80          # nothing past the screen
        await view.pick("drainage.pump1.current")             # a third unit: refused, why
        assert "drainage.pump1.current" not in view.tags
        assert "two value axes (m, m³/h)" in head(app)
        await view.pick("drainage.lower.level")
        await view.pick("drainage.upper.level")
        assert len(view.tags) == MAX_TAGS
        await view.pick("drainage.pump1.current")
        assert "at most 4 tags" in head(app) and len(view.tags) == MAX_TAGS
        view.drop_last()
        assert view.tags[-1] == "drainage.lower.level" and "at most" not in head(app)
        view.clear()
        assert view.tags == [] and "Pick a tag" in head(app)


async def test_no_history_and_no_link_say_no_data(tmp_path: Path, local_tz) -> None:  # type: ignore[no-untyped-def]
    src = HistorySource(tmp_path / "h.db", {"drainage.sump.level": "m"})
    app = TrendApp(src)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.sump.level")            # a tag never stored
        await pilot.pause()
        assert "no history in this window" in head(app)
        assert monitor(app).xlabels[0]                     # the axes are still there
        assert chart(app)[-1].split() == ["m"]
    # a real client without a link to the controller
    client = SiteClient(f"opc.tcp://127.0.0.1:{free_port()}/", "eng", "pw", tmp_path / "pki")
    app = TrendApp(client, "zh_CN")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.sump.level")
        await pilot.pause()
        text = head(app)
        assert "无数据：与控制器断开" in text and "时间窗 8 小时" in text, text
        assert view.buckets == [] and chart(app)


async def test_chinese_head_at_80x24(tmp_path: Path, local_tz) -> None:  # type: ignore[no-untyped-def]
    src = HistorySource(tmp_path / "h.db", {"drainage.sump.level": "m"})
    src.record("drainage.sump.level", level(NOW - 3 * H, NOW))
    app = TrendApp(src, "zh_CN")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TrendView)
        await view.pick("drainage.sump.level")
        await pilot.pause()
        text = head(app)
        assert "时间窗 8 小时 (数据仅从 07:00 起)" in text, text
        assert "最小 0.80  最大 1.60  最新" in text
        plot = app.query_one("#trend-plot")
        assert plot.size.height >= 7 and plot.size.width == 80
        rows = chart(app)
        assert all(lab in rows[-2] for lab in monitor(app).xlabels[0])
        assert all(len(r) <= 80 for r in rows)


async def test_trend_of_two_real_tags_from_the_controller(
        rig_factory: Callable[..., Rig], tmp_path: Path) -> None:
    """The real path: controller and historian, OPC UA server, SiteClient."""
    async with site_env(rig_factory, tmp_path) as env:
        h = env.rig.ctl.historian  # type: ignore[union-attr]
        await until(None, lambda: len(h.samples("drainage.sump.level", 0, 2e9)) >= 2,
                    "level samples stored", 100)
        app = TrendApp(env.client)
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.query_one(TrendView)
            await view.pick("drainage.sump.level")
            other = next(p for p in view.numeric_tags()
                         if p != "drainage.sump.level" and h.samples(p, 0, 2e9))
            await view.pick(other)
            await until(pilot, lambda: all(view.data.get(p, (0, []))[1] for p in view.tags),
                        lambda: f"buckets for both: {view.data}")
            text = head(app)
            assert "drainage.sump.level (m)" in text and other in text
            # the controller has just started: its history does not reach back 8 h
            assert "window 8 h (data from" in text
            assert monitor(app).xlim[0][1] == pytest.approx(env.client.now())
            assert len(monitor(app).x) >= 4
            await asyncio.wait_for(env.nb.stop(), 10)
            await until(pilot, lambda: not env.client.connected, "link gone", 100)
            await view.reload()
            assert "no data: no link to controller" in head(app)


@pytest.mark.parametrize(("lang", "size"), [("zh_CN", (80, 24)), ("en", (140, 40))])
def test_snapshot_two_tags(snap_compare: Any, tmp_path: Path, local_tz,  # type: ignore[no-untyped-def]
                           lang: str, size: tuple[int, int]) -> None:
    """The chart as an operator sees it: a level and pumps running (whole numbers, the
    right axis), data from 12:00 in an 8 h window, in the site's zone (UTC+8)."""
    local_tz("CST-8")
    src = HistorySource(tmp_path / "h.db", {"drainage.sump.level": "m",
                                            "drainage.pumps_running": ""})
    src.record("drainage.sump.level", level(NOW - 6 * H, NOW))
    src.record("drainage.pumps_running", pumps(NOW - 6 * H, NOW))

    async def pick(pilot) -> None:  # type: ignore[no-untyped-def]
        view = pilot.app.query_one(TrendView)
        await view.pick("drainage.sump.level")
        await view.pick("drainage.pumps_running")
        view.show_tags()
        await pilot.pause()

    assert snap_compare(TrendApp(src, lang), terminal_size=size, run_before=pick)
