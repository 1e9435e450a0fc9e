"""One channel's delivery: the outbox's messages for it, oldest first, through apprise.

Order is kept: a message that cannot go blocks the ones after it on that channel (they
would overtake it otherwise, and a "returned to normal" would arrive before its alarm);
the channel retries with a doubling pause and, after ``failing_after`` failures in a
row, says so in ``notify.<channel>.ok`` (alarmed, alarms/model.py). A message delivered
later than ``late_after_s`` after it was queued says it is late. Apprise reports failure
as ``False`` and the reason in its log: the log lines of the sending thread are taken
as the reason, so the record says why (HTTP 503, connection refused, SMTP auth).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from urllib.parse import quote

import apprise

from fixedsite.clock import Clock
from fixedsite.notify import messages
from fixedsite.notify.config import Channel
from fixedsite.notify.notifier import LINK
from fixedsite.notify.outbox import Message, Outbox
from fixedsite.tags import TagMeta, TagStore

log = logging.getLogger(__name__)

# wall s a stopping controller gives a send under way: inside the supervisor's own
# stop time-out (supervisor.STOP_TIMEOUT_S), so it is recorded before the outbox closes
STOP_WAIT_S = 2.0


def channel_tags(store: TagStore, name: str) -> dict[str, object]:
    specs = {"ok": ("bool", "", "messages on this channel are being delivered"),
             "queued": ("number", "", "messages waiting on this channel"),
             "last_error": ("text", "", "why the last attempt failed")}
    out = {}
    for sig, (kind, unit, desc) in specs.items():
        path = f"notify.{name}.{sig}"
        out[sig] = store[path] if path in store else store.define(
            path, TagMeta(unit=unit, description=desc, kind=kind))
    return out


class _ThreadLog(logging.Handler):
    """Apprise's warnings from one thread: the reason a send failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


def send(url: str, title: str, body: str) -> tuple[bool, str]:
    """One attempt, blocking (run in a thread): (delivered, why not). The channel's plugin
    is called directly, in this thread (``Apprise.notify`` hands it to a pool), so the
    warnings it logs while failing are this attempt's and no other channel's."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return False, "the channel's URL is not accepted by apprise"
    logger = logging.getLogger("apprise")
    h = _ThreadLog()
    logger.addHandler(h)
    try:
        ok = bool(plugin.notify(body=body, title=title))
    except Exception as e:          # a plugin's own bug must not end the channel
        return False, f"{type(e).__name__}: {e}"
    finally:
        logger.removeHandler(h)
    return ok, "" if ok else ("; ".join(h.lines[-2:]) or "the channel refused the message")


class Delivery:
    def __init__(self, name: str, channel: Channel, url: str, outbox: Outbox,
                 store: TagStore, clock: Clock, late_after_s: float, lang: str,
                 on_failure: Callable[[Message], None],
                 record: Callable[[float, str, str, dict[str, object]], None],
                 mint: Callable[[Message], str] | None = None) -> None:
        self.name, self.ch, self._url = name, channel, url
        self.outbox, self.store, self.clock = outbox, store, clock
        self.late_after_s, self.lang = late_after_s, lang
        self.on_failure, self.record = on_failure, record
        self.mint = mint
        self.tags = channel_tags(store, name)
        self.fails = 0
        self.failing = False
        self._wake = asyncio.Event()
        self._publish("")

    def wake(self) -> None:
        self._wake.set()

    def _publish(self, error: str) -> None:
        s = self.store
        s.update(self.tags["ok"], not self.failing)  # type: ignore[arg-type]
        s.update(self.tags["queued"], self.outbox.queued(self.name))  # type: ignore[arg-type]
        s.update(self.tags["last_error"], error)  # type: ignore[arg-type]

    def url_for(self, m: Message) -> str:
        url = self._url.replace("{to}", quote(m.addr, safe="@+")) if self.ch.personal \
            else self._url
        # apprise's own socket time-outs are the channel's: a slow gateway is not sent
        # the same message again after apprise's default 4 s while it is still answering
        extra = [f"{k}={v:g}" for k, v in (("cto", min(self.ch.timeout_s, 10.0)),
                                           ("rto", self.ch.timeout_s))
                 if f"{k}=" not in url]
        return url + ("&" if "?" in url else "?") + "&".join(extra) if extra else url

    async def run(self) -> None:
        pause = self.ch.retry_s
        while True:
            m = self.outbox.head(self.name)
            if m is None:
                self._publish("" if not self.failing else self.tags["last_error"].value)  # type: ignore[attr-defined]
                self._wake.clear()
                await self._wake.wait()      # woken by the notifier's next queued message
                continue
            ok, why = await self.attempt(m)
            if ok:
                pause = self.ch.retry_s
                continue
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.ch.retry_max_s)

    async def attempt(self, m: Message) -> tuple[bool, str]:
        now = self.clock.now()
        late = now - m.created > self.late_after_s
        body = f"{messages.late_line(self.lang(m.person), m.created)}\n{m.body}" if late \
            else m.body
        if LINK in body:                 # the person's one-time link, made now
            body = body.replace(LINK, self.mint(m) if self.mint is not None else "-")
        # asyncio.wait, not wait_for: a cancel (the controller stopping) must not wait for
        # a send blocked in its thread; apprise's own socket time-outs end that thread
        fut = asyncio.get_running_loop().run_in_executor(None, send, self.url_for(m),
                                                         m.title, body)
        try:
            done, _ = await asyncio.wait({fut}, timeout=self.ch.timeout_s + 5.0)
        except asyncio.CancelledError:
            # the controller stops: a send under way is let finish (briefly) and recorded,
            # or the next start would send it a second time
            await asyncio.wait({fut}, timeout=STOP_WAIT_S)
            if fut.done() and not fut.cancelled() and fut.exception() is None and \
                    fut.result()[0]:
                self.outbox.sent(m.id, self.clock.now(), late)
            raise
        ok, why = fut.result() if done else (
            False, f"no answer in {self.ch.timeout_s + 5.0:g} s")
        t = self.clock.now()
        if ok:
            self.outbox.sent(m.id, t, late)
            self.fails, self.failing = 0, False
            self.record(t, m.episodes[0].split("@")[0] if m.episodes else self.name,
                        f"delivered to {m.person} by {self.name}" + (" (late)" if late
                                                                     else ""),
                        {"message": m.id, "late": late})
            self._publish("")
            return True, ""
        self.outbox.attempt_failed(m.id, why)
        self.fails += 1
        if self.fails >= self.ch.failing_after and not self.failing:
            self.failing = True
            log.error("notification channel %s failing: %s", self.name, why)
        if m.attempts == 0:            # said once per message, not per retry
            self.record(t, m.episodes[0].split("@")[0] if m.episodes else self.name,
                        f"not delivered to {m.person} by {self.name}: {why}",
                        {"message": m.id})
        self._publish(why)
        try:
            self.on_failure(m)
        except Exception:              # a fallback that cannot be made ends nothing here
            log.exception("fallback for message %d on %s failed", m.id, self.name)
        return False, why
