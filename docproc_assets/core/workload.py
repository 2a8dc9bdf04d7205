"""How much reading a document will take, guessed before it is routed, and chunks of equal work.

A Celery batch runs one chunk of documents per run, and each step reads its whole chunk, so the batch
ends when its heaviest chunk does. Chunks cut by count were far apart: in the corpus one chunk of 8
documents took 38 s of OCR and another 1 s, and one worker read the heavy one while the other sat
idle. Here OCR pages are priced by their pixels and direct pages almost free, and documents are
packed heaviest first into the lightest chunk that has room.

`estimate` opens untrusted files: run it in an `IsolatedWorker` (`stages.reading_costs`).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from pathlib import Path

from docproc_assets.core.pipeline import Options
from docproc_assets.core.routing import MIN_TEXT_CHARS
from docproc_assets.core.sniff import Kind
from docproc_assets.core.sources import file_type, frame_count, open_image, open_pdf

# Units are about a second of 1-thread Tesseract; only the ratios matter. Measured on the corpus:
# a 300 dpi letter scan (8.4 MP) 3.6-3.9 s, a 150 dpi page (2.1 MP) 1.2 s.
OCR_PAGE = 0.5
OCR_PER_MEGAPIXEL = 0.4
DIRECT_PAGE = 0.02
OFFICE_DOCUMENT = 1.0  # the LibreOffice conversion, before any page is read
UNKNOWN_DOCUMENT = 1.0  # a file that could not be looked at: its reading will fail fast, or is unknown
PAGES_LOOKED_AT = 50  # of a long PDF: the rest are priced like these
OCR_DPI = Options().ocr_dpi  # what the OCR track renders PDF pages at


def ocr_page(megapixels: float) -> float:
    return OCR_PAGE + OCR_PER_MEGAPIXEL * megapixels


def estimate(path: Path) -> float:
    """The expected reading cost of one file (units of OCR_PAGE and friends): images by their frames'
    pixels, PDF pages by whether they carry text, office files by their conversion."""
    try:
        kind = file_type(path).kind
        if kind == Kind.IMAGE:
            with open_image(path) as image:
                w, h = image.size
                return frame_count(image) * ocr_page(w * h / 1e6)
        if kind == Kind.OFFICE:
            return OFFICE_DOCUMENT
        with open_pdf(path) as doc:
            count = doc.page_count
            looked = [doc[i] for i in range(min(count, PAGES_LOOKED_AT))]
            cost = sum(DIRECT_PAGE if len(page.get_text("text").strip()) >= MIN_TEXT_CHARS
                       else ocr_page(page.rect.width * page.rect.height * (OCR_DPI / 72) ** 2 / 1e6) for page in looked)
            return cost * count / len(looked) if looked else DIRECT_PAGE
    except Exception:  # noqa: BLE001 - a guess: the routing step reports what is wrong with the file
        return UNKNOWN_DOCUMENT


def balanced_chunks(costs: Mapping[str, float], size: int) -> list[list[str]]:
    """The documents in as few chunks of at most `size` as there must be, heaviest first into the
    lightest chunk with room (longest processing time first); the chunks come heaviest first."""
    if not costs:
        return []
    count = -(-len(costs) // max(1, size))
    chunks: list[list[str]] = [[] for _ in range(count)]
    lightest = [(0.0, i) for i in range(count)]  # (cost so far, chunk), only chunks with room
    for doc in sorted(costs, key=lambda d: (-costs[d], d)):
        total, i = heapq.heappop(lightest)
        chunks[i].append(doc)
        if len(chunks[i]) < size:
            heapq.heappush(lightest, (total + costs[doc], i))
    return sorted(chunks, key=lambda c: -sum(costs[d] for d in c))
