"""The per-document assets as one job on Dagster's Celery executor (`docproc cluster`).

Each step is a Celery task on the queue its op tags name (core/pools.py: `gpu` for GPU models, `cpu`
for the rest); workers started with `dagster-celery worker start -q cpu|gpu` pick them up. The broker
and result backend come from DOCPROC_CELERY_BROKER / DOCPROC_CELERY_BACKEND in the process that runs
the job. Tasks are acknowledged late and handed back when their worker dies, so a SIGKILLed worker's
step runs again on another one; the keyed merges keep one row per (document, model) however often a
step runs. The unpartitioned tail (merge, scores, metrics, report) runs in the coordinating process.
"""

import os

import dagster as dg
from dagster_celery import celery_executor

from docproc_assets.defs.extraction.assets import OCR_ASSET_KEYS
from docproc_assets.defs.intake.sensors import PARTITIONED

CLUSTER_JOB = "docproc_cluster"


def celery_settings() -> dict:
    """Celery app settings for exactly-once rows under worker loss: late acks, a dead worker's task back
    on the queue, one task prefetched per worker; Redis hands an unacknowledged task to another worker
    after the visibility timeout (DOCPROC_CELERY_VISIBILITY_S; longer than the longest step)."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": int(os.environ.get("DOCPROC_CELERY_VISIBILITY_S", "3600"))},
        "result_expires": 86400,
    }


def executor_config() -> dict:
    return {"broker": {"env": "DOCPROC_CELERY_BROKER"}, "backend": {"env": "DOCPROC_CELERY_BACKEND"},
            "config_source": celery_settings()}


docproc_cluster = dg.define_asset_job(
    CLUSTER_JOB,
    selection=dg.AssetSelection.assets(*PARTITIONED, *OCR_ASSET_KEYS.values()),
    executor_def=celery_executor.configured(executor_config(), name="docproc_celery"),
    description="Routing, direct extraction and every OCR model over a range of documents, each step a Celery task "
                "(`docproc cluster run`).",
)
