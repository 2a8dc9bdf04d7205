"""InternVL (native `-hf` checkpoints: InternVL3-*-hf, InternVL2_5-*-MPO-hf) as OCR engines.

The checkpoint's chat template turns an image entry into `<IMG_CONTEXT>`; `InternVLProcessor` tiles
the page with `GotOcr2ImageProcessor` (448-pixel tiles plus a thumbnail, `options["max_patches"]`,
default the checkpoint's 12) and expands it to `<img>` + `<IMG_CONTEXT>` x image_seq_length per tile +
`</img>`. The plain (non `-hf`) InternVL2_5 checkpoints need remote code and are not supported.
"""

from __future__ import annotations

from PIL import Image

from docproc_assets.core.engines._vlm import VlmEngine


class InternVlEngine(VlmEngine):
    model_class = "InternVLForConditionalGeneration"
    processor_class = "InternVLProcessor"
    stop_tokens = ("<|im_end|>",)

    def build_inputs(self, images: list[Image.Image]):
        text = self.chat_prompt()
        kwargs = {"max_patches": int(self.config.options["max_patches"])} if self.config.options.get("max_patches") else {}
        return self.processor(text=[text] * len(images), images=images, padding=True, return_tensors="pt", **kwargs)
