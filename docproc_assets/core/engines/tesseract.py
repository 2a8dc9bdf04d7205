"""Tesseract 5 (LSTM) through tesserocr: line boxes from the result iterator, word confidences averaged.

The tesserocr wheel bundles its own Tesseract (5.5.x) without language data, so it is pointed at the
Debian `tesseract-ocr-*` tessdata (`tessdata_dir()`). Debian's Tesseract build uses OpenMP, which is
slower than one thread when two processes share two cores; `OMP_THREAD_LIMIT=1` is set (unless the
user set it) before tesserocr is first imported, which is when OpenMP reads it. Languages come from
`config.options["languages"]` ("eng", "eng+deu", ...), each checked against the tessdata folder.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PIL import Image

from docproc_assets.core.engines._common import missing_packages, unit_confidence
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrLine, OcrOutput
from docproc_assets.core.engines.registry import ModelConfig

TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


def tessdata_dir() -> Path | None:
    """The tessdata folder: $DOCPROC_TESSDATA or $TESSDATA_PREFIX if they hold models, else the usual places."""
    for candidate in (os.environ.get("DOCPROC_TESSDATA"), os.environ.get("TESSDATA_PREFIX"), *TESSDATA_CANDIDATES):
        if candidate and any(Path(candidate).glob("*.traineddata")):
            return Path(candidate)
    return None


def installed_languages() -> list[str]:
    """The language packs in the tessdata folder (`osd` is orientation, not a language)."""
    folder = tessdata_dir()
    return sorted(p.name.removesuffix(".traineddata") for p in folder.glob("*.traineddata") if p.name != "osd.traineddata") if folder else []


def import_tesserocr():
    """tesserocr, with OpenMP limited to one thread unless the user chose otherwise."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    import tesserocr

    return tesserocr


def _languages(config: ModelConfig) -> str:
    return str(config.options.get("languages") or "eng")


class TesseractEngine(OcrEngine):
    @classmethod
    def languages(cls, config: ModelConfig) -> list[str]:
        return installed_languages()

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.require_available(config)
        tesserocr = import_tesserocr()
        self._tesserocr = tesserocr
        self._lock = threading.Lock()  # one TessBaseAPI is not safe to share between threads
        psm = getattr(tesserocr.PSM, str(config.options.get("psm", "AUTO")))
        self._api = tesserocr.PyTessBaseAPI(path=str(tessdata_dir()), lang=_languages(config), psm=psm, oem=tesserocr.OEM.LSTM_ONLY)

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        if missing := missing_packages("tesserocr"):
            return missing
        folder = tessdata_dir()
        if folder is None:
            return Availability(False, "no tessdata folder with *.traineddata (apt-get install tesseract-ocr-eng, or set DOCPROC_TESSDATA)")
        absent = [lang for lang in _languages(config).split("+") if not (folder / f"{lang}.traineddata").is_file()]
        if absent:
            return Availability(False, f"language data not found in {folder}: {', '.join(absent)} (apt-get install tesseract-ocr-LANG)")
        return Availability(True, device="cpu")

    def recognize(self, image: Image.Image) -> OcrOutput:
        tesserocr = self._tesserocr
        level = tesserocr.RIL.TEXTLINE
        lines: list[OcrLine] = []
        with self._lock:
            self._api.SetImage(image if image.mode in ("L", "RGB") else image.convert("RGB"))
            self._api.Recognize()
            # The line level: each text line's words, its box and its confidence (Tesseract's
            # mean of the word confidences, 0..100).
            iterator = self._api.GetIterator()
            for item in tesserocr.iterate_level(iterator, level) if iterator is not None else ():
                try:
                    text = " ".join((item.GetUTF8Text(level) or "").split())
                except RuntimeError:  # "No text returned": an empty page or an empty element
                    continue
                box = item.BoundingBox(level)
                if text and box:
                    lines.append(OcrLine(text, tuple(float(v) for v in box), unit_confidence(item.Confidence(level), 100.0)))
            self._api.Clear()
        return OcrOutput(lines=lines)

    def close(self) -> None:
        api, self._api = getattr(self, "_api", None), None
        if api is not None:
            api.End()
