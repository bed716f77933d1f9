"""Pack files: a pack's metrics, dashboard and alerts declared in YAML.

::

    pack: collections                 # snake_case, the pack's name
    title: Collections                # the dashboard's title (default: from the name)
    description: Debt collection agents.
    metrics:
      - name: collections_calls_total
        kind: counter                 # counter, gauge or histogram
        help: Calls placed, by outcome.
        labels: [outcome]
        values: {outcome: [answered, voicemail]}   # the values a label takes (documented)
        unit: ""                      # seconds or bytes pick the panel unit
        buckets: [0.5, 1, 5]          # histograms (default: the latency buckets)
        budget: 50                    # label combinations before the overflow series
    dashboard:
      rows:
        - title: Calls
          panels:
            - title: Calls per second by outcome
              unit: ops               # a Grafana unit (default short)
              kind: timeseries        # or stat
              width: 12               # of 24 columns
              queries:
                - expr: sum by (outcome) (rate(collections_calls_total[$__rate_interval]))
                  legend: "{{outcome}}"
    alerts:
      - name: CollectionsCallsFailing
        severity: warning             # critical, warning or info
        expr: sum by (service) (rate(collections_calls_total{outcome="failed"}[5m])) > 1
        for: 10m
        summary: "{{ $labels.service }}: calls failing"
        description: More than one call a second fails.
        impact: Customers are not reached.
        diagnosis:
          - {title: Calls by outcome, query: "sum by (outcome) (rate(collections_calls_total[5m]))"}
        resolution: [Check the telephony provider.]
        test:                         # the promtool unit test's inputs
          true_from: 1                # the step from which the condition holds (default 1)
          labels: {}                  # the alert's labels besides service and severity
          fire:
            - {series: 'collections_calls_total{outcome="failed"}', per_step: 120}
          quiet:
            - {series: 'collections_calls_total{outcome="failed"}', per_step: 1}

Queries and alert expressions name metrics without a ``service`` matcher: the generator adds
``service="$service"`` to every selector of a panel and ``service="<service>"`` to every
selector of a rule, and scales the rule's range windows and ``for`` with the timing profile.
Test series get the ``service`` label too. A histogram test input may be written
``{histogram: metric{labels}, buckets: {"0.5": 0, "1.0": 10, "+Inf": 10}}`` (cumulative
counts added each step).

Every problem raises :class:`~agentwatch.ConfigurationError` naming the file and line, the
key path (``alerts[0].test.fire[1].per_step``) and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .._exceptions import ConfigurationError
from .spec import CATALOG, PACKS, MetricSpec, define_pack
from .spec import render_reference as _render_defined
from .yamlnodes import At as _At

__all__ = [
    "SHIPPED_DIR",
    "AlertDecl",
    "PackFile",
    "PanelDecl",
    "QueryDecl",
    "RowDecl",
    "SeriesDecl",
    "TestDecl",
    "catalog_specs",
    "load_pack_file",
    "load_packs",
    "pack_file",
    "parse_pack_text",
    "render_reference",
    "shipped_packs",
]

SHIPPED_DIR = Path(__file__).parent / "shipped"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SEVERITIES = ("critical", "warning", "info")
_PANEL_KINDS = ("timeseries", "stat")
_KINDS = ("counter", "gauge", "histogram")


@dataclass(frozen=True)
class QueryDecl:
    expr: str
    legend: str
    where: str


@dataclass(frozen=True)
class PanelDecl:
    title: str
    queries: tuple[QueryDecl, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12


@dataclass(frozen=True)
class RowDecl:
    title: str
    panels: tuple[PanelDecl, ...]


@dataclass(frozen=True)
class SeriesDecl:
    """One promtool input series: ``series`` grows by ``per_step`` from ``start``.

    ``buckets`` set: ``series`` is a histogram's name and selector, one ``_bucket`` series
    per bound, each growing by its cumulative count.
    """

    series: str
    where: str
    start: str = "0"
    per_step: str = "0"
    buckets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TestDecl:
    fire: tuple[SeriesDecl, ...]
    quiet: tuple[SeriesDecl, ...]
    labels: tuple[tuple[str, str], ...] = ()
    true_from: int = 1


@dataclass(frozen=True)
class AlertDecl:
    name: str
    severity: str
    expr: str
    for_text: str
    summary: str
    description: str
    impact: str
    diagnosis: tuple[tuple[str, str], ...]
    resolution: tuple[str, ...]
    test: TestDecl
    where: str


@dataclass(frozen=True)
class PackFile:
    """A parsed pack file: its metrics (as catalog specs), dashboard rows and alerts."""

    pack: str
    title: str
    description: str
    metrics: tuple[MetricSpec, ...]
    label_values: Mapping[str, Mapping[str, tuple[str, ...]]]  # metric -> label -> values
    rows: tuple[RowDecl, ...]
    alerts: tuple[AlertDecl, ...]
    source: str
    text: str = field(default="", repr=False)


PACK_FILES: dict[str, PackFile] = {}


# --- the pack file ---------------------------------------------------------------------------

_TOP = ("pack", "title", "description", "metrics", "dashboard", "alerts")
_METRIC = ("name", "kind", "help", "labels", "values", "unit", "buckets", "budget")
_ALERT = (
    "name",
    "severity",
    "expr",
    "for",
    "summary",
    "description",
    "impact",
    "diagnosis",
    "resolution",
    "test",
)


def parse_pack_text(text: str, source: str) -> PackFile:
    """Parse a pack file's text (``source`` names it in errors); defines nothing."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            "pack file", source, f"valid YAML ({exc})", source=source
        ) from None
    if root is None:
        raise ConfigurationError("pack file", source, "a mapping with pack and metrics")
    top = _At(root, "", source).mapping(_TOP, ("pack", "metrics"))
    pack = top["pack"].text()
    if not _NAME.match(pack):
        raise top["pack"].fail("a snake_case name [a-z_][a-z0-9_]*")
    metrics, values = _metrics(top["metrics"], pack)
    rows = _dashboard(top["dashboard"]) if "dashboard" in top else ()
    alerts: list[AlertDecl] = []
    for item in top["alerts"].items() if "alerts" in top else ():
        alert = _alert(item)
        if any(a.name == alert.name for a in alerts):
            raise item.fail(f"alert names used once in the pack ({alert.name} repeats)")
        alerts.append(alert)
    return PackFile(
        pack=pack,
        title=top["title"].text() if "title" in top else pack.replace("_", " ").title(),
        description=top["description"].text() if "description" in top else "",
        metrics=metrics,
        label_values=values,
        rows=rows,
        alerts=tuple(alerts),
        source=source,
        text=text,
    )


def _metrics(
    at: _At, pack: str
) -> tuple[tuple[MetricSpec, ...], dict[str, dict[str, tuple[str, ...]]]]:
    specs: list[MetricSpec] = []
    values: dict[str, dict[str, tuple[str, ...]]] = {}
    for item in at.items():
        spec, labels = _metric(item, pack)
        if any(s.name == spec.name for s in specs):
            raise item.fail(f"metric names used once in the pack ({spec.name} repeats)")
        specs.append(spec)
        values[spec.name] = labels
    if not specs:
        raise at.fail("at least one metric")
    return tuple(specs), values


def _metric(at: _At, pack: str) -> tuple[MetricSpec, dict[str, tuple[str, ...]]]:
    fields = at.mapping(_METRIC, ("name", "kind", "help"))
    name = fields["name"].text()
    if not _NAME.match(name):
        raise fields["name"].fail("a snake_case metric name [a-z_][a-z0-9_]*")
    kind = fields["kind"].choice(_KINDS)
    if kind == "counter" and not name.endswith("_total"):
        raise fields["name"].fail("a counter name ending in _total")
    labels = fields["labels"].texts() if "labels" in fields else ()
    for index, label in enumerate(labels):
        if not _NAME.match(label) or label.startswith("__") or label in ("service", "le"):
            raise (
                fields["labels"]
                .items()[index]
                .fail("snake_case label names other than service and le")
            )
    buckets: tuple[float, ...] = ()
    if "buckets" in fields:
        if kind != "histogram":
            raise fields["buckets"].fail("buckets only on a histogram")
        buckets = tuple(float(item.number()) for item in fields["buckets"].items())
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise fields["buckets"].fail("increasing bucket bounds")
    label_values = _label_values(fields["values"], labels) if "values" in fields else {}
    spec = MetricSpec(
        name,
        kind,  # type: ignore[arg-type]
        fields["help"].text(),
        labels,
        fields["unit"].text(empty=True) if "unit" in fields else "",
        buckets,
        fields["budget"].whole(1) if "budget" in fields else 100,
        pack=pack,
    )
    return spec, label_values


def _label_values(at: _At, labels: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out = {}
    for label, item in at.pairs():
        if label not in labels:
            raise item.fail(f"values of the metric's labels ({', '.join(labels) or 'none'})", label)
        out[label] = item.texts()
    return out


def _dashboard(at: _At) -> tuple[RowDecl, ...]:
    fields = at.mapping(("rows",), ("rows",))
    rows = []
    for row in fields["rows"].items():
        row_fields = row.mapping(("title", "panels"), ("title", "panels"))
        panels = tuple(_panel(item) for item in row_fields["panels"].items())
        rows.append(RowDecl(row_fields["title"].text(), panels))
    return tuple(rows)


def _panel(at: _At) -> PanelDecl:
    fields = at.mapping(("title", "unit", "kind", "width", "queries"), ("title", "queries"))
    queries = []
    for item in fields["queries"].items():
        query = item.mapping(("expr", "legend"), ("expr",))
        legend = query["legend"].text(empty=True) if "legend" in query else ""
        queries.append(QueryDecl(query["expr"].text(), legend, query["expr"].path))
    if not queries:
        raise fields["queries"].fail("at least one query")
    width = fields["width"].whole(1) if "width" in fields else 12
    if width > 24:
        raise fields["width"].fail("a width of 1 to 24 columns")
    return PanelDecl(
        title=fields["title"].text(),
        queries=tuple(queries),
        unit=fields["unit"].text() if "unit" in fields else "short",
        kind=fields["kind"].choice(_PANEL_KINDS) if "kind" in fields else "timeseries",
        width=width,
    )


def _alert(at: _At) -> AlertDecl:
    required = ("name", "severity", "expr", "summary", "description", "test")
    fields = at.mapping(_ALERT, required)
    name = fields["name"].text()
    if not _ALERT_NAME.match(name):
        raise fields["name"].fail("an alert name in CamelCase ([A-Z][A-Za-z0-9]*)")
    diagnosis = []
    for item in fields["diagnosis"].items() if "diagnosis" in fields else ():
        step = item.mapping(("title", "query"), ("title", "query"))
        diagnosis.append((step["title"].text(), step["query"].text()))
    return AlertDecl(
        name=name,
        severity=fields["severity"].choice(_SEVERITIES),
        expr=fields["expr"].text(),
        for_text=fields["for"].text() if "for" in fields else "0m",
        summary=fields["summary"].text(),
        description=fields["description"].text(),
        impact=fields["impact"].text() if "impact" in fields else "",
        diagnosis=tuple(diagnosis),
        resolution=fields["resolution"].texts() if "resolution" in fields else (),
        test=_test(fields["test"]),
        where=at.where,
    )


def _test(at: _At) -> TestDecl:
    fields = at.mapping(("fire", "quiet", "labels", "true_from"), ("fire", "quiet"))
    labels = (
        tuple((key, item.text()) for key, item in fields["labels"].pairs())
        if ("labels" in fields)
        else ()
    )
    return TestDecl(
        fire=tuple(_series(item) for item in fields["fire"].items()),
        quiet=tuple(_series(item) for item in fields["quiet"].items()),
        labels=labels,
        true_from=fields["true_from"].whole() if "true_from" in fields else 1,
    )


def _series(at: _At) -> SeriesDecl:
    if isinstance(at.node, yaml.MappingNode) and any(
        str(key.value) == "histogram" for key, _v in at.node.value
    ):
        fields = at.mapping(("histogram", "buckets"), ("histogram", "buckets"))
        buckets = tuple((le, item.number()) for le, item in fields["buckets"].pairs())
        return SeriesDecl(fields["histogram"].text(), fields["histogram"].where, buckets=buckets)
    fields = at.mapping(("series", "start", "per_step"), ("series",))
    return SeriesDecl(
        fields["series"].text(),
        fields["series"].path + f" ({fields['series'].where})",
        start=fields["start"].number() if "start" in fields else "0",
        per_step=fields["per_step"].number() if "per_step" in fields else "0",
    )


# --- loading and registering ------------------------------------------------------------------


def shipped_packs() -> tuple[str, ...]:
    """The pack files agentwatch ships (``rag``, ``business``, ...), by name."""
    return tuple(sorted(path.stem for path in SHIPPED_DIR.glob("*.yaml")))


def load_pack_file(path: str | Path) -> PackFile:
    """Parse the pack file at ``path`` and define its pack in the catalog."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            "pack file", str(file), f"a readable file ({exc.strerror})"
        ) from None
    return _define(parse_pack_text(text, str(file)))


def _define(parsed: PackFile) -> PackFile:
    owner = PACK_FILES.get(parsed.pack)
    if parsed.pack in PACKS and owner is None:
        raise ConfigurationError(
            "pack", parsed.pack, "a name not used by a built-in pack", source=parsed.source
        )
    for spec in parsed.metrics:
        other = CATALOG.get(spec.name)
        if other is not None and other.pack != parsed.pack:
            raise ConfigurationError(
                "metrics.name",
                spec.name,
                f"a name not already in pack {other.pack!r}",
                source=parsed.source,
            )
    define_pack(parsed.pack, parsed.metrics)
    PACK_FILES[parsed.pack] = parsed
    return parsed


def load_packs(refs: Iterable[str | Path]) -> tuple[PackFile, ...]:
    """Define each pack: a shipped pack's name (``"rag"``) or a pack file's path."""
    return tuple(_load_one(ref) for ref in refs)


def _load_one(ref: str | Path) -> PackFile:
    text = str(ref)
    if isinstance(ref, str) and _NAME.match(text):
        shipped = SHIPPED_DIR / f"{text}.yaml"
        if shipped.is_file():
            return PACK_FILES.get(text) or load_pack_file(shipped)
        if text in PACKS:
            raise ConfigurationError(
                "packs", text, "a shipped pack file's name or a path (built-in packs are always on)"
            )
        if not Path(text).exists():
            raise ConfigurationError(
                "packs", text, "one of " + ", ".join(shipped_packs()) + " or a pack file's path"
            )
    return load_pack_file(ref)


def catalog_specs(chosen: Iterable[PackFile]) -> list[MetricSpec]:
    """The catalog's specs less those of pack files not ``chosen`` (loaded by someone else)."""
    names = {file.pack for file in chosen}
    return [spec for spec in CATALOG.values() if spec.pack not in PACK_FILES or spec.pack in names]


def pack_file(pack: str) -> PackFile | None:
    """The pack file a pack was defined from, if it came from one."""
    return PACK_FILES.get(pack)


def render_reference() -> str:
    """``docs/metrics.md``: the built-in packs, then the shipped pack files with their alerts."""
    lines = [_render_defined(skip=PACK_FILES).rstrip("\n"), "", "# Shipped pack files", ""]
    lines += [
        "Registered by `agentwatch.init(packs=[...])` (or `AGENTWATCH_PACKS`); "
        "`agentwatch ops generate --packs NAME` writes their dashboards and alerts.",
        "",
    ]
    for name in shipped_packs():
        parsed = parse_pack_text((SHIPPED_DIR / f"{name}.yaml").read_text("utf-8"), name)
        lines += [f"## {name}: {parsed.title}", "", parsed.description, ""]
        lines += ["| metric | kind | labels | budget | help |", "|---|---|---|---|---|"]
        for spec in parsed.metrics:
            labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
            lines.append(
                f"| `{spec.name}` | {spec.kind} | {labels} | {spec.budget} | {spec.help} |"
            )
        alerts = ", ".join(f"`{alert.name}` ({alert.severity})" for alert in parsed.alerts)
        lines += ["", f"Alerts: {alerts or 'none'}.", ""]
    return "\n".join(lines)
