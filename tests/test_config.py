"""Config loading: the demo is valid; each kind of bad file gets one clear error."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DEMO_TEXT

from fixedsite.config import DEMO_CONFIG, ConfigError, load, parse

PUMP1 = "[systems.drainage.equipment.pump1]\ntype = \"pump\"\nplc = \"drain1\""


def test_demo_config_is_valid() -> None:
    cfg = load(DEMO_CONFIG)         # with the parts of the other four systems
    assert list(cfg.plcs) == ["drain1", "drain2", "vent1", "aux1", "aux2", "sub_c",
                              "sub_d1", "sub_d2", "sub_d3", "sub_f1", "air1", "hoist1",
                              "hoist2", "hydro1"]
    assert {s.kind for s in cfg.systems.values()} == {
        "drainage", "ventilation", "power", "compressed_air", "hoist"}
    assert len(cfg.hil.compressed_air) == 1 and len(cfg.hil.hoist) == 2
    assert cfg.systems["ventilation"].kind == "ventilation"
    assert cfg.systems["power"].kind == "power"
    assert len(cfg.hil.ventilation) == 3 and len(cfg.hil.power) == 5
    assert cfg.systems["drainage"].control.pumps == ["pump1", "pump2", "pump3", "pump4"]
    assert cfg.systems["lower"].discharges_into == "drainage"
    paths = {s.path for s in cfg.signals()}
    assert "drainage.pump3.run_cmd" in paths and "drainage.lt2.level" in paths


def test_include_joins_files_and_refuses_a_key_set_in_two(tmp_path: Path) -> None:
    (tmp_path / "part.toml").write_text('[plcs.p2]\nprotocol = "s7"\nhost = "127.0.0.1"\n'
                                        'port = 15999\n', encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text('include = ["part.toml"]\n' + DEMO_TEXT, encoding="utf-8")
    assert "p2" in load(site).plcs
    (tmp_path / "part.toml").write_text('[site]\nid = "other"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(site)
    assert info.value.problems == [("site.id", f"set here and again in {tmp_path / 'part.toml'}")]
    (tmp_path / "part.toml").write_text('include = ["x.toml"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="an included file includes nothing further"):
        load(site)
    (tmp_path / "part.toml").unlink()
    with pytest.raises(ConfigError, match="cannot read the file"):
        load(site)
    site.write_text('include = "part.toml"\n' + DEMO_TEXT, encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a list of file names"):
        load(site)


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
    ("a float overlapping another's second register",
     lambda t: t.replace('level = { address = "ir:2:float32", unit = "m", range = [0, 5] }',
                         'level = { address = "ir:1:float32", unit = "m", range = [0, 5] }', 1),
     "systems.drainage.equipment.lt2.signals.level.address",
     "'ir:1:float32' is already used by systems.drainage.equipment.lt1"),
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
    # issue 9, item 17: NaN and infinity refused wherever a number is a quantity
    ("NaN high-high", lambda t: t.replace("high_high_m = 2.5", "high_high_m = nan"),
     "systems.drainage.control.high_high_m", "finite number"),
    ("infinite curve point", lambda t: t.replace("[4.0, 3200]", "[4.0, inf]"),
     "systems.drainage.equipment.sump.volume_curve.8.1", "finite number"),
    ("NaN transmitter range", lambda t: t.replace("range = [0, 5] }", "range = [0, nan] }", 1),
     "systems.drainage.equipment.lt1.signals.level.range.1", "finite number"),
    ("NaN scale", lambda t: t.replace("scale = 0.001", "scale = nan", 1),
     "systems.drainage.equipment.pump1.signals.discharge_pressure.scale", "finite number"),
    ("infinite offset", lambda t: t.replace('"ir:21:float32", unit = "m3/h"',
                                            '"ir:21:float32", offset = -inf, unit = "m3/h"', 1),
     "systems.drainage.equipment.pump1.signals.flow.offset", "finite number"),
    ("infinite alarm delay", lambda t: t.replace("on_delay_s = 10", "on_delay_s = inf", 1),
     "alarms.0.on_delay_s", "finite number"),
    ("NaN alarm limit", lambda t: t.replace("\nh = 2.2", "\nh = nan", 1),
     "alarms.0.h", "finite number"),
    ("infinite rated flow", lambda t: t.replace("rated_flow_m3h = 280", "rated_flow_m3h = inf",
                                                1),
     "systems.drainage.equipment.pump1.rated_flow_m3h", "finite number"),
    ("infinite price", lambda t: t.replace("price = 0.26", "price = inf"),
     "tariff.periods.0.price", "finite number"),
    ("NaN tariff hour", lambda t: t.replace("hours = [[0, 7], [11, 14]]",
                                            "hours = [[0, nan], [11, 14]]"),
     "tariff.periods.0.hours.0.1", "finite number"),
    ("infinite HIL inflow", lambda t: t.replace("max_inflow_m3h = 600", "max_inflow_m3h = inf"),
     "hil.drainage.0.max_inflow_m3h", "finite number"),
    ("huge rated flow", lambda t: t.replace("rated_flow_m3h = 280", "rated_flow_m3h = 1e308", 1),
     "systems.drainage.equipment.pump1.rated_flow_m3h", "no plausible quantity"),
    ("tiny rated flow", lambda t: t.replace("rated_flow_m3h = 280", "rated_flow_m3h = 5e-324",
                                            1),
     "systems.drainage.equipment.pump1.rated_flow_m3h", "no plausible quantity"),
    ("huge curve volume", lambda t: t.replace("[4.0, 3200]", "[4.0, 1e300]"),
     "systems.drainage.equipment.sump.volume_curve", "no plausible quantity"),
    ("clock faster than a day a second", lambda t: t.replace("scale = 60.0", "scale = 1e6"),
     "clock.scale", "less than or equal to 100000"),
    ("negative volume in the curve", lambda t: t.replace("[[0.0, 0], [0.5, 312.5]",
                                                         "[[0.0, -100], [0.5, 0]"),
     "systems.drainage.equipment.sump.volume_curve.0", "neither below 0"),
    ("clock origin not a date", lambda t: t.replace("scale = 60.0", 'scale = 60.0\norigin = '
                                                    '"next tuesday"'),
     "clock.origin", "not an ISO date-time"),
    ("OPC UA port out of range", lambda t: t.replace("127.0.0.1:48400", "127.0.0.1:99999"),
     "opcua.endpoint", "port 99999 is outside 1..65535"),
    ("signal entry neither text nor table", lambda t: t.replace('starts = "ir:35"', "starts = 35",
                                                                1),
     "systems.drainage.equipment.pump1.signals.starts", "expected an address"),
    # names that break tag paths or OPC UA NodeIds, and reserved names
    ("dot in an equipment name", lambda t: t + EXTRA_SENSOR.format(name='"lt.3"'),
     'systems.drainage.equipment."lt.3"', "letters, digits"),
    ("space in a PLC name", lambda t: t.replace("[plcs.drain2]", '[plcs."drain 2"]').replace(
        'plc = "drain2"', 'plc = "drain 2"'),
     'plcs."drain 2"', "letters, digits"),
    ("system named alarms", lambda t: t.replace("[systems.lower", "[systems.alarms").replace(
        'system = "lower"', 'system = "alarms"').replace('tag = "lower.', 'tag = "alarms.'),
     "systems.alarms", "reserved"),
    ("system named site", lambda t: t.replace("[systems.lower", "[systems.site").replace(
        'system = "lower"', 'system = "site"').replace('tag = "lower.', 'tag = "site.'),
     "systems.site", "reserved"),
    ("system named comm", lambda t: t.replace("[systems.lower", "[systems.comm").replace(
        'system = "lower"', 'system = "comm"').replace('tag = "lower.', 'tag = "comm.'),
     "systems.comm", "reserved"),
    ("equipment named control", lambda t: t + EXTRA_SENSOR.format(name="control"),
     "systems.drainage.equipment.control", "reserved"),
    ("equipment named like a method", lambda t: t + EXTRA_SENSOR.format(name="Start"),
     "systems.drainage.equipment.Start", "reserved"),
    # the heartbeat is a 16-bit counter written with write_register
    ("coil heartbeat", lambda t: t.replace('heartbeat = "hr:0"', 'heartbeat = "coil:40"', 1),
     "plcs.drain1.heartbeat", "a holding register"),
    ("float32 heartbeat", lambda t: t.replace('heartbeat = "hr:0"', 'heartbeat = "hr:0:float32"',
                                              1),
     "plcs.drain1.heartbeat", "a holding register"),
    ("negative HIL seed", lambda t: t.replace("seed = 7", "seed = -1"),
     "hil.drainage.0.seed", "greater than or equal to 0"),
    ("two HIL rooms on one PLC", lambda t: t.replace('system = "lower"\nplc = "drain2"',
                                                     'system = "lower"\nplc = "drain1"'),
     "hil.drainage.1.plc", "already simulated"),
    # alarms that cannot work on the kind of tag they name
    ("limit alarm on a text tag", lambda t: t + EXTRA_ALARM.format(
        kind="limit", tag="comm.drain1.last_error", more="h = 1"),
     "alarms.14.tag", "text tag"),
    ("rate alarm on a bool tag", lambda t: t + EXTRA_ALARM.format(
        kind="rate", tag="drainage.pump1.running", more="rate_per_min = 1"),
     "alarms.14.tag", "bool tag"),
    ("limit alarm on a plan text tag", lambda t: t + EXTRA_ALARM.format(
        kind="limit", tag="drainage.plan.status", more="h = 1"),
     "alarms.14.tag", "text tag"),
    ("discrete alarm on text without a text to match", lambda t: t + EXTRA_ALARM.format(
        kind="discrete", tag="drainage.pump1.state", more="equals = true"),
     "alarms.14.equals", "a text tag"),
    ("enable_when on a number", lambda t: t.replace('enable_when = "drainage.pump1.running"',
                                                    'enable_when = "drainage.pump1.flow"'),
     "alarms.6.enable_when", "bool tag"),
    # item 4: a transmitter must be able to show the levels it guards
    ("transmitter range under high-high", lambda t: t.replace("range = [0, 5] }",
                                                              "range = [0, 2.4] }", 1),
     "systems.drainage.equipment.lt1.signals.level.range", "high-high"),
    ("transmitter range top at high-high", lambda t: t.replace("range = [0, 4] }",
                                                               "range = [0, 1.8] }", 1),
     "systems.lower.equipment.lt1.signals.level.range", "high-high"),
    ("alarm hh a transmitter cannot show", lambda t: t.replace("\nhh = 2.5", "\nhh = 5.0", 1),
     "alarms.0.hh", "can never show"),
    ("alarm hh over a mapped signal's range", lambda t: t.replace("hh = 85", "hh = 160", 1),
     "alarms.5.hh", "can never show"),
]

EXTRA_SENSOR = """
[systems.drainage.equipment.{name}]
type = "level_sensor"
plc = "drain1"

[systems.drainage.equipment.{name}.signals]
level = "ir:200:float32"
"""

EXTRA_ALARM = """
[[alarms]]
kind = "{kind}"
tag = "{tag}"
text = "an extra alarm"
{more}
"""


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


@pytest.mark.parametrize("data, words", [
    (b'[site]\nid = "demo"\nname = "caf\xe9"\n', "not UTF-8 text: byte 0xe9 on line 3"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8 text: byte 0x89 on line 1"),
    (b"\x00\x01\x02\x03binary\x00", "not valid TOML"),
    (b"x = " + b"[" * 5000 + b"]" * 5000, "nested too deeply"),
], ids=["latin-1 byte", "PNG file", "control bytes", "deeply nested arrays"])
def test_unreadable_content_is_a_config_error(data: bytes, words: str, tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)
    r = subprocess.run([sys.executable, "-m", "fixedsite", "check-config", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def test_moderately_nested_value_is_reported_by_key(write_config: Callable[[str], Path]
                                                    ) -> None:
    """Nesting tomllib can read still gets a key path from the schema, not a crash."""
    path = write_config(DEMO_TEXT.replace("[4.0, 3200]]", "[4.0, " + "[" * 300 + "]" * 300
                                          + "]]"))
    with pytest.raises(ConfigError) as info:
        load(path)
    assert ": systems.drainage.equipment.sump.volume_curve.8" in str(info.value)


def test_alarms_may_name_diagnostic_and_controller_tags(write_config: Callable[[str], Path]
                                                        ) -> None:
    text = DEMO_TEXT + EXTRA_ALARM.format(kind="discrete", tag="controller.historian.ok",
                                          more="equals = false")
    text += EXTRA_ALARM.format(kind="limit", tag="controller.uplink.queued", more="h = 100000")
    text += EXTRA_ALARM.format(kind="limit", tag="comm.drain1.errors", more="h = 100")
    cfg = load(write_config(text))
    assert [a.tag for a in cfg.alarms[-3:]] == ["controller.historian.ok",
                                                "controller.uplink.queued",
                                                "comm.drain1.errors"]


def test_every_derived_tag_has_a_kind() -> None:
    """The kinds table covers every tag the controller publishes (a new derived tag
    without a kind would let a limit alarm onto text)."""
    from fixedsite.config_checks import tag_kinds

    kinds = tag_kinds(load(DEMO_CONFIG))
    assert kinds["drainage.pump1.state"] == "text"
    assert kinds["drainage.sump.sensor_disagree"] == "bool"
    assert kinds["drainage.sump.level"] == "number"
    assert kinds["comm.drain2.online"] == "bool" and kinds["comm.drain2.last_error"] == "text"
    assert kinds["drainage.plan.schedule"] == "text" and kinds["drainage.plan.cost"] == "number"
    assert kinds["controller.tasks.failed"] == "text"
    assert kinds["drainage.control.demand"] == "number"
    assert set(kinds.values()) == {"bool", "number", "text"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load(tmp_path / "nope.toml")


def test_check_config_cli_exit_codes(write_config: Callable[[str], Path]) -> None:
    ok = subprocess.run([sys.executable, "-m", "fixedsite", "check-config", str(DEMO_CONFIG)],
                        capture_output=True, text=True, timeout=60)
    n = len(list(load(DEMO_CONFIG).signals()))    # drainage and the included ventilation
    assert ok.returncode == 0 and "OK" in ok.stdout and f"{n} signals" in ok.stdout
    assert n > 300
    bad = write_config(DEMO_TEXT.replace('plc = "drain1"\nname = "Main pump 1"',
                                         'plc = "drain9"\nname = "Main pump 1"'))
    r = subprocess.run([sys.executable, "-m", "fixedsite", "check-config", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{bad}: systems.drainage.equipment.pump1.plc: unknown PLC 'drain9'" in r.stderr


def test_hil_map_and_demo_config_agree() -> None:
    """The demo config is the PLC's hand-over document: every address must match it."""
    from fixedsite.hil.drainage.plc import register_map

    cfg = load(DEMO_CONFIG)
    hil: dict[str, str] = {}
    for sname, system in cfg.systems.items():           # a PLC per pump room, one layout
        if system.kind != "drainage":
            continue                           # (ventilation's map: test_ventilation_hil)
        ctl = system.control
        names = {"sump.0": "sump", "plc.0": "plc1"}
        names |= {f"sensor.{j}": f"lt{j + 1}" for j in range(2)}
        for i, p in enumerate(ctl.pumps):
            names[f"pump.{i}"] = p
            names[f"valve.{i}"] = f"valve{i + 1}"
        hil |= {f"{sname}.{names[n.rsplit('.', 1)[0]]}.{n.rsplit('.', 1)[1]}": a
                for n, a in register_map(len(ctl.pumps), 2)}
        hil.pop(f"{sname}.plc1.heartbeat")
    # a pump room's PLC (the one its plc_status names); the hydrological monitoring
    # station's map is its own (tests/test_drainage_hydrology.py)
    rooms = {eq.plc for system in cfg.systems.values() if system.kind == "drainage"
             for eq in system.equipment.values() if eq.type == "plc_status"}
    mapped = {s.path: str(s.address) for s in cfg.signals()
              if cfg.systems[s.path.split(".")[0]].kind == "drainage" and s.plc in rooms}
    assert mapped == hil


@pytest.mark.parametrize("name", ["control", "Start", "setmode", "acknowledge"])
def test_equipment_may_not_take_a_folder_or_method_name(name: str) -> None:
    """A system's folders (drainage: control, plan) and its commands' method names come
    from the registry; an equipment called so would collide with them in the OPC UA
    address space."""
    text = DEMO_TEXT.replace("[systems.drainage.equipment.lt1]",
                             f"[systems.drainage.equipment.{name}]\n"
                             'type = "level_sensor"\nplc = "drain1"\n'
                             'signals = { level = "ir:200:float32" }\n\n'
                             "[systems.drainage.equipment.lt1]")
    with pytest.raises(ConfigError) as info:
        parse(tomllib.loads(text), "site.toml")
    (key, msg), = [(k, m) for k, m in info.value.problems if k.endswith(f".{name}")]
    assert key == f"systems.drainage.equipment.{name}" and "is reserved" in msg, msg


def _on_s7(text: str) -> str:
    """The demo with its main pump room's PLC on S7 (Modbus-only keys dropped)."""
    head = '[plcs.drain1]\nprotocol = "modbus"'
    assert head in text
    text = text.replace(head, '[plcs.drain1]\nprotocol = "s7"\nrack = 0\nslot = 1', 1)
    block = text.split("[plcs.drain1]", 1)[1].split("\n\n", 1)[0]
    fixed = "\n".join(line for line in block.split("\n")
                      if not line.startswith(("device_id", "word_order", "max_gap")))
    fixed = fixed.replace('heartbeat = "hr:0"', 'heartbeat = "DB1.DBW0"')
    return text.replace(block, fixed, 1)


def test_every_bad_s7_address_is_named_with_its_key_path() -> None:
    """check-config on an S7 PLC: each address that is not Siemens notation, or does not
    fit its signal, is one line naming its key and what was expected."""
    text = _on_s7(DEMO_TEXT)
    text = text.replace('running = "ir:20.0"', 'running = "DB2.DBX40.9"', 1)
    text = text.replace('run_cmd = "coil:1"', 'run_cmd = "I0.3"', 1)
    with pytest.raises(ConfigError) as info:
        parse(tomllib.loads(text), "s7.toml")
    problems = dict(info.value.problems)
    pump1 = "systems.drainage.equipment.pump1.signals"
    assert "bit 9 is outside 0..7" in problems[f"{pump1}.running"]
    assert "read-only" in problems[f"{pump1}.run_cmd"] and \
        "expected a DB, M or Q address" in problems[f"{pump1}.run_cmd"]
    # every drain1 signal still in Modbus notation is named, none of the other PLC's
    left = [k for k, m in info.value.problems if "is not an S7 address" in m]
    assert left and all(k.startswith("systems.drainage.") for k in left)
    assert all("expected DB<n>.DBX<byte>.<bit>" in problems[k] for k in left)
    assert "plcs.drain1.heartbeat" not in problems


def test_an_s7_heartbeat_must_be_a_word_the_controller_may_write() -> None:
    text = _on_s7(DEMO_TEXT).replace('heartbeat = "DB1.DBW0"', 'heartbeat = "IW0"')
    with pytest.raises(ConfigError) as info:
        parse(tomllib.loads(text), "s7.toml")
    problems = dict(info.value.problems)
    assert "expected a word in a DB or M" in problems["plcs.drain1.heartbeat"]


def test_an_s7_number_signal_on_a_single_bit_is_refused() -> None:
    """A level read from one bit reads 0 or 1 m, Good (review: the check knew only the
    Modbus spelling 'bool')."""
    text = _on_s7(DEMO_TEXT).replace(
        'level = { address = "ir:0:float32", unit = "m", range = [0, 5] }',
        'level = { address = "DB2.DBX0.0", unit = "m", range = [0, 5] }', 1)
    with pytest.raises(ConfigError) as info:
        parse(tomllib.loads(text), "s7.toml")
    problems = dict(info.value.problems)
    assert "is a number but 'DB2.DBX0.0' is a single bit" in \
        problems["systems.drainage.equipment.lt1.signals.level.address"]


@pytest.mark.parametrize("kind", ['["drainage"]', "{ a = 1 }", "5"])
def test_a_kind_that_is_not_a_word_is_a_clear_error_with_other_mistakes(kind: str) -> None:
    text = DEMO_TEXT.replace('kind = "drainage"', f"kind = {kind}", 1).replace(
        'type = "level_sensor"', 'type = "bogus"', 1)
    with pytest.raises(ConfigError) as info:
        parse(tomllib.loads(text), "site.toml")
    keys = [k for k, _ in info.value.problems]
    assert "systems.drainage.kind" in keys, info.value.problems
