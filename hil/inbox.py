"""The site's people's phones and mailboxes, simulated: an SMTP server and one HTTP
server standing in for the DingTalk, WeCom and Feishu group robots, an on-premises SMS
gateway (SMSEagle's JSON-RPC) and a generic webhook, all on loopback.

What arrives is checked the way the real service would check it (a DingTalk robot with
a secret refuses a wrong signature; an SMS without an access token is refused) and kept,
in memory and, for the demo, one JSON line per message in ``inbox.jsonl``, so a test or a
person reads exactly what the controller sent. ``down`` makes a service refuse (HTTP
503, SMTP 451): a channel down and back, on demand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

SERVICES = ("smtp", "dingtalk", "wecom", "feishu", "sms", "webhook")


@dataclass
class Received:
    t: float
    via: str                 # one of SERVICES
    to: list[str]
    title: str
    body: str
    raw: dict[str, Any] = field(default_factory=dict)


class Inbox:
    def __init__(self, host: str = "127.0.0.1", smtp_port: int = 0, http_port: int = 0,
                 folder: Path | None = None, dingtalk_secret: str = "",
                 sms_token: str = "", smtp_user: str = "", smtp_password: str = "") -> None:
        self.host, self.smtp_port, self.http_port = host, smtp_port, http_port
        self.folder, self.dingtalk_secret, self.sms_token = folder, dingtalk_secret, \
            sms_token
        self.smtp_user, self.smtp_password = smtp_user, smtp_password
        self.received: list[Received] = []
        self.refused: list[tuple[str, str]] = []      # (service, why): bad requests
        self.down: set[str] = set()
        self._smtp: Any = None
        self._runner: web.AppRunner | None = None

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        from aiosmtpd.controller import Controller

        from fixedsite.hil.listen import check_port_free

        for port, what in ((self.smtp_port, "SMTP stand-in"), (self.http_port,
                                                               "HTTP stand-in")):
            if port:
                check_port_free(self.host, port, what)
        if not self.smtp_port:          # aiosmtpd checks its port by connecting to it
            import socket
            with socket.socket() as sock:
                sock.bind((self.host, 0))
                self.smtp_port = sock.getsockname()[1]
        auth: dict[str, Any] = {}
        if self.smtp_password:          # a relay that wants a login, over plain loopback
            auth = {"authenticator": self._login, "auth_require_tls": False}
        self._smtp = Controller(_SmtpHandler(self), hostname=self.host,
                                port=self.smtp_port, ready_timeout=10.0, **auth)
        self._smtp.start()
        app = web.Application()
        app.router.add_post("/robot/send", self._dingtalk)
        app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        app.router.add_post("/open-apis/bot/v2/hook/{token}/", self._feishu)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self._feishu)
        app.router.add_post("/jsonrpc/sms", self._sms)
        app.router.add_post("/hook/{name}", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.http_port)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _login(self, server: Any, session: Any, envelope: Any, mechanism: str,
               data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(data, LoginPassword) and \
            data.login.decode() == self.smtp_user and \
            data.password.decode() == self.smtp_password
        if not ok:
            self.refused.append(("smtp", "authentication failed"))
        return AuthResult(success=ok)

    async def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    # --- what arrived ----------------------------------------------------------------
    def keep(self, r: Received) -> None:
        self.received.append(r)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / "inbox.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")

    def of(self, via: str) -> list[Received]:
        return [r for r in self.received if r.via == via]

    def _refuse(self, service: str, why: str, status: int = 400) -> web.Response:
        self.refused.append((service, why))
        return web.json_response({"errcode": status, "errmsg": why}, status=status)

    async def _json(self, request: web.Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.read())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # --- the services ------------------------------------------------------------------
    async def _dingtalk(self, request: web.Request) -> web.Response:
        if "dingtalk" in self.down:
            return web.Response(status=503, text="robot unavailable")
        q = request.query
        if not q.get("access_token"):
            return self._refuse("dingtalk", "no access_token")
        if self.dingtalk_secret:
            ts, sign = q.get("timestamp", ""), q.get("sign", "")
            mac = hmac.new(self.dingtalk_secret.encode(),
                           f"{ts}\n{self.dingtalk_secret}".encode(), hashlib.sha256).digest()
            if not ts or unquote(sign) != base64.b64encode(mac).decode():
                return self._refuse("dingtalk", "sign not match")
            if abs(time.time() * 1000 - float(ts)) > 3600_000:
                return self._refuse("dingtalk", "timestamp too far from now")
        data = await self._json(request)
        text = (data or {}).get("text", {}).get("content") if data else None
        if not isinstance(text, str):
            return self._refuse("dingtalk", "no text.content")
        title, _, body = text.partition("\r\n")
        self.keep(Received(time.time(), "dingtalk",
                           list(data.get("at", {}).get("atMobiles", [])),  # type: ignore[union-attr]
                           title, body, data))  # type: ignore[arg-type]
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _wecom(self, request: web.Request) -> web.Response:
        if "wecom" in self.down:
            return web.Response(status=503)
        if not request.query.get("key"):
            return self._refuse("wecom", "no key")
        data = await self._json(request)
        content = None
        if data:
            part = data.get(data.get("msgtype", "text"), {})
            content = part.get("content") if isinstance(part, dict) else None
        if not isinstance(content, str):
            return self._refuse("wecom", "no content")
        title, _, body = content.partition("\n")
        self.keep(Received(time.time(), "wecom", [], title, body, data or {}))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _feishu(self, request: web.Request) -> web.Response:
        if "feishu" in self.down:
            return web.Response(status=503)
        data = await self._json(request)
        text = (data or {}).get("content", {}).get("text") if data else None
        if not isinstance(text, str):
            return self._refuse("feishu", "no content.text")
        title, _, body = text.partition("\n")
        self.keep(Received(time.time(), "feishu", [request.match_info["token"]], title,
                           body, data or {}))
        return web.json_response({"code": 0, "msg": "success"})

    async def _sms(self, request: web.Request) -> web.Response:
        if "sms" in self.down:
            return web.Response(status=503)
        data = await self._json(request)
        params = (data or {}).get("params", {}) if data else {}
        if not isinstance(params, dict) or not params.get("access_token"):
            return self._refuse("sms", "no access_token")
        if self.sms_token and params.get("access_token") != self.sms_token:
            return self._refuse("sms", "wrong access_token", 401)
        to = str(params.get("to", ""))
        self.keep(Received(time.time(), "sms", to.split(","), "", str(params.get(
            "message", "")), data or {}))
        return web.json_response({"result": {"message_id": len(self.received),
                                             "status": "ok"}})

    async def _webhook(self, request: web.Request) -> web.Response:
        if "webhook" in self.down:
            return web.Response(status=503)
        data = await self._json(request)
        if data is None:
            return self._refuse("webhook", "not JSON")
        self.keep(Received(time.time(), "webhook", [request.match_info["name"]],
                           str(data.get("title", "")), str(data.get("message", "")), data))
        return web.json_response({"ok": True})


class _SmtpHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if "smtp" in self.inbox.down:
            return "451 4.3.0 mailbox temporarily unavailable"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(("plain", "html"))
        body = part.get_content() if part is not None else ""
        self.inbox.keep(Received(time.time(), "smtp", list(envelope.rcpt_tos),
                                 str(msg.get("Subject", "")), str(body).strip(),
                                 {"from": envelope.mail_from}))
        return "250 OK"
