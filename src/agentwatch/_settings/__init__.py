"""Settings: one declarative table of options and one loader.

Every option is resolved the same way: the explicit argument to ``init()``, then the
environment (``AGENTWATCH_*`` first, then the standard ``OTEL_*`` / ``SENTRY_*`` name), then
the default. The environment is an injectable mapping and nothing is read at import time.
A bad value raises :class:`~agentwatch.ConfigurationError` naming the key, the value and
what would be accepted.

Owns: ``values.py`` (the parsers and the row type), ``options.py`` (the table, the
documentation of every environment variable; ``docs/configuration.md`` is generated from
it; ``logs_options.py`` holds its OTLP logs rows), ``loader.py`` (:class:`Settings` and :func:`load_settings`).
May import: ``agentwatch._exceptions`` only (every other part imports settings).
"""

from __future__ import annotations

from .loader import Settings, load_settings, settings_fields
from .options import OPTIONS
from .values import Option

__all__ = ["OPTIONS", "Option", "Settings", "load_settings", "settings_fields"]
