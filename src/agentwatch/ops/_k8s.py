"""k8s/: the plain manifests, and with ``k8s_format="kustomize"`` their kustomization.

- The service: Deployment (probes on ``/health/live`` and ``/health/ready``, scrape
  annotations for the metrics path, OTLP to the in-cluster Collector by environment),
  Service and PodDisruptionBudget.
- The Collector: ConfigMap (the generated ``otel-collector/config.yaml``), Deployment
  (health on 13133, a volume for the persistent sending queue) and Service (OTLP 4317 and
  4318, its own metrics on 8888, the Prometheus exporter on 8889).

Every value a deployer changes comes from one :class:`K8sValues`, which the Helm chart
(``_helm.py``) writes as its ``values.yaml``, so the chart and the plain manifests describe
the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._collector import STORAGE, collector_config
from ._compose import IMAGES
from ._options import GenerateOptions
from ._thresholds import retention_configmap
from ._traces import traces_backend
from ._yaml import dump

__all__ = ["COLLECTOR", "K8sValues", "k8s_files", "k8s_values"]

COLLECTOR = "otel-collector"
COLLECTOR_PORTS = (
    ("otlp-grpc", 4317),
    ("otlp-http", 4318),
    ("metrics", 8888),
    ("prom-export", 8889),
)
_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
_COLLECTOR_RESOURCES = {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


def _split_image(image: str) -> tuple[str, str]:
    repository, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repository, tag


def _port(options: GenerateOptions) -> int:
    _host, _sep, port = options.service_targets[0].rpartition(":")
    return int(port) if port.isdigit() else 8000


@dataclass(frozen=True)
class K8sValues:
    """What the manifests are made of; the Helm chart's ``values.yaml`` says the same."""

    service: str
    image_repository: str
    image_tag: str
    port: int
    metrics_path: str
    environment: str = "production"
    replicas: int = 2
    min_available: int = 1
    resources: dict[str, Any] = field(default_factory=lambda: dict(_RESOURCES))
    collector_image: str = IMAGES["otel-collector"]
    collector_resources: dict[str, Any] = field(default_factory=lambda: dict(_COLLECTOR_RESOURCES))
    collector_config: dict[str, object] = field(default_factory=dict)

    @property
    def image(self) -> str:
        return f"{self.image_repository}:{self.image_tag}"

    @property
    def otlp_endpoint(self) -> str:
        return f"http://{COLLECTOR}:4318"


def k8s_values(options: GenerateOptions) -> K8sValues:
    repository, tag = _split_image(options.image)
    return K8sValues(
        service=options.service,
        image_repository=repository,
        image_tag=tag,
        port=_port(options),
        metrics_path=options.metrics_path,
        collector_config=collector_config(traces_backend(options.traces_backend)),
    )


def _labels(name: str, version: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/part-of": "agentwatch",
    }


def _probe(path: str, port: int | str, period: int, failures: int) -> dict[str, object]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def service_container(values: K8sValues) -> dict[str, object]:
    """The service's container, as the chart's template renders it with default values."""
    return {
        "name": values.service,
        "image": values.image,
        "ports": [{"name": "http", "containerPort": values.port}],
        "env": [
            {"name": "AGENTWATCH_SERVICE_NAME", "value": values.service},
            {"name": "AGENTWATCH_ENVIRONMENT", "value": values.environment},
            {"name": "AGENTWATCH_OTLP_ENDPOINT", "value": values.otlp_endpoint},
            {
                "name": "AGENTWATCH_SERVICE_VERSION",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/version']"}
                },
            },
        ],
        "startupProbe": _probe("/health/live", "http", 2, 30),
        "livenessProbe": _probe("/health/live", "http", 10, 3),
        "readinessProbe": _probe("/health/ready", "http", 5, 2),
        "resources": values.resources,
    }


def _deployment(
    name: str,
    labels: dict[str, str],
    replicas: int,
    pod: dict[str, object],
    annotations: dict[str, str],
) -> dict[str, object]:
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod},
        },
    }


def _service(
    name: str, labels: dict[str, str], ports: list[dict[str, object]]
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": ports},
    }


def _scrape(port: int, path: str) -> dict[str, str]:
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": path,
    }


def service_manifests(values: K8sValues) -> dict[str, dict[str, object]]:
    labels = _labels(values.service, values.image_tag)
    pod = {"containers": [service_container(values)], "terminationGracePeriodSeconds": 30}
    pdb: dict[str, object] = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": values.service, "labels": labels},
        "spec": {
            "minAvailable": values.min_available,
            "selector": {"matchLabels": {"app.kubernetes.io/name": values.service}},
        },
    }
    ports: list[dict[str, object]] = [{"name": "http", "port": values.port, "targetPort": "http"}]
    return {
        "deployment.yaml": _deployment(
            values.service, labels, values.replicas, pod, _scrape(values.port, values.metrics_path)
        ),
        "service.yaml": _service(values.service, labels, ports),
        "poddisruptionbudget.yaml": pdb,
    }


def collector_container(values: K8sValues) -> dict[str, object]:
    return {
        "name": COLLECTOR,
        "image": values.collector_image,
        "args": ["--config=/etc/otelcol/config.yaml"],
        "ports": [{"name": name, "containerPort": port} for name, port in COLLECTOR_PORTS],
        "livenessProbe": {"httpGet": {"path": "/", "port": 13133}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/", "port": 13133}, "periodSeconds": 5},
        "resources": values.collector_resources,
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/otelcol"},
            {"name": "queue", "mountPath": STORAGE},
        ],
    }


def collector_manifests(values: K8sValues) -> dict[str, dict[str, object]]:
    version = values.collector_image.rpartition(":")[2]
    labels = _labels(COLLECTOR, version)
    config_map: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": COLLECTOR, "labels": labels},
        "data": {"config.yaml": dump(values.collector_config, header=False)},
    }
    pod = {
        "containers": [collector_container(values)],
        "volumes": [
            {"name": "config", "configMap": {"name": COLLECTOR}},
            {"name": "queue", "emptyDir": {}},
        ],
    }
    ports: list[dict[str, object]] = [
        {"name": name, "port": port, "targetPort": name} for name, port in COLLECTOR_PORTS
    ]
    return {
        f"{COLLECTOR}-configmap.yaml": config_map,
        f"{COLLECTOR}-deployment.yaml": _deployment(
            COLLECTOR, labels, 1, pod, _scrape(8888, "/metrics")
        ),
        f"{COLLECTOR}-service.yaml": _service(COLLECTOR, labels, ports),
    }


def _kustomization(values: K8sValues, resources: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "images": [{"name": values.image_repository, "newTag": values.image_tag}],
    }


def k8s_files(options: GenerateOptions) -> dict[str, dict[str, object]]:
    """``{"deployment.yaml": manifest, ...}`` (and ``kustomization.yaml`` for kustomize)."""
    values = k8s_values(options)
    files = {**service_manifests(values), **collector_manifests(values)}
    files["retention.yaml"] = retention_configmap(options.service, options.settings)
    if options.k8s_format == "kustomize":
        files["kustomization.yaml"] = _kustomization(values, list(files))
    return files
