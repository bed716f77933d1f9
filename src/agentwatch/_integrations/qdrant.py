"""qdrant-client: the rag pack's vector-store metrics and a client span for every call.

>>> agentwatch.init(instrument_qdrant=True)     # pip install 'agentwatch[qdrant]'

Every method of ``QdrantClient`` and ``AsyncQdrantClient`` (existing and future clients:
the class is patched) that touches a collection runs inside a CLIENT span named
``{operation} {collection}`` (``db.system.name=qdrant``, ``db.operation.name``,
``db.collection.name``); the HTTP request it sends is that span's child and carries its
trace context. Besides the span:

- searches (``query_points``, ``query_batch_points``, ``query_points_groups``, the
  ``search_matrix_*`` calls, and ``search``/``recommend``/``discover`` on older clients)
  count ``vector_store_searches_total{collection,status}``, time
  ``vector_store_search_duration_seconds`` and observe the points returned in
  ``vector_store_search_results`` (a batch is one search returning all its points);
- writes and other reads (``upsert``, ``delete``, ``retrieve``, ``scroll``, ``count``,
  payload and vector updates, collection changes) count
  ``vector_store_operations_total{collection,operation,status}``;
- ``get_collections()`` sets ``vector_store_collections`` and ``get_collection(name)`` sets
  ``vector_store_vectors{collection}`` to the collection's points (the application's own
  calls: agentwatch sends no request of its own).

``status`` is ``success`` or ``error`` (the call raised; the span carries ``error.type``).
Collection names are a bounded label: the rag pack's budget caps them.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .._genai.operation import mark_span
from .._state import report_internal_error, telemetry
from .._tracing.events import record_exception

__all__ = ["instrument_qdrant", "set_enabled"]

SEARCHES = (
    "query_points",
    "query_batch_points",
    "query_points_groups",
    "search_matrix_pairs",
    "search_matrix_offsets",
    "search",  # the older clients' search API (removed in qdrant-client 1.16)
    "search_batch",
    "search_groups",
    "recommend",
    "recommend_batch",
    "recommend_groups",
    "discover",
    "discover_batch",
)
OPERATIONS = (
    "upsert",
    "delete",
    "retrieve",
    "scroll",
    "count",
    "facet",
    "set_payload",
    "overwrite_payload",
    "delete_payload",
    "clear_payload",
    "update_vectors",
    "delete_vectors",
    "batch_update_points",
    "upload_points",
    "upload_collection",
    "create_collection",
    "recreate_collection",
    "update_collection",
    "delete_collection",
    "create_payload_index",
    "delete_payload_index",
)
STATE = ("get_collections", "get_collection")
STATUS_SUCCESS, STATUS_ERROR = "success", "error"
_ORIGINAL = "__agentwatch_original__"
_enabled = False


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def collection_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """The collection a call names (``collection_name=`` or the first argument), or ``""``."""
    name = kwargs.get("collection_name", args[0] if args else "")
    return name if isinstance(name, str) else ""


def result_count(result: Any) -> int:
    """Points a search returned: a list of points, a response, groups, a batch of these."""
    if isinstance(result, list | tuple):
        return sum(1 if hasattr(item, "score") else result_count(item) for item in result)
    for attribute in ("points", "pairs", "ids"):
        found = getattr(result, attribute, None)
        if isinstance(found, list):
            return len(found)
    groups = getattr(result, "groups", None)
    if isinstance(groups, list):
        return sum(len(getattr(group, "hits", ()) or ()) for group in groups)
    return 0


# --- recording --------------------------------------------------------------------------------


def _record(method: str, collection: str, seconds: float, result: Any, failed: bool) -> None:
    try:
        metrics = telemetry().metrics
        status = STATUS_ERROR if failed else STATUS_SUCCESS
        if method in SEARCHES:
            metrics["vector_store_searches_total"].labels(collection, status).inc()
            metrics["vector_store_search_duration_seconds"].labels(collection).observe(seconds)
            if not failed:
                metrics["vector_store_search_results"].labels(collection).observe(
                    result_count(result)
                )
        elif method in OPERATIONS:
            metrics["vector_store_operations_total"].labels(collection, method, status).inc()
        elif not failed and method == "get_collections":
            collections = getattr(result, "collections", None)
            if isinstance(collections, list):
                metrics["vector_store_collections"].labels().set(len(collections))
        elif not failed and method == "get_collection":
            points = getattr(result, "points_count", None)
            if isinstance(points, int):
                metrics["vector_store_vectors"].labels(collection).set(points)
    except Exception as exc:
        report_internal_error("qdrant", exc)


@contextmanager
def _span(method: str, collection: str) -> Iterator[trace.Span | None]:
    try:
        attributes = {"db.system.name": "qdrant", "db.operation.name": method}
        if collection:
            attributes["db.collection.name"] = collection
        name = f"{method} {collection}" if collection else method
        span = telemetry().tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    except Exception as exc:
        report_internal_error("qdrant", exc)
        yield None
        return
    with trace.use_span(
        span, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        yield span


def _failed(span: trace.Span | None, error: BaseException) -> None:
    if span is None:
        return
    try:
        mark_span(span, type(error).__qualname__)
        record_exception(span, error)
    except Exception as exc:
        report_internal_error("qdrant", exc)


# --- the wrappers -----------------------------------------------------------------------------


def _wrap_sync(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(client: Any, *args: Any, **kwargs: Any) -> Any:
        if not _enabled:
            return original(client, *args, **kwargs)
        collection = collection_of(args, kwargs)
        with _span(method, collection) as span:
            started = time.perf_counter()
            try:
                result = original(client, *args, **kwargs)
            except Exception as error:
                _failed(span, error)
                _record(method, collection, time.perf_counter() - started, None, True)
                raise
            _record(method, collection, time.perf_counter() - started, result, False)
            return result

    return call


def _wrap_async(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def call(client: Any, *args: Any, **kwargs: Any) -> Any:
        if not _enabled:
            return await original(client, *args, **kwargs)
        collection = collection_of(args, kwargs)
        with _span(method, collection) as span:
            started = time.perf_counter()
            try:
                result = await original(client, *args, **kwargs)
            except Exception as error:
                _failed(span, error)
                _record(method, collection, time.perf_counter() - started, None, True)
                raise
            _record(method, collection, time.perf_counter() - started, result, False)
            return result

    return call


def _patch(owner: type) -> None:
    for method in (*SEARCHES, *OPERATIONS, *STATE):
        current = owner.__dict__.get(method)
        if current is None or getattr(current, _ORIGINAL, None) is not None:
            continue
        wrap = _wrap_async if inspect.iscoroutinefunction(current) else _wrap_sync
        wrapper = wrap(method, current)
        setattr(wrapper, _ORIGINAL, current)
        setattr(owner, method, wrapper)


def instrument_qdrant() -> Callable[[], None]:
    """Record every call of every qdrant-client client; returns the function that stops it.

    The wrappers stay on the classes (idle once stopped); the rag pack must be registered
    (``init(instrument_qdrant=True)`` does it).
    """
    import qdrant_client

    set_enabled(True)
    _patch(qdrant_client.QdrantClient)
    _patch(qdrant_client.AsyncQdrantClient)
    return lambda: set_enabled(False)
