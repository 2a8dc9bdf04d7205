"""One document through the flow: identify -> (convert) -> route each page -> extract -> UnifiedDocument.

Plain Python, used alike by the CLI and the Dagster assets. A document's failure is data (status
`error` and a one-line reason), never an exception that stops a batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from docproc_assets.core import direct, office
from docproc_assets.core.document import (
    DocumentMetadata,
    Page,
    PageDimensions,
    PageRoute,
    Status,
    Track,
    UnifiedDocument,
    derive_track,
)
from docproc_assets.core.errors import DocumentError
from docproc_assets.core.layout import mark_page_furniture
from docproc_assets.core.ocr import OcrPageFn, PageReader
from docproc_assets.core.routing import TrackMode, analyse_page, image_route
from docproc_assets.core.sniff import Kind, sha256_file
from docproc_assets.core.sources import (
    DEFAULT_MAX_PIXELS,
    MUPDF_ERROR,
    Identified,
    base_metadata,
    file_type,
    frame_count,
    identify,
    image_frames,
    mupdf_reason,
    open_image,
    open_pdf,
    pdf_metadata,
    render_page,
)

log = logging.getLogger(__name__)

OUT_OF_MEMORY = "out of memory while parsing (the worker's memory limit, --max-memory-mb / DOCPROC_MAX_MEMORY_MB)"


@dataclass
class Options:
    track: TrackMode = TrackMode.AUTO
    password: str | None = None
    ocr_dpi: float = 300.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    find_tables: bool = True
    table_model: bool = False  # PyMuPDF's layout model for tables: better on unruled grids, ~25x slower
    skip_ocr: bool = False  # leave OCR pages empty without an error (a direct-only pass)
    office_timeout: float = 120.0
    cache_dir: Path | None = None
    converted: dict[str, Path | Exception] = field(default_factory=dict)  # document_id -> office PDF


class PageDetection(BaseModel):
    page: int
    track: Track
    text_chars: int
    image_coverage: float
    reason: str
    invisible_chars: int = 0
    garbled_ratio: float = 0.0


class Detection(BaseModel):
    """One line of `docproc detect --json`."""

    path: str
    document_id: str | None = None
    mime: str | None = None
    track: Track | None = None
    pages: list[PageDetection] = []
    error: str | None = None
    error_kind: str | None = None
    seconds: float = 0.0


def _office_pdf(path: Path, document_id: str, mime: str, options: Options) -> Path:
    converted = options.converted.get(document_id)
    if converted is None:
        return office.convert(path, document_id, mime, options.cache_dir, options.office_timeout)
    if isinstance(converted, Exception):
        raise converted
    return converted


def _pdf_path(ident: Identified, options: Options) -> Path:
    if ident.filetype.kind != Kind.OFFICE:
        return ident.path
    return _office_pdf(ident.path, ident.document_id, ident.filetype.mime, options)


def page_source(path: Path, options: Options | None = None) -> Path:
    """The file a document's pages come from: the PDF itself, LibreOffice's PDF of an office file, or the image.
    Only an office file is hashed (its PDF is cached by document id)."""
    filetype = file_type(path)
    if filetype.kind != Kind.OFFICE:
        return path
    return _office_pdf(path, sha256_file(path), filetype.mime, options or Options())


def prepare_office(paths: list[Path], options: Options) -> None:
    """Convert every office file among paths in one LibreOffice run (its start-up dominates). Files are
    typed from their first bytes; only office files are hashed here (the worker hashes every document)."""
    items = []
    for path in paths:
        try:
            filetype = file_type(path)
        except DocumentError:
            continue
        if filetype.kind == Kind.OFFICE:
            items.append((path, sha256_file(path), filetype.mime))
    if items:
        options.converted.update(office.convert_many(items, options.cache_dir, options.office_timeout))


def iter_routes(ident: Identified, options: Options) -> Iterator[tuple[PageRoute, PageDimensions]]:
    if ident.filetype.kind == Kind.IMAGE:
        with open_image(ident.path, options.max_pixels) as image:
            n = frame_count(image)
            for i, (_frame, dims) in enumerate(image_frames(image, options.max_pixels), start=1):
                yield image_route(i, n, options.track), dims
        return
    doc = open_pdf(_pdf_path(ident, options), options.password)
    with doc:
        for page in doc:
            yield analyse_page(page, options.track).route, _dimensions(page)


def failure(exc: Exception) -> tuple[str, str]:
    """A document's failure as (one-line reason, kind), whatever raised it."""
    if isinstance(exc, DocumentError):
        return str(exc), exc.kind
    if isinstance(exc, MUPDF_ERROR):
        return f"corrupt PDF: {mupdf_reason(exc)}", "corrupt"
    if isinstance(exc, MemoryError):
        return OUT_OF_MEMORY, "limit"
    return f"unexpected failure: {type(exc).__name__}: {exc}", "internal"


def detect(path: Path, options: Options | None = None) -> Detection:
    """Route a document without extracting it."""
    options = options or Options()
    start = time.perf_counter()
    result = Detection(path=str(path))
    try:
        ident = identify(path)
        result.document_id, result.mime = ident.document_id, ident.filetype.mime
        for number, (route, _dims) in enumerate(iter_routes(ident, options), start=1):
            result.pages.append(
                PageDetection(page=number, **route.model_dump(include={"track", "text_chars", "image_coverage", "reason", "invisible_chars", "garbled_ratio"}))
            )
        result.track = derive_track([p.track for p in result.pages])
    except Exception as exc:  # a parser bug must stay this document's problem
        (result.error, result.error_kind), result.track = failure(exc), None
    result.seconds = round(time.perf_counter() - start, 4)
    return result


def _rendered(page, options: Options) -> tuple[object, float]:
    image, pixels_per_inch = render_page(page, options.ocr_dpi, options.max_pixels)
    return image, pixels_per_inch / 72


def _dimensions(page) -> PageDimensions:
    return PageDimensions(width=round(page.rect.width, 2), height=round(page.rect.height, 2), rotation=page.rotation)


class OcrQueue:
    """OCR pages waiting for their engine, read a batch at a time (a VLM on a GPU reads several pages
    in one forward pass). At most `batch_size` rendered page images are held at once."""

    NO_ENGINE = "OCR needed but no OCR engine was given (pick one with --engine; see `docproc engines`)"

    def __init__(self, ocr: PageReader | OcrPageFn | None, skip: bool = False):
        self.reader = ocr if ocr is None or isinstance(ocr, PageReader) else PageReader.of(ocr)
        self.skip = skip
        self.pending: list[tuple[Page, object, float, float]] = []

    def add(self, page: Page, image_source: Callable[[], tuple[object, float]], started: float) -> None:
        """Queue an OCR page; `image_source()` gives (image, pixels per point) and is called only when an
        engine will read the page (not on a direct-only pass, nor without an engine)."""
        if self.skip or self.reader is None:
            page.error = None if self.skip else self.NO_ENGINE
            page.seconds = round(time.perf_counter() - started, 4)
            return
        image, pixels_per_point = image_source()
        self.pending.append((page, image, pixels_per_point, time.perf_counter() - started))
        if len(self.pending) >= self.reader.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        start = time.perf_counter()
        try:
            results = self.reader.read([(image, ppp, page.page_number) for page, image, ppp, _ in batch])
        except DocumentError as exc:
            for page, *_ in batch:
                page.error = str(exc)
            return
        share = (time.perf_counter() - start) / len(batch)
        for (page, _image, _ppp, before), result in zip(batch, results, strict=True):
            page.elements, page.engine = result.elements, result.engine
            page.token_count, page.truncated = result.token_count, result.truncated
            page.seconds = round(before + share, 4)


def extract(path: Path, options: Options | None = None, ocr: PageReader | OcrPageFn | None = None) -> UnifiedDocument:
    """The UnifiedDocument of one file. `ocr` reads OCR pages: a PageReader (batched), or a function
    `ocr(image, pixels_per_point, page_number) -> OcrResult`."""
    options = options or Options()
    queue = OcrQueue(ocr, skip=options.skip_ocr)
    try:
        ident = identify(path)
    except DocumentError as exc:
        return failed_document(path, str(exc))
    meta = base_metadata(ident)
    pages: list[Page] = []
    try:
        if ident.filetype.kind == Kind.IMAGE:
            with open_image(ident.path, options.max_pixels) as image:
                n = frame_count(image)
                meta = meta.model_copy(update={"page_count": n})
                for i, (frame, dims) in enumerate(image_frames(image, options.max_pixels), start=1):
                    start = time.perf_counter()
                    route = image_route(i, n, options.track)
                    page = Page(page_number=i, dimensions=dims, track=route.track, route=route)
                    page.seconds = round(time.perf_counter() - start, 4)
                    if route.track == Track.OCR:
                        queue.add(page, lambda f=frame, d=dims: (f.convert("RGB"), (d.dpi or 72) / 72), start)
                    pages.append(page)
                queue.flush()
        else:
            pdf_path = _pdf_path(ident, options)
            if ident.filetype.kind == Kind.OFFICE:
                meta = meta.model_copy(update={"converted_from": ident.filetype.mime})
            with open_pdf(pdf_path, options.password) as doc:
                meta = pdf_metadata(doc, meta)
                for pdf_page in doc:
                    start = time.perf_counter()
                    analysis = analyse_page(pdf_page, options.track)
                    page = Page(
                        page_number=pdf_page.number + 1,
                        dimensions=_dimensions(pdf_page),
                        track=analysis.route.track,
                        route=analysis.route,
                    )
                    if page.track == Track.DIRECT:
                        page.elements = direct.extract_page(pdf_page, analysis, options.find_tables, options.table_model)
                        page.engine = "pymupdf"
                        page.seconds = round(time.perf_counter() - start, 4)
                    else:
                        queue.add(page, lambda p=pdf_page: _rendered(p, options), start)
                    pages.append(page)
                queue.flush()
    except Exception as exc:
        return failed_document(path, failure(exc)[0], meta)
    mark_page_furniture([p for p in pages if p.track == Track.DIRECT])
    failed = [p for p in pages if p.error]
    return UnifiedDocument(
        document_id=ident.document_id,
        metadata=meta,
        pages=pages,
        processing_track=derive_track([p.track for p in pages]),
        status=Status.PARTIAL if failed else Status.OK,
        error=f"{len(failed)} of {len(pages)} pages failed: {failed[0].error}" if failed else None,
    )


def failed_document(path: Path, reason: str, meta=None) -> UnifiedDocument:
    if meta is None:
        digest = sha256_file(path) if path.is_file() else ""
        size = path.stat().st_size if path.is_file() else 0
        meta = DocumentMetadata(filename=path.name, source_path=str(path), mime="unknown", size_bytes=size, sha256=digest)
    return UnifiedDocument(document_id=meta.sha256, metadata=meta, status=Status.ERROR, error=reason)


def extract_with_engine(path: Path, options: Options, engine: str | None, overrides: dict | None = None) -> UnifiedDocument:
    """extract() with a registry engine (run-time config overrides applied), loaded at the first OCR
    page and kept for the process."""
    return extract(path, options, lazy_ocr(engine, overrides) if engine else None)


def lazy_ocr(engine: str, overrides: dict | None = None) -> PageReader:
    """A reader for a registry engine, loaded at its first batch; batches as large as the model allows."""
    from docproc_assets.core.engines.registry import get_config, load_engine

    config = get_config(engine, **(overrides or {}))
    return PageReader(lambda: load_engine(engine, config), batch_size=config.max_batch_size)
