"""The controller's own health as tags: ``controller.<part>.<signal>``.

A part that can fail quietly (a task, the scan, the audit log, the historian, the uplink)
says how it is in tags of the same store as the plant, so it is served, recorded and
alarmed (``alarms/model.py``) like any signal. The signals of each part are one table,
``equipment.CONTROLLER_SIGNALS``; this module defines them once per store and publishes
their values. Also here: the identity of a file, which the records compare to notice a
database removed or replaced under them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fixedsite.equipment import CONTROLLER_SIGNALS
from fixedsite.tags import Tag, TagMeta, TagStore


def health_tags(store: TagStore, part: str) -> dict[str, Tag]:
    """The ``controller.<part>.*`` tags of CONTROLLER_SIGNALS, defined once per store."""
    out = {}
    for sig, (kind, unit, desc) in CONTROLLER_SIGNALS[part].items():
        path = f"controller.{part}.{sig}"
        out[sig] = store[path] if path in store else store.define(
            path, TagMeta(unit=unit, description=desc, kind=kind))
    return out


class Health:
    """One part's health tags; publishing before ``attach`` does nothing, so a part works
    standalone (tests, the CLI's reading commands) as it does in a controller."""

    def __init__(self, part: str) -> None:
        self.part = part
        self._store: TagStore | None = None
        self._tags: dict[str, Tag] = {}

    def attach(self, store: TagStore) -> None:
        self._store, self._tags = store, health_tags(store, self.part)

    @property
    def attached(self) -> bool:
        return self._store is not None

    def publish(self, **values: Any) -> None:
        if self._store is not None:
            for sig, value in values.items():
                self._store.update(self._tags[sig], value)


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, None if it is gone: a file removed or replaced under
    an open database changes it, while writes through the old handle go on silently."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
