"""Repair before reject: damaged PDFs that MuPDF alone cannot read are rebuilt (qpdf, PDFium, a page scan)
and read whole; what no repairer can read is rejected with MuPDF's reason and the repairers tried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from docproc_assets.core.errors import CorruptDocument
from docproc_assets.core.pipeline import detect, extract
from docproc_assets.core.sources import open_pdf, repairer_of
from docproc_assets.core.store import Store
from docproc_tests import documents as D
from docproc_tests.hardening.test_fuzz import SAMPLES, rebuilt

PAGES = ["First page of a damaged file.", "Second page survives too.", "Third and last page."]


def catalog_destroyed(path: Path) -> Path:
    """Pages intact, but the catalog object overwritten with spaces: no /Root, so no page tree."""
    D.digital_pdf(path.with_suffix(".src.pdf"), PAGES)
    data = path.with_suffix(".src.pdf").read_bytes()
    path.with_suffix(".src.pdf").unlink()
    at = data.index(b"/Type /Catalog") if b"/Type /Catalog" in data else data.index(b"/Type/Catalog")
    start, end = data.rindex(b"obj", 0, at) + 3, data.index(b"endobj", at)
    path.write_bytes(data[:start] + b" " * (end - start) + data[end:])
    return path


def test_catalog_destroyed_is_read_from_its_page_objects(tmp_path):
    path = catalog_destroyed(tmp_path / "no-catalog.pdf")
    with pymupdf.open(path) as raw:
        assert raw.page_count == 0  # what MuPDF alone makes of it
    with open_pdf(path) as doc:
        assert repairer_of(doc) == "page-scan" and doc.page_count == 3
    document = extract(path)
    assert document.metadata.repaired and document.metadata.repairer == "page-scan"
    assert [p.text().strip() for p in document.pages] == PAGES


def test_cut_out_bytes_are_repaired_by_qpdf_whole(tmp_path):
    """A byte range cut out of the middle (campaign seed 7, mutant 241): every character of the page back."""
    path = rebuilt(tmp_path, 7, 241)
    original = extract(SAMPLES / "markitdown-autogen-paper-p2.pdf").text()
    document = extract(path)
    assert document.metadata.repairer == "qpdf" and document.text() == original


def test_flipped_bits_repaired_by_pdfium(tmp_path):
    """Bit flips that defeat MuPDF and qpdf (seed 7, mutant 195); PDFium's recovery reads the page."""
    path = rebuilt(tmp_path, 7, 195)
    result = detect(path)
    assert result.error is None and result.repairer == "pdfium" and result.pages[0].text_chars > 900


def test_unrepairable_says_what_and_who_tried(tmp_path):
    path = D.truncated(tmp_path / "cut.pdf", SAMPLES / "markitdown-autogen-paper-p2.pdf", 0.5)
    with pytest.raises(CorruptDocument) as caught:
        open_pdf(path)
    assert str(caught.value) == ("unreadable PDF: no PDF structure MuPDF can open; "
                                 "not repairable (tried qpdf, pdfium, page-scan)")
    result = detect(path)
    assert result.error_kind == "corrupt" and not result.repaired and result.error == str(caught.value)


@pytest.mark.slow
def test_batch_records_the_repair_in_the_documents_table(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    catalog_destroyed(folder / "no-catalog.pdf")
    D.truncated(folder / "cut.pdf", SAMPLES / "markitdown-autogen-paper-p2.pdf", 0.5)
    D.digital_pdf(folder / "fine.pdf", ["A sound document."])
    docproc = str(Path(sys.executable).with_name("docproc"))
    proc = subprocess.run([docproc, "batch", str(folder), "--models", "", "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = Store(tmp_path / "data" / "docproc.duckdb").rows(
        "SELECT filename, status, error_kind, repaired, repairer, page_count FROM documents ORDER BY filename")
    assert [(r["filename"], r["status"], r["error_kind"], r["repaired"], r["repairer"], r["page_count"]) for r in rows] == [
        ("cut.pdf", "error", "corrupt", False, None, 0),
        ("fine.pdf", "routed", None, False, None, 1),
        ("no-catalog.pdf", "routed", None, True, "page-scan", 3),
    ]
