"""Checks that no document falls through: every one routed, every materialized partition with a row."""

import dagster as dg

from docproc_assets.core import stages
from docproc_assets.defs.extraction.assets import OCR_ASSET_KEYS, extractions
from docproc_assets.defs.extraction.partitions import document_ids
from docproc_assets.defs.resources import DocprocResource


@dg.asset_check(asset=extractions, description="Every registered document has a route (a track, or a recorded error).")
def every_document_routed(context: dg.AssetCheckExecutionContext, docproc: DocprocResource) -> dg.AssetCheckResult:
    registered = set(document_ids(context.instance.get_materialized_partitions(dg.AssetKey("raw_documents"))))
    routed = {r[0] for r in docproc.store().query(
        "SELECT document_id FROM documents WHERE track IS NOT NULL OR status = 'error'")[1]}
    missing = sorted(registered - routed)
    return dg.AssetCheckResult(passed=not missing, metadata={"registered": len(registered), "unrouted": len(missing),
                                                             "examples": ", ".join(m[:12] for m in missing[:5])})


@dg.asset_check(asset=extractions, description="Every materialized extraction partition has its row in `extractions`.")
def no_missing_extraction_rows(context: dg.AssetCheckExecutionContext, docproc: DocprocResource) -> dg.AssetCheckResult:
    keys = {stages.DIRECT: dg.AssetKey("direct_extractions"), **OCR_ASSET_KEYS}
    rows: dict[str, set[str]] = {}
    for doc, model in docproc.store().query("SELECT document_id, model FROM extractions")[1]:
        rows.setdefault(model, set()).add(doc)
    missing = {}
    for model, key in keys.items():
        materialized = set(document_ids(context.instance.get_materialized_partitions(key)))
        if gap := materialized - rows.get(model, set()):
            missing[model] = len(gap)
    return dg.AssetCheckResult(passed=not missing, metadata={"missing_rows": sum(missing.values()),
                                                             "models_with_gaps": ", ".join(f"{m}: {n}" for m, n in missing.items())})
