"""Where torch work runs: one device picker and one CPU-thread setting, shared by every model jewelrec trains."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def pick_device(device: str | None = None) -> torch.device:
    """``device`` when given, else CUDA when present, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def cpu_threads(device: torch.device, threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads on CPU (None or a GPU: unchanged), restoring them after."""
    if device.type != "cpu" or not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
