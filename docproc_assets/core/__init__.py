"""The plain-Python core: routing, extraction, engines, metrics. No Dagster import here.

PyMuPDF 2 imports its ONNX layout model (about 0.8 s) whenever `import pymupdf` runs, which every CLI
call, parsing worker and Dagster step would pay. docproc uses that model only for the opt-in table
model, so the import is deferred until `enable_layout_model()` is called.
"""

import importlib
import os
import sys

if "pymupdf" not in sys.modules:
    sys.modules.setdefault("pymupdf.layout", None)  # makes PyMuPDF's own `import pymupdf.layout` a no-op
    os.environ.setdefault("PYMUPDF_SUGGEST_LAYOUT_ANALYZER", "0")  # else find_tables() prints advice on stdout


def enable_layout_model() -> None:
    """Load PyMuPDF's layout model (pymupdf-layout), which then serves find_tables() and get_layout()."""
    if sys.modules.get("pymupdf.layout", False) is None:
        del sys.modules["pymupdf.layout"]
    importlib.import_module("pymupdf.layout")
