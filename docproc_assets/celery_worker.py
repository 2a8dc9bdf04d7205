"""Imported by every Celery worker as it starts (`celery worker --include`), before it takes a task:
Dagster, the definitions and the instance's storage (coordinator.py), pyarrow for the store's staged
files, and the process's parsing child with its parsers loaded (`isolation.borrowed`). A worker paid
for these in its first steps, about 3 s of CPU each, while the others waited for its chunk.
"""

import os

import pyarrow  # noqa: F401 - Store.stage writes staged rows with it

import docproc_assets.coordinator  # noqa: F401 - Dagster, the job, the pooled Postgres storage
from docproc_assets.core import isolation

with isolation.borrowed(isolation.STARTUP_SECONDS, 0) as worker:  # kept warm for the first step (same environment)
    worker.run(os.getpid)
