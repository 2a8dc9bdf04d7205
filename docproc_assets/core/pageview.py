"""Page views: each page's image with every model's line boxes over it, for the comparison report.

A page's boxes come from the models' UnifiedDocuments (`outputs/<model>/<document_id>.json`): OCR
lines, the direct track's text-layer lines, and typed elements (tables, headings, figures) as layout
regions. Boxes stay in page points, the coordinates every track already writes (mapped back to the page
as it lies, rotated scans included): the report draws them in an SVG whose viewBox is the page in points,
with the image stretched over it, so they are converted exactly once, by the browser.

Each box carries its agreement: 1 - CER of the line against the best-matching stretch of the page's
ground truth where there is one, otherwise its mean similarity with the text the other models read on
that page. Page images are WebP at `dpi`, written beside the report (`<report>_files/`, reused when
already there: names are content ids). Images and boxes together stay within `budget_bytes` (give or
take the images in flight): the documents shown first (the worst) get their views, the rest are counted
in `left_out`.

The images are rendered and encoded on `workers` threads while the report goes on (Pillow lets go of
the GIL; PyMuPDF, not thread-safe, renders one page at a time): in the batch's serial tail they were
most of the report's time (11.7 of 12.7 s on the corpus). `finish()` waits for them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from docproc_assets.core import metrics, office
from docproc_assets.core.intake import ObjectStore

log = logging.getLogger(__name__)

REGION_TYPES = {"heading", "table", "image", "caption", "header", "footer", "formula", "list_item"}
_MUPDF = threading.Lock()  # PyMuPDF renders on one thread at a time


@dataclass
class PageViews:
    """Where the page views come from (the models' outputs, the stored documents) and where their images go."""

    outputs: Path
    objects: ObjectStore
    folder: Path  # <report>_files/
    dpi: float = 100.0
    quality: int = 45  # WebP: text stays legible at 100 dpi, a letter page is ~40-130 KB
    method: int = 2  # WebP effort: half of method 4's time for 2% more bytes
    max_pages: int = 4  # per document
    budget_bytes: int = 25_000_000  # the page views of one report: images and boxes
    office_cache: Path | None = None
    workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))  # image threads
    spent: int = field(default=0, init=False)
    left_out: int = field(default=0, init=False)  # documents without a page view: the budget was spent
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pending: deque[Future] = field(default_factory=deque, init=False, repr=False)

    @classmethod
    def beside(cls, report: Path, data_dir: Path, **settings) -> PageViews:
        """Page views for the report at `report` over a data folder laid out as `docproc batch` lays it out
        (`outputs/`, `objects/`), images in `<report>_files/`."""
        return cls(outputs=data_dir / "outputs", objects=ObjectStore(data_dir / "objects"),
                   folder=report.with_name(f"{report.stem}_files"), **settings)

    @property
    def href(self) -> str:
        """The images' folder as the report links it (relative: the report and its folder move together)."""
        return self.folder.name

    def document(self, document_id: str, models: list[str], references: dict[int, str]) -> list[dict]:
        """The page views of one document: per page its size in points, image and every model's boxes."""
        pages: dict[int, dict] = {}
        for index, model in enumerate(models):
            doc = _load(self.outputs / model / f"{document_id}.json")
            for page in (doc or {}).get("pages", []):
                number = page["page_number"]
                if number > self.max_pages or (page.get("track") == "direct") != (model == "direct"):
                    continue
                view = pages.setdefault(number, {"n": number, "w": page["dimensions"]["width"],
                                                 "h": page["dimensions"]["height"], "boxes": [], "regions": [], "texts": {}})
                view["texts"][index] = _page_boxes(page, index, view)
        views = [pages[n] for n in sorted(pages)]
        for view in views:
            _score(view, references.get(view["n"]))
            del view["texts"]
        size = len(json.dumps(views, ensure_ascii=False, separators=(",", ":")))
        if not views or self.spent + size > self.budget_bytes:
            self.left_out += bool(views)
            return []
        self.spent += size
        self._images(document_id, views)
        return views

    def finish(self) -> None:
        """Wait for every image in flight; each view's `img` and `spent` are final after this."""
        while self._pending:
            self.spent += self._pending.popleft().result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _images(self, document_id: str, views: list[dict]) -> None:
        """Queue the document's images; at most `workers` documents in flight, so the budget lags by no more."""
        for view in views:
            view["img"] = None
        while len(self._pending) >= self.workers:
            self.spent += self._pending.popleft().result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="pageview")
        self._pending.append(self._pool.submit(self._write_images, document_id, views))

    def _write_images(self, document_id: str, views: list[dict]) -> int:
        """Render and save the views' images (on a pool thread); the bytes they take."""
        written = 0
        try:
            for view, image in zip(views, self._render(document_id, [v["n"] for v in views], [(v["w"], v["h"]) for v in views])):
                name = f"{document_id[:20]}-p{view['n']}-{int(self.dpi)}.webp"
                target = self.folder / name
                if not target.exists():
                    if self.spent + written >= self.budget_bytes:
                        break
                    self.folder.mkdir(parents=True, exist_ok=True)
                    image.save(target, "WEBP", quality=self.quality, method=self.method)
                written += target.stat().st_size
                view["img"] = f"{self.href}/{name}"
        except Exception as exc:  # noqa: BLE001 - a document that cannot be shown still has its boxes and texts
            log.warning("page view of %s: no image (%s: %s)", document_id[:12], type(exc).__name__, exc)
        return written

    def _render(self, document_id: str, numbers: list[int], sizes: list[tuple[float, float]]):
        """The pages' images as they lie, `dpi` pixels per inch of the page's size in points (opened the way
        the tracks open them: sniffed, images frame by frame within the pixel budget, PDFs repaired)."""
        from PIL import Image

        from docproc_assets.core.sniff import Kind
        from docproc_assets.core.sources import DEFAULT_MAX_PIXELS, file_type, image_frames, open_image, open_pdf, render_page

        path = self.objects.path(document_id)
        kind = file_type(path).kind
        if kind == Kind.IMAGE:
            wanted = dict(zip(numbers, sizes, strict=True))
            with open_image(path) as image:
                for number, (frame, _dims) in enumerate(image_frames(image, DEFAULT_MAX_PIXELS), start=1):
                    if number in wanted:
                        w, h = wanted[number]
                        size = (max(1, round(w * self.dpi / 72)), max(1, round(h * self.dpi / 72)))
                        # a box filter by whole factors first: as sharp at 100 dpi, 2.5x faster from a 300 dpi scan
                        yield frame.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=1.5)
                    if number >= numbers[-1]:
                        return
            return
        converted = (self.office_cache or office.default_cache_dir()) / f"{document_id}.pdf"
        source = path if kind == Kind.PDF else converted if kind == Kind.OFFICE and converted.exists() else None
        if source is None:
            return
        with _MUPDF, open_pdf(source) as doc:
            images = [render_page(doc[number - 1], self.dpi)[0] for number in numbers]
        yield from images


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _box(b: dict | None) -> list[float] | None:
    return None if not b else [round(b[k], 1) for k in ("x0", "y0", "x1", "y1")]


def _page_boxes(page: dict, index: int, view: dict) -> str:
    """Append a model's line boxes and layout regions of a page to its view; the text it read there."""
    texts = []
    for element in sorted(page.get("elements", []), key=lambda e: e.get("reading_order", 0)):
        if element["type"] in REGION_TYPES and (box := _box(element.get("bbox"))):
            view["regions"].append([index, element["type"], *box])
        lines = element.get("lines") or ([{"content": element["content"], "bbox": element["bbox"]}] if element.get("bbox") else [])
        if element["type"] == "table" and element.get("cells"):
            lines = [{"content": c["content"], "bbox": c["bbox"]} for c in element["cells"] if c.get("bbox") and c["content"]]
        for line in lines:
            if (box := _box(line.get("bbox"))) and line["content"].strip():
                view["boxes"].append([index, *box, line["content"], None, None])
        texts.append(element.get("content") or "")
    return "\n".join(texts)


def _score(view: dict, reference: str | None) -> None:
    """Each box's agreement (and, against a ground truth, the stretch of it the line matches)."""
    truth = metrics.normalise(reference) if reference else None
    others = {i: metrics.normalise(t) for i, t in view["texts"].items()}
    for box in view["boxes"]:
        line = metrics.normalise(box[5])
        if not line:
            continue
        if truth:
            match = fuzz.partial_ratio_alignment(line, truth)
            stretch = truth[match.dest_start:match.dest_end] if match else ""
            box[6] = round(1 - min(1.0, Levenshtein.distance(line, stretch) / max(1, len(stretch))), 3)  # 1 - the line's CER
            box[7] = stretch
        else:
            scores = [fuzz.partial_ratio(line, text) / 100 for i, text in others.items() if i != box[0] and text]
            box[6] = round(sum(scores) / len(scores), 3) if scores else None
