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
