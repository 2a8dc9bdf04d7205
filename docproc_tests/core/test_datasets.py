"""DocumentVQA-format sources built on the fly: Parquet folder, single file, image folder, save_to_disk."""

import json

import pytest

from docproc_assets.core import datasets
from docproc_assets.core.intake import ObjectStore
from docproc_tests.docvqa import docvqa_imagefolder, docvqa_parquet, rows


@pytest.mark.parametrize("layout", ["parquet-folder", "parquet-file", "imagefolder", "save_to_disk"])
def test_ingest_streams_rows_into_the_object_store(tmp_path, layout):
    if layout == "parquet-folder":
        source = docvqa_parquet(tmp_path / "set", 5)
    elif layout == "parquet-file":
        source = docvqa_parquet(tmp_path / "set", 5) / "data" / "train-00000-of-00001.parquet"
    elif layout == "imagefolder":
        source = docvqa_imagefolder(tmp_path / "set", 5)
    else:
        import datasets as hf

        source = tmp_path / "set"
        keep = ("questionId", "question", "image", "docId", "answers")
        hf.Dataset.from_list([{k: r[k] for k in keep} for r in rows(5)], features=hf.Features({
            "questionId": hf.Value("int64"), "question": hf.Value("string"), "image": hf.Image(),
            "docId": hf.Value("int64"), "answers": hf.Sequence(hf.Value("string"))})).save_to_disk(str(source))
    objects = ObjectStore(tmp_path / "objects")
    out = datasets.ingest(objects, str(source), "train", sample_size=4)
    assert out.rows == 4
    assert len(out.document_ids) == 3  # the first page carries two questions: one document
    assert [a["question_id"] for a in out.answers] == ["1", "2", "3", "4"]
    assert json.loads(out.answers[0]["answers"]) == ["1,250.00 EUR", "1,250.00"]
    assert all(objects.path(d).suffix == ".png" and objects.path(d).stat().st_size > 1000 for d in out.document_ids)
    assert datasets.ingest(objects, str(source), "train", sample_size=0).rows == 5  # 0 = all


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a data set file"):
        datasets.ingest(ObjectStore(tmp_path / "o"), str(tmp_path / "x.txt") if (tmp_path / "x.txt").write_text("x") else "")
