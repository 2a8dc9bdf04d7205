"""From an engine's raw output to UnifiedDocument elements: lines merged into blocks, boxes in points.

Engines see pixels; the document model speaks points. Lines that sit under one another, overlap
horizontally and are close are one block; blocks are then put in reading order by the same XY-cut the
direct track uses. Free text from vision-language models is split on its Markdown structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from statistics import fmean

from PIL import Image

from docproc_assets.core.document import BoundingBox, DocumentElement, ElementType, TableCell, TextLine
from docproc_assets.core.engines.base import OcrEngine, OcrLine, OcrOutput
from docproc_assets.core.layout import Box, enclosing, reading_order
from docproc_assets.core.orientation import upright

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LIST = re.compile(r"^\s*([-*•]|\d{1,3}[.)])\s+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")


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


def merge_lines(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Group lines into blocks, top to bottom, each line joining the most recent block it continues."""
    blocks: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.bbox[1], ln.bbox[0])):
        for block in reversed(blocks):
            if _same_block(block, line):
                block.append(line)
                break
        else:
            blocks.append([line])
    return blocks


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


def line_elements(
    lines: list[OcrLine], pixels_per_point: float, page_number: int, rotation: int = 0, upright_size: tuple[int, int] = (0, 0)
) -> list[DocumentElement]:
    """Blocks in reading order (decided upright), with boxes in points of the page as it lies."""
    lines = [ln for ln in lines if ln.text.strip()]
    blocks = merge_lines(lines)
    upright_boxes = [enclosing([ln.bbox for ln in b]) for b in blocks]
    order = reading_order(upright_boxes)

    def to_points(box: Box) -> Box:
        return tuple(v / pixels_per_point for v in unrotate(box, rotation, upright_size))

    boxes = [to_points(b) for b in upright_boxes]
    return [
        DocumentElement(
            element_id=f"p{page_number}-e{rank}",
            type=ElementType.TEXT,
            content="\n".join(ln.text.strip() for ln in blocks[i]),
            bbox=BoundingBox.of(boxes[i]),
            confidence=round(fmean(ln.confidence for ln in blocks[i]), 4),
            reading_order=rank,
            lines=[
                TextLine(
                    content=ln.text.strip(),
                    bbox=BoundingBox.of(to_points(ln.bbox)),
                    confidence=round(ln.confidence, 4),
                )
                for ln in blocks[i]
            ],
        )
        for rank, i in enumerate(order)
    ]


def _table(rows: list[str], element_id: str, rank: int) -> DocumentElement:
    grid = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows if not _TABLE_RULE.match(r.strip())]
    cells = [TableCell(row=r, col=c, content=v) for r, row in enumerate(grid) for c, v in enumerate(row)]
    content = "\n".join(" | ".join(row) for row in grid)
    return DocumentElement(element_id=element_id, type=ElementType.TABLE, content=content, cells=cells, reading_order=rank)


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
    output: OcrOutput, pixels_per_point: float, page_number: int, rotation: int = 0, upright_size: tuple[int, int] = (0, 0)
) -> list[DocumentElement]:
    if output.lines:
        return line_elements(output.lines, pixels_per_point, page_number, rotation, upright_size)
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


OcrPageFn = Callable[[Image.Image, float, int], OcrResult]


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
        turned = [upright(image) if engine.config.options.get("auto_rotate", True) else (image, 0) for image, _, _ in requests]
        outputs = engine.recognize_batch([image for image, _ in turned])
        return [
            OcrResult(output_elements(output, ppp, number, rotation, image.size), engine.name, output.token_count, output.truncated,
                      engine.config.version)
            for output, (image, rotation), (_, ppp, number) in zip(outputs, turned, requests, strict=True)
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
