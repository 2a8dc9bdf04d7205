"""First run vs cached rerun of `docproc batch` (the Dagster assets in process), on any corpus folder.

    .venv/bin/python bench/dagster_cache.py samples/ [--models rapidocr,tesseract]

Runs in a fresh DAGSTER_HOME and data folder under a temporary directory: 1) the first run, 2) the
same batch again (nothing to compute: no engine runs), 3) again with --force (every asset
rematerialized, cached rows reused), 4) after changing one model's config (its revision): only that
model recomputes. Prints a table; the rerun should take <= 5% of the first run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--models", default=None, help="comma-separated (default: the CPU defaults available)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="docproc-bench-"))
    os.environ["DAGSTER_HOME"] = str(tmp / "home")

    from docproc_assets.batch import run_batch
    from docproc_assets.core import stages
    from docproc_assets.core.engines import registry
    from docproc_assets.core.store import Store

    models = [m for m in args.models.split(",") if m] if args.models is not None else stages.default_models()
    data = tmp / "data"
    store = Store(data / "docproc.duckdb")

    def run(label: str, **kwargs) -> tuple[str, float, dict]:
        before = time.time()
        start = time.perf_counter()
        result = run_batch(args.corpus, models, data_dir=data, **kwargs)
        seconds = time.perf_counter() - start
        fresh = dict(store.query("SELECT model, count(*) FROM extractions WHERE epoch(created_at) >= ? GROUP BY model",
                                 [before - 1])[1]) if result else {}
        return label, seconds, fresh

    rows = [run("first run"), run("unchanged rerun"), run("rerun --force", force=True)]
    if models:
        changed = models[-1]
        registry.MODELS[changed] = dataclasses.replace(registry.MODELS[changed], revision=registry.MODELS[changed].revision + "-bench")
        rows.append(run(f"after changing {changed}'s config"))
    first = rows[0][1]
    print(f"\ncorpus {args.corpus}, models: direct, {', '.join(models)}; DAGSTER_HOME {tmp / 'home'}")
    print(f"{'run':40} {'seconds':>8} {'of first':>9}  rows computed")
    for label, seconds, fresh in rows:
        computed = ", ".join(f"{m} {n}" for m, n in sorted(fresh.items())) or "none"
        print(f"{label:40} {seconds:8.2f} {100 * seconds / first:8.1f}%  {computed}")


if __name__ == "__main__":
    sys.exit(main())
