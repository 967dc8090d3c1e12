"""Captions for contrastive training: text a shopper might type, built from a catalog's own metadata.

Each item gets a list of caption variants — its full description (name/title/description plus the attribute
sentence), its name, and the short attribute phrases people search with ("rose gold ring", "ruby ring") — so a
query of any of those shapes lands near the right pictures. Attribute columns are the low-cardinality text
columns (``jewelrec.serving.naming.attribute_columns``: metal, gemstone, category, an image folder's label …)
or the ``columns`` asked for; a ``template`` (``str.format`` over the row) replaces the description. Items
whose caption comes out empty are marked, not dropped, so the caller counts them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from jewelrec.serving.naming import EMPTY, NOUN_COLUMNS, attribute_columns

TEXT_COLUMNS = ("name", "title", "description", "caption")  # free text a caption starts from
NO_VALUE_WORDS = {"gemstone": "plain", "stone": "plain"}  # "none" as a gemstone reads "plain ring" in a query


@dataclass
class Captions:
    """``variants[i]``: caption strings for item i ([] when it has none); ``columns``: what they were built
    from; ``skipped``: items without any caption, by reason (they are not trained on)."""

    variants: list[list[str]]
    columns: list[str]
    template: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def has_text(self) -> list[bool]:
        return [bool(v) for v in self.variants]


def _clean(value) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    text = " ".join(text.replace("-", " ").split()).lower()
    return "" if text in EMPTY else text


def text_columns(items: pd.DataFrame) -> list[str]:
    """Free-text and attribute columns a caption can be made of, in reading order."""
    free = [c for c in TEXT_COLUMNS if c in items.columns and pd.api.types.is_string_dtype(items[c])]
    return free + [c for c in attribute_columns(items) if c not in free]


def check_template(template: str, columns: list[str], available: list[str]) -> None:
    """Refuse a caption template that ``str.format`` over a row could not fill, naming the fix: it takes
    ``{column}`` names only (no ``{}``, ``{0}``, ``{col.attr}`` or ``{col[0]}``), with balanced braces."""
    how = f"write column names in braces, e.g. '{{metal}} {{category}}' (its columns are {available})"
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:  # "Single '}' encountered", "expected '}' before end of string"
        raise ValueError(f"caption template {template!r} is not a format string ({err}); {how}, and double a "
                         "brace that is meant literally ({{ or }})") from None
    for name in fields:
        column = re.split(r"[.\[]", name, maxsplit=1)[0]
        if not column or column.isdigit() or column != name:
            raise ValueError(f"caption template {template!r} has {{{name}}}, which names no column; {how}")
        if column not in columns:
            raise ValueError(f"caption template {template!r} names column {column!r}, which the catalog lacks; "
                             f"its columns are {available}")
    try:
        template.format(**{c: "" for c in columns})  # what is left: a format spec text cannot take ({metal:d})
    except (ValueError, TypeError) as err:
        raise ValueError(f"caption template {template!r} cannot be filled with a row's text ({err}); {how}, "
                         "without a format spec such as ':d'") from None


def build_captions(items: pd.DataFrame, *, columns: Sequence[str] | None = None,
                   template: str | None = None) -> Captions:
    """Caption variants per item (see the module docstring). Raises ValueError naming the columns when
    ``columns`` or the ``template`` refer to one the catalog lacks, or when no column holds text."""
    available = [c for c in items.columns if c not in ("image", "thumbnail")]
    if columns is not None:
        missing = [c for c in columns if c not in items.columns]
        if missing:
            raise ValueError(f"caption column(s) {missing} not in the catalog; its columns are {available}")
        used = list(columns)
    else:
        used = text_columns(items)
    if template is not None:
        check_template(template, list(items.columns), available)
    if not used and template is None:
        raise ValueError(f"no text to caption the pictures with: the catalog has no name/title/description or "
                         f"attribute column (columns: {available}); pass --caption-columns or use another encoder")
    free = [c for c in used if c in TEXT_COLUMNS]
    attributes = [c for c in used if c not in TEXT_COLUMNS]
    nouns = [c for c in attributes if c in NOUN_COLUMNS][:1]
    adjectives = [c for c in attributes if c not in nouns]
    variants: list[list[str]] = []
    skipped: dict[str, int] = {}
    for row in items.to_dict("records"):
        values = {c: _clean(row.get(c)) for c in used}
        words = {c: values[c] or (NO_VALUE_WORDS.get(c, "") if str(row.get(c)).strip().lower() == "none" else "")
                 for c in attributes}
        noun = words[nouns[0]] if nouns else ""
        described = ", ".join(f"{c} {values[c]}" for c in attributes if values[c])
        text = _clean(template.format(**{k: _clean(v) for k, v in row.items()})) if template else \
            ". ".join(part for part in (" ".join(values[c] for c in free if values[c]), described) if part)
        item: list[str] = [text] if text else []
        item += [values[c] for c in free if values[c]]
        item += [f"{words[c]} {noun}".strip() for c in adjectives if words[c]]  # "rose gold ring", "ruby ring"
        if len(adjectives) > 1:
            item.append(" ".join([*(words[c] for c in adjectives if words[c]), noun]).strip())
        if noun:
            item.append(noun)
        elif not text:
            item = []  # adjectives with nothing to describe ("plain") are no caption
        item = list(dict.fromkeys(v for v in item if v))  # distinct, in order
        if not item:
            skipped["empty caption"] = skipped.get("empty caption", 0) + 1
        variants.append(item)
    return Captions(variants=variants, columns=used, template=template, skipped=skipped)
