"""What each :class:`~jewelrec.serving.recommender.RecommenderConfig` field may be. The config checks itself
against these when it is made (``RecommenderConfig(shrink=0)`` is a ValueError naming the field and what it takes),
so the Python API, the offline evaluator's ``jewelrec`` model and the benchmarks' ``--set`` share one rule table.
Kept apart from the recommender so the evaluator can read the rules without loading FAISS."""

from __future__ import annotations

from jewelrec.config_keys import Rules, is_number, is_whole

# RecommenderConfig field → (accepts the value, what a good value is), read off how Recommender.recommend uses it:
# a bad value would otherwise fail (or be used) in the middle of a request. tests/test_model_settings.py checks
# that every field has a rule.
RECOMMENDER_RULES: Rules = {
    # the weights of the score's terms; dislike_weight is subtracted, so every one pulls the way its name says at ≥ 0
    "cluster_weight": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (0 = no style-affinity term)"),
    "like_weight": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (0 = no closeness-to-liked term)"),
    "dislike_weight": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (0 = no push away from dislikes)"),
    "query_weight": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (0 = no taste-direction term)"),
    # the ridge keeps the taste-direction solve well-posed for any ratings; ∞ turns it into NaN and empty lists
    "query_ridge": (lambda v: is_number(v) and v > 0, "a finite number > 0"),
    "whiten": (lambda v: v is None or (is_number(v) and v > 0), "a number > 0, or null (plain cosine)"),
    "whiten_closeness": (lambda v: isinstance(v, bool), "true or false"),
    "mmr_lambda": (lambda v: v is None or (is_number(v) and 0 <= v <= 1),
                   "a number from 0 to 1 (1 = plain top k), or null (affinity slots alone)"),
    "style_evidence": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0 (ratings above the user's centre)"),
    "balance_band": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (0 = off)"),
    "mmr_pool": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1 (MMR always takes at least 2k candidates)"),
    "style_floor": (lambda v: is_number(v) and 0 <= v <= 1, "a number from 0 to 1 (a share of the best affinity)"),
    # 0 pseudo-ratings divide 0 by 0 for every style the user rated nothing in: NaN affinities
    "shrink": (lambda v: is_number(v) and v > 0, "a number > 0 (pseudo-ratings)"),
    # 0 leaves the like/dislike terms without a piece: set like_weight / dislike_weight to 0 to drop them
    "max_seeds": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1"),
    "neighbours": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1 (ANN neighbours per seed)"),
    "probe_seeds": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0 (0 = the taste direction's alone)"),
    "central": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0 (central items per liked style)"),
    "exhaustive_limit": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0 (0 = always score candidates only)"),
    "exact_limit": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0 (0 = similar always through the IVF)"),
    "soft_affinity": (lambda v: isinstance(v, bool), "true or false"),
}
