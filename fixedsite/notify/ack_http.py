"""The acknowledgement endpoint: the one-time link in a message, answered back.

``GET /ack/<token>`` shows the alarm(s) and a form; only ``POST`` acknowledges. Chat
apps (DingTalk, WeCom) and mail scanners fetch links to preview them: a GET that
acknowledged would stop the escalation before any person had read the message. The
token is the credential: 128 random bits, stored hashed, bound to the person it was
sent to, spent on first use, expiring; a wrong token learns nothing (one answer for
unknown, used and expired). The acknowledgement goes through the command gate as that
person, so it is checked, audited and recorded like one from the console.
"""

from __future__ import annotations

import html
import logging

from aiohttp import web

from fixedsite.notify.messages import stamp
from fixedsite.notify.notifier import Notifier

log = logging.getLogger(__name__)

MAX_NOTE = 2000
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>fixedsite</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:1em">{body}</body></html>"""
WORDS = {
    "en": {"gone": "This link is no longer valid (used, expired or unknown).",
           "for": "For {person}", "ack": "Acknowledge", "note": "What was done (optional)",
           "done": "Acknowledged by {person}: {alarms}. Escalation stopped.",
           "already": "Already closed, nothing to acknowledge.",
           "refused": "Not acknowledged: {why}. The link still works; or call the "
                      "dispatcher.", "big": "Too much text: at most {n} characters."},
    "zh_CN": {"gone": "此链接已失效（已使用、已过期或无效）。", "for": "通知对象：{person}",
              "ack": "确认报警", "note": "处理情况（可选）",
              "done": "{person} 已确认：{alarms}。升级通知已停止。",
              "already": "报警已关闭，无需确认。",
              "refused": "未能确认：{why}。链接仍然有效；也可联系调度室。",
              "big": "内容过长：最多 {n} 字。"},
}


class AckServer:
    def __init__(self, notifier: Notifier, host: str, port: int) -> None:
        self.notifier, self.host, self.port = notifier, host, port
        self._runner: web.AppRunner | None = None

    def _lang(self, person: str) -> str:
        p = self.notifier.n.people.get(person)
        lang = (p.lang if p and p.lang else None) or self.notifier.lang
        return "zh_CN" if lang == "zh_CN" else "en"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024)
        app.router.add_get("/ack/{token}", self._show)
        app.router.add_post("/ack/{token}", self._ack)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sock = site._server.sockets[0] if site._server else None  # type: ignore[union-attr]
        if sock is not None:
            self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _gone(self) -> web.Response:
        text = WORDS["zh_CN"]["gone"] + "<br>" + WORDS["en"]["gone"]
        return web.Response(text=PAGE.format(body=f"<p>{text}</p>"), status=404,
                            content_type="text/html")

    async def _show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = self.notifier.outbox.token(token)
        view = self.notifier.token_view(token)
        if found is None or view is None or found[3] is not None or \
                self.notifier.clock.now() > found[2]:
            return self._gone()
        person, eps = view
        w = WORDS[self._lang(person)]
        name = html.escape(self.notifier._name(person, self._lang(person)))
        engine = self.notifier.engine
        rows = []
        for e in eps:
            a = engine.alarms.get(e.alarm)
            text = (a.d.text_zh if self._lang(person) == "zh_CN" and a and a.d.text_zh
                    else a.d.text if a else e.alarm)
            state = "closed: " + e.closed if e.closed else (a.state if a else "?")
            rows.append(f"<li>P{e.priority} {stamp(e.raised)} {html.escape(text)} "
                        f"<small>({html.escape(state)})</small></li>")
        body = (f"<p>{w['for'].format(person=name)}</p><ul>{''.join(rows)}</ul>"
                f"<form method='post'><label>{w['note']}<br><textarea name='note' rows=3 "
                f"cols=40 maxlength={MAX_NOTE}></textarea></label><br>"
                f"<button type='submit'>{w['ack']}</button></form>")
        return web.Response(text=PAGE.format(body=body), content_type="text/html")

    async def _ack(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        view = self.notifier.token_view(token)
        lang = self._lang(view[0]) if view is not None else "zh_CN"
        w = WORDS[lang]
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:   # refused whole: a note is never cut
            return web.Response(text=PAGE.format(body=f"<p>{w['big'].format(n=MAX_NOTE)}"
                                                 "</p>"), status=413,
                                content_type="text/html")
        note = str(form.get("note", "")).strip()
        if len(note) > MAX_NOTE:
            return web.Response(text=PAGE.format(body=f"<p>{w['big'].format(n=MAX_NOTE)}"
                                                 "</p>"), status=413,
                                content_type="text/html")
        peer = request.remote or "?"
        ok, what = await self.notifier.ack_by_token(token, note, f"link from {peer}")
        if what.startswith("refused: ") and view is not None:
            text = w["refused"].format(why=html.escape(what.removeprefix("refused: ")))
            return web.Response(text=PAGE.format(body=f"<p>{text}</p>"), status=409,
                                content_type="text/html")
        if not ok or view is None:
            log.warning("acknowledgement link refused (%s) from %s", what, peer)
            return self._gone()
        person = view[0]
        name = html.escape(self.notifier._name(person, lang))
        text = w["done"].format(person=name, alarms=html.escape(what)) if what else \
            w["already"]
        return web.Response(text=PAGE.format(body=f"<p>{text}</p>"),
                            content_type="text/html")
