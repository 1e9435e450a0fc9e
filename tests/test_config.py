"""Config loading: the demo is valid; each kind of bad file gets one clear error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DEMO_TEXT

from fixedsite.config import DEMO_CONFIG, ConfigError, load

PUMP1 = "[systems.drainage.equipment.pump1]\ntype = \"pump\"\nplc = \"drain1\""


def test_demo_config_is_valid() -> None:
    cfg = load(DEMO_CONFIG)
    assert list(cfg.plcs) == ["drain1", "drain2"]
    assert cfg.systems["drainage"].control.pumps == ["pump1", "pump2", "pump3", "pump4"]
    assert cfg.systems["lower"].discharges_into == "drainage"
    paths = {s.path for s in cfg.signals()}
    assert "drainage.pump3.run_cmd" in paths and "drainage.lt2.level" in paths


def test_demo_tariff_is_the_seasonal_schedule() -> None:
    import time

    tariff = load(DEMO_CONFIG).tariff
    assert tariff is not None

    def at(month: int, hour: float) -> tuple[str, float]:
        t = time.mktime((2026, month, 15, int(hour), int(hour % 1 * 60), 0, 0, 0, -1))
        p = tariff.at(t)
        return p.name, p.price
    assert at(1, 19.5) == ("critical", 1.3325)       # winter evening
    assert at(4, 19.5) == ("peak", 1.2025)           # spring: the same hour is only peak
    assert at(7, 12.0) == ("valley", 0.26)           # the midday valley, all year
    assert at(10, 23.5) == ("flat", 0.65)
    assert at(8, 16.5)[0] == "peak" and at(8, 6.9)[0] == "valley"
    assert max(p.price for p in tariff.periods) / min(p.price for p in tariff.periods) > 4


# (what is broken, how to break the demo text, key path named, words in the message)
BAD: list[tuple[str, Callable[[str], str], str, str]] = [
    ("unknown PLC", lambda t: t.replace(PUMP1, PUMP1.replace('plc = "drain1"',
                                                             'plc = "drain9"')),
     "systems.drainage.equipment.pump1.plc", "unknown PLC 'drain9'"),
    ("duplicate address", lambda t: t.replace('run_cmd = "coil:9"', 'run_cmd = "coil:1"'),
     "systems.drainage.equipment.pump2.signals.run_cmd", "already used by"),
    ("start under stop", lambda t: t.replace("start_levels_m = [1.5, 1.8, 2.05]",
                                             "start_levels_m = [0.7, 1.8, 2.05]"),
     "systems.drainage.control.start_levels_m.0", "not above its stop level"),
    ("wrong type", lambda t: t.replace("rated_flow_m3h = 280", 'rated_flow_m3h = "lots"', 1),
     "systems.drainage.equipment.pump1.rated_flow_m3h", "valid number"),
    ("typo key", lambda t: t.replace("poll_period_s = 1.0", "pol_period_s = 1.0"),
     "plcs.drain1.pol_period_s", "unknown key"),
    ("missing key", lambda t: t.replace("high_high_m = 2.5", ""),
     "systems.drainage.control.high_high_m", "required"),
    ("unknown signal", lambda t: t.replace('running = "ir:20.0"',
                                           'runing = "ir:20.0"\nrunning = "ir:20.0"'),
     "systems.drainage.equipment.pump1.signals.runing", "no signal 'runing'"),
    ("missing required signal", lambda t: t.replace('primed = "ir:40.1"\n', ""),
     "systems.drainage.equipment.pump2.signals", "'primed'"),
    ("command on read-only table", lambda t: t.replace('run_cmd = "coil:1"',
                                                       'run_cmd = "di:9"'),
     "systems.drainage.equipment.pump1.signals.run_cmd", "read-only"),
    ("bad address", lambda t: t.replace('run_cmd = "coil:1"', 'run_cmd = "coil:one"'),
     "systems.drainage.equipment.pump1.signals.run_cmd", "not a Modbus address"),
    ("unknown equipment type", lambda t: t.replace('type = "level_sensor"', 'type = "radar"',
                                                   1),
     "systems.drainage.equipment.lt1", "unknown equipment type 'radar'"),
    ("high-high above the sump", lambda t: t.replace("high_high_m = 2.5", "high_high_m = 4.5"),
     "systems.drainage.control.high_high_m", "top of the sump"),
    ("pump names a missing valve", lambda t: t.replace('valve = "valve3"', 'valve = "valve9"'),
     "systems.drainage.equipment.pump3.valve", "not a valve"),
    ("port out of range", lambda t: t.replace("port = 15020", "port = 70000"),
     "plcs.drain1.port", "less than or equal to 65535"),
    ("plan band into the reserve", lambda t: t.replace("band_m = [0.8, 2.1]",
                                                       "band_m = [0.8, 2.4]"),
     "systems.drainage.plan.band_m", "the reserve belongs to level control"),
    ("plan band down to low-low", lambda t: t.replace("band_m = [0.8, 2.1]",
                                                      "band_m = [0.5, 2.1]"),
     "systems.drainage.plan.band_m", "must be above low-low (0.55 m)"),
    ("tariff hour in no period", lambda t: t.replace("[[7, 11], [14, 16]",
                                                     "[[7, 11], [15, 16]"),
     "tariff.periods.1.hours", "hours 14..15 of month 1 are covered by no period"),
    ("tariff periods overlap", lambda t: t.replace("hours = [[16, 18], [22, 23]]",
                                                   "hours = [[16, 19], [22, 23]]"),
     "tariff.periods.4.hours", "hours from 18 of month 1 overlap another period"),
    ("tariff month 13", lambda t: t.replace("months = [1, 7, 8, 12]", "months = [1, 7, 8, 13]",
                                            1),
     "tariff.periods.3.months", "[13] are not months 1..12"),
    ("relay into no such room", lambda t: t.replace('discharges_into = "drainage"',
                                                    'discharges_into = "drainge"'),
     "systems.lower.discharges_into", "unknown system 'drainge'"),
    ("relay in a circle", lambda t: t.replace('name = "Main drainage, -350 m level"\n',
                                              'name = "Main drainage, -350 m level"\n'
                                              'discharges_into = "lower"\n'),
     "systems.drainage.discharges_into", "goes round in a circle"),
    ("relay rooms on other horizons", lambda t: t.replace("horizon_h = 24\nmax_pumps = 2",
                                                          "horizon_h = 12\nmax_pumps = 2"),
     "systems.lower.plan.step_s", "must equal 'drainage'"),
    ("falling volume curve", lambda t: t.replace("[1.0, 650]", "[1.0, 200]"),
     "systems.drainage.equipment.sump.volume_curve", "must both rise"),
]


@pytest.mark.parametrize("what, breaker, key, words", BAD, ids=[b[0] for b in BAD])
def test_bad_file_names_file_key_and_expectation(
        what: str, breaker: Callable[[str], str], key: str, words: str,
        write_config: Callable[[str], Path]) -> None:
    text = breaker(DEMO_TEXT)
    assert text != DEMO_TEXT, f"the breaker for {what!r} changed nothing"
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    line = next((ln for ln in message.splitlines() if f": {key}: " in ln), None)
    assert line is not None, f"no line names {key!r}:\n{message}"
    assert line.startswith(f"{path}: ")
    assert words in line, line


def test_toml_syntax_error_names_the_line(write_config: Callable[[str], Path]) -> None:
    path = write_config(DEMO_TEXT.replace("[site]", "[site"))
    with pytest.raises(ConfigError, match=r"not valid TOML.*line"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load(tmp_path / "nope.toml")


def test_check_config_cli_exit_codes(write_config: Callable[[str], Path]) -> None:
    ok = subprocess.run([sys.executable, "-m", "fixedsite", "check-config", str(DEMO_CONFIG)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "OK" in ok.stdout and "175 signals" in ok.stdout
    bad = write_config(DEMO_TEXT.replace('plc = "drain1"\nname = "Main pump 1"',
                                         'plc = "drain9"\nname = "Main pump 1"'))
    r = subprocess.run([sys.executable, "-m", "fixedsite", "check-config", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{bad}: systems.drainage.equipment.pump1.plc: unknown PLC 'drain9'" in r.stderr


def test_hil_map_and_demo_config_agree() -> None:
    """The demo config is the PLC's hand-over document: every address must match it."""
    from fixedsite.hil.drainage_plc import register_map

    cfg = load(DEMO_CONFIG)
    hil: dict[str, str] = {}
    for sname, system in cfg.systems.items():           # a PLC per pump room, one layout
        ctl = system.control
        names = {"sump.0": "sump", "plc.0": "plc1"}
        names |= {f"sensor.{j}": f"lt{j + 1}" for j in range(2)}
        for i, p in enumerate(ctl.pumps):
            names[f"pump.{i}"] = p
            names[f"valve.{i}"] = f"valve{i + 1}"
        hil |= {f"{sname}.{names[n.rsplit('.', 1)[0]]}.{n.rsplit('.', 1)[1]}": a
                for n, a in register_map(len(ctl.pumps), 2)}
        hil.pop(f"{sname}.plc1.heartbeat")
    mapped = {s.path: str(s.address) for s in cfg.signals()}
    assert mapped == hil
