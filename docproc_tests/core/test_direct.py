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


# -- ruled grids from the page's strokes (core/grid.py) ----------------------------------------------


def _ruled(page, top, rows, widths=(120, 90, 90), height=20, spans=None, cell_by_cell=False):
    """A ruled table at `top`; `spans` maps (row, col) to a number of columns merged into that cell;
    `cell_by_cell` draws every cell's border as its own rectangle, as spreadsheets export them."""
    spans = spans or {}
    xs = [72]
    for w in widths:
        xs.append(xs[-1] + w)
    for r, row in enumerate(rows):
        c = 0
        for value in row:
            span = spans.get((r, c), 1)
            cell = pymupdf.Rect(xs[c], top + r * height, xs[c + span], top + (r + 1) * height)
            page.insert_text((cell.x0 + 5, cell.y1 - 6), value, fontsize=10)
            if cell_by_cell:
                page.draw_rect(cell, width=0.5)
            c += span
    if not cell_by_cell:
        for r in range(len(rows) + 1):
            page.draw_line((xs[0], top + r * height), (xs[-1], top + r * height), width=0.5)
        for c, x in enumerate(xs):  # column rules stop where a merged cell covers them
            for r in range(len(rows)):
                inside = any(c0 < c < c0 + n for (r0, c0), n in spans.items() if r0 == r)
                if not inside:
                    page.draw_line((x, top + r * height), (x, top + (r + 1) * height), width=0.5)


def _rows_of(table):
    return [[c.content for c in table.cells if c.row == r] for r in sorted({c.row for c in table.cells})]


def test_spreadsheet_cell_borders_and_a_merged_header_make_one_table(tmp_path):
    path = tmp_path / "sheet.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    page.draw_rect(pymupdf.Rect(36, 36, 576, 756), width=1)  # a frame around the page touches no table rule
    page.insert_text((72, 80), "Sales by region, exported from a spreadsheet.", fontsize=11)
    rows = [["Region", "Sales"], ["", "2024", "2025"], ["North", "120.5", "-3.25"], ["South", "98", "1,204.00"]]
    _ruled(page, 100, rows, spans={(0, 1): 2}, cell_by_cell=True)
    doc.save(path)
    out = _exact(path)
    (table,) = [e for e in out.pages[0].elements if e.type == ElementType.TABLE]
    assert _rows_of(table) == rows
    header = next(c for c in table.cells if c.content == "Sales")
    assert (header.row, header.col, header.col_span) == (0, 1, 2) and header.bbox.width == 180
    assert "Sales by region" not in table.content  # the frame is not a table


def test_two_ruled_tables_with_a_paragraph_between_are_two_tables(tmp_path):
    path = tmp_path / "two.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    first = [["Name", "Qty", "Price"], ["Bolt", "10", "0.25"], ["Nut", "20", "0.10"]]
    second = [["Code", "Rate", "Tax"], ["A", "19%", "1.90"], ["B", "7%", "0.70"]]
    _ruled(page, 100, first)
    page.insert_textbox(pymupdf.Rect(72, 175, 540, 230), "Between the tables a paragraph of prose that belongs to neither.",
                        fontsize=11)
    _ruled(page, 240, second)
    doc.save(path)
    out = _exact(path)
    tables = [e for e in out.pages[0].elements if e.type == ElementType.TABLE]
    assert [_rows_of(t) for t in tables] == [first, second]
    assert any("belongs to neither" in e.content for e in out.pages[0].elements if e.type == ElementType.TEXT)


def test_grids_join_broken_strokes_and_keep_frames_apart():
    from docproc_assets.core import grid

    # a table whose rules are drawn in pieces a little apart, inside a frame that touches none of them
    horizontal = [(99.6, 72, 150), (100.4, 150, 300), (120, 72, 300), (140, 72, 300), (36, 36, 576), (756, 36, 576)]
    vertical = [(72, 100, 140), (150, 100, 140), (299.5, 100, 121), (300.5, 119, 140), (36, 36, 756), (576, 36, 756)]
    (table,) = grid.grids(horizontal, vertical)
    assert table.ys == [100, 120, 140] and table.xs == [72, 150, 300]
    assert table.rows == [[(72, 100, 150, 120), (150, 100, 300, 120)], [(72, 120, 150, 140), (150, 120, 300, 140)]]
    assert table.cell_at(100, 130) == (1, 0) and table.cell_at(40, 130) is None
