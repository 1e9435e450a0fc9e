"""The demo's simulated site as a process of its own.

The HIL stands for the PLCs and the plant: on a real bench it is another machine. In the
demo it was a task in the controller's event loop, and with three systems at x60 the
plants, their protocol servers, the controller and the console together needed more than
one core: values went stale and links timed out. As a child process (``fixedsite hil``
with the same config and clock anchor) it takes the second core, and the controller meets
it over the same sockets it would meet a real site over.

The child runs in a session of its own, so a Ctrl-C at the terminal reaches the demo only,
which stops its controller first and the plant after (the PLCs never see their master
vanish before the plant does); it dies with the demo if the demo is killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fixedsite.cli_args import CliError
from fixedsite.clock import ScaledClock
from fixedsite.config import SiteConfig

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0     # imports and the first load flows on a slow machine
STOP_TIMEOUT_S = 30.0       # it saves its plant on the way out
_PR_SET_PDEATHSIG = 1


def parent_watch() -> Callable[[], None] | None:
    """For ``preexec_fn``: the child gets SIGTERM when the demo's process ends, however it
    ends (Linux's parent-death signal); None where there is no such signal. ``prctl`` is
    looked up here, in the parent: between fork and exec a threaded parent's child must
    not take the loader's locks (``dlopen``), only make the call."""
    if not sys.platform.startswith("linux"):
        log.warning("the demo's children are not tied to it on %s: a demo killed "
                    "outright leaves them running", sys.platform)
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:          # in the child, between fork and exec
        if prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() != parent:  # the demo died before the signal was armed; the
            os._exit(1)             # demo's own SIGTERM handler is still in place here
    return arm


def hil_argv(config: Path, clock: ScaledClock, fresh: bool, scenario: Path | None,
             verbose: bool) -> list[str]:
    """``fixedsite hil`` on the same config and simulated time as the demo's controller."""
    argv = [sys.executable, "-m", "fixedsite"] + (["-v"] if verbose else []) + [
        "hil", "--config", str(config.resolve()), "--scale", repr(clock.scale),
        "--clock-anchor", repr(clock.anchor), "--plain", "--every", "60"]
    if fresh:
        argv.append("--fresh")
    if scenario is not None:
        argv += ["--scenario", str(scenario.resolve())]
    return argv


class HilProcess:
    """A ``fixedsite hil`` child: started and proven ready, or refused with its words; once
    running, watched: a site that ends by itself ends the demo, saying why."""

    def __init__(self, cfg: SiteConfig, argv: Sequence[str], log_path: Path) -> None:
        self.cfg = cfg
        self.argv = list(argv)
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.died: str | None = None        # why it ended by itself, if it did
        self.unclean: str | None = None     # why its stop was not clean, if it was not
        self._offset = 0                    # where this run's lines start in the log
        self._stopping = False
        self._ready = False
        self._watch: asyncio.Task[None] | None = None

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Spawn and wait until it answers ready with its own pid (True); ``stop`` set
        meanwhile (Ctrl-C at the terminal) stops it (False)."""
        from fixedsite.hil.control import NoHil, request
        from fixedsite.hil.site import control_path

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self._offset = out.tell()
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.argv)}\n"
                      .encode())
            out.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, preexec_fn=parent_watch())
        path = control_path(self.cfg)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.returncode is not None:
                raise CliError(f"the simulated site did not start: {self._last_words()}")
            if stop is not None and stop.is_set():
                await self.stop()
                return False
            try:
                answer = await asyncio.to_thread(request, path, {"op": "status"}, 2.0)
            except (NoHil, OSError):
                answer = None
            if answer is not None and answer.get("pid") == self.proc.pid \
                    and answer.get("ready"):
                self._ready = True
                return True         # ours (another HIL on this storage makes ours refuse), and
                                # every PLC served (a port taken ends it before ready)
            if time.monotonic() > deadline:
                await self.stop()
                raise CliError(f"the simulated site did not answer on {path} within "
                               f"{START_TIMEOUT_S:g} s (its log: {self.log_path})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 0.2)

    def watch(self, stop: asyncio.Event) -> None:
        """From now on a site that ends by itself (a crash, a kill) sets ``stop``: the
        demo's controller must not go on supervising a plant that is not there."""
        self._watch = asyncio.create_task(self._watched(stop), name="hil-watch")

    async def _watched(self, stop: asyncio.Event) -> None:
        assert self.proc is not None
        await self.proc.wait()
        if not self._stopping:
            self.died = f"the simulated site ended by itself: {self._last_words()}"
            log.error("%s", self.died)
            stop.set()

    def _last_words(self) -> str:
        """The child's own refusal (``fixedsite hil: ...``) in this run's part of its log,
        else its exit code and where the log is."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._offset)
                lines = f.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            if line.startswith("fixedsite hil: "):
                return line.removeprefix("fixedsite hil: ")
        return f"it exited with code {self.proc.returncode if self.proc else '?'} (its " \
               f"log: {self.log_path})"

    async def stop(self) -> None:
        """SIGTERM, and time to save its plant; killed if it will not go. A site that
        did not end cleanly (killed, or failing on its way out) is kept in ``unclean``
        for the demo to say after everything is stopped (raised here, it would hide the
        error that is stopping the demo). One that never came up has said why already."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self.proc is None or self.died is not None:
            return
        await stop_child(self.proc, "the simulated site", STOP_TIMEOUT_S)
        if self._ready and self.proc.returncode != 0:
            self.unclean = f"the simulated site did not stop cleanly: {self._last_words()}"
            log.error("%s", self.unclean)


async def stop_child(proc: asyncio.subprocess.Process, what: str, timeout_s: float) -> None:
    """A child of the demo stopped (SIGTERM, then killed after ``timeout_s``) and reaped."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        log.warning("%s did not stop in %g s; killed", what, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
