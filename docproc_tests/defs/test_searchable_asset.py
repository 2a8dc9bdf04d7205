"""searchable_pdfs: one PDF per document and OCR model, at data/outputs/<document_id>/<model>.pdf."""

import shutil

import dagster as dg
import pymupdf
import pytest

from docproc_assets.defs.intake.partitions import document_ids
from docproc_tests.defs.test_assets import EVERYTHING, metadata, register, run


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("tesseract"), reason="needs tesseract")
def test_searchable_pdfs_written_per_document_and_model(resource, corpus):
    instance = dg.DagsterInstance.ephemeral()
    keys = register(instance, resource, corpus)
    run(instance, resource, keys, ["tesseract"])
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    result = dg.materialize(EVERYTHING, selection=[dg.AssetKey("searchable_pdfs")], instance=instance,
                            resources={"docproc": resource}, tags=tags)
    assert result.success
    scan_id = next(i for i in document_ids(keys) if resource.objects().info(i).filename == "scan.pdf")
    out = resource.outputs() / scan_id / "tesseract.pdf"
    assert "Scanned words" in pymupdf.open(out)[0].get_text()
    meta = metadata(result, "searchable_pdfs")
    assert meta["pdfs"] >= 2 and meta["failed"] == 0 and meta["pages"] >= 2 and meta["size_bytes"] > 0
    assert "tesseract" in meta["files"]
