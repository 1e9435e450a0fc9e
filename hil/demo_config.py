"""The demo site on free loopback ports, for tests and benches: the demo config
(``configs/demo-mine.toml``) with its PLCs and OPC UA endpoint moved to ports nobody
uses, its clock scale set, and lines replaced. A bench runs where only the package is
installed, so this lives in the package, not in ``tests/``."""

from __future__ import annotations

import re
import socket
import tomllib
from pathlib import Path

from fixedsite.config import DEMO_CONFIG, SiteConfig, parse

_INCLUDE = re.compile(r"(?m)^include = \[(.*)\]\s*(#.*)?\n")


def config_text(path: Path) -> str:
    """A config file's text with its ``include`` files written into it (their tables after
    its own), so that a test or bench can rewrite ports and figures in one text, as
    ``config.load`` would read the files together."""
    text = path.read_text(encoding="utf-8")
    m = _INCLUDE.search(text)
    if m is None:
        return text
    parts = [s.strip().strip('"') for s in m.group(1).split(",") if s.strip()]
    text = text[:m.start()] + text[m.end():]
    return text + "".join("\n" + (path.parent / p).read_text(encoding="utf-8")
                          for p in parts)


# the demo without its included ventilation: what most tests and benches run
DEMO_TEXT = _INCLUDE.sub("", DEMO_CONFIG.read_text(encoding="utf-8"))
# the main drainage's hydrological linkage, a part the demo leaves out (its station's PLC,
# boreholes, inflow meter, thresholds): demo_text(hydrology=True) adds it
HYDROLOGY_TEXT = (DEMO_CONFIG.parent / "drainage-hydrology.toml").read_text(encoding="utf-8")


# who is told of alarms, and the HIL's mail and chat stand-ins: demo_text(notify=True)
NOTIFY_TEXT = (DEMO_CONFIG.parent / "notify.toml").read_text(encoding="utf-8")


def notify_text() -> str:
    """configs/notify.toml on free ports (mail relay, robots' HTTP, acknowledgement
    endpoint), its secrets file named by its full path."""
    ports = {p: str(free_port()) for p in ("2525", "8480", "8470")}
    text = re.sub(r"\b(2525|8480|8470)\b", lambda m: ports[m.group(1)], NOTIFY_TEXT)
    return text.replace('secrets_file = "demo-secrets.toml"',
                        f'secrets_file = "{DEMO_CONFIG.parent / "demo-secrets.toml"}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_text(port: int, scale: float = 60.0, plan: bool = False, relay: bool = False,
              ventilation: bool = False, power: bool = False, compressed_air: bool = False,
              hoist: bool = False, hydrology: bool = False, notify: bool = False,
              **replace: str) -> str:
    """The demo config with its (first) PLC on ``port`` and ``key = value`` lines replaced;
    without its pump plans unless asked (most tests are about the level rule and the
    sequences), without the lower pump room unless ``relay``, without ventilation (its
    three S7 PLCs) unless ``ventilation``, without power (five gateways) unless ``power``
    without the compressor station unless ``compressed_air`` and without the hoists unless
    ``hoist``, without the drainage's hydrological linkage unless ``hydrology``, and
    without notification (and the HIL's stand-ins for it) unless ``notify``."""
    text = DEMO_TEXT + (HYDROLOGY_TEXT if hydrology else "") + "".join(
        "\n" + (DEMO_CONFIG.parent / f"{part}.toml").read_text(encoding="utf-8")
        for part, wanted in (("ventilation", ventilation), ("power", power),
                             ("compressed_air", compressed_air), ("hoist", hoist))
        if wanted)
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
    if notify:                       # after the ports above: its own are moved together
        text += "\n" + notify_text()
    text = re.sub(r"(?m)^endpoint = \"opc\.tcp://127\.0\.0\.1:\d+",
                  f'endpoint = "opc.tcp://127.0.0.1:{free_port()}', text)
    for key, value in replace.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, f"no line '{key} = ...' in the demo config"
    return text


def demo_config(port: int, scale: float = 60.0, plan: bool = False, relay: bool = False,
                ventilation: bool = False, power: bool = False, **replace: str
                ) -> SiteConfig:
    return parse(tomllib.loads(demo_text(port, scale, plan, relay, ventilation, power,
                                         **replace)), "demo-test.toml")


POWER_SITE = DEMO_CONFIG.parent / "power-site.toml"


def power_text(scale: float = 10.0, **replace: str) -> str:
    """The power site (configs/power-site.toml with configs/power.toml) on free ports, its
    clock at ``scale``, ``key = value`` lines replaced (first match)."""
    return _site_text(POWER_SITE, scale, **replace)


AIR_SITE = DEMO_CONFIG.parent / "compressed-air-site.toml"


def air_text(scale: float = 10.0, **replace: str) -> str:
    """The compressed-air site (configs/compressed-air-site.toml with its part) on free
    ports, its clock at ``scale``, ``key = value`` lines replaced (first match)."""
    return _site_text(AIR_SITE, scale, **replace)


HOIST_SITE = DEMO_CONFIG.parent / "hoist-site.toml"


def hoist_text(scale: float = 10.0, **replace: str) -> str:
    """The hoisting site (configs/hoist-site.toml with its part) on free ports, its clock
    at ``scale``, ``key = value`` lines replaced (first match)."""
    return _site_text(HOIST_SITE, scale, **replace)


def _site_text(site: Path, scale: float, **replace: str) -> str:
    text = config_text(site)
    text = re.sub(r"(?m)^port = \d+", lambda _: f"port = {free_port()}", text)
    text = re.sub(r"(?m)^scale = [0-9.]+", f"scale = {scale}", text)
    for key, value in replace.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, f"no line '{key} = ...' in {site.name}"
    return text
