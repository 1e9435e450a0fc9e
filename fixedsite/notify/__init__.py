"""Alarm notification: alarms pushed to the people responsible, escalated until someone
answers, acknowledged back by a one-time link, every message on record (see
docs/notify.md). ``Notifications.attach`` wires it to a built controller; the parts:
``config`` (the [notify] section), ``outbox`` (queue and record on disk), ``notifier``
(routing, rota, escalation, floods), ``delivery`` (a channel through apprise),
``ack_http`` (the link's endpoint), ``handling`` (the monthly handling report)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fixedsite.notify.config import NotifyConfig, resolve

log = logging.getLogger(__name__)


def record_tags(store: Any) -> tuple[Any, Any]:
    """``notify.record.ok`` / ``.last_error``: whether the notification record is being
    written (a full disk holds its writes in memory)."""
    from fixedsite.tags import TagMeta

    return (store.define("notify.record.ok", TagMeta(
                kind="bool", description="the notification record is being written")),
            store.define("notify.record.last_error", TagMeta(
                kind="text", description="why the notification record was not written")))


class Notifications:
    """The notification service of one controller: its outbox, notifier, one delivery
    per channel and the acknowledgement endpoint, run as supervised tasks."""

    def __init__(self, ctl: Any, n: NotifyConfig, path: Path) -> None:
        from fixedsite.notify.ack_http import AckServer
        from fixedsite.notify.delivery import Delivery
        from fixedsite.notify.notifier import Notifier
        from fixedsite.notify.outbox import Outbox

        self.ctl, self.n = ctl, n
        urls = {name: resolve(n, ch.url) for name, ch in n.channels.items()}  # before any
        self.outbox = Outbox(path)                                           # side effect
        hist = ctl.historian

        def record(t: float, source: str, text: str, data: dict[str, Any]) -> None:
            log.info("notify %s: %s", source, text)
            if hist is not None:
                hist.event(t, "notify", source, text, data)
        self.notifier = Notifier(n, ctl.cfg.site.name_zh or ctl.cfg.site.name
                                 if ctl.cfg.site.lang == "zh_CN" else ctl.cfg.site.name,
                                 ctl.cfg.site.lang, self.outbox, ctl.clock, ctl.alarms,
                                 ctl.gate, record)
        self.deliveries = {
            name: Delivery(name, ch, urls[name], self.outbox, ctl.store, ctl.clock,
                           n.late_after_s, self.lang, self.notifier.failed, record,
                           self.notifier.mint_link)
            for name, ch in n.channels.items()}
        self.notifier.failing = lambda c: self.deliveries[c].failing
        self.notifier.wake = lambda c: self.deliveries[c].wake()
        self.ack = AckServer(self.notifier, n.ack.host, n.ack.port)
        ok, error = record_tags(ctl.store)
        ctl.store.update(ok, True)
        ctl.store.update(error, "")

        def health(why: str) -> None:     # the record's alarm (alarms/model.py)
            ctl.store.update(ok, not why)
            ctl.store.update(error, why)
            if why:
                log.error("notification record not written (kept in memory): %s", why)
        self.outbox.on_health = health

    def lang(self, person: str) -> str:
        p = self.n.people.get(person)
        return (p.lang if p is not None and p.lang else None) or self.ctl.cfg.site.lang

    @classmethod
    def attach(cls, ctl: Any) -> Notifications | None:
        """The service for ``ctl``'s config, None when it has no [notify] section."""
        n = ctl.cfg.notify
        return None if n is None else cls(ctl, n, ctl.cfg.storage_dir() / "notify.db")

    async def start(self) -> None:
        """The endpoint first (a taken port stops the start, nothing half-begun), then the
        tasks: they live in the controller's supervisor and end with it."""
        from fixedsite.notify.notifier import run_ticks

        await self.ack.start()
        sup = self.ctl.supervisor
        for name, d in self.deliveries.items():
            sup.start(f"notify-{name}", d.run)
        sup.start("notify-timer", lambda: run_ticks(
            self.notifier, self.ctl.cfg.controller.scan_period_s, self.ctl.clock))

    async def stop(self) -> None:
        await self.ack.stop()
        self.outbox.close()
