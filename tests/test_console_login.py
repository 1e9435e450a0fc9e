"""``fixedsite console`` with a wrong password against a real controller and OPC UA server
(issue 10, item 5): one clear line on the terminal and exit 2; what the OPC UA library
says while it connects and fails goes to the console's log file, not the terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from test_northbound import Site
from test_northbound import site as site  # noqa: F401  (the fixture: controller + server)

FIXEDSITE = Path(sys.executable).parent / "fixedsite"


async def console(site: Site, tmp_path: Path, user: str, password: str, lang: str = "en"
                  ) -> tuple[int, str, str]:
    """The command as typed in a terminal, in its own process (its logging set up as
    there), while this loop serves it."""
    env = {**os.environ, "FIXEDSITE_PASSWORD": password}
    proc = await asyncio.create_subprocess_exec(
        str(FIXEDSITE), "console", "--url", site.url, "--user", user, "--lang", lang,
        "--pki", str(tmp_path / "console"), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_wrong_password_is_one_line_and_exit_2(site: Site, tmp_path: Path) -> None:
    rc, out, err = await console(site, tmp_path, "op", "not-the-password")
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert lines == [f"fixedsite console: {site.url}: login refused for op: wrong user name "
                     "or password (or the user is locked out for a while)"], err
    assert "WARNING" not in err and "ERROR" not in err and "Traceback" not in err
    # what asyncua said is kept for whoever needs it, beside the console's certificate
    log = (tmp_path / "console" / "console.log").read_text(encoding="utf-8")
    assert "asyncua" in log
    # an unknown user reads the same: which of the two was wrong is not told
    rc, _, err = await console(site, tmp_path, "nobody", "x")
    assert rc == 2
    assert err.splitlines() == [f"fixedsite console: {site.url}: login refused for nobody: "
                                "wrong user name or password (or the user is locked out "
                                "for a while)"]
    # and in the console's Chinese
    rc, _, err = await console(site, tmp_path, "op", "x", lang="zh_CN")
    assert rc == 2
    assert err.splitlines() == [f"fixedsite console: {site.url}: op 登录被拒绝：用户名或密码"
                                "错误（或该用户已被暂时锁定）"]


async def test_no_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from conftest import free_port

    url = f"opc.tcp://127.0.0.1:{free_port()}/fixedsite/"
    env = {**os.environ, "FIXEDSITE_PASSWORD": "x"}
    proc = await asyncio.create_subprocess_exec(
        str(FIXEDSITE), "console", "--url", url, "--user", "op", "--lang", "en",
        "--pki", str(tmp_path / "console"), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fixedsite console: {url}: no answer")
    assert "WARNING" not in lines[0] and "Traceback" not in lines[0]
