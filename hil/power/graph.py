"""The power network as a graph: supplies, buses, cables and loads are nodes, breakers the
switchable edges between them, a cable end or a supply without a breaker a fixed edge.
Who is energised in a switching state, from which side each breaker is fed and each
node's breakers from its supply: pure, no pandapower, used for every state the HIL's
network computes and for what its relays report (a line side live, a bus dead).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from fixedsite.sequences.power.config import BreakerEq, PowerSystem


@dataclass(frozen=True)
class State:
    """A switching state: the breakers that conduct (closed, with their disconnector
    closed) and the supplies that are live."""

    closed: frozenset[str]
    live: frozenset[str]


class NetworkError(ValueError):
    """A config network that cannot be laid out (a breaker at a cable it is not at)."""


class Graph:
    """The network as nodes and edges (breakers switchable, the rest fixed), for who is
    energised and from which side: pure, no pandapower."""

    def __init__(self, system: PowerSystem) -> None:
        net = system.network
        self.kind: dict[str, str] = {}
        for k, ids in (("source", net.sources), ("bus", net.buses), ("line", net.lines),
                       ("load", net.loads)):
            for i in ids:
                self.kind[i] = k
        self.breakers: dict[str, tuple[str, str]] = {
            n: (eq.bus, eq.feeds) for n, eq in system.equipment.items()
            if isinstance(eq, BreakerEq)}
        for b, (bus, feeds) in self.breakers.items():
            if self.kind.get(bus) != "bus":
                raise NetworkError(f"equipment.{b}.bus: {bus!r} is not a bus of the network")
            if feeds not in self.kind:
                raise NetworkError(f"equipment.{b}.feeds: {feeds!r} is not in the network")
            if self.kind[feeds] == "line" and bus not in (net.lines[feeds].from_bus,
                                                          net.lines[feeds].to_bus):
                raise NetworkError(f"equipment.{b}: cable {feeds} does not end at {bus}")
        ends = set(self.breakers.values())
        self.fixed: list[tuple[str, str]] = []
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
        self.sources = list(net.sources)

    def feed(self, state: State) -> Feed:
        """Who is energised and how, breadth first from every live supply."""
        adj: dict[str, list[tuple[str, str | None]]] = {}
        for a, b in self.fixed:
            adj.setdefault(a, []).append((b, None))
            adj.setdefault(b, []).append((a, None))
        for brk, (a, b) in self.breakers.items():
            if brk in state.closed:
                adj.setdefault(a, []).append((b, brk))
                adj.setdefault(b, []).append((a, brk))
        path: dict[str, tuple[str, ...]] = {s: () for s in self.sources if s in state.live}
        queue = deque(sorted(path))
        upstream: dict[str, str] = {}
        while queue:
            node = queue.popleft()
            for nxt, brk in adj.get(node, ()):
                if brk is not None and brk not in upstream:
                    upstream[brk] = node
                if nxt not in path:
                    path[nxt] = path[node] + ((brk,) if brk else ())
                    queue.append(nxt)
        return Feed(frozenset(path), upstream, path)


@dataclass(frozen=True)
class Feed:
    """A state's energised nodes, the node each conducting breaker is fed from, and each
    energised node's breakers from its supply (supply first)."""

    energised: frozenset[str]
    upstream: Mapping[str, str]
    path: Mapping[str, tuple[str, ...]]
