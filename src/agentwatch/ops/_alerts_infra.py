"""Alert rules for infrastructure: host (node-exporter), db, cache, queue, circuit.

Exporter rules (``node_*``, ``pg_up``, ``redis_up``) carry the exporter's ``instance`` and
``job``; service-side rules select ``service="<service>"`` like every other rule.
"""

from __future__ import annotations

from decimal import Decimal

from ._options import HOST_PACK
from ._rules import AlertRule, RuleContext, Scenario, Series, gauge, hist
from ._units import fmt

__all__ = ["cache_rules", "circuit_rules", "db_rules", "host_rules", "queue_rules"]

_NODE = {"instance": "node-1:9100", "job": "node-exporter"}
_FS = {**_NODE, "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
_NOT_VIRTUAL = 'fstype!~"tmpfs|overlay|squashfs"'


_MEMORY = Decimal(8_000_000_000)
_DISK = Decimal(100_000_000_000)


def _pct(ratio: Decimal) -> str:
    return fmt(ratio * 100)


def host_rules(c: RuleContext) -> list[AlertRule]:
    limits = c.options.settings.thresholds
    mem_t, cpu_t, disk_t = limits.memory_used_ratio, limits.cpu_busy_ratio, limits.disk_free_ratio
    idle = f'rate(node_cpu_seconds_total{{mode="idle"}}[{c.win(5)}])'
    avail = f"node_filesystem_avail_bytes{{{_NOT_VIRTUAL}}}"
    size = f"node_filesystem_size_bytes{{{_NOT_VIRTUAL}}}"
    mem = ("node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes")
    total = gauge(mem[1], fmt(_MEMORY))
    return [
        _host_rule(
            "HighMemoryUsage",
            f"(1 - {mem[0]} / {mem[1]}) > {fmt(mem_t)}",
            10,
            f"{{{{ $labels.instance }}}}: memory more than {_pct(mem_t)}% used",
            Scenario(
                fire=_node(gauge(mem[0], fmt(_MEMORY * (1 - mem_t) / 2)), total),
                quiet=_node(gauge(mem[0], fmt(_MEMORY * (1 - mem_t / 2))), total),
                labels=_NODE,
                service_label=False,
                true_from=0,
            ),
            (("Available memory", mem[0]), ("Service memory", "process_resident_memory_bytes")),
        ),
        _host_rule(
            "HighCpuUsage",
            f"1 - avg by (instance) ({idle}) > {fmt(cpu_t)}",
            10,
            f"{{{{ $labels.instance }}}}: CPU more than {_pct(cpu_t)}% busy",
            Scenario(
                fire=_node(_cpu_idle(fmt((1 - cpu_t) / 2))),
                quiet=_node(_cpu_idle(fmt(1 - cpu_t / 2))),
                labels={"instance": _NODE["instance"]},
                service_label=False,
            ),
            (
                ("Busy share", f"1 - avg by (instance) ({idle})"),
                ("Service CPU", f"rate(process_cpu_seconds_total[{c.win(5)}])"),
            ),
        ),
        _host_rule(
            "LowDiskSpace",
            f"{avail} / {size} < {fmt(disk_t)}",
            15,
            f"{{{{ $labels.instance }}}}: less than {_pct(disk_t)}% disk left on "
            "{{ $labels.mountpoint }}",
            Scenario(
                fire=_fs(_DISK * disk_t / 2),
                quiet=_fs(_DISK * (1 + disk_t) / 2),
                labels=_FS,
                service_label=False,
                true_from=0,
            ),
            (("Free share", f"{avail} / {size}"),),
        ),
        *_container_rules(c),
    ]


_POD = {"namespace": "prod", "pod": "agent-api-7d9f", "container": "agent-api"}
_KSM = {"instance": "kube-state-metrics:8080", "job": "kube-state-metrics"}
_CADVISOR = {"instance": "cadvisor:8080", "job": "cadvisor", "name": "agent-api-1"}


def _container_rule(
    source: str, expr: str, labels: dict[str, str], fire: Series, quiet: Series
) -> AlertRule:
    if "pod" in labels:
        what = "container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }}"
    else:
        what = "container {{ $labels.name }}"
    return AlertRule(
        name="ContainerRestarted",
        pack=HOST_PACK,
        severity="warning",
        expr=expr,
        for_minutes=0,
        summary=f"{what} restarted",
        description=f"The {what} restarted within 15 minutes ({source}).",
        scenario=Scenario(
            fire=(fire,), quiet=(quiet,), labels=labels, service_label=False, true_from=1
        ),
        impact="Requests in flight were dropped; a crash loop makes the service flap.",
        diagnosis=(("Restarts and start times", expr.rsplit(" > ", 1)[0]),),
        resolution=(
            "Read the previous container's logs (`kubectl logs --previous`, `docker logs`).",
            "Check the exit reason: OOMKilled (raise the limit or fix the leak), a failed "
            "liveness probe, or a crash at start.",
        ),
        labels={"source": source},
    )


def _container_rules(c: RuleContext) -> list[AlertRule]:
    restarts = "kube_pod_container_status_restarts_total"
    started = 'container_start_time_seconds{name!=""}'
    by_pod = "namespace, pod, container"
    start = Decimal(1_700_000_000)
    return [
        _container_rule(
            "kube-state-metrics",
            f"sum by ({by_pod}) (increase({restarts}[{c.win(15)}])) > 0",
            dict(_POD),
            Series(restarts, {**_KSM, **_POD}, Decimal(1), service=False),
            Series(restarts, {**_KSM, **_POD}, Decimal(0), Decimal(3), service=False),
        ),
        _container_rule(
            "cadvisor",
            f"max by (name) (changes({started}[{c.win(15)}])) > 0",
            {"name": _CADVISOR["name"]},
            Series("container_start_time_seconds", _CADVISOR, Decimal(60), start, service=False),
            Series("container_start_time_seconds", _CADVISOR, Decimal(0), start, service=False),
        ),
    ]


def _node(*series: Series) -> tuple[Series, ...]:
    return tuple(
        Series(s.metric, {**_NODE, **s.labels}, s.per_step, s.start, s.per_second, service=False)
        for s in series
    )


def _cpu_idle(per_second: str) -> Series:
    return Series(
        "node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, Decimal(per_second), per_second=True
    )


def _fs(avail: Decimal) -> tuple[Series, ...]:
    return tuple(
        Series(metric, _FS, Decimal(0), value, service=False)
        for metric, value in (
            ("node_filesystem_avail_bytes", avail),
            ("node_filesystem_size_bytes", _DISK),
        )
    )


def _host_rule(
    name: str,
    expr: str,
    for_minutes: int,
    summary: str,
    scenario: Scenario,
    diagnosis: tuple[tuple[str, str], ...],
) -> AlertRule:
    return AlertRule(
        name=name,
        pack=HOST_PACK,
        severity="warning",
        expr=expr,
        for_minutes=for_minutes,
        summary=summary,
        description=f"{summary} (node-exporter).",
        scenario=scenario,
        impact="The host is saturated; every service on it slows down or fails.",
        diagnosis=diagnosis,
        resolution=(
            "Find the process using the resource (top, du, container stats).",
            "Free the resource or move the workload; raise the host's capacity.",
        ),
    )


def _exporter_down(name: str, pack: str, metric: str, job: str, what: str) -> AlertRule:
    labels = {"instance": f"{job}:9000", "job": job}
    return AlertRule(
        name=name,
        pack=pack,
        severity="critical",
        expr=f"{metric} == 0",
        for_minutes=1,
        summary=f"{what} unreachable from {{{{ $labels.instance }}}}",
        description=f"{job} cannot connect to {what} ({metric} == 0).",
        scenario=Scenario(
            fire=(Series(metric, labels, service=False),),
            quiet=(Series(metric, labels, start=Decimal(1), service=False),),
            labels=labels,
            service_label=False,
            true_from=0,
        ),
        impact=f"Everything that needs {what} fails or falls back; health checks turn red.",
        diagnosis=((f"{what} reachable", metric), ("Service-side health", "health_check_status")),
        resolution=(
            f"Check the {what} server (process, disk, connections, credentials).",
            f"Check the network path between the service, {job} and {what}.",
        ),
    )


def db_rules(c: RuleContext) -> list[AlertRule]:
    pool = "db_pool_connections"
    used_sel, max_sel = c.sel(pool, 'state="used"'), c.sel(pool, 'state="max"')
    used = f"sum by (service, pool) ({used_sel})"
    most = f"sum by (service, pool) ({max_sel})"
    slow = c.quantile("0.95", "service, system", "db_operation_duration_seconds")
    op = {"system": "postgresql", "operation": "SELECT"}
    return [
        _exporter_down("DatabaseConnectionLost", "db", "pg_up", "postgres-exporter", "PostgreSQL"),
        _deadlocks(c),
        AlertRule(
            name="DbPoolExhaustion",
            pack="db",
            severity="warning",
            expr=f"{used} / {most} > 0.9",
            for_minutes=5,
            summary="{{ $labels.service }}: database pool {{ $labels.pool }} over 90% used",
            description="Pool {{ $labels.pool }} of {{ $labels.service }} has more than 90% "
            "of its connections checked out.",
            scenario=Scenario(
                fire=(
                    gauge("db_pool_connections", 19, pool="main", state="used"),
                    gauge("db_pool_connections", 20, pool="main", state="max"),
                ),
                quiet=(
                    gauge("db_pool_connections", 5, pool="main", state="used"),
                    gauge("db_pool_connections", 20, pool="main", state="max"),
                ),
                labels={"pool": "main"},
                true_from=0,
            ),
            impact="Requests wait for a connection; latency rises, then requests time out.",
            diagnosis=(("Pool by state", c.sel("db_pool_connections")), ("Slow operations", slow)),
            resolution=(
                "Look for long transactions or leaked sessions in slow traces.",
                "Raise the pool size only if the database has connections to spare.",
            ),
        ),
        AlertRule(
            name="SlowDatabaseQueries",
            pack="db",
            severity="warning",
            expr=f"{slow} > 0.5",
            for_minutes=10,
            summary="{{ $labels.service }}: p95 {{ $labels.system }} operation above 500ms",
            description="The 95th percentile of {{ $labels.system }} operations of "
            "{{ $labels.service }} has been above 500 ms for 10 minutes.",
            scenario=Scenario(
                fire=hist(
                    "db_operation_duration_seconds",
                    {"0.25": 0, "0.5": 0, "1.0": 10, "+Inf": 10},
                    **op,
                ),
                quiet=hist(
                    "db_operation_duration_seconds",
                    {"0.01": 10, "0.5": 10, "1.0": 10, "+Inf": 10},
                    **op,
                ),
                labels={"system": "postgresql"},
            ),
            impact="Every request touching the database is slow.",
            diagnosis=(
                (
                    "p95 by operation",
                    c.quantile(
                        "0.95", "service, system, operation", "db_operation_duration_seconds"
                    ),
                ),
                ("Database errors", c.sum_rate("system, error_type", "db_errors_total")),
            ),
            resolution=(
                "Find the statement in slow traces; EXPLAIN ANALYZE it.",
                "Add the missing index or move the work off the request path.",
            ),
        ),
    ]


def _deadlocks(c: RuleContext) -> AlertRule:
    metric = "pg_stat_database_deadlocks"
    labels = {"instance": "postgres-exporter:9187", "job": "postgres-exporter", "datname": "app"}
    increase = f"sum by (instance, datname) (increase({metric}[{c.win(5)}]))"
    return AlertRule(
        name="DatabaseDeadlocks",
        pack="db",
        severity="warning",
        expr=f"{increase} > 0",
        for_minutes=0,
        summary="PostgreSQL deadlocks in database {{ $labels.datname }}",
        description="Transactions in {{ $labels.datname }} on {{ $labels.instance }} "
        "deadlocked within 5 minutes (postgres_exporter); PostgreSQL aborted one of each pair.",
        scenario=Scenario(
            fire=(Series(metric, labels, Decimal(2), service=False),),
            quiet=(Series(metric, labels, Decimal(0), Decimal(4), service=False),),
            labels={"instance": labels["instance"], "datname": "app"},
            service_label=False,
        ),
        impact="Requests whose transaction was aborted failed or were retried.",
        diagnosis=(
            ("Deadlocks by database", increase),
            ("Service database errors", c.sum_rate("system, error_type", "db_errors_total")),
        ),
        resolution=(
            "Find the statements in PostgreSQL's log (log_lock_waits = on shows the pair).",
            "Take locks in one order in every transaction; keep transactions short.",
        ),
    )


def cache_rules(c: RuleContext) -> list[AlertRule]:
    return [_exporter_down("RedisDown", "cache", "redis_up", "redis-exporter", "Redis")]


def queue_rules(c: RuleContext) -> list[AlertRule]:
    return [
        AlertRule(
            name="QueueBacklog",
            pack="queue",
            severity="warning",
            expr=f"max by (service, queue) ({c.sel('queue_depth')}) > 1000",
            for_minutes=15,
            summary="{{ $labels.service }}: queue {{ $labels.queue }} holds over 1000 jobs",
            description="Queue {{ $labels.queue }} of {{ $labels.service }} has had more than "
            "1000 waiting jobs for 15 minutes.",
            scenario=Scenario(
                fire=(gauge("queue_depth", 5000, queue="jobs"),),
                quiet=(gauge("queue_depth", 10, queue="jobs"),),
                labels={"queue": "jobs"},
                true_from=0,
            ),
            impact="Background work (workflows, agent runs) is delayed.",
            diagnosis=(
                ("Depth", c.sel("queue_depth")),
                ("Jobs finished by status", c.sum_rate("queue, status", "queue_jobs_total")),
            ),
            resolution=(
                "Check that workers run and are not failing every job.",
                "Scale the workers out.",
            ),
        ),
    ]


def circuit_rules(c: RuleContext) -> list[AlertRule]:
    state = "circuit_breaker_state"
    return [
        AlertRule(
            name="CircuitBreakerOpen",
            pack="circuit",
            severity="warning",
            expr=f"max by (service, breaker) ({c.sel(state)}) == 2",
            for_minutes=5,
            summary="{{ $labels.service }}: circuit {{ $labels.breaker }} open",
            description="Circuit breaker {{ $labels.breaker }} of {{ $labels.service }} has "
            "been open for 5 minutes: calls to that dependency are refused.",
            scenario=Scenario(
                fire=(gauge(state, 2, breaker="openai"),),
                quiet=(gauge(state, 0, breaker="openai"),),
                labels={"breaker": "openai"},
                true_from=0,
            ),
            impact="Features depending on the dependency behind the breaker are unavailable.",
            diagnosis=(
                ("Breaker states", c.sel(state)),
                (
                    "Transitions",
                    c.sum_rate(
                        "breaker, state",
                        "circuit_breaker_transitions_total",
                        minutes=30,
                        fn="increase",
                    ),
                ),
            ),
            resolution=("Check the dependency's status page and the errors that tripped it.",),
        ),
    ]
