"""The power system's texts for people, English -> Chinese (the registry's ``texts``),
gathered from the modules that compose them (each keeps its own ``TEXTS`` beside its
code)."""

from __future__ import annotations

import importlib

# placeholders that hold ids: never translated
IDS = frozenset({"breaker", "bus", "link", "section", "source", "device", "substation",
                 "steps", "signals", "id"})

TEXTS: dict[str, str] = {
    "{name}: fire detector in alarm": "{name}：火灾探测器报警",
    "{name}: fire detection loop faulty": "{name}：火灾探测回路故障",
    "{name}: a relay does not answer its gateway": "{name}：有保护装置未响应通讯管理机",
    "{name} tripped by its protection": "{name} 保护跳闸",
    "{name}: protection relay not healthy": "{name}：保护装置异常",
    "{name}: settings group not switched": "{name}：定值区切换失败",
    "blocking link {link} unhealthy: its relay on the time-graded fallback group":
        "闭锁通道 {link} 异常：其保护已切至时间级差后备定值区",
    "{name}: relay settings differ from the scheme": "{name}：保护定值与整定方案不符",
    "{name}: overtrip: a breaker upstream of the fault opened":
        "{name}：越级跳闸：故障上级断路器分闸",
    "{name}: a fault was not cleared by any breaker": "{name}：故障未被任何断路器切除",
    "{name}: fault record not written": "{name}：故障录波未能保存",
    "{name}: restoration failed": "{name}：恢复供电失败",
    "{name}: power quality out of limits": "{name}：电能质量超限",
    "{name}: early warning": "{name}：故障预警",
    "{name}: a restoration plan awaits the operator": "{name}：恢复供电方案待操作员确认",
}

_MODULES = ("scheme", "settings", "links", "soe", "locate", "comtrade", "records",
            "interlocks", "ticket", "switching", "restore_plan", "restore", "quality",
            "warnings", "report", "cli", "repair", "monitoring")


def _gather() -> tuple[dict[str, str], frozenset[str]]:
    out, ids = dict(TEXTS), set(IDS)
    for m in _MODULES:
        try:
            mod = importlib.import_module(f"fixedsite.sequences.power.{m}")
        except ModuleNotFoundError as e:
            if e.name != f"fixedsite.sequences.power.{m}":
                raise
            continue
        out |= getattr(mod, "TEXTS", {})
        ids |= set(getattr(mod, "IDS", ()))
    return out, frozenset(ids)


ALL, ALL_IDS = _gather()
