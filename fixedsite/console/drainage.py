"""The drainage screen of the console (``SystemSpec.console`` of kind "drainage"): the pump
rooms' levels, plans and statuses above one table of every pump, and the pump commands.

Keys: s start, x stop, m mode, r reset the selected pump, each through a dialog that shows
the interlock state first. Starting or stopping a pump that level control runs
(remote-auto) is refused by the gate; rather than let the operator find that out, the
dialog says so and offers what the role allows: an engineer may switch the pump to
remote-manual and start it in one step; an operator is told who can and how.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Choose, Confirm, Info
from fixedsite.console.display import fmt
from fixedsite.console.screens import ScreenSpec, put_row
from fixedsite.users import rank

MAIN = "drainage"          # the main room's id in the demo; shown first and without prefix


def rooms(app: Any) -> list[str]:
    """Pump rooms on the server (systems of kind drainage, as ``site.Kinds`` says), the
    main one first. A server that does not answer ``site.Kinds`` (an older one) still
    shows its rooms: those with a level control's status tag."""
    kinds = app.client.kinds
    found = {i for i, k in kinds.items() if k == "drainage" and "." not in i} if kinds \
        else {p.split(".")[0] for p in app.client.values if p.endswith(".control.status")}
    return sorted(found, key=lambda r: (r != MAIN, r))


def _of(app: Any, room: str, kind: str) -> list[str]:
    """The ids of a room's equipment of one type, in the config's order."""
    return [i.split(".", 1)[1] for i, k in app.client.kinds.items()
            if k == kind and i.split(".", 1)[0] == room]


def pumps(app: Any, room: str) -> list[str]:
    """A room's pumps, whatever they are called, in the config's order (without
    ``site.Kinds``: the pumps with a run command, named pump...)."""
    if app.client.kinds:
        return _of(app, room, "pump")
    return sorted({p.split(".")[1] for p in app.client.values
                   if p.startswith(f"{room}.pump") and p.endswith(".run_cmd")})


def sump(app: Any, room: str) -> str:
    """The path of a room's sump (``drainage.sump``, ``west.well``)."""
    return f"{room}.{next(iter(_of(app, room, 'sump')), 'sump')}"


def plc_status(app: Any, room: str) -> str:
    """The path of the equipment that reports a room's PLC fallback."""
    return f"{room}.{next(iter(_of(app, room, 'plc_status')), 'plc1')}"


def all_pumps(app: Any) -> list[str]:
    """Every pump of every room as its path (``room.pump``), the main room's first."""
    return [f"{room}.{p}" for room in rooms(app) for p in pumps(app, room)]


def name_of(app: Any, room: str) -> str:
    t = app.t
    return escape(app.client.names.get(room) or (
        t("drainage") if room == MAIN else f"{t('drainage')} ({room})"))


def status_text(app: Any, room: str) -> str:
    v = app.v(f"{room}.control.status")
    return app.fv(f"{room}.control.status",
                  text=app.t.text(str(v.value)) if v and v.value else None)


def running_text(app: Any, room: str) -> str:
    """Pumps running of all, counted from the same states the table shows, and no better
    than the worst of them."""
    names = pumps(app, room)
    states = [app.v(f"{room}.{p}.state") for p in names]
    n = sum(1 for v in states if v is not None and v.value == "running")
    worst = next((v for v in states if v is not None and not v.trusted), None)
    text = f"{n}/{len(names)} {app.t('running_of')}"
    return text if worst is None else fmt(worst, "", 1, app.t, app.client.now(), text)


def mode_text(app: Any, path: str) -> str:
    """Local (the selector at the pump), else the PLC's mode register, in words."""
    local, mode = app.v(f"{path}.local"), app.v(f"{path}.mode")
    if local and local.value:
        return app.fv(f"{path}.local", text=app.t("local"))
    if mode is None or not isinstance(mode.value, int | float):
        return app.fv(f"{path}.mode", text="--")
    return app.fv(f"{path}.mode", text=app.t(f"mode.{int(mode.value)}"))


def state_text(app: Any, path: str) -> str:
    v = app.v(f"{path}.state")
    if v is None:
        return "--"
    return app.fv(f"{path}.state", text=app.t(f"st.{v.value}"))


# --- the screen --------------------------------------------------------------------------
def compose(app: Any) -> Iterator[Any]:
    t = app.t
    yield Static(id="sump")
    table: DataTable[str] = DataTable(id="pumps", cursor_type="row")
    table.add_column(t("pump"))
    table.add_column(t("state"))
    table.add_column(t("mode"))
    table.add_columns(f"{t('flow')} m3/h", f"{t('current')} A", t("hours"),
                      f"{t('temps')} °C")          # the widest last
    yield table


def refresh(app: Any) -> None:
    t = app.t
    lines = []
    for room in rooms(app):
        lines.append(f"{name_of(app, room)}: {t('sump_level')} "
                     f"{app.fv(f'{sump(app, room)}.level', ' m', 2)}  "
                     f"{app.fv(f'{sump(app, room)}.fill', ' %', 1)}")
        if app.v(f"{room}.plan.pumps") is not None:
            lines.append(f"  {t('plan')}: {app.fv(f'{room}.plan.pumps', '', 0)} "
                         f"{t('pumps_now')}, {t('saving')} "
                         f"{app.fv(f'{room}.plan.saving_pct', ' %', 1)}")
        lines.append(f"  {status_text(app, room)}")
    app.query_one("#sump", Static).update("\n".join(lines))
    table = app.query_one("#pumps", DataTable)
    for path in all_pumps(app):
        state = state_text(app, path)
        if (x := app.v(f"{path}.state")) is not None and x.value == "fault":
            state = f"[bold white on red]{state}[/]"
        row = [app.shown(path), state, mode_text(app, path),
               app.fv(f"{path}.flow", "", 0), app.fv(f"{path}.current"),
               app.fv(f"{path}.run_hours", "", 0),
               f"{app.fv(f'{path}.bearing_temp', '', 0)} / "
               f"{app.fv(f'{path}.stator_temp', '', 0)}"]
        put_row(table, path, row)


def overview(app: Any) -> list[str]:
    t, lines = app.t, []
    for room in rooms(app):                 # the main room, then rooms relaying to it
        fb = app.v(f"{plc_status(app, room)}.fallback")
        if fb and fb.value and fb.trusted:
            lines.append(f"[bold white on red] {t('fallback')} [/] {room}")
        elif fb and not fb.trusted:       # unknown is not "no fallback": say so
            lines.append(f"{t('fallback_unknown')} {escape(room)}: "
                         f"{app.fv(f'{plc_status(app, room)}.fallback', text='?')}")
        lines.append(f"{name_of(app, room)}: {t('sump_level')} "
                     f"{app.fv(f'{sump(app, room)}.level', ' m', 2)}")
        lines.append(f"  {status_text(app, room)}")
        lines.append(f"  {t('pump')}: {running_text(app, room)}")
    return lines


# --- the commands ------------------------------------------------------------------------
def pump_state(app: Any, path: str) -> str:
    """The interlock state a command dialog shows before the operator confirms."""
    t, room = app.t, path.split(".")[0]
    reason = app.v(f"{path}.fault_reason")
    return (f"{t('interlocks')}: {t('state')} {state_text(app, path)}, "
            f"{t('mode')} {mode_text(app, path)}, "
            f"{t('sump_level')} {app.fv(f'{sump(app, room)}.level', ' m', 2)}"
            + (f"\n{t.text(str(reason.value))}" if reason and reason.value else ""))


def in_auto(app: Any, path: str) -> bool:
    mode, local = app.v(f"{path}.mode"), app.v(f"{path}.local")
    return bool(mode is not None and mode.value == 2 and not (local and local.value))


def act(app: Any, action: str) -> None:
    pump = app.selected("pumps")
    if pump is None:
        return
    if action == "mode":
        _mode_dialog(app, pump)
    elif action in ("start", "stop") and in_auto(app, pump):
        _auto_pump(app, pump, action)
    else:
        async def go(ok: bool | None) -> None:
            if ok:
                await app.call(pump, action.capitalize())
        app.push_screen(Confirm(f"{app.t(action)} {app.shown(pump)}?\n"
                                f"{pump_state(app, pump)}", app.t("keys_yes_no")), go)


def _auto_pump(app: Any, pump: str, action: str) -> None:
    """A pump in remote-auto: say why the key does not simply act, and offer what the
    user's role allows (switching the mode needs an engineer)."""
    t = app.t
    head = f"{t('auto_start_hint', pump=app.shown(pump))}\n{pump_state(app, pump)}"
    role = app.client.role
    if role and rank(role) < rank("engineer"):
        app.push_screen(Info(f"{head}\n\n{t('ask_engineer')}", t("keys_close")))
        return

    async def go(choice: str | None) -> None:
        if choice == "switch" and await app.call(pump, "SetMode", "remote-manual"):
            await app.call(pump, action.capitalize())
    app.push_screen(Choose(head, [("switch", t("switch_and_start", action=t(action)))],
                           t("keys_pick")), go)


def _mode_dialog(app: Any, pump: str) -> None:
    options = [("remote-manual", app.t("remote-manual")), ("remote-auto", app.t("remote-auto"))]

    async def go(mode: str | None) -> None:
        if mode is not None:
            await app.call(pump, "SetMode", mode)
    app.push_screen(Choose(f"{app.t('mode')} {app.shown(pump)}\n{pump_state(app, pump)}",
                           options, app.t("keys_pick")), go)


WORDS = {
    "drainage": {"en": "Drainage", "zh_CN": "排水"},
    "sump_level": {"en": "Sump level", "zh_CN": "水仓水位"},
    "pump": {"en": "Pump", "zh_CN": "水泵"},
    "hours": {"en": "Run h", "zh_CN": "运行小时"},
    "temps": {"en": "Bearing / stator", "zh_CN": "轴承/定子"},
    "interlocks": {"en": "Interlocks", "zh_CN": "联锁"},
    "fallback": {"en": "PLC ON FLOAT SWITCHES", "zh_CN": "PLC 浮球自控"},
    "fallback_unknown": {"en": "PLC fallback unknown", "zh_CN": "PLC 浮球自控状态未知"},
    "plan": {"en": "Plan", "zh_CN": "错峰计划"},
    "pumps_now": {"en": "pumps now", "zh_CN": "台泵运行"},
    "saving": {"en": "saving", "zh_CN": "节省"},
    "remote-manual": {"en": "remote manual", "zh_CN": "远程手动"},
    "remote-auto": {"en": "remote auto", "zh_CN": "远程自动"},
    "st.stopped": {"en": "stopped", "zh_CN": "停止"},
    "st.priming": {"en": "priming", "zh_CN": "灌水"},
    "st.starting": {"en": "starting", "zh_CN": "启动中"},
    "st.opening_valve": {"en": "opening valve", "zh_CN": "开阀"},
    "st.proving_flow": {"en": "proving flow", "zh_CN": "确认流量"},
    "st.running": {"en": "running", "zh_CN": "运行"},
    "st.stopping": {"en": "stopping", "zh_CN": "停止中"},
    "st.fault": {"en": "FAULT", "zh_CN": "故障"},
    "st.unknown": {"en": "unknown", "zh_CN": "未知"},
    "mode.1": {"en": "manual", "zh_CN": "手动"},
    "mode.2": {"en": "auto", "zh_CN": "自动"},
    "local": {"en": "LOCAL", "zh_CN": "就地"},
    "running_of": {"en": "running", "zh_CN": "台运行"},
    "auto_start_hint": {"en": "{pump} is in remote auto: level control starts and stops it.",
                        "zh_CN": "{pump} 处于远程自动：由水位控制启停。"},
    "switch_and_start": {"en": "switch to remote manual, then {action}",
                         "zh_CN": "切换到远程手动，然后{action}"},
    "ask_engineer": {"en": "Ask an engineer to switch it to remote manual (key m), "
                           "or leave it to level control.",
                     "zh_CN": "请工程师将其切换到远程手动（m 键），或交由水位控制。"},
}

SCREEN = ScreenSpec(
    view="drainage", compose=compose, refresh=refresh, overview=overview,
    keys=(("s", "start", "start"), ("x", "stop", "stop"), ("m", "mode", "mode"),
          ("r", "reset", "reset")),
    act=act, focus="pumps", words=WORDS, css="#sump { height: auto; }")
