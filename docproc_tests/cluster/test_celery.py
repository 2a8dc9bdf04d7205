"""The assets on Dagster's Celery executor: a real Redis broker, a real PostgreSQL instance and two
dagster-celery workers started as a user starts them, each in its own directory (`docproc cluster`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from docproc_assets import cluster as cl
from docproc_assets.core.pools import CELERY_QUEUE_TAG
from docproc_assets.core.store import Store
from docproc_tests import documents as D

DOCPROC = str(Path(sys.executable).with_name("docproc"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("redis-server") is None or cl.postgres_bin() is None,
                                                   reason="redis-server or PostgreSQL not installed (make install)")]


def test_gpu_model_steps_go_to_the_gpu_queue_the_rest_to_cpu():
    job = cl.cluster_job()
    tags = {node.name: node.tags.get(CELERY_QUEUE_TAG) for node in job.graph.node_defs}
    assert tags["ocr_qwen2_5_vl_7b"] == "gpu" and tags["ocr_tesseract"] == "cpu"
    assert tags["raw_documents"] == tags["document_routes"] == tags["direct_extractions"] == "cpu"


@pytest.fixture(scope="module")
def cluster():
    os.environ["DOCPROC_CELERY_VISIBILITY_S"] = "15"  # a dead worker's task goes to another after 15 s
    root = Path(tempfile.mkdtemp(prefix="docproc-cluster-"))  # pytest's tmp folders are private to root: Postgres runs as postgres
    up = docproc("cluster", "up", "--dir", str(root), "--workers", "2")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "workers cpu1 (cpu), cpu2 (cpu)" in up.stdout
        yield cl.Cluster.load(root)
    finally:
        docproc("cluster", "down", "--dir", str(root), timeout=120)
        os.environ.pop("DOCPROC_CELERY_VISIBILITY_S", None)
        shutil.rmtree(root, ignore_errors=True)


def docproc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`docproc ARGS` in a process of its own. One that hangs (as one did once, after printing its results)
    fails with every thread's stack, from faulthandler on SIGABRT, instead of a bare timeout."""
    proc = subprocess.Popen([DOCPROC, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"docproc {' '.join(args)} still running after {timeout:g} s:\n{out[-2000:]}\n{err[-10000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def scans(folder: Path, n: int, pages: int = 2) -> Path:
    folder.mkdir()
    for i in range(n):
        D.scanned_pdf(folder / f"scan{i}.pdf", [f"{D.PARAGRAPH} Document {i} page {p}." for p in range(pages)])
    return folder


def exactly_once(store: Store, models: tuple[str, ...], ids: list[str]) -> None:
    """One successful row per (document, model) of these documents, no more."""
    rows = store.query("SELECT model, count(*), count(DISTINCT document_id), count(*) FILTER (WHERE success) "
                       "FROM extractions WHERE document_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1 ORDER BY 1", [ids])[1]
    n = len(set(ids))
    assert rows == [(m, n, n, n) for m in sorted(models)]


def test_two_workers_run_the_steps_and_every_row_lands_once(cluster, tmp_path):
    folder = scans(tmp_path / "in", 4)
    proc = docproc("cluster", "run", str(folder), "--dir", str(cluster.root), "--models", "tesseract")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = cluster.steps_by_worker()
    assert set(ran) == {"cpu1", "cpu2"} and all("ocr_tesseract" in steps or "direct_extractions" in steps for steps in ran.values()), ran
    assert "cpu1" in proc.stdout and "cpu2" in proc.stdout  # the table of steps per worker
    store = Store(cluster.data / "docproc.duckdb")
    ids = [r[0] for r in store.query("SELECT document_id FROM documents WHERE filename LIKE 'scan%'")[1]]
    assert len(ids) == 4
    exactly_once(store, ("direct", "tesseract"), ids)
    texts = [r[0] for r in store.query("SELECT extracted_text FROM extractions WHERE model = 'tesseract'")[1]]
    assert len(texts) == 4 and all("lazy dog" in t for t in texts)
    assert not [p for p in (cluster.data / ".docproc.duckdb.staging").rglob("*.parquet")]


def test_a_worker_killed_mid_step_leaves_every_row_once(cluster, tmp_path, monkeypatch):
    """SIGKILL the worker running an OCR step: the task is acknowledged late, so Redis hands it to the other
    worker after the visibility timeout; the run succeeds and every (document, model) has one row."""
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    folder = scans(tmp_path / "kill", 4, pages=3)
    killed: list[str] = []

    def kill_the_ocr_worker():
        deadline = time.monotonic() + 300
        with dg.DagsterInstance.get() as instance:
            while not killed and time.monotonic() < deadline:
                for run in instance.get_runs(filters=dg.RunsFilter(tags={"docproc/source": "cluster"}), limit=10):
                    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                        data = record.dagster_event.engine_event_data.metadata if record.dagster_event.engine_event_data else {}
                        if "Celery worker" in data and record.dagster_event.step_key == "ocr_tesseract" \
                                and record.timestamp > started:
                            time.sleep(1.0)  # mid-step: the engine is reading
                            name = str(data["Celery worker"].value).split("@")[0]
                            cluster.kill_worker(name)
                            killed.append(name)
                            return
                time.sleep(0.3)

    from docproc_assets.batch import run_batch

    started = time.time()
    killer = threading.Thread(target=kill_the_ocr_worker, daemon=True)
    killer.start()
    result = run_batch(folder, ["tesseract"], data_dir=cluster.data, executor="celery", parallel_runs=2, chunk_size=2)
    killer.join(5)
    assert killed, "no OCR step was seen running"
    assert result.failed_runs == 0
    survivor = ({"cpu1", "cpu2"} - set(killed)).pop()
    ran = cluster.steps_by_worker(result.runs)
    assert ran[survivor].count("ocr_tesseract") >= 1
    assert len(result.documents) == 4
    exactly_once(Store(cluster.data / "docproc.duckdb"), ("direct", "tesseract"), result.documents)
    assert not [p for p in (cluster.data / ".docproc.duckdb.staging").rglob("*") if p.is_file()]
    cluster.start_worker(killed[0], "cpu")  # back to two for whatever runs next
