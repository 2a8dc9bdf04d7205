"""Hostile file names: spaces, Unicode, newlines, markup, leading dashes, dots, `../` in a recorded name,
symlinks out of the folder. Nothing is written outside the output or data folder, every name survives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from docproc_assets.core.intake import ObjectStore, list_folder
from docproc_assets.core.store import Store
from docproc_tests import documents as D

DOCPROC = str(Path(sys.executable).with_name("docproc"))
NAMES = [
    "with spaces.pdf", "ünïcödé 文書 скан.pdf", "new\nline.pdf", "tab\tname.pdf", "[bold]markup[/bold].pdf".replace("/", ""),
    "-rf.pdf", "--output-dir=x.pdf", "..pdf", "...pdf", "back\\slash.pdf", "quote'\"$(touch pwned).pdf", "a" * 200 + ".pdf",
]

VISIBLE = [n for n in NAMES if not n.startswith(".")]  # "..pdf" and "...pdf" are hidden files: skipped


def snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(NAMES):
        D.digital_pdf(folder / name, [f"Document number {i} with a hostile name."])
    D.digital_pdf(folder / "sub" / "with spaces.pdf", ["The same name in a subfolder."])  # clashes in a flat output
    outside = tmp_path / "outside"
    outside.mkdir()
    D.digital_pdf(outside / "secret.pdf", ["Secret outside the inbox."])
    (folder / "escape.pdf").symlink_to(outside / "secret.pdf")
    return folder


def test_extract_output_dir_keeps_every_document_inside(tmp_path):
    folder = make_folder(tmp_path)
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    proc = subprocess.run([DOCPROC, "extract", str(folder), "--output-dir", str(out), "--format", "text"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    created = snapshot(tmp_path) - before
    assert created and all(p == out or p.parent == out for p in created), sorted(map(str, created))
    texts = sorted(p.read_text() for p in out.iterdir())
    assert len(texts) == len(VISIBLE) + 2  # + the subfolder's clash; the CLI reads a symlink a user gave it
    assert all("/" not in p.name and "\n" not in p.name and "\\" not in p.name and not p.name.startswith(("-", "."))
               for p in out.iterdir())
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "x.pdf").exists()


def test_batch_records_names_as_given_and_writes_only_under_data(tmp_path):
    folder = make_folder(tmp_path)
    data, home = tmp_path / "data", tmp_path / "home"
    before = snapshot(tmp_path)
    proc = subprocess.run([DOCPROC, "batch", str(folder), "--models", "", "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=180, cwd=tmp_path, env={**os.environ, "DAGSTER_HOME": str(home)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    created = snapshot(tmp_path) - before
    assert all(p.is_relative_to(data) or p.is_relative_to(home) for p in created), [p for p in created if not p.is_relative_to(data)]
    rows = Store(data / "docproc.duckdb").rows("SELECT d.filename, e.success, e.extracted_text FROM documents d "
                                               "JOIN extractions e USING (document_id) WHERE e.model = 'direct'")
    names = sorted(r["filename"] for r in rows)
    assert "secret.pdf" not in names and "escape.pdf" not in names  # the symlink out of the folder is skipped
    assert sorted(set(names)) == sorted(VISIBLE) and len(names) == len(VISIBLE) + 1 and all(r["success"] for r in rows)
    assert not any("Secret outside" in r["extracted_text"] for r in rows)


def test_object_store_never_uses_a_recorded_name_as_a_path(tmp_path):
    store = ObjectStore(tmp_path / "data" / "objects")
    data = D.digital_pdf(tmp_path / "d.pdf").read_bytes()
    for name in ["../../escape.pdf", "/etc/passwd.pdf", "..\\..\\x.pdf", "a/../../b.pdf", "nul\x00.pdf"]:
        reg = store.put_bytes(data + name.encode(), name, source="dataset")
        path = store.path(reg.document_id)
        assert path.resolve().is_relative_to((tmp_path / "data" / "objects").resolve())
        assert path.name == f"{reg.document_id}.pdf" and store.info(reg.document_id).filename == name
    assert {p.name for p in tmp_path.iterdir()} == {"data", "d.pdf"}


def test_symlinks_out_of_the_folder_are_not_listed(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "loop").symlink_to(folder)  # a symlinked folder: never followed
    listed = list_folder(folder)
    assert all(p.resolve().is_relative_to(folder.resolve()) for p in listed)
    assert len(listed) == len(VISIBLE) + 1
