"""The power system's config (issue 13): the demo network loads; each rule of
``sequences/power/checks.py`` names the key and what was expected; the relay profile fills
a bay's signals; the topology answers what the scheme, location and restoration ask."""

from __future__ import annotations

import re
import tomllib

import pytest

from fixedsite.config import ConfigError, parse
from fixedsite.hil.demo_config import power_text
from fixedsite.sequences.power import profile
from fixedsite.sequences.power.breakers import state_word
from fixedsite.sequences.power.topology import Topology


def _parse(text: str):
    return parse(tomllib.loads(text), "power.toml")


@pytest.fixture(scope="module")
def site():
    return _parse(power_text())


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as e:
        _parse(text)
    return e.value.problems


def test_the_demo_network_loads_with_every_relay_window_filled(site):
    p = site.systems["power"]
    brks = [n for n, e in p.equipment.items() if e.type == "breaker"]
    assert len(brks) == 20 and len(p.network.links) == 19
    q111 = p.equipment["Q111"]
    assert q111.signals["breaker_cmd"] == f"hr:{q111.base}"
    assert q111.signals["soe15_seq"] == f"ir:{q111.base + 50 + 6 * 15}"
    assert q111.signals["ia"].address == f"ir:{q111.base + 2}:float32"
    assert len(q111.signals) == len(profile.RELAY)


def test_a_signal_written_in_the_config_overrides_the_profile():
    old = 'feeds = "L_D1"\nbase = 800\n'
    text = power_text().replace(old, old + 'signals = { ia = "ir:5000:float32" }\n', 1)
    assert 'ia = "ir:5000' in text
    q = _parse(text).systems["power"].equipment["Q111"]
    assert q.signals["ia"] == "ir:5000:float32" and q.signals["ib"].address == "ir:804:float32"


@pytest.mark.parametrize("old, new, key, words", [
    ('bus = "C1"\nfeeds = "L_D1"', 'bus = "C9"\nfeeds = "L_D1"', "equipment.Q111.bus",
     "'C9' is not a bus"),
    ('feeds = "L_D1"\nbase = 800', 'feeds = "L_X"\nbase = 800', "equipment.Q111.feeds",
     "'L_X' is not a source, bus, line or load"),
    ('feeds = "L_D1"\nbase = 800', 'feeds = "L_D3"\nbase = 800', "equipment.Q111.feeds",
     "does not reach bus 'C1'"),
    ('feeds = "L_D1"\nbase = 800', 'feeds = "L_D1"\nbase = 801', "equipment.Q111.base",
     "multiple of 200"),
    ('feeds = "L_D1"\nbase = 800', 'feeds = "L_D1"\nbase = 600', "equipment.Q111.base",
     "already 'Q100'"),
    ('relay_no = 4\n', 'relay_no = 5\n', "relay_no", "relay number 5 is also"),
    ('source = "Q211"', 'source = "Q999"', "links.Q211_Q201.source", "'Q999' is not a breaker"),
    ('substation = "district1"\nname = "District 1 bus"',
     'substation = "nowhere"\nname = "District 1 bus"', "buses.D1.substation",
     "'nowhere' is not a substation"),
    ('from_bus = "C1"\nto_bus = "D1"', 'from_bus = "C1"\nto_bus = "C1"', "lines.L_D1",
     "two different buses"),
    ('restore_within_s = 30\n', 'restore_within_s = 30\nstep_timeout_s = 5\n',
     "restoration.step_timeout_s", "at least two polls of the slowest gateway (6 s, "
     "poll_period_s 3); got 5"),
])
def test_each_rule_names_the_key_and_what_was_expected(old, new, key, words):
    text = power_text()
    assert old in text, old
    problems = _problems(text.replace(old, new, 1))
    assert any(key in k and words in m for k, m in problems), problems


def test_a_bay_in_another_substations_gateway_is_refused():
    text = re.sub(r'(\[systems\.power\.equipment\.Q201\]\ntype = "breaker"\nplc = )"sub_d1"',
                  r'\1"sub_c"', power_text())
    text = text.replace('feeds = "L_D1"\nbase = 200', 'feeds = "L_D1"\nbase = 1800')
    problems = _problems(text)
    assert any(k.endswith("equipment.Q201.plc") and "gateway is 'sub_d1'" in m
               for k, m in problems), problems


def test_topology_paths_levels_and_what_an_opening_cuts(site):
    t = Topology(site.systems["power"])
    n = t.normal()
    assert not n["Q100"] and all(v for k, v in n.items() if k != "Q100")
    assert t.path("shearer1", n) == ("Q101", "Q111", "Q201", "Q212", "Q501", "Q511")
    assert [t.level(b) for b in ("Q101", "Q111", "Q201", "Q212", "Q501", "Q511")] == \
        [1, 2, 3, 4, 5, 6]
    assert t.downstream("Q201", n) == ["Q211", "Q212", "Q501", "Q511", "Q512"]
    assert t.bounding("L_D1") == ["Q111", "Q201"]
    assert t.bounding("D1") == ["Q201", "Q211", "Q212"]
    assert t.loads_behind("Q111", n) == ["aux_fans1", "belt1", "shearer1"]
    # supply II lost, the tie closed: section II is fed from supply I through the tie
    tr = n | {"Q102": False, "Q100": True}
    assert t.path("pumps_b", tr) == ("Q101", "Q100", "Q123")
    assert t.feeds(tr)["D3"].source == "S1"
    # a dead (faulted) section passes nothing on
    assert "F1" not in t.feeds(n, dead=["L_F1"])


@pytest.mark.parametrize("closed, opened, code, word", [
    (True, False, 0, "closed"), (False, True, 0, "open"), (False, True, 3, "tripped"),
    (True, True, 0, "moving"), (False, False, 0, "moving"), (None, True, 0, "unknown"),
])
def test_a_breakers_state_word(closed, opened, code, word):
    assert state_word(closed, opened, code) == word


def test_the_plain_status_names_what_is_tripped_the_fault_and_unhealthy_links(site):
    from fixedsite.clock import ManualClock
    from fixedsite.sequences.power.status import status
    from fixedsite.tags import TagStore

    class Ctl:
        store = TagStore(ManualClock(0.0))
    p = site.systems["power"]
    for b, eq in p.equipment.items():
        if eq.type == "breaker":
            Ctl.store.define(f"power.{b}.state")
            Ctl.store.set(f"power.{b}.state", "tripped" if b == "Q511" else "closed")
    for t, val in (("fault.state", "located"), ("fault.at", "2026-12-05 03:10:04.117"),
                   ("fault.summary", "Fault on shearer1 cleared by Q511"),
                   ("Q501_Q212.state", "lost"), ("central.fire", True)):
        Ctl.store.define(f"power.{t}")
        Ctl.store.set(f"power.{t}", val)
    lines = status(Ctl, "power", p)
    assert lines[0] == "  Power supply: breakers 19 closed, 1 tripped"
    assert "    tripped: Q511" in lines
    assert any("Fault on shearer1 cleared by Q511" in x for x in lines)
    assert "  !! blocking links not healthy (fallback group): Q501_Q212" in lines
    assert "  !! FIRE: Central substation" in lines


def test_power_waits_count_poll_rounds_floored_only_on_a_scaled_clock(site):
    """A round is the slowest gateway's poll (3 s); a scaled clock floors it at a peer's
    silence in wall time, a manual clock (tests) does not; an alarm's delay fixed at build
    follows the scale the run writes into the config (cli._clock)."""
    from fixedsite.clock import MIN_REAL_SILENCE_S, ManualClock, ScaledClock
    from fixedsite.sequences.power import timing

    p = site.systems["power"]
    assert timing.waits(site, p, ManualClock()).round_s == 3.0
    assert timing.waits(site, p, ScaledClock(1.0)).round_s == 3.0
    assert timing.waits(site, p, ScaledClock(60.0)).round_s == MIN_REAL_SILENCE_S * 60
    def at(scale: float):  # type: ignore[no-untyped-def]
        return site.model_copy(update={"clock": site.clock.model_copy(update={"scale": scale})})
    assert timing.config_waits(at(1.0), p).round_s == 3.0
    assert timing.config_waits(at(60.0), p).round_s == MIN_REAL_SILENCE_S * 60
