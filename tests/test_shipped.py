"""The shipped recommender as an offline-evaluation model (jewelrec.evaluation.models.shipped) and the raw-star view
of a split it reads (jewelrec.evaluation.stars)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from jewelrec.evaluation.experiment import EvalConfig, load_log, prepare
from jewelrec.evaluation.interactions import InteractionLog
from jewelrec.evaluation.models import JewelrecModel
from jewelrec.evaluation.models.registry import ModelSpec, build_model
from jewelrec.evaluation.splits import SplitConfig, make_split
from jewelrec.evaluation.stars import latest_values, training_stars
from tests.conftest import make_synthetic_bundle

DAY = 86_400
T0 = 1_767_225_600  # a UTC midnight
STYLE_0, STYLE_1 = ["it-00000", "it-00006"], ["it-00001", "it-00007"]  # item i is in style i % 6
DISLIKED = ["it-00013", "it-00019", "it-00025"]  # style 1 too


def _ratings_db(path, *, with_dislikes: bool = True):
    """A browser who rated every piece 3★ (so the whole catalog is in the log) and shopper "u" who loves two
    pieces of style 0 and two of style 1 (5★) and, in the first log, hates three more pieces of style 1 (1★).
    u's test rating is a day-5 5★ of style 0; everything else is day 0."""
    rows = [("browser", f"it-{i:05d}", 3, T0 + i) for i in range(300)]
    rows += [("u", item, 5, T0 + 60) for item in STYLE_0 + STYLE_1]
    rows += [("u", item, 1, T0 + 120) for item in DISLIKED] if with_dislikes else []
    rows += [("u", "it-00012", 5, T0 + 5 * DAY)]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, "
                   "PRIMARY KEY(user_id, item_id))")  # fmt: skip
        db.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", rows)
    return path


def _fitted(tmp_path, *, with_dislikes: bool):
    """The evaluator's own path: space-ratings preset → time split → training stars → jewelrec model."""
    db = _ratings_db(tmp_path / f"ratings-{with_dislikes}.sqlite", with_dislikes=with_dislikes)
    config = EvalConfig(data={"preset": "space-ratings", "path": str(db)}, split=SplitConfig("time", test_days=1),
                        models=[ModelSpec("jewelrec", "jewelrec")], k=10)
    config.validate()
    log, _ = load_log(config.data)
    data = prepare(make_split(log, config.split), config)
    bundle = make_synthetic_bundle()
    model = build_model(config.models[1], None, log.item_ids, bundles={"b": bundle}, default_bundle="b")
    model.fit(data.train, stars=data.stars)
    u = list(log.user_ids).index("u")
    return model, data, u, bundle


def _styles(model, data, u, bundle) -> list[int]:
    ids, _ = model.recommend(np.array([u]), data.train[[u]], k=10)
    return [int(bundle.labels[bundle.index_of(str(model.stars_.item_ids[c]))]) for c in ids[0] if c >= 0]


def test_the_jewelrec_model_reads_raw_stars_and_a_1_star_pushes_its_style_out(tmp_path):
    model, data, u, bundle = _fitted(tmp_path, with_dislikes=True)
    # the recommender gets the raw stars, the 1★ dislikes included — not the CF confidences (5★ → 4.0)
    assert model.shopper_ratings(u) == {**{i: 5.0 for i in STYLE_0 + STYLE_1}, **{i: 1.0 for i in DISLIKED}}
    # while the collaborative models' training row of u holds only the four likes, as confidences
    row = data.train[u]
    assert row.nnz == 4 and set(row.data) == {4.0}
    styles = _styles(model, data, u, bundle)
    assert len(styles) == 10 and 1 not in styles  # three 1★ outweigh two 5★: style 1 is out of the list

    # the same log without the 1★ rows: style 1 is liked as much as style 0 and shares the list
    model, data, u, bundle = _fitted(tmp_path, with_dislikes=False)
    assert set(model.shopper_ratings(u).values()) == {5.0}
    styles = _styles(model, data, u, bundle)
    assert styles.count(1) >= 4 and styles.count(0) >= 4


def test_picks_stay_inside_the_log_and_outside_items_are_counted(tmp_path):
    """Items in the log but not in the bundle are skipped as ratings and counted; the bundle's items nobody rated
    are never picked (the candidates are the other models' candidates)."""
    full = make_synthetic_bundle()
    keep = np.arange(300) != 12  # the bundle lacks it-00012 (u's test item)
    from jewelrec.evaluation.models.shipped import restrict

    bundle = restrict(full, np.flatnonzero(keep))
    log = InteractionLog(
        np.array(["a", "b"], object), np.array([f"it-{i:05d}" for i in range(0, 60)], object),
        np.repeat([0, 1], 30).astype(np.int32), np.r_[np.arange(0, 60, 2), np.arange(1, 60, 2)].astype(np.int32),
        np.ones(60, np.float32), stars=np.where(np.arange(60) % 6 == 0, 5.0, 3.0).astype(np.float32),
    )  # fmt: skip
    stars = training_stars(log)
    model = JewelrecModel(bundle).fit(log.to_csr(), stars=stars)
    assert model.report_["log_items_not_in_bundle"] == 1 and model.report_["ratings_not_in_bundle"] == 1
    assert "it-00012" not in model.shopper_ratings(0) and "not in the bundle" in model.report_["note"]
    assert model.report_["candidates"] == 59
    ids, scores = model.recommend(np.array([0, 1]), log.to_csr(), k=20)
    assert ((ids >= 0) & (ids < 60)).all() and np.isfinite(scores).all()
    for user in (0, 1):
        assert not set(ids[user]) & set(log.to_csr()[user].indices)  # nothing the user rated


def test_training_stars_keep_the_latest_rating_and_items_only_ever_disliked():
    positives = InteractionLog(
        np.array(["a", "b"], object), np.array(["x", "y"], object), np.array([0, 0, 1], np.int32),
        np.array([0, 0, 1], np.int32), np.ones(3, np.float32), times=np.array([10, 20, 5]),
        stars=np.array([3, 5, 4], np.float32),
    )  # fmt: skip
    positives.dislikes = InteractionLog(
        np.array(["a", "ghost"], object), np.array(["z", "y"], object), np.array([0, 1], np.int32),
        np.array([0, 1], np.int32), np.ones(2, np.float32), times=np.array([7, 8]), stars=np.array([1, 2], np.float32),
    )  # fmt: skip
    stars = training_stars(positives)
    assert list(stars.item_ids) == ["x", "y", "z"] and stars.n_log_items == 2  # z: only ever disliked
    assert stars.of_user(0) == {"x": 5.0, "z": 1.0}  # the later 5★ of x wins over the 3★
    assert stars.of_user(1) == {"y": 4.0}
    assert stars.n_dislikes == 1 and stars.n_dislikes_of_unknown_users == 1  # "ghost" has no positive row
    matrix = latest_values(np.array([0, 0]), np.array([1, 1]), np.array([2.0, 4.0]), None, 1, 2)
    assert matrix[0, 1] == 4.0  # no times: the later row wins


def test_the_jewelrec_model_refuses_what_it_cannot_read():
    bundle = make_synthetic_bundle(n_items=30)
    log = InteractionLog(np.array(["a"], object), np.array(["it-00000"], object), np.zeros(1, np.int32),
                         np.zeros(1, np.int32), np.ones(1, np.float32))  # fmt: skip
    with pytest.raises(ValueError, match="reads 1–5 star ratings.*columns: {rating: stars}"):
        JewelrecModel(bundle).fit(log.to_csr(), stars=training_stars(log))
    log.stars = np.array([9.0], np.float32)
    with pytest.raises(ValueError, match="run from 9 to 9; map them onto 1–5"):
        JewelrecModel(bundle).fit(log.to_csr(), stars=training_stars(log))
    log.stars = np.array([5.0], np.float32)
    model = JewelrecModel(bundle).fit(log.to_csr(), stars=training_stars(log))
    with pytest.raises(ValueError, match="filter_seen: true"):
        model.recommend(np.array([0]), log.to_csr(), k=3, filter_seen=False)
    with pytest.raises(ValueError, match="allowed keys are"):
        JewelrecModel(bundle, settings={"dislike_wieght": 1.0}).fit(log.to_csr(), stars=training_stars(log))


def test_collaborative_true_blends_the_crowd_into_the_offline_model():
    """A crowd that loves style-0 pieces A together with style-3 pieces B: the blended jewelrec model picks B for a
    shopper who rated only A; the visual-only one, on the same log, does not."""
    bundle = make_synthetic_bundle()
    group_a, group_b = [f"it-{i:05d}" for i in range(0, 48, 6)], [f"it-{i:05d}" for i in range(3, 51, 6)]
    rng = np.random.default_rng(0)
    rated = [[*rng.choice(group_a, 3, replace=False), *rng.choice(group_b, 3, replace=False)] for _ in range(60)]
    rated.append([f"it-{i:05d}" for i in range(300)])  # a browser who rated every piece 3★: all are candidates
    rated.append(group_a[:3])  # the shopper we ask for: three pieces of A
    item_ids = np.array(sorted({i for r in rated for i in r}), object)
    col = {item: c for c, item in enumerate(item_ids)}
    users = np.concatenate([np.full(len(r), u) for u, r in enumerate(rated)]).astype(np.int32)
    items = np.array([col[i] for r in rated for i in r], np.int32)
    given = np.where(users == len(rated) - 2, 3.0, 5.0).astype(np.float32)
    log = InteractionLog(np.array([f"s{u}" for u in range(len(rated))], object), item_ids, users, items,
                         np.ones(len(items), np.float32), stars=given)
    stars, me = training_stars(log), len(rated) - 1
    picked = {}
    for collaborative in (False, True):
        spec = ModelSpec("j", "jewelrec", params={"collaborative": collaborative})
        model = build_model(spec, None, log.item_ids, bundles={"b": bundle}, default_bundle="b")
        model.fit(log.to_csr(), stars=stars)
        ids, _ = model.recommend(np.array([me]), log.to_csr()[[me]], k=10)
        picked[collaborative] = {str(item_ids[c]) for c in ids[0] if c >= 0}
    assert not picked[False] & set(group_b)
    assert len(picked[True] & set(group_b)) >= 2
    assert model.get_params()["collaborative"] is True and model.crowd_.n_shoppers_ == len(rated)
    with pytest.raises(ValueError, match="collaborative must be true or false"):
        build_model(ModelSpec("j", "jewelrec", params={"collaborative": "yes"}), None, log.item_ids,
                    bundles={"b": bundle}, default_bundle="b")


def test_a_user_with_only_dislikes_in_training_is_asked_not_given_popularity(tmp_path):
    """All of u's training ratings are 1★: no positive row, so the evaluator took u for cold and gave the popularity
    list — the very pieces u had rated 1★ at its top."""
    from jewelrec.evaluation.experiment import recommend_for

    rows = [(f"fan{f}", item, 5, T0 + 60) for f in range(6) for item in DISLIKED]  # the crowd loves them
    rows += [(f"fan{f}", f"it-{100 + f:05d}", 5, T0 + 5 * DAY) for f in range(6)]
    rows += [("hater", item, 1, T0 + 120) for item in DISLIKED] + [("hater", "it-00012", 5, T0 + 5 * DAY)]
    db = tmp_path / "ratings.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, "
                     "PRIMARY KEY(user_id, item_id))")  # fmt: skip
        conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", rows)
    config = EvalConfig(data={"preset": "space-ratings", "path": str(db)}, split=SplitConfig("time", test_days=1),
                        models=[ModelSpec("jewelrec", "jewelrec")], k=3)
    config.validate()
    log, _ = load_log(config.data)
    data = prepare(make_split(log, config.split), config)
    model = build_model(config.models[1], None, log.item_ids, bundles={"b": make_synthetic_bundle()},
                        default_bundle="b")
    model.fit(data.train, stars=data.stars)
    ranked, n_fallback = recommend_for(model, data, 3, True)
    hater = list(data.users).index(list(log.user_ids).index("hater"))
    assert n_fallback == 0
    assert not {str(model.stars_.item_ids[c]) for c in ranked[hater] if c >= 0} & set(DISLIKED)
