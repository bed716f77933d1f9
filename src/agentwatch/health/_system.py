"""System checks: a TCP port answers, disk space left, this process's memory.

>>> health.register("smtp", TCPCheck("mail.internal", 25))
>>> health.register("disk", DiskCheck("/var/lib/app", warn_free_percent=15, fail_free_percent=5))
>>> health.register("memory", ProcessMemoryCheck(warn_bytes=1.5e9, fail_bytes=2e9))
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import sys
import time

from .base import BaseCheck, CheckResult, status_for

__all__ = ["DiskCheck", "ProcessMemoryCheck", "TCPCheck", "process_rss_bytes"]


class TCPCheck(BaseCheck):
    """A TCP connection to ``host:port`` opens; observed value: connect time in ms."""

    component_type = "system"

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host = host
        self.port = port

    async def check(self) -> CheckResult:
        start = time.perf_counter()
        _, writer = await asyncio.open_connection(self.host, self.port)
        elapsed_ms = round((time.perf_counter() - start) * 1000.0, 3)
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        details = {"host": self.host, "port": self.port}
        return CheckResult("pass", elapsed_ms, "ms", "system", details=details)


class DiskCheck(BaseCheck):
    """Free space on the file system holding ``path``, in percent (``disk:free``)."""

    component_type = "system"

    def __init__(
        self, path: str = "/", *, warn_free_percent: float = 10.0, fail_free_percent: float = 5.0
    ) -> None:
        super().__init__()
        self.path = path
        self.warn_free_percent = warn_free_percent
        self.fail_free_percent = fail_free_percent

    async def check(self) -> CheckResult:
        usage = shutil.disk_usage(self.path)
        free_percent = round(100.0 * usage.free / usage.total, 2) if usage.total else 0.0
        status = status_for(-free_percent, -self.warn_free_percent, -self.fail_free_percent)
        output = f"{free_percent}% free on {self.path}" if status != "pass" else ""
        details = {"path": self.path, "free_bytes": usage.free, "total_bytes": usage.total}
        return CheckResult(status, free_percent, "percent", "system", output, details, "free")


def process_rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class ProcessMemoryCheck(BaseCheck):
    """Resident memory of this process in bytes (``memory:rss``); warn / fail thresholds."""

    component_type = "system"

    def __init__(self, *, warn_bytes: float | None = None, fail_bytes: float | None = None) -> None:
        super().__init__()
        self.warn_bytes = warn_bytes
        self.fail_bytes = fail_bytes

    async def check(self) -> CheckResult:
        rss = process_rss_bytes()
        status = status_for(rss, self.warn_bytes, self.fail_bytes)
        output = f"resident memory {rss / 2**20:.0f} MiB" if status != "pass" else ""
        details = {"warn_bytes": self.warn_bytes, "fail_bytes": self.fail_bytes}
        return CheckResult(status, rss, "bytes", "system", output, details, "rss")
