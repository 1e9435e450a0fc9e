"""The main fan station's sequences on soft tags (issue 12, item 2): one-key start,
changeover without stopping the air, failover on a trip, reversal, and what each does
when its step fails. A crude plant in the test answers the commands (dampers travel,
drives ramp, the shaft's air is the sum of what the open fans deliver) on a manual
clock, so every airflow figure the records give can be worked out by hand."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from conftest import demo_text, free_port
from test_ventilation_config import VENT, _damper

from fixedsite.clock import ManualClock
from fixedsite.config import parse
from fixedsite.gate import Command, CommandGate
from fixedsite.io import SoftWriter
from fixedsite.sequences.ventilation.config import VentilationSystem
from fixedsite.sequences.ventilation.equipment import AIR_SENSOR, DAMPER, FAN
from fixedsite.sequences.ventilation.station import (
    STATION_COMMANDS,
    FanStation,
    StationHandler,
)
from fixedsite.tags import Quality, TagStore

DAMPERS = "".join(_damper(n, 50 + i) for i, n in enumerate(["d1in", "d1out", "d2in", "d2out"]))
CFG = parse(tomllib.loads(demo_text(free_port()) + VENT.format(port=free_port(),
                                                                dampers=DAMPERS)), "v.toml")
SYSTEM = CFG.systems["vent"]
assert isinstance(SYSTEM, VentilationSystem)
NOMINAL = SYSTEM.control.nominal_airflow_m3s        # 150 m3/s


class Plant:
    """As the fan PLC behaves (hil/ventilation/plc.py): a drive runs only behind an open
    inlet, an outlet opens only behind a running drive and shuts when it stops. Dampers
    move in ``damper_s``, a drive ramps 100 % in ``ramp_s``; a fan delivers speed% of
    150 m3/s through its open fraction (inlet x outlet); reversed, 60 %."""

    def __init__(self, store: TagStore, damper_s: float = 10.0, ramp_s: float = 20.0) -> None:
        self.store, self.damper_s, self.ramp_s = store, damper_s, ramp_s
        self.pos = {d: 0.0 for d in ("d1in", "d1out", "d2in", "d2out")}
        self.stuck: set[str] = set()
        self.trip = {"fan1": 0, "fan2": 0}
        self.no_start: set[str] = set()

    def set(self, path: str, value: Any) -> None:
        self.store.set(f"vent.{path}", value)

    def get(self, path: str) -> Any:
        return self.store.value(f"vent.{path}")

    def step(self, dt: float) -> None:
        for d in self.pos:
            if d not in self.stuck:
                fan = f"fan{d[1]}"
                target = 1.0 if self.get(f"{d}.open_cmd") and (
                    d.endswith("in") or self.get(f"{fan}.running")) else 0.0
                move = dt / self.damper_s
                self.pos[d] = min(target, self.pos[d] + move) if target > self.pos[d] \
                    else max(target, self.pos[d] - move)
            self.set(f"{d}.opened", self.pos[d] >= 0.999)
            self.set(f"{d}.closed", self.pos[d] <= 0.001)
            self.set(f"{d}.position", 100 * self.pos[d])
        total = 0.0
        for i, fan in ((1, "fan1"), (2, "fan2")):
            code = self.trip[fan] or (self.get(f"{fan}.fault_code") or 0)
            self.set(f"{fan}.fault_code", code)
            run = bool(self.get(f"{fan}.run_cmd")) and not code and \
                fan not in self.no_start and self.pos[f"d{i}in"] >= 0.999
            speed = self.get(f"{fan}.speed") or 0.0
            sp = self.get(f"{fan}.speed_sp") or 0.0
            target = sp if run else 0.0
            step = 100 * dt / self.ramp_s
            speed = min(target, speed + step) if target > speed else max(target, speed - step)
            self.set(f"{fan}.speed", speed)
            self.set(f"{fan}.running", run)
            self.set(f"{fan}.reversed", run and bool(self.get(f"{fan}.reverse_cmd")))
            self.set(f"{fan}.ready", not code)
            open_ = self.pos[f"d{i}in"] * self.pos[f"d{i}out"]
            q = NOMINAL * speed / 100 * open_
            if self.get(f"{fan}.reversed"):
                q = -0.6 * q
            self.set(f"{fan}.airflow", q)
            total += q
        self.set("shaft.airflow", total)


class Rig:
    def __init__(self, running: str | None = None) -> None:
        self.clock = ManualClock(1000.0)
        self.store = TagStore(self.clock)
        self.writer = SoftWriter(self.store)
        self.gate = CommandGate(self.clock)
        for name, eq in SYSTEM.equipment.items():
            table = {"fan": FAN, "damper": DAMPER, "air_sensor": AIR_SENSOR}.get(eq.type, {})
            for sig in table:
                self.store.define(f"vent.{name}.{sig}")
        self.plant = Plant(self.store)
        for fan in ("fan1", "fan2"):
            on = fan == running
            for k, v in {"running": on, "ready": True, "local": False, "fault_code": 0,
                         "mode": 2, "run_cmd": on, "speed_sp": 100.0 if on else 0.0,
                         "speed": 100.0 if on else 0.0, "reverse_cmd": False,
                         "reversed": False}.items():
                self.plant.set(f"{fan}.{k}", v)
            i = fan[-1]
            for d in (f"d{i}in", f"d{i}out"):         # a standby: inlet open, outlet shut
                self.plant.set(f"{d}.open_cmd", on or d.endswith("in"))
                self.plant.pos[d] = 1.0 if on or d.endswith("in") else 0.0
        self.plant.step(0.0)
        self.st = FanStation("vent", SYSTEM, self.store, self.writer, self.clock)
        self.handler = StationHandler(self.st)
        self.gate.register(self.st.path, self.handler,
                           {c.action: c.role for c in STATION_COMMANDS})

    async def run(self, seconds: float, dt: float = 1.0) -> None:
        for _ in range(round(seconds / dt)):
            self.clock.advance(dt)
            self.plant.step(dt)
            await self.st.scan()

    async def until(self, state: str, limit: float = 600.0) -> float:
        t0 = self.clock.now()
        while self.st.state != state:
            assert self.clock.now() - t0 < limit, f"{state} not reached: {self.st.state}, " \
                f"{self.store.value('vent.station.fault_reason')}"
            await self.run(1.0)
        return self.clock.now() - t0

    async def command(self, action: str, user: str = "op", role: str = "engineer",
                      **params: Any) -> Any:
        return await self.gate.submit(Command("vent.station", action, "operator", user,
                                              params, role=role))


async def test_one_key_start_opens_dampers_runs_up_and_proves_the_air() -> None:
    rig = Rig()
    await rig.run(1)
    assert rig.st.state == "stopped"
    d = await rig.command("start", fan="fan2")
    assert d.accepted, d.reason
    took = await rig.until("running")
    writes = [(p.split(".", 1)[1], v) for p, v in rig.writer.writes]
    assert writes == [("d2in.open_cmd", True), ("fan2.reverse_cmd", False),
                      ("fan2.speed_sp", 100.0), ("fan2.run_cmd", True),
                      ("d2out.open_cmd", True)]
    assert rig.store.value("vent.station.on_line") == "fan2"
    assert rig.store.value("vent.shaft.airflow") >= 0.7 * NOMINAL
    assert 10 <= took <= 40                      # dampers 10 s, then the ramp to 70 %+


async def test_changeover_keeps_the_air_above_80_pct_and_records_the_dip() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    assert rig.st.state == "running"
    assert (await rig.command("changeover")).accepted
    await rig.until("running")
    assert rig.store.value("vent.station.on_line") == "fan2"
    assert not rig.store.value("vent.fan1.running")
    assert rig.store.value("vent.d1out.closed") and rig.store.value("vent.d2out.opened")
    # crossing the outlets: fan1 delivers (1-x), fan2 x of the air: no dip in this plant
    low = rig.store.value("vent.station.changeover_min_pct")
    assert 99.0 <= low <= 100.5, low
    text = rig.store.value("vent.station.last_changeover")
    assert text.startswith("changeover to fan2 in ") and "lowest" in text
    assert "m3 of air not delivered" in text


async def test_a_standby_that_does_not_start_aborts_the_changeover_safely() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    rig.plant.no_start.add("fan2")
    assert (await rig.command("changeover")).accepted
    await rig.until("fault")
    await rig.run(15)
    # the working fan never stopped, its dampers stay open; the standby is commanded off
    assert rig.store.value("vent.fan1.running") and rig.store.value("vent.fan1.run_cmd")
    assert rig.store.value("vent.d1in.opened") and rig.store.value("vent.d1out.opened")
    assert rig.store.value("vent.fan2.run_cmd") is False
    assert rig.store.value("vent.d2out.open_cmd") is False
    assert rig.store.value("vent.shaft.airflow") == pytest.approx(NOMINAL)
    assert "co_starting not complete within" in rig.store.value("vent.station.fault_reason")
    refused = await rig.command("changeover")
    assert not refused.accepted and "faulted" in refused.reason


async def test_a_standby_tripping_mid_changeover_aborts_at_once() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    assert (await rig.command("changeover")).accepted
    await rig.run(5)
    rig.plant.trip["fan2"] = 2                   # its drive faults while running up
    await rig.until("fault", limit=5)
    assert rig.store.value("vent.station.fault_reason") == \
        "standby fan2 tripped during the changeover: drive (VFD) fault"
    assert rig.store.value("vent.fan2.run_cmd") is False
    assert rig.store.value("vent.fan1.running") and rig.st.on_line == "fan1"


async def test_failover_on_a_trip_delivers_air_from_the_standby_within_60_s() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    rig.plant.trip["fan1"] = 3                   # vibration high
    tripped = rig.clock.now()
    await rig.until("failover", limit=5)
    await rig.until("running", limit=120)
    took = rig.clock.now() - tripped
    assert took <= SYSTEM.control.failover_within_s
    assert rig.store.value("vent.station.on_line") == "fan2"
    assert rig.store.value("vent.fan1.run_cmd") is False
    assert rig.store.value("vent.d1out.open_cmd") is False     # no short circuit
    assert rig.store.value("vent.station.failover_s") <= 60
    assert "failover to fan2" in rig.store.value("vent.station.last_failover")


async def test_no_failover_to_a_standby_in_local_says_why() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    rig.plant.set("fan2.local", True)
    rig.plant.trip["fan1"] = 1
    await rig.until("fault", limit=30)
    reason = rig.store.value("vent.station.fault_reason")
    assert reason == "fan1 tripped: motor overload; no failover: fan2 is in LOCAL"
    assert rig.store.value("vent.fan2.run_cmd") is False       # nothing done behind LOCAL


async def test_low_air_for_the_delay_hands_over_but_a_short_dip_does_not() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    rig.plant.stuck.add("d1out")
    rig.plant.pos["d1out"] = 0.5                 # half the air: below 70 %
    await rig.run(SYSTEM.control.low_airflow_delay_s - 3)
    assert rig.st.state == "running"             # not yet: within the delay
    await rig.until("failover", limit=10)
    await rig.until("running", limit=120)
    assert rig.store.value("vent.station.on_line") == "fan2"


async def test_reversal_needs_confirmation_and_is_measured() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    refused = await rig.command("reverse")
    assert not refused.accepted and "confirm" in refused.reason
    operator = await rig.command("reverse", role="operator", confirm="REVERSE")
    assert not operator.accepted                 # an engineer's command
    assert (await rig.command("reverse", confirm="REVERSE")).accepted
    took = await rig.until("reversed", limit=600)
    pct = rig.store.value("vent.station.reversal_pct")
    assert pct >= 40 and took <= 600
    assert rig.store.value("vent.station.reversal_s") == pytest.approx(took, abs=1)
    assert rig.store.value("vent.shaft.airflow") < 0
    assert (await rig.command("restore")).accepted
    await rig.until("running", limit=300)
    assert rig.store.value("vent.fan1.reverse_cmd") is False
    assert rig.store.value("vent.shaft.airflow") >= 0.9 * NOMINAL


async def test_a_restart_adopts_the_running_fan_and_writes_nothing() -> None:
    rig = Rig(running="fan2")
    await rig.run(3)
    assert rig.st.state == "running" and rig.st.on_line == "fan2"
    assert rig.writer.writes == []


async def test_bad_data_holds_the_sequence_and_refuses_commands() -> None:
    rig = Rig(running="fan1")
    await rig.run(2)
    rig.plant.trip["fan1"] = 1
    rig.plant.step(0.0)
    rig.store.set("vent.fan2.ready", True, Quality.BAD, "comm_fail")
    rig.clock.advance(1.0)
    await rig.st.scan()
    assert rig.st.state == "running" and rig.writer.writes == []   # held, nothing done
    assert rig.store["vent.station.state"].quality is not Quality.GOOD
    d = await rig.command("changeover")
    assert not d.accepted and "unknown" in d.reason
