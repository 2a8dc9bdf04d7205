"""The code location loads, validates, and its pools are the known ones."""

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from docproc_assets.core.engines.registry import MODELS
from docproc_assets.core.pools import GPU_POOL, POOLS, gpu_slots, needs_gpu, over_budget
from docproc_assets.definitions import defs
from docproc_assets.defs.extraction.assets import asset_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_definitions_validate(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=ROOT, env={"DAGSTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Validation successful for code location docproc" in proc.stderr + proc.stdout


def test_definitions_load_fast_without_engines():
    code = ("import time, sys; t = time.perf_counter(); from docproc_assets.definitions import defs; d = defs(); "
            "print(time.perf_counter() - t); assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'paddle', 'transformers')]")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert float(proc.stdout.strip().splitlines()[-1]) < 5.0


def test_pools_are_known_constants():
    graph = defs().resolve_asset_graph()
    pools = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        pools[key.to_user_string()] = node.pools
    used = set().union(*pools.values())
    assert used <= set(POOLS), used
    for name, config in MODELS.items():
        expected = {GPU_POOL} if needs_gpu(config) else set()
        assert pools[asset_name(name)] == expected, name
    assert pools["direct_extractions"] == set() and pools["ocr_rapidocr"] == set()  # CPU work is never held by the GPU pool


def test_gpu_budget_rule():
    models = list(MODELS.values())
    assert gpu_slots(80, models) == 1  # the 60 GiB model fits once
    assert gpu_slots(24, models) == 1  # 20 GiB models once
    assert gpu_slots(48, models) == 2
    assert gpu_slots(0, models) == 1
    assert over_budget(MODELS["qwen2.5-vl-72b"], 80) and not over_budget(MODELS["qwen2.5-vl-7b"], 24)
    assert not over_budget(MODELS["rapidocr"], 0)


def test_sensors_are_on_by_default():
    sensors = {s.name: s for s in defs().sensors}
    assert set(sensors) == {"inbox_sensor", "dataset_sensor"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
