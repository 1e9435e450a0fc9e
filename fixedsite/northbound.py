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

Where asyncua is too trusting, each connection gets our own processor (``_Processor``,
a subclass of asyncua's, installed by ``_Server.start``):

* asyncua answers a client that opens a SecurityPolicy None channel although no None
  endpoint is offered, lets it log in with the password in clear and read, and lets it
  take over a live session by its (sequential) token. Unless the config allows
  unsecured clients, a None channel may only discover (GetEndpoints, FindServers): every
  other request on it is refused with BadSecurityPolicyRejected, before any password is
  sent, and audited once per connection with the peer's address.
* asyncua checks passwords in ``UserManager.get_user``, a synchronous call on the event
  loop (2.1.0), and scrypt takes ~50 ms. The processor checks an ActivateSession's
  password first, in a small thread pool, with a back-off per user name and a lockout
  after ``max_login_failures`` failures in a row for ``lockout_s`` (project clock),
  every refusal audited with the peer; ``get_user`` then only reads that answer.

Roles are read from the user file on every request and call, never cached at login: a
removed user's session is refused, a demoted one acts with its new role.

What a foreign client needs to use the server without our code, in its own modules:
method arguments declared with a name, type and a description with an example, checked
before anything runs, a bad call answered with a Bad status and its reason in
DiagnosticInfo and audited (kind ``access``): ``northbound_args``; DisplayNames and
descriptions from the config, each system's enumerations (a mode, a state) as
MultiStateDiscrete, ``site.Names``: ``northbound_names``; alarms as Alarms & Conditions events
(what asyncua supports and what not): ``northbound_alarms``. A command the gate refuses
is not a bad call: Good status, ``(False, reason)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.common.utils import ServiceError
from asyncua.crypto import uacrypto
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.server.uaprocessor import UaProcessor
from asyncua.server.user_managers import UserManager
from asyncua.ua.ua_binary import struct_from_binary
from cryptography.x509.oid import ExtendedKeyUsageOID

from fixedsite.alarms import AlarmEvent
from fixedsite.alarms.handler import MAX_SHELVE_S
from fixedsite.config import OpcUaConfig
from fixedsite.gate import Command
from fixedsite.northbound_alarms import SEVERITY, AlarmConditions
from fixedsite.northbound_args import (
    REASONS,
    Arg,
    check_inputs,
    diagnostics,
    one_of,
    positive,
    refusal,
    shelve_time,
    within,
)
from fixedsite.northbound_names import (
    LANGS,
    Names,
    enums,
    object_item,
    property_item,
    signal_description,
    strings,
    variable_item,
)
from fixedsite.runtime import Controller
from fixedsite.systems import CommandSpec
from fixedsite.tags import COMM_FAIL, NOT_READ, OUT_OF_RANGE, STALE, Quality, Tag
from fixedsite.users import LoginGuard, UserStore
from fixedsite.users import User as Account

log = logging.getLogger(__name__)

CURRENT_USER: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_user",
                                                                          default=None)
__all__ = ["SEVERITY", "Arg", "Northbound", "status_of"]
# the asyncua session of the request being served, set by its connection's processor
_SERVING: contextvars.ContextVar[Any] = contextvars.ContextVar("opcua_session", default=None)
_WRITES = {ua.ObjectIds.WriteRequest_Encoding_DefaultBinary,
           ua.ObjectIds.AddNodesRequest_Encoding_DefaultBinary,
           ua.ObjectIds.DeleteNodesRequest_Encoding_DefaultBinary,
           ua.ObjectIds.AddReferencesRequest_Encoding_DefaultBinary,
           ua.ObjectIds.DeleteReferencesRequest_Encoding_DefaultBinary}
_CALL = ua.ObjectIds.CallRequest_Encoding_DefaultBinary
_ACTIVATE = ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary
_SESSION = {ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary, _ACTIVATE,
            ua.ObjectIds.CloseSessionRequest_Encoding_DefaultBinary,
            ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary}
# what a SecurityPolicy None channel may still do when unsecured clients are not allowed
_DISCOVERY = {ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary,
              ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary,
              ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary}
# an ActivateSession's password, checked by the connection's processor off the loop:
# (user name, password, the account or None); read by _Users.get_user in the same task
_LOGIN: contextvars.ContextVar[tuple[str, str, Account | None] | None] = \
    contextvars.ContextVar("opcua_login", default=None)
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
    """Answers asyncua's synchronous question from the check the processor already made
    off the loop (``_LOGIN``); never hashes a password itself."""

    def __init__(self, store: UserStore) -> None:
        self.store = store               # the user file (kept here for older callers)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return User(role=UserRole.Anonymous)
        checked = _LOGIN.get()
        _LOGIN.set(None)
        if checked is None or checked[:2] != (username, password or ""):
            log.error("OPC UA login for %r was not checked before activation; refused",
                      username)
            return None
        account = checked[2]
        return None if account is None else User(role=UserRole.User, name=account.name)


class _Rules(PermissionRuleset):
    """Reads for every session allowed in; no client writes at all; calls by named users
    that still exist (a call by a removed user is let through to its method, which
    refuses it with a reason)."""

    def __init__(self, nb: Northbound) -> None:
        self.nb = nb

    def check_validity(self, user: User | None, action_type_id: Any, body: Any) -> bool:
        CURRENT_USER.set(user)
        kind = getattr(action_type_id, "Identifier", action_type_id)
        if kind in _SESSION:
            return True
        named = user is not None and user.name is not None
        if named and self.nb.users.role_of(str(user.name)) is None:  # type: ignore[union-attr]
            if kind == _CALL:
                return True
            self.nb._gone_refused(str(user.name))  # type: ignore[union-attr]
            return False
        if not named and self.nb.cfg.anonymous != "read":
            return False
        if kind in _WRITES or (kind == _CALL and not named):
            self.nb._call_refused(user.name if user else None, kind)
            return False
        return True


class _Processor(UaProcessor):
    """asyncua's processor for one connection, refusing what a None channel may not do
    and checking passwords before asyncua activates a session (see the module doc)."""

    def __init__(self, iserver: Any, transport: Any, limits: Any, nb: Northbound) -> None:
        super().__init__(iserver, transport, limits)
        self.nb = nb
        self._refused = False

    async def _process_message(self, typeid: Any, requesthdr: Any, seqhdr: Any,
                               body: Any) -> Any:
        kind = typeid.Identifier if typeid.NamespaceIndex == 0 else None
        policy = self._connection.security_policy
        if (kind not in _DISCOVERY and not self.nb.cfg.allow_unsecured
                and policy.Mode != ua.MessageSecurityMode.SignAndEncrypt):
            if not self._refused:
                self._refused = True
                self.nb._unsecured_refused(_peer(self.name))
            raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
        _LOGIN.set(None)
        _SERVING.set(self.session)
        REASONS.set({} if kind == _CALL else None)
        if kind != _ACTIVATE:
            answer = await super()._process_message(typeid, requesthdr, seqhdr, body)
            if kind == ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary and \
                    self.session is not None:
                self.nb._session_certs[self.session] = policy.peer_certificate
            return answer
        own = self.session is not None
        if not own:
            # asyncua lets any channel activate any live session by its token (Part 4
            # 6.7 reconnect), and keeps it bound to that channel even when the
            # activation fails: the session's own client only, by its certificate
            existing = self.iserver.lookup_external_session(requesthdr.AuthenticationToken)
            if existing is not None and \
                    self.nb._session_certs.get(existing) != policy.peer_certificate:
                self.nb._takeover_refused(_peer(self.name))
                raise ServiceError(ua.StatusCodes.BadSecurityChecksFailed)
        _LOGIN.set(await self._check_login(requesthdr, body))
        try:
            return await super()._process_message(typeid, requesthdr, seqhdr, body)
        except BaseException:
            if not own:
                self.session = None
            raise

    def send_response(self, requesthandle: int, seqhdr: Any, response: Any,
                      msgtype: Any = ua.MessageType.SecureMessage) -> None:
        """asyncua's, with the Call response's DiagnosticInfos: the reason of each call
        refused (``northbound_args``), which asyncua's server leaves empty."""
        if isinstance(response, ua.CallResponse):
            response.DiagnosticInfos = diagnostics(response.Results)
        super().send_response(requesthandle, seqhdr, response, msgtype)

    async def _check_login(self, requesthdr: Any, body: Any
                           ) -> tuple[str, str, Account | None] | None:
        """The password of a user-name token, checked; None for any other request
        (anonymous, or one asyncua refuses itself: no session, a token it cannot read)."""
        try:
            params = struct_from_binary(ua.ActivateSessionParameters, body.copy())
        except Exception:
            return None
        token = params.UserIdentityToken
        if not isinstance(token, ua.UserNameIdentityToken):
            return None
        session = self.session or self.iserver.lookup_external_session(
            requesthdr.AuthenticationToken)
        if session is None:
            return None
        try:
            name, password = self.iserver.decrypt_user_token(session, token)
        except Exception:
            return None
        name, password = str(name or ""), str(password or "")
        return name, password, await self.nb._login(name, password, _peer(self.name))


class _Protocol(OPCUAProtocol):
    def __init__(self, nb: Northbound, **kw: Any) -> None:
        super().__init__(**kw)
        self.nb = nb

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.processor is not None:       # None: refused at max_connections
            self.processor = _Processor(self.iserver, self.transport, self.limits, self.nb)
            self.processor.set_policies(self.policies)


class _BinaryServer(BinaryServer):
    nb: Northbound

    def _make_protocol(self) -> OPCUAProtocol:
        return _Protocol(self.nb, iserver=self.iserver, policies=self._policies,
                         clients=self.clients, closing_tasks=self.closing_tasks,
                         limits=self.limits)


class _Server(Server):
    """asyncua's Server, started as its own ``start`` does (asyncua 2.1.0) but with
    ``_BinaryServer``, so every connection gets a ``_Processor``."""

    nb: Northbound

    async def start(self) -> None:
        if self.iserver.certificate is not None:
            uacrypto.check_certificate(self.iserver.certificate, self._application_uri,
                                       socket.gethostname())
        await self._setup_server_nodes()
        await self.iserver.start()
        try:
            host, port = self._get_bind_socket_info()
            bserver = _BinaryServer(self.iserver, host, port, self.limits)  # type: ignore[arg-type]
            bserver.nb = self.nb
            self.bserver = bserver
            bserver.set_policies(self._policies)
            await bserver.start()
        except Exception:
            await self.iserver.stop()
            raise


def _peer(name: Any) -> str:
    """A peer address as host:port (asyncua gives the socket's peername tuple)."""
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}"
    return str(name or "unknown peer")


_VTYPE = {"string": ua.VariantType.String, "double": ua.VariantType.Double,
          "bool": ua.VariantType.Boolean}
_OK = [Arg("accepted", ua.VariantType.Boolean,
           "true if the command was accepted and carried out"),
       Arg("reason", ua.VariantType.String, "what was done, or why it was refused")]
# descriptions of the tags the controller derives (not in equipment.TYPES)


@dataclass(frozen=True)
class _Example:
    """Ids of this site that the methods' descriptions give as examples, so that a foreign
    client reads one it can call with (and the core names no system)."""

    alarm: str
    tag: str
    system: str
    equipment: str


def _examples(ctl: Controller) -> _Example:
    first = next(iter(ctl.alarms.alarms.values()), None)      # in definition order
    system, equipment = next(((s, next(iter(sys.equipment))) for s, sys in
                              ctl.cfg.systems.items() if sys.equipment), ("", ""))
    return _Example(first.d.id if first else "", first.d.tag if first else "",
                    system or next(iter(ctl.cfg.systems), ""),
                    f"{system}.{equipment}" if system else "")


class Northbound:
    def __init__(self, ctl: Controller, users: UserStore, cfg: OpcUaConfig,
                 pki_dir: Path) -> None:
        self.ctl, self.cfg, self.pki = ctl, cfg, pki_dir
        self.uri = f"urn:fixedsite:{ctl.cfg.site.id}"
        self.users = users
        self.guard = LoginGuard(cfg.max_login_failures, cfg.lockout_s)
        self._hasher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opcua-login")
        self._login_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._gone: set[str] = set()
        # each session's client certificate, from the channel that created it
        self._session_certs: weakref.WeakKeyDictionary[Any, bytes | None] = \
            weakref.WeakKeyDictionary()
        self._users = _Users(users)
        self.server = _Server(user_manager=self._users)
        self.server.nb = self
        self.nodes: dict[str, Node] = {}
        self.names = Names(ctl.cfg)
        self.enums = enums(ctl.cfg)
        self.example = _examples(ctl)
        self.conditions = AlarmConditions(self)
        self._pending: dict[str, Tag] = {}
        self._events: list[AlarmEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    # --- audit of refusals ----------------------------------------------------------------
    def _audit(self, kind: str, actor: str, action: str, reason: str,
               target: str = "") -> None:
        if self.ctl.audit is None:
            return
        try:
            self.ctl.audit.append(ts=self.ctl.clock.now(), kind=kind, actor=actor,
                                  source="opcua", target=target or self.cfg.endpoint,
                                  action=action, decision="refused", reason=reason)
        except Exception as e:        # the refusal stands; controller.audit.ok says the rest
            log.error("OPC UA refusal not audited (%s %s: %s): %s", actor, action, reason, e)

    def _unsecured_refused(self, peer: str) -> None:
        reason = f"unsecured (SecurityPolicy None) channel from {peer}: only encrypted " \
                 "sessions are allowed"
        log.warning("OPC UA: %s", reason)
        self._audit("login", "unknown", "login", reason)

    def _takeover_refused(self, peer: str) -> None:
        reason = f"activating another client's session refused (from {peer})"
        log.warning("OPC UA: %s", reason)
        self._audit("access", "unknown", "activate", reason)

    def _gone_refused(self, name: str) -> None:
        """Audited once per removal: a removed user's open session keeps asking (its
        subscriptions publish), and every one of those is refused."""
        if name not in self._gone:
            self._gone.add(name)
            self._audit("access", name, "session", self._gone_reason(name))
            log.warning("OPC UA: %s", self._gone_reason(name))

    @staticmethod
    def _gone_reason(name: str) -> str:
        return f"user {name!r} no longer exists: its open session is refused"

    def _call_refused(self, username: str | None, kind: int) -> None:
        what = "call" if kind == _CALL else "write"
        self._audit("access", username or "anonymous", what,
                    "anonymous sessions may not call methods" if what == "call"
                    else "no client writes: commands are methods")

    def _caller(self) -> tuple[str, str | None]:
        """The calling session's user name and its role now (None: removed since it
        logged in); an anonymous session reads as a viewer."""
        user = CURRENT_USER.get()
        name = user.name if user is not None and user.name else ""
        if not name:
            return "", "viewer"
        role = self.users.role_of(name)
        if role is not None:
            self._gone.discard(name)
        return name, role

    # --- logins ----------------------------------------------------------------------------
    async def _login(self, name: str, password: str, peer: str) -> Account | None:
        """The account if the password is right and the name is not locked out. Attempts
        for one name are taken one at a time, each failure answered after a back-off
        that doubles; the hash runs in a thread so the loop keeps serving everyone."""
        lock, n = self._login_locks.get(name, (asyncio.Lock(), 0))
        self._login_locks[name] = (lock, n + 1)
        try:
            async with lock:
                return await self._login_one(name, password, peer)
        finally:
            lock, n = self._login_locks[name]
            if n <= 1:
                del self._login_locks[name]
            else:
                self._login_locks[name] = (lock, n - 1)

    async def _login_one(self, name: str, password: str, peer: str) -> Account | None:
        clock, limit = self.ctl.clock, self.cfg.max_login_failures
        until = self.guard.locked_until(name, clock.now())
        if until is not None:
            reason = (f"locked out for {until - clock.now():.0f} s more after {limit} failed "
                      f"logins in a row (from {peer})")
            log.warning("OPC UA login refused for %r: %s", name, reason)
            self._audit("login", name, "login", reason)
            return None
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(self._hasher, self.users.check, name, password)
        if account is not None:
            self.guard.succeeded(name)
            return account
        n, backoff = self.guard.failed(name, clock.now())
        reason = f"wrong user name or password, {n} in a row (from {peer})"
        if self.guard.locked_until(name, clock.now()) is not None:
            reason += f"; locked out for {self.cfg.lockout_s:.0f} s"
        log.warning("OPC UA login refused for %r: %s", name, reason)
        self._audit("login", name, "login", reason)
        await clock.sleep(backoff)       # the answer comes late; so does the next try
        return None

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
        rules = _Rules(self)
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
        self._hasher.shutdown(wait=False, cancel_futures=True)

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
        """Objects and variables in one AddNodes request each (a few hundred nodes), with
        their configured names, descriptions, units, ranges and enumerations; then the
        methods and the alarm conditions."""
        ns, store, cfg = self.ns, self.ctl.store, self.ctl.cfg
        names = self.names
        objects = self.server.nodes.objects
        site = await objects.add_object(ua.NodeId("site", ns),
                                        ua.QualifiedName(cfg.site.name, ns))
        await self._describe(site, names.display("site"), names.description("site"))
        objs: list[ua.AddNodesItem] = []
        variables: list[ua.AddNodesItem] = []
        props: list[ua.AddNodesItem] = []
        folders: set[str] = set()
        for path in sorted(store.paths()):
            system, equipment, signal = path.split(".", 2)
            key = f"{system}.{equipment}"
            for ident, parent, bname in ((system, ua.NodeId("site", ns), system),
                                         (key, ua.NodeId(system, ns), equipment)):
                if ident not in folders:
                    folders.add(ident)
                    objs.append(object_item(ua.NodeId(ident, ns), parent,
                                            ua.QualifiedName(bname, ns), names.display(ident),
                                            names.description(ident)))
            tag = store[path]
            enum = self.enums.get(path)
            desc = enum.description if enum is not None else \
                signal_description(cfg, path, tag.meta.description)
            node = ua.NodeId(path, ns)
            variables.append(variable_item(node, ua.NodeId(key, ns), ua.QualifiedName(signal, ns),
                                       self._value(path, tag), desc, enum is not None))
            if enum is not None:
                props.append(property_item(ua.NodeId(f"{path}.EnumStrings", ns), node,
                                       "EnumStrings", strings(enum),
                                       "the word of each value, index == value"))
            if tag.meta.unit:
                props.append(property_item(ua.NodeId(f"{path}.EngineeringUnits", ns), node,
                                       "EngineeringUnits", ua.Variant(ua.EUInformation(
                                           DisplayName=ua.LocalizedText(tag.meta.unit)),
                                           ua.VariantType.ExtensionObject), "unit"))
            if tag.meta.low is not None and tag.meta.high is not None:
                props.append(property_item(ua.NodeId(f"{path}.EURange", ns), node, "EURange",
                                       ua.Variant(ua.Range(tag.meta.low, tag.meta.high),
                                                  ua.VariantType.ExtensionObject),
                                       "the range the signal can show"))
            self._pending[path] = tag
        isession = self.server.iserver.isession
        for batch in (objs, variables, props):
            for r in await isession.add_nodes(batch):
                r.StatusCode.check()
        for path in store.paths():
            self.nodes[path] = self.server.get_node(ua.NodeId(path, ns))
        for key in sorted(folders):
            if key in self.ctl.commands:
                await self._equipment_methods(self.server.get_node(ua.NodeId(key, ns)), key,
                                              self.ctl.commands[key])
        self.alarms_node = await site.add_object(ua.NodeId("alarms", ns),
                                                 ua.QualifiedName("Alarms", ns))
        await self._describe(self.alarms_node, ua.LocalizedText("Alarms", "en"),
                             ua.LocalizedText("the site's alarms: methods to read and act "
                                              "on them; their events (FixedsiteAlarmEvent, "
                                              "an AlarmConditionType) come from here and "
                                              "from the Server object", "en"))
        await self._alarm_methods(self.alarms_node)
        await self._site_methods(site)
        await self.conditions.build(self.alarms_node)

    async def _describe(self, node: Node, display: ua.LocalizedText,
                        description: ua.LocalizedText) -> None:
        for attr, text in ((ua.AttributeIds.DisplayName, display),
                           (ua.AttributeIds.Description, description)):
            await node.write_attribute(attr, ua.DataValue(
                ua.Variant(text, ua.VariantType.LocalizedText)))

    def _value(self, path: str, tag: Tag) -> ua.Variant:
        enum = self.enums.get(path)
        if enum is None:
            return _variant(tag.value, tag.meta.kind)
        code = enum.code(tag.value)
        return ua.Variant(enum.unknown() if code is None else code, ua.VariantType.UInt32)

    def _data_value(self, path: str, tag: Tag) -> ua.DataValue:
        """A tag's value and status; an enumerated tag whose value has no code (a mode
        register holding 1.5, a state never published) keeps the status of its tag if
        that is already not good, else BadOutOfRange: never a reading."""
        status = self.status(tag)
        enum = self.enums.get(path)
        if enum is not None and enum.code(tag.value) is None and status.is_good():
            status = ua.StatusCode(ua.StatusCodes.BadOutOfRange)
        return Published(self._value(path, tag), StatusCode=status,
                         SourceTimestamp=_utc(tag.ts), ServerTimestamp=_utc(tag.ts))

    @staticmethod
    def status(tag: Tag) -> ua.StatusCode:
        return status_of(tag)

    def current_session(self) -> Any:
        """The asyncua session of the request being served (the processor's)."""
        return _SERVING.get()

    def _wrap(self, target: str, name: str, fn: Callable[..., Awaitable[Any]],
              inputs: list[Arg], command: bool = False, with_parent: bool = False
              ) -> Callable[..., Awaitable[Any]]:
        """A method callback whose inputs are checked before ``fn`` runs: a bad call (or
        a removed user's) is refused with a Bad status and a reason (``northbound_args``)
        and audited, never answered with asyncua's BadUnexpectedError. A command method
        refused also answers ``(False, reason)``."""

        async def call(parent: ua.NodeId, *values: Any) -> Any:
            actor, role = self._caller()
            if role is None:
                return self._refuse(actor, target, name, self._gone_reason(actor),
                                    ua.StatusCodes.BadUserAccessDenied, [], [], command)
            args, why, code, codes, whys = check_inputs(name, inputs, values)
            if why is not None:
                return self._refuse(actor, target, name, why, code, codes, whys, command)
            try:
                return await (fn(parent, *args) if with_parent else fn(*args))
            except Exception as e:
                log.exception("OPC UA %s.%s failed", target, name)
                return self._refuse(actor, target, name, f"{name} failed: {e!r}"[:300],
                                    ua.StatusCodes.BadInternalError, [], [], command)
        return call

    async def _method(self, node: Node, target: str, name: str,
                      fn: Callable[..., Awaitable[list[ua.Variant]]], inputs: list[Arg],
                      outputs: list[Arg], doc: str, command: bool = False) -> None:
        """Add a method, described, with its inputs declared and checked (``_wrap``)."""
        method = await node.add_method(ua.NodeId(f"{target}.{name}", self.ns),
                                       ua.QualifiedName(name, self.ns),
                                       self._wrap(target, name, fn, inputs, command),
                                       [a.argument() for a in inputs],
                                       [a.argument() for a in outputs])
        await method.write_attribute(ua.AttributeIds.Description, ua.DataValue(
            ua.Variant(ua.LocalizedText(doc, "en"), ua.VariantType.LocalizedText)))

    def _refuse(self, actor: str, target: str, name: str, why: str, code: int,
                codes: list[ua.StatusCode], whys: list[str | None], command: bool) -> Any:
        log.warning("OPC UA %s.%s by %s refused: %s", target, name, actor or "anonymous", why)
        self._audit("access", actor or "anonymous", name, why, target)
        outputs = [ua.Variant(False, ua.VariantType.Boolean),
                   ua.Variant(why, ua.VariantType.String)] if command else []
        return refusal(code, why, codes, whys, outputs)

    async def _recent(self, n: int) -> list[ua.Variant]:
        """The last commands from every source, newest first: who did what, and how it
        ended (a read: no gate, any named user)."""
        lines = [f"{r.t:.0f}\t{r.command.user or r.command.source}\t{r.command.action}"
                 f"\t{r.command.target}\t{'done' if r.decision.accepted else 'refused'}"
                 f"\t{r.decision.reason}"
                 for r in list(self.ctl.gate.records)[::-1][:n]]
        return [ua.Variant(lines, ua.VariantType.String)]

    async def _history(self, path: str, window: float, buckets: int) -> list[ua.Variant]:
        """A trend from the historian: bucket starts, averages, minima and maxima over the
        last ``window`` of site time, and the bucket width used (a read: no gate).
        Buckets without a stored sample are left out: the historian stores on change, so
        a gap shorter than its ``max_interval_s`` means "unchanged". Empty arrays when the
        tag has no history or the controller keeps none; the query runs off the loop."""
        h, now = self.ctl.historian, self.ctl.clock.now()
        rows = []
        if h is not None:
            rows = await asyncio.to_thread(h.query, path, now - window, now, buckets)
        cols = ([r.t for r in rows], [r.avg for r in rows], [r.lo for r in rows],
                [r.hi for r in rows])
        d = ua.VariantType.Double
        return [*(ua.Variant(c, d) for c in cols),
                ua.Variant(h.bucket_width(now - window, now, buckets) if h else 0.0, d)]

    def _a_tag(self, path: str) -> str | None:
        return None if path in self.nodes else f"{path!r} is not a tag of this server"[:200]

    async def _site_methods(self, site: Node) -> None:
        s, d, i = ua.VariantType.String, ua.VariantType.Double, ua.VariantType.Int32
        await self._method(site, "site", "RecentCommands", self._recent, [
            Arg("count", i, "how many of the last commands, newest first: 0 to 1000, "
                "e.g. 20", check=within(0, 1000))], [
            Arg("lines", s, "one command a line, tab-separated: time (Unix s), user or "
                "source, action, target, done or refused, reason", array=True)],
            "the last commands from every source (operators, level control, planner), "
            "newest first, with how each ended")
        await self._method(site, "site", "History", self._history, [
            Arg("path", s, f'a tag\'s path (its NodeId string), e.g. "{self.example.tag}"',
                check=self._a_tag),
            Arg("window_s", d, "the last so many seconds of site time: more than 0, "
                "e.g. 3600", check=positive),
            Arg("buckets", i, "how many buckets: 1 to 2000, e.g. 60",
                check=within(1, 2000))], [
            Arg("starts", d, "each bucket's start, Unix seconds", array=True),
            Arg("averages", d, "each bucket's time-weighted average", array=True),
            Arg("minima", d, "each bucket's minimum", array=True),
            Arg("maxima", d, "each bucket's maximum", array=True),
            Arg("width_s", d, "the width of a bucket, in seconds")],
            "a trend of one tag from the site's history: min/avg/max per time bucket "
            "(buckets with no stored sample are left out: stored on change)")
        await self._method(site, "site", "Names", self._names, [
            Arg("lang", s, 'the language: "zh_CN" or "en", e.g. "en"',
                check=one_of(*LANGS))], [
            Arg("ids", s, f'each id: "site", systems ("{self.example.system}") and '
                f'equipment ("{self.example.equipment}"), as in the NodeIds', array=True),
            Arg("names", s, "each one's configured name in that language (Chinese falls "
                "back to the English, then to the id)", array=True)],
            "the configured names of the site, its systems and equipment, in either "
            "language (DisplayNames are in the site's own language only)")
        await self._method(site, "site", "WhoAmI", self._whoami, [], [
            Arg("user", s, "the user name this session logged in with (empty: anonymous)"),
            Arg("role", s, "that user's role now: viewer, operator, engineer or admin")],
            "who this session is and the role its commands are checked with")
        await self._method(site, "site", "Kinds", self._kinds, [], [
            Arg("ids", s, "each id: \"site\", systems and equipment, as in site.Names",
                array=True),
            Arg("kinds", s, f'what each one is: "site", a system\'s kind '
                f'("{self.names.kinds.get(self.example.system, "")}") or an equipment\'s '
                f'type ("{self.names.kinds.get(self.example.equipment, "")}")',
                array=True)],
            "what each system and piece of equipment is, so a client picks its screens "
            "and symbols without guessing from tag names")

    async def _kinds(self) -> list[ua.Variant]:
        ids = self.names.ids()
        return [ua.Variant(ids, ua.VariantType.String),
                ua.Variant([self.names.kinds[i] for i in ids], ua.VariantType.String)]

    async def _names(self, lang: str) -> list[ua.Variant]:
        ids = self.names.ids()
        return [ua.Variant(ids, ua.VariantType.String),
                ua.Variant([self.names.name(i, lang) for i in ids], ua.VariantType.String)]

    async def _whoami(self) -> list[ua.Variant]:
        name, role = self._caller()
        return [ua.Variant(name, ua.VariantType.String),
                ua.Variant(role or "", ua.VariantType.String)]

    async def _equipment_methods(self, node: Node, target: str,
                                 commands: tuple[CommandSpec, ...]) -> None:
        """An equipment's commands as its system declares them (fixedsite/systems.py):
        each a method with typed, checked arguments, answering whether it was done."""
        for c in commands:
            async def call(*values: Any, c: CommandSpec = c) -> list[ua.Variant]:
                return await self._command(target, c.action, {
                    a.name: v for a, v in zip(c.args, values, strict=True)})
            await self._method(node, target, c.method, call, [
                Arg(a.name, _VTYPE[a.type], a.description,
                    check=one_of(*a.choices) if a.choices else None) for a in c.args],
                _OK, c.description, command=True)

    async def _alarm_methods(self, node: Node) -> None:
        s, d = ua.VariantType.String, ua.VariantType.Double
        alarm = Arg("alarm", s, "the alarm's id, as in alarms.Current, e.g. "
                    f'"{self.example.alarm}"')

        async def ack(alarm: str, comment: str) -> list[ua.Variant]:
            return await self._command("alarms", "ack", {"id": alarm, "comment": comment})

        async def shelve(alarm: str, seconds: float, comment: str) -> list[ua.Variant]:
            return await self._command("alarms", "shelve", {
                "id": alarm, "duration_s": seconds, "comment": comment})

        async def unshelve(alarm: str) -> list[ua.Variant]:
            return await self._command("alarms", "unshelve", {"id": alarm})

        async def current() -> list[ua.Variant]:
            return self.conditions.current()

        t = "Unix seconds, 0 = "
        await self._method(node, "alarms", "Current", current, [], [
            Arg("ids", s, "each alarm's id", array=True),
            Arg("priorities", ua.VariantType.Int32, "1 (highest) to 4", array=True),
            Arg("states", s, "ISA-18.2 state: unack_active, ack_active, unack_rtn, or "
                "normal (then shelved)", array=True),
            Arg("shelved", ua.VariantType.Boolean, "shelved or out of service", array=True),
            Arg("raised", d, f"when it went active, {t}never", array=True),
            Arg("cleared", d, f"when its condition went away, {t}still active", array=True),
            Arg("acked", d, f"when it was acknowledged, {t}not acknowledged", array=True),
            Arg("acked_by", s, "who acknowledged it (empty: nobody)", array=True),
            Arg("texts", s, "the alarm's fixed text, English", array=True),
            Arg("texts_zh", s, "the same in Chinese", array=True),
            Arg("details", s, "what completes the text (a fault reason, a raw error)",
                array=True)],
            "every alarm that stands (active or not acknowledged) or is shelved, with its "
            "own times: what a client reads once after subscribing to the alarm events")
        await self._method(node, "alarms", "Acknowledge", ack, [
            alarm, Arg("comment", s, 'a comment for the record (may be empty), '
                        'e.g. "seen on site"')], _OK,
            "acknowledge an alarm; needs the operator role", command=True)
        await self._method(node, "alarms", "Shelve", shelve, [
            alarm, Arg("seconds", d, f"how long, in seconds: more than 0, at most "
                        f"{MAX_SHELVE_S:.0f} ({MAX_SHELVE_S / 3600:g} h); it ends by "
                        "itself; e.g. 3600", check=shelve_time(MAX_SHELVE_S)),
            Arg("comment", s, 'why it is shelved (required), e.g. "sensor under repair"')],
            _OK, "shelve an alarm for a while (it follows its condition silently); needs "
            "the engineer role", command=True)
        await self._method(node, "alarms", "Unshelve", unshelve, [alarm], _OK,
                           "end an alarm's shelving now; needs the engineer role",
                           command=True)

    async def submit(self, target: str, action: str, params: dict[str, Any]
                     ) -> tuple[bool, str]:
        """A command through the gate as the calling user: (accepted, reason)."""
        name, role = self._caller()
        if role is None:            # removed between the method's check and now
            return False, self._gone_reason(name)
        d = await self.ctl.gate.submit(Command(target, action, "operator", name, params, role))
        return d.accepted, d.reason

    async def _command(self, target: str, action: str, params: dict[str, Any]
                       ) -> list[ua.Variant]:
        ok, why = await self.submit(target, action, params)
        return [ua.Variant(ok, ua.VariantType.Boolean), ua.Variant(why, ua.VariantType.String)]

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
            try:            # one value that cannot be served must not hold back the rest
                await self.server.write_attribute_value(self.nodes[path].nodeid,
                                                        self._data_value(path, tag))
            except Exception:
                log.exception("OPC UA: %s not updated; marked bad", path)
                await self._write_bad(path)
        events, self._events = self._events, []
        for ev in events:
            try:
                await self.conditions.publish(ev)
            except Exception:
                log.exception("OPC UA: alarm event %s %s not published", ev.alarm, ev.what)

    async def _write_bad(self, path: str) -> None:
        """A node whose value could not be written must not go on showing the old one as
        Good: BadInternalError with no value."""
        with contextlib.suppress(Exception):
            await self.server.write_attribute_value(self.nodes[path].nodeid, ua.DataValue(
                StatusCode=ua.StatusCode(ua.StatusCodes.BadInternalError)))



class Published(ua.DataValue):
    """A value this server builds once per change and never touches again.

    asyncua deep-copies every value written, for every monitored item, in case the writer
    reuses its object; with one console subscribed to a three-system site at x60 that copy
    was 45 % of the controller's core (py-spy, docs/architecture.md "Processes"). Copying
    an object nobody mutates buys nothing, so it copies as itself."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Published:
        return self


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
