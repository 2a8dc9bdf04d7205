"""The `docproc` command as a user runs it: a real process, real files."""

import json
import subprocess
import sys
import zipfile

import pytest

from docproc_tests import documents as D

DOCPROC = [sys.executable, "-m", "docproc_assets.cli"]


def run(*args, **kwargs):
    return subprocess.run([*DOCPROC, *map(str, args)], capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    D.digital_pdf(d / "digital.pdf")
    D.scanned_pdf(d / "scan.pdf", texts=["x"])
    D.mixed_pdf(d / "mixed.pdf", "ds")
    D.png(d / "photo.png")
    (d / "empty.pdf").write_bytes(b"")
    with zipfile.ZipFile(d / "archive.pdf", "w") as z:
        z.writestr("a.txt", "a")
    (d / ".hidden.pdf").write_bytes(b"%PDF-1.4 hidden")
    return d


def test_detect_json_contract(folder):
    result = run("detect", "--json", folder)
    assert result.returncode == 0, result.stderr
    rows = {json.loads(line)["path"].rsplit("/", 1)[1]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(rows) == {"digital.pdf", "scan.pdf", "mixed.pdf", "photo.png", "empty.pdf", "archive.pdf"}
    for row in rows.values():
        assert {"path", "document_id", "mime", "track", "pages", "error"} <= set(row)
    assert rows["digital.pdf"]["track"] == "direct" and rows["digital.pdf"]["error"] is None
    assert rows["scan.pdf"]["track"] == "ocr" and rows["photo.png"]["mime"] == "image/png"
    assert rows["mixed.pdf"]["track"] == "mixed"
    assert [p["track"] for p in rows["mixed.pdf"]["pages"]] == ["direct", "ocr"]
    page = rows["mixed.pdf"]["pages"][1]
    assert {"page", "track", "text_chars", "image_coverage", "reason"} <= set(page) and page["page"] == 2
    assert rows["empty.pdf"]["track"] is None and "empty file" in rows["empty.pdf"]["error"]
    assert rows["archive.pdf"]["track"] is None and "zip archive" in rows["archive.pdf"]["error"]
    assert len(rows["digital.pdf"]["document_id"]) == 64


def test_usage_error_exits_non_zero():
    assert run("detect").returncode != 0
    assert run("extract", "--format", "nope", "x.pdf").returncode != 0


def test_extract_one_file_to_stdout_as_markdown(tmp_path):
    path = D.structured_pdf(tmp_path / "s.pdf")
    result = run("extract", path, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Annual Results")


def test_extract_to_file_as_json(tmp_path):
    out = tmp_path / "out.json"
    result = run("extract", D.digital_pdf(tmp_path / "d.pdf"), "-o", out)
    assert result.returncode == 0 and result.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["processing_track"] == "direct" and doc["pages"][0]["elements"][0]["type"] == "text"


def test_extract_folder_goes_on_past_bad_documents(folder, tmp_path):
    out = tmp_path / "out"
    result = run("extract", folder, "--output-dir", out, "--format", "text", "--no-ocr")
    assert result.returncode == 2
    assert "empty.pdf: empty file" in result.stderr and "archive.pdf: zip archive" in result.stderr
    assert "no OCR engine was run (--no-ocr" in result.stderr  # the scans: reported, never silently empty
    assert "lazy dog" in (out / "digital.txt").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["digital.txt", "mixed.txt", "photo.txt", "scan.txt"]


def test_several_inputs_need_an_output_dir(tmp_path):
    a, b = D.digital_pdf(tmp_path / "a.pdf"), D.digital_pdf(tmp_path / "b.pdf")
    result = run("extract", a, b)
    assert result.returncode == 2 and "--output-dir" in result.stderr


def test_password_option(tmp_path):
    path = D.encrypted_pdf(tmp_path / "e.pdf")
    assert run("extract", path).returncode == 2
    result = run("extract", path, "--password", "secret", "--format", "text")
    assert result.returncode == 0 and "lazy dog" in result.stdout


def test_forced_ocr_without_an_engine_reads_with_the_default_one(tmp_path):
    result = run("extract", D.digital_pdf(tmp_path / "d.pdf"), "--no-dual-track", "--format", "json")
    assert result.returncode == 0, result.stderr
    (page,) = json.loads(result.stdout)["pages"]
    assert page["track"] == "ocr" and page["engine"] == "ppocr-v6"
    assert "lazy dog" in " ".join(e["content"] for e in page["elements"])


def test_schema_command():
    result = run("schema")
    assert json.loads(result.stdout)["title"] == "UnifiedDocument"


def test_folder_walk_takes_documents_by_content(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    D.digital_pdf(d / "no-extension")
    (d / "notes.txt").write_text("not a document")
    (d / "scan.gt.txt").write_text("ground truth")
    result = run("detect", "--json", d)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == ["no-extension"] and rows[0]["track"] == "direct"
