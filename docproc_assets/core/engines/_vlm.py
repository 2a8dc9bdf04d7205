"""What the vision-language-model engines share: weights lookup, loading, device, batching, generation.

A family module (qwen_vl.py, got_ocr.py, internvl.py) names its transformers classes and builds the
model inputs for a batch of page images (its processor, its prompt or chat template); everything else
is here: finding the weights (a local directory, or a hub id already in the Hugging Face cache; no
download unless `options["allow_download"]`), choosing the device and dtype (bf16 on GPU, float32 on
CPU), the attention implementation (flash_attention_2 -> sdpa -> eager), greedy generation with
`max_new_tokens`, token counts and the truncation flag, and GPU memory handling through core/gpu.py.

torch and transformers are imported when an engine is made, never when this module is imported.
Options (ModelConfig.options): allow_download, revision, cache_dir, models_dir, dtype ("bfloat16",
"float32"), attn_implementation, cpu_threads, cpu_batch_size, gpu_gib_per_page, gpu_headroom_gib,
plus the family ones (Qwen: min_pixels/max_pixels; InternVL: max_patches; GOT: format,
crop_to_patches, max_patches).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image

from docproc_assets.core import gpu
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrOutput
from docproc_assets.core.errors import EngineUnavailable

if TYPE_CHECKING:
    from docproc_assets.core.engines.registry import ModelConfig

log = logging.getLogger(__name__)

MODELS_DIR_ENV = "DOCPROC_MODELS_DIR"  # optional root holding <owner>/<name> checkpoint folders
_WEIGHT_INDEXES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _looks_like_path(model_id: str) -> bool:
    """Hub ids are `owner/name`; anything else with a separator or a leading / . ~ is meant as a path."""
    return model_id.startswith(("/", ".", "~")) or model_id.count("/") > 1 or "\\" in model_id


def resolve_weights(config: ModelConfig) -> tuple[str | None, str]:
    """(what to pass to from_pretrained, where it was found), or (None, why not).

    A local directory must hold config.json; a hub id must have config.json and weights in the HF
    cache (`huggingface_hub.try_to_load_from_cache`), or `options["allow_download"]` with the hub
    online. `options["revision"]` picks a hub revision, `options["cache_dir"]` another HF cache.
    """
    model_id = config.model_id
    if not model_id:
        return None, f"{config.name} has no model_id"
    path = Path(model_id).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path), f"local directory {path}"
        return None, f"{path} has no config.json"
    if _looks_like_path(model_id) or path.exists():
        return None, f"directory {path} does not exist"
    root = config.options.get("models_dir") or os.environ.get(MODELS_DIR_ENV)
    if root and (Path(root).expanduser() / model_id / "config.json").is_file():
        found = Path(root).expanduser() / model_id
        return str(found), f"local directory {found} ({MODELS_DIR_ENV})"
    if importlib.util.find_spec("huggingface_hub") is None:
        return None, f"{model_id} is not a local directory and huggingface_hub is not installed"
    from huggingface_hub import try_to_load_from_cache

    revision, cache_dir = config.options.get("revision"), config.options.get("cache_dir")
    cached = try_to_load_from_cache(model_id, "config.json", cache_dir=cache_dir, revision=revision)
    if isinstance(cached, str) and any(
        isinstance(try_to_load_from_cache(model_id, name, cache_dir=cache_dir, revision=revision), str) for name in _WEIGHT_INDEXES
    ):
        return model_id, f"hub id {model_id} in the Hugging Face cache ({Path(cached).parent})"
    if config.options.get("allow_download") and not _offline():
        return model_id, f"hub id {model_id}, to be downloaded (allow_download)"
    hint = "HF_HUB_OFFLINE is set" if _offline() else "downloads are off (options allow_download)"
    return None, f"hub id {model_id} is not in the Hugging Face cache and {hint}; download it or give a local directory"


def _packages_missing() -> list[str]:
    return [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]


class VlmEngine(OcrEngine):
    """A transformers image-text-to-text model used for OCR; subclasses fill in the family specifics."""

    model_class: ClassVar[str] = "AutoModelForImageTextToText"  # a transformers class name
    processor_class: ClassVar[str] = "AutoProcessor"
    attention_implementations: ClassVar[tuple[str, ...]] = ("flash_attention_2", "sdpa", "eager")
    stop_tokens: ClassVar[tuple[str, ...]] = ()  # extra tokens that end generation (e.g. "<|im_end|>")

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        missing = _packages_missing()
        if missing:
            return Availability(False, f"package missing: {', '.join(missing)} (pip install torch==2.13.0 transformers==5.23.0)")
        weights, where = resolve_weights(config)
        if weights is None:
            return Availability(False, f"weights not found: {where}")
        try:
            choice = gpu.choose_device(config)
        except EngineUnavailable as exc:
            return Availability(False, str(exc), device="cpu")
        return Availability(True, f"{where}; {choice.reason}", device=choice.device)

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        missing = _packages_missing()
        if missing:
            raise EngineUnavailable(f"{config.name} needs {', '.join(missing)}, not installed")
        weights, where = resolve_weights(config)
        if weights is None:
            raise EngineUnavailable(f"{config.name}: weights not found: {where}")
        choice = gpu.choose_device(config)  # raises EngineUnavailable("no GPU ...") for GPU-only models
        from docproc_assets.core.engines._torch import import_transformers

        start = time.perf_counter()
        self._transformers = import_transformers()
        import torch

        self._torch = torch
        if config.options.get("cpu_threads"):  # e.g. 1 per process when several worker processes share the cores
            torch.set_num_threads(int(config.options["cpu_threads"]))
        self.weights = weights
        self.device = choice.device
        self.dtype = self._dtype_for(self.device)
        local_only = weights != config.model_id or not config.options.get("allow_download") or _offline()
        load_kwargs: dict[str, Any] = {"local_files_only": local_only}
        for key in ("revision", "cache_dir"):
            if config.options.get(key):
                load_kwargs[key] = config.options[key]
        try:
            self.processor = self.load_processor(weights, **load_kwargs)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # missing/corrupt files, unknown processor
            raise EngineUnavailable(f"{config.name}: cannot load the processor from {weights}: {type(exc).__name__}: {exc}") from exc
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None:
            raise EngineUnavailable(f"{config.name}: {weights} has no processor config (got {type(self.processor).__name__})")
        self.tokenizer.padding_side = "left"  # decoder-only batched generation pads on the left
        self.model = self._load_model_or_fall_back(weights, load_kwargs)
        self.eos_ids = self._eos_ids()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.load_seconds = round(time.perf_counter() - start, 3)
        log.info("%s: loaded %s (%s) on %s as %s, attention %s, in %.1f s", config.name, type(self.model).__name__, where,
                 self.device, str(self.dtype).removeprefix("torch."), self.attention, self.load_seconds)

    # ---- loading -------------------------------------------------------------------------------

    def _dtype_for(self, device: str):
        torch = self._torch
        name = self.config.options.get("dtype")
        if name:
            return getattr(torch, name)
        return torch.bfloat16 if device == "cuda" else torch.float32

    def load_processor(self, weights: str, **kwargs: Any):
        cls = getattr(self._transformers, self.processor_class)
        return cls.from_pretrained(weights, **kwargs)

    def attention_candidates(self) -> list[str]:
        """flash_attention_2 only where it could help (GPU or asked for), then sdpa, then eager."""
        wanted = self.config.options.get("attn_implementation")
        if wanted:
            return [wanted] + [a for a in ("eager",) if a != wanted]
        candidates = list(self.attention_implementations)
        if "flash_attention_2" in candidates and not (self.device == "cuda" or self.config.flash_attention):
            candidates.remove("flash_attention_2")
        return candidates

    def _load_model_or_fall_back(self, weights: str, load_kwargs: dict[str, Any]):
        """The model on the chosen device; after an out-of-memory on the GPU, on the CPU if it may run there."""
        try:
            return self.load_model(weights, **load_kwargs)
        except EngineUnavailable:
            raise
        except Exception as exc:
            gpu.cleanup(self.device)
            if self.device == "cuda" and gpu.is_out_of_memory(exc) and self.config.resources.cpu_capable:
                log.warning("%s: out of memory loading on cuda (%s); loading on the CPU instead", self.config.name, exc)
                self.device, self.dtype = "cpu", self._dtype_for("cpu")
                return self.load_model(weights, **load_kwargs)
            if gpu.is_out_of_memory(exc):
                raise EngineUnavailable(f"{self.config.name}: out of GPU memory while loading: {exc}") from exc
            # corrupt or incomplete weights (SafetensorError, OSError, KeyError, ...): this engine is unusable
            raise EngineUnavailable(f"{self.config.name}: cannot load the model from {weights}: {type(exc).__name__}: {exc}") from exc

    def load_model(self, weights: str, **kwargs: Any):
        cls = getattr(self._transformers, self.model_class)
        multi_gpu = self.device == "cuda" and self.config.resources.gpu_count > 1 and importlib.util.find_spec("accelerate")
        if multi_gpu:
            kwargs["device_map"] = "auto"
        errors = []
        for attention in self.attention_candidates():
            try:
                model = cls.from_pretrained(weights, dtype=self.dtype, attn_implementation=attention, **kwargs)
            except (ImportError, ValueError) as exc:
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.info("%s: attention %s unavailable (%s: %s)", self.config.name, attention, type(exc).__name__, first_line[:160])
                errors.append(f"{attention}: {first_line[:160]}")
                continue
            self.attention = attention
            if not multi_gpu:
                model = model.to(self.device)
            return model.eval()
        raise EngineUnavailable(f"{self.config.name}: no attention implementation loads ({'; '.join(errors)})")

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(int(v) for v in value)
        for token in self.stop_tokens:
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != self.tokenizer.unk_token_id:
                ids.add(token_id)
        if not ids:
            raise EngineUnavailable(f"{self.config.name}: no end-of-sequence token in the tokenizer or generation config")
        return ids

    def to_cpu(self) -> None:
        """After an out-of-memory at batch size 1: run on the CPU in float32 from now on."""
        self.model = self.model.to("cpu", dtype=self._torch.float32)
        self.device, self.dtype = "cpu", self._torch.float32

    def close(self) -> None:
        device = getattr(self, "device", "cpu")
        for attr in ("model", "processor", "tokenizer"):
            if hasattr(self, attr):
                delattr(self, attr)
        gpu.cleanup(device)

    # ---- recognition ---------------------------------------------------------------------------

    @property
    def prompt(self) -> str:
        return self.config.prompt or "Read all the text in this image."

    def chat_prompt(self) -> str:
        """One user turn, the page image then the prompt, through the checkpoint's chat template."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def build_inputs(self, images: list[Image.Image]):
        """The processor output (a BatchFeature with input_ids) for these pages; family-specific."""
        raise NotImplementedError

    def generate_kwargs(self) -> dict[str, Any]:
        return {}

    def recognize(self, image: Image.Image) -> OcrOutput:
        return self.recognize_batch([image])[0]

    def recognize_batch(self, images: list[Image.Image]) -> list[OcrOutput]:
        if not images:
            return []
        pages = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        size = gpu.loaded_batch_size(self.config, self.device)
        can_move = self.config.resources.cpu_capable and not getattr(self.model, "hf_device_map", None)
        return gpu.run_batches(
            pages, self._generate, size, name=self.config.name,
            device=lambda: self.device, to_cpu=self.to_cpu if can_move else None,
        )

    def _generate(self, images: list[Image.Image]) -> list[OcrOutput]:
        torch = self._torch
        inputs = self.build_inputs(list(images))
        device = self.model.device
        moved = {}
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                value = value.to(device)
                if value.is_floating_point():
                    value = value.to(self.model.dtype)  # processors give float32 pixels; GOT does not cast them
            moved[key] = value
        prompt_length = moved["input_ids"].shape[1]
        max_new = self.config.max_new_tokens
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                **moved, max_new_tokens=max_new, do_sample=False, num_beams=1,
                eos_token_id=sorted(self.eos_ids), pad_token_id=self.pad_id, **self.generate_kwargs(),
            )
        seconds = time.perf_counter() - start
        results = [self._output(row[prompt_length:].tolist(), max_new) for row in output]
        log.debug("%s: %d pages, %d new tokens in %.2f s on %s", self.config.name, len(images),
                  sum(r.token_count or 0 for r in results), seconds, self.device)
        return results

    def _output(self, new_tokens: list[int], max_new: int) -> OcrOutput:
        end = next((i for i, token in enumerate(new_tokens) if token in self.eos_ids), None)
        count = end + 1 if end is not None else len(new_tokens)
        content = new_tokens[:end] if end is not None else new_tokens
        text = self.tokenizer.decode(content, skip_special_tokens=True).strip()
        return OcrOutput(text=text, token_count=count, truncated=end is None and count >= max_new)
