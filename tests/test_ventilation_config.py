"""Ventilation's config rules (issue 12): every name a ventilation table uses must be what
it claims (a damper, a main fan, an air sensor, a face's auxiliary fan), an airlock has
two doors, the network names its fans and windows; each problem with its key path."""

from __future__ import annotations

import tomllib

import pytest
from conftest import demo_text, free_port

from fixedsite.config import ConfigError, SiteConfig, parse

VENT = """
[plcs.vent1]
protocol = "s7"
host = "127.0.0.1"
port = {port}

[systems.vent]
kind = "ventilation"
name = "Main fans"

[systems.vent.control]
fans = ["fan1", "fan2"]
shaft_sensor = "shaft"
nominal_airflow_m3s = 150.0

[systems.vent.control.faces.face1]
fans = ["aux1", "aux2"]

[systems.vent.equipment.fan1]
type = "fan"
plc = "vent1"
inlet_damper = "d1in"
outlet_damper = "d1out"
rated_flow_m3s = 150.0
rated_pressure_pa = 2800.0
rated_power_kw = 630.0
rated_current_a = 70.0
curve = [[0.0, 3600.0], [150.0, 2800.0], [220.0, 1200.0]]

[systems.vent.equipment.fan1.signals]
running = "DB10.DBX0.0"
ready = "DB10.DBX0.1"
local = "DB10.DBX0.2"
fault_code = "DB10.DBW2"
mode = "DB10.DBW4"
run_cmd = "DB10.DBX0.3"
speed_sp = "DB10.DBW6"
speed = "DB10.DBW8"
airflow = "DB10.DBD10:REAL"

[systems.vent.equipment.fan2]
type = "fan"
plc = "vent1"
inlet_damper = "d2in"
outlet_damper = "d2out"
rated_flow_m3s = 150.0
rated_pressure_pa = 2800.0
rated_power_kw = 630.0
rated_current_a = 70.0
curve = [[0.0, 3600.0], [150.0, 2800.0], [220.0, 1200.0]]

[systems.vent.equipment.fan2.signals]
running = "DB11.DBX0.0"
ready = "DB11.DBX0.1"
local = "DB11.DBX0.2"
fault_code = "DB11.DBW2"
mode = "DB11.DBW4"
run_cmd = "DB11.DBX0.3"
speed_sp = "DB11.DBW6"
speed = "DB11.DBW8"
airflow = "DB11.DBD10:REAL"
{dampers}
[systems.vent.equipment.shaft]
type = "air_sensor"
plc = "vent1"

[systems.vent.equipment.shaft.signals]
airflow = "DB20.DBD0:REAL"

[systems.vent.equipment.door1]
type = "door"
airlock = "lock1"
plc = "vent1"

[systems.vent.equipment.door1.signals]
open_cmd = "DB30.DBX0.0"
opened = "DB30.DBX0.1"
closed = "DB30.DBX0.2"

[systems.vent.equipment.door2]
type = "door"
airlock = "lock1"
plc = "vent1"

[systems.vent.equipment.door2.signals]
open_cmd = "DB30.DBX1.0"
opened = "DB30.DBX1.1"
closed = "DB30.DBX1.2"

[systems.vent.equipment.aux1]
type = "aux_fan"
face = "face1"
plc = "vent1"

[systems.vent.equipment.aux1.signals]
run_cmd = "DB40.DBX0.0"
running = "DB40.DBX0.1"
local = "DB40.DBX0.2"
fault_code = "DB40.DBW2"

[systems.vent.equipment.aux2]
type = "aux_fan"
face = "face1"
plc = "vent1"

[systems.vent.equipment.aux2.signals]
run_cmd = "DB41.DBX0.0"
running = "DB41.DBX0.1"
local = "DB41.DBX0.2"
fault_code = "DB41.DBW2"
"""


def _damper(name: str, db: int) -> str:
    return f"""
[systems.vent.equipment.{name}]
type = "damper"
plc = "vent1"

[systems.vent.equipment.{name}.signals]
open_cmd = "DB{db}.DBX0.0"
opened = "DB{db}.DBX0.1"
closed = "DB{db}.DBX0.2"
"""


DAMPERS = "".join(_damper(n, 50 + i) for i, n in enumerate(["d1in", "d1out", "d2in", "d2out"]))


def _text(extra: str = "") -> str:
    return demo_text(free_port()) + VENT.format(port=free_port(), dampers=DAMPERS) + extra


def _parse(text: str) -> SiteConfig:
    return parse(tomllib.loads(text), "vent.toml")


def test_a_ventilation_system_beside_drainage_is_accepted_with_its_alarms() -> None:
    from fixedsite.alarms.model import build_defs

    cfg = _parse(_text())
    assert cfg.systems["vent"].kind == "ventilation"
    ids = {d.id for d in build_defs(cfg)}
    assert {"vent.fan1.TRIP", "vent.aux2.TRIP", "vent.shaft.airflow.LOW"} <= ids


@pytest.mark.parametrize(("swap", "key", "words"), [
    ({'inlet_damper = "d1in"': 'inlet_damper = "shaft"'},
     "systems.vent.equipment.fan1.inlet_damper", "'shaft' is not a damper"),
    ({'fans = ["fan1", "fan2"]': 'fans = ["fan1", "door1"]'},
     "systems.vent.control.fans.1", "'door1' is not a main fan"),
    ({'fans = ["fan1", "fan2"]': 'fans = ["fan1", "fan1"]'},
     "systems.vent.control.fans", "the working and the standby fan are the same"),
    ({'shaft_sensor = "shaft"': 'shaft_sensor = "fan2"'},
     "systems.vent.control.shaft_sensor", "'fan2' is not an air sensor"),
    ({'fans = ["aux1", "aux2"]': 'fans = ["aux1", "fan2"]'},
     "systems.vent.control.faces.face1.fans.1", "'fan2' is not an auxiliary fan"),
    ({'[systems.vent.equipment.aux2]\ntype = "aux_fan"\nface = "face1"':
      '[systems.vent.equipment.aux2]\ntype = "aux_fan"\nface = "face9"'},
     "systems.vent.equipment.aux2.face", "'face9' is not a face"),
    ({'[systems.vent.equipment.door2]\ntype = "door"\nairlock = "lock1"':
      '[systems.vent.equipment.door2]\ntype = "door"\nairlock = "lock2"'},
     "systems.vent.equipment.door2.airlock", "airlock 'lock2' has one door"),
    ({"nominal_airflow_m3s = 150.0": "nominal_airflow_m3s = 150.0\ndoor_timeout_s = 8.0"},
     "systems.vent.control.door_timeout_s", "is not more than door1's warning and travel"),
    ({"[systems.vent.control.faces.face1]": "[systems.vent.control.faces.shaft]"},
     "systems.vent.control.faces.shaft", "'shaft' is also the name of equipment"),
    ({"curve = [[0.0, 3600.0], [150.0, 2800.0], [220.0, 1200.0]]":
      "curve = [[0.0, 3600.0], [220.0, 2800.0], [150.0, 1200.0]]"},
     "systems.vent.equipment.fan1.curve", "flows must rise"),
])
def test_each_wrong_reference_is_named_with_its_key(swap: dict[str, str], key: str,
                                                    words: str) -> None:
    text = _text()
    for old, new in swap.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    with pytest.raises(ConfigError) as info:
        _parse(text)
    assert any(k == key and words in m for k, m in info.value.problems), info.value.problems


NETWORK = """
[systems.vent.network.branches.intake]
start = "surface"
end = "bottom"
resistance = 0.02

[systems.vent.network.branches.fan1]
start = "top"
end = "surface"
resistance = 0.001
fan = "fan1"

[systems.vent.network.branches.fan2]
start = "top"
end = "surface"
resistance = 0.001
fan = "{fan2}"

[systems.vent.network.branches.mine]
start = "bottom"
end = "top"
resistance = 0.08
regulator = "{regulator}"
area_m2 = 12.0

[systems.vent.network.users.face1]
branch = "{user_branch}"
people = 30
"""


def test_the_network_names_its_fans_windows_and_branches() -> None:
    good = NETWORK.format(fan2="fan2", regulator="door1", user_branch="mine")
    with pytest.raises(ConfigError) as info:
        _parse(_text(good))
    assert ("systems.vent.network.branches.mine.regulator",
            "'door1' is not a regulating window of system 'vent'") in info.value.problems
    bad = NETWORK.format(fan2="fan1", regulator="door1", user_branch="nowhere")
    with pytest.raises(ConfigError) as info:
        _parse(_text(bad))
    got = dict(info.value.problems)
    assert got["systems.vent.network.branches.fan2.fan"] == \
        "fan 'fan1' is in more than one branch"
    assert got["systems.vent.network.branches"] == "main fan 'fan2' is in no branch"
    assert got["systems.vent.network.users.face1.branch"] == "unknown branch 'nowhere'"


def test_a_hil_entry_simulates_a_system_of_its_own_kind_and_a_plc_once() -> None:
    hil = '\n[[hil.ventilation]]\nsystem = "drainage"\nplc = "drain1"\nface = "face1"\n'
    with pytest.raises(ConfigError) as info:
        _parse(_text(hil))
    got = info.value.problems
    assert ("hil.ventilation.0.system", "'drainage' is a drainage system, not ventilation") \
        in got
    assert ("hil.ventilation.0.plc", "PLC 'drain1' is already simulated by hil.drainage.0") \
        in got
