"""The Space's settings from environment variables, each checked where it is read: a value that is not one
(``JEWELREC_UPLOAD_TTL=abc``, ``JEWELREC_CROWD_EVERY_S=nan``, ``JEWELREC_CROWD=maybe``) stops the start with the
variable's name, what it takes and an example, instead of a traceback or a setting that silently never fires."""

from __future__ import annotations

import math
import os

ON, OFF = ("1", "true", "on", "yes"), ("0", "false", "off", "no")


def env_number(name: str, default: float, kind: type = float, *, minimum: float = 0.0,
               inclusive: bool = False) -> float:
    """``$name`` as ``kind`` (int or float), above ``minimum`` (or at it, ``inclusive``); ``default`` when unset
    or empty. An int variable takes ``1e3`` or ``1000.0`` too (a whole number however written)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    what = "a whole number" if kind is int else "a number"
    bound = f"{'≥' if inclusive else '>'} {minimum:g}"
    fix = f"set it to {what} {bound}, e.g. {default:g}, or unset it"
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not {what}; {fix}") from None
    if not math.isfinite(value) or (kind is int and value != int(value)):
        raise ValueError(f"{name}={raw!r} is not {what}; {fix}")
    if value < minimum or (value == minimum and not inclusive):
        raise ValueError(f"{name}={raw!r} must be {bound}; {fix}")
    return int(value) if kind is int else value


def env_flag(name: str, default: bool = True) -> bool:
    """``$name`` as on/off (1/true/on/yes, 0/false/off/no, any case); ``default`` when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    word = raw.strip().lower()
    if word in ON or word in OFF:
        return word in ON
    raise ValueError(f"{name}={raw!r} is neither on nor off; set it to 1/true/on/yes or 0/false/off/no, or unset "
                     f"it (default: {'on' if default else 'off'})")
