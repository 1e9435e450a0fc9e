"""Ventilation's texts for people, English -> Chinese (the registry's ``texts``; see
fixedsite/texts.py for how the console reads them back)."""

from __future__ import annotations

# placeholders that hold ids: never translated
IDS = frozenset({"fan", "door", "face"})

TEXTS: dict[str, str] = {
    # --- built-in alarms -------------------------------------------------------------------
    "{name} tripped": "{name} 跳闸",
    "{name}: shaft airflow below {pct:.0f} % of nominal":
        "{name}：风井风量低于额定的 {pct:.0f} %",
    "{name}: door fault": "{name}：风门故障",
    "{name}: controller heartbeat lost, PLC holds the fans":
        "{name}：控制器心跳丢失，PLC 保持风机现状",
    # --- the main fan station ---------------------------------------------------------------
    "main fans stopped": "主通风机已停止",
    "{fan} on line": "{fan} 运行中（主用）",
    "{fan}: {step}": "{fan}：{step}",
    "changeover to {fan} in {s:.0f} s: lowest {pct:.1f} % of nominal, {below:.0f} s below "
    "{th:.0f} %, {deficit:.0f} m3 of air not delivered":
        "倒机至 {fan} 用时 {s:.0f} s：最低风量为额定的 {pct:.1f} %，低于 {th:.0f} % 的时间 "
        "{below:.0f} s，少供风量 {deficit:.0f} m3",
    "failover to {fan}: air delivered {s:.0f} s after the trip (limit {limit:.0f} s); lowest "
    "{pct:.1f} % of nominal, {deficit:.0f} m3 not delivered":
        "自动切换至 {fan}：跳闸后 {s:.0f} s 恢复供风（限值 {limit:.0f} s）；最低风量为额定的 "
        "{pct:.1f} %，少供风量 {deficit:.0f} m3",
    "reversal drill on {fan}: reversed air {pct:.0f} % of nominal after {s:.0f} s (rules: "
    "at least {min:.0f} % within {limit:.0f} s)":
        "{fan} 反风演习：{s:.0f} s 后反向风量为额定的 {pct:.0f} %（规定：{limit:.0f} s 内不低于 "
        "{min:.0f} %）",
    "{fan} tripped: {cause}": "{fan} 跳闸：{cause}",
    "standby {fan} tripped during the changeover: {cause}": "备用风机 {fan} 在倒机中跳闸：{cause}",
    "trip code {code}": "跳闸代码 {code}",
    "{fan} stopped without a command": "{fan} 无命令停机",
    "shaft airflow {pct:.0f} % of nominal, below {min:.0f} %":
        "风井风量为额定的 {pct:.0f} %，低于 {min:.0f} %",
    "{why}; no failover: {refusal}": "{why}；无法自动切换：{refusal}",
    "{fan} is in LOCAL": "{fan} 处于就地控制",
    "{fan} is tripped": "{fan} 已跳闸",
    "{fan} is not ready": "{fan} 未就绪",
    "{step} not complete within {limit:.0f} s": "{step}未在 {limit:.0f} s 内完成",
    "both main fans running: finish or undo the changeover":
        "两台主通风机同时运行：请完成或撤销倒机",
    # --- the gate: refusals and results for the station -----------------------------------
    "main fans' state unknown (no good data from their PLC); no command until it answers":
        "主通风机状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "the station is not faulted": "风机站没有故障",
    "the station is faulted ({why}); reset it first": "风机站故障（{why}）；请先复位",
    "{fan} is not a main fan of this shaft (they are {fans})":
        "{fan} 不是本风井的主通风机（主通风机为 {fans}）",
    "the main fans are not stopped ({state})": "主通风机未处于停止状态（{state}）",
    "a changeover starts from a fan running on line, not {state}":
        "倒机须从一台风机在线运行开始，当前为 {state}",
    "not confirmed: {action} needs confirm = {word}": "未确认：{action} 需要确认字 {word}",
    "a reversal starts from a fan running on line, not {state}":
        "反风须从一台风机在线运行开始，当前为 {state}",
    "nothing to stop ({state})": "没有可停止的风机（{state}）",
    "the air is not reversed": "当前未反风",
    "the station takes no {action} command": "风机站不接受 {action} 命令",
    "{fan} is in LOCAL at the field panel": "{fan} 处于现场就地控制",
    "{fan} is tripped; reset it first": "{fan} 已跳闸；请先复位",
    "{fan} is not ready (supply, drive or permissive)": "{fan} 未就绪（电源、变频器或允许条件）",
    "still faulted: a fan is running without the sequence knowing which; clear it first":
        "仍处于故障：有风机在运行但顺序控制无法确定是哪一台；请先处理",
}
