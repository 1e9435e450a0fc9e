"""``fixedsite demo`` as the user starts it: the simulated site in a process of its own
(fixedsite/hil_process.py), the controller in the demo's. Real processes and signals:
the HIL child answers on its control socket with its own pid, a SIGTERM to the demo stops
the controller and then the HIL (which saves its plant), a HIL that refuses to start is
one line, and a demo killed outright does not leave its HIL behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixedsite.hil.control import NoHil, request
from fixedsite.hil.demo_config import demo_text, free_port

FIXEDSITE = Path(sys.executable).parent / "fixedsite"


def until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        # a zombie (exited, not yet reaped by its parent) is not alive either
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):     # reaped between the two
        return False


def lifecycle(var: Path) -> list[tuple[float, str]]:
    """The controller's starts and stops in its history, on the simulated clock."""
    if not (var / "history.db").exists():
        return []
    with contextlib.closing(sqlite3.connect(var / "history.db")) as db:
        return [(t, text) for t, text in db.execute(
            "SELECT t, text FROM events WHERE kind = 'lifecycle' ORDER BY t")]


def hil_pid(sock: Path) -> int | None:
    try:
        answer = request(sock, {"op": "status"}, 2.0)
    except (NoHil, OSError):
        return None
    pid = answer.get("pid")
    return pid if isinstance(pid, int) else None


@pytest.fixture
def site(tmp_path: Path) -> Path:
    config = tmp_path / "site.toml"
    config.write_text(demo_text(free_port()) + f'\n[storage]\ndir = "{tmp_path}/var"\n',
                      encoding="utf-8")
    return config


@pytest.fixture
def demo(site: Path, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> subprocess.Popen[str]:
        p = subprocess.Popen([str(FIXEDSITE), "demo", "--config", str(site), "--plain",
                              "--every", "3600", *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        started.append(p)
        return p
    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)             # reaped, its pipes closed


def running(demo: Callable[..., subprocess.Popen[str]], tmp_path: Path
            ) -> tuple[subprocess.Popen[str], int, Path]:
    """A fresh demo, once its HIL answers and its controller has started: (the demo, the
    HIL's pid, its socket)."""
    proc = demo("--fresh")
    sock = tmp_path / "var" / "hil.sock"
    until(lambda: hil_pid(sock) is not None, 120, "the HIL answering")
    child = hil_pid(sock)
    assert child is not None and child != proc.pid
    until(lambda: [e for _, e in lifecycle(tmp_path / "var")] == ["started"], 120,
          "the controller started")
    return proc, child, sock


def test_the_hil_runs_apart_and_a_sigterm_stops_both_in_order(
        demo: Callable[..., subprocess.Popen[str]], tmp_path: Path) -> None:
    proc, child, sock = running(demo, tmp_path)
    var = tmp_path / "var"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out
    assert "Traceback" not in err
    assert not alive(child), "the HIL outlived the demo"
    assert not sock.exists()                                     # it stopped cleanly
    assert "plant state saved" in (var / "hil.log").read_text()  # and saved its plant
    # in order, on the one simulated clock both share: the controller's stop is recorded
    # before the plant's last save (the PLCs never lose their master to a vanished plant)
    stopped = [t for t, e in lifecycle(var) if e == "stopped"]
    saved = json.loads((var / "hil-state.json").read_text())["sim_time"]
    assert len(stopped) == 1 and stopped[0] <= saved, (stopped, saved)


def test_a_hil_that_refuses_to_start_is_one_line_and_the_other_is_untouched(
        demo: Callable[..., subprocess.Popen[str]], site: Path, tmp_path: Path) -> None:
    """Another HIL already serves this storage dir: the demo's own child refuses, and the
    demo must say so, not take the other one's answer for its own child's."""
    other = subprocess.Popen([str(FIXEDSITE), "hil", "--config", str(site), "--plain",
                              "--every", "3600", "--fresh"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        sock = tmp_path / "var" / "hil.sock"
        until(lambda: hil_pid(sock) == other.pid, 120, "the other HIL answering")
        proc = demo()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, err
        assert err.strip() == ("fixedsite demo: the simulated site did not start: another "
                               f"HIL is running with this storage dir (control socket "
                               f"{sock})"), err
        assert hil_pid(sock) == other.pid
    finally:
        other.send_signal(signal.SIGTERM)
        other.wait(60)


def test_a_demo_killed_outright_takes_its_hil_with_it(
        demo: Callable[..., subprocess.Popen[str]], tmp_path: Path) -> None:
    proc, child, _ = running(demo, tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    until(lambda: not alive(child), 30, "the orphaned HIL gone")


def test_a_hil_that_ends_by_itself_ends_the_demo_saying_so(
        demo: Callable[..., subprocess.Popen[str]], tmp_path: Path) -> None:
    """The plant gone (crashed, killed): the controller must not go on supervising
    nothing and the demo must not end as if all were well."""
    proc, child, _ = running(demo, tmp_path)
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2, err
    assert err.strip().splitlines()[-1] == (
        "fixedsite demo: the simulated site ended by itself: it exited with code -9 (its "
        f"log: {tmp_path / 'var' / 'hil.log'})"), err
    assert [e for _, e in lifecycle(tmp_path / "var")] == ["started", "stopped"]


def test_a_hil_that_cannot_serve_a_plc_is_not_taken_as_started(
        tmp_path: Path) -> None:
    """The control socket answers before the PLCs' servers bind: a port taken ends the
    child after that. The demo waits for 'ready', so it refuses in one line instead of
    running a controller against a site that is not there."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        config = tmp_path / "site.toml"
        config.write_text(demo_text(port) + f'\n[storage]\ndir = "{tmp_path}/var"\n',
                          encoding="utf-8")
        proc = subprocess.run([str(FIXEDSITE), "demo", "--config", str(config), "--plain",
                               "--fresh"], capture_output=True, text=True, cwd=tmp_path,
                              timeout=180)
    finally:
        taken.close()
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line == ("fixedsite demo: the simulated site did not start: [Errno 98] Modbus "
                    f"server: port {port} on 127.0.0.1 is already in use (another server "
                    "listens there); give each simulated PLC its own port"), line
    assert lifecycle(tmp_path / "var") == []           # the controller never started


def test_the_demo_on_a_terminal_runs_its_console_apart_and_gives_the_terminal_back(
        site: Path, tmp_path: Path) -> None:
    """On a terminal the demo opens the console as a child: logged in over a pipe (the
    password in neither its environment nor its command line), and a SIGTERM to the demo
    ends the console the way a quit does, leaving the full-screen mode."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen([str(FIXEDSITE), "demo", "--config", str(site), "--fresh",
                             "--lang", "en"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=tmp_path, env=os.environ | {"TERM": "xterm-256color"},
                            start_new_session=True)
    os.close(slave)
    screen = bytearray()
    done = threading.Event()

    def drain() -> None:                 # a terminal nobody reads blocks its writers
        while True:                      # to the end: EIO once the last writer closed it
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                screen.extend(chunk)
            elif done.is_set():
                return
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        until(lambda: b"\x1b[?1049h" in screen, 120, "the console's full screen")

        def console() -> int | None:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children", encoding="ascii") as f:
                for pid in map(int, f.read().split()):
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        if b"\0console\0" in c.read():
                            return pid
            return None
        pid = console()
        assert pid is not None
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"FIXEDSITE_PASSWORD" not in f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[argv.index(b"--user") + 1] == b"demo" and b"--password" not in argv
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, bytes(screen[-2000:])
        assert not alive(pid), "the console outlived the demo"
        reader.join(30)                  # it ends at EIO: every byte the demo wrote read
        assert not reader.is_alive()
        tail = bytes(screen[screen.rfind(b"\x1b[?1049h"):])
        assert b"\x1b[?1049l" in tail, tail[-500:]          # the terminal given back
        assert b"stopped cleanly" in tail[tail.rfind(b"\x1b[?1049l"):]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        done.set()
        reader.join(30)
        os.close(master)
