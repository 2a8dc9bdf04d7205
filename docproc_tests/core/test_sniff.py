import io
import zipfile

import pytest

from docproc_assets.core.errors import CorruptDocument, UnsupportedDocument
from docproc_assets.core.sniff import Kind, sniff, zip_damage
from docproc_tests import documents as D


def test_png_named_pdf_is_an_image(tmp_path):
    path = D.png(tmp_path / "looks-like.pdf")
    assert sniff(path).kind == Kind.IMAGE and sniff(path).mime == "image/png"


def test_pdf_named_png_is_a_pdf(tmp_path):
    path = tmp_path / "report.png"
    path.write_bytes(D.digital_pdf(tmp_path / "r.pdf").read_bytes())
    assert sniff(path).kind == Kind.PDF


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "unsupported file type"),
        (b"<!DOCTYPE html><html><body>hello</body></html>", "unsupported file type text/html"),
    ],
)
def test_wrong_types_are_refused_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "fake.pdf"
    path.write_bytes(content)
    with pytest.raises(UnsupportedDocument, match=reason):
        sniff(path)


def test_zip_named_pdf_is_refused(tmp_path):
    path = tmp_path / "archive.pdf"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedDocument, match="zip archive"):
        sniff(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(CorruptDocument, match="empty file"):
        sniff(path)


def test_docx_and_truncated_docx(tmp_path):
    """A damaged office zip is still typed as office (LibreOffice may repair it); zip_damage says what is wrong."""
    good = D.docx(tmp_path / "a.docx")
    assert sniff(good).mime.endswith("wordprocessingml.document") and zip_damage(good) is None
    bad = D.truncated(tmp_path / "b.docx", good, 0.6)
    assert sniff(bad).kind == Kind.OFFICE and sniff(bad).mime.endswith("wordprocessingml.document")
    assert zip_damage(bad) == "the zip's central directory is missing (a truncated file)"


def test_damaged_plain_zip_is_corrupt(tmp_path):
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "hello " * 1000)
    bad = D.truncated(tmp_path / "cut", archive, 0.6)
    with pytest.raises(CorruptDocument, match="corrupt or truncated office file"):
        sniff(bad)


def test_odt_from_mimetype_entry(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<office:document-content/>")
    path = tmp_path / "doc.bin"
    path.write_bytes(buf.getvalue())
    assert sniff(path).kind == Kind.OFFICE
