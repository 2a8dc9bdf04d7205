"""Per-page routing: trust a good text layer, send scans and garbled text to OCR.

Every decision is deterministic and keeps its evidence (PageRoute). The evidence comes from one text
pass per page, and the same pass feeds direct extraction, so routing a book costs no second extraction.
Costlier probes (image boxes, invisible-text traces, vector paths) run only on pages where the cheap
evidence leaves the question open.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
import pymupdf

from docproc_assets.core import scripts
from docproc_assets.core.document import PageRoute, Track
from docproc_assets.core.fidelity import VISIBLE_CHAR_FLAGS, normalise
from docproc_assets.core.layout import Box

# Text flags: no image bytes (decoding them is what makes get_text("dict") slow on scans).
TEXT_FLAGS = (
    pymupdf.TEXT_PRESERVE_LIGATURES
    | pymupdf.TEXT_PRESERVE_WHITESPACE
    | pymupdf.TEXT_MEDIABOX_CLIP
    | pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE
)

MIN_TEXT_CHARS = 16  # fewer visible characters than this is "no text layer"
SCAN_COVERAGE = 0.6  # images over this share of the page make it scan-like
SCAN_TEXT_CHARS = 200  # a scan-like page needs this much visible text to be trusted as digital
GARBLED_RATIO = 0.15
UNMAPPED_FONT_SHARE = 0.5
OUTLINE_PATHS = 40  # curve-bearing paths on a page without text: glyphs drawn as outlines
IMAGE_ONLY_COVERAGE = 0.10  # below this a text-less page is a picture on a blank page, not a scan

_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_CID = re.compile(r"\(cid:\d+\)")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BAD_CATEGORIES = {"Cc", "Co", "Cn", "Cs"}


class TrackMode(StrEnum):
    AUTO = "auto"
    DIRECT = "direct"
    OCR = "ocr"


@dataclass
class FontProfile:
    """How a page's visible characters are set: the body size, and how common each size and bold are
    (a size or weight most of the page uses is body text, however large)."""

    body_size: float = 10.0
    size_share: dict[float, float] = field(default_factory=dict)  # size (0.1 pt) -> share of characters
    bold_share: float = 0.0

    def share(self, size: float) -> float:
        return self.size_share.get(round(size, 1), 0.0)


@lru_cache(maxsize=1024)
def _bold_name(font: str) -> bool:
    return bool(_BOLD_FONT.search(font))


def bold(flags: int, font: str) -> bool:
    """Bold by MuPDF's flag or by the font's name (many PDFs set no flag)."""
    return bool(flags & pymupdf.TEXT_FONT_BOLD) or _bold_name(font)


@dataclass(slots=True)
class Line:
    """One MuPDF line as the page shows it, read once in the routing pass for every later stage."""

    block: int  # index of its block in the text pass
    number: int  # its index in that block
    bbox: Box
    text: str  # its visible text, normalised (fidelity.normalise) and stripped
    main: dict[str, Any]  # its visible span holding the most characters: the line's style


@dataclass
class PageAnalysis:
    """One page's text pass and the route decided from it; direct extraction reuses `text` and `lines`."""

    route: PageRoute
    text: dict[str, Any] = field(default_factory=dict)
    fonts: FontProfile = field(default_factory=FontProfile)
    image_boxes: list[tuple[float, float, float, float]] | None = None
    lines: list[Line] = field(default_factory=list)


def garbled_chars(text: str) -> int:
    """Characters that no reader could use: U+FFFD, (cid:N) escapes, control and private-use code points.
    Only the non-ASCII characters are looked up (once per distinct one): a page's text is mostly ASCII."""
    bad = sum(len(m) for m in _CID.findall(text)) if "(cid:" in text else 0
    bad += len(_ASCII_CONTROL.findall(text))
    if not text.isascii():
        bad += sum(n for ch, n in scripts.non_ascii(text).items()
                   if ch == "\ufffd" or unicodedata.category(ch) in _BAD_CATEGORIES)
    return bad


def _strip_subset(name: str) -> str:
    return name.split("+", 1)[1] if len(name) > 7 and name[6] == "+" else name


def unmapped_fonts(page: pymupdf.Page) -> set[str]:
    """Composite (Type0) fonts without a ToUnicode map: their text comes out as glyph ids, not letters."""
    doc = page.parent
    names = set()
    for xref, _ext, ftype, basefont, _name, encoding in page.get_fonts():
        if ftype == "Type0" and encoding.startswith("Identity") and xref:
            if doc.xref_get_key(xref, "ToUnicode")[0] == "null":
                names.add(_strip_subset(basefont))
    return names


class FontMaps:
    """Which of a document's fonts lack a Unicode map. A page's fonts are read (get_fonts, ~0.2 ms)
    only when its text uses a font no earlier page did: a book's pages share a handful of fonts."""

    def __init__(self) -> None:
        self._unmapped: dict[str, bool] = {}

    def unmapped(self, page: pymupdf.Page, names: set[str]) -> set[str]:
        """Those of `names` (fonts the page's text is set in) without a Unicode map."""
        if not names <= self._unmapped.keys():
            found = unmapped_fonts(page)
            self._unmapped.update((name, name in found) for name in names | found)
        return {name for name in names if self._unmapped[name]}


def coverage(boxes: list[tuple[float, float, float, float]], rect: pymupdf.Rect, grid: int = 64) -> float:
    """Share of the page covered by the union of boxes, on a coarse grid (overlaps count once)."""
    if not boxes or rect.is_empty:
        return 0.0
    mask = np.zeros((grid, grid), dtype=bool)
    sx, sy = grid / rect.width, grid / rect.height
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(max(0.0, (x0 - rect.x0) * sx)), int(min(grid, np.ceil((x1 - rect.x0) * sx)))
        r0, r1 = int(max(0.0, (y0 - rect.y0) * sy)), int(min(grid, np.ceil((y1 - rect.y0) * sy)))
        if c1 > c0 and r1 > r0:
            mask[r0:r1, c0:c1] = True
    return round(float(mask.mean()), 4)


def image_boxes(page: pymupdf.Page) -> list[tuple[float, float, float, float]]:
    return [tuple(info["bbox"]) for info in page.get_image_info()]


def outline_paths(page: pymupdf.Page) -> int:
    """Paths with curves: a page of text converted to outlines has one per glyph."""
    return sum(1 for path in page.get_cdrawings() if any(item[0] == "c" for item in path.get("items", ())))


@dataclass
class TextStats:
    visible: int = 0
    invisible: int = 0
    garbled: int = 0
    unmapped: int = 0
    fonts: FontProfile = field(default_factory=FontProfile)
    lines: list[Line] = field(default_factory=list)
    font_chars: Counter[str] = field(default_factory=Counter)  # visible characters by font name


def text_stats(text: dict[str, Any]) -> TextStats:
    """The routing evidence of a text pass, and its visible lines (the one walk over its spans, kept
    lean: per span only a count by style; sizes, bold and unmapped fonts are read per distinct style)."""
    stats, parts, styles, invisible = TextStats(), [], {}, 0
    lines, append, count = stats.lines, parts.append, styles.get
    for b, block in enumerate(text.get("blocks", ())):
        for number, line in enumerate(block.get("lines", ())):
            main, most, start = None, 0, len(parts)
            for span in line["spans"]:
                s = span["text"]
                if not (span["alpha"] and span["char_flags"] & VISIBLE_CHAR_FLAGS):  # fidelity.is_visible, inlined
                    invisible += len(s) - s.count(" ")
                    continue
                append(s)
                if s != " " and (n := len(s) - s.count(" ")):  # many PDFs set each space between words as a span of its own
                    style = span["size"], span["flags"], span["font"]
                    styles[style] = count(style, 0) + n
                    if n > most and not s.isspace():
                        main, most = span, n
            if main is not None and (content := normalise("".join(parts[start:])).strip()):
                lines.append(Line(b, number, tuple(line["bbox"]), content, main))
    stats.invisible, stats.garbled = invisible, garbled_chars("".join(parts))
    sizes: Counter[float] = Counter()
    bold_chars = 0
    for (size, flags, font), n in styles.items():
        sizes[round(size, 1)] += n
        bold_chars += n if bold(flags, font) else 0
        stats.font_chars[_strip_subset(font)] += n
    stats.visible = total = sum(sizes.values())
    if total:
        stats.fonts = FontProfile(
            body_size=sizes.most_common(1)[0][0],
            size_share={size: n / total for size, n in sizes.items()},
            bold_share=bold_chars / total,
        )
    return stats


def analyse_page(page: pymupdf.Page, mode: TrackMode = TrackMode.AUTO, fonts: FontMaps | None = None) -> PageAnalysis:
    """Route one PDF page, keeping the text pass for direct extraction. `fonts`: the document's, shared
    by its pages."""
    text = page.get_text("dict", flags=TEXT_FLAGS)
    stats = text_stats(text)
    if stats.font_chars:
        unmapped = (fonts or FontMaps()).unmapped(page, set(stats.font_chars))
        stats.unmapped = sum(n for font, n in stats.font_chars.items() if font in unmapped)
    boxes = image_boxes(page) if page.get_images(full=False) or stats.visible < SCAN_TEXT_CHARS else []
    route = PageRoute(
        track=Track.DIRECT,
        reason="",
        text_chars=stats.visible,
        invisible_chars=stats.invisible,
        image_coverage=coverage(boxes, page.rect),
        garbled_ratio=round(stats.garbled / stats.visible, 4) if stats.visible else 0.0,
        unmapped_font_chars=stats.unmapped,
    )
    route.track, route.reason = _decide(route, page)
    if route.track == Track.DIRECT:  # an OCR page's script is read from its image, when it is read
        guess = scripts.from_text("\n".join(line.text for line in stats.lines))  # words at line ends stay words
        route.script, route.language, route.script_evidence = guess.script, guess.language, guess.evidence
    if mode != TrackMode.AUTO:
        route.forced = route.track != Track(mode.value)
        if route.forced:
            route.reason = f"forced {mode.value} (auto would say: {route.reason})"
        route.track = Track(mode.value)
    return PageAnalysis(route=route, text=text, fonts=stats.fonts, image_boxes=boxes, lines=stats.lines)


def _decide(r: PageRoute, page: pymupdf.Page) -> tuple[Track, str]:
    if r.text_chars >= MIN_TEXT_CHARS:
        if r.garbled_ratio > GARBLED_RATIO:
            return Track.OCR, f"garbled text layer: {r.garbled_ratio:.0%} of characters unreadable"
        if r.unmapped_font_chars > UNMAPPED_FONT_SHARE * r.text_chars:
            return Track.OCR, f"garbled text layer: {r.unmapped_font_chars} characters in fonts without a Unicode map"
        if r.image_coverage >= SCAN_COVERAGE and r.text_chars < SCAN_TEXT_CHARS:
            return Track.OCR, f"scan: images cover {r.image_coverage:.0%}, only {r.text_chars} characters of text"
        return Track.DIRECT, f"text layer: {r.text_chars} characters"
    if r.invisible_chars >= MIN_TEXT_CHARS and r.image_coverage >= SCAN_COVERAGE:
        return Track.OCR, f"scan with an invisible OCR layer ({r.invisible_chars} characters): OCR again"
    if r.image_coverage >= IMAGE_ONLY_COVERAGE:
        return Track.OCR, f"no text layer: images cover {r.image_coverage:.0%}"
    r.vector_paths = outline_paths(page)
    if r.vector_paths >= OUTLINE_PATHS:
        return Track.OCR, f"text drawn as vector outlines ({r.vector_paths} curved paths, no text layer)"
    return Track.DIRECT, f"blank page ({r.text_chars} characters, no images)"


def image_route(frame: int, frames: int, mode: TrackMode = TrackMode.AUTO) -> PageRoute:
    """Image files have no text layer: OCR, unless the user forces direct (which then yields no text)."""
    reason = f"image file, frame {frame} of {frames}"
    if mode == TrackMode.DIRECT:
        return PageRoute(track=Track.DIRECT, reason=f"forced direct ({reason}: no text layer)", forced=True, image_coverage=1.0)
    return PageRoute(track=Track.OCR, reason=reason, image_coverage=1.0)
