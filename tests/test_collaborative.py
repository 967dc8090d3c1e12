"""The crowd model (item-kNN on co-ratings), its blend with the visual picks, and the background refresher."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import make_synthetic_bundle, wait_for

from jewelrec.serving.blend import CrowdRecommender
from jewelrec.serving.collaborative import CollaborativeModel
from jewelrec.serving.recommender import Recommender
from jewelrec.space.crowd import CrowdRefresher, CrowdSettings
from jewelrec.space.ratings import RatingStore

N, STYLES = 120, 6  # item i is in style i % 6
A = [f"it-{i:05d}" for i in range(0, 48, 6)]  # 8 pieces of style 0
B = [f"it-{i:05d}" for i in range(3, 51, 6)]  # 8 pieces of style 3: they look nothing like A


def linked_crowd(shoppers: int, seed: int = 0):
    """Each shopper loves 3 pieces of A and 3 of B (5★) and finds one other piece so-so: the A–B link."""
    rng = np.random.default_rng(seed)
    users, items, stars = [], [], []
    for u in range(shoppers):
        liked = [*rng.choice(A, 3, replace=False), *rng.choice(B, 3, replace=False)]
        for item in liked:
            users.append(f"crowd-{u}"), items.append(item), stars.append(5)
        users.append(f"crowd-{u}"), items.append(f"it-{int(rng.integers(60, N)):05d}"), stars.append(2)
    return users, items, stars


@pytest.fixture(scope="module")
def bundle():
    return make_synthetic_bundle(n_items=N, n_clusters=STYLES, seed=0)


@pytest.fixture(scope="module")
def recommender(bundle):
    return Recommender(bundle)


def test_pairs_below_the_privacy_threshold_do_not_exist(bundle):
    ids = bundle.item_ids
    users, items, stars = [], [], []
    for u in range(5):  # five shoppers love A[0] with A[1]
        for item in (A[0], A[1]):
            users.append(f"five-{u}"), items.append(item), stars.append(5)
    for u in range(4):  # only four love B[0] with B[1]
        for item in (B[0], B[1]):
            users.append(f"four-{u}"), items.append(item), stars.append(5)
    model = CollaborativeModel(ids, min_shoppers=5).fit(items, users, stars)
    assert [i for i, _, _ in model.also_loved(A[0])] == [A[1]]
    assert model.also_loved(A[0])[0][2] == 5
    assert model.also_loved(B[0]) == [] and len(model.neighbours_of(model.row_of(B[0]))[0]) == 0
    assert model.n_pairs == 2  # A0→A1 and A1→A0, nothing else
    assert not any(isinstance(v, str) and v.startswith(("five", "four")) for v in vars(model).values())
    assert model.n_shoppers_ == 9  # an aggregate count, no ids
    with pytest.raises(ValueError, match="stars must be 1–5"):
        CollaborativeModel(ids).fit([A[0]], ["u"], [6])


def test_dislikes_count_against_a_pair(bundle):
    users, items, stars = [], [], []
    for u in range(6):
        users += [f"u{u}", f"u{u}", f"u{u}"]
        items += [A[0], A[1], B[0]]
        stars += [5, 5, 1]  # love A0 and A1, dislike B0
    model = CollaborativeModel(bundle.item_ids).fit(items, users, stars)
    rows, sims, raters = model.neighbours_of(model.row_of(A[0]))
    sim = dict(zip((bundle.item_ids[r] for r in rows), sims))
    assert sim[A[1]] > 0 > sim[B[0]]
    assert [i for i, _, _ in model.also_loved(A[0])] == [A[1]]  # a disliked co-rating is never "also loved"
    assert set(raters) == {6}


def test_an_empty_or_thin_crowd_leaves_picks_and_scores_exactly_visual(bundle, recommender):
    ratings = {A[0]: 5, A[1]: 5, "it-00001": 2}
    visual = recommender.recommend(ratings, 10)
    empty = CollaborativeModel(bundle.item_ids).fit([], [], [])
    assert CrowdRecommender(recommender, lambda: empty).recommend(ratings, 10) == visual
    assert CrowdRecommender(recommender, lambda: None).recommend(ratings, 10) == visual
    users, items, stars = linked_crowd(4)  # a real A–B link, but only 4 shoppers: below the threshold
    thin = CollaborativeModel(bundle.item_ids).fit(items, users, stars)
    assert CrowdRecommender(recommender, lambda: thin).recommend(ratings, 10) == visual
    assert CrowdRecommender(recommender, lambda: thin).recommend({}, 10) == recommender.recommend({}, 10)


def test_zero_share_for_items_nobody_co_rated(bundle, recommender):
    users, items, stars = linked_crowd(60)
    model = CollaborativeModel(bundle.item_ids).fit(items, users, stars)
    blend = CrowdRecommender(recommender, lambda: model)
    ratings = {A[0]: 5, A[1]: 5, A[2]: 4}
    rows, cf, evidence, _ = blend.links(model, ratings)
    linked = {bundle.item_ids[r] for r in rows}
    assert len(set(B) & linked) >= 6 and all(e >= 5 for e in evidence)
    visual = dict((i, s) for i, s, _ in recommender.recommend(ratings, 100))
    for item, score, why in blend.recommend(ratings, 10):
        if item not in linked:  # no co-rating behind it: exactly its visual score, its visual reason
            assert score == visual[item] and not why.startswith("shoppers")


def test_the_crowd_brings_a_linked_unlike_looking_group_into_the_top_10(bundle, recommender):
    ratings = {A[0]: 5, A[1]: 5, A[2]: 5}
    visual = [i for i, _, _ in recommender.recommend(ratings, 10)]
    assert not set(visual) & set(B)  # looks alone never find B
    users, items, stars = linked_crowd(60)
    model = CollaborativeModel(bundle.item_ids).fit(items, users, stars)
    picks = CrowdRecommender(recommender, lambda: model).recommend(ratings, 10)
    from_b = [(i, s, why) for i, s, why in picks if i in B]
    assert len(from_b) >= 2
    assert all(why.startswith("shoppers who loved the ") and why.endswith(" also loved this") for _, _, why in from_b)
    assert all(-1.0 <= s <= 1.0 for _, s, _ in picks)
    assert [s for _, s, _ in picks] == sorted((s for _, s, _ in picks), reverse=True)
    # more evidence from the shopper herself: the crowd's share grows
    more = CrowdRecommender(recommender, lambda: model).recommend({**ratings, A[3]: 5, A[4]: 5, A[5]: 5}, 10)
    assert sum(i in B for i, _, _ in more) >= len(from_b)


def test_a_reason_never_says_loved_of_a_piece_the_shopper_disliked(bundle, recommender):
    """Every crowd shopper loves A and B and dislikes C. A newcomer who dislikes C (or A) was told 'shoppers who
    loved the <C> also loved this' — a disliked seed anti-correlated with a pick also pushes it up, but nobody in
    the story loved that seed."""
    a, b, c = A[0], B[0], A[4]
    users, items, stars = [], [], []
    for u in range(10):
        for item, star in ((a, 5), (b, 5), (c, 1)):
            users.append(f"crowd-{u}"), items.append(item), stars.append(star)
    model = CollaborativeModel(bundle.item_ids).fit(items, users, stars)
    blend = CrowdRecommender(recommender, lambda: model)
    names = recommender.names
    for ratings in ({c: 1}, {a: 1}, {c: 1, a: 2}):
        disliked = [names[bundle.index_of(i)] for i in ratings]
        for _, _, why in blend.recommend(ratings, 10):
            assert not any(f"loved the {name} " in why for name in disliked), (ratings, why)
    loved = blend.recommend({a: 5}, 10)  # a liked seed is still named
    assert any(why == f"shoppers who loved the {names[bundle.index_of(a)]} also loved this" for _, _, why in loved)


def test_a_reason_says_loved_only_of_a_pair_enough_shoppers_loved(bundle, recommender):
    """A crowd that rated a and b 1★ together makes them similar; a newcomer who loves a was told 'shoppers who
    loved the <a> also loved this' of b, which nobody loved."""
    a, b = A[0], B[0]
    users = [f"crowd-{u}" for u in range(8) for _ in (0, 1)]
    model = CollaborativeModel(bundle.item_ids).fit([a, b] * 8, users, [1, 1] * 8)
    assert model.also_loved(a) == [] and b in {model.item_ids[c] for c in model.neighbours_of(model.row_of(a))[0]}
    picks = dict((item, why) for item, _, why in CrowdRecommender(recommender, lambda: model).recommend({a: 5}, 20))
    assert "loved the" not in picks.get(b, ""), picks.get(b)
    assert all("loved the" not in why for why in picks.values()), picks


def test_the_crowd_counts_a_shopper_once_per_piece_and_takes_whole_stars_only(bundle):
    # six rows of one shopper made a pair "9 shoppers loved both" past the 5-shopper threshold; 4.9★ was cast
    # to 4★, True to a 1★ dislike
    a, b = A[0], A[1]
    model = CollaborativeModel(bundle.item_ids).fit([a, b] * 3, ["alice"] * 6, [5] * 6)
    assert model.n_pairs == 0 and model.also_loved(a) == [] and model.summary()["ratings"] == 2
    model = CollaborativeModel(bundle.item_ids, min_shoppers=1)
    row = model.row_of(a)
    for stars, loved in (([1, 5], 1), ([5, 1], 0)):  # the last of a shopper's ratings of a piece is the one
        totals = model.totals([a, a], ["alice"] * 2, stars)
        assert totals.n_ratings == 1 and totals.co_lovers.diagonal()[row] == loved, stars
    for stars, wanted in (([4.9], r"whole numbers 1–5, got \[4.9\]"), ([True], "type bool"),
                          (["5"], "type <U1"), ([float("nan")], "whole numbers 1–5, got \\[nan\\]"),
                          ([6], "1–5, got values from 6")):
        with pytest.raises(ValueError, match=wanted):
            CollaborativeModel(bundle.item_ids).fit([a], ["alice"], stars)
    assert CollaborativeModel(bundle.item_ids).fit([a], ["alice"], [4.0]).n_ratings_ == 1  # a whole float is fine


def test_a_failing_refresh_keeps_the_last_good_model(tmp_path, bundle):
    store = RatingStore(tmp_path / "r.db", known_items=set(bundle.item_ids))
    calls = {"n": 0}

    def flaky(s, ids):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return CollaborativeModel.from_store(s, ids)

    crowd = CrowdRefresher(store, bundle.item_ids, fit=flaky)
    assert crowd.refresh() and crowd.model is not None
    good = crowd.model
    assert not crowd.refresh()
    assert crowd.model is good and crowd.failures == 1 and "disk on fire" in crowd.last_error
    assert crowd.refresh() and crowd.model is not good


def test_the_refresh_runs_in_the_background_every_n_ratings_or_t_seconds(tmp_path, bundle):
    store = RatingStore(tmp_path / "r.db", known_items=set(bundle.item_ids))
    pairs = [(f"s{u}", item) for u in range(7) for item in (A[0], A[1])]  # 7 shoppers love A0 with A1
    crowd = CrowdRefresher(store, bundle.item_ids, CrowdSettings(every_ratings=7, every_s=3600, poll_s=0.05))
    crowd.refresh()
    crowd.start()
    try:
        for user, item in pairs[:6]:
            store.rate(user, item, 5)
            crowd.nudge()
        time.sleep(0.3)  # several polls: 6 new ratings are below every_ratings, so no refit
        assert crowd.refreshes == 1
        store.rate(*pairs[6], 5)
        crowd.nudge()
        assert wait_for(lambda: crowd.refreshes == 2 and crowd.fitted_writes == 7)
    finally:
        crowd.stop()
    assert not crowd.running
    timed = CrowdRefresher(store, bundle.item_ids, CrowdSettings(every_ratings=1000, every_s=0.2, poll_s=0.05))
    timed.refresh()
    timed.start()
    try:
        for user, item in pairs[7:]:
            store.rate(user, item, 5)
        assert wait_for(lambda: timed.model.also_loved(A[0]))  # 7 < 1000 ratings, but 0.2 s went by
        assert timed.fitted_writes == len(pairs)
    finally:
        timed.stop()


def test_a_slow_refresh_never_blocks_a_request(tmp_path, bundle, recommender):
    store = RatingStore(tmp_path / "r.db", known_items=set(bundle.item_ids))
    release, entered = threading.Event(), threading.Event()
    users, items, stars = linked_crowd(60)
    for u, i, s in zip(users, items, stars):
        store.rate(u, i, s)

    def slow(s, ids):
        entered.set()
        release.wait(30)
        return CollaborativeModel.from_store(s, ids)

    crowd = CrowdRefresher(store, bundle.item_ids, CrowdSettings(every_ratings=1, poll_s=0.05), fit=slow)
    blend = CrowdRecommender(recommender, lambda: crowd.model)
    crowd.start()
    try:
        crowd.nudge()
        assert entered.wait(10)  # the refit is running, on the refresher's thread
        picks = blend.recommend({A[0]: 5, A[1]: 5, A[2]: 5}, 10)  # answered now, from the old (no) model
        assert crowd.model is None and not any(i in B for i, _, _ in picks)
        release.set()
        assert wait_for(lambda: crowd.model is not None)
        assert any(i in B for i, _, _ in blend.recommend({A[0]: 5, A[1]: 5, A[2]: 5}, 10))
    finally:
        release.set()
        crowd.stop()


def test_crowd_settings_from_env_name_the_fix(monkeypatch):
    for name, value, said in (("JEWELREC_CROWD_EVERY_RATINGS", "ten", "is not a whole number"),
                              ("JEWELREC_CROWD_EVERY_RATINGS", "2.5", "is not a whole number"),
                              ("JEWELREC_CROWD_EVERY_S", "nan", "is not a number"),  # nan never came due
                              ("JEWELREC_CROWD_EVERY_S", "0", "must be > 0"),
                              ("JEWELREC_CROWD", "maybe", "is neither on nor off")):  # read as on, silently
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=f"{name}='{value}' {said}"):
            CrowdSettings.from_env()
        monkeypatch.delenv(name)
    monkeypatch.setenv("JEWELREC_CROWD_EVERY_RATINGS", "1e3")  # a whole number however written
    monkeypatch.setenv("JEWELREC_CROWD", "Off")
    settings = CrowdSettings.from_env()
    assert settings.every_ratings == 1000 and not settings.enabled


def test_the_refresher_survives_a_store_it_cannot_read_and_keeps_its_model(tmp_path, bundle):
    """A failing read in the background (the database went away, a lock, a disk error) costs no model: the
    thread keeps polling and the last good model keeps serving; the next good refit replaces it."""
    store = RatingStore(tmp_path / "r.db", known_items=set(bundle.item_ids))
    users, items, stars = linked_crowd(10)
    for u, i, s in zip(users, items, stars):
        store.rate(u, i, s)
    broken = {"on": False}

    def fit(s, ids):
        if broken["on"]:
            raise OSError("disk I/O error")
        return CollaborativeModel.from_store(s, ids)

    crowd = CrowdRefresher(store, bundle.item_ids, CrowdSettings(every_ratings=1, poll_s=0.05), fit=fit)
    assert crowd.refresh()
    good = crowd.model
    broken["on"] = True
    crowd.start()
    try:
        store.rate("late", A[0], 5)
        crowd.nudge()
        assert wait_for(lambda: crowd.failures >= 2)  # it retried on its own, in the background
        assert crowd.model is good and crowd.running and "disk I/O error" in crowd.last_error
        broken["on"] = False
        assert wait_for(lambda: crowd.model is not good)
    finally:
        crowd.stop()


def test_the_space_shows_no_pair_fewer_than_five_shoppers_loved(tmp_path):
    """Privacy through the Space's handlers: four shoppers who loved A0 with A1 show nowhere — not on Similar,
    not in /also_loved, not in For you's reasons; the fifth makes the pair an aggregate of five and it appears."""
    from jewelrec.space import SpaceService

    bundle = make_synthetic_bundle(n_items=N, n_clusters=STYLES, seed=0)
    service = SpaceService.start(bundle, {"notice": "synthetic"}, RatingStore(tmp_path / "r.db"),
                                 crowd=CrowdSettings(every_ratings=1000, every_s=3600))
    for u in range(4):
        for item in (A[0], B[0]):
            service.rate(f"shopper-{u}", item, 5)
    service.crowd.refresh()
    _, cards, _ = service.similar(A[0])
    assert service.also_loved(A[0]) == [] and "Shoppers who loved" not in cards
    picks = service.picks.recommend({A[0]: 5}, 10)
    assert picks == service.recommender.recommend({A[0]: 5}, 10)  # no trace of the four in the picks either
    for item in (A[0], B[0]):
        service.rate("shopper-4", item, 5)
    service.crowd.refresh()
    _, cards, _ = service.similar(A[0])
    assert [(i, why) for i, _, why in service.also_loved(A[0])] == [(B[0], "5 shoppers loved both")]
    assert "Shoppers who loved this also loved" in cards
    assert any(i == B[0] for i, _, _ in service.picks.recommend({A[0]: 5}, 10))


def test_the_crowd_share_is_zero_without_evidence_and_grows_with_it(bundle, recommender):
    """α = max_share · e/(e + evidence_half) · n/(n + ratings_half): 0 for an item with no co-raters behind it,
    larger with more co-raters and with more of the shopper's own ratings, never above max_share."""
    from jewelrec.serving.blend import BlendConfig

    config = BlendConfig()
    assert config.evidence_half > 0 and config.ratings_half > 0 and 0 < config.max_share < 1
    blend = CrowdRecommender(recommender, lambda: None, config)
    assert blend.share(np.array([0.0]), 3)[0] == 0.0
    shares = blend.share(np.array([5.0, 20.0, 200.0]), 3)
    assert 0 < shares[0] < shares[1] < shares[2] < config.max_share
    assert blend.share(np.array([20.0]), 1)[0] < blend.share(np.array([20.0]), 3)[0] < blend.share(
        np.array([20.0]), 30)[0] < config.max_share


def test_the_crowd_config_scores_visual_blend_and_cf_in_one_results_json(tmp_path):
    """training/configs/crowd.yaml on a tiny linked log (30 crowd shoppers, 8 newcomers whose hidden taste is
    rated in the last week): every model it lists lands in results.json, and the blend beats visual-only."""
    import json
    from pathlib import Path

    import pandas as pd

    from jewelrec.evaluation.experiment import EvalConfig, run
    from jewelrec.evaluation.synthetic_ratings import SECONDS_PER_DAY, START, write_ratings_db

    bundle = make_synthetic_bundle(n_items=N, n_clusters=STYLES, seed=0)
    bundle_dir = bundle.save(tmp_path / "bundle")
    users, items, stars = linked_crowd(30)
    rng = np.random.default_rng(1)
    rows = [(u, i, s, START + int(rng.integers(0, 20 * SECONDS_PER_DAY))) for u, i, s in zip(users, items, stars)]
    for j in range(8):
        rated = list(rng.choice(A, 3, replace=False))
        rows += [(f"newcomer-{j}", i, 5, START + int(rng.integers(0, 20 * SECONDS_PER_DAY))) for i in rated]
        rows += [(f"newcomer-{j}", i, 5, START + 25 * SECONDS_PER_DAY + j) for i in (*A[:5], *B[:5]) if i not in rated]
    write_ratings_db(pd.DataFrame(rows, columns=["user_id", "item_id", "stars", "updated_at"]), tmp_path / "r.db")
    config = EvalConfig.from_yaml(Path(__file__).parents[1] / "training" / "configs" / "crowd.yaml")
    config.data["path"], config.bundle = str(tmp_path / "r.db"), str(bundle_dir)
    results = run(config, tmp_path / "results")
    written = json.loads((tmp_path / "results" / "results.json").read_text())
    assert set(written) == {"popularity", "visual-only", "blended", "item_knn", "ease", "als"} == set(results)
    assert written["blended"]["ndcg@10"] > written["visual-only"]["ndcg@10"]
    assert all(0.0 <= v["precision@10"] <= 1.0 for v in written.values())


def test_fit_is_totals_then_finish_and_totals_add_up_shopper_by_shopper(bundle):
    """fit() = finish(totals(...)); the totals of a crowd are the totals of its parts, so moving a shopper's
    ratings (update: + now − before) gives exactly the model a fit on the new crowd gives."""
    users, items, stars = linked_crowd(40, seed=3)
    model = CollaborativeModel(bundle.item_ids)
    whole = CollaborativeModel(bundle.item_ids).fit(items, users, stars)
    half = len(users) // 2
    first, second = model.totals(items[:half], users[:half], stars[:half]), model.totals(
        items[half:], users[half:], stars[half:])
    empty = model.totals([], [], [])
    # n_shoppers counts a shopper once per part they appear in (the split here cuts between shoppers)
    combined = first.update(second, empty)
    assert combined.n_ratings == whole.n_ratings_ and combined.n_shoppers == whole.n_shoppers_ + (
        len(set(users[:half]) & set(users[half:])))
    mine = [k for k, u in enumerate(users) if u == "crowd-7"]
    before = model.totals([items[k] for k in mine], ["crowd-7"] * len(mine), [stars[k] for k in mine])
    now = model.totals([A[0], B[7]], ["crowd-7"] * 2, [1, 5])
    rest = [k for k in range(len(users)) if users[k] != "crowd-7"]
    moved = model.totals(items, users, stars).update(now, before)
    want = CollaborativeModel(bundle.item_ids).fit([items[k] for k in rest] + [A[0], B[7]],
                                                   [users[k] for k in rest] + ["crowd-7"] * 2,
                                                   [stars[k] for k in rest] + [1, 5])
    got = CollaborativeModel(bundle.item_ids).finish(moved)
    for name in ("similarity_", "co_raters_", "co_lovers_"):
        a, b = getattr(got, name), getattr(want, name)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data)
    assert (got.n_shoppers_, got.n_ratings_) == (want.n_shoppers_, want.n_ratings_)
    with pytest.raises(ValueError, match="below zero"):
        model.totals([], [], []).update(empty, before)  # removing what was never added
