"""`docproc batch --dataset` (a local DocumentVQA set) and `--evaluate` (sidecars, self-supervised pages) end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docproc_assets.core.store import Store
from docproc_tests.documents import digital_pdf, png
from docproc_tests.docvqa import docvqa_parquet

DOCPROC = str(Path(sys.executable).parent / "docproc")


def run(tmp_path, *args):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    proc = subprocess.run([DOCPROC, "batch", *args, "--data-dir", str(tmp_path / "data")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, Store(tmp_path / "data" / "docproc.duckdb")


@pytest.mark.slow
def test_batch_on_a_local_docvqa_set_reports_answer_recall(tmp_path):
    source = docvqa_parquet(tmp_path / "docvqa", 5, dpi=150)
    out, store = run(tmp_path, "--dataset", str(source), "--sample-size", "5", "--models", "tesseract")
    assert store.query("SELECT count(*) FROM answers")[1] == [(5,)]
    (recall, questions), = store.query("SELECT answer_recall, questions FROM model_metrics WHERE model = 'tesseract'")[1]
    assert questions == 5 and recall == 0.8  # "Jane Doe" is on no page
    assert "answer_recall" in out


@pytest.mark.slow
def test_batch_evaluate_scores_sidecars_and_self_supervised_pages(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    digital_pdf(folder / "memo.pdf", ["A digital memo about quarterly invoices.", "Its second page."])
    png(folder / "scan.png", "Scanned words to be read")
    (folder / "scan.gt.txt").write_text("Scanned words to be read")
    (folder / "scan.gt.layout.txt").write_text("Scanned words to be read")  # its one visual row
    out, store = run(tmp_path, str(folder), "--models", "tesseract", "--evaluate", "--dpi", "150", "--degrade", "clean,scan",
                     "--report", str(tmp_path / "report.html"))
    rows = store.rows("SELECT ground_truth_source, degradation, count(*) AS pages, avg(cer) AS cer FROM page_metrics "
                      "WHERE model = 'tesseract' GROUP BY ALL ORDER BY ALL")
    assert [(r["ground_truth_source"], r["degradation"], r["pages"]) for r in rows] == [
        ("sidecar", None, 1), ("synthetic", "clean", 2), ("synthetic", "rot0.6-blur0.7-noise8-jpeg65", 2)]
    assert all(r["cer"] < 0.3 for r in rows)
    (cer, scored), = store.query("SELECT mean_cer, pages_scored FROM model_metrics WHERE model = 'tesseract'")[1]
    assert scored == 5 and cer < 0.3
    rows = store.rows("SELECT ground_truth_source, degradation, rows, rows_intact FROM page_metrics WHERE model = 'tesseract' "
                      "AND degradation IS DISTINCT FROM 'rot0.6-blur0.7-noise8-jpeg65' ORDER BY ALL")
    assert [(r["ground_truth_source"], r["rows"], r["rows_intact"]) for r in rows] == [("sidecar", 1, 1), ("synthetic", 1, 1), ("synthetic", 1, 1)]
    assert store.query("SELECT mean_row_integrity FROM model_metrics WHERE model = 'tesseract'")[1][0][0] > 0
    assert store.query("SELECT count(*) FROM documents WHERE filename LIKE '%.gt.layout.txt'")[1] == [(0,)]  # never a document
    html = (tmp_path / "report.html").read_text()
    assert "Plotly.newPlot" in html and "memo.p1.150dpi.clean.png" in html
    assert (tmp_path / "report.md").exists()
