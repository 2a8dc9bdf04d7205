"""Office files to PDF through LibreOffice headless, in batches, cached by document id.

LibreOffice's start-up dominates its cost, so files are converted many per process. Each call gets a
private profile directory (two soffice processes must never share one) and a timeout that kills the
whole process group.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from docproc_assets.core.errors import ConversionFailed, DocumentTimeout
from docproc_assets.core.sniff import OFFICE_EXTENSIONS

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("DOCPROC_CACHE", Path.home() / ".cache" / "docproc")) / "office-pdf"


def soffice_binary() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        raise ConversionFailed("LibreOffice (soffice) is not installed: office files cannot be converted")
    return found


def convert_many(
    items: list[tuple[Path, str, str]], cache_dir: Path | None = None, timeout: float = 120.0
) -> dict[str, Path | Exception]:
    """Convert (path, document_id, mime) items; returns document_id -> PDF path, or the error for it."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Path | Exception] = {}
    todo: list[tuple[Path, str, str]] = []
    for path, document_id, mime in items:
        cached = cache_dir / f"{document_id}.pdf"
        if cached.exists() and cached.stat().st_size:
            results[document_id] = cached
        elif document_id not in {d for _, d, _ in todo}:
            todo.append((path, document_id, mime))
    if todo:
        results.update(_run_soffice(todo, cache_dir, timeout))
    return results


def convert(path: Path, document_id: str, mime: str, cache_dir: Path | None = None, timeout: float = 120.0) -> Path:
    result = convert_many([(path, document_id, mime)], cache_dir, timeout)[document_id]
    if isinstance(result, Exception):
        raise result
    return result


def _run_soffice(todo: list[tuple[Path, str, str]], cache_dir: Path, timeout: float) -> dict[str, Path | Exception]:
    """One LibreOffice run for the batch. Files it did not convert are tried again one by one: a file
    that hangs or crashes soffice stops the files after it (soffice's exit status does not say which),
    so one bad file costs its own conversion, never the batch's."""
    results, problem = _soffice_once(todo, cache_dir, timeout)
    left = [item for item in todo if item[1] not in results]
    if left and len(todo) > 1:
        log.warning("LibreOffice left %d of %d file(s) (%s): converting them one by one", len(left), len(todo), problem)
        for item in left:
            produced, alone = _soffice_once([item], cache_dir, timeout)
            results.update(produced or {item[1]: alone})
    elif left:
        results[left[0][1]] = problem
    return results


def _soffice_once(todo: list[tuple[Path, str, str]], cache_dir: Path, timeout: float) -> tuple[dict[str, Path | Exception], Exception | None]:
    """Run soffice once; returns the PDFs it produced (moved into the cache) and why it stopped short, if it did."""
    soffice = soffice_binary()
    with tempfile.TemporaryDirectory(prefix="docproc-soffice-") as tmp:
        work = Path(tmp)
        inputs, outdir, profile = work / "in", work / "out", work / "profile"
        inputs.mkdir()
        outdir.mkdir()
        staged = []
        for path, document_id, mime in todo:
            # Staged under the document id: no user-chosen name reaches the command line or the output.
            target = inputs / f"{document_id}{OFFICE_EXTENSIONS.get(mime, path.suffix.lower())}"
            shutil.copyfile(path, target)
            staged.append(str(target))
        cmd = [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless", "--invisible", "--nologo", "--nodefault", "--nofirststartwizard", "--norestore",
            "--convert-to", "pdf", "--outdir", str(outdir), *staged,
        ]
        log.info("LibreOffice: converting %d office file(s) to PDF", len(staged))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        problem: Exception | None = None
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            problem = DocumentTimeout(f"LibreOffice conversion timed out after {timeout:.0f} s")
        text = output.decode("utf-8", "replace")
        if problem is None and (proc.returncode < 0 or "soffice.bin(" in text):  # a signal, or its crash handler's backtrace
            problem = ConversionFailed("LibreOffice crashed converting the file")
        tail = [line for line in text.strip().splitlines() if "Error" in line][-1:] or text.strip().splitlines()[-1:] or ["no output"]
        problem = problem or ConversionFailed(f"LibreOffice could not convert the file ({tail[0][:120]})")
        results: dict[str, Path | Exception] = {}
        for _path, document_id, _mime in todo:
            produced = outdir / f"{document_id}.pdf"
            if produced.exists() and produced.stat().st_size:
                final = cache_dir / f"{document_id}.pdf"
                shutil.move(produced, final)
                results[document_id] = final
        stopped_short = len(results) < len(todo)
        return results, problem if stopped_short else None
