"""A corpus of hostile files, generated: each kind with the outcome docproc must report for it.

`build(folder)` writes every kind and returns {file name: Expect}. `status` is the UnifiedDocument
status; `message` a fragment the one-line error must contain (None: no error); `repairer` who rebuilt
a damaged file (core/repair.py, or "mupdf" when MuPDF rebuilt its xref); `pages` how many came out.
With the pinned PyMuPDF, qpdf and PDFium these outcomes are deterministic, so they are pinned.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from docproc_tests import documents as D


@dataclass(frozen=True)
class Expect:
    status: str  # ok | partial | error
    message: str | None = None
    repairer: str | None = None
    pages: int | None = None


def xfa_pdf(path: Path) -> Path:
    """A digital page plus an XFA form (AcroForm /XFA stream) that must be ignored, not rendered."""
    D.digital_pdf(path.with_suffix(".plain.pdf"))
    doc = pymupdf.open(path.with_suffix(".plain.pdf"))
    xfa = doc.get_new_xref()
    doc.update_object(xfa, "<< >>")
    doc.update_stream(xfa, b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template><subform><field name="x">'
                      b"<event activity=\"initialize\"><script contentType=\"application/x-javascript\">"
                      b"xfa.host.messageBox('xfa')</script></event></field></subform></template></xdp:xdp>")
    form = doc.get_new_xref()
    doc.update_object(form, f"<< /Fields [] /XFA {xfa} 0 R /NeedsRendering true >>")
    doc.xref_set_key(doc.pdf_catalog(), "AcroForm", f"{form} 0 R")
    doc.xref_set_key(doc.pdf_catalog(), "NeedsRendering", "true")
    doc.save(path)
    path.with_suffix(".plain.pdf").unlink()
    return path


def javascript_pdf(path: Path) -> Path:
    """OpenAction JavaScript, a page-open action and a link with JavaScript: none may run."""
    D.digital_pdf(path.with_suffix(".plain.pdf"))
    doc = pymupdf.open(path.with_suffix(".plain.pdf"))
    js = doc.get_new_xref()
    doc.update_object(js, "<< /S /JavaScript /JS (app.alert('owned'); this.exportDataObject({cName: 'x'})) >>")
    doc.xref_set_key(doc.pdf_catalog(), "OpenAction", f"{js} 0 R")
    names = doc.get_new_xref()
    doc.update_object(names, f"<< /Names [(x) {js} 0 R] >>")
    doc.xref_set_key(doc.pdf_catalog(), "Names", f"<< /JavaScript {names} 0 R >>")
    doc.xref_set_key(doc[0].xref, "AA", f"<< /O {js} 0 R >>")
    doc.save(path)
    path.with_suffix(".plain.pdf").unlink()
    return path


def nested_pdf(path: Path, depth: int = 50_000) -> Path:
    """A digital page whose resources hold an array nested `depth` levels deep (parser recursion)."""
    D.digital_pdf(path.with_suffix(".plain.pdf"))
    data = path.with_suffix(".plain.pdf").read_bytes()
    path.with_suffix(".plain.pdf").unlink()
    nested = b"[" * depth + b"1" + b"]" * depth
    # appended as an incremental update: object 9999 referenced from nowhere but the trailer's /Deep
    body = b"\n9999 0 obj\n" + nested + b"\nendobj\n"
    marker = data.rindex(b"trailer")
    trailer = data[marker:data.rindex(b"startxref")]
    trailer = trailer.replace(b"<<", b"<< /Deep 9999 0 R /Info << /Title " + b"[" * depth + b"]" * depth + b" >>", 1)
    path.write_bytes(data[: data.rindex(b"%%EOF")] + body + trailer.replace(b"trailer", b"trailer", 1)
                     + b"startxref\n0\n%%EOF\n")
    return path


def nested_dict_pdf(path: Path, depth: int = 20_000) -> Path:
    """Deeply nested dictionaries inside a page's content resources, written raw (no library check)."""
    nested = b"<< /A " * depth + b"1" + b" >>" * depth
    content = b"BT /F1 12 Tf 72 720 Td (Nested objects page) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> /Deep 5 0 R >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        nested,
    ]
    return _raw_pdf(path, objects)


def _raw_pdf(path: Path, objects: list[bytes]) -> Path:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    path.write_bytes(out.getvalue())
    return path


def pdf_image_bomb(path: Path, side: int = 40_000) -> Path:
    """A scanned-looking page whose only image claims side x side pixels in a few KB of Flate data."""
    import zlib

    row = b"\xff" * side
    data = zlib.compress(row * 64, 9)  # only 64 rows stored: the decoder must not allocate the rest eagerly
    content = b"q 612 0 0 792 0 0 cm /Im0 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /Im0 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % (side, side, len(data)) + data + b"\nendstream",
    ]
    return _raw_pdf(path, objects)


def huge_page_pdf(path: Path) -> Path:
    """A 200 x 200 inch page (the PDF maximum) with text on it."""
    doc = pymupdf.open()
    page = doc.new_page(width=14400, height=14400)
    page.insert_textbox(pymupdf.Rect(72, 72, 1200, 600), D.PARAGRAPH, fontsize=24, fontname="helv")
    doc.save(path)
    return path


def cyclic_pdf(path: Path) -> Path:
    D.digital_pdf(path.with_suffix(".plain.pdf"))
    doc = pymupdf.open(path.with_suffix(".plain.pdf"))
    pages_xref = int(doc.xref_get_key(doc.pdf_catalog(), "Pages")[1].split()[0])
    doc.xref_set_key(pages_xref, "Kids", f"[{pages_xref} 0 R]")
    doc.save(path)
    path.with_suffix(".plain.pdf").unlink()
    return path


def broken_xref_pdf(path: Path) -> Path:
    data = D.digital_pdf(path.with_suffix(".plain.pdf")).read_bytes()
    path.with_suffix(".plain.pdf").unlink()
    start = data.rindex(b"startxref")
    path.write_bytes(data[:start] + b"startxref\n999999\n%%EOF\n")
    return path


def elf_bytes() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 4000


def build(folder: Path) -> dict[str, Expect]:
    """Write every hostile kind (plus two good documents) into folder; {name: expected outcome}."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".src"
    tmp.mkdir(exist_ok=True)
    expect: dict[str, Expect] = {}

    def put(name: str, expected: Expect) -> Path:
        expect[name] = expected
        return folder / name

    D.digital_pdf(put("good-digital.pdf", Expect("ok")), ["A good digital document among hostile ones."])
    D.png(put("good-scan.png", Expect("partial", "no OCR engine")), "A good scan")
    put("zero-bytes.pdf", Expect("error", "empty file")).write_bytes(b"")
    source = D.digital_pdf(tmp / "source.pdf", [D.PARAGRAPH, "Second page", "Third page"])
    unopenable = "unreadable PDF: no PDF structure MuPDF can open; not repairable (tried qpdf, pdfium, page-scan)"
    D.truncated(put("truncated-01.pdf", Expect("error", unopenable)), source, 0.01)
    lost = "3 of 3 pages failed: nothing left on this page of a damaged file"
    D.truncated(put("truncated-30.pdf", Expect("partial", lost, "mupdf", 3)), source, 0.3)
    D.truncated(put("truncated-60.pdf", Expect("ok", None, "qpdf", 2)), source, 0.6)
    D.truncated(put("truncated-95.pdf", Expect("ok", None, "mupdf", 3)), source, 0.95)
    put("truncated-header-only.pdf", Expect("error", unopenable)).write_bytes(b"%PDF-1.7\n")
    broken_xref_pdf(put("broken-xref.pdf", Expect("ok", None, "mupdf", 1)))
    cyclic_pdf(put("cyclic-page-tree.pdf", Expect("ok", None, "page-scan", 1)))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "not a document")
    put("zip-named.pdf", Expect("error", "zip archive, not a document")).write_bytes(archive.getvalue())
    put("elf-named.pdf", Expect("error", "unsupported file type")).write_bytes(elf_bytes())
    put("html-named.pdf", Expect("error", "unsupported file type text/html")).write_bytes(
        b"<!DOCTYPE html><html><head><script>alert(1)</script></head><body>Hi</body></html>")
    D.digital_pdf(put("pdf-named.png", Expect("ok")), ["A PDF wearing a png name."])
    D.encrypted_pdf(put("encrypted-user-password.pdf", Expect("error", "password required")))
    D.owner_only_encrypted_pdf(put("encrypted-owner-only.pdf", Expect("ok")))
    for leftover in folder.glob("*.plain.pdf"):
        leftover.unlink()
    javascript_pdf(put("javascript-openaction.pdf", Expect("ok")))
    xfa_pdf(put("xfa-form.pdf", Expect("ok")))
    huge_page_pdf(put("huge-page.pdf", Expect("ok")))
    D.png_bomb(put("png-bomb-40000.png", Expect("error", "pixel budget")))
    pdf_image_bomb(put("pdf-image-bomb.pdf", Expect("partial", "no OCR engine")))
    nested_dict_pdf(put("deeply-nested-dicts.pdf", Expect("ok", None, None, 1)))
    nested_pdf(put("deeply-nested-arrays.pdf", Expect("ok", None, "mupdf", 1)))
    for leftover in tmp.iterdir():
        leftover.unlink()
    tmp.rmdir()
    return expect
