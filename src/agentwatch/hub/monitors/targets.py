"""A monitor's target as ``hub.yaml`` writes it: checked (a URL's scheme, a method, a
Redis URL), and what of it may be shown (a problem quotes ``${ENV}`` as written, a
password or an expanded secret is hidden, a DSN shows only its server)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..config import ENV_REFERENCE, Node, Secret

__all__ = [
    "as_written",
    "checked_method",
    "checked_url",
    "hidden_values",
    "redis_url",
    "server_of",
    "without_credentials",
]


def checked_url(node: Node, schemes: tuple[str, ...]) -> str:
    url = node.text("url")
    if url and not str(url).startswith(schemes):
        node.problem(
            "url",
            f"{as_written(node, 'url', url)} is not valid: expected a URL starting with "
            f"{' or '.join(schemes)}",
        )
    return str(url)


def as_written(node: Node, key: str, value: object) -> str:
    """``value`` as a problem may quote it: what the file says when ``${ENV}`` made it (an
    API key or a password may be in it)."""
    raw = node.data.get(key)
    if isinstance(raw, str) and ENV_REFERENCE.search(raw):
        return f"{raw!r} (its value is not shown)"
    return repr(value)


def checked_method(node: Node) -> str:
    method = str(node.text("method", "GET")).upper()
    if not re.fullmatch(r"[A-Z]{1,20}", method):
        node.problem(
            "method",
            f"{as_written(node, 'method', method)} is not valid: expected an HTTP method such as GET",
        )
    return method


def redis_url(node: Node) -> Secret | None:
    """The Redis URL (a secret: never shown) is a ``redis://`` or ``rediss://`` one, or the
    wrong file or variable was given (the probe would have tried it anyway)."""
    url = node.secret("url", required=True)
    if url is None or url.source.endswith("(not read)"):
        return url
    if not url.reveal().strip().startswith(("redis://", "rediss://")):
        key = "url_file" if node.has("url_file") else "url"
        node.problem(key, f"is not a redis:// or rediss:// URL (from {url.source}; not shown)")
    return url


_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]*)")


def hidden_values(node: Node, url: str) -> tuple[str, ...]:
    """What ``${ENV}`` references in the headers, the body and the url (but its host and
    port: ``http://${API_HOST}:${API_PORT}/`` hides nothing; a whole ``${API_URL}`` hides
    all of it) expand to, and the url's password: never shown in a message, a target or a
    log."""
    raw = node.data.get("url")
    headers = node.data.get("headers")
    written = [node.data.get("body"), *(headers.values() if isinstance(headers, Mapping) else [])]
    if isinstance(raw, str):
        authority = _AUTHORITY.match(raw)
        written.append(raw[: authority.start(1)] + raw[authority.end(1) :] if authority else raw)
    names = {m.group(1) for w in written if isinstance(w, str) for m in ENV_REFERENCE.finditer(w)}
    found = [node.environ[n] for n in sorted(names) if node.environ.get(n)]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return tuple(found + ([password] if password else []))


def without_credentials(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//", url)


_DSN_WORD = re.compile(r"\b(host|hostaddr|port|dbname)\s*=\s*'?([^\s']+)")


def server_of(secret: str) -> str:
    """``scheme://host:port/db`` of a Postgres or Redis URL or a key=value DSN: what may be
    shown of a secret (nothing when it is neither, e.g. a file that holds something else: a
    webhook URL's path is its secret, and an API monitor may name any file the hub reads)."""
    if "://" in secret:
        try:
            url = urlsplit(secret.strip())
            port = f":{url.port}" if url.port else ""
        except ValueError:
            return ""
        if not url.hostname or not re.fullmatch(r"(postgres(ql)?|rediss?)(\+\w+)?", url.scheme):
            return ""
        return f"{url.scheme}://{url.hostname}{port}{url.path}"
    words = dict(_DSN_WORD.findall(secret))
    if "host" not in words and "hostaddr" not in words:
        return ""
    host = words.get("host") or words.get("hostaddr", "")
    port = f":{words['port']}" if "port" in words else ""
    return f"postgresql://{host}{port}/{words.get('dbname', '')}"
