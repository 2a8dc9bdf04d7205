"""Ruled tables' cell grids, from the strokes the page draws: no table finder, no second text pass.

Strokes (lines, thin rectangles, rectangle edges) are joined where they continue one another
(spreadsheets draw every cell border apart), then grouped into the sets that touch: a table's rules
cross each other, a frame around the page touches no table inside it. A set's row and column rules
are its strokes' positions; a cell is the space between two column rules that both cross the middle of
its row, so a merged cell stays one cell. A row no two column rules cross ends the grid.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import pymupdf

from docproc_assets.core.layout import Box, enclosing

TOLERANCE = 2.0  # points: strokes this close are one rule, and a rule this close to another touches it
THIN = 2.0  # points: a filled rectangle thinner than this is a rule, not a box

Stroke = tuple[float, float, float]  # position across, start and end along


@dataclass
class Grid:
    """Row rules (top to bottom), column rules (left to right) and, row by row, the box of the cell that
    starts in each column (None where a merged cell from the left covers it)."""

    ys: list[float]
    xs: list[float]
    rows: list[list[Box | None]]

    @property
    def bbox(self) -> Box:
        return enclosing([cell for row in self.rows for cell in row if cell])

    def row_at(self, y: float) -> int | None:
        if not self.rows or not self.ys[0] <= y <= self.ys[-1]:
            return None
        return min(bisect_right(self.ys, y) - 1, len(self.rows) - 1)

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, column) of the cell holding the point, None outside every cell."""
        r = self.row_at(y)
        if r is None:
            return None
        row = self.rows[r]
        for c in range(min(bisect_right(self.xs, x) - 1, len(row) - 1), -1, -1):
            if row[c] is not None:
                return (r, c) if row[c][0] <= x <= row[c][2] else None
        return None

    def columns_of(self, r: int, c: int) -> range:
        """The grid columns the cell starting at (r, c) covers (more than one for a merged cell)."""
        box = self.rows[r][c]
        end = c + 1
        while end < len(self.rows[r]) and self.rows[r][end] is None and box and self.xs[end] < box[2] - TOLERANCE:
            end += 1
        return range(c, end)

    @classmethod
    def of_cells(cls, rows: list[list[Box | None]]) -> Grid:
        """A grid from a finder's rows of cells (PyMuPDF's find_tables, the opt-in layout model)."""
        cells = [cell for row in rows for cell in row if cell]
        columns = len(rows[0]) if rows else 0
        xs = [min((row[c][0] for row in rows if row[c]), default=0.0) for c in range(columns)]
        ys = [min((c[1] for c in row if c), default=0.0) for row in rows]
        return cls(ys + [max(c[3] for c in cells)], xs + [max(c[2] for c in cells)], rows)


# a line or rectangle painted, or a form XObject called (which may paint one): operators as PDF lexes them
_PATH_OPERATOR = re.compile(rb"\s(?:re|l|Do)(?=[\s/\[\]()<>{}%]|$)")


def may_draw_rules(page: pymupdf.Page) -> bool:
    """False only when the page's content stream cannot draw a straight stroke: no `l` or `re`
    operator, no form XObject. Scanning the stream costs ~0.04 ms; reading its drawings ~0.4 ms."""
    if not page.parent.is_pdf:
        return True
    return bool(_PATH_OPERATOR.search(page.read_contents()))


def strokes(page: pymupdf.Page) -> tuple[list[Stroke], list[Stroke]]:
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
                if y1 - y0 < THIN:
                    horizontal.append(((y0 + y1) / 2, x0, x1))
                elif x1 - x0 < THIN:
                    vertical.append(((x0 + x1) / 2, y0, y1))
                else:
                    horizontal += [(y0, x0, x1), (y1, x0, x1)]
                    vertical += [(x0, y0, y1), (x1, y0, y1)]
    return horizontal, vertical


def _clusters(values: Iterable[float]) -> list[list[float]]:
    groups: list[list[float]] = []
    for v in sorted(values):
        if groups and v - groups[-1][-1] <= TOLERANCE:
            groups[-1].append(v)
        else:
            groups.append([v])
    return groups


def _joined(found: list[Stroke]) -> list[Stroke]:
    """Strokes on one line (within TOLERANCE) that touch or overlap, as one stroke at their mean position."""
    by_position: dict[float, list[Stroke]] = defaultdict(list)
    snap = {v: sum(group) / len(group) for group in _clusters(s[0] for s in found) for v in group}
    for s in found:
        by_position[snap[s[0]]].append(s)
    out = []
    for position, group in by_position.items():
        spans = sorted((a, b) for _, a, b in group)
        start, end = spans[0]
        for a, b in spans[1:]:
            if a > end + TOLERANCE:
                out.append((position, start, end))
                start = a
            end = max(end, b)
        out.append((position, start, end))
    return out


def _touching(horizontal: list[Stroke], vertical: list[Stroke]) -> list[tuple[list[Stroke], list[Stroke]]]:
    """The sets of strokes that touch one another (union-find over crossings)."""
    parent = list(range(len(horizontal) + len(vertical)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (y, x0, x1) in enumerate(horizontal):
        for j, (x, y0, y1) in enumerate(vertical, len(horizontal)):
            if x0 - TOLERANCE <= x <= x1 + TOLERANCE and y0 - TOLERANCE <= y <= y1 + TOLERANCE:
                parent[root(i)] = root(j)
    sets: dict[int, tuple[list[Stroke], list[Stroke]]] = defaultdict(lambda: ([], []))
    for i, s in enumerate(horizontal):
        sets[root(i)][0].append(s)
    for j, s in enumerate(vertical, len(horizontal)):
        sets[root(j)][1].append(s)
    return list(sets.values())


def _grids_of(horizontal: list[Stroke], vertical: list[Stroke]) -> list[Grid]:
    xs = sorted({x for x, _, _ in vertical})
    column = {x: i for i, x in enumerate(xs)}
    ys = sorted({y for y, _, _ in horizontal})
    grids, current = [], Grid([], xs, [])
    for top, bottom in zip(ys, ys[1:], strict=False):
        middle = (top + bottom) / 2
        crossing = sorted({column[x] for x, y0, y1 in vertical if y0 - TOLERANCE <= middle <= y1 + TOLERANCE})
        if len(crossing) < 2:
            if current.rows:
                grids.append(current)
            current = Grid([], xs, [])
            continue
        row: list[Box | None] = [None] * (len(xs) - 1)
        for a, b in zip(crossing, crossing[1:], strict=False):
            row[a] = (xs[a], top, xs[b], bottom)
        if not current.rows:
            current.ys.append(top)
        current.ys.append(bottom)
        current.rows.append(row)
    if current.rows:
        grids.append(current)
    return grids


def grids(horizontal: list[Stroke], vertical: list[Stroke]) -> list[Grid]:
    """Every grid of two or more rows the strokes draw, each set of touching strokes on its own."""
    found = []
    for h, v in _touching(_joined(horizontal), _joined(vertical)):
        if len(h) >= 3 and len(v) >= 3:
            found += [g for g in _grids_of(h, v) if len(g.rows) >= 2]
    return found
