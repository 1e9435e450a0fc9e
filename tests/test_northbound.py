"""The northbound OPC UA server with a real asyncua client over an encrypted channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.ua.ua_binary import struct_from_binary
from conftest import Rig, free_port
from cryptography.x509.oid import ExtendedKeyUsageOID

from fixedsite.audit import AuditLog
from fixedsite.config import OpcUaConfig
from fixedsite.northbound import Northbound
from fixedsite.runtime import Controller
from fixedsite.users import UserStore

CLIENT_URI = "urn:fixedsite:test-client"
logging.getLogger("asyncua").setLevel(logging.CRITICAL)


class Site:
    def __init__(self, rig: Rig, nb: Northbound, audit: AuditLog, certs: tuple[Path, Path]):
        self.rig, self.nb, self.audit, self.certs = rig, nb, audit, certs
        self.url = nb.cfg.endpoint

    async def client(self, user: str | None, password: str = "",
                     cls: type[Client] = Client, secure: bool = True) -> Client:
        """A real asyncua client of the site, signed and encrypted unless ``secure`` is
        off; ``cls``: a client subclass that misbehaves on purpose."""
        c = cls(self.url, timeout=10)
        c.application_uri = CLIENT_URI
        if user is not None:
            c.set_user(user)
            c.set_password(password)
        if secure:
            key, cert = self.certs
            await c.set_security(security_policies.SecurityPolicyBasic256Sha256,
                                 certificate=str(cert), private_key=str(key),
                                 mode=ua.MessageSecurityMode.SignAndEncrypt)
        await c.connect()
        return c

    def node(self, c: Client, path: str) -> Any:
        return c.get_node(ua.NodeId(path, self.nb.ns))

    async def raw_call(self, c: Client, obj: str | ua.NodeId, method: str | ua.NodeId,
                       *args: ua.Variant) -> tuple[ua.CallMethodResult, str]:
        """A Call as a foreign client sees it: the method's whole result (status, a status
        and diagnostic per input, outputs) and the reason in the response's DiagnosticInfo
        (asyncua's ``call_method`` keeps neither)."""
        ids = [x if isinstance(x, ua.NodeId) else ua.NodeId(x, self.nb.ns)
               for x in (obj, method if isinstance(method, ua.NodeId) or "." in method
                         else f"{obj}.{method}")]
        request = ua.CallRequest()
        request.Parameters.MethodsToCall = [ua.CallMethodRequest(
            ObjectId=ids[0], MethodId=ids[1], InputArguments=list(args))]
        assert c.uaclient.protocol is not None
        data = await c.uaclient.protocol.send_request(request)
        response = struct_from_binary(ua.CallResponse, data)
        diags = response.DiagnosticInfos or []
        return response.Results[0], (diags[0].AdditionalInfo or "") if diags else ""


@pytest_asyncio.fixture
async def site(rig_factory: Callable[..., Rig], tmp_path: Path) -> AsyncIterator[Site]:
    rig = rig_factory(scale=60.0, initial_level_m="1.0")
    await rig.site.start()
    audit = AuditLog(tmp_path / "audit.db")
    rig.ctl = Controller(rig.cfg, rig.clock, audit=audit)
    await rig.ctl.start()
    users = UserStore(tmp_path / "users.json")
    for name, role in (("view", "viewer"), ("op", "operator"), ("eng", "engineer")):
        users.add(name, role, f"{name}-password")
    cfg = OpcUaConfig(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/")
    nb = Northbound(rig.ctl, users, cfg, tmp_path / "pki")
    await nb.start()
    key, cert = tmp_path / "client_key.pem", tmp_path / "client_cert.der"
    await setup_self_signed_certificate(key, cert, CLIENT_URI, "localhost",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "t"})
    await rig.ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    yield Site(rig, nb, audit, (key, cert))
    await nb.stop()
    audit.close()


async def call(c: Client, site: Site, obj: str, method: str, *args: Any) -> tuple[bool, str]:
    node = site.node(c, obj)
    out = await node.call_method(ua.NodeId(f"{obj}.{method}", site.nb.ns), *args)
    return bool(out[0]), str(out[1])


async def test_browse_read_and_subscribe(site: Site) -> None:
    c = await site.client("view", "view-password")
    try:
        pump = site.node(c, "drainage.pump1")
        names = {(await n.read_browse_name()).Name for n in await pump.get_children()}
        assert {"flow", "running", "Start", "Stop", "SetMode", "Reset"} <= names
        level = site.node(c, "drainage.sump.level")
        dv = await level.read_data_value()
        assert dv.StatusCode.is_good() and 0.5 < dv.Value.Value < 2.0
        unit = await site.node(c, "drainage.sump.level.EngineeringUnits").read_value()
        assert unit.DisplayName.Text == "m"
        seen: asyncio.Queue[float] = asyncio.Queue()

        class Handler:
            def datachange_notification(self, node: Any, val: float, data: Any) -> None:
                seen.put_nowait(val)
        sub = await c.create_subscription(50, Handler())
        await sub.subscribe_data_change(level)
        first = await asyncio.wait_for(seen.get(), 10)
        second = await asyncio.wait_for(seen.get(), 10)      # pushed as the level moves
        assert first != second
    finally:
        await c.disconnect()


async def test_calls_go_through_the_gate_by_role(site: Site) -> None:
    view = await site.client("view", "view-password")
    op = await site.client("op", "op-password")
    eng = await site.client("eng", "eng-password")
    try:
        ok, why = await call(view, site, "drainage.pump1", "Start")
        assert not ok and "needs the operator role" in why
        ok, why = await call(op, site, "drainage.pump1", "SetMode", "remote-manual")
        assert not ok and "needs the engineer role" in why
        ok, why = await call(op, site, "drainage.pump1", "Start")
        assert not ok and "remote-auto; switch it to remote-manual" in why
        ok, why = await call(eng, site, "drainage.pump1", "SetMode", "remote-manual")
        assert ok, why
        ok, why = await call(op, site, "drainage.pump1", "Start")
        assert ok and "priming" in why
        ok, why = await call(op, site, "alarms", "Acknowledge", "no.such.alarm", "x")
        assert not ok and "no alarm" in why
        with pytest.raises(ua.UaStatusCodeError):           # clients never write
            await site.node(eng, "drainage.pump1.run_cmd").write_value(False)
    finally:
        for c in (view, op, eng):
            await c.disconnect()
    rows = site.audit.tail(50)
    by = [(r["actor"], r["action"], r["decision"]) for r in rows if r["kind"] == "command"]
    assert ("view", "start", "refused") in by and ("op", "start", "accepted") in by
    assert ("eng", "set_mode", "accepted") in by
    assert any(r["kind"] == "access" and r["actor"] == "eng" for r in rows)


async def test_wrong_password_and_unsecured_clients_are_refused(site: Site) -> None:
    with pytest.raises(ua.UaError):
        await site.client("op", "not-the-password")
    with pytest.raises(ua.UaError) as unsecured:   # no None endpoint: channel refused
        await site.client("op", "op-password", secure=False)
    with pytest.raises(ua.UaError):          # anonymous is off by default
        await site.client(None)
    assert "NoSecurity" in str(unsecured.value) or "security" in str(unsecured.value).lower()
    refused = [r for r in site.audit.tail(20) if r["kind"] == "login"]
    assert all(r["decision"] == "refused" for r in refused)
    assert [r["actor"] for r in refused] == ["op", "unknown"]   # the second: its channel
    assert "unsecured" in refused[1]["reason"]


async def test_alarm_transitions_arrive_as_events(site: Site) -> None:
    c = await site.client("view", "view-password")
    got: asyncio.Queue[Any] = asyncio.Queue()

    class Handler:
        def event_notification(self, event: Any) -> None:
            got.put_nowait(event)
    try:
        sub = await c.create_subscription(50, Handler())
        alarms = site.node(c, "alarms")
        etype = await c.nodes.base_event_type.get_child(
            ["0:ConditionType", "0:AcknowledgeableConditionType", "0:AlarmConditionType",
             f"{site.nb.ns}:FixedsiteAlarmEvent"])
        await sub.subscribe_events(alarms, etype)
        await site.rig.site.unit("drainage").server.stop()          # the PLC goes away
        async with asyncio.timeout(15):
            while True:
                ev = await got.get()
                if ev.AlarmId == "comm.drain1.LOST":
                    break
        assert ev.Transition == "active" and ev.Priority == 1 and ev.Severity == 900
        assert "PLC drain1" in ev.Message.Text and ev.MessageZh and ev.State == "unack_active"
        # the alarm's own times: raised when it went active, not cleared, not acknowledged
        assert ev.RaisedTime == pytest.approx(ev.Time.timestamp(), abs=1e-3)
        assert ev.ClearedTime == 0.0 and ev.AckedTime == 0.0 and ev.AckedBy == ""
    finally:
        await c.disconnect()
        await site.rig.site.unit("drainage").server.start()


async def _server(site: Site, tmp_path: Path, **cfg: Any) -> Northbound:
    nb = Northbound(site.rig.ctl, UserStore(tmp_path / "users.json"),  # type: ignore[arg-type]
                    OpcUaConfig(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/",
                                **cfg), tmp_path / "pki2")
    await nb.start()
    return nb


async def test_anonymous_read_mode_reads_but_never_calls(site: Site, tmp_path: Path) -> None:
    nb = await _server(site, tmp_path, anonymous="read")
    other = Site(site.rig, nb, site.audit, site.certs)
    c = await other.client(None)
    try:
        assert isinstance(await other.node(c, "drainage.sump.level").read_value(), float)
        with pytest.raises(ua.UaStatusCodeError):
            await call(c, other, "drainage.pump1", "Stop")
    finally:
        await c.disconnect()
        await nb.stop()


async def test_trust_list_refuses_unknown_client_certificates(site: Site,
                                                              tmp_path: Path) -> None:
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    nb = await _server(site, tmp_path, trusted_clients_dir=str(trusted))
    other = Site(site.rig, nb, site.audit, site.certs)
    try:
        with pytest.raises(ua.UaError):                     # refused at session creation
            await other.client("op", "op-password")
    finally:
        await nb.stop()
    (trusted / "client.der").write_bytes(site.certs[1].read_bytes())
    nb = await _server(site, tmp_path, trusted_clients_dir=str(trusted))
    other = Site(site.rig, nb, site.audit, site.certs)
    try:
        c = await other.client("op", "op-password")
        await c.disconnect()
    finally:
        await nb.stop()
