"""The Space's logic: the plain typed handlers the Gradio layout (app.py) calls. Which bundle to serve is
:mod:`~jewelrec.space.bundle_source`'s; who is asking, :mod:`~jewelrec.space.identity`'s.

Nothing here keeps per-user state: every handler takes the ``user_id`` the layout resolved from the session
(Hugging Face OAuth username, else the per-browser id, else the connection's session hash).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from jewelrec.encoders.base import to_rgb
from jewelrec.serving.blend import CrowdRecommender
from jewelrec.serving.bundle import Bundle
from jewelrec.serving.naming import CLAIM_SHARE, EMPTY, NOUN_COLUMNS, attribute_columns, attribute_text
from jewelrec.serving.recommender import Recommender
from jewelrec.space import views
from jewelrec.space.bundle_source import (  # noqa: F401  (moved out of this module; importable here as before)
    BuildingPage,
    origin_text,
    resolve_bundle,
    sample_bundle_dir,
    sample_needs_build,
)
from jewelrec.space.crowd import CrowdRefresher, CrowdSettings
from jewelrec.space.identity import (  # noqa: F401  (browser_secret is used here; the rest as before)
    browser_secret,
    new_browser_id,
    user_key,
    verify_browser_id,
)
from jewelrec.space.rating_checks import check_id
from jewelrec.space.ratings import MAX_ID_LEN, RatingError, RatingStore

log = logging.getLogger(__name__)
DETAIL_COLUMNS = ["item_id", "name", "details", "score", "why"]
MAP_COLUMNS = ["item_id", "name", "details", "style"]
UPLOAD_PROBLEMS = {  # validate_image's reasons, said to a shopper
    "unsupported_format": "that file is not a photo jewelrec can read; upload a JPEG, PNG or WebP image",
    "undecodable": "that file is not a photo jewelrec can read; upload a JPEG, PNG or WebP image",
    "truncated": "that photo is cut off (the file is incomplete); upload it again",
    "decompression_bomb": "that picture is too large (over 40 megapixels); upload a smaller photo",
    "empty_file": "that file is empty; upload a photo",
}
MAP_PIECES = 12  # pieces listed for a band of the style map (API)
PICKER_MAX = 1000  # pieces named in Similar's picker: enough to browse, small enough for the page (~50 kB)


@dataclass
class SpaceService:
    """Everything loaded once at start: bundle, recommender, encoder, rating store, report figures."""

    bundle: Bundle
    recommender: Recommender
    store: RatingStore
    origin: dict[str, Any]
    secret: bytes = b""  # signs anonymous browser ids (browser_secret); set by start()
    crowd: CrowdRefresher | None = None  # what all shoppers' ratings say (jewelrec.space.crowd); None: off

    @classmethod
    def start(cls, bundle: Bundle, origin: dict[str, Any], store: RatingStore | None = None, *,
              crowd: CrowdSettings | None = None) -> SpaceService:
        """Load everything once. ``crowd`` (default: :meth:`CrowdSettings.from_env`) sets up the crowd model,
        fitted once here on the ratings already stored; :meth:`start_crowd` (``launch`` calls it) keeps it fresh
        in the background."""
        encoder = None
        if bundle.encoder_dir is not None:
            from jewelrec.encoders import load_encoder

            encoder = load_encoder(bundle.encoder_dir)
        store = store or RatingStore.open(known_items=set(bundle.item_ids))
        if store.known_items is None:
            store.known_items = set(bundle.item_ids)
        crowd = crowd or CrowdSettings.from_env()
        refresher = CrowdRefresher(store, bundle.item_ids, crowd) if crowd.enabled else None
        if refresher is not None:
            refresher.refresh()  # a failure is logged and leaves no model: the visual picks serve alone
        return cls(bundle, Recommender(bundle, encoder=encoder), store, origin, secret=browser_secret(),
                   crowd=refresher)

    def start_crowd(self) -> None:
        """Start refitting the crowd model in the background (a daemon thread; :meth:`close` stops it)."""
        if self.crowd is not None:
            self.crowd.start()

    def close(self) -> None:
        if self.crowd is not None:
            self.crowd.stop()

    def crowd_model(self):
        """The crowd model requests use now (None: none yet, or the crowd is off)."""
        return None if self.crowd is None else self.crowd.model

    def __post_init__(self) -> None:
        self.styles = self.recommender.cluster_names  # computed once, by the recommender
        self.names = self.recommender.names  # one naming rule: the recommender's reasons use the same names
        self.picture = lru_cache(maxsize=4096)(self.picture)  # data URIs of the pieces cards show most
        # the columns a card lists: the kind of piece first (category / label), then the other attributes
        columns = attribute_columns(self.bundle.items)
        self._detail_columns = columns[-1:] + columns[:-1] if columns and columns[-1] in NOUN_COLUMNS else columns
        self._told_gone: set[str] = set()  # users already told (in the log) that some ratings left the catalog
        self.picks = CrowdRecommender(self.recommender, self.crowd_model)  # visual + crowd; visual alone if none

    # -- presentation helpers ------------------------------------------------------------------------
    def _raw_thumbnail(self, row: int) -> bytes | None:
        items = self.bundle.items
        raw = items["thumbnail"].iat[row] if "thumbnail" in items.columns else None
        return bytes(raw) if raw is not None and len(raw) else None

    def picture(self, row: int) -> str:
        """The piece's thumbnail as a data URI ("" when it has none)."""
        return views.data_uri(self._raw_thumbnail(row))

    def details(self, row: int) -> str:
        """The piece's attributes, the kind of piece first ("ring · gold · diamond · $1,250")."""
        items, parts = self.bundle.items, []
        for col in self._detail_columns:
            value = items[col].iat[row]
            if pd.notna(value) and str(value).strip().lower() not in EMPTY:
                parts.append(str(value))
        if "price" in items.columns and pd.notna(items["price"].iat[row]):
            parts.append(f"${float(items['price'].iat[row]):,.0f}")
        return " · ".join(parts)

    def _card(self, row: int, **fields: Any) -> views.Card:
        return views.Card(item_id=self.bundle.item_ids[row], name=self.names[row], details=self.details(row),
                          picture=self.picture(row), **fields)

    def hit_cards(self, hits: list[tuple]) -> list[views.Card]:
        """``[(item_id, score[, why])]`` → product cards."""
        return [self._card(self.bundle.index_of(h[0]), score=float(h[1]), why=h[2] if len(h) > 2 else "")
                for h in hits]

    def table(self, hits: list[tuple]) -> pd.DataFrame:
        """``[(item_id, score[, why])]`` → the details table (``DETAIL_COLUMNS``), the API's answer too."""
        rows = []
        for hit in hits:
            row = self.bundle.index_of(hit[0])
            rows.append([hit[0], self.names[row], self.details(row), round(float(hit[1]), 3),
                         hit[2] if len(hit) > 2 else ""])
        return pd.DataFrame(rows, columns=DETAIL_COLUMNS)

    def choices(self, include: str | None = None) -> list[tuple[str, str]]:
        """(label, item_id) pairs for Similar's piece picker: every piece up to ``PICKER_MAX``; a bigger catalog
        lists its ``PICKER_MAX`` most typical pieces, one style at a time (the page must not carry a million
        names), with ``include`` — a piece opened from a card or the map — first."""
        n = self.bundle.n_items
        rows = list(range(n)) if n <= PICKER_MAX else self.recommender.rate_order[:PICKER_MAX]
        if include is not None and n > PICKER_MAX and self.bundle.has_item(include):
            first = self.bundle.index_of(include)
            rows = [first, *(r for r in rows if r != first)]
        return [(f"{self.names[r]} ({self.bundle.item_ids[r]})", self.bundle.item_ids[r]) for r in rows]

    def piece_row(self, item_id: str | None) -> int:
        """The row of the piece a shopper asked about; ValueError naming the fix for none or an unknown id."""
        if item_id is None or not str(item_id):
            raise ValueError("pick a piece first (click one in any gallery, or choose it from the list)")
        return self.recommender.row_of(str(item_id))

    # -- handlers ------------------------------------------------------------------------------------
    def rate_picks(self, user_id: str, page: int = 0, n: int = 8) -> list[str]:
        """``n`` unrated pieces spanning the styles: one per cluster in turn (most central first), ``page``
        rotating through further pieces ("show me others")."""
        rated = set(self.store.ratings(user_id))
        interleaved = [r for r in self.recommender.rate_order if self.bundle.item_ids[r] not in rated]
        if not interleaved:
            return []
        start = (page * n) % len(interleaved)
        picks = (interleaved[start:] + interleaved[:start])[:n]
        return [self.bundle.item_ids[r] for r in picks]

    def rate(self, user_id: str, item_id: str, stars: int) -> str:
        """Save a rating; returns a short confirmation. Raises ValueError (RatingError) for a bad one — a piece
        this catalog does not list among them, checked here, not by the store's ``known_items`` (a store opened for
        another bundle would save it, and the confirmation would then fail)."""
        check_id("user id", user_id)
        if not (isinstance(item_id, str) and self.bundle.has_item(item_id)):  # a listed id may be long (a URL)
            check_id("item id", item_id)  # its shape first (empty, too long), then that this catalog lacks it
            raise RatingError(f"unknown item {item_id!r}: it is not in this catalog ({self.bundle.n_items} pieces)")
        n = self.store.rate(user_id, item_id, stars)
        if self.crowd is not None:
            self.crowd.nudge()
        return f"Saved {int(stars)}★ for {self.names[self.bundle.index_of(item_id)]} · {n} rated so far"

    def my_ratings(self, user_id: str) -> dict[str, int]:
        return self.store.ratings(user_id)

    def current_ratings(self, user_id: str) -> tuple[dict[str, int], int]:
        """(the user's ratings of pieces in this catalog, how many stored ratings are of pieces it no longer has).

        Ratings survive a refit or a new Hub revision that drops pieces: the rows stay in the database (they come
        back if the piece does) and serving ignores them, saying so once per user in the log."""
        stored = self.store.ratings(user_id)
        current = {item: stars for item, stars in stored.items() if self.bundle.has_item(item)}
        gone = len(stored) - len(current)
        if gone and user_id not in self._told_gone:
            self._told_gone.add(user_id)
            log.info("%s has %d rating(s) of pieces not in this catalog; kept, not used", user_id, gone)
        return current, gone

    def rate_grid(self, user_id: str, page: int = 0, n: int = 8) -> tuple[list[str], str]:
        """(item ids, Rate cards HTML with the star control) for one page of :meth:`rate_picks`."""
        ids = self.rate_picks(user_id, page, n)
        return ids, self.rate_cards(ids, {})

    def rate_cards(self, ids: list[str], stars: Mapping[str, int]) -> str:
        """Rate cards HTML for ``ids`` (pieces no longer listed left out), each lit at ``stars.get(id, 0)``: the
        page put back as saved after a save that failed. Reads nothing from the ratings database."""
        cards = [self._card(self.bundle.index_of(i), stars=int(stars.get(i, 0))) for i in ids
                 if isinstance(i, str) and self.bundle.has_item(i)]
        return views.grid(cards, "You have rated every piece in this catalog — see For you.")

    def for_you(self, user_id: str, k: int = 8) -> tuple[str, pd.DataFrame, str]:
        """(product cards HTML, details table, headline) for a user's current ratings."""
        ratings, gone = self.current_ratings(user_id)
        hits = self.picks.recommend(ratings, k=k)
        if not ratings:
            note = ("**Nothing rated yet** — these are signature pieces of each style. Rate a few pieces on the "
                    "*Rate* tab and this page learns what you like.")
        elif not hits:  # every piece rated: nothing left to pick (the tab was blank under "Picked for you")
            note = (f"**You have rated every piece** ({len(ratings)}) — there is nothing left to pick. Your ratings "
                    "are on the *Rate* tab; *Similar* and *Explore* still browse the whole catalog.")
        else:
            note = f"Picked for you from your **{len(ratings)}** rating{'s' * (len(ratings) != 1)}."
        if gone:
            note += f" ({gone} earlier rating{'s' * (gone != 1)} of pieces no longer in this catalog are kept, not used.)"
        return views.grid(self.hit_cards(hits)), self.table(hits), note

    def similar(self, item_id: str, k: int = 8) -> tuple[str, str, pd.DataFrame]:
        """(the piece being matched, its ``k`` nearest as cards, details table)."""
        row = self.piece_row(item_id)
        hits = self.recommender.similar(str(item_id), k=k)
        query = views.query_card("More like", self.names[row], self.details(row), self.picture(row))
        also = self.also_loved(str(item_id), k=k)
        crowd = views.section("Shoppers who loved this also loved", self.hit_cards(also)) if also else ""
        return query, views.grid(self.hit_cards(hits)) + crowd, self.table(hits)

    def also_loved(self, item_id: str, k: int = 8) -> list[tuple[str, float, str]]:
        """``[(item_id, similarity, why)]`` that shoppers loved together with ``item_id`` — only pairs at least
        ``min_shoppers`` (5) distinct shoppers loved (k-anonymity, :mod:`jewelrec.serving.collaborative`);
        ``[]`` without such evidence; ValueError, as :meth:`similar`, for no piece or an unknown id."""
        self.piece_row(item_id)
        model = self.crowd_model()
        if model is None:
            return []
        return [(other, score, f"{both} shoppers loved both")
                for other, score, both in model.also_loved(str(item_id), k) if self.bundle.has_item(other)]

    @property
    def can_embed_uploads(self) -> bool:
        return self.recommender.encoder is not None

    @property
    def has_text(self) -> bool:
        return bool(getattr(self.recommender.encoder, "has_text", False))

    def similar_to_upload(self, image: Image.Image | str | Path | bytes | None,
                          k: int = 8) -> tuple[str, str, pd.DataFrame]:
        """(the uploaded photo, the pieces like it as cards, details table) for a path, raw bytes, or an
        already-decoded image. A file is checked with the catalog's own rules — an image format, at most 40 Mpx —
        *before* it is decoded, so a small decompression bomb costs a header read, not gigabytes."""
        if image is None:
            raise ValueError("upload a photo of a piece first")
        if not self.can_embed_uploads:
            raise ValueError("this bundle has no image encoder, so uploads cannot be matched; pick a piece instead")
        if isinstance(image, (str, Path, bytes)):
            from jewelrec.catalog import validate_image

            data = image if isinstance(image, bytes) else Path(image).read_bytes()
            problem = validate_image(data)
            if problem is not None:
                raise ValueError(UPLOAD_PROBLEMS.get(problem, f"this file cannot be used as a photo ({problem})"))
            image = data
        vector = self.recommender.encoder.encode_images([image], progress=False)[0]  # (d,)
        hits = self.recommender.nearest(vector, k=k)
        query = views.query_card("More like", "your photo", "", _preview(image))
        return query, views.grid(self.hit_cards(hits)), self.table(hits)

    def search(self, text: str, k: int = 8) -> tuple[str, pd.DataFrame]:
        """(the Search tab's cards, under a note on what of ``text`` was left out, if any; the hits' table)."""
        hits, notes = self.recommender.search_with_notes(text, k=k)
        return views.notes(notes) + views.grid(self.hit_cards(hits), "No matches."), self.table(hits)

    # -- explore -------------------------------------------------------------------------------------
    @cached_property
    def map_html(self) -> str:
        """The style map (SVG) and its legend, built once: the same for every shopper."""
        return views.style_map(self.bundle.coords2d, self.bundle.labels, self.styles, self.bundle.item_ids, self.cluster_sizes()["pieces"].to_numpy())

    @cached_property
    def id_limit(self) -> int:
        """The longest id a request may name: the store's limit, or the catalog's longest id when that is longer
        (a catalog keyed by product URLs has ids past 128 characters; they were served and could not be rated)."""
        return max(MAX_ID_LEN, max(map(len, self.bundle.item_ids), default=0))

    def hover(self, item_id: str) -> str:
        """The map's tooltip for one dot (fetched on hover): picture, name, style. "" for an unknown id."""
        item_id = str(item_id)
        if len(item_id) > self.id_limit or not self.bundle.has_item(item_id):
            return ""
        row = self.bundle.index_of(item_id)
        return views.query_card(self.styles[self.bundle.labels[row]], self.names[row], self.details(row),
                                self.picture(row))

    @cached_property
    def style_traits(self) -> list[list[tuple[str, float, bool]]]:
        """Per style, what defines it: each attribute's most common value among its members, the share that has
        it, and whether the style's name claims it (``naming.CLAIM_SHARE``). Most shared first."""
        items, labels = self.bundle.items, self.bundle.labels
        columns = attribute_columns(items)
        traits: list[list[tuple[str, float, bool]]] = []
        for c in range(self.bundle.n_clusters):
            members = items.loc[labels == c, columns]
            found = []
            for column in columns:
                counts = attribute_text(members[column]).value_counts()
                if len(counts) and counts.index[0].lower() not in EMPTY:
                    share = float(counts.iloc[0] / len(members))
                    found.append((counts.index[0], share, share >= CLAIM_SHARE))
            traits.append(sorted(found, key=lambda t: -t[1]))
        return traits

    def style_guide(self, user_id: str, style: int | None = None, pieces: int = 6) -> str:
        """One style (default: the one this shopper likes best, else the biggest): what defines it, their stars
        for it, and its most central pieces."""
        table = self.style_stars(user_id)
        if style is None:
            rated = table[table["rated"] > 0]
            style = int(rated["avg_stars"].idxmax()) if len(rated) else int(self.cluster_sizes()["pieces"].idxmax())
        if isinstance(style, bool) or not isinstance(style, (int, np.integer)) or \
                not 0 <= int(style) < self.bundle.n_clusters:  # True is an int to Python, not a style
            raise ValueError(f"style must be a number from 0 to {self.bundle.n_clusters - 1}, got {style!r}")
        style = int(style)
        n = int(table["rated"].iat[style])
        taste = (f"You rated {n} piece{'s' * (n != 1)} of this style, {table['avg_stars'].iat[style]:.1f}★ on "
                 "average." if n else "You have not rated this style yet.")
        central = [self._card(int(r)) for r in self.recommender.central_items[style][:pieces]]
        return views.style_guide(self.styles[style], views.style_colour(style),
                                 int(self.cluster_sizes()["pieces"].iat[style]), self.style_traits[style], taste,
                                 central)

    def map_pieces(self, x_min: float | None, x_max: float | None,
                   k: int = MAP_PIECES) -> tuple[pd.DataFrame, str]:
        """Pieces in a band ``x_min <= x <= x_max`` of the map's coordinates (``bundle.coords2d``), for API
        clients: a table (``MAP_COLUMNS``) and a headline. More than ``k`` pieces are thinned evenly from the top
        of the band to the bottom, so the list still spans it."""
        try:
            band = np.asarray([x_min, x_max], dtype=np.float64)  # (2,); [[1], [2]] is (2, 1): no band
        except (TypeError, ValueError, OverflowError):  # 10**400 is an int no float holds
            band = np.full(2, np.nan)
        if band.shape != (2,) or not np.isfinite(band).all():
            raise ValueError("give the band of the style map to list as two numbers, x_min and x_max")
        if not 1 <= int(k) <= 200:
            raise ValueError(f"k must be from 1 to 200, got {k}")
        lo, hi = sorted(band.tolist())
        xy = self.bundle.coords2d  # (n, 2)
        x = xy[:, 0].astype(np.float64)  # (n,) a band past float32's range (1e308) compares, not overflows a cast
        inside = np.flatnonzero((x >= lo) & (x <= hi))  # (m,)
        inside = inside[np.argsort(-xy[inside, 1], kind="stable")]  # top of the map first
        spread = np.linspace(0, max(len(inside) - 1, 0), min(int(k), len(inside))).round().astype(int)
        rows = inside[np.unique(spread)]  # (<= k,)
        table = pd.DataFrame([[self.bundle.item_ids[r], self.names[r], self.details(int(r)),
                               self.styles[self.bundle.labels[r]]] for r in rows], columns=MAP_COLUMNS)
        note = f"{len(inside)} piece{'s' * (len(inside) != 1)} in the band"
        if len(inside) > len(rows):
            note += f", {len(rows)} listed, spread over it"
        return table, note

    def cluster_sizes(self) -> pd.DataFrame:
        counts = np.bincount(self.bundle.labels, minlength=self.bundle.n_clusters)  # (k,)
        return pd.DataFrame({"style": self.styles, "pieces": counts.astype(int)})

    def style_stars(self, user_id: str) -> pd.DataFrame:
        """The user's average stars per style (NaN where nothing is rated), one row per style."""
        ratings, _ = self.current_ratings(user_id)
        sums = np.zeros(self.bundle.n_clusters)
        counts = np.zeros(self.bundle.n_clusters)
        for item_id, stars in ratings.items():
            c = self.bundle.labels[self.bundle.index_of(item_id)]
            sums[c] += stars
            counts[c] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return pd.DataFrame({"style": self.styles, "avg_stars": mean, "rated": counts.astype(int)})

    @cached_property
    def report_html(self) -> str:
        """The fit report's PNGs at their own size, read once (no file paths reach the browser)."""
        directory = self.bundle.report_dir
        if directory is None:
            return ""
        return views.report([(png.stem.replace("_", " "), png.read_bytes()) for png in sorted(directory.glob("*.png"))])


def _preview(image: Image.Image | bytes, size: int = 256) -> str:
    """An uploaded photo, reduced to a small JPEG data URI, to show above its matches."""
    with (Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image.copy()) as picture:
        picture.draft("RGB", (size, size))
        small = to_rgb(picture)  # upright and on white, as the encoder sees it (a cut-out was shown on black)
    small.thumbnail((size, size))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return views.data_uri(out.getvalue())
