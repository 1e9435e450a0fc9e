"""The OPC UA server as a foreign client finds it: nothing known but the address space.

One HIL rig, controller (with history) and server for the module; a plain asyncua client
over an encrypted channel browses for every method, builds its arguments from their
declared DataType and description, calls it, and reads what comes back; reads the pump
mode and state as enumerations and the configured names; and follows a real alarm as
standard Alarms & Conditions events through ConditionRefresh and Acknowledge.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from conftest import Rig, demo_config, free_port
from cryptography.x509.oid import ExtendedKeyUsageOID
from test_northbound import CLIENT_URI, Site

from fixedsite.audit import AuditLog
from fixedsite.clock import ScaledClock, wait_until
from fixedsite.config import OpcUaConfig
from fixedsite.gate import Command
from fixedsite.historian import Historian
from fixedsite.northbound import Northbound
from fixedsite.runtime import Controller
from fixedsite.sequences.drainage.equipment import STATES
from fixedsite.tags import Quality
from fixedsite.users import UserStore

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCALE = 60.0
EXAMPLE = re.compile(r'e\.g\. (?:"([^"]*)"|(-?\d+(?:\.\d+)?))')


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("nb-discovery")
    cfg = demo_config(free_port(), SCALE, initial_level_m="1.0")
    rig = Rig(cfg, ScaledClock(SCALE))
    await rig.site.start()
    audit = AuditLog(tmp / "audit.db")
    history = Historian(tmp / "history.db")
    rig.ctl = Controller(rig.cfg, rig.clock, audit=audit, historian=history)
    await rig.ctl.start()
    users = UserStore(tmp / "users.json")
    for name, role in (("view", "viewer"), ("op", "operator"), ("eng", "engineer")):
        users.add(name, role, f"{name}-password")
    nb = Northbound(rig.ctl, users, OpcUaConfig(
        endpoint=f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/"), tmp / "pki")
    await nb.start()
    key, cert = tmp / "client_key.pem", tmp / "client_cert.der"
    await setup_self_signed_certificate(key, cert, CLIENT_URI, "localhost",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "t"})
    await rig.ctl.store.wait_for("drainage.sump.level", lambda t: t.value is not None, 10)
    assert await wait_until(rig.clock, lambda: bool(history.query(
        "drainage.sump.level", rig.clock.now() - 3600, rig.clock.now(), 10)), 600, 5)
    yield Site(rig, nb, audit, (key, cert))
    await nb.stop()
    await rig.stop_controller()
    await rig.site.stop()
    history.close()
    audit.close()


# --- discovery ----------------------------------------------------------------------------

async def _site_object(c: Client) -> Any:
    """The site: the one object under Objects outside the standard namespace 0."""
    found = [n for n in await c.nodes.objects.get_children()
             if n.nodeid.NamespaceIndex != 0]
    assert len(found) == 1
    return found[0]


async def _methods(c: Client, node: Any, out: list[tuple[Any, Any]]) -> None:
    """Every (object, method) under ``node``, browsing hierarchical references only."""
    for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
        cls = await child.read_node_class()
        if cls == ua.NodeClass.Method:
            out.append((node, child))
        elif cls == ua.NodeClass.Object:
            await _methods(c, child, out)


async def _arguments(method: Any, kind: str) -> list[ua.Argument]:
    props = {(await p.read_browse_name()).Name: p for p in await method.get_properties()}
    return list(await props[kind].read_value()) if kind in props else []


def _vtype(arg: ua.Argument) -> ua.VariantType:
    assert arg.DataType.NamespaceIndex == 0, f"{arg.Name}: not a built-in type"
    return ua.datatype_to_varianttype(arg.DataType)  # type: ignore[return-value]


def _example(arg: ua.Argument) -> ua.Variant:
    """The argument as its description's example, in its declared type."""
    m = EXAMPLE.search(arg.Description.Text or "")
    assert m, f"{arg.Name}: the description gives no example: {arg.Description.Text!r}"
    vt = _vtype(arg)
    text = m.group(1) if m.group(1) is not None else m.group(2)
    if vt == ua.VariantType.String:
        return ua.Variant(text, vt)
    if vt in (ua.VariantType.Double, ua.VariantType.Float):
        return ua.Variant(float(text), vt)
    return ua.Variant(int(text), vt)


async def _discover(c: Client) -> list[tuple[Any, Any, str, list[ua.Argument],
                                             list[ua.Argument]]]:
    found: list[tuple[Any, Any]] = []
    await _methods(c, await _site_object(c), found)
    out = []
    for obj, method in found:
        name = (await method.read_browse_name()).Name
        out.append((obj, method, name, await _arguments(method, "InputArguments"),
                    await _arguments(method, "OutputArguments")))
    return out


async def _call(c: Client, obj: Any, method: Any, args: list[ua.Variant]
                ) -> ua.CallMethodResult:
    return (await c.uaclient.call([ua.CallMethodRequest(
        ObjectId=obj.nodeid, MethodId=method.nodeid, InputArguments=args)]))[0]


async def test_a_foreign_client_discovers_and_calls_every_method(site: Site) -> None:
    c = await site.client("eng", "eng-password")
    try:
        methods = await _discover(c)
        names = {n for _, _, n, _, _ in methods}
        assert {"Start", "Stop", "Reset", "SetMode", "Current", "Acknowledge", "Shelve",
                "Unshelve", "RecentCommands", "History", "Names", "Kinds", "WhoAmI"} <= names
        assert len([n for n in names if n == "Start"]) == 1
        results: dict[str, list[Any]] = {}
        for obj, method, name, inputs, outputs in methods:
            assert (await method.read_description()).Text, f"{name} is not described"
            assert outputs, f"{name} declares no outputs"
            for a in inputs + outputs:
                assert a.Name and a.Description.Text, f"{name}.{a.Name} is not described"
            res = await _call(c, obj, method, [_example(a) for a in inputs])
            assert res.StatusCode.is_good(), (name, res.StatusCode)
            assert len(res.OutputArguments) == len(outputs), name
            for a, v in zip(outputs, res.OutputArguments, strict=True):
                assert v.VariantType == _vtype(a), f"{name}.{a.Name}: {v.VariantType}"
                assert isinstance(v.Value, list) == (a.ValueRank == 1), f"{name}.{a.Name}"
            values = [v.Value for v in res.OutputArguments]
            if [a.Name for a in outputs] == ["accepted", "reason"]:
                assert isinstance(values[0], bool) and values[1], (name, values)
            arrays = [v for v, a in zip(values, outputs, strict=True) if a.ValueRank == 1]
            assert len({len(v) for v in arrays}) <= 1, f"{name}: columns of unequal length"
            results[method.nodeid.Identifier] = values
        # meaningful answers, read as a foreign client reads them
        assert results["site.WhoAmI"] == ["eng", "engineer"]
        ids, shown = results["site.Names"]
        assert shown[ids.index("drainage.pump1")] == "Main pump 1"      # the example: en
        assert "drainage" in ids and "site" in ids
        kinds = dict(zip(*results["site.Kinds"], strict=True))          # what each one is
        assert kinds["site"] == "site" and kinds["drainage"] == "drainage"
        assert kinds["drainage.pump1"] == "pump" and kinds["drainage.sump"] == "sump"
        assert set(kinds) == set(ids)
        starts, avgs, lows, highs, width = results["site.History"]
        assert starts and width > 0 and all(lo <= a <= hi for lo, a, hi in
                                            zip(lows, avgs, highs, strict=True))
        assert all(0.0 < a < 3.0 for a in avgs)                          # metres of water
        ok, why = results["drainage.pump1.SetMode"]
        assert ok and "remote-manual" in why
        assert results["alarms.Shelve"][0] and results["alarms.Unshelve"][0]
        assert results["alarms.Acknowledge"] == [
            False, "drainage.sump.level.HH is not waiting for acknowledgement"]
        lines = results["site.RecentCommands"][0]
        assert lines and all(len(line.split("\t")) == 6 for line in lines)
        assert any("\tset_mode\tdrainage.pump1\tdone\t" in line for line in lines)
    finally:
        for pump in site.rig.ctl.sequences:         # as it was: level control in charge
            await site.rig.ctl.gate.submit(Command(pump, "set_mode", "operator", "test",
                                                   {"mode": "remote-auto"}, None))
        await c.disconnect()


BAD = {"missing": lambda args: args[:-1], "one too many": lambda args: [
           *args, ua.Variant(1, ua.VariantType.Int32)],
       "wrong types": lambda args: [ua.Variant(True, ua.VariantType.Boolean) for _ in args],
       "NaN": lambda args: [ua.Variant(math.nan, ua.VariantType.Double) for _ in args]}


@pytest.mark.parametrize("how", list(BAD))
async def test_every_method_refuses_bad_arguments_with_a_status_and_a_reason(
        site: Site, how: str) -> None:
    c = await site.client("eng", "eng-password")
    try:
        for obj, method, name, inputs, _ in await _discover(c):
            args = [_example(a) for a in inputs]
            if not args and how != "one too many":
                continue                               # nothing to leave out or spoil
            res, why = await site.raw_call(c, obj.nodeid, method.nodeid, *BAD[how](args))
            assert res.StatusCode.value in (
                ua.StatusCodes.BadArgumentsMissing, ua.StatusCodes.BadTooManyArguments,
                ua.StatusCodes.BadInvalidArgument), (name, how, res.StatusCode)
            assert why.startswith(name) and "Traceback" not in why, (name, why)
            if res.StatusCode.value == ua.StatusCodes.BadInvalidArgument:
                reasons = [d.AdditionalInfo for d in res.InputArgumentDiagnosticInfos
                           if d.AdditionalInfo]
                assert reasons and all(r in why for r in reasons), (name, why)
    finally:
        await c.disconnect()


# --- enumerations and names ---------------------------------------------------------------

async def test_mode_and_state_are_enumerations_with_words(site: Site) -> None:
    c = await site.client("view", "view-password")
    pump = site.rig.ctl.sequences["drainage.pump1"]
    try:
        for signal, words, now in (("mode", ["not set", "remote-manual", "remote-auto"],
                                    pump.mode), ("state", [*STATES, "unknown"], pump.state)):
            node = site.node(c, f"drainage.pump1.{signal}")
            assert (await node.read_type_definition()) == \
                ua.NodeId(ua.ObjectIds.MultiStateDiscreteType)
            assert await node.read_data_type() == ua.NodeId(ua.ObjectIds.UInt32)
            strings = await (await node.get_child("0:EnumStrings")).read_value()
            assert [s.Text for s in strings] == words
            dv = await node.read_data_value()
            assert dv.Value.VariantType == ua.VariantType.UInt32 and dv.StatusCode.is_good()
            assert strings[dv.Value.Value].Text == now              # index == value
            assert f"1 {words[1]}" in (await node.read_description()).Text
    finally:
        await c.disconnect()


async def test_display_names_and_descriptions_come_from_the_config(site: Site) -> None:
    c = await site.client("view", "view-password")
    try:
        site_node = await _site_object(c)
        shown = await site_node.read_display_name()
        assert (shown.Text, shown.Locale) == ("演示矿井 -350 m 中央泵房", "zh-CN")   # lang zh_CN
        assert (await site.node(c, "drainage").read_display_name()).Text == "-350 m 水平主排水"
        pump = site.node(c, "drainage.pump1")
        assert (await pump.read_display_name()).Text == "1号主排水泵"
        assert "Main pump 1" in (await pump.read_description()).Text
        assert (await pump.read_browse_name()).Name == "pump1"            # ids stay ids
        assert (await site.node(c, "comm").read_display_name()).Text == "comm"  # no name
        flow = site.node(c, "drainage.pump1.flow")
        assert (await flow.read_display_name()).Text == "flow"
        assert (await flow.read_description()).Text == "discharge flow"
        level = site.node(c, "drainage.lt1.level")
        assert (await level.read_description()).Text == "water level above the sump floor"
        assert (await site.node(c, "drainage.sump.level").read_description()).Text
        names = {}
        for lang in ("zh_CN", "en"):
            ids, got = await site.node(c, "site").call_method(
                ua.NodeId("site.Names", site.nb.ns), ua.Variant(lang, ua.VariantType.String))
            names[lang] = dict(zip(ids, got, strict=True))
        assert names["zh_CN"]["drainage.pump1"] == "1号主排水泵"
        assert names["en"]["drainage.pump1"] == "Main pump 1"
        assert names["en"]["site"] == "Demo mine, -350 m main pump room"
        assert set(names["en"]) == {"site", *site.rig.cfg.systems, *(
            f"{s}.{e}" for s, sys in site.rig.cfg.systems.items() for e in sys.equipment)}
    finally:
        await c.disconnect()


# --- alarms & conditions ------------------------------------------------------------------

async def _next(q: asyncio.Queue[Any], ok: Any, within_s: float = 15.0) -> Any:
    async with asyncio.timeout(within_s):
        while True:
            ev = await q.get()
            if ok(ev):
                return ev


async def test_a_scada_follows_an_alarm_as_a_standard_condition(site: Site) -> None:
    """Subscribed to AlarmConditionType on the Server object, as a third-party SCADA
    does: the PLC link is cut, the condition arrives active and unacknowledged; a
    ConditionRefresh sends it again; a viewer's and a stale acknowledge are refused
    with reasons, an operator's is taken; the link comes back and the condition ends."""
    c = await site.client("op", "op-password")
    view = await site.client("view", "view-password")
    got: asyncio.Queue[Any] = asyncio.Queue()
    lost = "comm.drain1.LOST"

    class Handler:
        def event_notification(self, event: Any) -> None:
            got.put_nowait(event)

    def mine(ev: Any) -> bool:
        return getattr(ev, "ConditionName", None) == lost

    plc = site.rig.site.unit("drainage").server
    try:
        sub = await c.create_subscription(50, Handler())
        await sub.subscribe_alarms_and_conditions(c.nodes.server,
                                                  ua.ObjectIds.AlarmConditionType)
        await plc.stop()                                        # the PLC goes away
        ev = await _next(got, lambda e: mine(e) and getattr(e, "ActiveState/Id"))
        assert getattr(ev, "AckedState/Id") is False and ev.Retain is True
        assert ev.Severity == 900 and ev.SourceName == "comm.drain1.online"
        assert ev.ActiveState.Text == "Active" and "PLC drain1" in ev.Message.Text
        assert ev.EventType == ua.NodeId("type:FixedsiteAlarmEvent", site.nb.ns)
        etype = c.get_node(ev.EventType)                    # its own fields, described
        fields = {(await p.read_browse_name()).Name: (await p.read_description()).Text
                  for p in await etype.get_properties()}
        assert {"AlarmId", "RaisedTime", "ClearedTime", "AckedTime", "AckedBy", "MessageZh",
                "Detail", "State", "Transition"} <= set(fields) and all(fields.values())
        assert (await etype.get_parent()).nodeid == ua.NodeId(ua.ObjectIds.AlarmConditionType)
        assert ev.NodeId == ua.NodeId(f"alarms.{lost}", site.nb.ns)      # the ConditionId
        raised = getattr(ev, "ActiveState/TransitionTime")
        alarm = site.rig.ctl.alarms.alarms[lost]
        assert raised is not None and abs(raised.timestamp() - alarm.raised_at) < 1e-3
        state = site.node(c, "drainage.pump1.state")       # derived from a PLC gone quiet
        async with asyncio.timeout(15):                     # served not good, soon
            while (await state.read_data_value(raise_on_bad_status=False)
                   ).StatusCode.is_good():
                await site.rig.ctl.store.wait_for("drainage.pump1.state",
                                                  lambda t: t.quality is not Quality.GOOD, 15)

        condition_type = c.get_node(ua.NodeId(ua.ObjectIds.ConditionType))
        await condition_type.call_method(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
            ua.Variant(sub.subscription_id, ua.VariantType.UInt32))
        again = await _next(got, mine)
        assert again.EventId == ev.EventId and getattr(again, "ActiveState/Id")

        ack = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
        comment = ua.Variant(ua.LocalizedText("seen on site"), ua.VariantType.LocalizedText)
        res, why = await site.raw_call(view, ev.NodeId, ack,
                                       ua.Variant(ev.EventId, ua.VariantType.ByteString),
                                       comment)
        assert res.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
        assert "needs the operator role" in why
        res, why = await site.raw_call(c, ev.NodeId, ack,
                                       ua.Variant(b"not-an-event", ua.VariantType.ByteString),
                                       comment)
        assert res.StatusCode.value == ua.StatusCodes.BadEventIdUnknown and lost in why
        await c.get_node(ev.NodeId).call_method(ack, ua.Variant(ev.EventId,
                                                                ua.VariantType.ByteString),
                                                comment)
        acked = await _next(got, lambda e: mine(e) and getattr(e, "AckedState/Id"))
        assert getattr(acked, "ActiveState/Id") and acked.ClientUserId == "op"
        assert acked.Comment.Text == "seen on site" and alarm.acked_by == "op"
        assert getattr(acked, "AckedState/TransitionTime").timestamp() == \
            pytest.approx(alarm.acked_at, abs=1e-3)
        assert getattr(acked, "ActiveState/TransitionTime") == raised
        res, why = await site.raw_call(c, ev.NodeId, ack,
                                       ua.Variant(acked.EventId, ua.VariantType.ByteString),
                                       comment)
        assert res.StatusCode.value == ua.StatusCodes.BadConditionBranchAlreadyAcked
        assert "not waiting" in why

        await plc.start()                                       # the link comes back
        gone = await _next(got, lambda e: mine(e) and not getattr(e, "ActiveState/Id"))
        assert gone.Retain is False and getattr(gone, "AckedState/Id")
        assert getattr(gone, "ActiveState/TransitionTime") > raised
    finally:
        if not plc.running:
            await plc.start()
        await c.disconnect()
        await view.disconnect()
    await site.rig.ctl.store.wait_for("comm.drain1.online", lambda t: t.value is True, 15)
    rows = [r for r in site.audit.tail(50) if r["kind"] == "command" and r["action"] == "ack"]
    assert ("op", "accepted") in [(r["actor"], r["decision"]) for r in rows]


async def test_current_gives_each_alarms_own_times(site: Site) -> None:
    """Read long after the alarm went active, Current still says when it did."""
    engine = site.rig.ctl.alarms
    lost = engine.alarms["comm.drain1.LOST"]
    c = await site.client("view", "view-password")
    plc = site.rig.site.unit("drainage").server
    try:
        await plc.stop()
        await site.rig.ctl.store.wait_for("comm.drain1.online", lambda t: t.value is False, 15)
        clock = site.rig.clock
        assert await wait_until(clock, lambda: lost.state == "unack_active", 600, 1)
        raised = lost.raised_at
        later = clock.now() + 120.0
        assert await wait_until(clock, lambda: clock.now() > later, 600, 10)
        cols = await site.node(c, "alarms").call_method(ua.NodeId("alarms.Current",
                                                                  site.nb.ns))
        assert len(cols) == 11 and len({len(col) for col in cols}) == 1
        row = dict(zip(["id", "priority", "state", "shelved", "raised", "cleared", "acked",
                        "acked_by", "text", "text_zh", "detail"],
                       [col[cols[0].index("comm.drain1.LOST")] for col in cols], strict=True))
        assert row["raised"] == pytest.approx(raised) and row["raised"] < later - 100
        assert (row["cleared"], row["acked"], row["acked_by"]) == (0.0, 0.0, "")
        assert row["state"] == "unack_active" and row["text"] == "PLC drain1: link lost"
        assert row["text_zh"] and row["text_zh"] != row["text"]
    finally:
        await plc.start()
        await c.disconnect()
    await site.rig.ctl.store.wait_for("comm.drain1.online", lambda t: t.value is True, 15)
    engine.acknowledge("comm.drain1.LOST", "test")

