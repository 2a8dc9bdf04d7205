"""Text out: the direct track, and one asset per OCR model of the registry.

One asset per model (not a model dimension): each model's materialized documents show on its own
asset, each has its own pool (GPU models only) and its code version is the model's config hash, so
changing one model's settings marks only that asset stale and recomputes only that model.
"""

import re
from pathlib import Path

import dagster as dg

from docproc_assets.core import stages
from docproc_assets.core.engines.registry import MODELS, ModelConfig
from docproc_assets.core.pools import CPU_STEP_TAGS, needs_gpu, pool_for, queue_tags
from docproc_assets.defs.extraction.partitions import documents, per_chunk
from docproc_assets.defs.intake.assets import describe_partitions, document_routes, partition_documents
from docproc_assets.defs.resources import DocprocResource, store_metadata


def asset_name(model: str) -> str:
    return "ocr_" + re.sub(r"[^A-Za-z0-9_]", "_", model)


def extract_model(context: dg.AssetExecutionContext, docproc: DocprocResource, model: str) -> dg.MaterializeResult:
    """Take these documents, run this model on the pages of its track, write one row per document."""
    keys = partition_documents(context)
    ids = list(keys)
    objects = docproc.objects()
    docproc.apply_model_overrides()
    store = docproc.store()
    version = stages.model_version(model)
    cached = store.cached(model, version, ids)
    problem = None if model == stages.DIRECT else (lambda: stages.engine_problem(model, docproc.gpu_budget_gib))
    context.log.info(f"{model}: chunk of {len(ids)} documents, {len(cached)} cached ({version})")
    result = stages.extract_chunk(
        objects, ids, model, version, cached, outputs=docproc.outputs(), unavailable=problem,
        timeout=docproc.document_timeout_s, memory_mb=docproc.memory_limit_mb(), run_id=context.run.run_id,
        on_document=context.log.info,
    )
    store.stage("extractions", result.rows)
    store.stage("page_reads", result.page_rows)
    store.flush(wait=5)
    pages = sum(r["pages"] for r in result.rows)
    describe_partitions(context, objects, keys, result.rows, read_result)  # which file, how this model did on it
    context.log.info(f"{model}: {result.computed} computed, {result.cached} cached, {result.failed} failed, "
                     f"{pages} pages in {result.seconds:.1f} s")
    return dg.MaterializeResult(metadata={
        "model": model, "model_version": version, "documents": len(ids), "computed": result.computed,
        "cached": result.cached, "failed": result.failed, "no_pages_for_model": result.skipped, "pages": pages,
        "seconds": result.seconds, **read_metadata(docproc, store, result), **store_metadata(store),
    })


def read_result(row: dict) -> dict:
    """One document's result for this model, for its partition's page."""
    meta = {"success": bool(row["success"]), "page_count": row["pages"], "words_read": len((row["extracted_text"] or "").split())}
    if row.get("error"):
        meta["error"] = row["error"]
    return meta


SHOWN_DOCUMENTS = 25  # rows of the per-document table in a materialization


def read_metadata(docproc: DocprocResource, store, result: stages.ExtractResult) -> dict:
    """What was read, without leaving the UI: words, mean confidence, CER where scored, each document's
    first line and the path of its page view in the comparison report."""
    computed = [r["document_id"] for r in result.rows if r["pages"]]
    references = {(r["document_id"], r["page_number"]): r["reference"] for r in store.rows(
        "SELECT document_id, page_number, reference FROM ground_truth WHERE document_id IN (SELECT unnest(?::VARCHAR[]))",
        [computed])} if computed else {}
    summaries = [s for s in stages.document_summaries(result, references) if s["pages"]]
    if not summaries:
        return {}
    objects, report = docproc.objects(), Path(docproc.report_path).with_suffix(".html").absolute()
    confidences = [s["mean_confidence"] for s in summaries if s["mean_confidence"] is not None]
    scored = [s for s in summaries if s["cer"] is not None]
    table = ["| document | pages | words | confidence | CER | first line | page view |", "|---|---:|---:|---:|---:|---|---|"]
    for s in summaries[:SHOWN_DOCUMENTS]:
        name = objects.info(s["document_id"]).filename if objects.exists(s["document_id"]) else s["document_id"][:12]
        first = (s["first_line"] or (f"error: {s['error']}" if s["error"] else "")).replace("|", "\\|")
        table.append(f"| {name.replace('|', '/')} | {s['pages']} | {s['words']} | {s['mean_confidence'] or ''} | "
                     f"{'' if s['cer'] is None else s['cer']} | {first[:80]} | `{report.name}#doc-{s['document_id'][:12]}` |")
    meta = {
        "words": sum(s["words"] for s in summaries),
        "read": dg.MetadataValue.md("\n".join(table) + (f"\n\n{len(summaries) - SHOWN_DOCUMENTS} more documents"
                                                        if len(summaries) > SHOWN_DOCUMENTS else "")),
        "report": dg.MetadataValue.path(str(report)),
    }
    if confidences:
        meta["mean_confidence"] = round(sum(confidences) / len(confidences), 3)
    if scored:
        meta["cer"] = round(sum(s["cer"] * s["pages_scored"] for s in scored) / sum(s["pages_scored"] for s in scored), 4)
        meta["pages_scored"] = sum(s["pages_scored"] for s in scored)
    return meta


@dg.asset(group_name="extraction", partitions_def=documents, backfill_policy=per_chunk, deps=[document_routes],
          code_version=stages.DIRECT_VERSION, kinds={"pymupdf", "duckdb"}, op_tags=CPU_STEP_TAGS)
def direct_extractions(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """UnifiedDocuments of the direct pages (PyMuPDF text layer: typed elements, boxes, styles), saved as
    `data/outputs/direct/<document_id>.json`, and one `extractions` row per document with model `direct`."""
    return extract_model(context, docproc, stages.DIRECT)


def ocr_asset(config: ModelConfig) -> dg.AssetsDefinition:
    gpu = needs_gpu(config)

    @dg.asset(
        name=asset_name(config.name),
        group_name="ocr",
        partitions_def=documents,
        backfill_policy=per_chunk,
        deps=[document_routes],
        pool=pool_for(config),
        code_version=config.version,
        kinds={"gpu" if gpu else "cpu", "duckdb"},
        tags={"docproc/model": re.sub(r"[^A-Za-z0-9_.-]", "_", config.name)},
        op_tags=queue_tags(config),
        description=(
            f"OCR pages of every document read by **{config.name}** (family `{config.family}`"
            + (f", `{config.model_id}`" if config.model_id else "") + "). "
            + (f"Needs {config.resources.min_gpu_memory_gib:g} GiB of GPU memory ({config.resources.gpu_hint}); "
               "runs in the `gpu` pool. " if gpu else "Runs on CPU, outside the GPU pool. ")
            + f"One `extractions` row per document (model `{config.name}`); UnifiedDocuments in "
            f"`data/outputs/{config.name}/`. An engine that cannot run here gives error rows, not a failed run."
        ),
        metadata={"model": config.name, "family": config.family, "model_id": config.model_id or "",
                  "min_gpu_memory_gib": config.resources.min_gpu_memory_gib, "config_version": config.version},
    )
    def _ocr(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
        return extract_model(context, docproc, config.name)

    return _ocr


ocr_assets = [ocr_asset(config) for config in MODELS.values()]
OCR_ASSET_KEYS = {name: dg.AssetKey(asset_name(name)) for name in MODELS}


@dg.asset(group_name="extraction", deps=[direct_extractions, *ocr_assets], kinds={"duckdb", "parquet"})
def extractions(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """The `extractions` table: one row per (document, model), model `direct` for direct-track text.
    Merges what steps have staged, and exports the table to `data/exports/extractions.parquet` (the
    hand-off to object storage at scale)."""
    store = docproc.store()
    store.flush(wait=120)
    export = docproc.outputs().parent / "exports" / "extractions.parquet"
    export.parent.mkdir(parents=True, exist_ok=True)
    with store.reader() as con:
        con.execute(f"COPY (SELECT * FROM extractions ORDER BY document_id, model) TO '{export}' (FORMAT parquet)")
        per_model = con.execute(
            "SELECT model, count(*), count(*) FILTER (WHERE success), sum(pages) FROM extractions GROUP BY model ORDER BY model"
        ).fetchall()
    table = "| model | rows | ok | pages |\n|---|---:|---:|---:|\n" + "\n".join(f"| {m} | {n} | {ok} | {p} |" for m, n, ok, p in per_model)
    return dg.MaterializeResult(metadata={
        "rows": sum(r[1] for r in per_model), "models": len(per_model), "per_model": dg.MetadataValue.md(table),
        "db": dg.MetadataValue.path(str(store.db_path)), "parquet": dg.MetadataValue.path(str(export)),
        **store_metadata(store),
    })
