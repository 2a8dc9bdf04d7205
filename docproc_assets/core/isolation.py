"""Parsing untrusted files where a crash or a hang cannot take the caller down.

One long-lived child process serves document after document (so a loaded OCR model is reused); when a
document makes it hang past the timeout, grow past the memory limit or die (a segfault in a parser),
the child is killed and replaced and only that document fails. `borrowed` keeps one such child warm
per process between chunks, so a long-lived process (a Celery worker, `docproc batch`) pays for the
imports and the model load once, not once per step.

The memory limit is on resident memory, watched by the parent every POLL_SECONDS, not an address-space
rlimit: ONNX Runtime, Paddle and torch reserve far more address space than they ever touch, so an
rlimit that stops a decompression bomb also stops a model from loading.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import psutil

from docproc_assets.core.errors import DocumentError, DocumentTimeout, ResourceLimitExceeded

log = logging.getLogger(__name__)


class WorkerCrashed(DocumentError):
    kind = "crash"


POLL_SECONDS = 0.05
STARTUP_SECONDS = 120.0


def _warm_up() -> None:
    import docproc_assets.core.pipeline  # noqa: F401 - PyMuPDF, Pillow, libmagic and the rest, once


def default_memory_mb() -> int:
    """Three quarters of this machine's memory: one document can never take the whole machine."""
    return int(psutil.virtual_memory().total * 0.75 / 2**20)


def _serve(conn: Connection) -> None:
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        fn, args, kwargs = job
        try:
            conn.send((True, fn(*args, **kwargs)))
        except MemoryError:
            conn.send((False, ResourceLimitExceeded("out of memory")))
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
    """Run functions in a child process with a per-call timeout and a resident-memory limit (0: none)."""

    def __init__(self, timeout: float = 300.0, memory_mb: int = 0):
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._ctx = mp.get_context("spawn")
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._env: dict[str, str] = {}  # the environment the child started with (model overrides, limits)
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child,), daemon=True)
        env = dict(os.environ)
        proc.start()  # may raise (no child processes allowed here): nothing half-started is kept
        self._env = env
        self._proc = proc
        child.close()
        self._conn = parent
        # The parsers are imported before the first document's clock starts: a timeout measures the
        # document's work, not a cold start on a busy machine.
        try:
            parent.send((_warm_up, (), {}))
            if parent.poll(STARTUP_SECONDS):
                parent.recv()
                return
        except (EOFError, ConnectionError):
            pass
        self._kill()
        raise WorkerCrashed(f"the parsing worker did not start within {STARTUP_SECONDS:g} s")

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
        self._wait()
        try:
            ok, value = self._conn.recv()
        except (EOFError, ConnectionError):
            code = self._proc.exitcode if self._proc else None
            self._kill()
            raise WorkerCrashed(f"the parser crashed (exit code {code})") from None
        if not ok:
            raise value
        return value

    def _wait(self) -> None:
        """Until the answer is there; kill the child past the deadline or the memory limit."""
        assert self._conn is not None and self._proc is not None
        deadline = time.monotonic() + self.timeout
        watched = psutil.Process(self._proc.pid) if self.memory_mb else None
        while not self._conn.poll(min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                self._kill()
                raise DocumentTimeout(f"timed out after {self.timeout:g} s")
            if watched is not None:
                try:
                    resident_mb = watched.memory_info().rss / 2**20
                except psutil.Error:
                    continue  # the child just exited: recv() tells why
                if resident_mb > self.memory_mb:
                    self._kill()
                    raise ResourceLimitExceeded(
                        f"memory limit of {self.memory_mb} MB exceeded ({resident_mb:.0f} MB resident)"
                    )

    def close(self) -> None:
        if self._proc is not None:
            if self._conn is not None:  # None when the child never started
                self._conn.close()
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
            self._proc = self._conn = None

    def current(self) -> bool:
        """Whether a child started (if any) still sees this process's environment: a spawned child reads
        the model overrides and settings from the environment it was started with."""
        return self._proc is None or self._env == os.environ

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_warm: IsolatedWorker | None = None  # this process's idle worker, its imports done and its models loaded
_warm_lock = threading.Lock()


@contextmanager
def borrowed(timeout: float, memory_mb: int, keep: bool = True) -> Iterator[IsolatedWorker]:
    """This process's warm worker (or a new one) with these limits, kept warm for the next caller when
    `keep`; `keep=False` closes it afterwards, so a GPU model's memory goes back with its step. A worker
    started under another environment is replaced: its child would read stale settings."""
    global _warm
    with _warm_lock:
        worker, _warm = _warm, None
    if worker is not None and not worker.current():
        worker.close()
        worker = None
    worker = worker or IsolatedWorker()
    worker.timeout, worker.memory_mb = timeout, memory_mb
    try:
        yield worker
    finally:
        with _warm_lock:
            if keep and _warm is None:
                worker, _warm = None, worker
        if worker is not None:
            worker.close()
