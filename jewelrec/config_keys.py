"""One rule for settings blocks (YAML, JSON, keyword arguments): a key nobody reads is an error that lists the
keys that are read. A typo must stop a run at the start, not silently fall back to a default."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any


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
