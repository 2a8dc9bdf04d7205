"""Where docproc keeps documents and results, and the limits its steps run under."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from docproc_assets.core import intake
from docproc_assets.core.intake import ObjectStore
from docproc_assets.core.isolation import default_memory_mb
from docproc_assets.core.pools import budget_from_env
from docproc_assets.core.store import Store


class DocprocResource(dg.ConfigurableResource):
    """Paths (relative ones are taken from the working directory: the project root under `make ui`)
    and limits. Defaults come from DOCPROC_* environment variables."""

    data_dir: str = "data"
    db_path: str = "data/docproc.duckdb"
    report_path: str = "data/reports/comparison.md"
    inbox_dir: str = "data/inbox"
    inbox_max_files: int = 500  # files registered per sensor tick (a tick must finish in 60 s)
    inbox_settle_seconds: float = intake.DEFAULT_SETTLE_SECONDS  # a file must be this long unchanged before it is taken
    inbox_incomplete_after_s: float = intake.DEFAULT_INCOMPLETE_AFTER_S  # a file still lacking its end marker this long after its last change is taken
    sensor_models: str = ""  # comma-separated OCR models the inbox sensor runs; empty: the default CPU models
    gpu_budget_gib: float = 0.0  # GPU memory steps may use in all; GPU models needing more get error rows
    document_timeout_s: float = 600.0
    max_memory_mb: int | None = None  # resident-memory limit per document (None: 75% of RAM; 0: none)
    model_overrides: str = ""  # JSON {"model": {"max_batch_size": 2, "model_id": "/models/x", "device": "cuda"}}

    def memory_limit_mb(self) -> int:
        return default_memory_mb() if self.max_memory_mb is None else self.max_memory_mb

    def store(self) -> Store:
        return Store(Path(self.db_path))

    def objects(self) -> ObjectStore:
        return ObjectStore(Path(self.data_dir) / "objects")

    def outputs(self) -> Path:
        return Path(self.data_dir) / "outputs"

    def apply_model_overrides(self) -> None:
        """Run-config overrides of registry models, seen by this step and the workers it starts."""
        if self.model_overrides:
            from docproc_assets.core.engines.registry import set_overrides

            set_overrides(json.loads(self.model_overrides))

    def models(self) -> list[str]:
        from docproc_assets.core.stages import default_models

        return [m.strip() for m in self.sensor_models.split(",") if m.strip()] or default_models(self.gpu_budget_gib)


def from_env() -> DocprocResource:
    env = os.environ
    data = env.get("DOCPROC_DATA", "data")
    return DocprocResource(
        data_dir=data,
        db_path=env.get("DOCPROC_DB", str(Path(data) / "docproc.duckdb")),
        report_path=env.get("DOCPROC_REPORT", str(Path(data) / "reports" / "comparison.md")),
        inbox_dir=env.get("DOCPROC_INBOX", str(Path(data) / "inbox")),
        sensor_models=env.get("DOCPROC_SENSOR_MODELS", ""),
        gpu_budget_gib=budget_from_env(),
        document_timeout_s=float(env.get("DOCPROC_DOCUMENT_TIMEOUT_S", "600")),
        max_memory_mb=int(env["DOCPROC_MAX_MEMORY_MB"]) if env.get("DOCPROC_MAX_MEMORY_MB") else None,
        model_overrides=env.get("DOCPROC_MODEL_OVERRIDES", ""),
        inbox_settle_seconds=float(env.get("DOCPROC_INBOX_SETTLE_SECONDS", intake.DEFAULT_SETTLE_SECONDS)),
        inbox_incomplete_after_s=float(env.get("DOCPROC_INBOX_INCOMPLETE_AFTER_S", intake.DEFAULT_INCOMPLETE_AFTER_S)),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"docproc": from_env()})


def store_metadata(store: Store) -> dict:
    """What a step's merges set aside (staged files that could not be read), for its materialization."""
    meta: dict = {"staged_files_set_aside": len(store.set_aside)}
    if store.set_aside:
        meta["set_aside"] = dg.MetadataValue.md("\n".join(f"- `{line}`" for line in store.set_aside))
    return meta
