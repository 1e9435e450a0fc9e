"""Alarm definitions: what the config says, expanded into one definition per alarm.

A limit entry with ``hh``, ``h``, ``l`` and ``ll`` becomes four alarms
(``<system>.<equipment>.level.HH`` ...); a discrete entry is one alarm on a state or a fault
bit; a quality entry alarms a tag that stays bad; a rate entry alarms a value that moves
too fast. Every controller also gets, without configuration, a communication alarm per
PLC, the alarms its systems declare (fixedsite/systems.py: an equipment's fault, a PLC on
its own fallback), and one per part of the controller that cannot do its job (a task
restarting, a scan part failing, history, audit or uplink not written): no site should
have to remember those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fixedsite import systems
from fixedsite.config import AlarmEntry, SiteConfig
from fixedsite.equipment import CONTROLLER_SIGNALS
from fixedsite.texts import say, translate

Condition = Callable[[Any], bool]


@dataclass(frozen=True)
class AlarmDef:
    id: str
    tag: str
    kind: str                  # limit | discrete | quality | rate | equipment
    priority: int              # 1 (highest) .. 4
    area: str
    text: str
    condition: Condition       # on the value (limit, discrete, equipment)
    clear: Condition           # the value at which an active alarm may clear (deadband)
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    enable_tag: str | None = None       # suppressed by design unless this tag is true
    reason_tag: str | None = None       # a tag whose text completes the message
    bad_after_s: float = 0.0            # quality alarms
    rate_per_min: float = 0.0           # rate alarms
    guard: bool = False                 # delays wait on a peer: never under the wall floor
    text_zh: str = ""                   # the text on a Chinese console (empty: ``text``)


LIMIT_TEXT = {"HH": "{text} HH ({sp})", "H": "{text} H ({sp})", "L": "{text} L ({sp})",
              "LL": "{text} LL ({sp})"}
_LIMITS = {"hh": ("HH", True), "h": ("H", True), "l": ("L", False), "ll": ("LL", False)}


def _expand(e: AlarmEntry) -> list[AlarmDef]:
    area = e.area or e.tag.split(".")[0]
    common = dict(tag=e.tag, priority=e.priority, area=area, on_delay_s=e.on_delay_s,
                  off_delay_s=e.off_delay_s, enable_tag=e.enable_when)
    if e.kind == "limit":
        out = []
        for key, (suffix, high) in _LIMITS.items():
            sp = getattr(e, key)
            if sp is None:
                continue
            db = e.deadband
            prio = e.priority if suffix in ("HH", "LL") else min(4, e.priority + 1)
            cond: Condition = (lambda v, sp=sp: v >= sp) if high else (lambda v, sp=sp: v <= sp)
            clr: Condition = (lambda v, sp=sp, db=db: v < sp - db) if high else (
                lambda v, sp=sp, db=db: v > sp + db)
            out.append(AlarmDef(id=f"{e.tag}.{suffix}", kind="limit",
                                text=say(LIMIT_TEXT[suffix], text=e.text, sp=f"{sp:g}"),
                                condition=cond, clear=clr,
                                **{**common, "priority": prio}))  # type: ignore[arg-type]
        return out
    if e.kind == "discrete":
        want = e.equals

        def is_on(v: Any) -> bool:
            return bool(v != 0) if want is None and isinstance(v, int | float) else v == want
        return [AlarmDef(id=f"{e.tag}.ALM", kind="discrete", text=e.text, condition=is_on,
                         clear=lambda v: not is_on(v), **common)]  # type: ignore[arg-type]
    if e.kind == "quality":
        return [AlarmDef(id=f"{e.tag}.BAD", kind="quality", text=say("{text}: no good value",
                                                                     text=e.text),
                         condition=lambda v: False, clear=lambda v: True,
                         bad_after_s=e.after_s, **common)]  # type: ignore[arg-type]
    return [AlarmDef(id=f"{e.tag}.ROC", kind="rate", text=say(
        "{text} changing faster than {rate}/min", text=e.text, rate=f"{e.rate_per_min:g}"),
        condition=lambda v: False,
                     clear=lambda v: True, rate_per_min=e.rate_per_min, **common)]  # type: ignore[arg-type]


def build_defs(cfg: SiteConfig) -> list[AlarmDef]:
    """The configured alarms plus the ones every site has."""
    defs = [d for e in cfg.alarms for d in _expand(e)]
    for plc in cfg.plcs:
        defs.append(AlarmDef(id=f"comm.{plc}.LOST", tag=f"comm.{plc}.online", kind="discrete",
                             priority=1, area="comm", text=say("PLC {plc}: link lost", plc=plc),
                             condition=lambda v: v is False, clear=lambda v: v is True,
                             on_delay_s=0.0, reason_tag=f"comm.{plc}.last_error"))
    for sname, system in cfg.systems.items():     # each system's own (a pump's fault)
        defs += systems.get(system.kind).alarms(cfg, sname, system)
    for part, (priority, text) in _CONTROLLER_ALARMS.items():
        if part == "uplink" and cfg.uplink is None:
            continue
        detail = "failed" if "failed" in CONTROLLER_SIGNALS[part] else "error"
        defs.append(AlarmDef(id=f"controller.{part}.FAILED", tag=f"controller.{part}.ok",
                             kind="discrete", priority=priority, area="controller",
                             text=text, condition=lambda v: v is False,
                             clear=lambda v: v is True,
                             reason_tag=f"controller.{part}.{detail}"))
    if cfg.notify is not None:
        defs.append(AlarmDef(id="notify.record.FAILED", tag="notify.record.ok",
                             kind="discrete", priority=2, area="controller",
                             text=say("Notification record cannot be written: held in "
                                      "memory"),
                             condition=lambda v: v is False, clear=lambda v: v is True,
                             reason_tag="notify.record.last_error"))
    for channel in cfg.notify.channels if cfg.notify is not None else ():
        defs.append(AlarmDef(id=f"notify.{channel}.FAILED", tag=f"notify.{channel}.ok",
                             kind="discrete", priority=2, area="controller",
                             text=say("Notification channel {channel} failing",
                                      channel=channel),
                             condition=lambda v: v is False, clear=lambda v: v is True,
                             reason_tag=f"notify.{channel}.last_error"))
    names = zh_names(cfg)
    return [replace(d, text_zh=translate(d.text, "zh_CN", names)) for d in defs]


def zh_names(cfg: SiteConfig) -> dict[str, str]:
    """Configured English names and alarm texts -> their Chinese, where the config has it."""
    out = {e.text: e.text_zh for e in cfg.alarms if e.text_zh}
    for system in cfg.systems.values():
        if system.name and system.name_zh:
            out[system.name] = system.name_zh
        out.update({eq.name: eq.name_zh for eq in system.equipment.values()
                    if eq.name and eq.name_zh})
    return out


# The controller's own parts (CONTROLLER_SIGNALS): (priority, text) of the alarm raised
# while controller.<part>.ok is false.
_CONTROLLER_ALARMS = {
    "tasks": (2, say("Controller task ended, restarting")),
    "scan": (1, say("Controller logic failing")),
    "audit": (2, say("Audit log cannot be written: commands refused")),
    "historian": (2, say("History not being written")),
    "uplink": (3, say("History uplink not delivering")),
}
