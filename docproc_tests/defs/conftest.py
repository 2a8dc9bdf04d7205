import pytest
from dagster_duckdb import DuckDBResource

from docproc_assets.defs.resources import DocprocResource
from docproc_tests.documents import digital_pdf, mixed_pdf, scanned_pdf


@pytest.fixture
def resource(tmp_path) -> DocprocResource:
    data = tmp_path / "data"
    return DocprocResource(database=DuckDBResource(database=str(data / "docproc.duckdb")), data_dir=str(data), report_path=str(data / "report.md"),
                           inbox_dir=str(tmp_path / "inbox"), inbox_settle_seconds=0.0)


@pytest.fixture
def corpus(tmp_path):
    """Generated documents: digital, scanned, mixed, a corrupt one, and a duplicate under another name."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    digital_pdf(folder / "memo.pdf", ["Alpha memo about invoices.", "Second page of the memo."])
    digital_pdf(folder / "letter.pdf", ["Dear reader, this letter is digital."])
    scanned_pdf(folder / "scan.pdf", ["Scanned words only."])
    mixed_pdf(folder / "mixed.pdf", "ds")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF")
    (folder / "zz-copy-of-memo.pdf").write_bytes((folder / "memo.pdf").read_bytes())
    return folder
