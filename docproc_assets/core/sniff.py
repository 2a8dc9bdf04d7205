"""What a file is, from its bytes (libmagic), never from its name alone.

The extension is only consulted to tell apart office formats that share a container (an OLE2 file is a
.doc, .xls or .ppt), and never overrides the content: a PNG named .pdf is an image, a zip named .pdf is
rejected.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import magic

from docproc_assets.core.errors import CorruptDocument, DocumentError, PasswordRequired, UnsupportedDocument

HEAD_BYTES = 64 * 1024

SIDECAR_SUFFIX = ".gt.txt"  # ground truth beside a document (core/groundtruth.py): never a document itself

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
    """An office zip container must open and hold its parts; anything else is refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                odf = archive.read("mimetype").decode("ascii", "replace").strip()
                if odf in OFFICE_MIMES:
                    return odf
            if "[Content_Types].xml" in names:
                for prefix, ooxml in _OOXML_BY_PART.items():
                    if any(n.startswith(prefix) for n in names):
                        return ooxml
    except zipfile.BadZipFile as exc:
        raise CorruptDocument(f"corrupt or truncated office file ({mime}): {exc}") from exc
    raise UnsupportedDocument("zip archive, not a document (no office parts inside)")


def worth_trying(path: Path) -> bool:
    """Should a folder walk take this file? Known document suffixes yes; others only by content."""
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return True
    if path.name.endswith(SIDECAR_SUFFIX):
        return False
    try:
        sniff(path)
    except (DocumentError, OSError):
        return False
    return True
