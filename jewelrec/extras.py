"""Which optional extra brings each optional dependency, and the one-line error a command gives when it is missing.

``pip install jewelrec`` is the serving core (bundle, recommender, Hub); training, the Space and offline
evaluation need their extras (pyproject.toml). A command run without its extra says which one to install instead
of ending in a ``ModuleNotFoundError`` traceback deep in an import.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

# top-level module → the extra that installs it (pyproject.toml's optional-dependencies)
EXTRA_OF = {
    "torch": "train", "transformers": "train", "tokenizers": "train", "umap": "train", "numba": "train",
    "pynndescent": "train", "ray": "train",
    "gradio": "space", "gradio_client": "space",
    "implicit": "eval", "trackio": "eval", "wandb": "eval",
}  # fmt: skip


def missing_extra(err: ModuleNotFoundError, extra: str | None = None) -> str | None:
    """The fix for an optional dependency that is not installed ("… pip install 'jewelrec[train]'"), or None for a
    module no extra provides (a real bug, left to raise). ``extra``: the one to name when the caller knows better
    (torch for a search is the Space's, not training's)."""
    module = (err.name or "").split(".")[0]
    if module not in EXTRA_OF:
        return None
    extra = extra or EXTRA_OF[module]
    return (f"{module} is not installed, and this needs it: install jewelrec's [{extra}] extra — "
            f"pip install 'jewelrec[{extra}]' (in a checkout: pip install -e '.[{extra}]')")


def reported(main: Callable[..., int]) -> Callable[..., int]:
    """A CLI ``main`` whose missing optional dependency is one ``error:`` line naming the extra, status 2."""
    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except ModuleNotFoundError as err:
            fix = missing_extra(err)
            if fix is None:
                raise
            print(f"error: {fix}", file=sys.stderr)
            return 2
    return wrapped
