"""Drainage as a plug-in of the system registry (``fixedsite/systems.py``).

``SPEC`` is what the core knows of a pump room: the ``[systems.X]`` model for
``kind = "drainage"``, the equipment types, the config rules, the tags and alarms the
controller adds, and how a room is built into a controller: a voted sump level, one
``PumpSequence`` per pump behind the command gate, the level control and, with a tariff
and a ``[plan]``, the peak-valley planner. Rooms in relay are linked after all are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixedsite.alarms.model import AlarmDef
from fixedsite.config import SiteConfig
from fixedsite.sequences.drainage import checks, texts
from fixedsite.sequences.drainage.config import DrainageSystem, HilDrainage, PumpEq, SumpEq
from fixedsite.sequences.drainage.equipment import ENUMS, TYPES
from fixedsite.systems import BuildContext, CommandArg, CommandSpec, SystemSpec
from fixedsite.texts import say


@dataclass
class Room:
    """One built pump room, as the controller holds it in ``systems[name]``."""

    name: str
    level: Any            # SumpLevel
    control: Any          # LevelControl
    pumps: list[Any]      # PumpSequence, in the control's order
    planner: Any | None   # Planner
    hydrology: Any | None = None   # Hydrology: the linkage to the hydrological monitoring


_NEEDS_MANUAL = "; needs the operator role and the pump in remote-manual; answers whether " \
    "it was done and why"
PUMP_COMMANDS = (
    CommandSpec("Start", "start", "operator", "start the pump (its whole sequence: priming, "
                "motor, valve, flow proven)" + _NEEDS_MANUAL),
    CommandSpec("Stop", "stop", "operator", "stop the pump (valve closed first)" + _NEEDS_MANUAL),
    CommandSpec("Reset", "reset", "operator", "reset the pump's fault" + _NEEDS_MANUAL),
    CommandSpec("SetMode", "set_mode", "engineer", "set the pump's remote mode in its PLC; "
                "needs the engineer role", (CommandArg(
                    "mode", "string", 'the remote mode: "remote-manual" or "remote-auto" '
                    '(local is chosen at the panel), e.g. "remote-manual"',
                    ("remote-manual", "remote-auto")),)),
)


def build(ctx: BuildContext, sname: str, system: DrainageSystem) -> Room:
    from fixedsite.sequences.drainage.level import LevelControl, SumpLevel
    from fixedsite.sequences.drainage.planner import Planner
    from fixedsite.sequences.drainage.pump import PumpHandler, PumpSequence

    ctl = system.control
    sump = system.equipment[ctl.sump]
    assert isinstance(sump, SumpEq)
    level = SumpLevel(sname, ctl.sump, sump, ctl, ctx.store)
    seqs = []
    for pname in ctl.pumps:
        eq = system.equipment[pname]
        assert isinstance(eq, PumpEq)
        seq = PumpSequence(sname, pname, eq.valve, ctl, ctx.store, ctx.writer, ctx.clock)
        ctx.sequence(seq.path, seq, PumpHandler(seq, level.update), PUMP_COMMANDS,
                     seq.scan, [seq.state_tag, seq.reason_tag])
        seqs.append(seq)
    tariff = ctx.cfg.tariff
    lc = LevelControl(sname, ctl, level, seqs, ctx.gate, ctx.store, ctx.clock,
                      system.plan if tariff is not None else None)
    hydrology = None
    if system.hydrology is not None:     # before the level control: it sets its levels
        from fixedsite.sequences.drainage.hydrology import Hydrology

        hydrology = Hydrology(sname, system, lc, ctx.gate, ctx.store, ctx.clock)
        ctx.scan(f"{sname}.hydrology", hydrology.scan, hydrology.published())
    ctx.scan(f"{sname}.control", lc.scan, lc.published())
    if system.plan is not None and tariff is not None:
        lc.planner = Planner(sname, system, tariff, seqs, ctx.store, ctx.clock)
        planner = lc.planner

        def seed(historian: Any) -> None:
            if historian is None:
                return
            n = planner.seed_from(historian)
            ctx.log.info("%s planner: %d steps of measured inflow from the historian",
                         sname, n)
        ctx.on_start(seed)
    return Room(sname, level, lc, seqs, lc.planner, hydrology)


def link(ctx: BuildContext, rooms: list[Room]) -> None:
    """Rooms in relay into chains, planned by the room they discharge into."""
    from fixedsite.sequences.drainage.planner import link_relay

    link_relay([r.planner for r in rooms if r.planner is not None])


def alarms(cfg: SiteConfig, sname: str, system: DrainageSystem) -> list[AlarmDef]:
    defs = []
    for ename, eq in system.equipment.items():
        base = f"{sname}.{ename}"
        if eq.type == "pump":
            defs.append(AlarmDef(id=f"{base}.FAULT", tag=f"{base}.state", kind="equipment",
                                 priority=2, area=sname, text=say("{name} fault",
                                                                   name=eq.name or ename),
                                 condition=lambda v: v == "fault",
                                 clear=lambda v: v != "fault",
                                 reason_tag=f"{base}.fault_reason"))
        if eq.type == "plc_status":
            # A PLC is on fallback whenever no controller ran; once we run it must see
            # our heartbeat and say so within a beat and a poll. Only a fallback that
            # outlasts that is an alarm: a planned start is not.
            plc = cfg.plcs.get(eq.plc)
            grace = 2 * (plc.heartbeat_period_s + plc.poll_period_s) if plc else 0.0
            defs.append(AlarmDef(id=f"{base}.FALLBACK", tag=f"{base}.fallback",
                                 kind="discrete", priority=1, area=sname,
                                 text=say("{name}: controller heartbeat lost, PLC on float "
                                          "switches", name=eq.name or ename),
                                 condition=lambda v: v is True,
                                 clear=lambda v: v is False, on_delay_s=grace,
                                 guard=True))
    if system.hydrology is not None:
        defs += _hydrology_alarms(sname, system)
    return defs


def _hydrology_alarms(sname: str, system: DrainageSystem) -> list[AlarmDef]:
    """Raised readiness is announced as alarms (the operator is to know the room is making
    room for water), hydrological data lost, and each standby pump not ready."""
    base, room = f"{sname}.hydrology", system.name or sname
    defs = [
        AlarmDef(id=f"{base}.WATCH", tag=f"{base}.readiness", kind="discrete", priority=3,
                 area=sname, text=say("{name}: hydrological readiness raised to watch",
                                      name=room),
                 condition=lambda v: v == 1, clear=lambda v: v != 1,
                 reason_tag=f"{base}.status"),
        AlarmDef(id=f"{base}.ALERT", tag=f"{base}.readiness", kind="discrete", priority=1,
                 area=sname, text=say("{name}: hydrological readiness raised to alert",
                                      name=room),
                 condition=lambda v: v == 2, clear=lambda v: v != 2,
                 reason_tag=f"{base}.status"),
        AlarmDef(id=f"{base}.DATA_LOST", tag=f"{base}.data_lost", kind="discrete",
                 priority=2, area=sname,
                 text=say("{name}: hydrological data lost, readiness held at watch",
                          name=room),
                 condition=lambda v: v is True, clear=lambda v: v is False,
                 reason_tag=f"{base}.status")]
    not_ready = say("standby not ready: {why}", why="")
    for pname in system.control.pumps:
        eq = system.equipment[pname]
        defs.append(AlarmDef(
            id=f"{sname}.{pname}.NOT_READY", tag=f"{sname}.{pname}.standby",
            kind="discrete", priority=2, area=sname,
            text=say("{name} not ready as standby", name=eq.name or pname),
            condition=lambda v: isinstance(v, str) and v.startswith(not_ready),
            clear=lambda v: not (isinstance(v, str) and v.startswith(not_ready)),
            reason_tag=f"{sname}.{pname}.standby"))
    return defs


def rooms(systems: dict[str, Any]) -> list[Room]:
    """The pump rooms among a controller's built systems."""
    return [s for s in systems.values() if isinstance(s, Room)]


SPEC = SystemSpec(
    kind="drainage", config=DrainageSystem, equipment=TYPES, commands={"pump": PUMP_COMMANDS},
    build="fixedsite.sequences.drainage.system:build",
    link="fixedsite.sequences.drainage.system:link",
    status="fixedsite.sequences.drainage.status:status",
    cli="fixedsite.sequences.drainage.cli:add_verbs",
    console="fixedsite.console.drainage:SCREEN",
    console_order=10,
    check=checks.check, check_site=checks.check_site, published=checks.published,
    ranges=checks.ranges, alarms=alarms, hil=HilDrainage,
    hil_kind="fixedsite.hil.drainage.unit:HIL", enums=ENUMS,
    folders={"control": "level control", "plan": "peak-valley plan",
             "hydrology": "hydrological linkage"},
    texts=texts.TEXTS, text_ids=texts.IDS)
