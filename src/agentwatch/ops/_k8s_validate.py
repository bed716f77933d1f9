"""The Kubernetes check of ``ops validate``: every manifest against the Kubernetes schemas.

- ``k8s/*.yaml``: each object is validated strictly (unknown fields refused) with
  ``kubernetes-validate`` for the oldest and the newest Kubernetes minor it is checked
  against (:data:`KUBERNETES_VERSIONS`); ``kustomization.yaml`` must list exactly the
  manifests beside it.
- ``helm/<chart>/``: ``values.yaml`` is checked against ``values.schema.json``, the
  templates are rendered (``_helm_render.py``) and every rendered object validated the same
  way.

:func:`kubernetes_problems` returns ``(objects checked, problems)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .._exceptions import ValidationFailedError
from ._helm_render import HelmTemplateError, render_chart

__all__ = ["KUBERNETES_VERSIONS", "kubernetes_problems", "schema_problems"]

KUBERNETES_VERSIONS = ("1.29", "latest")
INSTALL_HINT = "pip install 'agentwatch[ops]' (kubernetes-validate)"


def _validator() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        raise ValidationFailedError(
            f"kubernetes-validate is not installed: {INSTALL_HINT}"
        ) from None
    return kubernetes_validate


def schema_problems(where: str, manifest: dict[str, Any]) -> list[str]:
    """Problems of one object against each checked Kubernetes version's strict schema."""
    validator = _validator()
    problems = []
    kind = f"{manifest.get('kind')} {(manifest.get('metadata') or {}).get('name')}"
    for version in KUBERNETES_VERSIONS:
        target = validator.latest_version() if version == "latest" else version
        try:
            validator.validate(manifest, target, strict=True)
        except validator.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top)"
            problems.append(f"{where}: {kind}: Kubernetes {target}: {path}: {exc.message}")
        except validator.SchemaNotFoundError:
            problems.append(
                f"{where}: {kind}: no schema for {manifest.get('apiVersion')} in {target}"
            )
    return problems


def _plain(root: Path) -> tuple[int, list[str]]:
    folder = root / "k8s"
    count, problems = 0, []
    manifests = sorted(p for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")
    for path in manifests:
        for manifest in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if manifest:
                count += 1
                problems += schema_problems(f"k8s/{path.name}", manifest)
    kustomization = folder / "kustomization.yaml"
    if kustomization.is_file():
        listed = (yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}).get(
            "resources"
        ) or []
        names = [p.name for p in manifests]
        for missing in sorted(set(listed) - set(names)):
            problems.append(f"k8s/kustomization.yaml: lists {missing}, which does not exist")
        for unlisted in sorted(set(names) - set(listed)):
            problems.append(f"k8s/kustomization.yaml: does not list {unlisted}")
    return count, problems


def _values_problems(chart: Path, rel: str) -> list[str]:
    import jsonschema

    schema = json.loads((chart / "values.schema.json").read_text(encoding="utf-8"))
    values = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8")) or {}
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{rel}/values.yaml: {'.'.join(str(p) for p in error.path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(values)
    ]


def _chart(chart: Path, root: Path) -> tuple[int, list[str]]:
    rel = str(chart.relative_to(root))
    problems = _values_problems(chart, rel) if (chart / "values.schema.json").is_file() else []
    try:
        rendered = render_chart(chart, release=chart.name)
    except (HelmTemplateError, yaml.YAMLError) as exc:
        return 0, [*problems, f"{rel}: does not render: {exc}"]
    for item in rendered.manifests:
        problems += schema_problems(f"{rel}/templates/{item.template}", item.manifest)
    return len(rendered.manifests), problems


def kubernetes_problems(root: Path) -> tuple[int, list[str]]:
    """(objects checked, problems) of ``k8s/`` and every chart under ``helm/``."""
    count, problems = _plain(root) if (root / "k8s").is_dir() else (0, [])
    for chart_yaml in sorted((root / "helm").glob("*/Chart.yaml")):
        checked, found = _chart(chart_yaml.parent, root)
        count += checked
        problems += found
    return count, problems
