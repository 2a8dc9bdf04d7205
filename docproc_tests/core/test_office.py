import shutil
from pathlib import Path

import pytest

from docproc_assets.core.document import ElementType, Track
from docproc_assets.core.isolation import IsolatedWorker
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


def _count_soffice_runs(monkeypatch) -> list[int]:
    """Patch office's Popen to count LibreOffice runs and the files each was given."""
    from docproc_assets.core import office

    runs: list[int] = []
    real = office.subprocess.Popen

    def counted(cmd, *args, **kwargs):
        runs.append(sum(1 for part in cmd if str(part).startswith("/") and "/in/" in str(part)))
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(office.subprocess, "Popen", counted)
    return runs


def test_conversion_is_batched_and_cached(tmp_path, monkeypatch):
    samples = Path(__file__).resolve().parents[2] / "samples"
    paths = [D.docx(tmp_path / "a.docx"), samples / "tesseract-segmodeimg.odt", samples / "markitdown-with-comment.docx",
             D.digital_pdf(tmp_path / "not-office.pdf")]
    runs = _count_soffice_runs(monkeypatch)
    options = Options(cache_dir=tmp_path / "cache")
    with IsolatedWorker(timeout=60) as worker:
        prepare_office(paths, options, worker)
    assert runs == [3]  # the three office files in one LibreOffice run, the PDF not at all
    assert len(options.converted) == 3
    assert all(pdf.parent == tmp_path / "cache" and pdf.stat().st_size > 0 for pdf in options.converted.values())
    # a second run finds the cached PDFs without starting LibreOffice
    again = Options(cache_dir=tmp_path / "cache")
    with IsolatedWorker(timeout=60) as worker:
        prepare_office(paths, again, worker)
    assert runs == [3] and again.converted == options.converted
    detection = detect(paths[1], again)
    assert detection.track == Track.DIRECT and runs == [3]


def test_a_hanging_batch_keeps_what_it_converted_and_retries_the_rest_alone(tmp_path, monkeypatch):
    """LibreOffice stopped by the timeout: each file left is converted on its own, not failed with the batch."""
    from docproc_assets.core import office

    paths = [D.docx(tmp_path / "a.docx"), Path(__file__).resolve().parents[2] / "samples" / "tesseract-segmodeimg.odt"]
    mime = {extension: mime for mime, extension in office.OFFICE_EXTENSIONS.items()}
    items = [(p, f"id{i}", mime[p.suffix]) for i, p in enumerate(paths)]
    runs = _count_soffice_runs(monkeypatch)
    first = True
    real_once = office._soffice_once

    def hang_once(todo, cache_dir, timeout):
        nonlocal first
        if first:  # the batch "hangs": as soffice killed by the timeout
            first = False
            return {}, office.DocumentTimeout("LibreOffice conversion timed out after 1 s")
        return real_once(todo, cache_dir, timeout)

    monkeypatch.setattr(office, "_soffice_once", hang_once)
    results = office.convert_many(items, tmp_path / "cache", timeout=60)
    assert runs == [1, 1]  # each file alone after the batch timed out
    assert all(isinstance(results[f"id{i}"], Path) for i in range(2)), results
