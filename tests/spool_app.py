"""The app the delivery tests run under a real uvicorn: /ok and /fail, each with a child span.

Every setting comes from the environment the test gives the process (OTLP endpoint,
spool folder, export interval, sampling ratio).
"""

from __future__ import annotations

from fastapi import FastAPI

import agentwatch

app = FastAPI()


@app.get("/ok/{item}")
async def ok(item: int) -> dict[str, int]:
    with agentwatch.get_tracer().start_as_current_span("child.work"):
        return {"item": item}


@app.get("/fail/{item}")
async def fail(item: int) -> dict[str, int]:
    with agentwatch.get_tracer().start_as_current_span("child.work"):
        raise RuntimeError(f"item {item} failed")


agentwatch.init(app, service_name="spool-app", log_format="off")
