"""Recommendations from a bundle: personal picks from 1-5 star ratings, "more like this", text search.

Scoring (``recommend``), for a user with ratings r_i on items i:

1. Centre the stars on the user's mean, itself shrunk toward the scale midpoint 3 (one 5★ is a like, not
   "average"): d_i = r_i - (n*mean + 2*3) / (n + 2).
2. Cluster profile: a_c = sum_i p_ic d_i / (sum_i p_ic + shrink), p the cluster membership (hard labels, or the
   bundle's soft assignments with ``soft_affinity``), so a cluster with one rating moves less than one with ten.
3. Taste direction q: a ridge fit of (stars - 3) on the rated embeddings (3★ neutral), q = E_r^T (E_r E_r^T +
   λ I)^-1 (stars - 3), λ = ``query_ridge``. A large λ gives Σ (stars - 3)·e (a weighted centroid: what many
   positives share survives, what varies among them averages out); a finite one also fits the ratings, so the
   directions that separate the liked pieces from the unliked ones count more than those they all sit along.
4. The direction is whitened: W q, W = (C / mean eig(C) + γ I)^-1 with C the catalog's covariance and
   γ = ``whiten`` (partial whitening). The directions the whole catalog varies along most (in the sample:
   category) count less, so an attribute the positives share along a quieter direction (the metal) is not
   drowned by the loudest one. It reads no catalog attribute, only the embeddings. (``whiten_closeness`` takes
   the closeness terms below in the metric e_j^T W e too; off by default, for latency.)
5. Item score = cluster_weight * p_j . a  +  like_weight * max_i(w_i sim(j, i), liked i)
   - dislike_weight * max_i(w_i sim(j, i), disliked i)  +  query_weight * cos(e_j, W q),
   with w_i = |d_i| / max|d|.
6. The sum is divided by what a perfect match scores (``RecommenderConfig.scale``), so scores read on the same
   scale as ``similar``'s cosines (about -1..1): the Space shows this number as "match" and its API returns it.
7. Rated items are excluded; the list is chosen (:mod:`jewelrec.serving.selection`) by maximal marginal
   relevance: each next pick maximises λ·score − (1 − λ)·(its highest cosine to a piece already picked),
   λ = ``mmr_lambda``, and the picks are returned in score order. Diversity so follows the scores — a style
   liked more keeps more places, a second style clearly liked gets places as soon as it scores close to the
   first, a 3★ style earns none.
   With ``balance_band`` > 0 (off by default) the candidates within that much of the k-th best score are shared
   instead among the pieces rated near the user's best, in proportion to how far above the centre each was rated.

The closeness terms use the user's ``max_seeds`` most-liked and most-disliked pieces, so a request's cost does
not grow with the number of ratings. Catalogs above ``exhaustive_limit`` score only candidates (coarse ANN
neighbours of the most-liked pieces and of the taste direction + the most central items of the best-liked
clusters), so a request never touches all n embeddings; bench/bench_recommender.py measures how often that
changes the top k. The weights come from a sweep on simulated shoppers (bench/sweep_recommender.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from numbers import Real

import numpy as np

from jewelrec.config_keys import check_fields
from jewelrec.serving.bundle import Bundle
from jewelrec.serving.index import EXACT_LIMIT, FLAT_LIMIT
from jewelrec.serving.naming import (
    fits_style_names,
    item_names,
    names_from_claims,
    style_claims,
    style_names,
    style_phrase,
)
from jewelrec.serving.recommender_rules import RECOMMENDER_RULES
from jewelrec.serving.selection import banded_top, mmr_top, slotted_top
from jewelrec.serving.stored_index import load_search_index
from jewelrec.serving.taste import taste_direction, whitening

MAX_RATINGS = 10_000  # a person cannot rate more; refuse bigger payloads before doing work
# stars this close to 3 are neutral: finer than any star widget, so only a client's float noise sits inside it
NEUTRAL_TOLERANCE = 1e-3


@dataclass
class RecommenderConfig:
    """Scoring weights and request bounds. The weights, ``query_ridge``, ``whiten`` and ``mmr_lambda`` were
    chosen by a sweep on simulated shoppers (bench/sweep_recommender.py, bench/configs/recommender_sweep.yaml;
    table in bench/README.md), not by hand."""

    # style affinity, in star units (~±2). The sweep chose 0: the taste direction already leans to liked styles, and
    # a style boost let a style's off-taste pieces in (the affinity still drives slots and reasons)
    cluster_weight: float = 0.0
    like_weight: float = 0.5  # closeness to the most similar liked piece: the most explainable signal
    dislike_weight: float = 0.5  # push away from disliked pieces, gently: one 1★ should not empty a style
    query_weight: float = 16.0  # closeness to the taste direction q fitted on everything rated (module docstring)
    # ridge λ of the taste direction, in units of ratings (the Gram matrix's diagonal is 1): ∞ is Σ (stars − 3)·e
    query_ridge: float = 80.0
    # shrinkage γ of the catalog whitening of the taste direction (None: plain cosine); small γ whitens
    # fully and amplifies noise directions, large γ is plain cosine
    whiten: float | None = 5.0
    # the closeness terms in the same metric too: False (plain cosine) for latency — at 512-d the (a, d) @ (d, d)
    # product put recommend p99 at 100k over 5 ms, and on held-out shoppers it changed no ratio by more than 0.003
    whiten_closeness: bool = False
    # MMR trade-off: 1 is the plain top k by score; lower buys diversity (intra-list) with relevance. None:
    # affinity slots alone (every clearly liked style, whatever its evidence, reserves places)
    mmr_lambda: float | None = 0.95
    # a clearly liked style reserves places in proportion to its affinity once it has this many ratings above the
    # user's centre (two such styles needed); with less evidence MMR decides. One 5★ per style (the Rate tab)
    # reserving places cost precision where the shared taste cuts across styles (a metal): bench/README
    style_evidence: int = 3
    # balance between strongly liked pieces, bought with score: among the candidates within this much of the k-th
    # best score, each piece rated within style_floor of the user's best holds places in proportion to how far
    # above the user's centre it was rated, filled with the candidates nearest to it (used where MMR decides).
    # 0 = off. On simulated shoppers who love two categories 0.04 doubles how evenly the list splits between them
    # and costs up to 3 % precision where one style is loved (bench/README "Two categories loved alike")
    balance_band: float = 0.0
    mmr_pool: int = 200  # best-scored candidates MMR chooses from (at least 2k); bounds its cost
    style_floor: float = 0.8  # a style is clearly liked (slots, reasons) if its affinity is ≥ this share of the best
    shrink: float = 2.0  # pseudo-ratings pulling a cluster's affinity toward 0
    max_seeds: int = 8  # most-liked (and most-disliked) pieces in the closeness terms; bounds request cost
    neighbours: int = 50  # ANN neighbours per seed when the catalog is too big to score exhaustively
    # most-liked pieces whose ANN neighbours join the candidates (besides the taste direction's): the direction
    # carries most of the score, so half the closeness seeds suffice and the search stays as cheap as before it
    probe_seeds: int = 4
    central: int = 30  # most central items of each of the k best-liked clusters added to the candidates
    exhaustive_limit: int = FLAT_LIMIT  # up to here every item is scored; above it only candidates
    exact_limit: int = EXACT_LIMIT  # `similar` is exact up to here, approximate (IVF) above
    # hard labels by default: kmeans' Gaussian soft assignments are too flat in 512-d to attribute a rating to
    # one style; DEPICT's Student-t probabilities are sharp enough to turn this on
    soft_affinity: bool = False

    def __post_init__(self) -> None:
        check_fields(self, RECOMMENDER_RULES, "RecommenderConfig")  # a bad value fails here, not mid-request

    @property
    def scale(self) -> float:
        """What a perfect match would score (a style liked at +2★, a liked twin, the taste direction itself):
        scores are divided by it, so a pick's score reads like ``similar``'s cosine — one scale in the Space and
        its API. Dividing by a constant changes no ranking."""
        return max(2 * self.cluster_weight + self.like_weight + self.query_weight, 1e-6)


class Recommender:
    """``recommend(ratings, k)`` → [(item_id, score, reason)], ``similar(item_id, k)`` → [(item_id, score)]."""

    def __init__(self, bundle: Bundle, *, encoder=None, config: RecommenderConfig | None = None,
                 recommendable: np.ndarray | None = None):
        self.bundle, self.encoder = bundle, encoder
        self._encoder_error: str | None = None  # why the bundle's own encoder could not be loaded for search
        self._encoder_lock = threading.Lock()  # the first searches of several threads load it once
        self.config = config or RecommenderConfig()
        # (n,) bool: the pieces `recommend` and `cold_start` may return (all by default); the offline evaluator
        # keeps picks to the items its log can judge, while every piece still counts as a rating
        self.recommendable = None if recommendable is None else np.asarray(recommendable, dtype=bool)
        if self.recommendable is not None and self.recommendable.shape != (bundle.n_items,):
            raise ValueError(f"recommendable must be a ({bundle.n_items},) bool mask, got {self.recommendable.shape}")
        self.embeddings = bundle.embeddings  # (n, d)
        self.probs = bundle.probs  # (n, k)
        self.labels = bundle.labels  # (n,)
        self.ids = np.asarray(bundle.item_ids, dtype=object)
        # (d, d) metric of the query and closeness terms, or None for plain cosine; computed once here
        self.metric = None if self.config.whiten is None else whitening(self.embeddings, self.config.whiten)
        # the bundle's prebuilt index when it has one for these embeddings, else trained now (~20 s at 1M)
        self.index = load_search_index(bundle, exact_limit=self.config.exact_limit)
        self.exhaustive = len(self.ids) <= self.config.exhaustive_limit
        self.names = item_names(bundle.items)
        # what each style's name claims, and whether each item has it: reasons never contradict a piece's metadata
        claims = style_claims(bundle.items, self.labels, bundle.n_clusters)
        self.cluster_names = names_from_claims(claims)
        self.fits_name = fits_style_names(bundle.items, self.labels, claims)  # (n,)
        # items of each cluster, most central first (those the style's name describes before the others): the
        # cold-start picks and the big-catalog candidates
        centrality = self.probs[np.arange(len(self.labels)), self.labels]  # (n,)
        order = np.lexsort((-centrality, ~self.fits_name, self.labels))
        bounds = np.searchsorted(self.labels[order], np.arange(bundle.n_clusters + 1))
        self.central_items = [order[bounds[c]:bounds[c + 1]] for c in range(bundle.n_clusters)]

    @cached_property
    def rate_order(self) -> list[int]:
        """Rows in the order the Space's Rate tab offers them: one piece per style in turn, most typical (highest
        membership) first — so any page of 8 spans the styles."""
        order = np.argsort(-self.probs.max(axis=1), kind="stable")  # (n,) most typical first
        by_style: list[list[int]] = [[] for _ in range(self.bundle.n_clusters)]
        for row in order:
            by_style[self.labels[row]].append(int(row))
        return [b[depth] for depth in range(max((len(b) for b in by_style), default=0))
                for b in by_style if depth < len(b)]

    # -- validation ----------------------------------------------------------------------------------
    def _rows(self, ratings: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(ratings, Mapping):
            example = _shown(self.ids[0]) if len(self.ids) else "'ring-1'"
            raise TypeError(f"ratings must be a mapping {{item_id: stars}}, e.g. {{{example}: 5}} ({{}} for none yet), "
                            f"got {type(ratings).__name__}")
        if len(ratings) > MAX_RATINGS:
            raise ValueError(f"{len(ratings)} ratings is more than the {MAX_RATINGS} one request may carry")
        rows, stars, keys = [], [], {}
        for item_id, value in ratings.items():
            row = self.row_of(item_id)
            if isinstance(value, bool) or not isinstance(value, Real) or not 1 <= value <= 5:
                raise ValueError(f"stars for {item_id!r} must be a number from 1 to 5, got {value!r}")
            if row in keys:  # 5 and "5" name one piece: which of their stars counts is not for us to guess
                raise ValueError(f"ratings name the piece {_shown(item_id)} twice (keys {keys[row]!r} and {item_id!r}); "
                                 "keep one rating per piece")
            keys[row] = item_id
            rows.append(row)
            stars.append(float(value))
        return np.asarray(rows, dtype=np.int64), np.asarray(stars, dtype=np.float32)

    def row_of(self, item_id: str) -> int:
        """The row of ``item_id``; ValueError quoting it (never more than 60 characters) when it is not here."""
        if not self.bundle.has_item(str(item_id)):
            raise ValueError(f"unknown item id {_shown(item_id)}: it is not in this catalog")
        return self.bundle.index_of(str(item_id))

    # -- public API ----------------------------------------------------------------------------------
    def recommend(self, ratings: Mapping[str, float], k: int = 10) -> list[tuple[str, float, str]]:
        """Top ``k`` unrated items for a user's ``{item_id: stars}``; cold start when ratings are empty, and without
        the rated pieces when every rating is neutral (3★)."""
        k = _check_k(k)
        rows, stars = self._rows(ratings)
        if len(rows) == 0:
            return self.cold_start(k)
        if float(np.abs(stars - 3.0).max()) < NEUTRAL_TOLERANCE:
            # every rating neutral (3★): no like or dislike to steer by, so the cold-start picks, rated ones left out
            return self._central_picks(k, exclude=rows, note="your ratings so far are all neutral (3★)")
        c = self.config
        centre = (stars.sum() + 2 * 3.0) / (len(stars) + 2)
        dev = stars - centre  # (r,)
        membership = self._membership(rows)  # (r, k_clusters)
        affinity = membership.T @ dev / (membership.sum(0) + c.shrink)  # (k_clusters,)

        anchors = _anchors(dev, c.max_seeds)  # (a,) positions in rows: strongest likes and dislikes
        query = taste_direction(self.embeddings[rows], stars - 3.0, c.query_ridge)  # (d,) 3★ neutral
        seed_emb = self.embeddings[rows[anchors]]  # (a, d)
        whitened_seeds = self.metric is not None and c.whiten_closeness
        if self.metric is not None:
            query = self.metric @ query
        if whitened_seeds:  # (a, d) @ (d, d): about a third of a 100k request's time at 512-d
            seed_emb = seed_emb @ self.metric  # W symmetric
        query /= max(float(np.linalg.norm(query)), 1e-12)
        candidates = self._candidates(rows[anchors][dev[anchors] > 0][: c.probe_seeds], query, affinity, k, rows)
        a_dev = dev[anchors]
        liked, disliked = a_dev > 0, a_dev < 0
        weights = np.abs(a_dev) / max(float(np.abs(a_dev).max(initial=0.0)), 1e-6)  # (a,)
        every_row = len(candidates) == len(self.ids)
        candidate_emb = self.embeddings if every_row else self.embeddings[candidates]  # no copy when all
        sims = candidate_emb @ seed_emb.T  # (m, a) cosines (in the metric W with whiten_closeness)
        weighted = sims * weights  # (m, a)
        like = _masked_max(weighted, liked)  # (m,), 0 where no liked item
        dislike = _masked_max(weighted, disliked)
        if self.config.soft_affinity:
            cluster = self.probs[candidates] @ affinity  # (m,)
        else:
            cluster = affinity[self.labels[candidates]]  # (m,)
        scores = (c.cluster_weight * cluster + c.like_weight * like - c.dislike_weight * dislike
                  + c.query_weight * (candidate_emb @ query)) / c.scale  # (m,) about -1..1, like a cosine
        scores[np.isin(candidates, rows)] = -np.inf
        if self.recommendable is not None:
            scores[~self.recommendable[candidates]] = -np.inf

        liked_clusters = np.flatnonzero((affinity > 0) & (affinity >= c.style_floor * affinity.max()))
        evidence = (membership * (dev > 0)[:, None]).sum(0)  # (k_clusters,) ratings above the user's centre
        slotted = liked_clusters if c.mmr_lambda is None else liked_clusters[evidence[liked_clusters] >= c.style_evidence]
        if c.mmr_lambda is None or len(slotted) >= 2:
            chosen = slotted_top(scores, self.labels[candidates], k, affinity, slotted)
        elif c.balance_band > 0 and (strong := liked & (a_dev >= c.style_floor * a_dev.max(initial=0.0))).sum() >= 2:
            chosen = banded_top(scores, sims[:, strong], a_dev[strong], k, c.balance_band)
        else:
            chosen = mmr_top(scores, candidate_emb, k, c.mmr_lambda, c.mmr_pool)
        # reasons quote plain cosines (what "like the piece you rated" means to a person), not the metric's
        cosines = (self.embeddings[candidates[chosen]] @ self.embeddings[rows[anchors]].T if whitened_seeds
                   else sims[chosen])  # (k, a)
        results = []
        for j, cos in zip(chosen, cosines):
            item = candidates[j]
            near = int(np.argmax(np.where(liked, cos, -np.inf))) if liked.any() else -1
            if near >= 0 and cos[near] > 0.5:
                src = anchors[near]
                reason = f"like the {self.names[rows[src]]} you rated {stars[src]:g}★"
            else:
                style = self.cluster_names[self.labels[item]]
                reason = f"{'from' if self.fits_name[item] else 'near'} {style_phrase(style)} you like"
                if self.labels[item] not in liked_clusters:
                    reason = f"something different: {'from' if self.fits_name[item] else 'near'} {style_phrase(style)}"
            results.append((str(self.ids[item]), float(scores[j]), reason))
        return results

    def cold_start(self, k: int = 10) -> list[tuple[str, float, str]]:
        """No ratings yet: the most central pieces, one style at a time (biggest styles first)."""
        return self._central_picks(_check_k(k))

    def _central_picks(self, k: int, exclude: np.ndarray | None = None, note: str = "") -> list[tuple[str, float, str]]:
        """``cold_start``'s picks, the rows in ``exclude`` left out, ``note`` appended to each reason."""
        by_size = sorted(range(len(self.central_items)), key=lambda c: -len(self.central_items[c]))
        picks: list[tuple[str, float, str]] = []
        depth = 0
        central = self.central_items
        if self.recommendable is not None:
            central = [members[self.recommendable[members]] for members in central]
        if exclude is not None and len(exclude):
            central = [members[~np.isin(members, exclude)] for members in central]
        while len(picks) < min(k, sum(len(members) for members in central)):
            for cluster in by_size:
                members = central[cluster]
                if depth < len(members) and len(picks) < k:
                    item = members[depth]
                    role = "a signature piece" if self.fits_name[item] else "a central piece"
                    reason = f"{role} of {style_phrase(self.cluster_names[cluster])}"
                    picks.append((str(self.ids[item]), float(self.probs[item, cluster]),
                                  f"{reason}; {note}" if note else reason))
            depth += 1
        return picks

    def similar(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` nearest items to ``item_id`` by cosine similarity, itself excluded."""
        k = _check_k(k)
        row = self.row_of(item_id)
        # its own row: unit length, or zero for a picture the encoder saw nothing in (every piece then scores 0)
        return [hit for hit in self._nearest(self.embeddings[row], k + 1) if hit[0] != str(item_id)][:k]

    def nearest(self, vector: np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` items closest to an embedding ``vector`` (d,), e.g. of an uploaded photo, with their cosines
        (the vector is normalised first; an all-zero one is refused)."""
        k, dim = _check_k(k), self.embeddings.shape[1]
        try:
            query = np.asarray(vector, np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"vector must be a ({dim},) array of numbers (an embedding from this bundle's encoder), "
                            f"got {type(vector).__name__}") from None
        if query.shape not in ((dim,), (1, dim)):  # a (2, d/2) array has d numbers too, and is not one embedding
            raise ValueError(f"vector must be a ({dim},) embedding from this bundle's encoder, got shape {query.shape}")
        if not np.isfinite(query).all():
            raise ValueError("vector holds NaN or infinite values; embed the photo again with the bundle's encoder")
        norm = float(np.linalg.norm(query))
        if norm < 1e-12:  # every piece at cosine 0: k arbitrary pieces
            raise ValueError("vector is all zeros and points nowhere; embed the photo again with the bundle's encoder")
        return self._nearest(query / norm, k)  # cosines whatever the vector's length (a long one scaled them)

    def _nearest(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """:meth:`nearest` of a checked (d,) vector."""
        scores, rows = self.index.search(query.reshape(1, -1), k)
        return [(str(self.ids[r]), float(s)) for s, r in zip(scores[0], rows[0]) if r >= 0]

    def search(self, text: str, k: int = 10) -> list[tuple[str, float]]:
        """Items matching a text query through the encoder's text tower (CLIP bundles only). ValueError for a text
        with no word the encoder's vocabulary knows (the catalog CLIP's ``check_query``), listing some it does;
        :meth:`query_notes` says what of a text it does search was left out."""
        return self.search_with_notes(text, k)[0]

    def search_with_notes(self, text: str, k: int = 10) -> tuple[list[tuple[str, float]], list[str]]:
        """(:meth:`search`'s hits, :meth:`query_notes`' notes) from one check of ``text``."""
        text, notes = self._query_text(text)
        return self.nearest(self.encoder.encode_text([text])[0], k), notes

    def query_notes(self, text: str) -> list[str]:
        """What :meth:`search` leaves out of ``text``, for the shopper: words the catalog's vocabulary does not know
        (with the nearest spelling), words past the text tower's length. [] when all of it is searched; the same
        errors as :meth:`search`."""
        return self._query_text(text)[1]

    def _query_text(self, text: str) -> tuple[str, list[str]]:
        """(``text`` stripped, its notes), checked as :meth:`search` takes it (refused: no text tower, not a str,
        empty, no known word)."""
        if self.encoder is None:
            with self._encoder_lock:  # one load: a second thread importing transformers half-way gets an ImportError
                if self._encoder_error is not None:  # tried once: not again on every search
                    raise ValueError(self._encoder_error)
                if self.encoder is None:
                    try:
                        self.encoder = self._bundle_encoder()
                    except ValueError as err:
                        self._encoder_error = str(err)
                        raise
        if not getattr(self.encoder, "has_text", False):
            kind = getattr(self.encoder, "kind", "none")
            raise ValueError(f"text search needs a CLIP bundle; this bundle's encoder ({kind}) has no text tower")
        if not isinstance(text, str):
            hint = "; decode it first (text.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
            raise TypeError(f"search text must be a str, e.g. 'rose gold ring', got {type(text).__name__}{hint}")
        if not text.strip():
            raise ValueError("type a few words to search for, e.g. 'rose gold ring with a ruby'")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (a broken emoji): the tokenizer raised a bare TypeError
            raise ValueError("the search text holds a character that is not valid Unicode (half of an emoji?); "
                             "retype it") from None
        text = text.strip()
        # a catalog vocabulary refuses a text it has no word of; encoders with no check_query have nothing to say
        notes = list(self.encoder.check_query(text)) if hasattr(self.encoder, "check_query") else []
        return text, notes

    # -- internals -----------------------------------------------------------------------------------
    def _bundle_encoder(self):
        """The encoder saved in the bundle's ``encoder/`` (loaded on the first search when none was passed)."""
        directory = getattr(self.bundle, "encoder_dir", None)
        if directory is None:
            raise ValueError("text search needs the bundle's encoder, and this bundle has no encoder/ folder; re-run "
                             "training.fit to make one with it, or pass Recommender(bundle, encoder=...)")
        try:
            from jewelrec.encoders.base import load_encoder
        except ImportError as err:  # the base install has no torch / transformers
            raise ValueError(f"text search runs the bundle's text encoder, which needs torch and transformers "
                             f"({err}); pip install 'jewelrec[space]'") from None
        return load_encoder(directory)

    def _membership(self, rows: np.ndarray) -> np.ndarray:
        """Cluster membership of ``rows``: the soft probabilities, or one-hot hard labels. (r, k_clusters)"""
        if self.config.soft_affinity:
            return self.probs[rows]
        return np.eye(self.probs.shape[1], dtype=np.float32)[self.labels[rows]]

    def _candidates(self, seeds: np.ndarray, query: np.ndarray, affinity: np.ndarray, k: int,
                    rated: np.ndarray) -> np.ndarray:
        """Rows worth scoring: all of them for small catalogs; else the coarse neighbours of the ``seeds``
        (the most-liked pieces) and of the taste direction ``query`` (d,) — it carries most of the score, so
        its own top must be among the candidates; one more row in the same batched search — plus the most
        central items of the k clusters with the highest affinity (only k clusters can place an item in a top
        k; unrated ones, at 0, outrank disliked ones). All rows again when those hold fewer than k that may be
        picked (not ``rated``, recommendable): a long list or a sparse ``recommendable`` mask is never cut short
        while the catalog has more."""
        if self.exhaustive:
            return np.arange(len(self.ids))
        probes = np.vstack([self.embeddings[seeds], query[None, :]]).astype(np.float32)  # (s + 1, d)
        _, neighbours = self.index.search(probes, self.config.neighbours, coarse=True)
        parts = [neighbours.ravel()]
        top_clusters = np.argsort(-affinity, kind="stable")[:k]
        parts += [self.central_items[c][: self.config.central] for c in top_clusters]
        pool = np.concatenate(parts).astype(np.int64)
        pool = np.unique(pool[pool >= 0])
        usable = ~np.isin(pool, rated)
        if self.recommendable is not None:
            usable &= self.recommendable[pool]
        return pool if int(usable.sum()) >= k else np.arange(len(self.ids))


def _shown(item_id: object, limit: int = 60) -> str:
    """An id as an error message may quote it: never more than ``limit`` characters of whatever was sent."""
    text = repr(str(item_id))
    return text if len(text) <= limit else text[:limit] + f"…' ({len(str(item_id))} characters)"


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _anchors(dev: np.ndarray, per_side: int) -> np.ndarray:
    """Positions of the ``per_side`` most-liked (dev > 0) and most-disliked (dev < 0) ratings. (a,)"""
    order = np.argsort(-dev, kind="stable")  # most liked first
    liked = order[dev[order] > 0][:per_side]
    disliked = order[::-1][dev[order[::-1]] < 0][:per_side]
    return np.concatenate([liked, disliked])


def _masked_max(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise max of ``values`` (m, r) over the columns in ``mask`` (r,); 0 when the mask is empty."""
    if not mask.any():
        return np.zeros(values.shape[0], dtype=np.float32)
    return values[:, mask].max(axis=1)


def cluster_names(bundle: Bundle) -> list[str]:
    """A truthful, distinct name per style (:func:`jewelrec.serving.naming.style_names`)."""
    return style_names(bundle.items, bundle.labels, bundle.n_clusters)
