"""Compressed air as a plug-in of the system registry (``fixedsite/systems.py``).

``SPEC`` is what the core knows of a compressor station: the ``[systems.X]`` model for
``kind = "compressed_air"``, its equipment types (filled from the station PLC's profile),
the config rules, the tags and alarms the controller adds, and how a station is built
into a controller: one ``Compressor`` per machine behind the command gate, the
cooling-water circuit, and the lead/lag ``StationControl`` that commands the machines in
remote-auto through the same gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixedsite.alarms.model import AlarmDef
from fixedsite.config import SiteConfig
from fixedsite.sequences.compressed_air import checks, texts
from fixedsite.sequences.compressed_air.config import (
    CompressedAirSystem,
    CompressorEq,
    CoolingEq,
    HilCompressedAir,
    StationEq,
    WaterPumpEq,
)
from fixedsite.sequences.compressed_air.equipment import COMMANDS, ENUMS, PUMP_COMMANDS, TYPES
from fixedsite.systems import BuildContext, SystemSpec
from fixedsite.texts import say


@dataclass
class Station:
    """One built compressor station, as the controller holds it in ``systems[name]``."""

    name: str
    machines: list[Any]       # Compressor, in the lead/lag list's order
    cooling: Any | None       # CoolingWater
    control: Any              # StationControl


def build(ctx: BuildContext, sname: str, system: CompressedAirSystem) -> Station:
    from fixedsite.sequences.compressed_air.compressor import Compressor, CompressorHandler
    from fixedsite.sequences.compressed_air.cooling import CoolingWater, PumpHandler
    from fixedsite.sequences.compressed_air.station import StationControl

    c = system.control
    cooling = None
    if c.cooling is not None:
        eq = system.equipment[c.cooling]
        assert isinstance(eq, CoolingEq)
        cooling = CoolingWater(sname, c.cooling, eq, c, ctx.store, ctx.writer, ctx.clock)
        ctx.scan(cooling.path, cooling.scan, cooling.published)
        for p in eq.pumps:
            ctx.gate.register(f"{sname}.{p}", PumpHandler(cooling, p),
                              {cmd.action: cmd.role for cmd in PUMP_COMMANDS})
            ctx.commands[f"{sname}.{p}"] = PUMP_COMMANDS
    machines = []
    for n in c.compressors:
        eq = system.equipment[n]
        assert isinstance(eq, CompressorEq)
        m = Compressor(sname, n, eq, ctx.store, ctx.writer, ctx.clock,
                       cooling.proven if cooling is not None else lambda: True,
                       f"{sname}.{c.station}.fallback")
        ctx.sequence(m.path, m, CompressorHandler(m), COMMANDS, m.scan, m.published)
        machines.append(m)
    sc = StationControl(sname, c, machines, cooling, ctx.gate, ctx.store, ctx.clock)
    ctx.scan(sc.path, sc.scan, sc.published)

    def keep(historian: Any) -> None:
        sc.historian = historian
    ctx.on_start(keep)
    return Station(sname, machines, cooling, sc)


def alarms(cfg: SiteConfig, sname: str, system: CompressedAirSystem) -> list[AlarmDef]:
    c, defs = system.control, []

    def add(id_: str, tag: str, prio: int, text: str, cond: Any, clear: Any,
            kind: str = "discrete", **kw: Any) -> None:
        defs.append(AlarmDef(id=id_, tag=tag, kind=kind, priority=prio, area=sname,
                             text=text, condition=cond, clear=clear, **kw))
    for n, eq in system.equipment.items():
        base, name = f"{sname}.{n}", eq.name or n
        if isinstance(eq, CompressorEq):
            add(f"{base}.TRIP", f"{base}.state", 2, say("{name} tripped", name=name),
                lambda v: v == "tripped", lambda v: v != "tripped", kind="equipment",
                reason_tag=f"{base}.fault_reason")
            lim = c.discharge_alarm_c
            add(f"{base}.DISCHARGE_T", f"{base}.discharge_temp", 2,
                say("{name}: discharge temperature over {limit:.0f} degC", name=name,
                    limit=lim), lambda v, lim=lim: v > lim, lambda v, lim=lim: v < lim - 5,
                kind="limit")
        elif isinstance(eq, WaterPumpEq):
            add(f"{base}.TRIP", f"{base}.tripped", 3, say("{name} tripped", name=name),
                lambda v: v is True, lambda v: v is False)
        elif isinstance(eq, CoolingEq):
            add(f"{base}.LOST", f"{base}.state", 2,
                say("{name}: cooling-water flow lost: water-cooled compressors unloaded "
                    "and stopped", name=name), lambda v: v == "lost",
                lambda v: v != "lost", reason_tag=f"{base}.status")
            lim = c.water_temp_alarm_c
            add(f"{base}.WATER_T", f"{base}.water_temp", 3,
                say("{name}: cooling water over {limit:.0f} degC", name=name, limit=lim),
                lambda v, lim=lim: v > lim, lambda v, lim=lim: v < lim - 2, kind="limit")
        elif isinstance(eq, StationEq):
            lo, hi = c.low_alarm_mpa, c.high_alarm_mpa
            add(f"{base}.PRESSURE_L", f"{base}.pressure", 2,
                say("{name}: air pressure under {limit:.2f} MPa", name=name, limit=lo),
                lambda v, lo=lo: v < lo, lambda v, lo=lo: v > lo + 0.02, kind="limit",
                on_delay_s=30.0)
            add(f"{base}.PRESSURE_H", f"{base}.pressure", 3,
                say("{name}: air pressure over {limit:.2f} MPa", name=name, limit=hi),
                lambda v, hi=hi: v > hi, lambda v, hi=hi: v < hi - 0.02, kind="limit")
            lim = c.co_alarm_ppm
            add(f"{base}.CO", f"{base}.co", 2,
                say("{name}: CO at the intake over {limit:.0f} ppm", name=name, limit=lim),
                lambda v, lim=lim: v > lim, lambda v, lim=lim: v < lim * 0.8, kind="limit")
            lim = c.receiver_alarm_c
            add(f"{base}.RECEIVER_T", f"{base}.receiver_temp", 2,
                say("{name}: air receiver over {limit:.0f} degC", name=name, limit=lim),
                lambda v, lim=lim: v > lim, lambda v, lim=lim: v < lim - 5, kind="limit")
            add(f"{base}.SUPPLY", f"{base}.supply_ok", 2,
                say("{name}: upstream supply lost: compressors stopped, not tripped",
                    name=name), lambda v: v is False, lambda v: v is True)
            plc = cfg.plcs.get(eq.plc)
            grace = 2 * (plc.heartbeat_period_s + plc.poll_period_s) if plc else 0.0
            add(f"{base}.FALLBACK", f"{base}.fallback", 1,
                say("{name}: controller heartbeat lost, PLC on its own pressure switches",
                    name=name), lambda v: v is True, lambda v: v is False,
                on_delay_s=grace, guard=True)
    return defs


def stations(systems: dict[str, Any]) -> list[Station]:
    return [s for s in systems.values() if isinstance(s, Station)]


SPEC = SystemSpec(
    kind="compressed_air", config=CompressedAirSystem, equipment=TYPES,
    commands={"compressor": COMMANDS, "water_pump": PUMP_COMMANDS},
    build="fixedsite.sequences.compressed_air.system:build",
    status="fixedsite.sequences.compressed_air.status:status",
    console="fixedsite.console.compressed_air:SCREEN",
    console_order=40,
    report="fixedsite.sequences.compressed_air.report:lines",
    check=checks.check, check_site=checks.check_site, published=checks.published,
    alarms=alarms, hil=HilCompressedAir,
    hil_kind="fixedsite.hil.compressed_air.unit:HIL", enums=ENUMS,
    folders={"control": "lead/lag control"},
    texts=texts.TEXTS, text_ids=texts.IDS)
