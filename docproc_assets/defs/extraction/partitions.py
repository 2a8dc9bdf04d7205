"""Extraction assets share the intake's document partitions: one asset per model, documents as partitions."""

from docproc_assets.defs.intake.partitions import MAX_PARTITIONS_PER_RUN, document_ids, documents, per_chunk

__all__ = ["MAX_PARTITIONS_PER_RUN", "document_ids", "documents", "per_chunk"]
