"""Where docproc keeps documents and results, and the limits its steps run under."""

import contextlib
import json
import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from docproc_assets.core import intake
from docproc_assets.core.intake import ObjectStore
from docproc_assets.core.isolation import default_memory_mb
from docproc_assets.core.pools import budget_from_env
from docproc_assets.core.store import Store


class DocprocResource(dg.ConfigurableResource):
    """Paths (relative ones are taken from the working directory: the project root under `make ui`)
    and limits. Defaults come from DOCPROC_* environment variables. The results database is a
    `dagster_duckdb.DuckDBResource` of its own (resource key `duckdb`): its `database` is the DuckDB
    file, its `connection_config` DuckDB's settings (memory_limit, threads), set in the launchpad."""

    database: dg.ResourceDependency[DuckDBResource]  # (no `from __future__ import annotations` here: Dagster reads this type)
    data_dir: str = "data"
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

    @property
    def db_path(self) -> str:
        return self.database.database

    def store(self) -> Store:
        """The results store, its connections taken from the DuckDB resource; merges stay single-writer
        under the store's file lock beside the database."""
        return Store(Path(self.db_path), connect=resource_connections(self.database))

    def with_changes(self, **changes) -> "DocprocResource":
        """A copy with some fields changed: a new resource, as Dagster builds resources from their config
        (which model_copy does not change)."""
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})

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


def resource_connections(database: DuckDBResource):
    """Store connections from a DuckDBResource: its own `get_connection()` for writes; for reads the same
    database and settings opened read-only (DuckDB lets several processes read a file at once, never
    while one of them holds it writable)."""

    @contextlib.contextmanager
    def connect(read_only: bool, config: dict):
        extra = {**config, **({"access_mode": "READ_ONLY"} if read_only else {})}
        source = database
        if extra:
            source = DuckDBResource(database=database.database, connection_config={**database.connection_config, **extra})
        with source.get_connection() as con:
            yield con

    return connect


def duckdb_from_env(db_path: str | None = None) -> DuckDBResource:
    data = os.environ.get("DOCPROC_DATA", "data")
    return DuckDBResource(database=db_path or os.environ.get("DOCPROC_DB", str(Path(data) / "docproc.duckdb")))


def from_env(database: DuckDBResource | None = None, **changes) -> DocprocResource:
    """The resource as DOCPROC_* variables set it; `database` and `changes` (field values) win."""
    env = os.environ
    data = env.get("DOCPROC_DATA", "data")
    return DocprocResource(**{**dict(
        database=database or duckdb_from_env(),
        data_dir=data,
        report_path=env.get("DOCPROC_REPORT", str(Path(data) / "reports" / "comparison.md")),
        inbox_dir=env.get("DOCPROC_INBOX", str(Path(data) / "inbox")),
        sensor_models=env.get("DOCPROC_SENSOR_MODELS", ""),
        gpu_budget_gib=budget_from_env(),
        document_timeout_s=float(env.get("DOCPROC_DOCUMENT_TIMEOUT_S", "600")),
        max_memory_mb=int(env["DOCPROC_MAX_MEMORY_MB"]) if env.get("DOCPROC_MAX_MEMORY_MB") else None,
        model_overrides=env.get("DOCPROC_MODEL_OVERRIDES", ""),
        inbox_settle_seconds=float(env.get("DOCPROC_INBOX_SETTLE_SECONDS", intake.DEFAULT_SETTLE_SECONDS)),
        inbox_incomplete_after_s=float(env.get("DOCPROC_INBOX_INCOMPLETE_AFTER_S", intake.DEFAULT_INCOMPLETE_AFTER_S)),
    ), **changes})


@dg.definitions
def resources() -> dg.Definitions:
    """`duckdb` (the results database, DOCPROC_DB by default, configurable at launch) and `docproc`, which
    reaches the database through it."""
    database = DuckDBResource.configure_at_launch(database=duckdb_from_env().database)
    return dg.Definitions(resources={"duckdb": database, "docproc": from_env(database)})


def store_metadata(store: Store) -> dict:
    """What a step's merges set aside (staged files that could not be read), for its materialization."""
    meta: dict = {"staged_files_set_aside": len(store.set_aside)}
    if store.set_aside:
        meta["set_aside"] = dg.MetadataValue.md("\n".join(f"- `{line}`" for line in store.set_aside))
    return meta
