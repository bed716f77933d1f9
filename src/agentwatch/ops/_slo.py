"""SLO specs: the four defaults, and loading a small YAML file with precise errors.

An SLO file::

    slos:
      - name: checkout-availability
        objective: 0.999          # written exactly as given (Decimal)
        window: 30d
        error: payments_total{status="error"}
        total: payments_total
        min_events: 100           # fewer events in the long window never page
    include_defaults: true        # keep api-availability, api-latency, ... (default true)

Give ``error`` (bad events) or ``good``, and ``total``. Selectors must name catalog
series (``_bucket``/``_count`` for histograms) and only the metric's own labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .._catalog import CATALOG, MetricSpec
from .._exceptions import ConfigurationError
from ._options import HTTP_SERVER_ERROR, STATUS_ERROR
from ._promql import Matcher, Selector, parse_selector
from ._units import dec, parse_duration

__all__ = ["DEFAULT_SLOS", "PAGE_BURN", "SloSpec", "load_slo_file", "slos_for"]

PAGE_BURN = Decimal("14.4")  # the fastest burn rate alerted on; objectives must allow it
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_FIELDS = ("name", "objective", "window", "error", "good", "total", "min_events", "description")


@dataclass(frozen=True)
class SloSpec:
    """One SLO: the share of good events ``objective`` over ``window``.

    >>> SloSpec("api-availability", Decimal("0.999"), total="http_requests_total",
    ...         error='http_requests_total{status=~"5.."}')  # doctest: +SKIP
    """

    name: str
    objective: Decimal
    total: str
    error: str = ""
    good: str = ""
    window: str = "30d"
    min_events: int = 100
    description: str = ""

    @property
    def budget(self) -> Decimal:
        return 1 - self.objective

    def selector(self, which: str) -> Selector:
        """The selector, ``le`` written as prometheus_client exposes it (``120`` -> ``120.0``)."""
        selector = parse_selector(getattr(self, which))
        return Selector(selector.metric, tuple(_exposed_le(m) for m in selector.matchers))

    def check(self, where: str = "") -> None:
        """Raise ConfigurationError (naming ``where``) for anything generation cannot use."""
        _check_spec(self, lambda _field: where, f"slo {self.name!r}")


def _fail(field: str, value: object, accepted: str, where: str) -> ConfigurationError:
    return ConfigurationError(field, value, accepted, source=where)


def _check_spec(spec: SloSpec, at: Callable[[str], str], field: str) -> None:
    if not spec.name or not set(spec.name) <= _NAME_CHARS:
        raise _fail(f"{field}.name", spec.name, "lower-case letters, digits, '-', '_'", at("name"))
    if not 0 < spec.objective < 1 or PAGE_BURN * spec.budget >= 1:
        accepted = "a ratio in (0, 1) above 0.93 (a 14.4x burn of its budget must be < 100%)"
        raise _fail(f"{field}.objective", str(spec.objective), accepted, at("objective"))
    try:
        parse_duration(spec.window)
    except ValueError:
        raise _fail(
            f"{field}.window", spec.window, "a duration such as 30d", at("window")
        ) from None
    if bool(spec.error) == bool(spec.good):
        raise _fail(
            f"{field}.error/good",
            (spec.error, spec.good),
            "exactly one of error (bad events) or good",
            at("name"),
        )
    if spec.min_events < 0:
        raise _fail(f"{field}.min_events", spec.min_events, "a count >= 0", at("min_events"))
    for which in ("total", "error" if spec.error else "good"):
        _check_selector(getattr(spec, which), f"{field}.{which}", at(which))


def _check_selector(text: str, field: str, where: str) -> None:
    try:
        selector = parse_selector(text)
    except ValueError as exc:
        raise _fail(field, text, f"a series selector ({exc})", where) from None
    spec = series_spec(selector.metric)
    if spec is None:
        raise _fail(
            field,
            selector.metric,
            "a series of a catalog metric (histograms: _bucket, _count)",
            where,
        )
    allowed = set(spec.labels) | ({"le"} if selector.metric.endswith("_bucket") else set())
    for matcher in selector.matchers:
        if matcher.label not in allowed:
            raise _fail(field, matcher.label, f"a label of {spec.name}: {sorted(allowed)}", where)
        if matcher.label == "le" and matcher.op == "=" and not _is_bucket(spec, matcher.value):
            bounds = [repr(float(b)) for b in spec.buckets]
            raise _fail(field, matcher.value, f"a bucket bound of {spec.name}: {bounds}", where)


def _is_bucket(spec: MetricSpec, value: str) -> bool:
    """Whether ``value`` is a bound of the histogram, however written (120, 120.0, 1.2e2)."""
    if value == "+Inf":
        return True
    try:
        return float(value) in {float(b) for b in spec.buckets}
    except ValueError:
        return False


def _exposed_le(matcher: Matcher) -> Matcher:
    if matcher.label != "le" or matcher.op != "=" or matcher.value == "+Inf":
        return matcher
    try:
        return Matcher("le", "=", repr(float(matcher.value)))
    except ValueError:
        return matcher


def series_spec(series: str) -> MetricSpec | None:
    """The catalog spec a stored series name belongs to (``x_bucket`` -> histogram ``x``)."""
    for spec in CATALOG.values():
        if series in spec.series_names:
            return spec
    return None


DEFAULT_SLOS = (
    SloSpec(
        "api-availability",
        Decimal("0.999"),
        "http_requests_total",
        error=f"http_requests_total{{status=~{HTTP_SERVER_ERROR}}}",
        description="HTTP requests answered without a server error.",
    ),
    SloSpec(
        "api-latency",
        Decimal("0.99"),
        "http_request_duration_seconds_count",
        good='http_request_duration_seconds_bucket{le="0.5"}',
        description="HTTP requests answered within 500 ms.",
    ),
    SloSpec(
        "workflow-success",
        Decimal("0.99"),
        "workflow_runs_total",
        error=f'workflow_runs_total{{status="{STATUS_ERROR}"}}',
        description="Workflow runs that succeed.",
    ),
    SloSpec(
        "agent-success",
        Decimal("0.95"),
        "agent_runs_total",
        error=f'agent_runs_total{{status="{STATUS_ERROR}"}}',
        description="Agent runs that succeed.",
    ),
)


def slos_for(
    packs: tuple[str, ...], slo_file: Path | None, extra: tuple[SloSpec, ...] = ()
) -> tuple[SloSpec, ...]:
    """Defaults whose metrics are in the chosen packs, then the file's, then ``extra``."""
    chosen: dict[str, SloSpec] = {}
    include_defaults, from_file = True, tuple[SloSpec, ...]()
    if slo_file is not None:
        include_defaults, from_file = load_slo_file(slo_file)
    if include_defaults:
        for spec in DEFAULT_SLOS:
            spec.check("agentwatch.ops default SLOs")
            owner = series_spec(spec.selector("total").metric)
            if owner is not None and owner.pack in packs:
                chosen[spec.name] = spec
    for spec in from_file:
        chosen[spec.name] = spec
    for spec in extra:
        spec.check("GenerateOptions.slos")
        chosen[spec.name] = spec
    return tuple(chosen.values())


def load_slo_file(path: Path) -> tuple[bool, tuple[SloSpec, ...]]:
    """(include_defaults, specs) from an SLO YAML file; errors name file, line and field."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigurationError(
            "slo file", str(path), f"valid YAML ({exc})", source=f"{path}{line}"
        ) from None
    if root is None:
        raise _fail("slos", None, "a list under the key 'slos' (the file is empty)", f"{path}:1")
    top = _mapping(root, "the top level", f"{path}:1")
    if "slos" not in top or not isinstance(top["slos"][1], yaml.SequenceNode):
        raise _fail("slos", None, "a list under the key 'slos'", f"{path}:{_line(root)}")
    include = True
    if "include_defaults" in top:
        node = top["include_defaults"][1]
        include = str(node.value).lower() not in ("false", "no", "off")
    specs = []
    for index, node in enumerate(top["slos"][1].value):
        specs.append(_spec_from_node(node, f"slos[{index}]", path))
    return include, tuple(specs)


def _spec_from_node(node: yaml.Node, field: str, path: Path) -> SloSpec:
    where = f"{path}:{_line(node)}"
    items = _mapping(node, field, where)
    for key, (key_node, _value) in items.items():
        if key not in _FIELDS:
            raise _fail(
                f"{field}.{key}", key, "one of " + ", ".join(_FIELDS), f"{path}:{_line(key_node)}"
            )
    missing = [key for key in ("name", "objective", "total") if key not in items]
    if missing:
        raise _fail(f"{field}.{missing[0]}", None, "name, objective and total", where)
    lines = {key: f"{path}:{_line(value)}" for key, (_k, value) in items.items()}
    raw = {key: value for key, (_k, value) in items.items()}
    texts: dict[str, Any] = {
        key: _text(raw[key], f"{field}.{key}", lines[key])
        for key in ("error", "good", "window", "description")
        if key in raw
    }
    spec = SloSpec(
        name=_text(raw["name"], f"{field}.name", lines["name"]),
        objective=_number(raw["objective"], f"{field}.objective", lines["objective"]),
        total=_text(raw["total"], f"{field}.total", lines["total"]),
    )
    spec = replace(spec, **texts)
    if "min_events" in raw:
        count = _number(raw["min_events"], f"{field}.min_events", lines["min_events"])
        if count != count.to_integral_value():
            raise _fail(f"{field}.min_events", count, "a whole number", lines["min_events"])
        spec = replace(spec, min_events=int(count))
    _check_spec(spec, lambda key: lines.get(key, where), field)
    return spec


def _text(node: yaml.Node, field: str, where: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise _fail(field, getattr(node, "value", None), "a non-empty text value", where)
    return str(node.value)


def _number(node: yaml.Node, field: str, where: str) -> Decimal:
    """The number exactly as written (``0.999`` never passes through a float)."""
    try:
        return dec(_text(node, field, where))
    except ValueError:
        raise _fail(field, node.value, "a number such as 0.999", where) from None


def _mapping(node: yaml.Node, field: str, where: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(field, getattr(node, "value", None), "a mapping", where)
    return {str(key.value): (key, value) for key, value in node.value}


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1
