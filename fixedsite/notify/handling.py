"""How alarms were handled: each P1/P2 alarm of a month with who was told, who answered,
how fast, when it cleared and what was done. The alarm's own times come from the history
(the controller writes every transition there, notification or not); who was told and
how the acknowledgement came (console, link) from the notification record when there is
one. This is the closed loop's proof for the month's review."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from fixedsite.notify.messages import stamp
from fixedsite.notify.outbox import Outbox


@dataclass
class Handled:
    alarm: str
    priority: int
    text: str
    raised: float
    acked: float | None = None
    acked_by: str = ""
    acked_via: str = ""
    cleared: float | None = None
    told: list[str] = field(default_factory=list)     # "person by channel (status)"
    notes: list[str] = field(default_factory=list)

    @property
    def tta_s(self) -> float | None:
        return None if self.acked is None else self.acked - self.raised

    @property
    def ttc_s(self) -> float | None:
        return None if self.cleared is None else self.cleared - self.raised


def episodes(events: list[dict[str, Any]], outbox: Outbox | None, t0: float, t1: float,
             priorities: tuple[int, ...] = (1, 2)) -> list[Handled]:
    """The alarms raised in [t0, t1) at these priorities, from the history's alarm events
    (in time order), completed from the notification record."""
    open_: dict[str, Handled] = {}
    out: list[Handled] = []
    for e in sorted(events, key=lambda e: float(e["t"])):
        if e["kind"] != "alarm":
            continue
        what, _, text = str(e["text"]).partition(": ")
        alarm, t = str(e["source"]), float(e["t"])
        data = e.get("data") or {}
        if what == "active":
            prio = int(data.get("priority", 4))
            h = Handled(alarm, prio, text, t)
            open_[alarm] = h
            if prio in priorities and t0 <= t < t1:
                out.append(h)
        elif alarm in open_:
            h = open_[alarm]
            if what == "ack" and h.acked is None:
                h.acked, h.acked_by = t, str(data.get("user", ""))
                comment = str(data.get("comment", ""))
                h.acked_via = "link" if comment.startswith("acknowledged by link") else \
                    "console"
            elif what in ("rtn", "clear") and h.cleared is None:
                h.cleared = t
    if outbox is not None:
        _complete(out, outbox, t0, t1)
    return out


def _complete(out: list[Handled], outbox: Outbox, t0: float, t1: float) -> None:
    eps = {(e.alarm, round(e.raised, 3)): e for e in outbox.episodes_between(t0 - 1, t1 + 1)}
    notes = outbox.notes()
    for h in out:
        ep = eps.get((h.alarm, round(h.raised, 3)))
        if ep is None:
            continue
        if ep.acked_via:
            h.acked_via = ep.acked_via
        for m in outbox.messages(episode=ep.key):
            state = m.status + (" late" if m.late else "") + \
                (f": {m.last_error}" if m.status != "sent" and m.last_error else "")
            h.told.append(f"{m.person} by {m.channel} ({state})")
        h.notes = [f"{person}: {text}" for _, key, _, person, text in notes if key == ep.key]


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.1f} h"


def as_text(title: str, rows: list[Handled]) -> str:
    lines = [title, f"{'raised':<19} {'P':>1}  {'alarm':<40} {'ack after':>10}  "
             f"{'by':<12} {'via':<18} {'cleared after':>13}"]
    for h in rows:
        when = stamp(h.raised)
        lines.append(f"{when:<19} {h.priority:>1}  {h.alarm[:40]:<40} {_dur(h.tta_s):>10}  "
                     f"{h.acked_by[:12] or 'NOT ACKED':<12} {h.acked_via[:18]:<18} "
                     f"{_dur(h.ttc_s):>13}")
        if h.told:
            lines.append(f"{'':<23}told: {'; '.join(h.told)}")
        for n in h.notes:
            lines.append(f"{'':<23}handling: {n}")
    acked = [h.tta_s for h in rows if h.tta_s is not None]
    cleared = [h.ttc_s for h in rows if h.ttc_s is not None]
    lines.append(f"{len(rows)} P1/P2 alarms; acknowledged {len(acked)}, not acknowledged "
                 f"{len(rows) - len(acked)}; time to acknowledge median "
                 f"{_dur(statistics.median(acked)) if acked else '-'}, max "
                 f"{_dur(max(acked)) if acked else '-'}; time to clear median "
                 f"{_dur(statistics.median(cleared)) if cleared else '-'}")
    return "\n".join(lines)
