"""Direct track against raw PyMuPDF and pdfplumber, on the same digital PDFs, in one run.

usage: python bench/direct.py CORPUS_DIR [--book-pages 300] [--repeat 3] [--rounds 3]

Prints pages/s for docproc's direct track (full UnifiedDocument), raw `page.get_text("dict")`,
pdfplumber's `extract_text()` and PyMuPDF4LLM 2's `to_markdown()` with its layout model (the `bench`
extra: skipped when it is not installed); detection ms per document (median, max); and the peak RSS of each
phase, each measured in a fresh process (the fast phases in interleaved rounds, best round shown). Then what was kept, per document, against `pdftotext`
(poppler, a second reader of the same text layer): numbers kept whole, and word recall (worst, mean). `--book-pages N` adds a generated N-page PDF to check memory
on a long document.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _docproc(paths: list[str], repeat: int, find_tables: bool = True) -> tuple[int, float, float]:
    from docproc_assets.core.pipeline import Options, extract

    options = Options(find_tables=find_tables)
    extract(Path(paths[0]), options)  # warm-up: libmagic's database and first-call costs are not per page
    pages, start = 0, time.perf_counter()
    for _ in range(repeat):
        for p in paths:
            pages += len(extract(Path(p), options).pages)
    return pages, time.perf_counter() - start, _peak_mb()


def _raw(paths: list[str], repeat: int) -> tuple[int, float, float]:
    import pymupdf

    pages, start = 0, time.perf_counter()
    for _ in range(repeat):
        for p in paths:
            with pymupdf.open(p) as doc:
                for page in doc:
                    page.get_text("dict")
                    pages += 1
    return pages, time.perf_counter() - start, _peak_mb()


def _plumber(paths: list[str], repeat: int) -> tuple[int, float, float]:
    import pdfplumber

    pages, start = 0, time.perf_counter()
    for p in paths:
        with pdfplumber.open(p) as pdf:
            for page in pdf.pages:
                page.extract_text()
                pages += 1
    return pages, time.perf_counter() - start, _peak_mb()


def _pymupdf4llm(paths: list[str], repeat: int) -> tuple[int, float, float]:
    """PyMuPDF4LLM 2's Markdown with its layout model (pip install '.[bench]'); 0 pages when it is absent."""
    try:
        import pymupdf4llm
    except ImportError:
        return 0, 0.0, _peak_mb()
    import contextlib
    import io

    import pymupdf

    pages, start = 0, time.perf_counter()
    for p in paths:
        with pymupdf.open(p) as doc, contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            pymupdf4llm.to_markdown(doc, use_ocr=False)  # digital pages: text layer only, like docproc here
            pages += doc.page_count
    return pages, time.perf_counter() - start, _peak_mb()


def _detect(paths: list[str], repeat: int) -> tuple[list[float], float]:
    from docproc_assets.core.pipeline import detect

    detect(Path(paths[0]))  # imports and libmagic's database load are not a document's cost
    times = []
    for _ in range(repeat):
        for p in paths:
            start = time.perf_counter()
            detect(Path(p))
            times.append((time.perf_counter() - start) * 1000)
    return times, _peak_mb()


def _docproc_no_tables(paths: list[str], repeat: int) -> tuple[int, float, float]:
    return _docproc(paths, repeat, find_tables=False)


def _kept(paths: list[str]) -> list[tuple[str, int, int, float]]:
    """Per PDF: (name, numbers in pdftotext's text, of those found whole in docproc's, word recall)."""
    import shutil
    import subprocess
    from collections import Counter

    from docproc_assets.core import fidelity
    from docproc_assets.core.pipeline import extract

    if not shutil.which("pdftotext"):
        return []
    out = []
    for p in paths:
        reference = fidelity.normalise(subprocess.run(["pdftotext", "-layout", p, "-"], capture_output=True, text=True).stdout)
        ours = "\n".join(fidelity.element_text(page.elements) for page in extract(Path(p)).pages)
        want, got = fidelity.numbers(reference), fidelity.numbers(ours)
        words, mine = Counter(reference.split()), Counter(ours.split())
        recall = sum((words & mine).values()) / max(1, sum(words.values()))
        out.append((Path(p).name, sum(want.values()), sum((want & got).values()), recall))
    return out


def in_fresh_process(fn, *args):
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def digital_pdfs(corpus: Path) -> list[str]:
    """PDFs whose every page routes direct (what the direct track is for)."""
    from docproc_assets.core.pipeline import detect

    found = []
    for path in sorted(corpus.rglob("*.pdf")):
        result = detect(path)
        if result.error is None and result.track == "direct":
            found.append(str(path))
    return found


def make_book(path: Path, pages: int) -> str:
    import pymupdf

    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page()
        page.insert_text((72, 60), f"Chapter {i // 10 + 1}", fontsize=18, fontname="hebo")
        page.insert_textbox(pymupdf.Rect(72, 90, 540, 760), f"Page {i + 1}. {text}", fontsize=10, fontname="helv")
    doc.save(path)
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the PDFs (pdfplumber: one)")
    ap.add_argument("--rounds", type=int, default=3, help="fresh-process rounds of the fast phases; the best of each is shown")
    ap.add_argument("--book-pages", type=int, default=300, help="generated long PDF for the memory check (0 = none)")
    args = ap.parse_args()

    paths = digital_pdfs(args.corpus)
    if not paths:
        sys.exit(f"no digital PDFs under {args.corpus}")
    phases = [
        ("docproc direct (UnifiedDocument)", _docproc, args.repeat, args.rounds),
        ("docproc direct, no table detection", _docproc_no_tables, args.repeat, args.rounds),
        ('PyMuPDF get_text("dict")', _raw, args.repeat, args.rounds),
        ("pdfplumber extract_text", _plumber, 1, 1),
        ("PyMuPDF4LLM 2 to_markdown (layout)", _pymupdf4llm, 1, 1),
    ]
    best: dict[str, tuple[int, float, float]] = {}
    for round_ in range(args.rounds):  # rounds interleave the phases, so a noisy minute hits them all alike
        for label, fn, repeat, rounds in phases:
            if round_ < rounds:
                pages, secs, peak = in_fresh_process(fn, paths, repeat)
                if label not in best or secs < best[label][1]:
                    best[label] = (pages, secs, peak)
    rows = [(label, *best[label][:2], best[label][0] / best[label][1] if best[label][1] else 0.0, best[label][2])
            for label, *_ in phases]
    times, detect_peak = in_fresh_process(_detect, paths, args.repeat)

    print(f"{len(paths)} digital PDFs from {args.corpus}")
    print(f"{'phase':34} {'pages':>6} {'seconds':>8} {'pages/s':>9} {'peak RSS MB':>12}")
    for label, pages, secs, rate, peak in rows:
        if pages:
            print(f"{label:34} {pages:6d} {secs:8.2f} {rate:9.1f} {peak:12.0f}")
    ours, _, raw, plumber, llm = (r[3] for r in rows)
    print(f"\ndirect track / raw get_text: {ours / raw:.2f}x (target >= 0.5x)")
    print(f"direct track / pdfplumber:   {ours / plumber:.1f}x (target >= 10x)")
    if llm:
        print(f"direct track / PyMuPDF4LLM:  {ours / llm:.1f}x (target >= 10x)")
    else:
        print("PyMuPDF4LLM 2 not installed (pip install '.[bench]'): not compared")
    print(f"detection per document: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (target median <= 5 ms)")
    kept = _kept(paths)
    if kept:
        print(f"\n{'kept against pdftotext':34} {'numbers':>8} {'whole':>6} {'word recall':>12}")
        for name, numbers, whole, recall in kept:
            print(f"{name[:34]:34} {numbers:8d} {whole:6d} {recall:12.3f}")
        total, whole = sum(k[1] for k in kept), sum(k[2] for k in kept)
        recalls = [k[3] for k in kept]
        print(f"numbers kept: {whole}/{total} ({100 * whole / max(1, total):.1f}%, target 100%); word recall mean "
              f"{statistics.mean(recalls):.3f} (target >= 0.995), worst {min(recalls):.3f} (target >= 0.97)")
    if args.book_pages:
        with tempfile.TemporaryDirectory() as tmp:
            book = make_book(Path(tmp) / "book.pdf", args.book_pages)
            pages, secs, peak = in_fresh_process(_docproc, [book], 1)
            print(f"{args.book_pages}-page PDF: {pages / secs:.1f} pages/s, peak RSS {peak:.0f} MB (target <= 500 MB)")


if __name__ == "__main__":
    main()
