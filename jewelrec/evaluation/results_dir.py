"""Where an offline evaluation writes (``--results-dir``): checked before any work."""

from __future__ import annotations

from pathlib import Path


def check_results_dir(results_dir: str | Path) -> Path:
    """The results dir, made if missing; a ValueError naming the path and the fix when it is a file or cannot be
    made."""
    out = Path(results_dir)
    where = f"--results-dir {str(out)!r}"
    if out.exists() and not out.is_dir():
        raise ValueError(f"{where} is a file, not a folder; give a new folder (it is made) or one an earlier "
                         "evaluation wrote")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{where} cannot be made: {err.strerror or err}; give a folder this user can write") from None
    return out
