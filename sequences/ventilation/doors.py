"""Air doors and regulating windows: their sequences and their command handlers.

A door is a ``transitions`` state machine declared as data below, scan-driven like the
drainage pump (sequences/drainage/pump.py): a command writes ``open_cmd``, each scan
checks the limit switches, and a movement not proven by its limit switch within
``door_timeout_s`` faults the door with the reason. The PLC sounds the horn and light for
the door's ``warn_s`` before it moves (both ways), refuses to open a door while another
door of its airlock is not closed and takes an obstructed door back where it came from.

The airlock interlock is checked here too, never left to the PLC alone: an open command
is refused with the reason while a partner door is not proven closed (both limit
switches read good, no open command standing), and a door that is opening when a partner
leaves its closed limit faults and withdraws its command.

A faulted door is left as the PLC leaves it, with nothing asked of it that would move it
again by itself: an open that failed is withdrawn (``open_cmd`` 0), a close obstructed is
held open (``open_cmd`` 1, where the PLC took the door back), so nothing moves on a
person in the doorway until an operator resets the door and commands it again.

A window follows its set-point ``position_sp``; reaching it within ``WINDOW_TOLERANCE_PCT``
inside ``window_timeout_s`` is proven, else the window faults and its set-point is put
where the window stands, so the actuator stops chasing it.

Bumpless restart for both: the first good scan adopts the state the plant is in (an open
door is "open", a door between its limits with an open command is "opening") and writes
nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from transitions.extensions.asyncio import AsyncMachine

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.ventilation import texts
from fixedsite.sequences.ventilation.config import DoorEq, VentilationControl, WindowEq
from fixedsite.systems import CommandArg, CommandSpec
from fixedsite.tags import Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

WINDOW_TOLERANCE_PCT = 2.0

# ----------------------------------------------------------------------------------------
# doors
# ----------------------------------------------------------------------------------------
DOOR_STATES = ["closed", "opening", "open", "closing", "fault"]
DOOR_MOVING = ("opening", "closing")
DOOR_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "open", "source": ["closed", "closing"], "dest": "opening"},
    {"trigger": "close", "source": ["open", "opening"], "dest": "closing"},
    {"trigger": "step", "source": "opening", "dest": "open", "conditions": "fb_opened"},
    {"trigger": "step", "source": "closing", "dest": "closed", "conditions": "fb_closed"},
    {"trigger": "fail", "source": DOOR_STATES, "dest": "fault"},
    {"trigger": "reset", "source": "fault", "dest": "closed", "conditions": "fb_closed"},
    {"trigger": "reset", "source": "fault", "dest": "open", "conditions": "fb_opened"},
]
# what each state writes on entry
DOOR_ENTRY_WRITES: dict[str, bool] = {"opening": True, "closing": False}
DOOR_REQUIRED = ("opened", "closed", "open_cmd")
# optional signals the sequence reads when the config maps them ("refused": the HIL's PLC
# says why it did not open; not (yet) in equipment.DOOR)
DOOR_OPTIONAL = ("warning", "obstructed", "fault", "refused")

_NEEDS_OPERATOR = "; needs the operator role; answers whether it was done and why"
DOOR_COMMANDS = (
    CommandSpec("Open", "open", "operator", "open the air door (the PLC sounds its horn and "
                "light first; refused while another door of its airlock is not proven "
                "closed)" + _NEEDS_OPERATOR),
    CommandSpec("Close", "close", "operator", "close the air door (after its warning)"
                + _NEEDS_OPERATOR),
    CommandSpec("Reset", "reset", "operator", "reset the door's fault once it stands at a "
                "limit switch and nothing obstructs it" + _NEEDS_OPERATOR),
)


class DoorSequence:
    """One air door of an airlock."""

    state: str

    def __init__(self, system: str, name: str, eq: DoorEq, ctl: VentilationControl,
                 store: TagStore, writer: Writer, clock: Clock) -> None:
        self.system, self.name, self.eq = system, name, eq
        self.airlock = eq.airlock
        self.path = f"{system}.{name}"
        self.ctl = ctl
        self.store, self.writer, self.clock = store, writer, clock
        self.partners: list[DoorSequence] = []     # the other doors of its airlock
        self.entered = clock.now()
        self.fault_reason = ""
        self.adopted = False
        self._write_error = ""
        self.state_tag = store.define(f"{self.path}.state", TagMeta(
            kind="text", description="the door's sequence: closed, opening, open, closing "
            "or fault"))
        self.reason_tag = store.define(f"{self.path}.fault_reason", TagMeta(
            kind="text", description="why the door's sequence faulted (empty when it has "
            "not)"))
        self.machine = AsyncMachine(model=self, states=DOOR_STATES,
                                    transitions=DOOR_TRANSITIONS, initial="closed",
                                    auto_transitions=False, after_state_change="_entered",
                                    ignore_invalid_triggers=True)

    # --- signals -------------------------------------------------------------------------
    def sig(self, name: str) -> str:
        return f"{self.path}.{name}"

    def mapped(self, name: str) -> bool:
        return self.sig(name) in self.store

    def v(self, name: str, default: Any = None) -> Any:
        """The signal's value if it is mapped and good, else ``default``."""
        tag = self.store.get(self.sig(name))
        return default if tag is None or tag.quality is not Quality.GOOD else tag.value

    @property
    def inputs(self) -> list[str]:
        """The signals the state is read from: it is no better than the worst of them."""
        return [self.sig(s) for s in DOOR_REQUIRED] + [
            self.sig(s) for s in DOOR_OPTIONAL if self.mapped(s)]

    @property
    def data_good(self) -> bool:
        return all(self.store[p].quality is Quality.GOOD for p in self.inputs)

    @property
    def published(self) -> list[Tag]:
        return [self.state_tag, self.reason_tag]

    # --- conditions ----------------------------------------------------------------------
    def fb_opened(self) -> bool:
        return self.v("opened") is True and self.v("closed") is False

    def fb_closed(self) -> bool:
        return self.v("closed") is True and self.v("opened") is False

    def proven_closed(self) -> bool:
        """Closed by both limit switches, read good, and nobody asking it to open: what a
        partner must be before this door may open."""
        return self.data_good and self.fb_closed() and self.v("open_cmd") is False \
            and self.state != "opening"

    def at_limit(self) -> bool:
        return self.fb_opened() or self.fb_closed()

    # --- state entry ---------------------------------------------------------------------
    async def _entered(self) -> None:
        self.entered = self.clock.now()
        self.store.update(self.state_tag, self.state)
        if self.state != "fault":
            self.fault_reason = ""
            self.store.update(self.reason_tag, "")
        want = DOOR_ENTRY_WRITES.get(self.state)
        if want is not None:
            res = await self.writer.write(self.sig("open_cmd"), want)
            if not res.ok:
                self._write_error = say("{signal}={value} not confirmed: {why}",
                                        signal="open_cmd", value=int(want), why=res.reason)

    async def fail_on_write_error(self) -> str:
        """A command the PLC did not confirm faults the door; its reason."""
        err, self._write_error = self._write_error, ""
        if err:
            await self._fail(err, hold=False if self.state == "opening" else None)
        return err

    async def _fail(self, reason: str, hold: bool | None) -> None:
        """Fault with ``reason``; ``hold``: the open command that leaves the door where the
        PLC leaves it (None: leave the command as it is)."""
        self.fault_reason = reason
        self.store.update(self.reason_tag, reason)
        log.warning("%s: fault: %s", self.path, reason)
        await self.fail()
        if hold is not None and self.v("open_cmd") is not hold:
            res = await self.writer.write(self.sig("open_cmd"), hold)
            if not res.ok:
                log.error("%s: open_cmd=%d not confirmed after the fault: %s", self.path,
                          int(hold), res.reason)

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        if not self.data_good:               # hold: never act on data we do not trust
            if self.state_tag.value is not None:
                self.store.derive(self.state_tag, self.inputs)
                self.store.derive(self.reason_tag, self.inputs)
            return
        for tag in (self.state_tag, self.reason_tag):
            if tag.quality is not Quality.GOOD and tag.value is not None:
                self.store.update(tag, tag.value)       # its inputs are good again
        if not self.adopted:
            self._adopt()
            return
        if await self.fail_on_write_error() or self.state == "fault":
            return
        if self.v("opened") and self.v("closed"):
            await self._fail(say("both limit switches of {door} are made", door=self.name),
                             hold=None)
            return
        if self.state in DOOR_MOVING:
            await self._moving()
        elif self.state == "closed" and not self.v("closed"):
            await self._fail(say("{door} left its closed limit without a command",
                                 door=self.name), hold=None)
        elif self.state == "open" and not self.v("opened"):
            await self._fail(say("{door} left its open limit without a command",
                                 door=self.name), hold=None)

    async def _moving(self) -> None:
        opening = self.state == "opening"
        if self.v("obstructed"):
            # the PLC takes the door back where it came from; ask nothing that would move
            # it again by itself once the way is clear
            await self._fail(say("{door} obstructed while {step}: the PLC took it back",
                                 door=self.name, step=self.state), hold=not opening)
            return
        if self.v("fault"):
            await self._fail(say("{door}: the PLC reports an actuator fault (travel "
                                 "timeout)", door=self.name), hold=False if opening else None)
            return
        if opening and self.v("refused"):
            await self._fail(say("{door} not opened: {why}", door=self.name,
                                 why=self._waiting_for()), hold=False)
            return
        if opening:
            for p in self.partners:
                if not p.proven_closed():
                    await self._fail(say("{partner} of airlock {airlock} is not proven "
                                         "closed while {door} opens", partner=p.name,
                                         airlock=self.airlock, door=self.name), hold=False)
                    return
        await self.step()
        if self.state not in DOOR_MOVING:
            return
        limit = self.ctl.door_timeout_s
        if self.clock.now() - self.entered > self.clock.guard_timeout(limit):
            await self._fail(say("{door} not {where} within {limit:.0f} s: {why}",
                                 door=self.name, where="open" if opening else "closed",
                                 limit=limit, why=self._waiting_for()),
                             hold=False if opening else None)

    def _waiting_for(self) -> str:
        if self.v("refused"):
            return say("the PLC refused to open it (a door of its airlock is not closed)")
        if self.v("closed"):
            return say("still at its closed limit")
        if self.v("opened"):
            return say("still at its open limit")
        return say("between its limit switches")

    def _adopt(self) -> None:
        """First good scan after (re)start: take the door as it stands; write nothing (a
        command in progress is the PLC's to finish, and this scan's checks follow)."""
        self.adopted = True
        cmd = self.v("open_cmd")
        if self.v("opened") and self.v("closed"):
            state, reason = "fault", say("both limit switches of {door} are made",
                                         door=self.name)
        elif self.v("obstructed"):
            state, reason = "fault", say("{door} obstructed while {step}: the PLC took it "
                                         "back", door=self.name,
                                         step="opening" if cmd else "closing")
        elif self.fb_opened():
            state, reason = ("open" if cmd else "closing"), ""
        elif self.fb_closed():
            state, reason = ("opening" if cmd else "closed"), ""
        elif self.v("fault"):
            state, reason = "fault", say("{door}: the PLC reports an actuator fault (travel "
                                         "timeout)", door=self.name)
        else:
            state, reason = ("opening" if cmd else "closing"), ""
        self.machine.set_state(state)
        self.entered = self.clock.now()
        self.fault_reason = reason
        self.store.update(self.state_tag, state)
        self.store.update(self.reason_tag, reason)
        log.info("%s: adopted door state %s", self.path, state)


def link_airlocks(doors: list[DoorSequence]) -> None:
    """Each door learns the other doors of its airlock (the interlock it checks)."""
    for d in doors:
        d.partners = [p for p in doors if p is not d and p.airlock == d.airlock]


class DoorHandler:
    """The gate's view of a door: the airlock interlock and the door's state."""

    def __init__(self, seq: DoorSequence) -> None:
        self.seq = seq

    def check(self, cmd: Command) -> str | None:
        s, name = self.seq, self.seq.name
        if cmd.action not in ("open", "close", "reset"):
            return say("{door} takes no {action} command", door=name, action=repr(cmd.action))
        if not s.data_good:
            return say("{door} state unknown (no good data from its PLC); no command until "
                       "it answers", door=name)
        if cmd.action == "reset":
            if s.state != "fault":
                return say("{door} is not faulted", door=name)
            if s.v("obstructed"):
                return say("{door} is still obstructed", door=name)
            if not s.at_limit():
                return say("{door} stands between its limit switches: bring it to a limit "
                           "at the door first", door=name)
            return None
        if s.state == "fault":
            return say("{door} is faulted ({why}); reset it first", door=name,
                       why=s.fault_reason)
        if cmd.action == "open" and s.state not in ("open", "opening"):
            for p in s.partners:
                if not p.data_good:
                    return say("{partner} of airlock {airlock} reads no good data: {door} "
                               "may not open", partner=p.name, airlock=s.airlock, door=name)
                if not p.proven_closed():
                    return say("{partner} of airlock {airlock} is not closed ({state}): "
                               "{door} may not open", partner=p.name, airlock=s.airlock,
                               door=name, state=p.state)
        return None

    async def execute(self, cmd: Command) -> Decision:
        s = self.seq
        if cmd.action == "reset":
            hold = s.fb_opened()      # the command matching where it stands: nothing moves
            if s.v("open_cmd") is not hold:
                res = await s.writer.write(s.sig("open_cmd"), hold)
                if not res.ok:
                    return Decision(False, say("{signal}={value} not confirmed: {why}",
                                               signal="open_cmd", value=int(hold),
                                               why=res.reason))
            await s.reset()
            return Decision(s.state != "fault", say("now {state}", state=s.state))
        if cmd.action == "open":
            if s.state in ("open", "opening"):
                return Decision(True, say("already open or opening"))
            await s.open()
        else:
            if s.state in ("closed", "closing"):
                return Decision(True, say("already closed or closing"))
            await s.close()
        err = await s.fail_on_write_error()
        if err:
            return Decision(False, err)
        return Decision(True, say("now {state} (commands read back)", state=s.state))


# ----------------------------------------------------------------------------------------
# regulating windows
# ----------------------------------------------------------------------------------------
WINDOW_STATES = ["in_position", "moving", "fault"]
WINDOW_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "set", "source": ["in_position", "moving"], "dest": "moving"},
    {"trigger": "step", "source": "moving", "dest": "in_position",
     "conditions": "fb_in_position"},
    {"trigger": "fail", "source": WINDOW_STATES, "dest": "fault"},
    {"trigger": "reset", "source": "fault", "dest": "in_position",
     "conditions": "fb_in_position"},
]
WINDOW_REQUIRED = ("position_sp", "position")

WINDOW_COMMANDS = (
    CommandSpec("Set", "set", "operator", "set the regulating window's opening; it is "
                f"proven within {WINDOW_TOLERANCE_PCT:g} % of it" + _NEEDS_OPERATOR,
                (CommandArg("position", "double", "the opening in % of full, 0 (shut) to "
                            "100 (fully open), e.g. 45.0"),)),
    CommandSpec("Reset", "reset", "operator", "reset the window's fault once its actuator "
                "reports none" + _NEEDS_OPERATOR),
)


class WindowSequence:
    """One regulating window: an opening set remotely, proven by its position."""

    state: str

    def __init__(self, system: str, name: str, eq: WindowEq, ctl: VentilationControl,
                 store: TagStore, writer: Writer, clock: Clock) -> None:
        self.system, self.name, self.eq = system, name, eq
        self.path = f"{system}.{name}"
        self.ctl = ctl
        self.store, self.writer, self.clock = store, writer, clock
        self.target: float | None = None          # the opening asked, %
        self.entered = clock.now()
        self.fault_reason = ""
        self.adopted = False
        self.state_tag = store.define(f"{self.path}.state", TagMeta(
            kind="text", description="the window's sequence: in_position, moving or fault"))
        self.reason_tag = store.define(f"{self.path}.fault_reason", TagMeta(
            kind="text", description="why the window's sequence faulted (empty when it "
            "has not)"))
        self.machine = AsyncMachine(model=self, states=WINDOW_STATES,
                                    transitions=WINDOW_TRANSITIONS, initial="in_position",
                                    auto_transitions=False, after_state_change="_entered",
                                    ignore_invalid_triggers=True)

    def sig(self, name: str) -> str:
        return f"{self.path}.{name}"

    def mapped(self, name: str) -> bool:
        return self.sig(name) in self.store

    def v(self, name: str, default: Any = None) -> Any:
        tag = self.store.get(self.sig(name))
        return default if tag is None or tag.quality is not Quality.GOOD else tag.value

    @property
    def inputs(self) -> list[str]:
        return [self.sig(s) for s in WINDOW_REQUIRED] + (
            [self.sig("fault")] if self.mapped("fault") else [])

    @property
    def data_good(self) -> bool:
        return all(self.store[p].quality is Quality.GOOD for p in self.inputs)

    @property
    def published(self) -> list[Tag]:
        return [self.state_tag, self.reason_tag]

    def fb_in_position(self) -> bool:
        pos = self.v("position")
        return pos is not None and self.target is not None and \
            abs(pos - self.target) <= WINDOW_TOLERANCE_PCT

    async def _entered(self) -> None:
        self.entered = self.clock.now()
        self.store.update(self.state_tag, self.state)
        if self.state != "fault":
            self.fault_reason = ""
            self.store.update(self.reason_tag, "")

    async def _fail(self, reason: str) -> None:
        """Fault with ``reason`` and stop the actuator chasing its set-point: the set-point
        is put where the window stands (if its position reads good)."""
        self.fault_reason = reason
        self.store.update(self.reason_tag, reason)
        log.warning("%s: fault: %s", self.path, reason)
        await self.fail()
        pos = self.v("position")
        if pos is None:
            return
        here = round(float(pos), 1)
        self.target = here
        if self.v("position_sp") != here:
            res = await self.writer.write(self.sig("position_sp"), here)
            if not res.ok:
                log.error("%s: position_sp=%s not confirmed after the fault: %s", self.path,
                          here, res.reason)

    async def move_to(self, position: float) -> str:
        """Write the set-point and start proving it; the reason if the PLC did not take it."""
        res = await self.writer.write(self.sig("position_sp"), position)
        if not res.ok:
            err = say("{signal}={value} not confirmed: {why}", signal="position_sp",
                      value=position, why=res.reason)
            await self._fail(err)
            return err
        back = res.value       # what the PLC holds, to its resolution (0.1 %)
        self.target = float(back) if isinstance(back, int | float) and \
            not isinstance(back, bool) else position
        await self.set()
        self.entered = self.clock.now()          # a new set-point: its own time to reach
        return ""

    async def scan(self) -> None:
        if not self.data_good:
            if self.state_tag.value is not None:
                self.store.derive(self.state_tag, self.inputs)
                self.store.derive(self.reason_tag, self.inputs)
            return
        for tag in (self.state_tag, self.reason_tag):
            if tag.quality is not Quality.GOOD and tag.value is not None:
                self.store.update(tag, tag.value)
        if not self.adopted:
            self._adopt()
            return
        if self.state == "fault":
            return
        sp = float(self.v("position_sp"))
        if self.target is None or abs(sp - self.target) > 0.05:
            # the set-point changed without us (the PLC's fallback, a panel): follow it
            log.info("%s: set-point %.1f %% not ours; following it", self.path, sp)
            self.target = sp
            self.machine.set_state("moving")
            self.entered = self.clock.now()
            self.store.update(self.state_tag, "moving")
        if self.v("fault"):
            await self._fail(say("{window}: the PLC reports an actuator fault (travel "
                                 "timeout)", window=self.name))
            return
        if self.state == "in_position" and not self.fb_in_position():
            self.machine.set_state("moving")      # drifted: it must come back in time
            self.entered = self.clock.now()
            self.store.update(self.state_tag, "moving")
        if self.state == "moving":
            await self.step()
        limit = self.ctl.window_timeout_s
        if self.state == "moving" and \
                self.clock.now() - self.entered > self.clock.guard_timeout(limit):
            await self._fail(say("{window} not at {sp:.1f} % within {limit:.0f} s: it "
                                 "stands at {pos:.1f} %", window=self.name, sp=self.target,
                                 limit=limit, pos=self.v("position")))

    def _adopt(self) -> None:
        self.adopted = True
        self.target = float(self.v("position_sp"))
        if self.v("fault"):
            state = "fault"
            self.fault_reason = say("{window}: the PLC reports an actuator fault (travel "
                                    "timeout)", window=self.name)
        else:
            state = "in_position" if self.fb_in_position() else "moving"
            self.fault_reason = ""
        self.machine.set_state(state)
        self.entered = self.clock.now()
        self.store.update(self.state_tag, state)
        self.store.update(self.reason_tag, self.fault_reason)
        log.info("%s: adopted window state %s at set-point %.1f %%", self.path, state,
                 self.target)


def window_position(params: dict[str, Any]) -> float | None:
    """The asked opening if it is a finite number from 0 to 100, else None."""
    p = params.get("position")
    if isinstance(p, bool) or not isinstance(p, int | float):
        return None
    if not math.isfinite(p) or not 0.0 <= p <= 100.0:
        return None
    return float(p)


class WindowHandler:
    def __init__(self, seq: WindowSequence) -> None:
        self.seq = seq

    def check(self, cmd: Command) -> str | None:
        s, name = self.seq, self.seq.name
        if cmd.action not in ("set", "reset"):
            return say("{window} takes no {action} command", window=name,
                       action=repr(cmd.action))
        if not s.data_good:
            return say("{window} state unknown (no good data from its PLC); no command "
                       "until it answers", window=name)
        if cmd.action == "reset":
            if s.state != "fault":
                return say("{window} is not faulted", window=name)
            if s.v("fault"):
                return say("{window}: its actuator still reports a fault", window=name)
            return None
        if s.state == "fault":
            return say("{window} is faulted ({why}); reset it first", window=name,
                       why=s.fault_reason)
        if window_position(cmd.params) is None:
            return say("a window's position is a number from 0 to 100 (%); got {got}",
                       got=repr(cmd.params.get("position")))
        return None

    async def execute(self, cmd: Command) -> Decision:
        s = self.seq
        if cmd.action == "reset":
            pos = s.v("position")
            s.target = None if pos is None else round(float(pos), 1)
            if s.target is not None and s.v("position_sp") != s.target:
                res = await s.writer.write(s.sig("position_sp"), s.target)
                if not res.ok:
                    return Decision(False, say("{signal}={value} not confirmed: {why}",
                                               signal="position_sp", value=s.target,
                                               why=res.reason))
            await s.reset()
            return Decision(s.state != "fault", say("now {state}", state=s.state))
        position = window_position(cmd.params)
        assert position is not None                  # check() refused anything else
        err = await s.move_to(position)
        if err:
            return Decision(False, err)
        return Decision(True, say("{window} moving to {sp:.1f} % (set-point read back)",
                                  window=s.name, sp=position))


# ----------------------------------------------------------------------------------------
# what the lead declares
# ----------------------------------------------------------------------------------------
def published(sname: str, system: Any) -> dict[str, str]:
    """The tags these sequences publish for one ventilation system, with their kinds."""
    out: dict[str, str] = {}
    for ename, eq in system.equipment.items():
        if eq.type in ("door", "window"):
            out[f"{sname}.{ename}.state"] = "text"
            out[f"{sname}.{ename}.fault_reason"] = "text"
    return out


IDS = texts.DOORS_IDS          # (kept with ventilation's texts: read without this module)
TEXTS = texts.DOORS
