"""A hoist's texts for people, English -> Chinese (the registry's ``texts``)."""

from __future__ import annotations

IDS: frozenset[str] = frozenset()

TEXTS: dict[str, str] = {
    # --- states and causes (said inside other texts) -------------------------------------
    "idle": "空闲", "loading": "装载中", "charging": "装入箕斗", "hoisting": "提升中",
    "dumping": "卸载中", "returning": "下放中", "paused": "暂停", "refused": "拒绝",
    "overspeed": "超速", "overwind": "过卷", "slack rope": "松绳", "overload": "过载",
    "deceleration supervision": "减速监视", "brake shoe gap": "闸瓦间隙",
    "depth indicator failure": "深度指示器失效", "motor overcurrent": "电机过流",
    # --- the cycle -----------------------------------------------------------------------
    "hoisting {t:.1f} t": "提升 {t:.1f} t",
    "brake test not passed": "制动试验未通过",
    "rope monitor signals damage": "钢丝绳在线监测报损伤",
    "winder room access open": "提升机房门未关",
    "chute open": "溜槽未关",
    "the skip is not at the loading station": "箕斗不在装载位置",
    "feeding to {t:.1f} t": "给料至 {t:.1f} t",
    "{t:.2f} t into the skip": "{t:.2f} t 装入箕斗",
    "no good data from the hoist's PLC ({why})": "提升机 PLC 无有效数据（{why}）",
    "LOCAL at the winder's desk": "司机台就地控制",
    "the PLC lost the controller's heartbeat: no command": "PLC 失去控制器心跳：不发命令",
    "surface bin {level:.0f} %: hoisting waits for {resume:.0f} %":
        "地面仓 {level:.0f} %：提升等待降至 {resume:.0f} %",
    "ore bin {level:.0f} %: loading waits for {resume:.0f} %":
        "井下矿仓 {level:.0f} %：装载等待升至 {resume:.0f} %",
    "feeder does not stop: {t:.2f} t in the hopper": "给料机停不下来：定量斗内 {t:.2f} t",
    "over-weight load refused: {t:.2f} t over {limit:.2f} t":
        "超重装载被拒绝：{t:.2f} t 超过 {limit:.2f} t",
    "second load refused: the skip holds {t:.1f} t already":
        "重复装载被拒绝：箕斗内已有 {t:.1f} t",
    "no load within {s:.0f} s (ore not flowing)": "{s:.0f} s 内未装够（矿料不下）",
    "automatic cycle off": "自动循环已关闭",
    "in {mode}: the cycle waits for remote-auto": "{mode}：自动循环等待远程自动",
    "skip loaded: {t:.2f} t": "箕斗已装载：{t:.2f} t",
    "feeder stopped at {t:.2f} t": "给料机在 {t:.2f} t 停止",
    "dumping into the surface bin": "向地面仓卸载",
    "{state}: {x:.0f} m": "{state}：{x:.0f} m",
    "the skip stopped between the ends: the operator decides": "箕斗停在井筒中间：由操作员决定",
    "dumped: returning": "卸载完毕：下放",
    # --- the gate ------------------------------------------------------------------------
    "hoist state unknown (no good data from its PLC); no command until it answers":
        "提升机状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "the hoist is in LOCAL at the winder's desk": "提升机处于司机台就地控制",
    "the hoist's PLC lost the controller's heartbeat": "提升机 PLC 失去控制器心跳",
    "the hoist takes no {action} command": "提升机不接受 {action} 命令",
    "the hoist is in {mode}; switch it to remote-manual first":
        "提升机处于{mode}；请先切换为远程手动",
    "the hoist is tripped; reset it first": "提升机保护跳闸；请先复位",
    "the hoist is not tripped": "提升机未跳闸",
    "the hoist is in {mode}; the automatic cycle needs remote-auto":
        "提升机处于{mode}；自动循环需要远程自动",
    "the skip is not at an end position": "箕斗不在端点位置",
    "automatic cycle on": "自动循环已开启",
    "automatic cycle off: the present trip ends": "自动循环关闭：当前一钩完成后停止",
    "loading to {t:.1f} t": "装载至 {t:.1f} t",
    "hoist in {mode}": "提升机已切换为{mode}",
    "reset asked of the PLC": "已向 PLC 发出复位",
    "brake test running": "制动试验进行中",
    "trip started": "已开车",
    "a refused load waits for a reset: {why}": "被拒绝的装载等待复位：{why}",
    "refusal cleared: {why}": "已清除拒绝：{why}",
    "automatic cycle off, but the feeder command does not read off":
        "自动循环已关闭，但给料命令未读回为停止",
    "waiting for the winder to start": "等待提升机启动",
    "brake test failed: the operator decides": "制动试验未通过：由操作员决定",
    "surface bin full": "地面仓已满",
    "skip over its payload: {t} t over {limit:.1f} t": "箕斗超载：{t} t 超过 {limit:.1f} t",
    "the feeder or the chute is still working": "给料机或溜槽仍在工作",
    "the hopper is not empty: {t:.1f} t in it": "定量斗未空：内有 {t:.1f} t",
    "load interrupted at {t:.2f} t": "装载在 {t:.2f} t 时中断",
    # --- alarms --------------------------------------------------------------------------
    "{name}: protection trip": "{name}：保护跳闸",
    "{name}: a load refused": "{name}：装载被拒绝",
    "{name}: rope tensions {limit:.0f} % apart": "{name}：钢丝绳张力差超过 {limit:.0f} %",
    "{name}: rope monitor signals damage": "{name}：钢丝绳在线监测报损伤",
    "{name}: winder room access open": "{name}：提升机房门未关",
    "{name}: controller heartbeat lost, the PLC finishes its trip and stops":
        "{name}：控制器心跳丢失，PLC 完成本钩后停车",
}
