"""The four classic CPU OCR engines, run for real on pages the tests render themselves.

Thresholds were measured on these images (see each test) with room for version noise; a failure means
an engine reads clearly worse than it did, not a coin flip.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pymupdf
import pytest
from PIL import Image

from docproc_assets.core.engines import registry
from docproc_assets.core.metrics import normalise
from docproc_assets.core.ocr import page_ocr
from docproc_tests import documents as D

import jiwer

TEXT = (
    "Invoice 2024-0117 was issued on 12 March 2024 for a total of 1,284.50 EUR. "
    "The quick brown fox jumps over the lazy dog. Sphinx of black quartz, judge my vow."
)
ENGINES = ["ppocr-v6", "rapidocr", "tesseract", "paddleocr", "easyocr"]
# CER measured on STRIP at 300 dpi: ppocr-v6 0.0, rapidocr 0.0, tesseract 0.0, paddleocr 0.0, easyocr ~0.01-0.02.
MAX_CER = {"ppocr-v6": 0.02, "rapidocr": 0.02, "tesseract": 0.02, "paddleocr": 0.02, "easyocr": 0.06}
# Mean line confidence seen: ppocr-v6/rapidocr/paddleocr ~0.99, tesseract ~0.95, easyocr ~0.7.
MIN_MEAN_CONFIDENCE = {"ppocr-v6": 0.8, "rapidocr": 0.8, "tesseract": 0.8, "paddleocr": 0.8, "easyocr": 0.5}
SLOW = {"paddleocr", "easyocr"}


def cer(reference: str, hypothesis: str) -> float:
    return jiwer.cer(normalise(reference), normalise(hypothesis))


def strip(text: str = TEXT, dpi: int = 300, fontsize: float = 12) -> Image.Image:
    """A band of a printed page in Helvetica (not a whole page: keeps the slow engines quick)."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    rect = pymupdf.Rect(54, 54, 558, 160)
    page.insert_textbox(rect, text, fontsize=fontsize, fontname="helv")
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csRGB, clip=pymupdf.Rect(36, 36, 576, 170))
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


def engine_or_skip(name: str):
    config = registry.get_config(name)
    availability = registry.engine_class(config.family).availability(config)
    if not availability.available:
        pytest.skip(f"{name} not available here: {availability.reason}")
    return registry.load_engine(name)


def text_of(output) -> str:
    return " ".join(line.text for line in output.lines)


@pytest.fixture(scope="module")
def image():
    return strip()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in ENGINES])
def test_engine_reads_a_clean_page(name, image):
    engine = engine_or_skip(name)
    output = engine.recognize(image)
    assert output.lines, f"{name} found no text"
    assert cer(TEXT, text_of(output)) <= MAX_CER[name], text_of(output)
    width, height = image.size
    for line in output.lines:
        x0, y0, x1, y1 = line.bbox
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, line
        assert 0.0 <= line.confidence <= 1.0, line
    assert sum(line.confidence for line in output.lines) / len(output.lines) > MIN_MEAN_CONFIDENCE[name]


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_ppocr_v6_reads_the_page_on_either_runtime(runtime, image):
    """OpenVINO (the default, 3-4x faster on a CPU) and ONNX Runtime run the same shipped ONNX files."""
    config = registry.get_config("ppocr-v6", options={"runtime": runtime, "threads": 1})
    if not (availability := registry.engine_class(config.family).availability(config)).available:
        pytest.skip(availability.reason)
    engine = registry.load_engine("ppocr-v6", config)
    output = engine.recognize(image)
    assert cer(TEXT, text_of(output)) <= MAX_CER["ppocr-v6"], text_of(output)
    sessions = [type(stage.session).__module__ for stage in (engine._ocr.text_det, engine._ocr.text_rec)]
    assert all(f"inference_engine.{runtime}." in module for module in sessions), sessions
    with pytest.raises(ValueError, match="runtime must be one of"):
        registry.engine_class(config.family).availability(registry.get_config("ppocr-v6", options={"runtime": "tensorrt"}))


def test_engine_on_an_empty_page_returns_no_lines():
    engine = engine_or_skip("rapidocr")
    assert engine_or_skip("tesseract").recognize(Image.new("RGB", (800, 600), "white")).lines == []
    assert engine.recognize(Image.new("RGB", (800, 600), "white")).lines == []


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_scans_are_turned_upright(degrees):
    from docproc_assets.core.orientation import detect_rotation

    page = D.page_image(D.PARAGRAPH * 3, dpi=150, fontsize=12).convert("RGB")
    turned = page.rotate(degrees, expand=True)
    fix, confidence = detect_rotation(turned)
    assert (degrees + fix) % 360 == 0, (degrees, fix, confidence)
    assert detect_rotation(page)[0] == 0
    elements = page_ocr(engine_or_skip("tesseract"))(turned, 150 / 72, 1).elements
    assert cer(D.PARAGRAPH * 3, " ".join(e.content for e in elements)) < 0.03
    # boxes are where the text lies on the page as given: sideways lines are tall, and inside the page
    width, height = turned.width * 72 / 150, turned.height * 72 / 150
    for element in elements:
        box = element.bbox
        assert 0 <= box.x0 < box.x1 <= width + 1 and 0 <= box.y0 < box.y1 <= height + 1
        if degrees in (90, 270):
            assert box.height > box.width
    first_line = elements[0].lines[0].bbox
    # upright, the first line is at the top; turned 90 counter-clockwise it is at the left edge, 270 the right
    edge = {90: first_line.x0 < width / 2, 180: first_line.y0 > height / 2, 270: first_line.x1 > width / 2}
    assert edge[degrees]


@pytest.mark.slow
def test_rapidocr_reads_a_rotated_page():
    engine = engine_or_skip("rapidocr")
    turned = strip().rotate(180, expand=True)
    elements = page_ocr(engine)(turned, 300 / 72, 1).elements
    assert cer(TEXT, " ".join(e.content for e in elements)) <= MAX_CER["rapidocr"]


def test_tesseract_languages_are_checked_without_loading():
    config = registry.get_config("tesseract", options={"languages": "eng+xyz"})
    availability = registry.engine_class("tesseract").availability(config)
    assert not availability.available and "xyz" in availability.reason


@pytest.mark.slow
def test_model_is_loaded_once_for_many_pages(tmp_path):
    from docproc_assets.core.pipeline import Options, extract_with_engine

    engine_or_skip("rapidocr")
    before = registry.load_counts.get("rapidocr", 0)
    pdf = D.scanned_pdf(tmp_path / "scan.pdf", texts=["First page of the scan.", "Second page here.", "Third and last page."], dpi=150)
    for _ in range(2):
        document = extract_with_engine(pdf, Options(ocr_dpi=150), "rapidocr")
        assert [p.engine for p in document.pages] == ["rapidocr"] * 3
    assert registry.load_counts["rapidocr"] == max(before, 1)


def docproc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "docproc_assets.cli", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_extracts_a_scanned_pdf_and_a_png_with_rapidocr(tmp_path):
    from docproc_assets.core.document import UnifiedDocument

    pdf = D.scanned_pdf(tmp_path / "scan.pdf", texts=[D.PARAGRAPH, TEXT], dpi=200)
    png = D.png(tmp_path / "page.png", text=TEXT, dpi=300)
    out = tmp_path / "out"
    result = docproc("extract", pdf, png, "--engine", "rapidocr", "--output-dir", out)
    assert result.returncode == 0, result.stderr
    scan = UnifiedDocument.model_validate_json((out / "scan.json").read_text())
    assert scan.processing_track.value == "ocr"
    assert [p.engine for p in scan.pages] == ["rapidocr", "rapidocr"]
    page_texts = [" ".join(e.content for e in p.elements) for p in scan.pages]
    assert cer(D.PARAGRAPH, page_texts[0]) < 0.02 and cer(TEXT, page_texts[1]) < 0.02
    image = UnifiedDocument.model_validate_json((out / "page.json").read_text())
    assert cer(TEXT, " ".join(e.content for e in image.pages[0].elements)) < 0.02
    for element in image.pages[0].elements:  # boxes in points on the page
        assert 0 <= element.bbox.x0 < element.bbox.x1 <= image.pages[0].dimensions.width
        assert 0 < element.confidence <= 1


def test_cli_lists_engines_as_json():
    result = docproc("engines", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == set(registry.MODELS)
    for row in rows.values():
        assert set(row) == {"name", "family", "available", "reason", "device", "languages"}
        assert row["available"] or row["reason"]
    assert rows["rapidocr"]["available"] and rows["rapidocr"]["device"] == "cpu"


def test_cli_overrides_reach_the_engine_config(tmp_path):
    config = registry.get_config("easyocr", max_batch_size=2, device="cpu")
    assert (config.max_batch_size, config.device) == (2, "cpu")
    assert config.version != registry.get_config("easyocr").version


def test_engine_modules_do_not_import_heavy_packages_for_availability():
    code = (
        "import sys; from docproc_assets.core.engines import registry as r\n"
        "for n in ('rapidocr', 'paddleocr', 'tesseract'):\n"
        "    c = r.get_config(n); r.engine_class(c.family).availability(c)\n"
        "print(sorted(m for m in ('paddle', 'torch', 'onnxruntime', 'tesserocr') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
