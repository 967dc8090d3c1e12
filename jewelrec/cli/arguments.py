"""Flag value types shared by the CLIs: a bad value is refused by argparse itself (usage line, exit status 2),
before anything is loaded, with a message saying what the flag takes."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from jewelrec.pipeline.config import MIN_CLUSTERS


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def positive_number(text: str) -> float:
    """An argparse ``type``: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def cluster_count(text: str) -> str:
    """An argparse ``type`` for ``--clusters``: ``auto`` or a whole number of styles (at least 2), kept a string."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a whole number >= {MIN_CLUSTERS}, got {text!r}") from None
    if value < MIN_CLUSTERS:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a whole number >= {MIN_CLUSTERS} (one style is no "
                                         f"clustering), got {value}")
    return str(value)
