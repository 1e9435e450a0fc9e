"""The alarm engine: ISA-18.2 states, delays, deadbands, shelving, suppression by design.

States: ``normal``, ``unack_active``, ``ack_active``, ``unack_rtn`` (returned to normal,
not yet acknowledged). An alarm annunciates on the move to ``unack_active``; on-delay and
off-delay keep fleeting conditions from annunciating at all; the deadband keeps a value
hovering at a limit from chattering.

An input that is not good is no evidence either way: the alarm *holds* (its condition and
state stay as they were, ``input_bad`` says why) until the input is good again, and only
then returns to normal, as an event the operator sees. So a transmitter that goes over
range never clears a standing high-high alarm, and an unacknowledged alarm is never
erased by a bad input. A normal alarm whose PLC is unreachable is suppressed by design
(the communication alarm says it once). An alarm with ``enable_when`` is suppressed while
that tag is not true (a pump's low flow while the pump is stopped): it cannot annunciate,
and one that stood returns to normal with an event. Shelved and out-of-service alarms
follow their condition silently; unshelving (by hand or at the expiry) re-annunciates a
condition that is still active.

The engine listens to the tag store and is ticked once a scan for the timers.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fixedsite.alarms.model import AlarmDef
from fixedsite.clock import Clock
from fixedsite.tags import COMM_FAIL, NOT_READ, Quality, Tag, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

NORMAL, UNACK_ACTIVE, ACK_ACTIVE, UNACK_RTN = "normal", "unack_active", "ack_active", \
    "unack_rtn"
CHATTER_COUNT, CHATTER_WINDOW_S = 3, 60.0


@dataclass(frozen=True)
class AlarmEvent:
    t: float
    alarm: str
    what: str            # active, rtn, clear, ack, shelve, unshelve, oos, in_service
    priority: int
    area: str
    text: str
    user: str = ""
    comment: str = ""
    state: str = ""      # the ISA-18.2 state after this transition: a mirror needs no replay
    shelved: bool = False  # shelved or out of service after this transition
    # the alarm's own times after this transition, so a mirror shows them as they were and
    # not when it heard of them: raised (went active), cleared (condition gone), acked
    raised: float | None = None
    cleared: float | None = None
    acked: float | None = None
    acked_by: str = ""
    text_zh: str = ""    # the fixed text in Chinese (``text`` is English)
    detail: str = ""     # what completes the text (a fault reason, a raw error): detail view


@dataclass
class Alarm:
    d: AlarmDef
    state: str = NORMAL
    cond: bool = False                 # the condition, after delays and deadband
    pending: float | None = None       # when the raw condition last changed
    active_since: float | None = None
    shelved_until: float | None = None
    out_of_service: bool = False
    suppressed: bool = False           # by design: its PLC is down, or enable_when is off
    input_bad: str = ""                # held because its input is not good: the reason
    message: str = ""
    detail: str = ""                   # the reason tag's text when it became active
    raised_at: float | None = None     # this episode's times (kept after it clears)
    cleared_at: float | None = None
    acked_at: float | None = None
    acked_by: str = ""
    last_value: Any = None
    bad_since: float | None = None
    history: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=8))
    activations: deque[float] = field(default_factory=lambda: deque(maxlen=CHATTER_COUNT))

    @property
    def silent(self) -> bool:
        """Shelved or out of service: it follows its condition without annunciating."""
        return self.shelved_until is not None or self.out_of_service


Sink = Callable[[AlarmEvent], None]


class AlarmEngine:
    def __init__(self, defs: list[AlarmDef], store: TagStore, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.alarms = {d.id: Alarm(d) for d in defs}
        self.events: deque[AlarmEvent] = deque(maxlen=100_000)
        self.sinks: list[Sink] = []
        self._by_tag: dict[str, list[Alarm]] = {}
        for a in self.alarms.values():
            self._by_tag.setdefault(a.d.tag, []).append(a)
            if a.d.enable_tag:
                self._by_tag.setdefault(a.d.enable_tag, []).append(a)
            if a.d.reason_tag:
                self._by_tag.setdefault(a.d.reason_tag, []).append(a)
        self._unsubscribe = store.subscribe(self._on_tag)

    def close(self) -> None:
        self._unsubscribe()

    # --- evaluation ---------------------------------------------------------------------
    def _on_tag(self, tag: Tag) -> None:
        for a in self._by_tag.get(tag.path, ()):
            self._evaluate(a, self.clock.now())

    def tick(self) -> None:
        """Timers: delays, shelving expiry, quality duration, rate of change."""
        now = self.clock.now()
        for a in self.alarms.values():
            if a.shelved_until is not None and now >= a.shelved_until:
                self._unshelve(a, now, "", "shelving expired")
            self._evaluate(a, now)

    def _raw(self, a: Alarm, tag: Tag, now: float) -> bool | None:
        """The condition now, or None when the alarm must hold (suppressed by design)."""
        d = a.d
        if d.kind == "quality":
            # a PLC that is down says so once (its comm alarm); a tag not read yet is not bad
            if tag.quality is Quality.BAD and tag.reason not in (COMM_FAIL, NOT_READ):
                a.bad_since = now if a.bad_since is None else a.bad_since
                return now - a.bad_since >= self.clock.guard_timeout(d.bad_after_s)
            a.bad_since = None
            return False
        if tag.quality is Quality.BAD:
            return None
        if d.kind == "rate":
            if not isinstance(tag.value, int | float):
                return False
            if not a.history or a.history[-1][0] != tag.ts:
                a.history.append((tag.ts, float(tag.value)))
            t0, v0 = a.history[0]
            span = tag.ts - t0
            if span <= 0:
                return a.cond
            return abs(float(tag.value) - v0) / span * 60.0 >= d.rate_per_min
        value = tag.value
        if value is None:
            return None
        # active: stays so until the value clears the deadband; else: the limit itself
        return (not d.clear(value)) if a.cond else bool(d.condition(value))

    def _evaluate(self, a: Alarm, now: float) -> None:
        d = a.d
        tag = self.store.get(d.tag)
        if tag is None:
            return
        enable = self.store.get(d.enable_tag) if d.enable_tag is not None else None
        if enable is not None and enable.quality is Quality.BAD and a.cond and \
                enable.reason != COMM_FAIL:
            a.pending, a.input_bad = None, f"{d.enable_tag}: {enable.reason}"
            return                        # a bad enabling input is no evidence: hold
        if enable is not None and self.store.value(d.enable_tag) is not True:
            a.suppressed, a.input_bad, a.pending = True, "", None
            if a.cond:                    # a standing alarm returns to normal, seen
                a.cond = False
                self._condition_changed(a, now)
            return
        raw = self._raw(a, tag, now)
        if raw is None:                   # no evidence either way: hold as it stands
            a.pending = None
            a.input_bad = tag.reason or "bad"
            a.suppressed = not a.cond and a.state == NORMAL and tag.reason in (COMM_FAIL,
                                                                               NOT_READ)
            return
        a.suppressed, a.input_bad = False, ""
        if raw == a.cond:
            a.pending = None
            return
        delay = d.on_delay_s if raw else d.off_delay_s
        if d.guard:
            delay = self.clock.guard_timeout(delay)
        if a.pending is None:
            a.pending = now
        if now - a.pending >= delay:
            a.cond, a.pending = raw, None
            a.last_value = tag.value
            self._condition_changed(a, now)

    def _condition_changed(self, a: Alarm, now: float) -> None:
        if a.cond:
            a.active_since = now
            a.activations.append(now)
            a.detail = self._detail(a)
            a.message = f"{a.d.text}: {a.detail}" if a.detail else a.d.text
            if a.state in (NORMAL, UNACK_RTN, ACK_ACTIVE):
                a.state = UNACK_ACTIVE
                a.raised_at, a.cleared_at, a.acked_at, a.acked_by = now, None, None, ""
                if not a.silent:
                    self._emit(a, now, "active")
        else:
            a.active_since = None
            a.cleared_at = now
            if a.state == UNACK_ACTIVE:
                a.state = UNACK_RTN
                if not a.silent:
                    self._emit(a, now, "rtn")
            elif a.state == ACK_ACTIVE:
                a.state = NORMAL
                self._emit(a, now, "clear")
            if a.silent and a.state == UNACK_RTN:
                a.state = NORMAL

    def _detail(self, a: Alarm) -> str:
        if a.d.reason_tag:
            reason = self.store.value(a.d.reason_tag)
            if reason:
                return str(reason)
        return ""

    def _event(self, a: Alarm, t: float, what: str, user: str = "", comment: str = ""
               ) -> AlarmEvent:
        return AlarmEvent(t, a.d.id, what, a.d.priority, a.d.area, a.d.text, user, comment,
                          a.state, a.shelved_until is not None or a.out_of_service,
                          a.raised_at, a.cleared_at, a.acked_at, a.acked_by,
                          a.d.text_zh or a.d.text, a.detail)

    def _emit(self, a: Alarm, now: float, what: str, user: str = "", comment: str = "") -> None:
        ev = self._event(a, now, what, user, comment)
        self.events.append(ev)
        for sink in self.sinks:
            sink(ev)
        if what == "active":
            log.warning("ALARM P%d %s: %s", a.d.priority, a.d.id, a.message)

    # --- operator actions -----------------------------------------------------------------
    def _get(self, alarm_id: str) -> Alarm:
        try:
            return self.alarms[alarm_id]
        except KeyError:
            raise KeyError(f"no alarm {alarm_id!r}") from None

    def acknowledge(self, alarm_id: str, user: str, comment: str = "") -> str | None:
        """None when done, else why not."""
        a = self._get(alarm_id)
        if a.state not in (UNACK_ACTIVE, UNACK_RTN):
            return say("{alarm} is not waiting for acknowledgement", alarm=alarm_id)
        a.state = ACK_ACTIVE if a.state == UNACK_ACTIVE else NORMAL
        a.acked_at, a.acked_by = self.clock.now(), user
        self._emit(a, self.clock.now(), "ack", user, comment)
        return None

    def shelve(self, alarm_id: str, user: str, duration_s: float, comment: str) -> str | None:
        a = self._get(alarm_id)
        if duration_s <= 0:
            return say("shelving needs a duration")
        if not comment:
            return say("shelving needs a comment saying why")
        now = self.clock.now()
        a.shelved_until = now + duration_s
        self._emit(a, now, "shelve", user, comment)
        return None

    def unshelve(self, alarm_id: str, user: str) -> str | None:
        a = self._get(alarm_id)
        if a.shelved_until is None:
            return say("{alarm} is not shelved", alarm=alarm_id)
        self._unshelve(a, self.clock.now(), user, "")
        return None

    def _unshelve(self, a: Alarm, now: float, user: str, comment: str) -> None:
        a.shelved_until = None
        self._emit(a, now, "unshelve", user, comment)
        if a.cond and a.state == UNACK_ACTIVE and not a.out_of_service:
            self._emit(a, now, "active")

    def set_out_of_service(self, alarm_id: str, user: str, oos: bool, comment: str) -> None:
        a = self._get(alarm_id)
        was = a.out_of_service
        a.out_of_service = oos
        now = self.clock.now()
        self._emit(a, now, "oos" if oos else "in_service", user, comment)
        if was and not oos and a.shelved_until is None and a.cond and \
                a.state == UNACK_ACTIVE:
            self._emit(a, now, "active")   # back in service while standing: annunciated

    # --- views ---------------------------------------------------------------------------
    def standing(self) -> list[Alarm]:
        """What the operator's alarm list shows: active or unacknowledged, not silenced."""
        return sorted((a for a in self.alarms.values()
                       if a.state != NORMAL and not a.silent),
                      key=lambda a: (a.d.priority, -(a.active_since or 0.0)))

    def snapshot(self) -> list[AlarmEvent]:
        """Every alarm a mirror must show (not normal, or shelved / out of service) as the
        event that would bring a fresh mirror up to date: what a client reads on connect."""
        now = self.clock.now()
        return [self._event(a, a.raised_at if a.raised_at is not None else now, "snapshot")
                for a in self.alarms.values()
                if a.state != NORMAL or a.shelved_until is not None or a.out_of_service]

    def counts_by_area(self) -> dict[str, dict[int, int]]:
        """Standing alarms per area and priority: the overview's alarm summary."""
        out: dict[str, dict[int, int]] = {}
        for a in self.standing():
            area = out.setdefault(a.d.area, {p: 0 for p in (1, 2, 3, 4)})
            area[a.d.priority] += 1
        return out

    def counts_by_priority(self) -> dict[int, int]:
        out = {p: 0 for p in (1, 2, 3, 4)}
        for a in self.standing():
            out[a.d.priority] += 1
        return out
