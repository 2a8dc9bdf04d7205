"""Documents in: list an inbox cheaply, and keep each document once, by content, in an object store.

Identity is the sha256 of the bytes, so the same file dropped twice (or under two names) is one
document. The object store (`data/objects/ab/<sha256><suffix>` plus a `.json` sidecar) keeps a copy,
so a document can be reprocessed after the inbox file is gone; the suffix is kept because old office
formats are told apart by extension.

The inbox listing is incremental: files are taken in (ctime, path) order after a high-water mark, a
few hundred per call. ctime (not mtime) because moving or `cp -p`-ing a file in keeps an old mtime but
sets a new ctime. A file is taken only once it has been quiet for `settle_seconds` (still being
written otherwise: each write moves its ctime), and never when it has a temporary name.
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
CHUNK = 1 << 20


@dataclass(frozen=True)
class Cursor:
    """High-water mark: the last (ctime_ns, relative path) taken, plus the other paths taken at that
    same ctime (coarse clocks give many files one timestamp). A few hundred bytes, whatever the inbox."""

    ctime_ns: int = 0
    names: tuple[str, ...] = ()

    def dumps(self) -> str:
        return json.dumps({"t": self.ctime_ns, "n": list(self.names)}, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data.get("t", 0)), tuple(data.get("n", ())))

    def seen(self, ctime_ns: int, name: str) -> bool:
        return ctime_ns < self.ctime_ns or (ctime_ns == self.ctime_ns and name in self.names)

    def advance(self, ctime_ns: int, name: str) -> Cursor:
        if ctime_ns == self.ctime_ns:
            return Cursor(ctime_ns, (*self.names, name))
        return Cursor(ctime_ns, (name,))


@dataclass(frozen=True)
class Candidate:
    path: Path
    name: str  # relative to the inbox
    ctime_ns: int
    size: int


@dataclass
class Scan:
    files: list[Candidate]
    cursor: Cursor
    waiting: int = 0  # files found but not yet quiet (still being written)
    remaining: int = 0  # ready files left for the next call (over the cap)
    skipped: dict[str, int] = field(default_factory=dict)


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
                size = path.stat().st_size if entry.is_symlink() else st.st_size
            except OSError:
                continue  # vanished meanwhile
            yield Candidate(path, path.relative_to(root).as_posix(), st.st_ctime_ns, size)


def scan(root: Path, cursor: Cursor, limit: int = 500, settle_seconds: float = DEFAULT_SETTLE_SECONDS,
         now_ns: int | None = None) -> Scan:
    """The next files after the cursor, oldest first, at most `limit`, only those quiet for settle_seconds."""
    skipped: dict[str, int] = {}
    if not root.is_dir():
        return Scan([], cursor)
    now_ns = now_ns if now_ns is not None else time.time_ns()
    quiet_before = now_ns - int(settle_seconds * 1e9)
    new = sorted((c for c in walk(root, skipped) if not cursor.seen(c.ctime_ns, c.name)), key=lambda c: (c.ctime_ns, c.name))
    ready = [c for c in new if c.ctime_ns <= quiet_before]
    taken = ready[:limit]
    for c in taken:
        cursor = cursor.advance(c.ctime_ns, c.name)
    return Scan(taken, cursor, waiting=len(new) - len(ready), remaining=len(ready) - len(taken), skipped=skipped)


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
                         datetime.now().isoformat(timespec="seconds"))
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
