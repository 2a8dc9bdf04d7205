"""The options users pass reach what they name: engine overrides, --track, pools --apply, report, the
Parquet export and DOCPROC_MODEL_OVERRIDES, each observed in the command's own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from docproc_assets.core.engines import registry
from docproc_assets.core.pools import gpu_slots
from docproc_assets.core.store import Store
from docproc_tests import documents as D

DOCPROC = str(Path(sys.executable).with_name("docproc"))


def docproc(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([DOCPROC, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_engine_overrides_reach_the_engine(tmp_path):
    scan = D.scanned_pdf(tmp_path / "scan.pdf", ["Overrides reach the engine"], dpi=150)
    proc = docproc("extract", str(scan), "--engine", "tesseract", "--batch-size", "2", "-o", str(tmp_path / "a.json"))
    assert proc.returncode == 0, proc.stderr
    page = json.loads((tmp_path / "a.json").read_text())["pages"][0]
    assert page["engine_version"] == registry.get_config("tesseract", max_batch_size=2).version
    assert page["engine_version"] != registry.get_config("tesseract").version and "overrides" in json.dumps(page).lower()
    device = docproc("extract", str(scan), "--engine", "easyocr", "--device", "cuda", "--format", "text")
    assert "easyocr: no GPU for easyocr (device=cuda asked for)" in device.stderr
    weights = docproc("extract", str(scan), "--engine", "qwen2.5-vl-3b", "--model-path", str(tmp_path / "no-weights"), "--format", "text")
    assert f"weights not found: directory {tmp_path / 'no-weights'} does not exist" in weights.stderr


def test_track_option_forces_the_track(tmp_path):
    digital = D.digital_pdf(tmp_path / "digital.pdf", ["A digital page forced to OCR."])
    scan = D.scanned_pdf(tmp_path / "scan.pdf", ["A scan forced to direct"], dpi=100)
    forced = [json.loads(line) for line in docproc("detect", "--json", "--track", "ocr", str(digital)).stdout.splitlines()]
    assert forced[0]["track"] == "ocr" and forced[0]["pages"][0]["track"] == "ocr"
    assert "forced" in forced[0]["pages"][0]["reason"]
    proc = docproc("extract", str(scan), "--track", "direct", "-o", str(tmp_path / "scan.json"))
    doc = json.loads((tmp_path / "scan.json").read_text())
    assert proc.returncode == 0 and doc["pages"][0]["track"] == "direct" and doc["processing_track"] == "direct"


def test_pools_apply_sets_the_slots_on_the_instance(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc = docproc("pools", "--gpu-budget-gib", "80", "--apply", env={"DAGSTER_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    slots = gpu_slots(80, registry.MODELS.values())
    assert f"pool gpu: {slots} slot(s) for a budget of 80 GiB" in proc.stdout and slots >= 1
    os.environ["DAGSTER_HOME"], old = str(home), os.environ.get("DAGSTER_HOME")
    try:
        info = dg.DagsterInstance.get().event_log_storage.get_concurrency_info("gpu")
    finally:
        os.environ.pop("DAGSTER_HOME") if old is None else os.environ.__setitem__("DAGSTER_HOME", old)
    assert info.slot_count == slots


@pytest.mark.slow
def test_report_export_and_model_overrides_through_batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    D.digital_pdf(folder / "memo.pdf", ["Memo about invoices."])
    D.scanned_pdf(folder / "scan.pdf", ["Scanned overrides page"], dpi=150)
    overrides = json.dumps({"tesseract": {"max_batch_size": 3}})
    proc = docproc("batch", str(folder), "--models", "tesseract", "--data-dir", str(tmp_path / "data"),
                   env={"DAGSTER_HOME": str(tmp_path / "home"), "DOCPROC_MODEL_OVERRIDES": overrides}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    db = tmp_path / "data" / "docproc.duckdb"
    versions = dict(Store(db).query("SELECT DISTINCT model, model_version FROM extractions")[1])
    assert versions["tesseract"] == registry.get_config("tesseract", max_batch_size=3).version
    export = tmp_path / "data" / "exports" / "extractions.parquet"
    rows = duckdb.sql(f"SELECT model, count(*) FROM read_parquet('{export}') GROUP BY model ORDER BY model").fetchall()
    assert rows == [("direct", 2), ("tesseract", 2)]
    report = docproc("report", "--db", str(db), "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0 and f"report: {tmp_path / 'report.html'}" in report.stdout
    html = (tmp_path / "report.html").read_text()
    assert "memo.pdf" in html and "scan.pdf" in html and "tesseract" in html
