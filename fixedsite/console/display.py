"""How values look on every screen (ISA-101): units always, and a value that is not good
never looks like data: the last value dimmed, a mark, the reason and how long ago it
went so (``1.52 m ⟂ comm lost 00:02:10``), the same on every screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.markup import escape

PRIORITY_STYLE = {1: "bold white on red", 2: "bold black on yellow", 3: "yellow", 4: "cyan"}
MARK = "⟂"


def number(x: Any, nd: int = 1) -> str:
    """A reading as text, to ``nd`` places; a flag as 1 / 0."""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return "" if x is None else str(x)


def age(seconds: float) -> str:
    """H:MM:SS (days added beyond 24 h): how long a value has not been good."""
    s = max(0, int(seconds))
    d, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{d}d {text}" if d else text


def fmt(v: Any, unit: str = "", nd: int = 1, word: Callable[[str], str] | None = None,
        now: float = 0.0, text: str | None = None) -> str:
    """A value for display. Not good: dimmed, with the mark, the reason in the screen's
    language (``word``) and its age on the site's clock (``now``); never ``None``.
    ``text`` replaces the value's own text (a state word, a translated status) and comes
    escaped for markup; the value's own text is escaped here."""
    if v is None:
        return "--"
    shown = text if text is not None else escape(number(v.value, nd))
    if v.value is None or shown == "":
        shown = "--"
    else:
        shown += unit
    if v.good and not v.stale:
        return shown
    why = v.why or ("stale" if v.stale else "bad")
    label = word(f"q.{why}") if word is not None else why
    since = f" {age(now - v.ts)}" if v.ts and now > v.ts else ""
    return f"[dim]{shown}[/] {MARK} {label}{since}"
