"""The compressed-air screen of the console (``SystemSpec.console`` of kind
"compressed_air"): each station's pressure against its band, delivery, specific power,
cooling water and upstream supply above one table of every compressor, and the
compressor commands.

Keys: s start, x stop, l load, u unload, m mode, r reset the selected compressor, each
through a dialog that shows its interlock state first (state, mode, cooling water,
supply, the trip's cause). A compressor in remote-auto is run by the lead/lag: the dialog
says so instead of sending a command the gate would refuse, and offers an engineer the
switch to remote-manual.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Choose, Confirm, Info
from fixedsite.console.screens import ScreenSpec, put_row
from fixedsite.users import rank

KIND = "compressed_air"


def stations(app: Any) -> list[str]:
    kinds = app.client.kinds or {}
    return sorted(i for i, k in kinds.items() if k == KIND and "." not in i)


def of(app: Any, system: str, kind: str) -> list[str]:
    """A station's equipment of one type, in the config's order."""
    return [i.split(".", 1)[1] for i, k in (app.client.kinds or {}).items()
            if k == kind and i.split(".", 1)[0] == system]


def compressors(app: Any) -> list[str]:
    return [f"{s}.{c}" for s in stations(app) for c in of(app, s, "compressor")]


def _word(app: Any, path: str, prefix: str) -> str:
    v = app.v(path)
    if v is None or v.value is None:
        return "--"
    return app.fv(path, text=app.t(f"{prefix}{v.value}"))


def state_text(app: Any, path: str) -> str:
    text = _word(app, f"{path}.state", "air.st.")
    v = app.v(f"{path}.state")
    if v is not None and v.value == "tripped":
        return f"[bold white on red]{text}[/]"
    return text


def mode_text(app: Any, path: str) -> str:
    mode = app.v(f"{path}.mode")
    if mode is None or not isinstance(mode.value, int | float):
        return app.fv(f"{path}.mode", text="--")
    return app.fv(f"{path}.mode", text=app.t(f"air.mode.{int(mode.value)}"))


def station_lines(app: Any, s: str) -> list[str]:
    t = app.t
    rec = f"{s}.{next(iter(of(app, s, 'station')), 'receiver')}"
    cooling = next(iter(of(app, s, "cooling")), None)
    name = escape(app.client.names.get(s) or t("air.title"))
    lines = [f"{name}: {t('air.pressure')} {app.fv(f'{rec}.pressure', ' MPa', 3)}  "
             f"{t('air.delivery')} {app.fv(f'{rec}.air_flow', ' m3/min', 0)}  "
             f"{t('air.sp')} {app.fv(f'{s}.control.specific_power', ' kW/(m3/min)', 2)}  "
             f"{t('air.in_band')} {app.fv(f'{s}.control.in_band_pct', ' %', 1)}"]
    supply, fb = app.v(f"{rec}.supply_ok"), app.v(f"{rec}.fallback")
    if supply is not None and supply.value is False:
        lines.append(f"  [bold white on red] {t('air.no_supply')} [/]")
    if fb is not None and fb.value:
        lines.append(f"  [bold white on red] {t('air.fallback')} [/]")
    if cooling:
        c = f"{s}.{cooling}"
        lines.append(f"  {t('air.cooling')}: {_word(app, f'{c}.state', 'air.cw.')}  "
                     f"{app.fv(f'{c}.water_temp', ' °C', 1)}  "
                     f"{app.t.text(str(getattr(app.v(f'{c}.status'), 'value', '') or ''))}")
    status = app.v(f"{s}.control.status")
    if status is not None and status.value:
        lines.append(f"  {app.fv(f'{s}.control.status', text=app.t.text(str(status.value)))}")
    return lines


# --- the screen --------------------------------------------------------------------------
def compose(app: Any) -> Iterator[Any]:
    t = app.t
    yield Static(id="air_station")
    table: DataTable[str] = DataTable(id="compressors", cursor_type="row")
    table.add_columns(t("air.compressor"), t("air.state"), t("air.mode"),
                      f"{t('air.discharge')} °C", f"{t('air.oil')} MPa", "kW",
                      t("air.run_h"), t("air.loaded_h"), "kW/(m3/min)")
    yield table


def refresh(app: Any) -> None:
    app.query_one("#air_station", Static).update(
        "\n".join(line for s in stations(app) for line in station_lines(app, s)))
    table = app.query_one("#compressors", DataTable)
    for path in compressors(app):
        row = [app.shown(path), state_text(app, path), mode_text(app, path),
               app.fv(f"{path}.discharge_temp", "", 0), app.fv(f"{path}.oil_pressure", "", 2),
               app.fv(f"{path}.power", "", 0), app.fv(f"{path}.run_hours", "", 0),
               app.fv(f"{path}.loaded_hours", "", 0), app.fv(f"{path}.specific_power", "", 2)]
        put_row(table, path, row)


def overview(app: Any) -> list[str]:
    t, lines = app.t, []
    for s in stations(app):
        rec = f"{s}.{next(iter(of(app, s, 'station')), 'receiver')}"
        loaded = app.v(f"{s}.control.loaded")
        n = len(of(app, s, "compressor"))
        lines.append(f"{escape(app.client.names.get(s) or t('air.title'))}: "
                     f"{app.fv(f'{rec}.pressure', ' MPa', 3)}  "
                     f"{app.fv(f'{s}.control.loaded', '', 0)}/{n} {t('air.loaded')}"
                     if loaded is not None else f"{escape(s)}: --")
        if (fb := app.v(f"{rec}.fallback")) is not None and fb.value:
            lines.append(f"[bold white on red] {t('air.fallback')} [/] {escape(s)}")
    return lines


# --- the commands ------------------------------------------------------------------------
def interlocks(app: Any, path: str) -> str:
    t, s = app.t, path.split(".")[0]
    rec = f"{s}.{next(iter(of(app, s, 'station')), 'receiver')}"
    cooling = next(iter(of(app, s, "cooling")), None)
    parts = [f"{t('air.state')} {state_text(app, path)}", f"{t('air.mode')} "
             f"{mode_text(app, path)}"]
    if cooling:
        parts.append(f"{t('air.cooling')} {_word(app, f'{s}.{cooling}.state', 'air.cw.')}")
    parts.append(f"{t('air.supply')} " + app.fv(f"{rec}.supply_ok", text=t(
        "air.ok" if getattr(app.v(f"{rec}.supply_ok"), "value", None) else "air.lost")))
    reason = app.v(f"{path}.fault_reason")
    return f"{t('air.interlocks')}: " + ", ".join(parts) + (
        f"\n{t.text(str(reason.value))}" if reason is not None and reason.value else "")


def act(app: Any, action: str) -> None:
    path = app.selected("compressors")
    if path is None:
        return
    if action == "mode":
        options = [("remote-manual", app.t("air.mode.1")), ("remote-auto", app.t("air.mode.2"))]

        async def set_mode(mode: str | None) -> None:
            if mode is not None:
                await app.call(path, "SetMode", mode)
        app.push_screen(Choose(f"{app.t('air.mode')} {app.shown(path)}\n"
                               f"{interlocks(app, path)}", options, app.t("keys_pick")),
                        set_mode)
        return
    method = {"start": "Start", "stop": "Stop", "load": "Load", "unload": "Unload",
              "reset": "Reset"}[action]
    mode = app.v(f"{path}.mode")
    if mode is not None and mode.value == 2:
        _in_auto(app, path, method)
        return

    async def go(ok: bool | None) -> None:
        if ok:
            await app.call(path, method)
    app.push_screen(Confirm(f"{app.t('air.' + action)} {app.shown(path)}?\n"
                            f"{interlocks(app, path)}", app.t("keys_yes_no")), go)


def _in_auto(app: Any, path: str, method: str) -> None:
    t = app.t
    head = f"{t('air.auto_hint', compressor=app.shown(path))}\n{interlocks(app, path)}"
    if app.client.role and rank(app.client.role) < rank("engineer"):
        app.push_screen(Info(f"{head}\n\n{t('air.ask_engineer')}", t("keys_close")))
        return

    async def go(choice: str | None) -> None:
        if choice == "switch" and await app.call(path, "SetMode", "remote-manual"):
            await app.call(path, method)
    app.push_screen(Choose(head, [("switch", t("air.switch_then", action=t(
        "air." + method.lower())))], t("keys_pick")), go)


WORDS = {
    "compressed_air": {"en": "Compressed air", "zh_CN": "压风"},
    "load": {"en": "load", "zh_CN": "加载"},
    "unload": {"en": "unload", "zh_CN": "卸载"},
    "air.title": {"en": "Compressor station", "zh_CN": "空压机站"},
    "air.pressure": {"en": "Pressure", "zh_CN": "风压"},
    "air.delivery": {"en": "delivery", "zh_CN": "供气量"},
    "air.sp": {"en": "specific power", "zh_CN": "比功率"},
    "air.in_band": {"en": "in band", "zh_CN": "压力达标"},
    "air.no_supply": {"en": "UPSTREAM SUPPLY LOST", "zh_CN": "上级电源失电"},
    "air.fallback": {"en": "PLC ON ITS PRESSURE SWITCHES", "zh_CN": "PLC 压力开关自控"},
    "air.cooling": {"en": "Cooling water", "zh_CN": "冷却水"},
    "air.supply": {"en": "supply", "zh_CN": "电源"},
    "air.ok": {"en": "ok", "zh_CN": "正常"},
    "air.lost": {"en": "LOST", "zh_CN": "失电"},
    "air.compressor": {"en": "Compressor", "zh_CN": "空压机"},
    "air.state": {"en": "State", "zh_CN": "状态"},
    "air.mode": {"en": "Mode", "zh_CN": "模式"},
    "air.discharge": {"en": "Discharge", "zh_CN": "排气温度"},
    "air.oil": {"en": "Oil", "zh_CN": "油压"},
    "air.run_h": {"en": "Run h", "zh_CN": "运行小时"},
    "air.loaded_h": {"en": "Loaded h", "zh_CN": "加载小时"},
    "air.loaded": {"en": "loaded", "zh_CN": "台加载"},
    "air.interlocks": {"en": "Interlocks", "zh_CN": "联锁"},
    "air.start": {"en": "Start", "zh_CN": "启动"},
    "air.stop": {"en": "Stop", "zh_CN": "停止"},
    "air.load": {"en": "Load", "zh_CN": "加载"},
    "air.unload": {"en": "Unload", "zh_CN": "卸载"},
    "air.reset": {"en": "Reset", "zh_CN": "复位"},
    "air.mode.0": {"en": "not set", "zh_CN": "未设置"},
    "air.mode.1": {"en": "remote manual", "zh_CN": "远程手动"},
    "air.mode.2": {"en": "remote auto", "zh_CN": "远程自动"},
    "air.auto_hint": {"en": "{compressor} is in remote auto: the lead/lag runs it.",
                      "zh_CN": "{compressor} 处于远程自动：由联控（主/备）控制。"},
    "air.switch_then": {"en": "switch to remote manual, then {action}",
                        "zh_CN": "切换到远程手动，然后{action}"},
    "air.ask_engineer": {"en": "Ask an engineer to switch it to remote manual (key m), or "
                               "leave it to the lead/lag.",
                         "zh_CN": "请工程师将其切换到远程手动（m 键），或交由联控。"},
    **{f"air.st.{k}": {"en": en, "zh_CN": zh} for k, en, zh in (
        ("stopped", "stopped", "停止"), ("starting", "starting", "启动中"),
        ("unloaded", "unloaded", "空载"), ("loaded", "LOADED", "加载"),
        ("stopping", "stopping", "停机中"), ("tripped", "TRIPPED", "跳闸"),
        ("no supply", "no supply", "失电"), ("local", "LOCAL", "就地"),
        ("unknown", "unknown", "未知"))},
    **{f"air.cw.{k}": {"en": en, "zh_CN": zh} for k, en, zh in (
        ("off", "off", "停止"), ("starting", "proving", "确认中"), ("proven", "proven", "正常"),
        ("lost", "LOST", "断流"), ("unknown", "unknown", "未知"))},
}

SCREEN = ScreenSpec(
    view="compressed_air", compose=compose, refresh=refresh, overview=overview,
    keys=(("s", "start", "start"), ("x", "stop", "stop"), ("l", "load", "load"),
          ("u", "unload", "unload"), ("m", "mode", "mode"), ("r", "reset", "reset")),
    act=act, focus="compressors", words=WORDS, css="#air_station { height: auto; }")
