"""Direct extraction with PyMuPDF: the page's own text layer as typed elements.

Works from the text pass that routing already made (PageAnalysis.text). Tables are looked for with
`find_tables()` only on pages whose vector drawings show ruling lines, because it is slow.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pymupdf

from docproc_assets.core.document import (
    BoundingBox,
    DocumentElement,
    ElementType,
    StyleInfo,
    TableCell,
    TextLine,
)
from docproc_assets.core import enable_layout_model
from docproc_assets.core import tables as unruled_tables
from docproc_assets.core.fidelity import normalise
from docproc_assets.core.layout import Box, enclosing, reading_order
from docproc_assets.core.routing import FontProfile, PageAnalysis, image_boxes, is_bold, is_visible

_BULLET = re.compile(r"^\s*([•◦▪‣∙·●○■□➢►✓–\-*]|\(?\d{1,3}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])\s+\S")
_CAPTION = re.compile(r"^\s*(figure|fig\.|table|chart|exhibit|abbildung|tableau|tabelle)\s*[\dIVX]", re.I)
_ITALIC_FONT = re.compile(r"italic|oblique", re.I)
RARE_SHARE = 0.2  # a size (or bold) used by more of the page's characters than this is body text
MAX_CELL_LINES = 3  # a ruled box holding more lines than this is a frame around text, not a table cell
MIN_IMAGE_SIDE = 8.0  # points: smaller images are decoration


def _style(span: dict[str, Any]) -> StyleInfo:
    flags, font = span["flags"], span["font"]
    return StyleInfo(
        font=font,
        size=round(span["size"], 2),
        bold=is_bold(span),
        italic=bool(flags & pymupdf.TEXT_FONT_ITALIC) or bool(_ITALIC_FONT.search(font)),
        color=f"#{span['color']:06x}",
    )


def _classify(content: str, style: StyleInfo, n_lines: int, fonts: FontProfile) -> tuple[ElementType, int | None]:
    """Headings stand out: set larger than the body in a size few characters use (or much larger), or
    short and bold on a page where bold is rare. Forms that set every label large or bold get none."""
    size = style.size or fonts.body_size
    ratio = size / fonts.body_size
    short = len(content) < 200 and n_lines <= 3
    if short and ratio >= 1.15 and (fonts.share(size) <= RARE_SHARE or ratio >= 1.4):
        return ElementType.HEADING, 1 if ratio >= 1.8 else 2 if ratio >= 1.4 else 3
    if _CAPTION.match(content) and len(content) < 400:
        return ElementType.CAPTION, None
    if _BULLET.match(content):
        return ElementType.LIST_ITEM, None
    if (style.bold and fonts.bold_share <= RARE_SHARE and n_lines <= 2 and len(content) < 120
            and not content.rstrip().endswith((".", ",", ";"))):
        return ElementType.HEADING, 4
    return ElementType.TEXT, None


def _signature(span: dict[str, Any]) -> tuple[float, bool]:
    return round(span["size"]), is_bold(span)


def _text_blocks(text: dict[str, Any], skip: set[tuple[int, int]] = frozenset()) -> list[tuple[str, Box, StyleInfo, list[TextLine]]]:
    """(content, bbox, dominant style, lines) per block of like lines; lines in `skip` (block, line)
    belong to an unruled table.

    MuPDF's blocks can hold a heading and the paragraph under it, or a whole bullet list: a block is
    split where the size or weight of the lines changes, and before each bullet line.
    """
    out = []
    for b, block in enumerate(text.get("blocks", ())):
        if block.get("type") != 0:
            continue
        groups: list[list[tuple[str, Box, dict]]] = [[]]
        for n, line in enumerate(block["lines"]):
            if (b, n) in skip:
                continue
            spans = [s for s in line["spans"] if is_visible(s) and s["text"].strip()]
            if not spans:
                continue
            content = normalise("".join(s["text"] for s in line["spans"] if is_visible(s))).strip()
            main = max(spans, key=lambda s: len(s["text"].strip()))
            if groups[-1]:
                previous = groups[-1][-1]
                if _signature(main) != _signature(previous[2]) or (_BULLET.match(content) and _BULLET.match(groups[-1][0][0])):
                    groups.append([])
            groups[-1].append((content, tuple(line["bbox"]), main))
        for group in filter(None, groups):
            bbox = enclosing([b for _, b, _ in group])
            lines = [TextLine(content=c, bbox=BoundingBox.of(b), style=_style(span)) for c, b, span in group]
            dominant = max(lines, key=lambda ln: len(ln.content)).style
            out.append(("\n".join(ln.content for ln in lines), bbox, dominant, lines))
    return out


def _rules(page: pymupdf.Page) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """Horizontal (y, x0, x1) and vertical (x, y0, y1) strokes: lines, thin rectangles, rectangle edges."""
    horizontal, vertical = [], []
    for path in page.get_cdrawings():
        for item in path.get("items", ()):
            if item[0] == "l":
                (x0, y0), (x1, y1) = item[1], item[2]
                if abs(y0 - y1) < 1:
                    horizontal.append((y0, min(x0, x1), max(x0, x1)))
                elif abs(x0 - x1) < 1:
                    vertical.append((x0, min(y0, y1), max(y0, y1)))
            elif item[0] == "re":
                x0, y0, x1, y1 = item[1]
                if y1 - y0 < 2:
                    horizontal.append(((y0 + y1) / 2, x0, x1))
                elif x1 - x0 < 2:
                    vertical.append(((x0 + x1) / 2, y0, y1))
                else:
                    horizontal += [(y0, x0, x1), (y1, x0, x1)]
                    vertical += [(x0, y0, y1), (x1, y0, y1)]
    return horizontal, vertical


def ruled_table_area(page: pymupdf.Page, text: dict[str, Any], tolerance: float = 2.0) -> pymupdf.Rect | None:
    """Cheap table signal, checked before the slow finder: at least two rows of the ruled grid hold
    text in two or more cells of a few lines each (a ruled frame or box around paragraphs is not a
    table). Returns the area those cells cover, so the finder reads only that part of the page."""
    horizontal, vertical = _rules(page)
    if len(horizontal) < 3 or len(vertical) < 3:
        return None
    lines_in_cell: Counter[tuple[int, int, int, int]] = Counter()
    for block in text.get("blocks", ()):
        for line in block.get("lines", ()):
            x0, y0, x1, y1 = line["bbox"]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            left = max((x for x, a, b in vertical if x <= cx and a - tolerance <= cy <= b + tolerance), default=None)
            right = min((x for x, a, b in vertical if x >= cx and a - tolerance <= cy <= b + tolerance), default=None)
            top = max((y for y, a, b in horizontal if y <= cy and a - tolerance <= cx <= b + tolerance), default=None)
            bottom = min((y for y, a, b in horizontal if y >= cy and a - tolerance <= cx <= b + tolerance), default=None)
            if None not in (left, right, top, bottom):
                lines_in_cell[round(top), round(bottom), round(left), round(right)] += 1
    small = [cell for cell, n in lines_in_cell.items() if n <= MAX_CELL_LINES]
    cells_per_row = Counter((top, bottom) for top, bottom, _, _ in small)
    rows = {row for row, n in cells_per_row.items() if n >= 2}
    if len(rows) < 2:
        return None
    cells = [(left, top, right, bottom) for top, bottom, left, right in small if (top, bottom) in rows]
    area = pymupdf.Rect(enclosing(cells))
    return area + (-tolerance, -tolerance, tolerance, tolerance)


@dataclass
class _Table:
    bbox: Box
    cells: list[TableCell]
    content: str
    blocks: set[int]  # indices of the text blocks whose characters it holds (not emitted as text again)


@dataclass
class _Line:
    """One MuPDF line's characters (rawdict), in the order MuPDF read them: a decimal point or minus
    sign set on another baseline is still inside its number."""

    chars: list[tuple[str, Box]]

    def text(self) -> str:
        return normalise("".join(c for c, _ in self.chars)).strip()


def _lines(page: pymupdf.Page, clip: Box) -> list[_Line]:
    raw = page.get_text("rawdict", clip=pymupdf.Rect(clip), flags=pymupdf.TEXTFLAGS_RAWDICT & ~pymupdf.TEXT_PRESERVE_IMAGES)
    return [_Line([(ch["c"], tuple(ch["bbox"])) for span in line["spans"] if is_visible(span) for ch in span["chars"]])
            for block in raw.get("blocks", ()) if block.get("type") == 0 for line in block["lines"]]


def _cell_of(box: Box, grid: list[list[Box | None]]) -> tuple[int, int] | None:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if cell and cell[0] <= cx <= cell[2] and cell[1] <= cy <= cell[3]:
                return r, c
    return None


def _tables(page: pymupdf.Page, text: dict[str, Any], layout_model: bool = False,
            area: pymupdf.Rect | None = None) -> tuple[list[_Table], list[tuple[str, Box]]]:
    """Ruled tables found in `area` (the whole page by default), their cells filled with the page's own
    characters, never with the finder's cell text (which reorders a number set on two baselines:
    `21.0` became `210 .`). Every character of the text blocks a table covers ends up once: in a cell,
    in a column added for row labels left or right of the ruled grid, or in the leftover lines returned
    with the tables (kept as text). PyMuPDF 2's layout model finds more (unruled grids) but costs
    ~250 ms a page on a CPU against ~10 ms for the line finder, so it is opt-in."""
    if layout_model:
        enable_layout_model()
    found: list[_Table] = []
    leftovers: list[tuple[str, Box]] = []
    block_boxes = _block_boxes(text)
    for table in page.find_tables(clip=area, use_layout=layout_model).tables:
        grid = [[tuple(cell) if cell else None for cell in row.cells] for row in table.rows]
        held = {i for i, b in enumerate(block_boxes) if b and _inside(b, tuple(table.bbox))}
        covered = [block_boxes[i] for i in held]
        if len(grid) < 2 or not covered:
            continue
        cells: dict[tuple[int, int], list[str]] = defaultdict(list)
        outside: list[tuple[str, Box]] = []
        for line in _lines(page, enclosing([tuple(table.bbox), *covered])):
            if not line.chars or not any(_inside(enclosing([b for _, b in line.chars]), block) for block in covered):
                continue  # another block's line reaching into the clip: that block emits it
            pieces: dict[tuple[int, int] | None, list[tuple[str, Box]]] = defaultdict(list)
            for ch, box in line.chars:
                pieces[_cell_of(box, grid)].append((ch, box))
            for where, chars in pieces.items():
                content = _Line(chars).text()
                if not content:
                    continue
                if where is None:
                    outside.append((content, enclosing([b for _, b in chars])))
                else:
                    cells[where].append(content)
        values = {where: "\n".join(parts) for where, parts in cells.items()}
        (left, right), label_boxes, rest = _row_labels(outside, grid)
        keep = [c for c in range(len(grid[0])) if any(values.get((r, c)) for r in range(len(grid)))]
        if len(keep) + bool(left) + bool(right) < 2:
            continue
        if any(v.count("\n") >= MAX_CELL_LINES for v in values.values()):
            continue  # the line finder boxed whole paragraphs: the text blocks read better
        leftovers += rest
        rows = []
        table_cells = []
        for r, row in enumerate(grid):
            out_row = []
            for col, c in enumerate((["left"] if left else []) + keep + (["right"] if right else [])):
                if isinstance(c, str):
                    value, box = (left if c == "left" else right).get(r, ""), None
                else:
                    value, box = values.get((r, c), ""), row[c]
                out_row.append(value)
                table_cells.append(TableCell(row=r, col=col, content=value, bbox=BoundingBox.of(box) if box else None))
            rows.append(out_row)
        content = "\n".join(" | ".join(" ".join(v.split()) for v in row) for row in rows)
        found.append(_Table(enclosing([tuple(table.bbox), *label_boxes]), table_cells, content, held))
    return found, leftovers


def _row_labels(outside: list[tuple[str, Box]], grid: list[list[Box | None]]
                ) -> tuple[tuple[dict[int, str], dict[int, str]], list[Box], list[tuple[str, Box]]]:
    """Text beside the ruled grid on its rows (booktabs-style row names, a total column): the labels
    left and right of the grid by row, their boxes, and the rest as it is."""
    left = min(c[0] for row in grid for c in row if c)
    right = max(c[2] for row in grid for c in row if c)
    labels: tuple[dict[int, str], dict[int, str]] = ({}, {})
    boxes, rest = [], []
    for content, box in outside:
        cy = (box[1] + box[3]) / 2
        row = next((r for r, cells in enumerate(grid) for c in cells if c and c[1] <= cy <= c[3]), None)
        side = 0 if box[2] <= left + 1 else 1 if box[0] >= right - 1 else None
        if row is None or side is None:
            rest.append((content, box))
            continue
        labels[side][row] = f"{labels[side][row]} {content}" if row in labels[side] else content
        boxes.append(box)
    return labels, boxes, rest


def _block_boxes(text: dict[str, Any]) -> list[Box | None]:
    """Every block's box by its index (None for image blocks), the numbering core/tables.py uses."""
    return [tuple(b["bbox"]) if b.get("type") == 0 else None for b in text.get("blocks", ())]


def _unruled_element(table: unruled_tables.UnruledTable) -> dict[str, Any]:
    cells = [TableCell(row=r, col=c, content=seg.text, bbox=BoundingBox.of(seg.bbox))
             for r, row in enumerate(table.rows) for c, seg in enumerate(row)]
    content = "\n".join(" | ".join(seg.text for seg in row) for row in table.rows)
    return dict(type=ElementType.TABLE, content=content, cells=cells)



def _inside(box: Box, area: Box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return area[0] <= cx <= area[2] and area[1] <= cy <= area[3]


def extract_page(
    page: pymupdf.Page, analysis: PageAnalysis, find_tables: bool = True, table_model: bool = False
) -> list[DocumentElement]:
    """Typed elements of one direct page, in reading order."""
    n = page.number + 1
    area = ruled_table_area(page, analysis.text) if find_tables else None
    tables, leftovers = _tables(page, analysis.text, table_model, area) if area is not None else ([], [])
    drafts: list[tuple[Box, dict[str, Any]]] = []
    for table in tables:
        drafts.append((table.bbox, dict(type=ElementType.TABLE, content=table.content, cells=table.cells)))
    for content, bbox in leftovers:  # lines a table's blocks held outside its cells: text, never dropped
        drafts.append((bbox, dict(type=ElementType.TEXT, content=content)))
    block_boxes = _block_boxes(analysis.text)
    covered = [block_boxes[i] for i in set().union(*(t.blocks for t in tables))]
    held = {i for i, box in enumerate(block_boxes) if box and any(_inside(box, c) for c in covered)}
    unruled = unruled_tables.find(analysis.text, held) if find_tables else []
    for table in unruled:
        drafts.append((table.bbox, _unruled_element(table)))
    consumed = {key for table in unruled for key in table.consumed}
    for content, bbox, style, lines in _text_blocks(analysis.text, consumed):
        if any(_inside(bbox, c) for c in covered):
            continue
        kind, level = _classify(content, style, len(lines), analysis.fonts)
        drafts.append((bbox, dict(type=kind, content=content, style=style, level=level, lines=lines)))
    boxes = analysis.image_boxes if analysis.image_boxes is not None else []
    if analysis.image_boxes is None and page.get_images(full=False):
        boxes = image_boxes(page)
    page_rect = page.rect
    for box in boxes:
        clipped = pymupdf.Rect(box) & page_rect
        if clipped.width >= MIN_IMAGE_SIDE and clipped.height >= MIN_IMAGE_SIDE:
            drafts.append((tuple(clipped), dict(type=ElementType.IMAGE, content="")))
    order = reading_order([b for b, _ in drafts])
    return [
        DocumentElement(element_id=f"p{n}-e{rank}", bbox=BoundingBox.of(drafts[i][0]), reading_order=rank, **drafts[i][1])
        for rank, i in enumerate(order)
    ]
