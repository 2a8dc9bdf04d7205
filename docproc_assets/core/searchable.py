"""A searchable PDF from a UnifiedDocument: the input's pages as they were, OCR text laid invisibly on top.

What happens per page:

* direct pages are left alone: same objects, same content streams, fonts and links;
* OCR pages keep their content (the scan image is never decoded or re-encoded) and gain one more
  content stream: every OCR line in text render mode 3 (invisible), at its bbox, stretched to the bbox
  width, in reading order. An invisible text layer already on the page (an earlier OCR run) is removed
  first, so re-OCR replaces it instead of doubling it;
* image inputs (PNG, JPEG, TIFF frames...) become one page per frame, sized from the image DPI.

The text is set in a *glyphless* font, as Tesseract and OCRmyPDF do: a 572-byte TrueType whose glyphs
draw nothing, addressed through Identity-H character ids that this writer assigns per document, with a
ToUnicode map from each id to its character. Any script round-trips (Cyrillic, CJK, Hebrew,
Devanagari, characters beyond the BMP) and the font costs ~1 KB per file instead of megabytes of
subset CJK outlines. Per-character advance widths follow Helvetica for Latin text and the
full width for East Asian wide characters, so words inside a line land near where they are printed.
"""

from __future__ import annotations

import base64
import os
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pymupdf
from PIL import ImageSequence

from docproc_assets import __version__
from docproc_assets.core.document import BoundingBox, ElementType, Page, Status, Track, UnifiedDocument
from docproc_assets.core.errors import CorruptDocument, DocumentError
from docproc_assets.core.sniff import Kind, sniff
from docproc_assets.core.sources import DEFAULT_IMAGE_DPI, DEFAULT_MAX_PIXELS, open_image, open_pdf

PRODUCER = f"docproc {__version__}"
FONT_NAME = "DocprocOCR"  # resource name on each OCR page
XMP_NS = "https://github.com/docproc/docproc/ns/searchable/1.0/"

# Tesseract's glyphless font (tessdata/pdf.ttf, Apache-2.0, (c) Google): two glyphs, neither ever
# painted in render mode 3. Ascent 1 em, descent 0: a line set at size h with its baseline at the
# bottom of its box covers exactly that box, so selections and search highlights match the OCR box.
GLYPHLESS_TTF = base64.b64decode(
    "AAEAAAAKAIAAAwAgT1MvMlbeyJQAAAEoAAAAYGNtYXAACgA0AAABkAAAAB5nbHlmFSJBJAAAAbgA"
    "AAAYaGVhZAt48WUAAACsAAAANmhoZWEMAgQCAAAA5AAAACRobXR4BAAAAAAAAYgAAAAIbG9jYQAM"
    "AAAAAAGwAAAABm1heHAABAAFAAABCAAAACBuYW1l8usW2gAAAdAAAABLcG9zdAABAAEAAAIcAAAA"
    "IAABAAAAAQAAsJRxEF8PPPUEBwgAAAAAAM+a/G4AAAAA1MOn8gAAAAAEAAgAAAAAEAACAAAAAAAA"
    "AAEAAAgA//8AAAQAAAAAAAQAAAEAAAAAAAAAAAAAAAAAAAACAAEAAAACAAQAAQAAAAAAAQAAAAAA"
    "AAAAAAAAAAAAAAAAAwAAAZAABQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAUAAQABAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAR09PRwBAAAAAAAAB//8AAAABAAGAAAAAAAAAAAAAAAAAAAABAAAAAAAABAAA"
    "AAAAAAIAAQAAAAAAFAADAAAAAAAUAAYACgAAAAAAAAAAAAAAAAAMAAAAAQAAAAAEAAgAAAMAADEh"
    "ESEEAPwACAAAAAADACoAAAADAAAABQAWAAAAAQAAAAAABQALABYAAwABBAkABQAWAAAAVgBlAHIA"
    "cwBpAG8AbgAgADEALgAwVmVyc2lvbiAxLjAAAAEAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAA"
    "AAA="
)

_HELV = pymupdf.Font("helv")
_RTL = {"R", "AL"}


class Positions:
    EXACT = "exact"  # every line at the engine's own box
    APPROXIMATE = "approximate"  # some text had no box (VLM output): laid over its block or the page
    NONE = "none"  # no OCR text on the page (direct page, or the engine found nothing)


@dataclass
class SearchableResult:
    path: Path
    pages: int
    size_bytes: int
    seconds: float
    ocr_pages: int = 0
    replaced_layers: int = 0  # OCR pages whose earlier invisible text layer was removed
    approximate_pages: list[int] = field(default_factory=list)
    assumed_dpi: bool = False


def char_width(ch: str) -> float:
    """Advance width in em: Helvetica where it has the glyph, else by Unicode class."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if _HELV.has_glyph(ord(ch)):
        return _HELV.glyph_advance(ord(ch))
    return 0.6


def visual_order(text: str) -> str:
    """Characters in the order they are painted, left to right (a reduced Unicode bidi algorithm).

    PDF text is painted in visual order and extractors (MuPDF, poppler) turn right-to-left runs back
    into logical order, so a Hebrew or Arabic line must be written visually to read back as the engine
    gave it. The paragraph direction comes from the first strong character; numbers stay left to right;
    neutrals between two runs of one direction take it, else the paragraph's; combining marks stay
    with their base in left-to-right text. Explicit embeddings and mirrored brackets are not handled (OCR output has neither).
    """
    if not any(unicodedata.bidirectional(c) in _RTL for c in text):
        return text
    units: list[list] = []  # [chars, class]
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if units and (unicodedata.combining(ch) or kind == "NSM"):
            if units[-1][1] == "R":
                units.append([ch, "R"])  # extractors reverse right-to-left runs character by character
            else:
                units[-1][0] += ch
            continue
        if kind in ("EN", "AN"):
            kind = "N#"
        elif kind in _RTL:
            kind = "R"
        elif kind != "L":
            kind = "ON"
        if kind == "N#" and units and units[-1][1] == "N#":
            units[-1][0] += ch
        elif kind == "N#" and len(units) >= 2 and units[-1][1] == "ON" and units[-1][0] in ".,:" and units[-2][1] == "N#":
            sep = units.pop()[0]
            units[-1][0] += sep + ch  # 1,000 and 3.5 are one number
        else:
            units.append([ch, kind])
    base = 1 if next(k for _, k in units if k in ("L", "R")) == "R" else 0
    strong = ["L" if k == "L" else "R" if k in ("R", "N#") else None for _, k in units]
    levels = []
    for i, (_chars, kind) in enumerate(units):
        if kind == "L":
            levels.append(2 if base else 0)
        elif kind == "R":
            levels.append(1)
        elif kind == "N#":
            levels.append(2)
        else:
            before = next((strong[j] for j in range(i - 1, -1, -1) if strong[j]), None)
            after = next((strong[j] for j in range(i + 1, len(units)) if strong[j]), None)
            side = before if before == after and before else ("R" if base else "L")
            levels.append(1 if side == "R" else (2 if base else 0))
    order = list(range(len(units)))
    for level in range(max(levels), 0, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = order[i:j][::-1]
                i = j
            else:
                i += 1
    return "".join(units[i][0] for i in order)


class _GlyphlessFont:
    """The document's one OCR font: character ids handed out as text is written, objects made at the end."""

    def __init__(self, doc: pymupdf.Document):
        self.doc = doc
        self.cids: dict[str, int] = {}
        self.widths: list[float] = []  # em, index = cid - 1
        self.xref = 0  # the Type0 font object, made at the first use

    def reference(self) -> str:
        if not self.xref:
            self.xref = self.doc.get_new_xref()
            self.doc.update_object(self.xref, "<<>>")
        return f"{self.xref} 0 R"

    def encode(self, text: str) -> tuple[str, float]:
        """Hex string of character ids and the advance in em."""
        out = []
        advance = 0.0
        for ch in text:
            cid = self.cids.get(ch)
            if cid is None:
                cid = self.cids[ch] = len(self.cids) + 1
                self.widths.append(char_width(ch))
            out.append(f"{cid:04x}")
            advance += self.widths[cid - 1]
        return "".join(out), advance

    def finish(self) -> None:
        if not self.xref:
            return
        doc = self.doc
        n = len(self.cids)

        def stream(obj: str, data: bytes) -> int:
            xref = doc.get_new_xref()
            doc.update_object(xref, obj)
            doc.update_stream(xref, data, compress=True)
            return xref

        fontfile = stream(f"<< /Length1 {len(GLYPHLESS_TTF)} >>", GLYPHLESS_TTF)
        descriptor = doc.get_new_xref()
        doc.update_object(
            descriptor,
            f"<< /Type /FontDescriptor /FontName /GlyphLessFont /Flags 5 /FontBBox [0 0 500 1000] /ItalicAngle 0 "
            f"/Ascent 1000 /Descent -1 /CapHeight 1000 /StemV 80 /FontFile2 {fontfile} 0 R >>",
        )
        cid_to_gid = stream("<<>>", b"\x00\x00" + b"\x00\x01" * n)  # every id draws glyph 1
        widths = " ".join(str(round(w * 1000)) for w in self.widths)
        cidfont = doc.get_new_xref()
        doc.update_object(
            cidfont,
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /GlyphLessFont "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor {descriptor} 0 R /DW 500 /W [1 [{widths}]] /CIDToGIDMap {cid_to_gid} 0 R >>",
        )
        tounicode = stream("<<>>", self._cmap())
        doc.update_object(
            self.xref,
            f"<< /Type /Font /Subtype /Type0 /BaseFont /GlyphLessFont /Encoding /Identity-H "
            f"/DescendantFonts [{cidfont} 0 R] /ToUnicode {tounicode} 0 R >>",
        )

    def _cmap(self) -> bytes:
        entries = [f"<{cid:04x}> <{ch.encode('utf-16-be').hex()}>" for ch, cid in self.cids.items()]
        blocks = []
        for i in range(0, len(entries), 100):
            chunk = entries[i : i + 100]
            blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar")
        body = "\n".join(blocks)
        return (
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            f"{body}\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
        ).encode()


def _num(v: float) -> str:
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _page_ctm(page: pymupdf.Page) -> tuple[pymupdf.Rect, pymupdf.Matrix]:
    """MuPDF's own page transform: the crop box in PDF space and the matrix from PDF space to the page as
    displayed (rotation applied, origin top-left), the space of every bbox in a UnifiedDocument.
    (`Page.transformation_matrix` and `Page.rotation_matrix` ignore the crop box offset on rotated pages.)"""
    box, ctm = pymupdf.mupdf.FzRect(), pymupdf.mupdf.FzMatrix()
    pymupdf.mupdf.pdf_page_transform(pymupdf.mupdf.pdf_page_from_fz_page(page.this), box, ctm)
    return pymupdf.Rect(box.x0, box.y0, box.x1, box.y1), pymupdf.Matrix(ctm.a, ctm.b, ctm.c, ctm.d, ctm.e, ctm.f)


def display_matrix(page: pymupdf.Page) -> pymupdf.Matrix:
    """From MuPDF's unrotated page space (what `get_text` returns) to the page as displayed."""
    box, ctm = _page_ctm(page)
    return ~pymupdf.Matrix(1, 0, 0, -1, -box.x0, box.y1) * ctm


def _to_pdf_matrix(page: pymupdf.Page) -> pymupdf.Matrix:
    """From the page as displayed to PDF user space."""
    return ~_page_ctm(page)[1]


def _placements(page: Page) -> tuple[list[tuple[str, BoundingBox, bool]], str]:
    """(text, box, stretch) for every line of an OCR page in reading order, and how exact the boxes are.

    Lines with their own boxes stretch to them. A block with a box but no lines stacks its lines in the
    box; text with no box at all (VLM output) is stacked over the page area. Those two are approximate
    and only shrink to fit, never stretch.
    """
    width, height = page.dimensions.width, page.dimensions.height
    items: list[tuple[str, BoundingBox | None, list[str] | None, bool]] = []
    loose = 0
    for element in page.ordered():
        if element.type == ElementType.IMAGE or not element.content.strip():
            continue
        if element.lines:
            for line in element.lines:
                if line.content.strip():
                    items.append((line.content.strip(), line.bbox, None, True))
            continue
        texts = [t.strip() for t in element.content.splitlines() if t.strip()]
        if element.bbox is not None and element.bbox.width > 0 and element.bbox.height > 0:
            items.append(("", element.bbox, texts, False))
        else:
            items += [(t, None, None, False) for t in texts]
            loose += len(texts)
    out: list[tuple[str, BoundingBox, bool]] = []
    approximate = False
    margin_x, margin_y = width * 0.05, height * 0.05
    pitch = (height - 2 * margin_y) / loose if loose else 0.0
    slot = 0
    for text, box, texts, exact in items:
        if exact:
            out.append((text, box, True))
        elif texts is not None:
            approximate = True
            step = box.height / len(texts)
            for i, t in enumerate(texts):
                out.append((t, BoundingBox(x0=box.x0, y0=box.y0 + i * step, x1=box.x1, y1=box.y0 + (i + 1) * step), False))
        else:
            approximate = True
            top = margin_y + slot * pitch
            size = min(pitch, 14.0)
            out.append((text, BoundingBox(x0=margin_x, y0=top, x1=width - margin_x, y1=top + size), False))
            slot += 1
    if not out:
        return out, Positions.NONE
    return out, Positions.APPROXIMATE if approximate else Positions.EXACT


def text_layer(page: Page, pdf_page: pymupdf.Page, font: _GlyphlessFont) -> tuple[bytes, str]:
    """The content stream of a page's invisible OCR text, and how exact its positions are."""
    placements, positions = _placements(page)
    if not placements:
        return b"", positions
    to_pdf = _to_pdf_matrix(pdf_page)
    ops = [f"\nQ\nq\nBT\n3 Tr\n/{FONT_NAME} 1 Tf"]
    for text, box, stretch in placements:
        hexcids, advance = font.encode(visual_order(text))
        size = box.height
        if size <= 0 or box.width <= 0 or advance <= 0:
            continue
        sx = box.width / advance
        if not stretch:
            sx = min(sx, size)  # at most the natural width: short approximate lines are not spread out
        m = pymupdf.Matrix(sx, 0, 0, -size, box.x0, box.y1) * to_pdf  # glyphs up, baseline on the box bottom
        ops.append(f"{_num(m.a)} {_num(m.b)} {_num(m.c)} {_num(m.d)} {_num(m.e)} {_num(m.f)} Tm <{hexcids}> Tj")
    ops.append("ET\nQ\n")
    return "\n".join(ops).encode(), positions


def _page_resources_with_font(doc: pymupdf.Document, pdf_page: pymupdf.Page, font_ref: str) -> None:
    """Give the page its own /Resources (a copy when shared or inherited) holding the OCR font."""
    kind, value = doc.xref_get_key(pdf_page.xref, "Resources")
    if kind == "xref":
        value = doc.xref_object(int(value.split()[0]), compressed=True)
    elif kind == "null":
        value = _inherited(doc, pdf_page.xref, "Resources") or "<<>>"
    doc.xref_set_key(pdf_page.xref, "Resources", value)
    fkind, fvalue = doc.xref_get_key(pdf_page.xref, "Resources/Font")
    if fkind == "xref":
        doc.xref_set_key(pdf_page.xref, "Resources/Font", doc.xref_object(int(fvalue.split()[0]), compressed=True))
    doc.xref_set_key(pdf_page.xref, f"Resources/Font/{FONT_NAME}", font_ref)


def _inherited(doc: pymupdf.Document, xref: int, key: str) -> str | None:
    for _ in range(64):
        kind, parent = doc.xref_get_key(xref, "Parent")
        if kind != "xref":
            return None
        xref = int(parent.split()[0])
        kind, value = doc.xref_get_key(xref, key)
        if kind == "xref":
            return doc.xref_object(int(value.split()[0]), compressed=True)
        if kind == "dict":
            return value
    return None


def _append_layer(doc: pymupdf.Document, pdf_page: pymupdf.Page, layer: bytes) -> None:
    """Existing content in q ... Q (whatever state it leaves cannot move the text), then the layer."""
    pdf_page.wrap_contents()  # balance stray q/Q first
    kind, value = doc.xref_get_key(pdf_page.xref, "Contents")
    if kind == "xref":
        existing = [value]
    elif kind == "array":
        existing = [f"{a} 0 R" for a in value.strip("[]").replace("0 R", "").split()]
    else:
        existing = []
    push = doc.get_new_xref()
    doc.update_object(push, "<<>>")
    doc.update_stream(push, b"q\n", compress=False)
    tail = doc.get_new_xref()
    doc.update_object(tail, "<<>>")
    doc.update_stream(tail, layer, compress=True)
    doc.xref_set_key(pdf_page.xref, "Contents", "[" + " ".join([f"{push} 0 R", *existing, f"{tail} 0 R"]) + "]")


def remove_invisible_text(pdf_page: pymupdf.Page) -> int:
    """Remove text drawn in render mode 3 (an earlier OCR layer); images, graphics and visible text stay.

    MuPDF's redaction removes the characters in the redacted areas and, with images and line art set
    to "none", leaves every image and path alone. Areas are the invisible spans' boxes, minus any that
    touch visible text, so a visible character is never lost. Returns the number of invisible
    characters found.
    """
    trace = pdf_page.get_texttrace()
    invisible = [s for s in trace if s["type"] == 3]
    if not invisible:
        return 0
    visible = [pymupdf.Rect(s["bbox"]) for s in trace if s["type"] != 3]
    rects = [pymupdf.Rect(s["bbox"]) for s in invisible]
    if visible:
        rects = [r for r in rects if not any(r.intersects(v) for v in visible)]
    else:
        rects = [pymupdf.Rect(pdf_page.rect)]  # nothing visible: one area covers all of it
    for rect in rects:
        pdf_page.add_redact_annot(rect, fill=False, cross_out=False)
    pdf_page.apply_redactions(
        images=pymupdf.PDF_REDACT_IMAGE_NONE, graphics=pymupdf.PDF_REDACT_LINE_ART_NONE, text=pymupdf.PDF_REDACT_TEXT_REMOVE
    )
    return sum(len(s["chars"]) for s in invisible)


def _engine_version(name: str | None) -> str | None:
    if not name:
        return None
    if name == "pymupdf":
        return f"pymupdf {pymupdf.VersionBind} (MuPDF {pymupdf.VersionFitz})"
    try:
        from docproc_assets.core.engines.registry import MODELS

        return MODELS[name].version if name in MODELS else name
    except Exception:  # noqa: BLE001 - metadata must never fail the write
        return name


def _image_document(source: Path, document: UnifiedDocument, max_pixels: int) -> tuple[pymupdf.Document, bool]:
    """One PDF page per image frame at its DPI (300 when the file has none): JPEG and PNG embedded as they
    are; other formats (TIFF frames, BMP, ...) converted by MuPDF in C, losslessly, after every frame's
    size has passed the pixel budget. Returns the document and whether a DPI was assumed."""
    doc = pymupdf.open()
    assumed = False
    with open_image(source, max_pixels) as image:
        frames = getattr(image, "n_frames", 1)
        if frames != len(document.pages):
            raise CorruptDocument(f"the image has {frames} frames but the document has {len(document.pages)} pages")
        for frame in ImageSequence.Iterator(image):
            dpi = frame.info.get("dpi") or image.info.get("dpi")
            if not (dpi and dpi[0] and float(dpi[0]) > 1):
                assumed = True
            w, h = frame.size
            if w * h > max_pixels:
                raise CorruptDocument(f"image frame of {w}x{h} pixels exceeds the pixel budget")
        as_is = image.format in ("JPEG", "PNG") and frames == 1
    if as_is:
        page = document.pages[0]
        pdf_page = doc.new_page(width=page.dimensions.width, height=page.dimensions.height)
        pdf_page.insert_image(pdf_page.rect, stream=source.read_bytes(), keep_proportion=False)
        return doc, assumed
    with pymupdf.open(source) as frames_doc:
        converted = pymupdf.open("pdf", frames_doc.convert_to_pdf())
    for number, page in enumerate(document.pages):
        pdf_page = doc.new_page(width=page.dimensions.width, height=page.dimensions.height)
        pdf_page.show_pdf_page(pdf_page.rect, converted, number, keep_proportion=False)
    return doc, assumed


def _xmp(document: UnifiedDocument, pages: list[dict], info: dict, approximate: bool, assumed_dpi: bool) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lis = []
    for p in pages:
        fields = "".join(f"<docproc:{k}>{escape(str(v))}</docproc:{k}>" for k, v in p.items() if v is not None)
        lis.append(f'<rdf:li rdf:parseType="Resource">{fields}</rdf:li>')
    title = f"<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{escape(info['title'])}</rdf:li></rdf:Alt></dc:title>" if info.get("title") else ""
    notes = []
    if approximate:
        notes.append("Text positions are approximate on pages whose OCR engine gave no boxes (see docproc:Pages).")
    if assumed_dpi:
        notes.append(f"The image had no resolution; {DEFAULT_IMAGE_DPI:g} dpi was assumed for the page size.")
    parts = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" ',
        f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:docproc="{XMP_NS}">',
        f"<pdf:Producer>{escape(PRODUCER)}</pdf:Producer><xmp:CreatorTool>{escape(PRODUCER)}</xmp:CreatorTool>",
        f"<xmp:ModifyDate>{now}</xmp:ModifyDate><xmp:MetadataDate>{now}</xmp:MetadataDate>{title}",
        f"<docproc:DocumentId>{document.document_id}</docproc:DocumentId>",
        f"<docproc:PositionsApproximate>{str(approximate).lower()}</docproc:PositionsApproximate>",
    ]
    if assumed_dpi:
        parts.append(f"<docproc:AssumedImageDpi>{DEFAULT_IMAGE_DPI:g}</docproc:AssumedImageDpi>")
    parts += [f"<docproc:Note>{escape(n)}</docproc:Note>" for n in notes]
    parts.append(f"<docproc:Pages><rdf:Seq>{''.join(lis)}</rdf:Seq></docproc:Pages>")
    parts.append('</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>')
    return "".join(parts)


def _set_metadata(doc: pymupdf.Document, document: UnifiedDocument, page_info: list[dict], approximate: bool, assumed_dpi: bool) -> None:
    keep = {k: v for k, v in (doc.metadata or {}).items() if k in ("title", "author", "subject", "keywords", "creator", "creationDate") and v}
    now = pymupdf.get_pdf_now()
    doc.set_metadata({**keep, "producer": PRODUCER, "modDate": now, "creationDate": keep.get("creationDate") or now})
    engines = "; ".join(f"{p['page']}: {p['engine']}" + (f" ({p['engineVersion']})" if p.get("engineVersion") and p["engineVersion"] != p["engine"] else "") for p in page_info if p.get("engine"))
    kind, info = doc.xref_get_key(-1, "Info")
    if kind == "xref":
        xref = int(info.split()[0])
        doc.xref_set_key(xref, "DocprocEngines", pymupdf.get_pdf_str(engines))
        if approximate:
            doc.xref_set_key(xref, "DocprocPositions", pymupdf.get_pdf_str("approximate on pages without OCR boxes"))
        if assumed_dpi:
            doc.xref_set_key(xref, "DocprocAssumedDpi", pymupdf.get_pdf_str(f"{DEFAULT_IMAGE_DPI:g}"))
    doc.set_xml_metadata(_xmp(document, page_info, keep, approximate, assumed_dpi))


def write_searchable_pdf(
    document: UnifiedDocument,
    source: Path,
    out: Path,
    *,
    password: str | None = None,
    replace_layer: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> SearchableResult:
    """Write `out`: the pages of `source` (the PDF the document's pages come from, or the image) with
    the OCR text of `document` laid invisibly over its OCR pages. Written to a temporary name and renamed,
    so a failure never leaves a partial file; a bad source raises the same DocumentError as extraction."""
    start = time.perf_counter()
    if document.status == Status.ERROR:
        raise DocumentError(document.error or "the document failed: nothing to write")
    source, out = Path(source), Path(out)
    kind = sniff(source).kind
    assumed_dpi = False
    if kind == Kind.IMAGE:
        doc, assumed_dpi = _image_document(source, document, max_pixels)
    else:
        doc = open_pdf(source, password)
        if (count := doc.page_count) != len(document.pages):
            doc.close()
            raise CorruptDocument(f"the source has {count} pages but the document has {len(document.pages)}")
    result = SearchableResult(path=out, pages=len(document.pages), size_bytes=0, seconds=0.0, assumed_dpi=assumed_dpi)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        font = _GlyphlessFont(doc)
        page_info = []
        for page in document.pages:
            pdf_page = doc[page.page_number - 1]
            positions = Positions.NONE
            if page.track == Track.OCR:
                result.ocr_pages += 1
                layer, positions = text_layer(page, pdf_page, font)
                if layer:
                    if replace_layer and kind != Kind.IMAGE and remove_invisible_text(pdf_page):
                        result.replaced_layers += 1
                        pdf_page = doc[page.page_number - 1]  # reload after the content rewrite
                    _page_resources_with_font(doc, pdf_page, font.reference())
                    _append_layer(doc, pdf_page, layer)
                if positions == Positions.APPROXIMATE:
                    result.approximate_pages.append(page.page_number)
            page_info.append({
                "page": page.page_number, "track": page.track.value, "engine": page.engine,
                "engineVersion": _engine_version(page.engine), "positions": positions,
            })
        font.finish()
        _set_metadata(doc, document, page_info, bool(result.approximate_pages), assumed_dpi)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc.save(tmp, garbage=3, deflate=kind == Kind.IMAGE, use_objstms=1)
        os.replace(tmp, out)
    except DocumentError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:  # a MuPDF failure on a hostile file stays this document's error
        tmp.unlink(missing_ok=True)
        raise CorruptDocument(f"searchable PDF failed: {type(exc).__name__}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        doc.close()
    result.size_bytes = out.stat().st_size
    result.seconds = round(time.perf_counter() - start, 4)
    return result


def write_for_path(document: UnifiedDocument, path: Path, out: Path, options=None) -> SearchableResult:
    """write_searchable_pdf for an input file as the pipeline read it (office files: LibreOffice's PDF)."""
    from docproc_assets.core.pipeline import Options, page_source

    options = options or Options()
    return write_searchable_pdf(document, page_source(path, options), out, password=options.password, max_pixels=options.max_pixels)
