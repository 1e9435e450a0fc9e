"""The power screen of the console (``SystemSpec.console`` of kind "power"): a single-line
view in text (each substation, its buses, its bays with their breakers' states, what they
feed and their currents), the last fault with its location and verdict, restoration, the
blocking links' health and the substations' fire panels.

Keys: o / k open / close the selected breaker, r reset its trip latch, t a switching
ticket (操作票: typed steps, checked step by step, then executed), i the last fault in
full. A breaker's dialog shows what the console reads of its interlocks (local, trip
latched, earthed) and asks for the breaker's id typed again, as the gate does; the gate
still decides and its answer is shown.

The structure comes from the tags the controller serves (``<s>.<breaker>.bus``,
``.feeds``, ``<s>.<bus>.substation``) and the kinds from ``site.Kinds``, never from ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Ask, Confirm, Info
from fixedsite.console.screens import ScreenSpec, put_row

KIND = "power"
RED = "bold white on red"
STATE_MARK = {"closed": "■", "open": "□", "tripped": "✕", "moving": "↕"}


def systems_of(app: Any) -> list[str]:
    kinds = app.client.kinds
    if kinds:
        return [i for i, k in kinds.items() if k == KIND and "." not in i]
    return sorted({p.split(".")[0] for p in app.client.values if p.endswith(".fault.state")})


def of(app: Any, system: str, kind: str) -> list[str]:
    kinds = app.client.kinds
    if kinds:
        return [i.split(".", 1)[1] for i, k in kinds.items()
                if k == kind and i.split(".", 1)[0] == system and i.count(".") == 1]
    sig = {"breaker": "breaker_cmd", "substation": "fire", "link": None, "bus": None}[kind]
    if sig is None:
        return []
    return sorted({p.split(".")[1] for p in app.client.values
                   if p.startswith(f"{system}.") and p.endswith(f".{sig}")})


def val(app: Any, path: str) -> Any:
    v = app.v(path)
    return v.value if v is not None and v.trusted else None


def shown(app: Any, path: str) -> str:
    return escape(app.client.names.get(path) or path.split(".", 1)[-1])


def word(app: Any, key: str, value: Any) -> str:
    """A state word in the console's language (unknown words shown as they come)."""
    text = app.t(f"pwr.{key}.{value}")
    return str(value) if text == f"pwr.{key}.{value}" else text


def breaker_state(app: Any, system: str, b: str) -> tuple[str, bool]:
    p = f"{system}.{b}"
    v = app.v(f"{p}.state")
    if v is None or not v.trusted:
        return f"? {word(app, 'st', 'unknown')}", True
    state = str(v.value)
    bad = state in ("tripped", "moving", "unknown")
    return f"{STATE_MARK.get(state, '?')} {word(app, 'st', state)}", bad


def fault_lines(app: Any, system: str) -> list[str]:
    t, f = app.t, f"{system}.fault"
    state = val(app, f"{f}.state")
    if state in (None, "none"):
        return [f"{t('pwr.last_fault')}: {t('pwr.none_yet')}"]
    verdict = val(app, f"{f}.verdict") or ""
    v = word(app, "verdict", verdict)
    if verdict in ("overtrip", "not cleared"):
        v = f"[{RED}] {v} [/]"
    ms = val(app, f"{f}.clearing_ms")
    lines = [f"{t('pwr.last_fault')}: {val(app, f'{f}.at') or ''}  "
             f"{t('pwr.section')} {val(app, f'{f}.section') or '--'}  {v}  "
             f"{t('pwr.opened')} {val(app, f'{f}.opened') or '--'}  "
             f"{t('pwr.clearing')} {'--' if ms is None else f'{ms:.0f} ms'}"]
    rec = val(app, f"{f}.record")
    err = val(app, f"{f}.record_error")
    if rec:
        lines.append(f"  {t('pwr.record')}: {escape(str(rec).rsplit('/', 1)[-1])}")
    if err:
        lines.append(f"  [{RED}] {t('pwr.record_failed')} [/] {escape(t.text(str(err)))}")
    r = f"{system}.restore"
    rs = val(app, f"{r}.state")
    if rs not in (None, "idle"):
        last = val(app, f"{r}.last_s")
        lines.append(f"  {t('pwr.restore')}: {word(app, 'rs', rs)}"
                     + (f"  {last:.1f} s" if isinstance(last, int | float) else "")
                     + f"  {escape(t.text(str(val(app, f'{r}.status') or '')))}")
    return lines


def compose(app: Any) -> Iterator[Any]:
    t = app.t
    yield Static(id="pwr-head")
    table: DataTable[str] = DataTable(id="pwr-eq", cursor_type="row")
    table.add_columns(t("pwr.bay"), t("state"), t("pwr.feeds"), "Ia A", "U kV",
                      t("pwr.group"), t("pwr.notes"))
    yield table


def rows(app: Any, system: str) -> Iterator[tuple[str, list[str]]]:
    """Bays by substation and bus, as the structure tags give them."""
    t = app.t
    brks = of(app, system, "breaker")
    by_bus: dict[str, list[str]] = {}
    for b in brks:
        by_bus.setdefault(str(val(app, f"{system}.{b}.bus") or "?"), []).append(b)
    order = sorted(by_bus, key=lambda bus: (str(val(app, f"{system}.{bus}.substation") or ""),
                                            bus))
    for bus in order:
        sub = val(app, f"{system}.{bus}.substation")
        fire = val(app, f"{system}.{sub}.fire") if sub else None
        head = f"── {shown(app, f'{system}.{sub}') if sub else ''} / {escape(bus)}" + (
            f"  [{RED}] {t('pwr.fire')} [/]" if fire else "")
        yield f"{system}.{bus}", [head, "", "", "", "", "", ""]
        for b in by_bus[bus]:
            p = f"{system}.{b}"
            state, bad = breaker_state(app, system, b)
            if bad:
                state = f"[{RED}]{state}[/]"
            group = val(app, f"{p}.group_active")
            notes = []
            if val(app, f"{p}.fallback"):
                notes.append(t("pwr.fallback"))
            settings = val(app, f"{p}.settings")
            if settings not in (None, "ok"):
                notes.append(f"{t('pwr.settings')}: {escape(t.text(str(settings)))}")
            if val(app, f"{p}.local"):
                notes.append(t("pwr.local"))
            if val(app, f"{p}.earthing_closed"):
                notes.append(t("pwr.earthed"))
            warn = val(app, f"{p}.warning")
            if warn:
                notes.append(escape(t.text(str(warn))))
            feeds = val(app, f"{p}.feeds")
            yield p, [f"  {shown(app, p)}", state, f"→ {escape(str(feeds or '--'))}",
                      app.fv(f"{p}.ia", "", 0), app.fv(f"{p}.uab", "", 2),
                      "--" if group is None else f"{group:.0f}", "; ".join(notes)]


def link_line(app: Any, system: str) -> str:
    t = app.t
    bad = []
    links = of(app, system, "link")
    for lk in links:
        s = val(app, f"{system}.{lk}.state")
        if s in ("lost", "slow"):
            bad.append(f"{lk} {word(app, 'link', s)}")
    if not bad:
        return f"{t('pwr.links')}: {len(links)} {t('pwr.links_ok')}"
    return f"{t('pwr.links')}: [{RED}] {', '.join(bad)} [/] ({t('pwr.fallback_in')})"


def refresh(app: Any) -> None:
    lines = []
    for system in systems_of(app):
        lines.append(f"{escape(app.client.names.get(system) or system)}")
        lines += [f"  {x}" for x in fault_lines(app, system)]
        lines.append(f"  {link_line(app, system)}")
        ticket = val(app, f"{system}.ticket.state")
        if ticket not in (None, "idle"):
            lines.append(f"  {t_ticket(app, system)}")
    app.query_one("#pwr-head", Static).update("\n".join(lines))
    table = app.query_one("#pwr-eq", DataTable)
    for system in systems_of(app):
        for path, cells in rows(app, system):
            put_row(table, path, cells)


def t_ticket(app: Any, system: str) -> str:
    t, p = app.t, f"{system}.ticket"
    return (f"{t('pwr.ticket')} {val(app, f'{p}.id') or ''}: "
            f"{word(app, 'tk', val(app, f'{p}.state'))}  "
            f"{escape(t.text(str(val(app, f'{p}.step') or '')))}")


def overview(app: Any) -> list[str]:
    t, out = app.t, []
    for system in systems_of(app):
        states = [val(app, f"{system}.{b}.state") for b in of(app, system, "breaker")]
        tripped = states.count("tripped")
        line = (f"{escape(app.client.names.get(system) or system)}: "
                f"{states.count('closed')} {word(app, 'st', 'closed')}, "
                f"{states.count('open')} {word(app, 'st', 'open')}"
                + (f", [{RED}] {tripped} {word(app, 'st', 'tripped')} [/]" if tripped else ""))
        out.append(line)
        out.append("  " + fault_lines(app, system)[0])
        for sub in of(app, system, "substation"):
            if val(app, f"{system}.{sub}.fire"):
                out.append(f"  [{RED}] {t('pwr.fire')}: {shown(app, f'{system}.{sub}')} [/]")
    return out


def _selected(app: Any) -> tuple[str | None, str | None]:
    path = app.selected("pwr-eq")
    if not path:
        return None, None
    system, _, rest = str(path).partition(".")
    kind = app.client.kinds.get(path)
    if kind == "breaker" or (not app.client.kinds and rest in of(app, system, "breaker")):
        return system, rest
    return system, None


def predicted(app: Any, system: str, b: str, action: str) -> str:
    """What the console reads that the gate would refuse on (the gate decides)."""
    t, p = app.t, f"{system}.{b}"
    if val(app, f"{p}.state") is None:
        return t("pwr.why_unknown")
    if val(app, f"{p}.local"):
        return t("pwr.why_local")
    if action == "close":
        if val(app, f"{p}.trip_code") not in (0, 0.0, None):
            return t("pwr.why_latched")
        if val(app, f"{p}.earthing_closed"):
            return t("pwr.why_earthed")
    return ""


def act(app: Any, action: str) -> None:
    t = app.t
    systems = systems_of(app)
    if not systems:
        return
    system, b = _selected(app)
    system = system or systems[0]
    if action == "ticket":
        _ticket(app, system)
        return
    if action == "fault":
        lines = fault_lines(app, system)
        summary = val(app, f"{system}.fault.summary") or ""
        plan = val(app, f"{system}.restore.plan") or ""
        app.push_screen(Info("\n".join([*lines, "", escape(t.text(str(summary))),
                                        escape(str(plan))]), t("keys_close")))
        return
    if b is None:
        app.say(t("pwr.pick_breaker"))
        return
    p = f"{system}.{b}"
    state, _bad = breaker_state(app, system, b)
    head = (f"{t('pwr.' + action)} {shown(app, p)} ({escape(b)})\n{t('state')}: {state}, "
            f"{t('pwr.feeds')} {escape(str(val(app, f'{p}.feeds') or '--'))}, "
            f"Ia {app.fv(f'{p}.ia', ' A', 0)}")
    why = predicted(app, system, b, action)
    if why:
        app.push_screen(Info(f"{head}\n\n[{RED}] {t('pwr.would_refuse')} [/] {why}",
                             t("keys_close")))
        return
    if action == "reset":
        async def reset(ok: bool | None) -> None:
            if ok:
                await app.call(p, "Reset")
        app.push_screen(Confirm(head, t("keys_yes_no")), reset)
        return

    async def go(answer: list[str] | None) -> None:
        if answer is not None:
            await app.call(p, "Open" if action == "open" else "Close", answer[0].strip())
    app.push_screen(Ask(f"{head}\n{t('pwr.type_id', id=escape(b))}",
                        [(t("pwr.confirm_id"), "")], t("keys_confirm")), go)


def _ticket(app: Any, system: str) -> None:
    t, target = app.t, f"{system}.ticket"

    async def execute(ok: bool | None) -> None:
        if ok:
            await app.call(target, "Execute", str(val(app, f"{target}.id") or ""))

    async def prepared(answer: list[str] | None) -> None:
        if answer is None or not answer[0].strip():
            return
        if not await app.call(target, "Prepare", answer[0].strip()):
            return
        done, why = await app.client.call(target, "Check")
        verdicts = escape(t.text(why)).replace("; ", "\n")
        if not done:
            app.push_screen(Info(f"[{RED}] {t('pwr.would_refuse')} [/]\n{verdicts}",
                                 t("keys_close")))
            return
        app.push_screen(Confirm(f"{t('pwr.ticket_checked')}\n{verdicts}\n\n"
                                f"{t('pwr.execute')}?", t("keys_yes_no")), execute)
    app.push_screen(Ask(t("pwr.ticket_steps"), [(t("pwr.steps"), "")], t("keys_confirm")),
                    prepared)


WORDS: dict[str, dict[str, str]] = {
    "power": {"en": "Power", "zh_CN": "供电"},
    "pwr.bay": {"en": "Bay", "zh_CN": "间隔"},
    "pwr.feeds": {"en": "feeds", "zh_CN": "出线"},
    "pwr.group": {"en": "Group", "zh_CN": "定值区"},
    "pwr.notes": {"en": "Notes", "zh_CN": "说明"},
    "pwr.fire": {"en": "FIRE", "zh_CN": "火警"},
    "pwr.fallback": {"en": "fallback group", "zh_CN": "后备定值区"},
    "pwr.settings": {"en": "settings", "zh_CN": "定值"},
    "pwr.local": {"en": "LOCAL", "zh_CN": "就地"},
    "pwr.earthed": {"en": "earthed", "zh_CN": "已接地"},
    "pwr.links": {"en": "Blocking links", "zh_CN": "闭锁通道"},
    "pwr.links_ok": {"en": "all healthy", "zh_CN": "全部正常"},
    "pwr.fallback_in": {"en": "their relays on the time-graded group",
                        "zh_CN": "相关保护已切至时间级差定值区"},
    "pwr.last_fault": {"en": "Last fault", "zh_CN": "最近故障"},
    "pwr.none_yet": {"en": "none", "zh_CN": "无"},
    "pwr.section": {"en": "section", "zh_CN": "区段"},
    "pwr.opened": {"en": "opened", "zh_CN": "跳开"},
    "pwr.clearing": {"en": "cleared in", "zh_CN": "切除时间"},
    "pwr.record": {"en": "COMTRADE record", "zh_CN": "COMTRADE 录波"},
    "pwr.record_failed": {"en": "RECORD NOT WRITTEN", "zh_CN": "录波未保存"},
    "pwr.restore": {"en": "Restoration", "zh_CN": "恢复供电"},
    "pwr.ticket": {"en": "Ticket", "zh_CN": "操作票"},
    "pwr.st.closed": {"en": "closed", "zh_CN": "合闸"},
    "pwr.st.open": {"en": "open", "zh_CN": "分闸"},
    "pwr.st.tripped": {"en": "TRIPPED", "zh_CN": "保护跳闸"},
    "pwr.st.moving": {"en": "moving", "zh_CN": "动作中"},
    "pwr.st.unknown": {"en": "unknown", "zh_CN": "未知"},
    "pwr.verdict.selective": {"en": "selective", "zh_CN": "选择性正确"},
    "pwr.verdict.overtrip": {"en": "OVERTRIP", "zh_CN": "越级跳闸"},
    "pwr.verdict.breaker failure backup": {"en": "breaker-failure backup",
                                           "zh_CN": "断路器失灵后备动作"},
    "pwr.verdict.not cleared": {"en": "NOT CLEARED", "zh_CN": "未切除"},
    "pwr.verdict.no trip": {"en": "no trip", "zh_CN": "未跳闸"},
    "pwr.verdict.not located": {"en": "not located", "zh_CN": "未定位"},
    "pwr.rs.planning": {"en": "planning", "zh_CN": "规划中"},
    "pwr.rs.isolating": {"en": "isolating", "zh_CN": "隔离中"},
    "pwr.rs.restoring": {"en": "restoring", "zh_CN": "恢复中"},
    "pwr.rs.done": {"en": "done", "zh_CN": "完成"},
    "pwr.rs.failed": {"en": "FAILED", "zh_CN": "失败"},
    "pwr.rs.proposal": {"en": "plan awaits the operator", "zh_CN": "方案待确认"},
    "pwr.link.lost": {"en": "lost", "zh_CN": "中断"},
    "pwr.link.slow": {"en": "slow", "zh_CN": "延时超限"},
    "pwr.tk.checking": {"en": "checking", "zh_CN": "审核中"},
    "pwr.tk.running": {"en": "running", "zh_CN": "执行中"},
    "pwr.tk.done": {"en": "done", "zh_CN": "完成"},
    "pwr.tk.failed": {"en": "FAILED", "zh_CN": "失败"},
    "pwr.tk.aborted": {"en": "aborted", "zh_CN": "已中止"},
    "pwr.open": {"en": "Open breaker", "zh_CN": "分闸"},
    "pwr.close": {"en": "Close breaker", "zh_CN": "合闸"},
    "pwr.reset": {"en": "Reset trip", "zh_CN": "跳闸复归"},
    "pwr.ticket_key": {"en": "Ticket", "zh_CN": "操作票"},
    "pwr.fault_key": {"en": "Fault", "zh_CN": "故障"},
    "pwr.type_id": {"en": "Type the breaker's id {id} to confirm.",
                    "zh_CN": "输入断路器编号 {id} 以确认。"},
    "pwr.confirm_id": {"en": "Breaker id", "zh_CN": "断路器编号"},
    "pwr.would_refuse": {"en": "REFUSED", "zh_CN": "不可执行"},
    "pwr.why_unknown": {"en": "its state is not known (no good data from its relay).",
                        "zh_CN": "状态未知（保护装置无有效数据）。"},
    "pwr.why_local": {"en": "the bay is in LOCAL.", "zh_CN": "该间隔处于就地控制。"},
    "pwr.why_latched": {"en": "its trip is latched: reset it first (r).",
                        "zh_CN": "保护跳闸未复归：请先复归（r 键）。"},
    "pwr.why_earthed": {"en": "its earthing switch is closed.", "zh_CN": "其接地开关处于合位。"},
    "pwr.pick_breaker": {"en": "Pick a breaker in the table first.",
                         "zh_CN": "请先在表中选择一台断路器。"},
    "pwr.ticket_steps": {"en": "Switching ticket: steps separated by ';', e.g. "
                               "open Q311; open Q311.disconnector; close Q311.earthing",
                         "zh_CN": "操作票：各步骤以“;”分隔，例如 "
                                  "open Q311; open Q311.disconnector; close Q311.earthing"},
    "pwr.steps": {"en": "Steps", "zh_CN": "步骤"},
    "pwr.ticket_checked": {"en": "Checked step by step against the interlocks:",
                           "zh_CN": "已按五防逐步审核："},
    "pwr.execute": {"en": "Execute the ticket", "zh_CN": "执行操作票"},
}

SCREEN = ScreenSpec(
    view="power", compose=compose, refresh=refresh, overview=overview,
    keys=(("o", "open", "pwr.open"), ("k", "close", "pwr.close"), ("r", "reset", "pwr.reset"),
          ("t", "ticket", "pwr.ticket_key"), ("i", "fault", "pwr.fault_key")),
    act=act, focus="pwr-eq", words=WORDS, css="#pwr-head { height: auto; }")
