import shutil

import pytest

from docproc_assets.core.document import ElementType, Track
from docproc_assets.core.pipeline import Options, detect, extract, prepare_office
from docproc_tests import documents as D

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed (make install adds it)"),
]


def test_docx_is_converted_and_extracted_directly(tmp_path):
    doc = extract(D.docx(tmp_path / "report.docx"))
    assert doc.processing_track == Track.DIRECT and doc.metadata.converted_from.endswith("wordprocessingml.document")
    kinds = {e.type for e in doc.pages[0].elements}
    assert ElementType.HEADING in kinds
    heading = next(e for e in doc.pages[0].elements if e.type == ElementType.HEADING)
    assert heading.content == "Quarterly Summary"
    assert "lazy dog" in doc.text()
    table = next(e for e in doc.pages[0].elements if e.type == ElementType.TABLE)
    assert {c.content for c in table.cells} == {"Name", "Value", "Alpha", "42"}


def test_conversion_is_batched_and_cached(tmp_path):
    paths = [D.docx(tmp_path / "a.docx")]
    options = Options(cache_dir=tmp_path / "cache")
    prepare_office(paths, options)
    (pdf,) = options.converted.values()
    assert pdf.parent == tmp_path / "cache" and pdf.stat().st_size > 0
    # a second run finds the cached PDF without starting LibreOffice
    again = Options(cache_dir=tmp_path / "cache")
    prepare_office(paths, again)
    assert again.converted == options.converted
    assert detect(paths[0], again).track == Track.DIRECT
