"""The time-series server the uplink writes to, for the uplink tests and the site bench:
VictoriaMetrics started on a loopback port (a bench runs where only the package is
installed, so this lives in the package, not in ``tests/``)."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

BINARY = shutil.which("victoria-metrics")


class VictoriaMetrics:
    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert BINARY is not None
        self.proc = await asyncio.create_subprocess_exec(
            BINARY, f"-storageDataPath={self.data}", f"-httpListenAddr=127.0.0.1:{self.port}",
            "-search.latencyOffset=0s", "-retentionPeriod=100y", "-loggerLevel=ERROR",
            "-dedup.minScrapeInterval=1ms",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        async with asyncio.timeout(20):
            while not await asyncio.to_thread(self._healthy):  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                return bool(r.read().strip() == b"OK")
        except OSError:
            return False

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)
        self.proc = None

    def export(self, match: str = '{__name__=~"fixedsite_.*"}') -> list[dict[str, Any]]:
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).read()
        q = urllib.parse.quote(match)
        with urllib.request.urlopen(f"{self.url}/api/v1/export?match[]={q}", timeout=5) as r:
            return [json.loads(x) for x in r.read().decode().splitlines() if x.strip()]

    async def samples(self) -> dict[str, list[tuple[int, float]]]:
        series = await asyncio.to_thread(self.export)
        return {s["metric"]["__name__"] + "{" + s["metric"].get("equipment", "") + "}":
                list(zip(s["timestamps"], s["values"], strict=True)) for s in series}
