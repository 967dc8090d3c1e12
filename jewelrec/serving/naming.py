"""How pieces and styles are named for shoppers: one rule each, shared by the recommender, the Space and the fit.

A style's name claims an attribute value (a metal, a stone, a category ...) only when at least
``CLAIM_SHARE`` of its members have it, so a name never says "gold" of a style that is mostly silver. Attributes
that do not hold are left out; a style with none that holds gets a neutral "style N". Names stay distinct.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

CLAIM_SHARE = 0.6  # "most members": a clear majority, not a plurality of a three-way split
# the order words read in a name ("rose gold ruby ring"): adjectives first, the kind of piece last
ADJECTIVE_COLUMNS = ("metal", "material", "colour", "color", "gemstone", "stone", "pattern", "style")
NOUN_COLUMNS = ("category", "label", "type", "product_type", "article_type")
NOT_ATTRIBUTES = ("item_id", "name", "title", "description", "caption", "thumbnail", "image", "price")
MAX_VALUES = 50  # a column with more distinct values than this is free text or an id, not an attribute
EMPTY = {"", "none", "nan", "null", "n/a"}
NEUTRAL = re.compile(r"style \d+( #\d+)?")  # the name of a style whose members share no attribute


def item_names(items: pd.DataFrame) -> list[str]:
    """A display name per item: its ``name`` (or ``title``) when that is text; else its category and id; else the
    id. A name that is not text — a number, a ``{"en": …}`` struct — is no name ("like the {'en': 'ring'} you
    rated" was a reason)."""
    for column in ("name", "title"):
        if column in items.columns:
            names = [value.strip() if isinstance(value, str) else "" for value in items[column].tolist()]
            fallback = _fallback_names(items)
            return [n if n else f for n, f in zip(names, fallback)]
    return _fallback_names(items)


def _fallback_names(items: pd.DataFrame) -> list[str]:
    ids = items["item_id"].astype(str).tolist()
    for column in NOUN_COLUMNS:
        if column in items.columns:
            return [f"{kind} {i}" if str(kind).strip().lower() not in EMPTY else str(i)
                    for kind, i in zip(items[column].astype(str).tolist(), ids)]
    return ids


def attribute_columns(items: pd.DataFrame) -> list[str]:
    """Metadata columns a style can be described by (low-cardinality text), in name order: adjectives, then
    any other such column, then the noun (category / label)."""
    candidates = [c for c in items.columns if c not in NOT_ATTRIBUTES
                  and (pd.api.types.is_string_dtype(items[c]) or isinstance(items[c].dtype, pd.CategoricalDtype))
                  and 1 <= items[c].nunique() <= MAX_VALUES]
    adjectives = [c for c in ADJECTIVE_COLUMNS if c in candidates]
    nouns = [c for c in NOUN_COLUMNS if c in candidates][:1]
    others = [c for c in candidates if c not in adjectives and c not in NOUN_COLUMNS]
    return adjectives + others + nouns


def attribute_text(column: pd.Series) -> pd.Series:
    """An attribute column as stripped text, a gap (None, NaN, NA) as "" — never dropped: a share of the members
    counts them, and a style none of whose members has the attribute has no value to claim."""
    return column.astype("string").fillna("").str.strip().astype(object)


def claimed_attributes(members: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """{column: value} for every attribute at least ``CLAIM_SHARE`` of ``members`` share (empty values never)."""
    claims = {}
    for column in columns:
        values = attribute_text(members[column])
        if len(values) == 0:
            continue
        counts = values.value_counts()
        top, count = counts.index[0], int(counts.iloc[0])
        if count / len(values) >= CLAIM_SHARE and top.lower() not in EMPTY:
            claims[column] = top
    return claims


def style_claims(items: pd.DataFrame, labels: np.ndarray, n_clusters: int) -> list[dict[str, str]]:
    """What each style's name may claim: one {column: value} dict per cluster."""
    columns = attribute_columns(items)
    return [claimed_attributes(items[labels == c], columns) for c in range(n_clusters)]


def style_names(items: pd.DataFrame, labels: np.ndarray, n_clusters: int) -> list[str]:
    """A truthful, distinct name per style (see the module docstring)."""
    return names_from_claims(style_claims(items, labels, n_clusters))


def names_from_claims(all_claims: list[dict[str, str]]) -> list[str]:
    """The style names :func:`style_names` gives, from claims already computed."""
    names: list[str] = []
    for cluster, claims in enumerate(all_claims):
        name = " ".join(claims.values()) or f"style {cluster + 1}"
        if name in names:
            name = f"{name} #{sum(n == name or n.startswith(name + ' #') for n in names) + 1}"
        names.append(name)
    return names


def style_phrase(name: str) -> str:
    """How a reason refers to a style: "the gold ring style", but a neutral name as itself ("style 3")."""
    return name if NEUTRAL.fullmatch(name) else f"the {name} style"


def fits_style_names(items: pd.DataFrame, labels: np.ndarray, claims: list[dict[str, str]]) -> np.ndarray:
    """(n,) bool: whether each item has every attribute value its style's name claims (vectorised per style and
    column, so a million-item bundle pays milliseconds at start-up, not a Python loop over rows)."""
    fits = np.ones(len(items), dtype=bool)
    columns = {c: attribute_text(items[c]).to_numpy() for c in {c for claim in claims for c in claim}}
    for cluster, claim in enumerate(claims):
        members = labels == cluster
        for column, value in claim.items():
            fits[members] &= columns[column][members] == value
    return fits
