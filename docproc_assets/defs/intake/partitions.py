"""Documents as dynamic partitions keyed by content hash (safe in keys, unlike file names)."""

import warnings

import dagster as dg

documents = dg.DynamicPartitionsDefinition(name="documents")

# One run serves this many documents: one worker process and one loaded model per step.
MAX_PARTITIONS_PER_RUN = 25
per_chunk = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)

# backfill_policy is marked beta in Dagster 1.13; we rely on it knowingly (one loaded model per chunk).
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
