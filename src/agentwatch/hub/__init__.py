"""The hub: uptime monitors, status pages, alert delivery and a local trace store.

``agentwatch hub serve --config hub.yaml`` runs one async process (Starlette on uvicorn)
over SQLAlchemy 2 (SQLite in the user's state folder by default, Postgres by URL).

Owns:
  config     hub.yaml: the reader that names file, key path and what is accepted; secrets
  store/     the database, its connections (one writer for SQLite) and Alembic migrations
  web/       HTML layout, JSON errors, bearer-token auth, the OpenAPI document
  app        the ASGI app: the parts' routes, lifespan, reload, /metrics and /health
  parts      what a part is (``PartSpec``) and the list of parts
  events     what parts tell each other (a monitor changed, an incident changed)
  cli        ``agentwatch hub ...``
  monitors/  scheduler, checks, results and rollups          (issue: hub part 1)
  status/    status pages, incidents, maintenance             (hub part 1)
  alerts/    intake, routing, grouping, the outbox, channels   (hub part 2)
  traces/    OTLP intake, trace store, query, viewer          (hub part 3)

May import: the standard library, third-party packages of the ``hub`` extra,
``agentwatch._exceptions`` (and the SDK's public API). Nothing of the SDK imports the hub.
Parts import the hub's core modules (config, store, web, events, parts); a part may read an
earlier part's public query module (status reads monitors), never a later one's. Changes
travel as ``events`` inside the writer's transaction; what a later part must ask an earlier
one (is this in maintenance?) is a Protocol on the ``HubContext`` it is given.
"""
