"""Ventilation in the HIL: one unit per ``[[hil.ventilation]]`` entry, its plant and PLC
built from the site config, its faults, its status line, its register map named as the
config names the equipment, and its state.

An entry without ``face`` is the main fan station (fans, dampers, doors, windows, air
sensors and the mine's airways, on that PLC); one with ``face`` is that face's
auxiliary-fan PLC. ``HIL`` is what the ventilation plug-in declares
(``SystemSpec.hil_kind``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig
from fixedsite.hil.faults import Fault, InjectError, Injection, Taken, number
from fixedsite.hil.unit import HilKind, HilUnit, Point
from fixedsite.hil.ventilation import state
from fixedsite.hil.ventilation.plant import (
    AirSensor,
    Airway,
    AuxFanState,
    AuxPlant,
    AuxSpec,
    FanSpec,
    StationSpec,
    VentilationPlant,
)
from fixedsite.hil.ventilation.plc import (
    AuxPlc,
    StationPlc,
    aux_points,
    register_map,
    station_points,
)
from fixedsite.sequences.ventilation.config import (
    AirSensorEq,
    AuxFanEq,
    DamperEq,
    DoorEq,
    FanEq,
    HilVentilation,
    PlcStatusEq,
    VentilationSystem,
    WindowEq,
)

VIB_FAULT_MM_S = 9.0        # what a damaged bearing adds to the vibration reading
DUCT_SHARE = 0.03           # without [network]: the fan ducts' share of the resistance


def _drift(args: Sequence[object]) -> Taken:
    if len(args) != 1:
        raise InjectError("airflow-drift takes one number, m3/s an hour (0 stops the drift)")
    return {"number": number(args[0], "m3/s per hour", -100, 100)}


FAULTS: dict[str, Fault] = {
    "fan-trip": Fault("fan", "[on|off]", "a damaged bearing: the fan's vibration jumps and "
                      "the PLC trips it (off: the cause is gone; the controller must still "
                      "reset the fault)", word="trip"),
    "vfd-fault": Fault("fan", "[on|off]", "the fan's drive reports a fault: the PLC trips "
                       "the fan (off: the drive is healthy again)", word="VFD fault"),
    "damper-stuck": Fault("damper", "[on|off]", "the damper's actuator stops where it is",
                          word="stuck"),
    "door-stuck": Fault("door", "[on|off]", "the door's actuator stops where it is",
                        word="stuck"),
    "door-obstructed": Fault("door", "[on|off]", "something stands in the door's way: "
                             "moving, it stops and goes back", word="obstructed"),
    "sensor-stuck": Fault("sensor", "[on|off]", "the air station freezes at its present "
                          "readings", word="stuck"),
    "airflow-drift": Fault("sensor", "M3S_PER_H", "the station's airflow reading drifts "
                           "by this many m3/s an hour from now (0: drift and offset gone)",
                           take=_drift, tell=lambda i: f"{i.target}: airflow drift "
                                                       f"{i.number:g} m3/s per hour"),
    "aux-trip": Fault("aux_fan", "[on|off]", "the auxiliary fan's overload relay trips it "
                      "(off: the cause is gone; the controller must still reset the fault)",
                      word="trip"),
}


def _of(system: VentilationSystem, kind: type, plc: str) -> list[str]:
    return [n for n, eq in system.equipment.items() if isinstance(eq, kind) and eq.plc == plc]


def items(cfg: SiteConfig, h: HilVentilation) -> dict[str, list[str]]:
    """The equipment one entry simulates, by kind, in its PLC's order."""
    system = cfg.systems[h.system]
    ctl = system.control
    if h.face is not None:
        face = ctl.faces.get(h.face)
        return {"aux_fan": list(face.fans) if face is not None else []}
    fans = list(ctl.fans)
    dampers = [d for f in fans if isinstance(eq := system.equipment[f], FanEq)
               for d in (eq.inlet_damper, eq.outlet_damper)]
    return {"fan": fans, "damper": dampers, "door": _of(system, DoorEq, h.plc),
            "window": _of(system, WindowEq, h.plc),
            "sensor": _of(system, AirSensorEq, h.plc)}


def _status_tag(site: SiteConfig, h: HilVentilation, p: Point, who: dict[str, str]) -> str:
    system = site.systems[h.system]
    status = next((n for n, eq in system.equipment.items()
                   if isinstance(eq, PlcStatusEq) and eq.plc == h.plc), None)
    if p.role == "plc.0":
        if status is None or p.signal == "heartbeat":
            return f"plcs.{h.plc}.{p.signal}"
        return f"{h.system}.{status}.{p.signal}"
    return f"{h.system}.{who[p.role]}.{p.signal}"


class VentilationUnit(HilUnit):
    """The main fan station, or (``cfg.face`` set) one face's auxiliary fans."""

    def __init__(self, site: SiteConfig, h: HilVentilation, clock: ScaledClock) -> None:
        self.site, self.cfg, self.clock = site, h, clock
        self.items = items(site, h)
        system = site.systems[h.system]
        assert isinstance(system, VentilationSystem)
        self.system_cfg = system
        self.station: VentilationPlant | None = None
        self.aux: AuxPlant | None = None
        watchdog = clock.silence_timeout(h.watchdog_s)
        if h.face is not None:
            specs = []
            for name in self.items["aux_fan"]:
                eq = system.equipment[name]
                assert isinstance(eq, AuxFanEq)
                specs.append(AuxSpec(eq.rated_flow_m3s, eq.rated_power_kw))
            self.aux = AuxPlant(specs)
            self.plc: StationPlc | AuxPlc = AuxPlc(self.aux, watchdog)
            if h.initial == "running" and specs:
                self.plc.put_running(0)
            self._points = aux_points(len(specs), 2.0 * max(s.rated_flow for s in specs))
        else:
            self.station = _station(system, h, self.items)
            fans = [system.equipment[f] for f in self.items["fan"]]
            doors = [system.equipment[d] for d in self.items["door"]]
            airlocks: dict[str, list[int]] = {}
            for j, d in enumerate(doors):
                assert isinstance(d, DoorEq)
                airlocks.setdefault(d.airlock, []).append(j)
            plc = StationPlc(self.station, watchdog, list(airlocks.values()),
                             [d.warn_s for d in doors if isinstance(d, DoorEq)],
                             [f.min_speed_pct / 100 for f in fans if isinstance(f, FanEq)],
                             [f.rated_current_a for f in fans if isinstance(f, FanEq)])
            self.plc = plc
            fan1 = fans[0]
            assert isinstance(fan1, FanEq)
            plc.put_standby(1)
            if h.initial == "running":
                plc.put_running(0, fan1.run_speed_pct / 100)
                self.station.step(600.0)          # the air settles before the PLC serves
            flow_max = 2.0 * fan1.rated_flow_m3s
            p_max = 2.0 * max(p for _, p in fan1.curve)
            self._points = station_points(len(doors), len(self.items["window"]),
                                          len(self.items["sensor"]), round(flow_max),
                                          round(p_max))

    # --- the HilUnit interface ---------------------------------------------------------
    def first_scan(self, now: float) -> None:
        self.plc.scan(now, 0.0)

    def advance(self, now: float, dt: float) -> None:
        if self.station is not None:
            self.station.step(dt)
        elif self.aux is not None:
            self.aux.step(dt)
        self.plc.scan(now, dt)

    def inject(self, inj: Injection, now: float) -> None:
        f, i, on = inj.fault, inj.item, inj.on
        st = self.station
        if f == "aux-trip" and self.aux is not None:
            self.aux.fans[i].overload = on
        elif st is None:
            raise InjectError(f"fault {f!r} is not one of a face's auxiliary fans")
        elif f == "fan-trip":
            st.fans[i].vib_excess = VIB_FAULT_MM_S if on else 0.0
        elif f == "vfd-fault":
            st.fans[i].vfd_fault = on
        elif f == "damper-stuck":
            st.dampers[i // 2][i % 2].stuck = on
        elif f == "door-stuck":
            st.doors[i].stuck = on
        elif f == "door-obstructed":
            st.doors[i].obstacle = on
        elif f == "sensor-stuck":
            st.sensors[i].stuck_at = None
            st.sensors[i].stuck_at = st.read_sensor(i) if on else None
        elif f == "airflow-drift":
            st.sensors[i].drift_per_h = inj.number
            if inj.number == 0.0:
                st.sensors[i].offset = 0.0
        else:                                 # FAULTS and this method disagree: a bug
            raise InjectError(f"fault {f!r} is listed but not implemented")

    def heartbeat_deaf(self, on: bool) -> None:
        self.plc.inject_heartbeat_deaf(on)

    def status(self) -> dict[str, Any]:
        fb = "  FALLBACK" if self.plc.fallback else ""
        if self.aux is not None:
            fans = {n: {"running": f.motor_on, "airflow_m3s": f.flow,
                        "fault": self.plc.fault[k]}
                    for k, (n, f) in enumerate(zip(self.items["aux_fan"], self.aux.fans,
                                                   strict=True))}
            words = "  ".join(f"{n}:{'run' if v['running'] else 'off'}"
                              f"{' TRIP' if v['fault'] else ''}" for n, v in fans.items())
            return {"face": self.cfg.face, "airflow_m3s": self.aux.face_airflow(),
                    "fallback": self.plc.fallback, "aux_fans": fans,
                    "text": f"face {self.cfg.face} air {self.aux.face_airflow():.1f} m3/s"
                            f"{fb}  {words}"}
        st = self.station
        assert st is not None and isinstance(self.plc, StationPlc)
        q = st.total_airflow()
        p = st.branch_pressure(None)
        fans = {n: {"running": f.drive_on, "speed_pct": 100 * f.speed, "reversed":
                    f.turning_reversed, "airflow_m3s": f.flow, "fault": self.plc.fault[k]}
                for k, (n, f) in enumerate(zip(self.items["fan"], st.fans, strict=True))}
        words = "  ".join(
            f"{n}:{'run' if v['running'] else 'off'} {v['speed_pct']:.0f}%"
            f"{' REV' if v['reversed'] else ''}{' TRIP' if v['fault'] else ''}"
            for n, v in fans.items())
        doors = {n: "open" if d.opened else "shut" if d.closed else "moving"
                 for n, d in zip(self.items["door"], st.doors, strict=True)}
        dwords = " ".join(f"{n}:{s}" for n, s in doors.items())
        return {"airflow_m3s": q, "pressure_pa": p, "fallback": self.plc.fallback,
                "fans": fans, "doors": doors,
                "text": f"air {q:.1f} m3/s  {p:.0f} Pa{fb}  {words}"
                        f"{'  doors ' + dwords if dwords else ''}"}

    def brief(self) -> str:
        if self.aux is not None:
            return f"{self.aux.face_airflow():.1f} m3/s"
        assert self.station is not None
        return f"{self.station.total_airflow():.1f} m3/s"

    def register_map(self) -> list[tuple[str, str]]:
        return register_map(self._points)

    def points(self) -> list[tuple[str, Point]]:
        who: dict[str, str] = {}
        for kind in ("fan", "damper", "door", "window", "sensor", "aux_fan"):
            for k, name in enumerate(self.items.get(kind, [])):
                who[f"{kind}.{k}"] = name
        return [(_status_tag(self.site, self.cfg, p, who), p) for p in self._points]

    def layout(self) -> dict[str, Any]:
        return {"system": self.cfg.system, "plc": self.cfg.plc, "face": self.cfg.face,
                **{k: list(v) for k, v in self.items.items()}}

    def snapshot(self) -> dict[str, Any]:
        if self.aux is not None:
            assert isinstance(self.plc, AuxPlc)
            return state.snapshot_aux(self.aux, self.plc)
        assert self.station is not None and isinstance(self.plc, StationPlc)
        return state.snapshot_station(self.station, self.plc)

    def restore(self, saved: Any, where: str) -> list[Callable[[], None]]:
        if self.aux is not None:
            assert isinstance(self.plc, AuxPlc)
            return state.restore_aux(self.aux, self.plc, saved, where)
        assert self.station is not None and isinstance(self.plc, StationPlc)
        return state.restore_station(self.station, self.plc, saved, where)


def _station(system: VentilationSystem, h: HilVentilation,
             names: dict[str, list[str]]) -> VentilationPlant:
    """The fan station's plant from the config: fans, dampers, the airways (the system's
    network, or one equivalent branch), windows, doors and sensors."""
    fans, specs, travels = names["fan"], [], []
    for name in fans:
        f = system.equipment[name]
        assert isinstance(f, FanEq)
        specs.append(FanSpec(f.rated_flow_m3s, f.rated_pressure_pa, f.rated_power_kw,
                             f.rated_current_a, list(f.curve), f.efficiency, f.ramp_s))
        din, dout = system.equipment[f.inlet_damper], system.equipment[f.outlet_damper]
        assert isinstance(din, DamperEq) and isinstance(dout, DamperEq)
        travels.append((din.travel_s, dout.travel_s))
    windows = names["window"]
    net = system.network
    if net is not None:
        branches = []
        for bname, b in net.branches.items():
            if b.fan is not None and b.fan not in fans:
                raise ValueError(f"network.branches.{bname}.fan: {b.fan!r} is not one of "
                                 f"control.fans ({', '.join(fans)})")
            if b.regulator is not None and b.regulator not in windows:
                raise ValueError(f"network.branches.{bname}.regulator: {b.regulator!r} is "
                                 "not a window on the fan station's PLC")
            branches.append(Airway(bname, b.start, b.end,
                                   max(b.resistance, 1e-3) if b.fan else b.resistance,
                                   fans.index(b.fan) if b.fan else None,
                                   windows.index(b.regulator) if b.regulator else None,
                                   b.fixed_m3s, b.natural_pa, b.area_m2))
        for i, name in enumerate(fans):
            if not any(b.fan == i for b in branches):
                raise ValueError(f"network: no branch has fan = {name!r}")
        root = net.surface
        index = {b.name: k for k, b in enumerate(branches)}
    else:
        r = specs[0].rated_pressure / specs[0].rated_flow ** 2
        branches = [Airway("mine", "surface", "drift", r * (1 - DUCT_SHARE),
                           natural=h.natural_pa)]
        branches += [Airway(f"duct.{name}", "drift", "surface", r * DUCT_SHARE, fan=i)
                     for i, name in enumerate(fans)]
        root, index = "surface", {}
    sensors = []
    for j, name in enumerate(names["sensor"]):
        eq = system.equipment[name]
        assert isinstance(eq, AirSensorEq)
        k = None
        if eq.branch is not None:
            if eq.branch not in index:
                raise ValueError(f"{name}.branch: {eq.branch!r} is not a branch of the "
                                 "system's network")
            k = index[eq.branch]
        area = branches[k].area if k is not None else None
        sensors.append(AirSensor(k, area, 21.0 + 1.5 * j, 86.0 + 2.0 * (j % 3)))
    win_specs = []
    for name in windows:
        w = system.equipment[name]
        assert isinstance(w, WindowEq)
        area = next((b.area for b in branches if b.window == windows.index(name)), None)
        win_specs.append((w.travel_s, area))
    doors = []
    for name in names["door"]:
        d = system.equipment[name]
        assert isinstance(d, DoorEq)
        doors.append((d.travel_s, d.warn_s))
    return VentilationPlant(StationSpec(specs, travels, branches, root, win_specs, doors,
                                        sensors, h.airway_inertia, h.seed))


def build(cfg: SiteConfig, entries: list[HilVentilation], clock: ScaledClock
          ) -> list[HilUnit]:
    """Exactly one unit per entry, in the config's order."""
    return [VentilationUnit(cfg, h, clock) for h in entries]


HIL = HilKind(faults=FAULTS,
              words={"fan": "main fan", "damper": "damper", "door": "air door",
                     "window": "regulating window", "sensor": "air sensor",
                     "aux_fan": "auxiliary fan"},
              items=items, build=build)

__all__ = ["FAULTS", "HIL", "AuxFanState", "VentilationUnit", "build", "items"]
