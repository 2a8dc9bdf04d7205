"""Searchable PDF output: ms per page to write the PDF on top of OCR, and output/input size.

usage: python bench/searchable.py CORPUS_DIR [--engine tesseract] [--folders scanned_pdf,image]

Each document is OCR'd once with the engine (timed separately), then written as a searchable PDF
(`write_searchable_pdf`, median of 3 writes). Prints one row per file and a total per folder; the
target is <= 50 ms per page for the write and ~1.0x the input size for scanned PDFs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--engine", default="tesseract")
    parser.add_argument("--folders", default="scanned_pdf,image")
    args = parser.parse_args()

    from docproc_assets.core.document import Status
    from docproc_assets.core.pipeline import Options, extract_with_engine
    from docproc_assets.core.searchable import write_searchable_pdf

    options = Options()
    print(f"{'file':44} {'pages':>5} {'ocr s/page':>10} {'write ms/page':>13} {'in KB':>8} {'out KB':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for folder in args.folders.split(","):
            files = sorted(p for p in (args.corpus / folder).glob("*") if p.suffix.lower() in SUFFIXES)
            tot_pages = tot_write = tot_in = tot_out = 0.0
            for path in files:
                start = time.perf_counter()
                document = extract_with_engine(path, options, args.engine)
                ocr = time.perf_counter() - start
                if document.status == Status.ERROR:
                    print(f"{path.name[:44]:44} error: {document.error}")
                    continue
                out = Path(tmp) / f"{path.stem}.pdf"
                writes = []
                for _ in range(3):
                    t = time.perf_counter()
                    write_searchable_pdf(document, path, out)
                    writes.append(time.perf_counter() - t)
                n = len(document.pages)
                write = statistics.median(writes)
                size_in, size_out = path.stat().st_size, out.stat().st_size
                tot_pages, tot_write, tot_in, tot_out = tot_pages + n, tot_write + write, tot_in + size_in, tot_out + size_out
                print(f"{path.name[:44]:44} {n:5d} {ocr / n:10.2f} {1000 * write / n:13.1f} {size_in / 1024:8.0f} "
                      f"{size_out / 1024:8.0f} {size_out / size_in:6.2f}")
            if tot_pages:
                print(f"{'TOTAL ' + folder:44} {int(tot_pages):5d} {'':>10} {1000 * tot_write / tot_pages:13.1f} "
                      f"{tot_in / 1024:8.0f} {tot_out / 1024:8.0f} {tot_out / tot_in:6.2f}")


if __name__ == "__main__":
    main()
