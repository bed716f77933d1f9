"""ops generate --traces-backend tempo|jaeger: the Collector, Compose and Grafana for either,
and ops validate (with the stack cross-check) clean for both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch import ConfigurationError, ValidationFailedError
from agentwatch._cli import main
from agentwatch.ops import GenerateOptions, generate, validate


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module", params=["tempo", "jaeger"])
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"ops-{request.param}") / "deploy"
    generate(out, GenerateOptions(traces_backend=request.param))
    return out


def _backend(folder: Path) -> str:
    return "jaeger" if (folder / "jaeger").exists() else "tempo"


def test_the_collector_sends_traces_over_otlp_to_the_chosen_backend(folder: Path) -> None:
    backend = _backend(folder)
    config = _yaml(folder / "otel-collector/config.yaml")
    exporter = config["exporters"][f"otlp/{backend}"]
    assert exporter["endpoint"] == f"{backend}:4317"
    assert exporter["sending_queue"]["storage"] == "file_storage"
    assert config["service"]["pipelines"]["traces"]["exporters"] == [f"otlp/{backend}"]
    assert not any(
        name.startswith("otlp/") and name != f"otlp/{backend}" for name in config["exporters"]
    )


def test_compose_runs_only_the_chosen_backend_with_its_config_and_volume(folder: Path) -> None:
    backend = _backend(folder)
    other = {"tempo": "jaeger", "jaeger": "tempo"}[backend]
    compose = _yaml(folder / "docker-compose.yml")
    service = compose["services"][backend]
    assert other not in compose["services"] and not (folder / other).exists()
    assert f"{backend}-data" in compose["volumes"] and f"{other}-data" not in compose["volumes"]
    assert backend in compose["services"]["grafana"]["depends_on"]
    mounted = [v.split(":")[0] for v in service["volumes"]]
    assert all((folder / m).is_file() for m in mounted if m.startswith("./"))
    assert ":" in service["image"] and not service["image"].endswith(":latest")


def test_jaeger_is_v2_with_its_otlp_receiver_badger_storage_and_query_ui(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(traces_backend="jaeger"))
    config = _yaml(tmp_path / "out/jaeger/config.yaml")
    protocols = config["receivers"]["otlp"]["protocols"]
    assert (protocols["grpc"]["endpoint"], protocols["http"]["endpoint"]) == (
        "0.0.0.0:4317",
        "0.0.0.0:4318",
    )
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    badger = config["extensions"]["jaeger_storage"]["backends"]["badger_store"]["badger"]
    assert badger["ephemeral"] is False and badger["ttl"]["spans"] == "168h"
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == "badger_store"
    compose = _yaml(tmp_path / "out/docker-compose.yml")
    jaeger = compose["services"]["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/jaeger:2.")
    assert "jaeger-data:/tmp" in jaeger["volumes"]  # the image's VOLUME, writable by its user
    assert badger["directories"]["keys"].startswith("/tmp/")
    assert "16686:16686" in jaeger["ports"]


def test_grafana_reads_traces_from_the_backend_and_links_logs_and_exemplars_to_it(
    folder: Path,
) -> None:
    backend = _backend(folder)
    sources = _yaml(folder / "grafana/provisioning/datasources/datasources.yml")["datasources"]
    by_uid = {source["uid"]: source for source in sources}
    traces = by_uid[backend]
    assert traces["type"] == backend
    assert traces["url"] == {"tempo": "http://tempo:3200", "jaeger": "http://jaeger:16686"}[backend]
    assert traces["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"
    prometheus, loki = by_uid["prometheus"], by_uid["loki"]
    assert prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == backend
    assert loki["jsonData"]["derivedFields"][0]["datasourceUid"] == backend
    assert ({"tempo", "jaeger"} - {backend}).isdisjoint(by_uid)


def test_ops_validate_is_clean_for_the_backend(folder: Path) -> None:
    report = validate(folder)
    assert report.checks["stack cross-check"] == "ok"
    assert report.problems == []


def test_the_stack_cross_check_names_miswiring(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(out, GenerateOptions(traces_backend="jaeger", packs=("http",)))
    collector = out / "otel-collector/config.yaml"
    collector.write_text(collector.read_text().replace("jaeger:4317", "jaeger:14250"))
    jaeger = out / "jaeger/config.yaml"
    jaeger.write_text(jaeger.read_text().replace("- jaeger_storage_exporter", "- otlp/nowhere"))
    compose = out / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("- prometheus\n", "- prometheos\n", 1))
    with pytest.raises(ValidationFailedError) as caught:
        validate(out)
    message = str(caught.value)
    assert (
        "exporter otlp/jaeger sends to port 14250, jaeger receives OTLP on [4317, 4318]" in message
    )
    assert "jaeger/config.yaml: pipeline traces uses undefined exporter 'otlp/nowhere'" in message
    assert "grafana depends on unknown service 'prometheos'" in message


def test_cli_flag_and_an_unknown_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["ops", "generate", "--out", str(out), "--packs", "http", "--traces-backend", "jaeger"]
    assert main(argv) == 0
    assert (out / "jaeger/config.yaml").is_file() and not (out / "tempo").exists()
    assert "traces in Jaeger (OTLP)" in (out / "README.md").read_text()
    with pytest.raises(SystemExit):
        main(["ops", "generate", "--out", str(out), "--traces-backend", "zipkin"])
    assert "invalid choice: 'zipkin'" in capsys.readouterr().err
    with pytest.raises(ConfigurationError, match="one of tempo, jaeger"):
        GenerateOptions(traces_backend="zipkin")
