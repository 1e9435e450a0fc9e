"""A scenario: faults at set simulated times, for a run that can be repeated.

```toml
description = "the PLC link is cut for ten minutes, then pump 1 trips"

[[at]]
t = 600                # simulated seconds from the HIL's start
inject = "link"        # a fault as `fixedsite hil inject --list` names it
target = "drain1"
args = ["down"]        # what follows the target on the command line (optional)
```

The whole file is checked against the config before the HIL starts, by the same parser a
request from another shell goes through; every problem is ``FILE: key.path: message``
(``ConfigError``), as for the site config.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixedsite.config import ConfigError, SiteConfig
from fixedsite.hil.faults import InjectError, Injection, faults, parse

MAX_STEPS = 10_000


@dataclass(frozen=True)
class Step:
    t: float                  # simulated seconds from the HIL's start
    injection: Injection


def load(path: str | Path, cfg: SiteConfig) -> list[Step]:
    """The scenario in ``path``, in time order, or ConfigError with every problem."""
    name = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(name, [("", f"cannot read the file: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(name, [("", "not UTF-8 text; a scenario is a UTF-8 TOML file")]) \
            from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(name, [("", f"not valid TOML: {e}")]) from None
    except RecursionError:
        raise ConfigError(name, [("", "arrays or tables nested too deeply")]) from None
    return parse_scenario(raw, cfg, name)


def parse_scenario(raw: dict[str, Any], cfg: SiteConfig, name: str = "<scenario>"
                   ) -> list[Step]:
    problems: list[tuple[str, str]] = []
    for key in raw:
        if key not in ("at", "description"):
            problems.append((key, "unknown key (a scenario has description and [[at]])"))
    if "description" in raw and not isinstance(raw["description"], str):
        problems.append(("description", "expected a text"))
    entries = raw.get("at")
    if not isinstance(entries, list) or not entries or \
            not all(isinstance(e, dict) for e in entries):
        problems.append(("at", "missing; expected [[at]] tables, each with t, inject and "
                               "target"))
        raise ConfigError(name, problems)
    if len(entries) > MAX_STEPS:
        raise ConfigError(name, [("at", f"{len(entries)} steps; at most {MAX_STEPS}")])
    steps: list[Step] = []
    table = faults(cfg)
    for i, e in enumerate(entries):
        where = f"at.{i}"
        for key in e:
            if key not in ("t", "inject", "target", "args"):
                problems.append((f"{where}.{key}", "unknown key (expected t, inject, target, "
                                                   "args)"))
        t = e.get("t")
        if "t" not in e:
            problems.append((f"{where}.t", "missing; simulated seconds from the start"))
        elif isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) \
                or t < 0:
            problems.append((f"{where}.t", f"expected simulated seconds >= 0 (got {t!r})"))
            t = None
        if "inject" not in e:
            problems.append((f"{where}.inject", f"missing; one of: {', '.join(table)}"))
            continue
        if not isinstance(e["inject"], str) or e["inject"] not in table:
            problems.append((f"{where}.inject", f"unknown fault {e['inject']!r} (one of: "
                                                f"{', '.join(table)})"))
            continue
        args = e.get("args", [])
        if not isinstance(args, list):
            args = [args]                    # args = "down" reads as args = ["down"]
        if "target" not in e:
            problems.append((f"{where}.target", "missing; the equipment, system or PLC"))
            continue
        try:
            injection = parse(cfg, e["inject"], e["target"], args)
        except InjectError as err:
            problems.append((f"{where}.{err.key}", str(err)))
            continue
        if isinstance(t, int | float):
            steps.append(Step(float(t), injection))
    if problems:
        raise ConfigError(name, problems)
    return sorted(steps, key=lambda s: s.t)

