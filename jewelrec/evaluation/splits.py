"""Train/test splits of an :class:`~jewelrec.evaluation.interactions.InteractionLog`.

* ``time``: the last ``test_days`` calendar days (UTC) of the log are the test set, everything before is train —
  the H&M competition protocol (it scored the week after the training data).
* ``random``: per user, a seeded random ``test_fraction`` of their distinct items is held out; users with a single
  item stay entirely in train, users with two or more keep at least one item on each side.

Both keep the log's id vocabularies, so train and test codes index the same users and items. The split is made on
the log's (positive) rows alone, so kept-aside dislikes (``log.dislikes``) never change it; they follow it — time:
by the same cutoff, except that a pair rated up in the test window keeps its earlier dislike on the test side;
random: a dislike of a pair that also has a positive row goes to that pair's side, and a
seeded ``test_fraction`` of each user's other dislikes is held back too (and used by no model), so a star-reading
model knows no more of a user than the training side shows, and never a test pair as rated. Users that appear only
in test (cold users) and items that appear only in test (cold items) are counted by :func:`split_report`; the
evaluator gives cold users the popularity list and keeps cold items in the relevant sets (no model can hit them,
as in the competition's scoring).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from jewelrec.config_keys import check_keys
from jewelrec.evaluation.interactions import SECONDS_PER_DAY, InteractionLog, aggregate_pairs
from jewelrec.evaluation.models.params import is_number, is_whole
from jewelrec.evaluation.stars import latest_values


@dataclass
class SplitConfig:
    method: str = "time"  # "time" (H&M protocol) | "random" (for logs without meaningful times)
    test_days: int = 7  # time split: one week, as in the H&M competition
    test_fraction: float = 0.2  # random split: share of each user's distinct items held out
    seed: int = 0  # random split only

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> SplitConfig:
        raw = dict(raw or {})
        check_keys(raw, cls, "split block")
        config = cls(**raw)
        if config.method not in SPLITS:
            raise ValueError(f"split.method {config.method!r} is not one of {sorted(SPLITS)}")
        if not is_whole(config.test_days) or config.test_days < 1:
            raise ValueError(f"split.test_days must be a whole number of days >= 1, got {config.test_days!r}")
        if not is_number(config.test_fraction) or not 0.0 < config.test_fraction < 1.0:
            raise ValueError(f"split.test_fraction must be a number in (0, 1), got {config.test_fraction!r}")
        if not is_whole(config.seed) or config.seed < 0:
            raise ValueError(f"split.seed must be a whole number >= 0, got {config.seed!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Split:
    train: InteractionLog
    test: InteractionLog
    method: str
    cutoff: int | None = None  # time split: unix seconds where test starts; the "now" of the training data
    note: str | None = None  # what looks wrong about the split (a test window cut off from the log), for the report


def time_split(log: InteractionLog, test_days: int = 7, *, source: str = "log") -> Split:
    """Test = interactions on or after the start of the ``test_days``-th last UTC day of the log (``source``: what
    ``log`` is, for the error message — the sweep splits the training part again)."""
    if log.times is None:
        raise ValueError(
            "split.method is 'time' but the log has no time column; set data.columns.time (or a preset with "
            "times) or use split.method: random"
        )
    last_day_start = (int(log.times.max()) // SECONDS_PER_DAY) * SECONDS_PER_DAY
    cutoff = last_day_start - (int(test_days) - 1) * SECONDS_PER_DAY
    is_test = log.times >= cutoff  # (n,)
    if is_test.all():
        span = (last_day_start - int(log.times.min()) // SECONDS_PER_DAY * SECONDS_PER_DAY) // SECONDS_PER_DAY + 1
        raise ValueError(
            f"split.test_days={test_days} covers the whole {source} (it spans {span} day{'s' * (span != 1)}); lower "
            "test_days so some interactions remain for training"
        )
    gap_days = (cutoff - int(log.times[~is_test].max())) / SECONDS_PER_DAY
    if gap_days > max(4 * int(test_days), 28):  # the test window is cut off from the rest: a stray future time?
        stamp = datetime.fromtimestamp(int(log.times.max()), UTC).strftime("%Y-%m-%d")
        before_stamp = datetime.fromtimestamp(int(log.times[~is_test].max()), UTC).strftime("%Y-%m-%d")
        note = (f"the {source}'s test window (the last {test_days} day(s), up to {stamp}) holds {int(is_test.sum())} "
                f"of {len(is_test)} interactions and starts {gap_days:.0f} days after the latest one before it "
                f"({before_stamp}); a time far in the future (a typo, a placeholder date) makes such a window — check "
                "the newest times in the log")
        print(f"note: {note}", file=sys.stderr)
    else:
        note = None
    train_dislikes = test_dislikes = None
    if log.dislikes is not None:
        before = log.dislikes.times < cutoff  # (n_dislikes,)
        # a pair disliked before the cutoff and rated up in the test window (1★, then 5★ on a second look) is a
        # test pair: its dislike is held back with it, or a star-reading model would know it as rated and could
        # never pick it while the other models could
        tested = pd.MultiIndex.from_arrays([log.user_ids[log.users[is_test]], log.item_ids[log.items[is_test]]])
        disliked = pd.MultiIndex.from_arrays([log.dislikes.user_ids[log.dislikes.users],
                                              log.dislikes.item_ids[log.dislikes.items]])
        before &= ~disliked.isin(tested)
        train_dislikes, test_dislikes = log.dislikes.subset(before), log.dislikes.subset(~before)
    return Split(train=log.subset(~is_test, train_dislikes), test=log.subset(is_test, test_dislikes), method="time",
                 cutoff=cutoff, note=note)


def random_split(log: InteractionLog, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per-user random hold-out over distinct (user, item) pairs (duplicates are merged first, so one pair never
    lands on both sides). Deterministic for a given ``seed``. A kept-aside dislike of a pair that also has a positive
    row (1★, then 5★ on a second look) goes to that pair's side; the other dislikes are held back at the same rate."""
    pairs, is_test = _held_out(log, test_fraction, seed)
    held = None
    if log.dislikes is not None:
        dislikes, disliked_test = _held_out(log.dislikes, test_fraction, seed)
        positive = pd.MultiIndex.from_arrays([log.user_ids[pairs.users], log.item_ids[pairs.items]])
        position = positive.get_indexer(pd.MultiIndex.from_arrays(
            [log.dislikes.user_ids[dislikes.users], log.dislikes.item_ids[dislikes.items]]))  # (n_disliked,) -1: none
        disliked_test = np.where(position >= 0, is_test[np.maximum(position, 0)], disliked_test)
        held = (dislikes.subset(~disliked_test), dislikes.subset(disliked_test))
    return Split(train=pairs.subset(~is_test, held and held[0]), test=pairs.subset(is_test, held and held[1]),
                 method="random")


def _held_out(log: InteractionLog, test_fraction: float, seed: int) -> tuple[InteractionLog, np.ndarray]:
    """``log``'s distinct (user, item) pairs as a log (weights summed, latest time and rating) and which (n_pairs,)
    bool are held out: a seeded ``test_fraction`` of each user's pairs, at least one on each side from two up."""
    matrix, latest = aggregate_pairs(log.users, log.items, log.weights, log.times, log.n_users, log.n_items)
    coo = matrix.tocoo()
    users, items, weights = coo.row.astype(np.int32), coo.col.astype(np.int32), coo.data  # (n_pairs,)
    times = None if latest is None else latest.tocoo().data.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(users)), users))  # shuffled within each user
    counts = np.bincount(users, minlength=log.n_users)  # (n_users,)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]  # position within the user's shuffled list
    n_test = np.floor(counts * float(test_fraction)).astype(np.int64)
    n_test = np.where(counts >= 2, np.clip(n_test, 1, counts - 1), 0)  # (n_users,)
    is_test = rank < n_test[users]
    stars = None
    if log.stars is not None:  # the latest rating of each pair, in the same (user, item) order as the matrix
        stars = latest_values(log.users, log.items, log.stars, log.times, log.n_users, log.n_items).data
    pairs = InteractionLog(
        log.user_ids, log.item_ids, users, items, weights.astype(np.float32), times, log.n_rows_read, dict(log.dropped),
        stars,
    )  # fmt: skip
    return pairs, is_test


SPLITS = {"time": time_split, "random": random_split}


def make_split(log: InteractionLog, config: SplitConfig, *, source: str = "log") -> Split:
    """The configured split of ``log`` (``source``: what it is, for the error messages)."""
    if config.method == "time":
        return time_split(log, config.test_days, source=source)
    pairs = np.unique(log.users.astype(np.int64) * log.n_items + log.items)
    if len(pairs) and np.bincount(pairs // log.n_items).max() < 2:  # a lone item stays in training: nobody to test
        raise ValueError(
            f"split.method: random holds items out per user, but no user of the {source} has two or more distinct "
            "items (a user with a single interaction always stays in training), so no user can be tested; use "
            "split.method: time or a log with repeat users"
        )
    return random_split(log, config.test_fraction, config.seed)


def split_report(split: Split) -> dict[str, Any]:
    """Sizes and cold-start counts for the data report."""
    train, test = split.train, split.test
    train_users = np.zeros(train.n_users, dtype=bool)
    train_users[train.users] = True
    train_items = np.zeros(train.n_items, dtype=bool)
    train_items[train.items] = True
    test_users = np.unique(test.users)
    test_items = np.unique(test.items)
    n_items = train.n_items
    train_keys = np.unique(train.users.astype(np.int64) * n_items + train.items)
    test_keys = np.unique(test.users.astype(np.int64) * n_items + test.items)
    report: dict[str, Any] = {
        "method": split.method,
        "train_rows": len(train), "test_rows": len(test),
        "train_users": int(train_users.sum()), "train_items": int(train_items.sum()),
        "test_users": len(test_users), "test_items": len(test_items), "test_pairs": len(test_keys),
        "cold_test_users": int((~train_users[test_users]).sum()),
        "cold_test_items": int((~train_items[test_items]).sum()),
        "test_pairs_with_cold_item": int((~train_items[test_keys % n_items]).sum()),
        "test_pairs_seen_in_train": int(np.isin(test_keys, train_keys, assume_unique=True).sum()),
    }  # fmt: skip
    if split.cutoff is not None:
        report["test_start"] = str(np.datetime64(split.cutoff, "s"))
    if split.note:
        report["note"] = split.note
    return report
