"""The substation's five-prevention interlocks (五防) over a snapshot of the plant: pure.

A switching step (one device of one bay: its breaker, disconnector, earthing switch or
door) is allowed or refused with the reason, on what the relays report now or on the
state a ticket's earlier steps would leave (``simulate``). The five preventions, as far
as the equipment has them:

1. no breaker operated by mistake: a step names a breaker bay that exists and a part the
   bay has; an operator's command confirms the device id typed again (``confirm``); a
   ticket's step writes only its own device's commands (the executor's concern);
2. no disconnector moved under load: only with its bay's breaker proven open;
3. no earthing onto a live section: the earthing switch closes only with the outgoing
   side dead (``line_live`` false and every breaker that bounds that section open,
   ``Topology.bounding``) and the bay's disconnector open;
4. no closing onto an earthed section: no breaker or disconnector closes with its own
   earthing switch closed, nor when it would energise a section whose earthing switch is
   closed (or cannot be read);
5. no entry into a live bay: the door unlocks only with the bay earthed and dead.

Besides: no close onto a section located as faulted, no breaker close while its relay's
trip is latched, no close (and no earthing opened) while the bay's door is unlocked, and
no step on a bay whose data is not good. A value that cannot be read is never taken as
the safe one: a breaker whose contacts are not known counts as closed wherever that is
the worse case, an earthing switch not known as closed.

What a close would energise is found on the state before the step: the sections on the
dead side of the device, reached through everything that is or may be closed, that are
not already surely fed (``Topology.feeds``); a section already live is not energised
anew, and an unknown bay elsewhere in the network does not block a step it has nothing
to do with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.profile import TRIP_CODES
from fixedsite.sequences.power.topology import Topology
from fixedsite.tags import Quality, TagStore
from fixedsite.texts import say

Part = Literal["breaker", "disconnector", "earthing", "door"]
Action = Literal["open", "close", "unlock", "lock"]
PARTS: tuple[str, ...] = ("breaker", "disconnector", "earthing", "door")
# the actions each part takes
ACTIONS: dict[str, tuple[str, ...]] = {"breaker": ("open", "close"),
                                       "disconnector": ("open", "close"),
                                       "earthing": ("open", "close"),
                                       "door": ("unlock", "lock")}
# the English text of a step (a template of TEXTS), by part and action
STEP_TEXT: dict[tuple[str, str], str] = {
    ("breaker", "open"): "open {device} breaker",
    ("breaker", "close"): "close {device} breaker",
    ("disconnector", "open"): "open {device} disconnector",
    ("disconnector", "close"): "close {device} disconnector",
    ("earthing", "open"): "open {device} earthing switch",
    ("earthing", "close"): "close {device} earthing switch",
    ("door", "unlock"): "unlock {device} bay door",
    ("door", "lock"): "lock {device} bay door",
}


@dataclass(frozen=True)
class Step:
    """One switching step: ``action`` on ``part`` of the breaker bay ``device``."""

    device: str
    part: Part
    action: Action

    def __post_init__(self) -> None:
        if self.part not in ACTIONS:
            raise ValueError(f"unknown part {self.part!r}; parts are {', '.join(PARTS)}")
        if self.action not in ACTIONS[self.part]:
            raise ValueError(f"a {self.part} takes {' or '.join(ACTIONS[self.part])}, "
                             f"not {self.action!r}")

    @property
    def closes(self) -> bool:
        """A step that may connect something (a breaker or disconnector closing)."""
        return self.action == "close" and self.part in ("breaker", "disconnector")

    def text(self) -> str:
        return say(STEP_TEXT[(self.part, self.action)], device=self.device)

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class Bay:
    """What a breaker bay's relay reports. Positions are "closed", "open" or "between"
    (both or neither contact made), None when not known (bad data); a bay without a
    disconnector is "closed" through it, one without an earthing switch is never earthed."""

    breaker: str | None
    disconnector: str | None
    earthing: str | None
    door: str | None                  # "locked" | "unlocked"
    line_live: bool | None            # voltage on the outgoing side
    trip_code: int | None             # 0: no trip latched
    bad: str = ""                     # why some of its data cannot be trusted
    local: bool = False               # the bay's local/remote switch at local
    has_disconnector: bool = True
    has_earthing: bool = True


@dataclass(frozen=True)
class PlantState:
    bays: Mapping[str, Bay]
    faulted: frozenset[str] = field(default_factory=frozenset)   # sections located faulted


# what the snapshot reads of a bay (beside the optional parts' signals)
SIGNALS = ("breaker_closed", "breaker_open", "door_unlocked", "line_live", "trip_code",
           "local")
DISCONNECTOR_SIGNALS = ("disconnector_closed", "disconnector_open")
EARTHING_SIGNALS = ("earthing_closed",)


def bay_signals(eq: BreakerEq) -> tuple[str, ...]:
    """The signals a bay's state is read from."""
    return SIGNALS + (DISCONNECTOR_SIGNALS if eq.disconnector else ()) + \
        (EARTHING_SIGNALS if eq.earthing else ())


def _position(closed: object, opened: object) -> str | None:
    if closed is None or opened is None:
        return None
    if closed and not opened:
        return "closed"
    if opened and not closed:
        return "open"
    return "between"


def snapshot(store: TagStore, system_name: str, system: PowerSystem,
             faulted: Iterable[str] = ()) -> PlantState:
    """The plant as its relays report it now (``<system>.<breaker>.<signal>``); a signal
    not good (or not mapped) is not known, and its bay is marked ``bad`` with the reason."""
    bays: dict[str, Bay] = {}
    for name, eq in system.equipment.items():
        if not isinstance(eq, BreakerEq):
            continue
        vals: dict[str, object] = {}
        bad = ""
        for sig in bay_signals(eq):
            tag = store.get(f"{system_name}.{name}.{sig}")
            if tag is None:
                bad = bad or "not_mapped"
                vals[sig] = None
            elif tag.quality is not Quality.GOOD:
                bad = bad or tag.reason or tag.quality.name.lower()
                vals[sig] = None
            else:
                vals[sig] = tag.value
        unlocked, live, code = vals["door_unlocked"], vals["line_live"], vals["trip_code"]
        bays[name] = Bay(
            breaker=_position(vals["breaker_closed"], vals["breaker_open"]),
            disconnector=_position(vals["disconnector_closed"], vals["disconnector_open"])
            if eq.disconnector else "closed",
            earthing=(None if vals["earthing_closed"] is None else
                      "closed" if vals["earthing_closed"] else "open")
            if eq.earthing else "open",
            door=None if unlocked is None else ("unlocked" if unlocked else "locked"),
            line_live=None if live is None else bool(live),
            trip_code=None if code is None else int(code),      # type: ignore[call-overload]
            bad=bad, has_disconnector=eq.disconnector, has_earthing=eq.earthing,
            local=vals["local"] is True)
    return PlantState(bays, frozenset(faulted))


# ------------------------------------------------------------------------------------------
# the network as the bays leave it
# ------------------------------------------------------------------------------------------
def _may(pos: str | None) -> bool:
    """Closed, or possibly closed (between, not known)."""
    return pos != "open"


def conducting(state: PlantState, surely: bool) -> dict[str, bool]:
    """Each bay: does it connect its bus to what it feeds (breaker and disconnector
    closed)? ``surely``: only if known to; else also if it may (not known, between)."""
    out = {}
    for b, bay in state.bays.items():
        if surely:
            out[b] = bay.breaker == "closed" and bay.disconnector == "closed"
        else:
            out[b] = _may(bay.breaker) and _may(bay.disconnector)
    return out


def live_sources(state: PlantState, topo: Topology) -> list[str]:
    """The supplies that may be live: all but those whose every incomer reads its
    outgoing side dead."""
    out = []
    for s in topo.system.network.sources:
        incomers = [b for b, (_bus, feeds) in topo.breakers.items() if feeds == s]
        if not incomers or any(state.bays[b].line_live is not False
                               for b in incomers if b in state.bays):
            out.append(s)
    return out


def energised(state: PlantState, topo: Topology, surely: bool) -> set[str]:
    """The nodes fed from a supply that may be live: surely, or possibly."""
    return set(topo.feeds(conducting(state, surely), live_sources(state, topo)))


def would_energise(device: str, state: PlantState, topo: Topology) -> set[str]:
    """The sections that closing ``device`` (its bay made to conduct) may energise: those
    on a side that may be dead, reached through everything that may be closed, not
    already surely fed (a bay not read elsewhere does not count against a close that
    cannot change what feeds it)."""
    if conducting(state, surely=True).get(device):
        return set()                    # it already conducts: it changes nothing
    maybe = conducting(state, surely=False) | {device: False}
    e_max = set(topo.feeds(maybe, live_sources(state, topo)))
    e_min = energised(state, topo, surely=True)
    a, b = topo.breakers[device]
    out: set[str] = set()
    for side, other in ((a, b), (b, a)):
        # a side surely fed already gains nothing; one that may be dead may be fed anew
        # from the other side if that may be live: whatever may hang on it, but what is
        # surely fed already
        if other in e_max and side not in e_min:
            out |= set(topo.feeds(maybe, [side])) - e_min
    return {n for n in out if topo.kind.get(n) != "source"}


# ------------------------------------------------------------------------------------------
# the rules
# ------------------------------------------------------------------------------------------
def confirm(device: str, typed: object) -> str | None:
    """Prevention 1 at the operator: the device id typed again must be the device's."""
    if not isinstance(typed, str) or typed.strip() != device:
        return say("not confirmed: type the device id {device} again to operate it (got "
                   "{typed})", device=device, typed=repr(typed if typed is not None else ""))
    return None


def check(step: Step, state: PlantState, topo: Topology, system: PowerSystem) -> str | None:
    """None if ``step`` may be taken on ``state``, else why not."""
    dev = step.device
    eq = system.equipment.get(dev)
    if dev not in topo.breakers or not isinstance(eq, BreakerEq) or dev not in state.bays:
        return say("no breaker bay {device} in this network", device=dev)
    if step.part == "disconnector" and not eq.disconnector:
        return say("{device} has no disconnector", device=dev)
    if step.part == "earthing" and not eq.earthing:
        return say("{device} has no earthing switch", device=dev)
    bay = state.bays[dev]
    if bay.bad:
        return say("{device}: no good data from its relay ({why}): no switching on data "
                   "that cannot be trusted", device=dev, why=bay.bad)
    if bay.local:
        return say("{device}: its local/remote switch is at local: no remote switching",
                   device=dev)
    if bay.door != "locked" and (step.closes or (step.part, step.action) ==
                                 ("earthing", "open")):
        return say("{device}: the bay door is unlocked (someone may be inside): lock it "
                   "first", device=dev)
    if step.part == "breaker":
        return _breaker(step, bay, state, topo)
    if step.part == "disconnector":
        return _disconnector(step, bay, state, topo)
    if step.part == "earthing":
        return _earthing(step, bay, state, topo) if step.action == "close" else None
    return _door(step, bay) if step.action == "unlock" else None


def _breaker(step: Step, bay: Bay, state: PlantState, topo: Topology) -> str | None:
    dev = step.device
    if step.action == "open":
        return None
    if bay.trip_code:
        return say("{device}: protection trip latched ({cause}): reset it first",
                   device=dev, cause=say(TRIP_CODES.get(bay.trip_code, "code {n}"),
                                         n=bay.trip_code))
    if bay.disconnector == "between":
        return say("{device}: its disconnector stands between its positions", device=dev)
    return _closing(step, bay, state, topo)


def _disconnector(step: Step, bay: Bay, state: PlantState, topo: Topology) -> str | None:
    dev = step.device
    if bay.breaker != "open":
        # never, not even with both sides dead: the bay's mechanical interlock holds a
        # disconnector while its breaker is closed, and the supervisor asks nothing of a
        # bay that the bay itself would refuse
        return say("{device}: no disconnector moved under load: its breaker is not proven "
                   "open", device=dev)
    return _closing(step, bay, state, topo) if step.action == "close" else None


def _closing(step: Step, bay: Bay, state: PlantState, topo: Topology) -> str | None:
    """Prevention 4 and the located fault, for a breaker or disconnector closing."""
    dev = step.device
    if bay.has_earthing and bay.earthing != "open":
        return say("{device}: no closing onto an earthed section: its own earthing switch "
                   "is closed", device=dev)
    after = simulate(step, state)
    if not conducting(after, surely=False)[dev]:
        return None                     # its series partner is open: it connects nothing
    reach = would_energise(dev, state, topo)
    for other, (_bus, feeds) in sorted(topo.breakers.items()):
        ob = state.bays.get(other)
        if ob is None or not ob.has_earthing or feeds not in reach:
            continue
        if ob.earthing is None:
            return say("{device}: would energise {section}, whose earthing switch at "
                       "{breaker} cannot be read", device=dev, section=feeds, breaker=other)
        if ob.earthing != "open":
            return say("{device}: no closing onto an earthed section: {section} is earthed "
                       "at {breaker}", device=dev, section=feeds, breaker=other)
    faulted = sorted(reach & state.faulted)
    if faulted:
        return say("{device}: would energise {sections}, located as faulted: it stays "
                   "isolated until repaired", device=dev, sections=", ".join(faulted))
    return None


def _earthing(step: Step, bay: Bay, state: PlantState, topo: Topology) -> str | None:
    """Prevention 3: earthing only onto a dead, isolated section."""
    dev = step.device
    section = topo.breakers[dev][1]
    if bay.disconnector != "open" and bay.has_disconnector:
        return say("{device}: no earthing while its disconnector is not proven open: open "
                   "it first", device=dev)
    if bay.line_live:
        return say("{device}: no earthing onto a live section: {section} reads live",
                   device=dev, section=section)
    feeding = []
    for b in topo.bounding(section):
        ob = state.bays.get(b)
        if ob is None or ob.breaker != "open":
            feeding.append(b)
    if feeding:
        return say("{device}: no earthing onto a live section: {section} can be fed "
                   "through {breakers} (not proven open)", device=dev, section=section,
                   breakers=", ".join(feeding))
    return None


def _door(step: Step, bay: Bay) -> str | None:
    """Prevention 5: the bay door unlocks only with the bay earthed and dead."""
    dev = step.device
    if not bay.has_earthing:
        return say("{device}: no entry into a live bay: the bay has no earthing switch to "
                   "prove it earthed", device=dev)
    why = (say("its earthing switch is not closed") if bay.earthing != "closed" else
           say("its outgoing side reads live") if bay.line_live else
           say("its breaker is not open") if bay.breaker != "open" else
           say("its disconnector is not open")
           if bay.has_disconnector and bay.disconnector != "open" else None)
    if why is not None:
        return say("{device}: no entry into a live bay: {why}", device=dev, why=why)
    return None


# ------------------------------------------------------------------------------------------
# the state a step leaves
# ------------------------------------------------------------------------------------------
_NEW = {"open": "open", "close": "closed", "unlock": "unlocked", "lock": "locked"}


def simulate(step: Step, state: PlantState, topo: Topology | None = None) -> PlantState:
    """The state after ``step``, for checking a ticket's next step on it. With ``topo``,
    the outgoing sides' voltage follows: a side the step cuts off from every supply
    reads dead, one it feeds reads live (a voltage the network does not explain, say a
    back-feed, stays)."""
    bay = state.bays.get(step.device)
    if bay is None:
        return state
    new = replace(bay, **{step.part: _NEW[step.action]})
    after = replace(state, bays={**state.bays, step.device: new})
    if topo is None or step.part not in ("breaker", "disconnector"):
        return after
    before_e = energised(state, topo, surely=False)
    after_e = energised(after, topo, surely=False)
    bays = dict(after.bays)
    for b, (_bus, feeds) in topo.breakers.items():
        x = bays.get(b)
        if x is None or x.line_live is None or topo.kind.get(feeds) == "source":
            continue
        live = feeds in after_e or (x.line_live and feeds not in before_e)
        if live != x.line_live:
            bays[b] = replace(x, line_live=live)
    return replace(after, bays=bays)


TEXTS: dict[str, str] = {
    "open {device} breaker": "断开 {device} 断路器",
    "close {device} breaker": "合上 {device} 断路器",
    "open {device} disconnector": "拉开 {device} 隔离开关",
    "close {device} disconnector": "合上 {device} 隔离开关",
    "open {device} earthing switch": "拉开 {device} 接地开关",
    "close {device} earthing switch": "合上 {device} 接地开关",
    "unlock {device} bay door": "解锁 {device} 柜门",
    "lock {device} bay door": "锁闭 {device} 柜门",
    "not confirmed: type the device id {device} again to operate it (got {typed})":
        "未确认：操作须再次输入设备编号 {device}（输入的是 {typed}）",
    "no breaker bay {device} in this network": "本网络中没有开关柜 {device}",
    "{device} has no disconnector": "{device} 没有隔离开关",
    "{device} has no earthing switch": "{device} 没有接地开关",
    "{device}: no good data from its relay ({why}): no switching on data that cannot be "
    "trusted": "{device}：保护装置数据无效（{why}）：数据不可信时不得操作",
    "{device}: its local/remote switch is at local: no remote switching":
        "{device}：就地/远方切换开关在就地位置：不得远方操作",
    "{device}: the bay door is unlocked (someone may be inside): lock it first":
        "{device}：柜门未闭锁（可能有人在内）：请先闭锁",
    "{device}: protection trip latched ({cause}): reset it first":
        "{device}：保护跳闸未复归（{cause}）：请先复归",
    "fast stage": "速动段", "instantaneous": "速断", "backup stage": "后备段",
    "breaker-failure backup": "断路器失灵后备", "undervoltage": "欠压",
    "code {n}": "代码 {n}",
    "{device}: its disconnector stands between its positions":
        "{device}：隔离开关位置不明（分合位均未到位）",
    "{device}: no disconnector moved under load: its breaker is not proven open":
        "{device}：防止带负荷拉合隔离开关：断路器未确认分开",
    "{device}: no closing onto an earthed section: its own earthing switch is closed":
        "{device}：防止带接地合闸：本柜接地开关在合位",
    "{device}: would energise {section}, whose earthing switch at {breaker} cannot be read":
        "{device}：将使 {section} 带电，而 {breaker} 处接地开关状态无法读取",
    "{device}: no closing onto an earthed section: {section} is earthed at {breaker}":
        "{device}：防止带接地合闸：{section} 已在 {breaker} 处接地",
    "{device}: would energise {sections}, located as faulted: it stays isolated until "
    "repaired": "{device}：将使 {sections} 带电，该区段已定位为故障区段：修复前保持隔离",
    "{device}: no earthing while its disconnector is not proven open: open it first":
        "{device}：隔离开关未确认拉开时不得接地：请先拉开隔离开关",
    "{device}: no earthing onto a live section: {section} reads live":
        "{device}：防止带电挂接地：{section} 有电压",
    "{device}: no earthing onto a live section: {section} can be fed through {breakers} "
    "(not proven open)": "{device}：防止带电挂接地：{section} 可经 {breakers} 受电（未确认分开）",
    "{device}: no entry into a live bay: the bay has no earthing switch to prove it earthed":
        "{device}：防止误入带电间隔：本柜无接地开关，无法确认已接地",
    "its earthing switch is not closed": "接地开关未合上",
    "its outgoing side reads live": "出线侧有电压",
    "its breaker is not open": "断路器未分开",
    "its disconnector is not open": "隔离开关未拉开",
    "{device}: no entry into a live bay: {why}": "{device}：防止误入带电间隔：{why}",
}
IDS = frozenset({"device", "section", "breaker"})
