"""HTML the Space shows: product cards (one grid for Rate, For you, Similar, Search and the style guide), the
five-star control, the style map as an SVG with its legend, the style guide and the fit report.

Every builder is a pure function of what it is given (no bundle, no user), escapes all catalog text, and
inlines pictures as data URIs, so no file path or URL of the server reaches the browser. The JavaScript that
makes them interactive lives in :mod:`jewelrec.space.page_assets`; :mod:`jewelrec.space.ui` attaches it
to the components it belongs to.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# one colour per style (matplotlib's tab20, reordered: the ten strong hues first); styles past 20 cycle
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5")
MAP_W, MAP_H, MAP_PAD = 1000, 560, 16  # the map's SVG viewBox; it scales to the column's width
MAP_DOTS_MAX = 4000  # dots drawn on the map; a bigger catalog is thinned evenly (every style keeps its share)


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def data_uri(raw: bytes | None, mime: str = "image/jpeg") -> str:
    """A picture as a data URI ("" when there is none)."""
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}" if raw else ""


def style_colour(style: int) -> str:
    return PALETTE[style % len(PALETTE)]


@dataclass(frozen=True)
class Card:
    """One product card. ``score`` is shown as "match" (the number the API returns); ``stars`` is the
    shopper's current rating for a Rate card (0 = none yet), None for a card without the star control."""

    item_id: str
    name: str
    details: str
    picture: str  # data URI, or "" for a placeholder
    why: str = ""
    score: float | None = None
    stars: int | None = None
    top: float = 1.0  # the list's best score: the bar is score / top


def card(c: Card) -> str:
    name = esc(c.name)
    picture = f"<img src='{c.picture}' alt='{name}'>" if c.picture else \
        "<div class='jr-noimg' aria-hidden='true'>◆</div>"
    parts = [f"<div class='jr-name'>{name}</div>", f"<div class='jr-meta'>{esc(c.details)}</div>"]
    if c.why:
        parts.append(f"<div class='jr-why'>{esc(c.why)}</div>")
    if c.score is not None:
        width = max(4, min(100, round(100 * c.score / (c.top or 1.0)))) if c.score > 0 else 4
        parts.append(f"<div class='jr-score' aria-hidden='true'><span style='width:{width}%'></span></div>"
                     f"<div class='jr-num'>match {c.score:.2f}</div>")
    if c.stars is None:  # the whole card opens the piece in Similar
        return (f"<div class='jr-card' data-item='{esc(c.item_id)}' role='button' tabindex='0' "
                f"title='{name}: more like this' aria-label='{name}: more like this'>{picture}"
                f"<div class='jr-body'>{''.join(parts)}</div></div>")
    return (f"<div class='jr-card jr-rate' data-item='{esc(c.item_id)}'>{picture}<div class='jr-body'>"
            f"{''.join(parts)}{star_control(c.name, c.stars)}"
            f"<button type='button' class='jr-more' data-more='1'>More like this ›</button></div></div>")


def star_control(name: str, stars: int) -> str:
    """Five stars as an ARIA radio group: Tab reaches it, arrows move and rate, Enter/Space rate the focused
    star. One star is tabbable (the chosen one, else the first) — the roving tabindex of the WAI-ARIA pattern."""
    buttons = []
    for n in range(1, 6):
        on = " on" if n <= stars else ""
        tab = "0" if n == (stars or 1) else "-1"
        buttons.append(f"<button type='button' role='radio' class='jr-star{on}' data-stars='{n}' tabindex='{tab}' "
                       f"aria-checked='{str(n == stars).lower()}' aria-label='{n} star{'s' * (n > 1)}'>★</button>")
    return f"<div class='jr-stars' role='radiogroup' aria-label='Rate {esc(name)}'>{''.join(buttons)}</div>"


def grid(cards: Sequence[Card], empty: str = "") -> str:
    if not cards:
        return f"<div class='jr-empty'>{esc(empty)}</div>" if empty else ""
    top = max((c.score for c in cards if c.score is not None), default=1.0) or 1.0
    return "<div class='jr-grid'>" + "".join(card(Card(**{**c.__dict__, "top": top})) for c in cards) + "</div>"


def notes(lines: Sequence[str]) -> str:
    """Notes above a result ("searched without 'saphire' (did you mean …"); "" for none."""
    return "".join(f"<p class='jr-note' role='status'>{esc(line[:1].upper() + line[1:])}.</p>" for line in lines)


def section(title: str, cards: Sequence[Card]) -> str:
    """A headed card grid below another one ("Shoppers who loved this also loved"); "" when there are none."""
    if not cards:
        return ""
    return f"<h3 class='jr-section'>{esc(title)}</h3>{grid(cards)}"


def query_card(title: str, name: str, details: str, picture: str) -> str:
    """What Similar is matching: the chosen piece, or the shopper's photo, above its matches."""
    image = f"<img src='{picture}' alt='{esc(name)}'>" if picture else "<div class='jr-noimg'>◆</div>"
    return (f"<div class='jr-query'>{image}<div><div class='jr-kicker'>{esc(title)}</div>"
            f"<div class='jr-name'>{esc(name)}</div><div class='jr-meta'>{esc(details)}</div></div></div>")


def style_map(coords: np.ndarray, labels: np.ndarray, names: Sequence[str], item_ids: Sequence[str], counts: np.ndarray) -> str:
    """The style map as an inline SVG (no axes: map coordinates mean nothing to a shopper) with a legend of
    every style's colour, name and size. Dots carry only their item id and style: a piece's name and picture
    are fetched when its dot is hovered."""
    n = len(labels)
    rows = np.arange(n)
    if n > MAP_DOTS_MAX:
        rows = np.linspace(0, n - 1, MAP_DOTS_MAX).round().astype(int)  # evenly thinned, order-independent
    xy = np.asarray(coords, dtype=np.float64)[rows]  # (m, 2)
    # a few far-off pieces must not squeeze everything else into a corner: frame the central 98 %, clamp the rest
    lo, hi = np.percentile(xy, 1, axis=0), np.percentile(xy, 99, axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    unit = np.clip((xy - lo) / span, 0.0, 1.0)  # (m, 2) in [0, 1]
    px = MAP_PAD + unit[:, 0] * (MAP_W - 2 * MAP_PAD)
    py = MAP_PAD + (1.0 - unit[:, 1]) * (MAP_H - 2 * MAP_PAD)  # up is up
    # compact dots (~70 bytes each): colour by class, name on hover (fetched), so thousands of pieces stay small
    dots = "".join(f"<circle cx='{x:.0f}' cy='{y:.0f}' r='6' class='s{int(labels[r]) % len(PALETTE)}' "
                   f"data-item='{esc(item_ids[r])}' data-style='{int(labels[r])}'/>" for r, x, y in zip(rows, px, py))
    fills = "".join(f".s{i}{{fill:{colour}}}" for i, colour in enumerate(PALETTE))
    chips = "".join(
        f"<button type='button' class='jr-chip' data-style='{c}' aria-pressed='false'>"
        f"<span class='jr-swatch' style='background:{style_colour(c)}'></span>{esc(name)}"
        f"<span class='jr-count'>{int(counts[c])}</span></button>" for c, name in enumerate(names))
    thinned = f"<div class='jr-meta'>Showing {len(rows):,} of {n:,} pieces.</div>" if len(rows) < n else ""
    return (f"<div class='jr-legend' role='group' aria-label='Styles'>{chips}</div>"
            f"<div class='jr-map'><svg viewBox='0 0 {MAP_W} {MAP_H}' role='img' aria-label='Style map: "
            f"{n} pieces in {len(names)} styles'><style>{fills}</style>{dots}</svg><div class='jr-tip' hidden></div></div>{thinned}")


def style_guide(name: str, colour: str, size: int, traits: Sequence[tuple[str, float, bool]],
                taste: str, pieces: Sequence[Card]) -> str:
    """One style: its name and size, what defines it (``traits``: value, share of members, claimed by the
    name), the shopper's stars for it, and its most central pieces."""
    chips = "".join(f"<span class='jr-trait{' claimed' if claimed else ''}'>{esc(value)} "
                    f"<b>{share:.0%}</b></span>" for value, share, claimed in traits)
    return (f"<div class='jr-guide'><div class='jr-guide-head'><span class='jr-swatch' style='background:{colour}'>"
            f"</span><h3>{esc(name)}</h3><span class='jr-meta'>{size} piece{'s' * (size != 1)}</span></div>"
            f"<div class='jr-traits'>{chips}</div><div class='jr-meta'>{esc(taste)}</div>"
            f"{grid(pieces)}</div>")


def report(figures: Sequence[tuple[str, bytes]]) -> str:
    """The fit report's PNGs at their own size (never wider than the column)."""
    return "".join(f"<figure class='jr-figure'><img src='{data_uri(png, 'image/png')}' alt='{esc(title)}'>"
                   f"<figcaption>{esc(title)}</figcaption></figure>" for title, png in figures)
