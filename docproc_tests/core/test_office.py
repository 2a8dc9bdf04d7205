import json
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


FODS = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
  xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
  office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
 <office:body><office:spreadsheet><table:table table:name="Invoices">
  <table:table-row><table:table-cell><text:p>Item</text:p></table:table-cell><table:table-cell><text:p>Amount</text:p></table:table-cell></table:table-row>
  <table:table-row><table:table-cell><text:p>Widgets</text:p></table:table-cell><table:table-cell><text:p>1234.56</text:p></table:table-cell></table:table-row>
 </table:table></office:spreadsheet></office:body></office:document>"""

FODP = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
  xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
  xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
  office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.presentation">
 <office:body><office:presentation><draw:page draw:name="One">
  <draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>Quarterly slide deck</text:p></draw:text-box></draw:frame>
 </draw:page></office:presentation></office:body></office:document>"""


def _soffice_convert(src: Path, fmt: str, outdir: Path) -> Path:
    import subprocess

    profile = outdir / f".profile-{fmt}"
    subprocess.run([shutil.which("soffice"), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", fmt,
                    "--outdir", str(outdir), str(src)], capture_output=True, timeout=180, check=True)
    return outdir / f"{src.stem}.{fmt}"


@pytest.fixture(scope="module")
def office_zoo(tmp_path_factory) -> dict[str, Path]:
    """Every office type users send: OOXML, ODF, and the OLE2 formats (.doc, .xls, .ppt), made by LibreOffice
    from sources written here; an encrypted .docx (msoffcrypto-tool, the format Word writes)."""
    src, out = tmp_path_factory.mktemp("office-src"), tmp_path_factory.mktemp("office")
    letter = D.docx(src / "letter.docx")
    (src / "sheet.fods").write_text(FODS)
    (src / "deck.fodp").write_text(FODP)
    zoo = {"docx": shutil.copy(letter, out / "letter.docx")}
    for source, fmt in ((letter, "doc"), (src / "sheet.fods", "xlsx"), (src / "sheet.fods", "xls"),
                        (src / "deck.fodp", "pptx"), (src / "deck.fodp", "ppt")):
        zoo[fmt] = Path(shutil.move(_soffice_convert(source, fmt, src), out / f"{source.stem}.{fmt}"))
    from msoffcrypto.format.ooxml import OOXMLFile

    with letter.open("rb") as plain, (out / "locked.docx").open("wb") as locked:
        OOXMLFile(plain).encrypt("secret", locked)
    zoo["encrypted"] = out / "locked.docx"
    return zoo


def test_every_office_type_in_one_libreoffice_run(office_zoo, tmp_path, monkeypatch):
    """detect over .docx .doc .xlsx .xls .pptx .ppt and an encrypted .docx: six converted in one LibreOffice
    run, each read directly with its own text; the encrypted one asks for its password."""
    from typer.testing import CliRunner

    from docproc_assets import cli

    runs = _count_soffice_runs(monkeypatch)
    monkeypatch.setenv("DOCPROC_CACHE", str(tmp_path / "cache"))
    files = [office_zoo[k] for k in ("docx", "doc", "xlsx", "xls", "pptx", "ppt", "encrypted")]
    result = CliRunner().invoke(cli.app, ["detect", "--json", *map(str, files)])
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).suffix + ("!" if "locked" in r["path"] else ""): r for r in map(json.loads, result.stdout.splitlines())}
    assert runs == [6]
    mimes = {k: r["mime"] for k, r in rows.items()}
    assert mimes == {".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     ".doc": "application/msword", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     ".xls": "application/vnd.ms-excel", ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                     ".ppt": "application/vnd.ms-powerpoint", ".docx!": None}
    assert all(rows[k]["track"] == "direct" for k in mimes if k != ".docx!")
    assert (rows[".docx!"]["error_kind"], rows[".docx!"]["error"]) == (
        "password", "password-protected office document (encrypted OLE2 container)")
    texts = {k: extract(office_zoo[k], Options(cache_dir=tmp_path / "cache" / "office-pdf")).text() for k in ("doc", "xls", "xlsx", "ppt", "pptx")}
    assert "lazy dog" in texts["doc"] and "Quarterly Summary" in texts["doc"]
    assert all("Widgets" in texts[k] and "1234.56" in texts[k] for k in ("xls", "xlsx"))
    assert all("Quarterly slide deck" in texts[k] for k in ("ppt", "pptx"))
    assert runs == [6]  # extract found every PDF in the cache


def test_failed_conversion_is_that_documents_error(tmp_path):
    """A .docx LibreOffice cannot load though its zip is sound (fuzz seed 1, mutant 98: a bad compression
    method field): a conversion error for it; the good office file beside it converts."""
    from docproc_tests.hardening.test_fuzz import rebuilt

    bad = rebuilt(tmp_path, 1, 98)
    good = D.docx(tmp_path / "good.docx")
    options = Options(cache_dir=tmp_path / "cache")
    with IsolatedWorker(timeout=120) as worker:
        prepare_office([bad, good], options, worker)
        failed, fine = worker.run(detect, bad, options), worker.run(detect, good, options)
    assert failed.error_kind == "conversion"
    assert failed.error == "LibreOffice could not convert the file (Error: source file could not be loaded)"
    assert fine.track == Track.DIRECT
