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


@pytest.mark.slow
def test_the_cluster_instance_keeps_a_few_connections_for_every_query(postgres, tmp_path, resource, corpus):
    """The cluster's dagster.yaml (instance_storage.py): one small pool per process, and the instance ref
    that Celery workers rebuild their instance from names the pooled storages too."""
    import sqlalchemy

    from docproc_assets import instance_storage

    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=instance_storage.instance_config(postgres.database())) as instance:
        assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
        ref = instance.get_ref()
        assert {ref.run_storage_data.class_name, ref.event_storage_data.class_name, ref.schedule_storage_data.class_name} == {
            "PooledPostgresRunStorage", "PooledPostgresEventLogStorage", "PooledPostgresScheduleStorage"}
        engine = instance.event_log_storage._engine
        assert engine is instance.run_storage._engine is dg.DagsterInstance.from_ref(ref).event_log_storage._engine
        opened = []
        sqlalchemy.event.listen(engine, "connect", lambda *_: opened.append(1))
        keys = register(instance, resource, corpus)
        chunk, _ = run(instance, resource, keys, [])
        assert instance.get_materialized_partitions(dg.AssetKey("direct_extractions")) == set(keys)
        events = len(instance.all_logs(chunk.run_id))
        assert events > 50 and len(opened) <= instance_storage.POOL_SIZE + instance_storage.MAX_OVERFLOW, (events, len(opened))
