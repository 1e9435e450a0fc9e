"""Alarms on the northbound OPC UA server, as OPC UA Alarms & Conditions (Part 9).

Every alarm transition is one event of type ``FixedsiteAlarmEvent`` (NodeId
``ns=<site>;s=type:FixedsiteAlarmEvent``), a subtype of the standard ``AlarmConditionType``
(browse path from Types: BaseEventType / ConditionType / AcknowledgeableConditionType /
AlarmConditionType / FixedsiteAlarmEvent; each of our fields a described property), so a
third-party SCADA subscribed to AlarmConditionType (or ConditionType) shows it as an
alarm, and our console reads our own fields from the same event. It is emitted from the
site's ``Alarms`` object and from the standard ``Server`` object (where most SCADA
packages subscribe), with the same EventId.

Standard fields filled: EventId, EventType, SourceNode (the alarm's tag) and SourceName
(its path), Time (of the transition, site clock), ReceiveTime, Message (the fixed English
text), Severity (priority 1..4 -> 900/700/500/300) and LastSeverity, ConditionClassId /
Name (System for ``comm.*`` and ``controller.*``, else Process), ConditionName (the alarm
id), the ConditionId (``NodeId`` attribute: ``ns=<site>;s=alarms.<alarm id>``, an object
under Alarms), BranchId (null: no branches), Retain (true while the alarm is not normal
or is shelved), EnabledState (+/Id, always enabled), ActiveState (+/Id, /TransitionTime:
raised or cleared), AckedState (+/Id, /TransitionTime when acknowledged), Quality (of the
alarm's tag now), Comment and ClientUserId (of an acknowledge or shelve), InputNode,
SuppressedOrShelved (shelved or out of service).

Our fields, by name: AlarmId, Transition (active, rtn, clear, ack, shelve, unshelve, oos,
in_service), Priority (1..4), Area, User, State (ISA-18.2 state after the transition:
normal, unack_active, ack_active, unack_rtn), Shelved, RaisedTime / ClearedTime /
AckedTime (Double, Unix s, 0 = none), AckedBy, MessageZh, Detail.

Methods of the standard types that work on our conditions:

* ``AcknowledgeableConditionType.Acknowledge`` (i=9111) called on a ConditionId with the
  EventId of the condition's latest event and a comment: goes through the gate like
  ``Alarms.Acknowledge`` (operator role, audited). Bad status with a reason (see
  ``northbound_args``): BadEventIdUnknown for another EventId,
  BadConditionBranchAlreadyAcked, BadUserAccessDenied.
* ``ConditionType.ConditionRefresh`` (i=3875) and ``ConditionRefresh2`` (i=12912):
  RefreshStartEvent, the latest event of every retained condition, RefreshEndEvent, to
  the caller's own subscription (another session's: BadSubscriptionIdInvalid). The
  markers pass the subscription's where clause like any event (asyncua's filter): a
  filter on AlarmConditionType sees the conditions without them.

Not supported (asyncua 2.1.0 has no condition state machines; answered
BadNotSupported with a reason, or not present): Confirm / ConfirmedState, AddComment,
Enable / Disable, the ShelvedStateMachine (TimedShelve, OneShotShelve, Unshelve on the
condition: use ``Alarms.Shelve`` / ``Alarms.Unshelve``), SuppressedState,
OutOfServiceState, SilenceState, LatchedState, branches, the limit and discrete subtypes
(ExclusiveLimitAlarmType, OffNormalAlarmType: one type carries our fields, so a client
subscribes to one), and condition variables in the address space: the ConditionId objects
carry a name and a description only, their state travels in events (read it with
ConditionRefresh or ``Alarms.Current``). Anonymous sessions call no method, so they
cannot ConditionRefresh either.
"""

from __future__ import annotations

import copy
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.event_generator import EventGenerator

from fixedsite.alarms import AlarmEvent
from fixedsite.alarms.engine import ACK_ACTIVE, NORMAL, UNACK_ACTIVE, UNACK_RTN
from fixedsite.northbound_args import Arg, refusal

if TYPE_CHECKING:
    from fixedsite.northbound import Northbound

log = logging.getLogger(__name__)

SEVERITY = {1: 900, 2: 700, 3: 500, 4: 300}
EVENT_TYPE = "FixedsiteAlarmEvent"
TYPE_ID = f"type:{EVENT_TYPE}"        # ':' is in no configured name: never a tag's NodeId
# our fields of each event: name, type, description
OUR_FIELDS: list[tuple[str, ua.VariantType, str]] = [
    ("AlarmId", ua.VariantType.String, "the alarm's id, as alarms.Current lists it "
     "(<system>.<equipment>.<signal>.<limit>, e.g. a level's HH)"),
    ("Transition", ua.VariantType.String, "what happened: active, rtn, clear, ack, shelve, "
     "unshelve, oos, in_service (snapshot: read from alarms.Current)"),
    ("Priority", ua.VariantType.Int32, "1 (highest) to 4"),
    ("Area", ua.VariantType.String, "the plant area (system) it belongs to"),
    ("User", ua.VariantType.String, "who acknowledged, shelved or unshelved it (empty: "
     "the plant did)"),
    ("State", ua.VariantType.String, "ISA-18.2 state after the transition: normal, "
     "unack_active, ack_active, unack_rtn"),
    ("Shelved", ua.VariantType.Boolean, "shelved or out of service after the transition"),
    ("RaisedTime", ua.VariantType.Double, "when it went active, Unix s (0 = never)"),
    ("ClearedTime", ua.VariantType.Double, "when its condition went away, Unix s "
     "(0 = still active)"),
    ("AckedTime", ua.VariantType.Double, "when it was acknowledged, Unix s (0 = not)"),
    ("AckedBy", ua.VariantType.String, "who acknowledged it"),
    ("MessageZh", ua.VariantType.String, "the fixed text in Chinese (Message: English)"),
    ("Detail", ua.VariantType.String, "what completes the text: a fault reason, a raw error")]
_TIMES = ("ActiveState/TransitionTime", "AckedState/TransitionTime",
          "EnabledState/TransitionTime", "Comment/SourceTimestamp",
          "Quality/SourceTimestamp", "LastSeverity/SourceTimestamp")
_UNSUPPORTED = {ua.ObjectIds.AcknowledgeableConditionType_Confirm: "Confirm",
                ua.ObjectIds.ConditionType_AddComment: "AddComment",
                ua.ObjectIds.ConditionType_Enable: "Enable",
                ua.ObjectIds.ConditionType_Disable: "Disable"}


def _utc(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


async def _describe(node: Node, text: str) -> None:
    await node.write_attribute(ua.AttributeIds.Description, ua.DataValue(
        ua.Variant(ua.LocalizedText(text, "en"), ua.VariantType.LocalizedText)))


def condition_id(alarm: str) -> str:
    """The string NodeId of an alarm's condition object (systems are never 'alarms')."""
    return f"alarms.{alarm}"


class AlarmConditions:
    """The event type, the condition objects, the events and the standard methods."""

    def __init__(self, nb: Northbound) -> None:
        self.nb = nb
        self.template: Any = None
        self.emitters: list[ua.NodeId] = []
        self.retained: dict[str, Any] = {}      # alarm id -> its latest event (Retain)
        self.latest: dict[str, bytes] = {}      # alarm id -> EventId of its latest event
        self.by_condition: dict[ua.NodeId, str] = {}

    # --- address space ------------------------------------------------------------------
    async def build(self, alarms_node: Node) -> None:
        nb, ns = self.nb, self.nb.ns
        server = nb.server
        base = server.get_node(ua.NodeId(ua.ObjectIds.AlarmConditionType))
        etype = await base.add_object_type(ua.NodeId(TYPE_ID, ns),
                                           ua.QualifiedName(EVENT_TYPE, ns))
        await _describe(etype, "a fixedsite alarm transition: the standard AlarmConditionType "
                        "fields and the alarm's own (" + ", ".join(f[0] for f in OUR_FIELDS)
                        + ")")
        for name, vtype, what in OUR_FIELDS:
            prop = await etype.add_property(ua.NodeId(f"{TYPE_ID}.{name}", ns),
                                            ua.QualifiedName(name, ns),
                                            ua.get_default_value(vtype), varianttype=vtype)
            await _describe(prop, what)
        self.event_type = etype
        gen = EventGenerator(server.iserver.isession)
        await gen.init(etype.nodeid, alarms_node.nodeid)
        server_node = server.nodes.server
        await server_node.add_reference(etype.nodeid, ua.ObjectIds.GeneratesEvent)
        await server_node.add_reference(alarms_node.nodeid, ua.ObjectIds.HasNotifier)
        ev = gen.event
        for name in _TIMES:
            ev.data_types[name] = ua.VariantType.DateTime
        self.template = ev
        self.emitters = [alarms_node.nodeid, server_node.nodeid]
        await self._conditions(alarms_node)
        wrap = nb._wrap
        isession = server.iserver.isession
        isession.add_method_callback(
            ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge),
            wrap("alarms", "Acknowledge (A&C)", self._acknowledge, [
                Arg("EventId", ua.VariantType.ByteString,
                    "the EventId of the condition's latest event"),
                Arg("Comment", ua.VariantType.LocalizedText, "a comment for the record")],
                command=False, with_parent=True))
        refresh = [Arg("SubscriptionId", ua.VariantType.UInt32, "your subscription")]
        isession.add_method_callback(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
            wrap("alarms", "ConditionRefresh", self._refresh, refresh, command=False))
        isession.add_method_callback(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh2),
            wrap("alarms", "ConditionRefresh2", self._refresh, [*refresh, Arg(
                "MonitoredItemId", ua.VariantType.UInt32, "its event monitored item")],
                command=False))
        for ident, name in _UNSUPPORTED.items():
            async def unsupported(*args: Any, name: str = name) -> Any:
                return refusal(ua.StatusCodes.BadNotSupported,
                               f"{name} is not supported by this server (see the "
                               "FixedsiteAlarmEvent type's description)")
            isession.add_method_callback(ua.NodeId(ident), unsupported)

    async def _conditions(self, alarms_node: Node) -> None:
        """One object per alarm (its ConditionId), named in the site's language, and a
        HasCondition reference from the alarm's tag to it; added in one request."""
        nb, ns = self.nb, self.nb.ns
        lang = nb.ctl.cfg.site.lang
        items, refs = [], []
        for a in nb.ctl.alarms.alarms.values():
            d = a.d
            node = ua.NodeId(condition_id(d.id), ns)
            self.by_condition[node] = d.id
            attrs = ua.ObjectAttributes()
            text = d.text_zh if lang == "zh_CN" and d.text_zh else d.text
            attrs.DisplayName = ua.LocalizedText(text, "zh-CN" if text == d.text_zh else "en")
            attrs.Description = ua.LocalizedText(
                f"alarm {d.id} ({d.kind}, priority {d.priority}, area {d.area}) on "
                f"{d.tag}: {d.text}", "en")
            attrs.EventNotifier = 0
            item = ua.AddNodesItem(RequestedNewNodeId=node, BrowseName=ua.QualifiedName(d.id, ns),
                                   NodeClass=ua.NodeClass.Object,
                                   ParentNodeId=alarms_node.nodeid,
                                   ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent),
                                   TypeDefinition=ua.NodeId(ua.ObjectIds.BaseObjectType),
                                   NodeAttributes=attrs)
            items.append(item)
            if d.tag in nb.nodes:
                refs.append(ua.AddReferencesItem(
                    SourceNodeId=nb.nodes[d.tag].nodeid, IsForward=True,
                    ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasCondition),
                    TargetNodeId=node, TargetNodeClass=ua.NodeClass.Object))
        isession = nb.server.iserver.isession
        for r in await isession.add_nodes(items):
            r.StatusCode.check()
        for code in await isession.add_references(refs):
            code.check()

    # --- events -------------------------------------------------------------------------
    def _event(self, ev: AlarmEvent) -> Any:
        nb = self.nb
        e = copy.copy(self.template)
        e.EventId = uuid.uuid4().bytes
        e.Time = _utc(ev.t)
        e.ReceiveTime = datetime.now(UTC)
        source = nb.nodes.get(self._tag(ev.alarm))
        e.SourceNode = source.nodeid if source is not None else self.emitters[0]
        e.SourceName = self._tag(ev.alarm) or ev.alarm
        e.InputNode = e.SourceNode
        e.Message = ua.LocalizedText(ev.text, "en")
        e.Severity = e.LastSeverity = SEVERITY.get(ev.priority, 300)
        system = ev.alarm.split(".", 1)[0] in ("comm", "controller")
        e.ConditionClassId = ua.NodeId(ua.ObjectIds.SystemConditionClassType if system
                                       else ua.ObjectIds.ProcessConditionClassType)
        e.ConditionClassName = ua.LocalizedText("System" if system else "Process", "en")
        e.ConditionName = ev.alarm
        e.NodeId = ua.NodeId(condition_id(ev.alarm), nb.ns)
        e.BranchId = ua.NodeId()
        e.Retain = ev.state != NORMAL or ev.shelved
        e.EnabledState, e.__dict__["EnabledState/Id"] = ua.LocalizedText("Enabled", "en"), True
        active = ev.state in (UNACK_ACTIVE, ACK_ACTIVE)
        acked = ev.state not in (UNACK_ACTIVE, UNACK_RTN)
        e.ActiveState = ua.LocalizedText("Active" if active else "Inactive", "en")
        e.__dict__["ActiveState/Id"] = active
        e.__dict__["ActiveState/TransitionTime"] = _utc(ev.raised if active else ev.cleared)
        e.AckedState = ua.LocalizedText("Acknowledged" if acked else "Unacknowledged", "en")
        e.__dict__["AckedState/Id"] = acked
        e.__dict__["AckedState/TransitionTime"] = _utc(ev.acked) if acked else None
        tag = nb.ctl.store.get(self._tag(ev.alarm))
        e.Quality = nb.status(tag) if tag is not None else ua.StatusCode()
        e.Comment = ua.LocalizedText(ev.comment, "en") if ev.comment else None
        e.ClientUserId = ev.user
        e.SuppressedOrShelved = ev.shelved
        e.AlarmId, e.Transition, e.Priority, e.Area = ev.alarm, ev.what, ev.priority, ev.area
        e.User, e.State, e.Shelved = ev.user, ev.state, ev.shelved
        e.RaisedTime = float(ev.raised or 0.0)
        e.ClearedTime = float(ev.cleared or 0.0)
        e.AckedTime = float(ev.acked or 0.0)
        e.AckedBy, e.MessageZh, e.Detail = ev.acked_by, ev.text_zh, ev.detail
        return e

    def _tag(self, alarm: str) -> str:
        a = self.nb.ctl.alarms.alarms.get(alarm)
        return a.d.tag if a is not None else ""

    async def publish(self, ev: AlarmEvent) -> None:
        e = self._event(ev)
        self.latest[ev.alarm] = e.EventId
        if e.Retain:
            self.retained[ev.alarm] = e
        else:
            self.retained.pop(ev.alarm, None)
        service = self.nb.server.iserver.subscription_service
        for node in self.emitters:
            one = copy.copy(e)
            one.emitting_node = node
            # asyncua keeps its own copy of retained events for a ConditionRefresh it is not
            # asked to serve here (ours below); bounded by the number of alarms
            await service.trigger_event(one)

    # --- standard methods ---------------------------------------------------------------
    async def _acknowledge(self, parent: ua.NodeId, event_id: bytes,
                           comment: ua.LocalizedText) -> Any:
        alarm = self.by_condition.get(parent)
        if alarm is None:
            return refusal(ua.StatusCodes.BadNodeIdInvalid,
                           f"{parent.to_string()} is not an alarm condition of this server")
        if not event_id or self.latest.get(alarm) != event_id:
            return refusal(ua.StatusCodes.BadEventIdUnknown,
                           f"EventId is not the latest event of {alarm}: acknowledge the "
                           "latest (ConditionRefresh gives it)")
        state = self.nb.ctl.alarms.alarms[alarm].state
        ok, why = await self.nb.submit("alarms", "ack", {"id": alarm,
                                                         "comment": comment.Text or ""})
        if ok:
            return []
        if state not in (UNACK_ACTIVE, UNACK_RTN):
            code = ua.StatusCodes.BadConditionBranchAlreadyAcked
        elif "role" in why:
            code = ua.StatusCodes.BadUserAccessDenied
        else:
            code = ua.StatusCodes.BadInvalidState
        return refusal(code, why)

    async def _refresh(self, sub_id: int, mid: int | None = None) -> Any:
        service = self.nb.server.iserver.subscription_service
        sub = service.subscriptions.get(sub_id)
        session = self.nb.current_session()
        if sub is None or session is None or sub.session_id != session.session_id:
            return refusal(ua.StatusCodes.BadSubscriptionIdInvalid,
                           f"subscription {sub_id} is not one of this session's")
        items = sub.monitored_item_srv
        if mid is not None and mid not in items._monitored_items:
            return refusal(ua.StatusCodes.BadMonitoredItemIdInvalid,
                           f"monitored item {mid} is not in subscription {sub_id}")
        for node in self.emitters:
            if node not in items._monitored_events:
                continue
            await self._marker(items, node, ua.ObjectIds.RefreshStartEventType, mid)
            for e in list(self.retained.values()):
                one = copy.copy(e)
                one.emitting_node = node
                await items.trigger_event(one, mid)
            await self._marker(items, node, ua.ObjectIds.RefreshEndEventType, mid)
        return []

    async def _marker(self, items: Any, node: ua.NodeId, etype: int, mid: int | None) -> None:
        gen = EventGenerator(self.nb.server.iserver.isession)
        await gen.init(etype, node, add_generates_event=False)
        e = gen.event
        e.EventId = uuid.uuid4().bytes
        e.Time = e.ReceiveTime = datetime.now(UTC)
        e.Message = ua.LocalizedText("ConditionRefresh", "en")
        e.emitting_node = node
        await items.trigger_event(e, mid)

    # --- reads --------------------------------------------------------------------------
    def current(self) -> list[ua.Variant]:
        """Every alarm a mirror must show now, as columns, with the alarm's own times."""
        s, d = ua.VariantType.String, ua.VariantType.Double
        rows = self.nb.ctl.alarms.snapshot()
        return [ua.Variant([r.alarm for r in rows], s),
                ua.Variant([r.priority for r in rows], ua.VariantType.Int32),
                ua.Variant([r.state for r in rows], s),
                ua.Variant([r.shelved for r in rows], ua.VariantType.Boolean),
                ua.Variant([float(r.raised or 0.0) for r in rows], d),
                ua.Variant([float(r.cleared or 0.0) for r in rows], d),
                ua.Variant([float(r.acked or 0.0) for r in rows], d),
                ua.Variant([r.acked_by for r in rows], s),
                ua.Variant([r.text for r in rows], s),
                ua.Variant([r.text_zh for r in rows], s),
                ua.Variant([r.detail for r in rows], s)]
