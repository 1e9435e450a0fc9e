"""The scheme's settings written to every relay and verified, scan by scan.

Each relay's settings (both groups, its subscriptions ``block_src0..3`` and
``link_ttl_ms``, as ``scheme.register_values`` computes them) are written once per
connection: at start, once the relay answers, and again when it answers after its data
went bad (a gateway or relay link lost: it may have been replaced or reset meanwhile).
Only the registers that differ are written, each verified by read-back through the
writer, then the whole set read back is compared: a restarted controller facing relays
already set writes nothing. A write is never made while the relay is picked up (a fault
being cleared must finish on the settings it started with): it waits for the drop-off.
A write that fails (refused, read back different) is tried again with a growing pause.

Once written for this connection, a setting that later differs (changed at the relay's
panel by an engineer) is reported, never overwritten in silence: ``<breaker>.settings``
says ``differs: <signals>`` and ``scheme.settings_ok`` turns false (the lead's alarm); the
command ``Rewrite`` (engineer role) writes the computed settings again.

Published: ``<system>.<breaker>.settings`` (text: ok, writing, differs: <signals>,
unknown, the last with the quality of the relay's data) and ``<system>.scheme.settings_ok``
(true when every relay is ok; false when one differs; held uncertain while relays are
being written or cannot be read, so an alarm on it waits rather than guessing).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from fixedsite.clock import Clock
from fixedsite.gate import Command, Decision
from fixedsite.io import Writer
from fixedsite.sequences.power.config import BreakerEq, PowerSystem
from fixedsite.sequences.power.scheme import SETTINGS, Scheme, differing, engineer, register_values
from fixedsite.systems import CommandArg, CommandSpec
from fixedsite.tags import NOT_READ, Quality, Tag, TagMeta, TagStore
from fixedsite.texts import say

log = logging.getLogger(__name__)

WRITES_PER_SCAN = 40        # all relays together: a fresh site is set over a few scans
RETRY_S, RETRY_MAX_S = 5.0, 120.0
WRITING = "writing"         # also the quality reason of settings_ok while relays are set

SETTINGS_COMMANDS = (
    CommandSpec("Rewrite", "rewrite", "engineer", "write the computed protection settings "
                "(both groups, subscriptions, time allowed to live) to a relay again, each "
                "verified by read-back; waits while the relay is picked up; needs the "
                "engineer role; answers what was written",
                (CommandArg("breaker", "string", "the breaker whose relay to rewrite, e.g. "
                            "Q111, or all (or *)"),)),
)


@dataclass
class _Relay:
    breaker: str
    want: dict[str, int]
    due: bool = True              # to be written on this connection
    retry_at: float = 0.0
    failures: int = 0
    errors: list[str] = field(default_factory=list)


class SettingsWriter:
    """Every relay's settings of one power system: written, verified, reported."""

    def __init__(self, sname: str, system: PowerSystem, store: TagStore, writer: Writer,
                 clock: Clock, scheme: Scheme | None = None) -> None:
        self.sname, self.store, self.writer, self.clock = sname, store, writer, clock
        self.path = f"{sname}.scheme"
        scheme = scheme or engineer(system)
        self.relays = {b: _Relay(b, register_values(r)) for b, r in scheme.relays.items()
                       if isinstance(system.equipment.get(b), BreakerEq)}
        self.tags: dict[str, Tag] = {b: store.define(f"{sname}.{b}.settings", TagMeta(
            kind="text", description="the relay's protection settings against the scheme: "
            "ok, writing, differs: <signals>, unknown")) for b in self.relays}
        self.ok_tag = store.define(f"{self.path}.settings_ok", TagMeta(
            kind="bool", description="every relay holds the settings the scheme computes"))
        self._lock = asyncio.Lock()
        self._budget = 0

    @property
    def published(self) -> list[Tag]:
        return [*self.tags.values(), self.ok_tag]

    def sig(self, breaker: str, signal: str) -> str:
        return f"{self.sname}.{breaker}.{signal}"

    def inputs(self, breaker: str) -> list[str]:
        return [self.sig(breaker, s) for s in (*SETTINGS, "picked_up")]

    def read(self, breaker: str) -> dict[str, object]:
        return {s: self.store.value(self.sig(breaker, s)) for s in SETTINGS}

    # --- the scan ------------------------------------------------------------------------
    async def scan(self) -> None:
        async with self._lock:
            self._budget = WRITES_PER_SCAN
            for r in self.relays.values():
                await self._relay(r)
        self._summary()

    async def _relay(self, r: _Relay) -> None:
        tag = self.tags[r.breaker]
        q, why = self.store.worst(self.inputs(r.breaker))
        if q is not Quality.GOOD:
            if q is Quality.BAD and not r.due:
                log.info("%s: relay %s lost; its settings are written again when it answers",
                         self.path, r.breaker)
                r.due, r.failures, r.retry_at = True, 0, 0.0
            self.store.update(tag, "unknown", q, why)
            return
        if not r.due:
            self._show(r)                    # written on this connection: report only
            return
        if self.clock.now() < r.retry_at:
            self._show(r, waiting=True)
            return
        await self._write(r, self._budget)

    async def _write(self, r: _Relay, budget: int | None) -> str:
        """Write what differs (at most ``budget`` registers, None: all), then compare the
        whole set read back; the outcome in words."""
        tag, b = self.tags[r.breaker], r.breaker
        if self.store.value(self.sig(b, "picked_up")) is not False:
            self.store.update(tag, WRITING)
            return say("{breaker}: picked up; its settings are written when it drops off",
                       breaker=b)
        todo = differing(r.want, self.read(b))
        r.errors = []
        written = 0
        for s in todo:
            if budget is not None and self._budget <= 0:
                break
            if self.store.value(self.sig(b, "picked_up")) is not False:
                break                        # a fault came: the rest waits for the drop-off
            self._budget -= 1
            res = await self.writer.write(self.sig(b, s), r.want[s])
            written += res.ok
            if not res.ok:
                r.errors.append(say("{signal}={value} not confirmed: {why}", signal=s,
                                    value=r.want[s], why=res.reason))
        left = differing(r.want, self.read(b))
        if not left:
            r.due, r.failures, r.retry_at = False, 0, 0.0
            self.store.update(tag, "ok")
            if written:
                log.info("%s: %s: %d settings written and read back", self.path, b, written)
            return say("{breaker}: {n} settings written and read back", breaker=b,
                       n=written) if written else \
                say("{breaker}: its settings are already the computed ones", breaker=b)
        if r.errors:
            r.failures += 1
            pause = min(RETRY_MAX_S, RETRY_S * 2 ** (r.failures - 1))
            r.retry_at = self.clock.now() + pause
            log.warning("%s: %s: settings not written (%s); next try in %.0f s", self.path,
                        b, "; ".join(r.errors), pause)
            self._show(r, waiting=True)
            return "; ".join(r.errors)
        self.store.update(tag, WRITING)      # the budget ran out: the rest next scan
        return say("{breaker}: {n} settings written, the rest follows", breaker=b,
                   n=written)

    def _show(self, r: _Relay, waiting: bool = False) -> None:
        left = differing(r.want, self.read(r.breaker))
        self.store.update(self.tags[r.breaker],
                          say("differs: {signals}", signals=",".join(left)) if left else
                          (WRITING if waiting else "ok"))

    def _summary(self) -> None:
        tags = list(self.tags.values())
        if all(t.good and t.value == "ok" for t in tags):
            self.store.update(self.ok_tag, True)
        elif any(t.good and str(t.value).startswith("differs") for t in tags):
            self.store.update(self.ok_tag, False)
        else:                                # not known yet: an alarm on it holds
            bad = [t for t in tags if not t.good]
            worst = min(bad, key=lambda t: t.quality) if bad else None
            self.store.update(self.ok_tag, False,
                              worst.quality if worst else Quality.UNCERTAIN,
                              (worst.reason or NOT_READ) if worst else WRITING)

    # --- the command ---------------------------------------------------------------------
    def targets(self, which: object) -> list[str] | str:
        """The relays a Rewrite names, or why it names none."""
        if not isinstance(which, str) or not which.strip():
            return say("give a breaker (e.g. Q111) or all")
        name = which.strip()
        if name.lower() in ("all", "*"):
            return list(self.relays)
        if name not in self.relays:
            return say("no breaker {breaker} in this system", breaker=name)
        return [name]

    async def rewrite(self, breakers: list[str]) -> tuple[bool, str]:
        """Write the computed settings to these relays now (a picked-up one when it drops
        off); whether all are verified, and what was done."""
        out, ok = [], True
        async with self._lock:
            for b in breakers:
                r = self.relays[b]
                if self.store.worst(self.inputs(b))[0] is not Quality.GOOD:
                    r.due, r.retry_at = True, 0.0
                    out.append(say("{breaker}: no good data from its relay; written when it "
                                   "answers", breaker=b))
                    ok = False
                    continue
                r.due, r.failures, r.retry_at = True, 0, 0.0
                out.append(await self._write(r, None))
                ok = ok and not r.due
        self._summary()
        return ok, "; ".join(out)


class SettingsHandler:
    """The gate's view of the settings: Rewrite."""

    def __init__(self, sw: SettingsWriter) -> None:
        self.sw = sw

    def check(self, cmd: Command) -> str | None:
        if cmd.action != "rewrite":
            return say("the protection scheme takes no {action} command",
                       action=repr(cmd.action))
        which = self.sw.targets(cmd.params.get("breaker"))
        return which if isinstance(which, str) else None

    async def execute(self, cmd: Command) -> Decision:
        which = self.sw.targets(cmd.params.get("breaker"))
        assert not isinstance(which, str)            # check() refused anything else
        ok, text = await self.sw.rewrite(which)
        return Decision(ok, text)


def published(sname: str, system: PowerSystem) -> dict[str, str]:
    """The tags the settings writer publishes, with their kinds."""
    out = {f"{sname}.{b}.settings": "text" for b, eq in system.equipment.items()
           if isinstance(eq, BreakerEq)}
    out[f"{sname}.scheme.settings_ok"] = "bool"
    return out


TEXTS: dict[str, str] = {
    "ok": "正常", WRITING: "正在写入",
    "differs: {signals}": "不一致：{signals}",
    "rewrite": "重写整定值",
    "{signal}={value} not confirmed: {why}": "{signal}={value} 写入未确认：{why}",
    "{breaker}: picked up; its settings are written when it drops off":
        "{breaker}：保护已启动；返回后再写入整定值",
    "{breaker}: {n} settings written and read back": "{breaker}：已写入 {n} 项整定值并回读确认",
    "{breaker}: its settings are already the computed ones":
        "{breaker}：整定值已与计算值一致",
    "{breaker}: {n} settings written, the rest follows":
        "{breaker}：已写入 {n} 项整定值，其余随后写入",
    "give a breaker (e.g. Q111) or all": "请指定断路器（例如 Q111），或 *（全部）",
    "no breaker {breaker} in this system": "本系统中没有断路器 {breaker}",
    "{breaker}: no good data from its relay; written when it answers":
        "{breaker}：保护装置数据无效；恢复应答后写入",
    "the protection scheme takes no {action} command": "保护方案不接受 {action} 命令",
}
IDS = frozenset({"signals", "breaker", "signal"})
