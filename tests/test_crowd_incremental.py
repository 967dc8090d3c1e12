"""Incremental crowd refreshes (jewelrec.space.crowd): after any sequence of ratings and clears, the model the
refresher updated from the changed shoppers equals a full refit on the same database, array for array, exactly."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jewelrec.serving.collaborative import CollaborativeModel
from jewelrec.space.crowd import CrowdRefresher, CrowdSettings
from jewelrec.space.ratings import RatingStore, replay

ITEMS = [f"it-{i:02d}" for i in range(12)]


def assert_same_model(got: CollaborativeModel, want: CollaborativeModel) -> None:
    for name in ("similarity_", "co_raters_", "co_lovers_"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), name
        assert np.array_equal(a.data, b.data), name  # exact, not approximately
    assert (got.n_shoppers_, got.n_ratings_) == (want.n_shoppers_, want.n_ratings_)


def full_refit(store: RatingStore, min_shoppers: int) -> CollaborativeModel:
    """The reference: every current rating through the plain ``fit`` (the path before incremental refreshes)."""
    users, items, stars = store.all_ratings()
    return CollaborativeModel(ITEMS, min_shoppers=min_shoppers).fit(items, users, stars)


def refresher(store: RatingStore, min_shoppers: int = 2) -> CrowdRefresher:
    return CrowdRefresher(store, ITEMS, CrowdSettings(min_shoppers=min_shoppers))


def check_incremental(crowd: CrowdRefresher) -> None:
    before, fallbacks = crowd.incremental_refits, crowd.fallbacks
    assert crowd.refresh()
    assert crowd.last_kind == "incremental" and crowd.incremental_refits == before + 1
    assert crowd.fallbacks == fallbacks  # no doubt about the update: it did not turn into a full refit
    assert_same_model(crowd.model, full_refit(crowd.store, crowd.settings.min_shoppers))
    assert crowd.fitted_writes == crowd.store.writes()


@pytest.fixture
def store(tmp_path):
    return RatingStore(tmp_path / "r.db")  # no known_items: an item outside the catalog can be stored


def test_new_shoppers_changed_stars_re_ratings_and_unknown_items_update_exactly(store):
    for u in range(3):
        for item in ITEMS[:4]:
            store.rate(f"u{u}", item, 5)
    crowd = refresher(store)
    assert crowd.refresh() and crowd.last_kind == "full"
    assert_same_model(crowd.model, full_refit(store, 2))
    for u in range(3, 6):  # new shoppers
        store.rate(f"u{u}", ITEMS[0], 4), store.rate(f"u{u}", ITEMS[5], 2)
    check_incremental(crowd)
    store.rate("u0", ITEMS[1], 1)  # 5★ → 1★: a like becomes a dislike (kept, negative)
    check_incremental(crowd)
    store.rate("u1", ITEMS[2], 3), store.rate("u1", ITEMS[2], 1), store.rate("u1", ITEMS[2], 4)  # twice between
    store.rate("u2", "not-in-the-catalog", 5), store.rate("ghost", "not-in-the-catalog", 5)
    check_incremental(crowd)
    assert crowd.model.n_shoppers_ == 6  # the ghost rated only an item outside the catalog: not a shopper here


def test_clears_update_exactly_and_move_the_write_counter(store):
    for u in range(4):
        for item in ITEMS[:3]:
            store.rate(f"u{u}", item, 5 - u % 2)
    crowd = refresher(store)
    crowd.refresh()
    writes = store.writes()
    assert store.clear("u1") == 3 and store.writes() == writes + 1  # a clear is a write: it triggers a refresh
    assert store.clear("u1") == 0 and store.writes() == writes + 1  # clearing nothing is not
    check_incremental(crowd)
    store.rate("u1", ITEMS[4], 5), store.rate("u1", ITEMS[0], 2)  # back after the clear
    store.clear("u2")
    store.rate("u2", ITEMS[1], 5)
    check_incremental(crowd)
    assert store.ratings("u1") == {ITEMS[4]: 5, ITEMS[0]: 2}


def test_a_pair_appears_at_five_shoppers_and_disappears_when_one_clears(store):
    crowd = refresher(store, min_shoppers=5)
    crowd.refresh()
    for u in range(4):
        store.rate(f"u{u}", ITEMS[0], 5), store.rate(f"u{u}", ITEMS[1], 5)
    check_incremental(crowd)
    assert crowd.model.n_pairs == 0 and crowd.model.also_loved(ITEMS[0]) == []  # four: the pair does not exist
    store.rate("u4", ITEMS[0], 5), store.rate("u4", ITEMS[1], 5)
    check_incremental(crowd)
    assert [i for i, _, b in crowd.model.also_loved(ITEMS[0])] == [ITEMS[1]]  # five: it does
    store.clear("u2")
    check_incremental(crowd)
    assert crowd.model.n_pairs == 0 and crowd.model.also_loved(ITEMS[0]) == []  # four again: gone


OPS = st.lists(st.one_of(
    st.tuples(st.just("rate"), st.integers(0, 7), st.integers(0, len(ITEMS)), st.integers(1, 5)),
    st.tuples(st.just("clear"), st.integers(0, 7)),
    st.tuples(st.just("refresh"))), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, min_shoppers=st.integers(1, 3))
def test_any_sequence_of_rates_clears_and_refreshes_matches_a_full_refit(ops, min_shoppers):
    with tempfile.TemporaryDirectory() as tmp:
        store = RatingStore(Path(tmp) / "r.db")
        crowd = refresher(store, min_shoppers)
        crowd.refresh()
        for op in [*ops, ("refresh",)]:
            if op[0] == "rate":  # item index len(ITEMS) is outside the catalog
                store.rate(f"u{op[1]}", ITEMS[op[2]] if op[2] < len(ITEMS) else "elsewhere", op[3])
            elif op[0] == "clear":
                store.clear(f"u{op[1]}")
            else:
                check_incremental(crowd)
        assert crowd.full_refits == 1


def test_a_restored_or_replaced_database_falls_back_to_a_full_refit(tmp_path):
    store = RatingStore(tmp_path / "r.db")
    for u in range(3):
        store.rate(f"u{u}", ITEMS[0], 5), store.rate(f"u{u}", ITEMS[1], 4)
    store.backup(tmp_path / "early.db")
    crowd = refresher(store)
    crowd.refresh()
    for u in range(3, 6):
        store.rate(f"u{u}", ITEMS[0], 5), store.rate(f"u{u}", ITEMS[2], 5)
    check_incremental(crowd)
    restore_into = sqlite3.connect(tmp_path / "r.db")  # the backup of an earlier state comes back
    sqlite3.connect(tmp_path / "early.db").backup(restore_into)
    restore_into.close()
    assert store.writes() < crowd.fitted_writes and crowd.due(0.0, 0.0)  # the counter went down: refresh now
    assert crowd.refresh() and crowd.last_kind == "full" and crowd.fallbacks == 1
    assert_same_model(crowd.model, full_refit(store, 2))
    # another database whose counter is past ours: the row at our counter is not the one we saw
    other = RatingStore(tmp_path / "other.db")
    for u in range(9):
        other.rate(f"v{u}", ITEMS[3], 5), other.rate(f"v{u}", ITEMS[4], 5)
    assert other.writes() > crowd.fitted_writes
    restore_into = sqlite3.connect(tmp_path / "r.db")
    sqlite3.connect(tmp_path / "other.db").backup(restore_into)
    restore_into.close()
    assert crowd.refresh() and crowd.last_kind == "full" and crowd.fallbacks == 2
    assert_same_model(crowd.model, full_refit(store, 2))
    store.rate("v0", ITEMS[5], 2)
    check_incremental(crowd)  # and from there on incremental again


def test_a_failing_incremental_step_refits_in_full_and_a_failing_full_keeps_the_old_model(store, monkeypatch):
    for u in range(3):
        store.rate(f"u{u}", ITEMS[0], 5), store.rate(f"u{u}", ITEMS[1], 5)
    crowd = refresher(store)
    crowd.refresh()
    store.rate("u3", ITEMS[0], 5), store.rate("u3", ITEMS[1], 5)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "changes_since", broken)
    assert crowd.refresh() and crowd.last_kind == "full" and crowd.fallbacks == 1
    assert_same_model(crowd.model, full_refit(store, 2))
    good = crowd.model
    store.rate("u4", ITEMS[0], 1)
    monkeypatch.setattr(store, "rating_codes", broken)
    assert not crowd.refresh()
    assert crowd.model is good and crowd.failures == 1 and "disk I/O error" in crowd.last_error
    monkeypatch.undo()
    check_incremental(crowd)  # the totals of the last good model were kept: the next update is exact


def test_writes_outside_the_store_make_the_update_refit_in_full(store):
    for u in range(3):
        store.rate(f"u{u}", ITEMS[0], 5), store.rate(f"u{u}", ITEMS[1], 5)
    crowd = refresher(store)
    crowd.refresh()
    db = sqlite3.connect(store.path)
    db.execute("UPDATE ratings SET stars = 1 WHERE user_id = 'u0'")  # no history row behind it
    db.commit()
    db.close()
    store.rate("u0", ITEMS[2], 5)
    assert crowd.refresh() and crowd.last_kind == "full" and crowd.fallbacks == 1
    assert_same_model(crowd.model, full_refit(store, 2))


def test_force_full_refits_by_setting(store, monkeypatch):
    monkeypatch.setenv("JEWELREC_CROWD_INCREMENTAL", "0")
    crowd = CrowdRefresher(store, ITEMS, CrowdSettings.from_env())
    store.rate("u0", ITEMS[0], 5)
    crowd.refresh()
    store.rate("u1", ITEMS[0], 5)
    crowd.refresh()
    assert crowd.full_refits == 2 and crowd.incremental_refits == 0


def _database_from_before_clears(path: Path) -> sqlite3.Connection:
    """A ratings database as jewelrec wrote it before clears were logged (no rating_clears table), open."""
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE ratings (user_id TEXT NOT NULL, item_id TEXT NOT NULL, stars INTEGER NOT NULL,
            updated_at REAL NOT NULL, PRIMARY KEY (user_id, item_id));
        CREATE TABLE rating_history (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
            item_id TEXT NOT NULL, stars INTEGER NOT NULL, rated_at REAL NOT NULL);""")
    return db


def test_a_database_from_before_clears_were_logged_gets_its_past_clears_marked(tmp_path):
    """Old code deleted a shopper's ratings without a trace; opening such a database logs a clear where that
    shopper's history starts to replay right, so later incremental updates stay exact."""
    path = tmp_path / "old.db"
    db = _database_from_before_clears(path)
    log = [("a", ITEMS[0], 5), ("a", ITEMS[1], 5), ("b", ITEMS[0], 4), ("b", ITEMS[1], 5),
           ("c", ITEMS[0], 5), ("c", ITEMS[1], 5)]  # then a cleared, and rated ITEMS[1] again
    db.executemany("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES (?, ?, ?, 0)", log)
    db.execute("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES ('a', ?, 2, 0)", (ITEMS[1],))
    db.executemany("INSERT INTO ratings VALUES (?, ?, ?, 0)", [r for r in log if r[0] != "a"] + [("a", ITEMS[1], 2)])
    db.commit()
    db.close()
    store = RatingStore(path)
    assert store.writes() == 8  # 7 history rows and the marker for a's untracked clear
    rows = [(i, item, s) for i, u, item, s in sqlite3.connect(path).execute(
        "SELECT id, user_id, item_id, stars FROM rating_history WHERE user_id = 'a'")]
    clears = sqlite3.connect(path).execute("SELECT id, upto FROM rating_clears WHERE user_id = 'a'").fetchall()
    assert clears == [(8, 1)] and replay(rows, clears, 8) == store.ratings("a")
    crowd = refresher(store)
    crowd.refresh()
    store.rate("a", ITEMS[0], 5)  # a's state before this is the replay, not the resurrected first ratings
    check_incremental(crowd)
    assert store.rate("d", ITEMS[3], 5) == 1 and store.writes() == 10  # the counter goes on past the marker


BAD_STARS = ["five", 7, 0, -1, 300, 4.5, b"\x05", None]  # what another writer could leave under INTEGER affinity


def _write_bad_rows(path: Path, user: str, first: int) -> None:
    """Rows RatingStore would refuse, written as another tool would (``stars`` NOT NULL is dropped for None)."""
    db = sqlite3.connect(path)
    for n, stars in enumerate(BAD_STARS):
        if stars is None:
            continue
        item = ITEMS[(first + n) % len(ITEMS)]
        db.execute("INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, 9)", (user, item, stars))
        db.execute("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES (?, ?, ?, 9)",
                   (user, item, stars))
    db.commit()
    db.close()


def test_rows_with_stars_this_store_could_not_write_are_skipped_by_every_read(store, caplog):
    """One row of 'five' (or 7, 300, 4.5, a blob) by anyone broke that shopper's every read (int('five')), and the
    crowd model for all shoppers ("stars must be 1–5"; 300 broke rating_codes' fixed-width hex). Such rows are
    skipped — counted in the log once per shopper, left in the file — and everything else is read as before."""
    for u in range(4):
        for item in ITEMS[:3]:
            store.rate(f"s{u}", item, 5)
    store.rate("u", ITEMS[0], 4)
    _write_bad_rows(store.path, "u", first=5)
    _write_bad_rows(store.path, "mallory", first=1)
    assert store.ratings("u") == {ITEMS[0]: 4} and store.ratings("mallory") == {}
    assert "rating row(s) of 'u' have stars that are not a whole number from 1 to 5" in caplog.text
    store.ratings("u")
    assert caplog.text.count("of 'u' have stars") == 1  # once per shopper, not per request
    assert store.count() == 13 and store.n_users() == 5
    assert all(s == 5 for item, s, _ in store.history("s0")) and [h[:2] for h in store.history("u")] == [(ITEMS[0], 4)]
    users, items, stars = store.all_ratings()
    assert len(users) == 13 and set(stars) <= {4, 5}
    codes = store.rating_codes(ITEMS)
    assert len(codes.stars) == 13 and set(codes.stars.tolist()) <= {4, 5}
    crowd = refresher(store)
    assert crowd.refresh() and crowd.model is not None and crowd.model.n_ratings_ == 13
    store.rate("mallory", ITEMS[2], 5)  # the incremental update reads the same rows as a full refit
    check_incremental(crowd)
    # the bad rows are left in the file (mallory's new 5★ replaced one of hers): 13 + 1 readable, 13 not
    assert sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 14 + 13


def test_a_database_from_before_clears_with_an_unreadable_row_still_opens(tmp_path):
    """The back-fill of past clears read every row with int(): one 'five' made RatingStore() — the Space's
    start — fail with a bare "invalid literal for int()"."""
    path = tmp_path / "old.db"
    db = _database_from_before_clears(path)
    db.execute("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES ('a', ?, 5, 0)", (ITEMS[0],))
    db.execute("INSERT INTO ratings VALUES ('a', ?, 5, 0)", (ITEMS[0],))
    db.commit()
    db.close()
    _write_bad_rows(path, "a", first=3)
    store = RatingStore(path)
    assert store.ratings("a") == {ITEMS[0]: 5}
    assert refresher(store).refresh() and store.history("a")[0][:2] == (ITEMS[0], 5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ITEMS[:4]), st.integers(1, 5)), max_size=12),
       st.dictionaries(st.sampled_from(ITEMS[:4]), st.integers(1, 5), max_size=4))
def test_the_one_pass_clear_point_is_the_longest_suffix_that_replays_right(history, now):
    """The back-fill of past clears replayed every suffix of a shopper's history (quadratic: 40k rows of one
    bot-like shopper stalled the first start for a minute); one pass from the end finds the same point."""
    from jewelrec.space.ratings import _replay_start

    rows = [(i + 1, item, stars) for i, (item, stars) in enumerate(history)]
    marker = len(rows) + 1
    brute = next((rows[j - 1][0] for j in range(1, len(rows) + 1) if replay(rows[j:], [], marker) == now), marker)
    assert _replay_start(rows, now, marker) == brute
