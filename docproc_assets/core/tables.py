"""Unruled tables: columns found from the gaps that consecutive lines share, no drawn grid needed.

A statistical table or a list of donors with aligned columns is set as lines side by side: each row a
band of separate MuPDF lines (one per cell) whose gaps line up with the rows around it. A table is
three or more such rows with the same number of cells, every gap overlapping its column's gap in the
rows before, and at least one column that is mostly numbers (prose in two columns has aligned gaps
too, but no column of figures). Cells keep the text MuPDF read for each line, so nothing is reordered.
Works on the routing pass's lines (routing.Line): no second walk over the page's spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docproc_assets.core.layout import Box, enclosing
from docproc_assets.core.routing import Line

MIN_ROWS = 3
MIN_GAP = 6.0  # points between two cells of a row
NUMERIC_SHARE = 0.6  # a column of figures: this share of its cells are numbers
_FIGURE = re.compile(r"[(\[]?[-+−–]?[$€£¥]?\s?\d[\d.,\s']*%?[)\]]?|[-–—]|n/?a", re.I)


@dataclass
class UnruledTable:
    bbox: Box
    rows: list[list[Line]]

    @property
    def consumed(self) -> set[tuple[int, int]]:
        return {(s.block, s.number) for row in self.rows for s in row}


def _rows(found: list[Line]) -> list[list[Line]]:
    """Bands of segments that share a line of text (vertical overlap over half the smaller height)."""
    rows: list[list[Line]] = []
    top = bottom = 0.0  # the last band's extent
    for seg in sorted(found, key=lambda s: ((s.bbox[1] + s.bbox[3]) / 2, s.bbox[0])):
        y0, y1 = seg.bbox[1], seg.bbox[3]
        if rows and min(bottom, y1) - max(top, y0) > 0.5 * min(bottom - top, y1 - y0):
            rows[-1].append(seg)
            top, bottom = min(top, y0), max(bottom, y1)
            continue
        rows.append([seg])
        top, bottom = y0, y1
    return [sorted(row, key=lambda s: s.bbox[0]) for row in rows]


def _gaps(row: list[Line]) -> list[tuple[float, float]] | None:
    gaps = [(a.bbox[2], b.bbox[0]) for a, b in zip(row, row[1:], strict=False)]
    return gaps if gaps and all(right - left >= MIN_GAP for left, right in gaps) else None


def _figures(rows: list[list[Line]]) -> bool:
    columns = zip(*(row for row in rows), strict=True)
    return any(sum(bool(_FIGURE.fullmatch(s.text)) for s in col) >= NUMERIC_SHARE * len(rows) for col in list(columns)[1:])


def find(lines: list[Line], skip_blocks: set[int] = frozenset()) -> list[UnruledTable]:
    """Unruled tables of a page's lines (blocks in `skip_blocks` belong to ruled tables already)."""
    rows = _rows([line for line in lines if line.block not in skip_blocks])
    tables: list[UnruledTable] = []
    run: list[list[Line]] = []
    shared: list[tuple[float, float]] = []

    def close() -> None:
        if len(run) >= MIN_ROWS and _figures(run):
            tables.append(UnruledTable(enclosing([s.bbox for row in run for s in row]), list(run)))

    for row in rows:
        gaps = _gaps(row)
        fits = False
        if gaps and run and len(row) == len(run[-1]):
            height = max(s.bbox[3] for s in run[-1]) - min(s.bbox[1] for s in run[-1])
            near = min(s.bbox[1] for s in row) - max(s.bbox[3] for s in run[-1]) <= 2.5 * height
            merged = [(max(a, c), min(b, d)) for (a, b), (c, d) in zip(shared, gaps, strict=True)]
            fits = near and all(right > left for left, right in merged)
        if fits:
            run.append(row)
            shared = merged
            continue
        close()
        run, shared = ([row], gaps) if gaps else ([], [])
    close()
    return tables
