"""Routing and grouping with Alertmanager's meaning; what holds a notification and what not."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.hub._receivers import FakeReceiver, eventually
from tests.hub._support import running_hub

from agentwatch.hub.alerts.config import parse_alerts_config
from agentwatch.hub.alerts.routing import group_labels, match_routes
from agentwatch.hub.config import root
from agentwatch.hub.events import IncidentChange, MonitorChange

TREE = {
    "notifications": {
        "channels": [
            {"name": n, "type": "webhook", "url": "http://127.0.0.1:1/"}
            for n in ("a", "b", "c", "d")
        ],
        "routes": [
            {"match": {"team": "db"}, "channels": ["a"], "continue": True},
            {
                "match_re": {"severity": "crit.*"},
                "channels": ["b"],
                "group_by": ["..."],
                "routes": [
                    {"match": {"service": "api"}, "channels": ["c"]},
                    {"matchers": ['service=~"api|worker"'], "channels": ["d"]},
                ],
            },
            {"matchers": ["severity!=critical"], "channels": ["d"]},
        ],
    }
}


@pytest.mark.parametrize(
    ("labels", "channels"),
    [
        ({"team": "db", "severity": "critical", "service": "api"}, [["a"], ["c"]]),
        ({"severity": "critical", "service": "worker"}, [["d"]]),
        ({"severity": "critical", "service": "web"}, [["b"]]),  # no child matched: the parent
        ({"severity": "criticalish", "service": "api2"}, [["b"]]),  # regexes are anchored
        ({"severity": "warning"}, [["d"]]),
        ({"team": "db", "severity": "critical"}, [["a"], ["b"]]),
    ],
)
def test_routes_match_like_alertmanager(labels: dict[str, str], channels: list[list[str]]) -> None:
    node = root(TREE, environ={})
    config = parse_alerts_config(node)
    node.raise_problems()
    assert [list(r.channels) for r in match_routes(config.routes, labels)] == channels


def test_children_inherit_and_group_by_all_labels() -> None:
    config = parse_alerts_config(root(TREE, environ={}))
    (route,) = match_routes(config.routes, {"severity": "critical", "service": "api"})
    assert route.timing.group_by is None  # inherited '...'
    labels, _fp = group_labels(route, {"severity": "critical", "service": "api", "x": "1"})
    assert labels == {"severity": "critical", "service": "api", "x": "1"}


def test_config_problems_name_the_key() -> None:
    node = root(
        {
            "notifications": {
                "channels": [
                    {"name": "s", "type": "slack"},
                    {"name": "p", "type": "pagerduty", "routing_key": "k", "coalesce": True},
                    {"name": "w", "type": "webhook", "url": "u", "rate_limit": "fast"},
                ],
                "routes": [{"channels": ["nope"], "match_re": {"a": "("}}],
            }
        },
        environ={},
    )
    parse_alerts_config(node)
    problems = {p.path: p.message for p in node.problems}
    assert problems["notifications.channels[0].url"].startswith("is required")
    assert "never coalesced" in problems["notifications.channels[1].coalesce"]
    assert "1/s, 120/m" in problems["notifications.channels[2].rate_limit"]
    assert "'nope' is not a channel" in problems["notifications.routes[0].channels"]
    assert "not a regular expression" in problems["notifications.routes[0].match_re.a"]


def _yaml(url: str, extra: str = "", wait: str = "0.3s", repeat: str = "1h") -> str:
    return (
        "notifications:\n"
        f"  group_wait: {wait}\n  group_interval: 0.3s\n  repeat_interval: {repeat}\n"
        "  outbox: {retry_initial: 0.1s}\n"
        f"  channels: [{{name: hook, type: webhook, url: '{url}'}}]\n" + extra
    )


def _alert(name: str = "HighErrorRate", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "service": "api", "severity": "critical", **labels},
        "status": status,
    }


def _names(received: Any) -> list[tuple[str, str]]:
    body = received.json()
    return sorted(
        (a["labels"].get("instance", a["labels"]["alertname"]), a["status"]) for a in body["alerts"]
    )


async def test_group_wait_gathers_alerts_and_group_interval_batches_news(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url)) as (_hub, client):
            await client.post("/api/v1/alerts", json=[_alert(instance="a"), _alert(instance="b")])
            await asyncio.sleep(0.1)
            await client.post("/api/v1/alerts", json=_alert(instance="c"))
            (first,) = await hook.arrive(1)
            await client.post("/api/v1/alerts", json=_alert(instance="d"))
            await client.post("/api/v1/alerts", json=_alert(instance="a", status="resolved"))
            second = (await hook.arrive(2))[1]
            await asyncio.sleep(0.8)  # nothing new: no third notification
    assert _names(first) == [("a", "firing"), ("b", "firing"), ("c", "firing")]
    assert first.json()["reason"] == "first"
    assert _names(second) == [("a", "resolved"), ("b", "firing"), ("c", "firing"), ("d", "firing")]
    assert second.json()["reason"] == "new_alerts"
    made = [datetime.fromisoformat(r.json()["createdAt"]).timestamp() for r in (first, second)]
    assert made[1] - made[0] >= 0.25  # the group_interval, when the hub made each (arrival
    # times are not it: a loaded machine can delay the first delivery more than the second)
    assert len(hook.requests) == 2


async def test_repeat_interval_repeats_until_acknowledged(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, wait="0s", repeat="0.6s")) as (
            _hub,
            client,
        ):
            await client.post("/api/v1/alerts", json=_alert())
            await hook.arrive(2, timeout=10)
            fp = hook.requests[0].json()["alerts"][0]["fingerprint"]
            acked = await client.post(
                f"/api/v1/alerts/{fp}/ack", json={"by": "ana", "comment": "on it"}
            )
            assert acked.status_code == 200 and acked.json()["told"] == 1
            await hook.arrive(3)
            count = len(hook.requests)
            await asyncio.sleep(1.5)
            again = await client.post(f"/api/v1/alerts/{fp}/ack", json={"by": "bob"})
            assert again.json()["told"] == 0  # already acknowledged
    reasons = [r.json()["reason"] for r in hook.requests]
    assert reasons[:2] == ["first", "repeat"] and reasons[2] == "ack"
    ack = hook.requests[2].json()
    assert ack["status"] == "acknowledged" and ack["alerts"][0]["acknowledgedBy"] == "ana"
    assert len(hook.requests) == count  # no repeat after the acknowledgement


async def test_warning_is_inhibited_by_critical_of_same_alert_and_service(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, wait="0s")) as (_hub, client):
            await client.post("/api/v1/alerts", json=_alert(severity="critical"))
            await hook.arrive(1)
            await client.post(
                "/api/v1/alerts",
                json=[_alert(severity="warning"), _alert("Other", severity="warning")],
            )
            await hook.arrive(2)
            await asyncio.sleep(0.8)
            listed = (await client.get("/api/v1/alerts?status=firing")).json()["alerts"]
            muted = {
                a["labels"]["alertname"] + "/" + a["labels"]["severity"]: a["mutedBy"]
                for a in listed
            }
            assert len(hook.requests) == 2  # the inhibited warning was never sent
            await client.post("/api/v1/alerts", json=_alert(severity="critical", status="resolved"))
            await hook.arrive(3)  # one group: the critical's resolve and the warning it held
    assert muted["HighErrorRate/warning"].startswith("inhibited by ")
    assert muted["Other/warning"] is None and muted["HighErrorRate/critical"] is None
    last = sorted((a["labels"]["severity"], a["status"]) for a in hook.requests[2].json()["alerts"])
    assert last == [("critical", "resolved"), ("warning", "firing")]
    assert len(hook.requests) == 3


async def test_silence_holds_firing_but_never_the_resolve_of_a_firing_sent(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, wait="0s")) as (_hub, client):
            await client.post("/api/v1/alerts", json=_alert("Sent"))
            await hook.arrive(1)
            created = await client.post(
                "/api/v1/silences",
                json={"matchers": ["alertname=~Sent|Held"], "duration": "1h", "comment": "deploy"},
            )
            assert created.status_code == 201
            await client.post("/api/v1/alerts", json=_alert("Held"))
            await asyncio.sleep(0.6)
            assert len(hook.requests) == 1
            await client.post("/api/v1/alerts", json=_alert("Sent", status="resolved"))
            resolve = (await hook.arrive(2))[1]
            await client.delete(f"/api/v1/silences/{created.json()['id']}")
            released = (await hook.arrive(3))[2]
            listed = (await client.get("/api/v1/silences?expired=true")).json()["silences"]
    assert _names(resolve) == [("Sent", "resolved")]
    assert _names(released) == [("Held", "firing")]
    assert listed[0]["state"] == "expired" and listed[0]["matchers"] == ['alertname=~"Sent|Held"']


class Windows:
    """A maintenance calendar (the monitors part's protocol): ``service=api`` is in one."""

    def __init__(self) -> None:
        self.active = True

    def active_for(self, labels: Mapping[str, str], at: float) -> str | None:
        return "db-upgrade" if self.active and labels.get("service") == "api" else None


async def test_maintenance_holds_notifications_until_it_ends(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, wait="0s")) as (hub, client):
            windows = Windows()
            hub.context.maintenance = windows
            await client.post("/api/v1/alerts", json=[_alert(), _alert(service="web")])
            (first,) = await hook.arrive(1)
            await asyncio.sleep(0.6)
            listed = (await client.get("/api/v1/alerts")).json()["alerts"]
            windows.active = False
            second = (await hook.arrive(2))[1]
    assert [a["labels"]["service"] for a in first.json()["alerts"]] == ["web"]
    assert {a["labels"]["service"]: a["mutedBy"] for a in listed}["api"] == "maintenance db-upgrade"
    assert [a["labels"]["service"] for a in second.json()["alerts"]] == ["api"]


def _change(monitor: str, status: str, previous: str, **fields: Any) -> MonitorChange:
    return MonitorChange(
        monitor=monitor,
        previous=previous,
        status=status,
        at=fields.pop("at", 1_800_000_000.0),
        message=fields.pop("message", f"{monitor}: connection refused"),
        monitor_type="http",
        target=f"http://127.0.0.1:1/{monitor}",
        labels=fields.pop("labels", {"service": "shop"}),
        **fields,
    )


async def _publish(hub: Any, *events: object) -> None:
    async with hub.context.db.write() as conn:
        for event in events:
            await hub.context.events.publish(conn, event)


async def test_a_child_down_with_its_parent_is_held_and_named_in_the_parents_notification(
    tmp_path: Path,
) -> None:
    group = "  group_by: [alertname, monitor]\n"
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, group, wait="0.2s")) as (hub, _client):
            trace = "4bf92f3577b34da6a3ce929d0e0e4736"
            await _publish(
                hub,
                _change("db", "down", "up", trace_id=trace, pages=("public",)),
                _change("api", "down", "up", cause="db"),
                _change("worker", "down", "up", cause="db"),
            )
            (parent,) = await hook.arrive(1)
            await asyncio.sleep(0.6)
            assert len(hook.requests) == 1  # the children are held
            await _publish(hub, _change("db", "up", "down"))  # the children stay down: released
            await hook.arrive(4)
    (alert,) = parent.json()["alerts"]
    assert alert["labels"]["monitor"] == "db" and alert["labels"]["alertname"] == "MonitorDown"
    assert alert["held"] == ["api", "worker"]
    assert alert["links"]["trace"] == f"http://127.0.0.1:9800/traces/{trace}"
    assert alert["links"]["status_page"] == "http://127.0.0.1:9800/status/public"
    later = sorted(
        (a["labels"]["monitor"], a["status"]) for r in hook.requests[1:] for a in r.json()["alerts"]
    )
    assert (
        ("db", "resolved") in later and ("api", "firing") in later and ("worker", "firing") in later
    )


async def test_a_rolled_back_publish_leaves_no_alert(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, wait="0s")) as (hub, client):
            with pytest.raises(RuntimeError):
                async with hub.context.db.write() as conn:
                    await hub.context.events.publish(conn, _change("db", "down", "up"))
                    raise RuntimeError("the monitor's own write failed")
            await asyncio.sleep(0.5)
            assert (await client.get("/api/v1/alerts")).json()["alerts"] == []
    assert hook.requests == []


async def test_incident_updates_go_to_the_webhook(tmp_path: Path) -> None:
    with FakeReceiver() as hook:
        async with running_hub(tmp_path, _yaml(hook.url, wait="0s")) as (hub, _client):
            incident = {
                "incident_id": 7,
                "title": "Checkout errors",
                "impact": "major",
                "pages": ("public",),
            }
            url = "http://127.0.0.1:9800/status/public"
            await _publish(
                hub,
                IncidentChange(
                    status="investigating", message="looking", at=1.0, url=url, **incident
                ),
            )
            await hook.arrive(1)
            await _publish(
                hub,
                IncidentChange(
                    status="identified", message="bad deploy", at=2.0, url=url, **incident
                ),
            )
            await hook.arrive(2)
            await _publish(
                hub,
                IncidentChange(
                    status="resolved", message="rolled back", at=3.0, url=url, **incident
                ),
            )
            await eventually("the resolve", lambda: len(hook.delivered) >= 3)
    states = [r.json()["alerts"][0]["annotations"]["incident_status"] for r in hook.requests]
    assert states == ["investigating", "identified", "resolved"]
    assert hook.requests[2].json()["status"] == "resolved"
    assert hook.requests[0].json()["alerts"][0]["links"]["status_page"] == url
