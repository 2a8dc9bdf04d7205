"""RapidOCR (PP-OCRv4 detection + recognition as ONNX, shipped in the rapidocr-onnxruntime wheel).

The default engine. Settings (`config.options`, keyword arguments of `RapidOCR(...)`: `det_*` go to
detection, `rec_*` to recognition, the rest are global), measured on clean Helvetica pages (12/10/8/7 pt)
rendered at 300/200/150 dpi and on the corpus (bench/ocr.py):

- `use_cls=False`: the 0/180 text-line classifier flips long English lines upside down, which are then
  read as garbage and dropped by the score filter. With it on, CER was 30% on the 300-dpi test page (6 of
  28 lines lost); off, 0.0%. Page orientation is handled for every engine by core/orientation.py.
- `max_side_len=4000`: the default 2000 shrinks the whole page (a 300-dpi letter page to ~180 dpi) before
  detection and recognition, and small print suffers (0.46% -> 0.0% CER at 300 dpi, 1.4% -> 0.6% at 200).
- `det_limit_type="max"` (`det_limit_side_len` is then chosen by the library: 960/1500/2000 by page
  size): detection runs on a <=2000 px image while recognition reads crops at full resolution. With
  "min" the detector runs on the full page: 2-3x slower detection and no better text.
- `threads`: onnxruntime intra-op threads (default: all cores; 1 when processes share the cores).

Spaces: the Chinese+English recogniser is the only one in the wheel. On clean 300-dpi pages it keeps the
spaces between words; they are lost as resolution falls (150 dpi: CER 2.2%, all of it spaces; 0.05%
without spaces) and on noisy scans. No setting brings them back (text_score, unclip ratio and detector
limits change nothing there); Tesseract or EasyOCR are the engines for low-resolution prose.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from docproc_assets.core.engines._common import missing_packages, polygon_bbox, unit_confidence
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrLine, OcrOutput
from docproc_assets.core.engines.registry import ModelConfig

# Options of ours, not RapidOCR's.
OWN_OPTIONS = {"auto_rotate", "threads", "layout"}


def engine_kwargs(config: ModelConfig, threads_key: str = "intra_op_num_threads") -> dict:
    """RapidOCR keyword arguments from the model's options (shared with the Paddle build)."""
    kwargs = {k: v for k, v in config.options.items() if k not in OWN_OPTIONS}
    threads = config.options.get("threads")
    if threads:
        kwargs[threads_key] = int(threads)
        if threads_key == "intra_op_num_threads":
            kwargs["inter_op_num_threads"] = 1
    return kwargs


def lines_from_result(result, image: Image.Image) -> list[OcrLine]:
    """RapidOCR's [(quad, text, score), ...] as OcrLines in pixels of `image`."""
    width, height = image.size
    return [
        OcrLine(str(text), polygon_bbox(quad, width, height), unit_confidence(score))
        for quad, text, score in (result or [])
        if str(text).strip()
    ]


class RapidOcrEngine(OcrEngine):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(**engine_kwargs(config))
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        if missing := missing_packages("rapidocr_onnxruntime", "onnxruntime"):
            return missing
        return Availability(True, device="cpu")

    def recognize(self, image: Image.Image) -> OcrOutput:
        image = image.convert("RGB")
        # RapidOCR treats arrays as OpenCV BGR.
        with self._lock:
            result, _ = self._ocr(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
        return OcrOutput(lines=lines_from_result(result, image))

    def close(self) -> None:
        self._ocr = None
