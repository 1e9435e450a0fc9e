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
    "{name}: window fault": "{name}：调节风窗故障",
    "{name}: main fan failover": "{name}：主通风机自动切换",
    "{name}: main fan station fault": "{name}：主通风机站故障",
    "{face}: auxiliary ventilation stopped, the face to be de-energised":
        "{face}：局部通风机停止，工作面须断电",
    "{face}: daily auxiliary fan switchover test failed": "{face}：局部通风机每日切换试验失败",
    "{name}: controller heartbeat lost, PLC holds the fans":
        "{name}：控制器心跳丢失，PLC 保持风机现状",
    # --- the main fan station's steps and the fan PLC's trip causes -------------------------
    "opening_dampers": "开启入口风门", "running_up": "升速", "proving": "验证风量",
    "co_starting": "倒机：启动备用风机", "co_crossing": "倒机：切换出口风门",
    "co_stopping": "倒机：停原风机", "rev_down": "反风：降速", "rev_up": "反风：反转升速",
    "reversed": "反风运行", "res_down": "恢复正风：降速", "res_up": "恢复正风：正转升速",
    "drive (VFD) fault": "变频器故障", "vibration high": "振动过大",
    "bearing temperature high": "轴承温度过高", "damper fault": "风门故障",
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
    "reversal drill on {fan}: reversed air at {reached:.0f} % after {s:.0f} s, settled at "
    "{pct:.0f} % of nominal (rules: at least {min:.0f} % within {limit:.0f} s)":
        "{fan} 反风演习：{s:.0f} s 后反向风量达到 {reached:.0f} %，稳定后为额定的 {pct:.0f} %"
        "（规定：{limit:.0f} s 内不低于 {min:.0f} %）",
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

DOORS_IDS = frozenset({"door", "window", "partner", "airlock"})

DOORS: dict[str, str] = {
    # --- words: the states, shown inside other texts ----------------------------------
    "closed": "关闭", "opening": "开启中", "open": "开启", "closing": "关闭中",
    "in_position": "到位", "moving": "调节中", "set": "设定",
    # --- doors: faults ----------------------------------------------------------------
    "both limit switches of {door} are made": "{door} 开、关限位同时动作",
    "{door} left its closed limit without a command": "{door} 无命令离开关闭限位",
    "{door} left its open limit without a command": "{door} 无命令离开开启限位",
    "{door} obstructed while {step}: the PLC took it back":
        "{door} 在{step}时受阻：PLC 已使其退回",
    "{door}: the PLC reports an actuator fault (travel timeout)":
        "{door}：PLC 报执行机构故障（行程超时）",
    "{partner} of airlock {airlock} is not proven closed while {door} opens":
        "风门组 {airlock} 的 {partner} 在 {door} 开启时未确认关闭",
    "{door} not {where} within {limit:.0f} s: {why}":
        "{door} 未在 {limit:.0f} s 内{where}：{why}",
    "the PLC refused to open it (a door of its airlock is not closed)":
        "PLC 拒绝开启（同组风门未关闭）",
    "still at its closed limit": "仍在关闭限位", "still at its open limit": "仍在开启限位",
    "between its limit switches": "停在开、关限位之间",
    "{signal}={value} not confirmed: {why}": "{signal}={value} 写入未确认：{why}",
    "{door} not opened: {why}": "{door} 未开启：{why}",
    # --- doors: the gate --------------------------------------------------------------
    "{door} takes no {action} command": "{door} 不接受 {action} 命令",
    "{door} state unknown (no good data from its PLC); no command until it answers":
        "{door} 状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "{door} is not faulted": "{door} 没有故障",
    "{door} is still obstructed": "{door} 仍然受阻",
    "{door} stands between its limit switches: bring it to a limit at the door first":
        "{door} 停在开、关限位之间：请先在现场将其移到限位",
    "{door} is faulted ({why}); reset it first": "{door} 故障（{why}）；请先复位",
    "{partner} of airlock {airlock} reads no good data: {door} may not open":
        "风门组 {airlock} 的 {partner} 无有效数据：{door} 不得开启",
    "{partner} of airlock {airlock} is not closed ({state}): {door} may not open":
        "风门组 {airlock} 的 {partner} 未关闭（{state}）：{door} 不得开启",
    "already open or opening": "已开启或正在开启",
    "already closed or closing": "已关闭或正在关闭",
    "now {state}": "现为{state}",
    "now {state} (commands read back)": "现为{state}（命令已回读确认）",
    # --- windows ----------------------------------------------------------------------
    "{window}: the PLC reports an actuator fault (travel timeout)":
        "{window}：PLC 报执行机构故障（行程超时）",
    "{window} not at {sp:.1f} % within {limit:.0f} s: it stands at {pos:.1f} %":
        "{window} 未在 {limit:.0f} s 内到达 {sp:.1f} %：现处于 {pos:.1f} %",
    "{window} takes no {action} command": "{window} 不接受 {action} 命令",
    "{window} state unknown (no good data from its PLC); no command until it answers":
        "{window} 状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "{window} is not faulted": "{window} 没有故障",
    "{window}: its actuator still reports a fault": "{window}：执行机构仍报故障",
    "{window} is faulted ({why}); reset it first": "{window} 故障（{why}）；请先复位",
    "a window's position is a number from 0 to 100 (%); got {got}":
        "调节风窗开度须为 0 到 100 (%) 之间的数；收到 {got}",
    "{window} moving to {sp:.1f} % (set-point read back)":
        "{window} 正调至 {sp:.1f} %（设定值已回读确认）",
}

FACES_IDS = frozenset({"face", "fan", "new", "old", "who"})

FACES: dict[str, str] = {
    # --- words -----------------------------------------------------------------------
    "switching_over": "切换中", "testing": "试验中", "no_air": "无风",
    "switchover": "切换", "test": "切换试验",
    "motor overload": "电机过载", "unknown cause": "原因不明",
    "the daily test": "每日试验",
    # --- why a fan stopped or cannot run ----------------------------------------------
    "{fan} tripped (code {code}: {cause})": "{fan} 跳闸（代码 {code}：{cause}）",
    "{fan} is in LOCAL at its panel": "{fan} 处于现场就地控制",
    "{fan} did not run when last asked; reset the face to try it again":
        "{fan} 上次启动未运行；复位该工作面后方可再试",
    "{fan} stopped in LOCAL": "{fan} 在就地控制下停止",
    "{fan} stopped without a command": "{fan} 无命令停机",
    "no auxiliary fan running when the controller took over":
        "控制器接管时无局部通风机运行",
    "{fan} run command not confirmed: {why}": "{fan} 运行命令未确认：{why}",
    "{fan} did not run within {limit:.0f} s": "{fan} 未在 {limit:.0f} s 内运行",
    "{fan} did not stop within {limit:.0f} s: both run":
        "{fan} 未在 {limit:.0f} s 内停止：两台同时运行",
    "{why} during the handover": "切换过程中{why}",
    "{why} during the handover; {fan} kept running": "切换过程中{why}；{fan} 保持运行",
    "{why}; {fan} kept running": "{why}；{fan} 保持运行",
    "not run: {why}": "未能进行：{why}",
    # --- records ---------------------------------------------------------------------
    "{hhmm}: {why}; {fan} started and ran in {s:.0f} s":
        "{hhmm}：{why}；{fan} 已启动，{s:.0f} s 内运行",
    "{hhmm}: {why}; no air: {whynot}": "{hhmm}：{why}；无风：{whynot}",
    "{hhmm}: {why}; no fan to start: {whynot}": "{hhmm}：{why}；无可启动风机：{whynot}",
    "{hhmm}: passed: {new} ran in {s:.0f} s and took over from {old}":
        "{hhmm}：通过：{new} {s:.0f} s 内运行，接替 {old}",
    "{hhmm}: failed: {why}": "{hhmm}：未通过：{why}",
    "{hhmm}: switchover asked by {who}: {new} ran in {s:.0f} s and took over from {old}":
        "{hhmm}：{who} 要求切换：{new} {s:.0f} s 内运行，接替 {old}",
    "{hhmm}: switchover asked by {who} failed: {why}": "{hhmm}：{who} 要求的切换失败：{why}",
    # --- the gate --------------------------------------------------------------------
    "{face} takes no {action} command": "{face} 不接受 {action} 命令",
    "{face}: its auxiliary fans' state is unknown (no good data from their PLC); no "
    "command until it answers":
        "{face}：局部通风机状态未知（PLC 无有效数据）；PLC 恢复应答前不接受命令",
    "{face}: no auxiliary fan is tripped or held": "{face}：没有跳闸或被闭锁的局部通风机",
    "{face}: a switchover or test is under way": "{face}：切换或试验正在进行",
    "{fan} is not running: nothing to hand over": "{fan} 未运行：无可切换",
    "{fan} is already running": "{fan} 已在运行",
    "PLC keeps the trip of {fan}: {why}": "PLC 保持 {fan} 的跳闸：{why}",
    "{face}: fans reset and free to start": "{face}：风机已复位，可以启动",
    "{new} starting; {old} stops once it runs": "{new} 启动中；其运行后停止 {old}",
}

ALL: dict[str, str] = TEXTS | DOORS | FACES
ALL_IDS = IDS | DOORS_IDS | FACES_IDS
