"""Space handlers called directly (no server): picks span styles, ratings drive For you, errors name the fix."""

from __future__ import annotations

import os
import re

import gradio as gr
import numpy as np
import pytest
from conftest import make_synthetic_bundle, wait_for

from jewelrec.serving.bundle import Bundle
from jewelrec.space import SpaceService, new_browser_id, origin_text, resolve_bundle, user_key
from jewelrec.space.crowd import CrowdSettings
from jewelrec.space.ratings import RatingError, RatingStore, RatingStoreError


@pytest.fixture
def service(tmp_path):
    bundle = make_synthetic_bundle(n_items=60, n_clusters=6, seed=0)  # item i is in style i % 6
    return SpaceService.start(bundle, {"notice": "synthetic"}, RatingStore(tmp_path / "r.db"))


def test_first_picks_cover_every_style_and_pages_rotate(service):
    first = service.rate_picks("u", 0, n=6)
    assert sorted(service.bundle.index_of(i) % 6 for i in first) == list(range(6))
    second = service.rate_picks("u", 1, n=6)
    assert not set(first) & set(second)
    service.rate("u", first[0], 4)
    assert first[0] not in service.rate_picks("u", 0, n=60)


def test_ratings_drive_for_you_toward_the_liked_style(service):
    cards, table, note = service.for_you("u", k=6)
    assert "Nothing rated yet" in note and len(table) == 6 and cards.count("class='jr-card'") == 6
    for i in (0, 6, 12):  # style 0 loved, style 1 disliked
        service.rate("u", f"it-{i:05d}", 5)
    service.rate("u", "it-00001", 1)
    cards, table, note = service.for_you("u", k=5)
    assert "**4** ratings" in note
    styles = [service.bundle.index_of(i) % 6 for i in table["item_id"]]
    assert styles[0] == 0 and styles.count(0) >= 3 and 1 not in styles
    assert not set(table["item_id"]) & {"it-00000", "it-00006", "it-00012", "it-00001"}
    assert cards.count("class='jr-card'") == 5 and all(i in cards for i in table["item_id"])
    assert "&lt;" not in cards and "you rated 5★" in cards
    assert service.for_you("someone-else")[2].startswith("**Nothing rated yet**")  # isolation


def test_bad_ratings_are_refused_with_a_message(service):
    service.rate("u", "it-00003", 3)
    for item, stars, match in [("it-00003", 9, "1 to 5"), ("nope", 3, "unknown item"), ("x" * 500, 3, "at most")]:
        with pytest.raises(RatingError, match=match):
            service.rate("u", item, stars)
    assert service.my_ratings("u") == {"it-00003": 3}


def test_similar_search_and_upload(service):
    query, cards, table = service.similar("it-00002", k=5)
    assert "it-00002" not in set(table["item_id"])
    # the piece being matched is shown above its matches, named in full; the matches are cards that open
    assert "jr-query" in query and service.names[2] in query and "it-00002" not in cards
    assert cards.count("class='jr-card'") == 5
    assert all(service.bundle.index_of(i) % 6 == 2 for i in table["item_id"])  # same style by construction
    with pytest.raises(ValueError, match="pick a piece"):
        service.similar("")
    with pytest.raises(ValueError, match="unknown item"):
        service.similar("nope")
    with pytest.raises(ValueError, match="no encoder/ folder"):
        service.search("gold ring")
    assert not service.has_text and not service.can_embed_uploads
    with pytest.raises(ValueError, match="no image encoder"):
        from PIL import Image

        service.similar_to_upload(Image.new("RGB", (8, 8)))


def test_explore_style_guide_map_and_hover(service):
    sizes = service.cluster_sizes()
    assert sizes["pieces"].tolist() == [10] * 6
    service.rate("u", "it-00000", 5)
    service.rate("u", "it-00006", 3)
    stars = service.style_stars("u")
    assert stars["avg_stars"].iat[0] == 4.0 and stars["rated"].iat[0] == 2 and np.isnan(stars["avg_stars"].iat[1])
    # the map: one dot per piece, a legend chip per style with its name and size, no coordinates anywhere
    page = service.map_html
    assert page.count("<circle") == 60 and page.count("class='jr-chip'") == 6
    assert all(f">{name}<span class='jr-count'>10</span>" in page for name in service.styles)
    assert "data:image" not in page  # pictures are fetched on hover, not shipped with the page
    assert service.hover("it-00004").count("data:image/jpeg") <= 1 and service.names[4] in service.hover("it-00004")
    assert service.hover("nope") == ""
    # the style guide: the liked style by default; what defines it; the shopper's stars; its central pieces
    guide = service.style_guide("u")
    assert service.styles[0] in guide and "You rated 2 pieces of this style, 4.0★" in guide
    assert guide.count("class='jr-card'") == 6
    shown = re.findall(r"data-item='([^']+)'", guide)
    assert len(shown) == 6 and all(service.bundle.index_of(i) % 6 == 0 for i in shown)  # all from style 0
    other = service.style_guide("u", 3)
    assert service.styles[3] in other and "not rated this style" in other
    assert service.style_guide("newcomer").count("class='jr-card'") == 6  # nobody's taste: the biggest style
    for style in (6, -1, True, 1.0, "1"):  # True was read as style 1
        with pytest.raises(ValueError, match="style must be a number from 0 to 5"):
            service.style_guide("u", style)
    assert service.report_html == ""


def test_map_band_lists_the_pieces_there(service):
    x = service.bundle.coords2d[:, 0]  # (n,)
    lo, hi = np.quantile(x, [0.25, 0.75])
    inside = {service.bundle.item_ids[i] for i in np.flatnonzero((x >= lo) & (x <= hi))}
    table, note = service.map_pieces(hi, lo, k=100)  # a right-to-left band is the same band
    assert set(table["item_id"]) == inside and f"{len(inside)} pieces in the band" == note
    assert list(table.columns) == ["item_id", "name", "details", "style"]
    y = service.bundle.coords2d[[service.bundle.index_of(i) for i in table["item_id"]], 1]
    assert np.all(np.diff(y) <= 0)  # top of the map first
    table, note = service.map_pieces(lo, hi, k=5)
    assert len(table) == 5 and set(table["item_id"]) <= inside and "5 listed" in note
    ys = service.bundle.coords2d[[service.bundle.index_of(i) for i in table["item_id"]], 1]
    band_y = service.bundle.coords2d[[service.bundle.index_of(i) for i in inside], 1]
    assert ys[0] == band_y.max() and ys[-1] == band_y.min()  # thinned evenly: still spans the band
    table, note = service.map_pieces(x.max() + 1, x.max() + 2)
    assert table.empty and note.startswith("0 pieces")
    import warnings

    with warnings.catch_warnings():  # review #4: a band past float32's range logged "overflow encountered in cast"
        warnings.simplefilter("error")
        assert service.map_pieces(1e308, 1e308)[0].empty
        assert service.map_pieces(-1e308, 1e308)[1] == f"{len(x)} pieces in the band, 12 listed, spread over it"
    for bad in ((None, 1.0), (float("nan"), 1.0), ([1], [2]), ([1, 2], [3, 4]), (10**400, 1.0)):  # lists, huge ints
        with pytest.raises(ValueError, match="two numbers"):
            service.map_pieces(*bad)


def test_rate_cards_carry_a_five_star_control(service):
    ids, cards = service.rate_grid("u", 0, n=4)
    assert len(ids) == 4 and cards.count("role='radiogroup'") == 4 and cards.count("role='radio'") == 20
    group = cards[cards.index("role='radiogroup'"):]
    group = group[:group.index("</div>")]
    assert group.count("tabindex='0'") == 1 and "aria-checked='true'" not in group  # one tab stop, none chosen
    assert all(f"data-item='{i}'" in cards for i in ids) and cards.count("data-more='1'") == 4


def test_one_score_scale_in_cards_and_api(service):
    """The number a card shows as "match" is the API's score, and picks score on similar's cosine scale."""
    for i in (0, 6, 12):
        service.rate("u", f"it-{i:05d}", 5)
    service.rate("u", "it-00001", 1)
    cards, table, _ = service.for_you("u", k=5)
    # the card shows the API's score to 2 decimals (the table keeps 3: compare within the card's rounding, not by
    # re-rounding the rounded number, which can differ in the last digit)
    shown = [float(x) for x in re.findall(r"match (-?\d+\.\d\d)", cards)]
    assert len(shown) == len(table) and np.allclose(shown, table["score"], atol=0.0051)
    assert table["score"].between(-1.05, 1.05).all() and table["score"].iat[0] > 0.5
    _, similar_cards, similar = service.similar("it-00002", k=3)
    assert similar["score"].between(-1.0001, 1.0001).all()


def test_for_you_cards_open_in_similar_by_mouse_and_keyboard(service):
    cards, table, _ = service.for_you("u", k=3)
    for item_id, name in zip(table["item_id"], table["name"]):
        start = cards.index(f"data-item='{item_id}'")
        tag = cards[start:cards.index(">", start)]
        assert "role='button'" in tag and "tabindex='0'" in tag and f"title='{name}: more like this'" in tag


def test_identity_and_origin(monkeypatch):
    assert user_key("ada", "b" * 32, "s") == "hf:ada"
    assert user_key(None, "b" * 32, "s") == "browser:" + "b" * 32
    assert user_key(None, None, "s") == "session:s"
    # raw-API session hashes: long ones were cut to 128 characters (every one sharing its start was one shopper),
    # a lone surrogate could be neither stored nor logged; both are keyed by their hash
    long_keys = {user_key(None, None, "x" * n) for n in (200, 300, 5000)}
    assert len(long_keys) == 3 and all(k.startswith("session:sha256:") and len(k) <= 128 for k in long_keys)
    assert user_key(None, None, "\ud800").startswith("session:sha256:") and user_key(None, None, "a\nb") != "session:a\nb"
    assert user_key(None, None, "\ud800") == user_key(None, None, "\ud800")  # stable: the same shopper next time
    spelled = user_key(None, None, "x" * 200).removeprefix("session:")  # a short hash spelling a long one's key
    assert user_key(None, None, spelled) != user_key(None, None, "x" * 200)
    secret = b"k" * 32
    minted = new_browser_id(None, secret)
    assert new_browser_id(minted, secret) == minted and len(minted) == 48 and new_browser_id("../../x", secret) != "../../x"
    bundle = make_synthetic_bundle(n_items=12, n_clusters=3)
    hub = origin_text({"repo_id": "me/jewels", "commit": "0123456789abcdef", "offline": True,
                       "notice": "Hub unreachable; serving the cached copy"}, bundle)
    assert "me/jewels" in hub and "0123456789ab" in hub and "offline" in hub and "cached copy" in hub
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org")  # a Hub of one's own: the link goes there
    assert "[me/jewels](https://hub.example.org/me/jewels)" in origin_text({"repo_id": "me/jewels"}, bundle)


def test_resolve_bundle_from_dir_and_errors(sample_bundle_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("JEWELREC_BUNDLE", str(sample_bundle_dir))
    bundle, origin = resolve_bundle()
    assert bundle.n_items == 60 and origin["path"] == str(sample_bundle_dir)
    service = SpaceService.start(bundle, origin, RatingStore(tmp_path / "r.db"))
    assert service.can_embed_uploads and service.report_html.count("data:image/png;base64,") >= 2  # report PNGs
    assert service.hover(bundle.item_ids[3]).count("data:image/jpeg;base64,") == 1  # the map's tooltip picture
    import io

    from PIL import Image

    photo = Image.open(io.BytesIO(bundle.items["thumbnail"].iat[7]))
    query, _, table = service.similar_to_upload(photo, k=3)
    assert "your photo" in query and "data:image/jpeg;base64," in query  # the upload is shown above its matches
    assert table["item_id"].iat[0] == bundle.item_ids[7]  # a piece's own photo finds itself first
    monkeypatch.setenv("JEWELREC_BUNDLE", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="training.fit"):
        resolve_bundle()


def test_resolve_bundle_reuses_cached_sample(sample_bundle_dir, monkeypatch, tmp_path):
    import shutil

    from jewelrec.space import sample_bundle_dir as cached

    monkeypatch.delenv("JEWELREC_BUNDLE", raising=False)
    monkeypatch.delenv("JEWELREC_REPO", raising=False)
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    shutil.copytree(sample_bundle_dir, cached())
    import jewelrec.pipeline.fit

    monkeypatch.setattr(jewelrec.pipeline.fit, "run", lambda config: pytest.fail("rebuilt a cached sample"))
    bundle, origin = resolve_bundle()
    assert bundle.n_items == 60 and "sample" in origin["notice"]


def test_building_page_answers_then_frees_the_port(monkeypatch, tmp_path):
    import httpx
    from test_app import free_port

    from jewelrec.space import BuildingPage, sample_needs_build

    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JEWELREC_BUNDLE", raising=False)
    monkeypatch.delenv("JEWELREC_REPO", raising=False)
    assert sample_needs_build()
    monkeypatch.setenv("JEWELREC_BUNDLE", str(tmp_path))
    assert not sample_needs_build()
    port = free_port()
    page = BuildingPage(port=port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/anything")
        assert response.status_code == 503 and "getting ready" in response.text and "refresh" in response.text
    finally:
        page.close()
    BuildingPage(port=port).close()  # the port is free again for gradio


def test_ratings_of_pieces_that_left_the_catalog_are_kept_and_ignored(tmp_path):
    """#14 item 7: after a refit / new revision drops a piece, its ratings must not break that shopper."""
    bundle = make_synthetic_bundle(n_items=60, n_clusters=6, seed=0)
    store = RatingStore(tmp_path / "r.db")  # as if written by the previous bundle: any id was known then
    store.rate("u", "it-00000", 5)
    store.rate("u", "retired-piece", 5)
    service = SpaceService.start(bundle, {"notice": "synthetic"}, store)
    cards, table, note = service.for_you("u", k=6)
    assert len(table) == 6 and "1 earlier rating of pieces no longer in this catalog" in note
    assert service.my_ratings("u") == {"it-00000": 5, "retired-piece": 5}  # the row is kept
    assert service.style_stars("u")["rated"].sum() == 1  # only the piece still in the catalog
    # the confirmation counts what For you counts ("3 rated so far" beside "from your 2 ratings" before)
    assert service.rate("u", "it-00001", 4).endswith("· 2 rated so far")


def test_a_bad_bundle_setting_stops_the_space_with_the_fix_not_a_traceback(tmp_path, monkeypatch):
    from jewelrec.space.app import create_demo

    monkeypatch.setenv("JEWELREC_BUNDLE", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="error: the Space cannot start: JEWELREC_BUNDLE=.*is not a directory"):
        create_demo()


def test_a_bad_setting_in_the_environment_stops_the_space_with_its_name(tmp_path, monkeypatch, synthetic_bundle):
    # JEWELREC_UPLOAD_TTL=abc was a traceback, -5 deleted every upload before it was read, 0 kept them forever;
    # a damaged ratings database was a raw sqlite3 traceback
    from jewelrec.space.app import create_demo

    monkeypatch.setenv("JEWELREC_BUNDLE", str(synthetic_bundle.save(tmp_path / "bundle")))
    monkeypatch.setenv("JEWELREC_DATA_DIR", str(tmp_path / "data"))
    for value, said in (("abc", "is not a whole number"), ("-5", "must be ≥ 1"), ("0", "must be ≥ 1"),
                        ("1.5", "is not a whole number")):
        monkeypatch.setenv("JEWELREC_UPLOAD_TTL", value)
        with pytest.raises(SystemExit, match=rf"error: the Space cannot start: JEWELREC_UPLOAD_TTL='{re.escape(value)}' "
                                             rf"{said}; set it to a whole number ≥ 1, e.g. 3600, or unset it"):
            create_demo()
    monkeypatch.delenv("JEWELREC_UPLOAD_TTL")
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "ratings.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(SystemExit, match=r"error: the Space cannot start: .*ratings.db' (is damaged|is not an SQLite)"):
        create_demo()


def test_a_catalog_keyed_by_long_ids_can_be_rated_and_browsed(tmp_path):
    # ids past the store's 128-character limit (product URLs) were fitted and served, and every rating, Similar
    # pick and map tooltip of them was refused
    from jewelrec.space.ratings import MAX_ID_LEN

    bundle = make_synthetic_bundle(n_items=40, dim=16, n_clusters=4)
    long_ids = [f"https://shop.example.com/collections/rings/products/{'x' * 120}-{n:04d}?variant=1" for n in range(40)]
    items = bundle.items.assign(item_id=long_ids)
    bundle = Bundle(items=items, embeddings=bundle.embeddings, labels=bundle.labels, probs=bundle.probs,
                    centroids=bundle.centroids, coords2d=bundle.coords2d)
    store = RatingStore(tmp_path / "ratings.db", known_items=set(long_ids))
    service = SpaceService.start(bundle, {"notice": "synthetic"}, store)
    assert len(long_ids[0]) > MAX_ID_LEN and service.id_limit == len(long_ids[0])
    assert "Saved 5★" in service.rate("u", long_ids[0], 5) and service.my_ratings("u") == {long_ids[0]: 5}
    assert service.hover(long_ids[1]) and service.hover(long_ids[1] + "x" * 500) == ""
    with pytest.raises(RatingError, match="at most 128"):
        service.rate("u", "y" * 500, 5)  # not a piece, and too long to be one: refused by its shape
    with pytest.raises(RatingError, match="unknown item"):
        service.rate("u", "z" * 100, 5)


def test_uploads_are_checked_before_they_are_decoded(tmp_path, sample_bundle_dir):
    """#14 items 4, 5: a 49-Mpx PNG (a few hundred kB) is refused from its header, a non-image with a message."""
    import time

    from PIL import Image

    from jewelrec import Bundle

    service = SpaceService.start(Bundle.load(sample_bundle_dir), {"notice": "t"}, RatingStore(tmp_path / "r.db"))
    bomb = tmp_path / "bomb.png"
    Image.new("L", (7000, 7000)).save(bomb, optimize=False)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="too large"):
        service.similar_to_upload(str(bomb))
    assert time.perf_counter() - started < 2.0  # a header read, not a 49-Mpx decode
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(ValueError, match="not a photo jewelrec can read"):
        service.similar_to_upload(str(tmp_path / "notes.txt"))
    photo = tmp_path / "ring.jpg"
    Image.new("RGB", (64, 64), (200, 160, 60)).save(photo)
    assert len(service.similar_to_upload(str(photo), k=3)[2]) == 3
    # review #1: a 1 x 500000 strip (2 kB) is matched on its centre 1 x 4, not blown up to gigabytes
    Image.new("RGB", (1, 500_000), (200, 160, 60)).save(tall := tmp_path / "tall.png")
    assert len(service.similar_to_upload(str(tall), k=3)[2]) == 3


def test_a_browser_id_the_server_did_not_sign_is_not_an_identity():
    """#14 item 6: setting someone else's (or a made-up) browser id must not read or write their ratings."""
    from jewelrec.space import verify_browser_id

    secret, other = b"server-secret", b"another-server"
    minted = new_browser_id(None, secret)
    assert verify_browser_id(minted, secret) == minted
    assert verify_browser_id(minted, other) is None  # signed elsewhere
    forged = minted[:32] + "0" * 16
    assert verify_browser_id(forged, secret) is None  # a guessed id with a made-up signature
    assert verify_browser_id("b" * 32, secret) is None  # the old, unsigned kind


def test_a_big_catalog_names_a_bounded_list_in_the_picker(tmp_path):
    """#15 page weight: Similar's picker lists at most PICKER_MAX pieces, spanning the styles; a piece opened from
    a card joins the list first."""
    from jewelrec.space.service import PICKER_MAX

    bundle = make_synthetic_bundle(n_items=PICKER_MAX + 200, n_clusters=6)
    service = SpaceService.start(bundle, {"notice": "big"}, RatingStore(tmp_path / "r.db"))
    listed = service.choices()
    assert len(listed) == PICKER_MAX and {service.bundle.index_of(i) % 6 for _, i in listed} == set(range(6))
    last = bundle.item_ids[-1]
    with_it = service.choices(include=last)
    assert with_it[0] == (f"{service.names[-1]} ({last})", last) and len(with_it) == PICKER_MAX + (last not in dict(
        (i, n) for n, i in listed))
    small = SpaceService.start(make_synthetic_bundle(n_items=30), {"notice": "s"}, RatingStore(tmp_path / "s.db"))
    assert [i for _, i in small.choices()] == small.bundle.item_ids  # a small catalog lists every piece, in order


def test_the_crowd_links_unlike_looking_groups_for_a_newcomer_and_on_similar(tmp_path):
    """Shoppers who love style-0 pieces A together with style-3 pieces B (they look nothing alike): once the crowd
    has rated and the model refreshed in the background, a newcomer who loved three of A gets B in her top 10, and
    Similar on an A piece shows "Shoppers who loved this also loved". With no crowd both are exactly as before."""
    from jewelrec.space.crowd import CrowdSettings

    bundle = make_synthetic_bundle(n_items=120, n_clusters=6, seed=0)
    service = SpaceService.start(bundle, {"notice": "synthetic"}, RatingStore(tmp_path / "r.db"),
                                 crowd=CrowdSettings(every_ratings=50, every_s=3600, poll_s=0.05))
    group_a = [f"it-{i:05d}" for i in range(0, 48, 6)]
    group_b = [f"it-{i:05d}" for i in range(3, 51, 6)]
    newcomer = {group_a[0]: 5, group_a[1]: 5, group_a[2]: 5}
    for item, stars in newcomer.items():
        service.rate("newcomer", item, stars)
    before = service.for_you("newcomer", k=10)[1]
    assert before.equals(service.table(service.recommender.recommend(newcomer, 10)))  # empty crowd: as today
    assert not set(before["item_id"]) & set(group_b)
    _, cards_before, table_before = service.similar(group_a[0])
    assert "Shoppers who loved" not in cards_before and service.also_loved(group_a[0]) == []

    rng = np.random.default_rng(0)
    service.start_crowd()
    try:
        for u in range(60):
            for item in [*rng.choice(group_a, 3, replace=False), *rng.choice(group_b, 3, replace=False)]:
                service.rate(f"crowd-{u}", str(item), 5)
        writes = service.store.writes()
        assert wait_for(lambda: service.crowd.refreshes >= 2 and writes - service.crowd.fitted_writes < 50)  # background
    finally:
        service.close()
    service.crowd.refresh()  # the last few ratings (fewer than every_ratings) too, deterministically
    after = service.for_you("newcomer", k=10)[1]
    linked = after[after["item_id"].isin(group_b)]
    assert len(linked) >= 2, after
    assert linked["why"].str.match(r"shoppers who loved the .+ also loved this").all()
    assert after["score"].abs().max() <= 1.0
    _, cards, table = service.similar(group_a[0])
    assert "Shoppers who loved this also loved" in cards and table.equals(table_before)  # the API table: visual
    also = service.also_loved(group_a[0])
    assert also and all(re.fullmatch(r"\d+ shoppers loved both", why) and int(why.split()[0]) >= 5
                        for _, _, why in also)


def test_a_search_the_catalog_has_no_word_for_shows_words_it_knows(tmp_path):
    """Review #2: the Search handler says what to type instead of answering one meaningless list."""
    from test_recommender import catalog_clip_encoder

    from jewelrec import Recommender

    bundle = make_synthetic_bundle(n_items=60, dim=16)
    service = SpaceService(bundle, Recommender(bundle, encoder=catalog_clip_encoder()), RatingStore(tmp_path / "r.db"),
                           {"notice": "t"})
    with pytest.raises(ValueError, match=r"none of those words are known .*did you mean 'sapphire'\? try e\.g\."):
        service.search("saphire")
    cards, table = service.search("gold ring", k=3)
    assert len(table) == 3 and "jr-note" not in cards
    cards, table = service.search("saphire ring", k=3)  # searched as "ring"; the shopper is told
    assert len(table) == 3
    assert cards.startswith("<p class='jr-note' role='status'>Searched without &#x27;saphire&#x27; (did you mean "
                            "&#x27;sapphire&#x27;?): no piece&#x27;s description uses it.</p><div class='jr-grid'>")


def test_also_loved_names_an_unknown_or_missing_piece_as_similar_does(service, tmp_path):
    """Review #3: /also_loved with 'nope', '' or None answered [] where /similar says what is wrong — with the
    crowd on or off, the same messages now."""
    from jewelrec.space.crowd import CrowdSettings

    crowded = SpaceService.start(service.bundle, {"notice": "t"}, RatingStore(tmp_path / "c.db"),
                                 crowd=CrowdSettings(every_ratings=50, every_s=3600, poll_s=0.05))
    for handler in (service, crowded):
        for bad, message in (("nope", "unknown item id 'nope': it is not in this catalog"), ("", "pick a piece"),
                             (None, "pick a piece")):
            for ask in (handler.similar, handler.also_loved):
                with pytest.raises(ValueError, match=message):
                    ask(bad)
        assert handler.also_loved("it-00002") == []  # a known piece without a crowd's evidence: nothing, no error


def test_the_browser_key_is_never_empty_and_is_published_whole(tmp_path, monkeypatch):
    """An empty browser-id.key (a crash between create and write) signed every id with an empty HMAC key."""
    from jewelrec.space.identity import browser_secret

    monkeypatch.delenv("JEWELREC_SECRET", raising=False)
    key = browser_secret(tmp_path)
    assert len(key) == 64 and browser_secret(tmp_path) == key and os.listdir(tmp_path) == ["browser-id.key"]
    (tmp_path / "browser-id.key").write_text("")
    fresh = browser_secret(tmp_path)
    assert len(fresh) == 64 and fresh != key and os.listdir(tmp_path) == ["browser-id.key"]
    assert (tmp_path / "browser-id.key").stat().st_mode & 0o077 == 0  # owner-only
    binary = bytes(range(256))[::-1] * 2  # `head -c 512 /dev/urandom > browser-id.key`: a key, not an error
    (tmp_path / "browser-id.key").write_bytes(binary)
    assert browser_secret(tmp_path) == binary.strip()


def test_for_you_says_so_when_every_piece_is_rated(tmp_path):
    # a shopper who had rated everything got a blank tab under "Picked for you from your 40 ratings"
    bundle = make_synthetic_bundle(n_items=40, dim=16, n_clusters=4)
    service = SpaceService.start(bundle, {}, RatingStore(tmp_path / "r.db"), crowd=CrowdSettings(enabled=False))
    for n, item in enumerate(bundle.item_ids):
        service.rate("u", item, 1 + n % 5)
    cards, table, note = service.for_you("u", k=8)
    assert len(table) == 0 and "You have rated every piece" in note and "(40)" in note


def test_a_store_opened_for_another_catalog_does_not_save_a_piece_this_one_lacks(tmp_path):
    """The store's known_items came from another bundle: a piece only that bundle had was saved, then the
    confirmation failed ("not in this catalog") — an error for a rating that was stored."""
    old, new = make_synthetic_bundle(n_items=60, n_clusters=6, seed=0), make_synthetic_bundle(n_items=30, seed=1)
    store = RatingStore(tmp_path / "r.db", known_items=set(old.item_ids))
    service = SpaceService.start(new, {}, store, crowd=CrowdSettings(enabled=False))
    with pytest.raises(RatingError, match=r"unknown item 'it-00045': it is not in this catalog \(30 pieces\)"):
        service.rate("u", "it-00045", 5)
    assert store.ratings("u") == {}


def test_handlers_that_read_ratings_say_so_when_the_database_is_unavailable(service, monkeypatch):
    """The page load, the Rate grid, Explore's style guide, /my_ratings and the For you refresh after a save read
    the store without the guard: an unusable database blanked the page (and lost the new browser id) behind
    gradio's "upstream app raised an exception". Each now says why, and what does not need ratings still loads."""
    import types

    from jewelrec.space.ui import build_demo

    fns = {f.fn.__name__: f.fn for f in build_demo(service).fns.values() if f.fn is not None}
    request = types.SimpleNamespace(session_hash="s1", headers={}, cookies={})

    def unavailable(*args, **kwargs):
        raise RatingStoreError(f"{service.store.path!r} is not an SQLite database (it was left as it is)")

    monkeypatch.setattr(service.store, "ratings", unavailable)
    fresh, cards, table, note = fns["start"](None, request, None)
    assert fresh and cards == "" and table.empty and "Ratings are unavailable right now" in note
    ids, grid, saved = fns["show"](0, fresh, request, None)
    assert ids == [] and "Ratings are unavailable right now" in grid and saved == {}
    style_map, guide, report, sent = fns["opened"](False, fresh, request, None)
    assert "<svg" in style_map and "Ratings are unavailable right now" in guide and sent is True
    with pytest.raises(gr.Error, match="Ratings are unavailable right now"):
        fns["my_ratings"](request, None)
    with pytest.raises(gr.Error) as read:
        fns["recommend"](5, request, None)
    assert "saved" not in read.value.message  # a read says nothing about saving
