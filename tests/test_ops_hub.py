"""The hub wiring of `agentwatch ops generate`: Alertmanager → hub, Grafana → hub, hub.yaml.

The real end to end (Alertmanager, hub, Slack, PagerDuty, SMTP) is
tests/hub/test_hub_alerts_ops_e2e.py; here: the files agree with each other and with the
severity table, ``ops validate`` names what breaks the wiring, and the CLI flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch._cli import main
from agentwatch._exceptions import ValidationFailedError
from agentwatch.hub.config import HubConfigError
from agentwatch.hub.configfile import check_config
from agentwatch.ops import GenerateOptions, generate, validate


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ops-hub") / "deploy"
    generate(out, GenerateOptions(packs=("http",)))
    return out


def test_alertmanager_and_the_hub_route_the_same_severities(folder: Path) -> None:
    am, hub = _yaml(folder / "alertmanager/alertmanager.yml"), _yaml(folder / "hub/hub.yaml")
    am_routes = {r["matchers"][0]: r["receiver"] for r in am["route"]["routes"]}
    assert am_routes == {'severity="critical"': "hub-critical", 'severity="warning"': "hub-warning"}
    hub_routes = {r["match"]["severity"]: r["channels"] for r in hub["notifications"]["routes"]}
    assert hub_routes == {"critical": ["pagerduty", "slack", "email"], "warning": ["slack"]}
    for receiver in am["receivers"]:
        assert list(receiver) == ["name", "webhook_configs"], receiver["name"]
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == "http://hub:8787/api/v1/alerts/alertmanager"
        token = hook["http_config"]["authorization"]["credentials_file"]
        assert Path(token).name == Path(hub["intake"]["token_file"]).name == "hub_intake_token"
    am_inhibit = [(r["source_matchers"], r["equal"]) for r in am["inhibit_rules"]]
    hub_inhibit = [
        ([f'{k}="{v}"' for k, v in r["source_match"].items()], r["equal"])
        for r in hub["notifications"]["inhibit"]
    ]
    assert am_inhibit == hub_inhibit


def test_hub_yaml_watches_the_service_health_and_its_dependencies(folder: Path) -> None:
    hub = _yaml(folder / "hub/hub.yaml")
    monitors = {m["name"]: m for m in hub["monitors"]}
    assert monitors["agent-api-live"]["url"] == "http://host.docker.internal:8000/health/live"
    assert monitors["agent-api-health"]["type"] == "health"
    assert monitors["agent-api-health"]["url"].endswith("/health/full")
    assert monitors["agent-api-health"]["depends_on"] == ["postgres", "redis"]
    assert monitors["postgres"]["dsn_file"] == "/run/secrets/postgres_dsn"
    assert monitors["redis"]["url_file"] == "/run/secrets/redis_url"
    (page,) = hub["status_pages"]
    assert page["slug"] == "public" and page["public"] is True
    shown = set(page["monitors"]) | {m for g in page["groups"] for m in g["monitors"]}
    assert shown == set(monitors)


def test_compose_runs_the_hub_file_and_mounts_only_the_secrets_each_needs(folder: Path) -> None:
    compose = _yaml(folder / "docker-compose.yml")
    services = compose["services"]
    assert "hub serve --config /etc/agentwatch/hub.yaml" in services["hub"]["command"][-1]
    assert "./hub:/etc/agentwatch:ro" in services["hub"]["volumes"]
    am_secrets = [s["source"] for s in services["alertmanager"]["secrets"]]
    assert am_secrets == ["hub_intake_token"]  # Alertmanager notifies nobody but the hub
    assert "grafana_hmac_secret" in services["grafana"]["secrets"]
    text = (folder / "hub/hub.yaml").read_text()
    named = {
        line.split(": ")[1].rsplit("/", 1)[1] for line in text.splitlines() if "_file: " in line
    }
    assert named == set(services["hub"]["secrets"]) and named <= set(compose["secrets"])


def test_the_hub_check_reads_secret_files_and_validate_only_needs_them_named(
    folder: Path,
) -> None:
    with pytest.raises(HubConfigError, match=r"intake\.token_file: cannot read secret file"):
        check_config(folder / "hub/hub.yaml")
    config = check_config(folder / "hub/hub.yaml", read_secrets=False)
    assert set(config.parts) >= {"alerts", "monitors", "status"}


def test_validate_names_what_breaks_the_wiring(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(out, GenerateOptions(packs=("http",)))
    hub_path, am_path = out / "hub/hub.yaml", out / "alertmanager/alertmanager.yml"
    grafana_path = out / "grafana/provisioning/alerting/hub.yml"
    hub, am, grafana = _yaml(hub_path), _yaml(am_path), _yaml(grafana_path)
    hub["notifications"]["routes"][0]["channels"] = ["pager"]
    hub["notifications"]["routes"].pop()  # no route for warning any more
    hook = am["receivers"][1]["webhook_configs"][0]
    hook["http_config"]["authorization"]["credentials_file"] = "/etc/alertmanager/secrets/other"
    am["receivers"][2]["slack_configs"] = [{"channel": "#x", "api_url_file": "/s"}]
    settings = grafana["contactPoints"][0]["receivers"][0]["settings"]
    settings["hmacConfig"]["secret"] = "plain-secret"
    settings["hmacConfig"]["timestampHeader"] = "X-Time"
    for path, data in ((hub_path, hub), (am_path, am), (grafana_path, grafana)):
        _dump(path, data)
    with pytest.raises(ValidationFailedError) as caught:
        validate(out)
    message = str(caught.value)
    for expected in (
        "notifications.routes[0].channels: 'pager' is not a channel",
        "receiver hub-critical sends token file /etc/alertmanager/secrets/other",
        "receiver hub-warning notifies directly (slack_configs)",
        "no notifications route for severity warning",
        "hmacConfig.secret: expected $__file{PATH}",
        "hmacConfig.timestampHeader: 'X-Time', the hub reads X-Grafana-Alerting-Timestamp",
    ):
        assert expected in message


def test_cli_points_alertmanager_and_grafana_at_the_hub_url(tmp_path: Path) -> None:
    argv = ["ops", "generate", "--out", str(tmp_path / "out"), "--packs", "http"]
    argv += ["--hub-url", "http://hub.internal:9800", "--dependency", "none"]
    argv += ["--secrets-mount", "/var/secrets"]
    assert main(argv) == 0
    am = _yaml(tmp_path / "out/alertmanager/alertmanager.yml")
    hub = _yaml(tmp_path / "out/hub/hub.yaml")
    grafana = _yaml(tmp_path / "out/grafana/provisioning/alerting/hub.yml")
    urls = {h["url"] for r in am["receivers"] for h in r["webhook_configs"]}
    assert urls == {"http://hub.internal:9800/api/v1/alerts/alertmanager"}
    settings = grafana["contactPoints"][0]["receivers"][0]["settings"]
    assert settings["url"] == "http://hub.internal:9800/api/v1/alerts/grafana"
    assert settings["hmacConfig"]["secret"] == "$__file{/var/secrets/grafana_hmac_secret}"
    assert hub["intake"]["grafana_hmac_secret_file"] == "/var/secrets/grafana_hmac_secret"
    assert [m["name"] for m in hub["monitors"]] == ["agent-api-live", "agent-api-health"]
    assert "groups" not in hub["status_pages"][0]
