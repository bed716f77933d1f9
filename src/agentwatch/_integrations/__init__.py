"""Auto-instrumentation of the libraries an agent service uses, one file each.

Owns ``llm_clients.py`` (openai and anthropic, on the shared machinery of ``patching.py``),
``mcp.py`` (MCP tool calls, trace context in ``_meta``), ``sqlalchemy.py`` (a span per
statement and the db pack), ``redis.py`` (the cache pack), ``queues.py`` (queue jobs: trace context through the
message, the queue pack) with ``celery.py`` (Celery's signals), and ``wiring.py`` (what
``init()`` attaches from the settings: prices, budgets, SQLAlchemy, redis).

May import ``_genai``, ``propagation``, ``_tracing``, the core and the foundation. Each
library is imported lazily; a missing one says which extra installs it.
"""
