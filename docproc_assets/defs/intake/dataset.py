"""A DocumentVQA-format data set as a document source: rows streamed into the object store, questions
into `answers`, the images added as `documents` partitions; `dataset_sensor` then runs the pipeline
over them in chunks, like the inbox sensor."""

import json
from pathlib import Path

import dagster as dg

from docproc_assets.core import datasets
from docproc_assets.defs.intake.partitions import add_documents
from docproc_assets.defs.intake.sensors import chunk_requests
from docproc_assets.defs.resources import DocprocResource


class DatasetSource(dg.Config):
    name: str = datasets.DEFAULT_DATASET  # hub id (needs a reachable hub) or a local Parquet/Arrow/image folder
    split: str = datasets.DEFAULT_SPLIT
    sample_size: int = 100  # the first N rows; 0 = all (streamed: memory does not grow with the data set)


@dg.asset(group_name="intake", kinds={"huggingface", "duckdb"})
def dataset_documents(context: dg.AssetExecutionContext, config: DatasetSource, docproc: DocprocResource) -> dg.MaterializeResult:
    """Page images and questions of a DocumentVQA-format data set (`image`, `question`, `answers`, ids).
    Each distinct image becomes a document (sha256 of its bytes) and a `documents` partition; each
    question with gold answers an `answers` row, for answer recall per model."""
    ingested = datasets.ingest(docproc.objects(), config.name, config.split, config.sample_size)
    store = docproc.store()
    store.stage("answers", ingested.answers)
    store.flush(wait=5)
    objects = docproc.objects()
    keys, new = add_documents(context.instance, [(i, objects.info(i).filename) for i in ingested.document_ids])
    keys_file = Path(docproc.data_dir).absolute() / "datasets" / f"{context.run.run_id}.json"
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(keys))
    context.log.info(f"{config.name} [{config.split}]: {ingested.rows} rows, {len(ingested.document_ids)} documents ({len(new)} new)")
    return dg.MaterializeResult(metadata={
        "dataset": config.name, "split": config.split, "rows": ingested.rows, "documents": len(ingested.document_ids),
        "new_documents": len(new), "questions": len(ingested.answers), "keys_file": dg.MetadataValue.path(str(keys_file)),
    })


@dg.sensor(
    name="dataset_sensor",
    description="After `dataset_documents` is materialized, runs the pipeline over its documents in chunks of 25.",
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=dg.AssetSelection.groups("intake", "extraction", "ocr", "comparison") - dg.AssetSelection.assets("dataset_documents"),
)
def dataset_sensor(context: dg.SensorEvaluationContext, docproc: DocprocResource) -> dg.SensorResult:
    event = context.instance.get_latest_materialization_event(dg.AssetKey("dataset_documents"))
    if event is None or event.run_id == context.cursor:
        return dg.SensorResult(skip_reason="no new dataset_documents materialization", cursor=context.cursor)
    keys_file = event.asset_materialization.metadata.get("keys_file") if event.asset_materialization else None
    if keys_file is None or not Path(keys_file.value).is_file():
        return dg.SensorResult(skip_reason="the materialization names no keys file", cursor=event.run_id)
    keys = json.loads(Path(keys_file.value).read_text())
    return dg.SensorResult(run_requests=chunk_requests(keys, docproc.models(), f"dataset:{event.run_id[:8]}"), cursor=event.run_id)
