"""Parsing untrusted files where a crash or a hang cannot take the caller down.

One long-lived child process serves document after document (so a loaded OCR model is reused); when a
document makes it hang past the timeout or die (a segfault in a parser, the memory limit), the child is
killed and replaced and only that document fails.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from docproc_assets.core.errors import DocumentError, DocumentTimeout, ResourceLimitExceeded

log = logging.getLogger(__name__)


class WorkerCrashed(DocumentError):
    kind = "crash"


def _serve(conn: Connection, memory_mb: int) -> None:
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        fn, args, kwargs = job
        try:
            conn.send((True, fn(*args, **kwargs)))
        except MemoryError:
            conn.send((False, ResourceLimitExceeded(f"memory limit of {memory_mb} MB exceeded")))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as data
            conn.send((False, exc if _picklable(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")))


def _picklable(exc: BaseException) -> bool:
    import pickle

    try:
        pickle.dumps(exc)
        return True
    except Exception:
        return False


class IsolatedWorker:
    """Run functions in a child process with a per-call timeout and an optional address-space limit."""

    def __init__(self, timeout: float = 300.0, memory_mb: int = 0):
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._ctx = mp.get_context("spawn")
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child, self.memory_mb), daemon=True)
        proc.start()  # may raise (no child processes allowed here): nothing half-started is kept
        self._proc = proc
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self.restarts += 1

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._conn is not None and self._proc is not None
        self._conn.send((fn, args, kwargs))
        if not self._conn.poll(self.timeout):
            self._kill()
            raise DocumentTimeout(f"timed out after {self.timeout:g} s")
        try:
            ok, value = self._conn.recv()
        except (EOFError, ConnectionError):
            code = self._proc.exitcode if self._proc else None
            self._kill()
            if self.memory_mb and code not in (None, 0):
                raise ResourceLimitExceeded(f"worker died (exit {code}); memory limit {self.memory_mb} MB") from None
            raise WorkerCrashed(f"the parser crashed (exit code {code})") from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if self._proc is not None:
            if self._conn is not None:  # None when the child never started
                self._conn.close()
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
            self._proc = self._conn = None

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

