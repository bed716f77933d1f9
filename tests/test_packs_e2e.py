"""Every shipped pack file end to end: a real Prometheus scrapes a service using the packs.

The service registers the shipped packs as ``init(packs=[...])`` does and records every
metric of them with the label values the pack files declare; Prometheus runs with the
generated prometheus.yml and rules (test profile); every panel query of every pack's
dashboard must return data, and ``ops validate`` passes on the folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests._ops_stack import Service, free_port, process, prometheus_argv, wait_for

from agentwatch._catalog.packfile import PackFile, catalog_specs, load_packs, shipped_packs
from agentwatch.ops import GenerateOptions, generate, validate
from agentwatch.ops._options import TEST_PROFILE

SERVICE = "packs-api"


@dataclass
class PackStack:
    folder: Path
    prometheus: str
    packs: tuple[PackFile, ...]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackStack]:
    root = tmp_path_factory.mktemp("packs-e2e")
    packs = load_packs(shipped_packs())
    specs = [spec for spec in catalog_specs(packs) if spec.pack in {p.pack for p in packs}]
    values = {name: labels for pack in packs for name, labels in pack.label_values.items()}
    service = Service(specs, values)
    port = free_port()
    options = GenerateOptions(
        service=SERVICE,
        service_targets=(f"127.0.0.1:{service.port}",),
        packs=("http", *shipped_packs()),
        hub_targets=(),
        infra_targets={},
        profile=TEST_PROFILE,
    )
    folder = root / "deploy"
    generate(folder, options)
    url = f"http://127.0.0.1:{port}"
    try:
        with process(
            prometheus_argv(folder / "prometheus/prometheus.yml", root / "tsdb", port),
            root / "prom.log",
            f"{url}/-/ready",
        ):
            yield PackStack(folder, url, packs)
    finally:
        service.close()


def _queries(folder: Path, pack: str) -> list[tuple[str, str]]:
    board = json.loads((folder / f"grafana/dashboards/aw-pack-{pack}.json").read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$service", SERVICE)
            out.append((panel["title"], expr.replace("$__rate_interval", "5s")))
    return out


def _has_data(prometheus: str, expr: str) -> bool:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", (expr, body)
    return bool(body["data"]["result"])


@pytest.mark.parametrize("pack", shipped_packs())
def test_every_panel_of_the_pack_dashboard_returns_live_data(stack: PackStack, pack: str) -> None:
    queries = _queries(stack.folder, pack)
    assert queries, f"the {pack} dashboard has no panel"
    wait_for(
        f"every {pack} panel query to return data",
        lambda: all(_has_data(stack.prometheus, expr) for _t, expr in queries),
        60,
        every_s=1,
    )
    assert [t for t, expr in queries if not _has_data(stack.prometheus, expr)] == []


# with the module's folder (tempo, kustomize): each backend and each format with every pack
# file (test_ops_k8s crosses all four with the built-in packs)
@pytest.mark.parametrize(("backend", "k8s_format"), [("jaeger", "kustomize"), ("tempo", "helm")])
def test_ops_validate_is_clean_with_every_pack_for_each_backend_and_format(
    tmp_path: Path, backend: str, k8s_format: str
) -> None:
    options = GenerateOptions(
        packs=("http", *shipped_packs()),
        traces_backend=backend,
        k8s_format=k8s_format,
    )
    generate(tmp_path / "out", options)
    report = validate(tmp_path / "out")
    assert report.problems == []
    boards = {path.stem for path in (tmp_path / "out/grafana/dashboards").glob("*.json")}
    assert {f"aw-pack-{name}" for name in shipped_packs()} <= boards
    assert "kubernetes schemas" in report.checks


def test_the_folder_with_every_shipped_pack_validates(stack: PackStack) -> None:
    report = validate(stack.folder)
    assert report.problems == []
    alerts = {alert.name for pack in stack.packs for alert in pack.alerts}
    tests = {path.stem for path in (stack.folder / "prometheus/tests").glob("*.yml")}
    assert alerts and alerts <= tests
