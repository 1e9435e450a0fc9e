"""``fixedsite demo`` as the user starts it: the simulated site in a process of its own
(fixedsite/hil_process.py), the controller in the demo's. Real processes and signals:
the HIL child answers on its control socket with its own pid, a SIGTERM to the demo stops
the controller and then the HIL (which saves its plant), a HIL that refuses to start is
one line, and a demo killed outright does not leave its HIL behind."""

from __future__ import annotations

import os
import signal
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
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is not alive either
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


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
    """A fresh demo, once its HIL answers: (the demo, the HIL's pid, its socket)."""
    proc = demo("--fresh")
    sock = tmp_path / "var" / "hil.sock"
    until(lambda: hil_pid(sock) is not None, 120, "the HIL answering")
    child = hil_pid(sock)
    assert child is not None and child != proc.pid
    return proc, child, sock


def test_the_hil_runs_apart_and_a_sigterm_stops_both_in_order(
        demo: Callable[..., subprocess.Popen[str]], tmp_path: Path) -> None:
    proc, child, sock = running(demo, tmp_path)
    until(lambda: (tmp_path / "var" / "hil.log").exists(), 10, "the HIL's log")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out
    assert "Traceback" not in err
    assert not alive(child), "the HIL outlived the demo"
    assert not sock.exists()                                     # it stopped cleanly
    assert (tmp_path / "var" / "hil-state.json").exists()        # and saved its plant
    assert "plant state saved" in (tmp_path / "var" / "hil.log").read_text()


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
