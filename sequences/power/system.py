"""Power supply as a plug-in of the system registry (``fixedsite/systems.py``).

``SPEC`` is what the core knows of a power system: the ``[systems.X]`` model for
``kind = "power"``, the breaker and substation types (their signals from the relay
profile), the config rules, the built-in alarms, its HIL (pandapower network, relays) and
its ``power`` verb.

Built into a controller: each breaker's state word and the network's structure as tags
(``breakers``), the scheme's settings written and verified (``settings``), the blocking
links supervised with the fallback group (``links``), fault analysis (``soe``,
``records``), restoration and transfer (``restore``), dispatch through the interlocks
(``ticket``), power quality and early warnings (``quality``, ``warnings``).
The relays clear faults by themselves; nothing here is in the trip path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fixedsite.alarms.model import AlarmDef
from fixedsite.config import SiteConfig
from fixedsite.sequences.power import breakers, checks, texts, timing
from fixedsite.sequences.power.config import BreakerEq, HilPower, PowerSystem, SubstationEq
from fixedsite.sequences.power.equipment import TYPES
from fixedsite.sequences.power.ticket import BREAKER_COMMANDS
from fixedsite.systems import BuildContext, SystemSpec
from fixedsite.texts import say


@dataclass
class Power:
    """One built power system, as the controller holds it in ``systems[name]``."""

    name: str
    config: PowerSystem
    parts: dict[str, Any] = field(default_factory=dict)


def build(ctx: BuildContext, sname: str, system: PowerSystem) -> Power:
    from fixedsite.sequences.power import restore, scheme, switching
    from fixedsite.sequences.power.links import LinkSupervisor
    from fixedsite.sequences.power.records import FaultRecorder
    from fixedsite.sequences.power.repair import REPAIR_COMMANDS, RepairHandler
    from fixedsite.sequences.power.settings import (
        SETTINGS_COMMANDS,
        SettingsHandler,
        SettingsWriter,
    )

    built = Power(sname, system)
    waits = timing.waits(ctx.cfg, system, ctx.clock)
    states = breakers.BreakerStates(sname, system, ctx.store)
    ctx.scan(states.path, states.scan, states.published)
    # the settings are written before the links are judged (a relay's subscriptions are
    # part of its settings)
    sch = scheme.engineer(system)
    sw = SettingsWriter(sname, system, ctx.store, ctx.writer, ctx.clock, sch)
    ctx.sequence(sw.path, sw, SettingsHandler(sw), SETTINGS_COMMANDS, sw.scan, sw.published)
    sup = LinkSupervisor(sname, system, ctx.store, ctx.writer, ctx.clock, ctx.gate, sch,
                         waits)
    ctx.gate.register(sup.path, sup.handler, {})
    ctx.scan(sup.path, sup.scan, sup.published)
    # a trip is analysed (SOE, location, COMTRADE) before restoration hears of it; the
    # executor asks restoration which sections are located faulted (nothing closes onto
    # them) and restoration runs its plans through the executor
    rec = FaultRecorder(sname, system, ctx.store, ctx.clock, ctx.cfg.storage_dir(),
                        waits=waits)
    ctx.scan(rec.path, rec.scan, rec.published)
    ex = switching.wire(ctx, sname, system, faulted=lambda: built.parts["restore"].faulted(),
                        waits=waits)
    rst = restore.wire(ctx, sname, system, ex, waits)
    rec.on_fault.append(rst.on_fault)
    ctx.gate.register(rec.path, RepairHandler(rst), {c.action: c.role for c in REPAIR_COMMANDS})
    ctx.commands[rec.path] = REPAIR_COMMANDS

    from fixedsite.sequences.power.monitoring import Monitoring

    mon = Monitoring(sname, system, ctx.store, ctx.clock)
    ctx.scan(mon.path, mon.scan, mon.published)

    def records_to(historian: Any) -> None:
        rec.historian = historian
    ctx.on_start(records_to)
    built.parts["monitoring"] = mon
    built.parts |= {"breakers": states, "scheme": sch, "settings": sw, "links": sup,
                    "records": rec, "executor": ex, "restore": rst}
    return built


def objects(sname: str, system: PowerSystem) -> dict[str, str]:
    """Buses, links and the system's own parts, for a client to find by kind."""
    out = {f"{sname}.{b}": "bus" for b in system.network.buses}
    out |= {f"{sname}.{lk}": "link" for lk in system.network.links}
    out |= {f"{sname}.ticket": "ticket", f"{sname}.scheme": "scheme",
            f"{sname}.links": "links", f"{sname}.fault": "fault",
            f"{sname}.restore": "restore"}
    return out


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    from fixedsite.sequences.power import links, monitoring, records, restore, settings, switching

    return breakers.published(sname, system) | switching.published(sname, system) | \
        settings.published(sname, system) | links.published(sname, system) | \
        records.published(sname) | restore.published(sname, system) | \
        monitoring.published(sname, system)


def alarms(cfg: SiteConfig, sname: str, system: PowerSystem) -> list[AlarmDef]:
    defs: list[AlarmDef] = []
    for ename, eq in system.equipment.items():
        base, name = f"{sname}.{ename}", eq.name or ename
        if isinstance(eq, SubstationEq):
            # a fire in a substation is for people to act on: it trips nothing by itself
            defs.append(AlarmDef(id=f"{base}.FIRE", tag=f"{base}.fire", kind="discrete",
                                 priority=1, area=sname,
                                 text=say("{name}: fire detector in alarm", name=name),
                                 condition=lambda v: v is True, clear=lambda v: v is False))
            defs.append(AlarmDef(id=f"{base}.FIRE_FAULT", tag=f"{base}.fire_fault",
                                 kind="discrete", priority=3, area=sname,
                                 text=say("{name}: fire detection loop faulty", name=name),
                                 condition=lambda v: v is True, clear=lambda v: v is False))
            defs.append(AlarmDef(id=f"{base}.GATEWAY", tag=f"{base}.gateway_ok",
                                 kind="discrete", priority=2, area=sname,
                                 text=say("{name}: a relay does not answer its gateway",
                                          name=name),
                                 condition=lambda v: v is False, clear=lambda v: v is True))
        elif isinstance(eq, BreakerEq):
            defs.append(AlarmDef(id=f"{base}.TRIP", tag=f"{base}.trip_code",
                                 kind="discrete", priority=2, area=sname,
                                 text=say("{name} tripped by its protection", name=name),
                                 condition=lambda v: v not in (0, 0.0),
                                 clear=lambda v: v in (0, 0.0)))
            defs.append(AlarmDef(id=f"{base}.RELAY", tag=f"{base}.healthy",
                                 kind="discrete", priority=2, area=sname,
                                 text=say("{name}: protection relay not healthy", name=name),
                                 condition=lambda v: v is False, clear=lambda v: v is True))
            defs.append(AlarmDef(id=f"{base}.GROUP", tag=f"{base}.group_error",
                                 kind="equipment", priority=2, area=sname,
                                 text=say("{name}: settings group not switched", name=name),
                                 condition=lambda v: bool(v), clear=lambda v: not v,
                                 reason_tag=f"{base}.group_error"))
    for lk in system.network.links:
        base = f"{sname}.{lk}"
        defs.append(AlarmDef(id=f"{base}.LINK", tag=f"{base}.state", kind="equipment",
                             priority=2, area=sname,
                             text=say("blocking link {link} unhealthy: its relay on the "
                                      "time-graded fallback group", link=lk),
                             condition=lambda v: v in ("lost", "slow"),
                             clear=lambda v: v == "ok", reason_tag=f"{base}.state"))
    defs.append(AlarmDef(id=f"{sname}.scheme.SETTINGS", tag=f"{sname}.scheme.settings_ok",
                         kind="discrete", priority=2, area=sname,
                         text=say("{name}: relay settings differ from the scheme",
                                  name=system.name or sname),
                         condition=lambda v: v is False, clear=lambda v: v is True,
                         # a poll that was on its way while a setting was written reads
                         # the old value once: a real difference stays
                         on_delay_s=timing.config_waits(cfg, system).at_least(5.0, 2)))
    f = f"{sname}.fault"
    defs.append(AlarmDef(id=f"{f}.OVERTRIP", tag=f"{f}.verdict", kind="discrete",
                         priority=1, area=sname,
                         text=say("{name}: overtrip: a breaker upstream of the fault opened",
                                  name=system.name or sname),
                         condition=lambda v: v == "overtrip", clear=lambda v: v != "overtrip",
                         reason_tag=f"{f}.summary"))
    defs.append(AlarmDef(id=f"{f}.UNCLEARED", tag=f"{f}.verdict", kind="discrete",
                         priority=1, area=sname,
                         text=say("{name}: a fault was not cleared by any breaker",
                                  name=system.name or sname),
                         condition=lambda v: v == "not cleared",
                         clear=lambda v: v != "not cleared", reason_tag=f"{f}.summary"))
    defs.append(AlarmDef(id=f"{f}.RECORD", tag=f"{f}.record_error", kind="equipment",
                         priority=3, area=sname,
                         text=say("{name}: fault record not written",
                                  name=system.name or sname),
                         condition=lambda v: bool(v), clear=lambda v: not v,
                         reason_tag=f"{f}.record_error"))
    for bus, spec in system.network.buses.items():
        defs.append(AlarmDef(id=f"{sname}.{bus}.QUALITY", tag=f"{sname}.{bus}.quality",
                             kind="equipment", priority=3, area=sname,
                             text=say("{name}: power quality out of limits",
                                      name=spec.name or bus),
                             condition=lambda v: v not in ("ok", "dead", "not measured", None),
                             clear=lambda v: v in ("ok", "dead", "not measured"),
                             on_delay_s=60.0, reason_tag=f"{sname}.{bus}.quality"))
    for ename, eq in system.equipment.items():
        if isinstance(eq, BreakerEq):
            defs.append(AlarmDef(id=f"{sname}.{ename}.WARNING", tag=f"{sname}.{ename}.warning",
                                 kind="equipment", priority=4, area=sname,
                                 text=say("{name}: early warning", name=eq.name or ename),
                                 condition=lambda v: bool(v), clear=lambda v: not v,
                                 on_delay_s=30.0, reason_tag=f"{sname}.{ename}.warning"))
    r = f"{sname}.restore"
    defs.append(AlarmDef(id=f"{r}.FAILED", tag=f"{r}.state", kind="equipment", priority=1,
                         area=sname, text=say("{name}: restoration failed",
                                              name=system.name or sname),
                         condition=lambda v: v == "failed", clear=lambda v: v != "failed",
                         reason_tag=f"{r}.status"))
    defs.append(AlarmDef(id=f"{r}.PROPOSAL", tag=f"{r}.state", kind="discrete", priority=2,
                         area=sname, text=say("{name}: a restoration plan awaits the operator",
                                              name=system.name or sname),
                         condition=lambda v: v == "proposal", clear=lambda v: v != "proposal",
                         reason_tag=f"{r}.plan"))
    return defs


SPEC = SystemSpec(
    kind="power", config=PowerSystem, equipment=TYPES,
    build="fixedsite.sequences.power.system:build",
    cli="fixedsite.sequences.power.cli:add_verbs",
    console="fixedsite.console.power:SCREEN",
    console_order=20,
    status="fixedsite.sequences.power.status:status",
    check=checks.check, alarms=alarms, published=published, objects=objects,
    hil=HilPower, hil_kind="fixedsite.hil.power.unit:HIL",
    commands={"breaker": BREAKER_COMMANDS},
    folders={"ticket": "switching ticket", "scheme": "protection scheme",
             "links": "blocking links", "fault": "last fault", "soe": "event records",
             "restore": "restoration", "monitoring": "power quality and warnings"},
    texts=texts.ALL, text_ids=texts.ALL_IDS)
