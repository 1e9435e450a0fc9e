"""Hoisting as a plug-in of the system registry (``fixedsite/systems.py``): one system
per hoist, each on its own S7 PLC; the console shows every hoist on one screen and
commands each one."""

from __future__ import annotations

from typing import Any

from fixedsite.alarms.model import AlarmDef
from fixedsite.config import SiteConfig
from fixedsite.sequences.hoist import checks, texts
from fixedsite.sequences.hoist.config import HilHoist, HoistSystem, WinderEq
from fixedsite.sequences.hoist.equipment import COMMANDS, ENUMS, TYPES
from fixedsite.systems import BuildContext, SystemSpec
from fixedsite.texts import say


def build(ctx: BuildContext, sname: str, system: HoistSystem) -> Any:
    from fixedsite.sequences.hoist.cycle import Hoist, HoistHandler

    c = system.control
    w = system.equipment[c.winder]
    assert isinstance(w, WinderEq)
    h = Hoist(sname, c, w, ctx.store, ctx.writer, ctx.clock)
    ctx.sequence(h.path, h, HoistHandler(h), COMMANDS, h.scan, h.published)

    def keep(historian: Any) -> None:
        h.historian = historian
    ctx.on_start(keep)
    return h


def alarms(cfg: SiteConfig, sname: str, system: HoistSystem) -> list[AlarmDef]:
    c, name = system.control, system.name or sname
    cyc, w, rope = f"{sname}.cycle", f"{sname}.{c.winder}", f"{sname}.{c.rope_monitor}"
    defs = [
        AlarmDef(id=f"{w}.TRIP", tag=f"{cyc}.state", kind="equipment", priority=1,
                 area=sname, text=say("{name}: protection trip", name=name),
                 condition=lambda v: v == "tripped", clear=lambda v: v != "tripped",
                 reason_tag=f"{cyc}.status"),
        AlarmDef(id=f"{cyc}.REFUSED", tag=f"{cyc}.state", kind="equipment", priority=2,
                 area=sname, text=say("{name}: a load refused", name=name),
                 condition=lambda v: v == "refused", clear=lambda v: v != "refused",
                 reason_tag=f"{cyc}.refusal"),
        AlarmDef(id=f"{rope}.DAMAGE", tag=f"{rope}.damage", kind="discrete", priority=1,
                 area=sname, text=say("{name}: rope monitor signals damage", name=name),
                 condition=lambda v: v is True, clear=lambda v: v is False),
        AlarmDef(id=f"{rope}.SPREAD", tag=f"{cyc}.rope_spread_pct", kind="limit",
                 priority=2, area=sname,
                 text=say("{name}: rope tensions {limit:.0f} % apart", name=name,
                          limit=c.rope_tension_spread_pct),
                 condition=lambda v, lim=c.rope_tension_spread_pct: v > lim,
                 clear=lambda v, lim=c.rope_tension_spread_pct: v < lim * 0.8),
        AlarmDef(id=f"{w}.ACCESS", tag=f"{w}.access_closed", kind="discrete", priority=3,
                 area=sname, text=say("{name}: winder room access open", name=name),
                 condition=lambda v: v is False, clear=lambda v: v is True),
    ]
    plc = cfg.plcs.get(system.equipment[c.winder].plc)
    grace = 2 * (plc.heartbeat_period_s + plc.poll_period_s) if plc else 0.0
    defs.append(AlarmDef(id=f"{w}.FALLBACK", tag=f"{w}.fallback", kind="discrete",
                         priority=1, area=sname,
                         text=say("{name}: controller heartbeat lost, the PLC finishes its "
                                  "trip and stops", name=name),
                         condition=lambda v: v is True, clear=lambda v: v is False,
                         on_delay_s=grace, guard=True))
    return defs


SPEC = SystemSpec(
    kind="hoist", config=HoistSystem, equipment=TYPES, commands={"winder": COMMANDS},
    build="fixedsite.sequences.hoist.system:build",
    status="fixedsite.sequences.hoist.status:status",
    console="fixedsite.console.hoist:SCREEN",
    console_order=50,
    report="fixedsite.sequences.hoist.report:lines",
    check=checks.check, check_site=checks.check_site, published=checks.published,
    alarms=alarms, hil=HilHoist, hil_kind="fixedsite.hil.hoist.unit:HIL", enums=ENUMS,
    folders={"cycle": "automatic cycle"}, texts=texts.TEXTS, text_ids=texts.IDS)
