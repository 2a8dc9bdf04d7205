import pytest

from docproc_assets.core.document import Track
from docproc_assets.core.pipeline import Options, detect
from docproc_assets.core.routing import TrackMode, garbled_chars
from docproc_tests import documents as D


def tracks(result):
    return [p.track for p in result.pages]


def test_digital_pdf_goes_direct_with_evidence(tmp_path):
    r = detect(D.digital_pdf(tmp_path / "d.pdf", pages=[D.PARAGRAPH, D.PARAGRAPH]))
    assert r.error is None and r.track == Track.DIRECT and r.mime == "application/pdf"
    assert tracks(r) == [Track.DIRECT, Track.DIRECT]
    assert r.pages[0].text_chars == len(D.PARAGRAPH.replace(" ", ""))
    assert r.pages[0].image_coverage == 0 and r.pages[0].reason.startswith("text layer")


def test_scanned_pdf_goes_to_ocr(tmp_path):
    r = detect(D.scanned_pdf(tmp_path / "s.pdf", texts=["one", "two"]))
    assert r.track == Track.OCR and tracks(r) == [Track.OCR, Track.OCR]
    assert r.pages[0].image_coverage == 1.0 and r.pages[0].text_chars == 0


def test_mixed_pdf_is_routed_page_by_page(tmp_path):
    r = detect(D.mixed_pdf(tmp_path / "m.pdf", "dssd"))
    assert r.track == Track.MIXED
    assert tracks(r) == [Track.DIRECT, Track.OCR, Track.OCR, Track.DIRECT]


def test_invisible_ocr_layer_over_a_scan_is_ocrd_again(tmp_path):
    r = detect(D.ocr_layered_scan(tmp_path / "o.pdf"))
    page = r.pages[0]
    assert page.track == Track.OCR and page.invisible_chars > 50 and "invisible OCR layer" in page.reason


def test_garbled_text_layer_falls_back_to_ocr(tmp_path):
    r = detect(D.garbled_pdf(tmp_path / "g.pdf"))
    assert r.pages[0].track == Track.OCR and "garbled" in r.pages[0].reason


def test_text_drawn_as_outlines_goes_to_ocr(tmp_path):
    r = detect(D.outlined_text_pdf(tmp_path / "v.pdf"))
    assert r.pages[0].track == Track.OCR and "vector outlines" in r.pages[0].reason


def test_blank_page_stays_direct(tmp_path):
    import pymupdf

    doc = pymupdf.open()
    doc.new_page()
    doc.save(tmp_path / "blank.pdf")
    r = detect(tmp_path / "blank.pdf")
    assert r.track == Track.DIRECT and "blank page" in r.pages[0].reason


@pytest.mark.parametrize("mode, expected", [(TrackMode.OCR, Track.OCR), (TrackMode.DIRECT, Track.DIRECT)])
def test_forced_track_keeps_the_auto_evidence(tmp_path, mode, expected):
    r = detect(D.mixed_pdf(tmp_path / "m.pdf", "ds"), Options(track=mode))
    assert tracks(r) == [expected, expected]
    forced = [p for p in r.pages if p.reason.startswith("forced")]
    assert len(forced) == 1 and "auto would say" in forced[0].reason


def test_images_are_one_ocr_page_per_frame(tmp_path):
    r = detect(D.multipage_tiff(tmp_path / "t.tif", ["one", "two", "three"]))
    assert r.mime == "image/tiff" and tracks(r) == [Track.OCR] * 3


def test_routing_is_deterministic(tmp_path):
    path = D.mixed_pdf(tmp_path / "m.pdf", "dsd")
    assert detect(path).pages == detect(path).pages


def test_garbled_chars_counts_cid_escapes_and_replacement_characters():
    assert garbled_chars("(cid:12)(cid:7)ab\ufffd") == len("(cid:12)(cid:7)") + 1
    assert garbled_chars("plain text\n") == 0
