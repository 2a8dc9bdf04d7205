"""Reading cost guessed before routing, and chunks of equal work (core/workload.py)."""

from pytest import approx

from docproc_assets.core import workload
from docproc_tests import documents as D


def test_scans_cost_by_their_pixels_digital_pages_almost_nothing(tmp_path):
    digital = workload.estimate(D.digital_pdf(tmp_path / "digital.pdf", [D.PARAGRAPH] * 10))
    scan = workload.estimate(D.scanned_pdf(tmp_path / "scan.pdf", [D.PARAGRAPH, D.PARAGRAPH]))
    mixed = workload.estimate(D.mixed_pdf(tmp_path / "mixed.pdf", "dsd"))
    image = workload.estimate(D.png(tmp_path / "page.png", dpi=200))
    tiff = workload.estimate(D.multipage_tiff(tmp_path / "pages.tif", ["one", "two", "three"]))
    letter_at_300_dpi = workload.ocr_page(8.5 * 300 * 11 * 300 / 1e6)
    assert digital == approx(10 * workload.DIRECT_PAGE)
    assert scan == approx(2 * letter_at_300_dpi)  # OCR renders at 300 dpi, whatever the scan's own resolution
    assert mixed == approx(2 * workload.DIRECT_PAGE + letter_at_300_dpi)
    assert workload.OCR_PAGE < image < letter_at_300_dpi  # priced by its own pixels
    assert tiff > 2.9 * workload.OCR_PAGE  # every frame is a page


def test_files_that_cannot_be_looked_at_get_the_unknown_price(tmp_path):
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    encrypted = D.encrypted_pdf(tmp_path / "locked.pdf")
    for path in [tmp_path / "empty.pdf", tmp_path / "junk.pdf", encrypted, tmp_path / "missing.pdf"]:
        assert workload.estimate(path) == workload.UNKNOWN_DOCUMENT, path.name
    assert workload.estimate(D.docx(tmp_path / "letter.docx")) == workload.OFFICE_DOCUMENT


def test_chunks_of_equal_work_heaviest_first_and_never_over_size():
    # Two heavy scans and many light files: cut by count, both scans could land in one chunk.
    costs = {"scan-a": 8.0, "scan-b": 7.0, **{f"light-{i}": 0.5 for i in range(10)}, "page": 3.0}
    chunks = workload.balanced_chunks(costs, size=5)
    assert sorted(d for c in chunks for d in c) == sorted(costs)  # every document once
    assert len(chunks) == 3 and all(len(c) <= 5 for c in chunks)
    totals = [sum(costs[d] for d in c) for c in chunks]
    assert totals == sorted(totals, reverse=True)
    assert max(totals) == 9.0, totals  # the best there is with 5 a chunk: 8+0.5+0.5, 7+4x0.5, 3+4x0.5
    assert not any({"scan-a", "scan-b"} <= set(c) for c in chunks)
    assert workload.balanced_chunks({}, 5) == []
    assert workload.balanced_chunks({"a": 1.0, "b": 2.0}, 1) == [["b"], ["a"]]
