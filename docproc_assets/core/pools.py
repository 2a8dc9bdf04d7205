"""Concurrency pools: which steps may run together, and how a GPU memory budget becomes slot counts.

Dagster pools count steps, not GiB. The rule: every GPU model's step takes one slot of the `gpu`
pool, and the pool gets floor(budget / need of the largest GPU model that fits the budget) slots, so
any mix of steps that runs at once fits in memory. A model that needs more than the whole budget gets
error rows ("over the GPU budget") instead of a slot. CPU engines use no pool: the GPU pool never
holds them back. Pool names are constants: a typo in a pool name silently makes a new, unlimited pool.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

GPU_POOL = "gpu"
POOLS = (GPU_POOL,)


def budget_from_env() -> float:
    """GPU memory (GiB) for all GPU steps together: DOCPROC_GPU_BUDGET_GIB, 0 when unset."""
    return float(os.environ.get("DOCPROC_GPU_BUDGET_GIB", "0"))


def needs_gpu(config) -> bool:
    """A model whose registry entry asks for GPU memory (the VLMs); OCR engines that merely can use a
    GPU (easyocr) run as CPU steps."""
    return config.resources.min_gpu_memory_gib > 0 or config.resources.gpu_count > 0


def pool_for(config) -> str | None:
    return GPU_POOL if needs_gpu(config) else None


# Celery queues (the Celery executor, `docproc cluster`): GPU model steps go to `gpu`, where only GPU
# workers listen; every other step to `cpu`. The `gpu` pool still caps GPU steps across the cluster.
CELERY_QUEUE_TAG = "dagster-celery/queue"
CPU_QUEUE, GPU_QUEUE = "cpu", "gpu"
CPU_STEP_TAGS = {CELERY_QUEUE_TAG: CPU_QUEUE}


def queue_tags(config) -> dict[str, str]:
    """The op tags that send a model's step to its Celery queue."""
    return {CELERY_QUEUE_TAG: GPU_QUEUE if needs_gpu(config) else CPU_QUEUE}


def over_budget(config, budget_gib: float) -> str | None:
    need = config.resources.min_gpu_memory_gib
    if needs_gpu(config) and need > budget_gib:
        return f"{config.name} needs {need:g} GiB of GPU memory; the GPU budget is {budget_gib:g} GiB (DOCPROC_GPU_BUDGET_GIB)"
    return None


def gpu_slots(budget_gib: float, configs: Iterable) -> int:
    """Slots of the gpu pool for a budget: how many copies of the largest model that fits run at once."""
    needs = [c.resources.min_gpu_memory_gib for c in configs if needs_gpu(c) and c.resources.min_gpu_memory_gib <= budget_gib]
    if not needs:
        return 1
    return max(1, math.floor(budget_gib / max(max(needs), 1e-9)))
