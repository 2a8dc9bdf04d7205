"""OCR lines into blocks and reading order (engine output shapes, in pixels)."""

from docproc_assets.core.engines.base import OcrLine
from docproc_assets.core.ocr import line_elements, merge_lines, unrotate


def column(x: float, top: float, n: int, tag: str) -> list[OcrLine]:
    return [OcrLine(f"{tag}{i}", (x, top + i * 14, x + 150, top + i * 14 + 13)) for i in range(n)]


def test_columns_and_a_heading_across_them_stay_apart():
    lines = column(100, 100, 6, "L") + column(262, 100, 6, "R") + [OcrLine("Heading", (95, 190, 400, 228))]
    blocks = merge_lines(lines)
    contents = sorted(tuple(ln.text for ln in b) for b in blocks)
    assert ("Heading",) in contents
    assert tuple(f"L{i}" for i in range(6)) in contents and tuple(f"R{i}" for i in range(6)) in contents


def test_two_columns_are_read_column_by_column():
    lines = [OcrLine("Title", (100, 40, 400, 70))] + column(100, 100, 5, "L") + column(262, 100, 5, "R")
    text = " ".join(e.content.replace("\n", " ") for e in line_elements(lines, 1.0, 1))
    assert text == "Title L0 L1 L2 L3 L4 R0 R1 R2 R3 R4"


def test_unrotate_maps_boxes_back():
    # a 200x100 upright image that was turned 90 degrees counter-clockwise from a 100x200 original
    assert unrotate((0, 0, 10, 5), 90, (200, 100)) == (95, 0, 100, 10)
    assert unrotate((0, 0, 10, 5), 180, (200, 100)) == (190, 95, 200, 100)
    assert unrotate((0, 0, 10, 5), 270, (200, 100)) == (0, 190, 5, 200)
    assert unrotate((1, 2, 3, 4), 0, (200, 100)) == (1, 2, 3, 4)


def _row(y: float, *cells: tuple[str, float, float]) -> list[OcrLine]:
    return [OcrLine(text, (x0, y, x1, y + 13)) for text, x0, x1 in cells]


def test_a_table_the_layout_model_missed_is_found_inside_its_text_region():
    """A text region (the layout model's verdict) holding a price list: the list becomes a table with its
    cells, the prose above and below stays text, in page order, every line once."""
    from docproc_assets.core.regions import Region

    lines = (_row(100, ("Estimate for the repair of the rear bumper.", 100, 420))
             + _row(120, ("Paint supplies", 100, 220), ("60", 380, 400))
             + _row(136, ("Body supplies", 100, 210), ("30", 380, 400))
             + _row(152, ("Other charges", 100, 215), ("15.50", 370, 400))
             + _row(180, ("Prices may vary with the maker's updates.", 100, 410)))
    elements = line_elements(lines, 1.0, 1, page_regions=[Region("text", (90, 90, 430, 200), 0.9)])
    assert [e.type for e in elements] == ["text", "table", "text"]
    table = elements[1]
    assert [(c.row, c.col, c.content) for c in table.cells] == [
        (0, 0, "Paint supplies"), (0, 1, "60"), (1, 0, "Body supplies"), (1, 1, "30"), (2, 0, "Other charges"), (2, 1, "15.50")]
    assert table.content == "Paint supplies | 60\nBody supplies | 30\nOther charges | 15.50"
    assert [e.content for e in (elements[0], elements[2])] == [
        "Estimate for the repair of the rear bumper.", "Prices may vary with the maker's updates."]


def test_a_table_of_contents_stays_text():
    """Titles and page numbers that never fall line up like a table; they are a table of contents."""
    lines = [ln for i, (title, page) in enumerate([("Introduction", "1"), ("Installing", "3"), ("Usage", "3"), ("Reference", "12")])
             for ln in _row(100 + 16 * i, (title, 100, 200), (page, 380, 392))]
    elements = line_elements(lines, 1.0, 1)
    assert {e.type for e in elements} == {"text"}
    assert [ln.content for e in elements for ln in e.lines] == ["Introduction", "1", "Installing", "3", "Usage", "3", "Reference", "12"]


def test_a_page_number_in_the_top_corner_is_read_first_not_as_a_column():
    """A lone box above the page's text, at its right edge, is a band on top, not a second column read
    after the page (a TOC's roman page number came out last)."""
    lines = ([OcrLine("iv", (520, 50, 530, 60))] + [OcrLine("Table of Contents", (88, 93, 242, 111))]
             + column(100, 140, 4, "L"))
    text = " ".join(e.content.replace("\n", " ") for e in line_elements(lines, 1.0, 1))
    assert text == "iv Table of Contents L0 L1 L2 L3"


def test_environment_options_merge_with_the_callers(monkeypatch):
    from docproc_assets.core.engines import registry

    monkeypatch.setenv(registry.OVERRIDES_ENV, '{"ppocr-v6": {"options": {"Det.box_thresh": 0.3}}}')
    options = registry.get_config("ppocr-v6", options={"threads": 1}).options
    assert options["Det.box_thresh"] == 0.3 and options["threads"] == 1 and options["Global.use_cls"] is False
