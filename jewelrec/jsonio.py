"""JSON as every jewelrec file writes it: strict (RFC 8259), so any reader — the Hub, a browser, ``jq`` — takes it.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which are not JSON. A metric that is undefined (the
silhouette of one cluster, a loss that diverged) is written as ``null`` instead: "no value", which is what it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def finite(value: Any) -> Any:
    """``value`` with every NaN / ±inf float (Python or numpy, at any depth of dicts, lists and tuples) as None."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(payload: Any, *, indent: int | None = 2, sort_keys: bool = True,
          default: Callable[[Any], Any] | None = str) -> str:
    """Strict JSON text of ``payload``: non-finite floats become null, numpy scalars / arrays numbers / lists;
    anything else JSON lacks goes through ``default`` (text by default; None: a TypeError)."""
    return json.dumps(finite(payload), indent=indent, sort_keys=sort_keys, default=default, allow_nan=False)


def write(path: str | Path, payload: Any, *, sort_keys: bool = True,
          default: Callable[[Any], Any] | None = str) -> None:
    """Write ``payload`` to ``path`` as strict JSON with a final newline."""
    Path(path).write_text(dumps(payload, sort_keys=sort_keys, default=default) + "\n")
