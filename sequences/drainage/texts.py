"""A pump room's texts for people, English -> Chinese (the registry's ``texts``; see
fixedsite/texts.py for how the console reads them back)."""

from __future__ import annotations

# placeholders that hold ids: never translated
IDS = frozenset({"pump", "valve"})

TEXTS: dict[str, str] = {
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
    # --- the gate: refusals and results for a pump ---------------------------------------
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
    "level rule: plan suspended (hydrology)": "水位规则：错峰计划已暂停（水文联动）",
    "levels lowered {m:.2f} m (hydrology)": "启停水位已降低 {m:.2f} m（水文联动）",
    # --- hydrological linkage -------------------------------------------------------------
    "readiness normal": "排水准备：正常",
    "readiness watch: {why}": "排水准备：关注（{why}）",
    "readiness alert: {why}": "排水准备：警戒（{why}）",
    "hydrological data lost: {what}": "水文数据丢失：{what}",
    "readings under the alert thresholds for {h:.1f} h": "读数已低于警戒阈值 {h:.1f} h",
    "{name} water level {rise:.2f} m over its baseline": "{name} 水位高出基线 {rise:.2f} m",
    "{name} water pressure {rise:.3f} MPa over its baseline":
        "{name} 水压高出基线 {rise:.3f} MPa",
    "{name} inflow {q:.0f} m3/h": "{name} 涌水量 {q:.0f} m3/h",
    "start and stop levels lowered {m:.2f} m": "启停水位降低 {m:.2f} m",
    "plan suspended: inflow {q:.0f} m3/h": "错峰计划暂停：涌水量 {q:.0f} m3/h",
    "plan suspended: inflow unknown": "错峰计划暂停：涌水量未知",
    "{n} standby pumps ready": "{n} 台备用泵就绪",
    "{pump} not ready as standby: {why}": "{pump} 备用未就绪：{why}",
    "standby ready": "备用就绪",
    "standby not checked": "备用未检查",
    "standby priming": "备用泵引水中",
    "standby not ready: {why}": "备用未就绪：{why}",
    "no good data from its PLC": "其 PLC 无有效数据",
    "in {mode}: automatic control cannot start it": "处于{mode}：自动控制无法启动",
    "discharge valve reports a fault": "出水阀报故障",
    "discharge valve's fault signal unreadable": "出水阀故障信号无法读取",
    "discharge valve position unreadable": "出水阀开度无法读取",
    "discharge valve not closed": "出水阀未关闭",
    "{pump} is not stopped: its sequence primes it": "{pump} 未停止：由其启停流程引水",
    "standby priming on (read back)": "备用泵引水已开启（已回读确认）",
    "standby priming off (read back)": "备用泵引水已停止（已回读确认）",
    # --- built-in alarms ---------------------------------------------------------------
    "{name} fault": "{name} 故障",
    "{name}: controller heartbeat lost, PLC on float switches":
        "{name}：控制器心跳丢失，PLC 转浮球自控",
    "{name}: hydrological readiness raised to watch": "{name}：水文联动排水准备升至关注",
    "{name}: hydrological readiness raised to alert": "{name}：水文联动排水准备升至警戒",
    "{name}: hydrological data lost, readiness held at watch":
        "{name}：水文数据丢失，排水准备保持关注",
    "{name} not ready as standby": "{name} 备用未就绪",
}
