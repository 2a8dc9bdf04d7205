"""Every script read: per-page script detection and the `auto` engine, on renders of pages the tests set
in Cyrillic, Greek and Latin (real engines, real Tesseract language packs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from docproc_assets.core import metrics, scripts
from docproc_assets.core.engines import auto
from docproc_assets.core.engines.registry import check_availability, get_config
from docproc_assets.core.pipeline import Options, detect, extract_with_engine, read_script
from docproc_tests import documents as D

DOCPROC = str(Path(sys.executable).with_name("docproc"))


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("scripts")
    russian, greek = D.script_pdf(tmp / "ru.pdf", D.RUSSIAN), D.script_pdf(tmp / "el.pdf", D.GREEK)
    hangul, japanese = D.script_pdf(tmp / "ko.pdf", D.HANGUL), D.script_pdf(tmp / "ja.pdf", D.JAPANESE)
    return {"ru.pdf": russian, "ru": D.render(russian, tmp / "ru.png", 200), "el": D.render(greek, tmp / "el.png", 200),
            "ko": D.render(hangul, tmp / "ko.png", 200), "ja": D.render(japanese, tmp / "ja.png", 200),
            "en": D.render(D.digital_pdf(tmp / "en.pdf", [D.PARAGRAPH * 4]), tmp / "en.png", 200)}


def test_script_of_a_text_layer():
    assert (scripts.from_text(D.RUSSIAN).script, scripts.from_text(D.RUSSIAN).language) == ("Cyrl", "rus")
    assert scripts.from_text("Це українська мова, і їжак").language == "ukr"
    assert scripts.from_text("これは日本語の文書です。漢字とかな").script == "Jpan"
    assert scripts.from_text("这是中文文档的一页内容").script == "Hani"
    assert scripts.from_text("이것은 한국어 문서입니다").script == "Hang"
    assert scripts.from_text(D.GREEK).script == "Grek" and scripts.from_text(D.PARAGRAPH).script == "Latn"
    assert (scripts.from_text(D.ARABIC).script, scripts.from_text(D.ARABIC).language) == ("Arab", "ara")
    assert (scripts.from_text(D.HEBREW).script, scripts.from_text(D.HEBREW).language) == ("Hebr", "heb")
    assert scripts.from_text("ab 12").script is None  # too few letters to tell
    english = "This is the page of the manual that is read by the program and stored in the database."
    german = "Das ist die Seite des Handbuchs, die von dem Programm gelesen und in der Datenbank gespeichert wird."
    french = "Ceci est la page du manuel qui est lue par le programme et enregistrée dans la base de données."
    assert [scripts.from_text(t).language for t in (english, german, french)] == ["eng", "deu", "fra"]
    assert scripts.from_text("Invoice 2024-0117, total 1,284.50 EUR").language is None  # no function words: not told


def test_an_ocr_page_without_a_sure_osd_takes_the_script_of_what_was_read():
    unsure = scripts.from_osd({"script_name": "Cyrillic", "script_conf": 0.4})
    script, language, evidence = read_script(unsure, "This is the page of the manual that is read by the program.")
    assert (script, language) == ("Latn", "eng")
    assert evidence.startswith("image (Tesseract OSD): unsure") and "text read:" in evidence
    sure = scripts.from_osd({"script_name": "Cyrillic", "script_conf": 3.0})
    assert read_script(sure, D.RUSSIAN)[:2] == ("Cyrl", "rus")
    assert read_script(None, "12 34")[0] is None  # nothing to tell it by: no script, said so
    assert "too few to tell" in read_script(None, "12 34")[2]


def test_detect_reports_the_script_of_direct_pages(pages):
    (page,) = detect(pages["ru.pdf"]).pages
    assert (page.track, page.script, page.language) == ("direct", "Cyrl", "rus")


def test_auto_reads_each_page_with_the_engine_for_its_script(pages):
    assert check_availability(get_config("auto")).available
    russian = extract_with_engine(pages["ru"], Options(), "auto").pages[0]
    assert russian.engine == "tesseract (rus+eng)" and (russian.route.script, russian.route.language) == ("Cyrl", "rus")
    assert "Tesseract OSD" in russian.route.script_evidence
    assert metrics.accuracy(" ".join([D.RUSSIAN] * 4), russian.text()).cer_loose < 0.05
    greek = extract_with_engine(pages["el"], Options(), "auto").pages[0]
    assert greek.engine == "tesseract (ell+eng)" and metrics.accuracy(" ".join([D.GREEK] * 4), greek.text()).cer_loose < 0.05
    latin = extract_with_engine(pages["en"], Options(), "auto").pages[0]
    assert latin.engine == "ppocr-v6" and "lazy dog" in latin.text()
    japanese = extract_with_engine(pages["ja"], Options(), "auto").pages[0]
    assert (japanese.engine, japanese.route.script, japanese.route.language) == ("ppocr-v6", "Jpan", "jpn")
    assert metrics.accuracy(" ".join([D.JAPANESE] * 4), japanese.text()).cer_loose < 0.1


@pytest.mark.parametrize(("text", "language", "font", "script", "engine", "limit"), [
    (D.HEBREW, "he", D.DEJAVU, "Hebr", "tesseract (heb+eng)", 0.02), (D.ARABIC, "ar", D.DEJAVU, "Arab", "tesseract (ara+eng)", 0.1),
    (D.HINDI, "hi", D.LOHIT, "Deva", "tesseract (hin+eng)", 0.06)])
def test_hebrew_arabic_and_devanagari_pages_are_read_whole_in_reading_order(tmp_path, text, language, font, script, engine, limit):
    """Renders of shaped pages: the script told by OSD, Tesseract with its pack, every line whole and in
    logical order (the first word first), not only each right-to-left line's first word reversed."""
    if not font.is_file():
        pytest.skip(f"needs {font} (make install)")
    png = D.render(D.shaped_pdf(tmp_path / f"{language}.pdf", text, language, font), tmp_path / f"{language}.png", 200)
    page = extract_with_engine(png, Options(), "auto").pages[0]
    assert (page.engine, page.route.script) == (engine, script)
    read = page.text()
    assert metrics.accuracy(" ".join([text] * 4), read).cer_loose < limit
    assert read.split()[0] == text.split()[0] and len(read.split()) >= 4 * len(text.split()) - 2


def test_a_weak_osd_answer_on_a_small_page_is_asked_again_larger(tmp_path):
    """At 150 dpi OSD called bench/scripts.py's Devanagari page Latin (1.67); twice the size, Devanagari."""
    if not D.LOHIT.is_file():
        pytest.skip(f"needs {D.LOHIT} (make install)")
    from docproc_assets.core.orientation import osd

    _bench_pages(tmp_path, 150)
    result = osd(Image.open(tmp_path / "devanagari.png"))
    assert result["script_name"] == "Devanagari" and result["orient_deg"] == 0


def test_auto_beats_the_default_engine_on_cyrillic(pages):
    """What `auto` is for: PP-OCRv6's recogniser has no Cyrillic letters."""
    default = extract_with_engine(pages["ru"], Options(), "ppocr-v6").text()
    chosen = extract_with_engine(pages["ru"], Options(), "auto").text()
    reference = " ".join([D.RUSSIAN] * 4)
    assert metrics.accuracy(reference, chosen).cer_loose < 0.05 < 0.5 < metrics.accuracy(reference, default).cer_loose


def test_an_engine_that_reads_nothing_hands_the_page_to_the_next(pages):
    """PP-OCRv6 has no Hangul letters and returns nothing: with it first for Hangul, Tesseract reads."""
    overrides = {"options": {"policy": {"Hang": [["ppocr-v6", {}], ["tesseract", {"languages": "kor+eng"}]]}}}
    page = extract_with_engine(pages["ko"], Options(), "auto", overrides).pages[0]
    assert page.engine == "tesseract (kor+eng)" and page.route.script == "Hang"
    assert "프로그램" in page.text().replace(" ", "")


def test_an_unsure_reading_is_put_to_a_vote(pages):
    """Below `vote_below` the script's next engine reads the page too; two readings that agree keep the
    policy's first, and the page says what was compared. A sure reading is read once."""
    voted = extract_with_engine(pages["en"], Options(), "auto", {"options": {"vote_below": 1.01}}).pages[0]
    assert voted.engine == "ppocr-v6" and "lazy dog" in voted.text()
    scores = re.match(r"ppocr-v6 (\d\.\d\d), tesseract \(eng\+deu\+fra\) (\d\.\d\d); ", voted.engine_vote)
    assert scores and all(0.5 < float(score) <= 1.0 for score in scores.groups()), voted.engine_vote
    agreement = float(voted.engine_vote.split("agreement ")[1].split(";")[0])
    assert agreement >= auto.AGREEMENT and voted.engine_vote.endswith("kept ppocr-v6")
    sure = extract_with_engine(pages["en"], Options(), "auto", {"options": {"vote_below": 0.0}}).pages[0]
    assert sure.engine == "ppocr-v6" and sure.engine_vote is None
    russian = extract_with_engine(pages["ru"], Options(), "auto", {"options": {"vote_below": 1.01}}).pages[0]
    assert russian.engine == "tesseract (rus+eng)" and russian.engine_vote is None  # Cyrillic has one engine: nobody to ask


def test_a_vote_between_disagreeing_readings_keeps_the_surer_one(pages):
    """Two real readings of the Russian page: Tesseract with Russian data, PP-OCRv6 (Latin look-alikes)."""
    image = Image.open(pages["ru"]).convert("RGB")
    engine = auto.AutoEngine(get_config("auto"))
    try:
        ppocr, tesseract = engine._read(image, auto._PPOCR), engine._read(image, ("tesseract", {"languages": "rus+eng"}))
        a, b = auto._confidence(ppocr), auto._confidence(tesseract)
        kept = auto.vote(ppocr, tesseract)
        assert "agreement" in kept.vote and float(kept.vote.split("agreement ")[1].split(";")[0]) < auto.AGREEMENT
        assert b > a and kept is tesseract  # measured: 0.97 against 0.92
        assert kept.vote.endswith(f"kept {kept.engine}")
    finally:
        engine.close()


def test_a_vote_keeps_the_reading_in_the_page_script(pages):
    """PP-OCRv6 has no Hangul letters: whatever it scores, its reading of a Hangul page loses a vote that
    knows the page is Hangul."""
    image = Image.open(pages["ko"]).convert("RGB")
    engine = auto.AutoEngine(get_config("auto"))
    try:
        korean, ppocr = engine._read(image, ("tesseract", {"languages": "kor+eng"})), engine._read(image, auto._PPOCR)
        assert auto.vote(ppocr, korean, "Hang") is korean and auto.vote(korean, ppocr, "Hang") is korean
        assert korean.vote.endswith("kept tesseract (kor+eng)")
    finally:
        engine.close()


def test_the_policy_can_be_overridden(pages):
    config = get_config("auto", options={"policy": {"Cyrl": ["tesseract", {"languages": "ukr+eng"}]}})
    assert auto.policy(config)["Cyrl"] == [("tesseract", {"languages": "ukr+eng"})]
    assert auto.policy(config)["Grek"] == auto.POLICY["Grek"] and config.version != get_config("auto").version


def test_batch_with_auto_says_which_engines_it_used(pages, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("ru", "en"):
        (folder / f"{name}.png").write_bytes(pages[name].read_bytes())
    import os

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"),
           "DOCPROC_MODEL_OVERRIDES": json.dumps({"auto": {"options": {"vote_below": 1.01}}})}  # every page unsure: a vote where one can be held
    proc = subprocess.run([DOCPROC, "batch", str(folder), "--models", "auto", "--data-dir", str(tmp_path / "data")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from docproc_assets.core.store import Store

    rows = Store(tmp_path / "data" / "docproc.duckdb").rows(
        "SELECT d.filename, e.engines, e.success FROM extractions e JOIN documents d USING (document_id) WHERE model = 'auto' ORDER BY 1")
    assert [(r["filename"], r["engines"], r["success"]) for r in rows] == [("en.png", "ppocr-v6", True), ("ru.png", "tesseract (rus+eng)", True)]
    store = Store(tmp_path / "data" / "docproc.duckdb")
    # OCR pages have no text layer at routing: the script read with the page fills the pages table in
    scripts_found = store.rows("SELECT d.filename, p.script, p.language FROM pages p JOIN documents d USING (document_id) ORDER BY 1")
    assert [(r["filename"], r["script"], r["language"]) for r in scripts_found] == [("en.png", "Latn", "eng"), ("ru.png", "Cyrl", "rus")]
    reads = store.rows("SELECT d.filename, r.engine, r.script, r.words, r.mean_confidence FROM page_reads r "
                       "JOIN documents d USING (document_id) WHERE model = 'auto' ORDER BY 1")
    assert [(r["filename"], r["engine"], r["script"]) for r in reads] == [("en.png", "ppocr-v6", "Latn"), ("ru.png", "tesseract (rus+eng)", "Cyrl")]
    assert all(r["words"] > 20 and 0.5 < r["mean_confidence"] <= 1.0 for r in reads)
    votes = dict(store.query("SELECT d.filename, r.engine_vote FROM page_reads r JOIN documents d USING (document_id) WHERE model = 'auto'")[1])
    assert votes["en.png"].endswith("kept ppocr-v6") and "tesseract (eng+deu+fra)" in votes["en.png"] and votes["ru.png"] is None
    from docproc_assets.core.report import scripts_table

    assert "<td>auto</td><td>Latn</td><td>ppocr-v6</td><td>1</td><td>0</td><td>1</td><td>0</td>" in scripts_table(store)


def test_engines_lists_what_each_can_read():
    result = subprocess.run([DOCPROC, "engines", "--json"], capture_output=True, text=True, timeout=120)
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {"rus", "ell", "jpn", "chi_sim", "kor", "ara", "heb", "hin", "ukr", "pol"} <= set(rows["tesseract"]["languages"])
    assert "Cyrl: tesseract rus+eng" in rows["auto"]["languages"]


def _bench_pages(folder: Path, dpi: int) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_scripts", Path(__file__).parents[2] / "bench" / "scripts.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.make_pages(folder, dpi=dpi)


def test_a_hangul_page_at_150_dpi_is_read_whole_with_its_spaces(tmp_path):
    """bench/scripts.py's Hangul page at 150 dpi. Tesseract is told the page's resolution (without it,
    70 dpi: the page fell into 62 broken lines, CER 0.52) and each line keeps Tesseract's own spacing
    (joining its TSV words with spaces split the syllables of words: `사 용 자`, CER 0.38)."""
    _bench_pages(tmp_path, 150)
    page = extract_with_engine(tmp_path / "hangul.png", Options(), "auto").pages[0]
    assert page.engine == "tesseract (kor+eng)" and page.route.script == "Hang"
    text = page.text()
    assert "사용자 설명서의" in text and sum(len(e.lines) for e in page.elements) <= 12
    assert metrics.accuracy((tmp_path / "hangul.gt.txt").read_text(), text).cer_loose < 0.05
