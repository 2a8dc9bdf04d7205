"""The flow over a chunk of documents: register, route, extract with one model; rows out.

Each function takes document ids (content hashes) from the object store and returns table rows for
`store.Store`; a failing document becomes an error row, never an exception. Parsing runs inside one
`IsolatedWorker`, borrowed warm from the process (`isolation.borrowed`), so one loaded model serves
every document of the chunk, and the chunks after it, and a crashing file costs only its own row.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from docproc_assets import __version__
from docproc_assets.core import isolation, pools, workload
from docproc_assets.core.document import Page, Status, Track, UnifiedDocument
from docproc_assets.core.errors import DocumentError
from docproc_assets.core.files import write_atomic
from docproc_assets.core.intake import ObjectStore
from docproc_assets.core.pipeline import Detection, Options, detect, extract, extract_with_engine, failure
from docproc_assets.core.store import DIRECT, DOCUMENT_FAILED

log = logging.getLogger(__name__)

ROUTES_VERSION = f"routes@{__version__}"
DIRECT_VERSION = f"direct@{__version__}"
Log = Callable[[str], None]


def register(objects: ObjectStore, ids: Sequence[str]) -> list[dict]:
    """`documents` rows for registered documents (what the object store knows; type comes with routing)."""
    rows = []
    for doc_id in ids:
        info = objects.info(doc_id)
        rows.append({
            "document_id": doc_id, "source_path": info.source_path, "filename": info.filename,
            "size_bytes": info.size_bytes, "registered_at": datetime.fromisoformat(info.registered_at),
        })
    return rows


def routes_path(objects: ObjectStore, doc_id: str) -> Path:
    return objects.sidecar(doc_id).with_suffix(".routes.json")


def load_routes(objects: ObjectStore, doc_id: str) -> Detection | None:
    path = routes_path(objects, doc_id)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return Detection.model_validate(data["detection"]) if data.get("version") == ROUTES_VERSION else None


ESTIMATE_TIMEOUT_S = 30.0  # a guess is not worth a document's whole timeout


def reading_costs(objects: ObjectStore, ids: Sequence[str], timeout: float = ESTIMATE_TIMEOUT_S,
                  memory_mb: int = 0) -> dict[str, float]:
    """Each document's expected reading cost (core/workload.py), looked at in the borrowed worker: a file
    that hangs or crashes it gets the unknown price, and routing reports it later."""
    costs = {}
    with isolation.borrowed(min(timeout, ESTIMATE_TIMEOUT_S), memory_mb) as worker:
        for doc_id in ids:
            try:
                costs[doc_id] = worker.run(workload.estimate, objects.path(doc_id, objects.info(doc_id)))
            except Exception:  # noqa: BLE001 - a timeout or crash in the worker
                costs[doc_id] = workload.UNKNOWN_DOCUMENT
    return costs


@dataclass
class RouteResult:
    documents: list[dict]
    pages: list[dict]
    routed: int = 0
    cached: int = 0
    failed: int = 0


def route(objects: ObjectStore, ids: Sequence[str], options: Options | None = None, timeout: float = 120.0,
          memory_mb: int = 0, on_document: Log | None = None) -> RouteResult:
    """Track and evidence per page; kept beside the object (`<id>.routes.json`) and as rows."""
    options = options or Options()
    result = RouteResult([], [])
    with isolation.borrowed(timeout, memory_mb) as worker:
        for doc_id in ids:
            det = load_routes(objects, doc_id)
            if det is None:
                info = objects.info(doc_id)
                path = objects.path(doc_id, info)
                try:
                    det = worker.run(detect, path, options)
                except Exception as exc:  # a timeout or crash in the worker: this document's error
                    reason, kind = failure(exc)
                    det = Detection(path=str(path), document_id=doc_id, error=reason, error_kind=kind)
                write_atomic(routes_path(objects, doc_id), json.dumps({"version": ROUTES_VERSION, "detection": det.model_dump(mode="json")}))
                result.routed += 1
                if on_document:
                    on_document(f"routed {doc_id[:12]} ({info.filename}): {det.track or det.error}")
            else:
                result.cached += 1
            result.failed += bool(det.error)
            result.documents.append({
                "document_id": doc_id, "mime": det.mime, "page_count": len(det.pages),
                "track": det.track.value if det.track else None, "status": "error" if det.error else "routed",
                "error": det.error, "error_kind": det.error_kind, "repaired": det.repaired, "repairer": det.repairer,
                "routed_at": datetime.now(),
            })
            result.pages += [{
                "document_id": doc_id, "page_number": p.page, "track": p.track.value, "text_chars": p.text_chars,
                "image_coverage": p.image_coverage, "route_reason": p.reason, "invisible_chars": p.invisible_chars,
                "garbled_ratio": p.garbled_ratio, "script": p.script, "language": p.language,
            } for p in det.pages]
    return result


def extract_direct(path: Path, options: Options) -> UnifiedDocument:
    """The direct pass: OCR pages are left empty (not rendered) for the OCR models."""
    return extract(path, dataclasses.replace(options, skip_ocr=True))


@dataclass
class ExtractResult:
    rows: list[dict]
    page_rows: list[dict] = field(default_factory=list)  # `page_reads`: one per page read
    computed: int = 0
    cached: int = 0
    failed: int = 0
    skipped: int = 0  # no pages of this track
    seconds: float = 0.0


def extract_chunk(
    objects: ObjectStore,
    ids: Sequence[str],
    model: str,
    version: str,
    cached: set[str],
    outputs: Path | None = None,
    unavailable: str | Callable[[], str | None] | None = None,
    options: Options | None = None,
    timeout: float = 600.0,
    memory_mb: int = 0,
    run_id: str | None = None,
    on_document: Log | None = None,
) -> ExtractResult:
    """One row per document for one model (`direct` or a registry OCR model).

    The model reads only the pages routed to its track; a document with none gets a row with
    pages = 0. `cached` documents are skipped (their row stays); `unavailable` turns every document
    with pages to read into an error row without starting anything.
    """
    options = options or Options()
    track = Track.DIRECT if model == DIRECT else Track.OCR
    result = ExtractResult([])
    start_all = time.perf_counter()
    with isolation.borrowed(timeout, memory_mb, keep=not holds_gpu_memory(model)) as worker:
        for doc_id in ids:
            if doc_id in cached:
                result.cached += 1
                continue
            det = load_routes(objects, doc_id)
            row = {"document_id": doc_id, "model": model, "model_version": version, "track": track.value,
                   "extracted_text": "", "success": False, "error": None, "token_count": 0, "pages": 0,
                   "seconds": 0.0, "created_at": datetime.now(), "run_id": run_id}
            if det is None or det.error:
                row["error"] = f"{DOCUMENT_FAILED}: {det.error if det else 'not routed'}"
            else:
                todo = [p.page for p in det.pages if p.track == track]
                row["pages"] = len(todo)
                if not todo:
                    row["success"] = True
                    result.skipped += 1
                else:
                    if callable(unavailable):
                        unavailable = unavailable()  # asked once, and only when there is work
                    if unavailable:
                        row["error"] = unavailable
                    else:
                        outcome, pages = _extract_one(objects, doc_id, model, track, todo, options, outputs, worker)
                        row.update(outcome)
                        result.page_rows += page_reads(row, pages)
                        result.computed += 1
            row["finished_at"] = datetime.now()  # the row's version: a late, older result never replaces it
            result.failed += not row["success"]
            result.rows.append(row)
            if on_document:
                state = "ok" if row["success"] else f"error: {row['error']}"
                on_document(f"{model} {doc_id[:12]}: {row['pages']} {track.value} pages, {row['seconds']:.2f} s, {state}")
    result.seconds = round(time.perf_counter() - start_all, 3)
    return result


def holds_gpu_memory(model: str) -> bool:
    """A model whose loaded engine holds GPU memory: a GPU model of the registry (`pools.needs_gpu`), or
    an engine told `device: cuda`. Its worker is closed after the chunk, so the memory goes back with
    the step that the `gpu` pool counted."""
    from docproc_assets.core.engines.registry import MODELS, get_config

    if model not in MODELS:  # `direct`, or a name the registry does not know (its rows say so)
        return False
    config = get_config(model)
    return pools.needs_gpu(config) or config.device == "cuda"


def _extract_one(objects: ObjectStore, doc_id: str, model: str, track: Track, todo: list[int], options: Options,
                 outputs: Path | None, worker: isolation.IsolatedWorker) -> tuple[dict, list[Page]]:
    """The extraction row's fields, and the pages the model read (none when the worker failed)."""
    info = objects.info(doc_id)
    path = objects.path(doc_id, info)
    start = time.perf_counter()
    try:
        if model == DIRECT:
            doc, peak_mb = worker.run(measured, extract_direct, path, options)
        else:
            doc, peak_mb = worker.run(measured, extract_with_engine, path, options, model)
    except Exception as exc:  # the worker timed out, crashed or sent an exception back
        reason, kind = failure(exc)
        return {"error": f"{kind}: {reason}", "seconds": round(time.perf_counter() - start, 4)}, []
    doc = doc.model_copy(update={"metadata": doc.metadata.model_copy(update={"filename": info.filename, "source_path": info.source_path})})
    pages = [p for p in doc.pages if p.page_number in set(todo)]
    errors = [p.error for p in pages if p.error]
    text = "\f".join(p.text() for p in pages)
    if outputs is not None:
        write_atomic(outputs / model / f"{doc_id}.json", doc.to_json())
    if doc.status == Status.ERROR:
        error = doc.error
    elif errors:
        error = f"{len(errors)} of {len(pages)} pages failed: {errors[0]}"
    else:
        error = None
    return {
        "extracted_text": text, "success": error is None, "error": error, "token_count": token_count(pages, text),
        "truncated_pages": sum(p.truncated for p in pages),
        "engines": ", ".join(sorted({p.engine for p in pages if p.engine and p.track == Track.OCR})) or None,
        "seconds": round(sum(p.seconds or 0.0 for p in pages) if pages else time.perf_counter() - start, 4),
        "peak_memory_mb": peak_mb,
    }, pages


def page_reads(row: dict, pages: list[Page]) -> list[dict]:
    """One `page_reads` row per page: the engine that read it, the script it found, words and confidence."""
    out = []
    for p in pages:
        text = p.text()
        scored = [e.confidence for e in p.elements if e.content]
        out.append({
            "document_id": row["document_id"], "page_number": p.page_number, "model": row["model"],
            "model_version": row["model_version"], "track": p.track.value, "engine": p.engine,
            "engine_version": p.engine_version, "engine_vote": p.engine_vote, "script": p.route.script, "language": p.route.language,
            "script_evidence": p.route.script_evidence,
            "elements": len(p.elements), "words": len(text.split()), "chars": len(text),
            "mean_confidence": round(sum(scored) / len(scored), 4) if scored else None,
            "seconds": p.seconds, "error": p.error, "finished_at": datetime.now(),
        })
    return out


def document_summaries(result: ExtractResult, references: dict[tuple[str, int], str]) -> list[dict]:
    """Per document of a chunk: pages, words, mean confidence, CER against the ground truth where there
    is one, and its first line: what a step's materialization shows of what was read."""
    from docproc_assets.core import metrics
    from docproc_assets.core.evaluation import page_texts

    reads: dict[str, list[dict]] = {}
    for r in result.page_rows:
        reads.setdefault(r["document_id"], []).append(r)
    out = []
    for row in result.rows:
        pages = reads.get(row["document_id"], [])
        scored = [c for r in pages if (c := r["mean_confidence"]) is not None]
        texts = page_texts(row["extracted_text"] or "", [r["page_number"] for r in pages]) if pages else {}
        cers = [metrics.accuracy(references[row["document_id"], n], text).cer
                for n, text in texts.items() if (row["document_id"], n) in references]
        first = next((line.strip() for line in (row["extracted_text"] or "").splitlines() if line.strip()), "")
        out.append({"document_id": row["document_id"], "pages": row["pages"], "words": sum(r["words"] for r in pages),
                    "mean_confidence": round(sum(scored) / len(scored), 3) if scored else None,
                    "cer": round(sum(cers) / len(cers), 4) if cers else None, "pages_scored": len(cers),
                    "first_line": first[:120], "error": row["error"]})
    return out


def token_count(pages, text: str) -> int:
    """Generated tokens where the engine reports them (VLMs); words otherwise (classic OCR, direct)."""
    counted = [p.token_count for p in pages if p.token_count is not None]
    return sum(counted) if counted else len(text.split())


def measured(fn: Callable, *args):
    """fn(*args) in the worker, with the worker's peak resident memory so far (MB; the model stays loaded)."""
    import resource

    result = fn(*args)
    return result, round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def engine_problem(model: str, gpu_budget_gib: float) -> str | None:
    """Why a model cannot run here (unknown, package missing, over the GPU budget), checked without loading it."""
    from docproc_assets.core.engines.registry import check_availability, get_config
    from docproc_assets.core.pools import over_budget

    try:
        config = get_config(model)
    except DocumentError as exc:  # an unknown model
        return f"engine unavailable: {exc}"
    if problem := over_budget(config, gpu_budget_gib):
        return problem
    availability = check_availability(config)
    return None if availability.available else f"engine unavailable: {availability.reason}"


DEFAULT_CPU_MODELS = ("ppocr-v6", "tesseract")


def default_models(gpu_budget_gib: float = 0.0) -> list[str]:
    """The CPU models `make run` and the inbox sensor use: those of DEFAULT_CPU_MODELS that can run here."""
    return [m for m in DEFAULT_CPU_MODELS if engine_problem(m, gpu_budget_gib) is None]


def model_version(model: str) -> str:
    if model == DIRECT:
        return DIRECT_VERSION
    from docproc_assets.core.engines.registry import get_config

    return get_config(model).version
