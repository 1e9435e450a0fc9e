"""The console's dialogs: every command is a deliberate second step, never a single key.

Each dialog is modal, keyboard first (Enter / y confirm, Esc / n cancel), and returns its
answer through ``dismiss``; None always means "cancelled, do nothing".
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class Dialog(ModalScreen[Any]):
    """A small centred box over the current screen."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical { width: 68; max-width: 96%; height: auto; max-height: 96%;
                        border: round $primary; padding: 0 1; background: $surface; }
    Dialog .keys { color: $text-muted; margin-top: 1; }
    Dialog Label { width: 100%; }      /* long details wrap inside the box */
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(Dialog):
    BINDINGS = [Binding("y,enter", "yes", "confirm"), Binding("n,escape", "cancel", "cancel")]

    def __init__(self, text: str, keys: str = "y / Enter   n / Esc") -> None:
        super().__init__()
        self.text, self.keys = text, keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.text, id="confirm-text")
            yield Label(self.keys, classes="keys", markup=False)

    def action_yes(self) -> None:
        self.dismiss(True)


class Choose(Dialog):
    """Pick one of a few options by its number key (the state it acts on shown above)."""

    def __init__(self, text: str, options: list[tuple[str, str]], keys: str = "Esc") -> None:
        super().__init__()
        self.text, self.options, self.keys = text, options, keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.text, id="choose-text")
            for i, (_value, label) in enumerate(self.options, 1):
                yield Label(f"\\[{i}] {label}")
            yield Label(self.keys, classes="keys", markup=False)

    def on_key(self, event: Any) -> None:
        if event.key.isdigit() and 1 <= int(event.key) <= len(self.options):
            event.stop()
            self.dismiss(self.options[int(event.key) - 1][0])


class Ask(Dialog):
    """One or more text fields; Enter in the last one answers with all their values."""

    def __init__(self, title: str, fields: list[tuple[str, str]],
                 keys: str = "Enter   Esc") -> None:
        super().__init__()
        self.title_text, self.fields, self.keys = title, fields, keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="ask-title")
            for i, (label, default) in enumerate(self.fields):
                yield Label(label)
                yield Input(default, id=f"field{i}")
            yield Label(self.keys, classes="keys", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is not inputs[-1]:
            self.focus_next()
            return
        self.dismiss([i.value for i in inputs])


class Info(Dialog):
    """Text to read (an alarm's detail, why a key did nothing); any of Esc / Enter closes."""

    BINDINGS = [Binding("escape,enter,q", "cancel", "close")]

    def __init__(self, text: str, keys: str = "Esc") -> None:
        super().__init__()
        self.text, self.keys = text, keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.text, id="info-text")     # its dynamic parts come escaped
            yield Label(self.keys, classes="keys", markup=False)
