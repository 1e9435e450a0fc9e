"""The console's words in Chinese (zh_CN, the first users) and English."""

from __future__ import annotations

import locale
import os

from rich.markup import escape

from fixedsite.texts import translate

TEXT: dict[str, dict[str, str]] = {
    "overview": {"en": "Overview", "zh_CN": "总览"},
    "alarms": {"en": "Alarms", "zh_CN": "报警"},
    "connected": {"en": "connected", "zh_CN": "已连接"},
    "disconnected": {"en": "DISCONNECTED", "zh_CN": "连接中断"},
    "plc": {"en": "PLC", "zh_CN": "PLC"},
    "online": {"en": "online", "zh_CN": "在线"},
    "offline": {"en": "OFFLINE", "zh_CN": "离线"},
    "state": {"en": "State", "zh_CN": "状态"},
    "mode": {"en": "Mode", "zh_CN": "模式"},
    "flow": {"en": "Flow", "zh_CN": "流量"},
    "current": {"en": "Current", "zh_CN": "电流"},
    "bearing": {"en": "Bearing", "zh_CN": "轴承温度"},
    "stator": {"en": "Stator", "zh_CN": "定子温度"},
    "priority": {"en": "P", "zh_CN": "级"},
    "alarm": {"en": "Alarm", "zh_CN": "报警"},
    "active_alarms": {"en": "Active alarms", "zh_CN": "当前报警"},
    "confirm": {"en": "Confirm", "zh_CN": "确认"},
    "cancel": {"en": "Cancel", "zh_CN": "取消"},
    "start": {"en": "Start", "zh_CN": "启动"},
    "stop": {"en": "Stop", "zh_CN": "停止"},
    "ack": {"en": "Acknowledge", "zh_CN": "确认报警"},
    "comment": {"en": "Comment", "zh_CN": "备注"},
    "done": {"en": "Done", "zh_CN": "完成"},
    "refused": {"en": "Refused", "zh_CN": "被拒绝"},
    "stale": {"en": "stale", "zh_CN": "数据过期"},
    "quit": {"en": "Quit", "zh_CN": "退出"},
    "events": {"en": "Commands", "zh_CN": "操作记录"},
    "time": {"en": "Time", "zh_CN": "时间"},
    "who": {"en": "Who", "zh_CN": "操作人"},
    "command": {"en": "Command", "zh_CN": "命令"},
    "target": {"en": "Target", "zh_CN": "对象"},
    "outcome": {"en": "Outcome", "zh_CN": "结果"},
    "reason": {"en": "Reason", "zh_CN": "原因"},
    "trends": {"en": "Trends", "zh_CN": "趋势"},
    "reset": {"en": "Reset", "zh_CN": "复位"},
    "shelve": {"en": "Shelve", "zh_CN": "搁置"},
    "unshelve": {"en": "Unshelve", "zh_CN": "取消搁置"},
    "shelved": {"en": "shelved", "zh_CN": "已搁置"},
    "filter": {"en": "Filter", "zh_CN": "筛选"},
    "filter_help": {"en": "Filter: text in the alarm, or P1-P4 (that priority and above); "
                          "empty shows all",
                    "zh_CN": "筛选：报警文字，或 P1-P4（该级及以上）；留空显示全部"},
    "minutes": {"en": "Minutes", "zh_CN": "分钟"},
    "shorter": {"en": "Shorter", "zh_CN": "缩短"},
    "longer": {"en": "Longer", "zh_CN": "延长"},
    "tag": {"en": "Tag", "zh_CN": "位号"},
    "value": {"en": "Value", "zh_CN": "数值"},
    "window": {"en": "window", "zh_CN": "时间窗"},
    "last": {"en": "last", "zh_CN": "最新"},
    "no_history": {"en": "no history in this window", "zh_CN": "该时段无历史数据"},
    "trend_pick": {"en": "Pick a tag below and press Enter", "zh_CN": "在下方选择位号后按回车"},
    "active": {"en": "active", "zh_CN": "未确认"},
    "acked": {"en": "acknowledged", "zh_CN": "已确认"},
    "rtn": {"en": "cleared, unacknowledged", "zh_CN": "已恢复未确认"},
    # why a value is not good (display.fmt), from the OPC UA status
    "q.comm_fail": {"en": "comm lost", "zh_CN": "通信中断"},
    "q.stale": {"en": "stale", "zh_CN": "数据过期"},
    "q.out_of_range": {"en": "out of range", "zh_CN": "超量程"},
    "q.not_yet_read": {"en": "not read yet", "zh_CN": "尚未读取"},
    "q.uncertain": {"en": "uncertain", "zh_CN": "可疑"},
    "q.bad": {"en": "bad", "zh_CN": "坏值"},
    "q.disconnected": {"en": "no link to controller", "zh_CN": "与控制器断开"},
    "raised": {"en": "Raised", "zh_CN": "发生"},
    "cleared": {"en": "Cleared", "zh_CN": "恢复"},
    "acked_at": {"en": "Acknowledged", "zh_CN": "确认"},
    "detail": {"en": "Detail", "zh_CN": "详情"},
    "by": {"en": "by", "zh_CN": "确认人"},
    "keys_confirm": {"en": "Enter confirm   Esc cancel", "zh_CN": "回车 确认   Esc 取消"},
    "keys_yes_no": {"en": "y / Enter confirm   n / Esc cancel",
                    "zh_CN": "y / 回车 确认   n / Esc 取消"},
    "keys_pick": {"en": "number key picks   Esc cancel", "zh_CN": "按数字键选择   Esc 取消"},
    "keys_close": {"en": "Esc / Enter close", "zh_CN": "Esc / 回车 关闭"},
    "user": {"en": "User", "zh_CN": "用户"},
    "role.viewer": {"en": "viewer", "zh_CN": "查看员"},
    "role.operator": {"en": "operator", "zh_CN": "操作员"},
    "role.engineer": {"en": "engineer", "zh_CN": "工程师"},
    "role.admin": {"en": "admin", "zh_CN": "管理员"},
    "alarm_detail": {"en": "Alarm detail", "zh_CN": "报警详情"},
    "details": {"en": "Details", "zh_CN": "详情"},
    # the trends screen
    "span_min": {"en": "{n} min", "zh_CN": "{n} 分钟"},
    "span_h": {"en": "{n} h", "zh_CN": "{n} 小时"},
    "span_d": {"en": "{n} d", "zh_CN": "{n} 天"},
    "trend_data_from": {"en": "data from {at} only", "zh_CN": "数据仅从 {at} 起"},
    "trend_min": {"en": "min", "zh_CN": "最小"},
    "trend_max": {"en": "max", "zh_CN": "最大"},
    "trend_axis_left": {"en": "left axis", "zh_CN": "左轴"},
    "trend_axis_right": {"en": "right axis", "zh_CN": "右轴"},
    "trend_full": {"en": "at most {n} tags on one chart: remove one first",
                   "zh_CN": "一张图最多 {n} 个位号：请先移除一个"},
    "trend_third_unit": {"en": "{tag} is in {unit}: one chart has two value axes "
                               "({units}); remove a tag first",
                         "zh_CN": "{tag} 的单位是 {unit}：一张图只有两个数值轴（{units}），"
                                  "请先移除一个位号"},
    "trend_no_link": {"en": "no data: no link to controller",
                      "zh_CN": "无数据：与控制器断开"},
    "trend_add_hint": {"en": "Enter adds the tag under the cursor (up to {n})",
                       "zh_CN": "回车添加光标处位号（最多 {n} 个）"},
    "trend_drop": {"en": "Remove last", "zh_CN": "移除末项"},
    "trend_clear": {"en": "Clear", "zh_CN": "清空"},
    # the overview: the month so far against the evaluation standard (availability_live)
    "availability": {"en": "This month: system fault {h} (< 10 h), sensors OK {pct} (> 95 %)",
                     "zh_CN": "本月：系统故障 {h}（< 10 h），传感器完好率 {pct}（> 95 %）"},
}


def pick_lang(requested: str | None, config_lang: str | None) -> str:
    """--lang, else the site config, else the locale; Chinese unless English is asked."""
    for lang in (requested, config_lang):
        if lang in ("zh_CN", "en"):
            return lang
    loc = os.environ.get("LANG") or (locale.getlocale()[0] or "")
    return "en" if loc.startswith("en") else "zh_CN"


class T:
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **args: object) -> str:
        entry = TEXT.get(key)
        text = entry.get(self.lang, entry["en"]) if entry else key
        return text.format(**args) if args else text

    def text(self, english: str) -> str:
        """A text the controller composed (a reason, a status) in this language, escaped
        for the screens' markup: a '[/]' in a reason must not end the console."""
        return escape(translate(english, self.lang))
