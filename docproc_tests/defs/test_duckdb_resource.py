"""The results database as a dagster-duckdb resource: configured at launch, reached by every asset."""

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from docproc_assets.core.store import Store
from docproc_assets.defs.resources import DocprocResource, resource_connections
from docproc_tests.defs.test_assets import EVERYTHING, register
from docproc_tests.documents import digital_pdf


def test_definitions_carry_the_database_as_a_duckdb_resource():
    from docproc_assets.definitions import defs

    resources = defs().resources
    assert isinstance(resources["docproc"], DocprocResource)
    assert resources["duckdb"].resource_cls is DuckDBResource  # configured at launch, shown in the Resources tab
    assert resources["docproc"].database is resources["duckdb"]  # one database, seen through both keys


def test_launchpad_config_points_the_assets_at_another_database(tmp_path, monkeypatch):
    """The definitions' own resources, with `resources.duckdb.config` set at launch as in the
    launchpad: the rows land in that database, not in the default one."""
    from docproc_assets.definitions import defs

    data = tmp_path / "data"
    monkeypatch.setenv("DOCPROC_DATA", str(data))
    monkeypatch.setenv("DOCPROC_DB", str(data / "default.duckdb"))
    folder = tmp_path / "in"
    folder.mkdir()
    digital_pdf(folder / "memo.pdf", ["Quarterly memo about invoices."])
    opened = []
    get_connection = DuckDBResource.get_connection
    monkeypatch.setattr(DuckDBResource, "get_connection", lambda self: opened.append(self.database) or get_connection(self))
    resources = defs().resources
    instance = dg.DagsterInstance.ephemeral()
    (key,) = register(instance, resources["docproc"], folder)
    other = tmp_path / "elsewhere" / "results.duckdb"
    other.parent.mkdir()
    config = {"resources": {"duckdb": {"config": {"database": str(other), "connection_config": {"threads": 1}}}}}
    result = dg.materialize(EVERYTHING, selection=[dg.AssetKey("raw_documents"), dg.AssetKey("document_routes"),
                                                   dg.AssetKey("direct_extractions")],
                            instance=instance, resources=resources, run_config=config, partition_key=key)
    assert result.success
    with duckdb.connect(str(other), read_only=True) as con:
        rows = con.execute("SELECT d.filename, e.model, e.extracted_text FROM extractions e JOIN documents d USING (document_id)").fetchall()
    assert rows == [("memo.pdf", "direct", "Quarterly memo about invoices.")]
    assert not (data / "default.duckdb").exists()
    assert set(opened) == {str(other)}  # every connection the steps opened came from the resource


def test_store_reads_and_merges_through_the_resource(tmp_path):
    database = DuckDBResource(database=str(tmp_path / "r.duckdb"), connection_config={"memory_limit": "256MiB"})
    store = Store(tmp_path / "r.duckdb", connect=resource_connections(database))
    store.write("documents", [{"document_id": "a" * 64, "filename": "a.pdf", "status": "ok"}])
    assert store.query("SELECT filename FROM documents")[1] == [("a.pdf",)]
    with store.reader() as con:  # readers open it read-only, with the resource's settings
        assert con.execute("SELECT current_setting('access_mode'), current_setting('memory_limit')").fetchone() == (
            "read_only", "256.0 MiB")
