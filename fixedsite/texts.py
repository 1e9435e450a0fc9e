"""Every text the controller composes for people, in English and Chinese, in one place.

The controller speaks English on the wire (tag values, command reasons, alarm texts,
the audit log), so a foreign client, a log file and a support engineer read one
language. A Chinese console turns those texts back into Chinese here: each text is made
by ``say(template, **args)`` from a template of this catalogue, so the console can
recognise which template made it, read the arguments back and put them into the Chinese
template, translating an argument that is itself a text of the catalogue, a word
(a pump state, a quality reason) or a configured name. Ids, numbers and units stay as
they are. A text nobody wrote through ``say`` is shown as it came (``tests/test_texts``
fails on a ``say`` template missing from the catalogue, and on a Chinese screen with
English words left in it).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import lru_cache

# English template -> Chinese template. Placeholders keep their names (and format specs).
# The core's texts; each system adds its own (SystemSpec.texts), merged by ``catalogue()``.
CATALOGUE: dict[str, str] = {
    # --- states, modes, quality reasons: words that appear inside other texts ----------
    "stopped": "停止", "priming": "灌水", "starting": "启动中", "opening_valve": "开阀",
    "proving_flow": "确认流量",
    "opening valve": "开阀", "proving flow": "确认流量", "running": "运行",
    "stopping": "停止中", "fault": "故障",
    "unknown": "未知", "local": "就地", "remote-manual": "远程手动",
    "remote-auto": "远程自动",
    "comm_fail": "通信中断", "stale": "数据过期", "out_of_range": "超量程",
    "malformed_reply": "应答错误", "not_yet_read": "尚未读取", "sensor_fault": "传感器故障",
    "logic_error": "控制逻辑出错", "no_good_sensor": "无可用传感器",
    "sensor_disagree": "传感器读数不一致", "one_sensor_bad": "一台传感器故障",
    "disconnected": "与控制器断开",
    # --- the gate: refusals and results --------------------------------------------------
    "unknown command source {source}": "未知命令来源 {source}",
    "{user} ({role}) may not {action}: it needs the {need} role":
        "{user}（{role}）无权{action}：需要{need}角色",
    "no equipment {target} takes commands": "没有设备 {target} 接受命令",
    "audit log cannot be written: {why}": "审计日志无法写入：{why}",
    "failed: {why}": "执行失败：{why}",
    "{reason} (NOT AUDITED: {why})": "{reason}（未记入审计：{why}）",
    "auto": "自动控制", "planner": "错峰计划", "failover": "故障切换", "not set": "未设置",
    "operator": "操作员", "viewer": "查看员", "engineer": "工程师", "admin": "管理员",
    "start": "启动", "stop": "停止", "reset": "复位", "set_mode": "设置模式",
    "acknowledge": "确认", "ack": "确认报警", "shelve": "搁置", "unshelve": "取消搁置",
    "out_of_service": "停用", "alarms": "报警",
    # --- alarm actions ------------------------------------------------------------------
    "{alarm} is not waiting for acknowledgement": "{alarm} 无需确认",
    "shelving needs a duration": "搁置需要时长", "shelving needs a comment saying why":
        "搁置需要填写原因",
    "{alarm} is not shelved": "{alarm} 未被搁置",
    "alarm actions are taken by a named operator": "报警操作需由具名操作员执行",
    "no alarm {alarm}": "没有报警 {alarm}",
    "acknowledged {alarm}": "已确认 {alarm}", "shelved {alarm}": "已搁置 {alarm}",
    "unshelved {alarm}": "已取消搁置 {alarm}", "{alarm} out of service": "{alarm} 已停用",
    "{reason}: {why}": "{reason}：{why}",        # the most general: a word and its detail
    # --- the link to a PLC (what completes its comm alarm)
    "driver closed": "驱动已关闭", "no reply for {s} s": "{s} s 无应答",
    "not connected yet": "尚未连接", "connect failed": "连接失败",
    "connection refused or timed out": "连接被拒绝或超时", "not connected": "未连接",
    "connection dropped: {why}": "连接断开：{why}",
    "connection dropped while waiting for a reply": "等待应答时连接断开",
    "every read refused: PLC exception {code}": "全部读取被拒：PLC 异常码 {code}",
    "every reply malformed: {why}": "全部应答格式错误：{why}",
    "every read refused: S7 error {code}": "全部读取被拒：S7 错误码 {code}",
    # --- the drivers' write results --------------------------------------------------------
    "PLC refused the write (exception {code})": "PLC 拒绝写入（异常码 {code}）",
    "PLC refused the write (S7 error {code})": "PLC 拒绝写入（S7 错误码 {code}）",
    "no verified reply: {why}": "无可确认的应答：{why}",
    "read-back {got} differs from the value written {want}":
        "回读值 {got} 与写入值 {want} 不符",
    "{path} is not mapped to any PLC": "{path} 未映射到任何 PLC",
    # --- built-in alarms (fixed texts; what completes them is their detail) ----------------
    "PLC {plc}: link lost": "PLC {plc}：通信中断",
    "Controller task ended, restarting": "控制器任务中止，正在重启",
    "Controller logic failing": "控制器逻辑出错",
    "Audit log cannot be written: commands refused": "审计日志无法写入：拒绝操作命令",
    "History not being written": "历史数据未写入",
    "History uplink not delivering": "历史数据上传中断",
    "Notification channel {channel} failing": "报警推送通道 {channel} 发送失败",
    "Notification record cannot be written: held in memory": "报警推送记录无法写入：暂存内存",
    "{text} HH ({sp})": "{text} 高高限（{sp}）", "{text} H ({sp})": "{text} 高限（{sp}）",
    "{text} L ({sp})": "{text} 低限（{sp}）", "{text} LL ({sp})": "{text} 低低限（{sp}）",
    "{text}: no good value": "{text}：无有效值",
    "{text} changing faster than {rate}/min": "{text} 变化超过 {rate}/分钟",
}

_FIELDS = string.Formatter()
# placeholders that hold ids (a user called "admin" is not the word admin): never translated;
# a system adds its own (SystemSpec.text_ids: "pump", ...)
CORE_IDS = frozenset({"user", "alarm", "signal", "path", "target", "plc", "channel"})
IDS: set[str] = set(CORE_IDS)
# placeholders that are one word (ids and numbers)
NUMBERS = {"n", "code", "limit", "level", "ll", "flow", "min", "m3", "sp", "rate", "hhmm",
           "value"}
_merged: dict[str, str] = {}
_merged_for: tuple[object, ...] | None = None


def catalogue() -> dict[str, str]:
    """Every template this installation knows: the core's and every registered system's;
    merged again when a system is added, removed or replaced."""
    global _merged_for
    from fixedsite import systems  # the registry may change (a test registers one)

    specs = systems.registered()
    key = tuple((k, id(v)) for k, v in specs.items())
    if _merged_for != key:
        _merged.clear()
        _merged.update(CATALOGUE)
        IDS.clear()
        IDS.update(CORE_IDS)
        for spec in specs.values():
            _merged.update(spec.texts)
            IDS.update(spec.text_ids)
        _merged_for = key
        _patterns.cache_clear()
    return _merged


def say(template: str, /, **args: object) -> str:
    """The English text of ``template`` (a key of the catalogue) with ``args``. A template
    missing from the catalogue still reads in English; the test of the catalogue finds it."""
    return template.format(**args)


def _pattern(template: str) -> tuple[re.Pattern[str], list[str]]:
    parts, names = [], []
    for literal, field, _spec, _conv in _FIELDS.parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            names.append(field)     # an id or a number is one word: it cannot swallow text
            one_word = field in IDS or field in NUMBERS
            parts.append(f"(?P<{field}>\\S+?)" if one_word else f"(?P<{field}>.+?)")
    return re.compile("^" + "".join(parts) + "$", re.S), names


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """Templates with placeholders, the most literal text first, so that the most
    specific template wins over a general one like ``{text}: no good value``."""
    out = [(template, _pattern(template)[0]) for template in catalogue() if "{" in template]
    out.sort(key=lambda x: -len(re.sub(r"\{[^}]*\}", "", x[0])))
    return [(p, t) for t, p in out]


def _zh_template(template: str) -> str:
    """The Chinese template with the format specs dropped: the arguments arrive as the
    English text already shows them (``1.52``), so they are not formatted twice."""
    return re.sub(r"\{(\w+)(?:![rsa])?(?::[^}]*)?\}", r"{\1}", catalogue()[template])


def translate(text: str, lang: str, names: Mapping[str, str] | None = None) -> str:
    """``text`` in ``lang``; English and unknown texts come back as they are. ``names``
    maps configured English names (equipment, alarm texts) to the language's names."""
    if lang == "en" or not text:
        return text
    return _zh(text, names or {}, 0)


def _zh(text: str, names: Mapping[str, str], depth: int) -> str:
    known = catalogue()
    if text in known:
        return known[text]
    if text in names:
        return names[text]
    quoted = text[1:-1] if len(text) > 2 and text[0] == text[-1] == "'" else None
    if quoted is not None and (quoted in known or quoted in names):
        return _zh(quoted, names, depth + 1)
    if depth > 4:
        return text
    generic = []
    for pattern, template in _patterns():
        if not re.search(r"[A-Za-z]", re.sub(r"\{[^}]*\}", "", template)):
            generic.append((pattern, template))   # "{reason}: {why}": after the split
            continue
        m = pattern.match(text)
        if m is not None:
            return _fill(template, m, names, depth)
    if "; " in text:                    # a status and what holds it back
        return "；".join(_zh(part, names, depth + 1) for part in text.split("; "))
    for pattern, template in generic:
        m = pattern.match(text)
        if m is not None:
            return _fill(template, m, names, depth)
    return text




def _fill(template: str, m: re.Match[str], names: Mapping[str, str], depth: int) -> str:
    args = {k: v if k in IDS else _zh(v, names, depth + 1) for k, v in m.groupdict().items()}
    return _zh_template(template).format(**args)
