"""Who may write and read private pages: a bearer token, or loopback when none is set.

With ``api.token_file`` set, writes and private pages need ``Authorization: Bearer
<token>``. Browsers log in once at ``/login``, which sets a signed session cookie
(HttpOnly, SameSite=Lax, Secure over https, 12 h): ``v1.<expiry>.<HMAC-SHA256>``, the
HMAC keyed by ``HMAC(token, "agentwatch-session")``. The token itself is never in the
cookie (a copied cookie stops working at its expiry), no secret file is added, and
rotating the token ends every session. Without a token the hub only listens on loopback,
and whoever reaches it is trusted, as with any local development server.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from ..config import Secret
from .errors import ApiError

__all__ = ["COOKIE", "SESSION_SECONDS", "Auth"]

COOKIE = "agentwatch_hub_session"
SESSION_SECONDS = 12 * 3600
_SESSION_KEY_LABEL = b"agentwatch-session"
_VERSION = "v1"


class Auth:
    def __init__(self, token: Secret | None, *, clock: Callable[[], float] = time.time) -> None:
        self._token = token
        self._clock = clock

    def replace(self, token: Secret | None) -> None:
        """Take a new token (a reload after the token file was rotated): sessions signed
        with the old one no longer verify."""
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
        """The bearer token of the request's ``Authorization`` header, if any."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def allows(self, request: Request) -> bool:
        """Whether the request may write or see private pages (its bearer token or session)."""
        if self._token is None:
            return True
        bearer = self.presented(request)
        if bearer is not None:
            return self.check(bearer)
        return self._session_valid(request.cookies.get(COOKIE))

    def require(self, request: Request) -> None:
        """Raise 401 unless the request carries the token (or none is configured)."""
        if not self.allows(request):
            raise ApiError(
                401,
                "missing or invalid bearer token (Authorization: Bearer <api.token_file>)",
                field="Authorization",
                headers={"WWW-Authenticate": 'Bearer realm="agentwatch-hub"'},
            )

    # -- sessions --------------------------------------------------------------------------

    def start_session(self, request: Request, response: Response) -> None:
        """Set the signed session cookie on ``response`` (after a correct ``/login``)."""
        expires = int(self._clock()) + SESSION_SECONDS
        response.set_cookie(
            COOKIE,
            f"{_VERSION}.{expires}.{self._sign(expires)}",
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def _session_valid(self, value: str | None) -> bool:
        version, _, rest = (value or "").partition(".")
        expires, _, signature = rest.partition(".")
        if version != _VERSION or not expires.isdigit():
            return False
        if not hmac.compare_digest(signature.encode(), self._sign(int(expires)).encode()):
            return False
        return int(expires) > self._clock()

    def _sign(self, expires: int) -> str:
        assert self._token is not None
        key = hmac.new(self._token.reveal().encode(), _SESSION_KEY_LABEL, hashlib.sha256)
        message = f"{_VERSION}.{expires}".encode()
        return hmac.new(key.digest(), message, hashlib.sha256).hexdigest()
