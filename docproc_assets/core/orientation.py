"""Turning rotated scans upright (0/90/180/270) before any engine reads them: one place for all engines.

Detection is Tesseract's orientation and script detection (OSD, `osd.traineddata`) through tesserocr:
about 0.1-0.2 s for a 300-dpi letter page on one core, independent of which engine then reads the page,
and right on rendered pages in all four rotations and on the corpus' rotated phototest scans. Weak
evidence (little text, pictures) gives a low orientation confidence; below MIN_CONFIDENCE the page is
left as it is, because turning an upright page is worse than leaving a rotated one. Where tesserocr or
osd.traineddata is missing, pages are not turned (logged once) and the engines still run.

Engines call `upright(image)` first; the boxes they return are in the pixels of the upright image.
"""

from __future__ import annotations

import logging
import threading

from PIL import Image

from docproc_assets.core import scripts
from docproc_assets.core.scripts import ScriptGuess

log = logging.getLogger(__name__)

MIN_CONFIDENCE = 4.0  # wrong answers seen at 0.2-0.3 (tiny images); right ones at 9-30
MIN_SIDE = 64  # OSD needs some text; below this the image is left alone
WEAK_SCRIPT = 3.0  # a script confidence below this on an image smaller than SMALL_IMAGE: asked again at 2x
SMALL_IMAGE = 2500  # pixels on the longer side: a letter page below ~230 dpi

_lock = threading.Lock()
_api = None
_unavailable: str | None = None


def _osd_api():
    global _api, _unavailable
    if _api is not None or _unavailable:
        return _api
    try:
        from docproc_assets.core.engines.tesseract import import_tesserocr, tessdata_dir

        tesserocr = import_tesserocr()
        folder = tessdata_dir()
        if folder is None or not (folder / "osd.traineddata").is_file():
            raise FileNotFoundError("osd.traineddata not found (apt-get install tesseract-ocr)")
        # lang="osd" matters: the default language makes DetectOrientationScript abort the process.
        _api = tesserocr.PyTessBaseAPI(path=str(folder), lang="osd", psm=tesserocr.PSM.OSD_ONLY)
    except Exception as exc:  # ImportError, missing data, init failure
        _unavailable = f"{type(exc).__name__}: {exc}"
        log.warning("page orientation detection unavailable, pages are not turned: %s", _unavailable)
    return _api


def osd(image: Image.Image) -> dict:
    """Tesseract OSD's answer for the image (orient_deg, orient_conf, script_name, script_conf); {} when
    it cannot tell (too little text, OSD missing). A weak script answer on a small image is asked again
    of the image at twice the size, and the surer answer kept: a 150-dpi Devanagari page read "Latin 1.67"
    as it was, "Devanagari 2.0" at 300 dpi."""
    if min(image.size) < MIN_SIDE:
        return {}
    gray = image.convert("L")
    result = _detect(gray)
    if result and max(gray.size) < SMALL_IMAGE and float(result.get("script_conf") or 0.0) < WEAK_SCRIPT:
        again = _detect(gray.resize((gray.width * 2, gray.height * 2), Image.Resampling.LANCZOS))
        if float(again.get("script_conf") or 0.0) > float(result.get("script_conf") or 0.0):
            result = again
    return result


def _detect(gray: Image.Image) -> dict:
    with _lock:
        api = _osd_api()
        if api is None:
            return {}
        try:  # raw bytes, not SetImage's PIL conversion: on a Devanagari page that said "Japanese 0.02, 90°"
            api.SetImageBytes(gray.tobytes(), gray.width, gray.height, 1, gray.width)  # for "Devanagari 9.8, 0°"
            return api.DetectOrientationScript() or {}
        except Exception as exc:  # OSD finds too little text: not a reason to fail the page
            log.debug("OSD failed: %s", exc)
            return {}
        finally:
            api.Clear()


def detect_rotation(image: Image.Image, result: dict | None = None) -> tuple[int, float]:
    """(degrees counter-clockwise that turn the image upright, OSD confidence); (0, 0.0) when unsure."""
    result = osd(image) if result is None else result
    if not result:
        return 0, 0.0
    degrees, confidence = int(result.get("orient_deg") or 0) % 360, float(result.get("orient_conf") or 0.0)
    return (degrees, confidence) if confidence >= MIN_CONFIDENCE else (0, confidence)


def upright_with_script(image: Image.Image) -> tuple[Image.Image, int, ScriptGuess]:
    """upright(), and the page's script from the same OSD pass (core/scripts.py)."""
    result = osd(image)
    degrees, _ = detect_rotation(image, result)
    script = scripts.from_osd(result)
    if degrees not in (90, 180, 270):
        return image, 0, script
    transpose = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    return image.transpose(transpose[degrees]), degrees, script


def upright(image: Image.Image) -> tuple[Image.Image, int]:
    """The image turned upright, and the counter-clockwise degrees it was turned by (0 when left alone)."""
    turned, degrees, _ = upright_with_script(image)
    return turned, degrees
