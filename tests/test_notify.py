"""Alarm notification against real servers on loopback: aiosmtpd receives the e-mails, an
HTTP stand-in (hil/inbox.py) the robots' and the SMS gateway's posts, built by apprise's
own plugins. Escalation is timed on a manual project clock; the alarms are real ones of
the engine, raised by tag values; acknowledgement goes through the gate."""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.wecombot import NotifyWeComBot

from fixedsite.alarms.engine import AlarmEngine
from fixedsite.alarms.handler import AlarmHandler
from fixedsite.alarms.model import AlarmDef
from fixedsite.clock import ManualClock
from fixedsite.gate import CommandGate
from fixedsite.hil.inbox import Inbox
from fixedsite.notify import Notifications
from fixedsite.notify.config import NotifyConfig, problems
from fixedsite.notify.notifier import Notifier
from fixedsite.notify.outbox import Outbox
from fixedsite.tags import TagMeta, TagStore

# a Monday, 10:00 local: the day shift
T0 = datetime.datetime(2026, 12, 7, 10, 0).timestamp()
DING_SECRET = "SECabc123"
SMS_TOKEN = "sms-token-1"


def notify_table(http: str, smtp_port: int, **over: Any) -> dict[str, Any]:
    host = http.split("://", 1)[1]
    t: dict[str, Any] = {
        "channels": {
            "mail": {"url": "mailto://fixedsite:{secret:smtp}@127.0.0.1:" + str(smtp_port)
                     + "?from=fixedsite@mine.example&to={to}&secure=no&mode=insecure&format=text",
                     "retry_s": 0.2, "retry_max_s": 0.5, "failing_after": 2,
                     "timeout_s": 3},
            "ding": {"url": "dingtalk://{secret:ding_secret}@{secret:ding_token}/",
                     "retry_s": 0.2, "retry_max_s": 0.5, "failing_after": 2, "timeout_s": 3},
            "sms": {"url": "smseagle://{secret:sms}@" + host + "/{to}?ssl=no",
                    "retry_s": 0.2, "retry_max_s": 0.5, "timeout_s": 3},
            "hook": {"url": "json://" + host + "/hook/pumproom", "retry_s": 0.2,
                     "retry_max_s": 0.5, "failing_after": 2, "timeout_s": 3},
        },
        "people": {
            "li": {"name": "Li Wei", "name_zh": "李伟", "lang": "en",
                   "contacts": {"mail": "li@mine.example", "sms": "13800000001"}},
            "wang": {"name": "Wang Qiang", "name_zh": "王强",
                     "contacts": {"mail": "wang@mine.example", "sms": "13800000002"}},
            "zhao": {"name": "Zhao Gang", "contacts": {"mail": "zhao@mine.example"}},
            "disp": {"name": "Dispatcher", "contacts": {"mail": "dispatch@mine.example"}},
            "night": {"name": "Night Man", "contacts": {"mail": "night@mine.example"}},
        },
        "rota": [{"shift": "day", "start": 8, "end": 16, "duty": ["li"], "backup": "wang",
                  "leader": "zhao"},
                 {"shift": "mid", "start": 16, "end": 24, "duty": ["night"]},
                 {"shift": "night", "start": 0, "end": 8, "duty": ["night"]}],
        "dispatcher": "disp",
        "routes": [{"areas": ["drainage"], "priorities": [1, 2], "channels": ["mail", "ding"],
                    "fallback": "sms"},
                   {"priorities": [1, 2], "channels": ["hook"]}],
        "escalation": {"after_min": [5, 10, 20]},
        "ack": {"port": 0, "public_url": "http://127.0.0.1:1"},
    }
    t.update(over)
    return t


class Site:
    """The alarm engine on soft tags, the gate, and the notification service."""

    def __init__(self, tmp: Path, inbox: Inbox, table: dict[str, Any], t0: float = T0
                 ) -> None:
        self.clock = ManualClock(t0)
        self.store = TagStore(self.clock)
        self.level = self.store.define("drainage.sump.level", TagMeta("m", 0, 5))
        self.trip = self.store.define("power.q1.tripped", TagMeta(kind="bool"))
        defs = [AlarmDef("drainage.sump.level.HH", "drainage.sump.level", "limit", 1,
                         "drainage", "Main sump level HH (2.5)", lambda v: v >= 2.5,
                         lambda v: v < 2.4, text_zh="主水仓水位 高高限（2.5）"),
                AlarmDef("power.q1.TRIP", "power.q1.tripped", "discrete", 2, "power",
                         "Q1 tripped", lambda v: v is True, lambda v: v is False)]
        defs += [AlarmDef(f"drainage.x{i}.ALM", f"drainage.x{i}.on", "discrete", 2,
                          "drainage", f"Alarm number {i}", lambda v: v is True,
                          lambda v: v is False) for i in range(14)]
        self.flood = [self.store.define(f"drainage.x{i}.on", TagMeta(kind="bool"))
                      for i in range(14)]
        self.engine = AlarmEngine(defs, self.store, self.clock)
        self.gate = CommandGate(self.clock)
        self.gate.register("alarms", AlarmHandler(self.engine))
        self.n = NotifyConfig.model_validate(table)
        self.events: list[tuple[str, str]] = []
        self.service = Notifications(self.n, tmp / "notify.db", site="Demo Mine",
                                     lang="zh_CN", store=self.store, clock=self.clock,
                                     engine=self.engine, gate=self.gate,
                                     record=lambda t, s, text, d: self.events.append(
                                         (s, text)))
        self.outbox, self.notifier = self.service.outbox, self.service.notifier
        self.deliveries, self.ack = self.service.deliveries, self.service.ack
        self.tasks = [asyncio.create_task(d.run()) for d in self.deliveries.values()]

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.service.stop()

    def advance(self, s: float) -> None:
        self.clock.advance(s)
        self.engine.tick()
        self.notifier.tick()


async def until(pred: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Wait on a condition with a deadline (delivery is wall-time I/O)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest_asyncio.fixture
async def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Inbox]:
    box = Inbox(dingtalk_secret=DING_SECRET, sms_token=SMS_TOKEN, smtp_user="fixedsite",
                smtp_password="mailpass")
    await box.start()
    # apprise's robot plugins post to their public hosts: point them at the stand-in, so
    # apprise's own code builds (and for DingTalk signs) what the stand-in checks
    monkeypatch.setattr(NotifyDingTalk, "notify_url",
                        box.http_url + "/robot/send?access_token={token}")
    monkeypatch.setattr(NotifyWeComBot, "notify_url",
                        box.http_url + "/cgi-bin/webhook/send?key={key}")
    monkeypatch.setattr(NotifyFeishu, "notify_url",
                        box.http_url + "/open-apis/bot/v2/hook/{token}/")
    for k, v in {"smtp": "mailpass", "ding_token": "tok123", "ding_secret": DING_SECRET,
                 "sms": SMS_TOKEN}.items():
        monkeypatch.setenv(f"FIXEDSITE_SECRET_{k.upper()}", v)
    yield box
    await box.stop()


@pytest_asyncio.fixture
async def site(tmp_path: Path, inbox: Inbox) -> AsyncIterator[Callable[..., Any]]:
    made: list[Site] = []

    async def make(t0: float = T0, **over: Any) -> Site:
        s = Site(tmp_path, inbox, notify_table(inbox.http_url, inbox.smtp_port, **over), t0)
        await s.ack.start()
        made.append(s)
        return s
    yield make
    for s in made:
        await s.close()


def link_in(text: str) -> str:
    m = re.search(r"(http://\S+/ack/\S+)", text)
    assert m, f"no acknowledgement link in {text!r}"
    return m.group(1)


async def test_alarm_reaches_mail_and_signed_dingtalk_and_escalates(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1 and len(inbox.of("dingtalk")) == 1,
                "the duty man's e-mail and the group robot's post")
    mail = inbox.of("smtp")[0]
    assert mail.to == ["li@mine.example"]
    assert "Main sump level HH (2.5)" in mail.title and "[P1]" in mail.title  # li: en
    ding = inbox.of("dingtalk")[0]
    assert ding.title == mail.title                          # the group's, in li's words
    assert "/ack/" not in ding.body                          # no personal link in a group
    assert inbox.refused == []                               # signature checked, accepted
    # the record keeps no usable link: the token is made as it is sent, kept hashed
    token = link_in(mail.body).rsplit("/", 1)[1]
    assert all(token not in m.body for m in s.outbox.messages())
    assert s.outbox.token(token) is not None
    # nobody answers: after 5 min the backup, after 10 the leader, after 20 the dispatcher
    s.advance(299)
    await asyncio.sleep(0.3)
    assert {r.to[0] for r in inbox.of("smtp")} == {"li@mine.example"}
    s.advance(2)
    await until(lambda: any(r.to == ["wang@mine.example"] for r in inbox.of("smtp")),
                "the backup told")
    wang = next(r for r in inbox.of("smtp") if r.to == ["wang@mine.example"])
    assert "已升级" in wang.body and "王强" in wang.body        # wang reads Chinese
    s.advance(300)
    await until(lambda: any(r.to == ["zhao@mine.example"] for r in inbox.of("smtp")),
                "the shift leader told")
    s.advance(600)
    await until(lambda: any(r.to == ["dispatch@mine.example"] for r in inbox.of("smtp")),
                "the dispatcher told")
    n_mail = len(inbox.of("smtp"))
    s.advance(3600)
    await asyncio.sleep(0.3)
    assert len(inbox.of("smtp")) == n_mail                   # the chain has ended
    records = [m for m in s.outbox.messages() if m.channel == "mail"]
    assert [m.step for m in records] == ["first", "escalation:backup",
                                         "escalation:leader", "escalation:dispatcher"]
    assert all(m.status == "sent" and m.sent_at is not None for m in records)


async def served_link(s: Site, inbox: Inbox) -> str:
    """The P1 raised, the duty man's first e-mail, its link on the test's endpoint."""
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    return link_in(inbox.of("smtp")[0].body).replace("http://127.0.0.1:1",
                                                     f"http://127.0.0.1:{s.ack.port}")


async def test_ack_by_link_stops_escalation_and_is_recorded(site, inbox) -> None:
    s = await site()
    link = await served_link(s, inbox)
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as r:           # a link preview: acknowledges nothing
            assert r.status == 200
            page = await r.text()
        assert "Main sump level HH" in page and "<form method='post'>" in page
        assert s.engine.alarms["drainage.sump.level.HH"].state == "unack_active"
        async with http.post(link, data={"note": "pump 2 started by hand"}) as r:
            assert r.status == 200
            assert "Escalation stopped" in await r.text()
        async with http.post(link, data={"note": "again"}) as r:   # spent
            assert r.status == 404
    a = s.engine.alarms["drainage.sump.level.HH"]
    assert a.state == "ack_active" and a.acked_by == "li"
    ep = s.outbox.episodes_between(0, T0 + 10)[0]
    assert (ep.closed, ep.acked_by) == ("acked", "li") and ep.acked_via.startswith("link")
    assert s.outbox.notes("drainage.sump.level.HH")[0][3:] == ("li",
                                                               "pump 2 started by hand")
    rec = s.gate.records[-1]
    assert rec.command.user == "li" and rec.decision.accepted
    s.advance(3600)
    assert [m.person for m in s.outbox.messages()] == ["li", "li"]   # mail, ding: no more


async def test_ack_at_console_stops_escalation(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    assert s.engine.acknowledge("drainage.sump.level.HH", "op1") is None
    s.advance(3600)
    assert [m.person for m in s.outbox.messages()] == ["li", "li"]   # nobody escalated to
    ep = s.outbox.episodes_between(0, T0 + 10)[0]
    assert (ep.acked_by, ep.acked_via) == ("op1", "console")


async def test_bad_tokens_learn_nothing(site, inbox) -> None:
    s = await site()
    async with aiohttp.ClientSession() as http:
        for tok in ("x", "A" * 22, "..%2F..%2Fetc%2Fpasswd"):
            async with http.post(f"http://127.0.0.1:{s.ack.port}/ack/{tok}") as r:
                assert r.status == 404
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    link = link_in(inbox.of("smtp")[0].body)
    s.advance(25 * 3600)                     # past the link's 24 h
    ok, why = await s.notifier.ack_by_token(link.rsplit("/", 1)[1], "", "test")
    assert (ok, why) == (False, "expired")
    assert s.engine.alarms["drainage.sump.level.HH"].state == "unack_active"


async def test_flood_is_one_digest(site, inbox) -> None:
    s = await site()
    for tag in s.flood:                                # 14 alarms in 140 s
        s.store.update(tag, True)
        s.advance(10)
    await until(lambda: len(inbox.of("smtp")) == 10, "the ten before the flood")
    await asyncio.sleep(0.3)
    assert len(inbox.of("smtp")) == 10                 # the burst is gathered a minute
    s.advance(30)
    await until(lambda: len(inbox.of("smtp")) >= 11, "the flood's e-mails")
    await asyncio.sleep(0.3)
    mails = inbox.of("smtp")
    # ten one by one (ISA-18.2: a flood is more than 10 in 10 min), then one digest that
    # says so, with the alarms it holds, and one link for them all: 11 e-mails, not 14
    assert len(mails) == 11
    digests = [m for m in mails if "FLOOD" in m.title]
    assert len(digests) == 1 and "14 alarms" in digests[0].title
    assert all(f"Alarm number {i}" in digests[0].body for i in (10, 11, 12, 13))
    link = link_in(digests[0].body).rsplit("/", 1)[1]
    ok, _ = await s.notifier.ack_by_token(link, "flood handled", "test")
    assert ok
    assert all(s.engine.alarms[f"drainage.x{i}.ALM"].state == "ack_active"
               for i in (10, 11, 12, 13))
    assert s.engine.alarms["drainage.x9.ALM"].state == "unack_active"   # not in it
    s.advance(600)                   # the held four were acked: only x0..x9 escalate
    await until(lambda: any(m.to == ["wang@mine.example"] for m in inbox.of("smtp")),
                "the backup told")
    await asyncio.sleep(0.3)
    wang = [m for m in inbox.of("smtp") if m.to == ["wang@mine.example"]]
    assert len(wang) == 1 and "10 条报警" in wang[0].title    # one message, not ten


async def test_channel_down_queues_in_order_and_p1_falls_back(site, inbox) -> None:
    s = await site()
    inbox.down |= {"smtp"}
    s.store.update(s.level, 2.7)                       # P1: mail fails, SMS takes over
    await until(lambda: len(inbox.of("sms")) == 1, "the P1 by SMS")
    assert inbox.of("sms")[0].to == ["13800000001"]
    await until(lambda: s.store.value("notify.mail.ok") is False, "mail marked failing")
    assert "failed" in (s.store.value("notify.mail.last_error") or "")
    s.store.update(s.trip, True)                       # P2, power: not mail's route
    s.clock.advance(400)                               # past late_after_s
    s.store.update(s.level, 2.0)                       # back to normal: rtn to li
    inbox.down.clear()
    await until(lambda: len(inbox.of("smtp")) == 2, "the queued e-mails once back")
    first, second = inbox.of("smtp")
    assert "HH" in first.title and "returned" in second.title      # in order
    assert "late" in first.body
    assert s.store.value("notify.mail.ok") is True
    mails = [m for m in s.outbox.messages() if m.channel == "mail"]
    assert mails[0].attempts >= 2 and mails[0].late


def test_config_problems_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    t = notify_table("http://127.0.0.1:9", 25)
    t["channels"]["ding"]["url"] = "dingtalk://literaltoken/"
    t["people"]["li"]["contacts"]["fax"] = "1"
    t["rota"][0]["backup"] = "nobody"
    t["rota"] = t["rota"][:1]
    got = problems(NotifyConfig.model_validate(t))
    keys = {k for k, _ in got}
    assert "notify.channels.ding.url" in keys
    assert "notify.people.li.contacts.fax" in keys
    assert "notify.rota[0].backup" in keys
    assert "notify.rota" in keys                          # hours nobody covers
    assert any("FIXEDSITE_SECRET_SMTP" in m for _, m in got)   # not in the environment
    monkeypatch.setenv("FIXEDSITE_SECRET_SMTP", "x")
    got = problems(NotifyConfig.model_validate(t))
    assert not any("FIXEDSITE_SECRET_SMTP" in m for _, m in got)



async def test_restart_half_way_resumes_the_escalation(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    s.advance(120)
    await s.close()                          # the controller stops 2 min into the episode
    s2 = await site(t0=T0 + 180)             # and is back a minute later
    s2.store.update(s2.level, 2.7)           # the alarm annunciates again on its first read
    s2.advance(1)
    await asyncio.sleep(0.3)
    assert len(inbox.of("smtp")) == 1        # the duty man is not woken a second time
    assert ("drainage.sump.level.HH", "notification resumed after restart") in s2.events
    s2.advance(125)                          # 5 min after the *first* message: the backup
    await until(lambda: any(r.to == ["wang@mine.example"] for r in inbox.of("smtp")),
                "the backup told on the first episode's time")
    assert len(s2.outbox.episodes_between(0, T0 + 1e6)) == 1


async def test_restart_after_the_condition_went(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    await s.close()
    s2 = await site(t0=T0 + 600)
    s2.store.update(s2.level, 1.2)           # read again: well below, nothing re-raised
    s2.advance(30)
    assert s2.outbox.open_episodes() != []   # not judged before the grace
    s2.advance(60)
    assert s2.outbox.open_episodes() == []
    assert s2.outbox.episodes_between(0, T0 + 1e6)[0].closed == "returned"
    s2.advance(3600)
    await asyncio.sleep(0.3)
    assert len(inbox.of("smtp")) == 1        # nobody escalated to for a condition gone


async def test_unwritable_record_loses_no_message(site, inbox) -> None:
    s = await site()
    health: list[str] = []
    s.outbox.on_health = health.append
    db = s.outbox.db
    db.execute("PRAGMA query_only = 1")          # SQLite refuses every write from now on
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1 and len(inbox.of("dingtalk")) == 1,
                "the messages sent from memory")
    assert health and "readonly" in health[-1]
    assert s.outbox.pending                                  # waiting, in order
    link = link_in(inbox.of("smtp")[0].body).rsplit("/", 1)[1]
    await asyncio.sleep(0.3)
    assert len(inbox.of("smtp")) == 1                        # sent once, not again
    db.execute("PRAGMA query_only = 0")                      # writable again
    s.advance(1)
    assert s.outbox.pending == [] and health[-1] == ""
    rows = db.execute("SELECT channel, status FROM messages ORDER BY id").fetchall()
    assert rows == [("mail", "sent"), ("ding", "sent")]
    ok, _ = await s.notifier.ack_by_token(link, "", "test")  # the link written late works
    assert ok


async def test_handling_report_shows_the_loop(site, inbox, tmp_path: Path) -> None:
    from fixedsite.notify.handling import as_text, episodes

    s = await site()
    events: list[dict[str, Any]] = []
    s.engine.sinks.append(lambda e: events.append(
        {"t": e.t, "kind": "alarm", "source": e.alarm, "text": f"{e.what}: {e.text}",
         "data": {"priority": e.priority, "user": e.user, "comment": e.comment}}))
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    s.advance(90)
    link = link_in(inbox.of("smtp")[0].body).rsplit("/", 1)[1]
    await s.notifier.ack_by_token(link, "started pump 2", "link from 10.0.0.5")
    s.advance(600)
    s.store.update(s.level, 2.0)
    s.store.update(s.trip, True)                             # P2, never acknowledged
    await until(lambda: all(m.status == "sent" for m in s.outbox.messages()),
                "the deliveries recorded")
    rows = episodes(events, s.outbox, T0 - 1, T0 + 3600)
    assert [(h.alarm, h.priority) for h in rows] == [("drainage.sump.level.HH", 1),
                                                     ("power.q1.TRIP", 2)]
    hh, trip = rows
    assert hh.tta_s == 90 and hh.ttc_s == 690 and hh.acked_by == "li"
    assert hh.acked_via == "link from 10.0.0.5"
    assert hh.notes == ["li: started pump 2"]
    assert "li by mail (sent)" in hh.told
    assert trip.acked is None
    text = as_text("report", rows)
    assert "1.5 min" in text and "11.5 min" in text and "NOT ACKED" in text
    assert "acknowledged 1, not acknowledged 1" in text


def test_alarms_cli_handling_note_and_notifications(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    from conftest import cli

    from fixedsite.hil.demo_config import demo_text, free_port
    from fixedsite.historian import Historian
    from fixedsite.notify.outbox import Episode, episode_key

    config = tmp_path / "site.toml"
    config.write_text(demo_text(free_port(), notify=True)
                      + f'\n[storage]\ndir = "{tmp_path}/var"\n', encoding="utf-8")
    var = tmp_path / "var"
    h = Historian(var / "history.db")
    alarm = "drainage.pump1.FAULT"
    h.event(T0, "alarm", alarm, "active: Main pump 1 fault", {"priority": 2})
    h.event(T0 + 240, "alarm", alarm, "ack: Main pump 1 fault",
            {"priority": 2, "user": "zhang", "comment": "acknowledged by link from x"})
    h.event(T0 + 1800, "alarm", alarm, "clear: Main pump 1 fault", {"priority": 2})
    h.event(T0 + 60, "alarm", "x.y.H", "active: a P3", {"priority": 3})
    h.flush()
    h.close()
    o = Outbox(var / "notify.db")
    key = episode_key(alarm, T0)
    o.open_episode(Episode(key, alarm, 2, T0, T0, 0, 0, "", None, "", "", None))
    o.update_episode(key, closed="acked", acked_at=T0 + 240, acked_by="zhang",
                     acked_via="link from 10.1.2.3")
    mid = o.queue(T0, "mail", "zhang", "zhang@x", [key], "first", 2, "[P2] pump", "b")
    o.sent(mid, T0 + 2, False)
    o.close()
    rc, out, err = cli(capsys, "alarms", "note", alarm, "overload relay reset, motor "
                       "insulation measured", "--user", "zhang", "--config", str(config))
    assert rc == 0, err
    rc, out, err = cli(capsys, "alarms", "handling", "--month", "2026-12", "--config",
                       str(config))
    assert rc == 0, err
    line = next(x for x in out.splitlines() if alarm in x)
    assert "4.0 min" in line and "zhang" in line and "link from 10.1.2.3" in line
    assert "30.0 min" in line
    assert "zhang by mail (sent)" in out and "overload relay reset" in out
    assert "x.y.H" not in out                               # P3 is not in the review
    rc, out, _ = cli(capsys, "alarms", "notifications", "--config", str(config))
    assert rc == 0 and "[P2] pump" in out and "sent" in out
    rc, _, err = cli(capsys, "alarms", "note", "no.such.ALM", "x", "--user", "a",
                     "--config", str(config))
    assert rc == 2 and "no notified episode" in err


class _BrokenAudit:
    """An audit log that cannot be written: the gate refuses an operator's command."""

    def append(self, **kw: Any) -> int:
        from fixedsite.audit import AuditError
        raise AuditError("audit disk full")


async def test_refused_ack_keeps_escalating_and_the_link_works_again(site, inbox) -> None:
    s = await site()
    s.gate.audit = _BrokenAudit()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    token = link_in(inbox.of("smtp")[0].body).rsplit("/", 1)[1]
    ok, what = await s.notifier.ack_by_token(token, "on my way", "link from x")
    assert not ok and what.startswith("refused: ") and "audit" in what
    a = s.engine.alarms["drainage.sump.level.HH"]
    assert a.state == "unack_active"
    assert s.outbox.episodes_between(0, T0 + 10)[0].closed == ""
    s.advance(301)                                     # nobody acknowledged: escalation
    await until(lambda: any(r.to == ["wang@mine.example"] for r in inbox.of("smtp")),
                "the backup told")
    s.gate.audit = None                                # the log is back: the same link
    ok, _ = await s.notifier.ack_by_token(token, "", "link from x")
    assert ok and a.state == "ack_active" and a.acked_by == "li"


async def test_unshelved_alarm_is_a_new_episode(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    assert s.engine.shelve("drainage.sump.level.HH", "op1", 600, "sensor check") is None
    assert s.outbox.open_episodes() == []
    s.advance(601)                                     # shelving expired, still high
    await until(lambda: len(inbox.of("smtp")) == 2, "the alarm annunciated again")
    eps = s.outbox.episodes_between(0, T0 + 1e5)
    assert [e.closed for e in eps] == ["shelved", ""]  # the record agrees with memory
    assert [e.key for e in s.outbox.open_episodes()] == list(s.notifier.open)


async def test_p1_is_not_held_by_a_flood(site, inbox) -> None:
    s = await site()
    for tag in s.flood[:12]:                           # a P2 flood in progress
        s.store.update(tag, True)
        s.advance(5)
    s.store.update(s.level, 2.7)                       # a P1 during it
    await until(lambda: any("HH" in m.title for m in inbox.of("smtp")), "the P1 at once")
    hh = next(m for m in s.outbox.messages() if "HH" in m.title and m.channel == "mail")
    assert hh.created == s.clock.now() and hh.step == "first"


async def test_shared_channel_routes_send_one_digest(site, inbox) -> None:
    # two routes that share the mail channel: one digest per person, not one per route
    s = await site(routes=[{"areas": ["drainage"], "priorities": [1, 2],
                            "channels": ["mail"]},
                           {"priorities": [1, 2], "channels": ["mail"]}])
    for tag in s.flood[:11]:
        s.store.update(tag, True)
    s.store.update(s.trip, True)                       # power: the second route
    s.advance(61)
    digests = [m for m in s.outbox.messages() if m.step in ("digest", "batch")]
    assert [(m.person, m.channel) for m in digests] == [("li", "mail")]


async def test_missing_roles_pass_up_and_the_next_shift_hears_of_it(site, inbox) -> None:
    s = await site(t0=T0 + 6 * 3600 - 120)             # 15:58: the day shift's last minutes
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "li told")
    s.advance(180)                                     # 16:01: the mid shift, night man
    handover = [m for m in s.outbox.messages() if m.step == "handover"]
    assert [m.person for m in handover if m.channel == "mail"] == ["night"]
    s.advance(180)                                     # 5 min: the mid shift has no backup
    backup = [m for m in s.outbox.messages() if m.step == "escalation:backup"]
    assert {m.person for m in backup} == {"disp"}      # the next one up answers


async def test_person_without_address_is_recorded_and_tried_on_fallback(site, inbox) -> None:
    s = await site()
    s.n.people["li"].contacts.pop("mail")              # li: SMS only; route: mail + ding
    s.notifier.n.routes[0].channels.remove("ding")
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("sms")) == 1, "li by the route's fallback")
    assert ("drainage.sump.level.HH", "li could not be told: no address on mail") in \
        s.events


async def test_oversized_ack_post_is_refused_whole(site, inbox) -> None:
    s = await site()
    link = await served_link(s, inbox)
    async with aiohttp.ClientSession() as http:
        async with http.post(link, data={"note": "x" * 40_000}) as r:
            assert r.status == 413
    assert s.engine.alarms["drainage.sump.level.HH"].state == "unack_active"


def test_config_refuses_secrets_in_query_and_finds_gaps() -> None:
    t = notify_table("http://127.0.0.1:9", 25)
    t["channels"]["hook"]["url"] = "json://127.0.0.1:9/hook?token=abc"
    t["rota"] = [{"shift": "a", "start": 8.5, "end": 20, "duty": ["li"]},
                 {"shift": "b", "start": 20, "end": 8, "duty": ["night"]}]
    t["timezone"] = "Mars/Olympus"
    got = dict(problems(NotifyConfig.model_validate(t)))
    assert "holds a secret" in got["notify.channels.hook.url"]
    assert "08:00" in got["notify.rota"]
    assert "Mars/Olympus" in got["notify.timezone"]


def test_secret_with_reserved_characters_stays_one_value(monkeypatch) -> None:
    from fixedsite.notify.config import resolve
    monkeypatch.setenv("FIXEDSITE_SECRET_SMTP", "pa#ss/w@rd")
    n = NotifyConfig.model_validate(notify_table("http://127.0.0.1:9", 25))
    import apprise
    url = resolve(n, n.channels["mail"].url).replace("{to}", "a@b.c")
    plugin = apprise.Apprise.instantiate(url)
    assert plugin is not None and plugin.password == "pa#ss/w@rd"


def test_rota_follows_the_mine_time_zone() -> None:
    t = notify_table("http://127.0.0.1:9", 25, timezone="Asia/Shanghai")
    n = NotifyConfig.model_validate(t)
    probe = Notifier.__new__(Notifier)
    probe.n, probe.tz = n, __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
    noon_beijing = datetime.datetime(2026, 12, 7, 4, 0, tzinfo=datetime.UTC).timestamp()
    assert probe.people("duty", noon_beijing) == ["li"]            # 12:00 in Beijing


@pytest.mark.parametrize("url,via", [("wecombot://{secret:wecom}", "wecom"),
                                     ("feishu://{secret:feishu}", "feishu")])
async def test_wecom_and_feishu_robots_through_apprise(inbox, monkeypatch, url: str,
                                                       via: str) -> None:
    """apprise's own WeCom and Feishu plugins build the post the stand-in checks."""
    from fixedsite.notify.config import resolve
    from fixedsite.notify.delivery import send

    monkeypatch.setenv("FIXEDSITE_SECRET_WECOM", "k3y")
    monkeypatch.setenv("FIXEDSITE_SECRET_FEISHU", "t0ken")
    t = notify_table(inbox.http_url, inbox.smtp_port)
    t["channels"]["robot"] = {"url": url}
    n = NotifyConfig.model_validate(t)
    assert not [p for p in problems(n) if "robot" in p[0]]
    ok, why = await asyncio.to_thread(send, resolve(n, url), "[P1] 水仓水位高高", "正文 body")
    assert ok, why
    got = inbox.of(via)
    assert len(got) == 1 and "水仓水位高高" in got[0].title + got[0].body
    assert "正文 body" in got[0].title + got[0].body
    assert inbox.refused == []
    inbox.down.add(via)                               # the robot's service refuses
    ok, why = await asyncio.to_thread(send, resolve(n, url), "t", "b")
    assert not ok and why


# --- found by the second review -------------------------------------------------------
class _FlakyAudit:
    """Audit log that fails exactly on its n-th write (a transient full disk)."""
    def __init__(self, fail_on: int) -> None:
        self.calls, self.fail_on = 0, fail_on

    def append(self, **kw: Any) -> int:
        self.calls += 1
        if self.calls == self.fail_on:
            from fixedsite.audit import AuditError
            raise AuditError("audit disk full (transient)")
        return self.calls


async def test_a_digest_link_partly_refused_stays_usable_and_says_so(site, inbox) -> None:
    s = await site()
    for tag in s.flood:
        s.store.update(tag, True)
        s.advance(10)
    s.advance(30)
    await until(lambda: any("FLOOD" in m.title for m in inbox.of("smtp")), "digest")
    dig = next(m for m in inbox.of("smtp") if "FLOOD" in m.title)
    link = link_in(dig.body).replace("http://127.0.0.1:1", f"http://127.0.0.1:{s.ack.port}")
    s.gate.audit = _FlakyAudit(fail_on=3)          # the 2nd ack's intent write fails
    async with aiohttp.ClientSession() as http:
        async with http.post(link, data={"note": "handled"}) as r:
            status, page = r.status, await r.text()
    assert status == 409
    held = [f"drainage.x{i}.ALM" for i in (10, 11, 12, 13)]
    states = {a: s.engine.alarms[a].state for a in held}
    unacked = [a for a, st in states.items() if st == "unack_active"]
    assert unacked, "setup: one ack should have been refused"
    # the person must learn that one was NOT acknowledged, and keep a working link
    assert "Escalation stopped" not in page, page
    async with aiohttp.ClientSession() as http:
        async with http.post(link, data={}) as r:
            assert r.status != 404, "link spent although an alarm in it was refused"


async def test_p1_fallback_to_a_group_carries_no_personal_link(site, inbox) -> None:
    s = await site(routes=[{"areas": ["drainage"], "priorities": [1, 2],
                            "channels": ["mail"], "fallback": "hook"}])
    inbox.down |= {"smtp"}
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("webhook")) >= 1, "P1 fallback on the group hook")
    body = inbox.of("webhook")[0].body
    assert "/ack/" not in body, "li's one-time link posted into the group room"


async def test_restart_with_the_plc_read_after_the_grace_still_closes(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    await s.close()
    s2 = await site(t0=T0 + 180)                 # back; the PLC not read yet
    s2.advance(61)                               # grace passes before the first read
    s2.store.update(s2.level, 1.2)               # then read: well below, condition gone
    s2.advance(1)
    a = s2.engine.alarms["drainage.sump.level.HH"]
    assert a.state == "normal"
    for _ in range(6 * 60):                       # 6 h, a tick a minute: past 16:00
        s2.advance(60)
    await asyncio.sleep(0.5)
    steps = [(m.person, m.step) for m in s2.outbox.messages() if m.channel == "mail"]
    assert s2.outbox.open_episodes() == [], \
        f"episode for a normal alarm still open, messages: {steps}"


async def test_shelving_expiring_while_out_of_service_pages_nobody(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    s.engine.shelve("drainage.sump.level.HH", "op1", 600, "sensor check")
    s.engine.set_out_of_service("drainage.sump.level.HH", "op1", True, "maintenance")
    s.advance(601)                               # shelving expires; still OOS
    await asyncio.sleep(0.5)
    assert len(s.notifier.open) == 0 and len(inbox.of("smtp")) == 1, \
        "people paged for an out-of-service alarm"


async def test_in_service_on_an_alarm_never_out_annunciates_nothing(site, inbox) -> None:
    s = await site()
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "the first e-mail")
    s.engine.set_out_of_service("drainage.sump.level.HH", "op1", False, "")  # already in
    act = [e for e in s.engine.events if e.what == "active"]
    assert len(act) == 1, "duplicate annunciation ('active') of a standing alarm"


async def test_no_handover_when_the_same_man_stays_on_duty(site, inbox) -> None:
    t = datetime.datetime(2026, 12, 7, 23, 58).timestamp()
    s = await site(t0=t)
    s.store.update(s.level, 2.7)
    await until(lambda: len(inbox.of("smtp")) == 1, "night told")
    s.advance(180)
    ho = [(m.person, m.channel) for m in s.outbox.messages() if m.step == "handover"]
    assert ho == [], f"'handover' to the man already on: {ho}"


async def test_one_token_per_message_whatever_the_retries(site, inbox) -> None:
    s = await site()
    inbox.down |= {"smtp"}
    s.store.update(s.trip, True)                 # P2 power: route hook only, no token
    s.store.update(s.flood[0], True)             # P2 drainage: mail + ding
    await until(lambda: [x for x in s.outbox.messages() if x.channel == "mail"][0].attempts
                >= 3, "three attempts on the mail relay")
    n = s.outbox.db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
    assert n <= 1, f"{n} tokens minted for one unsent message"
