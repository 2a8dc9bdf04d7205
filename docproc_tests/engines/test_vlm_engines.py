"""The VLM engines end to end on CPU, on tiny random checkpoints of each family built offline.

The real engine code loads each checkpoint from a directory exactly as it would load downloaded
weights, preprocesses page images with the family's processor, generates greedily and reports token
counts and truncation; the pipeline turns that into a UnifiedDocument. The models are untrained, so
the text is gibberish: these tests check the plumbing, never the words.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest
from PIL import Image

from docproc_assets.core import pipeline
from docproc_assets.core.document import Status, Track
from docproc_assets.core.engines import registry
from docproc_assets.core.engines.registry import engine_class, get_config
from docproc_assets.core.ocr import output_elements, page_ocr
from docproc_tests import documents
from docproc_tests.engines.vlm_models import REGISTRY_MODEL, TinyModel, build_all

FAMILIES = list(REGISTRY_MODEL)
MAX_NEW = 6

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, TinyModel]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return build_all(tmp_path_factory.mktemp("tiny-vlms"))


@pytest.fixture(scope="session")
def engines(tiny_models):
    """One loaded engine per family (loading is what the registry does once per process)."""
    made = {}
    for family, tiny in tiny_models.items():
        config = get_config(REGISTRY_MODEL[family], model_id=str(tiny.path), max_new_tokens=MAX_NEW, max_batch_size=2)
        made[family] = engine_class(family)(config)
    yield made
    for engine in made.values():
        engine.close()


def _bias(engine, tiny: TinyModel, eos: float) -> None:
    """Steer the untrained model: no special or blank tokens, EOS forced (eos > 0) or forbidden (eos < 0)."""
    tokenizer = engine.tokenizer
    blank = [i for i in range(len(tokenizer)) if not tokenizer.decode([i], skip_special_tokens=True).strip()]
    bias = {(token,): -100.0 for token in [*tiny.special_ids.values(), *blank] if token != tiny.eos_id}
    bias[(tiny.eos_id,)] = eos
    engine.model.generation_config.sequence_bias = bias


@pytest.fixture
def steer(engines, tiny_models):
    def apply(family: str, eos: float):
        _bias(engines[family], tiny_models[family], eos)
        return engines[family]

    yield apply
    for engine in engines.values():
        engine.model.generation_config.sequence_bias = None


PAGES = [Image.new("RGB", (300, 200), "white"), Image.new("L", (120, 420), 128), Image.new("RGB", (850, 1100), "white")]


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_runs_truncated_at_max_new_tokens(family, steer):
    engine = steer(family, eos=-100.0)
    outputs = engine.recognize_batch(PAGES)
    assert len(outputs) == len(PAGES)
    for out in outputs:
        assert out.token_count == MAX_NEW
        assert out.truncated is True
        assert out.text and out.lines == []


@pytest.mark.parametrize("family", FAMILIES)
def test_forced_eos_is_not_truncated(family, steer):
    engine = steer(family, eos=100.0)
    for out in engine.recognize_batch(PAGES[:2]):
        assert out.token_count == 1  # the EOS itself, generated after the prompt
        assert out.truncated is False
        assert out.text == ""


@pytest.mark.parametrize("family", FAMILIES)
def test_unsteered_generation_counts_tokens(family, engines):
    out = engines[family].recognize(PAGES[0])
    assert 0 < out.token_count <= MAX_NEW
    assert not out.truncated or out.token_count == MAX_NEW


@pytest.mark.parametrize("family", FAMILIES)
def test_batches_are_real_and_capped(family, steer, monkeypatch):
    engine = steer(family, eos=-100.0)
    sizes, prompt_rows = [], []
    build = engine.build_inputs

    def spy(images):
        inputs = build(images)
        sizes.append(len(images))
        prompt_rows.append(inputs["input_ids"].shape[0])
        return inputs

    monkeypatch.setattr(engine, "build_inputs", spy)
    engine.recognize_batch(PAGES)
    assert sizes == [2, 1]  # max_batch_size 2: one generate call for two pages, then one
    assert prompt_rows == [2, 1]


def test_loading_picks_attention_and_dtype(engines):
    assert engines["got_ocr2"].attention == "eager"  # GOT: sdpa and flash raise ValueError
    assert engines["qwen2_5_vl"].attention == "sdpa"
    assert engines["internvl"].attention == "sdpa"
    for engine in engines.values():
        assert engine.device == "cpu"
        assert str(engine.model.dtype) == "torch.float32"
        assert engine.tokenizer.padding_side == "left"


def test_flash_attention_falls_back_on_import_error(tiny_models, caplog):
    config = get_config("qwen2.5-vl-3b", model_id=str(tiny_models["qwen2_5_vl"].path), flash_attention=True, max_new_tokens=2)
    with caplog.at_level("INFO"):
        engine = engine_class("qwen2_5_vl")(config)
    assert engine.attention == "sdpa"
    assert "attention flash_attention_2 unavailable (ImportError" in caplog.text
    engine.close()


def test_got_bf16_casts_pixels_to_model_dtype(tiny_models):
    """GOT's processor gives float32 pixels and GOT does not cast them: bf16 works only if the engine does."""
    config = get_config("got-ocr2", model_id=str(tiny_models["got_ocr2"].path), max_new_tokens=3, options={"dtype": "bfloat16"})
    engine = engine_class("got_ocr2")(config)
    assert str(engine.model.dtype) == "torch.bfloat16"
    out = engine.recognize(PAGES[0])
    assert 0 < out.token_count <= 3
    engine.close()


def test_got_image_tokens_follow_the_model_config(engines):
    engine = engines["got_ocr2"]
    assert engine.num_image_tokens == 16  # 64 px / 4 px patches / 4
    ids = engine.build_inputs([PAGES[0]])["input_ids"][0].tolist()
    assert ids.count(engine.processor.image_token_id) == 16


@pytest.mark.parametrize(("family", "options", "more"), [
    ("qwen2_5_vl", {"max_pixels": 56 * 56}, False),          # smaller resize: fewer visual tokens
    ("internvl", {"max_patches": 1}, False),                 # no tiling: one tile instead of tiles + thumbnail
    ("got_ocr2", {"crop_to_patches": True, "max_patches": 3}, True),  # tiled: 16 tokens per tile
])
def test_resolution_options_reach_the_processor(tiny_models, family, options, more):
    wide = Image.new("RGB", (2000, 500), "white")
    path = str(tiny_models[family].path)
    plain = engine_class(family)(get_config(REGISTRY_MODEL[family], model_id=path, max_new_tokens=2))
    tuned = engine_class(family)(get_config(REGISTRY_MODEL[family], model_id=path, max_new_tokens=2, options=options))
    before, after = (e.build_inputs([wide])["input_ids"].shape[1] for e in (plain, tuned))
    assert (after > before) if more else (after < before)
    assert 0 < tuned.recognize(wide).token_count <= 2
    plain.close()
    tuned.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_output_becomes_elements(family, steer):
    engine = steer(family, eos=-100.0)
    out = engine.recognize(PAGES[0])
    elements = output_elements(out, pixels_per_point=300 / 72, page_number=1)
    assert elements and all(e.element_id.startswith("p1-e") for e in elements)
    assert "".join(e.content for e in elements).strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_pipeline_image_to_unified_document(family, steer, tmp_path):
    engine = steer(family, eos=-100.0)
    path = documents.png(tmp_path / "scan.png")
    doc = pipeline.extract(path, pipeline.Options(), page_ocr(engine))
    assert doc.status == Status.OK, doc.error
    assert doc.processing_track == Track.OCR
    page = doc.pages[0]
    assert page.engine == engine.name and page.elements


def test_registry_loads_once_for_several_pages(tiny_models, tmp_path, monkeypatch):
    """A scanned 3-page PDF through extract_with_engine: the model comes from DOCPROC_MODELS_DIR, loaded once."""
    name = "qwen2.5-vl-3b"
    hub_id = registry.MODELS[name].model_id
    models_dir = tmp_path / "models"
    (models_dir / hub_id).parent.mkdir(parents=True)
    os.symlink(tiny_models["qwen2_5_vl"].path, models_dir / hub_id)
    monkeypatch.setenv("DOCPROC_MODELS_DIR", str(models_dir))
    monkeypatch.setitem(registry.MODELS, name, registry.MODELS[name].with_overrides(max_new_tokens=MAX_NEW))
    monkeypatch.setattr(registry, "_loaded", OrderedDict())
    monkeypatch.setattr(registry, "load_counts", {})
    assert engine_class("qwen2_5_vl").availability(registry.MODELS[name]).available

    pdf = documents.scanned_pdf(tmp_path / "scan.pdf", ["one", "two", "three"], dpi=72)
    doc = pipeline.extract_with_engine(pdf, pipeline.Options(ocr_dpi=72), name)
    assert doc.status == Status.OK, doc.error
    assert [p.track for p in doc.pages] == [Track.OCR] * 3
    assert all(p.engine == name for p in doc.pages)
    assert registry.load_counts == {name: 1}
    registry._loaded.popitem()[1].close()


def _hf_cache_with(cache: Path, repo_id: str, source: Path) -> None:
    """The Hugging Face cache layout (refs/main -> snapshots/<sha>/files) holding a tiny checkpoint."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    sha = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    for file in source.iterdir():
        os.symlink(file, snapshot / file.name)


def test_hub_id_loads_from_the_cache_offline(tiny_models, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DOCPROC_MODELS_DIR", raising=False)
    cache = tmp_path / "hub"
    _hf_cache_with(cache, "stepfun-ai/GOT-OCR-2.0-hf", tiny_models["got_ocr2"].path)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    config = get_config("got-ocr2", max_new_tokens=2, options={"cache_dir": str(cache)})
    availability = engine_class("got_ocr2").availability(config)
    assert availability.available, availability.reason
    assert "in the Hugging Face cache" in availability.reason and availability.device == "cpu"
    engine = engine_class("got_ocr2")(config)
    assert 0 < engine.recognize(PAGES[0]).token_count <= 2
    engine.close()


# ---- GPU memory handling inside the engine (no GPU here: out-of-memory is simulated) -------------


def test_engine_out_of_memory_halves_the_batch(engines, steer, monkeypatch):
    import torch

    engine = steer("internvl", eos=-100.0)
    real_generate = engine.model.generate
    calls = []

    def generate(**kwargs):
        rows = kwargs["input_ids"].shape[0]
        calls.append(rows)
        if rows > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(**kwargs)

    monkeypatch.setattr(engine.model, "generate", generate)
    outputs = engine.recognize_batch(PAGES)
    assert calls == [2, 1, 1, 1]
    assert [o.token_count for o in outputs] == [MAX_NEW] * 3


def test_engine_moves_to_cpu_after_oom_at_batch_one(engines, steer, monkeypatch, caplog):
    """Pretend the model sits on a GPU that runs out of memory even for one page: it ends on the CPU."""
    import torch

    from docproc_tests.engines.fake_gpu import FakeCuda

    FakeCuda(monkeypatch, free_gib=1.0)
    engine = steer("got_ocr2", eos=-100.0)
    real_generate, real_to_cpu = engine.model.generate, engine.to_cpu
    monkeypatch.setattr(engine, "device", "cuda")
    moved = []

    def generate(**kwargs):
        if engine.device == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real_generate(**kwargs)

    def to_cpu():
        moved.append(True)
        real_to_cpu()

    monkeypatch.setattr(engine.model, "generate", generate)
    monkeypatch.setattr(engine, "to_cpu", to_cpu)
    with caplog.at_level("WARNING", logger="docproc_assets.core.gpu"):
        outputs = engine.recognize_batch(PAGES[:2])
    assert moved == [True] and engine.device == "cpu"
    assert [o.token_count for o in outputs] == [MAX_NEW, MAX_NEW]
    assert "moving the model to the CPU" in caplog.text


def test_oom_while_loading_on_gpu_loads_on_cpu(tiny_models, monkeypatch, caplog):
    import torch

    from docproc_tests.engines.fake_gpu import FakeCuda

    FakeCuda(monkeypatch, free_gib=40.0)  # room enough: the engine picks cuda, bf16
    real_to = torch.nn.Module.to

    def to(module, *args, **kwargs):
        if "cuda" in (str(a) for a in (*args, *kwargs.values())):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        return real_to(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", to)
    config = get_config("internvl2.5-2b", model_id=str(tiny_models["internvl"].path), max_new_tokens=2)
    with caplog.at_level("WARNING"):
        engine = engine_class("internvl")(config)
    assert engine.device == "cpu" and str(engine.model.dtype) == "torch.float32"
    assert "out of memory loading on cuda" in caplog.text
    monkeypatch.undo()
    assert 0 < engine.recognize(PAGES[0]).token_count <= 2
    engine.close()


def test_unloadable_weights_are_a_document_error(tiny_models, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in tiny_models["qwen2_5_vl"].path.iterdir():
        if file.name != "model.safetensors":
            (broken / file.name).write_bytes(file.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setitem(registry.MODELS, "rolmocr", registry.MODELS["rolmocr"].with_overrides(model_id=str(broken), max_new_tokens=2))
    monkeypatch.setattr(registry, "_loaded", OrderedDict())
    doc = pipeline.extract_with_engine(documents.png(tmp_path / "scan.png"), pipeline.Options(), "rolmocr")
    assert doc.status != Status.OK
    assert "rolmocr: cannot load the model from" in (doc.pages[0].error if doc.pages else doc.error)


def test_pipeline_reads_ocr_pages_in_batches(steer, tmp_path, monkeypatch):
    """A 3-page scan with batch size 2: the engine sees [2, 1] pages, every page gets its own elements."""
    from docproc_assets.core.ocr import PageReader

    engine = steer("qwen2_5_vl", eos=-100.0)
    seen: list[int] = []
    real = engine.recognize_batch

    def spy(images):
        seen.append(len(images))
        return real(images)

    monkeypatch.setattr(engine, "recognize_batch", spy)
    path = documents.scanned_pdf(tmp_path / "scan.pdf", texts=["one", "two", "three"], dpi=72)
    doc = pipeline.extract(path, pipeline.Options(ocr_dpi=72), PageReader(lambda: engine, batch_size=2))
    assert seen == [2, 1]
    assert [p.page_number for p in doc.pages] == [1, 2, 3]
    assert all(p.engine == engine.name and p.elements and p.seconds > 0 for p in doc.pages)
    # EOS suppressed: every page ran into max_new_tokens, and says so
    assert all(p.token_count == engine.config.max_new_tokens and p.truncated for p in doc.pages)


def test_token_counts_and_truncation_reach_the_extractions_row(tiny_models, tmp_path, monkeypatch):
    """Through the Dagster stage (a spawned worker): the registry override travels by environment."""
    import json

    from docproc_assets.core import stages
    from docproc_assets.core.intake import ObjectStore

    name = "qwen2.5-vl-3b"
    models_dir = tmp_path / "models"
    (models_dir / registry.MODELS[name].model_id).parent.mkdir(parents=True)
    os.symlink(tiny_models["qwen2_5_vl"].path, models_dir / registry.MODELS[name].model_id)
    monkeypatch.setenv("DOCPROC_MODELS_DIR", str(models_dir))
    monkeypatch.setenv(registry.OVERRIDES_ENV, json.dumps({name: {"max_new_tokens": 4}}))
    objects = ObjectStore(tmp_path / "objects")
    (registered,) = objects.put_files([documents.scanned_pdf(tmp_path / "scan.pdf", ["one", "two"], dpi=72)])
    ids = [registered.document_id]
    stages.route(objects, ids)
    result = stages.extract_chunk(objects, ids, name, stages.model_version(name), set(), options=pipeline.Options(ocr_dpi=72))
    (row,) = result.rows
    assert row["success"], row["error"]
    assert row["pages"] == 2 and row["truncated_pages"] == 2
    assert row["token_count"] == 2 * 4  # generated tokens, not words
    assert row["model_version"] == registry.get_config(name).version != registry.MODELS[name].version


def test_vlm_markdown_becomes_typed_elements():
    """What a VLM writes for a page (Markdown) becomes headings, list items, a table with its cells and
    paragraphs, in order; not one TEXT element per block."""
    from docproc_assets.core.document import ElementType
    from docproc_assets.core.engines.base import OcrOutput

    markdown = ("# Quarterly report\n\nRevenue grew in every region.\n\n- North: 12%\n- South: 9%\n\n"
                "## Costs\n\n| item | amount |\n|---|---|\n| rent | 1,200 |\n| staff | 8,400 |\n\nEnd of page.")
    elements = output_elements(OcrOutput(text=markdown, token_count=60), pixels_per_point=300 / 72, page_number=2)
    assert [(e.type, e.content) for e in elements if e.type != ElementType.TABLE] == [
        (ElementType.HEADING, "Quarterly report"), (ElementType.TEXT, "Revenue grew in every region."),
        (ElementType.LIST_ITEM, "- North: 12%"), (ElementType.LIST_ITEM, "- South: 9%"), (ElementType.HEADING, "Costs"),
        (ElementType.TEXT, "End of page.")]
    (table,) = [e for e in elements if e.type == ElementType.TABLE]
    assert [(c.row, c.col, c.content) for c in table.cells] == [
        (0, 0, "item"), (0, 1, "amount"), (1, 0, "rent"), (1, 1, "1,200"), (2, 0, "staff"), (2, 1, "8,400")]
    assert [e.reading_order for e in elements] == list(range(len(elements)))
    assert all(e.element_id.startswith("p2-e") for e in elements)
