"""What a message says, in the reader's language: short enough for an SMS, the alarm
first, then what to do (the acknowledgement link) and who else will be told if nobody
answers. One place for the words so that every channel says the same thing."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

WORDS = {
    "en": {
        "alarm": "[P{p}] {site}: {text}",
        "since": "raised {t}",
        "for": "for {person} ({role})",
        "escalated": "ESCALATED: not acknowledged for {minutes:g} min",
        "ack": "Acknowledge: {link}",
        "next": "If nobody acknowledges in {minutes:g} min: {who} is told",
        "flood": "[ALARM FLOOD] {site}: {n} alarms in {minutes:g} min",
        "pending": "[ESCALATED] {site}: {n} alarms not acknowledged",
        "handover": "[SHIFT HANDOVER] {site}: {n} alarms not acknowledged",
        "batch": "{site}: {n} alarms",
        "flood_top": "Top alarms:",
        "flood_more": "... and {n} more",
        "ack_all": "Acknowledge these: {link}",
        "rtn": "[P{p}] {site}: returned to normal: {text}",
        "late": "(late: queued {t})",
        "roles": {"duty": "on duty", "backup": "backup", "leader": "shift leader",
                  "dispatcher": "dispatcher"},
    },
    "zh_CN": {
        "alarm": "[P{p}] {site}: {text}",
        "since": "发生于 {t}",
        "for": "通知 {person}（{role}）",
        "escalated": "已升级：{minutes:g} 分钟无人确认",
        "ack": "确认报警: {link}",
        "next": "{minutes:g} 分钟内无人确认将通知: {who}",
        "flood": "[报警泛滥] {site}: {minutes:g} 分钟内 {n} 条报警",
        "pending": "[已升级] {site}: {n} 条报警无人确认",
        "handover": "[交接班] {site}: {n} 条报警未确认",
        "batch": "{site}: {n} 条报警",
        "flood_top": "主要报警:",
        "flood_more": "……另有 {n} 条",
        "ack_all": "确认以上报警: {link}",
        "rtn": "[P{p}] {site}: 已恢复正常: {text}",
        "late": "（延迟送达：{t} 排队）",
        "roles": {"duty": "值班", "backup": "后备", "leader": "班长", "dispatcher": "调度"},
    },
}


@dataclass(frozen=True)
class Item:
    priority: int
    text: str          # English
    text_zh: str
    raised: float


# the mine's time zone for the times a message shows (the rota's, NotifyConfig.timezone);
# set by the Notifier, one site per process; None: the host's local time
ZONE: datetime.tzinfo | None = None


def stamp(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _w(lang: str) -> dict[str, object]:
    return WORDS["zh_CN" if lang == "zh_CN" else "en"]


def _text(item: Item, lang: str) -> str:
    return item.text_zh if lang == "zh_CN" and item.text_zh else item.text


def alarm(lang: str, site: str, item: Item, person: str, role: str, link: str | None,
          escalated_min: float | None, next_min: float | None, next_who: str
          ) -> tuple[str, str]:
    """(title, body) of one alarm's message."""
    w = _w(lang)
    roles: dict[str, str] = w["roles"]  # type: ignore[assignment]
    title = str(w["alarm"]).format(p=item.priority, site=site, text=_text(item, lang))
    lines = [str(w["since"]).format(t=stamp(item.raised)),
             str(w["for"]).format(person=person, role=roles.get(role, role))]
    if escalated_min is not None:
        lines.insert(0, str(w["escalated"]).format(minutes=escalated_min))
    if link:
        lines.append(str(w["ack"]).format(link=link))
    if next_min is not None and next_who:
        lines.append(str(w["next"]).format(minutes=next_min, who=next_who))
    return title, "\n".join(lines)


def digest(lang: str, site: str, items: list[Item], n: int, window_min: float,
           person: str, role: str, link: str | None, top: int = 5, kind: str = "flood"
           ) -> tuple[str, str]:
    """One message for many alarms (a flood, or several escalated at once): how many,
    the worst first, one link for them all."""
    w = _w(lang)
    roles: dict[str, str] = w["roles"]  # type: ignore[assignment]
    title = str(w[kind]).format(site=site, n=n, minutes=window_min)
    worst = sorted(items, key=lambda i: (i.priority, i.raised))[:top]
    lines = [str(w["for"]).format(person=person, role=roles.get(role, role)),
             str(w["flood_top"])]
    lines += [f"  P{i.priority} {stamp(i.raised)[11:]} {_text(i, lang)}" for i in worst]
    if len(items) > len(worst):
        lines.append(str(w["flood_more"]).format(n=len(items) - len(worst)))
    if link:
        lines.append(str(w["ack_all"]).format(link=link))
    return title, "\n".join(lines)


def returned(lang: str, site: str, item: Item) -> tuple[str, str]:
    w = _w(lang)
    return (str(w["rtn"]).format(p=item.priority, site=site, text=_text(item, lang)),
            str(w["since"]).format(t=stamp(item.raised)))


def late_line(lang: str, created: float) -> str:
    return str(_w(lang)["late"]).format(t=stamp(created))


def role_name(lang: str, role: str) -> str:
    roles: dict[str, str] = _w(lang)["roles"]  # type: ignore[assignment]
    return roles.get(role, role)
