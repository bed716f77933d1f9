"""Who may write and read private pages: a bearer token, or loopback when none is set.

With ``api.token_file`` set, writes and private pages need ``Authorization: Bearer
<token>`` (browsers log in once at ``/login``, which keeps the token in an HttpOnly,
SameSite=Strict cookie). Without a token the hub only listens on loopback, and whoever
reaches it is trusted, as with any local development server.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..config import Secret
from .errors import ApiError

__all__ = ["COOKIE", "Auth"]

COOKIE = "agentwatch_hub_token"


class Auth:
    def __init__(self, token: Secret | None) -> None:
        self._token = token

    def replace(self, token: Secret | None) -> None:
        """Take a new token (a reload after the token file was rotated)."""
        self._token = token

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, presented: str | None) -> bool:
        if self._token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self._token.reveal().encode())

    def presented(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.cookies.get(COOKIE)

    def allows(self, request: Request) -> bool:
        """Whether the request may write or see private pages."""
        return self.check(self.presented(request))

    def require(self, request: Request) -> None:
        """Raise 401 unless the request carries the token (or none is configured)."""
        if not self.allows(request):
            raise ApiError(
                401,
                "missing or invalid bearer token (Authorization: Bearer <api.token_file>)",
                field="Authorization",
                headers={"WWW-Authenticate": 'Bearer realm="agentwatch-hub"'},
            )
