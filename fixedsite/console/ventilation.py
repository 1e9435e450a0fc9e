"""The ventilation screen of the console (``SystemSpec.console`` of kind "ventilation"):
the main fan station, the air stations, and one table of the main fans, air doors,
regulating windows, working faces and their auxiliary fans.

Keys: s one-key start (the selected main fan, else the first), c changeover, x stop
(engineer, typed STOP), v reverse (engineer, typed REVERSE), e restore after a reversal
(engineer), r reset the selected row (a main fan: the station's sequence; a door, a
window, a face: its own), o / k open / close the selected air door, w set the selected
regulating window, i the station's last records in full. Each is a dialog first, which
shows the interlocks it depends on; a command the controller would refuse on what the
console reads (a standby in LOCAL or tripped, a station not running, a role too low) is
not offered: the dialog says why instead. The gate still decides; its answer is shown.

Everything is found by kind from ``site.Kinds`` (never from ids), with a fallback on the
signals each type declares for a server that does not answer it. Faces are not
equipment: they are found by the tags their control publishes (``<system>.<face>.
power_lockout``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from rich.markup import escape
from textual.widgets import DataTable, Static

from fixedsite.console.dialogs import Ask, Confirm, Info
from fixedsite.console.display import fmt
from fixedsite.console.screens import ScreenSpec, put_row
from fixedsite.users import ROLES, rank

KIND = "ventilation"
# the least role each command needs (the CommandSpecs of station.py, doors.py, faces.py)
ROLE = {"start": "operator", "changeover": "operator", "stop": "engineer",
        "reverse": "engineer", "restore": "engineer", "reset": "operator",
        "open": "operator", "close": "operator", "set": "operator"}
TYPED = {"stop": "STOP", "reverse": "REVERSE"}      # typed confirmations the gate checks
FAN_STATE = ("running", "fault_code", "local")      # what a fan's state is read from
DOOR_FLAGS = ("warning", "obstructed", "refused", "fault")
RED = "bold white on red"
# a type's signature among the signals it declares, for a server without site.Kinds
SIGNATURE = {"fan": ("speed_sp",), "window": ("position_sp",),
             "door": ("opened", "closed", "state"), "aux_fan": ("run_cmd", "fault_code"),
             "plc_status": ("fallback",), "air_sensor": ("airflow",)}


# --- finding things ------------------------------------------------------------------------
def systems_of(app: Any) -> list[str]:
    """Ventilation systems on the server (``site.Kinds``); without it, those whose fan
    station publishes a state."""
    kinds = app.client.kinds
    if kinds:
        return [i for i, k in kinds.items() if k == KIND and "." not in i]
    return sorted({p.split(".")[0] for p in app.client.values
                   if p.endswith(".station.state")})


def of(app: Any, system: str, kind: str) -> list[str]:
    """A system's equipment of one type, in the config's order."""
    kinds = app.client.kinds
    if kinds:
        return [i.split(".", 1)[1] for i, k in kinds.items()
                if k == kind and i.split(".", 1)[0] == system and i.count(".") == 1]
    have: dict[str, set[str]] = {}
    for p in app.client.values:
        parts = p.split(".")
        if len(parts) == 3 and parts[0] == system and parts[1] != "station":
            have.setdefault(parts[1], set()).add(parts[2])
    sig = SIGNATURE[kind]
    out = [e for e, s in have.items() if set(sig) <= s]
    if kind == "aux_fan":                         # a main fan has these too
        out = [e for e in out if "speed_sp" not in have[e]]
    if kind == "air_sensor":
        out = [e for e in out if not have[e] & {"run_cmd", "speed_sp"}]
    return sorted(out)


def faces(app: Any, system: str) -> list[str]:
    """The working faces, by the fan-power interlock their control publishes."""
    kinds = app.client.kinds
    return sorted({p.split(".")[1] for p in app.client.values
                   if p.startswith(f"{system}.") and p.endswith(".power_lockout")
                   and p.count(".") == 2 and f"{system}.{p.split('.')[1]}" not in kinds})


def name_of(app: Any, system: str) -> str:
    return escape(app.client.names.get(system) or system)


def shown(app: Any, path: str) -> str:
    """Equipment for people: its configured name, else its id without the system."""
    return escape(app.client.names.get(path) or path.split(".", 1)[-1])


def value(app: Any, path: str) -> Any:
    """A tag's value if it reads good, else None (what a prediction may rest on)."""
    v = app.v(path)
    return v.value if v is not None and v.trusted else None


def derived(app: Any, paths: list[str], text: str) -> str:
    """A word read from several tags: no better than the worst of them (dimmed, with its
    reason and age, as display.fmt shows a value)."""
    worst = next((v for v in (app.v(p) for p in paths) if v is not None and not v.trusted),
                 None)
    return text if worst is None else fmt(worst, "", 1, app.t, app.client.now(), text)


def trusted(app: Any, paths: list[str]) -> bool:
    return all((v := app.v(p)) is not None and v.trusted for p in paths)


def shaft_sensor(app: Any, system: str) -> str | None:
    """The air station on the shaft: the one carrying the most air (the shaft carries
    all of the mine's; every other station measures a part of it)."""
    best, most = None, -1.0
    for s in of(app, system, "air_sensor"):
        v = app.v(f"{system}.{s}.airflow")
        if v is None:
            continue
        flow = abs(v.value) if isinstance(v.value, int | float) else 0.0
        if best is None or flow > most:
            best, most = s, flow
    return best


# --- words for states ------------------------------------------------------------------------
def trip_word(app: Any, code: Any) -> str:
    key = f"vent.trip.{int(code)}" if isinstance(code, int | float) else ""
    return app.t(key) if key in WORDS else app.t("vent.trip_code", code=escape(str(code)))


def fan_state(app: Any, system: str, fan: str) -> tuple[str, bool]:
    """A main fan's state in words, and whether it is abnormal (tripped)."""
    t, path = app.t, f"{system}.{fan}"
    code = app.v(f"{path}.fault_code")
    running, local = value(app, f"{path}.running"), value(app, f"{path}.local")
    on_line = app.v(f"{system}.station.on_line")
    paths = [f"{path}.{s}" for s in FAN_STATE] + [f"{system}.station.on_line"]
    if code is not None and code.value:
        return derived(app, paths, f"{t('vent.tripped')}: {trip_word(app, code.value)}"), True
    if app.v(f"{path}.running") is None:
        return "--", False
    if running:
        word = t("vent.reversed") if value(app, f"{path}.reversed") else (
            t("vent.on_line") if on_line is not None and on_line.value == fan
            else t("vent.running"))
    elif value(app, f"{path}.ready") is False:
        word = t("vent.not_ready")
    else:
        st = value(app, f"{system}.station.state")
        word = t("vent.stopped") if st in (None, "stopped") else t("vent.standby")
    if local:
        word += f", {t('vent.local')}"
    return derived(app, paths, word), False


def aux_state(app: Any, system: str, fan: str) -> tuple[str, bool]:
    t, path = app.t, f"{system}.{fan}"
    code = app.v(f"{path}.fault_code")
    paths = [f"{path}.{s}" for s in FAN_STATE]
    if code is not None and code.value:
        why = t("vent.trip_code", code=escape(str(code.value)))
        return derived(app, paths, f"{t('vent.tripped')}: {why}"), True
    if app.v(f"{path}.running") is None:
        return "--", False
    word = t("vent.running") if value(app, f"{path}.running") else t("vent.stopped")
    working = {value(app, f"{system}.{f}.working") for f in faces(app, system)}
    if fan in working:
        word += f" ({t('vent.working')})"
    if value(app, f"{path}.local"):
        word += f", {t('vent.local')}"
    return derived(app, paths, word), False


def door_state(app: Any, system: str, door: str) -> tuple[str, bool]:
    """The door's sequence in words, and what its PLC says besides (warning horn,
    obstructed, refused, actuator fault); without the sequence, its limit switches."""
    t, path = app.t, f"{system}.{door}"
    seq = app.v(f"{path}.state")
    if seq is not None and seq.value:
        word, paths = t(f"vent.door.{seq.value}"), [f"{path}.state"]
    else:
        paths = [f"{path}.opened", f"{path}.closed"]
        opened, closed = value(app, paths[0]), value(app, paths[1])
        word = t("vent.door.open") if opened and not closed else t("vent.door.closed") \
            if closed and not opened else t("vent.door.between")
    flags = [t(f"vent.flag.{f}") for f in DOOR_FLAGS if value(app, f"{path}.{f}")]
    paths += [f"{path}.{f}" for f in DOOR_FLAGS]
    text = word + (f" ({', '.join(flags)})" if flags else "")
    bad = (seq is not None and seq.value == "fault") or any(
        value(app, f"{path}.{f}") for f in ("obstructed", "fault"))
    return derived(app, paths, text), bad


def window_state(app: Any, system: str, window: str) -> tuple[str, bool]:
    t, path = app.t, f"{system}.{window}"
    seq = app.v(f"{path}.state")
    if seq is None or not seq.value:
        return ("--" if value(app, f"{path}.fault") is None else derived(
            app, [f"{path}.fault"], t("vent.flag.fault") if value(app, f"{path}.fault")
            else t("vent.win.in_position"))), bool(value(app, f"{path}.fault"))
    text = t(f"vent.win.{seq.value}")
    if seq.value == "moving":
        text += f" → {app.fv(f'{path}.position_sp', ' %', 1)}"
    return derived(app, [f"{path}.state"], text), seq.value == "fault"


def face_state(app: Any, system: str, face: str) -> tuple[str, bool]:
    t, path = app.t, f"{system}.{face}"
    st, lock = app.v(f"{path}.state"), app.v(f"{path}.power_lockout")
    words = []
    if st is not None and st.value:
        words.append(t(f"vent.face.{st.value}"))
    locked = bool(lock is not None and lock.value)
    words.append(t("vent.lockout") if locked else t("vent.ventilated")
                 if value(app, f"{path}.ventilated") else t("vent.no_air"))
    paths = [f"{path}.{s}" for s in ("state", "power_lockout", "ventilated")]
    return derived(app, paths, ", ".join(words)), locked


def airflow_pct(app: Any, system: str) -> str:
    """The shaft's air in % of nominal, as the station publishes it (nothing if not)."""
    path = f"{system}.station.airflow_pct"
    if app.v(path) is None:
        return ""
    return f" ({app.fv(path, ' %', 0)} {app.t('vent.of_nominal')})"


def station_text(app: Any, system: str) -> str:
    t, path = app.t, f"{system}.station"
    st = app.v(f"{path}.state")
    status = app.v(f"{path}.status")
    text = app.fv(f"{path}.status", text=t.text(str(status.value))
                  if status is not None and status.value else None)
    if st is not None and st.value == "fault":
        reason = app.v(f"{path}.fault_reason")
        why = t.text(str(reason.value)) if reason is not None and reason.value else ""
        text = f"[{RED}] {t('vent.station_fault')} [/] {why}"
    return text


# --- the screen ------------------------------------------------------------------------------
def compose(app: Any) -> Iterator[Any]:
    t = app.t
    yield Static(id="vent-head")
    table: DataTable[str] = DataTable(id="vent-eq", cursor_type="row")
    table.add_column(t("vent.equipment"))
    table.add_column(t("state"))
    table.add_columns(f"{t('vent.speed_open')} %", f"{t('vent.airflow')} m3/s",
                      f"{t('vent.pressure')} Pa", f"{t('vent.power')} kW",
                      f"{t('vent.bearing')} °C", f"{t('vent.vibration')} mm/s")
    yield table


def rows(app: Any, system: str) -> Iterator[tuple[str, str, list[str]]]:
    """(path, type, the cells after the name and state) of each row, in screen order."""
    def fv(path: str, signal: str, unit: str = "", nd: int = 1) -> str:
        return app.fv(f"{path}.{signal}", unit, nd) if app.v(f"{path}.{signal}") is not None \
            else ""
    for f in of(app, system, "fan"):
        p = f"{system}.{f}"
        yield p, "fan", [fv(p, "speed", "", 0), fv(p, "airflow"), fv(p, "static_pressure", "", 0),
                         fv(p, "power", "", 0), fv(p, "bearing_temp", "", 0),
                         fv(p, "vibration", "", 2)]
    for face in faces(app, system):
        yield f"{system}.{face}", "face", ["", "", "", "", "", ""]
    for f in of(app, system, "aux_fan"):
        p = f"{system}.{f}"
        yield p, "aux_fan", ["", fv(p, "airflow"), "", "", "", ""]
    for d in of(app, system, "door"):
        yield f"{system}.{d}", "door", ["", "", "", "", "", ""]
    for w in of(app, system, "window"):
        p = f"{system}.{w}"
        yield p, "window", [fv(p, "position", "", 1), "", "", "", "", ""]


STATE_OF = {"fan": fan_state, "aux_fan": aux_state, "door": door_state,
            "window": window_state, "face": face_state}


def row_type(app: Any, path: str) -> str:
    """What a row of the table is (its type, or "face")."""
    kind = app.client.kinds.get(path)
    if kind:
        return str(kind)
    system, _, rest = path.partition(".")
    if rest in faces(app, system):
        return "face"
    return next((k for k in ("fan", "door", "window", "aux_fan") if rest in of(app, system, k)),
                "")


def refresh(app: Any) -> None:
    lines = []
    for system in systems_of(app):
        lines += fallback_lines(app, system)
        lines.append(f"{name_of(app, system)}: {station_text(app, system)}")
        shaft = shaft_sensor(app, system)
        for s in of(app, system, "air_sensor"):
            p = f"{system}.{s}"
            parts = [app.fv(f"{p}.{sig}", unit, nd) for sig, unit, nd in (
                ("airflow", " m3/s", 1), ("pressure", " Pa", 0), ("temperature", " °C", 1),
                ("humidity", " %", 0)) if app.v(f"{p}.{sig}") is not None]
            extra = airflow_pct(app, system) if s == shaft else ""
            lines.append(f"  {shown(app, p)}: {parts[0] if parts else '--'}{extra}"
                         + ("  " + "  ".join(parts[1:]) if len(parts) > 1 else ""))
        records = record_summary(app, system)
        if records:
            lines.append(f"  {records}")
    app.query_one("#vent-head", Static).update("\n".join(lines))
    table = app.query_one("#vent-eq", DataTable)
    for system in systems_of(app):
        for path, kind, cells in rows(app, system):
            state, bad = STATE_OF[kind](app, system, path.split(".", 1)[1])
            if bad:
                state = f"[{RED}]{state}[/]"
            row = [shown(app, path), state, *cells]
            put_row(table, path, row)


def record_summary(app: Any, system: str) -> str:
    """The last changeover, failover and reversal by their figures (i: in full)."""
    t, p, parts = app.t, f"{system}.station", []
    if (v := app.v(f"{p}.changeover_min_pct")) is not None and v.value is not None:
        parts.append(f"{t('vent.last_changeover')} {t('vent.lowest')} "
                     f"{app.fv(f'{p}.changeover_min_pct', ' %', 1)}")
    if (v := app.v(f"{p}.failover_s")) is not None and v.value is not None:
        parts.append(f"{t('vent.last_failover')} {app.fv(f'{p}.failover_s', ' s', 0)}")
    if (v := app.v(f"{p}.reversal_pct")) is not None and v.value is not None:
        parts.append(f"{t('vent.last_reversal')} {app.fv(f'{p}.reversal_pct', ' %', 0)} / "
                     f"{app.fv(f'{p}.reversal_s', ' s', 0)}")
    return "  ".join(parts)


def fallback_lines(app: Any, system: str) -> list[str]:
    """A PLC holding the fans without the controller: a banner; unknown: said so."""
    t, out = app.t, []
    for plc in of(app, system, "plc_status"):
        path = f"{system}.{plc}.fallback"
        fb = app.v(path)
        if fb is not None and fb.value and fb.trusted:
            out.append(f"[{RED}] {t('vent.fallback')} [/] {shown(app, f'{system}.{plc}')}")
        elif fb is not None and not fb.trusted:
            out.append(f"{t('vent.fallback_unknown')} {shown(app, f'{system}.{plc}')}: "
                       f"{app.fv(path, text='?')}")
    return out


def overview(app: Any) -> list[str]:
    t, lines = app.t, []
    for system in systems_of(app):
        lines += fallback_lines(app, system)
        on_line = app.v(f"{system}.station.on_line")
        st = value(app, f"{system}.station.state")
        if st == "running" and on_line is not None and on_line.value:
            head = app.fv(f"{system}.station.on_line",
                          text=f"{shown(app, f'{system}.{on_line.value}')} {t('vent.on_line')}")
        else:
            head = station_text(app, system)
        shaft = shaft_sensor(app, system)
        air = "" if shaft is None else (
            f", {t('vent.shaft_air')} {app.fv(f'{system}.{shaft}.airflow', ' m3/s', 1)}"
            f"{airflow_pct(app, system)}")
        lines.append(f"{name_of(app, system)}: {head}{air}")
        tripped = [shown(app, f"{system}.{f}") for k in ("fan", "aux_fan")
                   for f in of(app, system, k) if value(app, f"{system}.{f}.fault_code")]
        if tripped:
            lines.append(f"  [{RED}] {t('vent.tripped')} [/] {', '.join(tripped)}")
        fs = faces(app, system)
        locked = [escape(f) for f in fs if value(app, f"{system}.{f}.power_lockout")]
        if locked:
            lines.append(f"  [{RED}] {t('vent.lockout')} [/] {', '.join(locked)}")
        if fs:
            n = sum(1 for f in fs if value(app, f"{system}.{f}.ventilated"))
            worst = next((app.v(f"{system}.{f}.ventilated") for f in fs
                          if app.v(f"{system}.{f}.ventilated") is not None
                          and not app.v(f"{system}.{f}.ventilated").trusted), None)
            text = f"{n}/{len(fs)} {t('vent.ventilated')}"
            lines.append(f"  {t('vent.faces')}: " + (text if worst is None else fmt(
                worst, "", 1, t, app.client.now(), text)))
    return lines


# --- the commands ----------------------------------------------------------------------------
def station_interlocks(app: Any, system: str) -> str:
    """What a station command depends on, shown before it is confirmed."""
    t, p = app.t, f"{system}.station"
    st = app.v(f"{p}.state")
    shaft = shaft_sensor(app, system)
    lines = [f"{t('vent.interlocks')}: {t('vent.station')} "
             f"{app.fv(f'{p}.state', text=t(f'vent.st.{st.value}') if st and st.value else None)}"
             + ("" if shaft is None else
                f", {t('vent.shaft_air')} {app.fv(f'{system}.{shaft}.airflow', ' m3/s', 1)}"
                f"{airflow_pct(app, system)}")]
    for f in of(app, system, "fan"):
        state, _bad = fan_state(app, system, f)
        ready = value(app, f"{system}.{f}.ready")
        lines.append(f"  {shown(app, f'{system}.{f}')}: {state}"
                     + (f", {t('vent.not_ready')}" if ready is False else ""))
    return "\n".join(lines)


def can_run(app: Any, system: str, fan: str) -> str:
    """Why the controller would refuse to run ``fan`` (the gate's own checks on what the
    console reads), or "" if it would not or the console cannot tell."""
    t, p = app.t, f"{system}.{fan}"
    if value(app, f"{p}.local"):
        return t("vent.why_local", fan=shown(app, p))
    if value(app, f"{p}.fault_code"):
        return t("vent.why_tripped", fan=shown(app, p))
    if value(app, f"{p}.ready") is False:
        return t("vent.why_not_ready", fan=shown(app, p))
    return ""


def predicted_refusal(app: Any, system: str, action: str, fan: str | None = None) -> str:
    """Why a station command would be refused, from the same values the gate reads: the
    role first, then the station's state and the fan that would have to run."""
    t = app.t
    role, need = app.client.role, ROLE[action]
    if role in ROLES and rank(role) < rank(need):
        return t("vent.why_role", action=t(f"vent.{action}"), need=t(f"role.{need}"),
                 role=t(f"role.{role}"))
    p = f"{system}.station"
    if not trusted(app, [f"{p}.state", f"{p}.on_line"]):
        return ""                                  # the gate will say: state unknown
    st, on_line = value(app, f"{p}.state"), value(app, f"{p}.on_line")
    word = t(f"vent.st.{st}")
    fans = of(app, system, "fan")
    if action != "reset" and st == "fault":
        return t("vent.why_fault")
    if action == "start":
        if st != "stopped":
            return t("vent.why_not_stopped", state=word)
        return can_run(app, system, fan or fans[0]) if fans else ""
    if action == "changeover":
        if st != "running":
            return t("vent.why_not_running", state=word)
        other = next((f for f in fans if f != on_line), None)
        return can_run(app, system, other) if other else ""
    if action == "reverse" and st != "running":
        return t("vent.why_not_running", state=word)
    if action == "stop" and st not in ("running", "reversed", "opening_dampers", "running_up",
                                       "proving"):
        return t("vent.why_nothing_to_stop", state=word)
    if action == "restore" and st != "reversed":
        return t("vent.why_not_reversed")
    return ""


def _system_of_selection(app: Any) -> tuple[str | None, str | None]:
    """(the system, the selected row's path) the keys act on."""
    path = app.selected("vent-eq")
    found = systems_of(app)
    system = path.split(".")[0] if path else (found[0] if found else None)
    return system, path


def act(app: Any, action: str) -> None:
    system, path = _system_of_selection(app)
    if system is None:
        return
    if action == "records":
        _records(app, system)
        return
    kind = row_type(app, path) if path else ""
    if action in ("open", "close"):
        if kind == "door" and path is not None:
            _door(app, path, action)
        else:
            app.say(app.t("vent.pick_door"))
        return
    if action == "set":
        if kind == "window" and path is not None:
            _window(app, path)
        else:
            app.say(app.t("vent.pick_window"))
        return
    if action == "reset" and kind in ("door", "window", "face") and path is not None:
        _reset(app, path, kind)
        return
    fan = path.split(".", 1)[1] if kind == "fan" and path else None
    _station(app, system, action, fan)


def _station(app: Any, system: str, action: str, fan: str | None) -> None:
    t, target = app.t, f"{system}.station"
    fans = of(app, system, "fan")
    fan = fan or (fans[0] if fans else "")
    on_line = value(app, f"{target}.on_line")
    other = next((f for f in fans if f != on_line), "?")
    what = {"start": t("vent.ask_start", fan=shown(app, f"{system}.{fan}")),
            "changeover": t("vent.ask_changeover",
                            old=shown(app, f"{system}.{on_line}") if on_line else "?",
                            new=shown(app, f"{system}.{other}")),
            "stop": t("vent.ask_stop"), "reverse": t("vent.ask_reverse"),
            "restore": t("vent.ask_restore"), "reset": t("vent.ask_reset")}[action]
    head = f"{what}\n{station_interlocks(app, system)}"
    why = predicted_refusal(app, system, action, fan)
    if why:
        app.push_screen(Info(f"{head}\n\n[{RED}] {t('vent.would_refuse')} [/] {why}",
                             t("keys_close")))
        return
    method = action.capitalize()
    word = TYPED.get(action)
    if word is not None:
        async def typed(answer: list[str] | None) -> None:
            if answer is None:
                return
            if answer[0].strip().upper() != word:
                app.say(f"{t('refused')}: {t('vent.not_typed', word=word)}")
                return
            await app.call(target, method, word)
        app.push_screen(Ask(f"{head}\n\n{t('vent.type_to_confirm', word=word)}",
                            [(t("vent.confirm_word"), "")], t("keys_confirm")), typed)
        return

    async def go(ok: bool | None) -> None:
        if ok:
            if action == "start":
                await app.call(target, method, fan)
            else:
                await app.call(target, method)
    app.push_screen(Confirm(head, t("keys_yes_no")), go)


def _role_refusal(app: Any, action: str) -> str:
    t, role, need = app.t, app.client.role, ROLE[action]
    if role in ROLES and rank(role) < rank(need):
        return t("vent.why_role", action=t(f"vent.{action}"), need=t(f"role.{need}"),
                 role=t(f"role.{role}"))
    return ""


def _door(app: Any, path: str, action: str) -> None:
    """Open or close an air door: its state and its system's other doors first (the
    airlock's partner among them; the gate checks the airlock)."""
    t = app.t
    system, door = path.split(".", 1)
    state, _bad = door_state(app, system, door)
    others = [f"  {shown(app, f'{system}.{d}')}: {door_state(app, system, d)[0]}"
              for d in of(app, system, "door") if d != door]
    reason = app.v(f"{path}.fault_reason")
    head = (f"{t(f'vent.{action}')} {shown(app, path)}?\n{t('vent.interlocks')}: {state}"
            + (f"\n{t.text(str(reason.value))}" if reason is not None and reason.value else "")
            + (f"\n{t('vent.other_doors')}:\n" + "\n".join(others) if others else ""))
    why = _role_refusal(app, action)
    if not why and value(app, f"{path}.state") == "fault":
        why = t("vent.why_door_fault")
    if why:
        app.push_screen(Info(f"{head}\n\n[{RED}] {t('vent.would_refuse')} [/] {why}",
                             t("keys_close")))
        return

    async def go(ok: bool | None) -> None:
        if ok:
            await app.call(path, action.capitalize())
    app.push_screen(Confirm(head, t("keys_yes_no")), go)


def _window(app: Any, path: str) -> None:
    t = app.t
    system, window = path.split(".", 1)
    state, _bad = window_state(app, system, window)
    head = (f"{t('vent.set')} {shown(app, path)}\n{t('vent.interlocks')}: {state}, "
            f"{t('vent.position')} {app.fv(f'{path}.position', ' %', 1)}")
    why = _role_refusal(app, "set")
    if why:
        app.push_screen(Info(f"{head}\n\n[{RED}] {t('vent.would_refuse')} [/] {why}",
                             t("keys_close")))
        return
    sp = value(app, f"{path}.position_sp")
    default = f"{sp:.1f}" if isinstance(sp, int | float) else ""

    async def go(answer: list[str] | None) -> None:
        if answer is None:
            return
        try:
            pos = float(answer[0].strip().rstrip("%"))
        except ValueError:
            pos = math.nan
        if not (math.isfinite(pos) and 0.0 <= pos <= 100.0):
            app.say(f"{t('refused')}: {t('vent.bad_position', got=escape(repr(answer[0])))}")
            return
        await app.call(path, "Set", pos)
    app.push_screen(Ask(head, [(f"{t('vent.position')} (0-100 %)", default)],
                        t("keys_confirm")), go)


def _reset(app: Any, path: str, kind: str) -> None:
    t = app.t
    system, rest = path.split(".", 1)
    state, _bad = STATE_OF[kind](app, system, rest)
    reason = app.v(f"{path}.fault_reason")
    head = (f"{t('reset')} {shown(app, path)}?\n{t('vent.interlocks')}: {state}"
            + (f"\n{t.text(str(reason.value))}" if reason is not None and reason.value else ""))
    why = _role_refusal(app, "reset")
    if why:
        app.push_screen(Info(f"{head}\n\n[{RED}] {t('vent.would_refuse')} [/] {why}",
                             t("keys_close")))
        return

    async def go(ok: bool | None) -> None:
        if ok:
            await app.call(path, "Reset")
    app.push_screen(Confirm(head, t("keys_yes_no")), go)


def _records(app: Any, system: str) -> None:
    """The station's last changeover, failover and reversal, as it recorded them."""
    t, p = app.t, f"{system}.station"
    lines = [f"{name_of(app, system)}: {t('vent.records')}"]
    for tag, word in (("last_changeover", "vent.last_changeover"),
                      ("last_failover", "vent.last_failover"),
                      ("last_reversal", "vent.last_reversal")):
        v = app.v(f"{p}.{tag}")
        if v is None or (not v.value and v.why in ("", "not_yet_read")):
            shown_ = t("vent.none_yet")     # published only once one happens
        else:
            shown_ = app.fv(f"{p}.{tag}", text=t.text(str(v.value)) if v.value else None)
        lines.append(f"{t(word)}: {shown_}")
    app.push_screen(Info("\n".join(lines), t("keys_close")))


WORDS: dict[str, dict[str, str]] = {
    "ventilation": {"en": "Ventilation", "zh_CN": "通风"},
    "vent.equipment": {"en": "Equipment", "zh_CN": "设备"},
    "vent.local": {"en": "LOCAL", "zh_CN": "就地"},
    "vent.interlocks": {"en": "Interlocks", "zh_CN": "联锁"},
    "vent.bearing": {"en": "Bearing", "zh_CN": "轴承"},
    "vent.speed_open": {"en": "Speed/open", "zh_CN": "转速/开度"},
    "vent.airflow": {"en": "Air", "zh_CN": "风量"},
    "vent.pressure": {"en": "Pressure", "zh_CN": "负压"},
    "vent.power": {"en": "Power", "zh_CN": "功率"},
    "vent.vibration": {"en": "Vibration", "zh_CN": "振动"},
    "vent.position": {"en": "opening", "zh_CN": "开度"},
    "vent.station": {"en": "station", "zh_CN": "风机站"},
    "vent.shaft_air": {"en": "shaft air", "zh_CN": "风井风量"},
    "vent.of_nominal": {"en": "of nominal", "zh_CN": "额定"},
    "vent.station_fault": {"en": "STATION FAULT", "zh_CN": "风机站故障"},
    "vent.fallback": {"en": "PLC HOLDS THE FANS (no controller)",
                      "zh_CN": "PLC 保持风机现状（控制器失联）"},
    "vent.fallback_unknown": {"en": "PLC fallback unknown", "zh_CN": "PLC 保持状态未知"},
    "vent.on_line": {"en": "on line", "zh_CN": "主用运行"},
    "vent.running": {"en": "running", "zh_CN": "运行"},
    "vent.standby": {"en": "standby", "zh_CN": "备用"},
    "vent.stopped": {"en": "stopped", "zh_CN": "停止"},
    "vent.reversed": {"en": "running reversed", "zh_CN": "反风运行"},
    "vent.not_ready": {"en": "not ready", "zh_CN": "未就绪"},
    "vent.tripped": {"en": "TRIPPED", "zh_CN": "跳闸"},
    "vent.trip_code": {"en": "trip code {code}", "zh_CN": "跳闸代码 {code}"},
    "vent.trip.1": {"en": "motor overload", "zh_CN": "电机过载"},
    "vent.trip.2": {"en": "drive (VFD) fault", "zh_CN": "变频器故障"},
    "vent.trip.3": {"en": "vibration high", "zh_CN": "振动过高"},
    "vent.trip.4": {"en": "bearing temperature high", "zh_CN": "轴承温度过高"},
    "vent.trip.5": {"en": "damper fault", "zh_CN": "风门故障"},
    "vent.working": {"en": "working", "zh_CN": "主用"},
    "vent.ventilated": {"en": "ventilated", "zh_CN": "有风"},
    "vent.no_air": {"en": "NO AIR", "zh_CN": "无风"},
    "vent.lockout": {"en": "POWER LOCKOUT", "zh_CN": "风电闭锁断电"},
    "vent.faces": {"en": "Faces", "zh_CN": "工作面"},
    "vent.face.running": {"en": "running", "zh_CN": "运行"},
    "vent.face.switching_over": {"en": "switching over", "zh_CN": "切换中"},
    "vent.face.testing": {"en": "testing", "zh_CN": "试验中"},
    "vent.face.no_air": {"en": "no air", "zh_CN": "无风"},
    "vent.door.closed": {"en": "closed", "zh_CN": "关闭"},
    "vent.door.opening": {"en": "opening", "zh_CN": "开启中"},
    "vent.door.open": {"en": "open", "zh_CN": "开启"},
    "vent.door.closing": {"en": "closing", "zh_CN": "关闭中"},
    "vent.door.fault": {"en": "FAULT", "zh_CN": "故障"},
    "vent.door.between": {"en": "between limits", "zh_CN": "停在限位之间"},
    "vent.flag.warning": {"en": "warning", "zh_CN": "声光预警"},
    "vent.flag.obstructed": {"en": "obstructed", "zh_CN": "受阻"},
    "vent.flag.refused": {"en": "refused by PLC", "zh_CN": "PLC 拒绝"},
    "vent.flag.fault": {"en": "actuator fault", "zh_CN": "执行机构故障"},
    "vent.win.in_position": {"en": "in position", "zh_CN": "到位"},
    "vent.win.moving": {"en": "moving", "zh_CN": "调节中"},
    "vent.win.fault": {"en": "FAULT", "zh_CN": "故障"},
    "vent.st.stopped": {"en": "stopped", "zh_CN": "停止"},
    "vent.st.opening_dampers": {"en": "opening dampers", "zh_CN": "开风门"},
    "vent.st.running_up": {"en": "running up", "zh_CN": "升速"},
    "vent.st.proving": {"en": "proving air", "zh_CN": "确认风量"},
    "vent.st.running": {"en": "running", "zh_CN": "运行"},
    "vent.st.co_starting": {"en": "changeover: standby starting", "zh_CN": "倒机：备用机启动"},
    "vent.st.co_crossing": {"en": "changeover: dampers crossing", "zh_CN": "倒机：风门切换"},
    "vent.st.co_stopping": {"en": "changeover: old fan stopping", "zh_CN": "倒机：原风机停机"},
    "vent.st.failover": {"en": "failover", "zh_CN": "自动切换"},
    "vent.st.stopping": {"en": "stopping", "zh_CN": "停机中"},
    "vent.st.rev_down": {"en": "reversal: running down", "zh_CN": "反风：降速"},
    "vent.st.rev_up": {"en": "reversal: running up reversed", "zh_CN": "反风：反向升速"},
    "vent.st.reversed": {"en": "reversed", "zh_CN": "反风运行"},
    "vent.st.res_down": {"en": "restore: running down", "zh_CN": "恢复：降速"},
    "vent.st.res_up": {"en": "restore: running up", "zh_CN": "恢复：正向升速"},
    "vent.st.fault": {"en": "FAULT", "zh_CN": "故障"},
    "vent.st.None": {"en": "unknown", "zh_CN": "未知"},
    "vent.last_changeover": {"en": "Changeover", "zh_CN": "倒机"},
    "vent.last_failover": {"en": "Failover", "zh_CN": "自动切换"},
    "vent.last_reversal": {"en": "Reversal", "zh_CN": "反风"},
    "vent.lowest": {"en": "lowest", "zh_CN": "最低"},
    "vent.records": {"en": "last records", "zh_CN": "最近记录"},
    "vent.none_yet": {"en": "none yet", "zh_CN": "尚无"},
    # keys (footer words) and dialogs
    "vent.start": {"en": "One-key start", "zh_CN": "一键启动"},
    "vent.changeover": {"en": "Changeover", "zh_CN": "倒机"},
    "vent.stop": {"en": "Stop", "zh_CN": "停机"},
    "vent.reverse": {"en": "Reverse", "zh_CN": "反风"},
    "vent.restore": {"en": "Restore", "zh_CN": "恢复正向"},
    "vent.reset": {"en": "Reset", "zh_CN": "复位"},
    "vent.open": {"en": "Open door", "zh_CN": "开风门"},
    "vent.close": {"en": "Close door", "zh_CN": "关风门"},
    "vent.set": {"en": "Set window", "zh_CN": "设定风窗"},
    "vent.records_key": {"en": "Records", "zh_CN": "记录"},
    "vent.ask_start": {"en": "One-key start of {fan}: inlet damper, drive, outlet damper, "
                             "air proven?",
                       "zh_CN": "一键启动 {fan}：开进风风门、启动变频器、开出风风门、确认风量？"},
    "vent.ask_changeover": {"en": "Changeover from {old} to {new} without stopping the air?",
                            "zh_CN": "不停风倒机：由 {old} 切换至 {new}？"},
    "vent.ask_stop": {"en": "STOP the main fan: the mine's air stops.",
                      "zh_CN": "停止主通风机：矿井将停风。"},
    "vent.ask_reverse": {"en": "REVERSE the mine's air: the fan is run down and up reversed.",
                         "zh_CN": "矿井反风：主通风机降速后反向升速。"},
    "vent.ask_restore": {"en": "Restore forward air after the reversal?",
                         "zh_CN": "反风结束，恢复正向通风？"},
    "vent.ask_reset": {"en": "Reset the main fan station's sequence?",
                       "zh_CN": "复位主通风机站顺序控制？"},
    "vent.type_to_confirm": {"en": "Type {word} and press Enter to confirm.",
                             "zh_CN": "输入 {word} 并按回车确认。"},
    "vent.confirm_word": {"en": "Confirmation", "zh_CN": "确认字"},
    "vent.not_typed": {"en": "not confirmed: type {word}", "zh_CN": "未确认：请输入 {word}"},
    "vent.would_refuse": {"en": "REFUSED", "zh_CN": "不可执行"},
    "vent.why_role": {"en": "{action} needs the {need} role; you are {role}.",
                      "zh_CN": "{action}需要{need}权限；当前为{role}。"},
    "vent.why_local": {"en": "{fan} is in LOCAL at the field panel.",
                       "zh_CN": "{fan} 处于现场就地控制。"},
    "vent.why_tripped": {"en": "{fan} is tripped; reset it at its panel first.",
                         "zh_CN": "{fan} 已跳闸；请先在现场复位。"},
    "vent.why_not_ready": {"en": "{fan} is not ready (supply, drive or permissive).",
                           "zh_CN": "{fan} 未就绪（电源、变频器或允许条件）。"},
    "vent.why_fault": {"en": "the station is faulted: reset it first (r).",
                       "zh_CN": "风机站故障：请先复位（r 键）。"},
    "vent.why_not_stopped": {"en": "the main fans are not stopped ({state}).",
                             "zh_CN": "主通风机未停止（{state}）。"},
    "vent.why_not_running": {"en": "it starts from a fan running on line, not {state}.",
                             "zh_CN": "须在一台风机主用运行时进行，当前为{state}。"},
    "vent.why_nothing_to_stop": {"en": "nothing to stop ({state}).",
                                 "zh_CN": "没有可停止的风机（{state}）。"},
    "vent.why_not_reversed": {"en": "the air is not reversed.", "zh_CN": "当前未反风。"},
    "vent.why_door_fault": {"en": "the door is faulted: reset it first (r).",
                            "zh_CN": "风门故障：请先复位（r 键）。"},
    "vent.other_doors": {"en": "Other doors", "zh_CN": "其他风门"},
    "vent.pick_door": {"en": "Pick an air door in the table first.",
                       "zh_CN": "请先在表中选择一扇风门。"},
    "vent.pick_window": {"en": "Pick a regulating window in the table first.",
                         "zh_CN": "请先在表中选择一个调节风窗。"},
    "vent.bad_position": {"en": "the opening is a number from 0 to 100 (%), not {got}",
                          "zh_CN": "开度须为 0 到 100 (%) 之间的数，而不是 {got}"},
}

SCREEN = ScreenSpec(
    view="ventilation", compose=compose, refresh=refresh, overview=overview,
    keys=(("s", "start", "vent.start"), ("c", "changeover", "vent.changeover"),
          ("x", "stop", "vent.stop"), ("v", "reverse", "vent.reverse"),
          ("e", "restore", "vent.restore"), ("r", "reset", "vent.reset"),
          ("o", "open", "vent.open"), ("k", "close", "vent.close"),
          ("w", "set", "vent.set"), ("i", "records", "vent.records_key")),
    act=act, focus="vent-eq", words=WORDS, css="#vent-head { height: auto; }")
