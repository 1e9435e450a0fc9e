"""Power end to end over real Modbus sockets (issue 13): the HIL's network (pandapower)
and relays behind five substation gateways (configs/power-site.toml on free ports), and a
controller with the Modbus driver. The scheme's settings reach every relay; a fault is
cleared by the relays alone, located and judged from their SOE, recorded as COMTRADE
(read back by the independent ``comtrade`` package), and the healthy sections restored;
a lost blocking link puts its relay on the fallback group; a lost supply is transferred
to the bus tie; an operator's close onto an earthed section is refused."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import comtrade
import pytest_asyncio
from conftest import Rig, started

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig, parse
from fixedsite.gate import Command
from fixedsite.hil import faults as hil_faults
from fixedsite.hil.demo_config import power_text
from fixedsite.runtime import Controller

SCALE = 5.0


def power_config(tmp: Path, scale: float = SCALE) -> SiteConfig:
    text = re.sub(r'(?m)^dir = ".*"', f'dir = "{tmp}"', power_text(scale=scale))
    return parse(tomllib.loads(text), "power-test.toml")


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with started(power_config(tmp_path), SCALE) as r:
        yield r


def v(ctl: Controller, path: str) -> Any:
    return ctl.store.value(f"power.{path}")


async def settled(rig: Rig) -> Controller:
    ctl = await rig.start_controller()
    await rig.until(lambda: v(ctl, "scheme.settings_ok") is True, 120,
                    "the scheme's settings written to every relay")
    # the relays' subscriptions were written just now: each relay waited on its fallback
    # group until its links had been healthy for the hold time
    fallbacks = ctl.store.paths("power.*.fallback")
    await rig.until(lambda: not any(ctl.store.value(p) for p in fallbacks), 120,
                    "every relay back on its normal group")
    return ctl


async def inject(rig: Rig, fault: str, target: str, *args: str) -> None:
    await rig.site.inject(hil_faults.parse(rig.cfg, fault, target, list(args)))


def comtrade_peak(cfg: Path, channel: str) -> float:
    """The channel's peak as the independent comtrade package reads the record."""
    assert cfg.exists() and cfg.with_suffix(".dat").exists()
    rec = comtrade.Comtrade()
    rec.load(str(cfg), str(cfg.with_suffix(".dat")))
    names = [n.strip().upper() for n in rec.analog_channel_ids]
    hits = [i for i, n in enumerate(names) if channel in n]
    assert hits, names
    return max(abs(x) for x in rec.analog[hits[0]])


async def test_settings_reach_every_relay_and_read_back(rig: Rig) -> None:
    ctl = await settled(rig)
    sch = ctl.systems["power"].parts["scheme"]
    from fixedsite.sequences.power.scheme import register_values
    for b, relay in sch.relays.items():
        want = register_values(relay)
        got = {k: v(ctl, f"{b}.{k}") for k in want}
        assert got == {k: float(x) if isinstance(got[k], float) else x
                       for k, x in want.items()}, b
        assert v(ctl, f"{b}.settings") == "ok"
    assert v(ctl, "Q111.block_src0") == rig.cfg.systems["power"].equipment["Q201"].relay_no


async def test_a_face_feeder_fault_is_cleared_selectively_located_recorded(
        rig: Rig, tmp_path: Path) -> None:
    ctl = await settled(rig)
    await inject(rig, "fault-3ph", "shearer1")
    await rig.until(lambda: v(ctl, "fault.state") == "located", 60, "fault located")
    assert v(ctl, "fault.section") == "shearer1"
    assert v(ctl, "fault.verdict") == "selective", v(ctl, "fault.summary")
    assert v(ctl, "fault.opened") == "Q511"
    assert v(ctl, "fault.clearing_ms") < 250
    assert v(ctl, "Q511.state") == "tripped" and v(ctl, "Q501.state") == "closed"
    assert v(ctl, "Q101.breaker_closed") and v(ctl, "Q111.breaker_closed")
    await rig.until(lambda: bool(v(ctl, "fault.record")), 30, "COMTRADE written")
    assert v(ctl, "fault.record_error") == ""
    peak = comtrade_peak(Path(v(ctl, "fault.record")), "IA")
    flt = v(ctl, "Q511.flt_ia")
    assert abs(peak / 2 ** 0.5 - flt) / flt < 0.05, (peak, flt)
    # nothing healthy lost supply: restoration has nothing to do
    await rig.until(lambda: v(ctl, "restore.state") in ("done", "idle"), 60, "restoration")


async def test_an_overtrip_with_a_lost_link_unsupervised_is_judged_and_restored(
        rig: Rig) -> None:
    """A lost link to a relay the supervisor cannot switch (its group held by the test)
    still ends in a located fault and restored healthy loads: the controller finds the
    overtrip from the SOE and re-closes what should not have opened."""
    ctl = await settled(rig)
    await inject(rig, "link-lost", "Q501_Q212")
    await rig.until(lambda: v(ctl, "Q212.fallback") is True, 60, "Q212 on its fallback group")
    assert v(ctl, "Q501_Q212.state") == "lost"
    assert v(ctl, "Q212.group_active") == 2
    await rig.until(lambda: ctl.alarms.alarms["power.Q501_Q212.LINK"].state == "unack_active",
                    30, "link alarm")
    # with the fallback group in, a face-bus fault is still cleared by Q501 alone
    await inject(rig, "fault-3ph", "F1")
    await rig.until(lambda: v(ctl, "fault.state") == "located", 60, "fault located")
    assert v(ctl, "fault.section") == "F1" and v(ctl, "fault.verdict") == "selective", \
        v(ctl, "fault.summary")
    assert v(ctl, "Q212.breaker_closed")


async def test_a_breaker_that_fails_to_open_is_backed_up_and_left_to_the_crew(
        rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "breaker-stuck", "Q212")
    await inject(rig, "fault-3ph", "L_F1", "0.5")
    await rig.until(lambda: v(ctl, "fault.state") == "located", 60, "fault located")
    assert v(ctl, "fault.verdict") == "breaker failure backup", v(ctl, "fault.summary")
    assert "Q201" in v(ctl, "fault.opened").split(",")
    # restoration commands the stuck breaker open again; it stays jammed, so the isolation
    # ticket fails there and nothing is re-closed onto the fault behind it
    await rig.until(lambda: v(ctl, "restore.state") == "failed", 120, "restoration stops")
    assert "Q212" in v(ctl, "restore.status"), v(ctl, "restore.status")
    assert v(ctl, "Q212.breaker_closed") and v(ctl, "Q201.breaker_open")
    await rig.until(lambda: ctl.alarms.alarms["power.restore.FAILED"].state == "unack_active",
                    30, "restoration alarm")
    # the crew frees the mechanism; the operator opens Q212, then re-energises district 1
    await inject(rig, "breaker-stuck", "Q212", "off")
    for target, action in (("Q212", "open"), ("Q201", "reset"), ("Q201", "close")):
        d = await ctl.gate.submit(Command(f"power.{target}", action, "operator", "op",
                                          {"confirm": target}, role="operator"))
        assert d.accepted, (target, action, d.reason)
        if action != "reset":
            await rig.until(lambda: v(ctl, "ticket.state") in ("done", "failed"), 30, action)
            assert v(ctl, "ticket.state") == "done", v(ctl, "ticket.status")
    await rig.until(lambda: v(ctl, "Q211.uab") is not None and v(ctl, "Q211.uab") > 9.0, 30,
                    "district 1 (face 1's auxiliary fans) fed again")
    assert v(ctl, "Q212.breaker_open")


async def test_loss_of_a_supply_transfers_to_the_bus_tie(rig: Rig) -> None:
    ctl = await settled(rig)
    await inject(rig, "supply-lost", "S1")
    await rig.until(lambda: v(ctl, "Q100.breaker_closed") is True, 120, "bus tie closed")
    assert v(ctl, "Q101.breaker_open")
    await rig.until(lambda: v(ctl, "restore.state") == "done", 60, "transfer recorded")
    assert v(ctl, "Q113.uab") > 9.0                   # the main pump room I is fed again
    assert v(ctl, "restore.last_s") < 30.0, v(ctl, "restore.status")


async def test_an_operator_close_onto_an_earthed_section_is_refused(rig: Rig) -> None:
    ctl = await settled(rig)

    async def cmd(target: str, action: str, **params: Any) -> Any:
        d = await ctl.gate.submit(Command(f"power.{target}", action, "operator", "op",
                                          params, role="operator"))
        if d.accepted:
            await rig.until(lambda: v(ctl, "ticket.state") in ("done", "failed"), 30,
                            f"{action} {target} carried out")
            assert v(ctl, "ticket.state") == "done", v(ctl, "ticket.status")
        return d
    for action in ("open", "open_disconnector", "earth"):
        d = await cmd("Q311", action, confirm="Q311")
        assert d.accepted, d.reason
    assert v(ctl, "Q311.breaker_open") and v(ctl, "Q311.disconnector_open")
    assert v(ctl, "Q311.earthing_closed")
    d = await cmd("Q311", "close_disconnector", confirm="Q311")
    assert not d.accepted and "earth" in d.reason, d.reason
    assert v(ctl, "Q311.disconnector_open") and v(ctl, "Q311.breaker_open")
    d = await cmd("Q311", "close", confirm="Q31l")
    assert not d.accepted and "not confirmed" in d.reason


async def test_the_substation_fire_alarm_is_p1_and_trips_nothing(rig: Rig) -> None:
    ctl = await settled(rig)
    before = {b: v(ctl, f"{b}.breaker_closed") for b in ("Q101", "Q102", "Q111", "Q121")}
    await inject(rig, "fire", "central")
    await rig.until(lambda: ctl.alarms.alarms["power.central.FIRE"].state == "unack_active",
                    30, "fire alarm")
    assert ctl.alarms.alarms["power.central.FIRE"].d.priority == 1
    await rig.run_for(5)
    assert {b: v(ctl, f"{b}.breaker_closed") for b in before} == before


async def test_at_the_demos_x60_a_cable_fault_is_located_recorded_and_restored(
        tmp_path: Path) -> None:
    """Found running the demo: at x60 a relay is heard once a poll, 3 s of simulated time
    and more, while the disturbance window closed after 1 s of quiet; the fault on a face
    cable was called "picked up and dropped off, nothing tripped" at the wrong section,
    and no record was written. The waits are poll rounds now (sequences/power/timing.py)."""
    r = Rig(power_config(tmp_path, 60.0), ScaledClock(60.0))
    await r.site.start()
    try:
        ctl = await settled(r)
        await inject(r, "fault-3ph", "L_F1", "0.5")
        await r.until(lambda: v(ctl, "fault.state") == "located", 1200, "fault located")
        assert v(ctl, "fault.section") == "L_F1", v(ctl, "fault.summary")
        assert v(ctl, "fault.verdict") == "selective", v(ctl, "fault.summary")
        assert v(ctl, "fault.opened") == "Q212"
        await r.until(lambda: bool(v(ctl, "fault.record")), 1200, "COMTRADE written")
        assert v(ctl, "fault.record_error") == ""
        assert comtrade_peak(Path(v(ctl, "fault.record")), "IA") > 1000
        # the cable isolated at both ends, nothing healthy lost: nothing to re-energise
        await r.until(lambda: v(ctl, "restore.state") == "done", 1200, "fault restoration")
        assert "nothing to re-energise" in v(ctl, "restore.status")
        assert v(ctl, "Q501.breaker_open") and not v(ctl, "Q212.breaker_closed")
        # and restoration at this pace: a supply lost is transferred to the bus tie and
        # the time measured on the project clock (its 30 s target is 0.5 s of wall time
        # here, one scheduler pause on a loaded machine: bench/power.py measures the
        # figures against it on a manual clock)
        await inject(r, "supply-lost", "S1")
        await r.until(lambda: v(ctl, "Q100.breaker_closed") is True, 1200, "bus tie closed")
        await r.until(lambda: v(ctl, "restore.state") == "done", 1200, "transfer done")
        assert "loss of supply S1" in v(ctl, "restore.status"), v(ctl, "restore.status")
        assert v(ctl, "Q101.breaker_open")
        # the bus voltage as the relay measures it: read on its next poll after the close
        await r.until(lambda: (v(ctl, "Q113.uab") or 0.0) > 9.0, 120, "pump room I fed")
        assert 0 < v(ctl, "restore.priority1_s") <= v(ctl, "restore.last_s") < 300, \
            v(ctl, "restore.status")
        assert not v(ctl, "Q212.breaker_closed")
    finally:
        await r.stop_controller()
        await r.site.stop()
