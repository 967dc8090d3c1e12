"""The Space's logic: which bundle to serve, and the plain typed handlers the Gradio layout (app.py) calls.

Nothing here keeps per-user state: every handler takes the ``user_id`` the layout resolved from the session
(Hugging Face OAuth username, else the per-browser id, else the connection's session hash).
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from jewelrec.paths import cache_dir
from jewelrec.serving.bundle import Bundle, BundleError
from jewelrec.serving.recommender import Recommender
from jewelrec.space.ratings import RatingStore, data_dir

log = logging.getLogger(__name__)
Card = tuple[Image.Image, str]  # (thumbnail, caption) as gr.Gallery takes it
DETAIL_COLUMNS = ["item_id", "name", "details", "score", "why"]
MAP_COLUMNS = ["item_id", "name", "details", "style"]
HOVER_IMAGES_MAX = 2000  # hover thumbnails ride inside the map's data (~1.6 kB each); bigger catalogs get names
UPLOAD_PROBLEMS = {  # validate_image's reasons, said to a shopper
    "unsupported_format": "that file is not a photo jewelrec can read; upload a JPEG, PNG or WebP image",
    "undecodable": "that file is not a photo jewelrec can read; upload a JPEG, PNG or WebP image",
    "truncated": "that photo is cut off (the file is incomplete); upload it again",
    "decompression_bomb": "that picture is too large (over 40 megapixels); upload a smaller photo",
    "empty_file": "that file is empty; upload a photo",
}
MAP_PIECES = 12  # pieces listed for a band of the style map: two gallery rows of six


def sample_bundle_dir() -> Path:
    return cache_dir("bundles") / "sample"


def resolve_bundle() -> tuple[Bundle, dict[str, Any]]:
    """The bundle to serve and where it came from.

    ``$JEWELREC_BUNDLE`` (a directory) wins; else ``$JEWELREC_REPO`` (+ ``$JEWELREC_REVISION``) pulls from the Hub;
    else the sample bundle, built once into ``cache_dir('bundles')/sample`` (1–3 min on 2 cores) and reused.
    ``origin`` is ``{"repo_id", "revision", "commit", "offline", "notice"}`` (Hub) or ``{"path", "notice"}``.
    """
    local = os.environ.get("JEWELREC_BUNDLE")
    if local:
        if not Path(local).is_dir():
            raise FileNotFoundError(f"JEWELREC_BUNDLE={local!r} is not a directory; point it at a bundle made by "
                                    "`python -m training.fit --out DIR`, or unset it to use the sample")
        return Bundle.load(local), {"path": str(local), "notice": None}
    repo = os.environ.get("JEWELREC_REPO")
    if repo:
        from jewelrec.serving.hub import pull  # the Hub seam: only needed when a repo is configured

        return pull(repo, os.environ.get("JEWELREC_REVISION") or None)
    out = sample_bundle_dir()
    try:
        return Bundle.load(out), {"path": str(out), "notice": "built-in sample catalog"}
    except (BundleError, FileNotFoundError, OSError) as exc:
        print(f"[jewelrec] no usable sample bundle at {out} ({type(exc).__name__}); building it now — "
              "1–3 minutes on 2 CPU cores, only the first time", flush=True)
    from jewelrec.pipeline.fit import FitConfig, run  # needs the [train] extra; a repo-backed Space never gets here

    run(FitConfig(dataset="sample", out=str(out)))
    return Bundle.load(out), {"path": str(out), "notice": "built-in sample catalog"}


def sample_needs_build() -> bool:
    """True when ``python app.py`` will have to build the sample bundle before it can serve."""
    if os.environ.get("JEWELREC_BUNDLE") or os.environ.get("JEWELREC_REPO"):
        return False
    return not (sample_bundle_dir() / "config.json").is_file()


class BuildingPage:
    """A placeholder page on the Space's port while the sample bundle is built (first start only): it says what
    is happening and reloads itself every 5 s until the real app answers. Stdlib only, one page, no files."""

    def __init__(self, host: str = "127.0.0.1", port: int = 7860):
        import http.server
        import threading
        import time

        started = time.time()

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
                body = ("<!doctype html><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
                        "<title>jewelrec · starting</title><body style='font-family:sans-serif;max-width:36rem;"
                        "margin:15vh auto;color:#333'><h1>◆ jewelrec is getting ready</h1><p>Building the "
                        "built-in sample catalog and its style model — this happens once, on the first start, "
                        f"and takes 1–3 minutes on a small CPU. Elapsed: {time.time() - started:.0f} s.</p>"
                        "<p>This page reloads by itself; progress is shown in the terminal.</p>").encode()
                self.send_response(503)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Retry-After", "5")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep the terminal for the build's progress
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Page)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def origin_text(origin: dict[str, Any], bundle: Bundle) -> str:
    """One footer line: what is being served, from where."""
    if origin.get("repo_id"):
        commit = str(origin.get("commit") or origin.get("revision") or "?")[:12]
        where = f"[{origin['repo_id']}](https://huggingface.co/{origin['repo_id']}) @ `{commit}`"
        if origin.get("offline"):
            where += " (offline copy)"
    else:
        where = "local bundle" if not origin.get("notice") else str(origin["notice"])
    encoder = (bundle.config.get("encoder") or {}).get("type", "?")
    method = (bundle.config.get("clustering") or {}).get("method") or bundle.config.get("method") or "?"
    line = f"Serving {bundle.n_items} pieces · {bundle.n_clusters} styles · encoder `{encoder}` · {where}"
    if origin.get("notice") and origin.get("repo_id"):
        line += f" · ⚠️ {origin['notice']}"
    return line + (f" · clustering `{method}`" if method != "?" else "")


def user_key(oauth_username: str | None, browser_id: str | None, session_hash: str | None) -> str:
    """The id ratings are stored under: signed-in user, else this browser, else this connection."""
    if oauth_username:
        return f"hf:{oauth_username}"[:128]
    if browser_id:
        return f"browser:{browser_id}"[:128]
    if session_hash:
        return f"session:{session_hash}"[:128]
    raise ValueError("no identity: sign in, or allow this site to keep a browser id")


BROWSER_ID_HEX, SIGNATURE_HEX = 32, 16  # a random id and the first 64 bits of its HMAC-SHA256


def browser_secret(directory: str | Path | None = None) -> bytes:
    """The server-side key that signs anonymous browser ids: ``$JEWELREC_SECRET``, else a random key kept in
    ``DATA_DIR/browser-id.key`` (created on first use, owner-only), so ids stay valid across restarts."""
    import secrets

    if os.environ.get("JEWELREC_SECRET"):
        return os.environ["JEWELREC_SECRET"].encode()
    path = Path(directory or data_dir()) / "browser-id.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _signature(random_id: str, secret: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(secret, random_id.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def verify_browser_id(token: str | None, secret: bytes) -> str | None:
    """``token`` when this server minted it (its signature checks out), else None: a client cannot make up, or
    copy in by hand, an id it was not given."""
    import hmac

    if not isinstance(token, str) or len(token) != BROWSER_ID_HEX + SIGNATURE_HEX:
        return None
    random_id, signature = token[:BROWSER_ID_HEX], token[BROWSER_ID_HEX:]
    if not all(c in "0123456789abcdef" for c in token):
        return None
    return token if hmac.compare_digest(signature, _signature(random_id, secret)) else None


def new_browser_id(current: str | None, secret: bytes) -> str:
    """Keep a valid signed id; otherwise mint a random one (never derived from anything about the user)."""
    if verify_browser_id(current, secret):
        return current
    random_id = uuid.uuid4().hex
    return random_id + _signature(random_id, secret)


@dataclass
class SpaceService:
    """Everything loaded once at start: bundle, recommender, encoder, rating store, report figures."""

    bundle: Bundle
    recommender: Recommender
    store: RatingStore
    origin: dict[str, Any]
    secret: bytes = b""  # signs anonymous browser ids (browser_secret); set by start()

    @classmethod
    def start(cls, bundle: Bundle, origin: dict[str, Any], store: RatingStore | None = None) -> SpaceService:
        encoder = None
        if bundle.encoder_dir is not None:
            from jewelrec.encoders import load_encoder

            encoder = load_encoder(bundle.encoder_dir)
        store = store or RatingStore.open(known_items=set(bundle.item_ids))
        if store.known_items is None:
            store.known_items = set(bundle.item_ids)
        return cls(bundle, Recommender(bundle, encoder=encoder), store, origin, secret=browser_secret())

    def __post_init__(self) -> None:
        self.styles = self.recommender.cluster_names  # computed once, by the recommender
        self.names = self.recommender.names  # one naming rule: the recommender's reasons use the same names
        self.thumbnail = lru_cache(maxsize=4096)(self._thumbnail)
        self._told_gone: set[str] = set()  # users already told (in the log) that some ratings left the catalog

    # -- presentation helpers ------------------------------------------------------------------------
    def _thumbnail(self, row: int) -> Image.Image:
        items = self.bundle.items
        raw = items["thumbnail"].iat[row] if "thumbnail" in items.columns else None
        if raw is None or len(raw) == 0:
            return Image.new("RGB", (64, 64), (238, 234, 228))
        return Image.open(io.BytesIO(raw)).convert("RGB")

    def details(self, row: int) -> str:
        items, parts = self.bundle.items, []
        for col in ("category", "metal", "gemstone"):
            if col in items.columns and str(items[col].iat[row]).lower() not in ("none", "nan", ""):
                parts.append(str(items[col].iat[row]))
        if "price" in items.columns and pd.notna(items["price"].iat[row]):
            parts.append(f"${float(items['price'].iat[row]):,.0f}")
        return " · ".join(parts)

    def cards(self, hits: list[tuple]) -> tuple[list[Card], pd.DataFrame]:
        """``[(item_id, score[, why])]`` → gallery cards and a details table."""
        cards, rows = [], []
        for hit in hits:
            item_id, score, why = hit[0], float(hit[1]), (hit[2] if len(hit) > 2 else "")
            row = self.bundle.index_of(item_id)
            caption = f"{self.names[row]} — {self.details(row)} · match {score:.2f}"
            cards.append((self.thumbnail(row), caption + (f" · {why}" if why else "")))
            rows.append([item_id, self.names[row], self.details(row), round(score, 3), why])
        return cards, pd.DataFrame(rows, columns=DETAIL_COLUMNS)

    def card_html(self, hits: list[tuple[str, float, str]]) -> str:
        """Product cards (thumbnail inlined as a data URI, so no file path or URL is exposed)."""
        items, cards = self.bundle.items, []
        top = max((abs(h[1]) for h in hits), default=1.0) or 1.0
        for item_id, score, why in hits:
            row = self.bundle.index_of(item_id)
            raw = items["thumbnail"].iat[row] if "thumbnail" in items.columns else None
            image = (f"<img src='data:image/jpeg;base64,{base64.b64encode(raw).decode()}' alt=''>"
                     if raw is not None and len(raw) else "<div class='jr-noimg'>◆</div>")
            width = max(4, min(100, round(100 * score / top)))
            name = html.escape(self.names[row])
            cards.append(  # a button to keyboards and screen readers: Enter/Space open it in Similar
                f"<div class='jr-card' data-item='{html.escape(item_id)}' role='button' tabindex='0' "
                f"title='{name}: more like this' aria-label='{name}: open in Similar'>{image}<div class='jr-body'>"
                f"<div class='jr-name'>{name}</div>"
                f"<div class='jr-meta'>{html.escape(self.details(row))}</div>"
                f"<div class='jr-why'>{html.escape(why)}</div>"
                f"<div class='jr-score' title='match score {score:.2f}'><span style='width:{width}%'></span></div>"
                f"<div class='jr-num'>match {score:.2f}</div></div></div>")
        return "<div class='jr-grid'>" + "".join(cards) + "</div>"

    def choices(self) -> list[tuple[str, str]]:
        """(label, item_id) pairs for a piece picker."""
        return [(f"{name} ({item_id})", item_id) for name, item_id in zip(self.names, self.bundle.item_ids)]

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
        """Save a rating; returns a short confirmation. Raises ValueError (RatingError) for a bad one."""
        self.store.rate(user_id, item_id, stars)
        n = len(self.store.ratings(user_id))
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

    def for_you(self, user_id: str, k: int = 8) -> tuple[str, pd.DataFrame, str]:
        """(product cards HTML, details table, headline) for a user's current ratings."""
        ratings, gone = self.current_ratings(user_id)
        hits = self.recommender.recommend(ratings, k=k)
        cards, table = self.card_html(hits), self.cards(hits)[1]
        if not ratings:
            note = ("**Nothing rated yet** — these are signature pieces of each style. Rate a few pieces on the "
                    "*Rate* tab and this page learns what you like.")
        else:
            note = f"Picked for you from your **{len(ratings)}** rating{'s' * (len(ratings) != 1)}."
        if gone:
            note += f" ({gone} earlier rating{'s' * (gone != 1)} of pieces no longer in this catalog are kept, not used.)"
        return cards, table, note

    def similar(self, item_id: str, k: int = 8) -> tuple[list[Card], pd.DataFrame]:
        if not item_id:
            raise ValueError("pick a piece first (click one in any gallery, or choose it from the list)")
        return self.cards(self.recommender.similar(str(item_id), k=k))

    @property
    def can_embed_uploads(self) -> bool:
        return self.recommender.encoder is not None

    @property
    def has_text(self) -> bool:
        return bool(getattr(self.recommender.encoder, "has_text", False))

    def similar_to_upload(self, image: Image.Image | str | Path | bytes | None,
                          k: int = 8) -> tuple[list[Card], pd.DataFrame]:
        """Pieces like an uploaded photo (a path, raw bytes, or an already-decoded image). A file is checked with
        the catalog's own rules — an image format, at most 40 Mpx — *before* it is decoded, so a small
        decompression bomb costs a header read, not gigabytes."""
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
        return self.cards(self.recommender.nearest(vector, k=k))

    def search(self, text: str, k: int = 8) -> tuple[list[Card], pd.DataFrame]:
        return self.cards(self.recommender.search(text, k=k))

    # -- explore -------------------------------------------------------------------------------------
    def style_map(self) -> pd.DataFrame:
        """One row per item: 2-D coordinates, style name and hover text; ``image`` (a small JPEG data URI, which
        the map's tooltip shows as a picture) while the catalog has at most ``HOVER_IMAGES_MAX`` pieces."""
        xy = self.bundle.coords2d  # (n, 2)
        table = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "style": [self.styles[c] for c in self.bundle.labels],
                              "piece": self.names, "item_id": self.bundle.item_ids})
        if "thumbnail" in self.bundle.items.columns and self.bundle.n_items <= HOVER_IMAGES_MAX:
            table["image"] = [_hover_image(raw) for raw in self.bundle.items["thumbnail"]]
        return table

    def map_pieces(self, x_min: float | None, x_max: float | None,
                   k: int = MAP_PIECES) -> tuple[list[Card], pd.DataFrame, str]:
        """Pieces in a band ``x_min <= x <= x_max`` of the style map (what dragging across the map selects):
        gallery cards, a table (``MAP_COLUMNS``) and a headline. More than ``k`` pieces are thinned evenly from
        the top of the band to the bottom, so the gallery still spans it."""
        try:
            band = np.asarray([x_min, x_max], dtype=np.float64)  # (2,)
        except (TypeError, ValueError):
            band = np.full(2, np.nan)
        if not np.isfinite(band).all():
            raise ValueError("drag across the style map to choose a band of it (x_min and x_max are numbers)")
        if not 1 <= int(k) <= 200:
            raise ValueError(f"k must be from 1 to 200, got {k}")
        lo, hi = sorted((float(x_min), float(x_max)))
        xy = self.bundle.coords2d  # (n, 2)
        inside = np.flatnonzero((xy[:, 0] >= lo) & (xy[:, 0] <= hi))  # (m,)
        inside = inside[np.argsort(-xy[inside, 1], kind="stable")]  # top of the map first
        spread = np.linspace(0, max(len(inside) - 1, 0), min(int(k), len(inside))).round().astype(int)
        rows = inside[np.unique(spread)]  # (<= k,)
        cards = [(self.thumbnail(int(r)), f"{self.names[r]} — {self.styles[self.bundle.labels[r]]}") for r in rows]
        table = pd.DataFrame([[self.bundle.item_ids[r], self.names[r], self.details(int(r)),
                               self.styles[self.bundle.labels[r]]] for r in rows], columns=MAP_COLUMNS)
        if not len(inside):
            return cards, table, f"No pieces between x = {lo:.2f} and {hi:.2f}; drag across a wider part of the map."
        note = f"**{len(inside)}** piece{'s' * (len(inside) != 1)} between x = {lo:.2f} and {hi:.2f}"
        if len(inside) > len(rows):
            note += f" — {len(rows)} shown, spread over the band; drag a narrower band to see them all"
        return cards, table, note + ". Click one to see more like it."

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

    def style_heatmap(self, user_id: str):
        """Matplotlib figure: one cell per style coloured by the user's average stars."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        table = self.style_stars(user_id)
        fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(table)), 1.9))
        values = table["avg_stars"].to_numpy()[None, :]  # (1, k)
        ax.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=1, vmax=5, aspect="auto")
        for c, (v, n) in enumerate(zip(table["avg_stars"], table["rated"])):
            ax.text(c, 0, "–" if n == 0 else f"{v:.1f}★\n({n})", ha="center", va="center", fontsize=9)
        ax.set_xticks(range(len(table)), [s.replace(" ", "\n", 1) for s in table["style"]], fontsize=8)
        ax.set_yticks([])
        ax.set_title("Your average stars per style", fontsize=10)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def report_figures(self) -> list[Card]:
        """The fit report's PNGs, read once into memory (no file paths reach the browser)."""
        directory = self.bundle.report_dir
        if directory is None:
            return []
        figures = []
        for png in sorted(directory.glob("*.png")):
            with Image.open(png) as image:
                figures.append((image.convert("RGB"), png.stem.replace("_", " ")))
        return figures


def _hover_image(raw: bytes | None, size: int = 80) -> str:
    """A thumbnail as a small JPEG data URI for the map's tooltip ("" when the piece has no picture)."""
    if raw is None or len(raw) == 0:
        return ""
    with Image.open(io.BytesIO(raw)) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much cheaper than full size
        small = image.convert("RGB")
    small.thumbnail((size, size))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()
