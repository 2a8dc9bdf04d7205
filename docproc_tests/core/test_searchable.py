"""Searchable PDFs: real OCR (Tesseract) on generated scans, read back with PyMuPDF, pdftotext and qpdf."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest
from rapidfuzz.distance import Levenshtein
from typer.testing import CliRunner

from docproc_assets.cli import app
from docproc_assets.core.document import (
    BoundingBox, DocumentElement, DocumentMetadata, ElementType, Page, PageDimensions, PageRoute, Status, TextLine, Track,
    UnifiedDocument,
)
from docproc_assets.core.errors import DocumentError
from docproc_assets.core.ocr import text_elements
from docproc_assets.core.pipeline import Options, extract_with_engine
from docproc_assets.core.searchable import PRODUCER, display_matrix, visual_order, write_for_path, write_searchable_pdf
from docproc_tests.documents import PARAGRAPH, mixed_pdf, ocr_layered_scan, page_image, scanned_pdf

pytestmark = pytest.mark.skipif(not (shutil.which("tesseract") and shutil.which("pdftotext") and shutil.which("qpdf")),
                                reason="needs tesseract, poppler-utils and qpdf")

BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f"))


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(BIDI_CONTROLS)).strip()


def cer(expected: str, got: str) -> float:
    expected, got = norm(expected), norm(got)
    return Levenshtein.distance(expected, got) / max(len(expected), 1)


def pdftotext(path: Path, page: int, *args: str) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "-f", str(page), "-l", str(page), *args, str(path), "-"],
                          capture_output=True, text=True, check=True).stdout


def qpdf_ok(path: Path) -> None:
    proc = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def line_boxes(page: Page) -> list[BoundingBox]:
    return [ln.bbox for e in page.elements for ln in (e.lines or [])]


def inside(rect, boxes: list[BoundingBox], tol: float = 1.0) -> bool:
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    return any(b.x0 - tol <= rect[0] and rect[2] <= b.x1 + tol and b.y0 - tol <= cy <= b.y1 + tol and b.x0 <= cx <= b.x1
               for b in boxes)


def check_ocr_page(out: Path, page: Page) -> None:
    """Text read back equals the OCR text; every word lies inside one of the OCR line boxes."""
    pdf_page = pymupdf.open(out)[page.page_number - 1]
    assert cer(page.text(), pdf_page.get_text()) <= 0.01
    assert cer(page.text(), pdftotext(out, page.page_number)) <= 0.01
    boxes = line_boxes(page)
    to_display = display_matrix(pdf_page)
    words = pdf_page.get_text("words")
    assert words
    for w in words:
        assert inside(pymupdf.Rect(w[:4]) * to_display, boxes), w
    html = pdftotext(out, page.page_number, "-bbox")
    poppler_words = re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">', html)
    assert poppler_words
    if pdf_page.rotation == 0 and pdf_page.cropbox.x0 == 0 and pdf_page.cropbox.y0 == 0:
        for xy in poppler_words:
            assert inside(tuple(map(float, xy)), boxes), xy


def image_digests(doc: pymupdf.Document, page: pymupdf.Page) -> set[str]:
    return {hashlib.sha256(doc.xref_stream_raw(img[0])).hexdigest() for img in page.get_images(full=True)}


@pytest.fixture(scope="module")
def tesseract_scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scan")
    src = scanned_pdf(folder / "scan.pdf", ["First page. " + PARAGRAPH, "Second page with other words: invoice 4711."])
    document = extract_with_engine(src, Options(), "tesseract")
    assert document.status == Status.OK and all(p.track == Track.OCR and p.engine == "tesseract" for p in document.pages)
    out = folder / "scan.searchable.pdf"
    result = write_searchable_pdf(document, src, out)
    return src, document, out, result


def test_scanned_pdf_round_trip(tesseract_scan):
    src, document, out, result = tesseract_scan
    source, written = pymupdf.open(src), pymupdf.open(out)
    assert written.page_count == source.page_count == result.pages == 2
    for page in document.pages:
        assert written[page.page_number - 1].rect == source[page.page_number - 1].rect
        assert "quick brown fox" in document.pages[0].text()
        check_ocr_page(out, page)
        # the scan itself is the very same stream: not decoded, not re-encoded
        assert image_digests(written, written[page.page_number - 1]) == image_digests(source, source[page.page_number - 1])
        assert all(s["type"] == 3 for s in written[page.page_number - 1].get_texttrace())  # nothing visible added
    qpdf_ok(out)
    assert out.stat().st_size <= 1.1 * src.stat().st_size + 4096 * result.pages
    assert not list(out.parent.glob("*.part"))


def test_search_finds_words_inside_their_line(tesseract_scan):
    _src, document, out, _result = tesseract_scan
    page = pymupdf.open(out)[1]
    hits = page.search_for("invoice")
    assert len(hits) == 1
    (line,) = [ln for e in document.pages[1].elements for ln in e.lines if "invoice" in ln.content]
    assert inside(hits[0] * display_matrix(page), [line.bbox])


def test_metadata_names_producer_and_engine_per_page(tesseract_scan):
    from docproc_assets.core.engines.registry import MODELS

    _src, _document, out, _result = tesseract_scan
    doc = pymupdf.open(out)
    assert doc.metadata["producer"] == PRODUCER
    xmp = doc.get_xml_metadata()
    assert f"<pdf:Producer>{PRODUCER}</pdf:Producer>" in xmp
    assert xmp.count("<docproc:engine>tesseract</docproc:engine>") == 2
    assert MODELS["tesseract"].version in xmp
    assert "<docproc:PositionsApproximate>false</docproc:PositionsApproximate>" in xmp
    kind, info = doc.xref_get_key(-1, "Info")
    assert "tesseract" in doc.xref_get_key(int(info.split()[0]), "DocprocEngines")[1]


def test_mixed_pdf_keeps_direct_pages_byte_for_byte(tmp_path):
    src = mixed_pdf(tmp_path / "mixed.pdf", "dsd")
    with pymupdf.open(src) as doc:  # a link on a direct page must survive
        doc[0].insert_link({"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(72, 72, 200, 90), "uri": "https://example.org/"})
        doc.save(tmp_path / "linked.pdf")
    src = tmp_path / "linked.pdf"
    document = extract_with_engine(src, Options(), "tesseract")
    assert [p.track for p in document.pages] == [Track.DIRECT, Track.OCR, Track.DIRECT]
    out = tmp_path / "out.pdf"
    write_searchable_pdf(document, src, out)
    source, written = pymupdf.open(src), pymupdf.open(out)
    assert written.page_count == 3
    for i in (0, 2):
        a, b = source[i], written[i]
        assert a.rect == b.rect
        assert [source.xref_stream_raw(x) for x in a.get_contents()] == [written.xref_stream_raw(x) for x in b.get_contents()]
        assert a.get_text() == b.get_text()
        assert [f[3] for f in a.get_fonts()] == [f[3] for f in b.get_fonts()]
        assert [(link["uri"], link["from"]) for link in a.get_links()] == [(link["uri"], link["from"]) for link in b.get_links()]
    assert written[0].get_links()[0]["uri"] == "https://example.org/"
    check_ocr_page(out, document.pages[1])
    qpdf_ok(out)


def test_existing_invisible_layer_is_replaced_not_doubled(tmp_path):
    src = ocr_layered_scan(tmp_path / "layered.pdf", "Zanzibar ledger. " + PARAGRAPH)
    document = extract_with_engine(src, Options(), "tesseract")
    assert document.pages[0].track == Track.OCR
    out = tmp_path / "out.pdf"
    result = write_searchable_pdf(document, src, out)
    assert result.replaced_layers == 1
    written = pymupdf.open(out)[0]
    assert written.get_text().count("Zanzibar") == 1
    assert len(written.search_for("Zanzibar")) == 1
    check_ocr_page(out, document.pages[0])
    source = pymupdf.open(src)
    assert image_digests(pymupdf.open(out), written) == image_digests(source, source[0])
    assert written.get_pixmap(dpi=72).samples == source[0].get_pixmap(dpi=72).samples  # nothing visible changed
    qpdf_ok(out)


def _constructed(lines: list[tuple[str, tuple[float, float, float, float]]], width=612.0, height=792.0) -> UnifiedDocument:
    elements = [
        DocumentElement(element_id=f"p1-e{i}", type=ElementType.TEXT, content=text, bbox=BoundingBox.of(box), reading_order=i,
                        lines=[TextLine(content=text, bbox=BoundingBox.of(box))])
        for i, (text, box) in enumerate(lines)
    ]
    meta = DocumentMetadata(filename="x.pdf", source_path="x.pdf", mime="application/pdf", size_bytes=0, sha256="0" * 64)
    page = Page(page_number=1, dimensions=PageDimensions(width=width, height=height), track=Track.OCR,
                route=PageRoute(track=Track.OCR, reason="test"), elements=elements, engine="tesseract")
    return UnifiedDocument(document_id="0" * 64, metadata=meta, pages=[page], processing_track=Track.OCR)


NON_LATIN = [
    "Съешь же ещё этих мягких французских булок",  # Cyrillic
    "我能吞下玻璃而不伤身体",  # Chinese
    "日本語のテキストを検索する",  # Japanese
    "한국어 문장도 검색됩니다",  # Korean
    "שלום עולם וטקסט בעברית",  # Hebrew (right to left)
    "עִבְרִית עם ניקוד",  # Hebrew with points
    "हिन्दी भाषा का पाठ यहाँ है",  # Devanagari (combining vowel signs)
    "Ελληνικά και Latin mixed",  # Greek
    "rare 𠀋 beyond the BMP",  # a CJK Extension B character (surrogate pair in ToUnicode)
]


def test_non_latin_text_round_trips(tmp_path):
    src = scanned_pdf(tmp_path / "scan.pdf", ["placeholder"])
    document = _constructed([(t, (60, 60 + 40 * i, 60 + 9 * len(t), 80 + 40 * i)) for i, t in enumerate(NON_LATIN)])
    out = tmp_path / "out.pdf"
    write_searchable_pdf(document, src, out)
    qpdf_ok(out)
    mupdf_lines = [ln for ln in pymupdf.open(out)[0].get_text().splitlines() if ln.strip()]
    poppler_lines = [ln for ln in pdftotext(out, 1).splitlines() if ln.strip()]
    for expected, by_mupdf, by_poppler in zip(NON_LATIN, mupdf_lines, poppler_lines, strict=True):
        assert norm(by_mupdf) == expected
        assert norm(by_poppler) == expected
    check_ocr_page(out, document.pages[0])


def test_right_to_left_numbers_read_back_in_order_by_poppler(tmp_path):
    src = scanned_pdf(tmp_path / "scan.pdf", ["placeholder"])
    text = "שלום עולם זה טקסט 123"
    assert visual_order(text) == "123 טסקט הז םלוע םולש"
    document = _constructed([(text, (60, 60, 300, 80))])
    write_searchable_pdf(document, src, tmp_path / "out.pdf")
    assert norm(pdftotext(tmp_path / "out.pdf", 1)) == text


def test_rotated_cropped_page_places_text_on_the_displayed_page(tmp_path):
    src = tmp_path / "rotated.pdf"
    with pymupdf.open(scanned_pdf(tmp_path / "scan.pdf", ["placeholder"])) as doc:
        doc[0].set_cropbox(pymupdf.Rect(20, 30, 600, 780))
        doc[0].set_rotation(90)
        doc.save(src)
    document = _constructed([("Rotated words here", (50, 60, 250, 80))], width=750, height=580)
    out = tmp_path / "out.pdf"
    write_searchable_pdf(document, src, out)
    page = pymupdf.open(out)[0]
    assert page.rotation == 90 and page.rect == pymupdf.Rect(0, 0, 750, 580)
    hit = page.search_for("words")[0] * display_matrix(page)
    assert 120 < hit.x0 < hit.x1 < 220 and 59 < hit.y0 and hit.y1 < 81
    check_ocr_page(out, document.pages[0])


def test_engine_without_boxes_is_laid_over_the_page_and_flagged(tmp_path):
    src = scanned_pdf(tmp_path / "scan.pdf", ["placeholder"])
    document = _constructed([])
    markdown = "# Report title\n\nFirst paragraph of the answer.\n\n- item one\n- item two\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    document.pages[0].elements = text_elements(markdown, 1)
    document.pages[0].engine = "qwen2.5-vl-3b"
    out = tmp_path / "out.pdf"
    result = write_searchable_pdf(document, src, out)
    assert result.approximate_pages == [1]
    got = pymupdf.open(out)[0].get_text()
    assert cer(document.pages[0].text(), got) <= 0.01
    assert norm(got).index("Report title") < norm(got).index("item two") < norm(got).index("1 | 2")
    doc = pymupdf.open(out)
    assert "<docproc:PositionsApproximate>true</docproc:PositionsApproximate>" in doc.get_xml_metadata()
    assert "<docproc:positions>approximate</docproc:positions>" in doc.get_xml_metadata()
    for w in doc[0].get_text("words"):
        assert doc[0].rect.contains(pymupdf.Rect(w[:4]))
    qpdf_ok(out)


def test_images_become_pages_sized_from_their_dpi(tmp_path):
    image = page_image("Image page. " + PARAGRAPH, dpi=200)
    png, nodpi, jpg, tif = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.jpg", tmp_path / "d.tif"
    image.save(png, dpi=(200, 200))
    image.save(nodpi)
    image.convert("RGB").save(jpg, quality=85, dpi=(200, 200))
    second = page_image("Second frame of the TIFF.", dpi=200)
    image.convert("1").save(tif, save_all=True, append_images=[second.convert("1")], compression="group4", dpi=(200, 200))
    for path, pages, dpi in ((png, 1, 200), (nodpi, 1, 300), (jpg, 1, 200), (tif, 2, 200)):
        document = extract_with_engine(path, Options(), "tesseract")
        assert document.status == Status.OK
        out = tmp_path / f"{path.name}.pdf"
        result = write_searchable_pdf(document, path, out)
        doc = pymupdf.open(out)
        assert doc.page_count == pages
        w, h = image.size
        assert doc[0].rect == pymupdf.Rect(0, 0, round(w * 72 / dpi, 2), round(h * 72 / dpi, 2))
        assert result.assumed_dpi == (dpi == 300)
        assert ("<docproc:AssumedImageDpi>300</docproc:AssumedImageDpi>" in doc.get_xml_metadata()) == (dpi == 300)
        for page in document.pages:
            check_ocr_page(out, page)
        qpdf_ok(out)
        if path == jpg:  # the JPEG is embedded as it is
            xref = doc[0].get_images(full=True)[0][0]
            assert doc.xref_stream_raw(xref) == jpg.read_bytes()
            assert doc.xref_get_key(xref, "Filter")[1] == "/DCTDecode"
    assert "Second frame" in pymupdf.open(tmp_path / "d.tif.pdf")[1].get_text()


def test_bad_input_leaves_no_file(tmp_path):
    src = scanned_pdf(tmp_path / "scan.pdf", ["placeholder"])
    document = _constructed([("text", (60, 60, 200, 80))])
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF")
    out = tmp_path / "out" / "x.pdf"
    with pytest.raises(DocumentError):
        write_searchable_pdf(document, broken, out)
    two_pages = scanned_pdf(tmp_path / "two.pdf", ["a", "b"])
    with pytest.raises(DocumentError, match="pages"):
        write_searchable_pdf(document, two_pages, out)
    failed = document.model_copy(update={"status": Status.ERROR, "error": "unreadable PDF: boom"})
    with pytest.raises(DocumentError, match="boom"):
        write_searchable_pdf(failed, src, out)
    assert not out.exists() and not list(tmp_path.rglob("*.part"))


def test_cli_format_pdf(tmp_path):
    src = scanned_pdf(tmp_path / "scan.pdf", ["Command line scan. " + PARAGRAPH])
    out = tmp_path / "scan.out.pdf"
    result = CliRunner().invoke(app, ["extract", str(src), "--engine", "tesseract", "--format", "pdf", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Command line scan" in pymupdf.open(out)[0].get_text()
    qpdf_ok(out)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF")
    outdir = tmp_path / "outs"
    result = CliRunner().invoke(app, ["extract", str(src), str(broken), "--engine", "tesseract", "--format", "pdf", "--output-dir", str(outdir)])
    assert result.exit_code == 2
    assert sorted(p.name for p in outdir.iterdir()) == ["scan.pdf"]  # the bad input: an error line, no file
    result = CliRunner().invoke(app, ["extract", str(src), "--format", "pdf"])
    assert result.exit_code != 0


@pytest.mark.slow
@pytest.mark.office
@pytest.mark.skipif(not shutil.which("soffice"), reason="needs LibreOffice")
def test_office_input_uses_the_libreoffice_pdf(tmp_path):
    docx = pytest.importorskip("docx")
    path = tmp_path / "memo.docx"
    d = docx.Document()
    d.add_paragraph("Office memo text for the searchable PDF.")
    d.save(path)
    options = Options()
    document = extract_with_engine(path, options, "tesseract")
    out = tmp_path / "memo.pdf"
    write_for_path(document, path, out, options)
    assert "Office memo text" in pymupdf.open(out)[0].get_text()
    assert pymupdf.open(out).page_count == len(document.pages)
    qpdf_ok(out)
