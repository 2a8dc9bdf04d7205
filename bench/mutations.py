"""Would the tests catch it? Deliberate breakages of promised behaviour, each run against the tests meant to
catch it, in a scratch copy of the working tree (the checkout itself is never touched).

    python bench/mutations.py [--only NAME,NAME] [--keep]

Each mutation replaces an exact snippet of product code (it must be found, or the mutation is reported
as stale), then runs its tests with the scratch copy first on PYTHONPATH (so `docproc` subprocesses and
spawned workers import it too). A mutation *survives* when its tests still pass: that behaviour is
untested. Prints a table; exits 1 when any mutation survived or went stale. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


LIMITS = "docproc_tests/hardening/test_limits.py"
OPTIONS = "docproc_tests/test_cli_options.py"
OCR_LAYOUT = "docproc_tests/engines/test_ocr_layout.py"
MUTATIONS = [
    Mutation("cli --timeout dropped", "docproc_assets/cli.py",
             "IsolatedWorker(timeout=timeout, memory_mb=", "IsolatedWorker(timeout=600.0, memory_mb=",
             (f"{LIMITS}::test_detect_timeout_fails_the_slow_document_alone", f"{LIMITS}::test_extract_timeout_fails_the_slow_document_alone")),
    Mutation("assets' timeout=docproc.document_timeout_s dropped (routes)", "docproc_assets/defs/intake/assets.py",
             "timeout=docproc.document_timeout_s,", "", (f"{LIMITS}::test_batch_assets_use_the_document_timeout",)),
    Mutation("assets' timeout=docproc.document_timeout_s dropped (extraction)", "docproc_assets/defs/extraction/assets.py",
             "timeout=docproc.document_timeout_s, ", "", (f"{LIMITS}::test_batch_assets_use_the_document_timeout",)),
    Mutation("memory watchdog disabled", "docproc_assets/core/isolation.py",
             "if resident_mb > self.memory_mb:", "if False:",
             (LIMITS, "docproc_tests/core/test_bad_input.py::test_worker_memory_limit", "docproc_tests/hardening/test_faults.py")),
    Mutation("--max-memory-mb ignored", "docproc_assets/cli.py",
             "return default_memory_mb() if max_memory_mb is None else max_memory_mb", "return default_memory_mb()",
             (f"{LIMITS}::test_cli_memory_limit_and_no_limit",)),
    Mutation("75%-of-RAM default gone", "docproc_assets/core/isolation.py",
             "return int(psutil.virtual_memory().total * 0.75 / 2**20)", "return 0",
             (f"{LIMITS}::test_default_limit_is_three_quarters_of_memory",)),
    Mutation("DOCPROC_MAX_MEMORY_MB ignored", "docproc_assets/defs/resources.py",
             'max_memory_mb=int(env["DOCPROC_MAX_MEMORY_MB"]) if env.get("DOCPROC_MAX_MEMORY_MB") else None,', "max_memory_mb=None,",
             (f"{LIMITS}::test_batch_memory_limit_from_the_environment",)),
    Mutation("batch launches every chunk (stale = selection)", "docproc_assets/batch.py",
             "needs = [selection] * len(chunks) if force else stale_assets(resource, [document_ids(c) for c in chunks], models)",
             "needs = [selection] * len(chunks)",
             ("docproc_tests/test_batch.py::test_unchanged_batch_launches_no_chunk_run_and_force_does",)),
    Mutation("office cache lookup disabled", "docproc_assets/core/office.py",
             "if cached.exists() and cached.stat().st_size:", "if False:", ("docproc_tests/core/test_office.py",)),
    Mutation("office files converted one LibreOffice run each", "docproc_assets/core/office.py",
             "results.update(_run_soffice(todo, cache_dir, timeout))",
             "[results.update(_run_soffice([item], cache_dir, timeout)) for item in todo]", ("docproc_tests/core/test_office.py",)),
    Mutation("no PDF repair", "docproc_assets/core/repair.py", "for name, rebuild in REPAIRERS:", "for name, rebuild in ():",
             ("docproc_tests/hardening/test_hostile_corpus.py", "docproc_tests/core/test_repair.py")),
    Mutation("damaged zip crashes the command again", "docproc_assets/core/sniff.py",
             "    except Exception as exc:  # noqa: BLE001 - zipfile raises far more than BadZipFile (see zip_damage)",
             "    except zipfile.BadZipFile as exc:", ("docproc_tests/hardening/test_fuzz.py",)),
    Mutation("pixel budget not applied to PDF renders", "docproc_assets/core/sources.py",
             "dpi = min(dpi, 72 * (max_pixels / pixels_at_72) ** 0.5)", "dpi = dpi",
             ("docproc_tests/hardening/test_hostile_corpus.py::test_pdf_image_bomb_is_rendered_within_the_pixel_budget",)),
    Mutation("VLM headings and list items become TEXT", "docproc_assets/core/ocr.py",
             "kind = ElementType.HEADING if heading else ElementType.LIST_ITEM", "kind = ElementType.TEXT",
             ("docproc_tests/engines/test_vlm_engines.py::test_vlm_markdown_becomes_typed_elements",)),
    Mutation("CLI engine overrides dropped", "docproc_assets/cli.py",
             'overrides = {"max_batch_size": batch_size, "device": device, "model_id": model_path}', "overrides = {}",
             (f"{OPTIONS}::test_engine_overrides_reach_the_engine",)),
    Mutation("CLI --track ignored", "docproc_assets/cli.py",
             "return Options(track=track if dual_track else TrackMode.OCR", "return Options(track=TrackMode.AUTO if dual_track else TrackMode.OCR",
             (f"{OPTIONS}::test_track_option_forces_the_track",)),
    Mutation("docproc pools --apply sets nothing", "docproc_assets/cli.py",
             "dg.DagsterInstance.get().event_log_storage.set_concurrency_slots(GPU_POOL, slots)", "pass",
             (f"{OPTIONS}::test_pools_apply_sets_the_slots_on_the_instance",)),
    Mutation("docproc report writes nothing", "docproc_assets/cli.py", "    write_atomic(output, html)\n", "    pass\n",
             (f"{OPTIONS}::test_report_export_and_model_overrides_through_batch",)),
    Mutation("no Parquet export", "docproc_assets/defs/extraction/assets.py",
             """con.execute(f"COPY (SELECT * FROM extractions ORDER BY document_id, model) TO '{export}' (FORMAT parquet)")""", "pass",
             (f"{OPTIONS}::test_report_export_and_model_overrides_through_batch",)),
    Mutation("model_overrides ignored", "docproc_assets/defs/resources.py",
             "set_overrides(json.loads(self.model_overrides))", "pass",
             ("docproc_tests/defs/test_assets.py::test_model_overrides_in_the_resource_reach_the_rows",)),
    Mutation("asset code_version not the model's config version", "docproc_assets/defs/extraction/assets.py",
             "code_version=config.version,", 'code_version="1",',
             ("docproc_tests/defs/test_assets.py::test_one_asset_per_registry_model_with_its_config_version",)),
    Mutation("the inbox never takes a settled file", "docproc_assets/core/intake.py",
             "quiet = [c for c in new if c.ctime_ns <= quiet_before]", "quiet = []",
             ("docproc_tests/defs/test_sensor.py::test_files_still_being_written_wait_for_a_later_tick",)),
    Mutation("the inbox ignores end markers", "docproc_assets/core/intake.py",
             "            why = missing_end_marker(c.path)", "            why = None",
             ("docproc_tests/defs/test_sensor.py",)),
    Mutation("an unreadable staged file stops every merge", "docproc_assets/core/store.py",
             "            except duckdb.Error as exc:  # empty, truncated or foreign: set aside with its reason, go on\n"
             "                self._set_aside(path, exc)\n                continue\n",
             "            except duckdb.Error:\n                raise\n", ("docproc_tests/core/test_store.py",)),
    Mutation("file order decides which row wins", "docproc_assets/core/store.py",
             "if updates and spec.newest_by in cols:", "if False:", ("docproc_tests/core/test_store.py",)),
    Mutation("row names beside a ruled grid left out of the table", "docproc_assets/core/direct.py",
             "(left, right), label_boxes, rest = _row_labels(outside, table_grid)", "(left, right), label_boxes, rest = ({}, {}), [], outside",
             ("docproc_tests/core/test_direct.py",)),
    Mutation("cell text in the finder's order (numbers scrambled)", "docproc_assets/core/direct.py",
             "pieces[table_grid.cell_at((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)].append((ch, box))",
             "pieces[table_grid.cell_at((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)].insert(0, (ch, box))",
             ("docproc_tests/core/test_direct.py",)),
    Mutation("ruled strokes drawn in pieces left unjoined", "docproc_assets/core/grid.py",
             "_touching(_joined(horizontal), _joined(vertical))", "_touching(horizontal, vertical)",
             ("docproc_tests/core/test_direct.py",)),
    Mutation("a merged cell emitted as one column", "docproc_assets/core/grid.py",
             "        return range(c, end)\n", "        return range(c, c + 1)\n", ("docproc_tests/core/test_direct.py",)),
    Mutation("OCR rows split into their cells", "docproc_assets/core/regions.py",
             "        if found and any(other.bbox[1] <= middle <= other.bbox[3] for other in found[-1]):",
             "        if False:", (OCR_LAYOUT,)),
    Mutation("the layout stage never runs", "docproc_assets/core/ocr.py",
             'layout = bool(engine.config.options.get("layout"))', "layout = False", (OCR_LAYOUT,)),
    Mutation("a page number past its region left out of its row", "docproc_assets/core/regions.py",
             "if (where := _row_partner(line, members)) is not None:", "if False:", (OCR_LAYOUT,)),
    Mutation("OCR row cells stacked into column blocks", "docproc_assets/core/ocr.py",
             "if not (i in cells and block[-1] in cells) and _same_block(", "if _same_block(", (OCR_LAYOUT,)),
    Mutation("auto ignores the page's script", "docproc_assets/core/engines/auto.py",
             'return self.policy.get(script or "", [_PPOCR])', "return [_PPOCR]", ("docproc_tests/engines/test_auto_engine.py",)),
    Mutation("auto keeps an empty reading", "docproc_assets/core/engines/auto.py",
             "            if _characters(output) >= MIN_CHARACTERS:\n                break", "            break",
             ("docproc_tests/engines/test_auto_engine.py",)),
    Mutation("no unruled tables", "docproc_assets/core/tables.py",
             "        if len(run) >= MIN_ROWS and _figures(run):", "        if False:", ("docproc_tests/core/test_direct.py",)),
    Mutation("ligatures kept", "docproc_assets/core/fidelity.py", "return text.translate(_TRANSLATE)", "return text",
             ("docproc_tests/core/test_direct.py",)),
    Mutation("query output through rich markup", "docproc_assets/cli.py",
             "table.add_row(*(Text(v) for v in row))", "table.add_row(*row)", ("docproc_tests/test_query_output.py",)),
]


def scratch_copy(target: Path) -> None:
    """The working tree as it is (tracked and untracked, not ignored files): what the tests would see."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)


def run(mutation: Mutation, base: Path) -> tuple[str, float, str]:
    work = base / "tree"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base / "pristine", work)
    path = work / mutation.path
    text = path.read_text()
    if mutation.old not in text:
        return "stale", 0.0, "snippet not found: the mutation needs updating"
    path.write_text(text.replace(mutation.old, mutation.new))
    env = {**os.environ, "PYTHONPATH": str(work), "DAGSTER_HOME": str(base / "home")}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-n", "2", *mutation.tests],
                          cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode == 0:
        return "SURVIVED", seconds, last
    if " failed" in last:  # exit 1, or 2 when -x stops the xdist workers
        return "killed", seconds, last
    return "error", seconds, last  # a collection error: the tests could not judge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated substrings of mutation names")
    args = parser.parse_args(argv)
    wanted = [m for m in MUTATIONS if not args.only or any(s.strip() in m.name for s in args.only.split(","))]
    results = []
    with tempfile.TemporaryDirectory(prefix="docproc-mutations-") as tmp:
        base = Path(tmp)
        (base / "pristine").mkdir()
        (base / "home").mkdir()
        scratch_copy(base / "pristine")
        for mutation in wanted:
            outcome, seconds, last = run(mutation, base)
            results.append((mutation, outcome, seconds, last))
            print(f"{outcome:9s} {seconds:6.1f} s  {mutation.name}", flush=True)
    print("\n| breakage | file | outcome | seconds | tests' last line |\n|---|---|---|---:|---|")
    for mutation, outcome, seconds, last in results:
        print(f"| {mutation.name} | `{mutation.path}` | {outcome} | {seconds:.0f} | {last[:90]} |")
    bad = [r for r in results if r[1] != "killed"]
    print(f"\n{len(results) - len(bad)} of {len(results)} breakages caught; survivors: {len(bad)}")
    return int(bool(bad))


if __name__ == "__main__":
    sys.exit(main())
