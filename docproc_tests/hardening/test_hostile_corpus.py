"""Every hostile kind in one folder, through `docproc extract` and `docproc batch` in one go: each document
gets its status and a one-line reason, the good documents complete, nothing takes the batch down."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pymupdf
import pytest

from docproc_assets.core.sources import open_pdf
from docproc_assets.core.store import Store
from docproc_tests.hardening import hostile

DOCPROC = str(Path(sys.executable).with_name("docproc"))
LINE = re.compile(r"^(error|partial) (.+?): (.+)$")


def docproc(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([DOCPROC, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, hostile.Expect]]:
    folder = tmp_path_factory.mktemp("hostile") / "inbox"
    return folder, hostile.build(folder)


def test_extract_reports_each_hostile_document_and_completes_the_others(corpus, tmp_path):
    folder, expect = corpus
    out = tmp_path / "out"
    start = time.perf_counter()
    proc = docproc("extract", str(folder), "--output-dir", str(out), "--format", "json", "--timeout", "60", "--max-memory-mb", "3072",
                   "--no-ocr")  # text layers only: what is hostile here is the files, not their pixels
    seconds = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr  # some documents failed; the command itself did not
    reported = {}
    for line in proc.stderr.splitlines():
        if m := LINE.match(line):
            reported[Path(m[2]).name] = (m[1], m[3])
    assert set(reported) <= set(expect), proc.stderr
    for name, exp in expect.items():
        output = out / f"{Path(name).stem}.json"
        status, message = reported.get(name, ("ok", None))
        assert status == exp.status, (name, status, message)
        assert (message is None) == (exp.message is None) and (exp.message or "") in (message or ""), (name, message)
        if status == "error":
            assert not output.exists(), name
        else:
            doc = json.loads(output.read_text())
            assert doc["status"] == exp.status and doc["pages"], name
            assert doc["metadata"]["repairer"] == exp.repairer and doc["metadata"]["repaired"] == bool(exp.repairer), name
            assert exp.pages is None or len(doc["pages"]) == exp.pages, name
    good = json.loads((out / "good-digital.json").read_text())
    assert "good digital document" in json.dumps(good)
    for name in ("javascript-openaction.pdf", "xfa-form.pdf", "huge-page.pdf", "pdf-named.png", "encrypted-owner-only.pdf"):
        assert "quick brown fox" in json.dumps(json.loads((out / f"{Path(name).stem}.json").read_text())) or name == "pdf-named.png"
    print(f"{len(expect)} hostile documents through docproc extract in {seconds:.1f} s")
    assert seconds < 120


def test_wrong_and_right_password(corpus, tmp_path):
    path = corpus[0] / "encrypted-user-password.pdf"
    wrong = docproc("extract", str(path), "--password", "nope", "-o", str(tmp_path / "w.json"))
    assert wrong.returncode == 2 and "wrong password" in wrong.stderr and not (tmp_path / "w.json").exists()
    right = docproc("extract", str(path), "--password", "secret", "--format", "text")
    assert right.returncode == 0 and "quick brown fox" in right.stdout


def test_batch_gives_every_hostile_document_its_row(corpus, tmp_path):
    folder, expect = corpus
    data = tmp_path / "data"
    proc = docproc("batch", str(folder), "--models", "", "--data-dir", str(data), env={"DAGSTER_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = Store(data / "docproc.duckdb").rows(
        "SELECT d.filename, d.status AS doc_status, d.error AS doc_error, e.success, e.error, e.pages "
        "FROM documents d JOIN extractions e USING (document_id) WHERE e.model = 'direct' ORDER BY 1")
    by_name = {r["filename"]: r for r in rows}
    assert len(rows) == len(by_name) == len(expect)  # exactly one row per document, none lost
    for name, exp in expect.items():
        row = by_name[name]
        failed = row["doc_status"] == "error"
        assert failed == (exp.status == "error"), row
        if failed:
            assert exp.message in row["doc_error"] and "\n" not in row["doc_error"], row
            assert not row["success"] and row["error"].startswith("document failed before extraction"), row
        else:
            lost = exp.message and "nothing left on this page" in exp.message
            assert row["success"] != bool(lost), row  # OCR pages of the scans wait for an OCR model: none was asked for
    assert by_name["good-digital.pdf"]["pages"] == 1


def test_no_pdf_javascript_is_ever_enabled(corpus):
    """MuPDF runs JavaScript only in documents it was asked to enable it for: we never ask."""
    package = Path(__file__).resolve().parents[2] / "docproc_assets"
    assert not [p for p in package.rglob("*.py") if "enable_js" in p.read_text()]
    for name in ("javascript-openaction.pdf", "xfa-form.pdf"):
        with open_pdf(corpus[0] / name) as doc:
            for page in doc:
                page.get_text()
            assert not pymupdf.mupdf.pdf_js_supported(pymupdf._as_pdf_document(doc))


def test_pdf_image_bomb_is_rendered_within_the_pixel_budget(corpus):
    """The page that claims a 40000² image goes to an engine: it is rendered at a lowered DPI inside the
    pixel budget, not at 300 dpi (a 2550 x 3300 render of a 40000² image is fine; the budget caps the page)."""
    from docproc_assets.core.ocr import OcrResult
    from docproc_assets.core.pipeline import Options, extract

    seen = []

    def engine(image, pixels_per_point, page_number):
        seen.append(image.size)
        return OcrResult([], "probe")

    budget = 2_000_000
    doc = extract(corpus[0] / "pdf-image-bomb.pdf", Options(max_pixels=budget), engine)
    assert doc.status.value == "ok" and len(seen) == 1
    width, height = seen[0]
    assert width * height <= budget and width * height > budget * 0.9  # lowered to the budget, not below it


@pytest.mark.slow
def test_pdf_image_bomb_through_a_real_engine(corpus, tmp_path):
    proc = docproc("extract", str(corpus[0] / "pdf-image-bomb.pdf"), "--engine", "tesseract", "--max-memory-mb", "1500",
                   "--timeout", "120", "-o", str(tmp_path / "bomb.json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "bomb.json").read_text())
    assert doc["status"] == "ok" and doc["pages"][0]["engine"] == "tesseract"
