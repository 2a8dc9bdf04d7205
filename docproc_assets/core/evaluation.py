"""Scoring: every model's text against ground truth, per page; answer recall on DocumentVQA questions;
agreement between models where there is no ground truth. Rows out for `store.Store`.

Ground truth has three sources, all kept in the `ground_truth` table (one reference per page):

- `sidecar`: `NAME.gt.txt` beside a file (pages separated by form feeds), taken when it is registered;
- `synthetic`: self-supervised pages. A digital (direct-track) page is rendered at a chosen DPI,
  optionally degraded like a scan (`groundtruth.Degradation`), and stored in the object store as a PNG
  *document* of its own, with the page's text layer as its reference. The synthetic documents then flow
  through routing and every OCR model like any scan; nothing downstream knows they are synthetic;
- DocumentVQA questions (`answers` table): no transcript, but gold answers that should appear in the text.

Metrics (core/metrics.py): CER and WER after NFC and whitespace collapsing (strict) and also
case- and punctuation-folded (loose), bag-of-words F1 (order-insensitive). Each scored page also gets
its character edit counts and an error type for the error analysis.
"""

from __future__ import annotations

import io
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path

import jiwer

from docproc_assets.core import groundtruth, metrics
from docproc_assets.core.groundtruth import Degradation
from docproc_assets.core.isolation import IsolatedWorker
from docproc_assets.core.intake import ObjectStore, Registered
from docproc_assets.core.store import DIRECT, Store, dict_rows

log = logging.getLogger(__name__)

SIDECAR, SYNTHETIC = "sidecar", "synthetic"

# Error types, worst-first where several apply; the error analysis groups pages by these.
EXACT = "exact"
EMPTY = "empty output"
CASE_PUNCT = "case/punctuation only"
ORDER = "reading order"
MISSING = "missing text"
EXTRA = "extra text"
MISREAD = "misread characters"
ERROR_TYPES = (EMPTY, MISSING, EXTRA, ORDER, MISREAD, CASE_PUNCT, EXACT)


# -- ground truth in ---------------------------------------------------------------------------


def sidecar_rows(document_id: str, source: Path) -> list[dict]:
    """`ground_truth` rows from `NAME.gt.txt` beside the source file (none when there is no sidecar)."""
    pages = groundtruth.sidecar_pages(Path(source))
    if pages is None:
        return []
    layouts = groundtruth.sidecar_pages(Path(source), groundtruth.LAYOUT_SUFFIX) or []
    return [{"document_id": document_id, "page_number": i, "reference": text, "source": SIDECAR,
             "layout_reference": layouts[i - 1] if i <= len(layouts) and layouts[i - 1].strip() else None}
            for i, text in enumerate(pages, start=1) if text.strip()]


def registered_sidecars(objects: ObjectStore, ids: Iterable[str]) -> list[dict]:
    """Sidecar ground truth of registered documents, found beside the path they were registered from."""
    rows: list[dict] = []
    for doc_id in ids:
        try:
            source = objects.info(doc_id).source_path
        except (OSError, ValueError):
            continue
        if source and not source.startswith(f"{SYNTHETIC}:"):
            rows += sidecar_rows(doc_id, Path(source))
    return rows


@dataclass(frozen=True)
class Synthesis:
    """How digital pages become labelled OCR inputs."""

    dpis: tuple[int, ...] = (200,)
    degradations: tuple[Degradation, ...] = (Degradation(),)
    max_pages: int | None = 3  # per source document

    @staticmethod
    def parse_degradations(spec: str, seed: int = 0) -> tuple[Degradation, ...]:
        """`clean`, `scan` (groundtruth.Degradation.scan_like) or both, comma-separated."""
        out = []
        for name in (s.strip() for s in spec.split(",") if s.strip()):
            if name == "clean":
                out.append(Degradation(seed=seed))
            elif name == "scan":
                out.append(Degradation.scan_like(seed=seed))
            else:
                raise ValueError(f"unknown degradation {name!r} (clean, scan)")
        return tuple(out) or (Degradation(seed=seed),)


def synthesize(objects: ObjectStore, ids: Sequence[str], synthesis: Synthesis,
               has_direct_pages: Iterable[str] | None = None, timeout: float = 600.0,
               memory_mb: int = 0) -> tuple[list[Registered], list[dict]]:
    """Render the digital pages of these PDFs into PNG documents in the object store.

    Returns the registered synthetic documents and their `ground_truth` rows (the page's text layer).
    Only PDFs are used (office files are converted elsewhere), only pages whose text layer routing
    trusts, and never a synthetic document itself. Each PDF is rendered in an isolated worker: one that
    crashes or hangs the renderer gives no synthetic pages, never a failed batch.
    """
    wanted = set(has_direct_pages) if has_direct_pages is not None else None
    registered: list[Registered] = []
    rows: list[dict] = []
    with IsolatedWorker(timeout=timeout, memory_mb=memory_mb) as worker:
        for doc_id in ids:
            if wanted is not None and doc_id not in wanted:
                continue
            try:
                found, truth = worker.run(synthesize_document, objects, doc_id, synthesis)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.warning("no synthetic pages from %s: %s", doc_id[:12], exc)
                continue
            registered += found
            rows += truth
    return registered, rows


def synthesize_document(objects: ObjectStore, doc_id: str, synthesis: Synthesis) -> tuple[list[Registered], list[dict]]:
    """One PDF's synthetic page documents and their ground-truth rows (run in the worker)."""
    info = objects.info(doc_id)
    path = objects.path(doc_id, info)
    if info.source_path.startswith(f"{SYNTHETIC}:") or path.suffix.lower() != ".pdf":
        return [], []
    stem = Path(info.filename).stem
    registered, rows = [], []
    for page in groundtruth.synthetic_pages(path, synthesis.dpis, synthesis.degradations, synthesis.max_pages):
        buf = io.BytesIO()
        page.image.save(buf, format="PNG", dpi=(page.dpi, page.dpi))
        label = page.degradation.label
        name = f"{stem}.p{page.page_number}.{page.dpi}dpi.{label}.png"
        source = f"{SYNTHETIC}:{doc_id}:p{page.page_number}:{page.dpi}dpi:{label}"
        reg = objects.put_bytes(buf.getvalue(), name, source)
        registered.append(reg)
        rows.append({"document_id": reg.document_id, "page_number": 1, "reference": page.reference,
                     "layout_reference": page.layout_reference or None, "source": SYNTHETIC,
                     "parent_document_id": doc_id, "parent_page": page.page_number, "dpi": page.dpi, "degradation": label})
    return registered, rows


# -- scoring -----------------------------------------------------------------------------------


def error_type(acc: metrics.Accuracy, hypothesis: str, subs: int, dels: int, ins: int) -> str:
    if not metrics.normalise(hypothesis):
        return EMPTY
    if acc.cer == 0:
        return EXACT
    if acc.cer_loose == 0:
        return CASE_PUNCT
    if acc.bow_f1 >= 0.9 and acc.wer >= 0.25:
        return ORDER  # the right words, in another order (columns, tables)
    worst = max((dels, MISSING), (ins, EXTRA), (subs, MISREAD))
    return worst[1]


def score_page(reference: str, hypothesis: str, layout_reference: str | None = None) -> dict:
    """Accuracy of one page's text, with edit counts (strict normalisation) and an error type; with a
    layout reference (the page's visual rows), the rows that came out whole."""
    acc = metrics.accuracy(reference, hypothesis)
    ref, hyp = metrics.normalise(reference), metrics.normalise(hypothesis)
    if ref and hyp:
        out = jiwer.process_characters(ref, hyp)
        subs, dels, ins = out.substitutions, out.deletions, out.insertions
    else:
        subs, dels, ins = 0, len(ref), len(hyp)
    return {
        "cer": acc.cer, "wer": acc.wer, "cer_loose": acc.cer_loose, "wer_loose": acc.wer_loose, "bow_f1": acc.bow_f1,
        "reference_chars": acc.reference_chars, "hypothesis_chars": len(hyp), "substitutions": subs,
        "deletions": dels, "insertions": ins, "error_type": error_type(acc, hypothesis, subs, dels, ins),
        **_rows_intact(hypothesis, layout_reference),
    }


def _rows_intact(hypothesis: str, layout_reference: str | None) -> dict:
    intact, rows = metrics.row_integrity(hypothesis, layout_reference) if layout_reference else (0, 0)
    return {"rows": rows or None, "rows_intact": intact if rows else None, "row_integrity": round(intact / rows, 4) if rows else None}


def page_texts(text: str, track_pages: list[int]) -> dict[int, str]:
    """An extraction's text (its track's pages joined by form feeds, in page order) back to pages."""
    parts = text.split("\f")
    if len(parts) != len(track_pages):
        return {}
    return dict(zip(track_pages, parts, strict=True))


@dataclass
class Scores:
    page_metrics: list[dict]
    answer_metrics: list[dict]
    agreement: list[dict]


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    return dict_rows(con.execute(sql, params or []))


def score(store: Store, force: bool = False) -> Scores:
    """Score what has not been scored at its model version (`force`: everything); agreement for all
    documents read by two or more OCR models. Reads under a shared lock, computes after releasing it."""
    store.flush(wait=60)
    stale = "" if force else (
        "AND NOT EXISTS (SELECT 1 FROM {t} m WHERE m.document_id = e.document_id AND m.model = e.model "
        "AND m.model_version = e.model_version)")
    with store.reader() as con:
        candidates = _rows(con, (
            "SELECT e.document_id, e.model, e.model_version, e.extracted_text FROM extractions e "
            "WHERE e.success AND e.pages > 0 AND e.document_id IN (SELECT document_id FROM ground_truth) "
            + stale.format(t="page_metrics")))
        ids = sorted({c["document_id"] for c in candidates})
        truth = _rows(con, "SELECT * FROM ground_truth WHERE document_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        tracks = _rows(con, "SELECT document_id, page_number, track FROM pages WHERE document_id IN (SELECT unnest(?::VARCHAR[])) "
                            "ORDER BY document_id, page_number", [ids])
        questions = _rows(con, (
            "SELECT a.document_id, a.question_id, a.answers, e.model, e.model_version, e.extracted_text "
            "FROM answers a JOIN extractions e USING (document_id) WHERE e.success AND e.pages > 0 "
            + stale.format(t="answer_metrics").replace("m.document_id = e.document_id", "m.document_id = e.document_id AND m.question_id = a.question_id")))
        ocr_texts = _rows(con, (
            "SELECT document_id, model, extracted_text FROM extractions WHERE success AND pages > 0 AND model <> ? "
            "AND document_id IN (SELECT document_id FROM extractions WHERE success AND pages > 0 AND model <> ? "
            "GROUP BY document_id HAVING count(*) > 1) ORDER BY document_id, model"), [DIRECT, DIRECT])
    now = datetime.now()

    references: dict[str, dict[int, dict]] = defaultdict(dict)
    for t in truth:
        references[t["document_id"]][t["page_number"]] = t
    track_pages: dict[tuple[str, str], list[int]] = defaultdict(list)
    for p in tracks:
        track_pages[(p["document_id"], p["track"])].append(p["page_number"])

    page_rows = []
    for c in candidates:
        track = "direct" if c["model"] == DIRECT else "ocr"
        texts = page_texts(c["extracted_text"] or "", track_pages[(c["document_id"], track)])
        for page_number, hypothesis in texts.items():
            ref = references[c["document_id"]].get(page_number)
            if ref is None:
                continue
            page_rows.append({
                "document_id": c["document_id"], "page_number": page_number, "model": c["model"],
                "model_version": c["model_version"], **score_page(ref["reference"], hypothesis, ref.get("layout_reference")),
                "ground_truth_source": ref["source"], "dpi": ref.get("dpi"), "degradation": ref.get("degradation"),
                "scored_at": now,
            })

    answer_rows = []
    for q in questions:
        answers = json.loads(q["answers"] or "[]")
        answer_rows.append({
            "document_id": q["document_id"], "question_id": q["question_id"], "model": q["model"],
            "model_version": q["model_version"], "found": metrics.answer_found(answers, q["extracted_text"] or ""),
            "anls": None, "scored_at": now,  # ANLS needs a question-answering step; OCR text alone has none
        })

    by_doc: dict[str, list[dict]] = defaultdict(list)
    for r in ocr_texts:
        by_doc[r["document_id"]].append(r)
    agreement_rows = [
        {"document_id": doc_id, "model_a": a["model"], "model_b": b["model"],
         "similarity": metrics.agreement(a["extracted_text"] or "", b["extracted_text"] or "")}
        for doc_id, rows in by_doc.items() for a, b in combinations(rows, 2)
    ]
    return Scores(page_rows, answer_rows, agreement_rows)


def evaluate(store: Store, force: bool = False) -> Scores:
    """Score, stage and merge: page_metrics, answer_metrics, agreement."""
    scores = score(store, force)
    store.stage("page_metrics", scores.page_metrics)
    store.stage("answer_metrics", scores.answer_metrics)
    store.stage("agreement", scores.agreement)
    store.flush(wait=60)
    return scores
