"""Time and per-user random splits, and the cold-start counts of the split report."""

from __future__ import annotations

import numpy as np
import pytest

from jewelrec.evaluation.interactions import SECONDS_PER_DAY, InteractionLog
from jewelrec.evaluation.splits import SplitConfig, make_split, random_split, split_report, time_split

DAY0 = 1_600_000_000 // SECONDS_PER_DAY * SECONDS_PER_DAY  # a UTC midnight


def _log(users, items, days=None, hours=None) -> InteractionLog:
    users, items = np.asarray(users, np.int32), np.asarray(items, np.int32)
    times = None
    if days is not None:
        times = DAY0 + np.asarray(days) * SECONDS_PER_DAY + 3600 * np.asarray(hours if hours is not None else 0)
    return InteractionLog(
        np.array([f"u{i}" for i in range(users.max() + 1)], object),
        np.array([f"i{i}" for i in range(items.max() + 1)], object),
        users, items, np.ones(len(users), np.float32), times, len(users),
    )  # fmt: skip


def test_time_split_takes_last_calendar_days():
    # days 0..9; the last day (9) has an event at 23:00; test_days=3 → days 7, 8, 9 are test
    log = _log(users=[0, 0, 1, 1, 2, 3, 0], items=[0, 1, 1, 2, 3, 4, 2], days=[0, 2, 5, 7, 8, 9, 6],
               hours=[1, 1, 1, 0, 12, 23, 23])  # fmt: skip
    split = time_split(log, test_days=3)
    assert split.cutoff == DAY0 + 7 * SECONDS_PER_DAY
    assert (split.train.times < split.cutoff).all() and (split.test.times >= split.cutoff).all()
    assert len(split.train) == 4 and len(split.test) == 3
    report = split_report(split)
    # user 3 and items 3, 4 occur only in test; user 1's item 2 was also seen in train by user 0, not user 1
    assert report["cold_test_users"] == 2  # users 2 and 3
    assert report["cold_test_items"] == 2 and report["test_pairs_with_cold_item"] == 2
    assert report["test_pairs_seen_in_train"] == 0
    assert report["test_start"].startswith(str(np.datetime64(DAY0 + 7 * SECONDS_PER_DAY, "s"))[:10])


def test_a_test_window_cut_off_from_the_log_gets_a_note(capsys):
    """One row dated 2099 made the test window that one row (every model 0.0) without a word; the note is also
    kept in the split's report (data_report.json)."""
    days = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    ordinary = time_split(_log(list(range(10)), list(range(10)), days=days), 3)
    assert capsys.readouterr().err == "" and "note" not in split_report(ordinary)  # an ordinary log: no note
    split = time_split(_log(list(range(10)), list(range(10)), days=[*days[:-1], 9 + 365 * 75]), 3)
    err = capsys.readouterr().err
    assert "holds 1 of 10 interactions and starts 27374 days after the latest one before it" in err
    assert "check the newest times in the log" in err
    assert split_report(split)["note"] in err  # in data_report.json too, not only on a terminal scrolled away


def test_time_split_errors():
    with pytest.raises(ValueError, match="no time column"):
        time_split(_log([0, 1], [0, 1]), 7)
    with pytest.raises(ValueError, match="covers the whole log"):
        time_split(_log([0, 1], [0, 1], days=[0, 1]), 7)
    with pytest.raises(ValueError, match="split.method"):
        SplitConfig.from_dict({"method": "leave-one-out"})
    with pytest.raises(ValueError, match="test_fraction"):
        SplitConfig.from_dict({"method": "random", "test_fraction": 1.5})


def test_random_split_per_user_and_seeded():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), rng.integers(1, 12, 50))
    items = rng.integers(0, 40, len(users))
    items[:2] = [5, 5]  # a duplicated pair: merged before splitting, so never on both sides
    log = _log(users, items, days=rng.integers(0, 30, len(users)))
    a = random_split(log, 0.3, seed=7)
    b = random_split(log, 0.3, seed=7)
    c = random_split(log, 0.3, seed=8)
    np.testing.assert_array_equal(a.test.items, b.test.items)
    assert not np.array_equal(a.test.items, c.test.items)
    train_pairs = set(zip(a.train.users.tolist(), a.train.items.tolist()))
    test_pairs = set(zip(a.test.users.tolist(), a.test.items.tolist()))
    assert not train_pairs & test_pairs
    distinct = np.bincount(np.unique(log.users.astype(np.int64) * 40 + log.items) // 40, minlength=50)
    test_counts = np.bincount(a.test.users, minlength=50)
    train_counts = np.bincount(a.train.users, minlength=50)
    np.testing.assert_array_equal(train_counts + test_counts, distinct)
    assert (test_counts[distinct == 1] == 0).all()  # single-item users stay in train
    multi = distinct >= 2
    assert (test_counts[multi] >= 1).all() and (train_counts[multi] >= 1).all()
    np.testing.assert_array_equal(test_counts[multi], np.clip(np.floor(distinct[multi] * 0.3), 1, distinct[multi] - 1))
    assert split_report(a)["cold_test_users"] == 0


def test_make_split_dispatch():
    log = _log([0, 0, 1, 1], [0, 1, 0, 1], days=[0, 1, 2, 3])
    assert make_split(log, SplitConfig(method="time", test_days=1)).method == "time"
    assert make_split(log, SplitConfig(method="random", test_fraction=0.5)).method == "random"


def _with_dislikes(log: InteractionLog, users, items, days) -> InteractionLog:
    """``log`` plus kept-aside 1★ rows (own vocabularies, as the loader makes them)."""
    log.stars = np.full(len(log), 5.0, np.float32)
    n = len(users)
    log.dislikes = InteractionLog(
        np.array([f"u{u}" for u in range(max(users) + 1)], object), np.array([f"d{i}" for i in range(max(items) + 1)],
                                                                            object),
        np.asarray(users, np.int32), np.asarray(items, np.int32), np.ones(n, np.float32),
        DAY0 + np.asarray(days) * SECONDS_PER_DAY, n, stars=np.ones(n, np.float32),
    )  # fmt: skip
    return log


def test_dislikes_follow_the_split_and_never_change_it():
    """Kept-aside dislikes go to the side the split puts their time (time) or a seeded share of each user's is held
    back (random); the split of the positive rows is exactly the one made without them."""
    days = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    plain = _log(users=[0, 0, 0, 1, 1, 1, 2, 2, 2, 2], items=[0, 1, 2, 0, 3, 4, 1, 2, 3, 4], days=days)
    rated = _with_dislikes(_log(users=[0, 0, 0, 1, 1, 1, 2, 2, 2, 2], items=[0, 1, 2, 0, 3, 4, 1, 2, 3, 4],
                                days=days), users=[0, 0, 1, 1, 1, 1], items=[0, 1, 2, 3, 4, 5], days=[1, 9, 2, 3, 4, 5])
    split = time_split(rated, test_days=2)
    assert split.train.dislikes.times.max() < split.cutoff <= split.test.dislikes.times.min()
    assert len(split.train.dislikes) == 5 and len(split.test.dislikes) == 1
    for method in (lambda log: time_split(log, 2), lambda log: random_split(log, 0.5, seed=3)):
        a, b = method(plain), method(rated)
        assert (a.train.to_csr() != b.train.to_csr()).nnz == 0 and (a.test.to_csr() != b.test.to_csr()).nnz == 0
    split = random_split(rated, 0.5, seed=3)
    assert len(split.train.dislikes) == 3 and len(split.test.dislikes) == 3  # users 0 and 1: half of theirs each
    assert split.train.stars.tolist() == [5.0] * len(split.train)  # stars ride along the merged pairs
    validation = make_split(split.train, SplitConfig("random", test_fraction=0.5, seed=3))  # a sweep's split
    assert len(validation.train.dislikes) + len(validation.test.dislikes) == 3


def test_a_re_rated_pair_keeps_its_dislike_on_its_own_side_in_a_random_split():
    """1★ then 5★ on a second look: the dislike was held out or kept independently of the pair's positive row, so
    the star model saw a test pair as rated (and never picked it) while the collaborative models could."""
    from jewelrec.evaluation.stars import training_stars

    users = np.repeat(np.arange(12), 5)  # 12 users × 5 items
    items = np.concatenate([np.random.default_rng(u).choice(20, 5, replace=False) for u in range(12)])
    log = _log(users, items, days=np.zeros(len(users), int))
    log.stars = np.full(len(log), 5.0, np.float32)
    first = items[::5]  # each user's first item was rated 1★ before, plus one item nobody bought
    d_users = np.concatenate([np.arange(12), np.arange(12)])
    d_items = np.concatenate([first, np.full(12, 20)])
    log.dislikes = InteractionLog(
        np.array([f"u{u}" for u in range(12)], object), np.array([f"i{i}" for i in range(21)], object),
        d_users.astype(np.int32), d_items.astype(np.int32), np.ones(24, np.float32),
        np.full(24, DAY0 - SECONDS_PER_DAY), 24, stars=np.ones(24, np.float32),
    )  # fmt: skip
    for seed in range(5):
        split = random_split(log, 0.4, seed=seed)
        test = {(split.test.user_ids[u], split.test.item_ids[i]) for u, i in zip(split.test.users, split.test.items)}
        stars = training_stars(split.train)
        seen = {(split.train.user_ids[u], item) for u in range(split.train.n_users) for item in stars.of_user(u)}
        assert not test & seen, seed
        held = split.test.dislikes
        held_pairs = {(held.user_ids[u], held.item_ids[i]) for u, i in zip(held.users, held.items)}
        re_rated = {(f"u{u}", f"i{i}") for u, i in zip(range(12), first)}
        assert held_pairs & re_rated == test & re_rated  # a re-rated pair's dislike is where its pair is
        assert len(held_pairs - re_rated) in range(1, 12)  # the others: held back at the same rate, per user


def test_a_pair_rated_up_in_the_test_window_keeps_its_dislike_out_of_training():
    """1★ before the cutoff, 5★ in the test week: the dislike stayed in training, so the star model knew the test
    pair as rated and could never pick it, while EASE could."""
    from jewelrec.evaluation.stars import training_stars

    log = _log(users=[0, 0, 0, 1, 1], items=[0, 1, 2, 0, 3], days=[0, 1, 9, 0, 9])  # u0 rates i2 up on day 9
    log.stars = np.full(len(log), 5.0, np.float32)
    log.dislikes = InteractionLog(
        np.array(["u0", "u1"], object), np.array(["i2", "i4"], object), np.array([0, 1], np.int32),
        np.array([0, 1], np.int32), np.ones(2, np.float32), DAY0 + np.array([2, 2]) * SECONDS_PER_DAY, 2,
        stars=np.ones(2, np.float32),
    )  # fmt: skip
    split = time_split(log, test_days=2)
    held = {(split.test.dislikes.user_ids[u], split.test.dislikes.item_ids[i])
            for u, i in zip(split.test.dislikes.users, split.test.dislikes.items)}
    assert held == {("u0", "i2")}  # held back with its test pair; u1's dislike of i4 stays in training
    stars = training_stars(split.train)
    assert "i2" not in stars.of_user(0) and stars.of_user(1).get("i4") == 1.0


def test_a_pair_rated_down_after_its_like_is_not_relevant():
    """A log of repeat ratings (the Space's rating_history): 5★, then 1★ on a second look. The like made the pair
    relevant in the test set although the shopper's latest word on it was a dislike."""
    from jewelrec.evaluation.experiment import relevant_pairs

    log = _log(users=[0, 0, 1, 1], items=[0, 1, 0, 2], days=[8, 8, 8, 9])
    log.stars = np.full(len(log), 5.0, np.float32)
    log.dislikes = InteractionLog(
        np.array(["u0", "u1"], object), np.array(["i1", "i2"], object), np.array([0, 1], np.int32),
        np.array([0, 1], np.int32), np.ones(2, np.float32), DAY0 + np.array([9, 8]) * SECONDS_PER_DAY, 2,
        stars=np.ones(2, np.float32),
    )  # fmt: skip  u0 rates i1 down a day after liking it; u1's dislike of i2 came before the like
    relevant, undone = relevant_pairs(log)
    assert undone == 1
    assert {(int(u), int(i)) for u, i in zip(*relevant.nonzero())} == {(0, 0), (1, 0), (1, 2)}
