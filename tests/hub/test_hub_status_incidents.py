"""Incidents by API and CLI: the timeline, who owns an incident, errors naming the field, the
token, the alert every change becomes, on SQLite and the machine's Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from tests.hub._receivers import eventually
from tests.hub._support import running_hub
from tests.hub._traces_support import served_hub

from agentwatch._cli import main

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def hub_yaml(tmp_path: Path, *, token: bool = True) -> str:
    (tmp_path / "token").write_text(TOKEN + "\n")
    api = "api: {token_file: token}\n" if token else ""
    return (
        "status_pages:\n"
        "  - {slug: public, title: Agent API, public: true, monitors: [api, db]}\n"
        "  - {slug: internal, title: Internal, monitors: [db, queue]}\n" + api
    )


async def _open(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/api/v1/incidents", json=body, headers=AUTH)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_open_update_resolve_keeps_the_timeline(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        opened = await _open(
            client,
            title="Slow answers",
            message="Answers take 20 s; looking into it.",
            monitors=["api"],
            impact="minor",
            by="ana",
        )
        assert opened["status"] == "investigating" and opened["impact"] == "minor"
        assert opened["pages"] == ["public"]  # the pages that show its monitors
        assert opened["urls"] == ["http://127.0.0.1:9800/status/public"]
        assert opened["automatic"] is False and opened["opened_by"] == "ana"
        assert [m["name"] for m in opened["monitors"]] == ["api"]
        number = opened["id"]
        updated = await client.post(
            f"/api/v1/incidents/{number}/updates",
            json={"status": "identified", "message": "The LLM provider is slow.", "by": "ana"},
            headers=AUTH,
        )
        assert updated.status_code == 200 and updated.json()["status"] == "identified"
        resolved = await client.post(
            f"/api/v1/incidents/{number}/resolve",
            json={"message": "Provider fixed it."},
            headers=AUTH,
        )
        body = resolved.json()
        assert body["status"] == "resolved" and body["resolved_at"] is not None
        assert [(u["status"], u["message"]) for u in body["updates"]] == [
            ("investigating", "Answers take 20 s; looking into it."),
            ("identified", "The LLM provider is slow."),
            ("resolved", "Provider fixed it."),
        ]
        again = await client.post(f"/api/v1/incidents/{number}/resolve", headers=AUTH)
        assert again.status_code == 409
        assert again.json()["error"]["field"] == "incident_id"
        reopened = await client.post(
            f"/api/v1/incidents/{number}/updates",
            json={"status": "monitoring", "message": "It is back."},
            headers=AUTH,
        )
        assert reopened.json()["resolved_at"] is None and reopened.json()["status"] == "monitoring"
        assert (await client.get(f"/api/v1/incidents/{number}", headers=AUTH)).json()["updates"][
            -1
        ]["message"] == "It is back."


async def test_listing_filters_and_pages(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        first = await _open(client, title="Queue stuck", message="m", monitors=["queue"])
        second = await _open(client, title="Everything", message="m")  # every page
        third = await _open(client, title="DB", message="m", monitors=["db"])
        await client.post(f"/api/v1/incidents/{second['id']}/resolve", headers=AUTH)
        assert first["pages"] == ["internal"] and second["pages"] == ["public", "internal"]
        assert third["pages"] == ["public", "internal"]

        async def ids(**params: str) -> list[int]:
            answer = await client.get("/api/v1/incidents", params=params, headers=AUTH)
            assert answer.status_code == 200, answer.text
            return [i["id"] for i in answer.json()["incidents"]]

        assert await ids() == [third["id"], second["id"], first["id"]]
        assert await ids(state="open") == [third["id"], first["id"]]
        assert await ids(state="resolved") == [second["id"]]
        assert await ids(page="public") == [third["id"], second["id"]]
        assert await ids(monitor="queue") == [first["id"]]
        page = (await client.get("/api/v1/incidents", params={"limit": "2"}, headers=AUTH)).json()
        assert page["next_before"] == second["id"]
        assert await ids(before=str(page["next_before"])) == [first["id"]]


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        ("/api/v1/incidents", {"message": "m"}, "title", "is required"),
        ("/api/v1/incidents", {"title": "t"}, "message", "is required"),
        ("/api/v1/incidents", {"title": " ", "message": "m"}, "title", "is empty"),
        (
            "/api/v1/incidents",
            {"title": "t", "message": "m", "status": "fixed"},
            "status",
            "expected one of investigating, identified, monitoring, resolved",
        ),
        (
            "/api/v1/incidents",
            {"title": "t", "message": "m", "impact": "huge"},
            "impact",
            "expected one of none, minor, major, critical",
        ),
        (
            "/api/v1/incidents",
            {"title": "t", "message": "m", "monitors": ["api", "nope"]},
            "monitors[1]",
            "'nope' is not a monitor",
        ),
        (
            "/api/v1/incidents",
            {"title": "t", "message": "m", "pages": ["private"]},
            "pages[0]",
            "'private' is not a status page: expected one of internal, public",
        ),
        (
            "/api/v1/incidents",
            {"title": "t", "message": "m", "monitors": "api", "severity": 1},
            "severity",
            "unknown key",
        ),
        ("/api/v1/incidents", {"title": "t" * 301, "message": "m"}, "title", "at most 300"),
        ("/api/v1/incidents/1/updates", {"status": "identified"}, "message", "is required"),
        ("/api/v1/incidents/x/updates", {"message": "m"}, "incident_id", "not a number"),
        ("/api/v1/incidents/99/updates", {"message": "m"}, "incident_id", "no incident 99"),
        ("/api/v1/incidents/99/resolve", {}, "incident_id", "no incident 99"),
    ],
)
async def test_a_bad_request_names_the_field(
    tmp_path: Path, path: str, body: dict[str, Any], field: str, words: str
) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        await _open(client, title="one", message="m")
        answer = await client.post(path, json=body, headers=AUTH)
        assert 400 <= answer.status_code < 500
        error = answer.json()["error"]
        assert error["field"] == field, error
        assert words in error["message"], error


async def test_bad_query_parameters_and_bodies(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        for params, field in (
            ({"state": "closed"}, "state"),
            ({"limit": "0"}, "limit"),
            ({"page": "nope"}, "page"),
            ({"before": "x"}, "before"),
        ):
            answer = await client.get("/api/v1/incidents", params=params, headers=AUTH)
            assert answer.status_code == 400 and answer.json()["error"]["field"] == field
        answer = await client.post("/api/v1/incidents", content=b"{", headers=AUTH)
        assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]["message"]
        answer = await client.post("/api/v1/incidents", json=[1], headers=AUTH)
        assert (
            answer.status_code == 400 and "expected an object" in answer.json()["error"]["message"]
        )
        missing = await client.get("/api/v1/status/nope")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "slug"
        assert "the pages are public" in missing.json()["error"]["message"]


async def test_writes_and_private_pages_need_the_token(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        denied = await client.post("/api/v1/incidents", json={"title": "t", "message": "m"})
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert (await client.get("/api/v1/incidents")).status_code == 401
        assert (await client.post("/api/v1/incidents/1/resolve")).status_code == 401
        assert (await client.get("/api/v1/status/public")).status_code == 200
        assert (await client.get("/api/v1/status/internal")).status_code == 401
        assert (await client.get("/api/v1/status/internal", headers=AUTH)).status_code == 200
        listed = (await client.get("/api/v1/status")).json()["pages"]
        assert [p["slug"] for p in listed] == ["public"]
        listed = (await client.get("/api/v1/status", headers=AUTH)).json()["pages"]
        assert [p["slug"] for p in listed] == ["public", "internal"]
        page = await client.get("/status/internal")
        assert (
            page.status_code == 303
            and page.headers["location"] == "/login?next=%2Fstatus%2Finternal"
        )


async def test_every_change_is_an_alert_of_the_alerts_part(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        opened = await _open(client, title="Slow answers", message="Looking", monitors=["api"])

        async def incident_alert() -> dict[str, Any]:
            found = (await client.get("/api/v1/alerts", headers=AUTH)).json()["alerts"]
            (alert,) = [a for a in found if a["labels"]["alertname"] == "StatusPageIncident"]
            return alert  # type: ignore[no-any-return]

        alert = await incident_alert()
        assert alert["status"] == "firing"
        assert alert["labels"]["incident"] == str(opened["id"])
        assert alert["annotations"]["summary"] == "Slow answers"
        assert alert["annotations"]["monitors"] == "api"
        assert alert["links"]["status_page"] == "http://127.0.0.1:9800/status/public"
        await client.post(
            f"/api/v1/incidents/{opened['id']}/updates",
            json={"status": "identified", "message": "Found it"},
            headers=AUTH,
        )
        alert = await incident_alert()
        assert alert["annotations"]["incident_status"] == "identified"
        assert alert["annotations"]["description"] == "Found it"
        await client.post(f"/api/v1/incidents/{opened['id']}/resolve", headers=AUTH)
        assert (await incident_alert())["status"] == "resolved"


async def test_incidents_on_postgres(tmp_path: Path, pg_url: str) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path), database=pg_url) as (_hub, client):
        opened = await _open(client, title="DB slow", message="m", monitors=["db"])
        await client.post(
            f"/api/v1/incidents/{opened['id']}/resolve", json={"message": "ok"}, headers=AUTH
        )
        listed = (
            await client.get("/api/v1/incidents", params={"page": "internal"}, headers=AUTH)
        ).json()
        assert [(i["id"], i["status"]) for i in listed["incidents"]] == [(opened["id"], "resolved")]
        page = (await client.get("/api/v1/status/public")).json()
        assert [i["id"] for i in page["incidents"]["recent"]] == [opened["id"]]
        assert page["incidents"]["active"] == []


def test_the_cli_opens_updates_resolves_and_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTWATCH_HUB_TOKEN", raising=False)
    with served_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, url):
        common = ["--hub", url, "--token-file", str(tmp_path / "token"), "--by", "ops-bot"]
        assert (
            main(
                [
                    "hub",
                    "incident",
                    "open",
                    "--title",
                    "Deploy broke login",
                    "--message",
                    "Rolling back",
                    "--monitor",
                    "api",
                    "--impact",
                    "critical",
                    *common,
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert out.startswith("incident 1: Deploy broke login\n")
        assert "status investigating, impact critical, owner ops-bot" in out
        assert "  monitors api (up)\n" in out  # not checked: no monitor is down
        assert "  http://127.0.0.1:9800/status/public\n" in out  # the hub's public_url
        assert (
            main(
                [
                    "hub",
                    "incident",
                    "update",
                    "1",
                    "--status",
                    "monitoring",
                    "--message",
                    "Rolled back",
                    *common,
                ]
            )
            == 0
        )
        assert "monitoring    Rolled back  (ops-bot)" in capsys.readouterr().out
        assert main(["hub", "incident", "resolve", "1", "--message", "Login works", *common]) == 0
        assert "status resolved" in capsys.readouterr().out
        assert main(["hub", "incident", "list", "--state", "resolved", *common]) == 0
        listing = capsys.readouterr().out.splitlines()
        assert listing[0].split() == ["ID", "STATUS", "IMPACT", "OPENED", "LASTED", "TITLE"]
        assert listing[1].split()[:3] == ["1", "resolved", "critical"]
        assert listing[1].endswith("Deploy broke login")
        assert (
            main(
                [
                    "hub",
                    "incident",
                    "update",
                    "1",
                    "--message",
                    "x",
                    "--status",
                    "identified",
                    "--hub",
                    url,
                ]
            )
            == 1
        )  # no token
        assert "401" in capsys.readouterr().out
        assert main(["hub", "incident", "resolve", "7", *common]) == 1
        assert "no incident 7" in capsys.readouterr().out


async def test_a_page_feeds_its_incidents_as_atom(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        first = await _open(
            client, title="Slow answers", message="Looking <b>into</b> it", monitors=["api"]
        )
        await client.post(
            f"/api/v1/incidents/{first['id']}/updates",
            json={"status": "identified", "message": "LLM provider"},
            headers=AUTH,
        )
        await _open(client, title="Queue stuck", message="m", monitors=["queue"])  # internal only
        answer = await client.get("/status/public/feed.atom")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/atom+xml")
        ns = {"a": "http://www.w3.org/2005/Atom"}
        feed = ElementTree.fromstring(answer.content)
        assert feed.findtext("a:title", namespaces=ns) == "Agent API status"
        (entry,) = feed.findall("a:entry", ns)
        assert entry.findtext("a:title", namespaces=ns) == "[Identified] Slow answers"
        link = entry.find("a:link", ns)
        assert link is not None
        assert link.get("href") == f"http://127.0.0.1:9800/status/public#incident-{first['id']}"
        content = entry.findtext("a:content", namespaces=ns) or ""
        assert content.index("LLM provider") < content.index("Looking &lt;b&gt;into&lt;/b&gt; it")
        assert (await client.get("/status/internal/feed.atom")).status_code == 401
        assert (await client.get("/status/internal/feed.atom", headers=AUTH)).status_code == 200


async def test_a_false_alarm_is_deleted_and_its_alert_resolved(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        kept = await _open(client, title="Real", message="m", monitors=["db"])
        false_alarm = await _open(client, title="False alarm", message="m", monitors=["api"])
        assert (await client.delete(f"/api/v1/incidents/{false_alarm['id']}")).status_code == 401
        answer = await client.delete(f"/api/v1/incidents/{false_alarm['id']}", headers=AUTH)
        assert answer.json() == {"deleted": false_alarm["id"]}
        gone = await client.get(f"/api/v1/incidents/{false_alarm['id']}", headers=AUTH)
        assert gone.status_code == 404
        listed = (await client.get("/api/v1/incidents", headers=AUTH)).json()["incidents"]
        assert [i["id"] for i in listed] == [kept["id"]]
        page = (await client.get("/api/v1/status/public")).json()["incidents"]
        assert [i["id"] for i in page["active"]] == [kept["id"]]
        alerts = (await client.get("/api/v1/alerts", headers=AUTH)).json()["alerts"]
        by_incident = {
            a["labels"]["incident"]: a["status"]
            for a in alerts
            if a["labels"]["alertname"] == "StatusPageIncident"
        }
        assert by_incident == {str(kept["id"]): "firing", str(false_alarm["id"]): "resolved"}
        again = await client.delete(f"/api/v1/incidents/{false_alarm['id']}", headers=AUTH)
        assert again.status_code == 404 and again.json()["error"]["field"] == "incident_id"


async def test_metrics_count_the_open_incidents_by_impact(tmp_path: Path) -> None:
    async with running_hub(tmp_path, hub_yaml(tmp_path)) as (_hub, client):
        first = await _open(client, title="a", message="m", impact="minor")
        await _open(client, title="b", message="m", impact="critical")
        await _open(client, title="c", message="m", impact="critical")
        await client.post(f"/api/v1/incidents/{first['id']}/resolve", headers=AUTH)

        async def counted() -> bool:
            text = (await client.get("/metrics")).text
            return all(
                line in text
                for line in (
                    'agentwatch_status_incidents_open{impact="minor"} 0.0',
                    'agentwatch_status_incidents_open{impact="critical"} 2.0',
                    'agentwatch_status_incidents_open{impact="major"} 0.0',
                )
            )

        await eventually("the open incidents counted", counted)
