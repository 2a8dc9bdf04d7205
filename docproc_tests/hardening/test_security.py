"""User SQL cannot write or read files; LibreOffice runs with a private profile and is killed on timeout."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docproc_assets import cli
from docproc_assets.core import office
from docproc_assets.core.errors import DocumentTimeout
from docproc_assets.core.store import Store


@pytest.fixture
def db(tmp_path) -> Path:
    store = Store(tmp_path / "data" / "docproc.duckdb")
    store.write("extractions", [{"document_id": "d1", "model": "direct", "success": True, "extracted_text": "hello"}], wait=10)
    return store.db_path


@pytest.mark.parametrize("sql, outcome", [
    ("DELETE FROM extractions", "read-only"),
    ("DROP TABLE extractions", "read-only"),
    ("UPDATE extractions SET success = false", "read-only"),
    ("COPY extractions TO '{tmp}/leak.csv'", "disabled by configuration"),
    ("COPY (SELECT 1) TO '{tmp}/../leak.parquet' (FORMAT parquet)", "disabled by configuration"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
    ("SELECT * FROM read_text('/etc/hostname')", "disabled by configuration"),
    ("ATTACH '{tmp}/other.duckdb' AS other", ""),
    ("INSTALL httpfs", ""),
    ("SET enable_external_access = true", "configuration has been locked"),
    ("SET lock_configuration = false", "configuration has been locked"),
])
def test_user_sql_is_read_only_and_cannot_touch_files(db, tmp_path, sql, outcome):
    result = CliRunner().invoke(cli.app, ["query", sql.format(tmp=tmp_path), "--db", str(db)])
    assert result.exit_code == 1 and outcome in result.stderr.replace("\n", " "), result.stderr
    assert not list(tmp_path.rglob("leak*")) and not (tmp_path / "other.duckdb").exists()
    ok = CliRunner().invoke(cli.app, ["query", "SELECT count(*) AS n FROM extractions WHERE success", "--db", str(db), "--json"])
    assert ok.exit_code == 0 and '"n": 1' in ok.stdout


def test_pipeline_reads_are_not_restricted(db, tmp_path):
    """The lockdown is for user SQL only: the pipeline's own reader still exports Parquet."""
    with Store(db).reader() as con:
        con.execute(f"COPY extractions TO '{tmp_path / 'export.parquet'}' (FORMAT parquet)")
    assert (tmp_path / "export.parquet").stat().st_size


FAKE_SOFFICE = """#!/bin/sh
# records its arguments, then hangs with a child in its process group (as a stuck LibreOffice does)
printf '%s\\n' "$@" > "{record}"
sleep 300 &
echo $! > "{child}"
wait
"""


def test_libreoffice_gets_a_private_profile_and_is_killed_on_timeout(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record, child = tmp_path / "args.txt", tmp_path / "child.pid"
    soffice = bin_dir / "soffice"
    soffice.write_text(FAKE_SOFFICE.format(record=record, child=child))
    soffice.chmod(soffice.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    doc = tmp_path / "--convert-to=evil name.docx"
    doc.write_bytes(b"PK\x03\x04 pretend docx")
    start = time.perf_counter()
    results = office.convert_many([(doc, "a" * 64, office_mime := "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                                   (doc, "b" * 64, office_mime)], tmp_path / "cache", timeout=1.5)
    assert time.perf_counter() - start < 10
    assert all(isinstance(r, DocumentTimeout) and "timed out after 2 s" in str(r) for r in results.values())
    args = record.read_text().splitlines()
    profile = next(a for a in args if a.startswith("-env:UserInstallation=file://"))
    assert "docproc-soffice-" in profile and not Path(profile.split("file://", 1)[1]).exists()  # private, removed after
    assert "--headless" in args and not any("evil" in a for a in args)  # staged under the document id
    pid = int(child.read_text())
    for _ in range(50):
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith(("Z", "X")):
                break  # killed, waiting for a reaper
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.1)
    else:
        pytest.fail("LibreOffice's child process survived the timeout")
    assert not list((tmp_path / "cache").iterdir())
