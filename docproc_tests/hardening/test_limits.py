"""The per-document timeout and memory limit, end to end: through `docproc detect`/`extract`, `docproc batch`
(the Dagster assets, `stages.route` and `extract_chunk`) and the settings users set, on real documents
that are slow or big, not on a patched worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pymupdf
import pytest
from PIL import Image
from typer.testing import CliRunner

from docproc_assets import cli
from docproc_assets.core import isolation
from docproc_assets.core.errors import ResourceLimitExceeded
from docproc_assets.core.isolation import IsolatedWorker
from docproc_assets.core.store import Store
from docproc_tests import documents as D

DOCPROC = str(Path(sys.executable).with_name("docproc"))
WATCHDOG = "memory limit of 300 MB exceeded"


def slow_pdf(path: Path, strokes: int) -> Path:
    """One page of text over `strokes` tiny filled triangles (a plotted chart, a CAD export): MuPDF reads
    it correctly, slowly. 12M strokes take ~10 s to route; 1.5M route in ~1 s but take ~10 s to extract
    (its labels sit side by side on two rows, so extraction reads the strokes looking for a ruled table)."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "A page that is slow to read.", fontsize=11)
    for y in (100, 120):
        page.insert_text((72, y), "Label", fontsize=11)
        page.insert_text((300, y), "Value", fontsize=11)
    xref = page.get_contents()[0]
    doc.update_stream(xref, doc.xref_stream(xref) + b"\nq " + b"10 10 m 20 20 l 30 10 l h f " * strokes + b" Q")
    doc.save(path, deflate=True)
    return path


def big_png(path: Path, side: int = 8900) -> Path:
    """Within the pixel budget (79 M pixels), ~320 MB once decoded as RGBA: past a 300 MB limit."""
    Image.new("RGBA", (side, side), (255, 255, 255, 255)).save(path)
    return path


def docproc(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([DOCPROC, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def slow(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("slow")
    return {"route": slow_pdf(folder / "slow-to-route.pdf", 12_000_000),
            "extract": slow_pdf(folder / "slow-to-extract.pdf", 1_500_000)}


@pytest.mark.slow
def test_detect_timeout_fails_the_slow_document_alone(slow, tmp_path):
    good = D.digital_pdf(tmp_path / "good.pdf", ["Quick to read."])
    start = time.perf_counter()
    proc = docproc("detect", "--json", "--timeout", "3", str(good), str(slow["route"]), str(good))
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(rows) == 3, proc.stderr
    assert (rows[1]["error"], rows[1]["error_kind"]) == ("timed out after 3 s", "timeout")
    assert rows[0]["track"] == rows[2]["track"] == "direct"  # the worker was replaced and carried on
    assert time.perf_counter() - start < 60


@pytest.mark.slow
def test_extract_timeout_fails_the_slow_document_alone(slow, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    D.digital_pdf(folder / "a-good.pdf", ["First good document."])
    (folder / "b-slow.pdf").write_bytes(slow["extract"].read_bytes())
    D.digital_pdf(folder / "c-good.pdf", ["Last good document."])
    proc = docproc("extract", str(folder), "--output-dir", str(tmp_path / "out"), "--format", "text", "--timeout", "4")
    assert proc.returncode == 2
    assert f"error {folder / 'b-slow.pdf'}: timed out after 4 s" in proc.stderr.splitlines()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-good.txt", "c-good.txt"]
    assert "Last good document." in (tmp_path / "out" / "c-good.txt").read_text()


@pytest.mark.slow
def test_batch_assets_use_the_document_timeout(slow, tmp_path):
    """DOCPROC_DOCUMENT_TIMEOUT_S reaches `document_routes` (a document slow to route) and
    `direct_extractions` (routed quickly, slow to extract): error rows of kind timeout, the rest done."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("route", "extract"):
        (folder / slow[name].name).write_bytes(slow[name].read_bytes())
    D.digital_pdf(folder / "good.pdf", ["A good document among slow ones."])
    proc = docproc("batch", str(folder), "--models", "", "--data-dir", str(tmp_path / "data"),
                   env={"DAGSTER_HOME": str(tmp_path / "home"), "DOCPROC_DOCUMENT_TIMEOUT_S": "4"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["filename"]: r for r in Store(tmp_path / "data" / "docproc.duckdb").rows(
        "SELECT d.filename, d.status, d.error, d.error_kind, e.success, e.error AS extraction_error "
        "FROM documents d JOIN extractions e USING (document_id) WHERE e.model = 'direct'")}
    route, extract, good = rows["slow-to-route.pdf"], rows["slow-to-extract.pdf"], rows["good.pdf"]
    assert (route["status"], route["error"], route["error_kind"]) == ("error", "timed out after 4 s", "timeout")
    assert extract["status"] == "routed" and not extract["success"]
    assert extract["extraction_error"] == "timeout: timed out after 4 s"
    assert good["status"] == "routed" and good["success"]


def _grow(step_mb: int = 40, steps: int = 40) -> int:
    """Allocate (and touch) memory in steps, as a decoder filling a buffer does."""
    held = []
    for _ in range(steps):
        held.append(bytearray(b"\x01" * (step_mb * 2**20)))
        time.sleep(0.02)
    return len(held)


def test_watchdog_stops_growth_past_the_limit_and_restarts_the_worker():
    with IsolatedWorker(timeout=60, memory_mb=300) as worker:
        with pytest.raises(ResourceLimitExceeded, match=f"^{WATCHDOG} \\(\\d+ MB resident\\)$"):
            worker.run(_grow)
        assert worker.restarts == 1
        assert worker.run(_grow, 1, 2) == 2  # a fresh worker serves the next call


def test_cli_memory_limit_and_no_limit(tmp_path):
    big = big_png(tmp_path / "big.png")
    good = D.digital_pdf(tmp_path / "good.pdf", ["Small enough."])
    limited = docproc("extract", str(big), str(good), "--output-dir", str(tmp_path / "a"), "--max-memory-mb", "300")
    assert limited.returncode == 2
    (line,) = [x for x in limited.stderr.splitlines() if x.startswith("error ")]
    assert line.startswith(f"error {big}: {WATCHDOG} (")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["good.json"]
    unlimited = docproc("extract", str(big), "--output-dir", str(tmp_path / "b"), "--max-memory-mb", "0")
    assert "memory limit" not in unlimited.stderr and (tmp_path / "b" / "big.json").exists()  # 0: no limit


def test_default_limit_is_three_quarters_of_memory(tmp_path, monkeypatch):
    """No --max-memory-mb: 75% of RAM. On a (pretend) 400 MB machine that is the 300 MB the PNG exceeds."""
    real = psutil.virtual_memory()
    monkeypatch.setattr(isolation.psutil, "virtual_memory", lambda: real._replace(total=400 * 2**20))
    assert isolation.default_memory_mb() == 300
    big = big_png(tmp_path / "big.png")
    result = CliRunner().invoke(cli.app, ["extract", str(big), "-o", str(tmp_path / "big.json")])
    assert result.exit_code == 2 and f"{WATCHDOG} (" in result.stderr


@pytest.mark.slow
def test_batch_memory_limit_from_the_environment(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    big_png(folder / "big.png")
    D.digital_pdf(folder / "good.pdf", ["Fits in memory."])
    proc = docproc("batch", str(folder), "--models", "", "--data-dir", str(tmp_path / "data"),
                   env={"DAGSTER_HOME": str(tmp_path / "home"), "DOCPROC_MAX_MEMORY_MB": "300"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["filename"]: r for r in Store(tmp_path / "data" / "docproc.duckdb").rows(
        "SELECT filename, status, error, error_kind FROM documents")}
    assert rows["big.png"]["status"] == "error" and rows["big.png"]["error"].startswith(f"{WATCHDOG} (")
    assert rows["big.png"]["error_kind"] == "limit" and rows["good.pdf"]["status"] == "routed"
