"""Searchable PDFs: each document back as a PDF, one per OCR model that read it."""

from pathlib import Path

import dagster as dg

from docproc_assets.core.document import Status, Track, UnifiedDocument
from docproc_assets.core.engines.registry import MODELS
from docproc_assets.core.errors import DocumentError
from docproc_assets.core.searchable import write_for_path
from docproc_assets.defs.extraction.assets import ocr_assets
from docproc_assets.defs.extraction.partitions import document_ids, documents, per_chunk
from docproc_assets.defs.resources import DocprocResource


def write_document_pdfs(objects, outputs: Path, doc_id: str, log=None) -> list[dict]:
    """One searchable PDF per OCR model whose UnifiedDocument of this document exists."""
    written = []
    for model in MODELS:
        source_json = outputs / model / f"{doc_id}.json"
        if not source_json.exists():
            continue
        document = UnifiedDocument.from_json(source_json.read_bytes())
        if document.status == Status.ERROR or not any(p.track == Track.OCR and p.engine for p in document.pages):
            continue  # failed, or no page of this document was read by the model
        target = outputs / doc_id / f"{model}.pdf"
        try:
            result = write_for_path(document, objects.path(doc_id), target)
        except DocumentError as exc:
            if log:
                log(f"searchable PDF {doc_id[:12]} / {model}: {exc}")
            written.append({"document_id": doc_id, "model": model, "error": str(exc)})
            continue
        written.append({"document_id": doc_id, "model": model, "path": str(target), "pages": result.pages,
                        "size_bytes": result.size_bytes, "seconds": result.seconds})
    return written


@dg.asset(group_name="extraction", partitions_def=documents, backfill_policy=per_chunk, deps=ocr_assets,
          kinds={"pdf", "pymupdf"})
def searchable_pdfs(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """Each document as a searchable PDF per OCR model: the original pages, with the model's OCR text as
    an invisible layer over its OCR pages, in `data/outputs/<document_id>/<model>.pdf`."""
    outputs, objects = docproc.outputs(), docproc.objects()
    rows = [r for doc_id in document_ids(context.partition_keys) for r in write_document_pdfs(objects, outputs, doc_id, context.log.warning)]
    ok = [r for r in rows if "path" in r]
    table = "| document | model | pages | size |\n|---|---|---:|---:|\n" + "\n".join(
        f"| {r['document_id'][:12]} | {r['model']} | {r.get('pages', '-')} | "
        + (f"{r['size_bytes'] / 1024:.0f} KB |" if "path" in r else f"error: {r['error'][:60]} |")
        for r in rows
    )
    metadata: dict = {
        "pdfs": len(ok), "failed": len(rows) - len(ok), "pages": sum(r["pages"] for r in ok),
        "size_bytes": sum(r["size_bytes"] for r in ok), "files": dg.MetadataValue.md(table),
    }
    if len(ok) == 1:
        metadata["path"] = dg.MetadataValue.path(ok[0]["path"])
    return dg.MaterializeResult(metadata=metadata)
