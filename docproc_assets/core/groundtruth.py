"""Where the right answer comes from: a sidecar transcript, or a digital page's own text layer.

Sidecar: `NAME.gt.txt` beside `NAME.pdf` (or `.png`, ...), pages separated by form feeds.
Self-supervised: a born-digital page is rendered to an image (optionally degraded like a scan) and its
text layer is the ground truth for whatever OCR reads from that image. Any pile of digital PDFs becomes
a labelled OCR benchmark.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from docproc_assets.core.sniff import LAYOUT_SUFFIX, SIDECAR_SUFFIX


def sidecar_pages(document: Path, suffix: str = SIDECAR_SUFFIX) -> list[str] | None:
    """The sidecar transcript, one string per page, or None when there is none; with LAYOUT_SUFFIX,
    the page's visual rows (`pdftotext -layout` of its source), the reference of row integrity."""
    path = document.with_name(document.stem + suffix)
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace").split("\f")


@dataclass(frozen=True)
class Degradation:
    """How far a rendered page is made to look like a scan. Seeded: the same page degrades the same way."""

    rotate_degrees: float = 0.0  # small skew, e.g. 0.7
    blur_radius: float = 0.0  # Gaussian blur in pixels, e.g. 0.8
    noise_sigma: float = 0.0  # Gaussian noise on 0..255, e.g. 8
    jpeg_quality: int | None = None  # re-encode as JPEG, e.g. 60
    seed: int = 0

    @classmethod
    def scan_like(cls, seed: int = 0) -> Degradation:
        return cls(rotate_degrees=0.6, blur_radius=0.7, noise_sigma=8.0, jpeg_quality=65, seed=seed)

    @property
    def label(self) -> str:
        if self == Degradation(seed=self.seed):
            return "clean"
        return f"rot{self.rotate_degrees:g}-blur{self.blur_radius:g}-noise{self.noise_sigma:g}-jpeg{self.jpeg_quality or 0}"

    def apply(self, image: Image.Image) -> Image.Image:
        rng = random.Random(self.seed)
        out = image.convert("L")
        if self.rotate_degrees:
            angle = self.rotate_degrees * rng.choice((-1, 1))
            out = out.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
        if self.blur_radius:
            out = out.filter(ImageFilter.GaussianBlur(self.blur_radius))
        if self.noise_sigma:
            noise = np.random.default_rng(self.seed).normal(0, self.noise_sigma, (out.height, out.width))
            out = Image.fromarray(np.clip(np.asarray(out, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
        if self.jpeg_quality:
            buf = io.BytesIO()
            out.save(buf, format="JPEG", quality=self.jpeg_quality)
            out = Image.open(io.BytesIO(buf.getvalue()))
            out.load()
        return out.convert("RGB")


@dataclass
class SyntheticPage:
    """A digital page rendered as an OCR input, with its text layer as ground truth."""

    page_number: int
    dpi: int
    degradation: Degradation
    image: Image.Image
    reference: str
    layout_reference: str = ""  # the page's visual rows (visual_rows), for row integrity


def synthetic_pages(pdf: Path, dpis: tuple[int, ...] = (150, 300), degradations: tuple[Degradation, ...] = (Degradation(),),
                    max_pages: int | None = None, password: str | None = None):
    """Yield rendered (and degraded) digital pages with their text layer, one page image at a time."""
    from docproc_assets.core.document import Track
    from docproc_assets.core.routing import analyse_page
    from docproc_assets.core.sources import open_pdf, render_page

    with open_pdf(pdf, password) as doc:
        for page in doc:
            if max_pages is not None and page.number >= max_pages:
                break
            if analyse_page(page).route.track != Track.DIRECT:
                continue  # only a trustworthy text layer is ground truth
            reference = page.get_text("text", sort=True)
            if not reference.strip():
                continue
            rows = visual_rows(page)
            for dpi in dpis:
                rendered, _ = render_page(page, dpi)
                for degradation in degradations:
                    yield SyntheticPage(page.number + 1, dpi, degradation, degradation.apply(rendered), reference, rows)


def visual_rows(page) -> str:
    """The page's words grouped into visual rows by baseline, left to right across the whole page, one
    row a line (what `pdftotext -layout` prints): the layout reference of core/metrics.row_integrity."""
    from docproc_assets.core.layout import rows

    words = page.get_text("words")
    return "\n".join(" ".join(words[i][4] for i in row) for row in rows([w[:4] for w in words]))

