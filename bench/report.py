"""The comparison report's page views against their budgets, on any folder of documents.

usage: python bench/report.py FOLDER [--models rapidocr,tesseract] [--data-dir DIR] [--extra 10000]

Runs `docproc batch FOLDER` (skipped with --data-dir of a finished batch), then builds the report with
page views and prints one table: build seconds, HTML and page-view megabytes, documents with a view,
the size a 200-document report would reach at this corpus' size per document (budget 30 MB), the first
screen in headless Chromium (navigation to load event, every visible page image decoded; budget 3 s),
and the build with `--extra` synthetic documents added to a copy of the database (budget 60 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DOCPROC = str(Path(sys.executable).with_name("docproc"))


def batch(folder: Path, models: str, data: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(data / "dagster")}
    (data / "dagster").mkdir(parents=True, exist_ok=True)
    subprocess.run([DOCPROC, "batch", str(folder), "--models", models, "--data-dir", str(data), "--db", str(data / "docproc.duckdb")],
                   env=env, check=True, stdout=subprocess.DEVNULL)


def build(db: Path, data: Path, out: Path):
    from docproc_assets.core import report
    from docproc_assets.core.pageview import PageViews
    from docproc_assets.core.store import Store

    views = PageViews.beside(out, data)
    shutil.rmtree(views.folder, ignore_errors=True)
    start = time.perf_counter()
    html = report.build(Store(db), views=views)
    seconds = time.perf_counter() - start
    out.write_text(html, encoding="utf-8")
    return seconds, len(html), views


def first_screen(page: Path) -> float:
    from docproc_tests.browser import Chromium

    with Chromium() as browser:
        start = time.perf_counter()
        browser.open(page.as_uri(), settle=0.0)
        browser.evaluate("""Promise.all(Array.from(document.querySelectorAll('.pv-page image')).map(i => new Promise(ok => {
            const probe = new Image(); probe.onload = probe.onerror = ok; probe.src = i.getAttribute('href'); })))""")
        return time.perf_counter() - start


def add_documents(db: Path, n: int) -> None:
    import duckdb

    con = duckdb.connect(str(db))
    con.execute(f"""INSERT INTO documents (document_id, filename, track, page_count, source_path, registered_at)
        SELECT 'extra' || lpad(i::VARCHAR, 8, '0'), 'zz-extra-' || i || '.png', 'ocr', 1, '/extra/' || i, now()::TIMESTAMP FROM range({n}) t(i)""")
    con.execute(f"""INSERT INTO extractions (document_id, model, model_version, track, extracted_text, success, pages, token_count, seconds)
        SELECT 'extra' || lpad(i::VARCHAR, 8, '0'), m, m, 'ocr', repeat('Invoice total 42 EUR. ', 40), true, 1, 160, 1.0
        FROM range({n}) t(i), (SELECT DISTINCT model AS m FROM extractions WHERE model <> 'direct')""")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--models", default="rapidocr,tesseract")
    parser.add_argument("--data-dir", type=Path, help="a finished batch's data folder (no batch is run)")
    parser.add_argument("--extra", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="docproc-bench-report-"))
    data = args.data_dir
    if data is None:
        data = tmp / "data"
        batch(args.folder, args.models, data)
    db = data / "docproc.duckdb"
    seconds, html_bytes, views = build(db, data, tmp / "report.html")
    from docproc_assets.core.store import Store

    shown = min(200, Store(db).rows("SELECT count(*) AS n FROM current_documents")[0]["n"])
    with_view = len(list(views.folder.glob("*-p1-*.webp"))) if views.folder.exists() else 0
    per_document = (html_bytes - 4.7e6 + views.spent) / max(shown, 1)  # plotly.js (~4.7 MB) is paid once
    screen = first_screen(tmp / "report.html")
    copy = tmp / "big.duckdb"
    shutil.copy(db, copy)
    add_documents(copy, args.extra)
    big_seconds, big_bytes, big_views = build(copy, data, tmp / "big.html")
    rows = [
        ("documents shown / with a page view", f"{shown} / {with_view}", ""),
        ("build (s)", f"{seconds:.2f}", ""),
        ("HTML (MB)", f"{html_bytes / 1e6:.1f}", ""),
        ("page views: images + boxes (MB)", f"{views.spent / 1e6:.1f}", ""),
        ("per shown document, past plotly.js (MB)", f"{per_document / 1e6:.3f}", ""),
        ("200 documents like these (MB)", f"{(4.7e6 + 200 * per_document) / 1e6:.1f}", "<= 30"),
        ("first screen in headless Chromium (s)", f"{screen:.2f}", "<= 3"),
        (f"build with {args.extra} more documents (s)", f"{big_seconds:.2f}", "<= 60"),
        (f"  its HTML + page views (MB)", f"{(big_bytes + big_views.spent) / 1e6:.1f}", "<= 30"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  budget")
    for name, value, budget in rows:
        print(f"{name:<{width}}  {value:>10}  {budget}")
    print(f"report: {tmp / 'report.html'}")


if __name__ == "__main__":
    main()
