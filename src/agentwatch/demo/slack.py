"""A Slack stand-in: a local server speaking Slack's incoming-webhook protocol.

It answers as Slack does — ``POST /services/...`` with a JSON body (or the form field
``payload``) holding ``text`` and/or Block Kit ``blocks`` (or legacy ``attachments``)
gets ``200 ok``; a body that is not JSON gets ``400 invalid_payload``, one with nothing
to show ``400 no_text``, another path ``404 no_service`` — renders each message as plain
lines, hands it to ``on_message`` (the demo prints it in the terminal) and keeps it:
``GET /messages`` lists every message received, for the demo's test.

>>> slack = SlackStandIn(on_message=print).start()
>>> slack.webhook_url       # 'http://127.0.0.1:PORT/services/T0DEMO/B0DEMO/demo'
>>> slack.stop()
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["SlackMessage", "SlackStandIn", "render_message", "shorten_links"]

WEBHOOK_PATH = "/services/T0DEMO/B0DEMO/demo"
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_URL = re.compile(r"https?://[^\s)]+")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One message as received: when, on which webhook path, its body and its rendering."""

    received_at: float
    path: str
    payload: dict[str, Any]
    text: str


def _mrkdwn(text: str) -> str:
    """Slack's ``<url|label>`` links as ``label (url)``, ``*bold*`` as plain words."""
    return _BOLD.sub(r"\1", _BARE_LINK.sub(r"\1", _LINK.sub(r"\2 (\1)", text)))


def _field(obj: Any) -> str:
    """A section field, ``*Severity*\\ncritical``, as ``Severity: critical``."""
    label, _, value = _text_of(obj).partition("\n")
    return f"{label}: {value}" if value else label


def shorten_links(text: str, width: int = 72) -> str:
    """Each URL longer than ``width`` cut after its path (``http://h/graph?…``): for
    the terminal, where a dashboard URL holding four queries would fill the screen."""

    def cut(match: re.Match[str]) -> str:
        url = match.group(0)
        if len(url) <= width:
            return url
        head = url.split("?", 1)[0]
        return head + "?…" if len(head) < len(url) else url[:width] + "…"

    return _URL.sub(cut, text)


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return _mrkdwn(str(obj.get("text", "")))
    return _mrkdwn(str(obj or ""))


def _element(element: dict[str, Any]) -> str:
    if element.get("type") == "button":
        label, url = _text_of(element.get("text")), element.get("url")
        return f"[{label}] {url}" if url else f"[{label}]"
    if element.get("type") == "image":
        return str(element.get("alt_text", "image"))
    return _text_of(element)


def _block(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [_text_of(block.get("text")).upper()]
    if kind == "divider":
        return ["-" * 40]
    if kind == "context":
        return [" · ".join(_element(e) for e in block.get("elements", []))]
    if kind == "actions":
        return ["  ".join(_element(e) for e in block.get("elements", []))]
    lines = [_text_of(block["text"])] if block.get("text") else []
    if block.get("fields"):
        lines.append("  ".join(_field(field) for field in block["fields"]))
    if isinstance(block.get("accessory"), dict):
        lines.append(_element(block["accessory"]))
    return lines


def _attachment(attachment: dict[str, Any]) -> list[str]:
    lines = []
    title = attachment.get("title")
    if title:
        link = attachment.get("title_link")
        lines.append(f"{title} ({link})" if link else str(title))
    if attachment.get("text"):
        lines.append(_mrkdwn(str(attachment["text"])))
    lines += [
        f"{f.get('title')}: {_mrkdwn(str(f.get('value')))}" for f in attachment.get("fields", [])
    ]
    lines += [line for block in attachment.get("blocks", []) for line in _block(block)]
    return lines


def render_message(payload: dict[str, Any]) -> str:
    """The message as a person reads it in Slack, in plain lines."""
    lines = [line for block in payload.get("blocks") or [] for line in _block(block)]
    if not lines and payload.get("text"):
        lines.append(_mrkdwn(str(payload["text"])))
    lines += [line for item in payload.get("attachments") or [] for line in _attachment(item)]
    return "\n".join(line for line in lines if line.strip())


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any] | None:
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = urllib.parse.parse_qs(text).get("payload", [""])[0]
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class SlackStandIn:
    """The stand-in server on 127.0.0.1 (``port`` 0: a free one), in a background thread."""

    def __init__(
        self, *, port: int = 0, on_message: Callable[[SlackMessage], None] | None = None
    ) -> None:
        self.messages: list[SlackMessage] = []
        self.on_message = on_message
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-stand-in", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def receive(self, path: str, payload: dict[str, Any]) -> None:
        message = SlackMessage(time.time(), path, payload, render_message(payload))
        with self._lock:
            self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(message) for message in self.messages]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/messages":
                    self._answer(404, b"no_service", "text/plain")
                    return
                body = json.dumps({"messages": stand_in.listing()}).encode()
                self._answer(200, body, "application/json")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.startswith("/services/"):
                    self._answer(404, b"no_service", "text/plain")
                    return
                payload = _parse_body(raw, self.headers.get("Content-Type") or "")
                if payload is None:
                    self._answer(400, b"invalid_payload", "text/plain")
                    return
                if not (payload.get("text") or payload.get("blocks") or payload.get("attachments")):
                    self._answer(400, b"no_text", "text/plain")
                    return
                stand_in.receive(self.path, payload)
                self._answer(200, b"ok", "text/plain")

            def log_message(self, *args: object) -> None:
                pass

        return Handler
