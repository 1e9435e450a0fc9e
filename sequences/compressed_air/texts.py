"""A compressor station's texts for people, English -> Chinese (the registry's
``texts``; see fixedsite/texts.py for how the console reads them back)."""

from __future__ import annotations

# placeholders that hold ids: never translated
IDS = frozenset({"compressor", "pump"})

TEXTS: dict[str, str] = {
    # --- states, modes and trip causes (said inside other texts) -------------------------
    "unloaded": "空载", "loaded": "加载", "tripped": "跳闸", "no supply": "失电",
    "discharge over-temperature": "排气超温", "oil pressure low": "油压低",
    "cooling water lost": "冷却水中断", "motor overload": "电机过载",
    "safety valve pressure": "安全阀压力", "unknown cause": "原因不明",
    "PLC trip {code}: {cause}": "PLC 跳闸 {code}：{cause}",
    "{signal}={value} not confirmed: {why}": "{signal}={value} 写入未确认：{why}",
    "unknown mode {mode}; expected one of {modes}": "未知模式 {mode}；应为 {modes} 之一",
    "no good data from its PLC ({why})": "PLC 无有效数据（{why}）",
    "upstream supply lost: stopped, not tripped": "上级电源失电：已停机，非跳闸",
    # --- the gate: refusals and results for a compressor ---------------------------------
    "{compressor} is tripped ({why}); reset it first": "{compressor} 已跳闸（{why}）；请先复位",
    "{compressor}: its upstream supply is lost": "{compressor}：上级电源失电",
    "{compressor} is {state}, not stopped": "{compressor} 处于{state}，不是停止状态",
    "{compressor}: {n} starts in the last hour, the motor's limit":
        "{compressor}：近一小时已启动 {n} 次，达到电机限值",
    "{compressor} starting": "{compressor} 启动中",
    "{compressor} stopping": "{compressor} 停机中",
    "{compressor} loading": "{compressor} 加载中",
    "{compressor} unloading": "{compressor} 卸载中",
    "{compressor} in {mode}": "{compressor} 已切换为{mode}",
    "{compressor} reset": "{compressor} 已复位",
    "{compressor}: discharge {t} degC: the PLC keeps the trip until under {limit:.0f} degC":
        "{compressor}：排气温度 {t} ℃：降至 {limit:.0f} ℃ 以下前 PLC 保持跳闸",
    "{compressor}: cooling water not proven: the PLC keeps the trip":
        "{compressor}：冷却水未确认：PLC 保持跳闸",
    "{compressor} state unknown (no good data from its PLC); no command until it answers":
        "{compressor} 状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "{compressor} is in LOCAL at the field panel": "{compressor} 处于现场就地控制",
    "{compressor} takes no {action} command": "{compressor} 不接受 {action} 命令",
    "{compressor} is in {mode}; automatic commands are not accepted":
        "{compressor} 处于{mode}；不接受自动命令",
    "{compressor} is in {mode}; switch it to remote-manual first":
        "{compressor} 处于{mode}；请先切换为远程手动",
    "{compressor} is not tripped": "{compressor} 未跳闸",
    "{compressor} is {state}: only a running machine loads":
        "{compressor} 处于{state}：只有运行中的机组才能加载",
    "cooling water not known (no good data): {compressor} is water-cooled":
        "冷却水状态未知（无有效数据）：{compressor} 为水冷机组",
    "cooling water not proven: {compressor} is water-cooled":
        "冷却水未确认：{compressor} 为水冷机组",
    # --- alarms --------------------------------------------------------------------------
    "{name} tripped": "{name} 跳闸",
    "{name}: discharge temperature over {limit:.0f} degC": "{name}：排气温度超过 {limit:.0f} ℃",
    "{name}: cooling-water flow lost: water-cooled compressors unloaded and stopped":
        "{name}：冷却水断流：水冷空压机已卸载并停机",
    "{name}: cooling water over {limit:.0f} degC": "{name}：冷却水温度超过 {limit:.0f} ℃",
    "{name}: air pressure under {limit:.2f} MPa": "{name}：风压低于 {limit:.2f} MPa",
    "{name}: air pressure over {limit:.2f} MPa": "{name}：风压高于 {limit:.2f} MPa",
    "{name}: CO at the intake over {limit:.0f} ppm": "{name}：进气口一氧化碳超过 {limit:.0f} ppm",
    "{name}: air receiver over {limit:.0f} degC": "{name}：储气罐温度超过 {limit:.0f} ℃",
    "{name}: upstream supply lost: compressors stopped, not tripped":
        "{name}：上级电源失电：空压机已停机，非跳闸",
    "{name}: controller heartbeat lost, PLC on its own pressure switches":
        "{name}：控制器心跳丢失，PLC 按本地压力开关运行",
    # --- lead/lag ------------------------------------------------------------------------
    "in band {lo:.2f}-{hi:.2f} MPa": "压力在 {lo:.2f}-{hi:.2f} MPa 范围内",
    "{p:.3f} MPa under {lo:.2f}: no machine can be added":
        "{p:.3f} MPa 低于 {lo:.2f}：无可投入的机组",
    "pressure unknown: no step taken": "压力未知：不做调整",
    "no machine in remote-auto: {p:.3f} MPa": "无远程自动机组：{p:.3f} MPa",
    "{p:.3f} MPa under {lo:.2f}: waiting for a start": "{p:.3f} MPa 低于 {lo:.2f}：等待机组启动",
    "refused: {why}": "被拒绝：{why}",
    "not needed, idle expected {s:.0f} s": "当前不需要，预计空闲 {s:.0f} s",
    "not needed": "当前不需要",
    "PLC on its own pressure switches: no step taken": "PLC 按本地压力开关运行：不做调整",
    "PLC state not known: no step taken": "PLC 状态未知：不做调整",
    "taking the station over: watching for {s:.0f} s": "接管空压机站：先观察 {s:.0f} s",
    "no air delivered in the last hour": "近一小时无供气",
    "not loaded in the last hour": "近一小时未加载",
    "{compressor}: its PLC runs on its own pressure switches (controller heartbeat lost); "
    "no command until it answers the controller again":
        "{compressor}：其 PLC 按本地压力开关运行（控制器心跳丢失）；恢复响应控制器前不接受命令",
    "{p:.3f} MPa under {lo:.2f}: demand {d:.0f} m3/min within what runs: no start":
        "{p:.3f} MPa 低于 {lo:.2f}：用气量 {d:.0f} m3/min 未超出运行机组能力：不启动",
    "unloaded {s:.0f} s": "已空载 {s:.0f} s",
    "stopping {compressor}: {why}": "停止 {compressor}：{why}",
    "stop {compressor} refused: {why}": "停止 {compressor} 被拒绝：{why}",
    "{p:.3f} MPa over {hi:.2f}: unloading {compressor}":
        "{p:.3f} MPa 高于 {hi:.2f}：卸载 {compressor}",
    "{p:.3f} MPa under {lo:.2f}: loading {compressor}":
        "{p:.3f} MPa 低于 {lo:.2f}：加载 {compressor}",
    "{p:.3f} MPa under {lo:.2f}: starting {compressor}":
        "{p:.3f} MPa 低于 {lo:.2f}：启动 {compressor}",
    # --- cooling water -------------------------------------------------------------------
    "no good data ({why})": "无有效数据（{why}）",
    "flow proven on {pump}": "{pump} 运行，水流已确认",
    "no water-cooled machine running": "无水冷机组运行",
    "flow lost {s:.0f} s ago": "断流已 {s:.0f} s",
    "no healthy cooling-water pump": "无可用冷却水泵",
    "proving flow on {pump}": "{pump} 运行，正在确认水流",
    "run-on after the last machine stopped": "末台机组停机后延时运行",
    "flow switch reads flow with no pump running: taken as lost {s:.0f} s ago":
        "无水泵运行而流量开关显示有流量：按断流处理，已 {s:.0f} s",
    "{pump} takes no {action} command": "{pump} 不接受 {action} 命令",
    "{pump} state unknown (no good data from its PLC)": "{pump} 状态未知（PLC 无有效数据）",
    "{pump} is not tripped": "{pump} 未跳闸",
    "{pump} reset": "{pump} 已复位",
}
