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
