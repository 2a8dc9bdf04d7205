"""The inbox sensor, evaluated for real against an instance, a folder and the object store."""

import os
import time

import dagster as dg

from docproc_assets.defs.intake.partitions import MAX_PARTITIONS_PER_RUN, document_id, document_key
from docproc_assets.defs.intake.sensors import RANGE_END, RANGE_START, inbox_sensor


def tick(instance, resource, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"docproc": resource}) as context:  # nested resources open in a context
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
    drop(inbox, "a.pdf", b"%PDF-a\n%%EOF\n")
    drop(inbox, "sub/b.png", b"\x89PNG-b\x00\x00\x00\x00IEND\xaeB`\x82")
    result = tick(instance, resource)
    keys = instance.get_dynamic_partitions("documents")
    assert len(keys) == 2 and len(result.run_requests) == 1
    (request,) = result.run_requests
    assert requested_keys(instance, result) == [keys]
    assert dg.AssetKey("raw_documents") in request.asset_selection and dg.AssetKey("comparison_report") in request.asset_selection
    assert {resource.objects().info(document_id(k)).filename for k in keys} == {"a.pdf", "b.png"}
    # nothing new: no runs, same partitions
    again = tick(instance, resource, result.cursor)
    assert again.run_requests == [] and len(instance.get_dynamic_partitions("documents")) == 2


def test_partial_hidden_and_duplicate_files(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    drop(inbox, "report.pdf.part", b"%PDF-partial\n%%EOF\n")  # still downloading
    drop(inbox, ".hidden.pdf", b"%PDF-hidden\n%%EOF\n")
    drop(inbox, "one.pdf", b"%PDF-same\n%%EOF\n")
    drop(inbox, "two.pdf", b"%PDF-same\n%%EOF\n")  # same content, other name: one document
    result = tick(instance, resource)
    assert len(instance.get_dynamic_partitions("documents")) == 1
    assert len(result.run_requests) == 1
    # the download completes (renamed): a new document; the duplicate dropped again later is not
    os.rename(inbox / "report.pdf.part", inbox / "report.pdf")
    drop(inbox, "three.pdf", b"%PDF-same\n%%EOF\n")
    result = tick(instance, resource, result.cursor)
    assert len(instance.get_dynamic_partitions("documents")) == 2
    assert [len(k) for k in requested_keys(instance, result)] == [1]


def test_partition_keys_name_the_first_file_and_stay_one_per_document(resource, tmp_path):
    """Keys a user can find by name in the UI's partition filter; the same bytes under another name (now
    or later) stay one partition; a document registered before names were in keys keeps its bare hash."""
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    drop(inbox, "invoice-0042.pdf", b"%PDF-invoice\n%%EOF\n")
    drop(inbox, "Scan of page 7 [final], v2.png", b"\x89PNG-scan\x00\x00\x00\x00IEND\xaeB`\x82")
    old = resource.objects().put_bytes(b"%PDF-old\n%%EOF\n", "old.pdf", "old.pdf").document_id
    instance.add_dynamic_partitions("documents", [old])  # a key from before
    drop(inbox, "old-again.pdf", b"%PDF-old\n%%EOF\n")
    result = tick(instance, resource)
    keys = instance.get_dynamic_partitions("documents")
    ids = {document_id(k): k for k in keys}
    invoice = resource.objects().put_bytes(b"%PDF-invoice\n%%EOF\n", "x.pdf", "x").document_id
    assert ids[invoice] == f"invoice-0042.pdf-{invoice}"
    assert [k for k in keys if "invoice-0042" in k] == [ids[invoice]]  # what the UI's filter finds
    scan = next(k for k in keys if k.startswith("Scan"))
    assert scan.startswith("Scan-of-page-7-final-v2.png-") and not set(scan) & set(" ,[]*")
    assert ids[old] == old and len(keys) == 3  # the old document kept its key, no second partition
    drop(inbox, "renamed copy.pdf", b"%PDF-invoice\n%%EOF\n")
    again = tick(instance, resource, result.cursor)
    assert again.run_requests == [] and instance.get_dynamic_partitions("documents") == keys
    assert document_key(invoice, None) == invoice and len(document_key(invoice, "x" * 300)) == 60 + 1 + 64


def test_files_still_being_written_wait_for_a_later_tick(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    slow = resource.with_changes(inbox_settle_seconds=1.0)
    drop(tmp_path / "inbox", "fresh.pdf", b"%PDF-fresh\n%%EOF\n")
    result = tick(instance, slow)
    assert result.run_requests == [] and "1 still being written" in (result.skip_reason.skip_message or "")
    assert instance.get_dynamic_partitions("documents") == []
    past = time.time() - 60
    os.utime(tmp_path / "inbox" / "fresh.pdf", (past, past))  # ctime moves to now: still waits
    result = tick(instance, slow, result.cursor)
    assert result.run_requests == []
    time.sleep(1.2)  # quiet for the settle time: the later tick takes it
    result = tick(instance, slow, result.cursor)
    assert [len(k) for k in requested_keys(instance, result)] == [1]
    assert [slow.objects().info(document_id(k)).filename for k in instance.get_dynamic_partitions("documents")] == ["fresh.pdf"]


def _halves(tmp_path):
    from docproc_tests.documents import digital_pdf

    data = digital_pdf(tmp_path / "whole.pdf", ["A slow writer's document.", "Its second page."]).read_bytes()
    return data, data[: len(data) // 2], data[len(data) // 2:]


def test_writer_pausing_with_the_file_open_is_waited_for(resource, tmp_path):
    """A copy that stalls longer than the settle time, its file still open for writing: deferred, then
    taken once, whole (the registered bytes are the complete file)."""
    instance = dg.DagsterInstance.ephemeral()
    whole, first, rest = _halves(tmp_path)
    (tmp_path / "inbox").mkdir()
    with open(tmp_path / "inbox" / "slow.pdf", "wb") as writer:
        writer.write(first + b"\n%%EOF\n")  # even an end marker in the first half does not fool it
        writer.flush()
        result = tick(instance, resource)  # settle 0: quiet, but open for writing
        assert result.run_requests == [] and "1 open for writing" in result.skip_reason.skip_message
        writer.seek(len(first))
        writer.write(rest)
        writer.truncate()
    result = tick(instance, resource, result.cursor)
    (key,) = instance.get_dynamic_partitions("documents")
    assert [len(k) for k in requested_keys(instance, result)] == [1]
    assert resource.objects().path(document_id(key)).read_bytes() == whole


def test_writer_reopening_after_a_pause_is_waited_for_by_the_end_marker(resource, tmp_path):
    """`cat first > f; sleep; cat rest >> f`: nobody has the file open during the pause, but a PDF without
    %%EOF is not complete. Deferred (not failed), then taken whole: one document, no error."""
    instance = dg.DagsterInstance.ephemeral()
    whole, first, rest = _halves(tmp_path)
    path = drop(tmp_path / "inbox", "slow.pdf", first)
    result = tick(instance, resource)
    assert result.run_requests == [] and "1 no %%EOF at the end of the PDF" in result.skip_reason.skip_message
    drop(tmp_path / "inbox", "other.pdf", b"%PDF-other\n%%EOF\n")  # a later file taken meanwhile
    result = tick(instance, resource, result.cursor)
    assert [resource.objects().info(document_id(k)).filename for k in instance.get_dynamic_partitions("documents")] == ["other.pdf"]
    with open(path, "ab") as writer:
        writer.write(rest)
    result = tick(instance, resource, result.cursor)  # the mark passed it, the pending list did not forget it
    keys = instance.get_dynamic_partitions("documents")
    assert len(keys) == 2 and resource.objects().path(document_id(keys[1])).read_bytes() == whole
    assert tick(instance, resource, result.cursor).run_requests == []  # taken once


def test_a_file_that_never_completes_is_taken_after_the_limit(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    _whole, first, _rest = _halves(tmp_path)
    drop(tmp_path / "inbox", "cut.pdf", first)
    assert tick(instance, resource).run_requests == []
    impatient = resource.with_changes(inbox_incomplete_after_s=0.0)
    result = tick(instance, impatient)
    assert [len(k) for k in requested_keys(instance, result)] == [1]  # taken: routing records its real error


def test_cursor_resumes_after_a_restart_without_rerunning(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    for i in range(3):
        drop(inbox, f"{i}.pdf", f"%PDF-{i}\n%%EOF\n".encode())
    first = tick(instance, resource)
    drop(inbox, "3.pdf", b"%PDF-3\n%%EOF\n")
    second = tick(instance, resource, first.cursor)  # a new context, as after a daemon restart
    assert [len(k) for k in requested_keys(instance, first)] == [3]
    assert [len(k) for k in requested_keys(instance, second)] == [1]
    assert len(second.cursor) < 200


def test_burst_of_1000_files_is_processed_exactly_once(resource, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    inbox = tmp_path / "inbox"
    for i in range(1000):
        drop(inbox, f"batch/{i:04d}.pdf", f"%PDF-1.4 document {i}\n%%EOF\n".encode())
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
