"""Writing files so that a reader, or a crash, never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(target: Path, text: str) -> Path:
    """Write `text` to a hidden temp name beside `target`, then rename it over `target` (atomic on POSIX)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    part.write_text(text, encoding="utf-8")
    part.replace(target)
    return target


def fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') bytes to disk, so a rename after it never names a hole."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
