"""`docproc batch`: the assets in process against a DAGSTER_HOME; a SIGKILLed batch resumes cleanly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from docproc_assets.core.store import Store
from docproc_tests.documents import digital_pdf, scanned_pdf

DOCPROC = str(Path(sys.executable).parent / "docproc")


def corpus(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        if i % 4 == 3:
            scanned_pdf(folder / f"scan-{i:02d}.pdf", [f"Scanned page {i}"])
        else:
            digital_pdf(folder / f"doc-{i:02d}.pdf", [f"Document number {i} speaks of invoices.", f"Its page two, {i}."])
    return folder


def batch(tmp_path, folder, *args, **popen):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    cmd = [DOCPROC, "batch", str(folder), "--data-dir", str(tmp_path / "data"), "--models", "", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


@pytest.mark.slow
def test_batch_prints_a_summary_and_records_runs(tmp_path):
    folder = corpus(tmp_path / "in", 4)
    proc = batch(tmp_path, folder, "--chunk-size", "2", "--report", str(tmp_path / "report.md"))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "direct" in out and "DuckDB:" in out and str(tmp_path / "data" / "docproc.duckdb") in out
    assert (tmp_path / "report.md").read_text().count("doc-0") == 3
    store = Store(tmp_path / "data" / "docproc.duckdb")
    assert store.query("SELECT count(*) FROM extractions WHERE model = 'direct' AND success")[1] == [(4,)]
    os.environ["DAGSTER_HOME"], old = str(tmp_path / "home"), os.environ.get("DAGSTER_HOME")
    try:
        runs = dg.DagsterInstance.get().get_runs()
    finally:
        os.environ.pop("DAGSTER_HOME") if old is None else os.environ.__setitem__("DAGSTER_HOME", old)
    assert len(runs) == 3  # two chunks of two documents, then the tables
    assert all(r.tags.get("docproc/source") == "batch" for r in runs)


@pytest.mark.slow
def test_killed_batch_reruns_to_exactly_one_row_per_document_and_model(tmp_path):
    folder = corpus(tmp_path / "in", 16)
    outputs = tmp_path / "data" / "outputs" / "direct"
    proc = batch(tmp_path, folder, "--chunk-size", "2", start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(outputs.glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch and its parsing workers, mid-run
    proc.wait()
    done_before = len(list(outputs.glob("*.json")))
    assert 3 <= done_before < 12, "the kill should land mid-batch"

    rerun = batch(tmp_path, folder, "--chunk-size", "2")
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    store = Store(tmp_path / "data" / "docproc.duckdb")
    assert store.query("SELECT count(*), count(DISTINCT document_id) FROM documents")[1] == [(16, 16)]
    assert store.query("SELECT count(*), count(DISTINCT (document_id, model)) FROM extractions")[1] == [(16, 16)]
    texts = dict(store.query("SELECT d.filename, e.extracted_text FROM extractions e JOIN documents d USING (document_id)")[1])
    assert all(f"Document number {i} speaks" in texts[f"doc-{i:02d}.pdf"] for i in range(16) if i % 4 != 3)
    assert store.staged() == []


@pytest.mark.slow
def test_unchanged_batch_launches_no_chunk_run_and_force_does(tmp_path):
    folder = corpus(tmp_path / "in", 4)
    first = batch(tmp_path, folder, "--chunk-size", "2")
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and "runs:    3 Dagster runs (0 failed, 0 chunks already up to date)" in out, out
    again = batch(tmp_path, folder, "--chunk-size", "2")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and "runs:    1 Dagster runs (0 failed, 2 chunks already up to date)" in out, out
    forced = batch(tmp_path, folder, "--chunk-size", "2", "--force")
    out, _ = forced.communicate(timeout=300)
    assert forced.returncode == 0 and "runs:    3 Dagster runs (0 failed, 0 chunks already up to date)" in out, out
    os.environ["DAGSTER_HOME"], old = str(tmp_path / "home"), os.environ.get("DAGSTER_HOME")
    try:
        runs = dg.DagsterInstance.get().get_runs()
    finally:
        os.environ.pop("DAGSTER_HOME") if old is None else os.environ.__setitem__("DAGSTER_HOME", old)
    chunk_runs = [r for r in runs if "dagster/asset_partition_range_start" in r.tags]
    assert len(runs) == 7 and len(chunk_runs) == 4  # 2 + 0 + 2 chunk runs, and the tables' run each time
    store = Store(tmp_path / "data" / "docproc.duckdb")
    assert store.query("SELECT count(*) FROM extractions WHERE model = 'direct' AND success")[1] == [(4,)]
