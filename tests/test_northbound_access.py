"""Who may reach the northbound OPC UA server, and with what (#9 C13-16).

One HIL rig, controller and server for the module, a real asyncua client over real
sockets: an attacker's client that skips its endpoint check, users removed or demoted
while their session is open, wrong passwords in bursts, and method calls with bad
arguments.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from conftest import Rig, demo_config, free_port
from cryptography.x509.oid import ExtendedKeyUsageOID
from test_northbound import Site as BaseSite

from fixedsite.audit import AuditLog
from fixedsite.clock import ScaledClock, wait_until
from fixedsite.config import OpcUaConfig
from fixedsite.northbound import Northbound
from fixedsite.runtime import Controller
from fixedsite.users import UserStore

pytestmark = pytest.mark.asyncio(loop_scope="module")
CLIENT_URI = "urn:fixedsite:test-client"
SCALE = 60.0
FAILURES, LOCKOUT_S = 3, 120.0        # simulated s: 2 s of wall time at SCALE


class Site(BaseSite):
    def __init__(self, rig: Rig, nb: Northbound, audit: AuditLog, users: UserStore,
                 certs: tuple[Path, Path]) -> None:
        super().__init__(rig, nb, audit, certs)
        self.users = users

    def audited(self, kind: str, actor: str | None = None, n: int = 200
                ) -> list[dict[str, Any]]:
        return [r for r in self.audit.tail(n) if r["kind"] == kind
                and (actor is None or r["actor"] == actor)]


_find_endpoint = Client.find_endpoint


class Careless(Client):
    """A client that skips its endpoint check: it opens a SecurityPolicy None channel to
    a server that offers only encrypted endpoints, and sends the password in clear."""

    async def create_session(self) -> ua.CreateSessionResult:
        def any_endpoint(endpoints: list[ua.EndpointDescription], mode: Any, uri: str
                         ) -> ua.EndpointDescription:
            return endpoints[0]
        Client.find_endpoint = staticmethod(any_endpoint)  # type: ignore[method-assign]
        try:
            return await super().create_session()
        finally:
            Client.find_endpoint = _find_endpoint  # type: ignore[method-assign]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("nb-access")
    cfg = demo_config(free_port(), SCALE, initial_level_m="1.0")
    rig = Rig(cfg, ScaledClock(SCALE))
    await rig.site.start()
    audit = AuditLog(tmp / "audit.db")
    rig.ctl = Controller(rig.cfg, rig.clock, audit=audit)
    await rig.ctl.start()
    users = UserStore(tmp / "users.json")
    for name, role in (("view", "viewer"), ("op", "operator"), ("eng", "engineer"),
                       ("eng2", "engineer"), ("gone", "engineer"), ("lock", "operator"),
                       ("bad", "engineer")):
        users.add(name, role, f"{name}-password")
    ocfg = OpcUaConfig(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/",
                       max_login_failures=FAILURES, lockout_s=LOCKOUT_S)
    nb = Northbound(rig.ctl, UserStore(tmp / "users.json"), ocfg, tmp / "pki")
    await nb.start()
    key, cert = tmp / "client_key.pem", tmp / "client_cert.der"
    await setup_self_signed_certificate(key, cert, CLIENT_URI, "localhost",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "t"})
    await rig.ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    yield Site(rig, nb, audit, users, (key, cert))
    await nb.stop()
    await rig.stop_controller()
    await rig.site.stop()
    audit.close()


def demote(path: Path, name: str, role: str) -> None:
    users = json.loads(path.read_text(encoding="utf-8"))
    users[name]["role"] = role
    path.write_text(json.dumps(users), encoding="utf-8")


async def call(c: Client, site: Site, obj: str, method: str, *args: Any) -> Any:
    out = await site.node(c, obj).call_method(ua.NodeId(f"{obj}.{method}", site.nb.ns),
                                               *args)
    return out


# --- 13: no SecurityPolicy None session ----------------------------------------------------

async def test_a_none_channel_cannot_log_in_or_read(site: Site) -> None:
    before = len(site.audited("login"))
    with pytest.raises(ua.UaError) as refused:       # refused before the password is sent
        await site.client("op", "op-password", cls=Careless, secure=False)
    assert "BadSecurityPolicyRejected" in type(refused.value).__name__
    rows = site.audited("login")[before:]
    assert rows and rows[-1]["decision"] == "refused" and rows[-1]["actor"] == "unknown"
    assert "unsecured" in rows[-1]["reason"] and "127.0.0.1" in rows[-1]["reason"]
    # step by step on a None channel: no session of its own or anyone else's, no read
    eng = await site.client("eng", "eng-password")
    c = Careless(site.url, timeout=5)
    try:
        await c.connect_socket()
        await c.send_hello()
        await c.open_secure_channel()
        # take over eng's live session by its token (asyncua's numbers are sequential):
        # asyncua alone let this read with no credentials at all
        assert c.uaclient.protocol is not None and eng.uaclient.protocol is not None
        c.uaclient.protocol.authentication_token = eng.uaclient.protocol.authentication_token
        with pytest.raises(ua.UaError):
            await c.uaclient.activate_session(ua.ActivateSessionParameters(
                UserIdentityToken=ua.AnonymousIdentityToken()))
        with pytest.raises(ua.UaError):
            await c.uaclient.read_attributes(
                [ua.NodeId("drainage.sump.level", site.nb.ns)], ua.AttributeIds.Value)
        with pytest.raises(ua.UaError):
            await c.create_session()
    finally:
        c.disconnect_socket()
        await eng.disconnect()


async def test_a_live_session_cannot_be_taken_over_from_another_channel(
        site: Site, tmp_path: Path) -> None:
    """asyncua rebinds a live session to any channel that names its token, and keeps it
    there when the activation fails: a wrong password then read and commanded as the
    session's user."""
    other_key, other_cert = tmp_path / "other_key.pem", tmp_path / "other_cert.der"
    await setup_self_signed_certificate(other_key, other_cert, CLIENT_URI, "localhost",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "o"})
    eng = await site.client("eng", "eng-password")
    try:
        for key, cert, user in ((site.certs[0], site.certs[1], "view"),
                                (other_key, other_cert, None)):
            c = Client(site.url, timeout=5)
            c.application_uri = CLIENT_URI
            await c.set_security(security_policies.SecurityPolicyBasic256Sha256,
                                 certificate=str(cert), private_key=str(key),
                                 mode=ua.MessageSecurityMode.SignAndEncrypt)
            try:
                await c.connect_socket()
                await c.send_hello()
                await c.open_secure_channel()
                assert c.uaclient.protocol is not None and eng.uaclient.protocol is not None
                c.uaclient.protocol.authentication_token = \
                    eng.uaclient.protocol.authentication_token
                with pytest.raises(ua.UaError):
                    await c.activate_session(user, "wrong-password" if user else None)
                with pytest.raises(ua.UaError):
                    await c.uaclient.read_attributes(
                        [ua.NodeId("drainage.sump.level", site.nb.ns)], ua.AttributeIds.Value)
            finally:
                c.disconnect_socket()
        # eng's own session is still eng's
        ok, why = await call(eng, site, "drainage.pump2", "SetMode", "remote-auto")
        assert ok, why
    finally:
        await eng.disconnect()
    assert any("another client's session" in r["reason"] for r in site.audited("access"))


async def test_discovery_over_none_and_an_encrypted_session_still_work(site: Site) -> None:
    eps = await Client(site.url, timeout=5).connect_and_get_server_endpoints()
    assert eps and {e.SecurityMode for e in eps} == {ua.MessageSecurityMode.SignAndEncrypt}
    servers = await Client(site.url, timeout=5).connect_and_find_servers()
    assert [s.ApplicationUri for s in servers] == [site.nb.uri]
    c = await site.client("view", "view-password")
    try:
        assert isinstance(await site.node(c, "drainage.sump.level").read_value(), float)
    finally:
        await c.disconnect()


async def test_allow_unsecured_lets_a_none_client_in(site: Site, tmp_path: Path) -> None:
    cfg = OpcUaConfig(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/",
                      allow_unsecured=True)
    nb = Northbound(site.rig.ctl, UserStore(site.users.path), cfg, tmp_path / "pki")
    await nb.start()
    try:
        other = Site(site.rig, nb, site.audit, site.users, site.certs)
        c = await other.client("view", "view-password", secure=False)
        try:
            assert isinstance(await other.node(c, "drainage.sump.level").read_value(), float)
        finally:
            await c.disconnect()
    finally:
        await nb.stop()


# --- 14: the current role on every call ------------------------------------------------------

async def test_a_demoted_engineer_loses_modes_and_shelving_at_once(site: Site) -> None:
    c = await site.client("eng2", "eng2-password")
    try:
        ok, why = await call(c, site, "drainage.pump2", "SetMode", "remote-auto")
        assert ok, why
        demote(site.users.path, "eng2", "operator")      # by whoever edits the user file
        ok, why = await call(c, site, "drainage.pump2", "SetMode", "remote-auto")
        assert not ok and "needs the engineer role" in why and "operator" in why
        alarm = next(iter(site.rig.ctl.alarms.alarms))
        ok, why = await call(c, site, "alarms", "Shelve", alarm, 600.0, "maintenance")
        assert not ok and "needs the engineer role" in why
    finally:
        await c.disconnect()
    by = [(r["action"], r["decision"]) for r in site.audited("command", "eng2")]
    assert by[-2:] == [("set_mode", "refused"), ("shelve", "refused")]


async def test_a_removed_users_open_session_is_refused(site: Site) -> None:
    c = await site.client("gone", "gone-password")
    try:
        assert isinstance(await site.node(c, "drainage.sump.level").read_value(), float)
        UserStore(site.users.path).remove("gone")
        res, why = await site.raw_call(c, "drainage.pump2", "SetMode",
                                       ua.Variant("remote-auto", ua.VariantType.String))
        assert res.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
        assert "no longer" in why and res.OutputArguments[1].Value == why
        with pytest.raises(ua.UaStatusCodeError):
            await site.node(c, "drainage.sump.level").read_value()
    finally:
        await c.disconnect()
    rows = site.audited("access", "gone")
    assert rows and all(r["decision"] == "refused" for r in rows)
    assert any("no longer" in r["reason"] for r in rows)


# --- 15: back-off and lockout, hashing off the loop ------------------------------------------

async def test_wrong_passwords_lock_the_user_out_for_a_while(site: Site) -> None:
    clock = site.rig.clock
    before = len(site.audited("login", "lock"))
    for _ in range(FAILURES + 1):
        with pytest.raises(ua.UaError):
            await site.client("lock", "wrong-password")
    locked_at = clock.now()
    with pytest.raises(ua.UaError):                    # the right password, but locked
        await site.client("lock", "lock-password")
    rows = site.audited("login", "lock")[before:]
    assert len(rows) == FAILURES + 2 and all(r["decision"] == "refused" for r in rows)
    assert all("127.0.0.1" in r["reason"] for r in rows)
    assert "locked" in rows[-1]["reason"] and "locked" not in rows[0]["reason"]
    assert await wait_until(clock, lambda: clock.now() > locked_at + LOCKOUT_S,
                            LOCKOUT_S * 2, 1.0)
    c = await site.client("lock", "lock-password")     # the lockout has ended
    await c.disconnect()
    for _ in range(FAILURES - 1):                       # and the success reset the count
        with pytest.raises(ua.UaError):
            await site.client("lock", "wrong-password")
    c = await site.client("lock", "lock-password")
    await c.disconnect()


async def test_a_burst_of_wrong_logins_does_not_block_the_loop(site: Site) -> None:
    """Sessions are opened first (their RSA work is asyncua's, on both ends of this one
    loop); then a burst of activations with wrong passwords, whose scrypt checks must
    not stop a reader's requests from being answered."""
    burst = 16
    reader = await site.client("view", "view-password")
    level = site.node(reader, "drainage.sump.level")
    key, cert = site.certs
    pending = []
    for _ in range(burst):
        c = Client(site.url, timeout=10)
        c.application_uri = CLIENT_URI
        await c.set_security(security_policies.SecurityPolicyBasic256Sha256,
                             certificate=str(cert), private_key=str(key),
                             mode=ua.MessageSecurityMode.SignAndEncrypt)
        await c.connect_socket()
        await c.send_hello()
        await c.open_secure_channel()
        await c.create_session()
        pending.append(c)

    async def wrong(c: Client, i: int) -> None:
        with pytest.raises(ua.UaError):
            await c.activate_session(f"nobody{i}", "wrong-password")
    tasks = [asyncio.create_task(wrong(c, i)) for i, c in enumerate(pending)]
    worst, reads = 0.0, 0
    try:
        while not all(t.done() for t in tasks):
            t0 = time.perf_counter()
            await level.read_value()
            worst, reads = max(worst, time.perf_counter() - t0), reads + 1
        await asyncio.gather(*tasks)
    finally:
        await reader.disconnect()
        for c in pending:
            c.disconnect_socket()
    assert worst < 0.2, f"a read took {worst * 1000:.0f} ms while logins were hashed"
    assert reads >= 3                   # the burst lasted (back-off, hashing in threads)
    assert len([r for r in site.audited("login") if r["actor"].startswith("nobody")]) >= burst


# --- 16: bad method arguments: a Bad status with a reason, audited ----------------------------

def refused(res: ua.CallMethodResult, why: str, method: str, code: int) -> None:
    """What a foreign client sees of a refused call: the Bad status, the reason in the
    response's DiagnosticInfo, a command's (False, reason) beside it, and the input to
    blame with its own status and reason."""
    assert res.StatusCode.value == code, ua.StatusCode(res.StatusCode.value).name
    assert why.startswith(method) and len(why) < 300 and "Traceback" not in why
    if res.OutputArguments:
        assert [v.Value for v in res.OutputArguments] == [False, why]
    blamed = [(r, d) for r, d in zip(res.InputArgumentResults,
                                     res.InputArgumentDiagnosticInfos, strict=False)
              if not r.is_good()]
    if code == ua.StatusCodes.BadInvalidArgument:
        assert blamed and all(d.AdditionalInfo and d.AdditionalInfo in why for _, d in blamed)


BAD_SHELVE = [("string seconds", [ua.Variant("3600", ua.VariantType.String)],
               ua.StatusCodes.BadTypeMismatch),
              ("NaN", [ua.Variant(math.nan, ua.VariantType.Double)], ua.StatusCodes.BadOutOfRange),
              ("infinity", [ua.Variant(math.inf, ua.VariantType.Double)],
               ua.StatusCodes.BadOutOfRange),
              ("negative", [ua.Variant(-5.0, ua.VariantType.Double)],
               ua.StatusCodes.BadOutOfRange),
              ("too long", [ua.Variant(9 * 3600.0, ua.VariantType.Double)],
               ua.StatusCodes.BadOutOfRange),
              ("array", [ua.Variant([60.0, 60.0], ua.VariantType.Double)],
               ua.StatusCodes.BadTypeMismatch)]


@pytest.mark.parametrize(("what", "seconds", "blame"), BAD_SHELVE,
                         ids=[w for w, _, _ in BAD_SHELVE])
async def test_bad_shelve_arguments_are_refused_and_audited(site: Site, what: str,
                                                            seconds: list[ua.Variant],
                                                            blame: int) -> None:
    c = await site.client("bad", "bad-password")
    alarm = next(iter(site.rig.ctl.alarms.alarms))
    try:
        res, why = await site.raw_call(c, "alarms", "Shelve",
                                       ua.Variant(alarm, ua.VariantType.String), *seconds,
                                       ua.Variant("why", ua.VariantType.String))
    finally:
        await c.disconnect()
    refused(res, why, "Shelve", ua.StatusCodes.BadInvalidArgument)
    assert [r.value for r in res.InputArgumentResults] == [0, blame, 0]
    assert site.rig.ctl.alarms.alarms[alarm].shelved_until is None
    last = site.audited("access", "bad")
    assert last[-1]["action"] == "Shelve" and last[-1]["decision"] == "refused"
    assert last[-1]["reason"] == why


BAD_CALLS = [("SetMode missing", "drainage.pump1", "SetMode", [],
              ua.StatusCodes.BadArgumentsMissing),
             ("SetMode number", "drainage.pump1", "SetMode",
              [ua.Variant(3, ua.VariantType.Int32)], ua.StatusCodes.BadInvalidArgument),
             ("SetMode array", "drainage.pump1", "SetMode",
              [ua.Variant(["remote-auto"], ua.VariantType.String)],
              ua.StatusCodes.BadInvalidArgument),
             ("SetMode unknown mode", "drainage.pump1", "SetMode",
              [ua.Variant("local", ua.VariantType.String)], ua.StatusCodes.BadInvalidArgument),
             ("SetMode too many", "drainage.pump1", "SetMode",
              [ua.Variant("remote-auto", ua.VariantType.String)] * 2,
              ua.StatusCodes.BadTooManyArguments),
             ("Start with an argument", "drainage.pump1", "Start",
              [ua.Variant(1, ua.VariantType.Int32)], ua.StatusCodes.BadTooManyArguments),
             ("Acknowledge array", "alarms", "Acknowledge",
              [ua.Variant(["x"], ua.VariantType.String), ua.Variant("c", ua.VariantType.String)],
              ua.StatusCodes.BadInvalidArgument),
             ("Shelve missing", "alarms", "Shelve", [ua.Variant("x", ua.VariantType.String)],
              ua.StatusCodes.BadArgumentsMissing),
             ("History infinite window", "site", "History",
              [ua.Variant("drainage.sump.level", ua.VariantType.String),
               ua.Variant(math.inf, ua.VariantType.Double), ua.Variant(10, ua.VariantType.Int32)],
              ua.StatusCodes.BadInvalidArgument),
             ("History NaN window", "site", "History",
              [ua.Variant("drainage.sump.level", ua.VariantType.String),
               ua.Variant(math.nan, ua.VariantType.Double), ua.Variant(10, ua.VariantType.Int32)],
              ua.StatusCodes.BadInvalidArgument),
             ("History string buckets", "site", "History",
              [ua.Variant("drainage.sump.level", ua.VariantType.String),
               ua.Variant(60.0, ua.VariantType.Double), ua.Variant("10", ua.VariantType.String)],
              ua.StatusCodes.BadInvalidArgument),
             ("History too many buckets", "site", "History",
              [ua.Variant("drainage.sump.level", ua.VariantType.String),
               ua.Variant(60.0, ua.VariantType.Double), ua.Variant(10**6, ua.VariantType.Int32)],
              ua.StatusCodes.BadInvalidArgument),
             ("History unknown tag", "site", "History",
              [ua.Variant("no.such.tag", ua.VariantType.String),
               ua.Variant(60.0, ua.VariantType.Double), ua.Variant(10, ua.VariantType.Int32)],
              ua.StatusCodes.BadInvalidArgument),
             ("RecentCommands string", "site", "RecentCommands",
              [ua.Variant("ten", ua.VariantType.String)], ua.StatusCodes.BadInvalidArgument),
             ("RecentCommands negative", "site", "RecentCommands",
              [ua.Variant(-1, ua.VariantType.Int32)], ua.StatusCodes.BadInvalidArgument),
             ("RecentCommands missing", "site", "RecentCommands", [],
              ua.StatusCodes.BadArgumentsMissing),
             ("Names unknown language", "site", "Names",
              [ua.Variant("fr", ua.VariantType.String)], ua.StatusCodes.BadInvalidArgument),
             ("Names number", "site", "Names",
              [ua.Variant(1.0, ua.VariantType.Double)], ua.StatusCodes.BadInvalidArgument),
             ("WhoAmI with an argument", "site", "WhoAmI",
              [ua.Variant("x", ua.VariantType.String)], ua.StatusCodes.BadTooManyArguments)]


@pytest.mark.parametrize(("what", "obj", "method", "args", "code"), BAD_CALLS,
                         ids=[b[0] for b in BAD_CALLS])
async def test_bad_calls_get_a_bad_status_and_a_reason(site: Site, what: str, obj: str,
                                                       method: str, args: list[ua.Variant],
                                                       code: int) -> None:
    c = await site.client("bad", "bad-password")
    try:
        res, why = await site.raw_call(c, obj, method, *args)
        with pytest.raises(ua.UaStatusCodeError) as e:      # asyncua's own call: an error
            await call(c, site, obj, method, *args)
    finally:
        await c.disconnect()
    refused(res, why, method, code)
    assert e.value.code == code
    rows = site.audited("access", "bad")
    assert rows[-1]["action"] == method and rows[-1]["reason"] == why


async def test_methods_describe_their_arguments(site: Site) -> None:
    c = await site.client("view", "view-password")
    try:
        for path in ("alarms.Shelve", "drainage.pump1.SetMode", "site.History",
                     "drainage.pump1.Start"):
            method = site.node(c, path)
            props = {(await n.read_browse_name()).Name: n for n in
                     await method.get_properties()}
            for kind in ("InputArguments", "OutputArguments"):
                if kind not in props:
                    assert kind == "InputArguments" and path.endswith("Start")
                    continue
                args = await props[kind].read_value()
                assert args and all(a.Name and a.Description.Text for a in args), path
        shelve = await (await site.node(c, "alarms.Shelve").get_child(
            "0:InputArguments")).read_value()
        assert [a.Name for a in shelve] == ["alarm", "seconds", "comment"]
        assert "8 h" in shelve[1].Description.Text
    finally:
        await c.disconnect()
