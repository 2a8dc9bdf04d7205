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
        with self._lock:
            self._api.SetImage(image if image.mode in ("L", "RGB") else image.convert("RGB"))
            if dpi := image.info.get("dpi"):  # else Tesseract assumes 70 dpi: a 150-dpi Hangul page fell into 62 lines, not 10
                self._api.SetSourceResolution(max(70, round(dpi[0])))
            self._api.Recognize()
            tsv, text = self._api.GetTSVText(0), self._api.GetUTF8Text()
            self._api.Clear()
        return OcrOutput(lines=lines_from_tsv(tsv, text))

    def close(self) -> None:
        api, self._api = getattr(self, "_api", None), None
        if api is not None:
            api.End()


def lines_from_tsv(tsv: str, text: str | None = None) -> list[OcrLine]:
    """Each text line of Tesseract's TSV (level 4: its box) with its words (level 5) in reading order, and
    the mean of their confidences (0..100). Not tesserocr's line iterator: on right-to-left lines (Hebrew,
    Arabic) it returned the first word alone, its letters reversed, and dropped the rest of the line.
    With the page's `text` (GetUTF8Text, the same lines in the same order), each line's text is taken
    from it: the TSV has no spaces, and joining its words with one put a space between every two Hangul
    syllables Tesseract read as words of one word (CER 0.38 against 0.01)."""
    lines: dict[tuple[str, ...], tuple[tuple[float, ...], list[str], list[float]]] = {}
    for row in tsv.splitlines():
        fields = row.split("\t")
        if len(fields) < 12:
            continue
        level, key = fields[0], tuple(fields[1:5])  # page, block, paragraph, line
        left, top, width, height = (float(v) for v in fields[6:10])
        if level == "4":
            lines[key] = ((left, top, left + width, top + height), [], [])
        elif level == "5" and fields[11].strip() and key in lines:
            lines[key][1].append(fields[11].strip())
            if float(fields[10]) >= 0:
                lines[key][2].append(float(fields[10]))
    found = [(box, words, confs) for box, words, confs in lines.values() if words]
    written = [line.strip() for line in (text or "").splitlines() if line.strip()]
    texts = written if len(written) == len(found) else [" ".join(words) for _, words, _ in found]
    return [OcrLine(content, box, unit_confidence(sum(confs) / len(confs), 100.0) if confs else 0.0)
            for content, (box, _, confs) in zip(texts, found, strict=True)]
