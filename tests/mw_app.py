"""The app the multi-worker test runs under real worker processes (uvicorn --workers)."""

from __future__ import annotations

import os
import time

from fastapi import FastAPI

import agentwatch

app = FastAPI()


@app.get("/pid")
async def pid() -> dict[str, int]:
    time.sleep(0.2)  # block this worker's loop so concurrent requests spread across workers
    return {"pid": os.getpid()}


agentwatch.init(app, service_name="multiworker", log_format="off")
