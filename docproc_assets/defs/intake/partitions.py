"""Documents as dynamic partitions: `<file name>-<sha256>`, found by name in the UI's partition filter.

The document's identity stays the sha256 of its bytes (`document_id`, the key's last 64 characters): the
name part is the first name the object store registered it under, so the same bytes dropped again under
another name map to the same key. Keys from before names were added (the bare hash) stay valid."""

import re
import warnings
from collections.abc import Iterable, Sequence

import dagster as dg

documents = dg.DynamicPartitionsDefinition(name="documents")

# One run serves this many documents: one worker process and one loaded model per step.
MAX_PARTITIONS_PER_RUN = 25
per_chunk = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)

# backfill_policy is marked beta in Dagster 1.13; we rely on it knowingly (one loaded model per chunk).
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

ID_LENGTH = 64  # hex sha256
NAME_LENGTH = 60  # of the name part: keys stay readable in the UI's lists
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # Dagster keys must not hold , [ ] * or new lines; spaces read badly


def document_key(document_id: str, filename: str | None) -> str:
    """The partition key of a document first registered as `filename`."""
    name = _UNSAFE.sub("-", filename or "").strip("-.")[:NAME_LENGTH].rstrip("-.")
    return f"{name}-{document_id}" if name else document_id


def document_id(key: str) -> str:
    return key[-ID_LENGTH:]


def document_ids(keys: Iterable[str]) -> list[str]:
    return [document_id(k) for k in keys]


def keys_for(named: Sequence[tuple[str, str | None]], known: Iterable[str]) -> tuple[list[str], list[str]]:
    """(key of each (document_id, first file name), keys not among `known` yet). A document that already
    has a partition keeps it, whatever it is called now or was called then."""
    by_id = {document_id(k): k for k in known}
    keys, new = [], []
    for doc_id, filename in named:
        if doc_id not in by_id:
            by_id[doc_id] = document_key(doc_id, filename)
            new.append(by_id[doc_id])
        keys.append(by_id[doc_id])
    return list(dict.fromkeys(keys)), new


def add_documents(instance: dg.DagsterInstance, named: Sequence[tuple[str, str | None]]) -> tuple[list[str], list[str]]:
    """(the documents' partition keys, those added to the instance now)."""
    keys, new = keys_for(named, instance.get_dynamic_partitions(documents.name))
    if new:
        instance.add_dynamic_partitions(documents.name, new)
    return keys, new
