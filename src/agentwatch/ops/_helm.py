"""helm/<service>/: a Helm chart of the same objects as the plain manifests in k8s/.

``values.yaml`` is :class:`~agentwatch.ops._k8s.K8sValues` (image, port, replicas,
resources, the Collector and its configuration); ``values.schema.json`` lets Helm refuse a
mistyped value before anything is installed. The templates are fixed text written in the
subset of Helm's language that ``_helm_render.py`` renders, so ``ops validate`` checks the
rendered manifests against the Kubernetes schemas without ``helm``. Names follow
``helm create``: the release name, suffixed with the chart's unless it already contains it
(``helm install agent-api ./helm/agent-api`` names everything ``agent-api``).
"""

from __future__ import annotations

import json

from ._k8s import K8sValues
from ._yaml import HEADER, dump

__all__ = ["chart_files", "chart_values"]

_HELPERS = """\
{{/* Names and labels, as helm create writes them. */}}
{{- define "agentwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "agentwatch.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "agentwatch.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "agentwatch.collector" -}}
{{- printf "%s-otel-collector" (include "agentwatch.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "agentwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agentwatch
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "agentwatch.collectorSelectorLabels" -}}
app.kubernetes.io/name: otel-collector
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentwatch.collectorLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "agentwatch.collectorSelectorLabels" . }}
app.kubernetes.io/part-of: agentwatch
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "agentwatch.otlpEndpoint" -}}
{{- if .Values.otlpEndpoint }}
{{- .Values.otlpEndpoint }}
{{- else }}
{{- printf "http://%s:4318" (include "agentwatch.collector" .) }}
{{- end }}
{{- end }}
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "agentwatch.fullname" . }}
  labels:
    {{- include "agentwatch.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "agentwatch.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "agentwatch.labels" . | nindent 8 }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .Values.service.port | quote }}
        prometheus.io/path: {{ .Values.metricsPath | quote }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
          env:
            - name: AGENTWATCH_SERVICE_NAME
              value: {{ .Values.serviceName | default .Chart.Name | quote }}
            - name: AGENTWATCH_ENVIRONMENT
              value: {{ .Values.environment | quote }}
            - name: AGENTWATCH_OTLP_ENDPOINT
              value: {{ include "agentwatch.otlpEndpoint" . | quote }}
            - name: AGENTWATCH_SERVICE_VERSION
              valueFrom:
                fieldRef:
                  fieldPath: metadata.labels['app.kubernetes.io/version']
          startupProbe:
            httpGet:
              path: {{ .Values.health.livePath }}
              port: http
            periodSeconds: 2
            timeoutSeconds: 3
            failureThreshold: 30
          livenessProbe:
            httpGet:
              path: {{ .Values.health.livePath }}
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: {{ .Values.health.readyPath }}
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
      terminationGracePeriodSeconds: 30
"""

_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ include "agentwatch.fullname" . }}
  labels:
    {{- include "agentwatch.labels" . | nindent 4 }}
spec:
  selector:
    {{- include "agentwatch.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
"""

_PDB = """\
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "agentwatch.fullname" . }}
  labels:
    {{- include "agentwatch.labels" . | nindent 4 }}
spec:
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "agentwatch.selectorLabels" . | nindent 6 }}
{{- end }}
"""

_COLLECTOR_CONFIGMAP = """\
{{- if .Values.collector.enabled }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "agentwatch.collector" . }}
  labels:
    {{- include "agentwatch.collectorLabels" . | nindent 4 }}
data:
  config.yaml: |
    {{- toYaml .Values.collector.config | nindent 4 }}
{{- end }}
"""

_COLLECTOR_DEPLOYMENT = """\
{{- if .Values.collector.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "agentwatch.collector" . }}
  labels:
    {{- include "agentwatch.collectorLabels" . | nindent 4 }}
spec:
  replicas: {{ .Values.collector.replicaCount }}
  selector:
    matchLabels:
      {{- include "agentwatch.collectorSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "agentwatch.collectorLabels" . | nindent 8 }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "8888"
        prometheus.io/path: /metrics
    spec:
      containers:
        - name: otel-collector
          image: {{ .Values.collector.image | quote }}
          args:
            - --config=/etc/otelcol/config.yaml
          ports:
            - name: otlp-grpc
              containerPort: 4317
            - name: otlp-http
              containerPort: 4318
            - name: metrics
              containerPort: 8888
            - name: prom-export
              containerPort: 8889
          livenessProbe:
            httpGet:
              path: /
              port: 13133
            periodSeconds: 10
          readinessProbe:
            httpGet:
              path: /
              port: 13133
            periodSeconds: 5
          resources:
            {{- toYaml .Values.collector.resources | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/otelcol
            - name: queue
              mountPath: /var/lib/otelcol/file_storage
      volumes:
        - name: config
          configMap:
            name: {{ include "agentwatch.collector" . }}
        - name: queue
          emptyDir: {}
{{- end }}
"""

_COLLECTOR_SERVICE = """\
{{- if .Values.collector.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "agentwatch.collector" . }}
  labels:
    {{- include "agentwatch.collectorLabels" . | nindent 4 }}
spec:
  selector:
    {{- include "agentwatch.collectorSelectorLabels" . | nindent 4 }}
  ports:
    - name: otlp-grpc
      port: 4317
      targetPort: otlp-grpc
    - name: otlp-http
      port: 4318
      targetPort: otlp-http
    - name: metrics
      port: 8888
      targetPort: metrics
    - name: prom-export
      port: 8889
      targetPort: prom-export
{{- end }}
"""

_NOTES = """\
{{ include "agentwatch.fullname" . }} is installed.

Probes: {{ .Values.health.livePath }} (live) and {{ .Values.health.readyPath }} (ready).
Metrics: {{ .Values.metricsPath }} on port {{ .Values.service.port }} (prometheus.io annotations).
Traces and logs: OTLP to {{ include "agentwatch.otlpEndpoint" . }}.
"""

_HELMIGNORE = ".DS_Store\n.git/\n*.swp\n*.bak\n*.tmp\n*.orig\n*~\n"

TEMPLATES = {
    "_helpers.tpl": _HELPERS,
    "deployment.yaml": _DEPLOYMENT,
    "service.yaml": _SERVICE,
    "poddisruptionbudget.yaml": _PDB,
    "otel-collector-configmap.yaml": _COLLECTOR_CONFIGMAP,
    "otel-collector-deployment.yaml": _COLLECTOR_DEPLOYMENT,
    "otel-collector-service.yaml": _COLLECTOR_SERVICE,
    "NOTES.txt": _NOTES,
}


def chart_values(values: K8sValues) -> dict[str, object]:
    """values.yaml: every knob of the chart with the generated defaults."""
    return {
        "nameOverride": "",
        "fullnameOverride": "",
        "serviceName": values.service,
        "replicaCount": values.replicas,
        "image": {
            "repository": values.image_repository,
            "tag": values.image_tag,
            "pullPolicy": "IfNotPresent",
        },
        "service": {"port": values.port},
        "metricsPath": values.metrics_path,
        "environment": values.environment,
        "health": {"livePath": "/health/live", "readyPath": "/health/ready"},
        "otlpEndpoint": "",
        "resources": values.resources,
        "podDisruptionBudget": {"enabled": True, "minAvailable": values.min_available},
        "collector": {
            "enabled": True,
            "replicaCount": 1,
            "image": values.collector_image,
            "resources": values.collector_resources,
            "config": values.collector_config,
        },
    }


def _object(properties: dict[str, object], required: list[str] | None = None) -> dict[str, object]:
    schema: dict[str, object] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _values_schema() -> dict[str, object]:
    text, count, path = (
        {"type": "string"},
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": "^/"},
    )
    resources = {"type": "object"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "agentwatch service chart values",
        **_object(
            {
                "nameOverride": text,
                "fullnameOverride": text,
                "serviceName": {"type": "string", "minLength": 1},
                "replicaCount": count,
                "image": _object(
                    {
                        "repository": {"type": "string", "minLength": 1},
                        "tag": text,
                        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                    },
                    ["repository"],
                ),
                "service": _object(
                    {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}, ["port"]
                ),
                "metricsPath": path,
                "environment": text,
                "health": _object({"livePath": path, "readyPath": path}, ["livePath", "readyPath"]),
                "otlpEndpoint": text,
                "resources": resources,
                "podDisruptionBudget": _object(
                    {"enabled": {"type": "boolean"}, "minAvailable": count}
                ),
                "collector": _object(
                    {
                        "enabled": {"type": "boolean"},
                        "replicaCount": count,
                        "image": {"type": "string", "minLength": 1},
                        "resources": resources,
                        "config": {"type": "object"},
                    }
                ),
            },
            ["image", "service", "health"],
        ),
    }


def chart_files(values: K8sValues) -> dict[str, str]:
    """``{"Chart.yaml": text, "values.yaml": ..., "templates/deployment.yaml": ...}``."""
    chart = {
        "apiVersion": "v2",
        "name": values.service,
        "description": f"{values.service} instrumented with agentwatch, and its OpenTelemetry Collector",
        "type": "application",
        "version": "0.1.0",
        "appVersion": values.image_tag,
        "kubeVersion": ">=1.25.0-0",
    }
    files = {
        "Chart.yaml": dump(chart),
        "values.yaml": dump(chart_values(values)),
        "values.schema.json": json.dumps(_values_schema(), indent=2, sort_keys=True) + "\n",
        ".helmignore": _HELMIGNORE,
    }
    for name, text in TEMPLATES.items():
        header = "" if name == "NOTES.txt" else "{{/* " + HEADER.strip("# \n") + " */}}\n"
        files[f"templates/{name}"] = header + text
    return files
