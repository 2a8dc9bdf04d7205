"""Mutation fuzzing: damaged copies of real documents through `docproc detect`, `extract` and `batch`.

    python bench/fuzz.py FOLDER [--count 400] [--seed 1] [--stages detect,extract,batch] [--keep DIR] [--only 3,17]

Mutant i is made from random.Random(f"{seed}:{i}") alone (its source file, mutator and bytes), so a
file a campaign found is rebuilt with `--seed S --only I --keep DIR`. Mutators: bit flips, truncation,
zeroed runs, cut-out ranges, inserted junk; for zip containers (office files) central-directory entries
with bad offsets, versions, sizes or overlapping entries; for PDFs a broken startxref, trailer, xref
table or page tree.

Each stage runs the real command once over the whole folder, as a user would. A file is *answered*
(an output), *rejected* (its own error line, by error kind) or lost; a stage *crashes* when its command
exits with a status it does not document or leaves a file without an answer. `internal` errors
("unexpected failure") are our bugs and are counted apart. Exit status 1 when anything crashed or
raised an internal error. `--json` prints the table as one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCPROC = str(Path(sys.executable).with_name("docproc"))
SOURCE_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif",
                   ".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".odp", ".xlsx", ".xls", ".ods"}
LINE = re.compile(r"^(error|partial) (.+?): (.+)$")


# -- mutators: (rng, bytes) -> bytes ------------------------------------------------------------


def bit_flips(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 24)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _span(rng: random.Random, data: bytes) -> tuple[int, int]:
    start = rng.randrange(len(data))
    return start, min(len(data), start + rng.randint(1, max(2, len(data) // 16)))


def zeroed_run(rng: random.Random, data: bytes) -> bytes:
    a, b = _span(rng, data)
    return data[:a] + bytes(b - a) + data[b:]


def cut_out(rng: random.Random, data: bytes) -> bytes:
    a, b = _span(rng, data)
    return data[:a] + data[b:]


def junk_inserted(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 4096)) + data[at:]


def _central_entries(data: bytes) -> list[int]:
    return [m.start() for m in re.finditer(rb"PK\x01\x02", data)]


def _zip_field(rng: random.Random, data: bytes, offset: int, fmt: str, value_of) -> bytes:
    entries = _central_entries(data)
    if not entries:
        return bit_flips(rng, data)
    out = bytearray(data)
    for at in rng.sample(entries, rng.randint(1, min(3, len(entries)))):
        out[at + offset:at + offset + struct.calcsize(fmt)] = struct.pack(fmt, value_of(data, at))
    return bytes(out)


def zip_bad_offset(rng: random.Random, data: bytes) -> bytes:
    """A local-header offset past the end, into another entry, or at random."""
    return _zip_field(rng, data, 42, "<I", lambda d, at: rng.choice([len(d) + rng.randint(1, 9999), rng.randrange(len(d)), 0xFFFFFFFF]))


def zip_bad_version(rng: random.Random, data: bytes) -> bytes:
    """"Version needed to extract" no reader supports (zipfile: NotImplementedError)."""
    return _zip_field(rng, data, 6, "<H", lambda d, at: rng.choice([243, 63, 99, 0xFFFF]))


def zip_bad_sizes(rng: random.Random, data: bytes) -> bytes:
    """Compressed size larger than the data (overlapping entries, "missing N bytes") or a wrong method."""
    field = rng.choice([(20, "<I"), (24, "<I"), (10, "<H")])
    return _zip_field(rng, data, field[0], field[1], lambda d, at: rng.choice([1, 99, 12, 0xFFFF]) if field[0] == 10
                      else struct.unpack_from("<I", d, at + field[0])[0] + rng.randint(1, 4096))


def zip_overlapping(rng: random.Random, data: bytes) -> bytes:
    """Two central-directory entries pointing at the same local header."""
    entries = _central_entries(data)
    if len(entries) < 2:
        return zip_bad_offset(rng, data)
    a, b = rng.sample(entries, 2)
    out = bytearray(data)
    out[b + 42:b + 46] = data[a + 42:a + 46]
    return bytes(out)


def pdf_broken_startxref(rng: random.Random, data: bytes) -> bytes:
    at = data.rfind(b"startxref")
    if at < 0:
        return truncation(rng, data)
    return data[:at] + b"startxref\n" + str(rng.choice([0, 1, len(data) * 3, rng.randrange(len(data))])).encode() + b"\n%%EOF\n"


def pdf_no_trailer(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"trailer", b"tr@iler").replace(b"/Root", b"/R00t" if rng.random() < 0.5 else b"/Root")


def pdf_zeroed_xref(rng: random.Random, data: bytes) -> bytes:
    at = data.rfind(b"xref")
    if at < 0:
        return zeroed_run(rng, data)
    end = min(len(data), at + rng.randint(20, 4000))
    return data[:at] + bytes(end - at) + data[end:]


def pdf_broken_page_tree(rng: random.Random, data: bytes) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return data.replace(b"/Type /Pages", b"/Type /Xages").replace(b"/Type/Pages", b"/Type/Xages")
    if choice == 1:
        return re.sub(rb"/Count \d+", lambda m: b"/Count " + str(rng.choice([0, 999999, -1])).encode(), data)
    if choice == 2:
        return re.sub(rb"/Kids\s*\[[^\]]*\]", b"/Kids [1 0 R 1 0 R]", data, count=1)
    return re.sub(rb"/Parent \d+ 0 R", b"/Parent 99999 0 R", data)


GENERIC = (bit_flips, truncation, zeroed_run, cut_out, junk_inserted)
BY_KIND = {
    "zip": GENERIC + (zip_bad_offset, zip_bad_version, zip_bad_sizes, zip_overlapping) * 2,
    "pdf": GENERIC + (pdf_broken_startxref, pdf_no_trailer, pdf_zeroed_xref, pdf_broken_page_tree) * 2,
    "other": GENERIC,
}


def kind_of(data: bytes) -> str:
    return "zip" if data[:2] == b"PK" else "pdf" if b"%PDF" in data[:1024] else "other"


def sources(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not found:
        raise SystemExit(f"no documents under {folder}")
    return found


def mutant(files: list[Path], seed: int, index: int) -> tuple[str, bytes, str, Path]:
    """(file name, bytes, mutator, source) of mutant `index`: a function of (seed, index) and the sources."""
    rng = random.Random(f"{seed}:{index}")
    source = rng.choice(files)
    data = source.read_bytes()
    mutate = rng.choice(BY_KIND[kind_of(data)])
    out = mutate(rng, data) if data else data
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", source.stem)[:40]
    return f"{index:04d}-{mutate.__name__}-{stem}{source.suffix.lower()}", out, mutate.__name__, source


# -- stages: the real commands over the folder ------------------------------------------------------


def _docproc(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([DOCPROC, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def _crash(proc: subprocess.CompletedProcess, ok_codes: tuple[int, ...]) -> str | None:
    if proc.returncode not in ok_codes or "Traceback (most recent call last)" in proc.stderr:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"exit {proc.returncode}: {tail[:200]}"
    return None


def stage_detect(folder: Path, names: list[str], env: dict, timeout: float) -> dict:
    proc = _docproc(["detect", "--json", str(folder), "--timeout", "60"], env, timeout)
    kinds: collections.Counter[str] = collections.Counter()
    answered, examples = set(), {}
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        name = Path(row["path"]).name
        answered.add(name)
        if row["error"]:
            kinds[row["error_kind"]] += 1
            examples.setdefault(row["error_kind"], f"{name}: {row['error']}")
        elif row.get("repaired"):
            kinds[f"repaired ({row['repairer']})"] += 1
    return _summary("detect", names, answered, kinds, _crash(proc, (0,)), examples)


def stage_extract(folder: Path, names: list[str], env: dict, timeout: float, out: Path) -> dict:
    proc = _docproc(["extract", str(folder), "--output-dir", str(out), "--format", "json", "--timeout", "60", "--no-ocr"], env, timeout)
    kinds: collections.Counter[str] = collections.Counter()
    answered, examples = set(), {}
    stems = {Path(n).stem: n for n in names}
    for output in out.glob("*.json"):
        if output.stem in stems:
            answered.add(stems[output.stem])
    for line in proc.stderr.splitlines():
        if m := LINE.match(line):
            name = Path(m[2]).name
            if m[1] == "error":
                answered.add(name)
                kind = "internal" if "unexpected failure" in m[3] else "error"
                kinds[kind] += 1
                examples.setdefault(kind, f"{name}: {m[3]}")
            else:
                kinds["partial"] += 1
    return _summary("extract", names, answered, kinds, _crash(proc, (0, 2)), examples)


def stage_batch(folder: Path, names: list[str], env: dict, timeout: float, work: Path) -> dict:
    import duckdb

    data = work / "batch-data"
    proc = _docproc(["batch", str(folder), "--models", "", "--data-dir", str(data)],
                    {**env, "DAGSTER_HOME": str(work / "dagster-home")}, timeout)
    kinds: collections.Counter[str] = collections.Counter()
    answered, examples = set(), {}
    db = data / "docproc.duckdb"
    by_id: dict[str, list[str]] = collections.defaultdict(list)  # the same bytes under two names are one document
    for n in names:
        by_id[hashlib.sha256((folder / n).read_bytes()).hexdigest()].append(n)
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            rows = con.execute("SELECT d.document_id, d.status, d.error, d.error_kind, e.success FROM documents d "
                               "JOIN extractions e USING (document_id) WHERE e.model = 'direct'").fetchall()
        for doc_id, status, error, kind, _success in rows:
            answered.update(by_id.get(doc_id, ()))
            if doc_id in by_id and status == "error":
                kinds[kind or "unknown"] += len(by_id[doc_id])
                examples.setdefault(kind or "unknown", f"{by_id[doc_id][0]}: {error}")
    return _summary("batch", names, answered, kinds, _crash(proc, (0,)), examples)


def _summary(stage: str, names: list[str], answered: set[str], kinds: collections.Counter, crash: str | None,
             examples: dict[str, str]) -> dict:
    lost = sorted(set(names) - answered)
    rejected = sum(v for k, v in kinds.items() if not k.startswith(("repaired", "partial")))
    return {"stage": stage, "files": len(names), "answered": len(names) - len(lost) - rejected, "rejected": rejected,
            "lost": lost, "crashed": int(bool(crash) or bool(lost)), "crash": crash, "kinds": dict(kinds.most_common()),
            "internal": kinds.get("internal", 0), "examples": examples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stages", default="detect,extract,batch")
    parser.add_argument("--only", default="", help="comma-separated mutant indices (rebuild the files a campaign found)")
    parser.add_argument("--keep", type=Path, help="write the mutants here (and keep them)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    files = sources(args.folder)
    indices = [int(i) for i in args.only.split(",") if i.strip()] or list(range(args.count))
    with tempfile.TemporaryDirectory(prefix="docproc-fuzz-") as tmp:
        work = Path(tmp)
        folder = args.keep or work / "mutants"
        folder.mkdir(parents=True, exist_ok=True)
        made = {}
        for i in indices:
            name, data, mutator, source = mutant(files, args.seed, i)
            (folder / name).write_bytes(data)
            made[name] = (mutator, source.name)
        names = sorted(made)
        env = {"DOCPROC_CACHE": str(work / "cache")}  # LibreOffice's PDFs shared by the stages, not the user's cache
        results = []
        for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
            start = time.perf_counter()
            if stage == "detect":
                result = stage_detect(folder, names, env, args.timeout)
            elif stage == "extract":
                result = stage_extract(folder, names, env, args.timeout, work / "extract-out")
            elif stage == "batch":
                result = stage_batch(folder, names, env, args.timeout, work)
            else:
                raise SystemExit(f"unknown stage {stage!r} (detect, extract, batch)")
            result["seconds"] = round(time.perf_counter() - start, 1)
            results.append(result)
    mutators = collections.Counter(m for m, _ in made.values())
    report = {"seed": args.seed, "files": len(names), "sources": len(files), "mutators": dict(sorted(mutators.items())),
              "stages": results}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{len(names)} mutants of {len(files)} files from {args.folder} (seed {args.seed}); "
              f"mutators: {', '.join(f'{k} {v}' for k, v in sorted(mutators.items()))}\n")
        print(f"| stage | files | answered | rejected | crashed | internal | seconds | error kinds |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for r in results:
            kinds = ", ".join(f"{k} {v}" for k, v in r["kinds"].items())
            print(f"| {r['stage']} | {r['files']} | {r['answered']} | {r['rejected']} | {r['crashed']} | {r['internal']} "
                  f"| {r['seconds']} | {kinds} |")
        for r in results:
            if r["crash"]:
                print(f"\n{r['stage']} CRASHED: {r['crash']}")
            for name in r["lost"][:20]:
                print(f"{r['stage']}: no answer for {name} ({made[name][0]} of {made[name][1]}; --seed {args.seed} --only {int(name[:4])})")
            for kind, example in r["examples"].items():
                print(f"{r['stage']} {kind}: {example[:160]}")
    return int(any(r["crashed"] or r["internal"] for r in results))


if __name__ == "__main__":
    sys.exit(main())
