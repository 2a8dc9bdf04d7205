"""Documents the tests make themselves: digital, scanned, mixed, tabular, multi-column and hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pymupdf
from PIL import Image

LETTER = pymupdf.paper_rect("letter")

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. "
    "How vexingly quick daft zebras jump."
)


def digital_pdf(path: Path, pages: list[str] | None = None, fontsize: float = 11) -> Path:
    """One text page per string, set in Helvetica inside a textbox."""
    doc = pymupdf.open()
    for text in pages or [PARAGRAPH]:
        page = doc.new_page(width=LETTER.width, height=LETTER.height)
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=fontsize, fontname="helv")
    doc.save(path)
    return path


def page_image(text: str, dpi: int = 300, fontsize: float = 14) -> Image.Image:
    """A clean page image with `text` on it, as a scanner would see a printed page."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER.width, height=LETTER.height)
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=fontsize, fontname="helv")
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    return Image.frombytes("L", (pix.width, pix.height), pix.samples)


def _image_page(doc: pymupdf.Document, image: Image.Image) -> pymupdf.Page:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    page = doc.new_page(width=LETTER.width, height=LETTER.height)
    page.insert_image(page.rect, stream=buf.getvalue())
    return page


def scanned_pdf(path: Path, texts: list[str] | None = None, dpi: int = 200) -> Path:
    """Image-only pages: the text exists only as pixels."""
    doc = pymupdf.open()
    for text in texts or [PARAGRAPH]:
        _image_page(doc, page_image(text, dpi=dpi))
    doc.save(path)
    return path


def mixed_pdf(path: Path, kinds: str = "dsd") -> Path:
    """Pages in order of `kinds`: d = digital text page, s = scanned page."""
    doc = pymupdf.open()
    for i, kind in enumerate(kinds):
        text = f"Page {i + 1}. {PARAGRAPH}"
        if kind == "d":
            page = doc.new_page(width=LETTER.width, height=LETTER.height)
            page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=11, fontname="helv")
        else:
            _image_page(doc, page_image(text, dpi=150))
    doc.save(path)
    return path


def ocr_layered_scan(path: Path, text: str = PARAGRAPH) -> Path:
    """A scan with an invisible text layer over it (what OCRmyPDF produces)."""
    doc = pymupdf.open()
    page = _image_page(doc, page_image(text, dpi=150))
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=14, fontname="helv", render_mode=3)
    doc.save(path)
    return path


def garbled_pdf(path: Path) -> Path:
    """Text in an Identity-H font whose ToUnicode map was removed: extraction yields glyph ids."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_font(fontname="F0", fontbuffer=pymupdf.Font("cjk").buffer)
    page.insert_text((72, 100), "Hello world, this text has lost its Unicode map.", fontname="F0", fontsize=12)
    font_xref = page.get_fonts()[0][0]
    doc.xref_set_key(font_xref, "ToUnicode", "null")
    doc.save(path)
    return path


def outlined_text_pdf(path: Path, glyphs: int = 60) -> Path:
    """No text layer, but many small curved paths: text converted to outlines."""
    doc = pymupdf.open()
    page = doc.new_page()
    shape = page.new_shape()
    for i in range(glyphs):
        x, y = 72 + (i % 20) * 22, 100 + (i // 20) * 30
        shape.draw_bezier((x, y), (x + 5, y - 10), (x + 10, y - 10), (x + 15, y))
        shape.finish(color=(0, 0, 0), fill=(0, 0, 0))
    shape.commit()
    doc.save(path)
    return path


def two_column_pdf(path: Path) -> Path:
    """A title across the page, then two columns whose paragraphs line up row by row."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER.width, height=LETTER.height)
    page.insert_text((72, 80), "Columns Title", fontsize=22, fontname="hebo")
    for col, x in enumerate((72, 320)):
        for para in range(3):
            rect = pymupdf.Rect(x, 120 + para * 120, x + 220, 220 + para * 120)
            page.insert_textbox(rect, f"Column {'AB'[col]} paragraph {para + 1}. {PARAGRAPH}", fontsize=10, fontname="helv")
    doc.save(path)
    return path


def structured_pdf(path: Path) -> Path:
    """Heading, paragraph, bullet list, a ruled table, an image with a caption, on two pages with a
    running header and page-number footers."""
    doc = pymupdf.open()
    for n in (1, 2):
        page = doc.new_page(width=LETTER.width, height=LETTER.height)
        page.insert_text((72, 40), "ACME Quarterly Report", fontsize=9, fontname="helv")
        page.insert_text((300, 770), f"{n}", fontsize=9, fontname="helv")
        if n == 2:
            page.insert_textbox(pymupdf.Rect(72, 72, 540, 200), "Second page body text. " + PARAGRAPH, fontsize=11, fontname="helv")
            continue
        page.insert_text((72, 90), "Annual Results", fontsize=24, fontname="hebo")
        page.insert_textbox(pymupdf.Rect(72, 110, 540, 170), PARAGRAPH, fontsize=11, fontname="helv")
        for i, item in enumerate(["• First point", "• Second point", "• Third point"]):
            page.insert_text((90, 190 + i * 16), item, fontsize=11, fontname="helv")
        _ruled_table(page, top=260, rows=[["Region", "Sales", "Growth"], ["North", "120", "5%"], ["South", "98", "3%"]])
        img = Image.new("RGB", (200, 100), (200, 30, 30))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        page.insert_image(pymupdf.Rect(72, 400, 272, 500), stream=buf.getvalue())
        page.insert_text((72, 520), "Figure 1: Sales by region", fontsize=10, fontname="helv")
    doc.save(path)
    return path


def _ruled_table(page: pymupdf.Page, top: float, rows: list[list[str]], left: float = 72, cw: float = 120, rh: float = 22) -> None:
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            page.insert_text((left + c * cw + 4, top + r * rh + 15), value, fontsize=10, fontname="helv")
    for r in range(len(rows) + 1):
        page.draw_line((left, top + r * rh), (left + cw * len(rows[0]), top + r * rh))
    for c in range(len(rows[0]) + 1):
        page.draw_line((left + c * cw, top), (left + c * cw, top + rh * len(rows)))


def encrypted_pdf(path: Path, user_pw: str = "secret", owner_pw: str = "owner") -> Path:
    doc = pymupdf.open(digital_pdf(path.with_suffix(".plain.pdf")))
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=user_pw, owner_pw=owner_pw)
    return path


def owner_only_encrypted_pdf(path: Path) -> Path:
    doc = pymupdf.open(digital_pdf(path.with_suffix(".plain.pdf")))
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", permissions=pymupdf.PDF_PERM_PRINT)
    return path


def png(path: Path, text: str = PARAGRAPH, dpi: int = 200) -> Path:
    page_image(text, dpi=dpi).save(path, format="PNG", dpi=(dpi, dpi))
    return path


def multipage_tiff(path: Path, texts: list[str]) -> Path:
    frames = [page_image(t, dpi=100) for t in texts]
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(100, 100))
    return path


def png_bomb(path: Path, side: int = 40000) -> Path:
    """A tiny PNG whose header claims side x side pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def truncated(path: Path, source: Path, share: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def docx(path: Path) -> Path:
    """A Word file with a heading, a paragraph and a table (python-docx)."""
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading("Quarterly Summary", level=1)
    document.add_paragraph(PARAGRAPH)
    table = document.add_table(rows=2, cols=2)
    table.style = "Table Grid"
    for r, row in enumerate([["Name", "Value"], ["Alpha", "42"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(path)
    return path


TOC_ENTRIES = [("1", "Introduction", "1"), ("2", "Installing the toolkit", "3"), ("2.1", "Requirements", "3"),
               ("2.2", "Building from source", "5"), ("3", "Reading documents", "9"), ("3.1", "Digital pages", "11"),
               ("3.2", "Scanned pages", "14"), ("4", "Comparing engines", "21"), ("4.1", "Metrics", "22"),
               ("4.2", "Reports", "27"), ("A", "Licence", "31")]


def toc_pdf(path: Path) -> Path:
    """A table of contents set as LaTeX sets one: section numbers, titles, dot leaders, page numbers
    right-aligned at the margin; the rows `docproc` must keep whole on the OCR track."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER.width, height=LETTER.height)
    page.insert_text((72, 90), "Contents", fontsize=24, fontname="hebo")
    for i, (number, title, at) in enumerate(TOC_ENTRIES):
        y = 140 + i * 26
        indent = 90 if "." in number else 72
        font = "helv" if "." in number else "hebo"
        page.insert_text((indent, y), f"{number}  {title}", fontsize=11, fontname=font)
        start = indent + pymupdf.get_text_length(f"{number}  {title}", fontname=font, fontsize=11) + 6
        leaders = " ".join("." * 1 for _ in range(int((520 - start) / pymupdf.get_text_length(". ", fontsize=11))))
        page.insert_text((start, y), leaders, fontsize=11, fontname="helv")
        page.insert_text((540 - pymupdf.get_text_length(at, fontname=font, fontsize=11), y), at, fontsize=11, fontname=font)
    doc.save(path)
    return path


def render(pdf: Path, path: Path, dpi: int = 200, page: int = 0) -> Path:
    """One page of a PDF as a grey PNG at `dpi`: a scan with a known text layer behind it."""
    with pymupdf.open(pdf) as doc:
        doc[page].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY).pil_save(path, dpi=(dpi, dpi))
    return path


RUSSIAN = ("Это страница руководства пользователя. Программа читает документы и сохраняет текст в базе данных. "
           "Каждая строка имеет свои координаты и оценку уверенности.")
JAPANESE = "これはユーザーマニュアルのページです。プログラムは文書を読み取り、テキストをデータベースに保存します。"
HANGUL = "이것은 사용자 설명서의 한 페이지입니다. 프로그램은 문서를 읽고 텍스트를 데이터베이스에 저장합니다."
GREEK = "Αυτή είναι μια σελίδα του εγχειριδίου χρήσης. Το πρόγραμμα διαβάζει έγγραφα και αποθηκεύει το κείμενο."


HEBREW = "זהו עמוד של המדריך שהתוכנית קוראת ושומרת במסד הנתונים. כל שורה נקראת מימין לשמאל."
ARABIC = "هذه صفحة من الدليل التي يقرأها البرنامج ويحفظها في قاعدة البيانات. كل سطر يقرأ من اليمين إلى اليسار."
HINDI = "यह पुस्तिका का एक पृष्ठ है जिसे प्रोग्राम पढ़ता है और डेटाबेस में सहेजता है। हर पंक्ति बाएँ से दाएँ पढ़ी जाती है।"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core (make install): Hebrew, Arabic
LOHIT = Path("/usr/share/fonts/truetype/lohit-devanagari/Lohit-Devanagari.ttf")  # fonts-lohit-deva (make install)


def shaped_pdf(path: Path, text: str, language: str, font: Path, repeat: int = 4) -> Path:
    """A digital page set by MuPDF's HTML layout (HarfBuzz shaping, bidi) in `font`: Arabic letters joined,
    Devanagari conjuncts formed, right-to-left lines ordered, as a reader sees them."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER.width, height=LETTER.height)
    css = f"@font-face {{font-family: f; src: url({font.name});}} body {{font-family: f; font-size: 14pt;}}"
    direction = ' dir="rtl"' if language in ("he", "ar") else ""
    page.insert_htmlbox(pymupdf.Rect(72, 72, 540, 720), f'<p{direction} lang="{language}">{" ".join([text] * repeat)}</p>',
                        css=css, archive=pymupdf.Archive(str(font.parent)))
    doc.save(path)
    return path


def script_pdf(path: Path, text: str, repeat: int = 4) -> Path:
    """A digital page in a non-Latin script, set in the Droid Sans Fallback PyMuPDF ships (Cyrillic, Greek, CJK)."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER.width, height=LETTER.height)
    page.insert_font(fontname="F0", fontbuffer=pymupdf.Font("cjk").buffer)
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), " ".join([text] * repeat), fontsize=13, fontname="F0")
    doc.save(path)
    return path
