"""``hub.yaml`` as a whole: the ``server`` and ``api`` sections, then each part's keys.

>>> config = load_config("hub.yaml")            # HubConfigError lists every problem   # doctest: +SKIP
>>> config.server.port, config.parts["monitors"]                                      # doctest: +SKIP

``server`` (all optional; command-line flags win)::

    server: {host: 127.0.0.1, port: 9800, database: "postgresql+psycopg://127.0.0.1/hub",
             public_url: "https://hub.example.com"}
    api: {token_file: /run/secrets/hub_token}     # or token: "${HUB_TOKEN}"
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import HubConfigError, Node, Problem, Secret, load_yaml, root
from .parts import PartSpec, load_parts

__all__ = [
    "DEFAULT_PORT",
    "HubConfig",
    "ServerConfig",
    "check_config",
    "is_loopback",
    "load_config",
    "parse_config",
]

DEFAULT_PORT = 9800
CORE_KEYS = ("server", "api")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database: str | None = None  # None: SQLite in the state folder
    public_url: str | None = None  # None: http://host:port

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class HubConfig:
    """The parsed file: core sections and each part's own config object."""

    file: Path | None = None
    server: ServerConfig = field(default_factory=ServerConfig)
    api_token: Secret | None = None
    parts: Mapping[str, Any] = field(default_factory=dict)

    def with_server(self, **changes: Any) -> HubConfig:
        """A copy with server fields replaced (flags given on the command line)."""
        given = {key: value for key, value in changes.items() if value is not None}
        return replace(self, server=replace(self.server, **given))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _server(node: Node | None) -> ServerConfig:
    if node is None:
        return ServerConfig()
    node.allow(("host", "port", "database", "public_url"))
    return ServerConfig(
        host=node.text("host", "127.0.0.1"),
        port=node.integer("port", DEFAULT_PORT, minimum=0, maximum=65535),
        database=node.text("database", None),
        public_url=node.text("public_url", None),
    )


def _api_token(node: Node | None) -> Secret | None:
    if node is None:
        return None
    node.allow(("token", "token_file"))
    return node.secret("token")


def parse_config(node: Node, specs: list[PartSpec] | None = None) -> HubConfig:
    """Every section of ``node``; raises HubConfigError listing every problem."""
    specs = load_parts() if specs is None else specs
    node.allow((*CORE_KEYS, *(key for spec in specs for key in spec.keys)))
    server = _server(node.child("server"))
    token = _api_token(node.child("api"))
    parts = {spec.name: spec.parse(node) for spec in specs}
    node.raise_problems()
    return HubConfig(
        file=Path(node.file) if node.file else None, server=server, api_token=token, parts=parts
    )


def load_config(
    path: str | Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    read_secrets: bool = True,
) -> HubConfig:
    """Read and check ``path`` (None: an empty config: no monitors, defaults everywhere).

    ``read_secrets=False``: secret files are named but not opened (a file for another host).
    """
    if path is None:
        return parse_config(root({}, environ=environ))
    return parse_config(load_yaml(path, environ=environ, read_secrets=read_secrets))


def check_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    read_secrets: bool = True,
    **server: Any,
) -> HubConfig:
    """What ``agentwatch hub check`` does: parse ``path``, then refuse an open hub without a
    token; raises HubConfigError listing every problem. ``server`` overrides server fields."""
    config = load_config(path, environ=environ, read_secrets=read_secrets).with_server(**server)
    refuse_open_without_token(config)
    return config


def refuse_open_without_token(config: HubConfig) -> None:
    """The hub never listens beyond loopback without a token for writes and private pages."""
    if config.api_token is None and not is_loopback(config.server.host):
        raise HubConfigError(
            [
                Problem(
                    str(config.file or ""),
                    "api.token_file",
                    f"is required to listen on "
                    f"{config.server.host} (not a loopback address): writes and private "
                    "pages need a bearer token",
                )
            ]
        )
