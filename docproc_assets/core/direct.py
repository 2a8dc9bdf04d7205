"""Direct extraction with PyMuPDF: the page's own text layer as typed elements.

Works from the text pass that routing already made (PageAnalysis.text and .lines). Ruled tables are
the grids the page's strokes draw (core/grid.py), read only on pages with lines side by side; unruled
ones come from aligned gaps (core/tables.py). Cells hold the page's own characters.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

import pymupdf

from docproc_assets.core.document import (
    BoundingBox,
    DocumentElement,
    ElementType,
    StyleInfo,
    TableCell,
    rounded,
    table_text,
)
from docproc_assets.core import enable_layout_model, grid
from docproc_assets.core import tables as unruled_tables
from docproc_assets.core.fidelity import is_visible, normalise
from docproc_assets.core.grid import Grid
from docproc_assets.core.layout import CAPTION, Box, enclosing, reading_order
from docproc_assets.core.routing import FontProfile, Line, PageAnalysis, bold, image_boxes

_BULLET = re.compile(r"^\s*([•◦▪‣∙·●○■□➢►✓–\-*]|\(?\d{1,3}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])\s+\S")
_ITALIC_FONT = re.compile(r"italic|oblique", re.I)
RARE_SHARE = 0.2  # a size (or bold) used by more of the page's characters than this is body text
MAX_CELL_LINES = 3  # a ruled box holding more lines than this is a frame around text, not a table cell
MIN_IMAGE_SIDE = 8.0  # points: smaller images are decoration


def _style(span: dict[str, Any]) -> StyleInfo:
    return _style_of(span["font"], span["size"], span["flags"], span["color"])


@lru_cache(maxsize=4096)
def _style_of(font: str, size: float, flags: int, color: int) -> StyleInfo:
    """One StyleInfo per distinct run style: a page sets hundreds of lines in a handful of styles."""
    return StyleInfo(
        font=font,
        size=round(size, 2),
        bold=bold(flags, font),
        italic=bool(flags & pymupdf.TEXT_FONT_ITALIC) or bool(_ITALIC_FONT.search(font)),
        color=f"#{color:06x}",
    )


def _classify(content: str, style: StyleInfo, n_lines: int, fonts: FontProfile) -> tuple[ElementType, int | None]:
    """Headings stand out: set larger than the body in a size few characters use (or much larger), or
    short and bold on a page where bold is rare. Forms that set every label large or bold get none."""
    size = style.size or fonts.body_size
    ratio = size / fonts.body_size
    short = len(content) < 200 and n_lines <= 3
    if short and ratio >= 1.15 and (fonts.share(size) <= RARE_SHARE or ratio >= 1.4):
        return ElementType.HEADING, 1 if ratio >= 1.8 else 2 if ratio >= 1.4 else 3
    if CAPTION.match(content) and len(content) < 400:
        return ElementType.CAPTION, None
    if _BULLET.match(content):
        return ElementType.LIST_ITEM, None
    if (style.bold and fonts.bold_share <= RARE_SHARE and n_lines <= 2 and len(content) < 120
            and not content.rstrip().endswith((".", ",", ";"))):
        return ElementType.HEADING, 4
    return ElementType.TEXT, None


def _text_blocks(lines: list[Line], skip: set[tuple[int, int]] = frozenset()) -> list[tuple[str, Box, StyleInfo, list[dict]]]:
    """(content, bbox, dominant style, lines) per block of like lines, each line a TextLine's fields
    (validated with its element, in one call); lines in `skip` (block, line) belong to an unruled table.

    MuPDF's blocks can hold a heading and the paragraph under it, or a whole bullet list: a block is
    split where the size or weight of the lines changes, and before each bullet line.
    """
    out = []
    kept = (ln for ln in lines if (ln.block, ln.number) not in skip) if skip else lines
    for _, in_block in groupby(kept, key=attrgetter("block")):
        groups: list[list[tuple[Line, StyleInfo]]] = [[]]
        previous = None
        for line in in_block:
            style = _style(line.main)
            signature = round(line.main["size"]), style.bold
            if groups[-1] and (signature != previous or (_BULLET.match(line.text) and _BULLET.match(groups[-1][0][0].text))):
                groups.append([])
            groups[-1].append((line, style))
            previous = signature
        for group in filter(None, groups):
            text_lines = [{"content": ln.text, "bbox": rounded(ln.bbox), "style": style} for ln, style in group]
            dominant = max(group, key=lambda pair: len(pair[0].text))[1]
            bbox = enclosing([ln.bbox for ln, _ in group])
            out.append(("\n".join(ln.text for ln, _ in group), bbox, dominant, text_lines))
    return out


def _rows_side_by_side(lines: list[Line], enough: int) -> int:
    """How many rows of the page hold lines side by side, counted up to `enough`. A table has such rows
    (a ruled one two, an unruled one three), a page of prose none: its tables are looked for only then."""
    boxes = sorted((ln.bbox for ln in lines), key=itemgetter(1))
    rows: set[int] = set()
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        for a0, b0, a1, _ in boxes[i + 1:]:
            if b0 >= y1:
                break
            if a0 >= x1 or a1 <= x0:
                rows.add(round(y0))
                if len(rows) >= enough:
                    return enough
                break
    return len(rows)


def _ruled_grids(page: pymupdf.Page, lines: list[Line]) -> list[Grid]:
    """The page's ruled grids that hold a table: at least two rows with text in two or more cells of a
    few lines each (a ruled frame or a box around paragraphs is not a table). Callers check first that
    two rows hold lines side by side: the strokes are a second pass over the page."""
    if not grid.may_draw_rules(page):
        return []
    horizontal, vertical = grid.strokes(page)
    if len(horizontal) < 3 or len(vertical) < 3:
        return []
    found = []
    for candidate in grid.grids(horizontal, vertical):
        lines_in_cell = Counter(where for ln in lines
                                if (where := candidate.cell_at((ln.bbox[0] + ln.bbox[2]) / 2, (ln.bbox[1] + ln.bbox[3]) / 2)))
        if max(lines_in_cell.values(), default=0) > MAX_CELL_LINES:
            continue  # a cell holds paragraphs: a frame around text (rejected here, before its characters are read)
        rows = Counter(r for (r, _), n in lines_in_cell.items())
        if sum(n >= 2 for n in rows.values()) >= 2:
            found.append(candidate)
    return found


def _finder_grids(page: pymupdf.Page, area: Box) -> list[Grid]:
    """The opt-in route: PyMuPDF's table finder with its layout model, for the grids only (never cell text)."""
    enable_layout_model()
    return [Grid.of_cells([[tuple(c) if c else None for c in row.cells] for row in table.rows])
            for table in page.find_tables(clip=pymupdf.Rect(area), use_layout=True).tables if table.rows]


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


def _tables(page: pymupdf.Page, text: dict[str, Any], grids: list[Grid]) -> tuple[list[_Table], list[tuple[str, Box]]]:
    """Ruled tables on the given grids, their cells filled with the page's own characters, never with a
    finder's cell text (which reorders a number set on two baselines: `21.0` became `210 .`). Every
    character of the text blocks a table covers ends up once: in a cell, in a column added for row
    labels left or right of the ruled grid, or in the leftover lines returned with the tables (kept as
    text)."""
    found: list[_Table] = []
    leftovers: list[tuple[str, Box]] = []
    block_boxes = _block_boxes(text)
    for table_grid in grids:
        bbox = table_grid.bbox
        held = {i for i, b in enumerate(block_boxes) if b and _inside(b, bbox)}
        covered = [block_boxes[i] for i in held]
        if not covered:
            continue
        cells: dict[tuple[int, int], list[str]] = defaultdict(list)
        outside: list[tuple[str, Box]] = []
        for line in _lines(page, enclosing([bbox, *covered])):
            if not line.chars or not any(_inside(enclosing([b for _, b in line.chars]), block) for block in covered):
                continue  # another block's line reaching into the clip: that block emits it
            pieces: dict[tuple[int, int] | None, list[tuple[str, Box]]] = defaultdict(list)
            for ch, box in line.chars:
                pieces[table_grid.cell_at((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)].append((ch, box))
            for where, chars in pieces.items():
                content = _Line(chars).text()
                if not content:
                    continue
                if where is None:
                    outside.append((content, enclosing([b for _, b in chars])))
                else:
                    cells[where].append(content)
        values = {where: "\n".join(parts) for where, parts in cells.items()}
        (left, right), label_boxes, rest = _row_labels(outside, table_grid)
        grid_rows = table_grid.rows
        keep = [c for c in range(len(grid_rows[0])) if any(values.get((r, c)) for r in range(len(grid_rows)))]
        if len(keep) + bool(left) + bool(right) < 2:
            continue
        if any(v.count("\n") >= MAX_CELL_LINES for v in values.values()):
            continue  # the grid boxes whole paragraphs: the text blocks read better (_ruled_grids checks its own grids by
            # routing line before this read; the finder's grids, and a line split over cells, meet it here)
        leftovers += rest
        rows = []
        table_cells = []
        columns = (["left"] if left else []) + keep + (["right"] if right else [])
        for r, row in enumerate(grid_rows):
            out_row, covered = [], set()
            for col, c in enumerate(columns):
                span = 1
                if isinstance(c, str):
                    value, box = (left if c == "left" else right).get(r, ""), None
                elif c in covered:  # under a merged cell to its left: one cell, emitted once
                    out_row.append("")
                    continue
                else:
                    value, box = values.get((r, c), ""), row[c]
                    if box:
                        merged = table_grid.columns_of(r, c)
                        covered.update(merged)
                        span = sum(k in merged for k in keep)
                out_row.append(value)
                table_cells.append(TableCell(row=r, col=col, content=value, bbox=BoundingBox.of(box) if box else None,
                                             col_span=span))
            rows.append(out_row)
        content = table_text([" ".join(v.split()) for v in row] for row in rows)
        found.append(_Table(enclosing([bbox, *label_boxes]), table_cells, content, held))
    return found, leftovers


def _row_labels(outside: list[tuple[str, Box]], table_grid: Grid
                ) -> tuple[tuple[dict[int, str], dict[int, str]], list[Box], list[tuple[str, Box]]]:
    """Text beside the ruled grid on its rows (booktabs-style row names, a total column): the labels
    left and right of the grid by row, their boxes, and the rest as it is."""
    left, _, right, _ = table_grid.bbox
    labels: tuple[dict[int, str], dict[int, str]] = ({}, {})
    boxes, rest = [], []
    for content, box in outside:
        row = table_grid.row_at((box[1] + box[3]) / 2)
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
    return dict(type=ElementType.TABLE, content=table_text([seg.text for seg in row] for row in table.rows), cells=cells)


def _inside(box: Box, area: Box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return area[0] <= cx <= area[2] and area[1] <= cy <= area[3]


def extract_page(
    page: pymupdf.Page, analysis: PageAnalysis, find_tables: bool = True, table_model: bool = False
) -> list[DocumentElement]:
    """Typed elements of one direct page, in reading order."""
    n = page.number + 1
    beside = _rows_side_by_side(analysis.lines, unruled_tables.MIN_ROWS) if find_tables else 0
    grids = _ruled_grids(page, analysis.lines) if beside >= 2 else []
    if grids and table_model:
        grids = _finder_grids(page, enclosing([g.bbox for g in grids]))
    tables, leftovers = _tables(page, analysis.text, grids)
    drafts: list[tuple[Box, dict[str, Any]]] = []
    for table in tables:
        drafts.append((table.bbox, dict(type=ElementType.TABLE, content=table.content, cells=table.cells)))
    for content, bbox in leftovers:  # lines a table's blocks held outside its cells: text, never dropped
        drafts.append((bbox, dict(type=ElementType.TEXT, content=content)))
    block_boxes = _block_boxes(analysis.text)
    covered = [block_boxes[i] for i in set().union(*(t.blocks for t in tables))]
    held = {i for i, box in enumerate(block_boxes) if box and any(_inside(box, c) for c in covered)}
    unruled = unruled_tables.find(analysis.lines, held) if beside >= unruled_tables.MIN_ROWS else []
    for table in unruled:
        drafts.append((table.bbox, _unruled_element(table)))
    consumed = {key for table in unruled for key in table.consumed}
    for content, bbox, style, lines in _text_blocks(analysis.lines, consumed):
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
    validate = DocumentElement.__pydantic_validator__.validate_python  # one call per element, its box inside it
    return [validate({"element_id": f"p{n}-e{rank}", "bbox": rounded(drafts[i][0]), "reading_order": rank, **drafts[i][1]})
            for rank, i in enumerate(order)]
