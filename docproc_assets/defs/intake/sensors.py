"""The inbox sensor: new files in, documents registered, one run per chunk of new documents."""

from pathlib import Path

import dagster as dg

from docproc_assets.core import intake
from docproc_assets.defs.extraction.assets import OCR_ASSET_KEYS
from docproc_assets.defs.intake.partitions import MAX_PARTITIONS_PER_RUN, document_id, documents, keys_for
from docproc_assets.defs.resources import DocprocResource

PARTITIONED = [dg.AssetKey("raw_documents"), dg.AssetKey("document_routes"), dg.AssetKey("direct_extractions")]
TAIL = [dg.AssetKey("extractions"), dg.AssetKey("evaluation"), dg.AssetKey("model_metrics"), dg.AssetKey("comparison_report")]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def chunk_tags(chunk: list[str], source: str) -> dict[str, str]:
    """Run tags for a chunk of documents: the partition range it covers, where it came from, its size."""
    return {RANGE_START: chunk[0], RANGE_END: chunk[-1], "docproc/source": source, "docproc/documents": str(len(chunk))}


def chunk_requests(new_keys: list[str], models: list[str], source: str) -> list[dg.RunRequest]:
    """One run per chunk of documents added together (so they are a contiguous range of the
    partitions); the run key names the chunk by its documents' hashes (never by their names, which two
    chunks may share), so a repeated request launches nothing."""
    selection = PARTITIONED + [OCR_ASSET_KEYS[m] for m in models if m in OCR_ASSET_KEYS] + TAIL
    requests = []
    for i in range(0, len(new_keys), MAX_PARTITIONS_PER_RUN):
        chunk = new_keys[i:i + MAX_PARTITIONS_PER_RUN]
        requests.append(dg.RunRequest(
            run_key=f"{source}:{document_id(chunk[0])[:16]}..{document_id(chunk[-1])[:16]}:{len(chunk)}",
            asset_selection=selection,
            tags=chunk_tags(chunk, source),
        ))
    return requests


@dg.sensor(
    name="inbox_sensor",
    description="Registers documents dropped into the inbox folder (DOCPROC_INBOX, default data/inbox) and "
    "runs the pipeline on them. Skips hidden and temporary files and symlinks that lead out of the inbox; "
    "waits for files still being written (changed within the settle time, open for writing, or without "
    "their format's end marker, up to DOCPROC_INBOX_INCOMPLETE_AFTER_S).",
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=dg.AssetSelection.groups("intake", "extraction", "ocr", "comparison"),
)
def inbox_sensor(context: dg.SensorEvaluationContext, docproc: DocprocResource) -> dg.SensorResult:
    cursor = intake.Cursor.loads(context.cursor)
    scan = intake.scan(Path(docproc.inbox_dir), cursor, limit=docproc.inbox_max_files, settle_seconds=docproc.inbox_settle_seconds,
                       incomplete_after_s=docproc.inbox_incomplete_after_s)
    deferred = ", ".join(f"{n} {why}" for why, n in scan.deferred.items()) or "none"
    if not scan.files:
        return dg.SensorResult(skip_reason=f"no new files ({scan.waiting} still being written; deferred as incomplete: {deferred})",
                               cursor=scan.cursor.dumps())
    registered = docproc.objects().put_files(c.path for c in scan.files)
    known = context.instance.get_dynamic_partitions(documents.name)  # once per tick
    _, new_keys = keys_for([(r.document_id, r.filename) for r in registered], known)
    context.log.info(f"{len(scan.files)} files, {len(new_keys)} new documents, {scan.waiting} being written, "
                     f"deferred as incomplete: {deferred}, {scan.remaining} left for the next tick, skipped {scan.skipped}")
    return dg.SensorResult(
        run_requests=chunk_requests(new_keys, docproc.models(), "inbox"),
        dynamic_partitions_requests=[documents.build_add_request(new_keys)] if new_keys else [],
        cursor=scan.cursor.dumps(),
    )

