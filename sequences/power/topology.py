"""The network as a graph the scheme, the fault location, restoration and the interlocks
all read: supplies, buses, cables and loads are nodes (the places a fault can be, but a
supply), breakers the switchable edges between them. A cable with no breaker at one end
is tied to that end's bus.

Everything here is a pure function of the config and the breakers' states, so the
controller, the HIL's bench and the ``power check`` verb reason about one network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fixedsite.sequences.power.config import BreakerEq, PowerSystem

Closed = Mapping[str, bool]


@dataclass(frozen=True)
class Feed:
    """How a node is supplied: from which source, through which breakers (source first)."""

    source: str
    breakers: tuple[str, ...]


@dataclass
class Topology:
    system: PowerSystem
    kind: dict[str, str] = field(default_factory=dict)          # node -> source|bus|line|load
    breakers: dict[str, tuple[str, str]] = field(default_factory=dict)   # id -> (bus, feeds)
    fixed: list[tuple[str, str]] = field(default_factory=list)  # edges without a breaker

    def __post_init__(self) -> None:
        net = self.system.network
        for k, ids in (("source", net.sources), ("bus", net.buses), ("line", net.lines),
                       ("load", net.loads)):
            for i in ids:
                self.kind[i] = k
        for name, eq in self.system.equipment.items():
            if isinstance(eq, BreakerEq):
                self.breakers[name] = (eq.bus, eq.feeds)
        ends = {(b, f) for b, f in self.breakers.values()}
        for sid, s in net.sources.items():
            if (s.bus, sid) not in ends:
                self.fixed.append((s.bus, sid))
        for lid, ln in net.lines.items():
            for bus in (ln.from_bus, ln.to_bus):
                if (bus, lid) not in ends:
                    self.fixed.append((bus, lid))
        for lid, ld in net.loads.items():
            if (ld.bus, lid) not in ends:
                self.fixed.append((ld.bus, lid))

    # ---- states
    def normal(self) -> dict[str, bool]:
        """Every breaker as the network is normally run: closed unless normally open."""
        return {b: not self.system.equipment[b].normally_open  # type: ignore[union-attr]
                for b in self.breakers}

    def _adjacent(self, node: str, closed: Closed) -> Iterable[tuple[str, str | None]]:
        for a, b in self.fixed:
            if a == node:
                yield b, None
            elif b == node:
                yield a, None
        for brk, (a, b) in self.breakers.items():
            if closed.get(brk, False):
                if a == node:
                    yield b, brk
                elif b == node:
                    yield a, brk

    def feeds(self, closed: Closed, live_sources: Iterable[str] | None = None,
              dead: Iterable[str] = ()) -> dict[str, Feed]:
        """Each energised node and how it is fed, breadth first from every live source
        (all by default); ``dead`` nodes (a faulted section left open) pass nothing on."""
        sources = list(self.system.network.sources if live_sources is None else live_sources)
        stop = set(dead)
        out: dict[str, Feed] = {}
        queue: deque[str] = deque()
        for s in sources:
            out[s] = Feed(s, ())
            queue.append(s)
        while queue:
            node = queue.popleft()
            if node in stop:
                continue
            for nxt, brk in self._adjacent(node, closed):
                if nxt in out or self.kind.get(nxt) == "source":
                    continue
                path = out[node].breakers + ((brk,) if brk else ())
                out[nxt] = Feed(out[node].source, path)
                queue.append(nxt)
        return out

    def path(self, node: str, closed: Closed) -> tuple[str, ...]:
        """The breakers between the supply and ``node``, supply first (empty if dead)."""
        f = self.feeds(closed).get(node)
        return f.breakers if f else ()

    def downstream(self, breaker: str, closed: Closed) -> list[str]:
        """Breakers fed through ``breaker`` (the ones whose pickup should block it)."""
        fs = self.feeds(closed)
        return sorted(b for b, (bus, feeds) in self.breakers.items()
                      if b != breaker and any(breaker in fs[n].breakers
                                              for n in (bus, feeds) if n in fs)
                      and breaker in self._path_of_breaker(b, fs))

    def _path_of_breaker(self, b: str, fs: Mapping[str, Feed]) -> tuple[str, ...]:
        bus, feeds = self.breakers[b]
        if bus in fs and b not in fs[bus].breakers:
            return fs[bus].breakers
        if feeds in fs:
            return fs[feeds].breakers
        return ()

    def level(self, breaker: str) -> int:
        """1 for a breaker next to a supply, +1 per breaker above it, as normally run (a
        normally open one: as if closed, from its bus)."""
        closed = self.normal() | {breaker: True}
        fs = self.feeds(closed)
        return len(self._path_of_breaker(breaker, fs)) + 1

    def sections(self) -> list[str]:
        """Where a fault can be: every bus, cable and load."""
        return [n for n, k in self.kind.items() if k != "source"]

    def bounding(self, section: str) -> list[str]:
        """The breakers that isolate ``section`` when open (fixed ties pass through)."""
        seen, todo, out = {section}, [section], set()
        while todo:
            n = todo.pop()
            for brk, (a, b) in self.breakers.items():
                if n in (a, b):
                    out.add(brk)
            for a, b in self.fixed:
                for x, y in ((a, b), (b, a)):
                    if x == n and y not in seen and self.kind.get(y) != "source":
                        seen.add(y)
                        todo.append(y)
        return sorted(out)

    def loads_behind(self, breaker: str, closed: Closed) -> list[str]:
        """The loads that lose supply when ``breaker`` opens (from its present state)."""
        before = self.feeds(closed)
        after = self.feeds(dict(closed) | {breaker: False})
        return sorted(n for n in before if self.kind[n] == "load" and n not in after)
