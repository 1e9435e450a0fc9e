"""Ventilation as a plug-in of the system registry (``fixedsite/systems.py``).

``SPEC`` is what the core knows of a ventilation system: the ``[systems.X]`` model for
``kind = "ventilation"``, the equipment types, the config rules, the built-in alarms on
what its PLCs report (a fan's trip, the shaft's airflow low, a door's fault, the PLC
holding the fans without the controller), its HIL plant and its ``ventilation`` verb.

Built into a controller: the main fan station (``station.py``: one-key start, changeover
without stopping the air, failover, reversal) behind the command gate as
``<system>.station``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixedsite.alarms.model import AlarmDef
from fixedsite.config import SiteConfig
from fixedsite.sequences.ventilation import checks, texts
from fixedsite.sequences.ventilation.config import (
    DoorEq,
    HilVentilation,
    VentilationSystem,
    WindowEq,
)
from fixedsite.sequences.ventilation.equipment import TYPES
from fixedsite.systems import BuildContext, SystemSpec
from fixedsite.texts import say


@dataclass
class Ventilation:
    """One built ventilation system, as the controller holds it in ``systems[name]``."""

    name: str
    config: VentilationSystem
    station: Any                 # FanStation


def build(ctx: BuildContext, sname: str, system: VentilationSystem) -> Ventilation:
    from fixedsite.sequences.ventilation.doors import (
        DOOR_COMMANDS,
        WINDOW_COMMANDS,
        DoorHandler,
        DoorSequence,
        WindowHandler,
        WindowSequence,
        link_airlocks,
    )
    from fixedsite.sequences.ventilation.faces import FACE_COMMANDS, FaceControl, FaceHandler
    from fixedsite.sequences.ventilation.station import (
        STATION_COMMANDS,
        FanStation,
        StationHandler,
    )

    st = FanStation(sname, system, ctx.store, ctx.writer, ctx.clock)
    ctx.sequence(st.path, st, StationHandler(st), STATION_COMMANDS, st.scan,
                 [st.state_tag, st.on_line_tag, st.status_tag])
    doors = []
    for ename, eq in system.equipment.items():
        if isinstance(eq, DoorEq):
            door = DoorSequence(sname, ename, eq, system.control, ctx.store, ctx.writer,
                                ctx.clock)
            ctx.sequence(door.path, door, DoorHandler(door), DOOR_COMMANDS, door.scan,
                         door.published)
            doors.append(door)
        elif isinstance(eq, WindowEq):
            win = WindowSequence(sname, ename, eq, system.control, ctx.store, ctx.writer,
                                 ctx.clock)
            ctx.sequence(win.path, win, WindowHandler(win), WINDOW_COMMANDS, win.scan,
                         win.published)
    link_airlocks(doors)
    faces = []
    for face, spec in system.control.faces.items():
        fc = FaceControl(sname, face, spec, system.control, ctx.store, ctx.writer, ctx.clock)
        ctx.sequence(fc.path, fc, FaceHandler(fc), FACE_COMMANDS, fc.scan, fc.published)
        faces.append(fc)

    def records_to(historian: Any) -> None:
        st.historian = historian
        for fc in faces:
            fc.historian = historian
    ctx.on_start(records_to)
    return Ventilation(sname, system, st)


def objects(sname: str, system: VentilationSystem) -> dict[str, str]:
    """The station and the faces, for a client to find by kind (site.Kinds)."""
    return {f"{sname}.station": "station"} | {f"{sname}.{f}": "face"
                                             for f in system.control.faces}


def published(sname: str, system: VentilationSystem) -> dict[str, str]:
    from fixedsite.sequences.ventilation import doors, faces
    from fixedsite.sequences.ventilation.station import STATION_TAGS

    return {f"{sname}.station.{n}": kind for n, (kind, _) in STATION_TAGS.items()} | \
        doors.published(sname, system) | faces.published(sname, system)


def alarms(cfg: SiteConfig, sname: str, system: VentilationSystem) -> list[AlarmDef]:
    defs = []
    c = system.control
    for ename, eq in system.equipment.items():
        base, name = f"{sname}.{ename}", eq.name or ename
        if eq.type in ("fan", "aux_fan"):
            defs.append(AlarmDef(id=f"{base}.TRIP", tag=f"{base}.fault_code",
                                 kind="discrete", priority=1 if eq.type == "fan" else 2,
                                 area=sname, text=say("{name} tripped", name=name),
                                 condition=lambda v: v not in (0, 0.0),
                                 clear=lambda v: v in (0, 0.0)))
        if eq.type in ("door", "window"):        # its sequence's fault: the PLC's, an
            # obstruction, a limit not reached, an interlock broken; the reason with it
            defs.append(AlarmDef(id=f"{base}.FAULT", tag=f"{base}.state", kind="equipment",
                                 priority=2 if eq.type == "door" else 3, area=sname,
                                 text=say("{name}: door fault" if eq.type == "door" else
                                          "{name}: window fault", name=name),
                                 condition=lambda v: v == "fault", clear=lambda v: v != "fault",
                                 reason_tag=f"{base}.fault_reason"))
        if eq.type == "plc_status":
            plc = cfg.plcs.get(eq.plc)
            grace = 2 * (plc.heartbeat_period_s + plc.poll_period_s) if plc else 0.0
            defs.append(AlarmDef(id=f"{base}.FALLBACK", tag=f"{base}.fallback",
                                 kind="discrete", priority=1, area=sname,
                                 text=say("{name}: controller heartbeat lost, PLC holds the "
                                          "fans", name=name),
                                 condition=lambda v: v is True,
                                 clear=lambda v: v is False, on_delay_s=grace, guard=True))
    st = f"{sname}.station"
    defs.append(AlarmDef(id=f"{st}.FAILOVER", tag=f"{st}.state", kind="discrete", priority=1,
                         area=sname, text=say("{name}: main fan failover", name=system.name
                                              or sname),
                         condition=lambda v: v == "failover", clear=lambda v: v != "failover",
                         reason_tag=f"{st}.status"))
    defs.append(AlarmDef(id=f"{st}.FAULT", tag=f"{st}.state", kind="equipment", priority=1,
                         area=sname, text=say("{name}: main fan station fault",
                                              name=system.name or sname),
                         condition=lambda v: v == "fault", clear=lambda v: v != "fault",
                         reason_tag=f"{st}.fault_reason"))
    for face in c.faces:
        defs.append(AlarmDef(id=f"{sname}.{face}.NO_AIR", tag=f"{sname}.{face}.power_lockout",
                             kind="discrete", priority=1, area=sname,
                             text=say("{face}: auxiliary ventilation stopped, the face to be "
                                      "de-energised", face=face),
                             condition=lambda v: v is True, clear=lambda v: v is False,
                             reason_tag=f"{sname}.{face}.switchover"))
        defs.append(AlarmDef(id=f"{sname}.{face}.AUX_TEST", tag=f"{sname}.{face}.aux_test_ok",
                             kind="discrete", priority=3, area=sname,
                             text=say("{face}: daily auxiliary fan switchover test failed",
                                      face=face),
                             condition=lambda v: v is False, clear=lambda v: v is True,
                             reason_tag=f"{sname}.{face}.aux_test"))
    low = c.nominal_airflow_m3s * c.min_airflow_pct / 100
    defs.append(AlarmDef(
        id=f"{sname}.{c.shaft_sensor}.airflow.LOW", tag=f"{sname}.{c.shaft_sensor}.airflow",
        kind="limit", priority=1, area=sname,
        text=say("{name}: shaft airflow below {pct:.0f} % of nominal",
                 name=system.name or sname, pct=c.min_airflow_pct),
        condition=lambda v: v < low, clear=lambda v: v >= low * 1.02,
        on_delay_s=c.low_airflow_delay_s))
    return defs


SPEC = SystemSpec(
    kind="ventilation", config=VentilationSystem, equipment=TYPES,
    build="fixedsite.sequences.ventilation.system:build",
    cli="fixedsite.sequences.ventilation.cli:add_verbs",
    report="fixedsite.sequences.ventilation.report:lines",
    status="fixedsite.sequences.ventilation.status:status",
    console="fixedsite.console.ventilation:SCREEN",
    console_order=30,
    check=checks.check, check_site=checks.check_site, alarms=alarms, published=published,
    objects=objects,
    hil=HilVentilation, hil_kind="fixedsite.hil.ventilation.unit:HIL",
    folders={"station": "main fan station"},
    texts=texts.ALL, text_ids=texts.ALL_IDS)
