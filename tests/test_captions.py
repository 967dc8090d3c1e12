"""Captions built from catalog metadata: the text the catalog CLIP learns from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jewelrec.catalog.captions import build_captions


def _items() -> pd.DataFrame:
    return pd.DataFrame({"item_id": ["a", "b", "c"], "name": ["Rose-gold ruby halo ring", None, ""],
                         "category": ["ring", "necklace", None], "metal": ["rose gold", "silver", np.nan],
                         "gemstone": ["ruby", "none", None], "price": [1.0, 2.0, 3.0]})


def test_variants_are_what_shoppers_type():
    captions = build_captions(_items())
    assert captions.columns == ["name", "metal", "gemstone", "category"]  # free text, adjectives, then the noun
    first = captions.variants[0]
    assert first[0] == "rose gold ruby halo ring. metal rose gold, gemstone ruby, category ring"
    assert {"rose gold ruby halo ring", "rose gold ring", "ruby ring", "ring"} <= set(first)
    assert "plain necklace" in captions.variants[1]  # gemstone "none" reads as a plain piece in a query


def test_empty_and_nan_captions_are_counted_not_crashed():
    captions = build_captions(_items())
    assert captions.variants[2] == [] and captions.has_text == [True, True, False]
    assert captions.skipped == {"empty caption": 1}


def test_columns_and_templates_name_what_is_missing():
    with pytest.raises(ValueError, match=r"caption column\(s\) \['colour'\] not in the catalog; its columns are"):
        build_captions(_items(), columns=["colour"])
    with pytest.raises(ValueError, match="names column 'stone'"):
        build_captions(_items(), template="{stone} {category}")
    assert build_captions(_items(), template="{metal} {category}").variants[0][0] == "rose gold ring"


@pytest.mark.parametrize("template, message", [
    ("{} ring", r"has \{\}, which names no column; write column names in braces"),
    ("{0} ring", r"has \{0\}, which names no column"),
    ("{metal.upper}", r"has \{metal.upper\}, which names no column"),
    ("{metal[0]}", r"has \{metal\[0\]\}, which names no column"),
    ("{metal ring", r"is not a format string \(expected '\}' before end of string\).*double a brace"),
    ("metal}", r"is not a format string \(Single '\}'"),
    ("{metal:d}", r"cannot be filled with a row's text \(Unknown format code 'd'.*without a format spec"),
])
def test_a_template_str_format_cannot_fill_is_refused_with_the_fix(template, message):
    """These were IndexError / AttributeError tracebacks, or Python's bare words, from the middle of a fit."""
    with pytest.raises(ValueError, match=message):
        build_captions(_items(), template=template)


def test_a_template_may_keep_braces_and_use_conversions():
    assert build_captions(_items(), template="{{new}} {metal:>4} {category!s}").variants[0][0] == "{new} rose gold ring"


def test_a_catalog_without_text_says_so():
    with pytest.raises(ValueError, match="no text to caption the pictures with"):
        build_captions(pd.DataFrame({"item_id": ["a", "b"], "price": [1.0, 2.0]}))
