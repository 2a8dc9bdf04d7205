"""`docproc cluster`: a local cluster of real processes, a Redis broker, a PostgreSQL instance and
dagster-celery workers, to run the same assets as `docproc batch` with each step on a worker.

Everything lives under one folder (default `.cluster/`):

    cluster.json          ports and pids (what `down` stops)
    home/dagster.yaml     the Dagster instance: runs, events and partitions in Postgres
    celery.yaml           the executor config the workers start from (broker, backend, late acks)
    postgres/ redis/      the servers' data and logs
    workers/<name>/       each worker's own working directory, log and environment

Workers share only the broker, Postgres and the data folder (DOCPROC_DATA): they are started the way
a user starts them (`dagster-celery worker start -A dagster_celery.app -y celery.yaml -q cpu`), each
in its own directory and process group, and could run on other hosts that mount the same data folder.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from docproc_assets import instance_storage
from docproc_assets.batch import PROJECT_ROOT
from docproc_assets.core.pools import CPU_QUEUE, GPU_QUEUE

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server binaries (package `postgresql`)."""
    return next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) if (p / "initdb").exists()), None)


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else []


@dataclass
class Postgres:
    """A throwaway PostgreSQL server in `root`, trusted local logins, database `dagster`."""

    root: Path
    port: int = 0

    def start(self) -> Postgres:
        pg = postgres_bin()
        if pg is None:
            raise RuntimeError("PostgreSQL server not installed (Debian package postgresql)")
        self.port = self.port or free_port()
        prefix = _as_postgres_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if prefix:  # the postgres user must reach its folder: through the cluster's folder, and own it
            os.chmod(self.root.parent, os.stat(self.root.parent).st_mode | 0o711)
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        if not data.exists():
            subprocess.run([*prefix, str(pg / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8"],
                           check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, str(pg / "pg_ctl"), "-D", str(data), "-o", f"-p {self.port} -k {self.root} -h 127.0.0.1",
                        "-l", str(self.root / "log"), "-w", "start"], check=True, capture_output=True, timeout=60)
        created = subprocess.run([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "dagster", "dagster"],
                                 capture_output=True, text=True, timeout=30)
        if created.returncode and "already exists" not in created.stderr:
            raise RuntimeError(f"createdb failed: {created.stderr.strip()}")
        return self

    def stop(self) -> None:
        pg = postgres_bin()
        if pg is not None and (self.root / "data").exists():
            subprocess.run([*_as_postgres_user(), str(pg / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop"],
                           capture_output=True, timeout=60)

    def database(self) -> dict:
        """dagster.yaml's `postgres_db` settings for this server."""
        return {"hostname": "127.0.0.1", "username": "dagster", "password": "", "db_name": "dagster", "port": self.port,
                "scheme": "postgresql+psycopg2"}

    def storage(self) -> dict:
        """dagster.yaml's `storage` section for this server (dagster-postgres as it comes)."""
        return {"postgres": {"postgres_db": self.database()}}


@dataclass
class Worker:
    name: str
    queue: str
    pid: int = 0


@dataclass
class Cluster:
    root: Path
    data: Path
    redis_port: int = 0
    postgres_port: int = 0
    redis_pid: int = 0
    workers: list[Worker] = field(default_factory=list)

    # -- paths and settings ----------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def broker(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def backend(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/1"

    def env(self) -> dict[str, str]:
        """What every process of the cluster shares: the instance, the broker, the data folder."""
        return {"DAGSTER_HOME": str(self.home), "DOCPROC_CELERY_BROKER": self.broker, "DOCPROC_CELERY_BACKEND": self.backend,
                "DOCPROC_DATA": str(self.data), "DOCPROC_DB": str(self.data / "docproc.duckdb")}

    @classmethod
    def load(cls, root: Path) -> Cluster:
        state = json.loads((root / "cluster.json").read_text())
        state["workers"] = [Worker(**w) for w in state["workers"]]
        return cls(**{**state, "root": Path(state["root"]), "data": Path(state["data"])})

    def save(self) -> None:
        state = {**asdict(self), "root": str(self.root), "data": str(self.data)}
        (self.root / "cluster.json").write_text(json.dumps(state, indent=2))

    # -- up and down -----------------------------------------------------------------------------

    def up(self, workers: int = 2, gpu_workers: int = 0) -> Cluster:
        """Start Redis, Postgres and the workers; returns once every worker answers a ping."""
        from docproc_assets.defs.cluster.jobs import executor_config

        self.root, self.data = self.root.absolute(), self.data.absolute()
        self.home.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        self.redis_port = self.redis_port or free_port()
        (self.root / "redis").mkdir(exist_ok=True)
        redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(self.root / "redis"),
                                  "--save", "", "--appendonly", "no", "--logfile", str(self.root / "redis" / "log")],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.redis_pid = redis.pid
        self.save()
        pg = Postgres(self.root / "postgres", self.postgres_port).start()
        self.postgres_port = pg.port
        config_file = PROJECT_ROOT / "dagster.yaml"  # the project's pools and run limits, where it has one
        project = (yaml.safe_load(config_file.read_text()) or {}) if config_file.exists() else {}
        instance = {"telemetry": {"enabled": False}, **instance_storage.instance_config(pg.database()),  # pooled connections
                    "concurrency": project.get("concurrency", {})}
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(instance, sort_keys=False))
        config = {**executor_config(), "broker": self.broker, "backend": self.backend}
        (self.root / "celery.yaml").write_text(yaml.safe_dump({"execution": {"config": config}}, sort_keys=False))
        self.save()
        for i in range(workers):
            self.start_worker(f"cpu{i + 1}", CPU_QUEUE)
        for i in range(gpu_workers):
            self.start_worker(f"gpu{i + 1}", GPU_QUEUE)
        self.wait_for_workers()
        return self

    def start_worker(self, name: str, queue: str) -> Worker:
        """One worker in its own directory and process group, listening on one queue. The solo pool: a
        step runs in the worker's own process (one at a time), which may start the step's isolated
        document workers (a prefork pool's children are daemons and may not). It imports what its steps
        need before it answers (celery_worker.py)."""
        folder = self.root / "workers" / name
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env(), "DOCPROC_WORKER": name, "OMP_NUM_THREADS": "1",
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # dagster-celery runs `celery` from PATH
        log = open(folder / "worker.log", "ab")  # noqa: SIM115 - the worker writes it for as long as it lives
        proc = subprocess.Popen([str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(self.root / "celery.yaml"),
                                 "-q", queue, "-n", name, "--", "--pool=solo", "--without-gossip", "--without-mingle",
                                 "--include=docproc_assets.celery_worker"],
                                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(name, queue, proc.pid)
        self.workers = [w for w in self.workers if w.name != name] + [worker]
        self.save()
        return worker

    def wait_for_workers(self, timeout: float = 180.0) -> None:
        from celery import Celery

        app = Celery(broker=self.broker, backend=self.backend)
        wanted = {w.name for w in self.workers}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered = {name.split("@")[0] for reply in (app.control.ping(timeout=1.0) or []) for name in reply}
            if wanted <= answered:
                return
            dead = [w.name for w in self.workers if not _alive(w.pid)]
            if dead:
                raise RuntimeError(f"workers {dead} exited; see {self.root}/workers/<name>/worker.log")
        raise TimeoutError(f"workers {sorted(wanted)} did not answer within {timeout:.0f} s")

    def running(self) -> bool:
        """The broker and every worker are alive."""
        return _alive(self.redis_pid) and bool(self.workers) and all(_alive(w.pid) for w in self.workers)

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a worker's whole process group (the Celery worker, its pool and the steps' own workers)."""
        worker = next(w for w in self.workers if w.name == name)
        _signal_group(worker.pid, sig)

    def down(self) -> None:
        for worker in self.workers:
            _signal_group(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while any(_alive(w.pid) for w in self.workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        for worker in self.workers:
            _signal_group(worker.pid, signal.SIGKILL)
        Postgres(self.root / "postgres", self.postgres_port).stop()
        _signal_group(self.redis_pid, signal.SIGTERM)
        self.workers = []
        self.save()

    # -- what ran where --------------------------------------------------------------------------

    def steps_by_worker(self, run_ids: list[str] | None = None) -> dict[str, list[str]]:
        """Worker name -> the steps it ran: the Celery executor's engine events, as the UI shows them."""
        import dagster as dg

        out: dict[str, list[str]] = {}
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            runs = run_ids or [r.run_id for r in instance.get_runs()]
            for run_id in runs:
                for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                    event = record.dagster_event
                    data = event.engine_event_data.metadata if event and event.engine_event_data else {}
                    if "Celery worker" in data:
                        out.setdefault(str(data["Celery worker"].value).split("@")[0], []).append(event.step_key)
        return out


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of this process
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _signal_group(pid: int, sig: int) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def cluster_job():
    """The Celery job, rebuilt from this pointer by the coordinating process and by every worker, once per
    process: the definitions are the modules' objects, so building them again for each run and each step
    (a third of a coordinator's CPU) gave the same job every time."""
    return _built_cluster_job()


@functools.cache
def _built_cluster_job():
    from docproc_assets.defs.cluster.jobs import CLUSTER_JOB
    from docproc_assets.definitions import defs

    return defs().resolve_job_def(CLUSTER_JOB)
