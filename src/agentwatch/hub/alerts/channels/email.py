"""E-mail over SMTP: STARTTLS (or implicit TLS), a text and an HTML part.

``{name: mail, type: email, smtp_url: "smtp://smtp.example.com:587", from: ops@example.com,
to: [oncall@example.com], username: ops, password_file: /run/secrets/smtp}``.

``smtp://`` upgrades with STARTTLS; ``starttls: required`` (the default) refuses to send in
clear text, ``opportunistic`` uses it when offered, ``off`` never (a local relay).
``smtps://`` is TLS from the first byte. ``ca_file`` names the CA bundle that signs the
server's certificate, when it is not a public one. The ``Message-ID`` is derived from the
notification's idempotency key, so a mail client threads or drops the one repeat a crash
can cause. A 4xx SMTP reply is retried, a 5xx one is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import html
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

from ...config import Node, Secret
from ..message import STATUS_WORDS, Notification, alert_lines, link_labels
from .base import ChannelConfig, DeliveryError

__all__ = ["DEFAULT_RATE", "EmailChannel", "EmailOptions", "compose", "parse"]

DEFAULT_RATE = 5.0
KEYS = (
    "smtp_url",
    "from",
    "to",
    "username",
    "password",
    "password_file",
    "starttls",
    "ca_file",
    "timeout",
)


@dataclass(frozen=True)
class EmailOptions:
    host: str
    port: int
    implicit_tls: bool
    sender: str
    to: tuple[str, ...]
    username: str | None = None
    password: Secret | None = None
    starttls: str = "required"
    ca_file: str | None = None
    timeout: float = 30.0


def parse(node: Node) -> EmailOptions:
    url = node.text("smtp_url", "smtp://127.0.0.1:25")
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        node.problem(
            "smtp_url", f"{url!r} is not valid: expected smtp://HOST:PORT or smtps://HOST:PORT"
        )
    if parts.password:
        node.problem("smtp_url", "must not carry a password: use password_file or password: ${ENV}")
    to = node.str_list("to")
    if not to:
        node.problem("to", "is required: a list of e-mail addresses")
    implicit = parts.scheme == "smtps"
    return EmailOptions(
        host=parts.hostname or "127.0.0.1",
        port=_port(parts.port, implicit),
        implicit_tls=implicit,
        sender=node.text("from"),
        to=to,
        username=node.text("username", None),
        password=node.secret("password"),
        starttls=node.choice("starttls", ("required", "opportunistic", "off"), "required"),
        ca_file=node.text("ca_file", None),
        timeout=node.duration("timeout", 30.0, minimum=1.0),
    )


def _port(port: int | None, implicit: bool) -> int:
    return port if port else (465 if implicit else 25)


def _html(notification: Notification) -> str:
    rows = []
    for alert in notification.alerts[:50]:
        word = STATUS_WORDS.get(alert.status, alert.status.upper())
        links = " · ".join(
            f'<a href="{html.escape(url)}">{html.escape(words)}</a>'
            for words, url in link_labels(alert.links)
        )
        held = (
            f"<p>Held while this is down: {html.escape(', '.join(alert.held))}</p>"
            if alert.held
            else ""
        )
        rows.append(
            f"<h3>{html.escape(word)}: {html.escape(alert.summary)}</h3>"
            f"<p>severity <b>{html.escape(alert.severity)}</b>"
            + (f", service <b>{html.escape(alert.service)}</b>" if alert.service else "")
            + "</p>"
            + (f"<p>{html.escape(alert.description)}</p>" if alert.description else "")
            + held
            + (f"<p>{links}</p>" if links else "")
        )
    return (
        '<!doctype html><html><body style="font-family: sans-serif">'
        f"<h2>{html.escape(notification.title)}</h2>{''.join(rows)}"
        f'<p style="color:#666">agentwatch hub · {html.escape(notification.key)}</p></body></html>'
    )


def compose(notification: Notification, options: EmailOptions) -> EmailMessage:
    """The message: subject is the title, a text part and an HTML part."""
    message = EmailMessage()
    message["Subject"] = notification.title
    message["From"] = options.sender
    message["To"] = ", ".join(options.to)
    message["Date"] = email.utils.formatdate(notification.created_at, usegmt=True)
    digest = hashlib.sha256(notification.key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@agentwatch-hub>"
    message["X-Agentwatch-Idempotency-Key"] = notification.key
    text = [notification.title, ""]
    for alert in notification.alerts[:50]:
        text.extend([*alert_lines(alert), ""])
    message.set_content("\n".join(text))
    message.add_alternative(_html(notification), subtype="html")
    return message


def _tls_context(options: EmailOptions) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=options.ca_file)


def _deliver(message: EmailMessage, options: EmailOptions) -> None:
    """Blocking: connect, secure, log in, send (runs in a worker thread)."""
    context = _tls_context(options)
    smtp: smtplib.SMTP
    if options.implicit_tls:
        smtp = smtplib.SMTP_SSL(
            options.host, options.port, timeout=options.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(options.host, options.port, timeout=options.timeout)
    with smtp:
        smtp.ehlo()
        if not options.implicit_tls and options.starttls != "off":
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif options.starttls == "required":
                raise DeliveryError(
                    f"{options.host}:{options.port} does not offer STARTTLS "
                    "(set starttls: opportunistic or off to send in clear text)",
                    permanent=True,
                )
        if options.username and options.password is not None:
            smtp.login(options.username, options.password.reveal())
        smtp.send_message(message)


class EmailChannel:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.options: EmailOptions = config.options

    async def send(self, notification: Notification) -> None:
        message = compose(notification, self.options)
        what = f"email channel {self.config.name} ({self.options.host}:{self.options.port})"
        try:
            await asyncio.to_thread(_deliver, message, self.options)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            raise DeliveryError(
                f"{what}: recipients refused {codes}", permanent=all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:
            reply = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise DeliveryError(
                f"{what}: {exc.smtp_code} {reply}"[:300], permanent=exc.smtp_code >= 500
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}: {exc}"[:300]) from None
