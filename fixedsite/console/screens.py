"""The console's screens per system kind, found through the system registry.

A system brings its console screen (``SystemSpec.console``, ``"module:attribute"``) as a
``ScreenSpec``: the widgets under its view, how they are redrawn, its lines on the overview,
its keys and what they do, and its words in both languages. The console itself (``app``)
knows only the overview, alarms, commands and trends; each system's view gets the number
key after the overview, in the order the systems give (``SystemSpec.console_order``).

The console is a remote client: it does not read the site config, so a screen finds its
own systems among the tags the server serves (``systems(app)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fixedsite import systems
from fixedsite.console.i18n import TEXT


@dataclass(frozen=True)
class ScreenSpec:
    view: str                                     # its id under the views ("drainage")
    compose: Callable[[Any], Iterator[Any]]       # (app) -> its widgets
    refresh: Callable[[Any], None]                # (app) redraws them
    overview: Callable[[Any], list[str]]          # (app) -> its lines on the overview
    # (key, action name, footer word): the action runs ``act(app, name)``
    keys: tuple[tuple[str, str, str], ...] = ()
    act: Callable[[Any, str], Any] = lambda app, name: None
    focus: str | None = None                      # the table the arrow keys move in
    css: str = ""                                 # its widgets' styles
    words: dict[str, dict[str, str]] = field(default_factory=dict)


def screens() -> list[ScreenSpec]:
    """Every installed system's screen, its words added to the console's."""
    return list(by_kind().values())


def by_kind() -> dict[str, ScreenSpec]:
    """Each installed system kind's screen (a console shows those its site has)."""
    out = {}
    ordered = sorted(systems.registered().items(), key=lambda kv: (kv[1].console_order, kv[0]))
    for kind, spec in ordered:
        screen = systems.optional(spec, spec.console, "console view")
        if isinstance(screen, ScreenSpec):
            for key, words in screen.words.items():
                TEXT.setdefault(key, words)
            out[kind] = screen
    return out


def put_row(table: Any, key: str, cells: list[str]) -> None:
    """A screen's row redrawn in place, or added the first time it is seen: updating in
    place keeps the operator's cursor on the row it was on."""
    if key in table.rows:
        for col, cell in zip(table.columns, cells, strict=True):
            table.update_cell(key, col, cell, update_width=True)
    else:
        table.add_row(*cells, key=key)
