"""Faults during a run: a file that vanishes, a model that cannot load, out of memory in an engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from docproc_assets import cli
from docproc_assets.core import intake
from docproc_assets.core.document import Status
from docproc_assets.core.errors import ResourceLimitExceeded
from docproc_assets.core.isolation import IsolatedWorker
from docproc_assets.core.ocr import OcrResult
from docproc_assets.core.pipeline import OUT_OF_MEMORY, Options, extract
from docproc_assets.core.store import Store
from docproc_tests import documents as D


def test_file_vanishing_mid_run_fails_alone(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.pdf", "b-vanishes.pdf", "c.pdf"):
        D.digital_pdf(folder / name, [f"Document {name}"])
    original = cli.prepare_office

    def listed_then_gone(files, options, worker):  # after the folder was listed, before any parsing
        (folder / "b-vanishes.pdf").unlink()
        return original(files, options, worker)

    monkeypatch.setattr(cli, "prepare_office", listed_then_gone)
    result = CliRunner().invoke(cli.app, ["extract", str(folder), "--output-dir", str(tmp_path / "out"), "--format", "text"])
    assert result.exit_code == 2
    assert "b-vanishes.pdf: not a readable file" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "c.txt"]


def test_inbox_file_vanishing_between_listing_and_copying(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.pdf", "gone.pdf"):
        D.digital_pdf(inbox / name, [f"Document {name}"])
    scan = intake.scan(inbox, intake.Cursor(), settle_seconds=0)
    (inbox / "gone.pdf").unlink()
    registered = intake.ObjectStore(tmp_path / "objects").put_files(c.path for c in scan.files)
    assert [r.filename for r in registered] == ["a.pdf"]
    assert not list((tmp_path / "objects").glob(".in-*"))  # no partial copy left behind


def _extract_with_growing_engine(path: Path):
    """An OCR hook whose memory grows in steps (an engine on a page too big for it)."""
    from docproc_tests.hardening.test_limits import _grow

    def ocr(image, scale, page_number):
        _grow()
        return OcrResult([], "memory-hog")

    return extract(path, Options(), ocr)


def _extract_with_memory_error(path: Path):
    """An OCR hook whose allocator says no (MemoryError) before the watchdog sees anything."""

    def ocr(image, scale, page_number):
        raise MemoryError

    return extract(path, Options(), ocr)


def test_engine_outgrowing_the_limit_costs_that_document_and_a_restart(tmp_path):
    from docproc_tests.hardening.test_limits import WATCHDOG

    scan = D.scanned_pdf(tmp_path / "scan.pdf", ["A scan that makes the engine outgrow the limit"])
    digital = D.digital_pdf(tmp_path / "digital.pdf")
    with IsolatedWorker(timeout=60, memory_mb=300) as worker:
        with pytest.raises(ResourceLimitExceeded, match=WATCHDOG):
            worker.run(_extract_with_growing_engine, scan)
        assert worker.restarts == 1
        assert worker.run(extract, digital).status == Status.OK  # the replaced worker carries on


def test_engine_memory_error_is_that_documents_error(tmp_path):
    scan = D.scanned_pdf(tmp_path / "scan.pdf", ["A scan the allocator refuses"])
    with IsolatedWorker(timeout=60, memory_mb=2048) as worker:
        doc = worker.run(_extract_with_memory_error, scan)
        assert doc.status == Status.ERROR and doc.error == OUT_OF_MEMORY, doc.error
        assert worker.restarts == 0  # a MemoryError is an answer, not a dead worker


@pytest.mark.slow
def test_a_model_that_fails_to_load_fails_only_its_own_rows(tmp_path, monkeypatch):
    """Tesseract's data is broken (it passes the availability check, fails to load): its rows are errors
    naming the model; rapidocr and the direct track complete; the runs succeed."""
    from docproc_assets.batch import run_batch

    broken = tmp_path / "tessdata"
    broken.mkdir()
    (broken / "eng.traineddata").write_bytes(b"not traineddata")
    monkeypatch.setenv("DOCPROC_TESSDATA", str(broken))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    folder = tmp_path / "in"
    folder.mkdir()
    D.scanned_pdf(folder / "scan.pdf", ["Broken models fail alone"], dpi=150)
    D.digital_pdf(folder / "digital.pdf", ["A digital page needs no OCR model."])
    result = run_batch(folder, ["rapidocr", "tesseract"], data_dir=tmp_path / "data")
    assert result.failed_runs == 0
    rows = {(r["filename"], r["model"]): r for r in Store(result.db_path).rows(
        "SELECT d.filename, e.model, e.success, e.error, e.pages, e.extracted_text FROM extractions e JOIN documents d USING (document_id)")}
    assert len(rows) == 6  # exactly one row per (document, model)
    assert rows[("scan.pdf", "rapidocr")]["success"] and "models" in rows[("scan.pdf", "rapidocr")]["extracted_text"].lower()
    bad = rows[("scan.pdf", "tesseract")]
    assert not bad["success"] and "tesseract: cannot load the engine" in bad["error"]
    assert rows[("digital.pdf", "direct")]["success"] and rows[("digital.pdf", "tesseract")]["success"]  # no OCR pages


def test_chunks_in_one_process_share_a_warm_worker_and_a_gpu_model_gives_its_back(tmp_path, monkeypatch):
    """A Celery worker or `docproc batch` runs chunk after chunk: the parsing child (its imports, its loaded
    models) is kept for the next one; one started under other settings, or after a GPU model, is not."""
    from docproc_assets.core import isolation, stages

    monkeypatch.setattr(isolation, "_warm", None)
    objects = intake.ObjectStore(tmp_path / "objects")
    ids = [r.document_id for r in objects.put_files([D.digital_pdf(tmp_path / f"d{i}.pdf", [f"Document {i}"]) for i in range(2)])]
    children = []
    original = IsolatedWorker._start

    def start(self):
        original(self)
        children.append(self._proc.pid)

    monkeypatch.setattr(IsolatedWorker, "_start", start)
    stages.route(objects, ids[:1])
    stages.route(objects, ids[1:])
    rows = stages.extract_chunk(objects, ids, stages.DIRECT, stages.DIRECT_VERSION, set()).rows
    assert [r["success"] for r in rows] == [True, True] and "Document 1" in rows[1]["extracted_text"]
    assert len(children) == 1 and isolation._warm is not None  # one child served both routings and the direct pass
    monkeypatch.setenv("DOCPROC_MODEL_OVERRIDES", '{"tesseract": {"options": {"languages": "deu"}}}')
    stages.extract_chunk(objects, ids, stages.DIRECT, "direct@other", set())
    assert len(children) == 2  # the warm child read the old settings: a new one
    assert stages.holds_gpu_memory("qwen2.5-vl-3b") and not stages.holds_gpu_memory("tesseract")
    assert not stages.holds_gpu_memory(stages.DIRECT)
    monkeypatch.setenv("DOCPROC_MODEL_OVERRIDES", '{"tesseract": {"device": "cuda"}}')
    assert stages.holds_gpu_memory("tesseract")
    with isolation.borrowed(60, 0, keep=False) as worker:
        assert worker.run(sum, [1, 2]) == 3
    assert isolation._warm is None and worker._proc is None  # closed: nothing held after a GPU step
    monkeypatch.delenv("DOCPROC_MODEL_OVERRIDES")
