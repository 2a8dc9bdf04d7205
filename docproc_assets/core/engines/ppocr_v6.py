"""PP-OCRv6 small (detection + recognition as ONNX) through `rapidocr` 3.x, whose wheel ships the weights.

The default engine. Measured on renders of real pages (../shared/ENGINES.md, bench/ocr.py): it reads
better than PP-OCRv4 at every resolution (word-bag F1 0.959 against 0.821 at 150 dpi) and, on the same
runtime, twice as fast.
Settings (`config.options`; keys of rapidocr's `config.yaml` as `Section.key`, passed through):

- `Global.use_cls: False`: the 0/180 line classifier turns good lines over (F1 0.950 with it, 0.957
  without); page orientation is handled for every engine by core/orientation.py.
- the detector's default input side (`Det.limit_side_len`, library default) is kept: a larger side
  (4000, right for v4) hurts v6 (F1 0.910, CER 16.9%).
- `Det.box_thresh: 0.35` (library 0.5): a detected box is kept from this mean text score. A lone page
  number at the end of a TOC row scores under 0.5 and was dropped (`Introduction ..... 1` read without
  its `1`). On ../shared/corpus (37 OCR pages, one run each): rows intact 308/324 -> 315/324, CER 7.21%
  -> 7.18%, bag-of-words F1 0.983 -> 0.984; 0.30 gave 316/324 and 7.17%, within noise of 0.35.
- `threads`: the runtime's math threads (default: all cores; 1 when processes share the cores).
- `runtime: openvino` (default; `onnxruntime` for the other): the same ONNX files from the wheel, read by
  OpenVINO. One thread on this project's 2-core Xeon (AMX, so OpenVINO computes in bf16): 3.8x ONNX Runtime
  (4.7 s against 18.0 s for three 300-dpi pages); with f32 forced, 1.75x. On ../shared/corpus (bench/ocr.py,
  37 OCR pages, 2 workers x 1 thread, same session): 16.5 -> 46.0 pages/min, rows intact 315/324 both, CER
  7.17% -> 7.16%, bag-of-words F1 0.984 -> 0.983. OpenVINO pins its threads by default, which put both
  workers on one core (each at 0.6 of a core): `EngineConfig.openvino.enable_cpu_pinning` is off.

Speed with ONNX Runtime, measured on 8 pages of ../shared/corpus (renders at 300 dpi, UNLV scans), one thread, with the
layout stage: library defaults 5.7 s/page (bag-of-words F1 0.986, rows 154/162); `Det.limit_type: max`
with `Det.limit_side_len: 1280` 3.6 s (0.985, 151/162); with 960, 3.1 s (0.983, 148/162). The default
keeps the rows; a user who needs more throughput sets the latter through DOCPROC_MODEL_OVERRIDES.

`rapidocr` 3.x installs beside `rapidocr-onnxruntime` 1.x (module `rapidocr`, not `rapidocr_onnxruntime`).
"""

from __future__ import annotations

import importlib.util
import threading
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from docproc_assets.core.engines._common import missing_packages, polygon_bbox, unit_confidence
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrLine, OcrOutput
from docproc_assets.core.engines.registry import ModelConfig

MODELS = ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx")
OWN_OPTIONS = {"threads", "auto_rotate", "layout", "runtime"}  # docproc's, not rapidocr's
RUNTIMES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}  # runtime option -> the package that provides it


def _models_dir() -> Path:
    return Path(importlib.util.find_spec("rapidocr").origin).parent / "models"


def _params(config: ModelConfig) -> dict:
    params = {"Global.log_level": "warning", **{k: v for k, v in config.options.items() if k not in OWN_OPTIONS}}
    threads = config.options.get("threads")
    if _runtime(config) == "openvino":  # the same ONNX files, read by OpenVINO (rapidocr would download IR files otherwise)
        from rapidocr import EngineType

        for stage, model in zip(("Det", "Rec"), MODELS, strict=True):
            params[f"{stage}.engine_type"] = EngineType.OPENVINO
            params[f"{stage}.model_path"] = str(_models_dir() / model)
        # OpenVINO pins its threads to cores by default: two worker processes then share one core (measured:
        # each ran at 0.6 of a core, 8.1 s where one alone took 4.7 s); unpinned, both run at full speed.
        params.setdefault("EngineConfig.openvino.enable_cpu_pinning", False)
        if threads:
            params["EngineConfig.openvino.inference_num_threads"] = int(threads)
    elif threads:
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
    return params


def _runtime(config: ModelConfig) -> str:
    runtime = config.options.get("runtime", "onnxruntime")
    if runtime not in RUNTIMES:
        raise ValueError(f"ppocr-v6 runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    return runtime


class PpOcrV6Engine(OcrEngine):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.require_available(config)
        from rapidocr import RapidOCR

        self._ocr = RapidOCR(params=_params(config))
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        if missing := missing_packages("rapidocr", RUNTIMES[_runtime(config)]):
            return missing
        models = _models_dir()
        if absent := [m for m in MODELS if not (models / m).is_file()]:
            version = metadata.version("rapidocr")
            return Availability(False, f"rapidocr {version} does not ship {', '.join(absent)} (rapidocr==3.10.0 does)")
        return Availability(True, device="cpu")

    @classmethod
    def languages(cls, config: ModelConfig) -> list[str]:
        return ["ch", "en", "ja (kana, kanji)"]  # the multilingual "ch" recogniser: Han, Latin, kana; no Cyrillic, no Hangul

    def recognize(self, image: Image.Image) -> OcrOutput:
        image = image.convert("RGB")
        width, height = image.size
        with self._lock:  # one ONNX session pair per engine; rapidocr reads arrays as OpenCV BGR
            out = self._ocr(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
        lines = [
            OcrLine(str(text), polygon_bbox(quad, width, height), unit_confidence(score))
            for quad, text, score in zip(out.boxes if out.boxes is not None else (), out.txts or (), out.scores or (), strict=False)
            if str(text).strip()
        ]
        return OcrOutput(lines=lines)

    def close(self) -> None:
        self._ocr = None
