"""Documents in, and the track of every page."""

import functools
from collections.abc import Callable

import dagster as dg

from docproc_assets.core import evaluation, stages
from docproc_assets.core.pools import CPU_STEP_TAGS
from docproc_assets.defs.intake.partitions import document_id, documents, per_chunk
from docproc_assets.defs.resources import DocprocResource, store_metadata


@dg.asset(group_name="intake", partitions_def=documents, backfill_policy=per_chunk, kinds={"duckdb"}, op_tags=CPU_STEP_TAGS)
def raw_documents(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """Documents registered from the inbox folder (`data/inbox`, sensor `inbox_sensor`), a named folder
    (`docproc batch FOLDER`) or a dataset source. One partition per document, keyed by its first file
    name and the sha256 of its bytes: the same file dropped twice is one document. Writes the `documents`
    table, and `ground_truth` where a `NAME.gt.txt` sidecar lies beside the registered file."""
    objects = docproc.objects()
    keys = partition_documents(context)
    ids = list(keys)
    known = [i for i in ids if objects.exists(i)]
    rows = stages.register(objects, known)
    rows += [{"document_id": i, "status": "error", "error": "not in the object store"} for i in ids if i not in set(known)]
    truth = evaluation.registered_sidecars(objects, known)
    add_partition_metadata(context, {keys[row["document_id"]]: document_metadata(row) for row in rows})  # each page names its file
    store = docproc.store()
    store.stage("documents", rows)
    store.stage("ground_truth", truth)
    store.flush(wait=5)
    context.log.info(f"registered {len(known)} documents ({len(ids) - len(known)} missing from {objects.root})")
    return dg.MaterializeResult(metadata={
        "documents": len(ids), "missing": len(ids) - len(known), "ground_truth_pages": len(truth),
        "object_store": dg.MetadataValue.path(str(objects.root)), **store_metadata(store),
    })


@dg.asset(group_name="intake", partitions_def=documents, backfill_policy=per_chunk, deps=[raw_documents], kinds={"pymupdf", "duckdb"},
          op_tags=CPU_STEP_TAGS)
def document_routes(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """Track (direct | ocr | mixed) and evidence per document and page: visible and invisible characters,
    image coverage, garbled ratio, and the reason for each page's decision. Writes `pages` and the
    track, page count and status of `documents`."""
    keys = partition_documents(context)
    objects = docproc.objects()
    result = stages.route(objects, list(keys), timeout=docproc.document_timeout_s,
                          memory_mb=docproc.memory_limit_mb(), on_document=context.log.info)
    store = docproc.store()
    store.stage("documents", result.documents)
    store.stage("pages", result.pages)
    store.flush(wait=5)
    describe_partitions(context, objects, keys, result.documents, route_metadata)
    tracks = {}
    for row in result.documents:
        tracks[row["track"] or "error"] = tracks.get(row["track"] or "error", 0) + 1
    return dg.MaterializeResult(metadata={
        "documents": len(result.documents), "pages": len(result.pages), "routed": result.routed,
        "cached": result.cached, "failed": result.failed, **{f"track_{k}": v for k, v in sorted(tracks.items())},
        **store_metadata(store),
    })


def partition_documents(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The step's documents: document_id -> partition key."""
    return {document_id(k): k for k in context.partition_keys}


def describe_partitions(context: dg.AssetExecutionContext, objects, keys: dict[str, str], rows: list[dict],
                        found: Callable[[dict], dict]) -> None:
    """Each row's partition page: its file, from the object store, and what this step found (`found(row)`)."""
    registered = {r["document_id"]: r for r in stages.register(objects, [i for i in keys if objects.exists(i)])}
    add_partition_metadata(context, {keys[row["document_id"]]: {**document_metadata(registered.get(row["document_id"], {})), **found(row)}
                                     for row in rows})


def add_partition_metadata(context: dg.AssetExecutionContext, metadata: dict[str, dict]) -> None:
    """Metadata for each partition's own page. Dagster checks every `add_asset_metadata(partition_key=...)`
    against the run's range by reading all the dynamic partition keys of the instance, once per call: per
    document, a query as long as the instance is large. The step's instance answers those reads from one
    query each here (nothing this step adds or removes partitions; the methods are the class's again after)."""
    instance = context.instance
    reads = ("get_dynamic_partitions", "has_dynamic_partition")
    for name in reads:
        setattr(instance, name, functools.cache(getattr(instance, name)))
    try:
        for key, meta in metadata.items():
            context.add_asset_metadata(meta, partition_key=key)
    finally:
        for name in reads:
            delattr(instance, name)


def document_metadata(row: dict) -> dict:
    """A document's name and where it came from, for its partition's page in the UI."""
    if not row.get("filename"):
        return {"error": row.get("error") or "not in the object store"} if row else {}
    return {"file_name": row["filename"], "source_path": dg.MetadataValue.path(row["source_path"]),
            "size_bytes": row["size_bytes"], "document_id": row["document_id"]}


def route_metadata(row: dict) -> dict:
    """A document's track, pages and error, for its partition's page in the UI."""
    meta = {"track": row.get("track") or "error", "page_count": row.get("page_count") or 0, "status": row.get("status") or ""}
    if row.get("error"):
        meta["error"] = row["error"]
    return meta
