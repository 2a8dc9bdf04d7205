"""Mutation fuzzing of the real commands (bench/fuzz.py) and the files earlier campaigns found.

Every regression here was a whole-command crash (a traceback, none of the other documents answered)
before the fix; each is rebuilt from its campaign's seed and index, byte for byte.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DOCPROC = str(Path(sys.executable).with_name("docproc"))
soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed (make install adds it)")


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("docproc_bench_fuzz", ROOT / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz = _fuzz_module()


def rebuilt(tmp_path: Path, seed: int, index: int) -> Path:
    name, data, _mutator, _source = fuzz.mutant(fuzz.sources(SAMPLES), seed, index)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def detect(*paths: Path, cache: Path) -> list[dict]:
    proc = subprocess.run([DOCPROC, "detect", "--json", *map(str, paths)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DOCPROC_CACHE": str(cache)})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.slow
@soffice
def test_campaign_of_200_mutants_crashes_nothing(tmp_path):
    """200 damaged copies of samples/ through detect, extract and batch: every file answered or rejected
    with its own error, no command crashes, no "unexpected failure"."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), str(SAMPLES), "--count", "200", "--seed", "13",
                           "--json"], capture_output=True, text=True, timeout=1200)
    report = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["files"] == 200 and len(report["mutators"]) >= 12  # zip and PDF structure mutators as well as bytes
    for stage in report["stages"]:
        assert stage["crashed"] == 0 and not stage["lost"] and stage["internal"] == 0, stage
        assert stage["answered"] + stage["rejected"] == 200, stage
        assert stage["answered"] >= 100 and stage["rejected"] >= 20, stage  # damage that matters, and damage survived
    detect_kinds = report["stages"][0]["kinds"]
    assert detect_kinds.get("corrupt", 0) >= 20
    assert any(kind.startswith("repaired") for kind in detect_kinds), detect_kinds


@soffice
def test_office_files_that_crashed_the_command_are_their_own_errors(tmp_path):
    """zipfile's NotImplementedError (version 24.3), OSError EINVAL (an offset before the file) and a
    UnicodeDecodeError (a flipped bit in an entry name) took `docproc detect` down with a traceback."""
    version = rebuilt(tmp_path, 1, 80)  # 0080-zip_bad_version-tesseract-segmodeimg.odt
    offset = rebuilt(tmp_path, 7, 18)  # 0018-cut_out-tesseract-segmodeimg.odt
    name = rebuilt(tmp_path, 7, 139)  # 0139-bit_flips-tesseract-segmodeimg.odt
    good = SAMPLES / "reportlab-receipt.pdf"
    rows = {Path(r["path"]).name: r for r in detect(version, offset, name, good, cache=tmp_path / "cache")}
    assert len(rows) == 4
    # the version field is only a label: LibreOffice reads the entries anyway, and says it repaired the file
    assert rows[version.name]["track"] == "direct" and rows[version.name]["repairer"] == "libreoffice"
    odt = "corrupt or truncated office file (application/vnd.oasis.opendocument.text)"
    assert rows[offset.name]["error"] == f"{odt}: an entry's offset points outside the file; LibreOffice could not repair it"
    assert rows[name.name]["error"] == f"{odt}: an entry's name is damaged (not valid UTF-8); LibreOffice could not repair it"
    assert rows[offset.name]["error_kind"] == rows[name.name]["error_kind"] == "corrupt"
    assert rows[good.name]["track"] == "direct" and rows[good.name]["error"] is None


def test_cycle_met_while_reading_pages_is_repaired(tmp_path):
    """MuPDF opens the file, then meets a cycle in the page tree on the first page: the page objects are
    read again under a new tree (page-scan) instead of the document failing."""
    path = rebuilt(tmp_path, 7, 129)  # 0129-pdf_broken_page_tree-markitdown-autogen-paper-p2.pdf
    (row,) = detect(path, cache=tmp_path / "cache")
    assert row["error"] is None and row["repaired"] and row["repairer"] == "page-scan", row
    assert [p["track"] for p in row["pages"]] == ["direct"] and row["pages"][0]["text_chars"] > 4000
