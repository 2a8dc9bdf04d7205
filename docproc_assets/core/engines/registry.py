"""The OCR models docproc knows: one ModelConfig per model, one engine class per family.

Adding a model of a known family is one entry in MODELS. Engine modules are imported only when a
model of their family is used, so listing the registry never imports torch or paddle.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from docproc_assets.core.engines.base import Availability, OcrEngine
from docproc_assets.core.errors import DocumentError, EngineUnavailable
from docproc_assets.core.regions import MODEL as LAYOUT_MODEL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resources:
    """What a model needs to run; the GPU figures drive pools and memory checks."""

    cpu_capable: bool = True
    min_gpu_memory_gib: float = 0.0
    gpu_count: int = 0
    gpu_hint: str | None = None  # e.g. "1x 24 GB (L4, A10)"
    cpu_cores: int = 1
    ram_gib: float = 2.0


@dataclass(frozen=True)
class ModelConfig:
    name: str
    family: str
    model_id: str | None = None  # hub id or local directory (VLMs); None where weights ship in a package
    resources: Resources = field(default_factory=Resources)
    max_batch_size: int = 1
    flash_attention: bool = False
    prompt: str | None = None
    max_new_tokens: int = 2048
    device: str = "auto"  # auto | cpu | cuda
    options: dict[str, Any] = field(default_factory=dict)  # family-specific settings
    revision: str = "1"  # bump when the engine's behaviour changes: it is part of the cache key

    @property
    def version(self) -> str:
        """What extraction caching keys on: every setting that can change the text."""
        settings = asdict(self)
        settings.pop("resources")
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return f"{self.name}@{self.revision}-{digest}"

    def with_overrides(self, **overrides: Any) -> ModelConfig:
        """A copy with run-time overrides (batch size, device, model path, options, resources)."""
        options = {**self.options, **(overrides.pop("options", None) or {})}
        resources = overrides.pop("resources", None)
        if isinstance(resources, dict):
            resources = Resources(**{**asdict(self.resources), **resources})
        config = replace(self, options=options, **{k: v for k, v in overrides.items() if v is not None})
        return replace(config, resources=resources) if resources else config


# family -> "module:Class"; the module is imported only when the family is used.
FAMILIES: dict[str, str] = {
    "auto": "docproc_assets.core.engines.auto:AutoEngine",
    "ppocr_v6": "docproc_assets.core.engines.ppocr_v6:PpOcrV6Engine",
    "rapidocr": "docproc_assets.core.engines.rapidocr:RapidOcrEngine",
    "paddle": "docproc_assets.core.engines.paddle:PaddleOcrEngine",
    "paddlex": "docproc_assets.core.engines.paddleocr_pipeline:PaddleOcrPipelineEngine",
    "tesseract": "docproc_assets.core.engines.tesseract:TesseractEngine",
    "easyocr": "docproc_assets.core.engines.easyocr:EasyOcrEngine",
    "qwen2_5_vl": "docproc_assets.core.engines.qwen_vl:QwenVlEngine",
    "got_ocr2": "docproc_assets.core.engines.got_ocr:GotOcrEngine",
    "internvl": "docproc_assets.core.engines.internvl:InternVlEngine",
}

_OCR_PROMPT = "Read all the text in this image. Return it as Markdown in reading order; tables as Markdown tables."


def _gpu(gib: float, hint: str, count: int = 1, ram: float = 16.0) -> Resources:
    return Resources(cpu_capable=True, min_gpu_memory_gib=gib, gpu_count=count, gpu_hint=hint, cpu_cores=4, ram_gib=ram)


DEFAULT_ENGINE = "ppocr-v6"  # what `docproc extract` reads OCR pages with when no --engine is given

MODELS: dict[str, ModelConfig] = {
    m.name: m
    for m in [
        # ppocr-v6 options measured in engines/ppocr_v6.py: no line classifier, the library's detector side,
        # boxes kept from a mean score of 0.35 (a lone page number scores under the library's 0.5), the ONNX files
        # run by OpenVINO (3-4x ONNX Runtime's speed on one core; `runtime: onnxruntime` for the other).
        # Line engines carry `layout` (core/regions.py, ocr.PageReader): the layout model that types their
        # regions and keeps rows whole; False turns the stage off (`--no-layout`). Part of the cache key.
        ModelConfig("ppocr-v6", "ppocr_v6", resources=Resources(ram_gib=2.5), max_batch_size=1,
                    options={"Global.use_cls": False, "Det.box_thresh": 0.35, "runtime": "openvino", "layout": LAYOUT_MODEL}),
        # auto: each page by the engine for its script (engines/auto.py POLICY; override with options.policy).
        ModelConfig("auto", "auto", resources=Resources(ram_gib=2.5), max_batch_size=1, options={"layout": LAYOUT_MODEL},
                    revision="4"),  # 2: unsure readings put to a vote; 3: Tesseract's right-to-left lines whole; 4: its resolution, its spacing
        # rapidocr options measured in engines/rapidocr.py: no line classifier, full-resolution recognition.
        ModelConfig("rapidocr", "rapidocr", resources=Resources(ram_gib=2.0), max_batch_size=1,
                    options={"use_cls": False, "max_side_len": 4000, "det_limit_type": "max", "det_limit_side_len": 2000,
                             "layout": LAYOUT_MODEL}),
        ModelConfig("paddleocr", "paddle", resources=Resources(ram_gib=4.0), max_batch_size=1,
                    options={"use_cls": False, "max_side_len": 4000, "det_limit_type": "max", "det_limit_side_len": 2000, "rec_batch_num": 1,
                             "layout": LAYOUT_MODEL}),
        # paddleocr-pipeline: paddleocr 3's own pipeline on model folders the user names (engines/paddleocr_pipeline.py:
        # det_model_dir/rec_model_dir options or DOCPROC_MODELS_DIR/paddleocr-pipeline/{det,rec}); slow on CPU.
        ModelConfig("paddleocr-pipeline", "paddlex", resources=Resources(ram_gib=3.5), max_batch_size=1,
                    options={"text_det_limit_type": "max", "text_det_limit_side_len": 960, "layout": LAYOUT_MODEL}),
        # revision 2: lines from Tesseract's TSV (right-to-left lines whole, engines/tesseract.py);
        # 3: told the page's resolution, each line's text with Tesseract's own spacing (Hangul words whole)
        ModelConfig("tesseract", "tesseract", resources=Resources(ram_gib=0.5), options={"languages": "eng", "layout": LAYOUT_MODEL},
                    revision="3"),
        ModelConfig("easyocr", "easyocr", resources=Resources(ram_gib=5.0, min_gpu_memory_gib=0.0), max_batch_size=4,
                    options={"layout": LAYOUT_MODEL}),
        ModelConfig("qwen2.5-vl-3b", "qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct", _gpu(10, "1x 16 GB (T4 fp16, L4)"), 4, prompt=_OCR_PROMPT),
        ModelConfig("qwen2.5-vl-7b", "qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct", _gpu(20, "1x 24 GB (L4, A10)", ram=32), 4, prompt=_OCR_PROMPT),
        ModelConfig("qwen2.5-vl-72b", "qwen2_5_vl", "Qwen/Qwen2.5-VL-72B-Instruct", _gpu(150, "2x 80 GB (A100, H100)", 2, 200), 2, prompt=_OCR_PROMPT),
        ModelConfig("rolmocr", "qwen2_5_vl", "reducto/RolmOCR", _gpu(20, "1x 24 GB (L4, A10)", ram=32), 4,
                    prompt="Return the plain text representation of this document as if you were reading it naturally."),
        ModelConfig("got-ocr2", "got_ocr2", "stepfun-ai/GOT-OCR-2.0-hf", _gpu(4, "1x 8 GB"), 4, options={"format": True}),
        ModelConfig("internvl2.5-2b", "internvl", "OpenGVLab/InternVL2_5-2B-MPO-hf", _gpu(6, "1x 16 GB"), 4, prompt=_OCR_PROMPT),
        ModelConfig("internvl2.5-8b", "internvl", "OpenGVLab/InternVL2_5-8B-MPO-hf", _gpu(20, "1x 24 GB (L4, A10)", ram=32), 4, prompt=_OCR_PROMPT),
        ModelConfig("internvl2.5-26b", "internvl", "OpenGVLab/InternVL2_5-26B-MPO-hf", _gpu(60, "1x 80 GB (A100, H100)", ram=96), 2, prompt=_OCR_PROMPT),
    ]
}


def engine_class(family: str) -> type[OcrEngine]:
    if family not in FAMILIES:
        raise EngineUnavailable(f"unknown engine family {family!r}")
    module, _, cls = FAMILIES[family].partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise EngineUnavailable(f"engine family {family!r} needs a package that is not installed: {exc}") from exc


# Run-time overrides per model, as JSON: {"rapidocr": {"max_batch_size": 2}, "qwen2.5-vl-7b": {"model_id":
# "/models/qwen7b", "device": "cuda"}}. An environment variable, so that parsing workers and Dagster steps
# started from this process see the same configs (and cache keys) as the process that set them.
OVERRIDES_ENV = "DOCPROC_MODEL_OVERRIDES"


def set_overrides(overrides: dict[str, dict[str, Any]]) -> None:
    unknown = set(overrides) - set(MODELS)
    if unknown:
        raise EngineUnavailable(f"overrides for unknown OCR engines: {', '.join(sorted(unknown))}")
    os.environ[OVERRIDES_ENV] = json.dumps(overrides)


def check_availability(config: ModelConfig) -> Availability:
    """Whether a model can run here, checked without loading it; never raises (a family whose module
    fails to import, or a broken install, is that model's problem only)."""
    try:
        return engine_class(config.family).availability(config)
    except EngineUnavailable as exc:
        return Availability(False, str(exc), device=None)
    except Exception as exc:  # noqa: BLE001
        return Availability(False, f"availability check failed: {type(exc).__name__}: {exc}", device=None)


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """A model's config with the environment's overrides, then these ones, applied."""
    if name not in MODELS:
        raise EngineUnavailable(f"unknown OCR engine {name!r} (known: {', '.join(MODELS)})")
    from_env = json.loads(os.environ.get(OVERRIDES_ENV) or "{}").get(name, {})
    merged = {**from_env, **overrides}
    if from_env.get("options") and overrides.get("options"):  # options merge key by key, the caller's last
        merged["options"] = {**from_env["options"], **overrides["options"]}
    return MODELS[name].with_overrides(**merged) if merged else MODELS[name]


MAX_LOADED = 2  # models kept in one process; the least recently used is closed first
_loaded: OrderedDict[str, OcrEngine] = OrderedDict()
load_counts: dict[str, int] = {}


def load_engine(name: str, config: ModelConfig | None = None) -> OcrEngine:
    """The loaded engine for a model, made once per process and reused (LRU of MAX_LOADED)."""
    config = config or get_config(name)
    key = config.version
    if key in _loaded:
        _loaded.move_to_end(key)
        return _loaded[key]
    try:
        engine = engine_class(config.family)(config)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # broken weights or data files: this model's pages fail, with the reason
        raise EngineUnavailable(f"{config.name}: cannot load the engine: {type(exc).__name__}: {exc}") from exc
    load_counts[config.name] = load_counts.get(config.name, 0) + 1
    log.info("loaded OCR engine %s (%s), load #%d in this process", config.name, key, load_counts[config.name])
    _loaded[key] = engine
    while len(_loaded) > MAX_LOADED:
        old_key, old = _loaded.popitem(last=False)
        log.info("closing OCR engine %s to stay within %d loaded models", old_key, MAX_LOADED)
        old.close()
    return engine
