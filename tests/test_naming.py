"""Style and item names shown to shoppers: a name claims only what most of a style's members share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jewelrec.serving.naming import CLAIM_SHARE, item_names, style_names


def _items(metals: list[str], category: str = "ring", gemstones: list[str] | None = None) -> pd.DataFrame:
    n = len(metals)
    return pd.DataFrame({"item_id": [f"i{j}" for j in range(n)], "name": [f"piece {j}" for j in range(n)],
                         "category": [category] * n, "metal": metals,
                         "gemstone": gemstones or ["diamond"] * n})


def test_a_name_claims_only_what_most_members_share():
    # 40 % gold is a plurality, not a majority: the old rule (the mode) called this the "gold diamond ring" style
    mixed = _items(["gold"] * 4 + ["silver"] * 3 + ["rose gold"] * 3, gemstones=["diamond"] * 3 + ["ruby"] * 7)
    assert style_names(mixed, np.zeros(10, int), 1) == ["ruby ring"]  # ruby 70 %, ring 100 %; no metal claimed
    mostly_gold = _items(["gold"] * 7 + ["silver"] * 3)
    assert style_names(mostly_gold, np.zeros(10, int), 1) == ["gold diamond ring"]
    assert CLAIM_SHARE > 0.5


def test_a_style_with_nothing_in_common_gets_a_neutral_name_and_names_stay_distinct():
    items = pd.concat([_items(["gold", "silver", "platinum"], gemstones=["ruby", "pearl", "none"]).assign(
                           category=["ring", "brooch", "pendant"]),
                       _items(["gold"] * 3), _items(["gold"] * 3)], ignore_index=True)
    labels = np.repeat([0, 1, 2], 3)
    names = style_names(items, labels, 3)
    assert names[0] == "style 1"
    assert names[1] == "gold diamond ring" and names[2] != names[1] and names[2].startswith("gold diamond ring")


def test_reasons_never_contradict_the_piece(synthetic_bundle):
    """A cold-start or style reason names a style only in words the piece itself matches."""
    from jewelrec import Recommender

    bundle = synthetic_bundle
    items = bundle.items.copy()
    rng = np.random.default_rng(0)
    # each style keeps its category but its metal is now 70 % one metal, 30 % others: names claim the metal,
    # and some central pieces are of another metal
    for cluster in range(bundle.n_clusters):
        rows = np.flatnonzero(bundle.labels == cluster)
        odd = rng.choice(rows, size=int(0.3 * len(rows)), replace=False)
        items.loc[odd, "metal"] = np.where(items.loc[odd, "metal"] == "silver", "gold", "silver")
    bundle.items = items
    rec = Recommender(bundle)
    metal_of = dict(zip(items["item_id"], items["metal"]))
    picks = rec.cold_start(k=12) + rec.recommend({bundle.item_ids[0]: 5, bundle.item_ids[1]: 4}, k=12)
    for item_id, _, reason in picks:
        for metal in ("rose gold", "gold", "silver", "platinum"):
            if f"piece of the {metal}" in reason or f"from the {metal}" in reason:
                assert metal_of[item_id] == metal, (item_id, reason)
                break


def test_item_names_fall_back_to_category_and_id():
    assert item_names(pd.DataFrame({"item_id": ["a", "b"], "name": ["Gold ring", None]})) == ["Gold ring", "b"]
    assert item_names(pd.DataFrame({"item_id": ["a"], "label": ["cats"]})) == ["cats a"]
    assert item_names(pd.DataFrame({"item_id": ["img-1"]})) == ["img-1"]
    odd = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["ring"] * 3,
                        "name": [{"en": "Gold ring"}, 0.0, "  Rose band "]})  # not text: no name
    assert item_names(odd) == ["ring a", "ring b", "Rose band"]


def test_an_attribute_with_gaps_is_named_only_where_most_members_have_it():
    """An optional attribute (a stone on 2 of 6 pieces, a column still empty everywhere) holds NA under pandas 3's
    string dtype, which value_counts() drops: a style with no member having it crashed the fit's report, an update
    and ``Recommender(bundle)`` with IndexError."""
    from jewelrec.serving.naming import fits_style_names, style_claims

    items = pd.DataFrame({"item_id": [str(i) for i in range(9)], "category": ["ring"] * 3 + ["pendant"] * 6,
                          "gemstone": ["ruby", None, None, None, None, None, "pearl", "pearl", "pearl"],
                          "engraving": pd.Series([None] * 9, dtype=object)})
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    claims = style_claims(items, labels, 3)
    assert claims == [{"category": "ring"}, {"category": "pendant"}, {"gemstone": "pearl", "category": "pendant"}]
    assert style_names(items, labels, 3) == ["ring", "pendant", "pearl pendant"]
    assert fits_style_names(items, labels, claims).all()
    items.loc[5, "gemstone"] = None  # gaps count as members without the value: 2 pearls of 3 still hold
    items.loc[8, "gemstone"] = None
    assert style_names(items, labels, 3)[2] == "pearl pendant"
    assert fits_style_names(items, labels, style_claims(items, labels, 3)).tolist()[6:] == [True, True, False]
