"""The same folder through a local Celery cluster with 1, 2, ... workers: throughput, exactly-once rows,
steps per worker, in one table.

usage: python bench/distributed.py FOLDER [--workers 1,2] [--models tesseract] [--rounds 3]

For each worker count a fresh cluster (`docproc_assets.cluster`: Redis, PostgreSQL, dagster-celery
workers with the solo pool and 1-thread engines) reads the folder in chunks spread over the workers
(`--chunks-per-worker`; `--runs-per-worker` chunk runs at once per worker, so a worker that finishes a
step finds the next one queued). Pages/min counts the pages every model read
(direct and OCR) over the whole batch's wall time (registration, the serial tail: merge, scores,
report) and over the chunk runs alone (routing and extraction on the workers); "rows once" checks one successful-or-failed row
per (document, model) and no duplicate; "staged left" counts staged files no merge took.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(folder: Path, workers: int, models: list[str], chunks_per_worker: int, runs_per_worker: int) -> dict:
    from docproc_assets.batch import run_batch
    from docproc_assets.cluster import Cluster
    from docproc_assets.core import intake
    from docproc_assets.core.store import Store

    root = Path(tempfile.mkdtemp(prefix=f"docproc-bench-cluster{workers}-"))
    cluster = Cluster(root, root / "data").up(workers)
    saved = dict(os.environ)
    os.environ.update(cluster.env())
    try:
        files = intake.list_folder(folder)
        start = time.perf_counter()
        result = run_batch(folder, models, data_dir=cluster.data, files=files, executor="celery", parallel_runs=runs_per_worker * workers,
                           chunk_size=max(1, math.ceil(len(files) / (chunks_per_worker * workers))))
        seconds = time.perf_counter() - start
        store = Store(cluster.data / "docproc.duckdb")
        (rows, keys, pages), = store.query("SELECT count(*), count(DISTINCT (document_id, model)), sum(pages) FROM extractions")[1]
        expected = len(set(result.documents)) * (len(models) + 1)
        ran = cluster.steps_by_worker(result.runs)
        staged = [p for p in (cluster.data / ".docproc.duckdb.staging").rglob("*.parquet")]
        return {"workers": workers, "documents": len(set(result.documents)), "pages": pages or 0, "seconds": seconds,
                "pages/min": 60 * (pages or 0) / seconds, "chunk s": result.chunk_seconds,
                "chunk pages/min": 60 * (pages or 0) / result.chunk_seconds, "rows once": rows == keys == expected,
                "steps per worker": ", ".join(f"{w} {len(s)}" for w, s in sorted(ran.items())), "failed runs": result.failed_runs,
                "staged left": len(staged)}
    finally:
        cluster.down()
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--models", default="tesseract")
    parser.add_argument("--chunks-per-worker", type=int, default=3)
    parser.add_argument("--runs-per-worker", type=int, default=2, help="chunk runs coordinated at once, per worker")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure the worker counts this many times, alternating (1,2,1,2): on a noisy host the "
                             "median of each round's ratio says more than one pair")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    counts = [int(n) for n in args.workers.split(",")]
    cols = ["round", "workers", "documents", "pages", "seconds", "pages/min", "speed-up", "chunk s", "chunk pages/min",
            "chunk speed-up", "rows once", "failed runs", "staged left", "steps per worker"]
    print(" | ".join(cols))
    ratios: dict[int, list[tuple[float, float]]] = {}
    for round_ in range(1, args.rounds + 1):
        results = [{"round": round_, **measure(args.folder, n, models, args.chunks_per_worker, args.runs_per_worker)} for n in counts]
        for r in results:  # against the first worker count of the same round
            r["speed-up"] = r["pages/min"] / results[0]["pages/min"]
            r["chunk speed-up"] = r["chunk pages/min"] / results[0]["chunk pages/min"]
            ratios.setdefault(r["workers"], []).append((r["speed-up"], r["chunk speed-up"]))
            print(" | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols), flush=True)
    if args.rounds > 1:
        for n, pairs in ratios.items():
            print(f"median over {args.rounds} rounds, {n} workers: speed-up {statistics.median(p[0] for p in pairs):.2f}, "
                  f"chunk speed-up {statistics.median(p[1] for p in pairs):.2f}")


if __name__ == "__main__":
    main()
