"""Auto-routing vs forced OCR on the same digital PDFs, and the cost of parsing in an isolated worker.

usage: python bench/routing.py CORPUS_DIR [--engine rapidocr] [--ocr-pages 12] [--repeat 3] [--markdown]

1. Routing: the corpus's digital PDFs (every page routes direct) extracted with `--track auto` (the
   direct track: PyMuPDF) and with `--track ocr` (every page rendered at 300 dpi and read by the
   engine), both through pipeline.extract() in a fresh process. Forced OCR reads at most
   `--ocr-pages` pages (its s/page is the median page); the engine is loaded before timing starts
   (load time shown apart). Target: auto >= 100x faster per page.
2. Isolation: detect() and extract() of every corpus document (PDFs, images; office files excluded:
   LibreOffice's own time would swamp the figure) in this process vs through a warm IsolatedWorker
   (one child process, a pickled call and result per document), plus the worker's start-up (spawn +
   imports + first call). Overhead = isolated / in-process - 1.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DOC_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"}


def digital_pdfs(corpus: Path) -> list[str]:
    from docproc_assets.core.pipeline import detect

    return [str(p) for p in sorted(corpus.rglob("*.pdf")) if (d := detect(p)).error is None and d.track == "direct"]


def _auto(paths: list[str], repeat: int) -> dict:
    from docproc_assets.core.pipeline import Options, extract

    extract(Path(paths[0]), Options())  # warm-up: imports, libmagic
    pages, start = 0, time.perf_counter()
    for _ in range(repeat):
        for p in paths:
            doc = extract(Path(p), Options())  # every page routes direct: the OCR hook is never called
            assert doc.status.value == "ok", (p, doc.error)
            pages += len(doc.pages)
    secs = time.perf_counter() - start
    return {"pages": pages, "seconds": secs, "s_per_page": secs / pages}


def _forced(paths: list[str], engine: str, max_pages: int) -> dict:
    import pymupdf

    from docproc_assets.core.engines.registry import load_engine
    from docproc_assets.core.pipeline import Options, extract_with_engine
    from docproc_assets.core.routing import TrackMode

    start = time.perf_counter()
    load_engine(engine)
    load = time.perf_counter() - start
    per_page, pages_done = [], 0
    start = time.perf_counter()
    with_errors = 0
    for p in paths:
        if pages_done >= max_pages:
            break
        with pymupdf.open(p) as doc:
            keep = min(doc.page_count, max_pages - pages_done)
            if keep < doc.page_count:  # a prefix of the document, so the cap holds
                doc.select(list(range(keep)))
                tmp = Path(tempfile.gettempdir()) / f"docproc-bench-{Path(p).stem}-{keep}.pdf"
                doc.save(tmp)
                p = str(tmp)
        result = extract_with_engine(Path(p), Options(track=TrackMode.OCR), engine)
        with_errors += sum(1 for pg in result.pages if pg.error)
        per_page += [pg.seconds for pg in result.pages]
        pages_done += len(result.pages)
    secs = time.perf_counter() - start
    return {"pages": pages_done, "seconds": secs, "s_per_page": statistics.median(per_page) if per_page else float("nan"),
            "mean_s_per_page": secs / max(pages_done, 1), "load_seconds": load, "page_errors": with_errors}


def _isolation(paths: list[str], repeat: int) -> dict:
    from docproc_assets.core.isolation import IsolatedWorker
    from docproc_assets.core.pipeline import Options, detect, extract

    out = {}
    options = Options()
    for label, fn in (("detect", detect), ("extract", extract)):
        fn(Path(paths[0]), options)  # warm-up in this process
        start = time.perf_counter()
        for _ in range(repeat):
            for p in paths:
                fn(Path(p), options)
        inproc = (time.perf_counter() - start) / (repeat * len(paths))
        start = time.perf_counter()
        with IsolatedWorker(timeout=600) as worker:
            worker.run(fn, Path(paths[0]), options)
            startup = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(repeat):
                for p in paths:
                    worker.run(fn, Path(p), options)
            isolated = (time.perf_counter() - start) / (repeat * len(paths))
        out[label] = {"in_process_ms": inproc * 1000, "isolated_ms": isolated * 1000,
                      "overhead_ms": (isolated - inproc) * 1000, "overhead_pct": 100 * (isolated / inproc - 1),
                      "startup_s": startup}
    return out


def fresh(fn, *args):
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--engine", default="rapidocr")
    ap.add_argument("--ocr-pages", type=int, default=12, help="at most N pages through forced OCR")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    pdfs = digital_pdfs(args.corpus)
    if not pdfs:
        sys.exit(f"no digital PDFs under {args.corpus}")
    auto = fresh(_auto, pdfs, args.repeat)
    forced = fresh(_forced, pdfs, args.engine, args.ocr_pages)
    speedup = forced["s_per_page"] / auto["s_per_page"]
    print(f"### Auto-routing vs forced OCR ({len(pdfs)} digital PDFs from `{args.corpus}`, engine {args.engine})\n")
    print("| mode | pages | s/page | pages/s | note |")
    print("|---|---:|---:|---:|---|")
    print(f"| auto (direct track) | {auto['pages']} | {auto['s_per_page']:.4f} | {1 / auto['s_per_page']:.1f} | {args.repeat} passes |")
    print(f"| forced OCR ({args.engine}, 300 dpi) | {forced['pages']} | {forced['s_per_page']:.3f} | {1 / forced['s_per_page']:.2f} | "
          f"median page; load {forced['load_seconds']:.1f} s apart; {forced['page_errors']} page errors |")
    print(f"\nauto-routing is **{speedup:,.0f}x** faster per page than forced OCR (target >= 100x): "
          f"{'met' if speedup >= 100 else 'NOT met'}\n")

    docs = [str(p) for p in sorted(args.corpus.rglob("*")) if p.is_file() and p.suffix.lower() in DOC_SUFFIXES]
    iso = _isolation(docs, args.repeat)  # here: a pool's daemonic worker may not start children
    print(f"### Isolation overhead ({len(docs)} PDFs and images, warm worker, {args.repeat} passes)\n")
    print("| call | in process ms/doc | isolated worker ms/doc | overhead ms/doc | overhead | worker start-up s |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in iso.items():
        print(f"| {label} | {r['in_process_ms']:.1f} | {r['isolated_ms']:.1f} | {r['overhead_ms']:.1f} | "
              f"{r['overhead_pct']:.1f}% | {r['startup_s']:.2f} |")


if __name__ == "__main__":
    main()
