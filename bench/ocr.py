"""OCR engines on a corpus: speed (both cores), memory and accuracy, through the real pipeline.

usage: python bench/ocr.py CORPUS_DIR [--engines ppocr-v6,rapidocr,tesseract,paddleocr,easyocr] [--limit N]
                           [--workers 2] [--threads 1] [--clean-pages 2]

Documents: the manifest's scanned/image/mixed entries when CORPUS_DIR has a manifest.json (ground truth
from its `ground_truth` files, pages split on form feeds), else every PDF/image with NAME.gt.txt sidecars.
Each engine runs in `--workers` fresh processes (one loaded model each, `--threads` math threads), every
document through pipeline.extract() with the engine as the OCR hook. `--clean-pages N` adds N clean
300-dpi pages rendered from a known text (Helvetica 12/10/8 pt), scored as "clean".

Per engine: load time, s/page (median over OCR pages, the pipeline's page time: render + orientation +
engine + layout + elements), the layout stage's time (median, and as a share of engine time), rows
intact (core/metrics.row_integrity) on pages with a layout reference, the raw engine call's share (overhead = pipeline page time / engine time - 1),
pages/min for the workers together (wall clock after loading), peak RSS of one worker, and CER/WER
(strict: whitespace collapsed), loose CER and bag-of-words F1 (order-insensitive: multi-column pages and
zoned UNLV transcripts) over the OCR pages that have ground truth.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
CLEAN_TEXT = (
    "Document processing turns scanned pages into structured text: every line keeps its position, its "
    "confidence and its reading order. Invoice 2024-0117 was issued on 12 March 2024 for a total of 1,284.50 "
    "EUR, payable within 30 days. Small print matters too: terms and conditions are often set in seven or "
    "eight point type. Sphinx of black quartz, judge my vow. How vexingly quick daft zebras jump!"
)

_engine = None
_load_seconds = 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _init(name: str, threads: int, barrier) -> None:
    global _engine, _load_seconds
    from docproc_assets.core.engines.registry import get_config, load_engine

    start = time.perf_counter()
    options = {"threads": threads} if threads else {}
    options["auto_rotate"] = False  # the hook turns pages itself, so the engine call is timed alone
    _engine = load_engine(name, get_config(name, options=options))
    _load_seconds = time.perf_counter() - start
    barrier.wait()


def _run(path: str) -> dict:
    from docproc_assets.core.ocr import OcrResult, layout_regions, output_elements
    from docproc_assets.core.orientation import upright
    from docproc_assets.core.pipeline import Options, extract

    raw: dict[int, float] = {}
    layout: dict[int, float] = {}

    def hook(image, pixels_per_point: float, page_number: int):
        image, rotation = upright(image)  # what PageReader does outside the bench (core/orientation.py)
        start = time.perf_counter()
        output = _engine.recognize(image)
        raw[page_number] = time.perf_counter() - start
        found = None
        if _engine.config.options.get("layout") and output.lines:  # the layout stage, as PageReader runs it
            start = time.perf_counter()
            found = layout_regions(image)
            layout[page_number] = time.perf_counter() - start
        return OcrResult(output_elements(output, pixels_per_point, page_number, rotation, image.size, found), _engine.name)

    document = extract(Path(path), Options(), hook)
    pages = [
        {"page": p.page_number, "seconds": p.seconds, "engine_seconds": raw[p.page_number],
         "layout_seconds": layout.get(p.page_number, 0.0), "text": "\n".join(e.content for e in p.elements), "error": p.error}
        for p in document.pages if p.page_number in raw
    ]
    return {"path": path, "status": document.status.value, "error": document.error, "pages": pages,
            "peak_mb": _peak_mb(), "load_seconds": _load_seconds}


def _ping(_: int) -> float:
    return _load_seconds


Doc = tuple[Path, list[str] | None, str | None]  # path, ground truth per page, layout reference (one-page renders)


def documents(corpus: Path, limit: int | None) -> list[Doc]:
    """The manifest's OCR documents (scans, images, mixed PDFs, renders), or every PDF/image with
    NAME.gt.txt sidecars (and NAME.gt.layout.txt, `pdftotext -layout` of its source, for rows)."""
    manifest = corpus / "manifest.json"
    docs: list[Doc] = []
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()):
            if entry.get("kind") not in ("scanned_pdf", "image", "mixed_pdf", "rendered"):
                continue
            gt, alt = entry.get("ground_truth"), entry.get("ground_truth_alt")
            pages = (corpus / gt).read_text(encoding="utf-8", errors="replace").split("\f") if gt else None
            rows = (corpus / alt).read_text(encoding="utf-8", errors="replace") if alt and "layout" in alt else None
            docs.append((corpus / entry["path"], pages, rows))
    else:
        from docproc_assets.core.groundtruth import sidecar_pages

        for path in sorted(p for p in corpus.rglob("*") if p.suffix.lower() in SUFFIXES):
            layout = path.with_name(path.stem + ".gt.layout.txt")
            docs.append((path, sidecar_pages(path), layout.read_text(errors="replace") if layout.is_file() else None))
    return docs[:limit] if limit else docs


def clean_pages(folder: Path, count: int) -> list[Doc]:
    import pymupdf

    out = []
    for i in range(count):
        doc = pymupdf.open()
        page = doc.new_page(width=612, height=792)
        y, parts = 54, []
        for size in (12, 10, 8):
            rect = pymupdf.Rect(54, y, 558, y + 300)
            y += 300 - page.insert_textbox(rect, CLEAN_TEXT, fontsize=size, fontname="helv") + 12
            parts.append(CLEAN_TEXT)
        pix = page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY)
        path = folder / f"clean-{i}.png"
        pix.pil_save(path, dpi=(300, 300))
        out.append((path, [" ".join(parts)], None))
    return out


def bench(name: str, docs: list[Doc], workers: int, threads: int) -> dict:
    from docproc_assets.core.metrics import accuracy, row_integrity

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    with ctx.Pool(workers, initializer=_init, initargs=(name, threads, barrier)) as pool:
        barrier.wait(timeout=600)  # every worker has its model loaded
        start = time.perf_counter()
        results = pool.map(_run, [str(p) for p, _, _ in docs], chunksize=1)
        wall = time.perf_counter() - start
    pages = [pg for r in results for pg in r["pages"]]
    scored: dict[str, list] = {"corpus": [], "clean": []}
    rows_intact = rows_total = 0
    for (path, truth, layout_reference), result in zip(docs, results):
        if layout_reference and result["pages"]:
            intact, total = row_integrity(result["pages"][0]["text"], layout_reference)
            rows_intact, rows_total = rows_intact + intact, rows_total + total
        for pg in result["pages"]:
            if truth and pg["page"] <= len(truth) and truth[pg["page"] - 1].strip():
                group = "clean" if path.name.startswith("clean-") else "corpus"
                scored[group].append(accuracy(truth[pg["page"] - 1], pg["text"]))
    engine_s = sum(p["engine_seconds"] for p in pages)
    row = {
        "engine": name, "documents": len(docs), "ocr_pages": len(pages),
        "failed": [r["path"] for r in results if r["status"] == "error"],
        "load_s": round(max(r["load_seconds"] for r in results), 2) if results else None,
        "s_per_page_median": round(statistics.median(p["seconds"] for p in pages), 2) if pages else None,
        "engine_s_per_page_median": round(statistics.median(p["engine_seconds"] for p in pages), 2) if pages else None,
        "overhead_pct": round(100 * (sum(p["seconds"] for p in pages) / engine_s - 1), 1) if engine_s else None,
        "layout_s_per_page_median": round(statistics.median(p["layout_seconds"] for p in pages), 3) if pages else None,
        "layout_share_pct": round(100 * sum(p["layout_seconds"] for p in pages) / engine_s, 1) if engine_s else None,
        "rows_intact": f"{rows_intact}/{rows_total}" if rows_total else None,
        "row_integrity": round(rows_intact / rows_total, 3) if rows_total else None,
        "pages_per_min": round(60 * len(pages) / wall, 1) if wall else None,
        "per_page": {f"{Path(r['path']).name}#{p['page']}": round(p["engine_seconds"], 2) for r in results for p in r["pages"]},
        "workers": workers, "threads": threads,
        "peak_rss_mb_per_worker": round(max(r["peak_mb"] for r in results)) if results else None,
    }
    for group, accs in scored.items():
        if accs:
            weights = [a.reference_chars for a in accs]
            mean = lambda attr: round(sum(getattr(a, attr) * w for a, w in zip(accs, weights)) / sum(weights), 4)  # noqa: E731
            row[group] = {"pages": len(accs), "cer": mean("cer"), "wer": mean("wer"), "cer_loose": mean("cer_loose"), "bow_f1": mean("bow_f1")}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--engines", default="ppocr-v6")
    parser.add_argument("--limit", type=int, default=None, help="at most N corpus documents per engine")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="math threads per worker (0: the engine's default)")
    parser.add_argument("--clean-pages", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON object per engine instead of the table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs = clean_pages(Path(tmp), args.clean_pages) + documents(args.corpus, args.limit)
        rows = []
        for name in args.engines.split(","):
            row = bench(name.strip(), docs, args.workers, args.threads)
            rows.append(row)
            print(json.dumps(row) if args.json else _format(row), flush=True)


def _format(row: dict) -> str:
    lines = [f"== {row['engine']}: {row['documents']} documents, {row['ocr_pages']} OCR pages, {row['workers']} workers x {row['threads']} threads"]
    lines.append(f"  load {row['load_s']} s | {row['s_per_page_median']} s/page median (engine call {row['engine_s_per_page_median']} s, "
                 f"layout {row['layout_s_per_page_median']} s = {row['layout_share_pct']}% of engine time, "
                 f"overhead {row['overhead_pct']}%) | {row['pages_per_min']} pages/min | peak RSS {row['peak_rss_mb_per_worker']} MB per worker")
    if row["rows_intact"]:
        lines.append(f"  rows intact {row['rows_intact']} ({row['row_integrity']:.3f}) on pages with a layout reference")
    for group in ("clean", "corpus"):
        if group in row:
            g = row[group]
            lines.append(f"  {group:6s} {g['pages']:3d} pages: CER {100 * g['cer']:.2f}%  WER {100 * g['wer']:.2f}%  "
                         f"loose CER {100 * g['cer_loose']:.2f}%  bag-of-words F1 {g['bow_f1']:.3f}")
    if row["failed"]:
        lines.append(f"  failed: {', '.join(row['failed'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
