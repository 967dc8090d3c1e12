"""Where jewelrec keeps things on disk. One place, so tests can redirect all of it with one variable."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root for caches and live data: ``$JEWELREC_HOME``, else ``~/.cache/jewelrec``."""
    return Path(os.environ.get("JEWELREC_HOME") or Path.home() / ".cache" / "jewelrec")


def cache_dir(*parts: str) -> Path:
    """A sub-directory of :func:`home`, created on first use."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
