"""The hoisting screen of the console (``SystemSpec.console`` of kind "hoist"): every
hoist of the site on one screen, the central control of several hoists the rules ask
for: per hoist its cycle, position and speed against the profile, skip load, the last
trip's payload and currents, tonnage this hour and shift, the bins and the ropes.

Keys act on the selected hoist: c start / x stop the automatic cycle, t one trip, l one
load (both in remote-manual), b brake test, r reset a trip, m mode. Each through a dialog
that shows the permissives first; a trip is shown with its cause and is never
overridden from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Choose, Confirm
from fixedsite.console.screens import ScreenSpec, put_row

KIND = "hoist"


def hoists(app: Any) -> list[str]:
    kinds = app.client.kinds or {}
    return sorted(i for i, k in kinds.items() if k == KIND and "." not in i)


def of(app: Any, system: str, kind: str) -> str:
    """The id of a hoist's equipment of one type (``winder``, ``loading``...)."""
    found = [i.split(".", 1)[1] for i, k in (app.client.kinds or {}).items()
             if k == kind and i.split(".", 1)[0] == system]
    return f"{system}.{found[0] if found else kind}"


def state_text(app: Any, h: str) -> str:
    v = app.v(f"{h}.cycle.state")
    if v is None or v.value is None:
        return "--"
    text = app.fv(f"{h}.cycle.state", text=app.t(f"hoist.st.{v.value}"))
    return f"[bold white on red]{text}[/]" if v.value in ("tripped", "refused") else text


def mode_text(app: Any, h: str) -> str:
    w = of(app, h, "winder")
    mode = app.v(f"{w}.mode")
    if mode is None or not isinstance(mode.value, int | float):
        return app.fv(f"{w}.mode", text="--")
    return app.fv(f"{w}.mode", text=app.t(f"hoist.mode.{int(mode.value)}"))


def compose(app: Any) -> Iterator[Any]:
    t = app.t
    yield Static(id="hoist_head")
    table: DataTable[str] = DataTable(id="hoists", cursor_type="row")
    table.add_columns(t("hoist.hoist"), t("hoist.cycle"), t("hoist.mode"), "m", "m/s",
                      f"{t('hoist.skip')} t", f"{t('hoist.payload')} t",
                      f"A {t('hoist.peak_rms')}",
                      f"t/h | {t('hoist.shift')}", f"{t('hoist.bins')} %")
    yield table


def _row(app: Any, h: str) -> list[str]:
    w, ld, sb = of(app, h, "winder"), of(app, h, "loading"), of(app, h, "surface_bin")
    return [escape(app.client.names.get(h) or h), state_text(app, h), mode_text(app, h),
            app.fv(f"{w}.position", "", 0),
            f"{app.fv(f'{w}.speed', '', 1)} / {app.fv(f'{w}.speed_ref', '', 1)}",
            app.fv(f"{w}.skip_load", "", 1), app.fv(f"{h}.cycle.payload_t", "", 1),
            f"{app.fv(f'{h}.cycle.peak_current', '', 0)}/"
            f"{app.fv(f'{h}.cycle.rms_current', '', 0)}",
            f"{app.fv(f'{h}.cycle.tonnage_hour', '', 0)} | "
            f"{app.fv(f'{h}.cycle.tonnage_shift', '', 0)}",
            f"{app.fv(f'{ld}.ore_bin_level', '', 0)} / {app.fv(f'{sb}.bin_level', '', 0)}"]


def refresh(app: Any) -> None:
    t, lines = app.t, []
    for h in hoists(app):
        status = app.v(f"{h}.cycle.status")
        rope = of(app, h, "rope_monitor")
        dmg = app.v(f"{rope}.damage")
        line = f"{escape(app.client.names.get(h) or h)}: " + (
            app.fv(f"{h}.cycle.status", text=app.t.text(str(status.value)))
            if status is not None and status.value else "--")
        if dmg is not None and dmg.value:
            line += f"  [bold white on red] {t('hoist.rope_damage')} [/]"
        refusal = app.v(f"{h}.cycle.refusal")
        if refusal is not None and refusal.value:
            line += f"\n  {t('hoist.last_refusal')}: {app.t.text(str(refusal.value))}"
        lines.append(line)
    app.query_one("#hoist_head", Static).update("\n".join(lines))
    table = app.query_one("#hoists", DataTable)
    for h in hoists(app):
        row = _row(app, h)
        put_row(table, h, row)


def overview(app: Any) -> list[str]:
    return [f"{escape(app.client.names.get(h) or h)}: {state_text(app, h)}  "
            f"{app.fv(f'{h}.cycle.tonnage_hour', ' t/h', 0)}" for h in hoists(app)]


def permissives(app: Any, h: str) -> str:
    t = app.t
    w, rope = of(app, h, "winder"), of(app, h, "rope_monitor")

    def yes(path: str, good: bool = True) -> str:
        v = app.v(path)
        ok = v is not None and v.value is good
        return app.fv(path, text=t("hoist.ok") if ok else t("hoist.not_ok"))
    return (f"{t('hoist.permissives')}: {t('hoist.brake_test')} "
            f"{yes(f'{w}.brake_test_ok')}, {t('hoist.ropes')} {yes(f'{rope}.damage', False)}"
            f", {t('hoist.access')} {yes(f'{w}.access_closed')}; {t('hoist.cycle')} "
            f"{state_text(app, h)}, {t('hoist.mode')} {mode_text(app, h)}")


ACTIONS = {"start_cycle": "StartCycle", "stop_cycle": "StopCycle", "trip": "Trip",
           "load": "Load", "brake_test": "BrakeTest", "reset": "Reset"}


def act(app: Any, action: str) -> None:
    h = app.selected("hoists")
    if h is None:
        return
    target = f"{h}.cycle"
    if action == "mode":
        options = [("remote-manual", app.t("hoist.mode.1")),
                   ("remote-auto", app.t("hoist.mode.2"))]

        async def set_mode(mode: str | None) -> None:
            if mode is not None:
                await app.call(target, "SetMode", mode)
        app.push_screen(Choose(f"{app.t('hoist.mode')} {escape(app.client.names.get(h) or h)}"
                               f"\n{permissives(app, h)}",
                               options, app.t("keys_pick")), set_mode)
        return

    async def go(ok: bool | None) -> None:
        if ok:
            await app.call(target, ACTIONS[action])
    word = "hoist.brake_test_do" if action == "brake_test" else f"hoist.{action}"
    app.push_screen(Confirm(f"{app.t(word)} {escape(app.client.names.get(h) or h)}?\n"
                            f"{permissives(app, h)}", app.t("keys_yes_no")), go)


WORDS = {
    "hoist": {"en": "Hoists", "zh_CN": "提升"},
    "hoist.hoist": {"en": "Hoist", "zh_CN": "提升机"},
    "hoist.cycle": {"en": "Cycle", "zh_CN": "循环"},
    "hoist.mode": {"en": "Mode", "zh_CN": "模式"},
    "hoist.skip": {"en": "Skip", "zh_CN": "箕斗"},
    "hoist.payload": {"en": "Last trip", "zh_CN": "上一钩"},
    "hoist.shift": {"en": "shift", "zh_CN": "本班"},
    "hoist.peak_rms": {"en": "peak/RMS", "zh_CN": "峰值/有效值"},
    "hoist.bins": {"en": "Bins", "zh_CN": "矿仓"},
    "hoist.rope_damage": {"en": "ROPE DAMAGE", "zh_CN": "钢丝绳损伤"},
    "hoist.last_refusal": {"en": "last refusal", "zh_CN": "最近拒绝"},
    "hoist.permissives": {"en": "Permissives", "zh_CN": "开车条件"},
    "hoist.brake_test": {"en": "brake test", "zh_CN": "制动试验"},
    "hoist.ropes": {"en": "ropes", "zh_CN": "钢丝绳"},
    "hoist.access": {"en": "access closed", "zh_CN": "机房门关闭"},
    "hoist.ok": {"en": "ok", "zh_CN": "正常"},
    "hoist.not_ok": {"en": "NOT OK", "zh_CN": "不满足"},
    "hoist.start_cycle": {"en": "Start the automatic cycle of", "zh_CN": "启动自动循环："},
    "hoist.stop_cycle": {"en": "Stop the automatic cycle of", "zh_CN": "停止自动循环："},
    "hoist.trip": {"en": "One trip of", "zh_CN": "单钩运行："},
    "hoist.load": {"en": "One load at", "zh_CN": "单次装载："},
    "hoist.brake_test_do": {"en": "Brake test of", "zh_CN": "制动试验："},
    "hoist.reset": {"en": "Reset the trip of", "zh_CN": "复位保护："},
    "hoist.mode.0": {"en": "not set", "zh_CN": "未设置"},
    "hoist.mode.1": {"en": "remote manual", "zh_CN": "远程手动"},
    "hoist.mode.2": {"en": "remote auto", "zh_CN": "远程自动"},
    "cycle_on": {"en": "cycle", "zh_CN": "循环"},
    "cycle_off": {"en": "stop cycle", "zh_CN": "停循环"},
    "one_trip": {"en": "trip", "zh_CN": "单钩"},
    "brake": {"en": "brake test", "zh_CN": "制动试验"},
    **{f"hoist.st.{k}": {"en": en, "zh_CN": zh} for k, en, zh in (
        ("idle", "idle", "空闲"), ("loading", "loading", "装载中"),
        ("charging", "charging", "装入箕斗"), ("hoisting", "hoisting", "提升中"),
        ("dumping", "dumping", "卸载中"), ("returning", "returning", "下放中"),
        ("paused", "paused", "暂停"), ("refused", "REFUSED", "拒绝"),
        ("tripped", "TRIPPED", "保护跳闸"), ("manual", "LOCAL", "就地"),
        ("unknown", "unknown", "未知"))},
}

SCREEN = ScreenSpec(
    view="hoist", compose=compose, refresh=refresh, overview=overview,
    keys=(("c", "start_cycle", "cycle_on"), ("x", "stop_cycle", "cycle_off"),
          ("t", "trip", "one_trip"), ("l", "load", "load"), ("b", "brake_test", "brake"),
          ("r", "reset", "reset"), ("m", "mode", "mode")),
    act=act, focus="hoists", words=WORDS, css="#hoist_head { height: auto; }")
