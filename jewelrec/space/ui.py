"""The Gradio layout: one function per tab, thin wrappers turning handler errors into ``gr.Error``.

Identity per request: the Hugging Face OAuth username when signed in (Spaces with ``hf_oauth``), else the
per-browser random id kept in ``gr.BrowserState`` (survives reloads), else the connection's session hash
(API clients). No per-user state lives in module globals.
"""

from __future__ import annotations

import os
from typing import Any

import gradio as gr
import pandas as pd
from starlette.middleware import Middleware

from jewelrec.space.ratings import MAX_ID_LEN
from jewelrec.space.service import (
    DETAIL_COLUMNS,
    MAP_COLUMNS,
    SpaceService,
    new_browser_id,
    origin_text,
    user_key,
    verify_browser_id,
)

SLOTS = 8  # pieces on the Rate grid at once: enough to span the styles, few enough to rate in a minute
STAR_CHOICES = [("★", 1), ("★★", 2), ("★★★", 3), ("★★★★", 4), ("★★★★★", 5)]
CHEAP = None  # numpy-only events: no concurrency cap, they must not wait behind each other
ENCODER_LIMIT = 2  # events that run the encoder: CPU-heavy, cap them

# For you's product cards are one gr.HTML: a click (or Enter/Space on a focused card) anywhere on a card sends
# that card's item id to the server as the HTML component's "click" event data. Delegated from the component's
# root, so it keeps working when the cards are re-rendered with new picks.
OPEN_CARD_JS = """
const open = (event) => {
  const card = event.target.closest('[data-item]');
  if (!card || !element.contains(card)) return;
  if (event.type === 'keydown') {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
  }
  trigger('click', {item_id: card.dataset.item});
};
element.addEventListener('click', open);
element.addEventListener('keydown', open);
"""

CSS = """
.gradio-container {max-width: 1180px !important; margin: auto;}
#hero h1 {font-size: 2.1rem; margin-bottom: 0; letter-spacing: -0.02em;}
#hero p {color: var(--body-text-color-subdued); margin-top: .2rem;}
.piece-card {border: 1px solid var(--border-color-primary); border-radius: 14px; padding: 8px;
             background: var(--background-fill-primary); box-shadow: 0 1px 3px rgba(0,0,0,.06);}
.piece-card .piece-name p {font-weight: 600; margin: 4px 0 0 0; font-size: .92rem;}
.piece-card .piece-meta p {color: var(--body-text-color-subdued); font-size: .8rem; margin: 0;}
.jr-grid {display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 14px;}
.jr-card {border: 1px solid var(--border-color-primary); border-radius: 14px; overflow: hidden; cursor: pointer;
          background: var(--background-fill-primary); box-shadow: 0 1px 4px rgba(0,0,0,.07);
          transition: box-shadow .15s, transform .15s;}
.jr-card:hover, .jr-card:focus-visible {box-shadow: 0 4px 14px rgba(0,0,0,.14); transform: translateY(-2px);}
.jr-card:focus-visible {outline: 2px solid var(--primary-500); outline-offset: 2px;}
.piece-card .more-like {margin-top: 4px;}
.jr-card img, .jr-noimg {width: 100%; aspect-ratio: 1; object-fit: cover; display: block; background: #f4f1ec;}
.jr-noimg {display: flex; align-items: center; justify-content: center; font-size: 2rem; color: #c9b8a6;}
.jr-body {padding: 10px 12px 12px;}
.jr-name {font-weight: 600; font-size: .95rem; line-height: 1.25;}
.jr-meta {color: var(--body-text-color-subdued); font-size: .8rem; margin-top: 2px;}
.jr-why {font-size: .8rem; margin-top: 6px; font-style: italic;}
.jr-score {height: 5px; border-radius: 3px; background: var(--neutral-200); margin-top: 8px; overflow: hidden;}
.jr-score span {display: block; height: 100%; background: var(--primary-500);}
.jr-num {font-size: .7rem; color: var(--body-text-color-subdued); margin-top: 3px;}
#footer {font-size: .8rem; color: var(--body-text-color-subdued); text-align: center; margin-top: 1rem;}
"""


def launch_kwargs(data_dir: str | os.PathLike) -> dict[str, Any]:
    """The security-relevant launch settings, shared by ``python app.py``, the tests and the benchmark."""
    return dict(server_name="127.0.0.1", server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                allowed_paths=[], blocked_paths=[str(data_dir)], max_file_size="8mb", show_error=False,
                theme=gr.themes.Soft(primary_hue="rose", neutral_hue="stone"), css=CSS,
                footer_links=["api"], ssr_mode=False,
                app_kwargs={"middleware": [Middleware(SecurityHeaders)]})


def _unopened_path(payload) -> str | None:
    """Preprocess for the upload box: the uploaded file's path, not opened. gradio's own opens every upload with
    Pillow, so a non-image failed there with a generic error; the handler validates the file (format, size) and
    says what is wrong. (Set on the instance: a gr.Image subclass would make gradio write a .pyi stub beside
    this module at import.)"""
    return None if payload is None or payload.path is None else str(payload.path)


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


def _guard(fn):
    """Handler errors a user can fix become a gr.Error with the message; nothing else leaks to the browser."""
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, KeyError) as exc:
            raise gr.Error(str(exc).strip("'\""), print_exception=False) from None
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    wrapped.__annotations__ = getattr(fn, "__annotations__", {})
    return wrapped


MAX_K = 100  # a page of picks, not the catalog: bounds the work one API call can ask for


def _k(value: Any) -> int:
    """An API ``k``: a whole number 1..MAX_K, else a gr.Error saying so (``null``, "ten", 1e9 …)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 1 <= value <= MAX_K:
        raise gr.Error(f"k must be a whole number from 1 to {MAX_K}, got {str(value)[:20]!r}", print_exception=False)
    return int(value)


def _item_id(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_ID_LEN:
        raise gr.Error(f"item id is longer than {MAX_ID_LEN} characters", print_exception=False)
    return text


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.to_dict(orient="records")


def build_demo(service: SpaceService) -> gr.Blocks:
    # uploads are used once and then only clutter the disk: gradio deletes cached files older than ttl, every ttl
    ttl = int(os.environ.get("JEWELREC_UPLOAD_TTL", "3600"))  # seconds an upload is kept in gradio's cache
    with gr.Blocks(title="jewelrec · find your style", delete_cache=(ttl, ttl)) as demo:
        browser_id = gr.BrowserState(None, storage_key="jewelrec-browser-id")
        gr.HTML("<div id='hero'><h1>◆ jewelrec</h1><p>Rate a few pieces and we'll learn your style — "
                "then browse pieces like the ones you love.</p></div>")
        if os.environ.get("OAUTH_CLIENT_ID"):  # set by Spaces when hf_oauth is on (space.yaml)
            gr.LoginButton()
        with gr.Tabs() as tabs:
            rate = _rate_tab(service, browser_id)
            foryou = _for_you_tab(service)
            similar = _similar_tab(service)
            search = _search_tab(service)
            explore = _explore_tab(service, browser_id)
        _wire_rating(service, rate, foryou, explore["heatmap"], browser_id)
        for source in (similar, search, explore):
            _wire_select(source["gallery"], source["table"], similar, tabs)
        _wire_open(service, foryou["gallery"], rate, similar, tabs)
        gr.Markdown(origin_text(service.origin, service.bundle), elem_id="footer")

        def start(stored: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
            fresh = new_browser_id(stored, service.secret)
            user = _user(service, fresh, request, profile)
            cards, table, note = service.for_you(user)
            return fresh, cards, table, note, service.style_heatmap(user)

        demo.load(start, [browser_id], [browser_id, foryou["gallery"], foryou["table"], foryou["note"],
                                        explore["heatmap"]], api_name="start", concurrency_limit=CHEAP).then(
            rate["show"], rate["inputs"], rate["outputs"], api_name="first_grid", concurrency_limit=CHEAP)
        _api(service)
    return demo


def _gallery(label: str, columns: int = 4, elem_id: str | None = None) -> gr.Gallery:
    return gr.Gallery(label=label, columns=columns, height="auto", object_fit="contain", allow_preview=False,
                      format="jpeg", elem_id=elem_id)


def _for_you_tab(service: SpaceService) -> dict[str, Any]:
    with gr.Tab("For you", id="foryou"):
        note = gr.Markdown(elem_id="foryou-note")
        gallery = gr.HTML(elem_id="foryou-cards", js_on_load=OPEN_CARD_JS)
        with gr.Accordion("Why these pieces", open=False):
            table = gr.Dataframe(headers=DETAIL_COLUMNS, interactive=False, wrap=True)
    return {"note": note, "gallery": gallery, "table": table}


def _rate_tab(service: SpaceService, browser_id: gr.BrowserState) -> dict[str, Any]:
    with gr.Tab("Rate", id="rate"):
        gr.Markdown("Tap the stars under each piece — every rating is saved instantly and updates **For you**.")
        slot_ids = gr.State([])
        images, names, metas, radios, more = [], [], [], [], []
        for row in range(0, SLOTS, 4):
            with gr.Row(equal_height=True):
                for _ in range(4):
                    with gr.Column(min_width=160, elem_classes="piece-card"):
                        images.append(gr.Image(show_label=False, interactive=False, height=170,
                                               buttons=[], container=False))
                        names.append(gr.Markdown(elem_classes="piece-name"))
                        metas.append(gr.Markdown(elem_classes="piece-meta"))
                        radios.append(gr.Radio(STAR_CHOICES, show_label=False, container=False,
                                               elem_classes="stars"))
                        more.append(gr.Button("More like this ›", size="sm", variant="secondary",
                                              elem_classes="more-like"))
        with gr.Row():
            others = gr.Button("Show me others", variant="secondary")
            status = gr.Markdown(elem_id="rate-status")
        page = gr.State(0)
        grid = images + names + metas + radios

        def show(page_no: int, stored: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
            user = _user(service, stored, request, profile)
            ids = service.rate_picks(user, page_no, SLOTS)
            rows = [service.bundle.index_of(i) for i in ids] + [None] * (SLOTS - len(ids))
            imgs = [service.thumbnail(r) if r is not None else None for r in rows]
            nms = [service.names[r] if r is not None else "" for r in rows]
            mts = [service.details(r) if r is not None else "" for r in rows]
            return [ids, *imgs, *nms, *mts, *([None] * SLOTS)]

        def next_page(page_no: int) -> int:
            return page_no + 1

        others.click(next_page, page, page, api_name="next_page", concurrency_limit=CHEAP).then(
            show, [page, browser_id], [slot_ids, *grid], api_name="rate_grid", concurrency_limit=CHEAP)
        return {"show": show, "inputs": [page, browser_id], "outputs": [slot_ids, *grid], "radios": radios,
                "more": more, "slot_ids": slot_ids, "status": status}


def _wire_rating(service: SpaceService, rate: dict[str, Any], foryou: dict[str, Any], heatmap: gr.Plot,
                 browser_id: gr.BrowserState) -> None:
    """Each star radio saves instantly and refreshes For you and the style heatmap."""
    outputs = [rate["status"], foryou["gallery"], foryou["table"], foryou["note"], heatmap]
    for slot, radio in enumerate(rate["radios"]):
        def rate_slot(stars: int | None, ids: list[str], stored: str | None, request: gr.Request,
                      profile: gr.OAuthProfile | None,
                      slot: int = slot):
            if stars is None or slot >= len(ids):
                raise gr.Error("this card is empty; press 'Show me others'")
            user = _user(service, stored, request, profile)
            message = _guard(service.rate)(user, ids[slot], stars)
            return (message, *service.for_you(user), service.style_heatmap(user))

        radio.input(rate_slot, [radio, rate["slot_ids"], browser_id], outputs, api_name=f"rate_slot_{slot}",
                    concurrency_limit=CHEAP, show_progress="hidden")


def _similar_tab(service: SpaceService) -> dict[str, Any]:
    with gr.Tab("Similar", id="similar"):
        gr.Markdown("Pick a piece — or click any piece in a gallery — to see the closest matches.")
        with gr.Row():
            picker = gr.Dropdown(service.choices(), label="Piece", scale=3, filterable=True, elem_id="similar-picker")
            upload = gr.Image(label="…or upload a photo", type="filepath", sources=["upload"], height=160,
                              visible=service.can_embed_uploads, scale=1)
            upload.preprocess = _unopened_path
        gallery = _gallery("More like this", elem_id="similar-gallery")
        with gr.Accordion("Details", open=False):
            table = gr.Dataframe(headers=DETAIL_COLUMNS, interactive=False, wrap=True)
    picker.change(_guard(service.similar), picker, [gallery, table], api_name="similar_ui",
                  concurrency_limit=CHEAP)
    upload.upload(_guard(service.similar_to_upload), upload, [gallery, table], api_name="similar_upload",
                  concurrency_limit=ENCODER_LIMIT)
    return {"picker": picker, "gallery": gallery, "table": table}


def _search_tab(service: SpaceService) -> dict[str, Any]:
    with gr.Tab("Search", id="search"):
        if not service.has_text:
            kind = (service.bundle.config.get("encoder") or {}).get("type", "this")
            gr.Markdown(f"**Text search is not available for this catalog.** Its `{kind}` image encoder has no "
                        "text tower, so words cannot be matched to pictures. Bundles fitted with "
                        "`--encoder clip` support it; meanwhile try **Similar** or the **Explore** map.")
        with gr.Row():
            query = gr.Textbox(label="Describe a piece", placeholder="rose gold ring with a ruby", scale=4,
                               interactive=service.has_text, max_length=200)
            go = gr.Button("Search", variant="primary", scale=1, interactive=service.has_text)
        gallery = _gallery("Matches")
        with gr.Accordion("Details", open=False):
            table = gr.Dataframe(headers=DETAIL_COLUMNS, interactive=False, wrap=True)
    gr.on([go.click, query.submit], _guard(service.search), query, [gallery, table], api_name="search_ui",
          concurrency_limit=ENCODER_LIMIT)
    return {"gallery": gallery, "table": table}


def _explore_tab(service: SpaceService, browser_id: gr.BrowserState) -> dict[str, Any]:
    with gr.Tab("Explore", id="explore"):
        gr.Markdown("The catalog's **style map**: every dot is a piece, coloured by style. Hover a dot to see the "
                    "piece; drag across the map to list the pieces in that band below.")
        points = service.style_map()
        tooltip = ["piece", "style", "item_id"] + (["image"] if "image" in points.columns else [])
        style_map = gr.ScatterPlot(points, x="x", y="y", color="style", tooltip=tooltip, x_title=" ",
                                   y_title=" ", height=420, label="Style map", elem_id="style-map")
        band = [gr.Number(visible=False), gr.Number(visible=False)]  # the dragged x-range, public to the API
        note = gr.Markdown("*Drag across the map to see the pieces there.*", elem_id="map-note")
        gallery = _gallery("Pieces here", columns=6, elem_id="map-gallery")
        with gr.Accordion("Pieces here: details", open=False):
            table = gr.Dataframe(headers=MAP_COLUMNS, interactive=False, wrap=True)
        with gr.Row():
            sizes = service.cluster_sizes()
            gr.BarPlot(sizes, x="style", y="pieces", label="Pieces per style", height=300, x_label_angle=-30,
                       sort="-y", y_lim=[0, int(sizes["pieces"].max() * 1.15) + 1])
            heatmap = gr.Plot(label="Your taste by style")
        figures = service.report_figures()
        if figures:
            gr.Gallery(figures, label="Fit report", columns=2, height="auto", format="png",
                       allow_preview=True, object_fit="contain")

    def dragged_band(evt: gr.SelectData) -> tuple[float, float]:
        lo, hi = evt.index  # gr.ScatterPlot selects an x-interval: [x_start, x_end]
        return float(lo), float(hi)

    style_map.select(dragged_band, None, band, api_visibility="private", concurrency_limit=CHEAP).then(
        _guard(service.map_pieces), band, [gallery, table, note], api_name="map_pieces", concurrency_limit=CHEAP)
    return {"heatmap": heatmap, "gallery": gallery, "table": table}


def _wire_select(gallery: gr.Gallery, table: gr.Dataframe, similar: dict[str, Any], tabs: gr.Tabs) -> None:
    """Clicking a piece in a gallery opens it in Similar."""
    def pick(current: pd.DataFrame, evt: gr.SelectData):
        if current is None or evt.index is None or evt.index >= len(current):
            raise gr.Error("that piece is no longer listed; refresh the gallery")
        return gr.update(value=str(current.iloc[evt.index]["item_id"])), gr.Tabs(selected="similar")

    gallery.select(pick, table, [similar["picker"], tabs], api_visibility="private", concurrency_limit=CHEAP)


def _wire_open(service: SpaceService, cards: gr.HTML, rate: dict[str, Any], similar: dict[str, Any],
               tabs: gr.Tabs) -> None:
    """A For you card (clicked, or Enter on it) and a Rate card's "More like this" open that piece in Similar."""
    def open_card(evt: gr.EventData):
        item_id = getattr(evt, "item_id", None)  # sent by OPEN_CARD_JS
        if not isinstance(item_id, str) or not service.bundle.has_item(item_id):
            raise gr.Error("that piece is no longer listed; refresh For you")
        return gr.update(value=item_id), gr.Tabs(selected="similar")

    cards.click(open_card, None, [similar["picker"], tabs], api_visibility="private", concurrency_limit=CHEAP)
    for slot, button in enumerate(rate["more"]):
        def open_slot(ids: list[str], slot: int = slot):
            if slot >= len(ids):
                raise gr.Error("this card is empty; press 'Show me others'")
            return gr.update(value=ids[slot]), gr.Tabs(selected="similar")

        button.click(open_slot, rate["slot_ids"], [similar["picker"], tabs], api_visibility="private",
                     concurrency_limit=CHEAP)


def _api(service: SpaceService) -> None:
    """JSON endpoints for programmatic clients (identity: the client's session)."""
    def rate(item_id: str, stars: int, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        """Rate one piece 1–5 for this session's user."""
        return _guard(service.rate)(_user(service, None, request, profile), _item_id(item_id), stars)

    def recommend(k: int, request: gr.Request, profile: gr.OAuthProfile | None) -> list[dict[str, Any]]:
        """Top-k picks for this session's user: [{item_id, name, details, score, why}]."""
        return _records(_guard(service.for_you)(_user(service, None, request, profile), _k(k))[1])

    def my_ratings(request: gr.Request, profile: gr.OAuthProfile | None) -> dict[str, int]:
        """This session's ratings {item_id: stars}."""
        return service.my_ratings(_user(service, None, request, profile))

    def similar(item_id: str, k: int) -> list[dict[str, Any]]:
        """The k nearest pieces to item_id."""
        return _records(_guard(service.similar)(_item_id(item_id), _k(k))[1])

    def search(text: str, k: int) -> list[dict[str, Any]]:
        """Pieces matching a text query (CLIP bundles only)."""
        return _records(_guard(service.search)(str(text or "")[:500], _k(k))[1])

    gr.api(rate, api_name="rate", concurrency_limit=CHEAP)
    gr.api(recommend, api_name="recommend", concurrency_limit=CHEAP)
    gr.api(my_ratings, api_name="my_ratings", concurrency_limit=CHEAP)
    gr.api(similar, api_name="similar", concurrency_limit=CHEAP)
    gr.api(search, api_name="search", concurrency_limit=ENCODER_LIMIT)
