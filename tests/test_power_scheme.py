"""The protection scheme engineered from the demo power network (issue 13): block sources
per level (the bus tie blocking both incomers), backup grading, both settings groups,
pickups and fault currents worked out here again by hand, and ``check`` finding each kind
of problem on deliberately broken copies of the config; the ``power check`` verb."""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from pathlib import Path

import pytest

from fixedsite.config import load, parse
from fixedsite.hil.demo_config import power_text
from fixedsite.sequences.power import cli, profile, scheme
from fixedsite.sequences.power.config import PowerSystem
from fixedsite.sequences.power.scheme import ERROR, WARNING, check, engineer, register_values
from fixedsite.sequences.power.topology import Topology
from fixedsite.texts import translate

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "configs" / "power-site.toml"


@pytest.fixture(scope="module")
def demo() -> PowerSystem:
    return load(SITE).systems["power"]


@pytest.fixture(scope="module")
def sch(demo: PowerSystem) -> scheme.Scheme:
    return engineer(demo)


def _system(text: str) -> PowerSystem:
    return parse(tomllib.loads(text), "power.toml").systems["power"]


def _edit(old: str, new: str, text: str | None = None) -> str:
    text = power_text() if text is None else text
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def _errors(problems: list[scheme.Problem]) -> list[scheme.Problem]:
    return [p for p in problems if p.severity == ERROR]


# ------------------------------------------------------------------------------------------
# the scheme of the demo
# ------------------------------------------------------------------------------------------
SOURCES = {
    "Q101": ("Q100", "Q111", "Q112", "Q113"),     # the central feeders and the bus tie
    "Q102": ("Q100", "Q121", "Q123"),             # the tie blocks whichever incomer feeds it
    "Q111": ("Q201",), "Q112": ("Q301",), "Q121": ("Q401",),   # a feeder: the next incomer
    "Q201": ("Q211", "Q212"), "Q301": ("Q311", "Q312"), "Q401": ("Q411", "Q412"),
    "Q212": ("Q501",), "Q501": ("Q511", "Q512"),
}


def test_block_sources_per_level_and_the_links_that_carry_them(sch: scheme.Scheme) -> None:
    assert len(sch.relays) == 20
    for b, r in sch.relays.items():
        assert r.block_sources == SOURCES.get(b, ()), b
        assert r.links == tuple(f"{s}_{b}" for s in r.block_sources), b
    # the tie: normally open, no subscriptions, no fast stage; graded above both sections
    tie = sch.relays["Q100"]
    assert tie.normally_open and tie.block_sources == ()
    assert set(tie.below) == {"Q111", "Q112", "Q113", "Q121", "Q123"}
    assert tie.groups[1].fast_enabled == 0 == tie.groups[2].fast_enabled
    assert set(tie.upstream) == {"Q101", "Q102"}
    # every one of the config's 19 links is used, none is missing
    assert sorted(v for v in sch.needed.values()) == sorted(load(SITE).systems["power"]
                                                           .network.links)
    assert {r.level for r in sch.relays.values()} == {1, 2, 3, 4, 5, 6}
    assert sch.relays["Q101"].level == 1 and sch.relays["Q511"].level == 6


def test_the_transfers_are_the_tie_closed_with_either_incomer_open(demo: PowerSystem) -> None:
    configs, problems = scheme.configurations(Topology(demo))
    assert problems == []
    changed = [{b: v for b, v in c.items() if v != configs[0][b]} for c in configs[1:]]
    assert changed == [{"Q100": True, "Q101": False}, {"Q100": True, "Q102": False}]


BACKUP_MS = {300: ("Q113", "Q123", "Q211", "Q311", "Q312", "Q411", "Q412", "Q511", "Q512"),
             600: ("Q301", "Q401", "Q501"), 900: ("Q112", "Q121", "Q212"), 1200: ("Q201",),
             1500: ("Q111",), 1800: ("Q100",), 2100: ("Q101", "Q102")}


def test_backup_graded_from_the_lowest_level_with_margins_of_0_3_s(sch: scheme.Scheme,
                                                                 demo: PowerSystem) -> None:
    got = {b: r.groups[1].backup_delay_ms for b, r in sch.relays.items()}
    assert got == {b: ms for ms, bs in BACKUP_MS.items() for b in bs}
    pairs = 0
    for b, r in sch.relays.items():
        assert r.groups[2].backup_delay_ms == r.groups[1].backup_delay_ms
        for c in r.below:
            pairs += 1
            assert got[b] - got[c] >= 300, (c, b)
    assert pairs == 24
    # the demo's only problems: time grading alone runs out of room at the incomers
    problems = check(demo, scheme=sch)
    assert [(p.where, p.severity) for p in problems] == [
        ("equipment.Q101", WARNING), ("equipment.Q102", WARNING)]
    assert "2.10 s" in problems[0].message and "1.50 s" in problems[0].message


def test_group_2_is_the_fallback_with_the_fast_stage_off_where_links_fed_it(
        sch: scheme.Scheme) -> None:
    for b, r in sch.relays.items():
        g1, g2 = r.groups[1], r.groups[2]
        assert g1.fast_enabled == int(not r.normally_open), b
        assert g2.fast_enabled == (0 if r.block_sources else g1.fast_enabled), b
        assert {**g2.__dict__, "fast_enabled": 0} == {**g1.__dict__, "fast_enabled": 0}
        assert g1.fast_delay_ms == 100 and g1.bf_delay_ms == 150
        assert g1.backup_pickup_a == g1.pickup_a
    assert sch.relays["Q111"].groups[2].fast_enabled == 0
    assert sch.relays["Q511"].groups[2].fast_enabled == 1      # nothing below: unblocked


def _ik(s_mva: float, rx: float, c: float, z_line: complex, three_phase: bool) -> float:
    """IEC 60909 by hand, Un 10 kV: A."""
    zq = c * 100.0 / s_mva
    xq = zq / math.sqrt(1 + rx * rx)
    z = abs(complex(rx * xq, xq) + z_line)
    return (c * 10.0 / (math.sqrt(3) * z) if three_phase else c * 10.0 / (2 * z)) * 1000


def test_pickups_from_the_loads_and_fault_currents_by_iec_60909(sch: scheme.Scheme) -> None:
    # Q101 carries the whole mine with the tie closed and Q102 open: 7220 kW at pf 0.85
    i = 7220 / 0.85 / (math.sqrt(3) * 10.0)
    assert sch.relays["Q101"].load_a == pytest.approx(i)
    assert sch.relays["Q101"].groups[1].pickup_a == math.ceil(1.5 * i) == 736
    # Q211's 120 kW is under the floor of 10 % of its 600 A CT
    assert sch.relays["Q211"].groups[1].pickup_a == 60
    # the least fault at C1: the 150 MVA supply alone, two-phase, c = 1.0: 7.5 kA
    assert sch.relays["Q101"].fault_min_a == pytest.approx(7500.0)
    # Q111's zone ends at the far end of 1.2 km of cable; at its least with C1 fed from
    # S2 (140 MVA) through the tie
    z = complex(0.193, 0.08) * 1.2
    assert sch.relays["Q111"].fault_min_a == pytest.approx(_ik(140, 0.1, 1.0, z, False))
    assert sch.relays["Q111"].fault_beyond_a == pytest.approx(_ik(200, 0.1, 1.1, z, True))
    # no cable is long enough for an instantaneous stage to reach anywhere
    assert all(r.groups[1].inst_enabled == 0 for r in sch.relays.values())


def test_register_values_are_exactly_the_profiles_settings(sch: scheme.Scheme) -> None:
    commands = {"breaker_cmd", "group_sp", "disconnector_cmd", "earthing_cmd",
                "door_unlock_cmd", "trip_code"}
    wanted = {n for n, pt in profile.RELAY.items() if pt.table == "hr"} - commands
    regs = register_values(sch.relays["Q101"])
    assert set(regs) == wanted == set(scheme.SETTINGS)
    assert [regs[f"block_src{i}"] for i in range(4)] == [3, 4, 5, 6]
    assert regs["link_ttl_ms"] == 2000 and regs["g1_pickup_a"] == 736
    assert regs["g1_fast_enabled"] == 1 and regs["g2_fast_enabled"] == 0
    q201 = register_values(sch.relays["Q201"])
    assert [q201[f"block_src{i}"] for i in range(4)] == [10, 11, 0, 0]
    assert all(isinstance(v, int) and 0 <= v <= 65535 for v in regs.values())


# ------------------------------------------------------------------------------------------
# check() on broken copies
# ------------------------------------------------------------------------------------------
LINK_Q201 = ('[systems.power.network.links.Q201_Q111]\nsource = "Q201"\ntarget = "Q111"\n'
             'medium = "goose"\nlatency_ms = 4\n')


def test_a_missing_link_is_an_error_and_leaves_the_fast_stage_off() -> None:
    system = _system(_edit(LINK_Q201, ""))
    problems = check(system)
    errs = _errors(problems)
    assert [(p.where, "Q111" in p.message and "Q201" in p.message) for p in errs] == [
        ("network.links", True)]
    r = engineer(system).relays["Q111"]
    assert r.block_sources == () and r.groups[1].fast_enabled == 0
    assert register_values(r)["block_src0"] == 0


def test_a_link_no_scheme_needs_is_a_warning() -> None:
    extra = LINK_Q201.replace("Q201_Q111", "Q511_Q101").replace('"Q201"', '"Q511"') \
        .replace('"Q111"', '"Q101"')
    problems = check(_system(_edit(LINK_Q201, LINK_Q201 + "\n" + extra)))
    odd = [p for p in problems if p.where == "network.links.Q511_Q101"]
    assert len(odd) == 1 and odd[0].severity == WARNING and "needed by no relay" in \
        odd[0].message
    assert _errors(problems) == []


def _one_level_pairs(sch: scheme.Scheme) -> int:
    """Relays and the relay directly above them one grading step apart (the others are
    two or more steps apart: Q113 on C1 under the incomer)."""
    return sum(1 for r in sch.relays.values() for c in r.below
               if r.height - sch.relays[c].height == 1)


def test_a_short_grading_margin_is_found_for_every_pair(sch: scheme.Scheme) -> None:
    problems = check(_system(_edit("grading_margin_s = 0.3", "grading_margin_s = 0.2")))
    errs = _errors(problems)
    assert len(errs) == _one_level_pairs(sch) == 14
    assert all(p.where == "protection.grading_margin_s" for p in errs)
    assert any("Q511 and Q501" in p.message and "0.20 s" in p.message and "0.30 s" in
               p.message for p in errs)


def test_a_margin_short_for_a_slow_breaker_is_found_too(sch: scheme.Scheme) -> None:
    # 0.3 s is not enough when a breaker takes 250 ms to break (plus 100 ms of timers)
    text = _edit("[systems.power.protection]\n", "[systems.power.protection]\n"
                 "breaker_break_ms = 250\n")
    errs = _errors(check(_system(text)))
    margins = [p for p in errs if p.where == "protection.grading_margin_s"]
    assert len(margins) == _one_level_pairs(sch) and "under 0.35 s" in margins[0].message
    # and the breaker-failure timer (150 ms) would now fire before such a breaker breaks
    assert [p.where for p in errs if p not in margins] == ["protection.bf_delay_ms"]


def test_a_slow_link_makes_the_fast_stage_too_short() -> None:
    slow = LINK_Q201.replace("latency_ms = 4", "latency_ms = 70")
    errs = _errors(check(_system(_edit(LINK_Q201, slow))))
    assert len(errs) == 1 and errs[0].where == "protection.fast_delay_ms"
    assert "link Q201_Q111" in errs[0].message and "110 ms" in errs[0].message
    # at 60 ms the block arrives at exactly 100 ms: still in time
    just = LINK_Q201.replace("latency_ms = 4", "latency_ms = 60")
    assert _errors(check(_system(_edit(LINK_Q201, just)))) == []


def test_breaker_failure_faster_than_the_break_is_an_error() -> None:
    errs = _errors(check(_system(_edit("bf_delay_ms = 150", "bf_delay_ms = 50"))))
    assert [p.where for p in errs] == ["protection.bf_delay_ms"]


def test_an_insensitive_pickup_and_an_instantaneous_stage_with_reach() -> None:
    # 40 km of cable to district 1 and 3 MW of fans there
    text = _edit("length_km = 1.2", "length_km = 40")
    text = _edit('bus = "D1"\np_kw = 120', 'bus = "D1"\np_kw = 3000', text)
    system = _system(text)
    sch = engineer(system)
    q111 = sch.relays["Q111"]
    z = complex(0.193, 0.08) * 40
    assert q111.fault_min_a == pytest.approx(_ik(140, 0.1, 1.0, z, False))
    errs = _errors(check(system, scheme=sch))
    # the feeder and district 1's incomer share the zone's far end (D1) and the load
    assert [p.where for p in errs] == ["equipment.Q111", "equipment.Q201"]
    assert "Q111's pickup 469 A is not sensitive enough" in errs[0].message
    assert "1.22 times" in errs[0].message
    # the cable is long enough for an instantaneous stage that stops short of D1
    g1 = q111.groups[1]
    assert g1.inst_enabled == 1
    assert g1.inst_pickup_a == math.ceil(1.3 * _ik(200, 0.1, 1.1, z, True))
    assert sch.relays["Q101"].groups[1].inst_enabled == 0


def test_more_than_four_block_sources_is_an_error() -> None:
    bay = ('[systems.power.equipment.Q114]\ntype = "breaker"\nplc = "sub_c"\nbus = "C1"\n'
           'feeds = "spare"\nbase = 1800\nrelay_no = 21\n\n')
    load_ = '[systems.power.network.loads.spare]\nbus = "C1"\np_kw = 100\n\n'
    link = LINK_Q201.replace("Q201_Q111", "Q114_Q101").replace('"Q201"', '"Q114"') \
        .replace('"Q111"', '"Q101"').replace('"goose"', '"wired"')
    text = _edit("[systems.power.equipment.Q101]", bay + "[systems.power.equipment.Q101]")
    text = _edit("[systems.power.network.loads.pumps_a]",
                 load_ + "[systems.power.network.loads.pumps_a]", text)
    text = _edit(LINK_Q201, LINK_Q201 + "\n" + link, text)
    system = _system(text)
    errs = _errors(check(system))
    assert [p.where for p in errs] == ["equipment.Q101"] and "5 block sources" in \
        errs[0].message
    q101 = engineer(system).relays["Q101"]
    assert q101.groups[1].fast_enabled == 0 and len(q101.block_sources) == 4


def test_settings_read_from_the_relays_are_compared(demo: PowerSystem,
                                                    sch: scheme.Scheme) -> None:
    actual = {b: dict(register_values(r)) for b, r in sch.relays.items()}
    assert _errors(check(demo, actual, sch)) == []
    actual["Q111"]["g1_pickup_a"] = 999
    actual["Q201"]["g1_backup_delay_ms"] = 1400        # 0.1 s under Q111's 1.5 s
    actual["Q201"]["g2_fast_enabled"] = None           # a register not read
    del actual["Q512"]
    problems = check(demo, actual, sch)
    errs: dict[str, list[str]] = {}
    for p in _errors(problems):
        errs.setdefault(p.where, []).append(p.message)
    assert errs["Q111.g1_pickup_a"] == ["Q111: g1_pickup_a reads 999, the scheme computes 176"]
    # Q201's backup now too close to Q111's, and differing from the computed one
    assert sorted(errs["Q201.g1_backup_delay_ms"]) == [
        "Q201: g1_backup_delay_ms reads 1400, the scheme computes 1200",
        "grading margin 0.10 s between Q201 and Q111 (group 1) is under 0.30 s, the "
        "breaker's break time included"]
    assert set(errs) == {"Q111.g1_pickup_a", "Q201.g1_backup_delay_ms"}
    warn = {p.where for p in problems if p.severity == WARNING}
    assert {"Q201.g2_fast_enabled", "equipment.Q512"} <= warn
    # a relay fast stage set faster than its block can come
    actual = {b: dict(register_values(r)) for b, r in sch.relays.items()}
    actual["Q212"]["g1_fast_delay_ms"] = 20
    errs2 = [(p.where, p.message) for p in _errors(check(demo, actual, sch))]
    assert len(errs2) == 2 and all(w == "Q212.g1_fast_delay_ms" for w, _ in errs2)
    assert any("too short for link Q501_Q212" in m for _, m in errs2)


# ------------------------------------------------------------------------------------------
# the verb
# ------------------------------------------------------------------------------------------
def _run(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    cli.add_verbs(p.add_subparsers(dest="command"))
    args = p.parse_args(["power", "check", *argv])
    return int(args.run(args))


def test_power_check_prints_the_scheme_and_the_problems(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    assert _run(["--config", str(SITE), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Protection scheme of power (Power supply): 20 relays, 19 blocking links" in out
    assert "blocked by: Q100 [Q100_Q101], Q111 [Q111_Q101], Q112 [Q112_Q101], Q113 " \
           "[Q113_Q101]" in out
    assert "group 2: pickup 176 A, fast stage off, backup 176 A after 1500 ms" in out
    assert "2 problems: 0 errors, 2 warnings" in out
    assert _run(["--config", str(SITE), "--lang", "zh_CN"]) == 0
    zh = capsys.readouterr().out
    assert "闭锁源：Q201 [Q201_Q111]" in zh and "2 个问题：0 个错误，2 个警告" in zh
    assert "超过上级电源对进线的限值 1.50 s" in zh
    assert re.findall(r"[A-Za-z]{4,}", re.sub(r"Q\d+_Q\d+|Q\d+|equipment|power", "", zh)) == []
    # an error exits 1
    broken = tmp_path / "power.toml"
    broken.write_text(_edit(LINK_Q201, ""), encoding="utf-8")
    assert _run(["--config", str(broken), "--lang", "en"]) == 1
    assert "ERROR    network.links: Q111 needs the block of Q201" in capsys.readouterr().out


def test_live_needs_a_user() -> None:
    from fixedsite.cli_args import CliError
    with pytest.raises(CliError, match="--live needs --user"):
        _run(["--config", str(SITE), "--live"])


def test_every_text_of_the_scheme_has_its_chinese_and_reads_back() -> None:
    from fixedsite.sequences.power import links, settings
    for mod in (scheme, settings, links, cli):
        for en, zh in mod.TEXTS.items():
            fields = sorted(re.findall(r"\{(\w+)", en))
            assert sorted(re.findall(r"\{(\w+)", zh)) == fields, en
            assert [w for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", "", zh))
                    if w not in ("PLC", "min")] == [], en
            if fields:
                args = {f: f"x{i}_{f}" for i, f in enumerate(fields)}
                text = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", en).format(**args)
                want = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", zh).format(**args)
                assert translate(text, "zh_CN") == want, en


async def test_power_check_live_reads_the_relays_through_the_controller(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The verb against a controller's OPC UA server: the relays' settings as the
    controller holds them (set here as a poll would), one changed at a relay's panel."""
    import asyncio

    from fixedsite.clock import ScaledClock
    from fixedsite.config import OpcUaConfig
    from fixedsite.hil.demo_config import free_port
    from fixedsite.northbound import Northbound
    from fixedsite.runtime import Controller
    from fixedsite.users import UserStore

    text = power_text()
    cfg = parse(tomllib.loads(text), "power.toml")
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    ctl = Controller(cfg, ScaledClock(1.0))         # not started: no driver polls
    sch = engineer(cfg.systems["power"])
    for b, r in sch.relays.items():
        for s, v in register_values(r).items():
            ctl.store.set(f"power.{b}.{s}", v)
    ctl.store.set("power.Q212.g2_backup_delay_ms", 700)
    users = UserStore(tmp_path / "users.json")
    users.add("eng", "engineer", "eng-password")
    url = f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/"
    nb = Northbound(ctl, users, OpcUaConfig(endpoint=url), tmp_path / "pki")
    await nb.start()
    monkeypatch.setenv("FIXEDSITE_PASSWORD", "eng-password")
    try:
        rc = await asyncio.to_thread(_run, [
            "--config", str(tmp_path / "site.toml"), "--lang", "en", "--live", "--url", url,
            "--user", "eng", "--pki", str(tmp_path / "client"), "--wait", "20"])
    finally:
        await nb.stop()
    out = capsys.readouterr().out
    assert f"settings read from {url}: 20 of 20 relays" in out
    assert "Q212.g2_backup_delay_ms: Q212: g2_backup_delay_ms reads 700, the scheme " \
           "computes 900" in out
    assert "grading margin 0.10 s between Q501 and Q212 (group 2)" in out
    assert "4 problems: 2 errors, 2 warnings" in out
    assert rc == 1
