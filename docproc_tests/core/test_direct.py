from docproc_assets.core.document import ElementType, Track
from docproc_assets.core.pipeline import extract
from docproc_tests import documents as D


def by_type(doc, kind):
    return [e for p in doc.pages for e in p.ordered() if e.type == kind]


def test_exact_text_with_boxes_and_styles(tmp_path):
    doc = extract(D.digital_pdf(tmp_path / "d.pdf"))
    assert doc.processing_track == Track.DIRECT and doc.status == "ok"
    page = doc.pages[0]
    assert " ".join(page.text().split()) == D.PARAGRAPH
    element = page.elements[0]
    assert element.style.font == "Helvetica" and element.style.size == 11 and not element.style.bold
    assert 70 <= element.bbox.x0 < element.bbox.x1 <= 542 and element.bbox.y0 >= 72
    assert page.engine == "pymupdf" and page.dimensions.width == 612


def test_element_types(tmp_path):
    doc = extract(D.structured_pdf(tmp_path / "s.pdf"))
    (heading,) = by_type(doc, ElementType.HEADING)
    assert heading.content == "Annual Results" and heading.level == 1 and heading.style.bold
    assert [e.content[2:] for e in by_type(doc, ElementType.LIST_ITEM)] == ["First point", "Second point", "Third point"]
    (table,) = by_type(doc, ElementType.TABLE)
    grid = {(c.row, c.col): c.content for c in table.cells}
    assert grid[(0, 0)] == "Region" and grid[(1, 1)] == "120" and grid[(2, 2)] == "3%" and len(grid) == 9
    assert len(by_type(doc, ElementType.IMAGE)) == 1
    assert [c.content for c in by_type(doc, ElementType.CAPTION)] == ["Figure 1: Sales by region"]
    assert [h.content for h in by_type(doc, ElementType.HEADER)] == ["ACME Quarterly Report"] * 2
    assert [f.content for f in by_type(doc, ElementType.FOOTER)] == ["1", "2"]


def test_table_text_is_not_repeated_as_paragraphs(tmp_path):
    doc = extract(D.structured_pdf(tmp_path / "s.pdf"))
    assert doc.pages[0].text().count("North") == 1


def test_two_columns_are_read_column_by_column(tmp_path):
    text = " ".join(extract(D.two_column_pdf(tmp_path / "c.pdf")).text().split())
    order = [text.index(f"Column {c} paragraph {n}") for c in "AB" for n in (1, 2, 3)]
    assert text.startswith("Columns Title") and order == sorted(order)


def test_form_rows_are_not_split_into_columns():
    from docproc_assets.core.layout import reading_order

    # label/value pairs on shared rows: read across, row by row
    boxes = [(72, 100, 150, 112), (300, 100, 400, 112), (72, 120, 150, 132), (300, 120, 400, 132)]
    assert reading_order(boxes) == [0, 1, 2, 3]


def test_many_pages_stream(tmp_path):
    doc = extract(D.digital_pdf(tmp_path / "big.pdf", pages=[f"Page {i} " + D.PARAGRAPH for i in range(60)]))
    assert len(doc.pages) == 60 and doc.pages[59].text().startswith("Page 59")


def test_layout_model_is_loaded_only_when_asked(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from docproc_assets.core.pipeline import extract, Options;"
        "p = Path(sys.argv[1]); extract(p); assert sys.modules.get('pymupdf.layout') is None;"
        "doc = extract(p, Options(table_model=True)); assert sys.modules.get('pymupdf.layout') is not None;"
        "print(sum(e.type == 'table' for e in doc.pages[0].elements))"
    )
    path = D.structured_pdf(tmp_path / "s.pdf")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_direct_blocks_keep_their_lines_with_boxes_and_styles(tmp_path):
    doc = extract(D.structured_pdf(tmp_path / "s.pdf"))
    items = [e for e in doc.pages[0].elements if e.type == ElementType.LIST_ITEM]
    paragraph = next(e for e in doc.pages[0].elements if e.content.startswith("The quick brown fox"))
    assert len(paragraph.lines) >= 2 and "\n".join(ln.content for ln in paragraph.lines) == paragraph.content
    for line in paragraph.lines:
        assert paragraph.bbox.y0 <= line.bbox.y0 < line.bbox.y1 <= paragraph.bbox.y1
        assert line.style.font == "Helvetica" and line.style.size == 11
    assert [len(e.lines) for e in items] == [1, 1, 1]


def test_a_form_set_large_and_bold_has_no_headings_but_its_title(tmp_path):
    """Labels and values in a larger, bold face than the small print: body text of a form, not headings."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 60), "Repair Estimate", fontsize=22, fontname="hebo")
    for i, (label, value) in enumerate([("Insured name", "Gabriel Diaz"), ("Claim #", "SF-1008"), ("Make", "Jeep"), ("Year", "2022")]):
        page.insert_text((72, 100 + i * 20), label, fontsize=10, fontname="hebo")
        page.insert_text((300, 100 + i * 20), value, fontsize=10, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(72, 200, 540, 300), "Small print. " * 12, fontsize=8, fontname="helv")
    doc.save(tmp_path / "form.pdf")
    elements = extract(tmp_path / "form.pdf").pages[0].ordered()
    assert [(e.type, e.content) for e in elements if e.type == ElementType.HEADING] == [(ElementType.HEADING, "Repair Estimate")]
    text = " ".join(" ".join(e.content for e in elements).split())
    assert "Insured name Gabriel Diaz Claim # SF-1008 Make Jeep Year 2022" in text
