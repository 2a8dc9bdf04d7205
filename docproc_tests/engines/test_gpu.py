"""core/gpu.py without a GPU: the torch.cuda functions are replaced to simulate one with N GiB free,
and out-of-memory errors are raised on purpose."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from docproc_assets.core import gpu
from docproc_assets.core.engines.registry import Resources, get_config
from docproc_assets.core.errors import EngineUnavailable, ResourceLimitExceeded
from docproc_tests.engines.fake_gpu import GIB, FakeCuda

torch = pytest.importorskip("torch")


def oom() -> Exception:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB")


# ---- memory queries and device choice -----------------------------------------------------------


def test_no_gpu_means_no_memory_and_cpu_fallback(monkeypatch, caplog):
    FakeCuda(monkeypatch, free_gib=None)
    assert gpu.gpu_memory() is None and gpu.gpu_count() == 0
    with caplog.at_level(logging.INFO, logger="docproc_assets.core.gpu"):
        choice = gpu.choose_device(get_config("qwen2.5-vl-7b"))
    assert (choice.device, choice.batch_size) == ("cpu", 4)
    assert "no GPU" in choice.reason and "-> cpu fallback, batch 4" in caplog.text


def test_gpu_memory_reads_mem_get_info(monkeypatch):
    FakeCuda(monkeypatch, free_gib=12.5, total_gib=24)
    memory = gpu.gpu_memory()
    assert (memory.free_gib, memory.total_gib, memory.backend) == (12.5, 24.0, "torch")
    assert gpu.gpu_memory(index=1) is None


@pytest.mark.parametrize(("free", "device", "batch"), [
    (80.0, "cuda", 4),   # 20 GiB model + 3 more pages at 1 GiB each, capped at max_batch_size 4
    (22.5, "cuda", 3),   # room for 2 extra pages
    (20.0, "cuda", 1),   # just the model and one page
    (19.9, "cpu", 4),    # too little: CPU with the CPU batch size
])
def test_choose_device_by_free_memory(monkeypatch, caplog, free, device, batch):
    FakeCuda(monkeypatch, free_gib=free)
    with caplog.at_level(logging.INFO, logger="docproc_assets.core.gpu"):
        choice = gpu.choose_device(get_config("qwen2.5-vl-7b"))  # min_gpu_memory_gib 20, max_batch_size 4
    assert (choice.device, choice.batch_size) == (device, batch)
    assert f"-> {device}" in caplog.text


def test_gpu_only_model_without_room_is_unavailable(monkeypatch):
    FakeCuda(monkeypatch, free_gib=8.0)
    config = get_config("qwen2.5-vl-7b", resources=Resources(cpu_capable=False, min_gpu_memory_gib=20))
    with pytest.raises(EngineUnavailable, match="no GPU for qwen2.5-vl-7b, which cannot run on the CPU: GPU 0 has 8.0 GiB free"):
        gpu.choose_device(config)


def test_availability_reports_no_gpu_for_gpu_only_models(monkeypatch, tmp_path):
    from docproc_assets.core.engines.qwen_vl import QwenVlEngine

    FakeCuda(monkeypatch, free_gib=None)
    weights = tmp_path / "ckpt"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    gpu_only = get_config("qwen2.5-vl-72b", model_id=str(weights), resources=Resources(cpu_capable=False, min_gpu_memory_gib=150))
    availability = QwenVlEngine.availability(gpu_only)
    assert not availability.available and availability.reason.startswith("no GPU")
    cpu_ok = QwenVlEngine.availability(get_config("qwen2.5-vl-3b", model_id=str(weights)))
    assert cpu_ok.available and cpu_ok.device == "cpu"
    FakeCuda(monkeypatch, free_gib=40.0)
    on_gpu = QwenVlEngine.availability(get_config("qwen2.5-vl-3b", model_id=str(weights)))
    assert on_gpu.available and on_gpu.device == "cuda"


def test_explicit_devices(monkeypatch):
    FakeCuda(monkeypatch, free_gib=80.0)
    assert gpu.choose_device(get_config("got-ocr2", device="cpu")).device == "cpu"
    FakeCuda(monkeypatch, free_gib=None)
    with pytest.raises(EngineUnavailable, match=r"device=cuda asked for"):
        gpu.choose_device(get_config("got-ocr2", device="cuda"))


def test_batch_size_arithmetic():
    assert gpu.batch_size_for(free_gib=3.9, need_gib=4, max_batch=4) == 0
    assert gpu.batch_size_for(free_gib=4, need_gib=4, max_batch=4) == 1
    assert gpu.batch_size_for(free_gib=6.5, need_gib=4, max_batch=4, gib_per_page=1.0) == 3
    assert gpu.batch_size_for(free_gib=100, need_gib=4, max_batch=4) == 4
    assert gpu.batch_size_for(free_gib=10, need_gib=4, max_batch=8, gib_per_page=2.0) == 4


def test_loaded_batch_size_follows_free_memory(monkeypatch):
    fake = FakeCuda(monkeypatch, free_gib=2.0)
    config = get_config("got-ocr2", options={"gpu_gib_per_page": 0.5, "gpu_headroom_gib": 0.5})  # max_batch_size 4
    assert gpu.loaded_batch_size(config, "cuda") == 3
    fake.free_gib = 0.2
    assert gpu.loaded_batch_size(config, "cuda") == 1  # never 0: the OOM handler takes over from there
    assert gpu.loaded_batch_size(config, "cpu") == 4
    assert gpu.loaded_batch_size(get_config("got-ocr2", options={"cpu_batch_size": 1}), "cpu") == 1


# ---- cleanup and out-of-memory handling -------------------------------------------------------------


def test_out_of_memory_recognised():
    assert gpu.is_out_of_memory(oom())
    assert gpu.is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert gpu.is_out_of_memory(type("ResourceExhaustedError", (Exception,), {})("paddle: Out of memory error on GPU 0"))
    assert not gpu.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not gpu.is_out_of_memory(ValueError("out of memory"))


def test_run_batches_cleans_up_after_every_batch(monkeypatch):
    fake = FakeCuda(monkeypatch, free_gib=40.0)
    out = gpu.run_batches(list(range(5)), lambda chunk: [x * 2 for x in chunk], 2, device=lambda: "cuda")
    assert out == [0, 2, 4, 6, 8]
    assert fake.empty_cache_calls == 3


def test_oom_halves_the_batch_then_goes_on(monkeypatch, caplog):
    fake = FakeCuda(monkeypatch, free_gib=40.0)
    seen = []

    def run(chunk):
        seen.append(len(chunk))
        if len(chunk) > 1:
            raise oom()
        return [f"page {x}" for x in chunk]

    with caplog.at_level(logging.WARNING, logger="docproc_assets.core.gpu"):
        out = gpu.run_batches(list(range(5)), run, 4, name="m", device=lambda: "cuda")
    assert out == [f"page {x}" for x in range(5)]
    assert seen == [4, 2, 1, 1, 1, 1, 1]  # 4 -> 2 -> 1, then the rest one at a time
    assert "m: out of memory on cuda with 4 pages; retrying with batch 2" in caplog.text
    assert "retrying with batch 1" in caplog.text
    assert fake.empty_cache_calls >= 2 + 5  # after each error and each batch


def test_oom_at_batch_one_moves_to_cpu(monkeypatch, caplog):
    FakeCuda(monkeypatch, free_gib=40.0)
    state = {"device": "cuda"}

    def run(chunk):
        if state["device"] == "cuda":
            raise oom()
        return list(chunk)

    def to_cpu():
        state["device"] = "cpu"

    with caplog.at_level(logging.WARNING, logger="docproc_assets.core.gpu"):
        out = gpu.run_batches([1, 2, 3], run, 2, name="m", device=lambda: state["device"], to_cpu=to_cpu)
    assert out == [1, 2, 3] and state["device"] == "cpu"
    assert "moving the model to the CPU" in caplog.text


def test_oom_without_cpu_fallback_is_a_document_error(monkeypatch):
    fake = FakeCuda(monkeypatch, free_gib=40.0)

    def run(chunk):
        raise oom()

    with pytest.raises(ResourceLimitExceeded, match="GPU out of memory with a single page"):
        gpu.run_batches([1, 2], run, 2, device=lambda: "cuda", to_cpu=None)
    assert fake.empty_cache_calls >= 2


def test_other_errors_propagate_after_cleanup(monkeypatch):
    fake = FakeCuda(monkeypatch, free_gib=40.0)

    def run(chunk):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        gpu.run_batches([1], run, 1, device=lambda: "cuda")
    assert fake.empty_cache_calls == 1


def test_paddle_memory_api(monkeypatch):
    """paddle-gpu's memory query, with a stand-in paddle module (paddle itself may not be installed)."""
    cuda = types.SimpleNamespace(device_count=lambda: 1, mem_get_info=lambda i: (6 * GIB, 16 * GIB), empty_cache=lambda: None)
    paddle = types.SimpleNamespace(device=types.SimpleNamespace(is_compiled_with_cuda=lambda: True, cuda=cuda))
    monkeypatch.setitem(sys.modules, "paddle", paddle)
    memory = gpu.gpu_memory(backend="paddle")
    assert (memory.free_gib, memory.total_gib, memory.backend) == (6.0, 16.0, "paddle")
    cpu_only = types.SimpleNamespace(device=types.SimpleNamespace(is_compiled_with_cuda=lambda: False, cuda=cuda))
    monkeypatch.setitem(sys.modules, "paddle", cpu_only)
    assert gpu.gpu_memory(backend="paddle") is None
