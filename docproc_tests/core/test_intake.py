"""Inbox listing (cursor, cap, settling, skips) and the content-addressed object store."""

import os
import time

from docproc_assets.core.intake import Cursor, ObjectStore, scan, walk


def _touch(path, data=b"%PDF-1.4 x\n%%EOF\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_skips_hidden_temporary_unsupported_and_escaping_symlinks(tmp_path):
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    _touch(inbox / "a.pdf")
    _touch(inbox / "sub" / "b.png")
    _touch(inbox / ".hidden.pdf")
    _touch(inbox / ".cache" / "c.pdf")
    _touch(inbox / "d.pdf.part")
    _touch(inbox / "~$e.docx")
    _touch(inbox / "notes.txt", b"just notes, not a document")
    _touch(inbox / "scan-without-extension")  # a PDF by content: taken
    (inbox / "out.pdf").symlink_to(_touch(outside / "secret.pdf"))
    (inbox / "in.pdf").symlink_to(inbox / "a.pdf")
    (inbox / "linkdir").symlink_to(outside, target_is_directory=True)
    skipped = {}
    assert sorted(c.name for c in walk(inbox, skipped)) == ["a.pdf", "in.pdf", "scan-without-extension", "sub/b.png"]
    assert skipped == {"hidden": 2, "temporary": 2, "unsupported": 1, "symlink outside inbox": 1, "symlinked folder": 1}


def test_cursor_resumes_and_caps(tmp_path):
    for i in range(5):
        _touch(tmp_path / f"{i}.pdf", str(i).encode())
    first = scan(tmp_path, Cursor(), limit=3, settle_seconds=0)
    assert len(first.files) == 3 and first.remaining == 2
    second = scan(tmp_path, Cursor.loads(first.cursor.dumps()), limit=3, settle_seconds=0)
    assert len(second.files) == 2
    assert {c.name for c in first.files + second.files} == {f"{i}.pdf" for i in range(5)}
    assert scan(tmp_path, second.cursor, settle_seconds=0).files == []
    assert len(second.cursor.dumps()) < 200


def test_files_sharing_a_timestamp_are_each_taken_once(tmp_path):
    for i in range(4):
        _touch(tmp_path / f"{i}.pdf")
    now = time.time_ns()
    seen, cursor = [], Cursor()
    for _ in range(4):
        result = scan(tmp_path, cursor, limit=1, settle_seconds=0, now_ns=now + 10**9)
        seen += [c.name for c in result.files]
        cursor = result.cursor
    assert sorted(seen) == ["0.pdf", "1.pdf", "2.pdf", "3.pdf"]
    # the same ctime for all of them: the cursor keeps the names taken at that instant
    os.utime(tmp_path / "0.pdf")  # a new write moves ctime forward: taken again (and deduplicated by hash)
    assert [c.name for c in scan(tmp_path, cursor, settle_seconds=0).files] == ["0.pdf"]


def test_files_still_being_written_wait(tmp_path):
    _touch(tmp_path / "old.pdf")
    result = scan(tmp_path, Cursor(), settle_seconds=0, now_ns=time.time_ns() + 10**9)
    assert [c.name for c in result.files] == ["old.pdf"]
    _touch(tmp_path / "new.pdf")
    waiting = scan(tmp_path, result.cursor, settle_seconds=30)
    assert waiting.files == [] and waiting.waiting == 1
    later = scan(tmp_path, waiting.cursor, settle_seconds=30, now_ns=time.time_ns() + 31 * 10**9)
    assert [c.name for c in later.files] == ["new.pdf"]


def test_object_store_keeps_one_copy_per_content(tmp_path):
    objects = ObjectStore(tmp_path / "objects")
    a = objects.put_file(_touch(tmp_path / "in" / "a.pdf", b"%PDF-same"))
    b = objects.put_file(_touch(tmp_path / "in" / "copy of a.PDF", b"%PDF-same"))
    c = objects.put_bytes(b"%PDF-other", "c.pdf", "dataset:x/0")
    assert a.document_id == b.document_id != c.document_id
    assert b.filename == "a.pdf"  # the first registration names the document
    assert objects.path(a.document_id).read_bytes() == b"%PDF-same"
    assert objects.path(a.document_id).suffix == ".pdf"
    assert len(list((tmp_path / "objects").rglob("*.pdf"))) == 2
    assert not list((tmp_path / "objects").glob(".in-*"))


def test_end_markers_tell_a_cut_file_from_a_whole_one(tmp_path):
    import io
    import zipfile

    from PIL import Image

    from docproc_assets.core.intake import missing_end_marker
    from docproc_tests import documents as D

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("word/document.xml", "x" * 5000)
    images = {}
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP"):
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), "white").save(buf, format=fmt)
        images[fmt] = buf.getvalue()
    whole = {"a.pdf": D.digital_pdf(tmp_path / "src.pdf").read_bytes(), "a.docx": zipped.getvalue(),
             **{f"a.{fmt.lower()}": data for fmt, data in images.items()}}
    for name, data in whole.items():
        assert missing_end_marker(_touch(tmp_path / "whole" / name, data)) is None, name
        cut = missing_end_marker(_touch(tmp_path / "cut" / name, data[: len(data) * 2 // 3]))
        assert cut is not None, name
    assert missing_end_marker(_touch(tmp_path / "a.tif", b"II*\x00" + b"\x00" * 100)) is None  # no end marker: never deferred
