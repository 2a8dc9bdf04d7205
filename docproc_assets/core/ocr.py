"""From an engine's raw output to UnifiedDocument elements: lines merged into blocks, boxes in points.

Engines see pixels; the document model speaks points. Lines that sit under one another, overlap
horizontally and are close are one block; blocks are then put in reading order by the same XY-cut the
direct track uses. Free text from vision-language models is split on its Markdown structure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from statistics import fmean

from PIL import Image

from docproc_assets.core import regions, tables
from docproc_assets.core.document import BoundingBox, DocumentElement, ElementType, TableCell, TextLine, table_text
from docproc_assets.core.engines.base import OcrEngine, OcrLine, OcrOutput
from docproc_assets.core.layout import CAPTION, Box, enclosing, reading_order
from docproc_assets.core.orientation import upright_with_script
from docproc_assets.core.routing import Line
from docproc_assets.core.scripts import ScriptGuess

log = logging.getLogger(__name__)

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LIST = re.compile(r"^\s*([-*•]|\d{1,3}[.)])\s+")
_BULLET_LINE = re.compile(r"^\s*(?:[•◦▪‣∙·●○■□➢►✓]\s*|[-–*]\s+|\(?\d{1,3}[.)]\s+)\S")  # OCR drops the space after a dot
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
FIGURE_TEXT_LINES = 5  # a figure region with at least this many lines, and half the page's, is text
LINE_POINTS = 12.0  # the line height (points) of the ~10 pt type layout.py's thresholds are set for


def _same_block(block: list[OcrLine], line: OcrLine) -> bool:
    """Does `line` continue the block: just below its last line, in the same column, the same size?"""
    last = block[-1]
    h_last, h_line = last.bbox[3] - last.bbox[1], line.bbox[3] - line.bbox[1]
    height = min(h_last, h_line)
    gap = line.bbox[1] - last.bbox[3]
    overlap = min(last.bbox[2], line.bbox[2]) - max(last.bbox[0], line.bbox[0])
    narrower = min(last.bbox[2] - last.bbox[0], line.bbox[2] - line.bbox[0])
    return (
        -0.5 * height <= gap <= 0.8 * height
        and overlap >= 0.5 * narrower  # a line in the next column, or a heading across both, is not a continuation
        and max(h_last, h_line) <= 1.5 * height  # a heading is not the paragraph under it
    )


def row_cells(lines: list[OcrLine]) -> set[int]:
    """Indices of lines on a row that a narrow line ends (regions.NARROW: a page number, a figure in a
    table's last column): a TOC entry and its page number, a table's cells. Not a paragraph's short
    last line (a long line above or below starts where it starts), nor a speck left of a column."""
    def narrow(i: int) -> bool:
        x0, y0, x1, y1 = lines[i].bbox
        return x1 - x0 < regions.NARROW * (y1 - y0)

    def in_paragraph(i: int) -> bool:
        x0, y0, _, y1 = lines[i].bbox
        return any(not narrow(j) and abs(lines[j].bbox[0] - x0) < y1 - y0
                   and min(abs(lines[j].bbox[1] - y1), abs(y0 - lines[j].bbox[3])) < 0.8 * (y1 - y0)
                   for j in range(len(lines)) if j != i)

    order = sorted(range(len(lines)), key=lambda i: lines[i].bbox[1])
    pairs: list[tuple[int, int]] = []  # (left, right) on one row
    for k, i in enumerate(order):
        a = lines[i].bbox
        for j in order[k + 1:]:
            b = lines[j].bbox
            if b[1] >= a[3]:
                break
            if min(a[3], b[3]) - max(a[1], b[1]) > 0.5 * min(a[3] - a[1], b[3] - b[1]) and (b[0] >= a[2] or b[2] <= a[0]):
                pairs.append((i, j) if a[0] < b[0] else (j, i))
    lefts = {left for left, _ in pairs}
    ends = {right for _, right in pairs if narrow(right) and right not in lefts and not in_paragraph(right)}
    return {i for left, right in pairs if left in ends or right in ends for i in (left, right)}


def merge_lines(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Group lines into blocks, top to bottom, each line joining the most recent block it continues.
    Two row cells (row_cells) are never stacked into one block: a table of contents would be read
    titles first and page numbers last, and no later ordering could rebuild its rows."""
    cells = row_cells(lines)
    blocks: list[list[int]] = []
    for i in sorted(range(len(lines)), key=lambda i: (lines[i].bbox[1], lines[i].bbox[0])):
        for block in reversed(blocks):
            if not (i in cells and block[-1] in cells) and _same_block([lines[j] for j in block], lines[i]):
                block.append(i)
                break
        else:
            blocks.append([i])
    return [[lines[j] for j in block] for block in blocks]


def unrotate(box: Box, degrees: int, upright_size: tuple[int, int]) -> Box:
    """A box in the upright image back in the image as it was given (turned `degrees` counter-clockwise)."""
    w, h = upright_size  # of the upright image
    x0, y0, x1, y1 = box
    if degrees == 90:  # upright (x, y) was (h - y, x) in the original
        return (h - y1, x0, h - y0, x1)
    if degrees == 180:
        return (w - x1, h - y1, w - x0, h - y0)
    if degrees == 270:
        return (y0, w - x1, y1, w - x0)
    return box


@dataclass
class _Draft:
    """One element before reading order: its box and lines in pixels of the upright image."""

    type: ElementType
    box: Box
    lines: list[OcrLine]
    content: str
    level: int | None = None
    cells: list[tuple[int, int, str, Box]] | None = None  # tables: (row, col, text, box)


def _region_drafts(region: regions.Region, lines: list[OcrLine], line_height: float, page_lines: int) -> list[_Draft]:
    """A layout region as elements: its lines read row by row (a TOC entry with its page number, a
    table row, stays whole). A text region whose every row starts with a bullet is one list item per
    row; one that starts `Figure 2` / `Table 1` is a caption. A "figure" holding most of the page's
    lines (a receipt photographed whole) is the page's text, not a picture."""
    kind = regions.KINDS.get(region.kind, ElementType.TEXT)
    if kind == ElementType.IMAGE and len(lines) >= max(FIGURE_TEXT_LINES, 0.5 * page_lines):
        kind = ElementType.TEXT
    rows = regions.rows(lines)
    if kind == ElementType.TEXT and rows:
        texts = [" ".join(ln.text.strip() for ln in row) for row in rows]
        if all(_BULLET_LINE.match(t) for t in texts):
            return [_Draft(ElementType.LIST_ITEM, enclosing([ln.bbox for ln in row]), row, t) for row, t in zip(rows, texts, strict=True)]
        if CAPTION.match(texts[0]) and sum(map(len, texts)) < 400:
            kind = ElementType.CAPTION
        elif found := unruled_tables(lines, line_height):
            return _text_around_tables(region, rows, found, line_height)
    return [_region_draft(kind, region, lines, rows, line_height)]


def unruled_tables(lines: list[OcrLine], line_height: float) -> list[list[list[OcrLine]]]:
    """Tables among lines no layout region calls one (the layout model misses some, more often at 150
    dpi), by the direct track's rule (core/tables.py): three or more rows whose gaps line up, with a
    column of figures; measured in units where a line is 12 high, whatever the resolution. A table of
    contents (two columns, the second page numbers that never fall) stays text. Rows of lines each."""
    scale = line_height / LINE_POINTS
    segments = [Line(0, i, tuple(v / scale for v in ln.bbox), ln.text.strip(), {}) for i, ln in enumerate(lines)]
    return [[[lines[seg.number] for seg in row] for row in table.rows]
            for table in tables.find(segments) if not _contents_list([[seg.text for seg in row] for row in table.rows])]


def _contents_list(rows: list[list[str]]) -> bool:
    pages = [row[-1] for row in rows]
    if len(rows[0]) != 2 or not all(p.isdigit() for p in pages):
        return False
    return all(int(a) <= int(b) for a, b in zip(pages, pages[1:], strict=False))


def _table_draft(rows: list[list[OcrLine]]) -> _Draft:
    ordered = [ln for row in rows for ln in row]
    return _Draft(ElementType.TABLE, enclosing([ln.bbox for ln in ordered]), ordered,
                  table_text([ln.text.strip() for ln in row] for row in rows),
                  cells=[(r, c, ln.text.strip(), ln.bbox) for r, row in enumerate(rows) for c, ln in enumerate(row)])


def _text_around_tables(region: regions.Region, rows: list[list[OcrLine]], found: list[list[list[OcrLine]]],
                        line_height: float) -> list[_Draft]:
    """A text region holding unruled tables: each table one element, the rows above, between and below
    them text elements of their own, top to bottom."""
    table_of = {id(ln): t for t, table in enumerate(found) for row in table for ln in row}
    drafts: list[_Draft] = []
    run: list[OcrLine] = []

    def flush() -> None:
        if run:
            drafts.append(_region_draft(ElementType.TEXT, region, list(run), regions.rows(run), line_height))
            run.clear()

    emitted: set[int] = set()
    for row in rows:
        for line in row:
            if (t := table_of.get(id(line))) is None:
                run.append(line)
            elif t not in emitted:
                flush()
                drafts.append(_table_draft(found[t]))
                emitted.add(t)
    flush()
    return drafts


def _region_draft(kind: ElementType, region: regions.Region, lines: list[OcrLine], rows: list[list[OcrLine]],
                  line_height: float) -> _Draft:
    """One region as one element; a table gets cells, a title a level from its size."""
    box = region.box if kind == ElementType.IMAGE or not lines else enclosing([ln.bbox for ln in lines])
    ordered = [ln for row in rows for ln in row]
    content = "\n".join(" ".join(ln.text.strip() for ln in row) for row in rows)
    if kind == ElementType.TABLE and rows:
        spans = regions.columns(rows)
        cells: dict[tuple[int, int], list[OcrLine]] = {}
        for r, row in enumerate(rows):
            for ln in row:
                cells.setdefault((r, regions.column_of(ln, spans)), []).append(ln)
        grid = [[" ".join(ln.text.strip() for ln in cells.get((r, c), [])) for c in range(len(spans))] for r in range(len(rows))]
        return _Draft(kind, box, ordered, table_text(grid),
                      cells=[(r, c, " ".join(ln.text.strip() for ln in found), enclosing([ln.bbox for ln in found]))
                             for (r, c), found in sorted(cells.items())])
    level = None
    if kind == ElementType.HEADING:
        ratio = max(ln.bbox[3] - ln.bbox[1] for ln in lines) / line_height
        level = 1 if ratio >= 1.8 else 2 if ratio >= 1.3 else 3
    return _Draft(kind, box, ordered, content, level=level)


def _order_with_figures(drafts: list[_Draft], scale: float) -> list[int]:
    """Reading order of the text flow, then the figures (with any text inside them) as floats, top to
    bottom: a picture between two columns would otherwise hide the gutter and interleave the columns,
    and its caption would cut a column's sentence in two."""
    flow = [i for i, d in enumerate(drafts) if d.type != ElementType.IMAGE]
    floats = sorted((i for i, d in enumerate(drafts) if d.type == ElementType.IMAGE), key=lambda i: drafts[i].box[1])
    return [flow[k] for k in reading_order([drafts[i].box for i in flow], scale)] + floats


def line_elements(
    lines: list[OcrLine], pixels_per_point: float, page_number: int, rotation: int = 0, upright_size: tuple[int, int] = (0, 0),
    page_regions: list[regions.Region] | None = None,
) -> list[DocumentElement]:
    """Elements in reading order (decided upright), with boxes in points of the page as it lies: one per
    layout region that holds text (typed by the region, read row by row), and blocks of the lines no
    region holds (or of every line, without a layout stage)."""
    lines = [ln for ln in lines if ln.text.strip()]
    heights = sorted(ln.bbox[3] - ln.bbox[1] for ln in lines)
    line_height = heights[len(heights) // 2] if heights else LINE_POINTS * pixels_per_point
    held, loose = regions.assign(lines, page_regions or [], margin=line_height / 2)
    drafts = [d for region, members in held for d in _region_drafts(region, members, line_height, len(lines))]
    loose_tables = unruled_tables(loose, line_height)
    drafts += [_table_draft(table) for table in loose_tables]
    tabled = {id(ln) for table in loose_tables for row in table for ln in row}
    for block in merge_lines([ln for ln in loose if id(ln) not in tabled]):
        drafts.append(_Draft(ElementType.TEXT, enclosing([ln.bbox for ln in block]), block, "\n".join(ln.text.strip() for ln in block)))
    order = _order_with_figures(drafts, line_height / LINE_POINTS)

    def to_points(box: Box) -> BoundingBox:
        return BoundingBox.of(tuple(v / pixels_per_point for v in unrotate(box, rotation, upright_size)))

    elements = []
    for rank, i in enumerate(order):
        d = drafts[i]
        elements.append(DocumentElement(
            element_id=f"p{page_number}-e{rank}", type=d.type, content=d.content, bbox=to_points(d.box),
            confidence=round(fmean(ln.confidence for ln in d.lines), 4) if d.lines else 1.0, reading_order=rank, level=d.level,
            lines=[TextLine(content=ln.text.strip(), bbox=to_points(ln.bbox), confidence=round(ln.confidence, 4)) for ln in d.lines],
            cells=[TableCell(row=r, col=c, content=text, bbox=to_points(box)) for r, c, text, box in d.cells] if d.cells is not None else None,
        ))
    return elements


def _table(rows: list[str], element_id: str, rank: int) -> DocumentElement:
    grid = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows if not _TABLE_RULE.match(r.strip())]
    cells = [TableCell(row=r, col=c, content=v) for r, row in enumerate(grid) for c, v in enumerate(row)]
    return DocumentElement(element_id=element_id, type=ElementType.TABLE, content=table_text(grid), cells=cells, reading_order=rank)


def text_elements(text: str, page_number: int, confidence: float = 1.0) -> list[DocumentElement]:
    """Markdown or plain text (VLM output) as elements: headings, list items, pipe tables, paragraphs."""
    elements: list[DocumentElement] = []
    paragraph: list[str] = []
    table: list[str] = []

    def new_id() -> tuple[str, int]:
        return f"p{page_number}-e{len(elements)}", len(elements)

    def flush() -> None:
        if paragraph:
            eid, rank = new_id()
            elements.append(DocumentElement(element_id=eid, type=ElementType.TEXT, content="\n".join(paragraph), confidence=confidence, reading_order=rank))
            paragraph.clear()
        if table:
            eid, rank = new_id()
            elements.append(_table(table, eid, rank))
            table.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("|"):
            if paragraph:
                flush()
            table.append(line)
            continue
        if table:
            flush()
        if not line.strip():
            flush()
            continue
        heading, item = _HEADING.match(line), _LIST.match(line)
        if heading or item:
            flush()
            eid, rank = new_id()
            kind = ElementType.HEADING if heading else ElementType.LIST_ITEM
            content = heading.group(2) if heading else line.strip()
            elements.append(DocumentElement(
                element_id=eid, type=kind, content=content, confidence=confidence, reading_order=rank,
                level=len(heading.group(1)) if heading else None,
            ))
            continue
        paragraph.append(line.strip())
    flush()
    return elements


def output_elements(
    output: OcrOutput, pixels_per_point: float, page_number: int, rotation: int = 0, upright_size: tuple[int, int] = (0, 0),
    page_regions: list[regions.Region] | None = None,
) -> list[DocumentElement]:
    if output.lines:
        return line_elements(output.lines, pixels_per_point, page_number, rotation, upright_size, page_regions)
    return text_elements(output.text or "", page_number)


OcrRequest = tuple[Image.Image, float, int]  # (page image, pixels per point, page number)


@dataclass
class OcrResult:
    """One page read: its elements, the engine's name, and for generative engines the tokens spent."""

    elements: list[DocumentElement]
    engine: str
    token_count: int | None = None
    truncated: bool = False
    engine_version: str | None = None  # the ModelConfig version (settings and overrides) that read the page
    script: ScriptGuess | None = None  # the page's script, from the image (OSD), when the reader looked
    vote: str | None = None  # OcrOutput.vote


OcrPageFn = Callable[[Image.Image, float, int], OcrResult]


def layout_regions(image: Image.Image) -> list[regions.Region] | None:
    """The page's layout regions, or None (reading order from the lines alone) when the layout stage
    cannot run here or fails on this page: the page is still read, never lost to its layout."""
    if (why := regions.unavailable()) is not None:
        _warn_once(f"layout stage off: {why}")
        return None
    try:
        return regions.page_regions(image)
    except Exception as exc:  # noqa: BLE001 - a model failure on one page image
        log.warning("layout stage failed on a page (%s: %s); its lines are ordered without regions", type(exc).__name__, exc)
        return None


@cache
def _warn_once(message: str) -> None:
    log.warning(message)


class PageReader:
    """Reads OCR pages through one engine, a batch at a time. Each page is turned upright first
    (core/orientation.py, for every engine alike unless its `auto_rotate` option is off); boxes are
    mapped back to the page as it lies. The engine is made by `load` at the first batch."""

    def __init__(self, load: Callable[[], OcrEngine], batch_size: int = 1):
        self._load = load
        self._engine: OcrEngine | None = None
        self.batch_size = max(1, batch_size)

    @staticmethod
    def of(fn: OcrPageFn) -> PageReader:
        """A reader around a per-page function (tests, custom hooks): batches of one."""
        return _FunctionReader(fn)

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            self._engine = self._load()
        return self._engine

    def read(self, requests: list[OcrRequest]) -> list[OcrResult]:
        engine = self.engine
        turned = [upright_with_script(image) if engine.config.options.get("auto_rotate", True) else (image, 0, None)
                  for image, _, _ in requests]
        for (image, _, _), (_, ppp, _) in zip(turned, requests, strict=True):
            image.info["dpi"] = (72 * ppp, 72 * ppp)  # the engines that size type by it (Tesseract) read it here
        outputs = engine.recognize_pages([image for image, _, _ in turned], [script for _, _, script in turned])
        layout = bool(engine.config.options.get("layout"))
        return [
            OcrResult(output_elements(output, ppp, number, rotation, image.size, layout_regions(image) if layout and output.lines else None),
                      output.engine or engine.name, output.token_count, output.truncated, output.engine_version or engine.config.version,
                      script, output.vote)
            for output, (image, rotation, script), (_, ppp, number) in zip(outputs, turned, requests, strict=True)
        ]


class _FunctionReader(PageReader):
    def __init__(self, fn: OcrPageFn):
        super().__init__(lambda: None)
        self._fn = fn

    def read(self, requests: list[OcrRequest]) -> list[OcrResult]:
        return [self._fn(*request) for request in requests]


def page_ocr(engine: OcrEngine) -> OcrPageFn:
    """One page through a loaded engine (the PageReader path, batch of one)."""
    reader = PageReader(lambda: engine)

    def run(image: Image.Image, pixels_per_point: float, page_number: int) -> OcrResult:
        return reader.read([(image, pixels_per_point, page_number)])[0]

    return run
