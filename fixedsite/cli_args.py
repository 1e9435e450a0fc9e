"""What every ``fixedsite`` verb shares, whoever declares it (the core CLI, a system's own
verbs such as drainage's ``plan``): argument types that refuse a bad value before
anything starts, the refusal that exits 2, the safe opening of a database, and the help
layout."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixedsite.config import DEMO_CONFIG


class CliError(Exception):
    """A refusal of the arguments or files given: printed as it is, exit 2."""


class DatabaseBusy(CliError):
    """A database another process holds locked past ``BUSY_TIMEOUT_S``: a command that can
    do without it (plan) says so and carries on; the others stop with this line."""


BUSY_TIMEOUT_S = 2.0      # how long a reading command waits for a database held locked


# --- argument types: a bad number is refused by argparse (usage, exit 2) before anything
# --- opens a file, binds a port or starts a clock
def finite(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return x


def non_negative(text: str) -> float:
    x = finite(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return x


def positive(text: str) -> float:
    x = finite(text)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 0")
    return x


def scale(text: str) -> float:
    x = positive(text)
    if x > 100_000:                   # as [clock] scale: past it a day is under a second
        raise argparse.ArgumentTypeError(f"{text!r}: time acceleration is at most 100000")
    return x


def count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = least - 1
        if n < least:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {least}")
        return n
    return parse


def month(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if m is None or not 1970 <= int(m[1]) <= 9999 or not 1 <= int(m[2]) <= 12:
        raise argparse.ArgumentTypeError(f"--month {text}: expected YYYY-MM, a year from "
                                         "1970 and a month 01..12")
    return int(m[1]), int(m[2])


# a table each kind of database has: a command that only reads checks for it before the
# database's own class opens the file (and would create its tables in someone else's file)
TABLES = {"history": "samples", "audit": "audit"}


def database(path: Path, what: str, opener: Callable[[Path], Any]) -> Any:
    """Open an existing fixedsite database, or say plainly why not (never create one
    where the user pointed at a file that is not there, nor tables in a foreign file)."""
    if not path.is_file():
        raise CliError(f"no {what} database at {path}" if not path.exists() else
                       f"{path}: not a file")
    article = "an" if what[0] in "aeiou" else "a"
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True, timeout=BUSY_TIMEOUT_S)) as con:
            found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                "name = ?", (TABLES[what],)).fetchone()
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise DatabaseBusy(f"{path}: locked by another process ({e})") from None
        raise CliError(f"{path}: not {article} {what} database ({e})") from None
    except sqlite3.DatabaseError as e:
        raise CliError(f"{path}: not {article} {what} database ({e})") from None
    if found is None:
        raise CliError(f"{path}: not {article} {what} database (no {TABLES[what]} table)")
    try:
        return opener(path)
    except sqlite3.DatabaseError as e:
        raise CliError(f"{path}: not {article} {what} database ({e})") from None


DEMO_DEFAULT = "(default: the demo config, configs/demo-mine.toml)"
class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, so nobody has to read the code to know
    what an option is when not given; a help that already says it (a default that is
    worked out, e.g. 'from the config') is left as written, and a flag (off unless given)
    or an option with no default has nothing to name."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "(default:" in text or action.default is None or \
                action.default is False or action.default is argparse.SUPPRESS or \
                not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        # the commands' names are not counted by argparse: a long one would sit alone on
        # its line with its description under it
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            longest = max((len(a.dest) for a in action._get_subactions()), default=0)  # noqa: SLF001
            self._action_max_length = max(self._action_max_length,
                                          longest + self._current_indent + 2)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # a file name or a 'remote-auto' is never cut at its hyphen
        import textwrap
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def command(sub: Any, name: str, line: str) -> argparse.ArgumentParser:
    """A subcommand whose one line is both its entry in ``fixedsite --help`` and the
    head of its own ``--help``."""
    return sub.add_parser(name, help=line, description=line[0].upper() + line[1:] + ".",
                          formatter_class=Help)


def config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=DEMO_CONFIG, metavar="FILE",
                   help=f"the site config {DEMO_DEFAULT}")
