"""Command latency through the northbound OPC UA server, encrypted, against the HIL.

(a) method call -> gate (role, mode, interlocks) -> PLC write -> read-back verified ->
reply, p50/p99; (b) the new value seen back through a client subscription, p50/p99.
The commands alternate pump 4 between remote-manual and remote-auto (SetMode, engineer),
each a verified write of the PLC's mode register. Everything runs in real time (scale 1):
HIL PLC, controller, OPC UA server and the client share this process and its event loop,
so the figures include that contention.

(c) the console answering a key press (repaint included) while 2,000 tags change every
second (the shown pumps' flows and currents among them), p99 over 200 presses, on the demo
site's own tags, relay room included; the table's rows are picked by their key (pump path),
so the bench follows the table when rooms or pumps are added. Measured inside the app,
from the key event entering its driver queue to the end of the first display showing the
effect (Textual's ``post_display_hook``), headless, so the terminal write is not
included; idle printed beside.

Run: ``.venv/bin/python bench/command.py [--n 500]``; the last line is
``RESULT call_p99_ms=... seen_p99_ms=... key_ms=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from fixedsite.audit import AuditLog  # noqa: E402
from fixedsite.clock import ScaledClock  # noqa: E402
from fixedsite.config import OpcUaConfig  # noqa: E402
from fixedsite.hil.demo_config import demo_config, free_port  # noqa: E402
from fixedsite.hil.site import HilSite  # noqa: E402
from fixedsite.northbound import Northbound  # noqa: E402
from fixedsite.runtime import Controller  # noqa: E402
from fixedsite.users import UserStore  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def run(n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    cfg = demo_config(free_port(), 1.0)
    clock = ScaledClock(1.0)
    site = HilSite(cfg, clock)
    await site.start()
    audit = AuditLog(tmp / "audit.db")          # every command is audited, as in production
    ctl = Controller(cfg, clock, audit=audit)
    await ctl.start()
    users = UserStore(tmp / "users.json")
    users.add("eng", "engineer", "bench-password")
    opc = OpcUaConfig(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/")
    nb = Northbound(ctl, users, opc, tmp / "pki")
    await nb.start()
    key, cert = tmp / "k.pem", tmp / "c.der"
    await setup_self_signed_certificate(key, cert, "urn:bench", "localhost",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "b"})
    await ctl.store.wait_for("drainage.pump4.mode", lambda t: t.value is not None, 10)
    c = Client(opc.endpoint, timeout=10)
    c.application_uri = "urn:bench"
    c.set_user("eng")
    c.set_password("bench-password")
    await c.set_security(security_policies.SecurityPolicyBasic256Sha256,
                         certificate=str(cert), private_key=str(key),
                         mode=ua.MessageSecurityMode.SignAndEncrypt)
    await c.connect()
    ns = nb.ns
    pump = c.get_node(ua.NodeId("drainage.pump4", ns))
    method = ua.NodeId("drainage.pump4.SetMode", ns)
    seen: dict[float, asyncio.Future[float]] = {}

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            fut = seen.pop(float(val), None)
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

    publish_ms = 20
    sub = await c.create_subscription(publish_ms, Handler())
    await sub.subscribe_data_change(c.get_node(ua.NodeId("drainage.pump4.mode", ns)))
    calls, views, refused = [], [], 0
    loop = asyncio.get_running_loop()
    for i in range(n):
        mode, value = ("remote-manual", 1.0) if i % 2 == 0 else ("remote-auto", 2.0)
        fut: asyncio.Future[float] = loop.create_future()
        seen[value] = fut
        t0 = time.perf_counter()
        ok, _why = await pump.call_method(method, mode)
        t1 = time.perf_counter()
        calls.append((t1 - t0) * 1000)
        refused += not ok
        views.append((await asyncio.wait_for(fut, 5) - t0) * 1000)
    await c.disconnect()
    await nb.stop()
    await ctl.stop()
    await site.stop()
    records = audit.verify()
    audit.close()
    poll_ms = cfg.plcs["drain1"].poll_period_s * 1000
    print(f"{n} SetMode calls, encrypted (Basic256Sha256 sign and encrypt), {refused} refused;"
          f" audit log: {records.message}")
    print(f"(a) call -> gate -> PLC write -> read-back -> reply: p50 "
          f"{statistics.median(calls):.1f} ms, p99 {pct(calls, 99):.1f} ms (target < 50 ms)")
    print(f"(b) new value seen through the subscription: p50 {statistics.median(views):.1f} "
          f"ms, p99 {pct(views, 99):.1f} ms (target < poll {poll_ms:.0f} + publish "
          f"{publish_ms} + 50 = {poll_ms + publish_ms + 50:.0f} ms)")
    idle = await key_latency(200, load=False)
    keys = await key_latency(200)
    rows = await key_latency(200, keys=("down", "up"))
    print("(c) console, 2,000 tags changing every second, key press to repainted screen:")
    print(f"    switching screens p50 {statistics.median(keys):.1f} ms, p99 "
          f"{pct(keys, 99):.1f} ms (idle: p50 {statistics.median(idle):.1f}, p99 "
          f"{pct(idle, 99):.1f}); moving in the pump table p50 "
          f"{statistics.median(rows):.1f} ms, p99 {pct(rows, 99):.1f} ms (target < 100 ms)")
    print(f"RESULT call_p99_ms={pct(calls, 99):.1f} seen_p99_ms={pct(views, 99):.1f} "
          f"key_ms={max(pct(keys, 99), pct(rows, 99)):.1f}")


MOVE_FROM = "drainage.pump4"   # the main room's last pump: "down" crosses into the relay room


def site_values() -> tuple[dict[str, Any], list[str]]:
    """The console's model of the demo site, relay room included: the pumps and rooms are
    read from the tags of a controller built (not started) on the demo config, so the
    drainage table gets the rows it has in use whatever rooms and pumps the demo grows.
    Returns the pumps' shown values and each room's status (what makes the console list a
    room), and the shown values a feeder changes every second (flows, currents, levels)."""
    from fixedsite.console.client import Value

    ctl = Controller(demo_config(free_port(), 1.0, relay=True), ScaledClock(1.0))
    paths = ctl.store.paths()
    pumps = [p.removesuffix(".run_cmd") for p in paths if p.endswith(".run_cmd")]
    values: dict[str, Any] = {}
    for pump in pumps:
        for sig, val in (("run_cmd", True), ("running", True), ("state", "running"),
                         ("mode", 2.0), ("flow", 280.0), ("current", 36.0),
                         ("bearing_temp", 55.0), ("stator_temp", 70.0),
                         ("run_hours", 1200.0)):
            if f"{pump}.{sig}" in paths:
                values[f"{pump}.{sig}"] = Value(val, True)
    rooms = [p.removesuffix(".control.status") for p in paths
             if p.endswith(".control.status")]
    for room in rooms:
        values[f"{room}.control.status"] = Value("auto", True)
    changing = [f"{p}.{sig}" for p in pumps for sig in ("flow", "current")]
    changing += [f"{room}.sump.level" for room in rooms]
    return values, changing


def cursor_key(table: Any) -> str | None:
    """The key of the row under a table's cursor (as the console reads its selection)."""
    if table.row_count == 0:
        return None
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


async def select(pilot: Any, app: Any, screen: str, table_id: str, key: str,
                 wait_s: float = 10.0) -> Any:
    """Show a screen and put its table's cursor on row ``key`` once that row is there
    (the console tests' way: rows by their key, never by counting cursor moves)."""
    await pilot.press(screen)
    table = app.query_one(f"#{table_id}")
    deadline = time.monotonic() + wait_s
    while key not in table.rows:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: no row {key!r} in #{table_id} within {wait_s:.0f} s "
                             f"(rows: {[str(k.value) for k in table.rows]})")
        await pilot.pause(0.05)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()
    if cursor_key(table) != key:
        raise SystemExit(f"bench: cursor not on row {key!r} (on {cursor_key(table)!r})")
    return table


async def key_latency(presses: int, load: bool = True,
                      keys: tuple[str, str] = ("1", "2")) -> list[float]:
    """Key press to repainted screen, measured inside the app, while a feeder changes
    2,000 values every second: from the key event entering the app's driver queue to the
    end of the first display that shows its effect (the screen switched, or the table
    cursor on the row expected, named by its key). Headless: the terminal write itself is
    not included."""
    import random

    from textual import events

    from fixedsite.console.app import make_console
    from fixedsite.console.client import SiteClient, Value

    client = SiteClient("opc.tcp://127.0.0.1:1/x/", "bench", "-", Path("/nonexistent"))
    client.connected = True
    start, shown = site_values()
    client.values.update(start)
    pumps = sorted({p.rsplit(".", 1)[0] for p in start if p.endswith(".run_cmd")})
    # the shown values change, and as many more as make 2,000 (not on any screen)
    paths = shown + [f"{pumps[i % len(pumps)]}.x{i}" for i in range(2000 - len(shown))]
    rng = random.Random(1)
    base = type(make_console(client, "zh_CN", "bench"))
    waiting: list[tuple[Any, asyncio.Future[float]]] = []

    class Timed(base):  # type: ignore[valid-type, misc]
        def post_display_hook(self) -> None:
            now = time.perf_counter()
            for item in list(waiting):
                done, fut = item
                if done() and not fut.done():
                    fut.set_result(now)
                    waiting.remove(item)

    app = Timed(client, "zh_CN", "bench")
    out: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        async def feed() -> None:
            while True:
                for p in paths:
                    client.values[p] = Value(rng.random() * (3 if p.endswith("level") else 100),
                                             True)
                client.on_change()
                await asyncio.sleep(1.0)
        feeder = asyncio.create_task(feed() if load else asyncio.sleep(0))
        try:
            table = await select(pilot, app, "2", "pumps", MOVE_FROM)
            if keys == ("down", "up") and table.cursor_row == table.row_count - 1:
                keys = ("up", "down")                 # the first move stays in the table
            loop = asyncio.get_running_loop()
            for i in range(presses):
                key = keys[i % 2]
                view = {"1": "overview", "2": "drainage"}.get(key)
                want: str | None = None
                if view is None:
                    here = table.get_row_index(cursor_key(table))
                    want = str(table.ordered_rows[here + (1 if key == "down" else -1)]
                               .key.value)

                def done(want: str | None = want, view: str | None = view) -> bool:
                    return app.view() == view if view else cursor_key(table) == want
                fut: asyncio.Future[float] = loop.create_future()
                waiting.append((done, fut))
                ev = events.Key(key, key if len(key) == 1 else None)
                ev.set_sender(app)
                t0 = time.perf_counter()
                app._driver.send_message(ev)
                try:
                    out.append((await asyncio.wait_for(fut, 5) - t0) * 1000)
                except TimeoutError:
                    raise SystemExit(f"bench: key {key!r} not shown within 5 s: expected "
                                     f"{view or want!r}, screen {app.view()!r}, cursor on "
                                     f"{cursor_key(table)!r}") from None
                await asyncio.sleep(rng.uniform(0.0, 0.05))    # presses at random phases
        finally:
            feeder.cancel()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    asyncio.run(run(args.n))


if __name__ == "__main__":
    main()
