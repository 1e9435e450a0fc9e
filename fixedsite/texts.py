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
CATALOGUE: dict[str, str] = {
    # --- pump states, modes, quality reasons: words that appear inside other texts -------
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
    # --- pump sequence: fault reasons ----------------------------------------------------
    "motor overload relay tripped": "电机过载继电器动作",
    "dry running: PLC stopped the pump": "干运行：PLC 已停泵",
    "PLC trip": "PLC 跳闸",
    "PLC trip {code}: {cause}": "PLC 跳闸 {code}：{cause}",
    "unknown cause": "原因不明",
    "{step} not complete within {limit:.0f} s: {why}": "{step}未在 {limit:.0f} s 内完成：{why}",
    "casing not primed": "泵体未灌满", "no running feedback": "无运行反馈",
    "valve open limit not reached": "阀门未到全开限位",
    "valve not closed or motor still running": "阀门未关闭或电机仍在运行",
    "valve open, no flow meter": "阀门已开，无流量计",
    "flow meter reads no good value ({reason})": "流量计无有效读数（{reason}）",
    "flow {flow:.0f} m3/h below {min:.0f}": "流量 {flow:.0f} m3/h 低于 {min:.0f}",
    "{signal}={value} not confirmed: {why}": "{signal}={value} 写入未确认：{why}",
    "{signal}={value} not confirmed on adoption: {why}":
        "{signal}={value} 接管时写入未确认：{why}",
    # --- the gate: refusals and results --------------------------------------------------
    "{pump} state unknown (no good data from its PLC); no command until it answers":
        "{pump} 状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "{pump} is in LOCAL at the field panel": "{pump} 处于现场就地控制",
    "{pump} mode register holds {value}; expected 1 (remote-manual) or 2 (remote-auto): "
    "set the mode first":
        "{pump} 模式寄存器值为 {value}；应为 1（远程手动）或 2（远程自动）：请先设置模式",
    "unknown mode {mode}; expected one of {modes}": "未知模式 {mode}；应为 {modes} 之一",
    "{pump} is not faulted": "{pump} 没有故障",
    "{pump} takes no {action} command": "{pump} 不接受 {action} 命令",
    "{pump} is in {mode}; automatic commands are not accepted":
        "{pump} 处于{mode}；不接受自动命令",
    "{pump} is in remote-auto; switch it to remote-manual first":
        "{pump} 处于远程自动；请先切换到远程手动",
    "{pump} is faulted ({why}); reset it first": "{pump} 故障（{why}）；请先复位",
    "{pump} is still stopping": "{pump} 仍在停止过程中",
    "discharge valve {valve} reports a fault": "出水阀 {valve} 报故障",
    "discharge valve {valve}'s fault signal reads no good value":
        "出水阀 {valve} 的故障信号无有效值",
    "sump level unknown: no good level sensor": "水仓水位未知：无可用液位计",
    "sump level {level:.2f} m is at or below low-low {ll} m: the pump would run dry":
        "水仓水位 {level:.2f} m 不高于低低限 {ll} m：水泵将干运行",
    "mode {mode} (PLC read back {value})": "模式已设为{mode}（PLC 回读 {value}）",
    "PLC keeps the trip (cause still present): {why}": "PLC 保持跳闸（原因仍在）：{why}",
    "reset (PLC read back fault code {value})": "已复位（PLC 回读故障码 {value}）",
    "PLC still reports a fault": "PLC 仍报故障",
    "already running or starting": "已在运行或启动中", "already stopped": "已经停止",
    "now {state} (commands read back)": "现为{state}（命令已回读确认）",
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
    # --- the drivers' write results --------------------------------------------------------
    "PLC refused the write (exception {code})": "PLC 拒绝写入（异常码 {code}）",
    "no verified reply: {why}": "无可确认的应答：{why}",
    "read-back {got} differs from the value written {want}":
        "回读值 {got} 与写入值 {want} 不符",
    "{path} is not mapped to any PLC": "{path} 未映射到任何 PLC",
    # --- level control and the plan -----------------------------------------------------
    "holding: sump level unknown": "保持：水仓水位未知",
    "starting: reading every pump's state": "启动中：正在读取各泵状态",
    "high-high: all available pumps": "高高水位：全部可用泵运行",
    "demand {n} ({mode})": "需求 {n} 台（{mode}）",
    "level rule": "水位规则", "level rule (no fresh plan)": "水位规则（无最新计划）",
    "level rule: above the plan's band": "水位规则：高于计划水位带",
    "level rule: below the plan's band": "水位规则：低于计划水位带",
    "plan": "错峰计划",
    "start held: {why}": "启动暂缓：{why}",
    "{pump} has had {n} starts in 24 h": "{pump} 24 小时内已启动 {n} 次",
    "{pump} rests until {hhmm}": "{pump} 休息至 {hhmm}",
    "stop held: minimum run until {hhmm}": "停止暂缓：最短运行至 {hhmm}",
    "high-high: min rest / starts cap": "高高水位：越过最短停歇/启动次数限制",
    "near low-low: min run": "接近低低水位：越过最短运行",
    "planning failed: level control alone": "计划失败：仅按水位控制",
    "{n} pumps available": "{n} 台泵可用",
    "band cannot hold: {m3:.0f} m3 over": "水位带无法保持：超出 {m3:.0f} m3",
    "optimal (DP, 0.5 m3 grid)": "最优（动态规划，0.5 m3 网格）",
    "relay: DP per room, bottom up (0.5 m3 grid)":
        "接力排水：逐泵房动态规划，自下而上（0.5 m3 网格）",
    # --- built-in alarms (fixed texts; what completes them is their detail) ----------------
    "PLC {plc}: link lost": "PLC {plc}：通信中断",
    "{name} fault": "{name} 故障",
    "{name}: controller heartbeat lost, PLC on float switches":
        "{name}：控制器心跳丢失，PLC 转浮球自控",
    "Controller task ended, restarting": "控制器任务中止，正在重启",
    "Controller logic failing": "控制器逻辑出错",
    "Audit log cannot be written: commands refused": "审计日志无法写入：拒绝操作命令",
    "History not being written": "历史数据未写入",
    "History uplink not delivering": "历史数据上传中断",
    "{text} HH ({sp})": "{text} 高高限（{sp}）", "{text} H ({sp})": "{text} 高限（{sp}）",
    "{text} L ({sp})": "{text} 低限（{sp}）", "{text} LL ({sp})": "{text} 低低限（{sp}）",
    "{text}: no good value": "{text}：无有效值",
    "{text} changing faster than {rate}/min": "{text} 变化超过 {rate}/分钟",
}

_FIELDS = string.Formatter()
# placeholders that hold ids (a user called "admin" is not the word admin): never translated
IDS = frozenset({"user", "pump", "alarm", "signal", "path", "target", "valve", "plc"})
# placeholders that are one word (ids and numbers)
WORDS = IDS | {"n", "code", "limit", "level", "ll", "flow", "min", "m3", "sp", "rate",
               "hhmm", "value"}


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
            parts.append(f"(?P<{field}>\\S+?)" if field in WORDS else f"(?P<{field}>.+?)")
    return re.compile("^" + "".join(parts) + "$", re.S), names


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """Templates with placeholders, the most literal text first, so that the most
    specific template wins over a general one like ``{text}: no good value``."""
    out = [(template, _pattern(template)[0]) for template in CATALOGUE if "{" in template]
    out.sort(key=lambda x: -len(re.sub(r"\{[^}]*\}", "", x[0])))
    return [(p, t) for t, p in out]


def _zh_template(template: str) -> str:
    """The Chinese template with the format specs dropped: the arguments arrive as the
    English text already shows them (``1.52``), so they are not formatted twice."""
    return re.sub(r"\{(\w+)(?:![rsa])?(?::[^}]*)?\}", r"{\1}", CATALOGUE[template])


def translate(text: str, lang: str, names: Mapping[str, str] | None = None) -> str:
    """``text`` in ``lang``; English and unknown texts come back as they are. ``names``
    maps configured English names (equipment, alarm texts) to the language's names."""
    if lang == "en" or not text:
        return text
    return _zh(text, names or {}, 0)


def _zh(text: str, names: Mapping[str, str], depth: int) -> str:
    if text in CATALOGUE:
        return CATALOGUE[text]
    if text in names:
        return names[text]
    quoted = text[1:-1] if len(text) > 2 and text[0] == text[-1] == "'" else None
    if quoted is not None and (quoted in CATALOGUE or quoted in names):
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
