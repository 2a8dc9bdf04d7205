"""What every OCR engine gives back, whatever its family: lines with pixel boxes, or free text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from docproc_assets.core.errors import EngineUnavailable

if TYPE_CHECKING:
    from docproc_assets.core.engines.registry import ModelConfig
    from docproc_assets.core.scripts import ScriptGuess


@dataclass
class OcrLine:
    text: str
    bbox: tuple[float, float, float, float]  # pixels of the image the engine saw
    confidence: float = 1.0


@dataclass
class OcrOutput:
    """One page's recognition. VLMs return `text` (Markdown or plain) and token counts instead of boxes."""

    lines: list[OcrLine] = field(default_factory=list)
    text: str | None = None
    token_count: int | None = None
    truncated: bool = False
    engine: str | None = None  # the model that read the page, when not the engine itself (`auto`)
    engine_version: str | None = None
    vote: str | None = None  # `auto` read the page twice when unsure: both readings and which it kept


@dataclass
class Availability:
    available: bool
    reason: str | None = None  # why not: package missing, weights not found, no GPU
    device: str | None = "cpu"  # None when the check itself could not run


class OcrEngine(ABC):
    """A loaded model. Engines are made by the registry (loading happens in __init__) and reused."""

    def __init__(self, config: ModelConfig):
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        """Whether the model can run here, checked without loading it (packages, weights, GPU)."""
        return Availability(True)

    @classmethod
    def languages(cls, config: ModelConfig) -> list[str]:
        """What the engine can read here (language codes, or scripts), as `docproc engines` lists it."""
        return []

    @classmethod
    def require_available(cls, config: ModelConfig) -> Availability:
        """availability(), or EngineUnavailable with the reason: what engines check before loading."""
        availability = cls.availability(config)
        if not availability.available:
            raise EngineUnavailable(f"{config.name}: {availability.reason}")
        return availability

    @abstractmethod
    def recognize(self, image: Image.Image) -> OcrOutput: ...

    def recognize_batch(self, images: list[Image.Image]) -> list[OcrOutput]:
        return [self.recognize(image) for image in images]

    def recognize_pages(self, images: list[Image.Image], scripts: list[ScriptGuess | None]) -> list[OcrOutput]:
        """What PageReader calls: a batch with the pages' scripts (from OSD), for an engine that chooses
        how to read each page by its script (`auto`); the others read the batch as it is."""
        return self.recognize_batch(images)

    def close(self) -> None:
        """Free what the model holds (GPU memory, sessions)."""
