"""``agentwatch hub serve|check`` and the subcommands each part adds.

``serve`` runs the hub (uvicorn, one process) until SIGINT or SIGTERM; SIGHUP re-reads the
config file. ``check`` validates a config file and exits non-zero with every problem.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import signal
import socket
import sys
from typing import Any

from .._exceptions import AgentwatchError
from .configfile import (
    DEFAULT_PORT,
    HubConfig,
    check_config,
    load_config,
    refuse_open_without_token,
)

__all__ = ["register"]

_log = logging.getLogger("agentwatch.hub")


def register(subparsers: Any) -> None:
    for needed in ("sqlalchemy", "alembic", "jinja2", "httpx", "uvicorn"):  # the hub extra
        importlib.import_module(needed)
    parser = subparsers.add_parser(
        "hub", help="run the hub: monitors, status pages, alerts, traces", description=__doc__
    )
    commands = parser.add_subparsers(dest="hub_command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the hub")
    _config_argument(serve)
    serve.add_argument("--host", default=None, help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help=f"port ({DEFAULT_PORT}; 0: any)")
    serve.add_argument(
        "--database", default=None, help="SQLAlchemy URL (SQLite in the state folder)"
    )
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    serve.set_defaults(func=serve_command)
    check = commands.add_parser("check", help="validate a hub config file")
    _config_argument(check, required=True)
    check.set_defaults(func=check_command)
    from .parts import load_parts

    for spec in load_parts():
        if spec.register_cli is not None:
            spec.register_cli(commands)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def _config_argument(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "--config", "-c", required=required, default=None, help="hub.yaml (default ./hub.yaml)"
    )


def config_from_args(args: argparse.Namespace) -> HubConfig:
    from .app import default_config_path

    path = args.config or default_config_path()
    return load_config(path).with_server(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        database=getattr(args, "database", None),
    )


def check_command(args: argparse.Namespace) -> int:
    config = check_config(args.config)
    summary = ", ".join(f"{name}: ok" for name in config.parts) or "no parts"
    print(f"{args.config}: valid ({summary})")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for client in ("httpx", "httpcore"):  # they log each request's URL: a webhook's secret,
        logging.getLogger(client).setLevel(logging.WARNING)  # a probe's ${ENV} API key
    config = config_from_args(args)
    refuse_open_without_token(config)
    asyncio.run(_serve(config))
    return 0


async def _serve(config: HubConfig) -> None:
    import uvicorn

    from .app import Hub

    listening = _bind(config.server.host, config.server.port)
    config = config.with_server(port=listening.getsockname()[1])  # --port 0: the one bound
    hub = Hub(config)
    await hub.context.db.migrate()  # a schema too new, or a database in use, stops here
    server = uvicorn.Server(
        uvicorn.Config(
            hub.asgi(),
            host=config.server.host,
            port=config.server.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload(hub)))
    _log.info("agentwatch hub on %s (database %s)", config.server.base_url, hub.context.db.url)
    freeze = loop.create_task(_freeze_when_ready(hub))
    await server.serve(sockets=[listening])
    freeze.cancel()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the hub is built so that ``--port 0`` links (status
    pages, notifications) name the port the system chose, not ``:0``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host.strip("[]"), port))
    except OSError as exc:
        listening.close()
        raise AgentwatchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listening.set_inheritable(True)
    return listening


async def _freeze_when_ready(hub: Any) -> None:
    """Once the hub started, what the start made (modules, configuration, monitors,
    compiled SQL) leaves the collector's full passes: with 1,000 monitors each took ~130 ms
    of the event loop, the pages' slowest answers; ~37 ms after."""
    while not hub.ready:
        await asyncio.sleep(0.1)
    gc.collect()
    gc.freeze()


async def _reload(hub: Any) -> None:
    from .config import HubConfigError

    try:
        await hub.reload()
    except HubConfigError as exc:  # keep running on the old config
        _log.error("reload refused, keeping the running configuration: %s", exc)
