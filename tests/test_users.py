"""Users, roles and hashed passwords; the user command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fixedsite.users import LoginGuard, User, UserError, UserStore


def test_add_check_and_roles(tmp_path: Path) -> None:
    s = UserStore(tmp_path / "users.json")
    s.add("zhang", "operator", "correct horse")
    assert s.check("zhang", "correct horse") == User("zhang", "operator")
    assert s.check("zhang", "wrong horse!") is None
    assert s.check("nobody", "correct horse") is None
    op = User("zhang", "operator")
    assert op.may("viewer") and op.may("operator") and not op.may("engineer")
    raw = (tmp_path / "users.json").read_text()
    assert "correct horse" not in raw and json.loads(raw)["zhang"]["role"] == "operator"
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600


def test_passwd_persists_and_rules(tmp_path: Path) -> None:
    s = UserStore(tmp_path / "users.json")
    s.add("li", "engineer", "first-password")
    s.passwd("li", "second-password")
    again = UserStore(tmp_path / "users.json")
    assert again.check("li", "second-password") is not None
    assert again.check("li", "first-password") is None
    with pytest.raises(UserError, match="exists"):
        again.add("li", "viewer", "whatever12")
    with pytest.raises(UserError, match="unknown role"):
        again.add("wang", "god", "whatever12")
    with pytest.raises(UserError, match="shorter"):
        again.add("wang", "viewer", "short")
    with pytest.raises(UserError, match="letters"):
        again.add("wang li", "viewer", "whatever12")


def test_a_user_added_elsewhere_counts_at_once(tmp_path: Path) -> None:
    running = UserStore(tmp_path / "users.json")          # the controller's copy
    assert running.check("new", "brand-new-pw") is None
    UserStore(tmp_path / "users.json").add("new", "viewer", "brand-new-pw")  # the CLI
    assert running.check("new", "brand-new-pw") == User("new", "viewer")


def test_user_cli(tmp_path: Path) -> None:
    f = tmp_path / "users.json"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fixedsite", "user", *args, "--file",
                               str(f)], input=stdin, capture_output=True, text=True,
                              timeout=60)
    r = run("add", "zhao", "--role", "admin", "--password-stdin", stdin="s3cret-pass\n")
    assert r.returncode == 0 and "added as admin" in r.stdout
    assert "zhao" in run("list").stdout
    r = run("add", "zhao", "--password-stdin", stdin="another-pass\n")
    assert r.returncode == 2 and "exists" in r.stderr
    assert UserStore(f).check("zhao", "s3cret-pass") == User("zhao", "admin")


def test_role_of_follows_the_file(tmp_path: Path) -> None:
    running = UserStore(tmp_path / "users.json")
    UserStore(tmp_path / "users.json").add("sun", "engineer", "sun-password")
    assert running.role_of("sun") == "engineer"
    UserStore(tmp_path / "users.json").set_role("sun", "viewer")
    assert running.role_of("sun") == "viewer"
    UserStore(tmp_path / "users.json").remove("sun")
    assert running.role_of("sun") is None and running.role_of("never") is None
    with pytest.raises(UserError, match="no user"):
        running.set_role("zhang", "viewer")
    running.add("sun", "operator", "sun-password")
    with pytest.raises(UserError, match="unknown role"):
        running.set_role("sun", "god")


def test_login_guard_backs_off_then_locks_out() -> None:
    g = LoginGuard(max_failures=3, lockout_s=900.0)
    assert g.failed("x", 0.0) == (1, 1.0) and g.failed("x", 1.0) == (2, 2.0)
    assert g.locked_until("x", 2.0) is None
    assert g.failed("x", 3.0) == (3, 4.0)
    assert g.locked_until("x", 3.0) == 903.0 and g.locked_until("y", 3.0) is None
    assert g.locked_until("x", 903.0) is None               # the lockout ends
    assert g.failed("x", 904.0)[0] == 1                      # and the count starts again
    g.succeeded("x")
    assert g.failures("x") == 0
    for i in range(20):
        g.failed("x", 905.0 + i)
    assert g.failed("x", 930.0)[1] == g.backoff_max_s        # the back-off is capped


def test_login_guard_table_is_bounded() -> None:
    g = LoginGuard(max_failures=5, lockout_s=60.0)
    g.KEEP = 100
    for i in range(1000):
        g.failed(f"made-up-{i}", float(i) * 0.001)
    assert len(g._fails) <= 101
    assert g.failures("made-up-999") == 1                    # the newest are kept


def test_an_unreadable_user_file_lets_nobody_in_and_the_cli_says_why(tmp_path: Path) -> None:
    f = tmp_path / "users.json"
    running = UserStore(f)
    UserStore(f).add("qian", "operator", "qian-password")
    assert running.role_of("qian") == "operator"
    for junk in (b"\xff\xfe not json", b"[1, 2]", b'{"qian": {"role": "admin"}}'):
        f.write_bytes(junk)
        os.utime(f, (1.0, 1.0 + len(junk)))              # a new mtime each time
        assert running.role_of("qian") is None
        assert running.check("qian", "qian-password") is None
        with pytest.raises(UserError, match="not a readable user file"):
            UserStore(f)
