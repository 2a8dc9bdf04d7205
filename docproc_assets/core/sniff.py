"""What a file is, from its bytes (libmagic), never from its name alone.

The extension is only consulted to tell apart office formats that share a container (an OLE2 file is a
.doc, .xls or .ppt), and never overrides the content: a PNG named .pdf is an image, a zip named .pdf is
rejected.
"""

from __future__ import annotations

import errno
import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import magic

from docproc_assets.core.errors import CorruptDocument, DocumentError, PasswordRequired, UnsupportedDocument

HEAD_BYTES = 64 * 1024

SIDECAR_SUFFIX = ".gt.txt"  # ground truth beside a document (core/groundtruth.py): never a document itself
LAYOUT_SUFFIX = ".gt.layout.txt"  # its visual rows (`pdftotext -layout` of the source page): never a document either

# Names a folder walk takes without looking inside; other files are taken when their content is a
# supported type (a scan saved without an extension), and left alone otherwise (notes, manifests).
DOCUMENT_SUFFIXES = frozenset({
    ".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif",
    ".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".odp", ".xlsx", ".xls", ".ods",
})


class Kind(StrEnum):
    PDF = "pdf"
    IMAGE = "image"
    OFFICE = "office"


IMAGE_MIMES = {"image/png", "image/jpeg", "image/tiff", "image/bmp", "image/x-ms-bmp", "image/webp", "image/gif"}

# The office types LibreOffice converts, and the extension a file of each type is converted under.
OFFICE_EXTENSIONS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/vnd.oasis.opendocument.presentation": ".odp",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/rtf": ".rtf",
    "text/rtf": ".rtf",
}
OFFICE_MIMES = frozenset(OFFICE_EXTENSIONS)

# Containers libmagic cannot always see into: decided by looking inside (zip) or by the extension (OLE2).
_OOXML_BY_PART = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_OLE_BY_EXTENSION = {
    OFFICE_EXTENSIONS[mime]: mime for mime in ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint")
}
_ZIP_MIMES = {"application/zip", "application/x-zip-compressed"}
_OLE_MIMES = {"application/x-ole-storage", "application/CDFV2", "application/vnd.ms-office"}


@dataclass(frozen=True)
class FileType:
    kind: Kind
    mime: str


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def mime_of(head: bytes) -> str:
    return magic.from_buffer(head, mime=True)


def sniff(path: Path) -> FileType:
    """Classify a file by content, or raise a DocumentError whose message says why it is refused."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise CorruptDocument("empty file (0 bytes)")
    mime = mime_of(head)
    if mime == "application/pdf":
        return FileType(Kind.PDF, mime)
    if mime in IMAGE_MIMES:
        return FileType(Kind.IMAGE, "image/bmp" if mime == "image/x-ms-bmp" else mime)
    if mime == "application/encrypted":
        raise PasswordRequired("password-protected office document (encrypted OLE2 container)")
    if mime in _ZIP_MIMES or mime.startswith(("application/vnd.openxmlformats", "application/vnd.oasis")):
        return FileType(Kind.OFFICE, _zip_office_mime(path, mime))
    if mime in _OLE_MIMES and path.suffix.lower() in _OLE_BY_EXTENSION:
        return FileType(Kind.OFFICE, _OLE_BY_EXTENSION[path.suffix.lower()])
    if mime in OFFICE_MIMES:
        return FileType(Kind.OFFICE, mime)
    described = magic.from_buffer(head)
    raise UnsupportedDocument(f"unsupported file type {mime} ({described[:60]})")


def _zip_office_mime(path: Path, mime: str) -> str:
    """An office zip container must hold office parts; a plain zip archive is refused.

    A damaged container is not refused here when libmagic or the extension already says which office
    type it is: LibreOffice repairs many damaged zips, and `zip_damage` explains the ones it cannot.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "[Content_Types].xml" in names:
                for prefix, ooxml in _OOXML_BY_PART.items():
                    if any(n.startswith(prefix) for n in names):
                        return ooxml
            if "mimetype" in names:
                odf = archive.read("mimetype").decode("ascii", "replace").strip()
                if odf in OFFICE_MIMES:
                    return odf
    except Exception as exc:  # noqa: BLE001 - zipfile raises far more than BadZipFile (see zip_damage)
        known = mime if mime in OFFICE_MIMES else _ZIP_OFFICE_BY_EXTENSION.get(path.suffix.lower())
        if known:
            return known
        if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
            raise PasswordRequired("password-protected zip container: the office file cannot be read") from exc
        raise CorruptDocument(f"corrupt or truncated office file ({mime}): {_reason(exc)}") from exc
    if mime in OFFICE_MIMES:  # libmagic read the type from the first entry; the listing lost it
        return mime
    raise UnsupportedDocument("zip archive, not a document (no office parts inside)")


_ZIP_OFFICE_BY_EXTENSION = {
    extension: mime for mime, extension in OFFICE_EXTENSIONS.items() if extension[1:] in {"docx", "xlsx", "pptx", "odt", "ods", "odp"}
}


def _reason(exc: BaseException) -> str:
    """zipfile's exception in words a user can act on."""
    if isinstance(exc, OSError) and exc.errno == errno.EINVAL:
        return "an entry's offset points outside the file"
    if isinstance(exc, UnicodeDecodeError):
        return "an entry's name is damaged (not valid UTF-8)"
    if isinstance(exc, NotImplementedError):
        return f"unsupported zip feature ({exc})"
    if isinstance(exc, zlib.error):
        return f"compressed data is damaged ({exc})"
    return " ".join(str(exc).split()) or type(exc).__name__


def zip_damage(path: Path) -> str | None:
    """What is wrong with a zip container (every entry read and its CRC checked), or None when it is sound.

    zipfile raises far more than BadZipFile on damaged archives: OSError for a negative seek from a bad
    offset, NotImplementedError for an unknown version or method, zlib and struct errors, EOFError,
    RuntimeError for an encrypted entry. Each is the file's problem, never the caller's.
    """
    try:
        with path.open("rb") as fh:
            if fh.read(2) != b"PK":
                return None  # not a zip container (an OLE2 or RTF office file)
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        return f"entry {bad!r} is damaged (CRC mismatch)" if bad else None
    except zipfile.BadZipFile as exc:
        if str(exc) == "File is not a zip file":  # zipfile's words when the end-of-central-directory record is gone
            return "the zip's central directory is missing (a truncated file)"
        return _reason(exc)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return _reason(exc)


def worth_trying(path: Path) -> bool:
    """Should a folder walk take this file? Known document suffixes yes; others by libmagic's verdict on
    their first bytes. Never opens a container and never raises: listing a folder parses nothing, so a
    damaged file is taken and fails as that document, not as the listing."""
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return True
    if path.name.endswith((SIDECAR_SUFFIX, LAYOUT_SUFFIX)):
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        mime = mime_of(head) if head else ""
    except Exception:  # noqa: BLE001 - unreadable or vanished: not a document to list
        return False
    if mime in _ZIP_MIMES:  # an office zip names its parts in its first local headers
        return b"[Content_Types].xml" in head or b"mimetypeapplication/vnd.oasis" in head
    return (mime == "application/pdf" or mime in IMAGE_MIMES or mime in OFFICE_MIMES
            or mime.startswith(("application/vnd.openxmlformats", "application/vnd.oasis")))
