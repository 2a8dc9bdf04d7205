import pymupdf

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


# -- every character once (core/fidelity.py) ---------------------------------------------------------


def _decimal_table(path):
    """A ruled table whose decimal points sit 1.2 pt below their digits (as TeX sets them)."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 60), "Quarterly figures with decimals drawn on their own baseline.", fontsize=11)
    rows = [["Item", "Value", "Change"], ["Alpha", "21.0", "-2.98"], ["Beta", "2.620", "+0.51"], ["Gamma", "273.879.7501", "-11.25"]]
    x0, y0, cw, rh = 72, 100, 120, 24
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            x, base = x0 + c * cw + 6, y0 + r * rh + 16
            for i, part in enumerate(value.split(".") if r else [value]):
                if i:
                    page.insert_text((x, base + 1.2), ".", fontsize=10)
                    x += pymupdf.get_text_length(".", fontsize=10)
                page.insert_text((x, base), part, fontsize=10)
                x += pymupdf.get_text_length(part, fontsize=10)
    for r in range(len(rows) + 1):
        page.draw_line((x0, y0 + r * rh), (x0 + 3 * cw, y0 + r * rh))
    for c in range(4):
        page.draw_line((x0 + c * cw, y0), (x0 + c * cw, y0 + len(rows) * rh))
    doc.save(path)
    return path, rows


def _labelled_grid(path):
    """Row names left of a ruled grid (booktabs-like: the names' column has no rules of its own)."""
    doc = pymupdf.open()
    page = doc.new_page()
    names = ["model", "Mazda RX4", "Datsun 710", "Hornet 4 Drive"]
    data = [["mpg", "cyl", "hp"], ["21.0", "6", "110"], ["22.8", "4", "93"], ["21.4", "6", "110"]]
    x0, y0, cw, rh = 180, 100, 70, 22
    for r in range(4):
        page.insert_text((72, y0 + r * rh + 15), names[r], fontsize=10)
        for c, v in enumerate(data[r]):
            page.insert_text((x0 + c * cw + 6, y0 + r * rh + 15), v, fontsize=10)
    for r in range(5):
        page.draw_line((x0, y0 + r * rh), (x0 + 3 * cw, y0 + r * rh))
    for c in range(4):
        page.draw_line((x0 + c * cw, y0), (x0 + c * cw, y0 + 4 * rh))
    doc.save(path)
    return path, [[n, *d] for n, d in zip(names, data, strict=True)]


def _table(doc):
    (table,) = [e for e in doc.pages[0].elements if e.type == ElementType.TABLE]
    grid = {}
    for cell in table.cells:
        grid.setdefault(cell.row, {})[cell.col] = cell.content
    return table, [[row[c] for c in sorted(row)] for _, row in sorted(grid.items())]


def _exact(path):
    from docproc_assets.core import fidelity
    from docproc_assets.core.pipeline import page_source

    doc = extract(path)
    with pymupdf.open(page_source(path)) as pdf:
        for page in doc.pages:
            if page.track == Track.DIRECT:
                check = fidelity.balance(fidelity.visible_text(pdf[page.page_number - 1].get_text("dict")), page.elements)
                assert check.exact, (path.name, page.page_number, check)
    return doc


def test_numbers_on_two_baselines_stay_whole_in_cells(tmp_path):
    path, rows = _decimal_table(tmp_path / "decimals.pdf")
    doc = _exact(path)
    table, cells = _table(doc)
    assert cells == rows  # `21.0`, not `210 .`; `-2.98`, not `2 98 - .`
    assert "Gamma | 273.879.7501 | -11.25" in table.content and "273.879.7501" in doc.text()


def test_row_names_beside_the_ruled_grid_are_a_column_of_the_table(tmp_path):
    path, rows = _labelled_grid(tmp_path / "mtcars.pdf")
    doc = _exact(path)
    table, cells = _table(doc)
    assert cells == rows and table.bbox.x0 <= 72.5  # the box covers the names
    assert "| Mazda RX4 | 21.0 | 6 | 110 |" in doc.markdown()


def test_ligatures_and_soft_hyphens_are_normalised(tmp_path):
    path = tmp_path / "ligatures.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_font(fontname="F0", fontbuffer=pymupdf.Font("cjk").buffer)  # a font with the ligature glyphs
    page.insert_text((72, 72), "As speci\ufb01ed, the \ufb02ow of words.", fontsize=11, fontname="F0")
    doc.save(path)
    assert "\ufb01" in pymupdf.open(path)[0].get_text()
    out = _exact(path)
    assert "As specified, the flow of words." in out.text()


def test_every_character_once_on_every_direct_page(tmp_path):
    """The invariant on every generated kind of document, the bundled samples and, where it is there,
    ../shared/corpus: each direct page's visible characters (and numbers, whole) exactly once."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    generated = [D.structured_pdf(tmp_path / "structured.pdf"), D.two_column_pdf(tmp_path / "columns.pdf"),
                 D.mixed_pdf(tmp_path / "mixed.pdf"), D.digital_pdf(tmp_path / "digital.pdf")]
    suffixes = {".pdf", ".docx", ".odt", ".xlsx", ".xls", ".pptx", ".doc"}
    found = [p for folder in (root / "samples", root.parent / "shared" / "corpus") if folder.is_dir()
             for p in sorted(folder.rglob("*")) if p.suffix.lower() in suffixes and "bad" not in p.parts]
    checked = 0
    for path in generated + found:
        doc = _exact(path)
        checked += sum(p.track == Track.DIRECT for p in doc.pages)
    assert checked >= 8


def _unruled(path, rows, widths=(110, 110, 110, 110)):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 60), "Figures set in aligned columns, no rules drawn.", fontsize=11)
    for r, row in enumerate(rows):
        x = 72
        for c, value in enumerate(row):
            right = c and any(ch.isdigit() for ch in value)  # figures right-aligned, as tables set them
            page.insert_text((x + (widths[c] - 12 - pymupdf.get_text_length(value, fontsize=10) if right else 0), 100 + r * 16),
                             value, fontsize=10)
            x += widths[c]
    page.insert_textbox(pymupdf.Rect(72, 220, 540, 300), "A paragraph after the table is text, not a row.", fontsize=11)
    doc.save(path)
    return path


def test_unruled_statistical_table_is_a_table(tmp_path):
    rows = [["County", "Population", "Households", "Change"], ["Adams", "103,242", "39,021", "+2.1%"],
            ["Baker", "16,668", "7,012", "-0.4%"], ["Clark", "503,311", "188,450", "+11.8%"], ["Douglas", "11,640", "4,702", "+3.0%"]]
    doc = _exact(_unruled(tmp_path / "census.pdf", rows))
    table, cells = _table(doc)
    assert cells == rows
    texts = [e.content for e in doc.pages[0].elements if e.type == ElementType.TEXT]
    assert texts == ["Figures set in aligned columns, no rules drawn.", "A paragraph after the table is text, not a row."]


def test_donor_list_with_aligned_columns_is_a_table(tmp_path):
    rows = [["Ada Lovelace", "London", "$1,200"], ["Grace Hopper", "New York", "$950"], ["Alan Turing", "Manchester", "$2,500"],
            ["Edsger Dijkstra", "Rotterdam", "$75"]]
    _table_element, cells = _table(_exact(_unruled(tmp_path / "donors.pdf", rows, widths=(160, 140, 90))))
    assert cells == rows


def test_two_columns_of_prose_are_not_a_table(tmp_path):
    doc = _exact(D.two_column_pdf(tmp_path / "columns.pdf"))
    assert not [e for e in doc.pages[0].elements if e.type == ElementType.TABLE]
