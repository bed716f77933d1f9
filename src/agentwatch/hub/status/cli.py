"""``agentwatch hub incident open|update|resolve|list|show|delete``: incidents from a terminal or a
deploy job, through a running hub's API (``--hub``, ``--token-file``)::

    agentwatch hub incident open --title "Slow answers" --message "Looking into it" --monitor api
    agentwatch hub incident update 7 --status identified --message "The LLM provider is slow"
    agentwatch hub incident resolve 7 --message "Fixed upstream"
    agentwatch hub incident list --state open
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from ..client import add_client_arguments, hub_command, hub_request
from ..web.render import format_duration
from .incidents import IMPACTS, STATUSES

__all__ = ["register", "render_incident", "render_list"]


def _by(args: argparse.Namespace) -> str:
    return str(args.by or getpass.getuser())


def _open(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {
        "title": args.title,
        "message": args.message,
        "status": args.status,
        "impact": args.impact,
        "monitors": args.monitor or [],
        "pages": args.page or [],
        "by": _by(args),
    }
    print(render_incident(hub_request(args, "POST", "/api/v1/incidents", json=body)), end="")


def _update(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"message": args.message, "by": _by(args)}
    for key in ("status", "impact", "title"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    answer = hub_request(args, "POST", f"/api/v1/incidents/{args.id}/updates", json=body)
    print(render_incident(answer), end="")


def _resolve(args: argparse.Namespace) -> None:
    body = {"by": _by(args), **({"message": args.message} if args.message else {})}
    answer = hub_request(args, "POST", f"/api/v1/incidents/{args.id}/resolve", json=body)
    print(render_incident(answer), end="")


def _list(args: argparse.Namespace) -> None:
    params = {"state": args.state, "limit": str(args.limit)}
    if args.page:
        params["page"] = args.page
    print(
        render_list(hub_request(args, "GET", "/api/v1/incidents", params=params)["incidents"]),
        end="",
    )


def _show(args: argparse.Namespace) -> None:
    print(render_incident(hub_request(args, "GET", f"/api/v1/incidents/{args.id}")), end="")


def _delete(args: argparse.Namespace) -> None:
    hub_request(args, "DELETE", f"/api/v1/incidents/{args.id}")
    print(f"incident {args.id} deleted")


def render_list(incidents: list[dict[str, Any]]) -> str:
    if not incidents:
        return "no incidents\n"
    lines = [f"{'ID':>5}  {'STATUS':13} {'IMPACT':8} {'OPENED':24} {'LASTED':>10}  TITLE"]
    for i in incidents:
        lines.append(
            f"{i['id']:>5}  {i['status']:13} {i['impact']:8} {i['opened_at']:24} "
            f"{format_duration(i['duration_seconds']):>10}  {i['title']}"
        )
    return "\n".join(lines) + "\n"


def render_incident(incident: dict[str, Any]) -> str:
    owner = (
        "automatic"
        if incident["automatic"] and not incident["taken_over_by"]
        else (incident["taken_over_by"] or incident["opened_by"])
    )
    lines = [
        f"incident {incident['id']}: {incident['title']}",
        f"  status {incident['status']}, impact {incident['impact']}, owner {owner}",
    ]
    if incident["monitors"]:
        monitors = ", ".join(
            f"{m['name']} ({'down' if m['down'] else 'up'})" for m in incident["monitors"]
        )
        lines.append(f"  monitors {monitors}")
    for url in incident["urls"]:
        lines.append(f"  {url}")
    for update in incident["updates"]:
        lines.append(
            f"  {update['at']}  {update['status']:13} {update['message']}  ({update['by']})"
        )
    return "\n".join(lines) + "\n"


def _with_client(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_client_arguments(parser)
    parser.add_argument("--by", default="", help="who writes (default: your user name)")
    return parser


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "incident",
        help="open, update, resolve or list status page incidents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="incident_command", metavar="COMMAND", required=True)
    opening = _with_client(sub.add_parser("open", help="open an incident (never resolves itself)"))
    opening.add_argument("--title", required=True)
    opening.add_argument("--message", required=True, help="what is known so far")
    opening.add_argument("--status", choices=STATUSES, default="investigating")
    opening.add_argument("--impact", choices=IMPACTS, default="major")
    opening.add_argument("--monitor", action="append", help="an affected monitor (repeatable)")
    opening.add_argument("--page", action="append", help="a status page's slug (repeatable)")
    opening.set_defaults(func=hub_command(_open))
    update = _with_client(sub.add_parser("update", help="add to an incident's timeline"))
    update.add_argument("id", type=int)
    update.add_argument("--message", required=True)
    update.add_argument("--status", choices=STATUSES)
    update.add_argument("--impact", choices=IMPACTS)
    update.add_argument("--title")
    update.set_defaults(func=hub_command(_update))
    resolve = _with_client(sub.add_parser("resolve", help="resolve an incident"))
    resolve.add_argument("id", type=int)
    resolve.add_argument("--message", default="")
    resolve.set_defaults(func=hub_command(_resolve))
    listing = _with_client(sub.add_parser("list", help="incidents, newest first"))
    listing.add_argument("--state", choices=("open", "resolved", "all"), default="all")
    listing.add_argument("--page", help="only those shown on this page")
    listing.add_argument("--limit", type=int, default=30)
    listing.set_defaults(func=hub_command(_list))
    show = _with_client(sub.add_parser("show", help="one incident and its timeline"))
    show.add_argument("id", type=int)
    show.set_defaults(func=hub_command(_show))
    delete = _with_client(sub.add_parser("delete", help="remove a false alarm and its timeline"))
    delete.add_argument("id", type=int)
    delete.set_defaults(func=hub_command(_delete))
