"""Alarm notification: alarms pushed to the people responsible, escalated until someone
answers, acknowledged back by a one-time link, every message on record (see
docs/notify.md). ``Notifications.attach`` wires it to a built controller; the parts:
``config`` (the [notify] section), ``outbox`` (queue and record on disk), ``notifier``
(routing, rota, escalation, floods), ``delivery`` (a channel through apprise),
``ack_http`` (the link's endpoint), ``handling`` (the monthly handling report)."""

from __future__ import annotations

import logging
from collections.abc import Callable
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


Record = Callable[[float, str, str, dict[str, Any]], None]


class Notifications:
    """The notification service: its outbox, notifier, one delivery per channel and the
    acknowledgement endpoint, wired once here (``attach`` for a controller; a test or a
    bench gives the parts)."""

    def __init__(self, n: NotifyConfig, path: Path, *, site: str, lang: str, store: Any,
                 clock: Any, engine: Any, gate: Any, record: Record | None = None) -> None:
        from fixedsite.notify.ack_http import AckServer
        from fixedsite.notify.delivery import Delivery
        from fixedsite.notify.notifier import Notifier
        from fixedsite.notify.outbox import Outbox

        self.n, self.site_lang, self.clock = n, lang, clock
        self.supervisor: Any = None        # a controller's (attach): where start runs tasks
        self.period_s = 1.0                # the escalation timer's period, plant s
        urls = {name: resolve(n, ch.url) for name, ch in n.channels.items()}  # before any
        self.outbox = Outbox(path)                                           # side effect
        record = record or (lambda t, source, text, data: None)
        self.notifier = Notifier(n, site, lang, self.outbox, clock, engine, gate, record)
        self.deliveries = {
            name: Delivery(name, ch, urls[name], self.outbox, store, clock,
                           n.late_after_s, self.lang, self.notifier.failed, record,
                           self.notifier.mint_link)
            for name, ch in n.channels.items()}
        self.notifier.failing = lambda c: self.deliveries[c].failing
        self.notifier.wake = lambda c: self.deliveries[c].wake()
        self.ack = AckServer(self.notifier, n.ack.host, n.ack.port)
        ok, error = record_tags(store)
        store.update(ok, True)
        store.update(error, "")

        def health(why: str) -> None:     # the record's alarm (alarms/model.py)
            store.update(ok, not why)
            store.update(error, why)
            if why:
                log.error("notification record not written (kept in memory): %s", why)
        self.outbox.on_health = health

    def lang(self, person: str) -> str:
        p = self.n.people.get(person)
        return (p.lang if p is not None and p.lang else None) or self.site_lang

    @classmethod
    def attach(cls, ctl: Any) -> Notifications | None:
        """The service for ``ctl``'s config, None when it has no [notify] section; what
        it says goes to the controller's history."""
        n, site = ctl.cfg.notify, ctl.cfg.site
        if n is None:
            return None
        hist = ctl.historian

        def record(t: float, source: str, text: str, data: dict[str, Any]) -> None:
            log.info("notify %s: %s", source, text)
            if hist is not None:
                hist.event(t, "notify", source, text, data)
        svc = cls(n, ctl.cfg.storage_dir() / "notify.db",
                  site=(site.name_zh or site.name) if site.lang == "zh_CN" else site.name,
                  lang=site.lang, store=ctl.store, clock=ctl.clock, engine=ctl.alarms,
                  gate=ctl.gate, record=record)
        svc.supervisor, svc.period_s = ctl.supervisor, ctl.cfg.controller.scan_period_s
        return svc

    async def start(self) -> None:
        """The endpoint first (a taken port stops the start, nothing half-begun), then the
        tasks: they live in the controller's supervisor and end with it."""
        from fixedsite.notify.notifier import run_ticks

        await self.ack.start()
        sup = self.supervisor
        for name, d in self.deliveries.items():
            sup.start(f"notify-{name}", d.run)
        sup.start("notify-timer", lambda: run_ticks(self.notifier, self.period_s,
                                                    self.clock))

    async def stop(self) -> None:
        await self.ack.stop()
        self.outbox.close()
