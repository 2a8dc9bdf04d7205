"""Instance storage in a real PostgreSQL server (dagster-postgres), started by the test from the Debian package."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from docproc_tests.defs.test_assets import register, run

PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) if (p / "initdb").exists()), None)


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else []


@pytest.fixture
def postgres(tmp_path):
    if PG_BIN is None:
        pytest.skip("PostgreSQL server not installed (Debian package postgresql)")
    pytest.importorskip("dagster_postgres")
    root = Path(tempfile.mkdtemp(prefix="docproc-pg-"))  # pytest's tmp folders are private to root
    prefix = _as_postgres_user()
    if prefix:
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {root} -h 127.0.0.1",
                    "-l", str(root / "log"), "-w", "start"], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"],
                       check=True, capture_output=True, timeout=30)
        yield port
    finally:
        subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_runs_and_partitions_in_postgres(postgres, tmp_path, resource, corpus):
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides={
        "storage": {"postgres": {"postgres_db": {"hostname": "127.0.0.1", "username": "dagster", "password": "",
                                                 "db_name": "dagster", "port": postgres, "scheme": "postgresql+psycopg2"}}}}) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        keys = register(instance, resource, corpus)
        run(instance, resource, keys, [])
        assert instance.get_materialized_partitions(dg.AssetKey("direct_extractions")) == set(keys)
        assert len(instance.get_runs()) == 2
        for key in ("raw_documents", "document_routes", "direct_extractions"):  # the run's events are in Postgres
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == set(keys), key
        assert instance.get_latest_materialization_event(dg.AssetKey("model_metrics")) is not None
    assert resource.store().query("SELECT count(*) FROM extractions WHERE model = 'direct'")[1] == [(5,)]
