"""Driving a running HIL from outside: the small local channel faults (``hil/faults.py``)
and status requests arrive by.

The channel is a Unix socket in the storage dir (``hil.sock``, mode 0600: only the user
running the HIL may drive it), one JSON object a line each way. Whatever arrives, the
answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a bad request never
reaches the plant and never stops the HIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fixedsite.hil.faults import InjectError

log = logging.getLogger(__name__)

SOCKET_NAME = "hil.sock"
MAX_LINE = 64 * 1024          # a request longer than this is refused, not buffered
SUN_PATH_MAX = 107            # bytes of a Unix socket path (Linux: 108 with the NUL)


class HilError(RuntimeError):
    """The control channel cannot be opened (another HIL runs here, a path too long)."""


class NoHil(ConnectionError):
    """Nobody answers on the control socket: no HIL is running for this config."""


# --- the channel ------------------------------------------------------------------------
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    """The HIL's end of the channel: a Unix socket answering JSON lines with ``handle``."""

    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = Path(path)
        self.handle = handle
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        path = self.path
        if len(os.fsencode(path.absolute())) > SUN_PATH_MAX:
            raise HilError(f"control socket path too long for a Unix socket ({path}); "
                           "give [storage] dir a shorter path")
        path.parent.mkdir(parents=True, exist_ok=True)
        _claim(path)
        # bound in a fresh 0700 directory, made 0600 and only then moved into place: no
        # moment where another user could connect to it
        tmp = Path(tempfile.mkdtemp(prefix=".hil-", dir=path.parent))
        try:
            self._server = await asyncio.start_unix_server(self._client, path=tmp / "s",
                                                           limit=MAX_LINE)
            os.chmod(tmp / "s", 0o600)
            os.replace(tmp / "s", path)
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(tmp)
        log.info("HIL control socket at %s", path)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        self._server = None

    async def _client(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as e:
                    if not e.partial.strip():
                        return
                    line = e.partial                  # a last request without its newline
                except asyncio.LimitOverrunError:
                    await _send(writer, {"ok": False, "error": f"request longer than "
                                                               f"{MAX_LINE} bytes"})
                    return
                if not line.strip():
                    continue
                await _send(writer, await self._answer(line))
        except (ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            return {"ok": False, "error": f"not a JSON line: {type(e).__name__}"
                                          f"{': ' + str(e) if str(e) else ''}"[:300]}
        if not isinstance(request, dict):
            return {"ok": False, "error": "expected a JSON object such as "
                                          '{"op": "inject", "fault": ..., "target": ...}'}
        try:
            return await self.handle(request)
        except InjectError as e:
            return {"ok": False, "error": str(e)}
        except Exception as e:       # the plant keeps running whatever one request did
            log.exception("HIL control request %r", request)
            return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}


async def _send(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
    writer.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
    await writer.drain()


def _claim(path: Path) -> None:
    """Make way for our socket: a live HIL's socket is refused, a dead one's removed."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise HilError(f"{path} exists and is not a socket; move it away")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)        # left by a HIL that did not stop cleanly
            return
    raise HilError(f"another HIL is running with this storage dir (control socket {path})")


def request(path: Path, message: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a running HIL and return its answer; NoHil when none runs."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NoHil(f"no HIL is running for this config (nothing answers on {path})") \
                from e
        s.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        answer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        answer = None
    if not isinstance(answer, dict):
        raise NoHil(f"{path} answered {data[:80]!r}, not a HIL's answer")
    return answer
