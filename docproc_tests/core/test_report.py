"""The HTML report: self-contained, escaped, capped; opened in a real headless Chromium."""

import json
import re
import time
from pathlib import Path

import pytest

from docproc_assets.core import evaluation, report
from docproc_assets.core.store import Store
from docproc_tests.browser import Chromium, chromium_path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAYLOAD = "<script>window.__pwned=1</script>"


def results(tmp_path, documents: int = 6) -> Store:
    store = Store(tmp_path / "r.duckdb")
    ids = [f"doc{i:05d}" for i in range(documents)]
    store.stage("documents", [{"document_id": d, "filename": f"{PAYLOAD}{d}.png" if i == 0 else f"{d}.png",
                               "track": "ocr" if i % 3 else "direct", "page_count": 1} for i, d in enumerate(ids)])
    store.stage("pages", [{"document_id": d, "page_number": 1, "track": "ocr"} for d in ids])
    store.stage("ground_truth", [{"document_id": d, "page_number": 1, "reference": f"Invoice {i} total 42 EUR {PAYLOAD}",
                                  "source": "synthetic" if i % 2 else "sidecar", "dpi": 150, "degradation": "clean"}
                                 for i, d in enumerate(ids[:50])])
    store.stage("answers", [{"document_id": ids[0], "question_id": "1", "question": PAYLOAD, "answers": json.dumps(["42 EUR"])}])
    rows = []
    for i, d in enumerate(ids):
        for model, text in (("rapidocr", f"Invoice {i} total 42 EUR {PAYLOAD}"), ("tesseract", f"Invoice {i} tota1 42 EUR <script>"),
                            ("easyocr", f"lnvoice {i} 42")):
            rows.append({"document_id": d, "model": model, "model_version": f"{model}@1", "track": "ocr", "extracted_text": text,
                         "success": not (model == "easyocr" and i % 5 == 0), "error": "boom <b>x</b>" if i % 5 == 0 else None,
                         "token_count": len(text.split()), "pages": 1, "seconds": 0.2 + (model == "easyocr"), "peak_memory_mb": 500.0})
    store.stage("extractions", rows)
    evaluation.evaluate(store)
    store.refresh_metrics()
    return store


def test_report_is_self_contained_and_escaped(tmp_path):
    html = report.build(results(tmp_path))
    assert not re.findall(r"<script[^>]*\bsrc=", html[:200] + html[-200_000:]) and "<script>" in html[:5000]  # plotly.js inline
    assert html.count("Plotly.newPlot") == 1 and html.count('class="chart"') >= 8
    assert PAYLOAD not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html  # error messages too


def test_report_scales_to_ten_thousand_documents(tmp_path):
    store = results(tmp_path, documents=10_000)
    start = time.perf_counter()
    html = report.build(store, max_documents=200)
    assert time.perf_counter() - start < 60
    assert html.count('<div class="doc" id="doc-') == 200 and "200 of 10000 documents" in html
    assert len(html) < 20e6


@pytest.mark.skipif(chromium_path() is None, reason="Debian chromium is not installed (make test installs it)")
@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report.build(results(tmp_path, documents=30)), encoding="utf-8")
    with Chromium() as browser:
        browser.open(page.as_uri(), settle=2.0)
        charts = browser.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => (d.data || []).length)")
        assert len(charts) >= 8 and all(n > 0 for n in charts), charts
        assert browser.evaluate("document.querySelectorAll('svg.main-svg').length") >= 8
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        assert browser.evaluate("document.querySelectorAll('script').length") == 2  # plotly.js and ours: none from documents
        visible = browser.evaluate("Array.from(document.querySelectorAll('.doc')).filter(d => d.style.display !== 'none').length")
        assert visible == report.PER_PAGE
        browser.evaluate("document.getElementById('pager-next').click()")
        assert re.match(r"page 2 of \d+", browser.evaluate("document.getElementById('pager-label').textContent"))
        assert browser.errors() == []
        shot = browser.screenshot(ARTIFACTS / "report.png")
    assert shot.stat().st_size > 50_000


def test_row_integrity_gets_a_column_and_a_chart_where_pages_have_visual_rows(tmp_path):
    store = Store(tmp_path / "rows.duckdb")
    store.stage("documents", [{"document_id": "toc", "filename": "toc.png", "track": "ocr", "page_count": 1}])
    store.stage("pages", [{"document_id": "toc", "page_number": 1, "track": "ocr"}])
    store.stage("ground_truth", [{"document_id": "toc", "page_number": 1, "reference": "1 Introduction . . . 1\n2 Install . . . 3",
                                  "layout_reference": "1 Introduction . . . 1\n2 Install the kit . . . 3", "source": "synthetic"}])
    store.stage("extractions", [
        {"document_id": "toc", "model": model, "model_version": f"{model}@1", "track": "ocr", "extracted_text": text,
         "success": True, "token_count": 6, "pages": 1, "seconds": 1.0}
        for model, text in (("rows", "1 Introduction 1\n2 Install the kit 3"), ("columns", "1 Introduction\n2 Install the kit\n1\n3"))])
    evaluation.evaluate(store)
    metrics = {m["model"]: m for m in store.refresh_metrics()}
    assert (metrics["rows"]["mean_row_integrity"], metrics["columns"]["mean_row_integrity"]) == (1.0, 0.0)
    html = report.build(store)
    assert "Rows intact per page" in html and "mean_row_integrity" in html and "toc.png p1: 2\\u002f2" in html  # the hover text (JSON-escaped)


def test_the_scripts_section_says_which_engine_read_each_script_and_how_often_osd_was_unsure(tmp_path):
    store = results(tmp_path, documents=3)
    store.stage("page_reads", [
        {"document_id": "doc00000", "page_number": 1, "model": "auto", "track": "ocr", "engine": "tesseract (rus+eng)",
         "script": "Cyrl", "script_evidence": "image (Tesseract OSD): Cyrillic, confidence 3.1"},
        {"document_id": "doc00001", "page_number": 1, "model": "auto", "track": "ocr", "engine": "tesseract (rus+eng)",
         "script": "Cyrl", "script_evidence": "image (Tesseract OSD): unsure (Latin, confidence 0.4); text read: 200 letters (Cyrl 98%)"},
        {"document_id": "doc00002", "page_number": 1, "model": "auto", "track": "ocr", "engine": "ppocr-v6",
         "script": "Latn", "script_evidence": "image (Tesseract OSD): Latin, confidence 9.0",
         "engine_vote": "tesseract (eng+deu+fra) 0.62, ppocr-v6 0.91; agreement 0.71; kept ppocr-v6"},
    ])
    store.flush()
    html = report.build(store)
    section = html[html.index('id="scripts"'):html.index('id="documents"')]
    cells = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>" + r"<td>(\d+)</td>" * 4 + "</tr>", section)
    # the Latin page was put to a vote, and the second engine's reading was kept
    assert cells == [("auto", "Cyrl", "tesseract (rus+eng)", "2", "1", "0", "0"), ("auto", "Latn", "ppocr-v6", "1", "0", "1", "1")]
