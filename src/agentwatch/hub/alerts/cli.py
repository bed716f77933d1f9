"""``agentwatch hub outbox|silence|alert ...``: the alerts part's commands (they talk to a
running hub through its API, so they work the same against one hub or several).

::

    agentwatch hub outbox list --state dead
    agentwatch hub outbox retry 42            # or --all
    agentwatch hub silence add --match alertname=DiskFull --for 2h --comment "replacing"
    agentwatch hub silence list
    agentwatch hub silence expire 3
    agentwatch hub alert list --status firing
    agentwatch hub alert ack 1f2e3d4c5b6a7988 --comment "on it"
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from ..client import HubRequestError, add_client_arguments, counted, hub_command, hub_request

__all__ = ["register"]


def _client_parser(commands: Any, name: str, help_text: str) -> Any:
    parser = commands.add_parser(name, help=help_text)
    add_client_arguments(parser)
    return parser


def _outbox_list(args: argparse.Namespace) -> None:
    params = {k: v for k, v in (("state", args.state), ("channel", args.channel)) if v}
    rows = hub_request(args, "GET", "/api/v1/outbox", params={**params, "limit": args.limit})[
        "rows"
    ]
    for row in rows:
        print(
            f"{row['id']:>8}  {row['state']:<9} {row['channel']:<16} {row['attempts']:>3}  {row['title']}"
        )
        if row.get("last_error"):
            print(f"{'':>10}last error: {row['last_error']}")
    print(counted(len(rows), "row"))


def _outbox_retry(args: argparse.Namespace) -> None:
    if args.all:
        answer = hub_request(args, "POST", "/api/v1/outbox/retry", json={"all": True})
    elif args.id is not None:
        answer = hub_request(args, "POST", f"/api/v1/outbox/{args.id}/retry")
    else:
        raise HubRequestError("give a row id or --all")
    print(f"{counted(len(answer['retried']), 'row')} back to pending: {answer['retried']}")


def _silence_add(args: argparse.Namespace) -> None:
    body = {
        "matchers": args.match,
        "duration": args.duration,
        "comment": args.comment,
        "createdBy": args.by or getpass.getuser(),
    }
    answer = hub_request(args, "POST", "/api/v1/silences", json=body)
    print(f"silence {answer['id']} added for {args.duration}: {', '.join(args.match)}")


def _silence_list(args: argparse.Namespace) -> None:
    params = {"expired": "true"} if args.expired else {}
    found = hub_request(args, "GET", "/api/v1/silences", params=params)["silences"]
    for s in found:
        print(
            f"{s['id']:>5}  {s['state']:<8} until {s['endsAt']}  {' '.join(s['matchers'])}  {s['comment']}"
        )
    print(counted(len(found), "silence"))


def _silence_expire(args: argparse.Namespace) -> None:
    hub_request(args, "DELETE", f"/api/v1/silences/{args.id}")
    print(f"silence {args.id} expired")


def _alert_list(args: argparse.Namespace) -> None:
    params = {"status": args.status} if args.status else {}
    found = hub_request(args, "GET", "/api/v1/alerts", params=params)["alerts"]
    for a in found:
        muted = f"  ({a['mutedBy']})" if a.get("mutedBy") else ""
        print(
            f"{a['fingerprint']}  {a['status']:<8} {json.dumps(a['labels'], sort_keys=True)}{muted}"
        )
    print(counted(len(found), "alert"))


def _alert_ack(args: argparse.Namespace) -> None:
    body = {"by": args.by or getpass.getuser(), "comment": args.comment}
    answer = hub_request(args, "POST", f"/api/v1/alerts/{args.fingerprint}/ack", json=body)
    print(f"alert {args.fingerprint} acknowledged; {answer['told']} channels told")


def _register_outbox(commands: Any) -> None:
    parser = commands.add_parser("outbox", help="list or resend notifications of the outbox")
    sub = parser.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)
    listing = _client_parser(sub, "list", "list outbox rows, newest first")
    listing.add_argument("--state", choices=("pending", "sending", "sent", "dead", "coalesced"))
    listing.add_argument("--channel")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=hub_command(_outbox_list))
    retry = _client_parser(sub, "retry", "send dead-lettered rows again")
    retry.add_argument("id", nargs="?", type=int, help="the row id")
    retry.add_argument("--all", action="store_true", help="every dead row")
    retry.set_defaults(func=hub_command(_outbox_retry))


def _register_silence(commands: Any) -> None:
    parser = commands.add_parser("silence", help="add, list or expire silences")
    sub = parser.add_subparsers(dest="silence_command", metavar="COMMAND", required=True)
    add = _client_parser(sub, "add", "silence alerts matching every --match")
    add.add_argument("--match", action="append", required=True, help="NAME=VALUE, NAME=~REGEX, ...")
    add.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h or 30m")
    add.add_argument("--comment", default="")
    add.add_argument("--by", default="", help="who (default: your user name)")
    add.set_defaults(func=hub_command(_silence_add))
    listing = _client_parser(sub, "list", "silences in force or to come")
    listing.add_argument("--expired", action="store_true", help="also the expired ones")
    listing.set_defaults(func=hub_command(_silence_list))
    expire = _client_parser(sub, "expire", "end a silence now")
    expire.add_argument("id", type=int)
    expire.set_defaults(func=hub_command(_silence_expire))


def _register_alert(commands: Any) -> None:
    parser = commands.add_parser("alert", help="list or acknowledge alerts")
    sub = parser.add_subparsers(dest="alert_command", metavar="COMMAND", required=True)
    listing = _client_parser(sub, "list", "alerts, newest first")
    listing.add_argument("--status", choices=("firing", "resolved"))
    listing.set_defaults(func=hub_command(_alert_list))
    ack = _client_parser(sub, "ack", "acknowledge a firing alert (stops repeats)")
    ack.add_argument("fingerprint")
    ack.add_argument("--comment", default="")
    ack.add_argument("--by", default="")
    ack.set_defaults(func=hub_command(_alert_ack))


def register(commands: Any) -> None:
    _register_outbox(commands)
    _register_silence(commands)
    _register_alert(commands)
