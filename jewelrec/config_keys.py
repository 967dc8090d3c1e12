"""One rule for settings blocks (YAML, JSON, keyword arguments): a key nobody reads is an error that lists the
keys that are read. A typo must stop a run at the start, not silently fall back to a default."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# field → (accepts the value, what a good value is): the shape of a settings rule table (see check_fields)
Rules = Mapping[str, tuple[Callable[[Any], bool], str]]


def is_whole(value: Any) -> bool:
    """An int (numpy's too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def check_fields(config: Any, rules: Rules, where: str) -> None:
    """Raise ValueError naming the first field of the dataclass ``config`` whose value its rule refuses, with what
    the field takes: ``"{where}: shrink must be a number > 0 (pseudo-ratings), got 0"``."""
    for f in dataclasses.fields(config):
        accepts, wanted = rules[f.name]
        value = getattr(config, f.name)
        if not accepts(value):
            raise ValueError(f"{where}: {f.name} must be {wanted}, got {value!r}")


def check_keys(raw: Mapping[str, Any], allowed: Iterable[str] | type, where: str, *,
               error: type[Exception] = ValueError) -> None:
    """Raise ``error`` when ``raw`` has keys outside ``allowed`` (names, or a dataclass whose fields they are).

    ``where`` names the block in the message, e.g. ``"split block"`` → "split block has unknown keys ['tset'];
    allowed keys are [...]".
    """
    names = ({f.name for f in dataclasses.fields(allowed)} if isinstance(allowed, type) and dataclasses.is_dataclass(allowed)
             else set(allowed))
    unknown = sorted(set(raw) - names)
    if unknown:
        raise error(f"{where} has unknown keys {unknown}; allowed keys are {sorted(names)}")
