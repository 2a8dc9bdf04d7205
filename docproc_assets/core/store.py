"""Results in one DuckDB file: documents, pages, extractions (one row per document and model), model_metrics,
and the evaluation tables: ground_truth, page_metrics, answers, answer_metrics, agreement.

DuckDB lets one process write a file at a time, and a read-only connection in another process blocks
writers too. So writers never open the database directly: `stage()` writes the rows of one step to a
Parquet file in a staging folder (never blocked), and `flush()` merges staged files into the database
under an exclusive file lock, replacing rows by key (rematerializing never duplicates). A flush that
finds the database busy leaves the files for the next one; the `extractions` asset flushes with a wait.
Readers (`docproc query`) take a shared lock for the length of one query.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

import duckdb

from docproc_assets.core.files import fsync

DEFAULT_DB = Path("data/docproc.duckdb")
DOCUMENT_FAILED = "document failed before extraction"  # rows a rerun of the model cannot change
DIRECT = "direct"  # the model name of the direct track's (PDF text layer) extraction rows
BAD_FOLDER = "bad"  # staging/bad/<table>/: staged files that could not be merged, each with NAME.error.txt
STALE_TMP_SECONDS = 3600.0  # a staged .tmp older than this belongs to a writer that died

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # name -> DuckDB type, in table order
    key: tuple[str, ...]
    replace_by: tuple[str, ...] = ()  # delete every row matching these columns before inserting (pages)
    newest_by: str | None = None  # a row replaces the stored one only if this column (set by the writer) is not older

    def ddl(self) -> str:
        cols = ", ".join(f"{c} {t}" for c, t in self.columns.items())
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}, PRIMARY KEY ({', '.join(self.key)}))"


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("documents", {
            "document_id": "VARCHAR", "source_path": "VARCHAR", "filename": "VARCHAR", "mime": "VARCHAR",
            "size_bytes": "BIGINT", "page_count": "INTEGER", "track": "VARCHAR", "status": "VARCHAR DEFAULT 'registered'",
            "error": "VARCHAR", "registered_at": "TIMESTAMP", "routed_at": "TIMESTAMP",
            "error_kind": "VARCHAR", "repaired": "BOOLEAN", "repairer": "VARCHAR",
            "superseded_by": "VARCHAR",  # set when newer bytes were registered at the same source_path
        }, ("document_id",), newest_by="routed_at"),
        Table("pages", {
            "document_id": "VARCHAR", "page_number": "INTEGER", "track": "VARCHAR", "text_chars": "INTEGER",
            "image_coverage": "DOUBLE", "route_reason": "VARCHAR", "invisible_chars": "INTEGER",
            "garbled_ratio": "DOUBLE", "script": "VARCHAR", "language": "VARCHAR",
        }, ("document_id", "page_number"), replace_by=("document_id",)),
        Table("extractions", {
            "document_id": "VARCHAR", "model": "VARCHAR", "model_version": "VARCHAR", "track": "VARCHAR",
            "extracted_text": "VARCHAR", "success": "BOOLEAN", "error": "VARCHAR", "token_count": "INTEGER",
            "pages": "INTEGER", "seconds": "DOUBLE", "created_at": "TIMESTAMP", "run_id": "VARCHAR",
            "peak_memory_mb": "DOUBLE", "truncated_pages": "INTEGER", "finished_at": "TIMESTAMP",
            "engines": "VARCHAR",  # the engines that read its OCR pages (`auto`: one per script met)
        }, ("document_id", "model"), newest_by="finished_at"),
        Table("page_reads", {  # one row per page a model read: which engine, what it found, how sure it was
            "document_id": "VARCHAR", "page_number": "INTEGER", "model": "VARCHAR", "model_version": "VARCHAR",
            "track": "VARCHAR", "engine": "VARCHAR", "engine_version": "VARCHAR", "script": "VARCHAR",
            "language": "VARCHAR", "script_evidence": "VARCHAR", "elements": "INTEGER", "words": "INTEGER", "chars": "INTEGER",
            "mean_confidence": "DOUBLE", "seconds": "DOUBLE", "error": "VARCHAR", "finished_at": "TIMESTAMP",
            "engine_vote": "VARCHAR",  # auto, unsure: "ppocr-v6 0.71, tesseract (eng+deu+fra) 0.83; agreement 0.64; kept tesseract (...)"
        }, ("document_id", "page_number", "model"), newest_by="finished_at"),
        Table("model_metrics", {
            "model": "VARCHAR", "documents": "INTEGER", "success_rate": "DOUBLE", "avg_token_count": "DOUBLE",
            "seconds_per_page": "DOUBLE", "pages_per_minute": "DOUBLE", "pages": "BIGINT", "errors": "INTEGER",
            "total_seconds": "DOUBLE", "updated_at": "TIMESTAMP",
            "peak_memory_mb": "DOUBLE", "truncation_rate": "DOUBLE", "pages_scored": "INTEGER",
            "mean_cer": "DOUBLE", "median_cer": "DOUBLE", "mean_wer": "DOUBLE", "median_wer": "DOUBLE",
            "mean_cer_loose": "DOUBLE", "mean_wer_loose": "DOUBLE", "mean_bow_f1": "DOUBLE",
            "questions": "INTEGER", "answer_recall": "DOUBLE", "mean_anls": "DOUBLE", "mean_agreement": "DOUBLE",
            "mean_row_integrity": "DOUBLE",
        }, ("model",)),
        # Evaluation (core/evaluation.py): what the right text is, and how close each model came.
        Table("ground_truth", {  # one reference text per page: a sidecar transcript or a synthetic page's text layer
            "document_id": "VARCHAR", "page_number": "INTEGER", "reference": "VARCHAR", "source": "VARCHAR",
            "parent_document_id": "VARCHAR", "parent_page": "INTEGER", "dpi": "INTEGER", "degradation": "VARCHAR",
            "layout_reference": "VARCHAR",  # the page's visual rows (one a line), where known: row integrity
        }, ("document_id", "page_number"), replace_by=("document_id",)),
        Table("page_metrics", {
            "document_id": "VARCHAR", "page_number": "INTEGER", "model": "VARCHAR", "model_version": "VARCHAR",
            "cer": "DOUBLE", "wer": "DOUBLE", "cer_loose": "DOUBLE", "wer_loose": "DOUBLE", "bow_f1": "DOUBLE",
            "reference_chars": "INTEGER", "hypothesis_chars": "INTEGER", "substitutions": "INTEGER",
            "deletions": "INTEGER", "insertions": "INTEGER", "error_type": "VARCHAR", "ground_truth_source": "VARCHAR",
            "dpi": "INTEGER", "degradation": "VARCHAR", "scored_at": "TIMESTAMP",
            "rows": "INTEGER", "rows_intact": "INTEGER", "row_integrity": "DOUBLE",  # where a layout reference exists
        }, ("document_id", "page_number", "model"), newest_by="scored_at"),
        Table("answers", {  # DocumentVQA questions and gold answers (answers: a JSON list)
            "document_id": "VARCHAR", "question_id": "VARCHAR", "question": "VARCHAR", "answers": "VARCHAR",
            "dataset": "VARCHAR", "split": "VARCHAR",
        }, ("document_id", "question_id")),
        Table("answer_metrics", {  # per question and model: is a gold answer in the model's text; ANLS with a QA step
            "document_id": "VARCHAR", "question_id": "VARCHAR", "model": "VARCHAR", "model_version": "VARCHAR",
            "found": "BOOLEAN", "anls": "DOUBLE", "scored_at": "TIMESTAMP",
        }, ("document_id", "question_id", "model"), newest_by="scored_at"),
        Table("agreement", {  # without ground truth: pairwise similarity of two models' texts of a document
            "document_id": "VARCHAR", "model_a": "VARCHAR", "model_b": "VARCHAR", "similarity": "DOUBLE",
        }, ("document_id", "model_a", "model_b"), replace_by=("document_id",)),
    ]
}

# The current document of a path is its newest registration; earlier ones stay, marked superseded_by it.
# Counts, metrics and the report read the current_* views; the tables keep the history.
SUPERSEDE_SQL = """
WITH latest AS (
    SELECT source_path, arg_max(document_id, (registered_at, document_id)) AS current
    FROM documents WHERE source_path IS NOT NULL AND registered_at IS NOT NULL GROUP BY source_path
), successor AS (  -- NULL for the current document itself
    SELECT d.document_id, nullif(latest.current, d.document_id) AS by FROM documents d JOIN latest USING (source_path)
)
UPDATE documents SET superseded_by = successor.by FROM successor
WHERE documents.document_id = successor.document_id AND documents.superseded_by IS DISTINCT FROM successor.by
"""
# An OCR page has no text layer to tell its script at routing: the script OSD and the read text told
# (page_reads) fills it in, `auto`'s reading first, then the reading with the most characters.
PAGE_SCRIPTS_SQL = """
WITH best AS (
    SELECT document_id, page_number,
           arg_max(script, (model = 'auto', chars, model)) AS script, arg_max(language, (model = 'auto', chars, model)) AS language
    FROM page_reads WHERE script IS NOT NULL AND track = 'ocr' GROUP BY document_id, page_number
)
UPDATE pages SET script = best.script, language = best.language FROM best
WHERE pages.document_id = best.document_id AND pages.page_number = best.page_number AND pages.script IS NULL
"""
SUPERSEDED = "SELECT document_id FROM documents WHERE superseded_by IS NOT NULL"
VIEWS = {
    "current_documents": "SELECT * FROM documents WHERE superseded_by IS NULL",
    "current_extractions": f"SELECT * FROM extractions WHERE document_id NOT IN ({SUPERSEDED})",
    "current_page_metrics": f"SELECT * FROM page_metrics WHERE document_id NOT IN ({SUPERSEDED})",
}

# A model is judged on the rows where it had pages to read; a document that failed before routing is
# not a model's failure (those rows have pages = 0), and an OCR model has nothing to do on direct pages.
METRICS_SQL = """
WITH base AS (
    SELECT model,
           count(*)::INTEGER AS documents,
           round(avg(success::INTEGER), 4) AS success_rate,
           round(avg(token_count) FILTER (WHERE success), 1) AS avg_token_count,
           round(sum(seconds) FILTER (WHERE success) / nullif(sum(pages) FILTER (WHERE success), 0), 4) AS seconds_per_page,
           round(60 * sum(pages) FILTER (WHERE success) / nullif(sum(seconds) FILTER (WHERE success), 0), 1) AS pages_per_minute,
           sum(pages) AS pages,
           (count(*) FILTER (WHERE NOT success))::INTEGER AS errors,
           round(sum(seconds), 3) AS total_seconds,
           now()::TIMESTAMP AS updated_at,
           round(max(peak_memory_mb), 1) AS peak_memory_mb,
           round(sum(truncated_pages) / nullif(sum(pages) FILTER (WHERE truncated_pages IS NOT NULL), 0), 4) AS truncation_rate
    FROM current_extractions
    WHERE pages > 0
    GROUP BY model
), accuracy AS (
    SELECT model, count(*)::INTEGER AS pages_scored,
           round(avg(cer), 4) AS mean_cer, round(median(cer), 4) AS median_cer,
           round(avg(wer), 4) AS mean_wer, round(median(wer), 4) AS median_wer,
           round(avg(cer_loose), 4) AS mean_cer_loose, round(avg(wer_loose), 4) AS mean_wer_loose,
           round(avg(bow_f1), 4) AS mean_bow_f1, round(avg(row_integrity), 4) AS mean_row_integrity
    FROM current_page_metrics GROUP BY model
), qa AS (
    SELECT model, count(*)::INTEGER AS questions, round(avg(found::INTEGER), 4) AS answer_recall, round(avg(anls), 4) AS mean_anls
    FROM answer_metrics WHERE document_id NOT IN ({SUPERSEDED}) GROUP BY model
), agree AS (
    SELECT model, round(avg(similarity), 4) AS mean_agreement
    FROM (SELECT model_a AS model, similarity, document_id FROM agreement UNION ALL SELECT model_b, similarity, document_id FROM agreement)
    WHERE document_id NOT IN ({SUPERSEDED})
    GROUP BY model
)
SELECT base.*, accuracy.* EXCLUDE (model), qa.* EXCLUDE (model), agree.* EXCLUDE (model)
FROM base LEFT JOIN accuracy USING (model) LEFT JOIN qa USING (model) LEFT JOIN agree USING (model)
ORDER BY model
""".replace("{SUPERSEDED}", SUPERSEDED)


# User SQL (`docproc query`): a read-only connection still lets COPY ... TO write any file and
# read_csv('/etc/...') read one; these settings shut the file system out and lock themselves.
UNTRUSTED_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


class StoreBusy(RuntimeError):
    pass


# Where a Store's connections come from: `connect(read_only, config)` opens one for a `with` block. The
# CLI opens the file itself (`file_connections`); the Dagster layer passes its DuckDBResource's.
Connect = Callable[[bool, dict[str, Any]], ContextManager[duckdb.DuckDBPyConnection]]


def file_connections(db_path: Path) -> Connect:
    @contextlib.contextmanager
    def connect(read_only: bool, config: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
        con = duckdb.connect(str(db_path), read_only=read_only, config=config)
        try:
            yield con
        finally:
            con.close()

    return connect


class Store:
    def __init__(self, db_path: Path | str = DEFAULT_DB, staging_dir: Path | str | None = None,
                 connect: Connect | None = None):
        """`connect`: where connections come from (default: the file at `db_path`). The lock and the
        staging folder live beside `db_path` whatever opens the connections."""
        self.db_path = Path(db_path).absolute()
        self.connect = connect or file_connections(self.db_path)
        self.staging_dir = Path(staging_dir) if staging_dir else self.db_path.with_name(f".{self.db_path.name}.staging")
        self.lock_path = self.db_path.with_name(f".{self.db_path.name}.lock")
        self.set_aside: list[str] = []  # staged files this store moved to staging/bad/ ("table/name: reason")

    # -- writing ---------------------------------------------------------------------------------

    def stage(self, table: str, rows: Sequence[dict[str, Any]]) -> Path | None:
        """Write rows (each with the table's key columns and any others) to a staged Parquet file."""
        if not rows:
            return None
        spec = TABLES[table]
        cols = [c for c in spec.columns if any(c in r for r in rows)]
        missing = [k for k in spec.key if k not in cols]
        if missing:
            raise ValueError(f"{table} rows lack key columns {missing}")
        deduped = {tuple(r[k] for k in spec.key): r for r in rows}  # the last row for a key wins
        folder = self.staging_dir / table
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{name}.tmp"
        con = _scratch(os.getpid()).cursor()  # a cursor: its own connection, `src` seen by it alone
        try:
            import pyarrow as pa  # columnar insert: executemany costs ~0.4 ms a row

            src = pa.table({c: [r.get(c) for r in deduped.values()] for c in cols})
            con.register("src", src)
            types = {c: spec.columns[c].split(" DEFAULT")[0] for c in cols}
            con.execute(f"COPY (SELECT {', '.join(f'CAST({c} AS {types[c]}) AS {c}' for c in cols)} FROM src) TO '{tmp}' (FORMAT parquet)")
        finally:
            con.close()
        target = folder / name
        fsync(tmp)  # the bytes are on disk before the name says the file is complete
        tmp.replace(target)
        fsync(folder)
        return target

    def write(self, table: str, rows: Sequence[dict[str, Any]], wait: float = 0.0) -> bool:
        """Stage rows and try to merge them now; False when the database was busy (they stay staged)."""
        self.stage(table, rows)
        return self.flush(wait=wait) >= 0

    def staged(self) -> list[Path]:
        files = [p for t in TABLES for p in (self.staging_dir / t).glob("*.parquet")] if self.staging_dir.exists() else []
        return sorted(files, key=lambda p: p.name)

    def flush(self, wait: float = 0.0) -> int:
        """Merge staged files; -1 when the database is busy. Files that cannot be read are set aside
        (`set_aside` lists them for the step's metadata), never left to block the merges after them.
        Nothing staged: no lock and no writable connection (every `cached` look-up flushes first)."""
        if self.db_path.exists() and not self.staged():
            return 0
        try:
            with self._locked(fcntl.LOCK_EX, wait), self._connection(read_only=False, wait=wait) as con:
                return self._merge_staged(con)
        except StoreBusy:
            return -1

    def _merge_staged(self, con: duckdb.DuckDBPyConnection) -> int:
        """Merge every staged file; the caller holds the exclusive lock, so the listing cannot change under
        it (nobody else merges meanwhile). Order does not decide which row wins: `Table.newest_by` does."""
        merged = 0
        documents_changed = scripts_changed = False
        for path in self.staged():
            try:
                self._merge(con, TABLES[path.parent.name], path)
            except duckdb.Error as exc:  # empty, truncated or foreign: set aside with its reason, go on
                self._set_aside(path, exc)
                continue
            path.unlink()
            merged += 1
            documents_changed |= path.parent.name == "documents"
            scripts_changed |= path.parent.name in {"pages", "page_reads"}
        if documents_changed:
            con.execute(SUPERSEDE_SQL)
        if scripts_changed:
            con.execute(PAGE_SCRIPTS_SQL)
        self._remove_stale_temporaries()
        return merged

    def _set_aside(self, path: Path, exc: Exception) -> None:
        bad = self.staging_dir / BAD_FOLDER / path.parent.name
        bad.mkdir(parents=True, exist_ok=True)
        reason = " ".join(str(exc).split())[:300]
        path.replace(bad / path.name)
        (bad / f"{path.name}.error.txt").write_text(reason + "\n")
        self.set_aside.append(f"{path.parent.name}/{path.name}: {reason}")
        log.error("staged file %s could not be merged (%s): moved to %s", path.name, reason, bad)

    def _remove_stale_temporaries(self) -> None:
        """A writer killed between writing and renaming leaves `.NAME.tmp`: removed once surely abandoned."""
        cutoff = time.time() - STALE_TMP_SECONDS
        for table in TABLES:
            for tmp in (self.staging_dir / table).glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()

    def _merge(self, con: duckdb.DuckDBPyConnection, spec: Table, path: Path) -> None:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
        src = f"read_parquet('{path}')"
        con.execute("BEGIN")
        try:
            if spec.replace_by:
                keys = ", ".join(spec.replace_by)
                con.execute(f"DELETE FROM {spec.name} WHERE ({keys}) IN (SELECT DISTINCT {keys} FROM {src})")
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in spec.key)
            if updates and spec.newest_by in cols:  # a late file with an older result leaves the newer row
                v = spec.newest_by
                updates += f" WHERE EXCLUDED.{v} IS NULL OR {spec.name}.{v} IS NULL OR EXCLUDED.{v} >= {spec.name}.{v}"
            conflict = f"ON CONFLICT ({', '.join(spec.key)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
            con.execute(f"INSERT INTO {spec.name} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {src} {conflict}")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise

    def refresh_metrics(self, wait: float = 60.0) -> list[dict[str, Any]]:
        """Recompute model_metrics from extractions (after merging what is staged)."""
        with self._locked(fcntl.LOCK_EX, wait), self._connection(read_only=False, wait=wait) as con:
            self._merge_staged(con)
            con.execute("BEGIN")
            con.execute("DELETE FROM model_metrics")
            con.execute(f"INSERT INTO model_metrics BY NAME {METRICS_SQL}")
            con.execute("COMMIT")
            return dict_rows(con.execute("SELECT * FROM model_metrics ORDER BY model"))

    # -- reading ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self, wait: float = 30.0, untrusted: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, held only as long as the block; waits out a merge in progress.
        `untrusted` (a user's SQL): no file system access either (no COPY TO, read_csv, INSTALL,
        ATTACH), and the setting locked so the query cannot turn it back on."""
        if not self.db_path.exists():
            self.flush(wait=wait)  # creates the schema
        with (self._locked(fcntl.LOCK_SH, wait),
              self._connection(read_only=True, wait=wait, config=UNTRUSTED_CONFIG if untrusted else None) as con):
            yield con

    def query(self, sql: str, params: Sequence[Any] | None = None, wait: float = 30.0,
              untrusted: bool = False) -> tuple[list[str], list[tuple]]:
        with self.reader(wait, untrusted) as con:
            cur = con.execute(sql, params or [])
            if cur.description is None:
                return [], []
            return [d[0] for d in cur.description], cur.fetchall()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        with self.reader() as con:
            return dict_rows(con.execute(sql, params or []))

    def cached(self, model: str, version: str, document_ids: Sequence[str]) -> set[str]:
        """Documents whose extraction by this model version already succeeded (or failed for the
        document's own reasons, which a rerun cannot change)."""
        if not document_ids:
            return set()
        self.flush(wait=30.0)
        try:
            _, rows = self.query(
                "SELECT document_id FROM extractions WHERE model = ? AND model_version = ? "
                f"AND (success OR starts_with(error, '{DOCUMENT_FAILED}')) "
                "AND document_id IN (SELECT unnest(?::VARCHAR[]))",
                [model, version, list(document_ids)],
            )
        except StoreBusy:
            return set()
        return {r[0] for r in rows}

    # -- plumbing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, mode: int, wait: float) -> Iterator[None]:
        """The store's file lock. A shared lock needs only read access: on a read-only copy (no lock file
        can be made or opened for writing) readers go ahead unlocked, as nobody can write there."""
        try:
            if mode == fcntl.LOCK_SH:
                fd = os.open(self.lock_path, os.O_RDONLY | os.O_CREAT, 0o644)
            else:
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if mode != fcntl.LOCK_SH:
                raise
            yield
            return
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(f"{self.db_path} is busy") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def _connection(self, read_only: bool, wait: float, config: dict | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one block, the schema brought up to date on writable ones; another process
        outside our lock (a user's duckdb shell) may hold the file for a while."""
        deadline = time.monotonic() + wait
        with contextlib.ExitStack() as stack:
            while True:
                try:
                    con = stack.enter_context(self.connect(read_only, dict(config or {})))
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                        raise StoreBusy(f"{self.db_path} is locked by another process: {exc}") from exc
                    time.sleep(0.1)
            if not read_only:
                _migrate(con)
            yield con


# What the schema is made of: a database that records this fingerprint needs no DDL. Running it on every
# writable connection (each step's merges) rewrote the views each time, and so gave DuckDB a checkpoint
# to write when the connection closed, even when nothing had been merged.
SCHEMA_FINGERPRINT = hashlib.sha256(repr(([t.ddl() for t in TABLES.values()], sorted(VIEWS.items()))).encode()).hexdigest()[:16]


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Tables and views created, and columns added to a database from before they existed; nothing to do
    when the database records this schema's fingerprint."""
    try:
        if con.execute("SELECT fingerprint FROM docproc_schema").fetchall() == [(SCHEMA_FINGERPRINT,)]:
            return
    except duckdb.CatalogException:  # a new database, or one from before the fingerprint
        pass
    for spec in TABLES.values():
        con.execute(spec.ddl())
    have = set(con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall())
    for spec in TABLES.values():
        for column, kind in spec.columns.items():
            if (spec.name, column) not in have:
                con.execute(f"ALTER TABLE {spec.name} ADD COLUMN {column} {kind}")
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
    con.execute("CREATE OR REPLACE TABLE docproc_schema AS SELECT ? AS fingerprint", [SCHEMA_FINGERPRINT])


@functools.cache
def _scratch(pid: int) -> duckdb.DuckDBPyConnection:
    """An in-memory database per process (a forked child makes its own) that turns staged rows into Parquet:
    a new one costs ~40 ms, about as much as the rest of a stage, and a step stages two or three times."""
    return duckdb.connect()


def dict_rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """An executed query's rows as dicts by column name."""
    if cursor.description is None:
        return []
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
