import numpy as np
import pandas as pd
import pytest

from jewelrec import Recommender
from jewelrec.serving.recommender import RecommenderConfig
from tests.conftest import make_synthetic_bundle


@pytest.fixture
def rec(synthetic_bundle):
    return Recommender(synthetic_bundle)


def cluster_of(rec, item_id):
    return int(rec.bundle.labels[rec.bundle.index_of(item_id)])


def test_likes_pull_toward_their_cluster_and_dislikes_push_away(rec):
    # items i belong to cluster i % 6 by construction
    ratings = {"it-00000": 5, "it-00006": 5, "it-00001": 1, "it-00007": 1}
    results = rec.recommend(ratings, k=5)
    assert len(results) == 5
    assert all(cluster_of(rec, item) == 0 for item, _, _ in results)
    assert not set(ratings) & {item for item, _, _ in results}
    scores = [s for _, s, _ in results]
    assert scores == sorted(scores, reverse=True)
    assert "you rated 5★" in results[0][2]


def test_list_spreads_over_the_clearly_liked_clusters(rec):
    # one 5★ in each of two styles: too little evidence to reserve places (style_evidence), MMR decides and
    # still gives both places; the 1★ style stays out
    ratings = {"it-00000": 5, "it-00002": 5, "it-00004": 4, "it-00001": 1}
    clusters = [cluster_of(rec, item) for item, _, _ in rec.recommend(ratings, k=9)]
    assert {0, 2} <= set(clusters) and 1 not in clusters
    assert min(clusters.count(0), clusters.count(2)) >= 2


def test_styles_with_evidence_share_the_list_in_proportion(rec):
    # three 5★ in each of two styles: both reserve places by affinity (equal here), whatever the scores
    ratings = {f"it-{i:05d}": 5 for i in (0, 6, 12, 2, 8, 14)} | {"it-00001": 1}
    clusters = [cluster_of(rec, item) for item, _, _ in rec.recommend(ratings, k=10)]
    assert clusters.count(0) == 5 and clusters.count(2) == 5


def test_a_strong_style_beats_a_lukewarm_one(rec):
    # style 0: two 5★; style 2: one 4★ (lukewarm); style 1: a 1★. Style 0 must lead and hold most of the list;
    # an equal cap per style (the old rule) gave the 4★ style as many places as the 5★ one.
    ratings = {"it-00000": 5, "it-00006": 5, "it-00002": 4, "it-00001": 1, "it-00003": 3}
    results = rec.recommend(ratings, k=10)
    clusters = [cluster_of(rec, item) for item, _, _ in results]
    assert clusters[0] == 0
    assert clusters.count(0) > clusters.count(2) and clusters.count(0) >= 6
    assert 1 not in clusters


def test_a_disliked_style_stays_out(rec):
    ratings = {"it-00000": 5, "it-00002": 5, "it-00001": 1, "it-00007": 2, "it-00013": 1}
    assert all(cluster_of(rec, item) != 1 for item, _, _ in rec.recommend(ratings, k=20))


def test_single_liked_cluster_may_fill_the_list(rec):
    clusters = {cluster_of(rec, item) for item, _, _ in rec.recommend({"it-00003": 5}, k=10)}
    assert clusters == {3}


def test_cold_start_is_one_central_piece_per_cluster(rec):
    results = rec.recommend({}, k=6)
    assert sorted(cluster_of(rec, item) for item, _, _ in results) == list(range(6))
    assert all("signature piece" in reason for _, _, reason in results)


def test_similar_returns_neighbours_from_the_same_cluster(rec):
    hits = rec.similar("it-00010", k=8)
    assert len(hits) == 8 and "it-00010" not in [h for h, _ in hits]
    assert all(cluster_of(rec, h) == cluster_of(rec, "it-00010") for h, _ in hits)
    exact = np.argsort(-(rec.embeddings @ rec.embeddings[10]))[1:9]
    assert [h for h, _ in hits] == [rec.bundle.item_ids[i] for i in exact]


@pytest.mark.parametrize("ratings, match", [
    ({"nope": 5}, "unknown item"), ({"it-00000": 0}, "1 to 5"), ({"it-00000": 6}, "1 to 5"),
    ({"it-00000": "5"}, "1 to 5"), ({"it-00000": True}, "1 to 5"),
])
def test_bad_ratings_are_refused(rec, ratings, match):
    with pytest.raises(ValueError, match=match):
        rec.recommend(ratings)


def test_bad_arguments(rec):
    with pytest.raises(ValueError, match="unknown item"):
        rec.similar("nope")
    with pytest.raises(ValueError, match="positive integer"):
        rec.recommend({}, k=0)
    with pytest.raises(ValueError, match="needs the bundle's encoder, and this bundle has no encoder/ folder"):
        rec.search("gold ring")


def test_candidate_path_for_big_catalogs_agrees_with_exhaustive_scoring():
    bundle = make_synthetic_bundle(n_items=3000, dim=32, n_clusters=10, seed=1)
    ratings = {bundle.item_ids[i]: s for i, s in [(0, 5), (10, 5), (20, 4), (3, 1), (13, 2), (5, 5)]}
    exact = Recommender(bundle).recommend(ratings, k=10)
    candidate_rec = Recommender(bundle, config=RecommenderConfig(exhaustive_limit=100))
    assert not candidate_rec.exhaustive and candidate_rec.index.ivf is not None
    approx = candidate_rec.recommend(ratings, k=10)
    overlap = len({i for i, _, _ in exact} & {i for i, _, _ in approx})
    assert overlap >= 8


@pytest.mark.parametrize("exhaustive_limit", [10_000, 100])  # every item scored / candidates only
def test_a_dominant_style_does_not_crowd_out_another_liked_style(exhaustive_limit):
    # 3000 items in 3 styles: four 5★ in style 0 put hundreds of its pieces above anything in style 1, which
    # has three 5★; style 1 must still get its share of the list, in proportion to its affinity (caps 6 and 5
    # of 10; the scores decide within them), even when only candidates are scored (a truncated ranking once let
    # style 0 take all)
    bundle = make_synthetic_bundle(n_items=3000, dim=32, n_clusters=3, seed=2)
    rec = Recommender(bundle, config=RecommenderConfig(exhaustive_limit=exhaustive_limit))
    ids = bundle.item_ids
    ratings = {ids[0]: 5, ids[3]: 5, ids[6]: 5, ids[9]: 5, ids[1]: 5, ids[4]: 5, ids[7]: 5, ids[2]: 1}
    clusters = [cluster_of(rec, item) for item, _, _ in rec.recommend(ratings, k=10)]
    assert clusters.count(0) + clusters.count(1) == 10
    assert 4 <= clusters.count(1) <= 5 and clusters.count(0) <= 6  # each within its cap, neither crowded out


def test_closeness_uses_the_strongest_likes_and_dislikes_only():
    from jewelrec.serving.recommender import _anchors

    dev = np.array([2.0, -1.0, 0.5, 1.0, -2.0, 0.0, 1.5])
    assert _anchors(dev, 2).tolist() == [0, 6, 4, 1]  # two most liked, then two most disliked
    assert _anchors(dev, 10).tolist() == [0, 6, 3, 2, 4, 1]  # a neutral rating is never an anchor


def test_recommendable_keeps_picks_inside_while_every_piece_still_counts_as_a_rating(synthetic_bundle):
    """The offline evaluator's candidate set: only the allowed pieces are picked (cold start too), and a 1★ of a
    piece that may not be picked still pushes its style out."""
    allowed = np.arange(synthetic_bundle.n_items) % 2 == 0  # even rows only; styles 0, 2, 4 are all even
    allowed[[1, 7, 13]] = True  # three pieces of style 1
    rec = Recommender(synthetic_bundle, recommendable=allowed)
    liked_both = {"it-00000": 5, "it-00006": 5, "it-00019": 5, "it-00025": 5}  # styles 0 and 1 (19, 25 not allowed)
    picks = [item for item, _, _ in rec.recommend(liked_both, k=10)]
    assert all(allowed[synthetic_bundle.index_of(item)] for item in picks)
    assert {cluster_of(rec, item) for item in picks} == {0, 1}
    hated = {**liked_both, "it-00031": 1, "it-00037": 1, "it-00043": 1}  # style-1 pieces that cannot be picked
    assert {cluster_of(rec, item) for item, _, _ in rec.recommend(hated, k=10)} == {0}
    assert all(allowed[synthetic_bundle.index_of(item)] for item, _, _ in rec.cold_start(20))
    with pytest.raises(ValueError, match="bool mask"):
        Recommender(synthetic_bundle, recommendable=allowed[:10])


def shared_attribute_bundle(seed: int = 3, loud: float = 0.35, quiet: float = 0.2):
    """600 pieces in 6 styles (i % 6). Inside a style pieces vary a lot along 8 directions no one cares about
    (``loud``), and each carries one of two attributes (i // 6 % 2) along a quieter direction (``quiet``) — what
    a metal is beside category and shape in the sample's CLIP space: a piece's nearest neighbours share its
    loud variation more than its attribute."""
    from jewelrec.clustering import soft_assign
    from jewelrec.serving.bundle import Bundle

    rng = np.random.default_rng(seed)
    n, dim, styles = 600, 32, 6
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0].astype(np.float32)  # orthonormal directions
    centres, attribute, nuisance = basis[:styles], basis[styles], basis[styles + 1: styles + 9]  # (6|1|8, dim)
    labels, side = np.arange(n) % styles, np.where(np.arange(n) // styles % 2 == 0, 1.0, -1.0)
    emb = (centres[labels] + quiet * side[:, None] * attribute + loud * rng.normal(size=(n, 8)) @ nuisance
           + 0.02 * rng.normal(size=(n, dim)))  # (n, dim)
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    items = pd.DataFrame({"item_id": [f"it-{i:05d}" for i in range(n)], "name": [f"piece {i}" for i in range(n)]})
    return Bundle(items=items, embeddings=emb, labels=labels, probs=soft_assign(emb, centres, labels),
                  centroids=centres, coords2d=rng.normal(size=(n, 2)).astype(np.float32),
                  config={"dataset": {"source": "synthetic"}, "encoder": {"type": "none"}}), side


@pytest.mark.parametrize("exhaustive_limit", [10_000, 100])  # every item scored / candidates only
def test_a_taste_spread_over_styles_follows_what_the_liked_pieces_share(exhaustive_limit):
    """5★ pieces in five styles that share only the quiet attribute (+), 3★ ones of the other (−): the picks
    must follow the shared attribute across those styles, not each liked piece's nearest neighbours. The
    previous scoring (nearest liked piece, places for every liked style, plain cosine, Σ (stars − 3)·e) picked
    8 of 10 with the attribute from 2 styles."""
    bundle, side = shared_attribute_bundle()
    ids = bundle.item_ids
    plus = [i for i in range(60) if side[i] > 0]  # rows 0-5, 12-17, ...: attribute + in every style
    minus = [i for i in range(60) if side[i] < 0]
    ratings = {ids[i]: 5 for i in plus[:5]} | {ids[i]: 3 for i in minus[:3]}
    rec = Recommender(bundle, config=RecommenderConfig(exhaustive_limit=exhaustive_limit))
    picks = [bundle.index_of(item) for item, _, _ in rec.recommend(ratings, k=10)]
    assert sum(side[p] > 0 for p in picks) >= 9
    assert len({int(bundle.labels[p]) for p in picks}) >= 4  # spread over the styles the shopper likes


def test_taste_direction_is_the_star_weighted_sum_when_the_ridge_is_large():
    from jewelrec.serving.taste import taste_direction

    rng = np.random.default_rng(0)
    rated, target = rng.normal(size=(7, 16)).astype(np.float32), np.array([2, 1, 0, -1, 2, 0, 1], np.float32)
    far = taste_direction(rated, target, 1e6)
    assert np.allclose(far / np.linalg.norm(far), target @ rated / np.linalg.norm(target @ rated), atol=1e-4)
    fitted = taste_direction(rated, target, 1e-4)  # r < d: interpolates the ratings
    assert np.allclose(rated @ fitted, target, atol=1e-2)
    many = rng.normal(size=(40, 16)).astype(np.float32)  # r > d: the primal form, the same ridge solution
    y = rng.normal(size=40).astype(np.float32)
    dual = np.linalg.solve(many @ many.T + 3.0 * np.eye(40), y) @ many
    assert np.allclose(taste_direction(many, y, 3.0), dual, atol=1e-3)


def test_whitening_keeps_a_twin_at_about_one_and_quiets_the_loud_directions():
    from jewelrec.serving.taste import whitening

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(2000, 8)) * np.array([5, 1, 1, 1, 1, 1, 1, 1])  # axis 0 carries most variance
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    metric = whitening(emb, 1.0)
    assert np.isclose(np.einsum("nd,de,ne->n", emb, metric, emb).mean(), 1.0, atol=1e-3)
    assert metric[0, 0] < 0.5 * metric[1:, 1:].diagonal().min()
    with pytest.raises(ValueError, match="whiten must be > 0"):
        whitening(emb, 0.0)


def test_mmr_trades_score_for_diversity_at_the_stated_lambda():
    from jewelrec.serving.selection import mmr_top

    # items 0-2 are near-copies scoring highest, item 3 is different and a little lower
    emb = np.array([[1, 0], [1, 0.01], [1, 0.02], [0, 1]], np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = np.array([1.0, 0.99, 0.98, 0.9])
    assert mmr_top(scores, emb, 2, 1.0, 10) == [0, 1]  # λ = 1: the plain top k
    assert mmr_top(scores, emb, 2, 0.8, 10) == [0, 3]  # a copy costs (1 − λ)·1 > the 0.09 it scores above 3
    assert mmr_top(scores, emb, 2, 0.95, 10) == [0, 1]  # ... until λ makes the 0.05 penalty the smaller
    with pytest.raises(ValueError, match="mmr_lambda"):
        mmr_top(scores, emb, 2, 1.5, 10)


def test_balance_band_shares_only_the_near_top_between_the_liked_pieces():
    from jewelrec.serving.selection import banded_top

    # candidates 0-9 sit by liked piece A and score 0.90 ... 0.81, candidates 10-19 by liked piece B, 0.80 ... 0.71
    scores = np.r_[np.linspace(0.90, 0.81, 10), np.linspace(0.80, 0.71, 10)]
    sims = np.zeros((20, 2), np.float32)
    sims[:10, 0] = sims[10:, 1] = 1.0
    equal = np.array([1.0, 1.0])
    assert banded_top(scores, sims, equal, 10, 0.0) == list(range(10))  # no band: the plain top k (all A)
    picks = banded_top(scores, sims, equal, 10, 0.05)  # B's 0.80-0.76 are within 0.05 of the 10th best (0.81)
    assert sorted(picks) == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]
    assert picks == sorted(picks, key=lambda j: -scores[j])  # still read best first
    assert sorted(banded_top(scores, sims, equal, 10, 0.02)) == [*range(8), 10, 11]  # only 0.80, 0.79 are in
    assert sorted(banded_top(scores, sims, np.array([4.0, 1.0]), 10, 1.0)) == [*range(8), 10, 11]  # 8 : 2 places
    assert len(banded_top(scores[:3], sims[:3], equal, 10, 0.05)) == 3  # fewer candidates than k


def test_balance_band_splits_a_list_between_two_pieces_loved_alike():
    bundle = make_synthetic_bundle(n_items=300, dim=32, n_clusters=3, seed=3)
    ids = bundle.item_ids
    ratings = {ids[0]: 5, ids[1]: 5}  # one piece of style 0 and one of style 1, loved alike (2 : 8 without the band)
    off = Recommender(bundle)
    assert off.config.balance_band == 0.0  # off by default: the sweep's objective prefers the plain scores
    on = Recommender(bundle, config=RecommenderConfig(balance_band=1.0))
    clusters = [cluster_of(on, item) for item, _, _ in on.recommend(ratings, k=10)]
    assert clusters.count(0) == 5 and clusters.count(1) == 5
    lukewarm = {ids[0]: 5, ids[1]: 4, ids[2]: 1}  # a 4★ is not within style_floor of the best: no places for it
    assert [i for i, _, _ in on.recommend(lukewarm, k=10)] == [i for i, _, _ in off.recommend(lukewarm, k=10)]


def test_ratings_with_no_like_or_dislike_give_the_cold_start_picks_without_the_rated_pieces(rec):
    """Every rating 3★ (int, float, or float noise around 3): no signal to steer by, so the cold-start list with
    the rated pieces left out and a reason that says why — it used to crash in a max over no liked pieces."""
    from jewelrec.serving.blend import CrowdRecommender
    from jewelrec.serving.collaborative import CollaborativeModel

    ids = rec.bundle.item_ids
    cold = rec.cold_start(k=12)
    for ratings in ({ids[0]: 3}, {ids[0]: 3, ids[1]: 3}, {ids[0]: 3.0}, {ids[0]: 3, ids[1]: 3.0004}):
        picks = rec.recommend(ratings, k=10)
        assert len(picks) == 10 and not set(ratings) & {item for item, _, _ in picks}
        assert [item for item, _, _ in picks] == [item for item, _, _ in cold if item not in ratings][:10]
        assert all(why.endswith("your ratings so far are all neutral (3★)") for _, _, why in picks)
    crowd = CollaborativeModel(ids).fit([ids[0], ids[1]] * 6, [f"u{u}" for u in range(6) for _ in (0, 1)], [5] * 12)
    assert CrowdRecommender(rec, lambda: crowd).recommend({ids[0]: 3}, 5) == rec.recommend({ids[0]: 3}, 5)
    # the other degenerate sets do not crash either: a deviation of a thousandth of a star, dislikes only,
    # every piece rated, only rated pieces recommendable, the balance band on
    assert len(rec.recommend({ids[0]: 3, ids[1]: 3.002}, k=5)) == 5
    assert len(rec.recommend({i: 3.002 for i in ids[:200]}, k=5)) == 5
    assert len(rec.recommend({ids[0]: 1, ids[1]: 2}, k=5)) == 5
    assert rec.recommend({i: 5 for i in ids}, k=5) == [] and rec.recommend({i: 3 for i in ids}, k=5) == []
    only_rated = Recommender(rec.bundle, recommendable=np.isin(ids, ids[:2]))
    assert only_rated.recommend({ids[0]: 5, ids[1]: 1}, k=5) == []
    assert [item for item, _, _ in only_rated.recommend({ids[0]: 3}, k=5)] == [ids[1]]
    banded = Recommender(rec.bundle, config=RecommenderConfig(balance_band=0.05))
    assert len(banded.recommend({ids[0]: 1, ids[1]: 1}, k=5)) == 5


def test_arguments_of_the_wrong_type_get_a_type_error_naming_what_to_pass(rec, tiny_clip_dir):
    from jewelrec.encoders import ClipEncoder

    for ratings in (None, [("it-00000", 5)], "it-00000", 5):
        with pytest.raises(TypeError, match=r"ratings must be a mapping \{item_id: stars\}, e\.g\. \{'it-00000': 5\}"):
            rec.recommend(ratings)
    searcher = Recommender(make_synthetic_bundle(n_items=60, dim=16), encoder=ClipEncoder(str(tiny_clip_dir)))
    for text in (123, ["gold"], None):
        with pytest.raises(TypeError, match="search text must be a str, e.g. 'rose gold ring', got"):
            searcher.search(text)
    with pytest.raises(ValueError, match="not valid Unicode"):  # a lone surrogate: the tokenizer's bare TypeError
        searcher.search("ring\ud800")
    with pytest.raises(TypeError, match=r"got bytes; decode it first"):
        searcher.search(b"gold")
    assert len(searcher.search("gold ring", k=3)) == 3
    with pytest.raises(ValueError, match=r"vector must be a \(32,\) embedding .* got shape \(5,\)"):
        rec.nearest(np.zeros(5))
    with pytest.raises(TypeError, match=r"vector must be a \(32,\) array of numbers"):
        rec.nearest("gold")
    with pytest.raises(ValueError, match="NaN or infinite"):
        rec.nearest(np.full(32, np.nan))


def catalog_clip_encoder(captions=("gold ring with a ruby", "silver necklace", "rose gold sapphire earrings")):
    """An untrained catalog CLIP (dim 16) whose WordLevel tokenizer knows only the words of ``captions``."""
    import torch

    from jewelrec.encoders.catalog_clip import CatalogClipEncoder, make_processor
    from jewelrec.encoders.catalog_clip_training import (
        CatalogClipConfig,
        _text_model,
        _vision_model,
        train_tokenizer,
    )

    torch.manual_seed(0)
    config = CatalogClipConfig(image_size=32, widths=(8, 16, 16, 16), text_width=16, text_layers=1, text_heads=2)
    tokenizer = train_tokenizer([[c] for c in captions], config.max_length)
    return CatalogClipEncoder(_vision_model(config), _text_model(tokenizer, config), tokenizer,
                              make_processor(32), device="cpu")


def test_a_search_with_no_word_the_catalog_knows_names_words_it_does(tiny_clip_dir):
    """Review #2: the catalog CLIP's vocabulary turned "saphire", "xyzzy", "123", emoji or 1 MB of "x" into
    [BOS] [UNK] [EOS] — one confident list for all. Now a ValueError listing known words (and the nearest spelling);
    a text with one known word searches; a pretrained CLIP's BPE (which spells anything) is never refused."""
    from jewelrec.encoders import ClipEncoder

    searcher = Recommender(make_synthetic_bundle(n_items=60, dim=16), encoder=catalog_clip_encoder())
    for text in ("saphire", "xyzzy", "123", "💍💎✨", "x" * 1_000_000, "xyzzy, ... !"):
        with pytest.raises(ValueError, match=r"none of those words are known to this catalog's search.*try e\.g\. "
                                             r"'gold', "):
            searcher.search(text)
    with pytest.raises(ValueError, match=r"did you mean 'sapphire'\?"):
        searcher.search("Saphire")
    assert len(searcher.search("saphire RING", k=3)) == 3 and len(searcher.search("silver", k=3)) == 3
    pretrained = Recommender(make_synthetic_bundle(n_items=60, dim=16), encoder=ClipEncoder(str(tiny_clip_dir)))
    assert all(len(pretrained.search(text, k=3)) == 3 for text in ("xyzzy", "123", "💍💎✨"))


def test_query_notes_say_which_words_a_search_left_out(tiny_clip_dir):
    """"saphire ring" searches "ring" alone: the shopper is told which words were dropped and the nearest spelling;
    a text past the text tower's length says where it was cut; a fully known text has no note."""
    from jewelrec.encoders import ClipEncoder

    searcher = Recommender(make_synthetic_bundle(n_items=60, dim=16), encoder=catalog_clip_encoder())
    assert searcher.query_notes("gold ring") == [] and searcher.query_notes("  Silver  necklace ") == []
    assert searcher.query_notes("saphire RING") == [
        "searched without 'saphire' (did you mean 'sapphire'?): no piece's description uses it"]
    # ... and it is so: the unknown word does not move the list (its [UNK] token was embedded before)
    assert searcher.search("saphire ring", k=10) == searcher.search("ring", k=10) == searcher.search("xyzzy ring", k=10)
    encoder = searcher.encoder
    np.testing.assert_allclose(encoder.encode_text(["saphire ring", "gold ring"]),
                               encoder.encode_text(["ring", "gold ring"]), atol=1e-6)
    [note] = searcher.query_notes("ring xyzzy qwerty xyzzy")  # each unknown word once, in order
    assert note == "searched without 'xyzzy', 'qwerty': no piece's description uses them"
    [note] = searcher.query_notes("ring " + " ".join(f"w{i}x" for i in range(7)))
    assert note.startswith("searched without 'w0x', 'w1x', 'w2x', 'w3x', 'w4x' and 2 more: ")
    long = " ".join(["gold ring"] * 20)  # 40 known words; the tower reads 30 ([BOS] and [EOS] take 2 of 32)
    [note] = searcher.query_notes(long)
    assert note.startswith("only the start of that text was searched (the text tower reads 30 tokens): \"gold ring")
    assert searcher.search(long, k=3) == searcher.search(" ".join(["gold ring"] * 15), k=3)  # the same 30 words
    with pytest.raises(ValueError, match="none of those words"):
        searcher.query_notes("saphire")  # the same refusal as search
    with pytest.raises(ValueError, match=r"none of those words \(only its first 30 words are read\) are known"):
        searcher.query_notes("xyzzy " * 40 + "ring")  # its one known word lies past the cut
    [note] = searcher.query_notes("ring " + "x" * 40)  # a 40-letter word is named, cut short
    assert note == "searched without '" + "x" * 20 + "…': no piece's description uses it"
    pretrained = Recommender(make_synthetic_bundle(n_items=60, dim=16), encoder=ClipEncoder(str(tiny_clip_dir)))
    assert pretrained.query_notes("xyzzy ring") == []
    # this checkpoint's tokenizer sets no length: its 77 position embeddings bound the text (a longer one crashed)
    assert pretrained.encoder.max_text_tokens == 77
    [note] = pretrained.query_notes("ring " * 100)
    assert "reads 75 tokens" in note and len(pretrained.search("ring " * 100, k=3)) == 3


def test_search_loads_the_bundles_own_encoder_when_none_is_passed(tmp_path):
    """The README's `Recommender(Bundle.load(dir)).search(...)` said 'needs a CLIP bundle … encoder (none)' of a
    bundle that holds its catalog CLIP in encoder/."""
    from jewelrec import Bundle

    bundle = make_synthetic_bundle(n_items=60, dim=16)
    catalog_clip_encoder().save_pretrained(tmp_path / "b" / "encoder")
    bundle.save(tmp_path / "b")
    searcher = Recommender(Bundle.load(tmp_path / "b"))
    assert len(searcher.search("gold ring", k=3)) == 3 and searcher.encoder.kind == "catalog-clip"


def test_a_long_list_or_a_sparse_recommendable_mask_is_not_cut_short_on_a_big_catalog():
    # above exhaustive_limit only the probes' candidates are scored: k=300 returned 244 of 5000, and a mask of 100
    # recommendable pieces returned 1-4 of k=12, with no sign of the shortfall
    bundle = make_synthetic_bundle(n_items=5000, n_clusters=6)
    ratings = {bundle.item_ids[0]: 5, bundle.item_ids[1]: 1}
    rec = Recommender(bundle)
    assert not rec.exhaustive
    assert len(rec.recommend(ratings, k=300)) == 300
    assert len(rec.recommend(ratings, k=6000)) == 4998  # all the unrated ones
    mask = np.zeros(5000, bool)
    mask[np.random.default_rng(0).choice(5000, 100, replace=False)] = True
    picks = Recommender(bundle, recommendable=mask).recommend(ratings, k=12)
    assert len(picks) == 12 and all(mask[bundle.index_of(item)] for item, _, _ in picks)
    small = rec.recommend(ratings, k=10)  # the ordinary request still scores candidates only, as before
    assert len(small) == 10


def test_two_keys_for_one_piece_are_refused():
    bundle = make_synthetic_bundle(n_items=30)
    bundle.items["item_id"] = [str(i) for i in range(30)]
    bundle = type(bundle)(items=bundle.items, embeddings=bundle.embeddings, labels=bundle.labels,
                          probs=bundle.probs, centroids=bundle.centroids, coords2d=bundle.coords2d,
                          config=bundle.config)
    with pytest.raises(ValueError, match=r"ratings name the piece '5' twice \(keys 5 and '5'\)"):
        Recommender(bundle).recommend({5: 5, "5": 1}, k=3)  # scored 0.0 for every piece, "you rated 5★"


def test_concurrent_first_searches_load_the_bundle_encoder_once(monkeypatch):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    loads = []

    class Encoder:
        has_text = True

        def encode_text(self, texts):
            return np.ones((len(texts), 32), np.float32)

    def slow_load(self):  # as importing transformers is: a second thread in the middle of it used to fail
        loads.append(threading.get_ident())
        time.sleep(0.2)
        return Encoder()

    monkeypatch.setattr(Recommender, "_bundle_encoder", slow_load)
    rec = Recommender(make_synthetic_bundle(n_items=50))
    with ThreadPoolExecutor(8) as pool:
        hits = list(pool.map(lambda _: rec.search("gold ring", k=3), range(16)))
    assert len(loads) == 1 and all(len(h) == 3 for h in hits)


def test_a_list_longer_than_mmr_head_is_mmr_at_the_head_then_by_score():
    # greedy MMR over every pick cost k · 2k · d: 92 s for k = 10,000 on 100k items (the Space caps k at 100,
    # the library did not)
    from jewelrec.serving.selection import MMR_HEAD, mmr_top

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5000, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = rng.random(5000).astype(np.float32)
    k = 3 * MMR_HEAD
    long, head = mmr_top(scores, emb, k, 0.5, 100), mmr_top(scores, emb, MMR_HEAD, 0.5, 100)
    assert len(long) == len(set(long)) == k and set(head) <= set(long)
    rest = [i for i in np.argsort(-scores, kind="stable").tolist() if i not in set(head)][: k - MMR_HEAD]
    assert set(long) == set(head) | set(rest)  # past the head, the best scores of what MMR left
    assert all(scores[a] >= scores[b] for a, b in zip(long, long[1:]))  # read best first
