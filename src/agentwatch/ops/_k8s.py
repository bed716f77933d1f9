"""k8s/: Deployment and Service for the instrumented service, probes on /health/live and
/health/ready, scrape annotations for /metrics, OTLP to the Collector by environment."""

from __future__ import annotations

from ._options import GenerateOptions

__all__ = ["k8s_files"]


def _port(options: GenerateOptions) -> int:
    _host, _sep, port = options.service_targets[0].rpartition(":")
    return int(port) if port.isdigit() else 8000


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, object]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _container(options: GenerateOptions, port: int) -> dict[str, object]:
    return {
        "name": options.service,
        "image": options.image,
        "ports": [{"name": "http", "containerPort": port}],
        "env": [
            {"name": "AGENTWATCH_SERVICE_NAME", "value": options.service},
            {"name": "AGENTWATCH_OTLP_ENDPOINT", "value": "http://otel-collector:4318"},
            {
                "name": "AGENTWATCH_SERVICE_VERSION",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/version']"}
                },
            },
        ],
        "startupProbe": _probe("/health/live", port, 2, 30),
        "livenessProbe": _probe("/health/live", port, 10, 3),
        "readinessProbe": _probe("/health/ready", port, 5, 2),
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }


def k8s_files(options: GenerateOptions) -> dict[str, dict[str, object]]:
    port = _port(options)
    labels = {
        "app.kubernetes.io/name": options.service,
        "app.kubernetes.io/version": "0.1.0",
        "app.kubernetes.io/part-of": "agentwatch",
    }
    selector = {"app.kubernetes.io/name": options.service}
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": options.metrics_path,
    }
    deployment: dict[str, object] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": options.service, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "containers": [_container(options, port)],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }
    service: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": options.service, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }
    return {"deployment.yaml": deployment, "service.yaml": service}
