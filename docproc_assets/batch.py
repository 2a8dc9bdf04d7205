"""`docproc batch`: the Dagster assets, run in this process against the project's instance.

The runs land in the same DAGSTER_HOME that `make ui` uses, so they show in the UI afterwards. A
folder is registered like the inbox (content hashes, object store, dynamic partitions), then run in
chunks of MAX_PARTITIONS_PER_RUN documents: one run per chunk, one worker and one loaded model per
step, as a backfill with the same policy would. On Celery, where chunks run side by side, the chunks
are cut by expected reading (core/workload.py) rather than by count.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def dagster_home() -> Path:
    """DAGSTER_HOME, else the project's `.dagster_home` (with the project's dagster.yaml)."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").absolute()
    home.mkdir(parents=True, exist_ok=True)
    config = PROJECT_ROOT / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and config.exists():
        shutil.copyfile(config, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def contiguous_chunks(batch: list[str], ordered: list[str], size: int) -> list[list[str]]:
    """Split the batch's partition keys into runs of at most `size` that are contiguous in the
    instance's partition order (a run covers a key range)."""
    index = {k: i for i, k in enumerate(ordered)}
    keys = sorted(set(batch), key=index.__getitem__)
    chunks: list[list[str]] = []
    for key in keys:
        if chunks and len(chunks[-1]) < size and index[chunks[-1][-1]] + 1 == index[key]:
            chunks[-1].append(key)
        else:
            chunks.append([key])
    return chunks


def stale_assets(resource, chunks: list[list[str]], models: list[str]) -> list[list]:
    """The assets each chunk still needs, like "materialize stale": routing when a document has no routes,
    and each model whose rows for the chunk are missing or from another model version (config). Asked
    once for the whole batch: per chunk, its queries and merges cost about 0.25 s each before any run."""
    from docproc_assets.core import stages
    from docproc_assets.defs.extraction.assets import OCR_ASSET_KEYS
    from docproc_assets.defs.intake.sensors import PARTITIONED

    objects, store = resource.objects(), resource.store()
    every = [k for chunk in chunks for k in chunk]
    routed = {r[0] for r in store.query(
        "SELECT document_id FROM documents WHERE routed_at IS NOT NULL AND document_id IN (SELECT unnest(?::VARCHAR[]))", [every])[1]}
    routed -= {k for k in routed if stages.load_routes(objects, k) is None}
    assets = [(PARTITIONED[2], store.cached(stages.DIRECT, stages.model_version(stages.DIRECT), every)),
              *((OCR_ASSET_KEYS[m], store.cached(m, stages.model_version(m), every)) for m in models)]
    return [(PARTITIONED[:2] if not routed.issuperset(chunk) else [])
            + [key for key, cached in assets if not cached.issuperset(chunk)] for chunk in chunks]


def celery_run(chunk: list[str], stale: list, run_config: dict, env: dict[str, str]) -> tuple[str, bool]:
    """One chunk's run on the Celery executor: this process coordinates, every step is a task on a
    worker (`docproc cluster`); the instance, broker and data folder come from `env`, the caller's
    environment (the fork server this process came from may have started under another one)."""
    import warnings

    import dagster as dg

    from docproc_assets.cluster import cluster_job
    from docproc_assets.defs.intake.sensors import chunk_tags

    os.environ.clear()
    os.environ.update(env)
    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")  # dagster-celery makes it per step

    with dg.DagsterInstance.get() as instance, dg.execute_job(
            dg.reconstructable(cluster_job), instance=instance, run_config=run_config, tags=chunk_tags(chunk, "cluster"),
            asset_selection=stale, raise_on_error=False) as run:
        return run.run_id, run.success


def coordinators(count: int, warm: bool = False):
    """Processes to coordinate Celery runs in, one run each at a time (Dagster's logging set-up is not
    thread-safe), forked from a server that has imported Dagster and the definitions once (coordinator.py).
    `warm`: start the server now, on a thread (a first process waits for the server's imports), so that
    its imports overlap the caller's work."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["docproc_assets.coordinator"])
    pool = ProcessPoolExecutor(max(1, count), mp_context=context)
    if warm:
        threading.Thread(target=pool.submit, args=(os.getpid,), name="coordinators-warm", daemon=True).start()
    return pool


@dataclass
class BatchResult:
    documents: list[str]
    models: list[str]
    runs: list[str] = field(default_factory=list)
    failed_runs: int = 0
    cached_chunks: int = 0  # chunks with nothing to compute: no run launched
    seconds: float = 0.0
    db_path: Path | None = None
    report_path: Path | None = None
    outputs: Path | None = None
    synthetic: int = 0  # self-supervised page documents added by --evaluate
    chunk_seconds: float = 0.0  # the chunk runs alone (routing and extraction), without the tail


def run_batch(
    folder: Path | None,
    models: list[str] | None = None,
    db_path: Path | None = None,
    report_path: Path | None = None,
    data_dir: Path | None = None,
    sample_size: int | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    quiet: bool = True,
    force: bool = False,
    dataset: str | None = None,
    split: str = "train",
    evaluate: bool = False,
    synthesis=None,
    files: list[Path] | None = None,
    executor: str = "in_process",
    parallel_runs: int = 1,
) -> BatchResult:
    """Register the documents of `folder` (or the first `sample_size` rows of a DocumentVQA-format
    `dataset`) and materialize every asset over them with `models`. `evaluate` adds self-supervised
    pages: the digital pages of the batch rendered (and degraded) per `synthesis`, as documents of
    their own with their text layer as ground truth (core/evaluation.py). `files`: the folder's
documents when the caller has listed them already. `executor="celery"`: each chunk's steps run as
Celery tasks on the cluster's workers (`docproc cluster`), `parallel_runs` chunks at a time."""
    dagster_home()
    import dagster as dg

    from docproc_assets.core import evaluation, intake, stages, workload
    from docproc_assets.core.engines.registry import MODELS
    from docproc_assets.defs.extraction.assets import OCR_ASSET_KEYS
    from docproc_assets.defs.intake.partitions import MAX_PARTITIONS_PER_RUN, add_documents, document_id, document_ids, documents
    from docproc_assets.defs.intake.sensors import PARTITIONED, TAIL, chunk_tags
    from docproc_assets.defs.resources import duckdb_from_env, from_env
    from docproc_assets.definitions import defs

    start = time.perf_counter()
    data = Path(data_dir or from_env().data_dir).absolute()
    resource = from_env(
        duckdb_from_env(str(Path(db_path).absolute() if db_path else data / "docproc.duckdb")),
        data_dir=str(data),
        report_path=str(Path(report_path).absolute() if report_path else data / "reports" / "comparison.md"),
    )
    models = list(models) if models is not None else stages.default_models(resource.gpu_budget_gib)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown} (known: {', '.join(MODELS)})")

    # On Celery, the coordinators' fork server imports Dagster and the definitions (~2.4 s) while this
    # process registers the documents, instead of after it.
    pool = coordinators(parallel_runs, warm=True) if executor == "celery" else None
    try:
        store = resource.store()
        objects = resource.objects()
        if dataset:
            from docproc_assets.core import datasets

            ingested = datasets.ingest(objects, dataset, split, sample_size or 0)
            keys = ingested.document_ids
            store.stage("answers", ingested.answers)
        else:
            files = files if files is not None else intake.list_folder(Path(folder))
            if sample_size and sample_size < len(files):
                files = sorted(random.Random(0).sample(files, sample_size))
            registered = objects.put_files(files)
            keys = list(dict.fromkeys(r.document_id for r in registered))
            store.stage("ground_truth", [row for r in registered for row in evaluation.sidecar_rows(r.document_id, Path(r.source_path))])

        instance = dg.DagsterInstance.get()

        size = chunk_size or MAX_PARTITIONS_PER_RUN

        def add_partitions(ids: list[str]) -> tuple[list[list[str]], list[str]]:
            """(the documents' partition keys in groups, each cut into contiguous chunks; every key in the
            instance's order). On Celery, where chunks run side by side, new documents are added in chunks of
            equal expected reading (core/workload.py), heaviest first: the batch ends with its heaviest chunk."""
            known = set(document_ids(instance.get_dynamic_partitions(documents.name)))
            new = [i for i in ids if i not in known]
            groups = [ids]
            if executor == "celery" and len(new) > 1:
                costs = stages.reading_costs(objects, new, resource.document_timeout_s, resource.memory_limit_mb())
                groups = [*workload.balanced_chunks(costs, size), [i for i in ids if i in known]]
            keys, _ = add_documents(instance, [(i, objects.info(i).filename if objects.exists(i) else None) for g in groups for i in g])
            key_of = {document_id(k): k for k in keys}
            return [[key_of[i] for i in g] for g in groups if g], instance.get_dynamic_partitions(documents.name)

        definitions = defs()
        everything = [*definitions.assets, *(definitions.asset_checks or [])]
        selection = PARTITIONED + [OCR_ASSET_KEYS[m] for m in models]
        run_config = {"loggers": {"console": {"config": {"log_level": "WARNING" if quiet else "INFO"}}}}
        result = BatchResult(keys, models, db_path=Path(resource.db_path), report_path=Path(resource.report_path),
                             outputs=resource.outputs())

        def run_chunk(chunk: list[str], stale: list) -> tuple[str, bool]:
            run = dg.materialize(everything, selection=stale, instance=instance, resources={"docproc": resource},
                                 run_config=run_config, tags=chunk_tags(chunk, "batch"), raise_on_error=False)
            return run.run_id, run.success

        def run_chunks(groups: list[list[str]], ordered: list[str], first: int) -> int:
            chunks = [chunk for keys in groups for chunk in contiguous_chunks(keys, ordered, size)]
            todo = []
            needs = [selection] * len(chunks) if force else stale_assets(resource, [document_ids(c) for c in chunks], models)
            for n, (chunk, stale) in enumerate(zip(chunks, needs, strict=True), start=first):
                if stale:
                    todo.append((n, chunk, stale))
                    continue
                result.cached_chunks += 1  # every document of the chunk is routed and extracted by these model versions
                if on_chunk:
                    on_chunk(n, len(chunk))
            if pool is not None:
                runs = pool.map(celery_run, [chunk for _, chunk, _ in todo], [stale for *_, stale in todo], [run_config] * len(todo),
                                [dict(os.environ)] * len(todo))
            else:
                runs = (run_chunk(chunk, stale) for _, chunk, stale in todo)
            started = time.perf_counter()
            try:
                for (n, chunk, _), (run_id, success) in zip(todo, runs):
                    result.runs.append(run_id)
                    result.failed_runs += not success
                    if on_chunk:
                        on_chunk(n, len(chunk))
            finally:
                result.chunk_seconds += time.perf_counter() - started
            return first + len(chunks)

        done = run_chunks(*add_partitions(keys), 1)
        if evaluate:  # self-supervised pages from the batch's digital pages, then through the same assets
            direct = {r[0] for r in store.query(
                "SELECT DISTINCT document_id FROM pages WHERE track = 'direct' AND document_id IN (SELECT unnest(?::VARCHAR[]))", [keys])[1]}
            synthetic, truth = evaluation.synthesize(objects, keys, synthesis or evaluation.Synthesis(), direct,
                                                     resource.document_timeout_s, resource.memory_limit_mb())
            store.stage("ground_truth", truth)
            extra = [k for k in dict.fromkeys(r.document_id for r in synthetic) if k not in set(keys)]
            result.documents = keys + extra
            result.synthetic = len(extra)
            run_chunks(*add_partitions(extra), done)
    finally:
        if pool is not None:
            pool.shutdown()
    run = dg.materialize(everything, selection=TAIL, instance=instance, resources={"docproc": resource},
                         run_config=run_config, tags={"docproc/source": "batch"}, raise_on_error=False)
    result.runs.append(run.run_id)
    result.failed_runs += not run.success
    result.seconds = round(time.perf_counter() - start, 3)
    return result
