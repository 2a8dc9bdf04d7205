"""`docproc query` prints values as they are: no markup, nothing cut, in a terminal and in a pipe."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docproc_assets.core.store import Store

DOCPROC = str(Path(sys.executable).with_name("docproc"))
NAME = "a|b,[c].tif"
MARKUP = "[bold]x[/bold] [c]"
LONG_ID = "f" * 64  # a sha256 document id: rich used to squeeze it to `ff…` in a pipe


@pytest.fixture
def db(tmp_path) -> Path:
    store = Store(tmp_path / "r.duckdb")
    store.write("documents", [{"document_id": LONG_ID, "filename": NAME, "source_path": f"/inbox/{NAME}", "size_bytes": 7,
                               "error": MARKUP}])
    return store.db_path


SQL = "SELECT document_id, filename, source_path, error, '[bold]x[/bold]' AS literal FROM documents"


def query(db: Path, *extra: str) -> str:
    proc = subprocess.run([DOCPROC, "query", SQL, "--db", str(db), *extra], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_piped_table_keeps_every_value_whole(db):
    out = query(db)
    for value in (LONG_ID, NAME, f"/inbox/{NAME}", MARKUP, "[bold]x[/bold]"):
        assert value in out, (value, out)
    assert "…" not in out
    row = next(line for line in out.splitlines() if LONG_ID in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == [LONG_ID, NAME, f"/inbox/{NAME}", MARKUP, "[bold]x[/bold]"]


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux `script` gives the command a terminal")
def test_terminal_table_folds_long_values_and_prints_markup_literally(db):
    cmd = shlex.join([DOCPROC, "query", SQL, "--db", str(db)])
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "100", "LINES": "40"})
    screen = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    assert proc.returncode == 0 and "│" in screen, screen
    assert NAME in screen and "[bold]x[/bold]" in screen and "…" not in screen
    assert max(len(line) for line in screen.splitlines()) <= 100  # fits the terminal: folded, not cut
    cells = "".join(re.findall(r"│ *(f+) *│", screen))
    assert cells == LONG_ID  # the folded id, read back across its lines, is whole


def test_json_csv_and_markdown_formats(db):
    (row,) = [json.loads(line) for line in query(db, "--format", "json").splitlines()]
    assert row["filename"] == NAME and row["error"] == MARKUP
    assert query(db, "--json") == query(db, "--format", "json")
    parsed = list(csv.reader(io.StringIO(query(db, "--format", "csv"))))
    assert parsed == [["document_id", "filename", "source_path", "error", "literal"],
                      [LONG_ID, NAME, f"/inbox/{NAME}", MARKUP, "[bold]x[/bold]"]]
    md = query(db, "--format", "markdown").splitlines()
    assert md[2] == f"| {LONG_ID} | a\\|b,[c].tif | /inbox/a\\|b,[c].tif | {MARKUP} | [bold]x[/bold] |"
