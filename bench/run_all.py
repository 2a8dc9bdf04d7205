"""Every benchmark on one corpus folder, one after the other, into docs/BENCHMARKS.md.

usage: python bench/run_all.py CORPUS_DIR [--quick] [--engines rapidocr,tesseract] [--output docs/BENCHMARKS.md]

Runs bench/direct.py (direct track vs PyMuPDF and pdfplumber, detection, peak memory on a long PDF),
bench/routing.py (auto-routing vs forced OCR, isolation overhead), bench/ocr.py (OCR engines),
bench/searchable.py (searchable PDF writing) and bench/dagster_cache.py (first run vs cached rerun),
each as its own process, and writes their tables with the machine they ran on. `--quick` (what `make bench` uses) keeps the whole run in a few minutes:
the CPU engines rapidocr and tesseract on at most 8 documents, a 100-page long PDF, one OCR model for
the cache bench. Without it: every classic engine on every document.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": usable, "ram_gib": round(mem_kb / 1024**2, 1), "os": platform.platform(),
            "python": platform.python_version(), "date": datetime.datetime.now().isoformat(timespec="minutes"),
            "commit": commit or "unknown"}


def run(args: list[str], timeout: float) -> tuple[str, float, int]:
    start = time.perf_counter()
    try:
        proc = subprocess.run([PY, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        out, code = proc.stdout, proc.returncode
        if code:
            out += "\n" + "\n".join(proc.stderr.strip().splitlines()[-15:])
    except subprocess.TimeoutExpired as exc:
        out, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), 124
        out += f"\n(timed out after {timeout:.0f} s)"
    return out.strip(), time.perf_counter() - start, code


def ocr_table(lines: list[str]) -> str:
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    head = ("| engine | documents | OCR pages | load s | s/page (median) | engine s/page | pages/min (all workers) | "
            "peak RSS MB/worker | clean CER | corpus CER | corpus loose CER | corpus bag-of-words F1 | failed |")
    out = [head, "|---|" + "---:|" * 11 + "---|"]
    for r in rows:
        clean, corpus = r.get("clean", {}), r.get("corpus", {})
        pct = lambda d, k: f"{100 * d[k]:.1f}%" if k in d else "-"  # noqa: E731
        out.append(f"| {r['engine']} | {r['documents']} | {r['ocr_pages']} | {r['load_s']} | {r['s_per_page_median']} | "
                   f"{r['engine_s_per_page_median']} | {r['pages_per_min']} | {r['peak_rss_mb_per_worker']} | {pct(clean, 'cer')} | "
                   f"{pct(corpus, 'cer')} | {pct(corpus, 'cer_loose')} | {corpus.get('bow_f1', '-')} | {len(r['failed'])} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--quick", action="store_true", help="a few minutes: fewer engines, documents and pages")
    ap.add_argument("--engines", default=None, help="OCR engines for bench/ocr.py (default: quick rapidocr,tesseract; "
                    "else rapidocr,tesseract,paddleocr,easyocr)")
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    engines = args.engines or ("rapidocr,tesseract" if args.quick else "rapidocr,tesseract,paddleocr,easyocr")
    info = machine()
    benches = [
        ("Direct track vs PyMuPDF and pdfplumber; detection; peak memory",
         ["bench/direct.py", str(corpus), "--repeat", "2" if args.quick else "3", "--book-pages", "100" if args.quick else "300"],
         "text", 900),
        ("Auto-routing vs forced OCR; isolation overhead",
         ["bench/routing.py", str(corpus), "--ocr-pages", "6" if args.quick else "20"], "markdown", 900),
        (f"OCR engines ({engines})",
         ["bench/ocr.py", str(corpus), "--engines", engines, "--json", *(["--limit", "8"] if args.quick else [])],
         "ocr", 3600),
        ("Searchable PDF: ms per page to write on top of OCR, output/input size",
         ["bench/searchable.py", str(corpus), "--engine", "tesseract"], "text", 900),
        ("Cached rerun of `docproc batch` (Dagster assets)",
         ["bench/dagster_cache.py", str(corpus), "--models", "tesseract" if args.quick else "rapidocr,tesseract"], "text", 1800),
    ]
    sections = []
    for title, cmd, kind, timeout in benches:
        print(f"== {title}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        out, seconds, code = run(cmd, timeout)
        print(out, file=sys.stderr, flush=True)
        if kind == "ocr" and code == 0:
            body = ocr_table(out.splitlines())
        elif kind == "markdown" and code == 0:
            body = out.replace("### ", "#### ")
        else:
            body = "```\n" + out + "\n```"
        status = "" if code == 0 else f" — **exit code {code}**"
        sections.append(f"## {title}\n\n`{PY_NAME} {' '.join(_rel(c) for c in cmd)}` ({seconds:.0f} s){status}\n\n{body}\n")
    header = (
        "# Benchmarks\n\n"
        f"Written by `bench/run_all.py{' --quick' if args.quick else ''}` (`make bench CORPUS={_rel(str(corpus))}`) on "
        f"{info['date']}, commit {info['commit']}.\n\n"
        "| machine | |\n|---|---|\n"
        f"| CPU | {info['cpu']} |\n| cores usable | {info['cores']} |\n| RAM | {info['ram_gib']} GiB |\n"
        f"| OS | {info['os']} |\n| Python | {info['python']} |\n| GPU | none used (CPU engines) |\n\n"
        "Every phase runs in a fresh process; pages/s and s/page are wall clock on this machine, so compare "
        "rows within one file, not across machines.\n\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(header + "\n".join(sections))
    print(f"wrote {args.output}", file=sys.stderr)


PY_NAME = ".venv/bin/python"


def _rel(value: str) -> str:
    try:
        return os.path.relpath(value, ROOT) if os.path.isabs(value) else value
    except ValueError:
        return value


if __name__ == "__main__":
    main()
