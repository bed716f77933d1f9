"""The live terminal view: a panel refreshed in place (``rich``), or plain lines.

On a terminal, :class:`RichView` keeps one panel at the bottom — requests/s, error rate,
p95, traces kept and exported, monitor states, alerts firing, notifications delivered —
and prints the story's events and each Slack message above it as they happen. When
stdout is not a terminal, :class:`PlainView` prints the events and messages as lines and
a status line every ``every`` seconds.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from .slack import SlackMessage, shorten_links
from .watch import AlertState, Snapshot

__all__ = ["PlainView", "RichView", "View", "make_view", "status_line"]


class View(Protocol):
    """Where the demo shows what happens."""

    def start(self) -> None: ...
    def story(self, starts: float, ends: float) -> None: ...
    def show(self, snapshot: Snapshot, elapsed: float) -> None: ...
    def event(self, elapsed: float, text: str) -> None: ...
    def slack(self, elapsed: float, message: SlackMessage) -> None: ...
    def say(self, text: str) -> None: ...
    def stop(self) -> None: ...


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _clock(elapsed: float) -> str:
    minutes, seconds = divmod(int(max(elapsed, 0)), 60)
    return f"+{minutes:02d}:{seconds:02d}"


def _firing(alerts: tuple[AlertState, ...], state: str) -> list[str]:
    return [alert.label for alert in alerts if alert.state == state]


def phase_text(snapshot: Snapshot, starts: float, ends: float) -> str:
    if snapshot.phase == "before":
        return f"incident in {starts - snapshot.at:.0f} s"
    if snapshot.phase == "incident":
        return f"INCIDENT: LLM provider failing ({ends - snapshot.at:.0f} s left)"
    return "recovered"


def status_line(snapshot: Snapshot, elapsed: float) -> str:
    """The whole state in one line (plain output, and the test's log)."""
    s = snapshot.service
    parts = [_clock(elapsed), snapshot.phase]
    if s is not None:
        parts += [
            f"{s.requests_per_second:.1f} req/s",
            f"errors {_percent(s.error_rate)}",
            f"p95 {_seconds(s.p95_seconds)}",
            f"traces kept {s.traces_kept:.0f}",
            f"spans exported {s.spans_exported:.0f}",
        ]
    if snapshot.monitors:
        parts.append("monitors " + " ".join(f"{k}={v}" for k, v in snapshot.monitors.items()))
    firing = _firing(snapshot.rules, "firing")
    parts.append("firing " + (", ".join(firing) if firing else "none"))
    parts.append(f"notifications {snapshot.notifications}")
    return " | ".join(parts)


class PlainView:
    """Lines for a log or a pipe: events and messages at once, the state every ``every`` s."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0) -> None:
        self.stream = stream or sys.stdout
        self.every = every
        self._last = -every

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def start(self) -> None:
        pass

    def show(self, snapshot: Snapshot, elapsed: float) -> None:
        if elapsed - self._last >= self.every:
            self._last = elapsed
            self._line(status_line(snapshot, elapsed))

    def event(self, elapsed: float, text: str) -> None:
        self._line(f"{_clock(elapsed)} {text}")

    def story(self, starts: float, ends: float) -> None:
        pass

    def slack(self, elapsed: float, message: SlackMessage) -> None:
        body = "\n".join(f"    {line}" for line in shorten_links(message.text).splitlines())
        self._line(f"{_clock(elapsed)} Slack stand-in got a message:\n{body}")

    def say(self, text: str) -> None:
        self._line(text)

    def stop(self) -> None:
        pass


class RichView:
    """The panel refreshed in place on a terminal, events and Slack messages above it."""

    def __init__(self, starts: float, ends: float) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.starts, self.ends = starts, ends
        self.live = Live(console=self.console, refresh_per_second=2, transient=False)
        self._saved_tty: list[Any] | None = None

    def story(self, starts: float, ends: float) -> None:
        """When the incident starts and ends (Unix times), once the story's clock runs."""
        self.starts, self.ends = starts, ends

    def start(self) -> None:
        self._quiet_ctrl_c()
        self.live.start()

    def _quiet_ctrl_c(self) -> None:
        """Keep the terminal from echoing ``^C`` into the panel (restored by :meth:`stop`)."""
        if not sys.stdin.isatty():
            return
        import termios

        fd = sys.stdin.fileno()
        self._saved_tty = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHOCTL
        termios.tcsetattr(fd, termios.TCSANOW, quiet)

    def _panel(self, snapshot: Snapshot, elapsed: float) -> object:
        from rich.panel import Panel
        from rich.table import Table

        grid = Table.grid(padding=(0, 3))
        grid.add_column(style="bold")
        grid.add_column()
        s = snapshot.service
        if s is not None:
            grid.add_row("requests/s", f"{s.requests_per_second:.1f}")
            grid.add_row("error rate (5xx)", _percent(s.error_rate))
            grid.add_row("p95 latency", _seconds(s.p95_seconds))
            grid.add_row(
                "traces kept / spans exported", f"{s.traces_kept:.0f} / {s.spans_exported:.0f}"
            )
        if snapshot.error_traces is not None:
            grid.add_row("error traces in the hub", str(snapshot.error_traces))
        for name, status in snapshot.monitors.items():
            grid.add_row(f"monitor {name}", status)
        firing = _firing(snapshot.rules, "firing")
        pending = _firing(snapshot.rules, "pending")
        grid.add_row("alerts firing", ", ".join(firing) or "none")
        if pending:
            grid.add_row("alerts pending", ", ".join(pending))
        grid.add_row("notifications delivered", str(snapshot.notifications))
        title = (
            f"agentwatch demo {_clock(elapsed)} — {phase_text(snapshot, self.starts, self.ends)}"
        )
        return Panel(
            grid, title=title, subtitle="Ctrl-C stops", border_style=self._colour(snapshot)
        )

    def _colour(self, snapshot: Snapshot) -> str:
        return "red" if snapshot.phase == "incident" else "green"

    def show(self, snapshot: Snapshot, elapsed: float) -> None:
        self.live.update(self._panel(snapshot, elapsed))  # type: ignore[arg-type]

    def event(self, elapsed: float, text: str) -> None:
        from rich.text import Text

        style = (
            "bold red"
            if text.startswith("INCIDENT")
            else "bold green"
            if text.startswith("RECOVERY")
            else ""
        )
        self.console.print(Text.assemble((_clock(elapsed), "dim"), " ", (text, style)))

    def slack(self, elapsed: float, message: SlackMessage) -> None:
        from rich.panel import Panel
        from rich.text import Text

        title = f"{_clock(elapsed)} Slack stand-in: new message"
        text = Text(shorten_links(message.text))
        self.console.print(Panel(text, title=title, border_style="magenta"))

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def stop(self) -> None:
        self.live.stop()
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, self._saved_tty)
            self._saved_tty = None


def make_view(starts: float, ends: float, stream: TextIO | None = None) -> View:
    """The rich view on a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    return RichView(starts, ends) if out.isatty() else PlainView(out)
