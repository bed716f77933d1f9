"""``agentwatch demo``: the demo agent service, a simulated LLM provider and traffic.

Runs everything on 127.0.0.1 in this process: the simulated provider, the instrumented
FastAPI service (uvicorn) and the traffic generator with a progress bar. Afterwards it
prints what happened and where to look. Ctrl-C stops it cleanly at any time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from agentwatch.propagation import untraced

from .app import DemoConfig, create_app
from .llm_server import SimConfig, create_llm_app
from .serving import BackgroundServer
from .traffic import Progress, TrafficGenerator

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo agent service with simulated LLM traffic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (60)")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second (5)")
    parser.add_argument("--port", type=int, default=8000, help="service port (8000; 0: any)")
    parser.add_argument(
        "--dir", default=None, help="database, traces and logs (<tmp>/agentwatch-demo)"
    )
    parser.add_argument(
        "--llm-rate-limit-rate", type=float, default=0.15, help="share of 429s (0.15)"
    )
    parser.add_argument("--llm-error-rate", type=float, default=0.05, help="share of 500s (0.05)")
    parser.add_argument(
        "--llm-slow-rate", type=float, default=0.03, help="share of slow answers (0.03)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for a repeatable run")
    parser.add_argument(
        "--keep-serving", action="store_true", help="keep serving after the traffic, until Ctrl-C"
    )
    parser.set_defaults(func=run)


def _start_service(app: Any, port: int) -> BackgroundServer:
    try:
        return BackgroundServer(app, port=port).start()
    except OSError:
        print(f"port {port} is busy: using a free port", file=sys.stderr)
        return BackgroundServer(app, port=0).start()


def _log_to(path: str) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    logging.getLogger().addHandler(handler)
    return handler


def _banner(service: str, llm: str, data_dir: str, seconds: float, rate: float) -> None:
    print(
        f"agentwatch demo: agent service {service} (LLM provider simulated at {llm})\n"
        f"  traffic       {seconds:.0f} s at {rate:g} requests/s — Ctrl-C stops\n"
        f"  metrics       {service}/metrics\n"
        f"  health        {service}/health/full\n"
        f"  traces        {os.path.join(data_dir, 'traces.jsonl')} (errors, slow, 10% of the rest)\n"
        f"  logs          {os.path.join(data_dir, 'service.log')} (JSON, with trace ids)\n",
        flush=True,
    )


def _values(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    values: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values.setdefault(sample.name, []).append((sample.labels, sample.value))
    return values


def _total(values: dict[str, list[tuple[dict[str, str], float]]], name: str, **match: str) -> float:
    return sum(
        value
        for labels, value in values.get(name, [])
        if all(labels.get(key) == wanted for key, wanted in match.items())
    )


def summary(metrics_text: str, counts: Counter[str]) -> str:
    """What the run produced, read back from the service's own /metrics."""
    v = _values(metrics_text)
    budgets = [
        f"{labels['budget']} {value:.0%}"
        for labels, value in v.get("llm_budget_utilization_ratio", [])
    ]
    return "\n".join(
        [
            f"requests      {counts['sent']} sent: {counts['2xx']} 2xx, {counts['4xx']} 4xx, "
            f"{counts['5xx']} 5xx; {counts['approvals']} approvals decided",
            f"workflows     {_total(v, 'workflow_runs_total', status='success'):.0f} succeeded, "
            f"{_total(v, 'workflow_runs_total', status='error'):.0f} failed, "
            f"{_total(v, 'workflows_active'):.0f} still active",
            f"agents        {_total(v, 'agent_runs_total'):.0f} runs, "
            f"{_total(v, 'agent_errors_total'):.0f} errors, {_total(v, 'agent_retries_total'):.0f} retries",
            f"LLM           {_total(v, 'llm_requests_total'):.0f} calls, "
            f"{_total(v, 'llm_tokens_total'):.0f} tokens, ${_total(v, 'llm_cost_usd_total'):.4f}, "
            f"{_total(v, 'llm_retries_total'):.0f} retries, {_total(v, 'llm_fallbacks_total'):.0f} fallbacks",
            f"tools         {_total(v, 'tool_calls_total'):.0f} calls, {_total(v, 'tool_errors_total'):.0f} errors",
            f"budgets       {', '.join(budgets)}",
        ]
    )


def _look_at(service: str, data_dir: str) -> str:
    return (
        "\nWhere to look:\n"
        f"  curl {service}/metrics | grep -E '^(llm|agent|workflow|tool)_'\n"
        f"  curl {service}/health/full\n"
        f'  grep \'"status": "ERROR"\' {os.path.join(data_dir, "traces.jsonl")} | head   # kept error traces\n'
        f"  grep trace_id {os.path.join(data_dir, 'service.log')} | tail                 # correlated logs"
    )


async def _drive(url: str, args: argparse.Namespace, stop: threading.Event) -> Counter[str]:
    progress = Progress(args.duration)
    generator = TrafficGenerator(
        url, rate=args.rate, duration=args.duration, seed=args.seed, on_progress=progress.update
    )
    try:
        return await generator.run(stop.is_set)
    finally:
        progress.close()


def run(args: argparse.Namespace) -> int:
    """Start everything, drive traffic, report; Ctrl-C ends whichever phase is running."""
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        _run(args, interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted.is_set():
        print("\nstopping… stopped.", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, interrupted: threading.Event) -> None:
    data_dir = args.dir or os.path.join(tempfile.gettempdir(), "agentwatch-demo")
    os.makedirs(data_dir, exist_ok=True)
    traces = os.path.join(data_dir, "traces.jsonl")
    open(traces, "w").close()
    handler = _log_to(os.path.join(data_dir, "service.log"))
    sim = SimConfig(
        args.llm_error_rate, args.llm_rate_limit_rate, args.llm_slow_rate, seed=args.seed
    )
    llm = BackgroundServer(create_llm_app(sim)).start()
    options = {"traces_exporter": "file", "traces_file": traces}
    config = DemoConfig.from_env(
        llm.url, os.environ, data_dir=data_dir, seed=args.seed, init_options=options
    )
    app = create_app(config)
    service: BackgroundServer | None = None
    try:
        service = _start_service(app, args.port)
        _banner(service.url, llm.url, data_dir, args.duration, args.rate)
        if interrupted.is_set():
            return
        with untraced():  # the traffic comes from "outside": no client spans here
            counts = asyncio.run(_drive(service.url, args, interrupted))
        if interrupted.is_set():
            return
        time.sleep(0.5)  # let the last background jobs settle
        print("\n" + summary(httpx.get(f"{service.url}/metrics", timeout=10).text, counts))
        print(_look_at(service.url, data_dir), flush=True)
        while args.keep_serving and not interrupted.is_set():
            time.sleep(0.2)
    finally:
        if service is not None:
            service.stop()
        llm.stop()
        app.state.agentwatch.shutdown()
        logging.getLogger().removeHandler(handler)
        handler.close()
