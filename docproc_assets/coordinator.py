"""Imported once by the fork server that the Celery chunk coordinators are forked from (`batch.coordinators`):
Dagster, its Celery executor and Postgres storage, and every definition of the code location. A spawned
coordinator spent about 3 s of CPU importing these before coordinating anything, as much as its runs;
forked from a server that holds them, it starts at once.
"""

from docproc_assets.cluster import cluster_job

cluster_job()  # imports the definitions' modules and builds the job, kept for every run forked from here

import docproc_assets.instance_storage  # noqa: E402, F401 - the instance's storage, loaded by name when a run starts
