"""The app launched in-process, driven with gradio_client: round trip, isolation, errors, file refusal."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

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
    yield {"url": url, "data": data, "bundle": bundle}
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
