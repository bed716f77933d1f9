"""What a page says: the overall sentence, percentages rounded down, the bar's runs and text."""

from __future__ import annotations

import pytest

from agentwatch.hub.parts import DayUptime, MonitorState
from agentwatch.hub.status.incidents import Incident
from agentwatch.hub.status.view import bar_runs, day_bar, monitor_view, overall, percent


def _state(status: str, name: str = "api") -> MonitorState:
    return MonitorState(name, "http", status, None, None)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["up", "up"], ("up", "All systems operational")),
        (["up", "down"], ("down", "Partial outage")),
        (["down", "down"], ("down", "Major outage")),
        (["up", "degraded", "maintenance"], ("degraded", "Degraded performance")),
        (["up", "maintenance"], ("maintenance", "Under maintenance")),
        (["pending", "paused"], ("pending", "Checking")),
        (["up", "pending"], ("up", "All systems operational")),
        ([], ("up", "All systems operational")),
    ],
)
def test_the_overall_status(statuses: list[str], expected: tuple[str, str]) -> None:
    result = overall([_state(s, f"m{i}") for i, s in enumerate(statuses)])
    assert (result.status, result.text) == expected


@pytest.mark.parametrize(
    ("statuses", "impacts", "expected"),
    [
        (["up"], ["none"], "All systems operational"),
        (["up"], ["minor"], "Minor service disruption"),
        (["up", "maintenance"], ["major", "minor"], "Partial outage"),
        (["up"], ["critical"], "Major outage"),
        (["down", "down"], ["minor"], "Major outage"),
        (["degraded"], ["minor"], "Degraded performance"),
    ],
)
def test_an_open_incident_declares_its_impact(
    statuses: list[str], impacts: list[str], expected: str
) -> None:
    incidents = [
        Incident(n, "t", "identified", impact, (), False, None, "ana", 0.0, 0.0, None)
        for n, impact in enumerate(impacts)
    ]
    states = [_state(s, f"m{i}") for i, s in enumerate(statuses)]
    assert overall(states, incidents).text == expected


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(1.0, "100.00 %"), (0.99999, "99.99 %"), (0.5, "50.00 %"), (0.0, "0.00 %"), (None, "no data")],
)
def test_percent_rounds_down(fraction: float | None, text: str) -> None:
    assert percent(fraction) == text


@pytest.mark.parametrize(
    ("day", "level", "label"),
    [
        (DayUptime("2026-12-01", None), "nodata", "2026-12-01: no data"),
        (DayUptime("2026-12-01", 1.0), "up", "2026-12-01: 100.00 % up"),
        (
            DayUptime("2026-12-01", 1.0, maintenance_seconds=1800),
            "maintenance",
            "2026-12-01: 100.00 % up, 30 m 00 s maintenance",
        ),
        (
            DayUptime("2026-12-01", 0.995, down_seconds=432),
            "degraded",
            "2026-12-01: 99.50 % up, 7 m 12 s down",
        ),
        (
            DayUptime("2026-12-01", 0.5, down_seconds=43200),
            "down",
            "2026-12-01: 50.00 % up, 12 h 00 m down",
        ),
    ],
)
def test_a_day_of_the_bar(day: DayUptime, level: str, label: str) -> None:
    bar = day_bar(day)
    assert (bar.level, bar.label) == (level, label)


def test_days_alike_share_a_run_and_each_notable_day_has_its_own() -> None:
    days = [DayUptime(f"2026-11-{n:02d}", None) for n in (1, 2)]
    days += [DayUptime(f"2026-11-{n:02d}", 1.0) for n in (3, 4, 5)]
    days += [
        DayUptime("2026-11-06", 0.9, down_seconds=8640),
        DayUptime("2026-11-07", 0.9, down_seconds=8640),
    ]
    days += [DayUptime("2026-11-08", 1.0)]
    runs = bar_runs([day_bar(d) for d in days])
    assert [(r.level, r.days, r.label) for r in runs] == [
        ("nodata", 2, "2026-11-01 to 2026-11-02: no data"),
        ("up", 3, "2026-11-03 to 2026-11-05: no downtime"),
        ("down", 1, "2026-11-06: 90.00 % up, 2 h 24 m down"),
        ("down", 1, "2026-11-07: 90.00 % up, 2 h 24 m down"),
        ("up", 1, "2026-11-08: 100.00 % up"),
    ]
    view = monitor_view(_state("up"), days)
    assert view.uptime == pytest.approx((3 + 0.9 + 0.9 + 1) / 6)
    assert [bar.day for bar in view.notable] == ["2026-11-06", "2026-11-07"]
    assert view.uptime_summary == (
        "api: 96.66 % uptime over the last 8 days; 2 days with downtime, 2 without data."
    )
    assert monitor_view(_state("pending"), []).uptime_summary == ("api: no uptime data yet.")
