"""Scoring rows: sidecar and synthetic ground truth in, page_metrics / answer_metrics / agreement out."""

import json

from docproc_assets.core import evaluation
from docproc_assets.core.intake import ObjectStore
from docproc_assets.core.store import Store
from docproc_tests import documents as D


def test_score_page_error_types():
    assert evaluation.score_page("Total due: 1,250", "Total due: 1,250")["error_type"] == evaluation.EXACT
    assert evaluation.score_page("Total due: 1,250", "total due 1 250")["error_type"] == evaluation.CASE_PUNCT
    assert evaluation.score_page("Total due: 1,250", "")["error_type"] == evaluation.EMPTY
    assert evaluation.score_page("one two three four", "three four one two")["error_type"] == evaluation.ORDER
    assert evaluation.score_page("one two three four five six", "one two")["error_type"] == evaluation.MISSING
    assert evaluation.score_page("tiny", "tiny plus a great deal of extra text")["error_type"] == evaluation.EXTRA
    row = evaluation.score_page("hello world", "hallo world")
    assert row["error_type"] == evaluation.MISREAD and row["substitutions"] == 1 and 0 < row["cer"] < 0.2


def test_sidecar_and_synthetic_ground_truth(tmp_path):
    objects = ObjectStore(tmp_path / "objects")
    scan = D.png(tmp_path / "in" / "scan.png") if (tmp_path / "in").mkdir() is None else None
    (tmp_path / "in" / "scan.gt.txt").write_text("page one\fpage two")
    reg = objects.put_file(scan)
    assert [r["reference"] for r in evaluation.registered_sidecars(objects, [reg.document_id])] == ["page one", "page two"]

    pdf = objects.put_file(D.mixed_pdf(tmp_path / "in" / "m.pdf", "dsd"))
    synthesis = evaluation.Synthesis(dpis=(72,), degradations=evaluation.Synthesis.parse_degradations("clean,scan"), max_pages=None)
    made, rows = evaluation.synthesize(objects, [pdf.document_id, reg.document_id], synthesis)
    assert [(r["parent_page"], r["degradation"]) for r in rows] == [(1, "clean"), (1, "rot0.6-blur0.7-noise8-jpeg65"),
                                                                    (3, "clean"), (3, "rot0.6-blur0.7-noise8-jpeg65")]
    assert all(objects.path(m.document_id).suffix == ".png" for m in made)
    assert objects.info(made[0].document_id).filename == "m.p1.72dpi.clean.png"
    assert "lazy dog" in rows[0]["reference"] and rows[0]["source"] == "synthetic"
    # a synthetic document is never synthesized again
    assert evaluation.synthesize(objects, [m.document_id for m in made], synthesis) == ([], [])


def _extraction(doc, model, text, pages=1, success=True):
    return {"document_id": doc, "model": model, "model_version": f"{model}@1", "track": "ocr", "extracted_text": text,
            "success": success, "token_count": len(text.split()), "pages": pages, "seconds": 0.5}


def test_evaluate_fills_scores_and_model_metrics(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.stage("documents", [{"document_id": d, "filename": f"{d}.png", "track": "ocr"} for d in ("a", "b", "q")])
    store.stage("pages", [{"document_id": d, "page_number": 1, "track": "ocr"} for d in ("a", "b", "q")])
    store.stage("ground_truth", [{"document_id": "a", "page_number": 1, "reference": "The total is 42 EUR", "source": "sidecar"},
                                 {"document_id": "b", "page_number": 1, "reference": "Hello world", "source": "synthetic",
                                  "dpi": 150, "degradation": "clean"}])
    store.stage("answers", [{"document_id": "q", "question_id": "1", "question": "Total?", "answers": json.dumps(["42 EUR"])},
                            {"document_id": "q", "question_id": "2", "question": "Who?", "answers": json.dumps(["Jane"])}])
    store.stage("extractions", [
        _extraction("a", "good", "The total is 42 EUR"), _extraction("a", "bad", "Tho tota1 is 4Z"),
        _extraction("b", "good", "Hello world"), _extraction("b", "bad", "", success=False),
        _extraction("q", "good", "Total: 42 EUR."), _extraction("q", "bad", "Total 4Z"),
    ])
    scores = evaluation.evaluate(store)
    assert len(scores.page_metrics) == 3 and len(scores.answer_metrics) == 4
    assert {(a["document_id"], a["model_a"], a["model_b"]) for a in scores.agreement} == {("a", "bad", "good"), ("q", "bad", "good")}
    assert evaluation.evaluate(store).page_metrics == []  # scored once per model version
    metrics = {m["model"]: m for m in store.refresh_metrics()}
    assert metrics["good"]["mean_cer"] == 0 and metrics["good"]["pages_scored"] == 2 and metrics["good"]["answer_recall"] == 0.5
    assert metrics["bad"]["mean_cer"] > 0.2 and metrics["bad"]["answer_recall"] == 0 and metrics["bad"]["success_rate"] < 1
    assert 0 < metrics["good"]["mean_agreement"] < 1
