"""The assets materialized over generated documents, on an ephemeral instance and a real DuckDB file."""

from pathlib import Path

import dagster as dg
import pytest

from docproc_assets.core import stages
from docproc_assets.core.engines import registry
from docproc_assets.definitions import defs
from docproc_assets.defs.extraction.assets import OCR_ASSET_KEYS, asset_name
from docproc_assets.defs.intake.partitions import add_documents, document_ids
from docproc_assets.defs.intake.sensors import PARTITIONED, TAIL

DEFS = defs()
EVERYTHING = [*DEFS.assets, *(DEFS.asset_checks or [])]


def register(instance, resource, folder):
    """The folder's documents in the object store and as partitions (keys as the sensor makes them)."""
    keys, _ = add_documents(instance, [(r.document_id, r.filename) for r in resource.objects().put_files(sorted(folder.iterdir()))])
    return keys


def run(instance, resource, keys, models):
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    chunk = dg.materialize(EVERYTHING, selection=PARTITIONED + [OCR_ASSET_KEYS[m] for m in models], instance=instance,
                           resources={"docproc": resource}, tags=tags)
    tail = dg.materialize(EVERYTHING, selection=TAIL, instance=instance, resources={"docproc": resource})
    assert chunk.success and tail.success
    return chunk, tail


def partition_metadata(instance, asset: str, partition: str) -> dict:
    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def metadata(result, key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)][:1]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.slow
def test_materialize_writes_one_row_per_document_and_model(resource, corpus):
    instance = dg.DagsterInstance.ephemeral()
    keys = register(instance, resource, corpus)
    assert len(keys) == 5  # the copy of memo.pdf is the same document
    chunk, tail = run(instance, resource, keys, ["qwen2.5-vl-72b"])
    store = resource.store()

    docs = {r["filename"]: r for r in store.rows("SELECT * FROM documents")}
    assert set(docs) == {"memo.pdf", "letter.pdf", "scan.pdf", "mixed.pdf", "broken.pdf"}
    assert (docs["memo.pdf"]["track"], docs["memo.pdf"]["page_count"]) == ("direct", 2)
    assert (docs["scan.pdf"]["track"], docs["mixed.pdf"]["track"]) == ("ocr", "mixed")
    assert docs["broken.pdf"]["status"] == "error" and docs["broken.pdf"]["error"]
    pages = store.query("SELECT track FROM pages WHERE document_id = ? ORDER BY page_number", [docs["mixed.pdf"]["document_id"]])[1]
    assert pages == [("direct",), ("ocr",)]

    rows = {(r["filename"], r["model"]): r for r in store.rows(
        "SELECT d.filename, e.* FROM extractions e JOIN documents d USING (document_id)")}
    assert len(rows) == 10
    assert "Alpha memo about invoices." in rows["memo.pdf", "direct"]["extracted_text"]
    assert "Second page" in rows["memo.pdf", "direct"]["extracted_text"]
    assert rows["memo.pdf", "direct"]["pages"] == 2 and rows["memo.pdf", "direct"]["success"]
    assert rows["scan.pdf", "direct"]["pages"] == 0
    assert "Page 1." in rows["mixed.pdf", "direct"]["extracted_text"]
    assert not rows["broken.pdf", "direct"]["success"]
    # the 72B model needs more than the (zero) GPU budget: error rows for documents with OCR pages, no failed run
    big = rows["scan.pdf", "qwen2.5-vl-72b"]
    assert not big["success"] and "GPU budget" in big["error"] and big["pages"] == 1
    assert rows["memo.pdf", "qwen2.5-vl-72b"]["success"] and rows["memo.pdf", "qwen2.5-vl-72b"]["pages"] == 0

    assert (resource.outputs() / "direct" / f"{docs['memo.pdf']['document_id']}.json").is_file()
    assert "memo.pdf" in Path(resource.report_path).read_text()
    assert {r[0] for r in store.query("SELECT model FROM model_metrics")[1]} == {"direct", "qwen2.5-vl-72b"}
    checks = {e.check_name: e.passed for e in tail.get_asset_check_evaluations()}
    assert checks == {"every_document_routed": True, "no_missing_extraction_rows": True}
    assert instance.get_materialized_partitions(dg.AssetKey("direct_extractions")) == set(keys)
    # each partition's own page in the UI: its file, where it came from, its track, pages and error
    memo = next(k for k in keys if k.startswith("memo.pdf-"))
    assert memo.endswith(docs["memo.pdf"]["document_id"])
    routed = partition_metadata(instance, "document_routes", memo)
    assert (routed["file_name"], routed["track"], routed["page_count"]) == ("memo.pdf", "direct", 2)
    assert routed["source_path"].endswith("memo.pdf") and "error" not in routed
    broken = partition_metadata(instance, "document_routes", next(k for k in keys if k.startswith("broken.pdf-")))
    assert broken["track"] == "error" and broken["error"] == docs["broken.pdf"]["error"]
    assert partition_metadata(instance, "raw_documents", memo)["file_name"] == "memo.pdf"
    read = partition_metadata(instance, "direct_extractions", memo)
    assert (read["file_name"], read["success"], read["page_count"], read["words_read"]) == ("memo.pdf", True, 2, 9)

    # rematerializing replaces rows, computes nothing again
    again, _ = run(instance, resource, keys, ["qwen2.5-vl-72b"])
    assert metadata(again, "direct_extractions")["computed"] == 0
    assert metadata(again, "direct_extractions")["cached"] == 5  # the broken document too: its row cannot change
    assert metadata(again, "document_routes")["cached"] == 5
    assert store.query("SELECT count(*), count(DISTINCT (document_id, model)) FROM extractions")[1] == [(10, 10)]


@pytest.mark.slow
def test_available_cpu_engine_reads_scanned_pages(resource, corpus):
    models = stages.default_models()
    if not models:
        pytest.skip("no CPU OCR engine available yet")
    instance = dg.DagsterInstance.ephemeral()
    keys = register(instance, resource, corpus)
    objects = resource.objects()
    scan = next(i for i in document_ids(keys) if objects.info(i).filename == "scan.pdf")
    resource.store().stage("ground_truth", [{"document_id": scan, "page_number": 1, "reference": "Scanned words only.", "source": "sidecar"}])
    chunk, _ = run(instance, resource, keys, models[:1])
    # what was read, in the materialization: words, confidence, CER against the ground truth, first lines, page views
    read = metadata(chunk, asset_name(models[0]))
    assert read["pages"] == 2 and read["words"] >= 4 and 0.5 < read["mean_confidence"] <= 1.0
    assert read["pages_scored"] == 1 and read["cer"] < 0.2
    assert "| scan.pdf | 1 |" in read["read"] and "Scanned words only" in read["read"] and f"#doc-{scan[:12]}" in read["read"]
    assert read["report"].endswith(".html")
    direct = metadata(chunk, "direct_extractions")
    assert "Alpha memo about invoices." in direct["read"] and direct["words"] > 10 and direct["mean_confidence"] == 1.0
    (text,) = resource.store().query(
        "SELECT e.extracted_text FROM extractions e JOIN documents d USING (document_id) WHERE d.filename = 'scan.pdf' AND e.model = ?",
        [models[0]])[1][0:1]
    assert "Scanned" in text[0]


def test_one_asset_per_registry_model_with_its_config_version():
    from docproc_assets.core.engines.registry import MODELS

    graph = DEFS.resolve_asset_graph()
    versions = {}
    for name, config in MODELS.items():
        node = graph.get(dg.AssetKey(asset_name(name)))
        assert node.partitions_def.name == "documents"
        assert node.code_version == config.version and config.version.startswith(f"{name}@")
        versions[name] = node.code_version
    assert len(set(versions.values())) == len(MODELS)  # each model's own settings, so one change marks one asset stale
    changed = registry.get_config("tesseract", max_batch_size=7).version
    assert changed != versions["tesseract"] and changed not in versions.values()


def test_model_overrides_in_the_resource_reach_the_rows(resource, corpus, monkeypatch):
    """`model_overrides` set on the docproc resource (run config in the UI), no environment variable: the
    step's rows carry the overridden model version, so cached rows of the plain config are not reused."""
    from docproc_assets.core.engines.registry import OVERRIDES_ENV

    monkeypatch.delenv(OVERRIDES_ENV, raising=False)
    tuned = resource.with_changes(model_overrides='{"tesseract": {"max_batch_size": 3}}')
    instance = dg.DagsterInstance.ephemeral()
    keys = register(instance, tuned, corpus)
    run(instance, tuned, keys, ["tesseract"])
    versions = {v for (v,) in tuned.store().query("SELECT DISTINCT model_version FROM extractions WHERE model = 'tesseract'")[1]}
    monkeypatch.delenv(OVERRIDES_ENV, raising=False)  # the step set it for its workers; judge against the plain config
    assert versions == {registry.get_config("tesseract", max_batch_size=3).version}
    assert versions != {registry.get_config("tesseract").version}


def test_partition_pages_cost_the_instance_one_read_of_its_partitions_per_step(resource, tmp_path, monkeypatch):
    """Per-partition metadata must not read every dynamic partition key once per document: that is a query
    as long as the instance per document, on every step of every chunk."""
    from docproc_tests.documents import digital_pdf

    reads = []
    original = dg.DagsterInstance.get_dynamic_partitions
    monkeypatch.setattr(dg.DagsterInstance, "get_dynamic_partitions",
                        lambda self, *args, **kwargs: reads.append(1) or original(self, *args, **kwargs))
    instance = dg.DagsterInstance.ephemeral()
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(6):
        digital_pdf(folder / f"doc-{i}.pdf", [f"Document number {i} of six."])
    keys = register(instance, resource, folder)
    counts = []
    for chunk in (keys[:2], keys[2:]):
        reads.clear()
        result = dg.materialize(EVERYTHING, selection=PARTITIONED[:1], instance=instance, resources={"docproc": resource},
                                tags={"dagster/asset_partition_range_start": chunk[0], "dagster/asset_partition_range_end": chunk[-1]})
        assert result.success
        counts.append(len(reads))
    assert counts[0] == counts[1], counts  # 2 documents or 4: the same reads
    for i, key in enumerate(keys):  # and every partition's page still names its own file
        assert partition_metadata(instance, "raw_documents", key)["file_name"] == key.split(".pdf-")[0] + ".pdf"
    assert "get_dynamic_partitions" not in vars(instance)  # the instance's own methods again
