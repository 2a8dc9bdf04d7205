"""End to end, as a user would: `dagster dev` (webserver + daemon, as `make ui` starts it), files dropped
into the inbox, the sensor's runs followed over GraphQL until they finish, rows checked in DuckDB, then the
asset graph (and the report, where one exists) opened in headless Chromium; screenshots in test-artifacts/e2e/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from docproc_assets.core.store import Store
from docproc_tests import documents as D

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUNS_QUERY = """{ runsOrError(limit: 50) { ... on Runs { results { runId status tags { key value } } } } }"""

# a fresh instance greets the first visitor with a newsletter dialog over the page
SKIP_ONBOARDING = "[...document.querySelectorAll('button')].filter(b => b.innerText.trim() === 'Skip').forEach(b => b.click())"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_make_ui_sensor_runs_and_screenshots(tmp_path):
    browser = pytest.importorskip("docproc_tests.browser")
    if not browser.chromium_path():
        pytest.skip("no chromium here (make test installs it)")
    home, data, inbox = tmp_path / "home", tmp_path / "data", tmp_path / "inbox"
    home.mkdir()
    inbox.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DOCPROC_DATA": str(data), "DOCPROC_INBOX": str(inbox),
           "DOCPROC_SENSOR_MODELS": "tesseract", "DOCPROC_INBOX_SETTLE_SECONDS": "0.5", "DOCPROC_DOCUMENT_TIMEOUT_S": "120"}
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

        D.digital_pdf(inbox / "memo.pdf", ["End to end memo about invoices."])
        D.png(inbox / "scan page.png", "Scanned words for the sensor", dpi=150)
        (inbox / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF")
        (inbox / "download.pdf.part").write_bytes(b"half a file")  # a temp name: never taken

        slowest, answered_during_run, runs = 0.0, 0, []
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            body, seconds = graphql(port, RUNS_QUERY)
            slowest = max(slowest, seconds)
            runs = [r for r in body["data"]["runsOrError"]["results"]
                    if {"key": "docproc/source", "value": "inbox"} in r["tags"]]
            if any(r["status"] not in TERMINAL for r in runs):
                answered_during_run += 1
            if runs and all(r["status"] in TERMINAL for r in runs) and (data / "docproc.duckdb").exists():
                rows = Store(data / "docproc.duckdb").rows("SELECT count(*) AS n FROM extractions")
                if rows[0]["n"] >= 6:
                    break
            time.sleep(1)
        else:
            pytest.fail(f"the sensor's runs did not finish in 150 s: {runs}\n" + (tmp_path / "dagster-dev.log").read_text()[-3000:])
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
                chrome.evaluate(SKIP_ONBOARDING)
                time.sleep(2)  # the graph lays itself out
                chrome.screenshot(ARTIFACTS / f"{name}.png", full_page=False)
            # one group's lineage, every asset node drawn (the global graph shows groups collapsed)
            chrome.open(f"http://127.0.0.1:{port}/locations/__repository__@docproc/asset-groups/ocr/lineage", settle=3.0)
            chrome.evaluate(SKIP_ONBOARDING)
            chrome.screenshot(ARTIFACTS / "asset-graph-ocr-group.png", full_page=False)
            reports = sorted((data / "reports").glob("*.html")) if (data / "reports").exists() else []
            if reports:  # the HTML report (issue 6), where this version writes one
                chrome.open(reports[0].as_uri(), settle=2.0)
                chrome.screenshot(ARTIFACTS / "report.png")
        assert (ARTIFACTS / "asset-graph.png").stat().st_size > 10_000
    finally:
        stop(proc)
        log.close()
        shutil.copyfile(tmp_path / "dagster-dev.log", ARTIFACTS / "dagster-dev.log") if ARTIFACTS.exists() else None
