"""Talking to a running hub from the command line (``agentwatch hub incident ...`` etc).

The hub's URL comes from ``--hub``, else ``AGENTWATCH_HUB_URL``, else
``http://127.0.0.1:9800``; the token from ``--token-file``, else ``AGENTWATCH_HUB_TOKEN_FILE``
or ``AGENTWATCH_HUB_TOKEN``. A refusal prints the hub's own message (it names the field).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from .._exceptions import AgentwatchError
from .configfile import DEFAULT_PORT

__all__ = [
    "HubClient",
    "HubRequestError",
    "add_client_arguments",
    "counted",
    "hub_command",
    "hub_request",
]


class HubRequestError(AgentwatchError):
    """The hub refused a request, or could not be reached."""


def counted(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``: the commands' summary lines."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub", default=None, help=f"hub URL (AGENTWATCH_HUB_URL; http://127.0.0.1:{DEFAULT_PORT})"
    )
    parser.add_argument(
        "--token-file", default=None, help="file holding the API token (AGENTWATCH_HUB_TOKEN_FILE)"
    )


class HubClient:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> HubClient:
        env = os.environ if environ is None else environ
        url = args.hub or env.get("AGENTWATCH_HUB_URL") or f"http://127.0.0.1:{DEFAULT_PORT}"
        token_file = args.token_file or env.get("AGENTWATCH_HUB_TOKEN_FILE")
        token = env.get("AGENTWATCH_HUB_TOKEN")
        if token_file:
            try:
                token = Path(token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise HubRequestError(
                    f"cannot read token file {token_file}: {exc.strerror}"
                ) from None
        return cls(url, token)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer; HubRequestError with the hub's message otherwise."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubRequestError(f"cannot reach the hub at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise HubRequestError(f"hub answered {response.status_code}: {_message(response)}")
        if not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.text
        return response.json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.text[:500]
    message = error.get("message", response.text[:500])
    field = error.get("field")
    return f"{message} (field: {field})" if field and field not in message else message


def hub_request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the hub the command's ``--hub``/``--token-file`` name; its JSON."""
    with HubClient.from_args(args) as client:
        return client.request(method, path, **kwargs)


def hub_command(func: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """A command's exit status: 0, or 1 with the hub's refusal printed."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            func(args)
        except HubRequestError as exc:
            print(f"agentwatch hub: {exc}")
            return 1
        return 0

    return wrapped
