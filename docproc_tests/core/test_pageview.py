"""Page views in the report: each page beside every model's boxes, checked in a real headless Chromium.

The pages are built here with text at known places, scanned (rendered) upright and turned 90 and 180
degrees, read by two real engines through the pipeline's stages, and the boxes the report draws are
measured on screen against the ink of those lines in the page image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from docproc_assets.core import pageview, report, stages
from docproc_assets.core.intake import ObjectStore
from docproc_assets.core.store import Store
from docproc_tests import documents as D
from docproc_tests.browser import Chromium, chromium_path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAYLOAD = "<script>window.__pwned=1</script>"
DPI = 200
MARKERS = {"ALPHA 1234": pymupdf.Point(72, 110), "OMEGA 5678": pymupdf.Point(400, 690)}  # baseline origins, points
MODELS = ("ppocr-v6", "tesseract")


def marker_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=D.LETTER.width, height=D.LETTER.height)
    for text, origin in MARKERS.items():
        page.insert_text(origin, text, fontsize=18)
    page.insert_textbox(pymupdf.Rect(72, 180, 540, 640), " ".join([D.PARAGRAPH] * 3), fontsize=12)  # for OSD to turn it by
    doc.save(path)
    return path


def scan(pdf: Path, path: Path, degrees: int) -> tuple[Path, dict[str, tuple[float, float, float, float]]]:
    """The page at DPI, turned `degrees` counter-clockwise, and each marker line's ink box in its pixels."""
    with pymupdf.open(pdf) as doc:
        pix = doc[0].get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY)
        words = doc[0].get_text("words")
    image = Image.frombytes("L", (pix.width, pix.height), pix.samples).rotate(degrees, expand=True, fillcolor=255)
    image.save(path, dpi=(DPI, DPI))
    ink = np.asarray(image) < 128
    boxes = {}
    for text in MARKERS:
        first = text.split()[0]
        x0, y0, x1, y1 = next(w[:4] for w in words if w[4] == first)
        line = [w for w in words if abs(w[1] - y0) < 2]
        x1 = max(w[2] for w in line)
        px = [v * DPI / 72 for v in (x0 - 6, y0 - 6, x1 + 6, y1 + 6)]  # the line's area upright, with a margin
        w, h = pix.width, pix.height
        corners = {0: px, 90: [px[1], w - px[2], px[3], w - px[0]], 180: [w - px[2], h - px[3], w - px[0], h - px[1]]}[degrees]
        a = [round(v) for v in corners]
        ys, xs = np.nonzero(ink[a[1]:a[3], a[0]:a[2]])
        boxes[text] = (a[0] + xs.min(), a[1] + ys.min(), a[0] + xs.max() + 1, a[1] + ys.max() + 1)
    return path, boxes


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Three scans (0/90/180) and a digital page with a `<script>` in its text, through route and extract."""
    tmp = tmp_path_factory.mktemp("pageview")
    pdf = marker_pdf(tmp / "markers.pdf")
    scans = {deg: scan(pdf, tmp / f"markers-{deg}.png", deg) for deg in (0, 90, 180)}
    digital = D.digital_pdf(tmp / "digital.pdf", [f"{D.PARAGRAPH} {PAYLOAD}"])
    objects = ObjectStore(tmp / "data" / "objects")
    registered = objects.put_files([*(path for path, _ in scans.values()), digital])
    ids = [r.document_id for r in registered]
    store = Store(tmp / "data" / "docproc.duckdb")
    store.stage("documents", [{"document_id": r.document_id, "filename": r.filename, "page_count": 1} for r in registered])
    routed = stages.route(objects, ids)
    store.stage("pages", routed.pages)
    for model in (stages.DIRECT, *MODELS):
        result = stages.extract_chunk(objects, ids, model, stages.model_version(model), set(), outputs=tmp / "data" / "outputs")
        assert all(r["success"] for r in result.rows), [r["error"] for r in result.rows]
        store.stage("extractions", result.rows)
    store.refresh_metrics()
    views = pageview.PageViews.beside(tmp / "report.html", tmp / "data")
    (tmp / "report.html").write_text(report.build(store, views=views), encoding="utf-8")
    ink = {registered[i].document_id: boxes for i, (_, boxes) in enumerate(scans.values())}
    return tmp / "report.html", views, ink, {r.document_id: r.filename for r in registered}


def test_page_views_carry_every_models_lines_in_page_points(batch):
    page, views, ink, names = batch
    digital = next(d for d, n in names.items() if n == "digital.pdf")
    (direct_page,) = views.document(digital, ["direct", *MODELS], {})
    texts = [b[5] for b in direct_page["boxes"]]
    assert {b[0] for b in direct_page["boxes"]} == {0} and any(PAYLOAD in t for t in texts)  # direct's lines only
    scans = {doc_id: views.document(doc_id, ["direct", *MODELS], {}) for doc_id in ink}
    views.finish()  # images are written on threads: final once finished
    for (scanned,) in scans.values():
        assert {b[0] for b in scanned["boxes"]} == {1, 2}  # both engines, no direct boxes on a scan
        assert scanned["img"] and (page.parent / scanned["img"]).stat().st_size > 5_000
    assert views.spent < 1_000_000  # four pages at 100 dpi


@pytest.mark.skipif(chromium_path() is None, reason="no chromium")
def test_boxes_land_on_the_ink_of_their_lines_and_toggle_per_model(batch):
    page, views, ink, names = batch
    with Chromium() as browser:
        browser.open(page.as_uri(), settle=1.5)
        assert browser.errors() == []
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        assert browser.evaluate("document.querySelectorAll('script:not([type=\"application/json\"])').length") == 2
        loaded = browser.evaluate("""Promise.all(Array.from(document.querySelectorAll('.pv-page image')).map(i => new Promise(ok => {
            const probe = new Image(); probe.onload = () => ok(probe.naturalWidth); probe.onerror = () => ok(0);
            probe.src = i.getAttribute('href'); })))""")
        assert len(loaded) == 4 and all(w > 500 for w in loaded), loaded  # every page image found and decoded
        for doc_id, boxes in ink.items():
            for model in MODELS:
                index = ["direct", *MODELS].index(model)
                drawn = browser.evaluate(f"""(() => {{
                    const doc = document.getElementById('doc-{doc_id[:12]}'), svg = doc.querySelector('svg');
                    const s = svg.getBoundingClientRect(), scale = s.width / svg.viewBox.baseVal.width;
                    return {{scale: scale, boxes: Array.from(doc.querySelectorAll('.pv-m{index}')).filter(r => r.classList.contains('pv-box')).map(r => {{
                        const b = r.getBoundingClientRect();
                        return [r.querySelector('title').textContent, b.left - s.left, b.top - s.top, b.right - s.left, b.bottom - s.top]; }})}};
                }})()""")
                on_screen = drawn["scale"] * 72 / DPI  # screen pixels per pixel of the scan
                for text, box in boxes.items():
                    hits = [b for b in drawn["boxes"] if text.split()[0] in b[0]]
                    assert hits, (names[doc_id], model, text, [b[0] for b in drawn["boxes"]][:5])
                    expected = [v * on_screen for v in box]
                    error = max(abs(a - b) for a, b in zip(hits[0][1:], expected))
                    assert error <= 2.0, (names[doc_id], model, text, hits[0], expected)
        first = next(iter(ink))
        count = f"Array.from(document.querySelectorAll('#doc-{first[:12]} .pv-m1')).filter(r => r.getBoundingClientRect().width > 0).length"
        assert browser.evaluate(count) > 3
        browser.evaluate("document.querySelector('.pv-toggle[data-hide=\"hide-m1\"]').click()")
        assert browser.evaluate(count) == 0  # ppocr-v6's boxes hidden
        assert browser.evaluate(count.replace("pv-m1", "pv-m2")) > 3  # tesseract's still there
        browser.evaluate(f"document.querySelector('#doc-{first[:12]} .pv-box.pv-m2').dispatchEvent(new MouseEvent('click'))")
        info = browser.evaluate(f"document.querySelector('#doc-{first[:12]} .pv-info').textContent")
        assert "tesseract:" in info and "ppocr-v6:" in info  # a click shows what every model read there
        browser.evaluate("document.querySelector('.pv-toggle[data-hide=\"hide-m1\"]').click()")
        assert browser.errors() == []
        shot = browser.screenshot_of(f"#doc-{list(ink)[1][:12]} .pageview", ARTIFACTS / "pageview-rotated-90.png")
    assert shot.stat().st_size > 20_000
