"""Instance storage in a real PostgreSQL server (dagster-postgres), started by the test from the Debian package."""

import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from docproc_assets.cluster import Postgres, postgres_bin
from docproc_tests.defs.test_assets import register, run


@pytest.fixture
def postgres():
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server not installed (Debian package postgresql)")
    pytest.importorskip("dagster_postgres")
    root = Path(tempfile.mkdtemp(prefix="docproc-pg-"))  # pytest's tmp folders are private to root
    server = Postgres(root / "server").start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_runs_and_partitions_in_postgres(postgres, tmp_path, resource, corpus):
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides={"storage": postgres.storage()}) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        keys = register(instance, resource, corpus)
        run(instance, resource, keys, [])
        assert instance.get_materialized_partitions(dg.AssetKey("direct_extractions")) == set(keys)
        assert len(instance.get_runs()) == 2
        for key in ("raw_documents", "document_routes", "direct_extractions"):  # the run's events are in Postgres
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == set(keys), key
        assert instance.get_latest_materialization_event(dg.AssetKey("model_metrics")) is not None
    assert resource.store().query("SELECT count(*) FROM extractions WHERE model = 'direct'")[1] == [(5,)]
