"""The default OCR engine (PP-OCRv6) with the layout stage, end to end on renders of pages the tests
build: rows kept whole, regions typed, columns read in order, the stage switchable and never fatal.
Every expectation is the source page's own text (no model output is faked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from docproc_assets.core import metrics, regions
from docproc_assets.core.document import ElementType
from docproc_assets.core.engines.base import OcrLine
from docproc_assets.core.engines.registry import DEFAULT_ENGINE
from docproc_assets.core.pipeline import Options, extract_with_engine
from docproc_tests import documents as D

DOCPROC = str(Path(sys.executable).with_name("docproc"))


def docproc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([DOCPROC, *map(str, args)], capture_output=True, text=True, timeout=300)


def toc_rows() -> list[str]:
    return [f"{number} {title} {at}" for number, title, at in D.TOC_ENTRIES]


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("renders")
    toc, structured, columns = D.toc_pdf(tmp / "toc.pdf"), D.structured_pdf(tmp / "report.pdf"), D.two_column_pdf(tmp / "columns.pdf")
    return {"toc-200": D.render(toc, tmp / "toc-200.png", 200), "toc-150": D.render(toc, tmp / "toc-150.png", 150),
            "report": D.render(structured, tmp / "report.png", 200), "columns": D.render(columns, tmp / "columns.png", 200)}


def test_extract_reads_a_scan_with_the_default_engine_when_none_is_given(pages):
    result = docproc("extract", "--track", "ocr", pages["toc-200"], "--format", "json")
    assert result.returncode == 0, result.stderr
    (page,) = json.loads(result.stdout)["pages"]
    assert page["engine"] == DEFAULT_ENGINE == "ppocr-v6"
    assert "Installing the toolkit" in " ".join(e["content"] for e in page["elements"])


@pytest.mark.parametrize(("dpi", "layout"), [(200, True), (150, True), (200, False)])
def test_a_table_of_contents_keeps_every_row_whole(pages, dpi, layout):
    """Each entry's number, title and page number come out on one line, in order (dot leaders aside):
    the rows of the source page, measured as ../shared/tools/row-integrity measures them. Without the
    layout stage too: row cells are never stacked into columns."""
    overrides = None if layout else {"options": {"layout": False}}
    doc = extract_with_engine(pages[f"toc-{dpi}"], Options(), DEFAULT_ENGINE, overrides)
    if layout:  # one element line per entry (without regions each cell is an element, in row order)
        lines = [" ".join(line.replace(".", " ").split()) for line in doc.text().splitlines()]
        for row in toc_rows():
            assert any(row in line or row.replace(".", " ") in line for line in lines), (row, lines)
    assert metrics.row_integrity(doc.text(), "\n".join(toc_rows())) == (len(D.TOC_ENTRIES), len(D.TOC_ENTRIES))


def test_layout_types_the_regions_of_an_ocr_page(pages):
    elements = extract_with_engine(pages["report"], Options(), DEFAULT_ENGINE).pages[0].elements
    by_type = {}
    for e in elements:
        by_type.setdefault(e.type, []).append(e)
    assert [e.content for e in by_type[ElementType.HEADING]] == ["Annual Results"]
    assert by_type[ElementType.HEADING][0].level == 1
    assert [e.content for e in by_type[ElementType.HEADER]] == ["ACME Quarterly Report"]
    (table,) = by_type[ElementType.TABLE]
    grid = {(c.row, c.col): c.content for c in table.cells}
    assert [[grid[r, c] for c in range(3)] for r in range(3)] == [["Region", "Sales", "Growth"], ["North", "120", "5%"], ["South", "98", "3%"]]
    assert table.content.splitlines()[1] == "North | 120 | 5%"
    assert [e.content for e in by_type[ElementType.CAPTION]] == ["Figure 1: Sales by region"]
    assert [e.content.lstrip("·• ") for e in by_type[ElementType.LIST_ITEM]] == ["First point", "Second point", "Third point"]
    for e in elements:  # boxes in points of the page, where the text is
        assert 0 <= e.bbox.x0 < e.bbox.x1 <= 612 and 0 <= e.bbox.y0 < e.bbox.y1 <= 792, e
    assert 250 <= table.bbox.y0 <= 270 and 320 <= table.bbox.y1 <= 335  # the table sits at 260-326 pt


def test_two_columns_are_read_column_by_column_on_a_scan(pages):
    text = " ".join(extract_with_engine(pages["columns"], Options(), DEFAULT_ENGINE).text().split())
    order = [text.index(f"Column {c} paragraph {n}") for c in "AB" for n in (1, 2, 3)]
    assert text.startswith("Columns Title") and order == sorted(order)


def test_no_layout_turns_the_stage_off_and_changes_the_cache_key(pages, tmp_path):
    with_layout = docproc("extract", pages["report"], "--format", "json")
    without = docproc("extract", pages["report"], "--format", "json", "--no-layout")
    assert with_layout.returncode == without.returncode == 0, without.stderr
    typed, plain = (json.loads(r.stdout)["pages"][0] for r in (with_layout, without))
    assert {e["type"] for e in plain["elements"]} == {"text", "table"}  # no regions typed; the table found from its rows
    assert_sales_table([e for e in plain["elements"] if e["type"] == "table"])
    assert {"heading", "table", "header"} <= {e["type"] for e in typed["elements"]}
    assert plain["engine_version"] != typed["engine_version"]
    assert "Annual Results" in " ".join(e["content"] for e in plain["elements"])


def test_a_failing_layout_model_leaves_the_page_read(pages, monkeypatch):
    def broken(image):
        raise RuntimeError("onnxruntime: bad model")

    monkeypatch.setattr(regions, "page_regions", broken)
    doc = extract_with_engine(pages["report"], Options(), DEFAULT_ENGINE)
    assert doc.status == "ok" and "Annual Results" in doc.text()
    assert {e.type for e in doc.pages[0].elements} == {ElementType.TEXT, ElementType.TABLE}
    assert_sales_table([e.model_dump(mode="json") for e in doc.pages[0].elements if e.type == ElementType.TABLE])


def assert_sales_table(found: list[dict]) -> None:
    """The report's 3 x 3 table, found without the layout model (aligned gaps, a column of figures):
    every cell where the source page sets it, and no prose line inside."""
    (table,) = found
    cells = {(c["row"], c["col"]): c["content"] for c in table["cells"]}
    assert cells == {(0, 0): "Region", (0, 1): "Sales", (0, 2): "Growth", (1, 0): "North", (1, 1): "120", (1, 2): "5%",
                     (2, 0): "South", (2, 1): "98", (2, 2): "3%"}
    assert table["content"].splitlines() == ["Region | Sales | Growth", "North | 120 | 5%", "South | 98 | 3%"]


def line(text: str, x0: float, y0: float, x1: float, y1: float) -> OcrLine:
    return OcrLine(text, (x0, y0, x1, y1))


def test_rows_group_lines_that_share_a_row_whatever_their_tops():
    lines = [line("32", 1795, 2034, 1886, 2099), line("Concept Index", 370, 2036, 828, 2102),
             line("Function and Data Index.", 365, 2171, 1142, 2239), line("33", 1788, 2177, 1883, 2234)]
    assert [[ln.text for ln in row] for row in regions.rows(lines)] == [["Concept Index", "32"], ["Function and Data Index.", "33"]]


def test_a_page_number_past_its_region_still_ends_the_row():
    title = regions.Region("title", (374, 721, 1253, 771), 0.6)
    lines = [line("2", 370, 717, 440, 770), line("ASN.1 structure handling", 455, 709, 1263, 782), line("2", 1838, 722, 1879, 768)]
    held, loose = regions.assign(lines, [title], margin=25)
    assert not loose and [ln.text for ln in held[0][1]] == ["2", "ASN.1 structure handling", "2"]


def test_row_integrity_scores_rows_not_words():
    reference = "1 Introduction ........ 1\n2 Installing the toolkit .... 3"
    assert metrics.row_integrity("1 Introduction 1\n2 Installing the toolkit 3", reference) == (2, 2)
    assert metrics.row_integrity("1 Introduction\n2 Installing the toolkit\n1\n3", reference) == (0, 2)  # column by column
    assert metrics.row_integrity("1 Intraduction 1\n2 Installing the toolkit 3", reference) == (2, 2)  # one slip in a word


def test_self_supervised_pages_carry_their_visual_rows(tmp_path):
    """The layout reference of a rendered digital page: its words by baseline, across the page."""
    from docproc_assets.core.groundtruth import synthetic_pages

    (page,) = list(synthetic_pages(D.toc_pdf(tmp_path / "toc.pdf"), dpis=(100,)))
    rows = [" ".join(w for w in row.split() if set(w) != {"."}) for row in page.layout_reference.splitlines()]
    assert rows == ["Contents", *toc_rows()]


def test_a_figure_holding_most_of_the_page_is_its_text():
    from docproc_assets.core.ocr import line_elements

    lines = [line(f"Item {i} costs {i}.00 EUR", 100, 100 + 40 * i, 700, 130 + 40 * i) for i in range(6)]
    photo = regions.Region("figure", (80, 80, 720, 400), 0.6)  # a receipt photographed whole, taken for a picture
    elements = line_elements(lines + [line("Thank you", 100, 500, 300, 530)], 1.0, 1, page_regions=[photo])
    assert [e.type for e in elements] == [ElementType.TEXT, ElementType.TEXT]
    assert elements[0].content.splitlines()[0] == "Item 0 costs 0.00 EUR"
    chart = line_elements(lines[:2] + [line(f"Paragraph line {i}", 100, 600 + 40 * i, 700, 630 + 40 * i) for i in range(8)], 1.0, 1,
                          page_regions=[regions.Region("figure", (80, 80, 720, 200), 0.6)])
    assert chart[-1].type == ElementType.IMAGE and "Item 1 costs" in chart[-1].content  # a chart's labels: kept, as a float
