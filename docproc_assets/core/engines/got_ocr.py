"""GOT-OCR 2.0 (`stepfun-ai/GOT-OCR-2.0-hf`), transformers-native.

GOT has no chat template: `GotOcr2Processor` writes its own prompt ("OCR: " or, with
`options["format"]`, "OCR with format: ", which answers in Mathpix-style Markdown/LaTeX). The number of
image tokens per image is fixed by the architecture and not saved with the processor, so it is
derived from the model config (image size / patch size / 4, squared: 256 for the released model).
Only eager attention exists for GOT (sdpa and flash raise ValueError). Its processor gives float32
pixels and the model does not cast them: the shared generation step casts floating inputs to the
model dtype. `options["crop_to_patches"]` (with `max_patches`) tiles large pages.
"""

from __future__ import annotations

from PIL import Image

from docproc_assets.core.engines._vlm import VlmEngine


class GotOcrEngine(VlmEngine):
    model_class = "GotOcr2ForConditionalGeneration"
    processor_class = "GotOcr2Processor"
    attention_implementations = ("eager",)
    stop_tokens = ("<|im_end|>",)

    @property
    def num_image_tokens(self) -> int:
        vision = self.model.config.vision_config
        side = int(vision.image_size) // int(vision.patch_size) // 4  # two stride-2 convolutions in the projector
        return side * side

    def build_inputs(self, images: list[Image.Image]):
        options = self.config.options
        kwargs = {"format": bool(options.get("format", False)), "num_image_tokens": self.num_image_tokens}
        if options.get("crop_to_patches"):
            kwargs.update(crop_to_patches=True, max_patches=int(options.get("max_patches", 6)))
        return self.processor(images=images, padding=True, return_tensors="pt", **kwargs)
