"""The DuckDB store: keyed upserts, staging when busy, concurrent writers, read-only queries."""

import multiprocessing as mp
from datetime import datetime

import duckdb
import pytest

from docproc_assets.core.store import Store, StoreBusy


def _row(doc: str, model: str, text: str = "hello", success: bool = True, pages: int = 1, seconds: float = 1.0) -> dict:
    return {"document_id": doc, "model": model, "model_version": f"{model}@1", "track": "ocr", "extracted_text": text,
            "success": success, "error": None if success else "boom", "token_count": len(text.split()), "pages": pages,
            "seconds": seconds, "created_at": datetime.now(), "run_id": "r"}


def test_rewriting_replaces_rows(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    assert store.write("extractions", [_row("a", "m", "first"), _row("b", "m")])
    assert store.write("extractions", [_row("a", "m", "second words")])
    rows = store.rows("SELECT document_id, extracted_text, token_count FROM extractions ORDER BY 1")
    assert rows == [{"document_id": "a", "extracted_text": "second words", "token_count": 2},
                    {"document_id": "b", "extracted_text": "hello", "token_count": 1}]


def test_partial_document_updates_keep_other_columns(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write("documents", [{"document_id": "a", "filename": "a.pdf", "source_path": "/in/a.pdf", "size_bytes": 10}])
    store.write("documents", [{"document_id": "a", "track": "direct", "page_count": 2, "status": "routed"}])
    (row,) = store.rows("SELECT filename, size_bytes, track, page_count, status FROM documents")
    assert row == {"filename": "a.pdf", "size_bytes": 10, "track": "direct", "page_count": 2, "status": "routed"}


def test_pages_of_a_document_are_replaced_as_a_whole(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    page = {"document_id": "a", "track": "direct", "text_chars": 5, "image_coverage": 0.0, "route_reason": "text"}
    store.write("pages", [{**page, "page_number": n} for n in (1, 2, 3)])
    store.write("pages", [{**page, "page_number": 1, "track": "ocr"}])
    assert store.query("SELECT page_number, track FROM pages")[1] == [(1, "ocr")]


def test_busy_database_keeps_rows_staged_until_the_next_flush(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.flush()
    with store.reader():  # a reader holds the database: the writer must not fail, nor wait
        assert store.write("extractions", [_row("a", "m")]) is False
        assert len(store.staged()) == 1
    assert store.flush() == 1
    assert store.query("SELECT count(*) FROM extractions")[1] == [(1,)]


def test_external_lock_is_reported_not_raised(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.flush()
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(store.db_path), ready, done))
    proc.start()
    try:
        assert ready.wait(30)
        assert store.write("extractions", [_row("a", "m")]) is False  # another process holds DuckDB's lock
        with pytest.raises(StoreBusy):
            store.query("SELECT 1", wait=0.2)
    finally:
        done.set()
        proc.join(30)
    assert store.flush(wait=10) == 1


def _hold(path, ready, done):
    con = duckdb.connect(path)
    ready.set()
    done.wait(60)
    con.close()


def _writer(path: str, worker: int, n: int) -> None:
    store = Store(path)
    for i in range(n):
        store.write("extractions", [_row(f"doc{i}", f"model{worker}"), _row(f"doc{i}", f"model{worker}", "again")])
    store.flush(wait=60)


def test_parallel_writers_never_fail_and_never_duplicate(tmp_path):
    path = tmp_path / "r.duckdb"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 30)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(path)
    store.flush(wait=10)
    assert store.query("SELECT count(*), count(DISTINCT (document_id, model)) FROM extractions")[1] == [(120, 120)]
    assert store.query("SELECT DISTINCT extracted_text FROM extractions")[1] == [("again",)]
    assert store.staged() == []


def test_metrics_judge_models_on_their_pages(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write("extractions", [
        _row("a", "m", "one two three", pages=2, seconds=1.0),
        _row("b", "m", "x", success=False, pages=1, seconds=0.5),
        _row("c", "m", "", pages=0, seconds=0.0),  # nothing for this model: not counted
    ])
    (m,) = store.refresh_metrics()
    assert (m["model"], m["documents"], m["success_rate"], m["avg_token_count"], m["seconds_per_page"], m["pages_per_minute"], m["errors"]) \
        == ("m", 2, 0.5, 3.0, 0.5, 120.0, 1)


def test_cached_needs_the_same_version_and_success(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write("extractions", [_row("a", "m"), _row("b", "m", success=False)])
    assert store.cached("m", "m@1", ["a", "b", "c"]) == {"a"}
    assert store.cached("m", "m@2", ["a"]) == set()


def test_look_ups_with_nothing_staged_open_no_writable_connection(tmp_path):
    """Every step's `cached` look-up flushes first; with nothing staged that must cost no exclusive lock
    and no writable connection (each is a DuckDB open, and the lock queues the other workers' merges)."""
    from docproc_assets.core.store import file_connections

    opened = []
    connect = file_connections(tmp_path / "r.duckdb")
    store = Store(tmp_path / "r.duckdb", connect=lambda read_only, config: opened.append(read_only) or connect(read_only, config))
    store.write("extractions", [_row("a", "m")])
    assert opened == [False]  # the new database's schema and the merge
    opened.clear()
    assert store.cached("m", "m@1", ["a", "b"]) == {"a"} and store.flush() == 0
    assert opened == [True]  # the look-up's own read
    store.stage("extractions", [_row("b", "m")])
    assert store.cached("m", "m@1", ["a", "b"]) == {"a", "b"}  # what is staged is merged before the look-up
    assert opened == [True, False, True]


def _stage_file(store: Store, table: str, content: bytes, name: str) -> None:
    folder = store.staging_dir / table
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)


def test_unreadable_staged_files_are_set_aside_and_the_merge_goes_on(tmp_path):
    """An empty and a truncated staged file (a host crash before the data reached the disk) among good
    ones: the good ones merge, the bad ones move to staging/bad/ with their error, later flushes work."""
    store = Store(tmp_path / "r.duckdb")
    first = store.stage("extractions", [_row("a", "m", "alpha")])
    good = first.read_bytes()
    _stage_file(store, "extractions", b"", "00000000000000000001-1-empty.parquet")  # merged first by name
    _stage_file(store, "extractions", good[: len(good) // 2], "00000000000000000002-1-cut.parquet")
    store.stage("extractions", [_row("b", "m", "beta")])
    assert store.flush() == 2
    assert store.rows("SELECT document_id, extracted_text FROM extractions ORDER BY 1") == [
        {"document_id": "a", "extracted_text": "alpha"}, {"document_id": "b", "extracted_text": "beta"}]
    bad = store.staging_dir / "bad" / "extractions"
    assert sorted(p.name for p in bad.glob("*.parquet")) == ["00000000000000000001-1-empty.parquet", "00000000000000000002-1-cut.parquet"]
    assert all((bad / f"{p.name}.error.txt").read_text().strip() for p in bad.glob("*.parquet"))
    assert [line.split(":")[0] for line in store.set_aside] == [
        "extractions/00000000000000000001-1-empty.parquet", "extractions/00000000000000000002-1-cut.parquet"]
    assert store.staged() == []
    assert store.write("extractions", [_row("c", "m")]) and store.cached("m", "m@1", ["a", "b", "c"]) == {"a", "b", "c"}


def test_a_late_file_with_an_older_result_leaves_the_newer_row(tmp_path):
    """Staged files are merged in any order: the row's own finished_at decides, not the file's name."""
    store = Store(tmp_path / "r.duckdb")
    older, newer = datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 11)
    store.write("extractions", [{**_row("a", "m", "newer result"), "finished_at": newer}])
    store.write("extractions", [{**_row("a", "m", "older result"), "finished_at": older}])  # staged later, older
    assert store.rows("SELECT extracted_text, finished_at FROM extractions") == [
        {"extracted_text": "newer result", "finished_at": newer}]
    store.write("extractions", [{**_row("a", "m", "newest"), "finished_at": datetime(2026, 1, 1, 12)}])
    assert store.query("SELECT extracted_text FROM extractions")[1] == [("newest",)]


def test_staged_temporaries_are_removed_after_the_grace_time(tmp_path):
    import os
    import time

    store = Store(tmp_path / "r.duckdb")
    folder = store.staging_dir / "extractions"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".dead.parquet.tmp", folder / ".writing.parquet.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    an_hour_ago = time.time() - 3700
    os.utime(stale, (an_hour_ago, an_hour_ago))
    store.flush()
    assert not stale.exists() and fresh.exists()  # a writer may still be renaming the fresh one


def test_readers_need_no_write_access(tmp_path):
    """A query on a copy whose lock file cannot be created (a read-only mount) still reads."""
    store = Store(tmp_path / "r.duckdb")
    store.write("extractions", [_row("a", "m")])
    copy = Store(tmp_path / "r.duckdb")
    copy.lock_path = tmp_path / "read-only" / "no-such-dir" / ".lock"  # O_CREAT there fails like EROFS
    assert copy.query("SELECT document_id FROM extractions", untrusted=True)[1] == [("a",)]
    assert not copy.lock_path.exists()


def test_new_bytes_at_a_path_supersede_the_old_document(tmp_path):
    """A corrected scan saved over the old one: the new document is current, the old one stays as history."""
    store = Store(tmp_path / "r.duckdb")
    doc = {"filename": "scan.pdf", "source_path": "/inbox/scan.pdf", "size_bytes": 1}
    store.write("documents", [{**doc, "document_id": "old", "registered_at": datetime(2026, 1, 1, 9)},
                              {"document_id": "other", "filename": "o.pdf", "source_path": "/inbox/o.pdf", "size_bytes": 1,
                               "registered_at": datetime(2026, 1, 1, 9)}])
    store.write("extractions", [_row("old", "m", "old text", success=False), _row("other", "m")])
    store.write("documents", [{**doc, "document_id": "new", "registered_at": datetime(2026, 1, 1, 10)}])
    store.write("extractions", [_row("new", "m", "new text")])
    assert store.rows("SELECT document_id, superseded_by FROM documents ORDER BY 1") == [
        {"document_id": "new", "superseded_by": None}, {"document_id": "old", "superseded_by": "new"},
        {"document_id": "other", "superseded_by": None}]
    assert store.query("SELECT document_id FROM current_documents ORDER BY 1")[1] == [("new",), ("other",)]
    # "what failed" and the metrics see current documents only: the old failure is history
    assert store.query("SELECT count(*) FROM current_extractions WHERE NOT success")[1] == [(0,)]
    (metrics,) = store.refresh_metrics()
    assert (metrics["documents"], metrics["errors"], metrics["success_rate"]) == (2, 0, 1.0)
    assert store.query("SELECT count(*) FROM extractions WHERE NOT success")[1] == [(1,)]  # history stays
