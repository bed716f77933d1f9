"""The demo's own child processes: ``python -m agentwatch.demo.serve service|llm-provider``.

``service`` runs the demo agent service under uvicorn on 127.0.0.1; agentwatch reads its
settings from the environment the demo gives it (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
pointing at the hub, or ``AGENTWATCH_TRACES_EXPORTER=file``), and on SIGTERM or SIGINT
it finishes the requests in flight, then flushes the kept traces before it exits.
``llm-provider`` runs the simulated provider with the scripted incident.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn

from .app import DemoConfig, create_app
from .incident import Timeline
from .llm_server import SimConfig, create_llm_app

__all__ = ["main"]


def _serve(app: Any, port: int) -> None:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        # longer than clients keep idle connections, so none is reused while it closes
        timeout_keep_alive=75,
    )
    uvicorn.Server(config).run()


def _service(args: argparse.Namespace) -> int:
    config = DemoConfig.from_env(args.llm_url, os.environ, data_dir=args.dir, seed=args.seed)
    app = create_app(config)
    try:
        _serve(app, args.port)
    finally:
        app.state.agentwatch.shutdown()  # flush what the sampler kept
    return 0


def _llm_provider(args: argparse.Namespace) -> int:
    incident = None
    if args.started_at is not None:
        incident = Timeline(args.started_at, args.incident_at, args.incident_seconds)
    sim = SimConfig(
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        slow_rate=args.slow_rate,
        seed=args.seed,
        incident=incident,
    )
    _serve(create_llm_app(sim), args.port)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agentwatch.demo.serve")
    commands = parser.add_subparsers(dest="command", required=True)
    service = commands.add_parser("service", help="the demo agent service")
    service.add_argument("--port", type=int, required=True)
    service.add_argument("--llm-url", required=True)
    service.add_argument("--dir", required=True, help="folder of the SQLite database")
    service.add_argument("--seed", type=int, default=None)
    service.set_defaults(func=_service)
    llm = commands.add_parser("llm-provider", help="the simulated LLM provider")
    llm.add_argument("--port", type=int, required=True)
    llm.add_argument("--seed", type=int, default=None)
    llm.add_argument("--error-rate", type=float, default=0.01)
    llm.add_argument("--rate-limit-rate", type=float, default=0.03)
    llm.add_argument("--slow-rate", type=float, default=0.01)
    llm.add_argument(
        "--started-at",
        type=float,
        default=None,
        help="Unix time of the start ('inf': until POST /demo/clock says)",
    )
    llm.add_argument("--incident-at", type=float, default=60.0, help="seconds after the start")
    llm.add_argument("--incident-seconds", type=float, default=120.0)
    llm.set_defaults(func=_llm_provider)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
