"""The dataset source asset and its sensor, on a local DocumentVQA-format Parquet set."""

import dagster as dg

from docproc_assets.defs.intake.dataset import DatasetSource, dataset_documents, dataset_sensor
from docproc_assets.defs.intake.partitions import documents
from docproc_tests.docvqa import docvqa_parquet


def test_dataset_documents_registers_partitions_and_the_sensor_requests_runs(tmp_path, resource):
    source = docvqa_parquet(tmp_path / "set", 5)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([dataset_documents], instance=instance, resources={"docproc": resource},
                            run_config={"ops": {"dataset_documents": {"config": DatasetSource(name=str(source), sample_size=5).model_dump()}}})
    assert result.success
    keys = instance.get_dynamic_partitions(documents.name)
    assert len(keys) == 3
    assert resource.store().query("SELECT count(*) FROM answers")[1] == [(5,)]
    with dg.build_sensor_context(instance=instance, resources={"docproc": resource.with_changes(sensor_models="tesseract")}) as context:
        result = dataset_sensor(context)
    assert len(result.run_requests) == 1 and result.cursor
    assert dg.AssetKey("ocr_tesseract") in result.run_requests[0].asset_selection
    with dg.build_sensor_context(instance=instance, cursor=result.cursor, resources={"docproc": resource}) as context:
        again = dataset_sensor(context)
    assert not again.run_requests
