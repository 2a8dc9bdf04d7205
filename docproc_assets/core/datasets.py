"""DocumentVQA-format data sets as a document source, through Hugging Face `datasets` (imported lazily).

A row has `image`, `question`, `answers` (a list of strings) and ids (`questionId`, `docId`, ...).
Rows are streamed: images are never decoded, each one's bytes go straight into the content-addressed
object store, so memory does not grow with the data set. The same image under several questions is one
document (its sha256) with several `answers` rows.

`name_or_path` is a hub id (`HuggingFaceM4/DocumentVQA`, needs a reachable hub) or a local copy: a
Parquet/Arrow/JSON Lines file, a folder of them (split from file names, as `datasets` infers it), an
image folder (`metadata.jsonl` with `file_name`, `question`, `answers`), or a `save_to_disk` folder.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docproc_assets.core.intake import ObjectStore

DEFAULT_DATASET = "HuggingFaceM4/DocumentVQA"
DEFAULT_SPLIT = "train"
FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "json", ".json": "json", ".csv": "csv"}


@dataclass
class Question:
    """One row: the page image's bytes and what is asked about it."""

    image: bytes
    filename: str
    question_id: str
    question: str | None
    answers: list[str]


def open_dataset(name_or_path: str, split: str = DEFAULT_SPLIT):
    """An IterableDataset over the rows, images left undecoded (bytes or a path)."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - a dependency, but keep the message useful
        raise ValueError("the `datasets` package is not installed") from exc

    path = Path(name_or_path)
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ValueError(f"{path}: not a data set file ({', '.join(FILE_BUILDERS)})")
        ds = datasets.load_dataset(builder, data_files={split: str(path)}, split=split, streaming=True)
    elif path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = datasets.load_from_disk(str(path))  # memory-mapped Arrow: nothing is read up front
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded[split]
        ds = loaded.to_iterable_dataset()
    else:
        try:
            ds = datasets.load_dataset(str(name_or_path), split=split, streaming=True)
        except (FileNotFoundError, ConnectionError, OSError) as exc:
            where = "local folder" if path.is_dir() else "hub data set (is the hub reachable?)"
            raise ValueError(f"cannot open {where} {name_or_path!r}, split {split!r}: {exc}") from exc
    features = getattr(ds, "features", None)
    if features and "image" in features and isinstance(features["image"], datasets.Image):
        ds = ds.cast_column("image", datasets.Image(decode=False))
    return ds


def _suffix(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def image_bytes(value: Any) -> tuple[bytes, str]:
    """The stored bytes of an image cell (undecoded dict, PIL image, raw bytes or a path) and a suffix."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if data is None and value.get("path"):
            data = Path(value["path"]).read_bytes()
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    elif isinstance(value, str):
        data = Path(value).read_bytes()
    elif hasattr(value, "save"):  # a decoded PIL image
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        data = buf.getvalue()
    else:
        data = None
    if not data:
        raise ValueError("row has no image")
    suffix = _suffix(data)
    if suffix is None:  # something Pillow reads but we would not recognise later: store it as PNG
        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).save(buf, format="PNG")
        data, suffix = buf.getvalue(), ".png"
    return data, suffix


def _answers(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        value = parsed if isinstance(parsed, list) else [str(parsed)]
    return [str(a) for a in value if a is not None and str(a).strip()]


def questions(name_or_path: str, split: str = DEFAULT_SPLIT, sample_size: int = 0) -> Iterator[Question]:
    """The first `sample_size` rows (0: all), one at a time."""
    for i, row in enumerate(open_dataset(name_or_path, split)):
        if sample_size and i >= sample_size:
            break
        data, suffix = image_bytes(row.get("image"))
        qid = row.get("questionId", row.get("question_id", row.get("id")))
        doc = row.get("ucsf_document_id") or row.get("docId") or row.get("doc_id")
        page = row.get("ucsf_document_page_no")
        stem = f"{doc}_{page}" if doc is not None and page is not None else (f"doc-{doc}" if doc is not None else f"row-{i}")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(stem))[:120]
        yield Question(data, safe + suffix, str(qid if qid is not None else i), row.get("question"), _answers(row.get("answers")))


@dataclass
class Ingested:
    document_ids: list[str] = field(default_factory=list)  # distinct, in first-seen order
    answers: list[dict] = field(default_factory=list)  # `answers` table rows
    rows: int = 0


def ingest(objects: ObjectStore, name_or_path: str, split: str = DEFAULT_SPLIT, sample_size: int = 0) -> Ingested:
    """Stream rows into the object store; `answers` rows for the questions that have gold answers."""
    out = Ingested()
    seen: set[str] = set()
    for q in questions(name_or_path, split, sample_size):
        reg = objects.put_bytes(q.image, q.filename, f"dataset:{name_or_path}:{split}:{q.question_id}")
        out.rows += 1
        if reg.document_id not in seen:
            seen.add(reg.document_id)
            out.document_ids.append(reg.document_id)
        if q.answers:
            out.answers.append({"document_id": reg.document_id, "question_id": q.question_id, "question": q.question,
                                "answers": json.dumps(q.answers, ensure_ascii=False), "dataset": str(name_or_path),
                                "split": split})
    return out
