"""The one document model both tracks produce: direct extraction and every OCR engine alike.

Coordinates are PDF points (1/72 inch) with the origin at the page's top-left corner, whatever the
source: OCR engines scale their pixel boxes back to points, so a bbox means the same on every track.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Track(StrEnum):
    DIRECT = "direct"
    OCR = "ocr"
    MIXED = "mixed"


class ElementType(StrEnum):
    TEXT = "text"
    HEADING = "heading"
    LIST_ITEM = "list_item"
    TABLE = "table"
    IMAGE = "image"
    HEADER = "header"
    FOOTER = "footer"
    CAPTION = "caption"
    FORMULA = "formula"


class Status(StrEnum):
    OK = "ok"
    PARTIAL = "partial"  # some pages failed (an OCR page without an engine, say); the rest is good
    ERROR = "error"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class BoundingBox(_Model):
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @classmethod
    def of(cls, rect: Any) -> BoundingBox:
        """From any 4-sequence (a PyMuPDF Rect, a tuple), rounded to 0.01 pt for stable JSON."""
        return cls.__pydantic_validator__.validate_python(rounded(rect))  # a page makes thousands: a dict validates faster than kwargs


def rounded(rect: Any) -> dict[str, float]:
    """A box's fields, rounded to 0.01 pt: round(v * 100) / 100 is round(v, 2) at a third of its cost."""
    x0, y0, x1, y1 = tuple(rect)[:4]
    return {"x0": round(x0 * 100) / 100, "y0": round(y0 * 100) / 100, "x1": round(x1 * 100) / 100, "y1": round(y1 * 100) / 100}


class StyleInfo(_Model):
    """A run's font, size, weight, slant and colour. Frozen: lines set alike share one instance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    font: str | None = None
    size: float | None = None
    bold: bool = False
    italic: bool = False
    color: str | None = None  # "#rrggbb"


class TableCell(_Model):
    row: int
    col: int
    content: str
    bbox: BoundingBox | None = None
    row_span: int = 1
    col_span: int = 1


def table_text(rows: Iterable[Iterable[str]]) -> str:
    """A table element's `content`, on every track: one row per line, cells separated by ` | `."""
    return "\n".join(" | ".join(row) for row in rows)


class TextLine(_Model):
    """One line of a block, with its own box: a text-layer line (with its style) or an OCR line
    (with the engine's confidence). Searchable PDFs place OCR text line by line from these."""

    content: str
    bbox: BoundingBox
    confidence: float = 1.0
    style: StyleInfo | None = None


class DocumentElement(_Model):
    element_id: str
    type: ElementType
    content: str
    bbox: BoundingBox | None = None
    style: StyleInfo | None = None
    confidence: float = 1.0  # 1.0 for a text layer; the engine's score for OCR
    reading_order: int
    level: int | None = None  # heading level, 1 = largest
    cells: list[TableCell] | None = None  # tables only
    lines: list[TextLine] | None = None  # text blocks: their lines, each with its own box


class PageRoute(_Model):
    """Why a page went to the track it did: the evidence is kept so a user can check the decision."""

    track: Track
    reason: str
    text_chars: int = 0  # visible, extractable characters
    invisible_chars: int = 0  # text drawn in render mode 3 (an OCR layer over a scan)
    image_coverage: float = 0.0  # share of the page area covered by images, 0..1
    garbled_ratio: float = 0.0  # share of text characters that are U+FFFD, (cid:N), control or private-use
    unmapped_font_chars: int = 0  # characters in fonts with no Unicode map
    vector_paths: int = 0  # drawing commands counted when text is scarce (text as outlines)
    forced: bool = False
    script: str | None = None  # ISO 15924 (Latn, Cyrl, Hani, Jpan, Hang, ...): core/scripts.py
    language: str | None = None  # ISO 639-3, where the letters tell it (rus, ukr, ell, ...)
    script_evidence: str | None = None  # the text layer's letters, or Tesseract OSD on the page image


class PageDimensions(_Model):
    width: float  # points
    height: float
    dpi: float | None = None  # the image resolution, for pages that are images
    rotation: int = 0


class Page(_Model):
    page_number: int  # 1-based
    dimensions: PageDimensions
    track: Track
    route: PageRoute
    elements: list[DocumentElement] = Field(default_factory=list)
    engine: str | None = None  # "pymupdf" for direct pages, the OCR engine's name otherwise
    engine_version: str | None = None  # OCR pages: the engine's config version (batch size, device, weights included)
    engine_vote: str | None = None  # `auto` read the page with two engines (unsure): both confidences, agreement, which it kept
    token_count: int | None = None  # tokens the engine generated (VLMs); None where it has no tokens
    truncated: bool = False  # generation stopped at max_new_tokens: the page's text may be cut short
    seconds: float | None = None
    error: str | None = None

    def text(self) -> str:
        return "\n\n".join(e.content for e in self.ordered() if e.content and e.type != ElementType.IMAGE)

    def ordered(self) -> list[DocumentElement]:
        return sorted(self.elements, key=lambda e: e.reading_order)


class DocumentMetadata(_Model):
    filename: str
    source_path: str
    mime: str
    size_bytes: int
    sha256: str
    page_count: int = 0
    title: str | None = None
    author: str | None = None
    producer: str | None = None
    created: str | None = None
    encrypted: bool = False
    converted_from: str | None = None  # the office mime type, when LibreOffice made the PDF
    repaired: bool = False  # the file was damaged: its pages were read from a rebuilt copy
    repairer: str | None = None  # which one rebuilt it (core/repair.py: qpdf, pdfium, page-scan)


class UnifiedDocument(_Model):
    document_id: str  # sha256 of the file's bytes
    metadata: DocumentMetadata
    pages: list[Page] = Field(default_factory=list)
    processing_track: Track | None = None  # None only when the document failed before routing
    status: Status = Status.OK
    error: str | None = None
    created_at: datetime = Field(default_factory=datetime.now)

    def to_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)

    @classmethod
    def from_json(cls, data: str | bytes) -> UnifiedDocument:
        return cls.model_validate_json(data)

    def text(self) -> str:
        """Plain text in reading order, pages separated by form feeds (the ground-truth convention)."""
        return "\f".join(page.text() for page in self.pages)

    def markdown(self) -> str:
        from docproc_assets.core.render_text import to_markdown

        return to_markdown(self)


def derive_track(page_tracks: list[Track]) -> Track | None:
    """Document track from its pages: all direct, all OCR, or mixed."""
    kinds = set(page_tracks)
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    return Track.MIXED


def json_schema() -> dict[str, Any]:
    return UnifiedDocument.model_json_schema()
