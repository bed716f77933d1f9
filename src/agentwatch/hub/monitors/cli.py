"""``agentwatch hub export`` and ``agentwatch hub maintenance ...``: the monitors part's
commands, through a running hub's API.

::

    agentwatch hub export > monitors.yaml            # every monitor, file and API, as YAML
    agentwatch hub maintenance start --monitor api --for 30m --reason "deploy 1.4.2"
    agentwatch hub maintenance list
    agentwatch hub maintenance end 7
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import yaml

from ..client import add_client_arguments, counted, hub_command, hub_request

__all__ = ["register"]


def _export(args: argparse.Namespace) -> None:
    listing = hub_request(args, "GET", "/api/v1/monitors")["monitors"]
    out = ["monitors:\n" if listing else "monitors: []\n"]
    for monitor in listing:
        detail = hub_request(args, "GET", f"/api/v1/monitors/{monitor['name']}")
        if args.with_owner:  # a comment, so the output is still a valid hub.yaml
            out.append(f"# owner: {detail['owner']}\n")
        out.append(yaml.safe_dump([dict(detail["spec"])], sort_keys=False, allow_unicode=True))
    print("".join(out), end="")


def _start(args: argparse.Namespace) -> None:
    body = {"monitors": args.monitor, "duration": args.duration, "reason": args.reason}
    if args.name:
        body["name"] = args.name
    answer = hub_request(args, "POST", "/api/v1/maintenance", json=body)
    print(
        f"maintenance {answer['id']} for {args.duration}: {', '.join(args.monitor) or 'every monitor'}"
    )


def _list(args: argparse.Namespace) -> None:
    windows = hub_request(args, "GET", "/api/v1/maintenance")["maintenance"]
    for w in windows:
        when = "" if w.get("active", True) else f"  (from {_utc(w['starts_at'])})"
        monitors = ", ".join(w["monitors"]) or "every monitor"
        print(f"{w['id'] or '-':>6}  {w['name']:<30} {monitors}  until {_utc(w['ends_at'])}{when}")
    active = sum(1 for w in windows if w.get("active", True))
    print(f"{counted(active, 'window')} in force, {len(windows) - active} to come")


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def _end(args: argparse.Namespace) -> None:
    hub_request(args, "DELETE", f"/api/v1/maintenance/{args.id}")
    print(f"maintenance {args.id} ended")


def register(commands: Any) -> None:
    export = commands.add_parser("export", help="print every monitor (file and API) as hub.yaml")
    add_client_arguments(export)
    export.add_argument("--with-owner", action="store_true", help="mark where each monitor lives")
    export.set_defaults(func=hub_command(_export))

    maintenance = commands.add_parser("maintenance", help="start, list or end maintenance windows")
    actions = maintenance.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="start a window now (e.g. from a deploy job)")
    add_client_arguments(start)
    start.add_argument(
        "--monitor", action="append", default=[], help="a monitor (repeat; none: all)"
    )
    start.add_argument("--for", dest="duration", default="30m", help="how long (default 30m)")
    start.add_argument("--reason", default="", help="shown on the status page")
    start.add_argument("--name", default="", help="the window's name")
    start.set_defaults(func=hub_command(_start))
    listing = actions.add_parser("list", help="windows in force and to come")
    add_client_arguments(listing)
    listing.set_defaults(func=hub_command(_list))
    end = actions.add_parser("end", help="end a window started with `start`")
    add_client_arguments(end)
    end.add_argument("id", type=int)
    end.set_defaults(func=hub_command(_end))
