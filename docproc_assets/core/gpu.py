"""GPU memory management for model engines: where to run, how many pages at once, what to do on OOM.

Every decision is logged on one line (logger `docproc_assets.core.gpu`). Nothing here needs a GPU:
without one (or without a CUDA build of torch/paddle) every query answers "no GPU" and engines run on
the CPU where the model allows it. torch and paddle are imported only when asked about (and paddle
only when it is already imported or installed with CUDA support).

- `gpu_memory()`: free/total memory of a device, from `torch.cuda.mem_get_info` where torch has CUDA,
  else from paddle's device API where paddle-gpu is installed; None without a GPU.
- `choose_device(config)`: cuda when a GPU has the model's `min_gpu_memory_gib` free, else cpu when
  the model can run there, else `EngineUnavailable("no GPU ...")`.
- `batch_size_for(...)`: pages per batch from free memory and the model's needs, capped by
  `ModelConfig.max_batch_size`.
- `run_batches(...)`: runs a batch function over items; cleans up after each batch and on error;
  on out-of-memory halves the batch and retries, and at batch size 1 moves to the CPU where the engine
  can, else fails with `ResourceLimitExceeded` (a per-document error).
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from docproc_assets.core.errors import EngineUnavailable, ResourceLimitExceeded

if TYPE_CHECKING:
    from docproc_assets.core.engines.registry import ModelConfig

log = logging.getLogger(__name__)

GIB = 1024**3
DEFAULT_GIB_PER_PAGE = 1.0  # activations + KV cache of one page on a VLM (options["gpu_gib_per_page"])
DEFAULT_HEADROOM_GIB = 0.5  # kept free once the model is loaded (options["gpu_headroom_gib"])

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class GpuMemory:
    free_gib: float
    total_gib: float
    backend: str  # torch | paddle
    index: int = 0


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # cuda | cpu
    batch_size: int
    reason: str
    memory: GpuMemory | None = None


def _torch_cuda():
    """torch.cuda when torch is installed with CUDA and a device is visible, else None."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return None
    import torch

    try:
        return torch.cuda if torch.cuda.is_available() else None
    except Exception as exc:  # a broken driver must read as "no GPU"
        log.info("torch.cuda unusable (%s): treating as no GPU", exc)
        return None


def _paddle_memory(index: int) -> GpuMemory | None:
    if "paddle" not in sys.modules and importlib.util.find_spec("paddle") is None:
        return None
    try:
        import paddle

        if not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() <= index:
            return None
        for api in (getattr(getattr(paddle, "cuda", None), "mem_get_info", None), getattr(paddle.device.cuda, "mem_get_info", None)):
            if api is not None:
                free, total = api(index)
                return GpuMemory(free / GIB, total / GIB, "paddle", index)
        total = paddle.device.cuda.get_device_properties(index).total_memory
        reserved = paddle.device.cuda.memory_reserved(index)
        return GpuMemory((total - reserved) / GIB, total / GIB, "paddle", index)
    except Exception as exc:
        log.info("paddle GPU memory query failed (%s): treating as no GPU", exc)
        return None


def gpu_memory(index: int = 0, backend: str = "torch") -> GpuMemory | None:
    """Free and total memory of GPU `index`; None when there is none (or no CUDA-enabled framework)."""
    if backend == "torch":
        cuda = _torch_cuda()
        if cuda is None or cuda.device_count() <= index:
            return None
        free, total = cuda.mem_get_info(index)
        return GpuMemory(free / GIB, total / GIB, "torch", index)
    if backend == "paddle":
        return _paddle_memory(index)
    raise ValueError(f"unknown GPU backend {backend!r}")


def gpu_count(backend: str = "torch") -> int:
    if backend == "torch":
        cuda = _torch_cuda()
        return cuda.device_count() if cuda is not None else 0
    memory = _paddle_memory(0)
    if memory is None:
        return 0
    import paddle

    return paddle.device.cuda.device_count()


def batch_size_for(free_gib: float, need_gib: float, max_batch: int, gib_per_page: float = DEFAULT_GIB_PER_PAGE) -> int:
    """Pages per batch: one page fits in `need_gib`, each further page costs `gib_per_page`; 0 if none fits."""
    if free_gib < need_gib:
        return 0
    extra = int((free_gib - need_gib) // gib_per_page) if gib_per_page > 0 else max_batch
    return max(1, min(max_batch, 1 + extra))


def _gib_per_page(config: ModelConfig) -> float:
    return float(config.options.get("gpu_gib_per_page", DEFAULT_GIB_PER_PAGE))


def cpu_batch_size(config: ModelConfig) -> int:
    return max(1, int(config.options.get("cpu_batch_size", config.max_batch_size)))


def choose_device(config: ModelConfig, backend: str = "torch") -> DeviceChoice:
    """Where to load a model (before loading it): the GPU if it has room, else the CPU if allowed."""
    resources = config.resources
    if config.device == "cpu":
        if not resources.cpu_capable:
            raise EngineUnavailable(f"{config.name} cannot run on the CPU and device=cpu was asked for")
        choice = DeviceChoice("cpu", cpu_batch_size(config), "device=cpu asked for")
        log.info("%s: %s -> cpu, batch %d", config.name, choice.reason, choice.batch_size)
        return choice
    memory = gpu_memory(0, backend)
    if memory is None:
        reason = f"no GPU ({backend} sees no CUDA device)"
    else:
        batch = batch_size_for(memory.free_gib, resources.min_gpu_memory_gib, config.max_batch_size, _gib_per_page(config))
        if batch:
            choice = DeviceChoice("cuda", batch, f"GPU {memory.index}: {memory.free_gib:.1f} of {memory.total_gib:.1f} GiB free, "
                                  f"model needs {resources.min_gpu_memory_gib:g} GiB", memory)
            log.info("%s: %s -> cuda, batch %d", config.name, choice.reason, batch)
            return choice
        reason = (f"GPU {memory.index} has {memory.free_gib:.1f} GiB free, model needs "
                  f"{resources.min_gpu_memory_gib:g} GiB ({resources.gpu_hint or 'see the registry'})")
    if config.device == "cuda":
        raise EngineUnavailable(f"no GPU for {config.name} (device=cuda asked for): {reason}")
    if not resources.cpu_capable:
        raise EngineUnavailable(f"no GPU for {config.name}, which cannot run on the CPU: {reason}")
    choice = DeviceChoice("cpu", cpu_batch_size(config), reason, memory)
    log.info("%s: %s -> cpu fallback, batch %d", config.name, reason, choice.batch_size)
    return choice


def loaded_batch_size(config: ModelConfig, device: str, backend: str = "torch", index: int = 0) -> int:
    """Pages per batch for a model already loaded on `device`, from the memory free right now."""
    if device != "cuda":
        return cpu_batch_size(config)
    memory = gpu_memory(index, backend)
    if memory is None:
        return 1
    headroom = float(config.options.get("gpu_headroom_gib", DEFAULT_HEADROOM_GIB))
    batch = max(1, batch_size_for(memory.free_gib, headroom + _gib_per_page(config), config.max_batch_size, _gib_per_page(config)))
    log.info("%s: %.1f GiB free on GPU %d with the model loaded -> batch %d", config.name, memory.free_gib, index, batch)
    return batch


def cleanup(device: str | None = None) -> None:
    """Give cached memory back after a batch or an error (Python garbage, torch and paddle GPU caches)."""
    gc.collect()
    if device == "cpu":
        return
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception as exc:
            log.debug("torch.cuda.empty_cache failed: %s", exc)
    paddle = sys.modules.get("paddle")
    if paddle is not None:
        try:
            if paddle.device.is_compiled_with_cuda():
                paddle.device.cuda.empty_cache()
        except Exception as exc:
            log.debug("paddle empty_cache failed: %s", exc)


_OOM_NAMES = ("OutOfMemoryError", "ResourceExhaustedError")
_OOM_TEXT = ("out of memory", "cuda error: out of memory", "resourceexhausted", "cublas_status_alloc_failed")


def is_out_of_memory(exc: BaseException) -> bool:
    """A GPU out-of-memory from torch (`torch.cuda.OutOfMemoryError`) or paddle, by type or message."""
    if any(name in type(exc).__name__ for name in _OOM_NAMES):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(t in text for t in _OOM_TEXT)


def run_batches(
    items: Sequence[T],
    run: Callable[[Sequence[T]], list[R]],
    batch_size: int,
    *,
    name: str = "engine",
    device: Callable[[], str] | None = None,
    to_cpu: Callable[[], None] | None = None,
) -> list[R]:
    """`run` over `items` in batches of at most `batch_size`, surviving GPU out-of-memory.

    On OOM the batch is retried at half the size; at size 1 the model moves to the CPU through
    `to_cpu` (None: it cannot) and the rest runs there; else `ResourceLimitExceeded`. Memory is
    cleaned up after every GPU batch and after every error.
    """
    current = device or (lambda: "cpu")
    size = max(1, batch_size)
    results: list[R] = []
    start = 0
    while start < len(items):
        chunk = items[start : start + size]
        try:
            out = run(chunk)
        except Exception as exc:
            cleanup(current())
            if not is_out_of_memory(exc):
                raise
            if size > 1:
                size = max(1, size // 2)
                log.warning("%s: out of memory on %s with %d pages; retrying with batch %d", name, current(), len(chunk), size)
                continue
            if to_cpu is not None and current() != "cpu":
                log.warning("%s: out of memory on %s with 1 page; moving the model to the CPU", name, current())
                to_cpu()
                cleanup()
                continue
            log.error("%s: out of memory on %s with 1 page and no CPU fallback", name, current())
            raise ResourceLimitExceeded(f"{name}: GPU out of memory with a single page ({exc})") from exc
        if len(out) != len(chunk):
            raise RuntimeError(f"{name}: {len(out)} results for {len(chunk)} pages")
        results.extend(out)
        start += len(chunk)
        if current() != "cpu":  # on the CPU, refcounting already freed the batch's tensors
            cleanup(current())
    return results
