"""The demo site on free loopback ports, for tests and benches: the demo config
(``configs/demo-mine.toml``) with its PLCs and OPC UA endpoint moved to ports nobody
uses, its clock scale set, and lines replaced. A bench runs where only the package is
installed, so this lives in the package, not in ``tests/``."""

from __future__ import annotations

import re
import socket
import tomllib

from fixedsite.config import DEMO_CONFIG, SiteConfig, parse

DEMO_TEXT = DEMO_CONFIG.read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_text(port: int, scale: float = 60.0, plan: bool = False, relay: bool = False,
              **replace: str) -> str:
    """The demo config with its (first) PLC on ``port`` and ``key = value`` lines replaced;
    without its pump plans unless asked (most tests are about the level rule and the
    sequences), and without the lower pump room unless ``relay``."""
    text = DEMO_TEXT
    if not relay:
        text, n = re.subn(r"(?ms)^# ---- relay pumping:.*?^# ---- end of the lower pump room"
                          r"[^\n]*\n", "", text)
        assert n == 1, "no lower pump room in the demo config"
    ports = iter([port])
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {next(ports, None) or free_port()}",
                  text)
    if not plan:
        text, n = re.subn(r"(?ms)^\[systems\.(\w+)\.plan\]\n.*?(?=^(\[|# ----))", "",
                          text)
        assert n == (2 if relay else 1), "no [systems.*.plan] in the demo config"
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {scale}", text)
    text = re.sub(r"(?m)^endpoint = \"opc\.tcp://127\.0\.0\.1:\d+",
                  f'endpoint = "opc.tcp://127.0.0.1:{free_port()}', text)
    for key, value in replace.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, f"no line '{key} = ...' in the demo config"
    return text


def demo_config(port: int, scale: float = 60.0, plan: bool = False, relay: bool = False,
                **replace: str) -> SiteConfig:
    return parse(tomllib.loads(demo_text(port, scale, plan, relay, **replace)),
                 "demo-test.toml")
