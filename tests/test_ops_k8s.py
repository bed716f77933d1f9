"""ops generate --k8s-format helm|kustomize: the plain manifests, their kustomization, the
Helm chart rendered without helm, and every object checked against the Kubernetes schemas
(kubernetes-validate, strict) for both formats and both trace backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agentwatch import ValidationFailedError
from agentwatch._cli import main
from agentwatch.ops import GenerateOptions, generate, validate
from agentwatch.ops._helm_render import HelmTemplateError, render_chart
from agentwatch.ops._k8s_validate import KUBERNETES_VERSIONS, schema_problems

SERVICE = "agent-api"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def helm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ops-helm") / "deploy"
    generate(
        out,
        GenerateOptions(
            service=SERVICE, k8s_format="helm", service_image="ghcr.io/acme/agent-api:1.4.2"
        ),
    )
    return out


def _chart(folder: Path) -> Path:
    return folder / "helm" / SERVICE


@pytest.mark.parametrize("backend", ["tempo", "jaeger"])
@pytest.mark.parametrize("k8s_format", ["kustomize", "helm"])
def test_ops_validate_is_clean_for_every_backend_and_format(
    tmp_path: Path, backend: str, k8s_format: str
) -> None:
    generate(tmp_path / "out", GenerateOptions(traces_backend=backend, k8s_format=k8s_format))
    report = validate(tmp_path / "out")
    assert report.problems == []
    # the plain manifests (with the retention ConfigMap), plus the chart's rendering
    objects = 7 if k8s_format == "kustomize" else 13
    assert report.checks["kubernetes schemas"] == f"{objects} objects"
    assert (tmp_path / "out/helm").exists() == (k8s_format == "helm")
    assert (tmp_path / "out/k8s/kustomization.yaml").exists() == (k8s_format == "kustomize")


def test_the_kustomization_lists_every_manifest_and_pins_the_image(tmp_path: Path) -> None:
    generate(
        tmp_path / "out", GenerateOptions(service_image="registry.local:5000/team/agent-api:2.0.1")
    )
    folder = tmp_path / "out/k8s"
    kustomization = _yaml(folder / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert kustomization["images"] == [
        {"name": "registry.local:5000/team/agent-api", "newTag": "2.0.1"}
    ]
    (folder / "poddisruptionbudget.yaml").unlink()
    with pytest.raises(
        ValidationFailedError, match=r"lists poddisruptionbudget\.yaml, which does not exist"
    ):
        validate(tmp_path / "out")


def test_the_plain_manifests_run_a_collector_the_service_sends_otlp_to(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(traces_backend="jaeger"))
    folder = tmp_path / "out/k8s"
    container = _yaml(folder / "deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["AGENTWATCH_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    service = _yaml(folder / "otel-collector-service.yaml")
    assert service["metadata"]["name"] == "otel-collector"
    assert {p["port"] for p in service["spec"]["ports"]} >= {4317, 4318}
    config = yaml.safe_load(_yaml(folder / "otel-collector-configmap.yaml")["data"]["config.yaml"])
    assert config == _yaml(tmp_path / "out/otel-collector/config.yaml")
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"


def test_the_chart_renders_the_objects_of_the_plain_manifests(helm_folder: Path) -> None:
    rendered = render_chart(_chart(helm_folder), release=SERVICE)
    by_kind = {(m["kind"], m["metadata"]["name"]): m for _t, m in rendered.manifests}
    assert sorted(by_kind) == [
        ("ConfigMap", "agent-api-otel-collector"),
        ("Deployment", "agent-api"),
        ("Deployment", "agent-api-otel-collector"),
        ("PodDisruptionBudget", "agent-api"),
        ("Service", "agent-api"),
        ("Service", "agent-api-otel-collector"),
    ]
    plain = _yaml(helm_folder / "k8s/deployment.yaml")["spec"]["template"]["spec"]
    chart = by_kind[("Deployment", SERVICE)]["spec"]["template"]["spec"]
    chart_container, plain_container = chart["containers"][0], plain["containers"][0]
    assert chart_container.pop("imagePullPolicy") == "IfNotPresent"
    endpoint = "http://agent-api-otel-collector:4318"
    for item in chart_container["env"]:
        if item["name"] == "AGENTWATCH_OTLP_ENDPOINT":
            assert item["value"] == endpoint
            item["value"] = "http://otel-collector:4318"
    assert chart_container == plain_container
    assert plain_container["image"] == "ghcr.io/acme/agent-api:1.4.2"
    config = by_kind[("ConfigMap", "agent-api-otel-collector")]["data"]["config.yaml"]
    assert yaml.safe_load(config) == _yaml(helm_folder / "otel-collector/config.yaml")
    selector = by_kind[("Service", SERVICE)]["spec"]["selector"]
    collector_pod = by_kind[("Deployment", "agent-api-otel-collector")]["spec"]["template"]
    assert not selector.items() <= collector_pod["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("release", "values", "names", "endpoint"),
    [
        (
            "prod",
            {},
            {"prod-agent-api", "prod-agent-api-otel-collector"},
            "http://prod-agent-api-otel-collector:4318",
        ),
        (
            "agent-api-canary",
            {"collector": {"enabled": False}, "otlpEndpoint": "http://otel.observability:4318"},
            {"agent-api-canary"},
            "http://otel.observability:4318",
        ),
        (
            "x",
            {
                "fullnameOverride": "chat",
                "podDisruptionBudget": {"enabled": False},
                "replicaCount": 5,
            },
            {"chat", "chat-otel-collector"},
            "http://chat-otel-collector:4318",
        ),
    ],
    ids=["release-prefix", "no-collector", "overrides"],
)
def test_the_chart_with_other_values_still_renders_valid_objects(
    helm_folder: Path, release: str, values: dict[str, Any], names: set[str], endpoint: str
) -> None:
    rendered = render_chart(_chart(helm_folder), release=release, values=values)
    problems = [p for t, m in rendered.manifests for p in schema_problems(t, m)]
    assert problems == []
    assert {m["metadata"]["name"] for _t, m in rendered.manifests} == names
    deployment = next(
        m
        for _t, m in rendered.manifests
        if m["kind"] == "Deployment" and "collector" not in m["metadata"]["name"]
    )
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["AGENTWATCH_OTLP_ENDPOINT"] == endpoint
    assert deployment["spec"]["replicas"] == values.get("replicaCount", 2)
    kinds = [m["kind"] for _t, m in rendered.manifests]
    assert ("PodDisruptionBudget" in kinds) == values.get("podDisruptionBudget", {}).get(
        "enabled", True
    )
    assert endpoint in rendered.texts["NOTES.txt"]


def test_values_follow_their_schema_and_a_mistyped_value_is_named(
    helm_folder: Path, tmp_path: Path
) -> None:
    chart = _chart(helm_folder)
    schema = __import__("json").loads((chart / "values.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(_yaml(chart / "values.yaml"))
    out = tmp_path / "out"
    generate(out, GenerateOptions(k8s_format="helm", packs=("http",)))
    values = out / f"helm/{SERVICE}/values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 2", "replicaCount: two"))
    with pytest.raises(ValidationFailedError) as caught:
        validate(out)
    assert f"helm/{SERVICE}/values.yaml: replicaCount: 'two' is not of type 'integer'" in str(
        caught.value
    )


def test_the_schemas_refuse_a_broken_manifest_naming_file_object_and_field(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(out, GenerateOptions(packs=("http",)))
    deployment = out / "k8s/deployment.yaml"
    deployment.write_text(
        deployment.read_text().replace("replicas: 2", "replicas: 2\n  replica: 3")
    )
    service = out / "k8s/service.yaml"
    service.write_text(service.read_text().replace("port: 8000", "port: eight-thousand"))
    with pytest.raises(ValidationFailedError) as caught:
        validate(out)
    message = str(caught.value)
    for version in KUBERNETES_VERSIONS[:1]:
        assert f"k8s/deployment.yaml: Deployment agent-api: Kubernetes {version}: spec:" in message
    assert "'replica' was unexpected" in message
    assert "k8s/service.yaml: Service agent-api" in message and "spec.ports.0.port" in message


def test_a_template_outside_the_rendered_subset_is_refused_by_name(
    helm_folder: Path, tmp_path: Path
) -> None:
    import shutil

    chart = tmp_path / "chart"
    shutil.copytree(_chart(helm_folder), chart)
    extra = chart / "templates/extra.yaml"
    extra.write_text("{{ range .Values.items }}x{{ end }}\n")
    with pytest.raises(
        HelmTemplateError, match=r"extra.yaml: \{\{ range .Values.items \}\} is outside"
    ):
        render_chart(chart)
    extra.write_text("value: {{ .Values.image.tag | upper }}\n")
    with pytest.raises(
        HelmTemplateError, match=r"templates/extra\.yaml: function 'upper' is outside"
    ):
        render_chart(chart)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ "a" | quote }}', '"a"'),
        ("{{ 8000 | quote }}", '"8000"'),
        ('{{ default "x" "" }}/{{ "y" | default "x" }}', "x/y"),
        ('{{ printf "%s-%s" "ab" "cd" | trunc 4 | trimSuffix "-" }}', "ab-c"),
        ('{{ printf "%s-" "ab" | trimSuffix "-" }}', "ab"),
        ('a\n  {{- "b" }}', "ab"),
        ('{{ "a" -}}\n  b', "ab"),
        ('{{- if "" }}no{{- else if .Values.enabled }}yes{{- else }}else{{- end }}', "yes"),
        ("{{- if .Values.missing }}no{{ end }}[{{ .Values.missing }}]", "[]"),
        ("m:{{ toYaml .Values.map | nindent 2 }}", "m:\n  a: 1\n  b:\n  - x"),
        ("{{ toYaml .Values.empty }}", "{}"),
        (
            '{{ contains "api" "agent-api" }} {{ not .Values.enabled }} {{ eq 1 1 }}',
            "true false true",
        ),
        ("{{/* a comment */}}z", "z"),
    ],
)
def test_the_renderer_follows_helms_semantics(tmp_path: Path, template: str, expected: str) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("enabled: true\nmap: {b: [x], a: 1}\nempty: {}\n")
    (chart / "templates/t.txt").write_text(template)
    assert render_chart(chart).texts["t.txt"] == expected


def test_cli_k8s_format_helm(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "ops",
                "generate",
                "--out",
                str(out),
                "--packs",
                "http",
                "--k8s-format",
                "helm",
                "--service",
                "billing",
            ]
        )
        == 0
    )
    chart = _yaml(out / "helm/billing/Chart.yaml")
    assert (chart["apiVersion"], chart["name"], chart["appVersion"]) == ("v2", "billing", "0.1.0")
    assert not (out / "k8s/kustomization.yaml").exists() and (out / "k8s/deployment.yaml").exists()
    assert main(["ops", "validate", str(out)]) == 0
