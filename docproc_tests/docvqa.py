"""Small DocumentVQA-format data sets made on the fly (no hub): Parquet and image-folder layouts."""

from __future__ import annotations

import io
import json
from pathlib import Path

from docproc_tests.documents import page_image

# (document text, [(question, answers)]): answers that appear in the text, and one that does not.
PAGES = [
    ("INVOICE 4711\nTotal due: 1,250.00 EUR\nDate: 12 March 2024", [("What is the total?", ["1,250.00 EUR", "1,250.00"]),
                                                                   ("What is the date?", ["12 March 2024"])]),
    ("Memorandum to all staff\nMeeting in room B-12 at noon", [("Which room?", ["B-12"])]),
    ("Quarterly report\nRevenue grew by 17 percent", [("How much did revenue grow?", ["17 percent"]),
                                                     ("Who signed it?", ["Jane Doe"])]),
]


def rows(n: int, dpi: int = 100) -> list[dict]:
    """n rows cycling over PAGES' questions; the same page image serves all of its questions."""
    out: list[dict] = []
    images = {}
    qid = 0
    while len(out) < n:
        for doc, (text, qas) in enumerate(PAGES):
            if doc not in images:
                buf = io.BytesIO()
                page_image(text, dpi=dpi, fontsize=20).save(buf, format="PNG")
                images[doc] = buf.getvalue()
            for question, answers in qas:
                if len(out) >= n:
                    break
                qid += 1
                out.append({"questionId": qid, "question": question, "question_types": ["free_text"],
                            "image": {"bytes": images[doc], "path": None}, "docId": doc,
                            "ucsf_document_id": f"doc{doc}", "ucsf_document_page_no": "1", "answers": answers})
    return out


def docvqa_parquet(folder: Path, n: int = 5, split: str = "train", dpi: int = 100) -> Path:
    """A folder `data/<split>-00000-of-00001.parquet` with the DocumentVQA features (image as Image())."""
    import datasets

    features = datasets.Features({
        "questionId": datasets.Value("int64"), "question": datasets.Value("string"),
        "question_types": datasets.Sequence(datasets.Value("string")), "image": datasets.Image(),
        "docId": datasets.Value("int64"), "ucsf_document_id": datasets.Value("string"),
        "ucsf_document_page_no": datasets.Value("string"), "answers": datasets.Sequence(datasets.Value("string")),
    })
    ds = datasets.Dataset.from_list(rows(n, dpi), features=features)
    target = folder / "data" / f"{split}-00000-of-00001.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(target))
    return folder


def docvqa_imagefolder(folder: Path, n: int = 5, dpi: int = 100) -> Path:
    """An image folder: one PNG per page and `metadata.jsonl` (file_name, question, answers, ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "metadata.jsonl").open("w") as meta:
        for r in rows(n, dpi):
            name = f"{r['ucsf_document_id']}.png"
            if not (folder / name).exists():
                (folder / name).write_bytes(r["image"]["bytes"])
            meta.write(json.dumps({"file_name": name, "questionId": r["questionId"], "question": r["question"],
                                   "docId": r["docId"], "answers": r["answers"]}) + "\n")
    return folder
