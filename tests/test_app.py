"""The app launched in-process, driven with gradio_client: round trip, isolation, errors, file refusal."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import gradio as gr
import httpx
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(sample_bundle_dir, tmp_path_factory):
    """One in-process launch shared by this module (the browser test starts its own)."""
    from jewelrec.serving.bundle import Bundle
    from jewelrec.space import SpaceService
    from jewelrec.space.ratings import RatingStore
    from jewelrec.space.ui import build_demo, launch_kwargs

    data = tmp_path_factory.mktemp("space-data")
    bundle = Bundle.load(sample_bundle_dir)
    service = SpaceService.start(bundle, {"notice": "test sample"}, RatingStore(data / "ratings.db"))
    demo = build_demo(service)
    demo.queue(max_size=64, default_concurrency_limit=4)
    kwargs = launch_kwargs(data) | {"server_port": free_port()}
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    yield {"url": url, "data": data, "bundle": bundle, "service": service, "demo": demo}
    demo.close()


def test_round_trip_rate_recommend_similar_search(app_url):
    client = Client(app_url["url"], verbose=False)
    ids = app_url["bundle"].item_ids
    cold = client.predict(4, api_name="/recommend")
    assert len(cold) == 4 and all("signature piece" in r["why"] for r in cold)
    assert "Saved 5★" in client.predict(ids[0], 5, api_name="/rate")
    client.predict(ids[1], 2, api_name="/rate")
    assert "2 rated" in client.predict(ids[0], 4, api_name="/rate")  # re-rating replaces, not adds
    assert client.predict(api_name="/my_ratings") == {ids[0]: 4, ids[1]: 2}
    picks = client.predict(5, api_name="/recommend")
    assert len(picks) == 5 and not {p["item_id"] for p in picks} & {ids[0], ids[1]}
    assert any("you rated" in p["why"] or "style you like" in p["why"] for p in picks)
    similar = client.predict(ids[0], 3, api_name="/similar")
    assert len(similar) == 3 and ids[0] not in {s["item_id"] for s in similar}
    assert similar[0]["score"] >= similar[-1]["score"]
    with pytest.raises(AppError, match="no text tower"):  # CNN bundle: search says so plainly
        client.predict("gold ring", 3, api_name="/search")
    rows = sqlite3.connect(app_url["data"] / "ratings.db").execute(
        "SELECT item_id, stars FROM ratings ORDER BY stars").fetchall()
    assert (ids[1], 2) in rows and (ids[0], 4) in rows  # the contract table, on disk


def test_two_clients_are_isolated(app_url):
    ids = app_url["bundle"].item_ids
    alice, bob = Client(app_url["url"], verbose=False), Client(app_url["url"], verbose=False)
    alice.predict(ids[5], 5, api_name="/rate")
    bob.predict(ids[6], 1, api_name="/rate")
    assert alice.predict(api_name="/my_ratings") == {ids[5]: 5}
    assert bob.predict(api_name="/my_ratings") == {ids[6]: 1}
    assert all("signature piece" not in r["why"] for r in alice.predict(3, api_name="/recommend"))


def test_bad_input_is_refused_with_a_message_and_nothing_lost(app_url):
    client = Client(app_url["url"], verbose=False)
    ids = app_url["bundle"].item_ids
    client.predict(ids[2], 3, api_name="/rate")
    for item, stars, match in [(ids[2], 9, "1 to 5"), ("no-such-piece", 3, "unknown item"),
                               ("x" * 300, 3, "longer than")]:
        with pytest.raises(AppError, match=match):
            client.predict(item, stars, api_name="/rate")
    assert client.predict(api_name="/my_ratings") == {ids[2]: 3}


@pytest.mark.parametrize("target", ["db", "/etc/passwd", "app.py", "app_abs", "bundle"])
def test_file_route_refuses_local_paths(app_url, target):
    paths = {"db": str(app_url["data"] / "ratings.db"), "/etc/passwd": "/etc/passwd", "app.py": "app.py",
             "app_abs": str(ROOT / "app.py"), "bundle": str(app_url["bundle"].path / "config.json")}
    url = app_url["url"].rstrip("/")
    for route in ("/gradio_api/file=", "/file="):
        response = httpx.get(f"{url}{route}{paths[target]}")
        assert response.status_code in (403, 404), (route, response.status_code, response.text[:200])
        assert "root:" not in response.text and "SQLite format" not in response.text


def test_page_served_with_footer_and_tabs(app_url):
    html = httpx.get(app_url["url"]).text
    assert "jewelrec" in html
    config = httpx.get(app_url["url"].rstrip("/") + "/config").json()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Rate", "For you", "Similar", "Search", "Explore"} <= labels
    named = {d.get("api_name") for d in config["dependencies"]}
    assert {"rate", "recommend", "similar", "search", "start", "map_pieces"} <= named
    assert all(d.get("api_name") for d in config["dependencies"] if d.get("api_visibility") != "private")


def test_style_map_band_lists_its_pieces(app_url):
    """The API's view of the style map: the pieces whose map x lies in a band, as records."""
    client = Client(app_url["url"], verbose=False, download_files=False)
    bundle = app_url["bundle"]
    x = bundle.coords2d[:, 0]  # (n,)
    lo, hi = float(x.min()), float(sorted(x)[len(x) // 3])
    listed = client.predict(lo, hi, api_name="/map_pieces")
    assert len(listed) == 12 and set(listed[0]) == {"item_id", "name", "details", "style"}  # 20 thinned to 12
    assert all(lo <= x[bundle.index_of(r["item_id"])] <= hi for r in listed)
    with pytest.raises(AppError, match="two numbers"):
        client.predict(None, None, api_name="/map_pieces")


def test_security_headers_let_only_the_hub_frame_the_space(app_url):
    response = httpx.get(app_url["url"])
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors" in csp and "https://huggingface.co" in csp and "*" not in csp.replace("*.", "")


def test_bad_api_arguments_get_a_message_not_a_generic_error(app_url):
    """#14 unclear errors: k=null, a non-number map band, and a 1 MB id are refused with what is wrong —
    and the id is never echoed back whole."""
    client = Client(app_url["url"], verbose=False)
    for args, api, match in [((None,), "/recommend", "k must be a whole number"),
                             (("x" * 1_000_000, 5), "/similar", "longer than"),
                             (("no-such-piece", 5000), "/similar", "k must be a whole number"),
                             (("a", "b"), "/map_pieces", "two numbers")]:
        with pytest.raises(AppError, match=match) as err:
            client.predict(*args, api_name=api)
        assert len(str(err.value)) < 500


def _raw_call(url: str, api: str, body: str) -> str:
    """POST a raw JSON body (NaN and Infinity are not JSON, but Python's parser takes them) to an endpoint and
    return the event stream that answers it."""
    base = url.rstrip("/") + f"/gradio_api/call/{api}"
    event = httpx.post(base, content=body, headers={"Content-Type": "application/json"}).json()["event_id"]
    return httpx.get(f"{base}/{event}", timeout=30).text


@pytest.mark.parametrize("k", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_k_that_is_not_finite_gets_the_k_message(app_url, k):
    """#review: NaN/±inf/1e400 as k raised inside int() before the check (``{"error": null}``, a traceback)."""
    item = app_url["bundle"].item_ids[0]
    for api, args in [("recommend", f"[{k}]"), ("similar", f'["{item}", {k}]'), ("also_loved", f'["{item}", {k}]'),
                      ("search", f'["gold ring", {k}]')]:
        answer = _raw_call(app_url["url"], api, f'{{"data": {args}}}')
        assert "event: error" in answer and "k must be a whole number from 1 to 100" in answer, (api, answer)


def test_the_similar_picker_answers_an_unknown_id_itself(app_url):
    """#review: gradio's dropdown check echoed the id sent and every catalog id (1 MB+); the handler answers."""
    client = Client(app_url["url"], verbose=False)
    for item, match in [("nope", "unknown item id 'nope'"), ("x" * 1_000_000, "longer than 128")]:
        with pytest.raises(AppError, match=match) as err:
            client.predict(item, api_name="/similar_ui")
        assert len(str(err.value)) < 500 and app_url["bundle"].item_ids[-1] not in str(err.value)
    _, cards, _ = client.predict(app_url["bundle"].item_ids[0], api_name="/similar_ui")  # a listed piece still works
    assert "jr-card" in cards


def test_the_search_box_takes_what_the_search_api_takes(app_url, monkeypatch):
    """#review: /search_ui passed None on (a TypeError: generic error) and any length of text."""
    seen = []
    monkeypatch.setattr(app_url["service"], "search", lambda text, k=8: (seen.append(text), ("", None))[1])
    client = Client(app_url["url"], verbose=False)
    client.predict(None, api_name="/search_ui")
    client.predict("r" * 1_000_000, api_name="/search_ui")
    assert seen == ["", "r" * 500]
    for sent in (["ring"], 5):  # str() made "['ring']" a search for words no piece uses
        with pytest.raises(AppError, match="search text must be a string"):
            client.predict(sent, 3, api_name="/search")
    assert seen == ["", "r" * 500]


def test_messages_keep_their_quotes(app_url):
    """#review: _guard stripped quote characters from both ends of every message."""
    from jewelrec.space.ui import _guard

    def fails(exc):
        def fn():
            raise exc
        with pytest.raises(gr.Error) as err:
            _guard(fn)()
        return err.value.message

    assert fails(ValueError("type a few words, e.g. 'rose gold ring'")) == "type a few words, e.g. 'rose gold ring'"
    assert fails(KeyError("unknown item 'x'")) == "unknown item 'x'"  # KeyError's own quotes go, the message's stay
    with pytest.raises(AppError, match="got ''$"):
        Client(app_url["url"], verbose=False).predict("", 5, api_name="/rate")


@pytest.mark.parametrize("payload", [None, "item_id", ["item_id"], {}])
def test_page_events_without_their_payload_get_a_message(app_url, payload):
    """#review: a card or map event sent with ``event_data: null`` (or not an object) raised inside ui.py."""
    fns = {f.fn.__name__: f.fn for f in app_url["demo"].fns.values() if f.fn is not None}
    evt = gr.EventData(None, payload)
    for name, args in [("rate_card", (evt, None, [], {}, None, None)), ("pick_style", (evt, None, None, None)),
                       ("open_card", (evt,))]:
        with pytest.raises(gr.Error, match="no longer listed|pick a style"):
            fns[name](*args)


def test_uploads_are_checked_and_do_not_pile_up(sample_bundle_dir, tmp_path, monkeypatch):
    """#14 item 4: a non-image upload gets a message (not gradio's generic error), and uploaded files are deleted
    from gradio's cache after JEWELREC_UPLOAD_TTL seconds."""
    import time

    from gradio_client import handle_file
    from PIL import Image

    from jewelrec import Bundle
    from jewelrec.space import SpaceService
    from jewelrec.space.ratings import RatingStore
    from jewelrec.space.ui import build_demo, launch_kwargs

    monkeypatch.setenv("JEWELREC_UPLOAD_TTL", "2")
    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    service = SpaceService.start(Bundle.load(sample_bundle_dir), {"notice": "t"}, RatingStore(tmp_path / "r.db"))
    demo = build_demo(service)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                            **launch_kwargs(tmp_path / "data") | {"server_port": free_port()})
    try:
        client = Client(url, verbose=False)
        photo = tmp_path / "ring.jpg"
        Image.new("RGB", (64, 64), (200, 160, 60)).save(photo)
        (tmp_path / "notes.txt").write_text("not a picture")
        assert client.predict(handle_file(str(photo)), api_name="/similar_upload")
        with pytest.raises(AppError, match="not a photo jewelrec can read"):
            client.predict(handle_file(str(tmp_path / "notes.txt")), api_name="/similar_upload")
        uploaded = [p for p in cache.rglob("*") if p.is_file() and p.suffix in (".jpg", ".txt")]
        assert uploaded
        deadline = time.time() + 20
        while time.time() < deadline and any(p.exists() for p in uploaded):
            time.sleep(1)
        assert not any(p.exists() for p in uploaded)
    finally:
        demo.close()
