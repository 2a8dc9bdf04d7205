"""Reading order and page furniture, for any track: boxes in, order out.

Reading order is a recursive XY-cut: split at a column gutter when the region has one, else into
horizontal bands; adjacent bands that share a gutter are read as one two-column region, so paragraph
breaks that happen to line up across columns do not interleave the columns. A gutter between boxes
that sit on the same rows (a form, a receipt, a key/value list) is not a column break.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence

from docproc_assets.core.document import ElementType, Page

Box = tuple[float, float, float, float]

MIN_GUTTER = 6.0  # points
ROW_ALIGNED = 0.6  # share of boxes on the same rows as the other side: a form, not columns
ROW_HEIGHT = 24.0  # points: boxes taller than this are paragraphs, which columns hold and forms do not
MARGIN_ZONE = 0.09  # top and bottom share of the page where running headers and footers live

CAPTION = re.compile(r"^\s*(figure|fig\.|table|chart|exhibit|abbildung|tableau|tabelle)\s*[\dIVX]", re.I)  # either track
_PAGE_NUMBER = re.compile(r"^(page\s*)?[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?(\s*(of|/)\s*\d{1,4})?$", re.I)


def _gaps(intervals: list[tuple[float, float]], min_gap: float) -> list[tuple[float, float]]:
    """Empty stretches between the merged intervals, at least min_gap wide."""
    gaps, end = [], None
    for start, stop in sorted(intervals):
        if end is not None and start - end >= min_gap:
            gaps.append((end, start))
        end = stop if end is None else max(end, stop)
    return gaps


def _gutter(boxes: Sequence[Box], idx: list[int], scale: float) -> tuple[float, float] | None:
    gaps = _gaps([(boxes[i][0], boxes[i][2]) for i in idx], MIN_GUTTER * scale)
    for gap in sorted(gaps, key=lambda g: g[0] - g[1]):  # widest first
        mid = (gap[0] + gap[1]) / 2
        left = [boxes[i] for i in idx if boxes[i][2] <= mid]
        right = [boxes[i] for i in idx if boxes[i][0] >= mid]
        if not _stacked(left, right) and not _rows_aligned(left, right, scale):
            return gap
    return None


def _stacked(left: list[Box], right: list[Box]) -> bool:
    """Does one side lie wholly above the other (a page number in the top corner over the page's text)?
    Columns stand side by side; these are bands, read top to bottom."""
    if not left or not right:
        return False
    return max(b[3] for b in left) <= min(b[1] for b in right) or max(b[3] for b in right) <= min(b[1] for b in left)


def _rows_aligned(left: list[Box], right: list[Box], scale: float) -> bool:
    """Do the two sides sit on shared rows of short boxes, as labels and values of a form do?"""
    small, large = sorted((left, right), key=len)
    tall, near = ROW_HEIGHT * scale, 3 * scale
    tops = [b[1] for b in large if b[3] - b[1] <= tall]
    aligned = sum(1 for b in small if b[3] - b[1] <= tall and any(abs(b[1] - t) < near for t in tops))
    return aligned / len(small) > ROW_ALIGNED


def _bands(boxes: Sequence[Box], idx: list[int]) -> list[list[int]]:
    gaps = _gaps([(boxes[i][1], boxes[i][3]) for i in idx], 0.01)
    cuts = [(a + b) / 2 for a, b in gaps]
    bands: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in idx:
        centre = (boxes[i][1] + boxes[i][3]) / 2
        bands[bisect_left(cuts, centre)].append(i)  # cuts below the centre (they rise, as the gaps do)
    return [b for b in bands if b]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if hi > lo else None


def rows(boxes: Sequence[Box], idx: Iterable[int] | None = None, mutual: bool = False) -> list[list[int]]:
    """Indices of boxes in visual rows, top to bottom, each left to right: a box joins the row above it
    when its middle lies within the height of one of that row's boxes, however their tops differ (a
    page number beside its TOC entry). With `mutual`, that box's middle must lie within its height too:
    a paragraph beside a one-line box is no row with it."""
    def middle(i: int) -> float:
        return (boxes[i][1] + boxes[i][3]) / 2

    found: list[list[int]] = []
    for i in sorted(range(len(boxes)) if idx is None else idx, key=middle):
        if found and any(boxes[j][1] <= middle(i) <= boxes[j][3] and (not mutual or boxes[i][1] <= middle(j) <= boxes[i][3])
                         for j in found[-1]):
            found[-1].append(i)
        else:
            found.append([i])
    return [sorted(row, key=lambda i: boxes[i][0]) for row in found]


def _order(boxes: Sequence[Box], idx: list[int], scale: float) -> list[int]:
    if len(idx) <= 1:
        return idx
    gutter = _gutter(boxes, idx, scale)
    if gutter:
        mid = (gutter[0] + gutter[1]) / 2
        left = [i for i in idx if (boxes[i][0] + boxes[i][2]) / 2 < mid]
        right = [i for i in idx if (boxes[i][0] + boxes[i][2]) / 2 >= mid]
        return _order(boxes, left, scale) + _order(boxes, right, scale)
    merged: list[tuple[list[int], tuple[float, float] | None]] = []
    for band in _bands(boxes, idx):
        g = _gutter(boxes, band, scale) if len(band) > 1 else None
        if merged and g and merged[-1][1] and (shared := _overlap(g, merged[-1][1])):
            merged[-1] = (merged[-1][0] + band, shared)
        else:
            merged.append((band, g))
    if len(merged) == 1:
        return [i for row in rows(boxes, idx, mutual=True) for i in row]
    return [i for band, _ in merged for i in _order(boxes, band, scale)]


def enclosing(boxes: Sequence[Box]) -> Box:
    """The smallest box around all of `boxes`."""
    x0, y0, x1, y1 = zip(*boxes)  # one pass to transpose: a third cheaper than four generators
    return (min(x0), min(y0), max(x1), max(y1))


def reading_order(boxes: Sequence[Box], scale: float = 1.0) -> list[int]:
    """Indices of boxes (x0, y0, x1, y1; y down) in reading order: column by column, top to bottom.
    The thresholds are points of a page set in ~10 pt type; `scale` rescales them for boxes in other
    units (an OCR page in pixels passes its line height over 12 pt, so they follow the type's size)."""
    return _order(boxes, list(range(len(boxes))), scale)


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def mark_page_furniture(pages: list[Page]) -> None:
    """Retype running headers and footers: margin text repeated across pages, or a lone page number."""
    zone_elements = []
    for page in pages:
        height = page.dimensions.height
        for element in page.elements:
            if element.bbox is None or element.type in (ElementType.IMAGE, ElementType.TABLE) or not element.content:
                continue
            if element.bbox.y1 <= height * MARGIN_ZONE:
                zone_elements.append((page.page_number, element, ElementType.HEADER))
            elif element.bbox.y0 >= height * (1 - MARGIN_ZONE):
                zone_elements.append((page.page_number, element, ElementType.FOOTER))
    pages_with = Counter()
    for key in {(n, kind, _furniture_key(e.content)) for n, e, kind in zone_elements}:
        pages_with[key[1:]] += 1
    repeated = max(2, round(0.4 * len(pages)))
    for _n, element, kind in zone_elements:
        text = " ".join(element.content.split())
        if pages_with[(kind, _furniture_key(text))] >= repeated or _PAGE_NUMBER.match(text):
            element.type = kind
            element.level = None
