"""``agentwatch traces list|show``: the hub's traces in the terminal.

agentwatch traces list --errors --since 1h
agentwatch traces show 4bf92f3577b34da6a3ce929d0e0e4736
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..client import HubClient, add_client_arguments
from ..web.render import format_duration, format_time

__all__ = ["register", "render_list", "render_tree"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "traces",
        help="list and show the traces stored in the hub",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="traces_command", metavar="COMMAND")
    listing = commands.add_parser("list", help="trace summaries, errors first then newest")
    listing.add_argument("--errors", action="store_true", help="error traces only")
    listing.add_argument("--service", default=None)
    listing.add_argument("--since", default=None, help="e.g. 15m, 1h, an RFC 3339 time")
    listing.add_argument("--limit", type=int, default=30)
    add_client_arguments(listing)
    listing.set_defaults(func=list_command)
    show = commands.add_parser("show", help="one trace as a tree with durations")
    show.add_argument("trace_id")
    add_client_arguments(show)
    show.set_defaults(func=show_command)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def list_command(args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    if args.errors:
        params["status"] = "error"
    if args.service:
        params["service"] = args.service
    if args.since:
        params["since"] = args.since
    with HubClient.from_args(args) as client:
        answer = client.request("GET", "/api/v1/traces", params=params)
    sys.stdout.write(render_list(answer["traces"]))
    return 0


def show_command(args: argparse.Namespace) -> int:
    with HubClient.from_args(args) as client:
        trace = client.request("GET", f"/api/v1/traces/{args.trace_id}")
        sys.stdout.write(render_tree(trace, client.url))
    return 0


def _mark(is_error: bool) -> str:
    return "✖ ERROR" if is_error else "✔ ok   "


def render_list(traces: list[dict[str, Any]]) -> str:
    if not traces:
        return "no traces\n"
    lines = [
        f"{'STATUS':8} {'STARTED':23} {'DURATION':>10} {'SPANS':>5}  {'SERVICE':16} {'TRACE ID':32}  ROOT"
    ]
    for t in traces:
        lines.append(
            f"{_mark(t['status'] == 'error'):8} {format_time(t['start_time_unix_nano'] / 1e9):23} "
            f"{format_duration(t['duration_ms'] / 1e3):>10} {t['span_count']:>5}  {t['service'][:16]:16} "
            f"{t['trace_id']}  {t['root_name'] or '(root span missing)'}"
            + (f"  — {t['error_message']}" if t.get("error_message") else "")
        )
    return "\n".join(lines) + "\n"


def render_tree(trace: dict[str, Any], hub_url: str = "") -> str:
    spans = trace["spans"]
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(span)
    lines = [
        f"{_mark(trace['status'] == 'error').strip()} {trace['root_name'] or '(root span missing)'}  "
        f"{trace['service']}  {format_duration(trace['duration_ms'] / 1e3)}  {trace['span_count']} spans  "
        f"trace {trace['trace_id']}"
    ]
    logs_by_span: dict[str | None, list[dict[str, Any]]] = {}
    for log in trace.get("logs", []):
        logs_by_span.setdefault(log["span_id"], []).append(log)

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for index, span in enumerate(kids):
            last = index == len(kids) - 1
            error = span["status"]["code"] == "error" or any(
                e["name"] == "exception" for e in span["events"]
            )
            note = _span_note(span)
            lines.append(
                f"{prefix}{'└─ ' if last else '├─ '}{'✖ ' if error else ''}{span['name']}  "
                f"{format_duration(span['duration_ms'] / 1e3)}  [{span['service']}]{note}"
            )
            inner = prefix + ("   " if last else "│  ")
            for log in logs_by_span.get(span["span_id"], []):
                lines.append(f"{inner}· {log['severity']} {log['body']}")
            walk(span["span_id"], inner)

    roots = children.get(None, [])
    if len(roots) == 1:  # the header line is the root: its children follow
        for log in logs_by_span.get(roots[0]["span_id"], []):
            lines.append(f"· {log['severity']} {log['body']}")
        walk(roots[0]["span_id"], "")
    else:
        walk(None, "")
    if hub_url:
        lines.append(f"\n{hub_url}/traces/{trace['trace_id']}")
    return "\n".join(lines) + "\n"


def _span_note(span: dict[str, Any]) -> str:
    attributes = span["attributes"]
    for event in span["events"]:
        if event["name"] == "exception":
            a = event["attributes"]
            return f"  {a.get('exception.type', '')}: {a.get('exception.message', '')}"
    model = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
    if model:
        tokens = f" {attributes.get('gen_ai.usage.input_tokens', '?')}→{attributes.get('gen_ai.usage.output_tokens', '?')} tokens"
        return f"  {model}{tokens}"
    return ""
