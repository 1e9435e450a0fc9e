"""Notification under load, against the HIL's real stand-ins on loopback: a burst of alarms
(a power dip trips a pump room: 40 alarms in 2 minutes) and single P1s. Prints messages
sent against one per alarm per person per channel (what a notifier without the flood
digest sends), delivery latency from annunciation to the SMTP server, and the same with
the mail relay down for 5 minutes (queued, in order, late).

    .venv/bin/python bench/notify.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fixedsite.alarms.engine import AlarmEngine
from fixedsite.alarms.handler import AlarmHandler
from fixedsite.alarms.model import AlarmDef
from fixedsite.clock import ManualClock
from fixedsite.gate import CommandGate
from fixedsite.hil.inbox import Inbox
from fixedsite.notify import Notifications
from fixedsite.notify.config import NotifyConfig
from fixedsite.tags import TagMeta, TagStore

T0 = 1796637600.0     # a Monday 10:00 (host zone): the day shift
N_BURST = 40


def table(box: Inbox) -> dict[str, Any]:
    host = box.http_url.split("://", 1)[1]
    fast = {"retry_s": 0.2, "retry_max_s": 1.0, "timeout_s": 3}
    return {
        "channels": {"mail": {"url": f"mailto://127.0.0.1:{box.smtp_port}?from=f@m.cn"
                              "&to={to}&secure=no&mode=insecure&format=text", **fast},
                     "group": {"url": f"json://{host}/hook/room", **fast}},
        "people": {"li": {"name": "Li", "contacts": {"mail": "li@m.cn"}},
                   "wang": {"name": "Wang", "contacts": {"mail": "wang@m.cn"}},
                   "disp": {"name": "Dispatch", "contacts": {"mail": "d@m.cn"}}},
        "rota": [{"shift": "all", "start": 0, "end": 24, "duty": ["li"], "backup": "wang"}],
        "dispatcher": "disp",
        "routes": [{"priorities": [1, 2], "channels": ["mail", "group"]}],
        "flood": {"gather_s": 60}}


async def run(box: Inbox, folder: Path, down_s: float = 0.0) -> dict[str, float]:
    clock = ManualClock(T0)
    store = TagStore(clock)
    tags = [store.define(f"room.x{i}.on", TagMeta(kind="bool")) for i in range(N_BURST)]
    defs = [AlarmDef(f"room.x{i}.ALM", f"room.x{i}.on", "discrete", 1 if i % 10 == 0 else 2,
                     "room", f"Alarm {i}", lambda v: v is True, lambda v: v is False)
            for i in range(N_BURST)]
    engine = AlarmEngine(defs, store, clock)
    gate = CommandGate(clock)
    gate.register("alarms", AlarmHandler(engine))
    n = NotifyConfig.model_validate(table(box))
    svc = Notifications(n, folder / "notify.db", site="Bench", lang="en", store=store,
                        clock=clock, engine=engine, gate=gate)
    outbox, notifier, deliveries = svc.outbox, svc.notifier, svc.deliveries
    tasks = [asyncio.create_task(d.run()) for d in deliveries.values()]
    if down_s:
        box.down.add("smtp")
    raised_wall: dict[str, float] = {}
    start = len(box.received)
    for i, tag in enumerate(tags):                  # 40 alarms in 120 s of plant time
        raised_wall[f"Alarm {i}"] = time.monotonic()
        store.update(tag, True)
        clock.advance(3.0)
        notifier.tick()
    clock.advance(61.0)
    notifier.tick()
    if down_s:
        await asyncio.sleep(down_s)
        clock.advance(down_s * 60)      # the outage as plant time: 5 s of it = 5 min
        box.down.clear()
    for _ in range(600):                          # everything delivered, 30 s at most
        if not any(outbox.head(c) for c in deliveries):
            break
        await asyncio.sleep(0.05)
    got = box.received[start:]
    lat = [r.t - time.time() + time.monotonic() - raised_wall[r.title.split(": ", 1)[1]]
           for r in got if r.via == "smtp" and r.title.split(": ", 1)[-1] in raised_wall]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sent = outbox.messages()
    await svc.stop()
    return {"messages": len(got), "naive": N_BURST * 2,
            "late": sum(m.late for m in sent), "in_order": float(
                [m.id for m in sent if m.channel == "mail"] ==
                sorted(m.id for m in sent if m.channel == "mail")),
            "lat_p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
            "lat_max_ms": 1000 * max(lat) if lat else float("nan")}


async def main() -> None:
    box = Inbox()
    await box.start()
    try:
        with tempfile.TemporaryDirectory() as d:
            up = await run(box, Path(d) / "a")
            down = await run(box, Path(d) / "b", down_s=5.0)
    finally:
        await box.stop()
    print(f"burst of {N_BURST} alarms (4 P1) in 120 s plant time, mail + group channel")
    print(f"{'':<14}{'messages':>9}{'naive':>7}{'ratio':>7}{'p50 ms':>8}{'max ms':>8}"
          f"{'late':>6}")
    for name, r in (("channels up", up), ("mail down 5s", down)):
        print(f"{name:<14}{r['messages']:>9.0f}{r['naive']:>7.0f}"
              f"{r['messages'] / r['naive']:>7.2f}{r['lat_p50_ms']:>8.0f}"
              f"{r['lat_max_ms']:>8.0f}{r['late']:>6.0f}")
    print(f"RESULT burst_messages={up['messages']:.0f} naive={up['naive']:.0f} "
          f"ratio={up['messages'] / up['naive']:.2f} p1_mail_p50_ms={up['lat_p50_ms']:.0f} "
          f"outage_in_order={down['in_order']:.0f} outage_messages={down['messages']:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
