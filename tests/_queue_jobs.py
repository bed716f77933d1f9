"""Job functions the queue tests enqueue by import path (RQ) or by name (the arq-style loop),
and a Celery app factory for a real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import redis

import agentwatch
from agentwatch.queues import traced_job

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
REDIS_BROKER_URL = "redis://127.0.0.1:6379/5"


class TryAgain(Exception):
    """Raised by a job that wants to run again (what the caller's queue calls a retry)."""


def require_rabbitmq() -> None:
    import kombu

    try:
        with kombu.Connection(RABBITMQ_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ must answer at {RABBITMQ_URL} (start rabbitmq-server): {exc}")


@traced_job("emails")
def send_email(to: str) -> str:
    with agentwatch.get_tracer().start_as_current_span("render template"):
        pass
    if to == "bounce@example.com":
        raise ValueError(f"mailbox {to} does not exist")
    return f"sent to {to}"


@traced_job("emails", retry=(TryAgain,))
def send_later(to: str) -> None:
    raise TryAgain(f"{to}: rate limited by the mail server")


@traced_job("reports")
async def build_report(ctx: dict[str, Any], name: str) -> str:
    """An arq-style job: ``ctx`` first, async."""
    await asyncio.sleep(0)
    with agentwatch.get_tracer().start_as_current_span("query warehouse"):
        ctx.setdefault("built", []).append(name)
    if name == "broken":
        raise RuntimeError("warehouse timed out")
    return name


ARQ_STYLE_FUNCTIONS = {"build_report": build_report}


async def enqueue_arq_style(
    client: Any, key: str, function: str, *args: Any, **kwargs: Any
) -> None:
    """What arq's ``enqueue_job`` does, reduced: the call, serialised, on a Redis list."""
    job = {"id": uuid.uuid4().hex, "function": function, "args": args, "kwargs": kwargs}
    await client.lpush(key, json.dumps(job))


async def run_arq_style_burst(client: Any, key: str, ctx: dict[str, Any]) -> int:
    """An arq-style worker in burst mode: run every waiting job as ``fn(ctx, *args, **kw)``."""
    done = 0
    while (raw := await client.rpop(key)) is not None:
        job = json.loads(raw)
        try:
            await ARQ_STYLE_FUNCTIONS[job["function"]](ctx, *job["args"], **job["kwargs"])
        except Exception:  # a worker records the failure and carries on
            pass
        done += 1
    return done


def redis_client() -> redis.Redis:
    return redis.Redis.from_url("redis://127.0.0.1:6379/5")
