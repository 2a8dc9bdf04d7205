"""End to end, as a user would: `dagster dev` (webserver + daemon, as `make ui` starts it), files dropped
into the inbox, the sensor's runs followed over GraphQL until they finish, rows checked in DuckDB, then the
asset graph (and the report, where one exists) opened in headless Chromium; screenshots in test-artifacts/e2e/."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from docproc_assets.cluster import free_port
from docproc_assets.core.store import Store
from docproc_tests import documents as D

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
TICKS_QUERY = """{ sensorOrError(sensorSelector: {repositoryLocationName: "docproc", repositoryName: "__repository__",
  sensorName: "inbox_sensor"}) { ... on Sensor { sensorState { ticks(limit: 100) { status skipReason } } } } }"""
RUNS_QUERY = """{ runsOrError(limit: 50) { ... on Runs { results { runId status tags { key value } } } } }"""

# a fresh instance greets the first visitor with a newsletter dialog over the page
SKIP_ONBOARDING = "[...document.querySelectorAll('button')].filter(b => b.innerText.trim() === 'Skip').forEach(b => b.click())"
DIALOG_OPEN = "document.querySelectorAll('[role=dialog]').length > 0 || document.body.innerText.includes('Join the Dagster community')"


def without_dialogs(chrome, quiet: float = 3.0, timeout: float = 30.0) -> None:
    """Skip the onboarding dialog (it may open seconds after the page) until none has shown for `quiet`
    seconds: a screenshot under a dialog proves nothing."""
    deadline, clear_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if chrome.evaluate(DIALOG_OPEN):
            chrome.evaluate(SKIP_ONBOARDING)
            clear_since = None
        elif clear_since is None:
            clear_since = time.monotonic()
        elif time.monotonic() - clear_since >= quiet:
            return
        time.sleep(0.3)
    raise AssertionError("a dialog stays over the page")


pytestmark = pytest.mark.slow


def graphql(port: int, query: str, timeout: float = 10.0) -> tuple[dict, float]:
    start = time.perf_counter()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.load(response)
    return body, time.perf_counter() - start


def stop(proc: subprocess.Popen) -> None:
    """The whole process group: webserver, daemon, code servers, run workers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what SIGTERM left behind (run workers get their own groups rarely)
    except ProcessLookupError:
        pass
    proc.wait(10)


@contextlib.contextmanager
def dagster_dev(tmp_path: Path, **env_extra: str):
    """`dagster dev` as `make ui` starts it, on a free port, against a fresh DAGSTER_HOME; yields
    (port, data folder, inbox folder) once the webserver answers."""
    home, data, inbox = tmp_path / "home", tmp_path / "data", tmp_path / "inbox"
    home.mkdir()
    inbox.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DOCPROC_DATA": str(data), "DOCPROC_INBOX": str(inbox),
           "DOCPROC_SENSOR_MODELS": "tesseract", "DOCPROC_DOCUMENT_TIMEOUT_S": "120", **env_extra}
    log = (tmp_path / "dagster-dev.log").open("wb")
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.Popen([dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                graphql(port, "{ version }", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the webserver did not answer in 90 s"
                time.sleep(1)
        yield port, data, inbox
    finally:
        stop(proc)
        log.close()


def wait_for_inbox_runs(port: int, tmp_path: Path, done, timeout: float = 150) -> tuple[list[dict], int, float]:
    """Poll the runs until every inbox run finished and done(store) holds; (runs, polls answered while a
    run was going, slowest answer in seconds)."""
    slowest, answered_during_run, runs = 0.0, 0, []
    db = tmp_path / "data" / "docproc.duckdb"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body, seconds = graphql(port, RUNS_QUERY)
        slowest = max(slowest, seconds)
        runs = [r for r in body["data"]["runsOrError"]["results"] if {"key": "docproc/source", "value": "inbox"} in r["tags"]]
        if any(r["status"] not in TERMINAL for r in runs):
            answered_during_run += 1
        if runs and all(r["status"] in TERMINAL for r in runs) and db.exists() and done(Store(db)):
            return runs, answered_during_run, slowest
        time.sleep(1)
    pytest.fail(f"the sensor's runs did not finish in {timeout:.0f} s: {runs}\n" + (tmp_path / "dagster-dev.log").read_text()[-3000:])


def test_make_ui_sensor_runs_and_screenshots(tmp_path):
    browser = pytest.importorskip("docproc_tests.browser")
    if not browser.chromium_path():
        pytest.skip("no chromium here (make test installs it)")
    with dagster_dev(tmp_path, DOCPROC_INBOX_SETTLE_SECONDS="0.5") as (port, data, inbox):
        D.digital_pdf(inbox / "memo.pdf", ["End to end memo about invoices."])
        shutil.copyfile(inbox / "memo.pdf", inbox / "memo copy.pdf")  # the same bytes under a second name: one document
        D.png(inbox / "scan page.png", "Scanned words for the sensor", dpi=150)
        (inbox / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF")
        (inbox / "download.pdf.part").write_bytes(b"half a file")  # a temp name: never taken

        runs, answered_during_run, slowest = wait_for_inbox_runs(
            port, tmp_path, lambda store: store.rows("SELECT count(*) AS n FROM extractions")[0]["n"] >= 6)
        assert [r["status"] for r in runs] == ["SUCCESS"] * len(runs)
        assert answered_during_run and slowest < 10, (answered_during_run, slowest)  # the UI kept answering

        rows = {(r["filename"], r["model"]): r for r in Store(data / "docproc.duckdb").rows(
            "SELECT d.filename, e.model, e.success, e.error, e.extracted_text FROM extractions e JOIN documents d USING (document_id)")}
        assert set(rows) == {(f, m) for f in ("memo.pdf", "scan page.png", "broken.pdf") for m in ("direct", "tesseract")}
        assert "invoices" in rows[("memo.pdf", "direct")]["extracted_text"]
        assert "sensor" in rows[("scan page.png", "tesseract")]["extracted_text"].lower()
        assert not rows[("broken.pdf", "direct")]["success"] and rows[("broken.pdf", "direct")]["error"]

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with browser.Chromium(timeout=60) as chrome:
            for name, path, expect in [("asset-graph", "/asset-groups", "comparison"), ("runs", "/runs", "inbox")]:
                chrome.open(f"http://127.0.0.1:{port}{path}", settle=1.0)
                end = time.monotonic() + 45
                while expect not in (chrome.evaluate("document.body.innerText") or "") and time.monotonic() < end:
                    chrome.evaluate(SKIP_ONBOARDING)
                    time.sleep(1)
                assert expect in chrome.evaluate("document.body.innerText"), name
                without_dialogs(chrome)  # and the graph has laid itself out meanwhile
                assert not chrome.evaluate(DIALOG_OPEN)
                chrome.screenshot(ARTIFACTS / f"{name}.png", full_page=False)
            # one group's lineage, every asset node drawn (the global graph shows groups collapsed)
            chrome.open(f"http://127.0.0.1:{port}/locations/__repository__@docproc/asset-groups/ocr/lineage", settle=3.0)
            without_dialogs(chrome)
            shown = chrome.evaluate("document.body.innerText")
            assert shown.count("ocr_") >= 2 and "document_routes" in shown  # the group's nodes drawn, not an empty canvas
            chrome.screenshot(ARTIFACTS / "asset-graph-ocr-group.png", full_page=False)
            find_document_by_name(chrome, port)
            reports = sorted((data / "reports").glob("*.html")) if (data / "reports").exists() else []
            if reports:  # the HTML report (issue 6), where this version writes one
                chrome.open(reports[0].as_uri(), settle=2.0)
                chrome.screenshot(ARTIFACTS / "report.png")
        assert (ARTIFACTS / "asset-graph.png").stat().st_size > 10_000
    shutil.copyfile(tmp_path / "dagster-dev.log", ARTIFACTS / "dagster-dev.log")


def wait_for_text(chrome, test, what: str, timeout: float = 30.0) -> str:
    end = time.monotonic() + timeout
    while not test(shown := chrome.evaluate("document.body.innerText") or "") and time.monotonic() < end:
        time.sleep(0.5)
    assert test(shown), f"{what}: {shown[:1500]}"
    return shown


def find_document_by_name(chrome, port: int) -> None:
    """In ocr_tesseract's partition list, as a user would: three documents (the copy under another name is
    none of its own), `scan` typed into the filter leaves the scanned page, whose own page names its file."""
    chrome.open(f"http://127.0.0.1:{port}/assets/ocr_tesseract?view=partitions", settle=2.0)
    without_dialogs(chrome)
    shown = wait_for_text(chrome, lambda t: "memo.pdf-" in t and "scan-page.png-" in t, "partition list")
    assert "3 Partitions" in shown and "memo-copy" not in shown, shown[:1500]
    chrome.type_into("input[placeholder^='Filter by name']", "scan")
    shown = wait_for_text(chrome, lambda t: "memo.pdf-" not in t and "broken.pdf-" not in t, "filtered list")
    assert "scan-page.png-" in shown
    assert chrome.evaluate("""(() => { const item = [...document.querySelectorAll('div, span, a')].reverse()
        .find(e => e.children.length === 0 && e.innerText && e.innerText.startsWith('scan-page.png-'));
        if (!item) return false; item.click(); return true; })()""")
    shown = wait_for_text(chrome, lambda t: "file_name" in t and "scan page.png" in t, "the partition's metadata")
    assert "source_path" in shown and "words_read" in shown
    chrome.evaluate("[...document.querySelectorAll('td')].find(e => e.innerText.trim() === 'file_name').scrollIntoView({block: 'center'})")
    time.sleep(0.5)
    without_dialogs(chrome)
    chrome.screenshot(ARTIFACTS / "partition-found-by-name.png", full_page=False)


def test_inbox_acceptance_slow_writer_replaced_file_empty_file_odd_name(tmp_path):
    """With the UI's sensor running (settle time 2 s): a PDF written in two halves with a 12 s pause, a file
    replaced by new bytes, an empty file, a name with `[` `]` `|` `,`. Every complete file is one current
    document with its right result; the paused file has no error row; the replaced file's current
    document is the new one; `docproc query` prints the odd name literally."""
    odd = "a|b,[c].pdf"
    with dagster_dev(tmp_path, DOCPROC_INBOX_SETTLE_SECONDS="2") as (port, data, inbox):
        D.digital_pdf(inbox / "replaced.pdf", ["First version of the letter."])
        (inbox / "empty.pdf").write_bytes(b"")
        D.digital_pdf(inbox / odd, ["Odd name, plain content."])

        def registered(*names):
            return lambda store: {r["filename"] for r in store.rows("SELECT filename FROM documents WHERE routed_at IS NOT NULL")} >= set(names)

        wait_for_inbox_runs(port, tmp_path, registered("replaced.pdf", "empty.pdf", odd), timeout=120)
        D.digital_pdf(inbox / "replaced.pdf", ["Second version, corrected."])  # saved over the old one
        wait_for_inbox_runs(port, tmp_path, lambda store: store.rows(
            "SELECT count(*) AS n FROM documents WHERE filename = 'replaced.pdf' AND routed_at IS NOT NULL")[0]["n"] == 2)
        # the sensor is ticking (every 10-15 s) and nothing else is new: a pause of 25 s holds at least one
        # tick that sees only the half-written file (12 s may fall between two ticks)
        whole = D.digital_pdf(tmp_path / "slow-source.pdf", ["A slow copy, page one.", "Page two arrives late."]).read_bytes()
        writer = threading.Thread(target=_write_in_two_halves, args=(inbox / "slow.pdf", whole, 25.0))
        writer.start()
        writer.join()
        runs, _, _ = wait_for_inbox_runs(
            port, tmp_path, lambda store: store.rows("SELECT count(*) AS n FROM extractions e JOIN documents d USING (document_id) "
                                                     "WHERE d.filename = 'slow.pdf' AND e.model = 'tesseract'")[0]["n"] == 1,
            timeout=150)
        assert [r["status"] for r in runs] == ["SUCCESS"] * len(runs)
        body, _ = graphql(port, TICKS_QUERY)
        reasons = [t["skipReason"] or "" for t in body["data"]["sensorOrError"]["sensorState"]["ticks"]]
        assert any("deferred as incomplete: 1 no %%EOF at the end of the PDF" in r for r in reasons), "\n".join(reasons)

    store = Store(data / "docproc.duckdb")
    docs = store.rows("SELECT document_id, filename, status, error, superseded_by FROM documents ORDER BY filename, registered_at")
    by_name: dict[str, list[dict]] = {}
    for row in docs:
        by_name.setdefault(row["filename"], []).append(row)
    assert sorted(by_name) == sorted(["slow.pdf", "replaced.pdf", "empty.pdf", odd])
    (slow,) = by_name["slow.pdf"]  # one document, taken once it was whole: no half-file error row
    assert slow["status"] == "routed" and slow["error"] is None and slow["superseded_by"] is None
    old, new = by_name["replaced.pdf"]
    assert old["superseded_by"] == new["document_id"] and new["superseded_by"] is None
    (empty,) = by_name["empty.pdf"]
    assert empty["status"] == "error" and empty["error"] == "empty file (0 bytes)"
    texts = {(r["filename"]): r["extracted_text"] for r in store.rows(
        "SELECT d.filename, e.extracted_text FROM current_extractions e JOIN current_documents d USING (document_id) "
        "WHERE e.model = 'direct' AND e.success")}
    assert "Page two arrives late" in texts["slow.pdf"] and "Second version" in texts["replaced.pdf"]
    assert "Odd name" in texts[odd] and "First version" not in texts["replaced.pdf"]
    assert store.query("SELECT count(*) FROM current_documents WHERE filename = 'replaced.pdf'")[1] == [(1,)]
    docproc = str(Path(sys.executable).with_name("docproc"))
    shown = subprocess.run([docproc, "query", "SELECT filename, status FROM current_documents ORDER BY filename",
                            "--db", str(data / "docproc.duckdb")], capture_output=True, text=True, timeout=60).stdout
    assert odd in shown


def _write_in_two_halves(path: Path, data: bytes, pause: float) -> None:
    """A slow network copy: the first half, the file closed, a pause longer than the settle time, the rest."""
    path.write_bytes(data[: len(data) // 2])
    time.sleep(pause)
    with path.open("ab") as fh:
        fh.write(data[len(data) // 2:])
