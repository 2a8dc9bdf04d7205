from docproc_assets.core.document import Track, UnifiedDocument, derive_track, json_schema
from docproc_assets.core.pipeline import extract
from docproc_tests import documents as D


def test_json_round_trip_is_lossless(tmp_path):
    doc = extract(D.structured_pdf(tmp_path / "s.pdf"))
    again = UnifiedDocument.from_json(doc.to_json())
    assert again == doc
    assert again.to_json() == doc.to_json()


def test_document_id_is_the_sha256_of_the_bytes(tmp_path):
    a = D.digital_pdf(tmp_path / "a.pdf")
    b = tmp_path / "copy-with-another-name.pdf"
    b.write_bytes(a.read_bytes())
    import hashlib

    assert extract(a).document_id == extract(b).document_id == hashlib.sha256(a.read_bytes()).hexdigest()


def test_text_and_markdown_follow_reading_order(tmp_path):
    doc = extract(D.structured_pdf(tmp_path / "s.pdf"))
    md = doc.markdown()
    assert md.index("# Annual Results") < md.index("The quick brown fox") < md.index("- First point")
    assert "| Region | Sales | Growth |" in md and "| North | 120 | 5% |" in md
    assert "*Figure 1: Sales by region*" in md
    assert "ACME Quarterly Report" not in md  # running header: furniture, not prose
    assert doc.text().split("\f")[1].startswith("ACME Quarterly Report")  # but kept in the plain text


def test_derive_track():
    assert derive_track([Track.DIRECT, Track.DIRECT]) == Track.DIRECT
    assert derive_track([Track.OCR]) == Track.OCR
    assert derive_track([Track.DIRECT, Track.OCR]) == Track.MIXED
    assert derive_track([]) is None


def test_json_schema_names_the_model():
    schema = json_schema()
    assert schema["title"] == "UnifiedDocument"
    assert {"Page", "DocumentElement", "BoundingBox", "StyleInfo", "PageRoute"} <= set(schema["$defs"])


def test_committed_schema_matches_the_model():
    import json
    from pathlib import Path

    committed = json.loads((Path(__file__).parents[2] / "docs" / "unified-document.schema.json").read_text())
    assert committed == json_schema(), "run `docproc schema > docs/unified-document.schema.json`"
