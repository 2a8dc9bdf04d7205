"""Tiny randomly initialised checkpoints of each VLM family, built offline, saved like real ones.

Each builder trains a byte-level BPE tokenizer on a few lines (family special tokens first), builds
the family's image processor and processor in code, makes the model from a tiny config with random
weights, and `save_pretrained`s model + processor into a directory that the real engine code then
loads exactly as it would load downloaded weights. Nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_CORPUS = [
    "Read all the text in this image. Return it as Markdown in reading order; tables as Markdown tables.",
    "system user assistant OCR with format: You should follow the instructions carefully.",
    "The quick brown fox jumps over the lazy dog 0123456789 | - # *",
]

# A Qwen-style chat template: an image entry becomes the family's image placeholder.
_CHAT = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}IMAGE{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class TinyModel:
    family: str
    path: Path
    eos_id: int
    special_ids: dict[str, int]


def _tokenizer(special: list[str], chat_template: str | None = None, extra: dict[str, str] | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        chat_template=chat_template, extra_special_tokens=extra,
    )


def _text_config(tokenizer, **extra) -> dict:
    return dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **extra,
    )


def _save(model, processor, tokenizer, path: Path, family: str, special: list[str]) -> TinyModel:
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return TinyModel(family, path, tokenizer.eos_token_id, {t: tokenizer.convert_tokens_to_ids(t) for t in special})


def build_qwen2_5_vl(path: Path) -> TinyModel:
    import torch
    from transformers import (
        Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    template = _CHAT.replace("IMAGE", "<|vision_start|><|image_pad|><|vision_end|>")
    tokenizer = _tokenizer(special, template)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in special}
    # 28-pixel merged patches; at most 112x112 pixels -> at most 16 visual tokens per page
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112)
    processor = Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                    video_processor=Qwen2VLVideoProcessor(), chat_template=template)
    config = Qwen2_5_VLConfig(
        # head_dim 16: mrope_section must sum to head_dim / 2
        text_config=_text_config(tokenizer, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           fullatt_block_indexes=[1], window_size=56, patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    return _save(Qwen2_5_VLForConditionalGeneration(config).eval(), processor, tokenizer, path, "qwen2_5_vl", special)


def build_got_ocr2(path: Path) -> TinyModel:
    import torch
    from transformers import GotOcr2Config, GotOcr2ForConditionalGeneration, GotOcr2ImageProcessor, GotOcr2Processor

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<imgpad>"]
    tokenizer = _tokenizer(special)  # GOT has no chat template: its processor writes the prompt
    # 64-pixel images, 4-pixel patches: 16x16 grid, two stride-2 convs -> 4x4 = 16 image tokens
    processor = GotOcr2Processor(image_processor=GotOcr2ImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer)
    config = GotOcr2Config(
        vision_config=dict(hidden_size=32, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                           patch_size=4, window_size=4, global_attn_indexes=[1], mlp_dim=64),
        text_config=_text_config(tokenizer),
        image_token_index=tokenizer.convert_tokens_to_ids("<imgpad>"), image_seq_length=16,
    )
    torch.manual_seed(0)
    return _save(GotOcr2ForConditionalGeneration(config).eval(), processor, tokenizer, path, "got_ocr2", special)


def build_internvl(path: Path) -> TinyModel:
    import torch
    from transformers import (
        GotOcr2ImageProcessor, InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor, InternVLVideoProcessor,
    )

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
    template = _CHAT.replace("IMAGE", "<IMG_CONTEXT>\n")
    tokenizer = _tokenizer(special, template, extra={
        "start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>",
    })
    # 56-pixel tiles, 14-pixel patches, downsample 0.5: 4 tokens per tile; at most 2 tiles + thumbnail
    image_processor = GotOcr2ImageProcessor(size={"height": 56, "width": 56}, crop_to_patches=True, max_patches=2)
    processor = InternVLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=InternVLVideoProcessor(),
                                  image_seq_length=4, chat_template=template)
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           image_size=[56, 56], patch_size=[14, 14]),
        text_config=_text_config(tokenizer, model_type="qwen2"),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=4,
    )
    torch.manual_seed(0)
    return _save(InternVLForConditionalGeneration(config).eval(), processor, tokenizer, path, "internvl", special)


BUILDERS = {"qwen2_5_vl": build_qwen2_5_vl, "got_ocr2": build_got_ocr2, "internvl": build_internvl}
# a registry model of each family, whose config the tests copy with model_id pointing at the tiny one
REGISTRY_MODEL = {"qwen2_5_vl": "qwen2.5-vl-3b", "got_ocr2": "got-ocr2", "internvl": "internvl2.5-2b"}


def build_all(root: Path) -> dict[str, TinyModel]:
    from docproc_assets.core.engines._torch import import_torchvision_safely

    import_torchvision_safely()  # the Qwen and InternVL video processors need torchvision
    return {family: build(root / family) for family, build in BUILDERS.items()}
