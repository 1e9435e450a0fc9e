"""The whole loop on the demo site: the HIL's drainage over Modbus, a pump tripped in the
plant, the controller's alarm, a message at the HIL's SMTP server and its webhook
stand-in, escalation on the accelerated clock while nobody answers, acknowledgement by
the one-time link (a real HTTP POST), the escalation stopped, and the loop on record in
the outbox, the history and the audit log's hash chain."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from conftest import Rig, site_config

from fixedsite.audit import AuditLog
from fixedsite.clock import ScaledClock
from fixedsite.hil.demo_config import demo_text, free_port
from fixedsite.historian import Historian
from fixedsite.notify import Notifications
from fixedsite.runtime import Controller


async def test_trip_to_people_escalation_and_ack_by_link(tmp_path: Path) -> None:
    cfg = site_config(demo_text(free_port(), scale=120.0, notify=True,
                                initial_level_m="1.7", after_min="[3, 30, 60]")
                      + f'\n[storage]\ndir = "{tmp_path}"\n', tmp_path, "notify-site.toml")
    assert cfg.storage_dir() == tmp_path
    # 10:00 in the mine's zone (configs/notify.toml: Asia/Shanghai), a Monday: the morning
    # shift, hours from its end, whatever the time of day this test runs at
    ten = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    rig = Rig(cfg, ScaledClock(120.0, origin=ten.timestamp()))
    await rig.site.start()
    try:
        audit = AuditLog(tmp_path / "audit.db")
        history = Historian(tmp_path / "history.db")
        ctl = rig.ctl = Controller(cfg, rig.clock, audit=audit, historian=history)
        service = Notifications.attach(ctl)
        assert service is not None
        await service.start()
        try:
            await ctl.start()
            inbox = rig.site.inbox
            assert inbox is not None
            plant = rig.plant
            await rig.until(lambda: any(p.motor_on and p.flow > 100 for p in plant.pumps),
                            1800, "a pump running with flow")
            first = next(i for i, p in enumerate(plant.pumps) if p.motor_on)
            alarm = f"drainage.pump{first + 1}.FAULT"
            duty = service.notifier.people("duty", rig.clock.now())[0]
            backup = service.notifier.people("backup", rig.clock.now())[0]
            mail_of = {p: cfg.notify.people[p].contacts["mail"] for p in cfg.notify.people}
            rig.plc.inject_trip(first)
            await rig.until(lambda: any(m.to == [mail_of[duty]] for m in inbox.of("smtp"))
                            and inbox.of("webhook"), 600, "the duty man's mail and the group")
            mail = next(m for m in inbox.of("smtp") if m.to == [mail_of[duty]])
            assert mail.title.startswith("[P2]")
            assert "确认报警" in mail.body or "Acknowledge" in mail.body
            hook = inbox.of("webhook")[-1]
            assert hook.title == mail.title
            # nobody answers: three minutes later the backup is told
            await rig.until(lambda: any(m.to == [mail_of[backup]]
                                        for m in inbox.of("smtp")), 600, "the backup told")
            told = next(m for m in inbox.of("smtp") if m.to == [mail_of[backup]])
            link = re.search(r"(http://\S+/ack/\S+)", told.body)
            assert link is not None
            async with aiohttp.ClientSession() as http:
                async with http.post(link.group(1), data={"note": "reset the relay, "
                                                          "pump 3 took over"}) as r:
                    assert r.status == 200, await r.text()
            a = ctl.alarms.alarms[alarm]
            assert a.state in ("ack_active", "normal") and a.acked_by == backup
            ep = service.outbox.episodes_between(0, rig.clock.now() + 1)
            mine = next(e for e in ep if e.alarm == alarm)
            assert mine.closed == "acked" and mine.acked_by == backup
            assert mine.acked_via.startswith("link from 127.0.0.1")
            assert mine.step == 1
            leader = mail_of[service.notifier.people("leader", rig.clock.now())[0]]
            await rig.run_for(35 * 60)           # past the leader's 30 min: nobody more
            assert not any(m.to == [leader] for m in inbox.of("smtp"))
            # the loop on record: who was told, by which channel, delivered; the ack is an
            # audited command by that person, with the note
            sent = [m for m in service.outbox.messages(episode=mine.key)]
            assert {(m.person, m.channel) for m in sent} >= {(duty, "mail"),
                                                             (duty, "group"),
                                                             (backup, "mail")}
            assert all(m.status == "sent" for m in sent)
            rows = [r for r in audit.tail(50) if r["target"] == "alarms"]
            params = [json.loads(r["params"]) if isinstance(r["params"], str) else r["params"]
                      for r in rows if r["actor"] == backup]
            assert any(p.get("id") == alarm and "pump 3 took over" in p.get("comment", "")
                       for p in params), rows
            assert audit.verify().ok
            history.flush()
            kinds = {e["text"].split(":")[0] for e in history.events_between(0, 2e10, "notify")}
            assert any(k.startswith("queued for") for k in kinds)
            assert any(k.startswith("delivered to") for k in kinds)
            assert any(k.startswith("notification closed") for k in kinds)
        finally:
            await ctl.stop()
            rig.ctl = None
            await service.stop()
            history.close()
            audit.close()
    finally:
        await rig.site.stop()
