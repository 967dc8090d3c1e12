"""The Gradio layout: one function per tab, thin wrappers turning handler errors into ``gr.Error``.

Identity per request: the Hugging Face OAuth username when signed in (Spaces with ``hf_oauth``), else the
per-browser random id kept in ``gr.BrowserState`` (survives reloads), else the connection's session hash
(API clients). No per-user state lives in module globals.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd
from starlette.middleware import Middleware

from jewelrec.space import views
from jewelrec.space.bundle_source import origin_text
from jewelrec.space.env_settings import env_number
from jewelrec.space.identity import browser_state_key, new_browser_id, user_key, verify_browser_id
from jewelrec.space.page_assets import CARDS_JS, CSS, HEAD, MAP_JS
from jewelrec.space.rating_checks import RatingStoreBusy, RatingStoreError
from jewelrec.space.service import DETAIL_COLUMNS, PICKER_MAX, SpaceService

SLOTS = 8  # pieces on the Rate grid at once: enough to span the styles, few enough to rate in a minute
CHEAP = None  # numpy-only events: no concurrency cap, they must not wait behind each other
ENCODER_LIMIT = 2  # events that run the encoder: CPU-heavy, cap them

log = logging.getLogger(__name__)


def launch_kwargs(data_dir: str | os.PathLike) -> dict[str, Any]:
    """The security-relevant launch settings, shared by ``python app.py``, the tests and the benchmark."""
    return dict(server_name="127.0.0.1", server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                allowed_paths=[], blocked_paths=[str(data_dir)], max_file_size="8mb", show_error=False,
                theme=gr.themes.Soft(primary_hue="rose", neutral_hue="stone"), css=CSS, head=HEAD,
                footer_links=["api"], ssr_mode=False,
                app_kwargs={"middleware": [Middleware(SecurityHeaders)]})


def _unopened_path(payload) -> str | None:
    """Preprocess for the upload box: the uploaded file's path, not opened. gradio's own opens every upload with
    Pillow, so a non-image failed there with a generic error; the handler validates the file (format, size) and
    says what is wrong. (Set on the instance: a gr.Image subclass would make gradio write a .pyi stub beside
    this module at import.)"""
    return None if payload is None or payload.path is None else str(payload.path)


def _sent_id(payload):
    """Preprocess for the Similar picker: what was sent, unchecked. gradio's own refuses a value outside the
    choices by echoing it and the whole id list; the handler answers "unknown item id" with the id cut short.
    (Not ``allow_custom_value``: that would make text typed to filter the list a value on blur.)"""
    return payload


class SecurityHeaders:
    """ASGI middleware: headers a Space can carry without breaking gradio — no MIME sniffing, no referrer leaks,
    and framing only by the Space's own page on huggingface.co (``frame-ancestors``)."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin"),
               (b"content-security-policy",
                b"frame-ancestors 'self' https://huggingface.co https://*.huggingface.co https://*.hf.space")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in self.HEADERS if k not in names]]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _user(service: SpaceService, browser_id: str | None, request: gr.Request | None,
          profile: gr.OAuthProfile | None) -> str:
    """``profile`` is gradio's injected ``gr.OAuthProfile``: None when signed out, without OAuth, or when the
    login has expired (gradio checks the token's expiry; reading the session by hand would not). A browser id
    counts only when this server signed it."""
    valid = verify_browser_id(browser_id, service.secret)
    return user_key(profile.username if profile is not None else None, valid, getattr(request, "session_hash", None))


def _guard(fn, *, writes: bool = False):
    """Handler errors a user can fix become a gr.Error with the message; nothing else leaks to the browser. A
    ratings database that cannot be used is the operator's to fix: the shopper is told to retry (when it was only
    busy) or later — and, for a handler that ``writes``, that nothing was saved —, the log gets the path and the
    fix."""
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (RatingStoreError, sqlite3.Error) as exc:
            log.error("ratings database: %s", exc)
            busy = isinstance(exc, RatingStoreBusy)
            if writes:
                shown = ("Ratings are busy right now: this one was not saved — please try again in a moment." if busy
                         else "Ratings are unavailable right now: nothing was saved. Please try again later.")
            else:
                shown = ("Ratings are busy right now — please try again in a moment." if busy
                         else "Ratings are unavailable right now. Please try again later.")
            raise gr.Error(shown, print_exception=False) from None
        except KeyError as exc:  # str() of a KeyError quotes its message: show the message itself
            raise gr.Error(str(exc.args[0]) if exc.args else "not found", print_exception=False) from None
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    wrapped.__annotations__ = getattr(fn, "__annotations__", {})
    return wrapped


def _or_notice(call: Callable[[], Any], fallback: Callable[[str], Any]) -> Any:
    """``call()``, or — when it raises a gr.Error (ratings unavailable) — a toast and ``fallback(message)``: a part
    of the page that reads the shopper's ratings says why it is empty, and the rest of the page still loads."""
    try:
        return call()
    except gr.Error as err:
        gr.Warning(err.message)
        return fallback(err.message)


def _for_you_or_notice(service: SpaceService, user: str) -> tuple[str, pd.DataFrame, str]:
    """For you's (cards, table, note), or an empty tab whose note says why."""
    return _or_notice(lambda: _guard(service.for_you)(user),
                      lambda message: ("", pd.DataFrame(columns=DETAIL_COLUMNS), f"**{message}**"))


MAX_K = 100  # a page of picks, not the catalog: bounds the work one API call can ask for


def _k(value: Any) -> int:
    """An API ``k``: a whole number 1..MAX_K, else a gr.Error saying so (``null``, "ten", 1e9, NaN, Infinity …).
    The range is checked before ``int()``: NaN and ±inf fail it instead of raising inside the conversion."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= MAX_K or value != int(value):
        try:
            shown = str(value)[:20]
        except ValueError:  # an int too long to print
            shown = "a number too big to show"
        raise gr.Error(f"k must be a whole number from 1 to {MAX_K}, got {shown!r}", print_exception=False)
    return int(value)


def _item_id(value: Any, service: SpaceService) -> str:
    text = "" if value is None else str(value)
    if len(text) > service.id_limit:  # past the catalog's longest id: no piece, and no need to look
        raise gr.Error(f"item id is longer than {service.id_limit} characters (no piece has such an id)",
                       print_exception=False)
    return text


MAX_QUERY = 500  # characters of a search query used (the Search box itself stops at 200)


def _query(value: Any) -> str:
    """Search text as the handler takes it: a string (None is ""), at most MAX_QUERY characters; a raw-API client
    sending a list or a number gets a message (str() made "['ring']" a search for unknown words)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise gr.Error(f"search text must be a string, e.g. \"rose gold ring\", got {type(value).__name__}",
                       print_exception=False)
    return value[:MAX_QUERY]


def _event(evt: gr.EventData | None) -> dict[str, Any]:
    """The payload a page script sent with its event ({} when it sent none or not an object: gr.EventData's own
    attribute lookup fails with a TypeError then)."""
    data = getattr(evt, "_data", None)
    return data if isinstance(data, dict) else {}


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.to_dict(orient="records")


def build_demo(service: SpaceService) -> gr.Blocks:
    # uploads are used once and then only clutter the disk: gradio deletes cached files older than ttl, every ttl
    ttl = int(env_number("JEWELREC_UPLOAD_TTL", 3600, int, minimum=1, inclusive=True))  # s an upload is kept
    with gr.Blocks(title="jewelrec · find your style", delete_cache=(ttl, ttl)) as demo:
        # a key of this Space's own, the same after a restart: the browser can read its id back (gradio's random
        # default changed with every process, and every anonymous shopper lost their ratings on a redeploy)
        browser_id = gr.BrowserState(None, storage_key="jewelrec-browser-id", secret=browser_state_key(service.secret))
        gr.HTML("<div id='hero'><h1>◆ jewelrec</h1><p>Rate a few pieces and we'll learn your style — "
                "then browse pieces like the ones you love.</p></div>")
        if os.environ.get("OAUTH_CLIENT_ID"):  # set by Spaces when hf_oauth is on (space.yaml)
            gr.LoginButton()
        with gr.Tabs(elem_id="tabs") as tabs:
            rate = _rate_tab(service, browser_id)
            foryou = _for_you_tab()
            similar = _similar_tab(service)
            search = _search_tab(service)
            explore = _explore_tab(service, browser_id)
        _wire_rating(service, rate, foryou, browser_id)
        for cards in (foryou["cards"], rate["cards"], similar["cards"], search["cards"], explore["guide"],
                      explore["map"]):
            _wire_open(service, cards, similar, tabs)
        gr.Markdown(origin_text(service.origin, service.bundle), elem_id="footer")

        def start(stored: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
            fresh = new_browser_id(stored, service.secret)
            user = _user(service, fresh, request, profile)
            return fresh, *_for_you_or_notice(service, user)  # the signed browser id is kept whatever happens

        demo.load(start, [browser_id], [browser_id, foryou["cards"], foryou["table"], foryou["note"]],
                  api_name="start", concurrency_limit=CHEAP).then(
            rate["show"], rate["inputs"], rate["outputs"], api_name="first_grid", concurrency_limit=CHEAP)
        _api(service)
    return demo


def _for_you_tab() -> dict[str, Any]:
    with gr.Tab("For you", id="foryou"):
        note = gr.Markdown(elem_id="foryou-note")
        cards = gr.HTML(elem_id="foryou-cards", js_on_load=CARDS_JS)
        with gr.Accordion("Why these pieces", open=False):
            table = gr.Dataframe(headers=DETAIL_COLUMNS, interactive=False, wrap=True)
    return {"note": note, "cards": cards, "table": table}


def _rate_tab(service: SpaceService, browser_id: gr.BrowserState) -> dict[str, Any]:
    with gr.Tab("Rate", id="rate"):
        gr.Markdown("Tap the stars under each piece — every rating is saved instantly and updates **For you**.")
        slot_ids = gr.State([])
        saved = gr.State({})  # {item_id: stars} saved on the cards shown: what a failed save puts back
        cards = gr.HTML(elem_id="rate-cards", js_on_load=CARDS_JS)
        with gr.Row():
            others = gr.Button("Show me others", variant="secondary", scale=0, min_width=160)
            status = gr.Markdown(elem_id="rate-status")
        page = gr.State(0)

        def show(page_no: int, stored: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
            user = _user(service, stored, request, profile)
            ids, cards = _or_notice(lambda: _guard(service.rate_grid)(user, page_no, SLOTS),
                                    lambda message: ([], views.grid([], message)))
            return ids, cards, {}

        def next_page(page_no: int) -> int:
            return page_no + 1

        others.click(next_page, page, page, api_name="next_page", concurrency_limit=CHEAP).then(
            show, [page, browser_id], [slot_ids, cards, saved], api_name="rate_grid", concurrency_limit=CHEAP)
        return {"show": show, "inputs": [page, browser_id], "outputs": [slot_ids, cards, saved], "cards": cards,
                "status": status, "slot_ids": slot_ids, "saved": saved}


def _wire_rating(service: SpaceService, rate: dict[str, Any], foryou: dict[str, Any],
                 browser_id: gr.BrowserState) -> None:
    """A star on a Rate card saves the rating and refreshes For you (the star itself lit up in the browser). A save
    that fails puts the Rate cards back as they were saved — no star stays lit for a rating that is not stored —
    and says why, in a toast and under the cards."""
    def rate_card(evt: gr.EventData, stored: str | None, shown: list[str] | None, saved: dict[str, int] | None,
                  request: gr.Request, profile: gr.OAuthProfile | None):
        item_id, stars = _event(evt).get("item_id"), _event(evt).get("stars")  # sent by CARDS_JS
        if not isinstance(item_id, str) or not service.bundle.has_item(item_id):
            raise gr.Error("that piece is no longer listed; press 'Show me others'", print_exception=False)
        user = _user(service, stored, request, profile)
        saved = dict(saved or {})
        try:
            message = _guard(service.rate, writes=True)(user, item_id, stars)
        except gr.Error as failed:
            gr.Warning(failed.message)
            # a fresh comment makes every put-back a new value: gradio leaves the page alone when the HTML equals
            # the last it sent, and the stars lit since then are the browser's alone
            cards = f"<!-- put back {time.monotonic_ns()} -->" + service.rate_cards(list(shown or []), saved)
            return f"Not saved: {failed.message}", gr.skip(), gr.skip(), gr.skip(), cards, gr.skip()
        saved[item_id] = int(stars)
        return message, *_for_you_or_notice(service, user), gr.skip(), saved  # saved, even if For you cannot show

    rate["cards"].submit(rate_card, [browser_id, rate["slot_ids"], rate["saved"]],
                         [rate["status"], foryou["cards"], foryou["table"], foryou["note"], rate["cards"],
                          rate["saved"]],
                         api_visibility="private", concurrency_limit=CHEAP, show_progress="hidden")


def _similar_tab(service: SpaceService) -> dict[str, Any]:
    with gr.Tab("Similar", id="similar"):
        gr.Markdown("Pick a piece — or click any piece on this page — to see the closest matches.")
        with gr.Row(equal_height=True):
            picker = gr.Dropdown(service.choices(), value=None, label="Piece", scale=4, min_width=200,
                                 filterable=True, elem_id="similar-picker")
            upload = gr.UploadButton("Upload a photo", file_types=["image"], type="filepath", scale=1,
                                     min_width=160, visible=service.can_embed_uploads, elem_id="similar-upload")
            upload.preprocess = _unopened_path
            picker.preprocess = _sent_id
        query = gr.HTML(elem_id="similar-query")
        cards = gr.HTML(elem_id="similar-cards", js_on_load=CARDS_JS)
        with gr.Accordion("Details", open=False):
            table = gr.Dataframe(headers=DETAIL_COLUMNS, interactive=False, wrap=True)

    def similar_ui(item_id: str | None):
        if not item_id:  # cleared (after an upload): keep what is shown
            return gr.skip(), gr.skip(), gr.skip()
        return _guard(service.similar)(_item_id(item_id, service))

    def similar_upload(path: str | None):
        return *_guard(service.similar_to_upload)(path), gr.update(value=None)

    picker.change(similar_ui, picker, [query, cards, table], api_name="similar_ui", concurrency_limit=CHEAP)
    upload.upload(similar_upload, upload, [query, cards, table, picker], api_name="similar_upload",
                  concurrency_limit=ENCODER_LIMIT)
    return {"picker": picker, "cards": cards}


def _search_tab(service: SpaceService) -> dict[str, Any]:
    with gr.Tab("Search", id="search"):
        if not service.has_text:
            kind = (service.bundle.config.get("encoder") or {}).get("type", "this")
            gr.Markdown(f"**Text search is not available for this catalog.** Its `{kind}` image encoder has no "
                        "text tower, so words cannot be matched to pictures. Bundles fitted with "
                        "`--encoder clip` or `catalog-clip` support it; meanwhile try **Similar** or **Explore**.")
        with gr.Row(equal_height=True):
            query = gr.Textbox(label="Describe a piece", placeholder="rose gold ring with a ruby", scale=4,
                               min_width=200, interactive=service.has_text, max_length=200)
            go = gr.Button("Search", variant="primary", scale=1, min_width=100, interactive=service.has_text)
        cards = gr.HTML(elem_id="search-cards", js_on_load=CARDS_JS)
        with gr.Accordion("Details", open=False):
            table = gr.Dataframe(headers=DETAIL_COLUMNS, interactive=False, wrap=True)

    def search_ui(text: str | None):
        return _guard(service.search)(_query(text))

    gr.on([go.click, query.submit], search_ui, query, [cards, table], api_name="search_ui",
          concurrency_limit=ENCODER_LIMIT)
    return {"cards": cards}


def _explore_tab(service: SpaceService, browser_id: gr.BrowserState) -> dict[str, Any]:
    with gr.Tab("Explore", id="explore") as tab:
        gr.Markdown("The catalog's **styles**: every dot is a piece, placed near pieces that look alike and "
                    "coloured by style. Pick a style to see what defines it; hover a dot to see the piece, click "
                    "it for more like it.")
        def hover(item_id: str) -> str:  # gradio marks a server function on the function itself: not a method
            return service.hover(item_id)

        style_map = gr.HTML(elem_id="style-map", js_on_load=MAP_JS, server_functions=[hover])
        map_sent = gr.State(False)  # this page has the map already: opening the tab again sends nothing
        guide = gr.HTML(elem_id="style-guide", js_on_load=CARDS_JS)
        with gr.Accordion("How the styles were found (fit report)", open=False):
            report = gr.HTML(elem_id="fit-report")

    def opened(sent: bool, stored: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        user = _user(service, stored, request, profile)
        guide = _or_notice(lambda: _guard(service.style_guide)(user),  # the shopper's stars change
                           lambda message: views.notes([message.rstrip(".")]))
        if sent:
            return gr.skip(), guide, gr.skip(), True
        return service.map_html, guide, service.report_html, True

    def pick_style(evt: gr.EventData, stored: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        style = _event(evt).get("style")  # sent by MAP_JS
        if style is None:
            raise gr.Error("pick a style: click one of the chips above the map", print_exception=False)
        return _guard(service.style_guide)(_user(service, stored, request, profile), style)

    # built when the tab opens, for the shopper who opens it: the first page load carries none of it
    tab.select(opened, [map_sent, browser_id], [style_map, guide, report, map_sent], api_visibility="private",
               concurrency_limit=CHEAP)
    style_map.submit(pick_style, [browser_id], guide, api_visibility="private", concurrency_limit=CHEAP)
    return {"guide": guide, "map": style_map}


def _wire_open(service: SpaceService, cards: gr.HTML, similar: dict[str, Any], tabs: gr.Tabs) -> None:
    """A piece clicked anywhere (a card, Enter on it, "More like this", a dot on the map) opens in Similar."""
    def open_card(evt: gr.EventData):
        item_id = _event(evt).get("item_id")  # sent by CARDS_JS / MAP_JS
        if not isinstance(item_id, str) or not service.bundle.has_item(item_id):
            raise gr.Error("that piece is no longer listed; refresh the page", print_exception=False)
        if service.bundle.n_items > PICKER_MAX:  # a big catalog's picker lists only some pieces: add this one
            return gr.update(choices=service.choices(include=item_id), value=item_id), gr.Tabs(selected="similar")
        return gr.update(value=item_id), gr.Tabs(selected="similar")

    cards.click(open_card, None, [similar["picker"], tabs], api_visibility="private", concurrency_limit=CHEAP)


def _api(service: SpaceService) -> None:
    """JSON endpoints for programmatic clients (identity: the client's session)."""
    def rate(item_id: str, stars: int, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        """Rate one piece 1–5 for this session's user."""
        return _guard(service.rate, writes=True)(_user(service, None, request, profile), _item_id(item_id, service), stars)

    def recommend(k: int, request: gr.Request, profile: gr.OAuthProfile | None) -> list[dict[str, Any]]:
        """Top-k picks for this session's user: [{item_id, name, details, score, why}]; ``score`` is the
        "match" the Space shows on each card."""
        return _records(_guard(service.for_you)(_user(service, None, request, profile), _k(k))[1])

    def my_ratings(request: gr.Request, profile: gr.OAuthProfile | None) -> dict[str, int]:
        """This session's ratings {item_id: stars}."""
        return _guard(service.my_ratings)(_user(service, None, request, profile))

    def similar(item_id: str, k: int) -> list[dict[str, Any]]:
        """The k nearest pieces to item_id."""
        return _records(_guard(service.similar)(_item_id(item_id, service), _k(k))[2])

    def also_loved(item_id: str, k: int) -> list[dict[str, Any]]:
        """Pieces at least 5 distinct shoppers loved together with item_id (aggregate co-ratings only; [] without
        such evidence): [{item_id, name, details, score, why}]."""
        return _records(service.table(_guard(service.also_loved)(_item_id(item_id, service), _k(k))))

    def search(text: str, k: int) -> list[dict[str, Any]]:
        """Pieces matching a text query (bundles whose encoder has a text tower)."""
        return _records(_guard(service.search)(_query(text), _k(k))[1])

    def map_pieces(x_min: float, x_max: float) -> list[dict[str, Any]]:
        """Up to 12 pieces whose style-map x coordinate lies in [x_min, x_max]: [{item_id, name, details, style}]."""
        return _records(_guard(service.map_pieces)(x_min, x_max)[0])

    gr.api(rate, api_name="rate", concurrency_limit=CHEAP)
    gr.api(recommend, api_name="recommend", concurrency_limit=CHEAP)
    gr.api(my_ratings, api_name="my_ratings", concurrency_limit=CHEAP)
    gr.api(similar, api_name="similar", concurrency_limit=CHEAP)
    gr.api(also_loved, api_name="also_loved", concurrency_limit=CHEAP)
    gr.api(search, api_name="search", concurrency_limit=ENCODER_LIMIT)
    gr.api(map_pieces, api_name="map_pieces", concurrency_limit=CHEAP)
