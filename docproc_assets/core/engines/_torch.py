"""Importing torchvision where its compiled operators cannot load (shared by every torch-based engine).

The only torchvision wheel on PyPI for torch 2.13 (0.28.0) is a CUDA build. With the CPU torch its
`_C` extension fails to load, and `import torchvision` then dies in its meta registrations with
`RuntimeError: operator torchvision::nms does not exist`. Once torchvision is installed, transformers
imports it for every vision model, so the failure reaches engines that never use it.

`import_torchvision_safely()` is the one place that handles this: if torchvision's own operators are
there (or its `_C` loads), nothing is changed; otherwise the two schemas its Python code registers
against (`torchvision::nms`, `torchvision::qnms`) are defined with `torch.library` so the import
succeeds. The detection operators stay unusable (calling them raises); image/video processors and
transforms do not need them. Call it before the first import of torchvision or of a transformers
model/processor module.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import sys
import threading
from types import ModuleType

log = logging.getLogger(__name__)

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_lock = threading.Lock()
_library = None  # the torch.library.Library must stay referenced or its definitions are dropped
schemas_registered = False


def _has_op(name: str) -> bool:
    import torch

    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def _load_compiled_ops(package_dir: str) -> bool:
    """Load torchvision's `_C` extension if this torch can; False when it cannot (CUDA build on CPU torch)."""
    import torch

    for path in glob.glob(os.path.join(package_dir, "_C*.so")) + glob.glob(os.path.join(package_dir, "_C*.pyd")):
        try:
            torch.ops.load_library(path)
            return True
        except (OSError, RuntimeError) as exc:
            log.debug("torchvision extension %s does not load with this torch: %s", path, exc)
    return False


def register_torchvision_schemas() -> bool:
    """Define torchvision::nms/qnms when torchvision's extension cannot provide them. True if defined here."""
    global _library, schemas_registered
    with _lock:
        if schemas_registered or "torchvision" in sys.modules:
            return schemas_registered
        spec = importlib.util.find_spec("torchvision")
        if spec is None or spec.origin is None:
            return False
        import torch

        missing = [name for name in _SCHEMAS if not _has_op(name)]
        if not missing or (_load_compiled_ops(os.path.dirname(spec.origin)) and not any(not _has_op(n) for n in missing)):
            return False
        missing = [name for name in _SCHEMAS if not _has_op(name)]
        _library = torch.library.Library("torchvision", "DEF")
        for name in missing:
            _library.define(_SCHEMAS[name])
        schemas_registered = True
        log.info(
            "torchvision %s cannot load its compiled operators with torch %s (CUDA build on a CPU torch?): "
            "registered schemas %s so it imports; its detection operators are unusable",
            _dist_version("torchvision"), torch.__version__, ", ".join(f"torchvision::{n}" for n in missing),
        )
        return True


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def import_torchvision_safely() -> ModuleType | None:
    """`import torchvision`, registering the missing operator schemas first; None when not installed."""
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    if importlib.util.find_spec("torchvision") is None:
        return None
    register_torchvision_schemas()
    import torchvision

    return torchvision


def import_transformers():
    """`import transformers` with torchvision made importable first (transformers imports it lazily)."""
    import_torchvision_safely()
    import transformers

    return transformers
