"""One document through the flow: identify -> (convert) -> route each page -> extract -> UnifiedDocument.

Plain Python, used alike by the CLI and the Dagster assets. A document's failure is data (status
`error` and a one-line reason), never an exception that stops a batch.
"""

from __future__ import annotations

import gc
import logging
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from docproc_assets.core import direct, office, scripts
from docproc_assets.core.scripts import ScriptGuess
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
from docproc_assets.core.errors import ConversionFailed, CorruptDocument, DocumentError
from docproc_assets.core.isolation import IsolatedWorker
from docproc_assets.core.layout import mark_page_furniture
from docproc_assets.core.ocr import OcrPageFn, PageReader
from docproc_assets.core.routing import FontMaps, TrackMode, analyse_page, image_route
from docproc_assets.core.sniff import Kind, sha256_file, zip_damage
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
    LOST_PAGE,
    repairer_of,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    script: str | None = None  # direct pages, from the text layer (an OCR page's, from its image, when it is read)
    language: str | None = None


class Detection(BaseModel):
    """One line of `docproc detect --json`."""

    path: str
    document_id: str | None = None
    mime: str | None = None
    track: Track | None = None
    pages: list[PageDetection] = []
    error: str | None = None
    error_kind: str | None = None
    repaired: bool = False  # damaged: read from a copy a repairer rebuilt (core/repair.py)
    repairer: str | None = None
    seconds: float = 0.0


def _office_pdf(path: Path, document_id: str, mime: str, options: Options) -> Path:
    converted = options.converted.get(document_id)
    if converted is None:
        try:
            converted = office.convert(path, document_id, mime, options.cache_dir, options.office_timeout)
        except ConversionFailed as exc:
            converted = exc
    if isinstance(converted, ConversionFailed) and (damage := zip_damage(path)):
        raise CorruptDocument(f"corrupt or truncated office file ({mime}): {damage}; LibreOffice could not repair it")
    if isinstance(converted, Exception):
        raise converted
    return converted


def office_repairer(ident: Identified) -> str | None:
    """"libreoffice" when an office file's zip container is damaged and LibreOffice still converted it."""
    return "libreoffice" if ident.filetype.kind == Kind.OFFICE and zip_damage(ident.path) else None


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


def office_items(paths: list[Path]) -> list[tuple[Path, str, str]]:
    """(path, document_id, mime) of the office files among paths: typed from their bytes, so run it in the
    worker. A file that cannot be typed is left out: it fails as its own document later."""
    items = []
    for path in paths:
        try:
            filetype = file_type(path)
            if filetype.kind == Kind.OFFICE:
                items.append((path, sha256_file(path), filetype.mime))
        except Exception:  # noqa: BLE001 - typing a hostile file is that document's problem, reported by detect/extract
            continue
    return items


PREPARE_CHUNK = 256  # files typed per worker call: a file that hangs or crashes the typing costs a chunk's pre-conversion


def prepare_office(paths: list[Path], options: Options, worker: IsolatedWorker) -> None:
    """Convert every office file among paths in one LibreOffice run (its start-up dominates). The files are
    typed in the isolated worker: a damaged file cannot take the command down. Where typing a chunk fails,
    its office files are converted one by one when their document is processed."""
    items: list[tuple[Path, str, str]] = []
    for i in range(0, len(paths), PREPARE_CHUNK):
        try:
            items += worker.run(office_items, paths[i:i + PREPARE_CHUNK])
        except DocumentError as exc:
            log.warning("typing files %d-%d for office conversion failed (%s): converted one by one", i, i + PREPARE_CHUNK, exc)
    if items:
        options.converted.update(office.convert_many(items, options.cache_dir, options.office_timeout))


def iter_routes(ident: Identified, options: Options, result: Detection, damage: str | None = None) -> Iterator[tuple[PageRoute, PageDimensions]]:
    if ident.filetype.kind == Kind.IMAGE:
        with open_image(ident.path, options.max_pixels) as image:
            n = frame_count(image)
            for i, (_frame, dims) in enumerate(image_frames(image, options.max_pixels), start=1):
                yield image_route(i, n, options.track), dims
        return
    doc = open_pdf(_pdf_path(ident, options), options.password, damage=damage)
    with doc:
        result.repairer = repairer_of(doc) or office_repairer(ident)
        result.repaired = result.repairer is not None
        fonts = FontMaps()
        for page in doc:
            with gc_paused():
                route = analyse_page(page, options.track, fonts).route
            yield route, _dimensions(page)


# Libraries that parse a file's bytes: an exception raised inside one of them is the file's fault, not ours.
PARSERS = {"pymupdf": "PDF", "fitz": "PDF", "pikepdf": "PDF", "pypdfium2": "PDF", "PIL": "image",
           "zipfile": "office file", "olefile": "office file", "zlib": "file"}


def _parser_at_fault(exc: BaseException) -> str | None:
    """What kind of file the parser that raised exc reads, when the innermost frame of ours or a parser's
    is a parser's; None when our own code raised it (a bug)."""
    fault = None
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        top = module.split(".", 1)[0]
        if top in PARSERS:
            fault = PARSERS[top]
        elif top == "docproc_assets":
            fault = None
        tb = tb.tb_next
    return fault


def failure(exc: Exception) -> tuple[str, str]:
    """A document's failure as (one-line reason, kind), whatever raised it. "unexpected failure" is kept
    for our own bugs: a parser's exception on a damaged file says what is damaged."""
    if isinstance(exc, DocumentError):
        return str(exc), exc.kind
    if isinstance(exc, MUPDF_ERROR):
        return f"corrupt PDF: {mupdf_reason(exc)}", "corrupt"
    if isinstance(exc, MemoryError):
        return OUT_OF_MEMORY, "limit"
    if what := _parser_at_fault(exc):
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"corrupt {what}: {reason}", "corrupt"
    return f"unexpected failure: {type(exc).__name__}: {exc}", "internal"


def _detected_pages(ident: Identified, options: Options, result: Detection, damage: str | None = None) -> list[PageDetection]:
    fields = {"track", "text_chars", "image_coverage", "reason", "invisible_chars", "garbled_ratio", "script", "language"}
    return [PageDetection(page=number, **route.model_dump(include=fields))
            for number, (route, _dims) in enumerate(iter_routes(ident, options, result, damage), start=1)]


def detect(path: Path, options: Options | None = None) -> Detection:
    """Route a document without extracting it."""
    options = options or Options()
    start = time.perf_counter()
    result = Detection(path=str(path))
    try:
        ident = identify(path)
        result.document_id, result.mime = ident.document_id, ident.filetype.mime
        result.pages = repairing(lambda damage: _detected_pages(ident, options, result, damage))
        result.track = derive_track([p.track for p in result.pages])
    except Exception as exc:  # a parser bug must stay this document's problem
        (result.error, result.error_kind), result.track = failure(exc), None
        result.repaired, result.repairer = False, None
    result.seconds = round(time.perf_counter() - start, 4)
    return result


def _rendered(page, options: Options) -> tuple[object, float]:
    image, pixels_per_inch = render_page(page, options.ocr_dpi, options.max_pixels)
    return image, pixels_per_inch / 72


def _dimensions(page) -> PageDimensions:
    rect = page.rect  # each .rect asks MuPDF for the page's bounds again
    return PageDimensions(width=round(rect.width, 2), height=round(rect.height, 2), rotation=page.rotation)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector held off while a page's text pass is read and walked: get_text builds
    thousands of small dicts (no cycles), and the collections they trigger cost ~5% of the direct track.
    Free the pass inside the block: the collector then never sees it. Left as it was when already off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class OcrQueue:
    """OCR pages waiting for their engine, read a batch at a time (a VLM on a GPU reads several pages
    in one forward pass). At most `batch_size` rendered page images are held at once."""

    NO_ENGINE = "OCR needed but no OCR engine was run (--no-ocr was given, or pick one with --engine; see `docproc engines`)"

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
            page.elements, page.engine, page.engine_version = result.elements, result.engine, result.engine_version
            page.engine_vote = result.vote
            page.token_count, page.truncated = result.token_count, result.truncated
            if page.route.script is None:
                page.route.script, page.route.language, page.route.script_evidence = read_script(result.script, page.text())
            page.seconds = round(before + share, 4)


def read_script(osd: ScriptGuess | None, text: str) -> tuple[str | None, str | None, str]:
    """An OCR page's (script, language, evidence): OSD's script where it was sure, else the script of
    what was read; the language from what was read."""
    if osd is None or osd.script is None:
        read = scripts.from_text(text, source="text read")
        return read.script, read.language, "; ".join(e for e in (osd.evidence if osd else None, read.evidence) if e)
    return osd.script, osd.language or scripts.language_of(osd.script, text), osd.evidence


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
            meta, pages = repairing(lambda damage: _pdf_pages(ident, pdf_path, options, meta, queue, damage))
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


def _pdf_pages(ident: Identified, pdf_path: Path, options: Options, meta: DocumentMetadata, queue: OcrQueue,
               damage: str | None = None) -> tuple[DocumentMetadata, list[Page]]:
    """A PDF's pages: direct pages extracted, OCR pages through the queue; from a repaired copy when
    `damage` says what MuPDF failed on."""
    pages: list[Page] = []
    queue.pending.clear()  # a second read (from a repaired copy) drops what the first one queued
    with open_pdf(pdf_path, options.password, damage=damage) as doc:
        meta = pdf_metadata(doc, meta)
        if ident.filetype.kind == Kind.OFFICE:
            repairer = meta.repairer or office_repairer(ident)
            meta = meta.model_copy(update={"converted_from": ident.filetype.mime, "repaired": bool(repairer), "repairer": repairer})
        fonts = FontMaps()
        for pdf_page in doc:
            start = time.perf_counter()
            with gc_paused():
                analysis = analyse_page(pdf_page, options.track, fonts)
                page = Page(
                    page_number=pdf_page.number + 1,
                    dimensions=_dimensions(pdf_page),
                    track=analysis.route.track,
                    route=analysis.route,
                )
                if page.track == Track.DIRECT:
                    page.elements = direct.extract_page(pdf_page, analysis, options.find_tables, options.table_model)
                del analysis  # its text pass freed while the collector is off: then it never scans those dicts
            if page.track == Track.DIRECT:
                page.engine = "pymupdf"
                page.seconds = round(time.perf_counter() - start, 4)
                if meta.repaired and not page.elements and not page.route.image_coverage:
                    page.error = LOST_PAGE  # a blank page in a damaged file: say so, never a silent "ok"
            else:
                queue.add(page, lambda p=pdf_page: _rendered(p, options), start)
            pages.append(page)
        queue.flush()
    return meta, pages


def pdf_damaged(exc: BaseException) -> bool:
    """Did MuPDF fail on the file's structure (worth reading a repaired copy), not on our code or an engine?"""
    return isinstance(exc, MUPDF_ERROR) or _parser_at_fault(exc) == "PDF"


def repairing(read: Callable[[str | None], T]) -> T:
    """read(None); when MuPDF meets a broken page tree while reading (it opened the file, then failed on a
    page), read(damage) again from a repaired copy, `damage` saying what it failed on."""
    try:
        return read(None)
    except Exception as exc:
        if not pdf_damaged(exc):
            raise
        return read(failure(exc)[0])


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
