"""OTLP trace requests encoded straight to protobuf wire bytes.

:class:`TraceRequestEncoder` turns a batch of spans into the bytes of an
``opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`` without building
protobuf message objects: each span becomes a list of byte strings joined once, grouped by
resource then by scope as the stock OTLP encoder groups them; the resource and scope of a
batch are encoded once and reused.

One path, in four parts: this module frames the request; each span's message comes from
:class:`~agentwatch._export.otlp_fields.SpanFields` (any span with ``ReadableSpan``'s
attributes), or, for agentwatch's lean server span, from
:class:`~agentwatch._export.otlp_lean.ServerSpanFields`, which writes the same bytes from
the span's parts with those same fields; ``exception`` events come from
:class:`~agentwatch._export.otlp_exceptions.ExceptionEvents` in both; the wire primitives
are in ``otlp_wire``.

>>> encoder = TraceRequestEncoder()
>>> body = encoder.encode(spans)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

from .._compat import SPAN_CONTEXTS_UNPACK
from .otlp_fields import SpanFields
from .otlp_lean import ServerSpanFields
from .otlp_wire import CACHE_SIZE, PairCache, any_value, prefixed, string, varint

__all__ = ["EncodedSpan", "TraceRequestEncoder", "any_value"]

EncodedSpan = tuple[int, bytes]  # (resource and scope group, Span message)
_MISSING = object()


class _KnownGroup(NamedTuple):
    number: int
    resource: Any  # kept alive with the scope, so their ids are not reused meanwhile
    scope: Any


class _OwnerFields(NamedTuple):
    owner: Any  # a resource or scope, kept alive so its id is not reused
    field: bytes  # its message field
    schema_url: bytes  # its schema_url field


class TraceRequestEncoder:
    """Encodes span batches as ``ExportTraceServiceRequest`` bytes, caching what repeats.

    One instance per exporter. :meth:`encode_spans` may run on several threads at once (its
    caches are dicts whose single operations the GIL makes atomic; a race at worst encodes
    a value twice); :meth:`encode_request` runs on the export thread.
    """

    def __init__(self) -> None:
        self._fields = SpanFields()
        self._server_spans = ServerSpanFields(self._fields)
        self._other_pairs = {tag: PairCache(tag) for tag in (b"\x0a", b"\x1a")}
        self._resources: dict[int, _OwnerFields] = {}
        self._scopes: dict[int, _OwnerFields] = {}
        self._groups: list[tuple[Any, Any]] = []  # distinct (resource, scope) by number
        self._group_values: dict[tuple[Any, Any], int] = {}
        self._group_ids: dict[tuple[int, int], _KnownGroup] = {}
        self._groups_lock = threading.Lock()
        self._last_group: tuple[Any, Any, int] = (_MISSING, _MISSING, -1)

    def encode(self, spans: Sequence[Any]) -> bytes:
        """The request carrying ``spans``: resource spans, then scope spans, then spans."""
        return self.encode_request(self.encode_spans(spans))

    def encode_spans(self, spans: Sequence[Any]) -> list[EncodedSpan]:
        """Each span's ``Span`` message, tagged with its (resource, scope) group.

        The part of encoding that reads the spans; :meth:`encode_request` frames the result.
        Several threads may call it at once.
        """
        encoded: list[EncodedSpan] = []
        # (resource, scope, group) of the last span; a group number never changes, so this
        # is read and set without a lock
        last_resource, last_scope, group = self._last_group
        server_span, span_message = self._server_spans.span, self._fields.span
        resource: Any
        scope: Any
        for span in spans:
            # the lean path reads a SpanContext as one tuple (agentwatch._compat)
            if SPAN_CONTEXTS_UNPACK and getattr(span, "lean_server_span", False):
                resource, scope = span.resource, span.instrumentation_scope
                body = server_span(span)
            else:
                resource, scope = span.resource, span.instrumentation_scope or None
                body = span_message(span)
            if resource is not last_resource or scope is not last_scope:
                last_resource, last_scope = resource, scope
                group = self._group_of(resource, scope)
            encoded.append((group, body))
        self._last_group = (last_resource, last_scope, group)
        return encoded

    def _group_of(self, resource: Any, scope: Any) -> int:
        """The group number of (resource, scope): by identity when seen before, else by
        value, so tracers made per request (a new scope object each time) add no groups."""
        known = self._group_ids.get((id(resource), id(scope)))
        if known is not None and known.resource is resource and known.scope is scope:
            return known.number
        with self._groups_lock:
            group = self._group_values.get((resource, scope))
            if group is None:
                group = len(self._groups)
                self._groups.append((resource, scope))
                self._group_values[(resource, scope)] = group
            if len(self._group_ids) >= CACHE_SIZE:
                self._group_ids.clear()
            self._group_ids[(id(resource), id(scope))] = _KnownGroup(group, resource, scope)
        return group

    def encode_request(self, spans: Sequence[EncodedSpan]) -> bytes:
        """The ``ExportTraceServiceRequest`` of encoded spans: resource spans, then scope
        spans (equal resources and scopes merged, in order of first appearance)."""
        parts: list[bytes] = []
        for resource, scopes in self._grouped(spans):
            resource_field, resource_schema = self._resource(resource)
            head = len(parts)
            parts += (b"", resource_field)
            size = len(resource_field) + len(resource_schema)
            for scope, encoded in scopes:
                scope_field, scope_schema = self._scope(scope)
                length = len(scope_field) + len(scope_schema) + sum(map(len, encoded))
                prefix = b"\x12" + varint(length)
                parts += (prefix, scope_field, *encoded, scope_schema)
                size += len(prefix) + length
            parts.append(resource_schema)
            parts[head] = b"\x0a" + varint(size)  # ExportTraceServiceRequest.resource_spans
        return b"".join(parts)

    def _grouped(
        self, spans: Sequence[EncodedSpan]
    ) -> list[tuple[Any, list[tuple[Any, list[bytes]]]]]:
        """Span fields by resource then scope, each in order of first appearance."""
        groups: list[tuple[Any, list[tuple[Any, list[bytes]]]]] = []
        buckets: dict[int, list[bytes]] = {}
        for group, body in spans:
            bucket = buckets.get(group)
            if bucket is None:
                resource, scope = self._groups[group]
                bucket = buckets[group] = _bucket(groups, resource, scope)
            bucket += (b"\x12" + varint(len(body)), body)  # ScopeSpans.spans
        return groups

    def _resource(self, resource: Any) -> tuple[bytes, bytes]:
        """The ``resource`` and ``schema_url`` fields of a ``ResourceSpans``, cached."""
        cached = self._resources.get(id(resource))
        if cached is None or cached.owner is not resource:
            parts: list[bytes] = []
            if getattr(resource, "attributes", None):
                self._fields.attributes(self._other_pairs[b"\x0a"], resource.attributes, parts)
            cached = _remember(self._resources, resource, parts)
        return cached.field, cached.schema_url

    def _scope(self, scope: Any) -> tuple[bytes, bytes]:
        """The ``scope`` and ``schema_url`` fields of a ``ScopeSpans``, cached."""
        cached = self._scopes.get(id(scope))
        if cached is None or cached.owner is not scope:
            parts: list[bytes] = []
            if scope is not None:
                parts.append(b"\x0a" + string(scope.name or ""))
                if scope.version:
                    parts.append(b"\x12" + string(scope.version))
                if getattr(scope, "attributes", None):
                    self._fields.attributes(self._other_pairs[b"\x1a"], scope.attributes, parts)
            cached = _remember(self._scopes, scope, parts)
        return cached.field, cached.schema_url


def _bucket(
    groups: list[tuple[Any, list[tuple[Any, list[bytes]]]]], resource: Any, scope: Any
) -> list[bytes]:
    """The span list of (resource, scope) in ``groups``, matched by equality like the stock
    encoder's dicts; new groups are added at the end."""
    scopes = next((found for known, found in groups if known == resource), None)
    if scopes is None:
        scopes = []
        groups.append((resource, scopes))
    bucket = next((found for known, found in scopes if known == scope), None)
    if bucket is None:
        bucket = []
        scopes.append((scope, bucket))
    return bucket


def _remember(cache: dict[int, _OwnerFields], owner: Any, parts: list[bytes]) -> _OwnerFields:
    """The fields of ``owner`` (a resource or scope), remembered by its identity."""
    url = getattr(owner, "schema_url", None)
    schema = b"\x1a" + string(url) if url else b""
    entry = _OwnerFields(owner, b"\x0a" + prefixed(b"".join(parts)), schema)
    if len(cache) >= 64:
        cache.clear()
    cache[id(owner)] = entry  # the entry keeps the owner alive: its id is not reused
    return entry
