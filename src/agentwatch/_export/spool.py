"""The durable spool: OTLP batches that could not be sent wait in a folder, one file each.

A :class:`Batch` is what any signal sends: the request body, the signal's path
(``/v1/traces``, ``/v1/logs``), whether it carries an error trace, and how many spans or
records it holds. :meth:`Spool.put` makes it durable before it counts as accepted: written
to a temporary file, fsynced, renamed into place (and the folder fsynced). A file is
named by its time, so listing the folder is oldest first::

    00001733512345678901234-e-4242-17.batch      (time ns, e|s, pid, sequence)

and holds a header (magic, flags, count, signal length, body length, CRC-32 of the body)
then the signal and the body. A file whose header, length or checksum is wrong (a crash
or a bad disk tore it) is removed and counted, never fatal.

Several processes of one service share the folder: :meth:`Spool.claim` takes an exclusive
``flock`` on a file and checks it is still the file at that name, so a batch is sent by
one process; the lock dies with its process, so a crash leaves no stale claim.

Bounded by ``max_bytes``: to make room, batches of successful traces go first, oldest
first, then those of error traces, counted in ``agentwatch_spans_dropped_total{reason=
"spool_full"}``. Only the export thread (or shutdown) calls it: no request waits on disk.
"""

from __future__ import annotations

import itertools
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .._metrics.registry import Metrics

try:
    import fcntl
except ImportError:  # not POSIX: the spool is off (see spool_folder)
    fcntl = None  # type: ignore[assignment]

__all__ = ["Batch", "Claim", "Spool", "default_spool_folder", "read_batch", "signal_label"]

_log = logging.getLogger("agentwatch")
_MAGIC = b"AWSPOOL1"
_HEADER = struct.Struct(">BIHII")  # flags, count, signal length, body length, crc32
_HEAD = len(_MAGIC) + _HEADER.size
_ERROR_FLAG = 0x01
_SUFFIX = ".batch"
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_SECONDS = 600.0


@dataclass(frozen=True)
class Batch:
    """One OTLP request body of a signal, waiting to be sent."""

    signal: str  # the OTLP path: /v1/traces, /v1/logs
    body: bytes  # the protobuf request, uncompressed
    error: bool  # carries spans of an error trace (evicted last)
    count: int  # spans or log records in it


class _Entry(NamedTuple):
    name: str
    size: int
    error: bool
    created_ns: int


def signal_label(signal: str) -> str:
    """``traces`` for ``/v1/traces``: the metric label of a signal path."""
    return signal.rstrip("/").rsplit("/", 1)[-1] or "unknown"


def default_spool_folder(service_name: str, environ: dict[str, str] | None = None) -> Path:
    """``<state dir>/agentwatch/<service>/spool``: ``$XDG_STATE_HOME`` or ``~/.local/state``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or ""
    state = Path(base) if base.strip() else Path.home() / ".local" / "state"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in service_name) or "service"
    return state / "agentwatch" / safe / "spool"


class Claim:
    """A spooled batch this process holds the lock of: send it, then :meth:`done` or
    :meth:`release`."""

    def __init__(self, spool: Spool, path: Path, fd: int, batch: Batch) -> None:
        self.spool, self.path, self.batch = spool, path, batch
        self._fd: int | None = fd

    def done(self) -> None:
        """The batch was delivered (or is given up): remove its file."""
        try:
            self.path.unlink(missing_ok=True)
        finally:
            self.release()

    def release(self) -> None:
        """Leave the batch in the spool for a later attempt."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


class Spool:
    """The folder of waiting batches (see the module)."""

    def __init__(self, folder: str | os.PathLike[str], metrics: Metrics, *, max_bytes: int) -> None:
        if fcntl is None:
            raise OSError("the spool needs POSIX file locks (fcntl.flock)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_bytes = max_bytes
        self._sequence = itertools.count(1)  # next() is atomic: threads get distinct names
        self._dropped = metrics["agentwatch_spans_dropped_total"]
        self._dropped_logs = metrics["agentwatch_logs_dropped_total"]
        self._evicted = metrics["agentwatch_spool_evicted_total"]
        self._bytes = metrics["agentwatch_spool_bytes"].labels()
        self._batches = metrics["agentwatch_spool_batches"].labels()
        self._oldest = metrics["agentwatch_spool_oldest_age_seconds"].labels()
        self._remove_stale_temps()
        self.refresh_gauges()

    # writing

    def put(self, batch: Batch) -> bool:
        """Make ``batch`` durable; False when it was not kept (no room, or a disk error,
        counted either way)."""
        size = _HEAD + len(batch.signal.encode()) + len(batch.body)
        if not self._make_room(size, batch.error):
            self._drop(batch.count, batch.error, "spool_full", "spool_full", batch.signal)
            return False
        try:
            self._write(batch)
        except OSError as exc:
            _log.warning("agentwatch: cannot write to the spool %s: %r", self.folder, exc)
            self._counter(batch.signal).labels("export_failed").inc(batch.count)
            return False
        finally:
            self.refresh_gauges()
        return True

    def _write(self, batch: Batch) -> None:
        signal = batch.signal.encode()
        flags = _ERROR_FLAG if batch.error else 0
        crc = zlib.crc32(batch.body)
        head = _MAGIC + _HEADER.pack(flags, batch.count, len(signal), len(batch.body), crc)
        kind = "e" if batch.error else "s"
        name = f"{time.time_ns():020d}-{kind}-{os.getpid()}-{next(self._sequence)}"
        temp = self.folder / f"{_TEMP_PREFIX}{name}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(head + signal)
                handle.write(batch.body)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temp, self.folder / (name + _SUFFIX))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_folder(self.folder)

    def _make_room(self, size: int, error: bool) -> bool:
        """Evict until ``size`` more bytes fit: success batches oldest first, then (for an
        error batch) error batches oldest first; False when the new batch cannot fit."""
        if size > self.max_bytes:
            return False
        entries = self._entries()
        total = sum(entry.size for entry in entries) + size
        if total <= self.max_bytes:
            return True
        victims = [entry for entry in entries if not entry.error]
        if error:
            victims += [entry for entry in entries if entry.error]
        for entry in victims:
            if self._evict(entry):
                total -= entry.size
                if total <= self.max_bytes:
                    return True
        return False

    def _evict(self, entry: _Entry) -> bool:
        claim = self._claim_entry(entry)
        if claim is None:
            return False  # another process is sending it, or it is gone already
        batch = claim.batch
        self._drop(batch.count, batch.error, "spool_full", "spool_full", batch.signal)
        claim.path.unlink(missing_ok=True)
        claim.release()
        return True

    def _drop(self, count: int, error: bool, evicted: str, dropped: str, signal: str = "") -> None:
        """Count a batch removed unsent (``evicted`` reason) and its spans or log records
        (``dropped``)."""
        self._evicted.labels(evicted, "error" if error else "success").inc()
        if count:
            self._counter(signal).labels(dropped).inc(count)

    def _counter(self, signal: str) -> Any:
        """Where the items of a ``signal``'s batch are counted when dropped."""
        return self._dropped_logs if signal_label(signal) == "logs" else self._dropped

    def reject(self, claim: Claim) -> None:
        """The receiver refused the claimed batch for good (a 4xx other than 429): drop it."""
        batch = claim.batch
        self._drop(batch.count, batch.error, "rejected", "export_failed", batch.signal)
        claim.done()

    # reading

    def claim(self, signals: Iterable[str] | None = None) -> Claim | None:
        """The oldest batch no other process holds (of ``signals``, if given), locked."""
        return next(self.claims(signals), None)

    def claims(self, signals: Iterable[str] | None = None) -> Iterator[Claim]:
        """Batches no other process holds (of ``signals``, if given), oldest first, each
        locked when it is yielded; one listing of the folder for the lot (the caller
        settles each claim before taking the next; gauges: :meth:`refresh_gauges`)."""
        wanted = None if signals is None else set(signals)
        for entry in self._entries():
            claim = self._claim_entry(entry)
            if claim is None:
                continue
            if wanted is not None and claim.batch.signal not in wanted:
                claim.release()
                continue
            yield claim

    def _claim_entry(self, entry: _Entry) -> Claim | None:
        path = self.folder / entry.name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            assert fcntl is not None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _same_file(fd, path):  # sent and removed by another process meanwhile
                os.close(fd)
                return None
            batch = _read(fd)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            raise
        if batch is None:
            self._torn(path, fd)
            return None
        return Claim(self, path, fd, batch)

    def _torn(self, path: Path, fd: int) -> None:
        _log.warning("agentwatch: spool file %s is torn (a crash?): removed", path.name)
        count = _header_count(fd)
        path.unlink(missing_ok=True)
        os.close(fd)
        self._drop(count, "-e-" in path.name, "torn", "spool_torn")
        self.refresh_gauges()

    def _entries(self) -> list[_Entry]:
        entries = []
        try:
            scanned = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for item in scanned:
            name = item.name
            if not name.endswith(_SUFFIX):
                continue
            try:
                size = item.stat().st_size
                created = int(name.split("-", 1)[0])
            except (OSError, ValueError):
                continue
            entries.append(_Entry(name, size, "-e-" in name, created))
        entries.sort()
        return entries

    def refresh_gauges(self) -> None:
        entries = self._entries()
        self._bytes.set(sum(entry.size for entry in entries))
        self._batches.set(len(entries))
        oldest = (time.time_ns() - entries[0].created_ns) / 1e9 if entries else 0.0
        self._oldest.set(max(oldest, 0.0))

    @property
    def batches(self) -> int:
        return len(self._entries())

    def _remove_stale_temps(self) -> None:
        """Temporary files a crashed writer left (never renamed: never accepted)."""
        now = time.time()
        for item in os.scandir(self.folder):
            if item.name.startswith(_TEMP_PREFIX):
                try:
                    if now - item.stat().st_mtime > _STALE_TEMP_SECONDS:
                        os.unlink(item.path)
                except OSError:
                    continue


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read(fd: int) -> Batch | None:
    """The batch in the file, or None when it is torn."""
    with os.fdopen(os.dup(fd), "rb") as handle:
        data = handle.read()
    if len(data) < _HEAD or not data.startswith(_MAGIC):
        return None
    flags, count, signal_length, body_length, crc = _HEADER.unpack_from(data, len(_MAGIC))
    if len(data) != _HEAD + signal_length + body_length:
        return None
    signal = data[_HEAD : _HEAD + signal_length]
    body = data[_HEAD + signal_length :]
    if zlib.crc32(body) != crc:
        return None
    try:
        text = signal.decode()
    except UnicodeDecodeError:
        return None
    return Batch(text, body, bool(flags & _ERROR_FLAG), count)


def read_batch(path: str | os.PathLike[str]) -> Batch | None:
    """The batch in a spool file, None when it is torn (for tools and tests; no lock)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read(fd)
    finally:
        os.close(fd)


def _header_count(fd: int) -> int:
    try:
        head = os.pread(fd, _HEAD, 0)
    except OSError:
        return 0
    if len(head) < _HEAD or not head.startswith(_MAGIC):
        return 0
    return int(_HEADER.unpack_from(head, len(_MAGIC))[1])


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
