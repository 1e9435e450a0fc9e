"""The northbound OPC UA server: the site's tags, commands and alarms for the control room.

Address space ``Objects/<site>/<system>/<equipment>/<signal>``; every variable's NodeId is
``ns=<site ns>;s=<tag path>`` so a third-party SCADA can address tags by the same names as
the config. Values, OPC UA status codes (from tag quality and reason) and source
timestamps are pushed from the tag store as they change: the server never polls our own
tags. Nothing is writable by clients: every change is a method call that goes through the
command gate, so it is checked (role, mode, interlocks) and audited like any automatic
command, and returns the gate's decision and reason.

Security: username/password users from ``users.py``; anonymous read-only or off by config;
signed-and-encrypted endpoints only (Basic256Sha256, Aes128_Sha256_RsaOaep,
Aes256_Sha256_RsaPss), no unsecured endpoint unless the config asks; a certificate made on
first start and kept; optionally only client certificates in a trust directory. asyncua
gives method callbacks no session, so the permission ruleset, which sees the user of every
request just before it runs in the same task, leaves the user in a context variable.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

from fixedsite.alarms import AlarmEvent
from fixedsite.config import OpcUaConfig
from fixedsite.gate import Command
from fixedsite.runtime import Controller
from fixedsite.tags import COMM_FAIL, NOT_READ, OUT_OF_RANGE, STALE, Quality, Tag
from fixedsite.users import UserStore

log = logging.getLogger(__name__)

CURRENT_USER: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_user",
                                                                          default=None)
SEVERITY = {1: 900, 2: 700, 3: 500, 4: 300}
_WRITES = {ua.ObjectIds.WriteRequest_Encoding_DefaultBinary,
           ua.ObjectIds.AddNodesRequest_Encoding_DefaultBinary,
           ua.ObjectIds.DeleteNodesRequest_Encoding_DefaultBinary,
           ua.ObjectIds.AddReferencesRequest_Encoding_DefaultBinary,
           ua.ObjectIds.DeleteReferencesRequest_Encoding_DefaultBinary}
_CALL = ua.ObjectIds.CallRequest_Encoding_DefaultBinary
POLICIES = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
            ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt]


def status_of(tag: Tag) -> ua.StatusCode:
    if tag.quality is Quality.GOOD:
        return ua.StatusCode(ua.StatusCodes.Good)
    if tag.quality is Quality.UNCERTAIN:
        return ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue if tag.reason == STALE
                             else ua.StatusCodes.Uncertain)
    code = {COMM_FAIL: ua.StatusCodes.BadCommunicationError,
            OUT_OF_RANGE: ua.StatusCodes.BadOutOfRange,
            NOT_READ: ua.StatusCodes.BadWaitingForInitialData}.get(
        tag.reason, ua.StatusCodes.BadDeviceFailure)
    return ua.StatusCode(code)


def _variant(value: Any, kind: str) -> ua.Variant:
    """One OPC UA type per tag for its whole life, from its kind; no value: a placeholder
    of that type (the status code says it is not a reading)."""
    if kind == "bool":
        return ua.Variant(bool(value), ua.VariantType.Boolean)
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ua.Variant(float(value) if ok else 0.0, ua.VariantType.Double)
    return ua.Variant("" if value is None else str(value), ua.VariantType.String)


class _Users(UserManager):
    def __init__(self, store: UserStore, on_refused: Any) -> None:
        self.store, self.on_refused = store, on_refused
        self.roles: dict[str, str] = {}

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return User(role=UserRole.Anonymous)
        user = self.store.check(username, password or "")
        if user is None:
            self.on_refused(username)
            return None
        self.roles[user.name] = user.role
        return User(role=UserRole.User, name=user.name)


class _Rules(PermissionRuleset):
    """Reads for every session allowed in; no client writes at all; calls by named users."""

    def __init__(self, anonymous_read: bool, on_refused: Any) -> None:
        self.anonymous_read, self.on_refused = anonymous_read, on_refused

    def check_validity(self, user: User | None, action_type_id: Any, body: Any) -> bool:
        CURRENT_USER.set(user)
        kind = getattr(action_type_id, "Identifier", action_type_id)
        named = user is not None and user.name is not None
        if not named and not self.anonymous_read and kind not in (
                ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary,
                ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary,
                ua.ObjectIds.CloseSessionRequest_Encoding_DefaultBinary,
                ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary):
            return False
        if kind in _WRITES or (kind == _CALL and not named):
            self.on_refused(user.name if user else None, kind)
            return False
        return True


class Northbound:
    def __init__(self, ctl: Controller, users: UserStore, cfg: OpcUaConfig,
                 pki_dir: Path) -> None:
        self.ctl, self.cfg, self.pki = ctl, cfg, pki_dir
        self.uri = f"urn:fixedsite:{ctl.cfg.site.id}"
        self._users = _Users(users, self._login_refused)
        self.server = Server(user_manager=self._users)
        self.nodes: dict[str, Node] = {}
        self._pending: dict[str, Tag] = {}
        self._events: list[AlarmEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    # --- audit of refusals ----------------------------------------------------------------
    def _audit(self, kind: str, actor: str, action: str, reason: str) -> None:
        if self.ctl.audit is not None:
            self.ctl.audit.append(ts=self.ctl.clock.now(), kind=kind, actor=actor,
                                  source="opcua", target=self.cfg.endpoint, action=action,
                                  decision="refused", reason=reason)

    def _login_refused(self, username: str) -> None:
        log.warning("OPC UA login refused for %r", username)
        self._audit("login", username, "login", "wrong user name or password")

    def _call_refused(self, username: str | None, kind: int) -> None:
        what = "call" if kind == _CALL else "write"
        self._audit("access", username or "anonymous", what,
                    "anonymous sessions may not call methods" if what == "call"
                    else "no client writes: commands are methods")

    # --- start / stop ----------------------------------------------------------------------
    async def start(self) -> None:
        s = self.server
        await s.init()
        s.set_endpoint(self.cfg.endpoint)
        s.set_server_name(f"fixedsite {self.ctl.cfg.site.name}")
        await s.set_application_uri(self.uri)
        policies = list(POLICIES)
        if self.cfg.allow_unsecured:
            policies.append(ua.SecurityPolicyType.NoSecurity)
        rules = _Rules(self.cfg.anonymous == "read", self._call_refused)
        s.set_security_policy(policies, permission_ruleset=rules)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.cfg.anonymous == "read":
            tokens.append(ua.AnonymousIdentityToken)
        s.set_identity_tokens(tokens)
        key, cert = await self._certificate()
        await s.load_certificate(str(cert))
        await s.load_private_key(str(key))
        if self.cfg.trusted_clients_dir:
            s.set_certificate_validator(await _trust_list(Path(self.cfg.trusted_clients_dir)))
        self.ns = await s.register_namespace(self.uri)
        await self._build()
        await s.start()
        self._unsubscribe = self.ctl.store.subscribe(self._on_tag)
        self.ctl.alarms.sinks.append(self._on_alarm)
        self._task = asyncio.create_task(self._push(), name="opcua-push")
        log.info("OPC UA server on %s", self.cfg.endpoint)

    async def stop(self) -> None:
        if self._task is None:
            return                        # not started, or stopped already
        self._unsubscribe()
        if self._on_alarm in self.ctl.alarms.sinks:
            self.ctl.alarms.sinks.remove(self._on_alarm)
        self._task.cancel()
        await asyncio.wait([self._task], timeout=3)
        self._task = None
        await self.server.stop()

    async def _certificate(self) -> tuple[Path, Path]:
        """The server's key pair, made on first start and kept (clients pin it)."""
        from asyncua.crypto.cert_gen import setup_self_signed_certificate

        self.pki.mkdir(parents=True, exist_ok=True)
        key, cert = self.pki / "server_key.pem", self.pki / "server_cert.der"
        if not (key.exists() and cert.exists()):
            host = socket.gethostname()
            await setup_self_signed_certificate(
                key, cert, self.uri, host,
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                {"commonName": f"fixedsite {self.ctl.cfg.site.id}"})
        return key, cert

    # --- address space -----------------------------------------------------------------------
    async def _build(self) -> None:
        ns, store = self.ns, self.ctl.store
        objects = self.server.nodes.objects
        site = await objects.add_object(ua.NodeId("site", ns),
                                        ua.QualifiedName(self.ctl.cfg.site.name, ns))
        folders: dict[str, Node] = {}
        for path in sorted(store.paths()):
            system, equipment, signal = path.split(".", 2)
            parent = folders.get(system)
            if parent is None:
                parent = folders[system] = await site.add_object(
                    ua.NodeId(system, ns), ua.QualifiedName(system, ns))
            key = f"{system}.{equipment}"
            eq = folders.get(key)
            if eq is None:
                eq = folders[key] = await parent.add_object(ua.NodeId(key, ns),
                                                            ua.QualifiedName(equipment, ns))
                if key in self.ctl.pumps:
                    await self._pump_methods(eq, key)
            tag = store[path]
            var = await eq.add_variable(ua.NodeId(path, ns), ua.QualifiedName(signal, ns),
                                        _variant(tag.value, tag.meta.kind))
            if tag.meta.unit:
                await var.add_property(ua.NodeId(f"{path}.EngineeringUnits", ns),
                                       "EngineeringUnits", ua.EUInformation(
                                           DisplayName=ua.LocalizedText(tag.meta.unit)))
            if tag.meta.low is not None and tag.meta.high is not None:
                await var.add_property(ua.NodeId(f"{path}.EURange", ns), "EURange",
                                       ua.Range(tag.meta.low, tag.meta.high))
            self.nodes[path] = var
            self._pending[path] = tag
        self.alarms_node = await site.add_object(ua.NodeId("alarms", ns),
                                                 ua.QualifiedName("Alarms", ns))
        await self._alarm_methods(self.alarms_node)

        async def recent(parent: ua.NodeId, n: ua.Variant) -> list[ua.Variant]:
            """The last commands from every source, newest first: who did what, and how
            it ended (a read: no gate, any named user)."""
            lines = [f"{r.t:.0f}\t{r.command.user or r.command.source}\t{r.command.action}"
                     f"\t{r.command.target}\t{'done' if r.decision.accepted else 'refused'}"
                     f"\t{r.decision.reason}"
                     for r in list(self.ctl.gate.records)[::-1][:max(0, int(n.Value))]]
            return [ua.Variant(lines, ua.VariantType.String)]
        await site.add_method(ua.NodeId("site.RecentCommands", ns),
                              ua.QualifiedName("RecentCommands", ns), recent,
                              [ua.VariantType.Int32], [ua.VariantType.String])
        await site.add_method(ua.NodeId("site.History", ns), ua.QualifiedName("History", ns),
                              self._history, [ua.VariantType.String, ua.VariantType.Double,
                                              ua.VariantType.Int32],
                              [ua.VariantType.Double] * 5)
        self.event_type = await self.server.create_custom_event_type(
            ns, "FixedsiteAlarmEvent", ua.ObjectIds.BaseEventType,
            [("AlarmId", ua.VariantType.String), ("Transition", ua.VariantType.String),
             ("Priority", ua.VariantType.Int32), ("Area", ua.VariantType.String),
             ("User", ua.VariantType.String), ("State", ua.VariantType.String),
             ("Shelved", ua.VariantType.Boolean)])
        self.event_gen = await self.server.get_event_generator(self.event_type,
                                                               self.alarms_node)

    async def _history(self, parent: ua.NodeId, path: ua.Variant, window_s: ua.Variant,
                       buckets: ua.Variant) -> list[ua.Variant]:
        """A trend from the historian: bucket starts, averages, minima and maxima over the
        last ``window_s`` of site time, and the bucket width used (a read: no gate).
        Buckets without a stored sample are left out: the historian stores on change, so
        a gap shorter than its ``max_interval_s`` means "unchanged". Empty arrays when the
        tag has no history or the controller keeps none; the query runs off the loop."""
        h, now = self.ctl.historian, self.ctl.clock.now()
        n, window = max(1, min(int(buckets.Value), 2000)), float(window_s.Value)
        rows = []
        if h is not None and str(path.Value) in self.nodes and window > 0:
            rows = await asyncio.to_thread(h.query, str(path.Value), now - window, now, n)
        cols = ([r.t for r in rows], [r.avg for r in rows], [r.lo for r in rows],
                [r.hi for r in rows])
        d = ua.VariantType.Double
        return [*(ua.Variant(c, d) for c in cols),
                ua.Variant(h.bucket_width(now - window, now, n) if h else 0.0, d)]

    async def _pump_methods(self, node: Node, target: str) -> None:
        out = [ua.VariantType.Boolean, ua.VariantType.String]
        for name, action, args in (("Start", "start", []), ("Stop", "stop", []),
                                   ("Reset", "reset", []),
                                   ("SetMode", "set_mode", [ua.VariantType.String])):
            async def call(parent: ua.NodeId, *a: ua.Variant, action: str = action
                           ) -> list[ua.Variant]:
                params = {"mode": a[0].Value} if action == "set_mode" else {}
                return await self._submit(target, action, params)
            await node.add_method(ua.NodeId(f"{target}.{name}", self.ns),
                                  ua.QualifiedName(name, self.ns), call, args, out)

    async def _alarm_methods(self, node: Node) -> None:
        s, d, out = ua.VariantType.String, ua.VariantType.Double, [ua.VariantType.Boolean,
                                                                   ua.VariantType.String]

        async def ack(parent: ua.NodeId, alarm: ua.Variant, comment: ua.Variant
                      ) -> list[ua.Variant]:
            return await self._submit("alarms", "ack", {"id": alarm.Value,
                                                        "comment": comment.Value})

        async def shelve(parent: ua.NodeId, alarm: ua.Variant, seconds: ua.Variant,
                         comment: ua.Variant) -> list[ua.Variant]:
            return await self._submit("alarms", "shelve", {
                "id": alarm.Value, "duration_s": seconds.Value, "comment": comment.Value})

        async def unshelve(parent: ua.NodeId, alarm: ua.Variant) -> list[ua.Variant]:
            return await self._submit("alarms", "unshelve", {"id": alarm.Value})

        async def current(parent: ua.NodeId) -> list[ua.Variant]:
            """Every standing or shelved alarm now, as columns (id, priority, state,
            shelved, time, text): what a client reads once after subscribing to events."""
            rows = self.ctl.alarms.snapshot()
            return [ua.Variant([r.alarm for r in rows], s),
                    ua.Variant([r.priority for r in rows], ua.VariantType.Int32),
                    ua.Variant([r.state for r in rows], s),
                    ua.Variant([r.shelved for r in rows], ua.VariantType.Boolean),
                    ua.Variant([r.t for r in rows], d), ua.Variant([r.text for r in rows], s)]

        await node.add_method(ua.NodeId("alarms.Current", self.ns),
                              ua.QualifiedName("Current", self.ns), current, [],
                              [s, ua.VariantType.Int32, s, ua.VariantType.Boolean, d, s])
        await node.add_method(ua.NodeId("alarms.Acknowledge", self.ns),
                              ua.QualifiedName("Acknowledge", self.ns), ack, [s, s], out)
        await node.add_method(ua.NodeId("alarms.Shelve", self.ns),
                              ua.QualifiedName("Shelve", self.ns), shelve, [s, d, s], out)
        await node.add_method(ua.NodeId("alarms.Unshelve", self.ns),
                              ua.QualifiedName("Unshelve", self.ns), unshelve, [s], out)

    async def _submit(self, target: str, action: str, params: dict[str, Any]
                      ) -> list[ua.Variant]:
        user = CURRENT_USER.get()
        name = user.name if user is not None and user.name else ""
        role = self._users.roles.get(name, "viewer")
        d = await self.ctl.gate.submit(Command(target, action, "operator", name, params, role))
        return [ua.Variant(d.accepted, ua.VariantType.Boolean),
                ua.Variant(d.reason, ua.VariantType.String)]

    # --- pushing changes -----------------------------------------------------------------------
    def _on_tag(self, tag: Tag) -> None:
        if tag.path in self.nodes:
            self._pending[tag.path] = tag
            self._wake.set()

    def _on_alarm(self, ev: AlarmEvent) -> None:
        self._events.append(ev)
        self._wake.set()

    async def _push(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._push_once()
            except Exception:             # one bad value must not stop every update
                log.exception("OPC UA update failed; continuing")

    async def _push_once(self) -> None:
        pending, self._pending = self._pending, {}
        for path, tag in pending.items():
            dv = ua.DataValue(_variant(tag.value, tag.meta.kind), StatusCode=status_of(tag),
                              SourceTimestamp=_utc(tag.ts), ServerTimestamp=_utc(tag.ts))
            await self.server.write_attribute_value(self.nodes[path].nodeid, dv)
        events, self._events = self._events, []
        for ev in events:
            gen = self.event_gen
            gen.event.Message = ua.LocalizedText(ev.text)
            gen.event.Severity = SEVERITY.get(ev.priority, 300)
            gen.event.AlarmId = ev.alarm
            gen.event.Transition = ev.what
            gen.event.Priority = ev.priority
            gen.event.Area = ev.area
            gen.event.User = ev.user
            gen.event.State = ev.state
            gen.event.Shelved = ev.shelved
            await gen.trigger(time_attr=_utc(ev.t))


async def _trust_list(folder: Path) -> Any:
    """Only client certificates found in ``folder`` may open a session; none: nobody."""
    from asyncua.common.utils import ServiceError
    from asyncua.crypto.truststore import TrustStore
    from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

    files = await asyncio.to_thread(lambda: [p.suffix for p in folder.glob("*")])
    if not any(suffix in (".der", ".pem") for suffix in files):
        log.warning("OPC UA trust list %s is empty: no client can connect", folder)

        async def refuse_all(cert: Any, app: Any) -> None:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
        return refuse_all
    store = TrustStore([folder], [])
    await store.load()
    return CertificateValidator(CertificateValidatorOptions.TRUSTED_VALIDATION
                                | CertificateValidatorOptions.PEER_CLIENT, store)


def _utc(t: float) -> Any:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC)
