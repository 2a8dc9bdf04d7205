"""Qwen2.5-VL (3B/7B/72B) and its fine-tunes (RolmOCR) as OCR engines, transformers-native.

The page goes through the checkpoint's chat template as one user turn (the image, then the prompt);
`Qwen2_5_VLProcessor` resizes it with `Qwen2VLImageProcessor` (28x28-pixel patches, merged 2x2 into
one token each) and expands `<|image_pad|>` to the image's tokens. `options["max_pixels"]` /
`options["min_pixels"]` bound the resize (default: the checkpoint's; 1280*28*28 is a common OCR
setting, ~1280 visual tokens a page).
"""

from __future__ import annotations

from PIL import Image

from docproc_assets.core.engines._vlm import VlmEngine


class QwenVlEngine(VlmEngine):
    model_class = "Qwen2_5_VLForConditionalGeneration"
    processor_class = "Qwen2_5_VLProcessor"
    stop_tokens = ("<|im_end|>", "<|endoftext|>")

    def build_inputs(self, images: list[Image.Image]):
        text = self.chat_prompt()
        kwargs = {}
        options = self.config.options
        if options.get("min_pixels") or options.get("max_pixels"):
            size = dict(self.processor.image_processor.size)  # {"shortest_edge": min pixels, "longest_edge": max pixels}
            size.update({edge: int(options[key]) for key, edge in (("min_pixels", "shortest_edge"), ("max_pixels", "longest_edge")) if options.get(key)})
            kwargs["size"] = size
        return self.processor(text=[text] * len(images), images=images, padding=True, return_tensors="pt", **kwargs)
