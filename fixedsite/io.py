"""How logic writes to the plant: one ``Writer`` interface, a driver or a soft backend.

Sequences and the command gate write named signals through a ``Writer`` and get back
a ``WriteResult`` that says whether the PLC holds the value (read back) and, if not,
why. The soft writer sets tags directly and records every write in order, so logic can
be dry-run on soft tags and tested by asserting the exact list of writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fixedsite.tags import TagStore


@dataclass(frozen=True, slots=True)
class WriteResult:
    ok: bool
    value: Any = None          # the value read back
    reason: str = ""


class Writer(Protocol):
    async def write(self, path: str, value: float | bool) -> WriteResult: ...


class SoftWriter:
    """Writes land in the tag store as they are; ``writes`` lists them in order."""

    def __init__(self, store: TagStore) -> None:
        self.store = store
        self.writes: list[tuple[str, float | bool]] = []
        self.refuse: dict[str, str] = {}     # path -> reason, to rehearse a failing write

    async def write(self, path: str, value: float | bool) -> WriteResult:
        self.writes.append((path, value))
        if path in self.refuse:
            return WriteResult(False, reason=self.refuse[path])
        self.store.set(path, value)
        return WriteResult(True, value)
