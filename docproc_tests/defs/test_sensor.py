"""The inbox sensor, evaluated for real against an instance, a folder and the object store."""

import os
import time

import dagster as dg

from docproc_assets.defs.intake.partitions import MAX_PARTITIONS_PER_RUN
from docproc_assets.defs.intake.sensors import RANGE_END, RANGE_START, inbox_sensor


def tick(instance, resource, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"docproc": resource})
    result = inbox_sensor(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def drop(inbox, name, data):
    path = inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def requested_keys(instance, result):
    """The documents each run request covers (a range of the instance's partition order)."""
    ordered = instance.get_dynamic_partitions("documents")
    out = []
    for request in result.run_requests:
        start, end = ordered.index(request.tags[RANGE_START]), ordered.index(request.tags[RANGE_END])
        out.append(ordered[start:end + 1])
    return out


def test_new_files_register_documents_and_request_runs(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    drop(inbox, "a.pdf", b"%PDF-a")
    drop(inbox, "sub/b.png", b"\x89PNG-b")
    result = tick(instance, resource)
    keys = instance.get_dynamic_partitions("documents")
    assert len(keys) == 2 and len(result.run_requests) == 1
    (request,) = result.run_requests
    assert requested_keys(instance, result) == [keys]
    assert dg.AssetKey("raw_documents") in request.asset_selection and dg.AssetKey("comparison_report") in request.asset_selection
    assert {resource.objects().info(k).filename for k in keys} == {"a.pdf", "b.png"}
    # nothing new: no runs, same partitions
    again = tick(instance, resource, result.cursor)
    assert again.run_requests == [] and len(instance.get_dynamic_partitions("documents")) == 2


def test_partial_hidden_and_duplicate_files(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    drop(inbox, "report.pdf.part", b"%PDF-partial")  # still downloading
    drop(inbox, ".hidden.pdf", b"%PDF-hidden")
    drop(inbox, "one.pdf", b"%PDF-same")
    drop(inbox, "two.pdf", b"%PDF-same")  # same content, other name: one document
    result = tick(instance, resource)
    assert len(instance.get_dynamic_partitions("documents")) == 1
    assert len(result.run_requests) == 1
    # the download completes (renamed): a new document; the duplicate dropped again later is not
    os.rename(inbox / "report.pdf.part", inbox / "report.pdf")
    drop(inbox, "three.pdf", b"%PDF-same")
    result = tick(instance, resource, result.cursor)
    assert len(instance.get_dynamic_partitions("documents")) == 2
    assert [len(k) for k in requested_keys(instance, result)] == [1]


def test_files_still_being_written_wait_for_a_later_tick(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    slow = type(resource)(**{**resource.model_dump(), "inbox_settle_seconds": 30.0})
    drop(tmp_path / "inbox", "fresh.pdf", b"%PDF-fresh")
    result = tick(instance, slow)
    assert result.run_requests == [] and "still being written" in (result.skip_reason.skip_message or "")
    assert instance.get_dynamic_partitions("documents") == []
    past = time.time() - 60
    os.utime(tmp_path / "inbox" / "fresh.pdf", (past, past))  # ctime moves to now: still waits
    assert tick(instance, slow, result.cursor).run_requests == []


def test_cursor_resumes_after_a_restart_without_rerunning(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    for i in range(3):
        drop(inbox, f"{i}.pdf", f"%PDF-{i}".encode())
    first = tick(instance, resource)
    drop(inbox, "3.pdf", b"%PDF-3")
    second = tick(instance, resource, first.cursor)  # a new context, as after a daemon restart
    assert [len(k) for k in requested_keys(instance, first)] == [3]
    assert [len(k) for k in requested_keys(instance, second)] == [1]
    assert len(second.cursor) < 200


def test_burst_of_1000_files_is_processed_exactly_once(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    for i in range(1000):
        drop(inbox, f"batch/{i:04d}.pdf", f"%PDF-1.4 document {i}".encode())
    cursor, ticks, run_keys, covered, seconds = None, 0, [], [], []
    while True:
        start = time.perf_counter()
        result = tick(instance, resource, cursor)
        seconds.append(time.perf_counter() - start)
        ticks += 1
        if not result.run_requests:
            break
        cursor = result.cursor
        run_keys += [r.run_key for r in result.run_requests]
        covered += [k for chunk in requested_keys(instance, result) for k in chunk]
        assert all(len(chunk) <= MAX_PARTITIONS_PER_RUN for chunk in requested_keys(instance, result))
    keys = instance.get_dynamic_partitions("documents")
    assert len(keys) == 1000 and len(set(keys)) == 1000
    assert sorted(covered) == sorted(keys)  # every document in exactly one run
    assert len(run_keys) == len(set(run_keys)) == 1000 // MAX_PARTITIONS_PER_RUN
    assert ticks == 1000 // resource.inbox_max_files + 1
    assert max(seconds) < 30, seconds  # far inside the 60 s sensor timeout
    print(f"1000-file burst: {ticks - 1} ticks, slowest {max(seconds):.2f} s")
