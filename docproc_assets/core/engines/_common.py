"""Small helpers the classic OCR engines share: boxes from polygons, confidences, package checks."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

from docproc_assets.core.engines.base import Availability


def polygon_bbox(points: Iterable[Sequence[float]], width: int, height: int) -> tuple[float, float, float, float]:
    """The axis-aligned box of a polygon (a detector's quadrilateral), clipped to the image."""
    xs, ys = zip(*((float(p[0]), float(p[1])) for p in points))
    x0, x1 = max(0.0, min(xs)), min(float(width), max(xs))
    y0, y1 = max(0.0, min(ys)), min(float(height), max(ys))
    return (round(x0, 1), round(y0, 1), round(max(x0, x1), 1), round(max(y0, y1), 1))


def unit_confidence(value: float, scale: float = 1.0) -> float:
    """A score as 0..1 (Tesseract gives 0..100, others 0..1); NaN and negatives become 0."""
    value = float(value) / scale
    if value != value or value < 0:  # NaN
        return 0.0
    return round(min(value, 1.0), 4)


def missing_packages(*modules: str) -> Availability | None:
    """Unavailable when any module cannot be found, checked without importing it."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return Availability(False, f"package not installed: {', '.join(missing)} (pip install -e . installs it)")
    return None
