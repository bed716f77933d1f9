"""``agentwatch demo``: one incident, from the first error to the Slack message and back.

Runs on 127.0.0.1, each on a free port (or the one given): the demo agent service under
uvicorn, a simulated LLM provider, the hub with a generated hub.yaml, real Prometheus and
Alertmanager with the configuration ``agentwatch ops generate`` writes (in a demo profile
of short alert windows; when they are installed), a Slack stand-in printing each message
here, and traffic. About a minute in, the LLM provider starts failing for about two
minutes: watch the errors travel from the service's metrics to an alert, the hub, Slack,
the status page and the traces, and back. Runs until Ctrl-C, or for --duration seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from agentwatch import ConfigurationError
from agentwatch.propagation import untraced

from .incident import SHORT_TIMELINE, STORY_TIMELINE, TimelinePlan
from .opsconfig import SHORT_PROFILE, STORY_PROFILE
from .report import closing, missing_tools, summary, url_table
from .slack import SlackStandIn
from .stack import Binaries, DemoStack, Ports, StackOptions
from .traffic import TrafficGenerator
from .view import View, make_view
from .watch import Watcher, changes

__all__ = ["register", "run"]


def default_folder(environ: dict[str, str]) -> Path:
    """``$XDG_STATE_HOME/agentwatch/demo`` (``~/.local/state/agentwatch/demo``)."""
    state = environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(state) / "agentwatch" / "demo"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="watch one incident travel the whole system (service, hub, Prometheus, Slack)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds to run (until Ctrl-C)"
    )
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second (5)")
    parser.add_argument(
        "--dir", default=None, help="the demo's data (~/.local/state/agentwatch/demo)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for a repeatable run")
    parser.add_argument(
        "--short",
        action="store_true",
        help="a one-minute story: incident at 12 s for 30 s, alert windows of seconds",
    )
    parser.add_argument(
        "--incident-at", type=float, default=None, help="seconds after the start (60)"
    )
    parser.add_argument("--incident-seconds", type=float, default=None, help="how long (120)")
    for name in (
        "port",
        "llm-port",
        "hub-port",
        "prometheus-port",
        "alertmanager-port",
        "slack-port",
    ):
        what = "the service" if name == "port" else name.removesuffix("-port")
        parser.add_argument(f"--{name}", type=int, default=0, help=f"port of {what} (a free one)")
    parser.set_defaults(func=run)


def _timeline(args: argparse.Namespace) -> TimelinePlan:
    base = SHORT_TIMELINE if args.short else STORY_TIMELINE
    return TimelinePlan(
        base.incident_at if args.incident_at is None else args.incident_at,
        base.incident_seconds if args.incident_seconds is None else args.incident_seconds,
    )


def _options(args: argparse.Namespace, environ: dict[str, str]) -> StackOptions:
    ports = Ports(
        args.port,
        args.llm_port,
        args.hub_port,
        args.prometheus_port,
        args.alertmanager_port,
        args.slack_port,
    )
    for name, port in ports.busy():
        flag = "--port" if name == "service" else f"--{name}-port"
        raise ConfigurationError(flag, port, "a port nothing listens on (or 0: a free one)")
    return StackOptions(
        data_dir=Path(args.dir) if args.dir else default_folder(environ),
        ports=ports.resolved(),
        timeline=_timeline(args),
        profile=SHORT_PROFILE if args.short else STORY_PROFILE,
        binaries=Binaries.find(),
        seed=args.seed,
        monitor_interval="1s" if args.short else "5s",
        environ=environ,
    )


class DemoRun:
    """One run: the stack, the Slack stand-in, the view, the traffic, until stopped."""

    def __init__(self, args: argparse.Namespace, options: StackOptions) -> None:
        self.args = args
        self.options = options
        slack_url = f"http://127.0.0.1:{options.ports.slack}"
        self.stack = DemoStack(options, slack_url + "/services/T0DEMO/B0DEMO/demo", slack_url)
        timeline = self.stack.timeline
        self.view: View = make_view(timeline.starts, timeline.ends)
        self.slack = SlackStandIn(port=options.ports.slack, on_message=self._on_slack)
        self.stop = asyncio.Event()
        self.counts: Counter[str] = Counter()

    def elapsed(self) -> float:
        return time.time() - self.stack.started_at

    def _on_slack(self, message: Any) -> None:
        self.view.slack(self.elapsed(), message)

    def _banner(self) -> None:
        say = self.view.say
        say(f"agentwatch demo: starting, data in {self.stack.layout.root}")
        if not self.stack.with_prometheus:
            say(missing_tools())

    def _ready(self) -> None:
        say = self.view.say
        say("Open while it runs:\n" + url_table(self.stack.urls))
        say(f"The story: {self.stack.timeline.describe()}. Ctrl-C stops.")

    async def _traffic(self) -> None:
        duration = self.args.duration if self.args.duration is not None else float("inf")
        generator = TrafficGenerator(
            self.stack.urls.service, rate=self.args.rate, duration=duration, seed=self.args.seed
        )
        with untraced():  # the traffic comes from "outside": no client spans here
            self.counts = await generator.run(self.stop.is_set)
        self.counts = generator.counts

    async def _watch(self) -> None:
        async with httpx.AsyncClient(timeout=3.0) as client:
            watcher = Watcher(
                self.stack.urls,
                self.stack.timeline,
                lambda: len(self.slack.messages),
                client,
                hub_monitors="monitors" in self.stack.hub_sections,
            )
            self.view.start()
            try:
                while not self.stop.is_set():
                    previous, snapshot = watcher.last, await watcher.poll()
                    for text in changes(previous, snapshot):
                        self.view.event(self.elapsed(), text)
                    self.view.show(snapshot, self.elapsed())
                    await self._sleep(1.0)
            finally:
                self.view.stop()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _until_done(self) -> None:
        if self.args.duration is None:
            await self.stop.wait()
        else:
            await self._sleep(self.args.duration)
        self.stop.set()

    async def main(self) -> None:
        self._banner()
        self.slack.start()
        try:
            await asyncio.to_thread(self.stack.start, self.stop.is_set)
            if not self.stop.is_set():
                self.view.story(self.stack.timeline.starts, self.stack.timeline.ends)
                self._ready()
                await asyncio.gather(self._traffic(), self._watch(), self._until_done())
                await self._summary()
        finally:
            self.view.say("stopping…")
            await asyncio.to_thread(self.stack.stop)
            self.slack.stop()
        self.view.say(closing(self.stack.layout))

    async def _summary(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                text = (await client.get(self.stack.urls.metrics)).text
        except httpx.HTTPError:
            return
        self.view.say("\n" + summary(text, self.counts))


async def _run(args: argparse.Namespace) -> None:
    demo = DemoRun(args, _options(args, dict(os.environ)))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, demo.stop.set)
    await demo.main()


def run(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or ``--duration``; every child is stopped on the way out.

    A child that fails to start raises ChildFailed (an AgentwatchError: the command prints
    it and exits 2) after every other child was stopped.
    """
    asyncio.run(_run(args))
    return 0
