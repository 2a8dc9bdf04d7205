"""A simulated CUDA device for tests on machines without one: torch.cuda answers as if a GPU with
`free_gib` of `total_gib` free were there (None: no GPU), and counts empty_cache calls."""

from __future__ import annotations

GIB = 1024**3


class FakeCuda:
    """What gpu.py asks torch.cuda, answered for one simulated device."""

    def __init__(self, monkeypatch, free_gib: float | None, total_gib: float = 80.0, count: int = 1):
        self.free_gib, self.total_gib, self.count = free_gib, total_gib, count
        self.empty_cache_calls = 0
        import torch

        available = free_gib is not None
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count if available else 0)
        monkeypatch.setattr(torch.cuda, "mem_get_info", self.mem_get_info)
        monkeypatch.setattr(torch.cuda, "empty_cache", self.empty_cache)

    def mem_get_info(self, device=None):
        return int(self.free_gib * GIB), int(self.total_gib * GIB)

    def empty_cache(self):
        self.empty_cache_calls += 1
