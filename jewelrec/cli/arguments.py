"""Flag value types shared by the CLIs: a bad value is refused by argparse itself (usage line, exit status 2),
before anything is loaded, with a message saying what the flag takes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jewelrec.pipeline.config import MIN_CLUSTERS


def command_name(module: str) -> str:
    """The command as it was run, for the usage line: the console script (``jewelrec-fit``), else the repository's
    door ``python -m training.<module>`` (a pip install has no ``training`` package, so its usage must not say so)."""
    invoked = Path(sys.argv[0]).name
    return invoked if invoked.startswith("jewelrec-") else f"python -m training.{module}"


# libraries whose INFO lines read as faults in a command's log: faiss's loader reports the CPU build it could not
# load ("ModuleNotFoundError(... swigfaiss_avx2)") before the one it does
QUIET_LOGGERS = ("faiss.loader",)


def configure_logging() -> None:
    """The commands' log: jewelrec's progress at INFO, with the time; the libraries' own chatter only when it warns."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum`` (and at most ``maximum``)."""
    wanted = f"a whole number >= {minimum}" if maximum is None else f"a whole number from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {value}")
        return value

    parse.__name__ = wanted.removeprefix("a ")
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


def check_push_flags(parser: argparse.ArgumentParser, config: Any) -> None:
    """The Hub flags of fit / update (``push``, ``repo_id``, ``branch``, ``private``) make sense together:
    ``--branch`` / ``--private`` only shape a push, so without ``--push`` they would be dropped silently; a
    ``--repo-id`` without a push still names the repo in the model card, so it is checked like one."""
    if config.push and not config.repo_id:
        parser.error("--push needs --repo-id user/name (the Hub model repo to publish to)")
    if not config.push:
        given = [flag for flag, value in (("--branch", config.branch), ("--private", config.private)) if value]
        if given:
            parser.error(f"{' and '.join(given)} only apply to a push; add --push (with --repo-id) or drop them")
    if config.repo_id and not config.push:  # a push checks it itself, before any work (with the push's wording)
        from jewelrec.serving.hub import HubError, check_repo_id

        try:
            check_repo_id(config.repo_id)
        except HubError as err:
            parser.error(str(err))
