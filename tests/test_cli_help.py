"""The command line explains itself (issue 10, item 9): every command says in one line what
it does, every option what it is and what it is when not given, and `fixedsite --help` is
plain text a terminal shows as it is."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from fixedsite.cli import build_parser, main


def _parsers(p: argparse.ArgumentParser, path: str = "fixedsite"
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """The parser and every subparser under it, however deep (``hil inject …`` too)."""
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                yield from _parsers(sp, f"{path} {name}")


PARSERS = list(_parsers(build_parser()))
# backticks (reST/Markdown), Rich/Textual style tags ([bold] ... [/]), Markdown bold; a
# TOML section such as [clock] or argparse's own [name] is plain text
MARKUP = re.compile(r"`|\[/[a-z ]*\]|\[(bold|dim|italic|b|i|u|reverse|red|green|yellow|"
                    r"blue|cyan|magenta|link=[^\]]*)\]|\*\*")


def test_every_command_has_a_one_line_description() -> None:
    commands = [sp for _, p in PARSERS for a in p._actions
                if isinstance(a, argparse._SubParsersAction) for sp in a._choices_actions]
    assert len(commands) >= 10
    for c in commands:
        assert c.help and c.help.strip(), f"{c.dest}: no one-line description"
        assert "\n" not in c.help, f"{c.dest}: description is more than a line"


@pytest.mark.parametrize("path, parser", PARSERS, ids=[p for p, _ in PARSERS])
def test_every_option_says_what_it_is_and_its_default(path: str,
                                                      parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert parser.description, f"{path}: no description in its own --help"
    assert not MARKUP.search(text), f"{path} --help has markup: {MARKUP.search(text)}"
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = "/".join(a.option_strings) or a.dest
        assert a.help and a.help is not argparse.SUPPRESS and a.help.strip(), \
            f"{path} {name}: no help text"
        if a.default is None or a.default is False or a.default is argparse.SUPPRESS:
            continue
        # the help as shown: %(default)s filled in, and the formatter's own addition
        shown = " ".join(parser._get_formatter()._expand_help(a).split())  # noqa: SLF001
        default = a.default.name if hasattr(a.default, "name") else str(a.default)
        assert default in shown, f"{path} {name}: help does not name the default " \
                                 f"{a.default!r}: {shown!r}"


def test_config_defaults_to_the_demo_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "demo", "hil", "audit", "report", "plan", "user"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "(default: the demo config, configs/demo-mine.toml)" in out, command


def test_user_role_defaults_to_viewer(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["user", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: viewer)" in out


def test_top_level_help_lists_every_command_plainly(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert not MARKUP.search(out), MARKUP.search(out)
    for command in ("check-config", "run", "hil", "demo", "diagram", "audit", "report",
                    "plan", "console", "user"):
        assert re.search(rf"^    {command} +\S", out, re.M), f"{command} not listed: {out}"
