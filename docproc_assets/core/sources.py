"""Opening a file as pages: PDFs (and office files once converted) through PyMuPDF, images through Pillow.

Nothing here decodes more than one page image at a time, and every image is checked against a pixel
budget before it is decoded, so a tiny PNG that claims 40000x40000 pixels is refused, not allocated.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymupdf
from PIL import Image, ImageSequence

from docproc_assets.core.document import DocumentMetadata, PageDimensions
from docproc_assets.core.errors import CorruptDocument, PasswordRequired, ResourceLimitExceeded
from docproc_assets.core.repair import REPAIRERS, RepairedPdf, readable_pages_problem, repair
from docproc_assets.core.sniff import FileType, sha256_file, sniff

DEFAULT_MAX_PIXELS = 80_000_000  # a letter page at 1000 dpi is ~94 M; an A0 poster at 300 dpi ~140 M
DEFAULT_IMAGE_DPI = 300.0

pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's repair chatter goes to our per-document errors
pymupdf.TOOLS.mupdf_display_warnings(False)


@dataclass
class Identified:
    """A file known by content: its type and id, before any parsing."""

    path: Path
    document_id: str
    filetype: FileType
    size_bytes: int


def file_type(path: Path) -> FileType:
    """What a file is, from its first bytes (no hashing)."""
    if not path.is_file():
        raise CorruptDocument(f"not a readable file: {path}")
    return sniff(path)


def identify(path: Path) -> Identified:
    filetype = file_type(path)
    return Identified(path=path, document_id=sha256_file(path), filetype=filetype, size_bytes=path.stat().st_size)


def base_metadata(ident: Identified) -> DocumentMetadata:
    return DocumentMetadata(
        filename=ident.path.name,
        source_path=str(ident.path),
        mime=ident.filetype.mime,
        size_bytes=ident.size_bytes,
        sha256=ident.document_id,
    )


# MuPDF's own errors (a cycle in the page tree, a broken object met while reading a page): the file's fault.
MUPDF_ERROR = pymupdf.mupdf.FzErrorBase


def mupdf_reason(exc: BaseException) -> str:
    """MuPDF's message without its error code prefix ("code=7: cycle in page tree")."""
    return re.sub(r"^code=\d+:\s*", "", str(exc)).strip() or type(exc).__name__


def _without_path(message: str, path: Path) -> str:
    """No storage paths in a document's message (the object store's path means nothing to its user)."""
    return " ".join(message.replace(f"'{path}'", "").replace(str(path), "").split())


def open_pdf(path: Path, password: str | None = None, damage: str | None = None) -> pymupdf.Document:
    """Open a PDF, authenticating when it needs a password. A file MuPDF cannot read the pages of is
    repaired (core/repair.py: qpdf, PDFium, a page scan) before it is refused with CorruptDocument;
    `damage` (what MuPDF failed on while reading the pages) goes straight to the repaired copy."""
    if damage:
        return _repaired(path, damage)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # MuPDF raises several types for unreadable files
        reason = _without_path(mupdf_reason(exc), path).rstrip(".")
        generic = reason.startswith("Failed to open")  # MuPDF's words for "no PDF structure found at all"
        return _repaired(path, "unreadable PDF: no PDF structure MuPDF can open" if generic else f"unreadable PDF: {reason}")
    if doc.needs_pass:
        if not password:
            doc.close()
            raise PasswordRequired("password required: the PDF is encrypted (give --password)")
        if not doc.authenticate(password):
            doc.close()
            raise PasswordRequired("wrong password for the encrypted PDF")
    if problem := readable_pages_problem(doc):
        doc.close()
        return _repaired(path, problem)
    return doc


def _repaired(path: Path, problem: str) -> pymupdf.Document:
    doc = repair(path)
    if doc is None:
        raise CorruptDocument(f"{problem}; not repairable (tried {', '.join(name for name, _ in REPAIRERS)})")
    return doc


def repairer_of(doc: pymupdf.Document) -> str | None:
    """Which repairer rebuilt this document: "mupdf" when MuPDF rebuilt a broken xref itself, None when
    the file was read as it is."""
    if isinstance(doc, RepairedPdf):
        return doc.repairer
    return "mupdf" if doc.is_repaired else None


LOST_PAGE = "nothing left on this page of a damaged file (its content was lost; the xref was rebuilt)"


def pdf_metadata(doc: pymupdf.Document, meta: DocumentMetadata) -> DocumentMetadata:
    info = doc.metadata or {}
    repairer = repairer_of(doc)
    return meta.model_copy(
        update=dict(
            repaired=repairer is not None,
            repairer=repairer,
            page_count=doc.page_count,
            title=info.get("title") or None,
            author=info.get("author") or None,
            producer=info.get("producer") or None,
            created=info.get("creationDate") or None,
            encrypted=bool(doc.is_encrypted or info.get("encryption")),
        )
    )


@contextlib.contextmanager
def open_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Image.Image]:
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb guard, at our budget
    try:
        with Image.open(path) as image:
            yield image
    except Image.DecompressionBombError as exc:
        raise ResourceLimitExceeded(f"image exceeds the pixel budget of {max_pixels:,} pixels") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptDocument(f"unreadable image: {_without_path(str(exc), path)}") from exc


def image_frames(image: Image.Image, max_pixels: int) -> Iterator[tuple[Image.Image, PageDimensions]]:
    """Frames one at a time, decoded only after their size passes the pixel budget."""
    for frame in ImageSequence.Iterator(image):
        w, h = frame.size
        if w * h > max_pixels:
            raise ResourceLimitExceeded(f"image frame of {w}x{h} pixels exceeds the pixel budget of {max_pixels:,}")
        dpi = frame.info.get("dpi") or image.info.get("dpi")
        resolution = float(dpi[0]) if dpi and dpi[0] and float(dpi[0]) > 1 else DEFAULT_IMAGE_DPI
        frame.load()
        yield frame, PageDimensions(width=round(w * 72 / resolution, 2), height=round(h * 72 / resolution, 2), dpi=resolution)


def frame_count(image: Image.Image) -> int:
    return getattr(image, "n_frames", 1)


def render_page(page: pymupdf.Page, dpi: float, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, float]:
    """A page as an RGB image at `dpi`, lowered when the page would break the pixel budget."""
    rect = page.rect
    pixels_at_72 = max(rect.width * rect.height, 1.0)
    dpi = min(dpi, 72 * (max_pixels / pixels_at_72) ** 0.5)
    pix = page.get_pixmap(dpi=int(dpi), colorspace=pymupdf.csRGB, alpha=False)
    image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    return image, pix.width / rect.width * 72
