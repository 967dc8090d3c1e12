"""Where torch work runs: one device picker and one CPU-thread setting, shared by every model jewelrec trains."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def pick_device(device: str | None = None) -> torch.device:
    """``device`` when given, else CUDA when present, else CPU."""
    if device:
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError) as err:  # "gpu", "cuda:x": torch's own words, then what to pass
            raise ValueError(f"device {device!r} is not a torch device ({err}); pass 'cpu', 'cuda', 'cuda:0' or "
                             "None (CUDA when present, else CPU)") from None
        if chosen.type == "cuda" and not torch.cuda.is_available():  # torch's AssertionError came mid-load
            raise ValueError(f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                             "pass device='cpu' or None (CUDA when present, else CPU)")
        if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are "
                             "visible; pass 'cuda:0' or None")
        return chosen
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
