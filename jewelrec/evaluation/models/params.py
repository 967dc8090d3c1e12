"""What each evaluation model's settings may be, checked when the config is read: a ``neighbours: -3`` or a
``factors: abc`` stops the run before any log is loaded, naming the model, the key and what it takes.

One rule per parameter name (the models share names for the same idea: ``factors``, ``iterations``,
``regularization``…); ``tests/test_evaluate.py`` checks that every constructor parameter has one.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jewelrec.config_keys import is_number, is_whole  # noqa: F401 — the evaluator's modules import them from here

# name → (accepts the value, what a good value is)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "factors": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1"),
    "iterations": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1"),
    "neighbours": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1"),
    "max_items": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1"),
    "num_threads": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0 (0 = all cores)"),
    "random_state": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0"),
    "window_days": (lambda v: v is None or (is_whole(v) and v >= 1), "a whole number of days ≥ 1, or null (all time)"),
    "regularization": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "alpha": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "learning_rate": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "l2": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "weight": (lambda v: is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "binary": (lambda v: isinstance(v, bool), "true or false"),
    "by": (lambda v: v in ("users", "weight"), "'users' or 'weight'"),
    "pool": (lambda v: is_number(v) and v >= 1, "a number ≥ 1 (candidates per slot)"),
    "explore": (lambda v: is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
}


def accepted_params(cls: type, extra: Iterable[str] = ()) -> list[str]:
    """The constructor parameters of ``cls`` a config may set (``extra``: the ones the registry passes itself)."""
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *extra)]


def check_value(key: str, value: Any, label: str, *, swept: bool = False) -> None:
    """``value`` (every value of a swept list when ``swept``) must pass ``key``'s rule."""
    rule = RULES.get(key)
    if rule is None:
        return
    accepts, wanted = rule
    if swept and isinstance(value, list) and not value:  # an empty grid has no candidate to fit
        raise ValueError(f"model {label!r}: {key}: [] lists no values; give at least one")
    for one in value if swept and isinstance(value, list) else [value]:
        if not accepts(one):
            raise ValueError(f"model {label!r}: {key} must be {wanted}, got {one!r}{_yaml_number_hint(one)}")


def _yaml_number_hint(value: Any) -> str:
    """PyYAML (YAML 1.1) reads ``1e3`` and ``1e-3`` as strings: say how to write them as numbers."""
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):  # 'nan', 'inf': not numbers a rule takes anyway
        return ""
    return f" (YAML reads {value} as text: write it with a dot and a sign, {number:.1e}, or as {number:g})"


def check_params(cls: type, params: Mapping[str, Any], label: str, *, extra: Iterable[str] = (),
                 swept: bool = False) -> None:
    """Every key of ``params`` names a parameter of ``cls`` and holds a value its rule accepts (``swept``: lists
    are grids, each value checked; otherwise a list is refused with the fix)."""
    accepted = accepted_params(cls, extra)
    unknown = set(params) - set(accepted)
    if unknown:
        raise ValueError(f"model {label!r}: unknown params {sorted(unknown)}; {cls.__name__} accepts {accepted}")
    lists = [k for k, v in params.items() if isinstance(v, list)]
    if lists and not swept:
        raise ValueError(f"model {label!r}: params {lists} are lists; lists are only allowed with run_mode: sweep")
    for key, value in params.items():
        check_value(key, value, label, swept=swept)
