"""Grafana: dashboards built with grafana-foundation-sdk, and provisioning files.

Dashboards use the SDK's builders (current schema), stable uids (``aw-...``), fixed panel
ids and a ``service`` template variable fed by ``label_values(up, service)``. JSON is
written with sorted keys, so the output is byte-for-byte deterministic.
"""

from __future__ import annotations

import json
from typing import Any

from .._catalog import PACKS
from .._catalog.packfile import pack_file
from ._alerts import BUILTIN_PACKS
from ._dashboards import Board, Panel, platform_boards
from ._dashboards_ai import ai_boards, pack_board, slo_board
from ._packfiles import pack_file_board
from ._slo import SloSpec
from ._traces import TRACES_BACKENDS, TracesBackend

__all__ = ["dashboard_files", "datasources", "providers", "selected_boards"]

PROMETHEUS_UID, LOKI_UID = "prometheus", "loki"
HUB_TRACES_UID = "agentwatch-hub-traces"
DASHBOARD_PATH = "/etc/grafana/dashboards"


def _sdk() -> Any:
    try:
        from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.models import dashboard as models
    except ImportError as exc:  # pragma: no cover - the ops extra is missing
        from .._exceptions import OpsError

        raise OpsError(
            f"dashboards need grafana-foundation-sdk: pip install 'agentwatch[ops]' ({exc})"
        ) from None
    return dashboard, prometheus, stat, timeseries, JSONEncoder, models


def selected_boards(packs: tuple[str, ...], slos: tuple[SloSpec, ...]) -> list[Board]:
    """Boards with only the panels of chosen packs; empty boards dropped."""
    chosen = set(packs) | ({"slo"} if slos else set())
    boards = [*platform_boards(), *ai_boards(), slo_board()]
    boards += [_pack_board(pack) for pack in packs if pack in PACKS and pack not in BUILTIN_PACKS]
    out = []
    for board in boards:
        rows = tuple(
            (title, kept)
            for title, panels in board.rows
            if (kept := tuple(p for p in panels if p.pack in chosen))
        )
        if rows:
            out.append(Board(board.uid, board.title, board.description, rows))
    return out


def _pack_board(pack: str) -> Board:
    declared = pack_file(pack)
    if declared is not None and declared.rows:
        return pack_file_board(declared)
    return pack_board(pack, PACKS[pack])


def _panel(sdk: Any, panel: Panel, panel_id: int) -> Any:
    _dashboard, prometheus, stat, timeseries, _enc, models = sdk
    ds = models.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
    builder = stat.Panel() if panel.kind == "stat" else timeseries.Panel()
    builder = (
        builder.id(panel_id)
        .title(panel.title)
        .datasource(ds)
        .unit(panel.unit)
        .span(panel.width)
        .height(8)
    )
    for index, (expr, legend) in enumerate(panel.queries):
        target = (
            prometheus.Dataquery()
            .expr(expr)
            .legend_format(legend)
            .ref_id(chr(65 + index))
            .datasource(ds)
        )
        builder = builder.with_target(target)
    return builder


def _board_json(sdk: Any, board: Board) -> str:
    dashboard, _prom, _stat, _ts, encoder, models = sdk
    ds = models.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
    service = (
        dashboard.QueryVariable("service")
        .label("Service")
        .query("label_values(up, service)")
        .datasource(ds)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )
    builder = (
        dashboard.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(["agentwatch"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .with_variable(service)
    )
    panel_id = 1
    for title, panels in board.rows:
        builder = builder.with_row(dashboard.Row(title).id(panel_id))
        panel_id += 1
        for panel in panels:
            builder = builder.with_panel(_panel(sdk, panel, panel_id))
            panel_id += 1
    return json.dumps(builder.build(), cls=encoder, indent=2, sort_keys=True) + "\n"


def dashboard_files(packs: tuple[str, ...], slos: tuple[SloSpec, ...]) -> dict[str, str]:
    """``{"<uid>.json": dashboard JSON}``."""
    sdk = _sdk()
    return {f"{board.uid}.json": _board_json(sdk, board) for board in selected_boards(packs, slos)}


def hub_traces_datasource(hub_url: str) -> dict[str, object]:
    """The hub's trace store through its Jaeger query API: optional, for a stack without
    Tempo (Grafana's Jaeger data source reads ``/api/services``, ``/api/traces``...). The
    token is Grafana's environment variable ``AGENTWATCH_HUB_TOKEN`` (empty on loopback)."""
    return {
        "name": "agentwatch hub traces (optional, Jaeger API)",
        "uid": HUB_TRACES_UID,
        "type": "jaeger",
        "access": "proxy",
        "url": hub_url,
        "editable": True,
        "jsonData": {"httpHeaderName1": "Authorization"},
        "secureJsonData": {"httpHeaderValue1": "Bearer $AGENTWATCH_HUB_TOKEN"},
    }


def _traces_datasource(backend: TracesBackend) -> dict[str, object]:
    """Tempo or Jaeger, each linking a span to its logs in Loki."""
    json_data: dict[str, object] = {
        "tracesToLogsV2": {
            "datasourceUid": LOKI_UID,
            "filterByTraceID": True,
            "spanStartTimeShift": "-5m",
            "spanEndTimeShift": "5m",
        },
    }
    if backend.name == "tempo":
        json_data["serviceMap"] = {"datasourceUid": PROMETHEUS_UID}
    json_data["nodeGraph"] = {"enabled": True}
    return {
        "name": backend.title,
        "uid": backend.uid,
        "type": backend.name,
        "access": "proxy",
        "url": backend.query_url,
        "jsonData": json_data,
    }


def datasources(
    scrape_interval: str,
    hub_url: str | None = None,
    backend: TracesBackend = TRACES_BACKENDS["tempo"],
) -> dict[str, object]:
    """Prometheus, the trace backend (Tempo or Jaeger) and Loki (Loki lines link to traces
    by their ``trace_id`` field, exemplars too), and the hub's trace store when the stack
    has a hub."""
    hub = [hub_traces_datasource(hub_url)] if hub_url else []
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": PROMETHEUS_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "jsonData": {
                    "timeInterval": scrape_interval,
                    "exemplarTraceIdDestinations": [
                        {"name": "trace_id", "datasourceUid": backend.uid}
                    ],
                },
            },
            _traces_datasource(backend),
            {
                "name": "Loki",
                "uid": LOKI_UID,
                "type": "loki",
                "access": "proxy",
                "url": "http://loki:3100",
                "jsonData": {
                    "derivedFields": [
                        {
                            "name": "TraceID",
                            "datasourceUid": backend.uid,
                            "matcherRegex": r'"trace_id":\s*"(\w+)"',
                            # $$ is a literal $ in provisioning files (Grafana expands $VAR there)
                            "url": "$${__value.raw}",
                            "urlDisplayLabel": "View trace",
                        }
                    ]
                },
            },
            *hub,
        ],
    }


def providers() -> dict[str, object]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "agentwatch",
                "folder": "agentwatch",
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARD_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }
