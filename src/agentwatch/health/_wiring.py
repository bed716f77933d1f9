"""How ``init()`` wires health: the registry on the handle, the endpoints at the prefix.

``init(app, health=registry)`` uses the given :class:`HealthRegistry`; without one a new
registry is built from the settings (``health_check_timeout_seconds``,
``health_cache_seconds``, ``health_warn_score``) and checks are added later with
``handle.health.register(...)``.
"""

from __future__ import annotations

from typing import Any

from ._endpoints import HealthAlias, HealthEndpoints
from ._registry import HealthRegistry

__all__ = ["attach"]


def attach(handle: Any) -> None:
    """Put a registry on ``handle.health``, mount the endpoints at ``health_prefix`` and the
    aliases (``health_aliases``) at the root."""
    settings = handle.settings
    registry = handle.health
    if registry is None:
        registry = HealthRegistry(
            timeout=settings.health_check_timeout_seconds,
            cache_ttl=settings.health_cache_seconds,
            warn_score=settings.health_warn_score,
            metrics=handle.metrics,
            redactor=handle.redactor,
        )
        handle.health = registry
    elif not isinstance(registry, HealthRegistry):
        from .._exceptions import ConfigurationError

        raise ConfigurationError("health", type(registry).__name__, "a HealthRegistry")
    version = settings.service_version
    endpoints = HealthEndpoints(
        registry,
        prefix=settings.health_prefix,
        service_id=settings.service_name,
        version=version.split(".")[0],
        release_id=version,
        description=f"health of {settings.service_name}",
        details_token=settings.health_details_token,
        window=handle.request_window,
        environment=settings.environment,
    )
    prefix = settings.health_prefix.rstrip("/") or "/health"
    handle.endpoints[prefix] = endpoints
    for path in settings.health_aliases:
        alias = HealthAlias(endpoints, path)
        if alias.path != prefix:
            handle.endpoints[alias.path] = alias
