"""VLM engines when they cannot run: missing packages or weights give a reason, never a crash.

Fast: nothing here loads torch (the weights check comes first)."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import pytest

from docproc_assets.core import pipeline
from docproc_assets.core.document import Status
from docproc_assets.core.engines import registry
from docproc_assets.core.engines.registry import engine_class, get_config
from docproc_tests import documents


def test_registry_and_engine_modules_import_no_torch():
    code = (
        "import sys\n"
        "from docproc_assets.core.engines import registry, qwen_vl, got_ocr, internvl, _vlm\n"
        "from docproc_assets.core import gpu\n"
        "cfg = registry.get_config('qwen2.5-vl-3b', model_id='/nonexistent/ckpt')\n"
        "print(registry.engine_class('qwen2_5_vl').availability(cfg).reason)\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "weights not found: directory /nonexistent/ckpt does not exist"


@pytest.mark.parametrize("name", ["qwen2.5-vl-7b", "got-ocr2", "internvl2.5-8b", "rolmocr"])
def test_hub_weights_missing_from_cache(name, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("DOCPROC_MODELS_DIR", raising=False)
    config = get_config(name)
    availability = engine_class(config.family).availability(config)
    assert availability.available is False
    assert availability.reason.startswith("weights not found: hub id ")


def test_local_directory_missing(tmp_path):
    config = get_config("internvl2.5-2b", model_id=str(tmp_path / "nowhere"))
    availability = engine_class("internvl").availability(config)
    assert not availability.available and availability.reason == f"weights not found: directory {tmp_path / 'nowhere'} does not exist"
    (tmp_path / "empty").mkdir()
    config = get_config("internvl2.5-2b", model_id=str(tmp_path / "empty"))
    assert "has no config.json" in engine_class("internvl").availability(config).reason


def test_missing_weights_fail_the_document_not_the_batch(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.MODELS, "got-ocr2", registry.MODELS["got-ocr2"].with_overrides(model_id=str(tmp_path / "absent")))
    monkeypatch.setattr(registry, "_loaded", OrderedDict())
    scan = documents.png(tmp_path / "scan.png")
    digital = documents.digital_pdf(tmp_path / "digital.pdf")
    docs = [pipeline.extract_with_engine(p, pipeline.Options(), "got-ocr2") for p in (scan, digital, scan)]
    assert docs[0].status != Status.OK and "weights not found" in docs[0].pages[0].error
    assert docs[1].status == Status.OK  # direct pages never need the engine
    assert docs[2].status == docs[0].status


def test_overrides_from_the_environment_and_the_call(monkeypatch):
    from docproc_assets.core.engines import registry

    base = registry.get_config("qwen2.5-vl-7b")
    registry.set_overrides({"qwen2.5-vl-7b": {"model_id": "/models/qwen7b", "resources": {"min_gpu_memory_gib": 18}}})
    try:
        config = registry.get_config("qwen2.5-vl-7b", max_batch_size=1)
        assert config.model_id == "/models/qwen7b" and config.max_batch_size == 1
        assert config.resources.min_gpu_memory_gib == 18 and config.resources.gpu_hint == base.resources.gpu_hint
        assert config.version != base.version  # the cache key follows the config
        assert registry.get_config("rapidocr") == registry.MODELS["rapidocr"]
    finally:
        monkeypatch.delenv(registry.OVERRIDES_ENV)


def test_a_family_that_fails_to_import_is_unavailable_not_an_error(monkeypatch):
    from docproc_assets.core.engines import registry
    from docproc_assets.core.stages import engine_problem

    monkeypatch.setitem(registry.FAMILIES, "tesseract", "docproc_assets.core.engines.no_such_module:Engine")
    availability = registry.check_availability(registry.get_config("tesseract"))
    assert not availability.available and "no_such_module" in availability.reason and availability.device is None
    assert engine_problem("tesseract", 0).startswith("engine unavailable: engine family 'tesseract' needs a package")
    assert registry.check_availability(registry.get_config("rapidocr")).available
