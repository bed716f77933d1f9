"""The ``traces:`` section of hub.yaml.

```yaml
traces:
  retention: 24h          # traces and logs older than this are dropped
  max_bytes: 1GiB         # past this, the oldest successful traces go first, then errors
  database: sqlite:////var/lib/hub/traces.db   # default: traces.db beside the hub's
                                               # SQLite file, or the hub's Postgres
  queue_max_spans: 200000 # spans waiting for a commit; past it the intake answers 429
```
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Node

__all__ = ["TracesSettings", "parse"]


@dataclass(frozen=True)
class TracesSettings:
    enabled: bool = True
    retention_seconds: float = 86_400.0
    max_bytes: int = 1 << 30
    database: str | None = None
    queue_max_spans: int = 200_000
    maintenance_seconds: float = 10.0


def parse(root: Node) -> TracesSettings:
    node = root.child("traces")
    if node is None:
        return TracesSettings()
    node.allow(
        ("enabled", "retention", "max_bytes", "database", "queue_max_spans", "maintenance_interval")
    )
    return TracesSettings(
        enabled=node.flag("enabled", True),
        retention_seconds=node.duration("retention", 86_400.0, minimum=60.0),
        max_bytes=node.size("max_bytes", 1 << 30),
        database=node.text("database", None),
        queue_max_spans=node.integer("queue_max_spans", 200_000, minimum=1),
        maintenance_seconds=node.duration("maintenance_interval", 10.0, minimum=0.1),
    )
