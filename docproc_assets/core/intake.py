"""Documents in: list an inbox cheaply, and keep each document once, by content, in an object store.

Identity is the sha256 of the bytes, so the same file dropped twice (or under two names) is one
document. The object store (`data/objects/ab/<sha256><suffix>` plus a `.json` sidecar) keeps a copy,
so a document can be reprocessed after the inbox file is gone; the suffix is kept because old office
formats are told apart by extension.

The inbox listing is incremental: files are taken in (ctime, path) order after a high-water mark, a
few hundred per call. ctime (not mtime) because moving or `cp -p`-ing a file in keeps an old mtime but
sets a new ctime. A file is taken only once it has been quiet for `settle_seconds` (still being
written otherwise: each write moves its ctime), no process has it open for writing and its format's
end marker is there (a writer that pauses longer than the settle time leaves a file without one), and
never when it has a temporary name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from docproc_assets.core.files import write_atomic
from docproc_assets.core.sniff import DOCUMENT_SUFFIXES, worth_trying

# Names that writers use while a file is incomplete: browsers, rsync, editors, office lock files.
TEMP_SUFFIXES = frozenset({".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", ".filepart"})
TEMP_PREFIXES = ("~$", ".~lock")
DEFAULT_SETTLE_SECONDS = 2.0
DEFAULT_INCOMPLETE_AFTER_S = 600.0  # DOCPROC_INBOX_INCOMPLETE_AFTER_S: a file still without its end marker is taken
CHUNK = 1 << 20


@dataclass(frozen=True)
class Cursor:
    """High-water mark: the last (ctime_ns, relative path) taken, plus the other paths taken at that
    same ctime (coarse clocks give many files one timestamp), plus the files deferred as incomplete
    (looked at again every call, though the mark has passed them). A few hundred bytes, whatever the inbox."""

    ctime_ns: int = 0
    names: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()

    def dumps(self) -> str:
        data = {"t": self.ctime_ns, "n": list(self.names)}
        if self.pending:
            data["p"] = list(self.pending)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data.get("t", 0)), tuple(data.get("n", ())), tuple(data.get("p", ())))

    def seen(self, ctime_ns: int, name: str) -> bool:
        if name in self.pending:
            return False
        return ctime_ns < self.ctime_ns or (ctime_ns == self.ctime_ns and name in self.names)

    def advance(self, ctime_ns: int, name: str) -> Cursor:
        pending = tuple(n for n in self.pending if n != name)
        if ctime_ns < self.ctime_ns:  # a deferred file taken at last: the mark stays
            return Cursor(self.ctime_ns, self.names, pending)
        if ctime_ns == self.ctime_ns:
            return Cursor(ctime_ns, (*self.names, name), pending)
        return Cursor(ctime_ns, (name,), pending)

    def defer(self, name: str) -> Cursor:
        return self if name in self.pending else Cursor(self.ctime_ns, self.names, (*self.pending, name))


@dataclass(frozen=True)
class Candidate:
    path: Path
    name: str  # relative to the inbox
    ctime_ns: int
    size: int
    mtime_ns: int = 0
    identity: tuple[int, int] | None = None  # (device, inode) of the file itself, as open_for_writing gives it


@dataclass
class Scan:
    files: list[Candidate]
    cursor: Cursor
    waiting: int = 0  # files found but not yet quiet (still being written)
    remaining: int = 0  # ready files left for the next call (over the cap)
    skipped: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)  # quiet but incomplete, by reason: looked at again next call


def is_temporary(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith(TEMP_PREFIXES) or Path(base).suffix.lower() in TEMP_SUFFIXES


def walk(root: Path, skipped: dict[str, int] | None = None) -> Iterator[Candidate]:
    """Supported files under root: no hidden files or folders, no temp names, no symlinks that lead
    out of root, symlinked folders not followed. One stat per file."""
    skipped = skipped if skipped is not None else {}
    root = root.absolute()
    real_root = root.resolve()

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                skip("hidden")
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
                continue
            if entry.is_symlink() and entry.is_dir():
                skip("symlinked folder")  # never followed: no loops, no escapes
                continue
            if is_temporary(entry.name):
                skip("temporary")
                continue
            try:
                if entry.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(real_root):
                        skip("symlink outside inbox")
                        continue
                    if not target.is_file():
                        skip("not a file")
                        continue
                elif not entry.is_file(follow_symlinks=False):
                    skip("not a file")
                    continue
                if not worth_trying(path):  # by suffix; by content only for unknown suffixes
                    skip("unsupported")
                    continue
                st = entry.stat(follow_symlinks=False)  # the link's own ctime: when it was put in the inbox
                file = path.stat() if entry.is_symlink() else st
            except OSError:
                continue  # vanished meanwhile
            yield Candidate(path, path.relative_to(root).as_posix(), st.st_ctime_ns, file.st_size, st.st_mtime_ns,
                            (file.st_dev, file.st_ino))


def scan(root: Path, cursor: Cursor, limit: int = 500, settle_seconds: float = DEFAULT_SETTLE_SECONDS,
         now_ns: int | None = None, incomplete_after_s: float = DEFAULT_INCOMPLETE_AFTER_S) -> Scan:
    """The next complete files after the cursor, oldest first, at most `limit`.

    A file is complete when (1) it has been quiet for settle_seconds (each write moves its ctime),
    (2) no process has it open for writing, and (3) its format's end marker is there. A quiet file that
    fails (2) or (3) is deferred to a later call, not taken half-written: a writer may pause for longer
    than any settle time. Past `incomplete_after_s` since its last change a file failing (3) is taken
    anyway, so its real error is recorded (a truncated file never completes).
    """
    skipped: dict[str, int] = {}
    if not root.is_dir():
        return Scan([], cursor)
    now_ns = now_ns if now_ns is not None else time.time_ns()
    quiet_before = now_ns - int(settle_seconds * 1e9)
    new = sorted((c for c in walk(root, skipped) if not cursor.seen(c.ctime_ns, c.name)), key=lambda c: (c.ctime_ns, c.name))
    quiet = [c for c in new if c.ctime_ns <= quiet_before]
    writing = open_for_writing(root) if quiet else set()
    taken: list[Candidate] = []
    deferred: dict[str, int] = {}
    remaining = 0
    for c in quiet:
        why = "open for writing" if c.identity in writing else None
        if why is None and (now_ns - c.mtime_ns) / 1e9 < incomplete_after_s:
            why = missing_end_marker(c.path)
        if why:
            deferred[why] = deferred.get(why, 0) + 1
            cursor = cursor.defer(c.name)
        elif len(taken) < limit:
            taken.append(c)
            cursor = cursor.advance(c.ctime_ns, c.name)
        else:
            remaining += 1
    return Scan(taken, cursor, waiting=len(new) - len(quiet), remaining=remaining, skipped=skipped, deferred=deferred)


def open_for_writing(root: Path) -> set[tuple[int, int]]:
    """(device, inode) of the files under root that some process has open for writing.

    One pass over /proc/*/fd per call: a readlink per descriptor, and the flags (fdinfo) and a stat only
    for the few that point into root. What it cannot see: writers on other hosts (NFS, SMB), other
    users' processes when we are not root, systems without /proc. There only the settle time and the end
    markers say a file is complete.
    """
    prefix = str(root.resolve()) + os.sep
    found: set[tuple[int, int]] = set()
    try:
        pids = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                if not os.readlink(f"{fd_dir}/{fd}").startswith(prefix):
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    flags = next((int(line.split()[1], 8) for line in info if line.startswith("flags:")), 0)
                if flags & (os.O_WRONLY | os.O_RDWR):
                    st = os.stat(f"{fd_dir}/{fd}")
                    found.add((st.st_dev, st.st_ino))
            except (OSError, ValueError):
                continue
    return found


TAIL_BYTES = 64 * 1024 + 22  # a zip's end-of-central-directory record lies within the last 64 KiB + 22 bytes


def missing_end_marker(path: Path) -> str | None:
    """Why a file looks cut short, from the end marker its format has (PDF `%%EOF` in the last 1 KiB, zip
    end-of-central-directory, PNG `IEND`, JPEG `EOI`, GIF trailer, BMP and WebP sizes), or None. Formats
    without one (TIFF, OLE2, RTF) are never deferred. Reads a few bytes; parses nothing."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)  # a PDF header may follow junk within the first KiB
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read()
    except OSError:
        return None  # vanished or unreadable: taking it records the real error
    if not head:
        return None  # an empty file is complete, and refused as empty
    if b"%PDF" in head:
        return None if b"%%EOF" in tail[-1024:] else "no %%EOF at the end of the PDF"
    if head.startswith(b"PK\x03\x04"):
        return None if b"PK\x05\x06" in tail else "no zip end-of-central-directory"
    if head.startswith(b"\x89PNG"):
        return None if b"IEND" in tail[-12:] else "no PNG IEND chunk"
    if head.startswith(b"\xff\xd8\xff"):
        return None if b"\xff\xd9" in tail[-1024:] else "no JPEG end-of-image marker"
    if head.startswith(b"GIF8"):
        return None if tail.rstrip(b"\x00").endswith(b"\x3b") else "no GIF trailer"
    if head.startswith(b"BM") and len(head) >= 6:
        declared = int.from_bytes(head[2:6], "little")
        return "shorter than the BMP header says" if 0 < size < declared else None
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "shorter than the WebP header says" if size < int.from_bytes(head[4:8], "little") + 8 else None
    return None


def list_folder(root: Path) -> list[Path]:
    """Every supported document in a folder (the same rules as the inbox), in path order."""
    if root.is_file():
        return [root]
    return sorted((c.path for c in walk(root)), key=lambda p: p.as_posix())


@dataclass
class Registered:
    document_id: str
    filename: str
    source_path: str
    size_bytes: int
    object_name: str
    registered_at: str
    new: bool = True


class ObjectStore:
    """Documents kept once by content under root/<2 hex>/<sha256><suffix>, with a JSON sidecar."""

    def __init__(self, root: Path | str):
        self.root = Path(root).absolute()

    def _folder(self, document_id: str) -> Path:
        return self.root / document_id[:2]

    def sidecar(self, document_id: str) -> Path:
        return self._folder(document_id) / f"{document_id}.json"

    def info(self, document_id: str) -> Registered:
        data = json.loads(self.sidecar(document_id).read_text())
        return Registered(**{**data, "new": False})

    def path(self, document_id: str, info: Registered | None = None) -> Path:
        """The stored file; give the document's `info()` when it is already read (the sidecar is read once)."""
        return self._folder(document_id) / (info or self.info(document_id)).object_name

    def exists(self, document_id: str) -> bool:
        return self.sidecar(document_id).is_file()

    def put_file(self, path: Path) -> Registered:
        """Copy a file in while hashing it (one read); a known document is not copied twice."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".in-")
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
            return self._commit(Path(tmp), digest.hexdigest(), path.name, str(path.absolute()))
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_bytes(self, data: bytes, filename: str, source: str) -> Registered:
        """For dataset sources: documents that arrive as bytes."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".in-")
        try:
            with os.fdopen(fd, "wb") as dst:
                dst.write(data)
            return self._commit(Path(tmp), hashlib.sha256(data).hexdigest(), filename, source)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _commit(self, tmp: Path, document_id: str, filename: str, source: str) -> Registered:
        if self.exists(document_id):
            return self.info(document_id)
        folder = self._folder(document_id)
        folder.mkdir(parents=True, exist_ok=True)
        suffix = Path(filename).suffix.lower()
        suffix = suffix if suffix in DOCUMENT_SUFFIXES else ""
        object_name = f"{document_id}{suffix}"
        shutil.move(tmp, folder / object_name)
        reg = Registered(document_id, filename, source, (folder / object_name).stat().st_size, object_name,
                         datetime.now().isoformat(timespec="microseconds"))  # orders two versions of a path
        # the sidecar appears last: a document with one is complete
        write_atomic(self.sidecar(document_id), json.dumps({k: v for k, v in asdict(reg).items() if k != "new"}))
        return reg

    def put_files(self, paths: Iterable[Path]) -> list[Registered]:
        out = []
        for path in paths:
            try:
                out.append(self.put_file(path))
            except OSError:
                continue  # vanished or unreadable between listing and copying: the next scan retries nothing
        return out
