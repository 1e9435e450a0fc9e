"""The console's view of a site: an OPC UA client that mirrors every tag and alarm.

It browses the site once, subscribes to every variable and to the alarm events, and keeps
a plain dictionary ``path -> Value`` the screens read. When the server goes away every
value is kept but marked stale, ``connected`` turns False, and the client reconnects by
itself with a growing pause; the screens show "disconnected" meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

log = logging.getLogger(__name__)
CLIENT_URI = "urn:fixedsite:console"
SESSION_TIMEOUT_MS = 600_000        # asyncua's server grants at most 10 min


@dataclass
class Value:
    """A tag as the console last heard it. ``why`` names what is wrong with a value that
    is not good (a key of the texts catalogue: comm_fail, stale, out_of_range ...), ``ts``
    is when it last changed on the site's clock (value or quality)."""

    value: Any
    good: bool
    stale: bool = False
    why: str = ""
    ts: float = 0.0

    @property
    def trusted(self) -> bool:
        return self.good and not self.stale


# OPC UA status -> the tag store's reason (what the screen says), the worst first
_STATUS_WHY = {ua.StatusCodes.BadCommunicationError: "comm_fail",
               ua.StatusCodes.BadOutOfRange: "out_of_range",
               ua.StatusCodes.BadWaitingForInitialData: "not_yet_read",
               ua.StatusCodes.UncertainLastUsableValue: "stale"}


def why_of(status: ua.StatusCode) -> str:
    """The reason a screen shows for a status code: "" when good."""
    if status.is_good():
        return ""
    return _STATUS_WHY.get(status.value, "uncertain" if status.is_uncertain() else "bad")


@dataclass(frozen=True)
class Bucket:
    t: float
    avg: float
    lo: float
    hi: float


@dataclass
class AlarmRow:
    id: str
    text: str
    priority: int
    state: str            # active (unacknowledged), acked, rtn (returned, unacknowledged)
    t: float              # raised: when it went active (site time, Unix s)
    shelved: bool = False
    cleared: float = 0.0  # 0: still active
    acked: float = 0.0    # 0: not acknowledged
    acked_by: str = ""
    text_zh: str = ""
    detail: str = ""      # what completes the text (a fault reason, the link's last error)


ROW_STATE = {"unack_active": "active", "ack_active": "acked", "unack_rtn": "rtn"}


class SiteClient:
    def __init__(self, url: str, user: str, password: str, pki: Path) -> None:
        self.url, self.user, self.password, self.pki = url, user, password, pki
        self.values: dict[str, Value] = {}
        self.alarms: dict[str, AlarmRow] = {}
        self.connected = False
        self.error = ""
        self.ns = 0
        self.site_now = 0.0                 # the newest source time heard: the site's clock
        self._heard = (0.0, 0.0)            # (wall, site) when site_now last moved
        self._rate = 1.0                    # site seconds per wall second, as observed
        self.names: dict[str, str] = {}     # system / equipment id -> name to show
        self.kinds: dict[str, str] = {}     # system id -> its kind, equipment id -> its type
        self.enums: dict[str, list[str]] = {}   # enumerated tag -> its words by value
        self.lang = "en"
        self.role = ""                      # as the server says (site.WhoAmI), else unknown
        self.on_change: Callable[[], None] = lambda: None
        self._touched: set[str] = set()
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def _certificate(self) -> tuple[Path, Path]:
        self.pki.mkdir(parents=True, exist_ok=True)
        key, cert = self.pki / "console_key.pem", self.pki / "console_cert.der"
        if not (key.exists() and cert.exists()):
            # named for this host: asyncua checks its own certificate against it
            await setup_self_signed_certificate(key, cert, CLIENT_URI, socket.gethostname(),
                                                [ExtendedKeyUsageOID.CLIENT_AUTH],
                                                {"commonName": "fixedsite console"})
        return key, cert

    async def connect(self) -> None:
        """First connection: errors (wrong password, no server) go to the caller."""
        await self._connect()
        self._task = asyncio.create_task(self._watch(), name="console-link")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.disconnect()

    async def _connect(self) -> None:
        key, cert = await self._certificate()
        c = Client(self.url, timeout=5)
        c.session_timeout = SESSION_TIMEOUT_MS    # what the server grants: asked, not cut
        c.application_uri = CLIENT_URI
        c.set_user(self.user)
        c.set_password(self.password)
        await c.set_security(security_policies.SecurityPolicyBasic256Sha256,
                             certificate=str(cert), private_key=str(key),
                             mode=ua.MessageSecurityMode.SignAndEncrypt)
        await c.connect()
        self._client = c
        self.ns = await c.get_namespace_index(await self._site_uri(c))
        variables: list[Any] = []
        site = await self._site_node(c)
        await self._collect(site, variables)
        self.enums = await self._enum_words(c, variables)
        handler = _Handler(self)
        self.alarms, self._touched = {}, set()
        sub = await c.create_subscription(100, handler)
        for i in range(0, len(variables), 500):
            await sub.subscribe_data_change(variables[i:i + 500])
        # our alarm event type, an AlarmConditionType with the fields a mirror needs
        etype = c.get_node(ua.NodeId("type:FixedsiteAlarmEvent", self.ns))
        await sub.subscribe_events(c.get_node(ua.NodeId("alarms", self.ns)), etype)
        # what stood before we listened; events that arrived meanwhile are newer and win
        node = c.get_node(ua.NodeId("alarms", self.ns))
        cols = await node.call_method(ua.NodeId("alarms.Current", self.ns))
        for row in zip(*(x or [] for x in cols), strict=True):
            if row[0] not in self._touched:
                args, more = _current_row(row)
                self.mirror(*args, **more)
        self.names = await self._names(c)
        self.kinds = await self._kinds(c)
        self.role = await self._role(c)
        self.connected, self.error = True, ""
        self.on_change()

    def heard(self, ts: float) -> None:
        """A source time heard: the site's clock is at least there. Its rate against the
        wall is measured, so ages keep growing while the link is down."""
        if ts <= self.site_now:
            return
        wall = time.monotonic()
        w0, s0 = self._heard
        if s0 and wall - w0 > 2.0:
            self._rate = max(1.0, (ts - s0) / (wall - w0))
            self._heard = (wall, ts)
        elif not s0:
            self._heard = (wall, ts)
        self.site_now = ts

    def now(self) -> float:
        """The site's time as best known here: the newest time heard, carried on at the
        observed rate since (a site where nothing changes, or a lost link, must still
        show the age of a bad value growing)."""
        if not self.site_now:
            return 0.0
        w0, s0 = self._heard
        return max(self.site_now, s0 + (time.monotonic() - w0) * self._rate)

    async def set_lang(self, lang: str) -> None:
        """The language names are shown in (the console's); fetched again now if connected."""
        self.lang = lang
        if self._client is not None and self.connected:
            self.names = await self._names(self._client)
            self.on_change()

    async def _role(self, c: Client) -> str:
        try:
            _user, role = await c.get_node(ua.NodeId("site", self.ns)).call_method(
                ua.NodeId("site.WhoAmI", self.ns))
        except (TimeoutError, ua.UaError, OSError, ValueError):
            return ""
        return str(role or "")

    async def _names(self, c: Client) -> dict[str, str]:
        """The configured names of systems and equipment in the console's language (a
        server without ``site.Names`` leaves the ids)."""
        try:
            ids, names = await c.get_node(ua.NodeId("site", self.ns)).call_method(
                ua.NodeId("site.Names", self.ns), ua.Variant(self.lang, ua.VariantType.String))
        except (TimeoutError, ua.UaError, OSError, ValueError):
            return {}
        return {str(i): str(n) for i, n in zip(ids or [], names or [], strict=False) if n}

    async def _kinds(self, c: Client) -> dict[str, str]:
        """What each system and equipment is (``site.Kinds``), so each screen finds its
        own systems and equipment however the site named them."""
        try:
            ids, kinds = await c.get_node(ua.NodeId("site", self.ns)).call_method(
                ua.NodeId("site.Kinds", self.ns))
        except (TimeoutError, ua.UaError, OSError, ValueError):
            return {}
        return {str(i): str(k) for i, k in zip(ids or [], kinds or [], strict=False)}

    async def _enum_words(self, c: Client, variables: list[Any]) -> dict[str, list[str]]:
        """A sequence state is served as an enumeration (a number and its EnumStrings):
        the screens want its word. Read once per connection."""
        out: dict[str, list[str]] = {}
        for node in variables:
            path = str(node.nodeid.Identifier)
            if not path.endswith(".state"):
                continue
            try:
                words = await c.get_node(ua.NodeId(f"{path}.EnumStrings", self.ns)).read_value()
            except (TimeoutError, ua.UaError, OSError):
                continue
            out[path] = [w.Text for w in words]
        return out

    async def _site_uri(self, c: Client) -> str:
        uris = await c.get_namespace_array()
        return next(u for u in uris if u.startswith("urn:fixedsite:") and u != CLIENT_URI)

    async def _site_node(self, c: Client) -> Any:
        for child in await c.nodes.objects.get_children():
            if child.nodeid.NamespaceIndex == self.ns:
                return child
        raise RuntimeError("no fixedsite site object on this server")

    async def _collect(self, node: Any, out: list[Any]) -> None:
        for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
            cls = await child.read_node_class()
            if cls == ua.NodeClass.Object:
                await self._collect(child, out)
            elif cls == ua.NodeClass.Variable and isinstance(child.nodeid.Identifier, str) \
                    and child.nodeid.Identifier.count(".") == 2:
                out.append(child)

    async def _watch(self) -> None:
        pause = 0.5
        while True:
            await asyncio.sleep(0.5)
            c = self._client
            try:
                if c is None:
                    raise ConnectionError("not connected")
                await c.check_connection()    # raises once the link is gone
                continue
            except Exception as e:
                if self.connected:
                    self.connected, self.error = False, str(e) or "connection lost"
                    lost = self.now()
                    for v in self.values.values():   # their age counts from the loss
                        if v.trusted:
                            v.ts, v.why = lost, "disconnected"
                        v.stale = True
                    self.on_change()
            with contextlib.suppress(Exception):
                if c is not None:
                    await c.disconnect()
            self._client = None
            try:
                await self._connect()
                pause = 0.5
            except Exception as e:
                self.error = str(e) or type(e).__name__
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    def mirror(self, aid: str, text: str, priority: int, state: str, shelved: bool,
               t: float | None, **more: Any) -> None:
        """One alarm's state as the server says it is now (t: when it was raised; None
        keeps the time already shown; ``more``: AlarmRow's other fields)."""
        self._touched.add(aid)
        row_state = ROW_STATE.get(state, "normal")
        if row_state == "normal" and not shelved:
            self.alarms.pop(aid, None)
            return
        old = self.alarms.get(aid)
        when = t if t else (old.t if old is not None else 0.0)
        self.alarms[aid] = AlarmRow(aid, text, int(priority), row_state, when, shelved,
                                    **more)

    async def _site_call(self, method: str, *args: ua.Variant) -> Any:
        """A read-only method of the site object; None when it cannot be had now."""
        if self._client is None or not self.connected:
            return None
        node = self._client.get_node(ua.NodeId("site", self.ns))
        try:
            return await node.call_method(ua.NodeId(f"site.{method}", self.ns), *args)
        except (TimeoutError, ua.UaError, OSError):
            return None

    async def recent_commands(self, n: int = 50) -> list[list[str]]:
        """(time, who, action, target, outcome, reason) rows, newest first."""
        lines = await self._site_call("RecentCommands", ua.Variant(n, ua.VariantType.Int32))
        return [str(line).split("\t") for line in (lines or [])]

    async def history(self, path: str, window_s: float, buckets: int
                      ) -> tuple[float, list[Bucket]]:
        """A trend of one tag over the last ``window_s`` of site time, oldest first, and
        the bucket width the server used; buckets with no stored sample are left out."""
        out = await self._site_call("History", ua.Variant(path, ua.VariantType.String),
                                    ua.Variant(float(window_s), ua.VariantType.Double),
                                    ua.Variant(buckets, ua.VariantType.Int32))
        if not out:
            return 0.0, []
        *cols, width = out
        return float(width), [Bucket(*row) for row in zip(*(c or [] for c in cols),
                                                          strict=True)]

    async def unit(self, path: str) -> str:
        """A tag's engineering unit (read once per tag the operator trends)."""
        if self._client is None or not self.connected:
            return ""
        try:
            eu = await self._client.get_node(ua.NodeId(f"{path}.EngineeringUnits",
                                                       self.ns)).read_value()
        except (TimeoutError, ua.UaError, OSError):
            return ""
        return str(eu.DisplayName.Text or "")

    async def call(self, target: str, method: str, *args: Any) -> tuple[bool, str]:
        if self._client is None or not self.connected:
            return False, "disconnected"
        node = self._client.get_node(ua.NodeId(target, self.ns))
        try:
            ok, why = await node.call_method(ua.NodeId(f"{target}.{method}", self.ns), *args)
        except (TimeoutError, ua.UaError, OSError) as e:
            return False, str(e) or type(e).__name__
        return bool(ok), str(why)


class _Handler:
    def __init__(self, client: SiteClient) -> None:
        self.c = client

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        dv = data.monitored_item.Value
        status = dv.StatusCode
        ts = dv.SourceTimestamp.timestamp() if dv.SourceTimestamp is not None else 0.0
        self.c.heard(ts)
        path = node.nodeid.Identifier
        prev = self.c.values.get(path)
        if val is None and not status.is_good() and prev is not None:
            val = prev.value     # a Bad value comes without one: show the last, marked
        words = self.c.enums.get(path)
        if words is not None and isinstance(val, int):
            val = words[val] if 0 <= val < len(words) else "unknown"
        self.c.values[path] = Value(val, status.is_good(), False, why_of(status), ts)
        self.c.on_change()

    def event_notification(self, ev: Any) -> None:
        """Each event carries the alarm's state and own times after it, so the mirror
        just copies it."""
        raised = float(getattr(ev, "RaisedTime", 0.0) or 0.0)
        t = raised or (ev.Time.timestamp() if ev.Transition == "active" else None)
        self.c.mirror(ev.AlarmId, ev.Message.Text, ev.Priority, ev.State, bool(ev.Shelved), t,
                      **_more(getattr(ev, "ClearedTime", 0.0), getattr(ev, "AckedTime", 0.0),
                              getattr(ev, "AckedBy", ""), getattr(ev, "MessageZh", ""),
                              getattr(ev, "Detail", "")))
        self.c.on_change()


def _more(cleared: Any, acked: Any, acked_by: Any, text_zh: Any, detail: Any
          ) -> dict[str, Any]:
    return {"cleared": float(cleared or 0.0), "acked": float(acked or 0.0),
            "acked_by": str(acked_by or ""), "text_zh": str(text_zh or ""),
            "detail": str(detail or "")}


def _current_row(row: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A row of ``alarms.Current`` as ``mirror``'s arguments: (id, priority, state,
    shelved, raised, cleared, acked, acked_by, text, text_zh, detail), or the older
    six columns (id, priority, state, shelved, time, text)."""
    if len(row) == 6:
        aid, prio, state, shelved, t, text = row
        return (aid, text, prio, state, bool(shelved), t), {}
    aid, prio, state, shelved, raised, cleared, acked, acked_by, text, text_zh, detail = row
    return ((aid, text, prio, state, bool(shelved), raised),
            _more(cleared, acked, acked_by, text_zh, detail))
