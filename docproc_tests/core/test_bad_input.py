"""Bad input: each document gets status error and a one-line reason; nothing raises."""

import os
import time

import pymupdf
import pytest

from docproc_assets.core.document import Status, Track
from docproc_assets.core.errors import ResourceLimitExceeded, DocumentTimeout
from docproc_assets.core.isolation import IsolatedWorker, WorkerCrashed
from docproc_assets.core.sources import LOST_PAGE
from docproc_assets.core.pipeline import Options, detect, extract
from docproc_assets.core.sources import render_page
from docproc_tests import documents as D


def assert_error(tmp_path, path, reason):
    doc = extract(path)
    assert doc.status == Status.ERROR and reason in doc.error and "\n" not in doc.error
    det = detect(path)
    assert det.track is None and reason in det.error


def test_zero_bytes(tmp_path):
    path = tmp_path / "zero.pdf"
    path.write_bytes(b"")
    assert_error(tmp_path, path, "empty file")


@pytest.mark.parametrize("share", [0.05, 0.3])
def test_truncated_pdf(tmp_path, share):
    """A scan cut short: MuPDF rebuilds the xref and finds the page, its image gone. Not a silent blank
    "ok": the page says its content was lost, and the metadata that the file was repaired."""
    source = D.scanned_pdf(tmp_path / "src.pdf", texts=["one"])
    doc = extract(D.truncated(tmp_path / "cut.pdf", source, share))
    assert doc.status == Status.PARTIAL and doc.metadata.repaired and doc.metadata.repairer == "mupdf"
    assert doc.error == f"1 of 1 pages failed: {LOST_PAGE}"


def test_broken_xref_is_repaired(tmp_path):
    data = D.digital_pdf(tmp_path / "d.pdf").read_bytes()
    start = data.rindex(b"startxref")
    path = tmp_path / "broken-xref.pdf"
    path.write_bytes(data[:start] + b"startxref\n999999\n%%EOF\n")
    doc = extract(path)
    assert doc.status == Status.OK and "quick brown fox" in doc.text()


def test_encrypted_pdf_needs_a_password(tmp_path):
    path = D.encrypted_pdf(tmp_path / "enc.pdf")
    assert_error(tmp_path, path, "password required")
    wrong = extract(path, Options(password="nope"))
    assert wrong.status == Status.ERROR and "wrong password" in wrong.error
    right = extract(path, Options(password="secret"))
    assert right.status == Status.OK and right.metadata.encrypted and "quick brown fox" in right.text()


def test_owner_only_encryption_needs_no_password(tmp_path):
    doc = extract(D.owner_only_encrypted_pdf(tmp_path / "owner.pdf"))
    assert doc.status == Status.OK and doc.metadata.encrypted and "lazy dog" in doc.text()


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = D.png_bomb(tmp_path / "bomb.png")
    assert_error(tmp_path, path, "pixel budget")


def test_huge_page_renders_within_the_pixel_budget(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page(width=14400, height=14400)  # the PDF maximum, 200 inches
    image, dpi = render_page(page, dpi=300, max_pixels=4_000_000)
    assert image.width * image.height <= 4_000_000 and dpi < 20


def test_pdf_with_javascript_is_processed_without_running_it(tmp_path):
    path = D.digital_pdf(tmp_path / "js.pdf")
    doc = pymupdf.open(path)
    xref = doc.get_new_xref()
    doc.update_object(xref, "<< /S /JavaScript /JS (app.alert('hi')) >>")
    doc.xref_set_key(doc.pdf_catalog(), "OpenAction", f"{xref} 0 R")
    doc.save(tmp_path / "js2.pdf")
    result = extract(tmp_path / "js2.pdf")
    assert result.status == Status.OK and result.processing_track == Track.DIRECT


def test_cyclic_page_tree(tmp_path):
    path = D.digital_pdf(tmp_path / "d.pdf")
    doc = pymupdf.open(path)
    pages_xref = int(doc.xref_get_key(doc.pdf_catalog(), "Pages")[1].split()[0])
    doc.xref_set_key(pages_xref, "Kids", f"[{pages_xref} 0 R]")
    doc.save(tmp_path / "cycle.pdf")
    result = extract(tmp_path / "cycle.pdf")
    assert result.status == Status.OK and result.metadata.repairer == "page-scan"  # the page objects under a new tree
    assert "quick brown fox" in result.text()


def test_ocr_pages_without_an_engine_say_so(tmp_path):
    doc = extract(D.mixed_pdf(tmp_path / "m.pdf", "ds"))
    assert doc.status == Status.PARTIAL and doc.processing_track == Track.MIXED
    assert doc.pages[0].error is None and "lazy dog" in doc.pages[0].text()
    assert "no OCR engine" in doc.pages[1].error and "1 of 2 pages failed" in doc.error


def test_worker_times_out_then_carries_on():
    with IsolatedWorker(timeout=1.0) as worker:
        start = time.perf_counter()
        with pytest.raises(DocumentTimeout, match="timed out after 1 s"):
            worker.run(time.sleep, 30)
        assert time.perf_counter() - start < 10
        assert worker.run(len, [1, 2, 3]) == 3 and worker.restarts == 1


def test_worker_crash_costs_one_call():
    with IsolatedWorker(timeout=30) as worker:
        with pytest.raises(WorkerCrashed, match="crashed"):
            worker.run(os._exit, 3)
        assert worker.run(max, 4, 9) == 9


def test_worker_memory_limit():
    """The parent's watchdog (not a MemoryError from the allocator): its message and a restart."""
    from docproc_tests.hardening.test_limits import WATCHDOG, _grow

    with IsolatedWorker(timeout=60, memory_mb=300) as worker:
        with pytest.raises(ResourceLimitExceeded, match=WATCHDOG):
            worker.run(_grow)
        assert worker.restarts == 1 and worker.run(sum, [1, 2]) == 3
