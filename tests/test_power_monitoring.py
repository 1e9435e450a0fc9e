"""Power quality per bus and early warnings per breaker (issue 13, item 7): figures
against hand-worked values, "not measured" is not 0, a dead bus is not out of limits, a
rising current is warned with when it reaches the pickup, an opening time drifting, a
mechanism near its life; the scan part on soft tags with a clock that jumps back."""

from __future__ import annotations

import tomllib

import pytest

from fixedsite.clock import ManualClock
from fixedsite.config import parse
from fixedsite.hil.demo_config import power_text
from fixedsite.sequences.power.config import Quality
from fixedsite.sequences.power.equipment import BREAKER
from fixedsite.sequences.power.monitoring import (
    BusReading,
    Monitoring,
    breaker_warning,
    judge_bus,
    time_to_reach,
)
from fixedsite.tags import Quality as Q
from fixedsite.tags import TagStore

LIMITS = Quality()


def test_a_bus_inside_every_limit_is_ok_with_its_figures() -> None:
    figs, verdict = judge_bus(BusReading([10.2, 10.3, 10.1], 50.05, 0.8, 2.1), 10.0, 50.0,
                              LIMITS)
    assert verdict == "ok"
    assert figs["voltage_dev_pct"] == pytest.approx(2.0)
    assert figs["frequency_dev_hz"] == pytest.approx(0.05)
    assert (figs["unbalance_pct"], figs["thd_u_pct"]) == (0.8, 2.1)


def test_each_limit_is_named_with_its_figure() -> None:
    _f, verdict = judge_bus(BusReading([10.9, 10.8, 10.7], 50.3, 2.6, 4.5), 10.0, 50.0,
                            LIMITS)
    assert verdict == ("voltage +8.0 % outside -7..+7 %; frequency +0.30 Hz outside ±0.2 Hz; "
                       "unbalance 2.6 % over 2 %; THD 4.5 % over 4 %")


def test_not_measured_is_not_zero_and_a_dead_bus_is_not_out_of_limits() -> None:
    figs, verdict = judge_bus(BusReading([None, None, None], 50.0, 0.5, None), 10.0, 50.0,
                              LIMITS)
    assert verdict == "not measured" and figs["voltage_dev_pct"] is None
    figs, verdict = judge_bus(BusReading([10.0, 10.0, 10.0], None, None, None), 10.0, 50.0,
                              LIMITS)
    assert verdict == "ok" and figs["thd_u_pct"] is None and figs["frequency_dev_hz"] is None
    _f, verdict = judge_bus(BusReading([0.1, 0.0, 0.1], 0.0, 0.0, 0.0), 10.0, 50.0, LIMITS)
    assert verdict == "dead"


def test_a_rising_current_is_given_the_time_it_reaches_the_pickup() -> None:
    ts = [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    amps = [100.0, 102.0, 104.0, 106.0, 108.0, 110.0]            # 2 A a minute, 110 A now
    assert time_to_reach(ts, amps, 150.0) == pytest.approx(20 * 60)
    assert time_to_reach(ts, list(reversed(amps)), 150.0) is None           # falling
    assert time_to_reach(ts[:3], amps[:3], 150.0) is None                   # too few
    w = breaker_warning(110.0, 150.0, 1200.0, None, 45.0, None, 10000, LIMITS)
    assert w == "current rising: reaches its pickup in about 20 min"
    assert breaker_warning(110.0, 150.0, 7200.0, None, 45.0, None, 10000, LIMITS) == ""
    # a feeder at a third of its pickup ramping up (a shift starting) is no warning
    assert breaker_warning(50.0, 150.0, 1200.0, None, 45.0, None, 10000, LIMITS) == ""
    assert breaker_warning(140.0, 150.0, None, None, 45.0, None, 10000, LIMITS) == \
        "current 93 % of its pickup"


def test_opening_time_drift_and_the_mechanisms_life() -> None:
    assert breaker_warning(None, None, None, 56.0, 45.0, 9000, 10000, LIMITS) == \
        ("opening time 56 ms over its nominal 45 ms; 9000 operations of its 10000 mechanical "
         "life")
    assert breaker_warning(None, None, None, 55.0, 45.0, 8999, 10000, LIMITS) == ""
    assert breaker_warning(None, None, None, 65535, 45.0, None, 10000, LIMITS) == ""


async def test_the_scan_on_soft_tags_with_bad_data_and_a_clock_jumping_back() -> None:
    cfg = parse(tomllib.loads(power_text()), "p.toml")
    system = cfg.systems["power"]
    clock = ManualClock(1000.0)
    store = TagStore(clock)
    for b, eq in system.equipment.items():
        if eq.type == "breaker":
            for sig in BREAKER:
                store.define(f"power.{b}.{sig}")
    mon = Monitoring("power", system, store, clock)
    for b in ("Q101", "Q111"):
        for sig, v in (("uab", 10.4), ("ubc", 10.4), ("uca", 10.4), ("freq_hz", 50.0),
                       ("unbalance_u_pct", 0.5), ("thd_u_pct", 1.0), ("g1_pickup_a", 150.0),
                       ("ib", 1.0), ("ic", 1.0), ("last_open_ms", 44), ("op_count", 10)):
            store.set(f"power.{b}.{sig}", v)
    for i in range(10):                               # Q111 rising 2 A a minute
        store.set("power.Q111.ia", 100.0 + 2.0 * i)
        store.set("power.Q101.ia", 100.0)
        await mon.scan()
        clock.advance(60.0)
    assert store.value("power.C1.quality") == "ok"
    assert store.value("power.C1.voltage_dev_pct") == pytest.approx(4.0)
    assert store.value("power.Q111.warning") == \
        "current rising: reaches its pickup in about 16 min"
    assert store.value("power.Q101.warning") == ""
    # C2's relays never read: not measured, never a figure of 0
    assert store["power.C2.voltage_dev_pct"].quality is not Q.GOOD
    # a relay whose data goes bad: its bus is read by another relay on it, or not at all
    store.set("power.Q101.uab", 10.4, Q.BAD, "comm_fail")
    store.set("power.Q111.uab", 10.4, Q.BAD, "comm_fail")
    await mon.scan()
    held = store["power.C1.quality"]                      # no relay on C1 reads: the last
    assert held.value == "ok" and held.quality is Q.UNCERTAIN      # verdict kept, marked
    # the clock jumps back an hour: the trend starts again rather than fit the future
    clock.advance(-3600.0)
    store.set("power.Q111.ia", 120.0)
    await mon.scan()
    assert store.value("power.Q111.warning") == ""
