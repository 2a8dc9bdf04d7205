"""Damaged PDFs read instead of rejected: when MuPDF finds no readable pages, other parsers rebuild the file.

Tried in order, each on the original bytes, the first whose output MuPDF reads with every page wins:
- `qpdf` (pikepdf): reconstructs a damaged cross-reference table and trailer from the objects it finds;
- `pdfium` (pypdfium2, Chrome's parser): its own recovery, different heuristics, saved back out;
- `page-scan`: the page objects MuPDF's own repair still found, hung under a new page tree and catalog
  (a file whose catalog or page tree was overwritten while its pages survived).
A repairer that raises or yields no pages is skipped: a repair never makes a document fail differently.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pymupdf

log = logging.getLogger(__name__)


class RepairedPdf(pymupdf.Document):
    """A damaged PDF opened from the bytes a repairer rebuilt; `repairer` names which one."""

    repairer: str = ""


def _qpdf(path: Path) -> bytes:
    import pikepdf

    with pikepdf.open(path, attempt_recovery=True, suppress_warnings=True) as pdf:
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _pdfium(path: Path) -> bytes:
    import pypdfium2

    doc = pypdfium2.PdfDocument(path)
    try:
        if not len(doc):
            return b""
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()
    finally:
        doc.close()


def _page_scan(path: Path) -> bytes:
    with pymupdf.open(path, filetype="pdf") as doc:
        pages = [x for x in range(1, doc.xref_length()) if _is_page(doc, x)]
        if not pages:
            return b""
        tree = doc.get_new_xref()
        doc.update_object(tree, f"<< /Type /Pages /Kids [{' '.join(f'{x} 0 R' for x in pages)}] /Count {len(pages)} >>")
        for x in pages:
            doc.xref_set_key(x, "Parent", f"{tree} 0 R")
        catalog = doc.get_new_xref()
        doc.update_object(catalog, f"<< /Type /Catalog /Pages {tree} 0 R >>")
        doc.xref_set_key(-1, "Root", f"{catalog} 0 R")
        return doc.tobytes()


def _is_page(doc: pymupdf.Document, xref: int) -> bool:
    try:
        return doc.xref_get_key(xref, "Type") == ("name", "/Page")
    except Exception:  # noqa: BLE001 - a broken object is simply not a page
        return False


REPAIRERS: tuple[tuple[str, Callable[[Path], bytes]], ...] = (("qpdf", _qpdf), ("pdfium", _pdfium), ("page-scan", _page_scan))


def readable_pages_problem(doc: pymupdf.Document, every_page: bool = False) -> str | None:
    """Why MuPDF cannot read this document's pages, or None when they load. Every page is loaded when
    MuPDF had to rebuild the xref itself, or when asked (a repairer's output must be whole)."""
    try:
        count = doc.page_count
    except Exception as exc:  # noqa: BLE001 - MuPDF raises several types for a broken tree
        return f"unreadable page tree: {exc}"
    if count == 0:
        return "PDF has no pages (broken page tree or truncated file)"
    if every_page or doc.is_repaired:
        for number in range(count):
            try:
                doc.load_page(number)
            except Exception as exc:  # noqa: BLE001
                return f"page {number + 1} unreadable: {exc}"
    return None


def repair(path: Path) -> RepairedPdf | None:
    """The damaged PDF at `path`, rebuilt by the first repairer that yields every page readable; None if none does."""
    for name, rebuild in REPAIRERS:
        try:
            data = rebuild(path)
        except Exception as exc:  # noqa: BLE001 - a repairer failing is the expected case
            log.debug("repair with %s failed: %s", name, exc)
            continue
        if not data:
            continue
        try:
            doc = RepairedPdf(stream=data, filetype="pdf")
        except Exception:  # noqa: BLE001
            continue
        if readable_pages_problem(doc, every_page=True) is None:
            doc.repairer = name
            log.info("repaired %s with %s: %d pages", path.name, name, doc.page_count)
            return doc
        doc.close()
    return None
