"""A HIL unit's PLC image bound to a controller's tag store in one process, for benches
that run days of plant time: no sockets, the project's Modbus codec decoding every point
from the image each poll (the image's own notation, ``ir:12:float32``, whatever protocol
the PLC is served over), writes encoded into it and read back. The drivers and their
sockets are what the tests exercise; a week through them would take hours."""

from __future__ import annotations

import logging
from typing import Any

from fixedsite.config import SiteConfig
from fixedsite.drivers.modbus_codec import decoder, encode_registers, parse_address
from fixedsite.drivers.scaling import Scaling
from fixedsite.gate import CommandGate
from fixedsite.io import WriteResult
from fixedsite.systems import BuildContext, get
from fixedsite.tags import TagMeta, TagStore


class Bound:
    def __init__(self, unit: Any, store: TagStore) -> None:
        self.unit, self.store = unit, store
        self.points: dict[str, tuple[Any, Any, Scaling]] = {}
        self.heartbeat: int | None = None
        for tag, p in unit.points():
            a = parse_address(p.address)
            if tag.startswith("plcs."):
                self.heartbeat = a.index
                continue
            sc = Scaling(p.scale, 0.0)
            self.store.define(tag, TagMeta(p.unit, writable=p.writable))
            self.points[tag] = (a, decoder(a, sc, "big"), sc)

    def table(self, name: str) -> list[Any]:
        plc = self.unit.plc
        return {"coil": plc.coils, "di": plc.di, "hr": plc.hr, "ir": plc.ir}[name]

    def poll(self) -> None:
        for tag, (a, dec, _) in self.points.items():
            self.store.set(tag, dec(self.table(a.table), a.index))

    async def write(self, path: str, value: float | bool) -> WriteResult:
        a, dec, sc = self.points[path]
        data = self.table(a.table)
        if a.table == "coil":
            data[a.index] = bool(value)
        elif a.bit is not None:
            raise ValueError(f"{path}: a register bit is not written by a bench")
        else:
            data[a.index:a.index + a.width] = encode_registers(sc.to_raw(float(value)),
                                                               a.dtype, "big")
        back = dec(data, a.index)
        self.store.set(path, back)
        ok = back == value or (isinstance(back, float) and abs(back - float(value)) < 1e-3)
        return WriteResult(ok, back, "" if ok else f"read back {back}")

    def beat(self, n: int) -> None:
        if self.heartbeat is not None:
            self.unit.plc.hr[self.heartbeat] = n % 65536


def build_system(cfg: SiteConfig, sname: str, unit: Any, clock: Any) -> tuple[Any, Bound,
                                                                              CommandGate,
                                                                              list[Any]]:
    """The controller's side of one system on a bound image: (what its builder returned,
    the binding, the gate, its scan steps in order)."""
    store = TagStore(clock)
    bound = Bound(unit, store)
    gate = CommandGate(clock)
    ctx = BuildContext(cfg, store, clock, bound, gate, logging.getLogger("bench"),
                       group=sname)
    system = cfg.systems[sname]
    spec = get(system.kind)
    built = spec.load(spec.build)(ctx, sname, system)
    for fn in ctx.starts:
        fn(None)
    steps = [s for group in ctx.groups.values() for _, s, _ in group]
    return built, bound, gate, steps
