"""The hub's web layer, shared by every part.

Owns: the HTML layout and its Jinja2 environment (server-rendered, no external assets,
readable without JavaScript), JSON errors that name the field (:class:`ApiError`), the
bearer-token check for writes and private pages (:class:`Auth`), request-body parsing, and
the OpenAPI document built from the routes' docstrings.

May import: the standard library, Starlette, Jinja2, ``agentwatch.hub.config``.
"""

from .auth import Auth
from .errors import ApiError, read_json
from .render import Templates

__all__ = ["ApiError", "Auth", "Templates", "read_json"]
